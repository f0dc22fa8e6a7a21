/* Downloads, batched and crash-safe (DESIGN.md §5). For each batch:
 *   1. one transaction records an intent (UID -> chosen key) per message;
 *   2. one UID FETCH streams the bodies; each is written to tmp/ as it is
 *      parsed, so at most one message is in memory;
 *   3. maildir_commit makes the batch durable and renames it into new/cur;
 *   4. one transaction records the pairs and clears the intents.
 * A crash anywhere leaves either tmp/ files (ignored, downloaded again) or
 * files whose intent names them (paired by recover.c): never a duplicate,
 * never a loss. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/maildir.h"
#include "sync/engine_p.h"
#include "imap/message.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DEFAULT_BATCH_BYTES (8u << 20)
#define DEFAULT_BATCH_MESSAGES 1000
/* A message bigger than this comes in pieces of this size: libetpan holds
 * each literal whole in memory, and with a few connections each on a
 * message of many megabytes the peak memory would follow the biggest
 * messages. One round trip per piece is little next to its transfer. */
#define DEFAULT_PIECE_BYTES (512u << 10)

struct dl_item {
	size_t remote;	  /* index into job->remote */
	size_t base;	  /* pair to drop first (restore), or PLAN_NONE */
	char *key;	  /* owned */
	char *message_id; /* owned or NULL */
	int64_t intent;
	bool delivered;
	bool linked; /* a hard link of a copy already on disk (Gmail label) */
};

/* Folders already holding Gmail messages, opened once per download run to
 * hard-link from: each read with one scan, so a copy is found whatever its
 * flags are now. */
struct link_src {
	int64_t folder_id;
	struct maildir *md;	       /* owned, NULL when it cannot be opened */
	struct maildir_entry *entries; /* owned, sorted by unique */
	size_t n;
};

struct link_cache {
	struct link_src *srcs; /* owned */
	size_t n;
	size_t cap;
	struct state_folder *folders; /* owned: id -> local path */
	size_t n_folders;
};

struct dl_batch {
	struct folder_job *job;
	struct sync_env *env; /* the connections this batch runs on */
	struct maildir *md;   /* this runner's handle on job's Maildir */
	struct link_cache *links;
	struct dl_item *items; /* ascending UIDs */
	size_t n;
	size_t failed;	  /* messages whose delivery failed locally */
	struct error err; /* the first local delivery error */
};

/* Newest (highest UID) first. */
static int cmp_item_newest(const void *a, const void *b, void *ctx)
{
	const struct remote_msg *r = ctx;
	uint32_t ua = r[((const struct dl_item *)a)->remote].uid;
	uint32_t ub = r[((const struct dl_item *)b)->remote].uid;

	return ua > ub ? -1 : ua < ub;
}

/* Items [0, n) in ascending UID order, from the newest-first order. */
static void reverse_items(struct dl_item *items, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		struct dl_item t = items[i];

		items[i] = items[n - 1 - i];
		items[n - 1 - i] = t;
	}
}

static struct dl_item *find_item(struct dl_batch *b, uint32_t uid)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t u = b->job->remote[b->items[mid].remote].uid;

		if (u == uid)
			return &b->items[mid];
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int deliver(uint32_t uid, const char *data, size_t len, void *ctx)
{
	struct dl_batch *b = ctx;
	struct dl_item *it = find_item(b, uid);
	const struct remote_msg *r;
	struct maildir_delivery *d = NULL;
	struct error err = {0};

	if (!it || it->delivered)
		return 0; /* not asked for, or a repeated response: ignore */
	r = &b->job->remote[it->remote];
	if (maildir_delivery_begin(b->md, it->key, &d, &err) < 0 ||
	    maildir_delivery_write(d, data, len, &err) < 0 ||
	    maildir_delivery_finish(&d, r->flags, r->internaldate, &err) < 0) {
		maildir_delivery_abort(&d);
		if (b->failed++ == 0)
			b->err = err;
		return -1;
	}
	it->message_id = message_id_get(data, len);
	it->delivered = true;
	return 0;
}

/* Step 1: the intents (and, for a restore, the stale pair's removal) are
 * committed before anything is fetched. */
static int record_intents(struct dl_batch *b, struct error *err)
{
	struct state *st = b->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct dl_item *it = &b->items[i];
		struct state_intent in = {.folder_id = b->job->sf.id,
					  .kind = INTENT_DOWNLOAD,
					  .uid = b->job->remote[it->remote].uid};

		it->key = maildir_unique_new();
		in.key = it->key;
		if (it->base != PLAN_NONE &&
		    state_pair_delete(st, b->job->sf.id, b->job->pairs[it->base].uid, err) < 0)
			goto fail;
		if (state_intent_add(st, &in, &it->intent, err) < 0)
			goto fail;
	}
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

/* Step 4: pairs for what arrived; every intent of the batch is done (what
 * did not arrive has no file and will be asked for again). */
static int record_pairs(struct dl_batch *b, struct error *err)
{
	struct state *st = b->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct dl_item *it = &b->items[i];
		const struct remote_msg *r = &b->job->remote[it->remote];
		struct state_pair p = {r->uid,	it->key,	r->flags,   r->keywords,
				       r->size, it->message_id, r->gm_msgid};

		if (it->delivered && state_pair_put(st, b->job->sf.id, &p, err) < 0)
			goto fail;
		if (state_intent_done(st, it->intent, err) < 0)
			goto fail;
	}
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

static struct link_src *link_src_get(struct dl_batch *b, int64_t folder_id)
{
	struct link_cache *c = b->links;
	struct link_src *s;
	struct error err = {0};
	char *path = NULL;

	for (size_t i = 0; i < c->n; i++)
		if (c->srcs[i].folder_id == folder_id)
			return &c->srcs[i];
	if (!c->folders && state_folders_list(b->env->st, &c->folders, &c->n_folders, &err) < 0)
		c->n_folders = 0;
	c->srcs = xgrow(c->srcs, &c->cap, c->n + 1, sizeof(*c->srcs));
	s = &c->srcs[c->n++];
	memset(s, 0, sizeof(*s));
	s->folder_id = folder_id;
	for (size_t i = 0; i < c->n_folders && !path; i++)
		if (c->folders[i].id == folder_id)
			path = fs_join(b->env->acct->maildir, c->folders[i].local_path);
	if (path && (maildir_open(path, false, &s->md, &err) < 0 ||
		     maildir_scan(s->md, &s->entries, &s->n, NULL, &err) < 0))
		maildir_free(&s->md);
	free(path);
	return s;
}

static const struct maildir_entry *link_entry(const struct link_src *s, const char *key)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(s->entries[mid].unique, key);

		if (d == 0)
			return &s->entries[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Gmail: a message whose X-GM-MSGID is already on disk in another folder
 * is hard-linked from there instead of downloaded (labels are folders: one
 * message, one download). Any failure simply means a download. */
static void try_link(struct dl_batch *b, struct dl_item *it)
{
	const struct remote_msg *r = &b->job->remote[it->remote];
	struct state_pair p = {0};
	struct link_src *s;
	const struct maildir_entry *e;
	struct error err = {0};
	int64_t folder_id = 0;

	if (!r->gm_msgid ||
	    state_pair_by_gm_msgid(b->env->st, r->gm_msgid, &folder_id, &p, &err) != 1)
		goto out;
	s = folder_id == b->job->sf.id ? NULL : link_src_get(b, folder_id);
	e = s && s->md ? link_entry(s, p.key) : NULL;
	if (!e || maildir_deliver_link(b->md, s->md, e, it->key, r->flags, &err) < 0)
		goto out;
	it->delivered = it->linked = true;
	it->message_id = p.message_id;
	p.message_id = NULL;
out:
	state_pair_clear(&p);
}

static void link_cache_clear(struct link_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		maildir_entries_free(c->srcs[i].entries, c->srcs[i].n);
		maildir_free(&c->srcs[i].md);
	}
	free(c->srcs);
	state_folders_free(c->folders, c->n_folders);
	memset(c, 0, sizeof(*c));
}

struct pieces {
	struct maildir_delivery *d; /* owned */
	size_t got;		    /* bytes of the last piece */
	uint64_t at;		    /* bytes written so far */
	char *message_id;	    /* owned: from the first piece */
	struct error err;
};

static int write_piece(uint32_t uid, const char *data, size_t len, void *ctx)
{
	struct pieces *pc = ctx;

	if (pc->at == 0 && len > 0)
		pc->message_id = message_id_get(data, len);
	if (maildir_delivery_write(pc->d, data, len, &pc->err) < 0)
		return -1;
	pc->got = len;
	return 0;
}

/* One big message into its tmp/ file, piece by piece, until a piece comes
 * back short. Returns 0 (delivered, or failed for this message alone:
 * b->failed), -1 when the connection or the command failed (err). */
static int deliver_pieces(struct dl_batch *b, struct dl_item *it, uint32_t piece, struct error *err)
{
	const struct remote_msg *r = &b->job->remote[it->remote];
	struct pieces pc = {0};
	int ret = 0;

	if (maildir_delivery_begin(b->md, it->key, &pc.d, &pc.err) < 0)
		goto refused;
	do {
		struct error ferr = {0};

		/* A server that never ends the message must not fill the disk. */
		if (pc.at > 2 * (uint64_t)r->size + piece) {
			error_set(&pc.err, ERR_MESSAGE, RETRY_BACKOFF,
				  "UID %u: more than twice its RFC822.SIZE (%u) came; not stored",
				  r->uid, r->size);
			goto refused;
		}
		pc.got = 0;
		ret = imap_fetch_body_piece(b->env->imap, r->uid, (uint32_t)pc.at, piece,
					    write_piece, &pc, &ferr);
		if (ret < 0) {
			*err = ferr;
			goto refused;
		}
		if (ret > 0) {
			if (!pc.err.msg[0])
				pc.err = ferr;
			ret = 0;
			goto refused;
		}
		pc.at += pc.got;
	} while (pc.got == piece);
	if (maildir_delivery_finish(&pc.d, r->flags, r->internaldate, &pc.err) < 0)
		goto refused;
	it->message_id = pc.message_id;
	it->delivered = true;
	return 0;
refused:
	maildir_delivery_abort(&pc.d);
	free(pc.message_id);
	if (ret == 0 && b->failed++ == 0)
		b->err = pc.err;
	return ret;
}

static int fetch_batch(struct dl_batch *b, struct error *err)
{
	const struct engine_opts *o = b->env->opts;
	uint32_t piece = o->piece_bytes ? o->piece_bytes : DEFAULT_PIECE_BYTES;
	uint32_t *uids = xcalloc(b->n, sizeof(*uids));
	size_t n = 0;
	int ret = 0;

	for (size_t i = 0; i < b->n; i++) {
		if (b->env->gmail)
			try_link(b, &b->items[i]);
		if (!b->items[i].linked && b->job->remote[b->items[i].remote].size <= piece)
			uids[n++] = b->job->remote[b->items[i].remote].uid;
	}
	if (n > 0)
		ret = imap_fetch_bodies(b->env->imap, uids, n, deliver, b, err);
	for (size_t i = 0; i < b->n && ret >= 0; i++) {
		struct dl_item *it = &b->items[i];

		if (!it->linked && !it->delivered && b->job->remote[it->remote].size > piece &&
		    deliver_pieces(b, it, piece, err) < 0)
			ret = -1;
	}
	free(uids);
	return ret;
}

/* Runs one batch. Returns 0 ok, 1 when some messages failed but the folder
 * can go on (err set), -1 when it must stop. */
static int run_batch(struct dl_batch *b, struct error *err)
{
	struct error ferr = {0};
	int fetched;

	if (record_intents(b, err) < 0)
		return -1;
	fetched = fetch_batch(b, &ferr);
	/* Whatever arrived whole is kept, even when the fetch failed later. */
	if (maildir_commit(b->md, err) < 0 || record_pairs(b, err) < 0)
		return -1;
	/* The state has them now: a download of 100,000 messages need not
	 * keep 200,000 strings to its end. */
	for (size_t i = 0; i < b->n; i++) {
		free(b->items[i].key);
		free(b->items[i].message_id);
		b->items[i].key = b->items[i].message_id = NULL;
	}
	if (fetched < 0) {
		*err = ferr;
		return -1;
	}
	if (b->failed > 0) {
		*err = b->err;
		return b->err.scope == ERR_MESSAGE ? 1 : -1;
	}
	if (fetched > 0) {
		*err = ferr;
		return 1;
	}
	return 0;
}

static void free_items(struct dl_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].key);
		free(items[i].message_id);
	}
	free(items);
}

/* The messages to download, newest first: a first sync of a big folder
 * brings this week's mail in seconds while the rest streams in (the
 * folder's checkpoint is written only once all of it is here, so an
 * interrupted run leaves nothing out). Each batch is a run of UIDs,
 * turned ascending when it is taken (take_batch). */
static struct dl_item *collect(const struct folder_job *job, size_t *n_r, uint64_t *bytes_r)
{
	struct dl_item *items = xcalloc(job->plan.n, sizeof(*items));
	size_t n = 0;

	*bytes_r = 0;
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		if (a->op != PLAN_DOWNLOAD && a->op != PLAN_RESTORE_LOCAL)
			continue;
		items[n].remote = a->remote;
		items[n].base = a->op == PLAN_RESTORE_LOCAL ? a->base : PLAN_NONE;
		*bytes_r += job->remote[a->remote].size;
		n++;
	}
	qsort_r(items, n, sizeof(*items), cmp_item_newest, (void *)job->remote);
	*n_r = n;
	return items;
}

/* How many items from start fit in one batch: at least one, however big. */
static size_t batch_len(const struct folder_job *job, const struct dl_item *items, size_t n)
{
	const struct engine_opts *o = job->env->opts;
	uint64_t max_bytes = o->batch_bytes ? o->batch_bytes : DEFAULT_BATCH_BYTES;
	size_t max_n = o->batch_messages ? o->batch_messages : DEFAULT_BATCH_MESSAGES;
	uint64_t bytes = 0;
	size_t k = 0;

	while (k < n && k < max_n) {
		bytes += job->remote[items[k].remote].size;
		if (k > 0 && bytes > max_bytes)
			break;
		k++;
	}
	return k;
}

size_t download_batches(const struct folder_job *job)
{
	size_t n = 0, k = 0, batches = 0;
	uint64_t bytes;
	struct dl_item *items = collect(job, &n, &bytes);

	for (; k < n; batches++)
		k += batch_len(job, items + k, n - k);
	free(items);
	return batches;
}

/* One folder's download. Its owner runs batches one after another; idle
 * workers of the pool may run some too, each on its own connection and
 * Maildir handle (download_help): a batch is self-contained (intents,
 * fetch, commit, pairs), so batches of one folder can run side by side. */
struct dl_run {
	struct folder_job *job;
	struct dl_item *items; /* owned: newest first; each batch taken ascending */
	size_t n;
	size_t next; /* the first item not taken yet */
	size_t n_done;
	uint64_t bytes, total_bytes;
	size_t failed;	    /* batches where some messages failed */
	struct error first; /* the first of those */
	bool stop;	    /* a batch failed the folder: take no more */
	struct error stop_err;
	size_t helpers; /* workers inside download_help */
	pthread_mutex_t lock;
	pthread_cond_t left; /* a helper left */
};

static bool take_batch(struct dl_run *run, struct sync_env *env, struct dl_batch *b)
{
	bool ok;

	pthread_mutex_lock(&run->lock);
	ok = !run->stop && run->next < run->n && !env_cancelled(env);
	if (ok) {
		b->items = run->items + run->next;
		b->n = batch_len(run->job, b->items, run->n - run->next);
		/* A compact UID set, and find_item's binary search. */
		reverse_items(b->items, b->n);
		run->next += b->n;
	}
	pthread_mutex_unlock(&run->lock);
	return ok;
}

static void end_batch(struct dl_run *run, const struct dl_batch *b, int r, const struct error *err)
{
	struct folder_job *job = run->job;
	size_t done;
	uint64_t bytes;

	pthread_mutex_lock(&run->lock);
	for (size_t i = 0; i < b->n; i++) {
		if (b->items[i].linked)
			job->report.linked++;
		else if (b->items[i].delivered)
			run->bytes += job->remote[b->items[i].remote].size;
	}
	run->n_done += b->n;
	if (r > 0 && run->failed++ == 0)
		run->first = *err;
	if (r < 0 && !run->stop) {
		run->stop = true;
		run->stop_err = *err;
	}
	done = run->n_done;
	bytes = run->bytes;
	pthread_mutex_unlock(&run->lock);
	env_progress(job->env, job->display, done, run->n, bytes, run->total_bytes);
}

static void run_batches(struct dl_run *run, struct sync_env *env, struct maildir *md)
{
	struct link_cache links = {0};
	struct dl_batch b;

	for (;;) {
		struct error err = {0};
		int r;

		b = (struct dl_batch){.job = run->job, .env = env, .md = md, .links = &links};
		if (!take_batch(run, env, &b))
			break;
		r = run_batch(&b, &err);
		end_batch(run, &b, r, &err);
	}
	link_cache_clear(&links);
}

bool download_wants_help(struct dl_run *run)
{
	bool want;

	pthread_mutex_lock(&run->lock);
	/* The batch after the owner's next one: only a real backlog is
	 * worth another worker. */
	want = !run->stop && run->n - run->next > 0 &&
	       batch_len(run->job, run->items + run->next, run->n - run->next) < run->n - run->next;
	if (want)
		run->helpers++;
	pthread_mutex_unlock(&run->lock);
	return want;
}

void download_help(struct dl_run *run, struct sync_env *env)
{
	struct folder_job *job = run->job;
	struct imap_mailbox_info info;
	struct maildir *md = NULL;
	struct error err = {0};

	env->selected = NULL;
	/* The same mailbox, under the same UIDVALIDITY, or no help. */
	if (imap_select(env->imap, job->mbx->name, &info, &err) == 0 &&
	    info.uidvalidity == job->info.uidvalidity &&
	    maildir_open(job->local_abs, false, &md, &err) == 0) {
		log_debug("%s: a second connection helps with the download", job->display);
		run_batches(run, env, md);
	}
	maildir_free(&md);
	pthread_mutex_lock(&run->lock);
	run->helpers--;
	pthread_cond_broadcast(&run->left);
	pthread_mutex_unlock(&run->lock);
}

int download_run(struct folder_job *job, struct error *err)
{
	struct dl_run run = {.job = job};
	int ret = 0;

	run.items = collect(job, &run.n, &run.total_bytes);
	if (run.n == 0) {
		free(run.items);
		return 0;
	}
	pthread_mutex_init(&run.lock, NULL);
	pthread_cond_init(&run.left, NULL);
	env_offer(job->env, &run);
	run_batches(&run, job->env, job->md);
	env_withdraw(job->env, &run);
	pthread_mutex_lock(&run.lock);
	while (run.helpers > 0)
		pthread_cond_wait(&run.left, &run.lock);
	pthread_mutex_unlock(&run.lock);
	job->report.bytes_down = run.bytes;
	if (run.stop) {
		*err = run.stop_err;
		ret = -1;
	} else if (run.next < run.n) {
		/* Stopped between batches: what is committed stays, and the
		 * folder records no checkpoint, so the rest comes next time. */
		error_set(err, ERR_FOLDER, RETRY_NOW, "interrupted");
		ret = -1;
	} else if (run.failed > 0) {
		*err = run.first;
		err->scope = ERR_FOLDER;
		ret = -1;
	}
	pthread_cond_destroy(&run.left);
	pthread_mutex_destroy(&run.lock);
	free_items(run.items, run.n);
	return ret;
}
