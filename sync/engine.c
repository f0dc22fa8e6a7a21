/* The account level of a sync: secret, lock, state, connection, the folder
 * list, then each selected folder in turn. A folder that fails is reported
 * and the others go on. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/engine_p.h"
#include "sync/folders.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

void engine_progress(struct folder_job *job, size_t done, size_t total, uint64_t bytes,
		     uint64_t total_bytes)
{
	const struct engine_observer *obs = job->eng->obs;
	struct engine_progress p = {job->eng->acct->name, job->display, done, total, bytes,
				    total_bytes};

	if (obs && obs->progress)
		obs->progress(&p, obs->ctx);
}

static void free_secret(char **secret)
{
	if (!*secret)
		return;
	explicit_bzero(*secret, strlen(*secret));
	free(*secret);
	*secret = NULL;
}

/* Lock first, so that a second process says who holds the account before it
 * spends a login on it. */
static int engine_open(struct engine *eng, struct error *err)
{
	const struct account_conf *acct = eng->acct;
	char *secret = NULL;
	int ret = -1;

	if (fs_mkdir_p(acct->state_dir, 0700, err) < 0 ||
	    state_lock_acquire(acct->state_dir, acct->name, &eng->lock, err) < 0 ||
	    state_open(acct->state_dir, &eng->st, err) < 0)
		goto out;
	if (config_get_secret(acct, &secret, err) < 0 ||
	    imap_connect(acct, secret, &eng->imap, err) < 0)
		goto out;
	ret = 0;
out:
	free_secret(&secret);
	return ret;
}

static void engine_close(struct engine *eng)
{
	imap_free(&eng->imap);
	state_free(&eng->st);
	state_lock_release(&eng->lock);
}

static bool name_requested(const struct engine_opts *opts, const char *display)
{
	if (!opts->folders || opts->n_folders == 0)
		return true;
	for (size_t i = 0; i < opts->n_folders; i++) {
		if (strcmp(opts->folders[i], display) == 0)
			return true;
		if (strcasecmp(display, "INBOX") == 0 && strcasecmp(opts->folders[i], "INBOX") == 0)
			return true;
	}
	return false;
}

/* A mailbox is synced when it can be selected, its name is valid, and the
 * config (and the command line, if it names folders) selects it. */
static bool mailbox_wanted(const struct engine *eng, const struct imap_mailbox *m)
{
	char *display = NULL;
	bool wanted = false;

	if (m->attrs & IMAP_MBX_NOSELECT)
		return false;
	if (folder_display_name(m->name, m->delim, &display) < 0) {
		log_warn("%s: skipping folder '%s': its name is not valid modified UTF-7",
			 eng->acct->name, m->name);
		return false;
	}
	wanted = folder_selected(eng->acct, display) && name_requested(eng->opts, display);
	free(display);
	return wanted;
}

static int sync_folders(struct engine *eng, struct error *err)
{
	struct imap_mailbox *mbx = NULL;
	size_t n = 0;
	int ret = -1, failed = 0;

	if (imap_list(eng->imap, &mbx, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct error ferr = {0};

		if (!mailbox_wanted(eng, &mbx[i]))
			continue;
		if (folder_sync(eng, &mbx[i], &ferr) < 0)
			failed = 1;
		if (imap_is_dead(eng->imap)) {
			*err = ferr;
			goto out;
		}
	}
	ret = failed;
out:
	imap_mailboxes_free(mbx, n);
	return ret;
}

int engine_sync_account(const struct account_conf *acct, const struct engine_opts *opts,
			const struct engine_observer *obs, struct error *err)
{
	struct engine eng = {acct, opts, obs, NULL, NULL, NULL};
	int ret = -1;

	if (engine_open(&eng, err) < 0)
		goto out;
	ret = sync_folders(&eng, err);
out:
	engine_close(&eng);
	return ret;
}
