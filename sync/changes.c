/* How much of a folder must be read: work proportional to what changed,
 * not to the mailbox (DESIGN.md §6).
 *
 *  - Quiet folder: UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ as recorded, as
 *    many messages as pairs, the Maildir's settled stamp as recorded and no
 *    intent pending: nothing is fetched and nothing is read from disk.
 *  - CONDSTORE: flags of known messages with UID FETCH 1:<old UIDNEXT-1>
 *    (FLAGS) (CHANGEDSINCE <old HIGHESTMODSEQ>), new messages with UID
 *    FETCH <old UIDNEXT>:*, and expunges from the count: if EXISTS minus the
 *    new messages equals the pairs, nothing was expunged; else one UID SEARCH
 *    of the old range lists the survivors. Every other known message is
 *    taken as the base says (after a completed sync the server holds the
 *    base flags).
 *  - QRESYNC: the SELECT itself is SELECT ... (QRESYNC (<UIDVALIDITY>
 *    <old HIGHESTMODSEQ> 1:<old UIDNEXT-1>)), whose answer carries the
 *    flags of the known messages that changed (in place of the CHANGEDSINCE
 *    fetch) and VANISHED (EARLIER), the expunged UIDs. New messages are
 *    fetched as with CONDSTORE. VANISHED is taken as a claim only: when
 *    EXISTS minus the new messages equals the pairs less the pairs it
 *    names, the survivors are those pairs; else the UID SEARCH decides.
 *  - Otherwise: every UID with its flags (UID FETCH 1:*).
 * Direction push keeps remote flags that differ from the base (it never
 * brings server changes down), so it always reads everything. */
#include <stdlib.h>
#include <string.h>

#include "store/maildir.h"
#include "sync/engine_p.h"
#include "util/log.h"
#include "util/uidset.h"
#include "util/xalloc.h"

static void on_meta(const struct imap_meta *m, void *ctx)
{
	struct folder_job *job = ctx;
	struct remote_msg *r;

	job->remote = xgrow(job->remote, &job->cap_remote, job->n_remote + 1, sizeof(*r));
	r = &job->remote[job->n_remote++];
	r->uid = m->uid;
	r->flags = m->flags;
	r->keywords = m->keywords ? xstrdup(m->keywords) : NULL;
	r->size = m->size;
	r->internaldate = m->internaldate;
	r->gm_msgid = m->gm_msgid;
}

static int cmp_remote(const void *a, const void *b)
{
	uint32_t ua = ((const struct remote_msg *)a)->uid, ub = ((const struct remote_msg *)b)->uid;

	return ua < ub ? -1 : ua > ub;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts by UID and drops duplicate UIDs (a server may repeat a FETCH
 * response): the later response wins, as it is the more recent state. */
static void remote_normalize(struct folder_job *job)
{
	size_t w = 0;

	xqsort(job->remote, job->n_remote, sizeof(*job->remote), cmp_remote);
	for (size_t i = 0; i < job->n_remote; i++) {
		if (w > 0 && job->remote[w - 1].uid == job->remote[i].uid) {
			free(job->remote[w - 1].keywords);
			job->remote[w - 1] = job->remote[i];
			continue;
		}
		job->remote[w++] = job->remote[i];
	}
	job->n_remote = w;
}

bool folder_quiet(const struct folder_job *job, size_t n_pairs, uint64_t stamp)
{
	const struct state_folder *sf = &job->sf;

	return sf->id != 0 && sf->uidvalidity == job->info.uidvalidity &&
	       sf->uidnext == job->info.uidnext && job->info.highestmodseq != 0 &&
	       sf->highestmodseq == job->info.highestmodseq && job->info.exists == n_pairs &&
	       stamp != 0 && stamp == sf->local_stamp;
}

/* The state side of incremental_ok: what there is to resync from. */
static bool state_incremental(const struct folder_job *job)
{
	const struct state_folder *sf = &job->sf;
	unsigned age;
	uint64_t size;

	/* max_age needs every message's INTERNALDATE, which only the full
	 * listing brings (the pairs keep no date). */
	job_limits(job, &age, &size);
	return sf->id != 0 && sf->uidvalidity != 0 && sf->uidnext > 1 && sf->highestmodseq != 0 &&
	       job->env->acct->direction != DIRECTION_PUSH && age == 0;
}

static bool incremental_ok(const struct folder_job *job)
{
	const struct state_folder *sf = &job->sf;

	/* A HIGHESTMODSEQ or UIDNEXT that went backwards breaks CHANGEDSINCE
	 * and the count: read everything then. */
	return state_incremental(job) && sf->uidvalidity == job->info.uidvalidity &&
	       job->info.uidnext >= sf->uidnext && job->info.highestmodseq >= sf->highestmodseq;
}

int select_for_plan(struct folder_job *job, struct error *err)
{
	struct imap *imap = job->env->imap;
	const struct state_folder *sf = &job->sf;
	int r;

	/* Empty on the server, by the run's pipelined STATUS: there is
	 * nothing to read, so no SELECT (the apply phase selects it if an
	 * upload needs it). */
	if (job->has_pre && job->pre.exists == 0 && job->pre.uidvalidity != 0 &&
	    !imap_is_selected(imap, job->mbx->name)) {
		job->info = job->pre;
		job->unselected = true;
		return 0;
	}
	if (!(imap_caps(imap) & IMAP_CAP_QRESYNC) || !state_incremental(job))
		return imap_select(imap, job->mbx->name, &job->info, err);
	r = imap_select_qresync(imap, job->mbx->name, sf->uidvalidity, sf->highestmodseq,
				sf->uidnext - 1, &job->info, on_meta, job, &job->vanished,
				&job->n_vanished, err);
	if (r < 0)
		return -1;
	job->qresync = r == 1;
	return 0;
}

/* Forgets what the QRESYNC SELECT brought, for a folder read in full. */
static void qresync_drop(struct folder_job *job)
{
	for (size_t i = 0; i < job->n_remote; i++)
		free(job->remote[i].keywords);
	job->n_remote = 0;
	free(job->vanished);
	job->vanished = NULL;
	job->n_vanished = 0;
	job->qresync = false;
}

/* Drops repeats from a sorted array (a server may list a UID twice). */
static size_t dedup_u32(uint32_t *u, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		if (w == 0 || u[w - 1] != u[i])
			u[w++] = u[i];
	return w;
}

/* The UIDs below the old UIDNEXT that still exist, sorted. With by_count,
 * an EXISTS that leaves room for exactly the pairs says they all survive;
 * else UID SEARCH lists them. */
static int surviving_uids(struct folder_job *job, size_t n_new, bool by_count, uint32_t **uids_r,
			  size_t *n_r, struct error *err)
{
	if (by_count && job->info.exists >= n_new && job->info.exists - n_new == job->n_pairs) {
		uint32_t *uids = xcalloc(job->n_pairs ? job->n_pairs : 1, sizeof(*uids));

		for (size_t i = 0; i < job->n_pairs; i++)
			uids[i] = job->pairs[i].uid;
		*uids_r = uids;
		*n_r = job->n_pairs;
		return 0;
	}
	if (imap_uid_list(job->env->imap, 1, job->sf.uidnext - 1, uids_r, n_r, err) < 0)
		return -1;
	xqsort(*uids_r, *n_r, sizeof(**uids_r), cmp_u32);
	*n_r = dedup_u32(*uids_r, *n_r);
	/* Survivors and new messages must make up EXISTS: a SEARCH answer that
	 * leaves some out would have them taken for expunged, and deleted. */
	if (*n_r + n_new != job->info.exists) {
		error_set(err, ERR_FOLDER, RETRY_BACKOFF,
			  "the server listed %zu + %zu messages but said EXISTS %u: an incomplete "
			  "answer, not acted upon",
			  *n_r, n_new, job->info.exists);
		return -1;
	}
	return 0;
}

static const struct state_pair *pair_by_uid(const struct folder_job *job, uint32_t uid)
{
	size_t lo = 0, hi = job->n_pairs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (job->pairs[mid].uid == uid)
			return &job->pairs[mid];
		if (job->pairs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Adds the surviving known messages the CHANGEDSINCE answer did not
 * mention, as the base has them. A survivor without a pair (a message the
 * last sync did not take, e.g. in direction pull) needs its metadata. */
static int add_unchanged(struct folder_job *job, const uint32_t *uids, size_t n, size_t n_fetched,
			 struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct state_pair *p = pair_by_uid(job, uids[i]);
		struct remote_msg *r;

		if (xbsearch(&(struct remote_msg){.uid = uids[i]}, job->remote, n_fetched,
			     sizeof(*job->remote), cmp_remote))
			continue;
		if (!p) {
			if (imap_fetch_meta(job->env->imap, uids[i], uids[i], 0, on_meta, job,
					    err) < 0)
				return -1;
			continue;
		}
		job->remote = xgrow(job->remote, &job->cap_remote, job->n_remote + 1, sizeof(*r));
		r = &job->remote[job->n_remote++];
		*r = (struct remote_msg){p->uid,
					 p->flags,
					 p->keywords ? xstrdup(p->keywords) : NULL,
					 (uint32_t)p->size,
					 0,
					 p->gm_msgid};
	}
	return 0;
}

static bool vanished_has(const struct folder_job *job, uint32_t uid)
{
	size_t lo = 0, hi = job->n_vanished;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uid < job->vanished[mid].lo)
			hi = mid;
		else if (uid > job->vanished[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Turns the FETCH responses of the QRESYNC SELECT into what the
 * CHANGEDSINCE fetch would have recorded: a known message keeps the size
 * and Gmail id of its pair; a message at or above the old UIDNEXT is left
 * to the fetch of new messages, one below it without a pair to
 * add_unchanged (both need their size and date). Returns false when the
 * answer does not square with VANISHED and the pairs: a message it names
 * that is not a pair, or that VANISHED also names. */
static bool qresync_take(struct folder_job *job)
{
	bool clean = true;
	size_t w = 0;

	for (size_t i = 0; i < job->n_remote; i++) {
		struct remote_msg *r = &job->remote[i];
		const struct state_pair *p = pair_by_uid(job, r->uid);

		if (r->uid < job->sf.uidnext && (!p || vanished_has(job, r->uid)))
			clean = false;
		if (r->uid >= job->sf.uidnext || !p) {
			free(r->keywords);
			continue;
		}
		r->size = (uint32_t)p->size;
		r->gm_msgid = p->gm_msgid;
		job->remote[w++] = *r;
	}
	job->n_remote = w;
	return clean;
}

/* The survivors as QRESYNC has them, when the count confirms VANISHED:
 * EXISTS less the new messages must be the pairs less those it names.
 * Returns true with the pairs VANISHED does not name, sorted; false when
 * the count disagrees (VANISHED is only a hint: libetpan or the server may
 * have left some out). */
static bool qresync_survivors(struct folder_job *job, size_t n_new, uint32_t **uids_r, size_t *n_r)
{
	size_t gone = 0, n = 0;
	uint32_t *uids;

	for (size_t i = 0; i < job->n_pairs; i++)
		gone += vanished_has(job, job->pairs[i].uid);
	if (job->info.exists < n_new || job->info.exists - n_new != job->n_pairs - gone)
		return false;
	uids = xcalloc(job->n_pairs ? job->n_pairs : 1, sizeof(*uids));
	for (size_t i = 0; i < job->n_pairs; i++)
		if (!vanished_has(job, job->pairs[i].uid))
			uids[n++] = job->pairs[i].uid;
	*uids_r = uids;
	*n_r = n;
	return true;
}

static int gather_incremental(struct folder_job *job, struct error *err)
{
	struct imap *imap = job->env->imap;
	uint32_t *uids = NULL;
	size_t n_new, n_uids = 0;
	bool clean = false;
	int ret = -1;

	/* With QRESYNC the changed flags came with the SELECT. */
	if (job->qresync)
		clean = qresync_take(job);
	else if (imap_fetch_meta(imap, 1, job->sf.uidnext - 1, job->sf.highestmodseq, on_meta, job,
				 err) < 0)
		return -1;
	/* No UID was given out since: no new message to ask for. */
	if (job->info.uidnext != job->sf.uidnext &&
	    imap_fetch_meta(imap, job->sf.uidnext, 0, 0, on_meta, job, err) < 0)
		return -1;
	/* Counted after duplicates are dropped: a UID listed twice is one. */
	remote_normalize(job);
	n_new = 0;
	for (size_t i = 0; i < job->n_remote; i++)
		n_new += job->remote[i].uid >= job->sf.uidnext;
	/* A QRESYNC answer that does not square goes to the SEARCH: the
	 * plain count could agree with it by chance. */
	if (!(clean && qresync_survivors(job, n_new, &uids, &n_uids)) &&
	    surviving_uids(job, n_new, !job->qresync, &uids, &n_uids, err) < 0)
		goto out;
	ret = add_unchanged(job, uids, n_uids, job->n_remote, err);
	remote_normalize(job);
out:
	free(uids);
	return ret;
}

int gather_remote(struct folder_job *job, struct error *err)
{
	/* What the QRESYNC SELECT brought is used only by the incremental
	 * path, and only where the CHANGEDSINCE fetch would have been. */
	if (job->qresync && (job->info.exists == 0 || !incremental_ok(job)))
		qresync_drop(job);
	if (job->info.exists == 0)
		return 0;
	if (incremental_ok(job)) {
		if (gather_incremental(job, err) < 0)
			return -1;
	} else if (imap_fetch_meta(job->env->imap, 1, 0, 0, on_meta, job, err) < 0) {
		return -1;
	}
	remote_normalize(job);
	return 0;
}

static void on_date(const struct imap_meta *m, void *ctx)
{
	struct folder_job *job = ctx;
	size_t i = job_remote_index(job, m->uid);

	if (i == PLAN_NONE)
		return;
	job->remote[i].size = m->size;
	job->remote[i].internaldate = m->internaldate;
}

int gather_download_dates(struct folder_job *job, struct error *err)
{
	uint32_t *uids = NULL, lo, hi;
	size_t n = 0, cap = 0, pos = 0;
	int ret = 0;

	if (job->env->opts->dry_run)
		return 0;
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		if ((a->op != PLAN_DOWNLOAD && a->op != PLAN_RESTORE_LOCAL) ||
		    a->remote == PLAN_NONE || job->remote[a->remote].internaldate != 0)
			continue;
		uids = xgrow(uids, &cap, n + 1, sizeof(*uids));
		uids[n++] = job->remote[a->remote].uid;
	}
	n = uidset_normalize(uids, n);
	while (ret == 0 && uidset_next_run(uids, n, &pos, &lo, &hi) == 1)
		ret = imap_fetch_meta(job->env->imap, lo, hi, 0, on_date, job, err);
	free(uids);
	return ret;
}

static bool sparse_qualifies(const struct folder_job *job, size_t n_pairs)
{
	return job->qresync && job->n_vanished == 0 && !job->env->gmail && incremental_ok(job) &&
	       job->info.uidnext == job->sf.uidnext && job->info.exists == n_pairs && n_pairs > 0 &&
	       job->md && job->stamp != 0 && job->stamp == job->sf.local_stamp;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The changed messages' files, by their pairs' keys. */
static int sparse_local(struct folder_job *job, struct error *err)
{
	char **keys = xcalloc(job->n_pairs ? job->n_pairs : 1, sizeof(*keys));
	int ret;

	for (size_t i = 0; i < job->n_pairs; i++)
		keys[i] = job->pairs[i].key;
	xqsort(keys, job->n_pairs, sizeof(*keys), cmp_str);
	ret = maildir_scan_keys(job->md, keys, job->n_pairs, &job->local, &job->n_local, err);
	free(keys);
	return ret;
}

int gather_sparse(struct folder_job *job, size_t n_pairs, bool *taken_r, struct error *err)
{
	struct state_pair *pairs = NULL;
	uint32_t *uids;
	size_t found = 0;

	*taken_r = false;
	if (!sparse_qualifies(job, n_pairs))
		return 0;
	remote_normalize(job);
	uids = xcalloc(job->n_remote ? job->n_remote : 1, sizeof(*uids));
	for (size_t i = 0; i < job->n_remote; i++)
		uids[i] = job->remote[i].uid;
	if (state_pairs_load_uids(job->env->st, job->sf.id, uids, job->n_remote, &pairs, &found,
				  err) < 0) {
		free(uids);
		return -1;
	}
	free(uids);
	/* A changed message without a pair (one max_size keeps away, say)
	 * needs what only the full view knows. */
	if (found != job->n_remote) {
		state_pairs_free(pairs, found);
		return 0;
	}
	for (size_t i = 0; i < job->n_remote; i++) {
		job->remote[i].size = (uint32_t)pairs[i].size;
		job->remote[i].gm_msgid = pairs[i].gm_msgid;
	}
	job->pairs = pairs;
	job->n_pairs = found;
	job->sparse = true;
	*taken_r = true;
	log_debug("%s: %zu of %zu messages changed on the server, none here: only those are read",
		  job->display, found, n_pairs);
	return sparse_local(job, err);
}
