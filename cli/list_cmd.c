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

/* The name column is at least this wide, wider when a name needs it. */
#define NAME_COLUMNS 30

/* One line of the listing: the mailbox and the name it is shown by. */
struct list_row {
	const struct imap_mailbox *m; /* borrowed */
	char *name;		      /* owned: display name, or the wire name */
	bool valid;		      /* the wire name is valid modified UTF-7 */
};

static int cmp_list_row(const void *a, const void *b)
{
	return folder_display_cmp(((const struct list_row *)a)->name,
				  ((const struct list_row *)b)->name);
}

static void print_row(const struct account_conf *acct, const struct list_row *r, int name_w,
		      bool gmail)
{
	char *path = NULL, *where = NULL;
	const char *role = folder_role_name(r->m->attrs);

	printf("  ");
	cli_cell(r->name, -name_w);
	if (!r->valid || mailbox_local_path(r->m, gmail, acct->layout, &path) < 0) {
		printf(" (name is not valid modified UTF-7: skipped)\n");
		return;
	}
	if (r->m->attrs & IMAP_MBX_NOSELECT) {
		printf(" (not selectable)\n");
		free(path);
		return;
	}
	/* Maildir++ keeps INBOX in the root itself: show it as the root. */
	where = strcmp(path, ".") == 0 ? xstrdup(acct->maildir) : fs_join(acct->maildir, path);
	printf(" %-9s %-9s ", role ? role : "-",
	       folder_selected(acct, r->name) &&
		       !(gmail && gmail_skipped_by_default(acct, r->m, r->name))
		   ? "synced"
		   : "excluded");
	cli_cell(where, 0);
	putchar('\n');
	free(where);
	free(path);
}

/* The folders sorted as everywhere (INBOX first, then by name), under a
 * header, the name column as wide as the widest name. */
static void print_mailboxes(const struct account_conf *acct, const struct imap_mailbox *mbx,
			    size_t n, bool gmail)
{
	struct list_row *rows = xcalloc(n ? n : 1, sizeof(*rows));
	int name_w = NAME_COLUMNS;

	for (size_t i = 0; i < n; i++) {
		rows[i].m = &mbx[i];
		rows[i].valid = mailbox_display_name(&mbx[i], gmail, &rows[i].name) == 0;
		if (!rows[i].valid)
			rows[i].name = xstrdup(mbx[i].name);
		if (cli_columns(rows[i].name) > name_w)
			name_w = cli_columns(rows[i].name);
	}
	qsort(rows, n, sizeof(*rows), cmp_list_row);
	printf("  %-*s %-9s %-9s %s\n", name_w, "FOLDER", "ROLE", "SYNC", "LOCAL PATH");
	for (size_t i = 0; i < n; i++)
		print_row(acct, &rows[i], name_w, gmail);
	for (size_t i = 0; i < n; i++)
		free(rows[i].name);
	free(rows);
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
	print_mailboxes(acct, mbx, n, imap_caps(imap) & IMAP_CAP_XGM);
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
