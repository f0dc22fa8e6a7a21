/* `gmaildir init gmail ADDRESS`: writes a starter config (0600, in a 0700
 * directory) for a Gmail account and says what to do next. It never
 * overwrites an existing file. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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

static int write_config(const char *path, const char *address, struct error *err)
{
	char *name = account_name(address), *dir = xstrdup(path);
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
	fprintf(f,
		"# gmaildir config: every key is in gmaildir.yaml(5) (man gmaildir.yaml);\n"
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
	free(name);
	return ret;
}

int cli_cmd_init(struct cli *cli, int argc, char **argv)
{
	struct error err = {0};
	char *def = NULL, *name;
	const char *path = cli->config_path;

	if (argc != 3 || strcmp(argv[1], "gmail") != 0 || !strchr(argv[2], '@')) {
		fprintf(stderr, "usage: gmaildir [-c FILE] init gmail ADDRESS\n");
		return EXIT_USAGE;
	}
	if (!path)
		path = def = config_default_path();
	if (write_config(path, argv[2], &err) < 0) {
		fprintf(stderr, "gmaildir: %s\n", err.msg);
		free(def);
		return EXIT_USAGE;
	}
	name = account_name(argv[2]);
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
	       "  4. Keep it in sync: systemctl --user enable --now gmaildir\n"
	       "     (the service may write only ~/Mail and ~/.local/state/gmaildir: for a\n"
	       "     maildir elsewhere add ReadWritePaths= with systemctl --user edit\n"
	       "     gmaildir; gmaildir(1), FILES)\n",
	       path, name);
	free(name);
	free(def);
	return EXIT_OK;
}
