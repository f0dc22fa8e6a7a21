/* floor_probe: the least a client can ask of the server to learn which
 * flags changed in some folders: log in, LIST, then per folder SELECT
 * (CONDSTORE) and UID FETCH 1:* (FLAGS) (CHANGEDSINCE HIGHESTMODSEQ - 1),
 * i.e. the last change. No state, no Maildir, nothing written. `make bench`
 * times it as the protocol floor of a re-sync after flag changes: what any
 * client pays on this server, with gmaildir's own TLS and IMAP layer.
 *
 *   floor_probe HOST PORT implicit|starttls|none CAFILE USER PASS MAILBOX...
 *
 * Prints "MAILBOX: N changed" per folder; exit 1 on error, 2 on usage. */
#include <stdio.h>
#include <stdlib.h>

#include "imap/imap.h"

#include "tests/tools/probe_args.h"

static void count(const struct imap_meta *m, void *ctx)
{
	(void)m;
	++*(size_t *)ctx;
}

static int changed(struct imap *imap, const char *mailbox, struct error *err)
{
	struct imap_mailbox_info info;
	size_t n = 0;

	if (imap_select(imap, mailbox, &info, err) < 0)
		return -1;
	if (info.highestmodseq > 1 &&
	    imap_fetch_meta(imap, 1, 0, info.highestmodseq - 1, count, &n, err) < 0)
		return -1;
	printf("%s: %zu changed\n", mailbox, n);
	return 0;
}

int main(int argc, char **argv)
{
	struct account_conf acct;
	struct imap *imap = NULL;
	struct imap_mailbox *mbx = NULL;
	struct error err = {0};
	size_t n = 0;
	int ret = 1;

	if (argc < 8 || probe_account(argv, &acct) < 0) {
		fprintf(stderr, "usage: floor_probe HOST PORT implicit|starttls|none CAFILE USER "
				"PASS MAILBOX...\n");
		return 2;
	}
	if (imap_connect(&acct, argv[6], &imap, &err) < 0 || imap_list(imap, &mbx, &n, &err) < 0)
		goto out;
	for (int i = 7; i < argc; i++)
		if (changed(imap, argv[i], &err) < 0)
			goto out;
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "floor_probe: error: %s\n", err.msg);
	imap_mailboxes_free(mbx, n);
	imap_free(&imap);
	return ret;
}
