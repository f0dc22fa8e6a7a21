/* The command line: parses arguments, loads the config, runs a command and
 * turns results into what a person sees and an exit status (DESIGN.md §10):
 * 0 all done; 1 some folder or account failed; 2 usage or config error;
 * 3 refused for safety. */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "cli/cli.h"
#include "util/log.h"
#include "util/xalloc.h"

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"sync", cli_cmd_sync,
     "one two-way sync, then exit (--dry-run, --allow-mass-delete, --allow-unmatched)"},
    {"daemon", cli_cmd_daemon, "stay running: IDLE + inotify + periodic sync"},
    {"send", cli_cmd_send,
     "sendmail-compatible: queue the message on stdin and submit it (--flush: the queue)"},
    {"status", cli_cmd_status, "per folder: messages, last sync, pending work, errors"},
    {"doctor", cli_cmd_doctor, "check DNS, TCP, TLS, login and capabilities"},
    {"login", cli_cmd_login, "sign in with OAuth 2.0 in a browser, keep the refresh token"},
    {"init", cli_cmd_init, "write a starter config (init gmail ADDRESS)"},
    {"list", cli_cmd_list, "remote folders, their roles, their local paths"},
    {"check-config", cli_cmd_check_config, "load the config and print it, secrets masked"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: gmaildir [-c FILE] [-v|-q] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\noptions:\n"
		"  -c FILE       config file (default $XDG_CONFIG_HOME/gmaildir/config.yaml)\n"
		"  -v            more detail (-vv: IMAP wire trace, secrets hidden)\n"
		"  -q            errors only\n"
		"  -h, --help    this help\n"
		"  --version     print the version\n"
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

/* Global options stop at the command name ('+'), so each command parses its
 * own options. Returns -1 to continue, else an exit status. */
static int parse_globals(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"config", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+c:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli->config_path = optarg;
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
			usage(stderr);
			return EXIT_USAGE;
		}
	}
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
	const struct command *cmd;
	int ret;

	/* A fixed threshold: every buffer of 128 KB or more (a large message
	 * body, read whole by libetpan) gets its own mapping, returned to the
	 * system when freed. glibc otherwise raises the threshold after the
	 * first such free, and the next bodies then come from the heap, whose
	 * freed tops it keeps: about 1.5 MB more peak RSS in a download. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	ret = parse_globals(&cli, argc, argv);
	if (ret >= 0)
		return ret;
	log_init(level_for(cli.verbosity));
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "gmaildir: unknown command '%s' (see gmaildir --help)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 1;
	ret = cmd->run(&cli, argc, argv);
	config_free(&cli.config);
	return ret;
}
