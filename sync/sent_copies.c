/* Copies of sent mail (servers other than Gmail, smtp.save_sent): the
 * outbox leaves each message the server took in STATE/sent-copies; here
 * it is placed, marked seen, in the local folder of the server's \Sent
 * folder, just before that folder is synced, so the sync's own upload
 * appends it there once and pairs it, with all the crash safety uploads
 * have. A copy is placed under its queue name: if we die between placing
 * it and forgetting it, placing it again finds the file already there. */
#include "sync/sent_copies.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imap/roles.h"
#include "smtp/outbox.h"
#include "store/maildir.h"
#include "util/fs.h"
#include "util/msgflags.h"
#include "util/xalloc.h"

/* One copy into md; 0 also when it was there already. */
static int place_one(const struct account_conf *acct, struct maildir *md, const char *name,
		     struct error *err)
{
	struct maildir_delivery *d = NULL;
	char *data = NULL;
	size_t len = 0;
	int ret = -1;

	if (outbox_copy_read(acct, name, &data, &len, err) < 0)
		goto out;
	if (maildir_delivery_begin(md, name, &d, err) < 0)
		goto out;
	if (maildir_delivery_write(d, data, len, err) < 0) {
		maildir_delivery_abort(&d);
		goto out;
	}
	if (maildir_delivery_finish(&d, MF_SEEN, 0, err) < 0)
		goto out;
	/* A rename that finds the name taken fails: the copy of an earlier,
	 * interrupted run is already in place. */
	if (maildir_commit(md, err) < 0 && !strstr(err->msg, strerror(EEXIST)))
		goto out;
	error_clear(err);
	ret = outbox_copy_done(acct, name, err);
out:
	free(data);
	return ret;
}

int sent_copies_place(const struct account_conf *acct, const struct imap_mailbox *sent, bool gmail,
		      size_t *placed_r, struct error *err)
{
	char **names = NULL;
	size_t n = 0;
	char *rel = NULL, *abs = NULL;
	struct maildir *md = NULL;
	int ret = -1;

	*placed_r = 0;
	if (outbox_copies(acct, &names, &n, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (mailbox_local_path(sent, gmail, acct->layout, &rel) < 0) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "the Sent folder's name is not valid");
		goto out;
	}
	abs = fs_join(acct->maildir, rel);
	if (maildir_open(abs, true, &md, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (place_one(acct, md, names[i], err) < 0)
			goto out;
		(*placed_r)++;
	}
	ret = 0;
out:
	maildir_free(&md);
	free(rel);
	free(abs);
	outbox_names_free(names, n);
	return ret;
}
