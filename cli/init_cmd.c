/* `gmaildir init gmail ADDRESS` and `gmaildir init imap ADDRESS`: write a
 * starter config (0600, in a 0700 directory) for a Gmail account or for
 * any other IMAP server, and say what to do next. Never over an existing
 * file; the file written is loaded once, so that a starter that would not
 * load (a host with a space, say) is taken back at once. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* The account name: the address's local part, reduced to the characters
 * the config accepts in a name. */
static char *account_name(const char *address)
{
	char *name = xstrndup(address, strcspn(address, "@"));

	for (char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			*p = '-';
	return name;
}

/* What `init imap` was told: the server, and who logs in. */
struct imap_start {
	const char *address; /* borrowed from argv */
	char *host;	     /* owned */
	unsigned port;	     /* 993: implicit TLS; 143 or another: STARTTLS */
	const char *user;    /* borrowed: --user, else the address */
	bool guessed;	     /* host is imap.DOMAIN, not asked nor given */
};

static char *gmail_text(const char *address)
{
	char *name = account_name(address);
	char *text =
	    xasprintf("# gmaildir config: every key is in gmaildir.yaml(5) (man gmaildir.yaml);\n"
		      "# the README has the quick start.\n"
		      "accounts:\n"
		      "  - name: %s\n"
		      "    provider: gmail            # imap.gmail.com:993, implicit TLS\n"
		      "    user: %s\n"
		      "    # A command that prints your App Password (Google Account >\n"
		      "    # Security > App passwords; needs 2-Step Verification).\n"
		      "    password_command: \"pass show google/app-password\"\n"
		      "    # No App Password possible? Sign in with OAuth 2.0 instead: drop\n"
		      "    # password_command, uncomment these with your Desktop app client\n"
		      "    # (README: \"Signing in with OAuth 2.0\"), run: gmaildir login %s\n"
		      "    # oauth2:\n"
		      "    #   client_id: 1234567890-abc.apps.googleusercontent.com\n"
		      "    #   client_secret_command: \"pass show google/oauth-client-secret\"\n"
		      "    maildir: ~/Mail/%s\n"
		      "    # Outgoing mail (gmaildir send): the same App Password. Port 25\n"
		      "    # is blocked by Google; 587 with tls: starttls works too.\n"
		      "    smtp:\n"
		      "      host: smtp.gmail.com\n"
		      "      port: 465\n"
		      "      tls: implicit\n",
		      name, address, name, name);

	free(name);
	return text;
}

/* YAML's double-quoted form of s, for a user name with ':' or '#'. */
static char *yaml_quoted(const char *s)
{
	char *out = xmalloc(2 * strlen(s) + 3), *o = out;

	*o++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

static char *imap_text(const struct imap_start *st)
{
	char *name = account_name(st->address), *user = yaml_quoted(st->user);
	const char *domain = strchr(st->address, '@') + 1;
	char *text = xasprintf(
	    "# gmaildir config: every key is in gmaildir.yaml(5) (man gmaildir.yaml);\n"
	    "# the README has the quick start.\n"
	    "accounts:\n"
	    "  - name: %s\n"
	    "    host: %s%s\n"
	    "    port: %u\n"
	    "    tls: %s\n"
	    "    user: %s\n"
	    "    # A command that prints your password (its first line is used).\n"
	    "    password_command: \"pass show mail/%s\"\n"
	    "    # Or an OAuth 2.0 access token from a helper of your own:\n"
	    "    # auth: xoauth2\n"
	    "    # oauth2_token_command: \"my-token-helper %s\"\n"
	    "    maildir: ~/Mail/%s\n"
	    "    # layout: maildir++         # INBOX in the root, folders as .Sent (Dovecot,\n"
	    "    #                           # Courier, mbsync and OfflineIMAP Maildirs)\n"
	    "    # Outgoing mail (gmaildir send): your provider's submission server.\n"
	    "    # smtp:\n"
	    "    #   host: smtp.%s\n"
	    "    #   port: 465                # implicit TLS; 587 with tls: starttls\n"
	    "    #   tls: implicit\n",
	    name, st->host, st->guessed ? "       # guessed from the address: check it" : "",
	    st->port, st->port == 993 ? "implicit" : "starttls", user, st->address, st->address,
	    name, domain);

	free(user);
	free(name);
	return text;
}

static int write_config(const char *path, const char *text, struct error *err)
{
	char *dir = xstrdup(path);
	int fd = -1, ret = -1;
	FILE *f = NULL;

	*strrchr(dir, '/') = '\0';
	if (*dir && fs_mkdir_p(dir, 0700, err) < 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "%s: %s", path,
			  errno == EEXIST ? "already exists; not overwritten" : strerror(errno));
		goto out;
	}
	fd = -1;
	fputs(text, f);
	ret = fclose(f) == 0 ? 0 : -1;
	f = NULL;
	if (ret < 0)
		error_set(err, ERR_CONFIG, RETRY_NEVER, "%s: %s", path, strerror(errno));
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	free(dir);
	return ret;
}

/* Writes text to path and loads it back: a starter that does not load is
 * removed again, so a second try is not refused as "already exists". */
static int write_checked(const char *path, const char *text, struct error *err)
{
	struct config *cfg = NULL;

	if (write_config(path, text, err) < 0)
		return -1;
	if (config_load(path, &cfg, err) < 0) {
		char msg[sizeof(err->msg)];

		unlink(path);
		memcpy(msg, err->msg, sizeof(msg));
		error_set(err, ERR_CONFIG, RETRY_NEVER, "%s (so nothing was written)", msg);
		return -1;
	}
	config_free(&cfg);
	return 0;
}

#define SERVICE_STEP                                                                               \
	"Keep it in sync: systemctl --user enable --now gmaildir\n"                                \
	"     (the service may write only ~/Mail and ~/.local/state/gmaildir: for a\n"             \
	"     maildir elsewhere add ReadWritePaths= with systemctl --user edit\n"                  \
	"     gmaildir; gmaildir(1), FILES)\n"

static int init_gmail(const char *path, const char *address)
{
	struct error err = {0};
	char *text = gmail_text(address), *name = account_name(address);
	int ret = write_checked(path, text, &err);

	if (ret < 0) {
		fprintf(stderr, "gmaildir: %s\n", err.msg);
		goto out;
	}
	printf("Wrote %s (mode 0600). Next:\n"
	       "  1. Turn on 2-Step Verification, then create an App Password:\n"
	       "     https://myaccount.google.com/apppasswords\n"
	       "  2. Store it (e.g. pass insert google/app-password) and make password_command\n"
	       "     print it.\n"
	       "     No App Password for this account (Advanced Protection, a work account)?\n"
	       "     Use OAuth 2.0: in Google Cloud Console create a project, enable the Gmail\n"
	       "     API, set up the consent screen (scope https://mail.google.com/, then\n"
	       "     \"Publish app\": a project left in Testing loses its sign-ins after 7\n"
	       "     days), create an OAuth client of type \"Desktop app\", put its client_id\n"
	       "     and secret in the oauth2: block of the config and run:\n"
	       "       gmaildir login %s\n"
	       "  3. Run: gmaildir sync\n"
	       "  4. " SERVICE_STEP,
	       path, name);
out:
	free(name);
	free(text);
	return ret < 0 ? EXIT_USAGE : EXIT_OK;
}

/* The host when neither --host nor a terminal gave one: imap.DOMAIN,
 * marked in the file as a guess to check. On a terminal, asked, with the
 * guess as the default. */
static void ask_host(struct imap_start *st)
{
	char *guess = xasprintf("imap.%s", strchr(st->address, '@') + 1);
	char line[512];

	if (st->host) {
		free(guess);
		return;
	}
	if (isatty(STDIN_FILENO)) {
		printf("IMAP server of %s [%s]: ", st->address, guess);
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[strspn(line, " \t")]) {
				st->host = xstrdup(line + strspn(line, " \t"));
				free(guess);
				return;
			}
		}
	}
	st->host = guess;
	st->guessed = true;
}

static int init_imap(const char *path, struct imap_start *st)
{
	struct error err = {0};
	char *text, *name = account_name(st->address);
	int ret;

	ask_host(st);
	text = imap_text(st);
	ret = write_checked(path, text, &err);
	if (ret < 0) {
		fprintf(stderr, "gmaildir: %s\n", err.msg);
		goto out;
	}
	printf("Wrote %s (mode 0600) for %s:%u (%s). Next:\n"
	       "  1. %s\n"
	       "  2. Store your password (e.g. pass insert mail/%s) and make\n"
	       "     password_command print it (or set password: in the file, which\n"
	       "     stays mode 0600).\n"
	       "  3. Check the way to the server and the login: gmaildir doctor %s\n"
	       "  4. See the folders and where they go: gmaildir list %s\n"
	       "  5. Run: gmaildir sync\n"
	       "  6. " SERVICE_STEP,
	       path, st->host, st->port, st->port == 993 ? "implicit TLS" : "STARTTLS",
	       st->guessed ? "The server's name was guessed from the address: check host: in\n"
			     "     the file (your provider's IMAP settings name it)."
			   : "Look over the file: every key is in gmaildir.yaml(5).",
	       st->address, name, name);
out:
	free(text);
	free(name);
	return ret < 0 ? EXIT_USAGE : EXIT_OK;
}

static int init_usage(void)
{
	fprintf(stderr, "usage: gmaildir [-c FILE] init gmail ADDRESS\n"
			"       gmaildir [-c FILE] init imap [--host HOST] [--port N] "
			"[--user USER] ADDRESS\n"
			"see gmaildir help init\n");
	return EXIT_USAGE;
}

static int parse_init_opts(int argc, char **argv, struct imap_start *st)
{
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"user", required_argument, NULL, 'u'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	/* 0, not 1: getopt starts afresh, permuting again (the global options
	 * were read with "+"), so that options may follow ADDRESS. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'H':
			free(st->host);
			st->host = xstrdup(optarg);
			break;
		case 'p':
			v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v == 0 || v > 65535) {
				fprintf(stderr, "gmaildir: init: --port wants 1..65535\n");
				return EXIT_USAGE;
			}
			st->port = (unsigned)v;
			break;
		case 'u':
			st->user = optarg;
			break;
		default:
			return cli_bad_option("init", argv, "", longopts);
		}
	}
	return EXIT_OK;
}

int cli_cmd_init(struct cli *cli, int argc, char **argv)
{
	struct imap_start st = {.port = 993};
	char *def = NULL;
	const char *path = cli->config_path, *kind;
	int ret = parse_init_opts(argc, argv, &st);

	if (ret != EXIT_OK)
		goto out;
	ret = EXIT_USAGE;
	if (argc - optind != 2 || !strchr(argv[optind + 1], '@') ||
	    !strchr(argv[optind + 1], '@')[1]) {
		init_usage();
		goto out;
	}
	kind = argv[optind];
	st.address = argv[optind + 1];
	if (!st.user)
		st.user = st.address;
	if (!path)
		path = def = config_default_path();
	if (strcmp(kind, "gmail") == 0 && !st.host && st.port == 993 && st.user == st.address)
		ret = init_gmail(path, st.address);
	else if (strcmp(kind, "imap") == 0)
		ret = init_imap(path, &st);
	else
		init_usage();
out:
	free(st.host);
	free(def);
	return ret;
}
