/* The command line: parses arguments, loads the config, runs a command and
 * turns results into what a person sees and an exit status (DESIGN.md §10):
 * 0 all done; 1 some folder or account failed; 2 usage or config error;
 * 3 refused for safety. */
#include <getopt.h>
#include <stdbool.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "cli/cli.h"
#include "util/log.h"
#include "util/suggest.h"
#include "util/xalloc.h"

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
	const char *help; /* `gmaildir help NAME`, `gmaildir NAME --help` */
	bool own_flags;	  /* takes -v, -q, -c itself (send: sendmail's flags) */
};

static const struct command commands[] = {
    {"sync", cli_cmd_sync,
     "one two-way sync, then exit (--dry-run, --allow-mass-delete, --allow-unmatched)",
     "usage: gmaildir sync [--dry-run] [--allow-mass-delete] [--allow-unmatched]\n"
     "                     [--wait=SECONDS] [ACCOUNT[/FOLDER]...]\n"
     "One two-way sync of every account (or of those named, or of one folder\n"
     "of one), then exit. An account a running daemon syncs is synced by the\n"
     "daemon, now, with these options for that one run; its result is shown.\n"
     "  -n, --dry-run         show what would change, change nothing\n"
     "  --allow-mass-delete   go on past the guard against deleting most of a folder\n"
     "  --allow-unmatched     adopt a Maildir although many files match no server\n"
     "                        message (first contact)\n"
     "  --wait=SECONDS        how long to wait for a running daemon's sync\n"
     "                        (default 600; 0: as long as it takes)\n",
     false},
    {"daemon", cli_cmd_daemon, "stay running: IDLE + inotify + periodic sync",
     "usage: gmaildir daemon [ACCOUNT...]\n"
     "Stay running: a full sync, then push both ways (IDLE on the server,\n"
     "inotify here) and a full sync every poll_interval. SIGTERM stops it,\n"
     "SIGUSR1 syncs now; `gmaildir sync` asks it to sync now and shows the\n"
     "result. Meant for the systemd user unit (gmaildir.service).\n",
     false},
    {"send", cli_cmd_send,
     "sendmail-compatible: queue the message on stdin and submit it (--flush: the queue)",
     "usage: gmaildir send [-t] [-i] [-f FROM] [-F NAME] [RECIPIENT...] < MESSAGE\n"
     "       gmaildir send --flush [ACCOUNT...]\n"
     "sendmail-compatible: the message is kept in the outbox (durably) and\n"
     "submitted over SMTP; --flush submits what waits in the outbox.\n"
     "Sendmail's own flags are taken as sendmail takes them.\n",
     true},
    {"status", cli_cmd_status, "per folder: messages, last sync, pending work, errors",
     "usage: gmaildir status [--json] [ACCOUNT...]\n"
     "Per account and folder: messages, last sync, pending work and errors, from\n"
     "the state alone (no connection). --json for scripts.\n",
     false},
    {"doctor", cli_cmd_doctor, "check DNS, TCP, TLS, login and capabilities",
     "usage: gmaildir doctor [ACCOUNT...]\n"
     "Checks each step of the way to the server (DNS, TCP, TLS, login,\n"
     "capabilities) and the Maildir and state, and says the fix of what fails.\n",
     false},
    {"login", cli_cmd_login, "sign in with OAuth 2.0 in a browser, keep the refresh token",
     "usage: gmaildir login [--no-browser] [--port N] [--timeout SECONDS] ACCOUNT\n"
     "Signs in with OAuth 2.0 in a browser and keeps the refresh token (Secret\n"
     "Service, or a 0600 file). --no-browser prints the address to open.\n",
     false},
    {"init", cli_cmd_init, "write a starter config (init gmail|imap ADDRESS)",
     "usage: gmaildir init gmail ADDRESS\n"
     "       gmaildir init imap [--host HOST] [--port N] [--user USER] ADDRESS\n"
     "Writes a starter config (to -c FILE or the default path), never over an\n"
     "existing one, and says what to do next. gmail: a Gmail account (App\n"
     "Password, or OAuth 2.0). imap: any other IMAP server; the host is asked\n"
     "on a terminal (default imap.DOMAIN of the address), or given by --host.\n"
     "  --host HOST   the IMAP server\n"
     "  --port N      993 (implicit TLS, the default) or 143 and others (STARTTLS)\n"
     "  --user USER   the login name, when it is not the address\n",
     false},
    {"list", cli_cmd_list, "remote folders, their roles, their local paths",
     "usage: gmaildir list [ACCOUNT...]\n"
     "The server's folders: their names as gmaildir uses them, their roles,\n"
     "whether they are synced, and their local paths.\n",
     false},
    {"check-config", cli_cmd_check_config, "load the config and print it, secrets masked",
     "usage: gmaildir check-config\n"
     "Loads the config and prints every account with its defaults filled in,\n"
     "secrets masked; a mistake is named as file:line:column.\n",
     false},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: gmaildir [-c FILE] [-v|-q] [--log-file FILE] COMMAND [ARGS]\n"
		   "       gmaildir help COMMAND\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\noptions:\n"
		"  -c FILE       config file (default $XDG_CONFIG_HOME/gmaildir/config.yaml)\n"
		"  -v            more detail (-vv: IMAP wire trace, secrets hidden)\n"
		"  -q            errors only\n"
		"  --log-file FILE\n"
		"                log lines go there, appended and timestamped, not to stderr\n"
		"                (a sync's results too); the daemon reopens it on SIGHUP\n"
		"  -h, --help    this help\n"
		"  --version     print the version\n"
		"  (-c, -v, -q and --log-file may also come after the command)\n"
		"\nexit status: 0 ok, 1 some folder or account failed, 2 usage or config error,\n"
		"3 refused for safety (mass deletion)\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* "unknown command 'snyc'; did you mean 'sync'? (gmaildir help lists them)" */
static int unknown_command(const char *name)
{
	const char *near = suggest_closest(name, commands, sizeof(commands) / sizeof(commands[0]),
					   sizeof(*commands));

	if (near)
		fprintf(stderr,
			"gmaildir: unknown command '%s'; did you mean '%s'? (gmaildir help "
			"lists the commands)\n",
			name, near);
	else
		fprintf(stderr,
			"gmaildir: unknown command '%s'; gmaildir help lists the commands\n", name);
	return EXIT_USAGE;
}

/* Global options stop at the command name ('+'), so each command parses its
 * own options. Returns -1 to continue, else an exit status. */
static int parse_globals(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"config", required_argument, NULL, 'c'},
	    {"log-file", required_argument, NULL, 'L'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+c:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli->config_path = optarg;
			break;
		case 'L':
			cli->log_file = optarg;
			break;
		case 'v':
			cli->verbosity++;
			break;
		case 'q':
			cli->verbosity = -1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("gmaildir %s\n", GMAILDIR_VERSION);
			return EXIT_OK;
		default:
			return cli_bad_option(NULL, argv, "+c:vqh", longopts);
		}
	}
	return -1;
}

static void command_help(const struct command *cmd)
{
	fputs(cmd->help, stdout);
	printf("\nGlobal options (-c FILE, -v, -q, --log-file FILE): gmaildir --help. More: "
	       "gmaildir(1).\n");
}

/* `gmaildir NAME ... --help` (or -h, except for send, where sendmail's
 * flags rule): the command's help, before any config is read. */
static bool wants_help(const struct command *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 ||
		    (!cmd->own_flags && strcmp(argv[i], "-h") == 0))
			return true;
	}
	return false;
}

/* -v, -vv, -q, -c FILE and --log-file FILE after the command name count as before it (a
 * natural "gmaildir sync -v"): taken out of argv for the command. Not for
 * a command with flags of its own by those letters (send). */
static int take_late_globals(struct cli *cli, const struct command *cmd, int *argc, char **argv)
{
	int w = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if (cmd->own_flags || strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[w++] = argv[i++];
			break;
		}
		if (a[0] == '-' && a[1] == 'v' && a[strspn(a + 1, "v") + 1] == '\0') {
			cli->verbosity += (int)strlen(a + 1);
		} else if (strcmp(a, "-q") == 0) {
			cli->verbosity = -1;
		} else if (strncmp(a, "--config=", 9) == 0) {
			cli->config_path = a + 9;
		} else if (strncmp(a, "--log-file=", 11) == 0) {
			cli->log_file = a + 11;
		} else if (strcmp(a, "--log-file") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "gmaildir: --log-file needs a file\n");
				return EXIT_USAGE;
			}
			cli->log_file = argv[++i];
		} else if (strncmp(a, "-c", 2) == 0 && a[2]) {
			cli->config_path = a + 2;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "gmaildir: %s needs a file\n", a);
				return EXIT_USAGE;
			}
			cli->config_path = argv[++i];
		} else {
			argv[w++] = argv[i];
		}
	}
	argv[w] = NULL;
	*argc = w;
	return -1;
}

static enum log_level level_for(int verbosity)
{
	if (verbosity < 0)
		return LOG_LVL_ERROR;
	if (verbosity >= 2)
		return LOG_LVL_TRACE;
	return verbosity == 1 ? LOG_LVL_DEBUG : LOG_LVL_INFO;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	struct error err = {0};
	const struct command *cmd;
	int ret;

	/* A fixed threshold: every buffer of 128 KB or more (a large message
	 * body, read whole by libetpan) gets its own mapping, returned to the
	 * system when freed. glibc otherwise raises the threshold after the
	 * first such free, and the next bodies then come from the heap, whose
	 * freed tops it keeps: about 1.5 MB more peak RSS in a download. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/* Option errors are ours to word: getopt's would start with argv[0]
	 * (a full path, or the command's name) and say nothing of the fix. */
	opterr = 0;
	ret = parse_globals(&cli, argc, argv);
	if (ret >= 0)
		return ret;
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc) {
			usage(stdout);
			return EXIT_OK;
		}
		cmd = find_command(argv[optind + 1]);
		if (!cmd)
			return unknown_command(argv[optind + 1]);
		command_help(cmd);
		return EXIT_OK;
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		return unknown_command(argv[optind]);
	argc -= optind;
	argv += optind;
	optind = 1;
	if (wants_help(cmd, argc, argv)) {
		command_help(cmd);
		return EXIT_OK;
	}
	ret = take_late_globals(&cli, cmd, &argc, argv);
	if (ret >= 0)
		return ret;
	log_init(level_for(cli.verbosity));
	if (cli.log_file && log_open_file(cli.log_file, &err) < 0) {
		fprintf(stderr, "gmaildir: %s\n", err.msg);
		return EXIT_USAGE;
	}
	ret = cmd->run(&cli, argc, argv);
	config_free(&cli.config);
	return ret;
}
