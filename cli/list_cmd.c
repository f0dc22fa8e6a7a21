/* `gmaildir list [ACCOUNT]`: the remote folders of each account with their
 * special-use role, local path, and whether the config selects them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "imap/folders.h"
#include "imap/imap.h"
#include "imap/roles.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define NAME_COLUMNS 30

/* name, control characters as '?' (a server's name must not drive the
 * terminal), padded to NAME_COLUMNS by characters, not bytes: "Entwürfe"
 * lines up with "Drafts". */
static void print_name(const char *name)
{
	int cols = 0;

	for (const char *p = name; *p; p++) {
		putchar((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p);
		cols += ((unsigned char)*p & 0xc0) != 0x80;
	}
	for (; cols < NAME_COLUMNS; cols++)
		putchar(' ');
}

static void print_mailbox(const struct account_conf *acct, const struct imap_mailbox *m, bool gmail)
{
	char *path = NULL, *name = NULL, *where = NULL;
	const char *role = folder_role_name(m->attrs);

	if (mailbox_display_name(m, gmail, &name) < 0 ||
	    mailbox_local_path(m, gmail, acct->layout, &path) < 0) {
		printf("  ");
		print_name(m->name);
		printf(" (name is not valid modified UTF-7: skipped)\n");
		goto out;
	}
	if (m->attrs & IMAP_MBX_NOSELECT) {
		printf("  ");
		print_name(name);
		printf(" (not selectable)\n");
		goto out;
	}
	/* Maildir++ keeps INBOX in the root itself: show it as the root. */
	where = strcmp(path, ".") == 0 ? xstrdup(acct->maildir) : fs_join(acct->maildir, path);
	printf("  ");
	print_name(name);
	printf(" %-9s %-9s %s\n", role ? role : "-",
	       folder_selected(acct, name) && !(gmail && gmail_skipped_by_default(acct, m, name))
		   ? "synced"
		   : "excluded",
	       where);
out:
	free(where);
	free(path);
	free(name);
}

static int list_account(const struct account_conf *acct)
{
	struct imap *imap = NULL;
	struct imap_mailbox *mbx = NULL;
	struct error err = {0};
	size_t n = 0;
	char *secret = NULL;
	int ret = EXIT_FAILED;

	if (imap_sign_in(acct, &imap, &err) < 0 || imap_list(imap, &mbx, &n, &err) < 0) {
		fprintf(stderr, "gmaildir: %s: %s\n", acct->name, err.msg);
		cli_hint(err.msg);
		goto out;
	}
	printf("%s (%s:%u):\n", acct->name, acct->host, acct->port);
	for (size_t i = 0; i < n; i++)
		print_mailbox(acct, &mbx[i], imap_caps(imap) & IMAP_CAP_XGM);
	ret = EXIT_OK;
out:
	imap_mailboxes_free(mbx, n);
	imap_free(&imap);
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	return ret;
}

int cli_cmd_list(struct cli *cli, int argc, char **argv)
{
	int ret = cli_load_config(cli), worst = EXIT_OK;

	if (ret != EXIT_OK)
		return ret;
	if (argc > 1) {
		const struct account_conf *acct = cli_find_account(cli, argv[1], NULL);

		return acct ? list_account(acct) : EXIT_USAGE;
	}
	for (size_t i = 0; i < config_account_count(cli->config); i++)
		if (list_account(config_account(cli->config, i)) != EXIT_OK)
			worst = EXIT_FAILED;
	return worst;
}
