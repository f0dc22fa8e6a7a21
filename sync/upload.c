/* Uploads of new local messages (APPEND), crash-safe (DESIGN.md §5): an
 * intent carrying the folder's UIDNEXT and the message's Message-ID is
 * committed before the APPEND, so that a restart looks the message up on the
 * server instead of appending it a second time (recover.c).
 *
 * A message the server refuses for good (the same NO every time, see
 * imap_append), and an empty file, which is no message at all and is never
 * sent, become local-only with a notice naming the file: the folder's sync
 * goes on and its checkpoint advances, instead of failing on that file at
 * every run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/engine_p.h"
#include "util/crashpoint.h"
#include "imap/message.h"
#include "util/log.h"
#include "util/xalloc.h"

#define UPLOAD_BATCH 50

struct up_item {
	size_t local;	  /* index into job->local */
	size_t base;	  /* pair to drop first (restore), or PLAN_NONE */
	char *message_id; /* owned or NULL */
	int64_t intent;
	uint32_t uid;  /* the server's UID once appended, 0 before */
	uint64_t size; /* bytes sent */
	bool done;     /* the intent can be cleared */
	bool refused;  /* refused for good (or empty): becomes local-only */
};

/* Reads the message once for its Message-ID and size; the APPEND reads it
 * again so that a batch never holds more than one message in memory. */
static char *read_message_id(struct folder_job *job, size_t local, size_t *len_r, struct error *err)
{
	char *data = NULL, *id;
	time_t mtime;

	if (maildir_read_crlf(job->md, &job->local[local], &data, len_r, &mtime, err) < 0)
		return NULL;
	id = message_id_get(data, *len_r);
	free(data);
	return id ? id : xstrdup("");
}

/* The message file of an item, for notices: "<folder>/cur/<name>". */
static void item_path(const struct folder_job *job, const struct up_item *it, char *buf, size_t cap)
{
	const struct maildir_entry *e = &job->local[it->local];

	snprintf(buf, cap, "%s/%s/%s", job->local_abs, e->in_new ? "new" : "cur", e->filename);
}

/* An empty file: not sent, no intent (see the top comment). */
static void refuse_empty(struct folder_job *job, struct up_item *it)
{
	char path[1024], safe[1024];

	item_path(job, it, path, sizeof(path));
	it->refused = true;
	env_notice(job->env,
		   "warning: %s is empty (0 bytes), not a message: it is not uploaded and stays "
		   "here as a local-only file",
		   printable(path, safe, sizeof(safe)));
}

static int record_intents(struct folder_job *job, struct up_item *items, size_t n,
			  struct error *err)
{
	struct state *st = job->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct up_item *it = &items[i];
		struct state_intent in = {.folder_id = job->sf.id,
					  .kind = INTENT_UPLOAD,
					  .key = job->local[it->local].unique};

		size_t len = 0;

		it->message_id = read_message_id(job, it->local, &len, err);
		if (!it->message_id)
			goto fail;
		if (len == 0)
			refuse_empty(job, it);
		in.extra = xasprintf("%u %s", job->info.uidnext, it->message_id);
		if ((it->base != PLAN_NONE &&
		     state_pair_delete(st, job->sf.id, job->pairs[it->base].uid, err) < 0) ||
		    (!it->refused && state_intent_add(st, &in, &it->intent, err) < 0)) {
			free(in.extra);
			goto fail;
		}
		free(in.extra);
	}
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

/* The server refused the message for good: said, and the item becomes
 * local-only (record_pairs), which is no failure of the folder. */
static void refuse_for_good(struct folder_job *job, struct up_item *it, const struct error *why)
{
	char path[1024], safe[1024];

	item_path(job, it, path, sizeof(path));
	it->refused = true;
	env_notice(job->env,
		   "warning: the server refused %s (%s): it is not uploaded again and stays "
		   "here as a local-only file",
		   printable(path, safe, sizeof(safe)), why->msg);
}

struct header_check {
	const char *want;
	size_t len;
	bool seen, same;
};

static void on_header(uint32_t uid, const char *data, size_t len, void *ctx)
{
	struct header_check *c = ctx;

	c->seen = true;
	c->same = len == c->len && memcmp(data, c->want, len) == 0;
}

/* The length of data's header section (up to and with its empty line),
 * 0 when it has raw 8-bit bytes in none of it. */
static size_t header_8bit_len(const char *data, size_t len)
{
	const char *end = memmem(data, len, "\r\n\r\n", 4);
	size_t n = end ? (size_t)(end - data) + 4 : len;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)data[i] >= 0x80)
			return n;
	return 0;
}

/* Cyrus, by default (munge8bit), turns raw 8-bit bytes of a header into
 * 'X' at the same size: the pair would then differ in silence. The first
 * header with such bytes a run uploads into a folder is read back after
 * its APPEND, and a rewrite said; the copy here keeps the original bytes. */
static void check_header_kept(struct folder_job *job, const struct up_item *it, const char *data,
			      size_t len)
{
	struct header_check c = {data, header_8bit_len(data, len), false, false};
	struct error ignored = {0};
	char path[1024], safe[1024];

	if (job->header_checked || !it->uid || !c.len || job->env->selected != job)
		return;
	/* One per folder and run: a server rewrites all such headers or none. */
	job->header_checked = true;
	if (imap_fetch_headers(job->env->imap, &it->uid, 1, on_header, &c, &ignored) < 0 ||
	    !c.seen || c.same)
		return;
	item_path(job, it, path, sizeof(path));
	env_notice(job->env,
		   "warning: the server rewrote the 8-bit bytes in the header of %s: its copy "
		   "differs from the one here (Cyrus does so unless imapd.conf has "
		   "munge8bit: no)",
		   printable(path, safe, sizeof(safe)));
}

/* APPENDs one message. A NO from the server fails this message only (one
 * that refuses it for good does not: refuse_for_good); a dead connection
 * fails the folder and leaves the intent for recover.c. */
static int append_one(struct folder_job *job, struct up_item *it, struct error *err)
{
	const struct maildir_entry *e = &job->local[it->local];
	char *data = NULL;
	size_t len = 0;
	time_t mtime = 0;
	uint32_t uidvalidity = 0;
	int ret = -1;

	if (maildir_read_crlf(job->md, e, &data, &len, &mtime, err) < 0)
		goto out;
	if (imap_append(job->env->imap, job->mbx->name, e->flags, NULL, mtime, data, len,
			&uidvalidity, &it->uid, err) < 0) {
		it->done = !imap_is_dead(job->env->imap);
		if (it->done && err->scope == ERR_MESSAGE && err->retry == RETRY_NEVER) {
			refuse_for_good(job, it, err);
			ret = 0;
		}
		goto out;
	}
	it->size = len;
	it->done = true;
	crashpoint("APPEND sent");
	check_header_kept(job, it, data, len);
	ret = 0;
out:
	free(data);
	return ret;
}

/* Without UIDPLUS the APPEND does not say the new UID: find it. */
static void find_uid(struct folder_job *job, struct up_item *it)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	struct error err = {0};

	if (it->uid || !it->done || !it->size)
		return;
	if (!it->message_id[0]) {
		it->done = false;
		return;
	}
	if (imap_search_message_id(job->env->imap, it->message_id, job->info.uidnext, &uids, &n,
				   &err) == 0 &&
	    n > 0)
		it->uid = uids[n - 1];
	free(uids);
	/* Appended but not found: leave the intent for recover.c. */
	if (!it->uid)
		it->done = false;
}

static int record_pairs(struct folder_job *job, struct up_item *items, size_t n, struct error *err)
{
	struct state *st = job->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct up_item *it = &items[i];
		const struct maildir_entry *e = &job->local[it->local];
		struct state_pair p = {it->uid,	 e->unique,
				       e->flags, NULL,
				       it->size, it->message_id[0] ? it->message_id : NULL,
				       0};

		if (it->uid && state_pair_put(st, job->sf.id, &p, err) < 0)
			goto fail;
		if (it->refused && state_local_only_add(st, job->sf.id, e->unique, err) < 0)
			goto fail;
		/* Done: appended and paired, or refused by the server (nothing
		 * stored). Otherwise the outcome is unknown: recover.c decides. */
		if (it->done && it->intent && state_intent_done(st, it->intent, err) < 0)
			goto fail;
	}
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

/* One batch: 0 all done, 1 some messages failed (the first one's error
 * in err; the others were sent), -1 the folder cannot go on (a dead
 * connection, a state error). */
static int run_batch(struct folder_job *job, struct up_item *items, size_t n, struct error *err)
{
	struct error aerr = {0};
	size_t failed = 0;

	if (record_intents(job, items, n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && !imap_is_dead(job->env->imap); i++) {
		bool bad = !items[i].refused && append_one(job, &items[i], &aerr) < 0;

		if (bad && failed++ == 0)
			*err = aerr;
		/* The plan counted it; it did not go up. */
		if ((bad || items[i].refused) && job->report.uploaded > 0)
			job->report.uploaded--;
		find_uid(job, &items[i]);
		job->report.bytes_up += items[i].size;
	}
	if (record_pairs(job, items, n, failed ? &aerr : err) < 0)
		return -1;
	if (imap_is_dead(job->env->imap))
		return -1;
	return failed ? 1 : 0;
}

static struct up_item *collect(struct folder_job *job, size_t *n_r)
{
	struct up_item *items = xcalloc(job->plan.n, sizeof(*items));
	size_t n = 0;

	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		if (a->op != PLAN_UPLOAD && a->op != PLAN_RESTORE_REMOTE)
			continue;
		items[n].local = a->local;
		items[n].base = a->op == PLAN_RESTORE_REMOTE ? a->base : PLAN_NONE;
		n++;
	}
	*n_r = n;
	return items;
}

int apply_uploads(struct folder_job *job, struct error *err)
{
	size_t n, done = 0;
	struct up_item *items = collect(job, &n);
	struct error first = {0};
	bool some_failed = false;
	int r = 0;

	/* A message the server refuses this time fails the folder, but only
	 * after every other message of it went up. */
	while (done < n && r >= 0) {
		size_t k = n - done < UPLOAD_BATCH ? n - done : UPLOAD_BATCH;
		struct error berr = {0};

		r = run_batch(job, items + done, k, &berr);
		if (r != 0 && !some_failed) {
			first = berr;
			some_failed = true;
		}
		if (r < 0)
			first = berr;
		done += k;
		env_progress(job->env, job->display, done, n, job->report.bytes_up, 0);
	}
	for (size_t i = 0; i < n; i++)
		free(items[i].message_id);
	free(items);
	if (!some_failed)
		return 0;
	*err = first;
	return -1;
}
