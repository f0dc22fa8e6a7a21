/* gmaildir login ACCOUNT: signs in once with a browser and keeps the
 * refresh token (the account's oauth2: block). On a machine without a
 * display, --no-browser prints the URL only, and --port N fixes the
 * redirect's port so that `ssh -L N:127.0.0.1:N` can carry it. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "oauth/oauth.h"

struct show {
	bool browser;
	const struct account_conf *acct;
	unsigned timeout_s;
};

/* xdg-open, detached and silent: the URL is printed either way. */
static void open_browser(const char *url)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (fork() == 0) {
			int fd = open("/dev/null", O_RDWR);

			if (fd >= 0) {
				dup2(fd, STDIN_FILENO);
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
			}
			execlp("xdg-open", "xdg-open", url, (char *)NULL);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void show_url(const char *url, void *ctx)
{
	const struct show *s = ctx;

	printf("To sign in %s (%s), open this address in a browser:\n\n  %s\n\n", s->acct->name,
	       s->acct->user, url);
	printf("Waiting for the browser (up to %u minutes)...\n", (s->timeout_s + 59) / 60);
	fflush(stdout);
	if (s->browser)
		open_browser(url);
}

static int usage(void)
{
	fprintf(stderr, "usage: gmaildir login [--no-browser] [--port N] [--timeout SECONDS] "
			"ACCOUNT\n");
	return EXIT_USAGE;
}

int cli_cmd_login(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"no-browser", no_argument, NULL, 'n'},
						 {"port", required_argument, NULL, 'p'},
						 {"timeout", required_argument, NULL, 't'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct oauth_login_opts o = {.timeout_s = 300};
	struct show s = {.browser = getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")};
	struct oauth_login_result res;
	struct error err = {0};
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'n':
			s.browser = false;
			break;
		case 'p':
		case 't':
			v = strtoul(optarg, &end, 10);
			if (*end || v > (c == 'p' ? 65535UL : 86400UL) || (c == 't' && v == 0))
				return usage();
			if (c == 'p')
				o.port = (unsigned)v;
			else
				o.timeout_s = (unsigned)v;
			break;
		default:
			return cli_bad_option("login", argv, "h", longopts);
		}
	}
	if (optind != argc - 1)
		return usage();
	ret = cli_load_config(cli);
	if (ret != EXIT_OK)
		return ret;
	s.acct = cli_find_account(cli, argv[optind], NULL);
	if (!s.acct)
		return EXIT_USAGE;
	if (!s.acct->oauth2.configured) {
		fprintf(stderr,
			"gmaildir login: account %s has no oauth2: block; add one with the "
			"client_id and client_secret of a \"Desktop app\" (see gmaildir.yaml(5))\n",
			s.acct->name);
		return EXIT_USAGE;
	}
	s.timeout_s = o.timeout_s;
	o.show_url = show_url;
	o.ctx = &s;
	if (oauth_login(s.acct, &o, &res, &err) < 0) {
		fprintf(stderr, "gmaildir login: %s: %s\n", s.acct->name, err.msg);
		return err.scope == ERR_CONFIG ? EXIT_USAGE : EXIT_FAILED;
	}
	printf("Signed in. The sign-in is kept in %s; scope: %s.\n", res.where, res.scope);
	return EXIT_OK;
}
