/* Moves across folders. A mail reader moves a message by renaming its file
 * into another folder, keeping the unique part: the planner then sees a
 * local deletion in the source folder and a new local message with the same
 * key in the target. Sending that as UID MOVE keeps the server's copy (no
 * download, no upload, no duplicate) instead of expunge + APPEND.
 *
 * Crash safety: before the MOVE, an upload intent naming the message is
 * committed in the *target* folder. A restart that finds it looks the
 * message up there by Message-ID (recover.c), exactly as for an interrupted
 * APPEND: found -> paired; not found -> the move did not happen and is
 * planned again. The source pair, whose UID and file are then both gone, is
 * simply forgotten. */
#include <stdlib.h>
#include <string.h>

#include "sync/engine_p.h"
#include "util/crashpoint.h"
#include "imap/message.h"
#include "util/log.h"
#include "util/xalloc.h"

struct upload_ref {
	const char *key; /* borrowed */
	struct folder_job *job;
	size_t action;
	bool taken;
};

static int cmp_ref(const void *a, const void *b)
{
	return strcmp(((const struct upload_ref *)a)->key, ((const struct upload_ref *)b)->key);
}

static struct upload_ref *collect_uploads(struct folder_job *jobs, size_t n, size_t *n_r)
{
	struct upload_ref *refs = NULL;
	size_t cap = 0, k = 0;

	for (size_t j = 0; j < n; j++) {
		for (size_t i = 0; i < jobs[j].plan.n; i++) {
			const struct plan_action *a = &jobs[j].plan.actions[i];

			if (a->op != PLAN_UPLOAD)
				continue;
			refs = xgrow(refs, &cap, k + 1, sizeof(*refs));
			refs[k++] =
			    (struct upload_ref){jobs[j].local[a->local].unique, &jobs[j], i, false};
		}
	}
	xqsort(refs, k, sizeof(*refs), cmp_ref);
	*n_r = k;
	return refs;
}

void move_link(struct folder_job *src, const struct move_out *m)
{
	src->moves = xgrow(src->moves, &src->cap_moves, src->n_moves + 1, sizeof(*src->moves));
	src->moves[src->n_moves++] = *m;
	/* A folder skipped as quiet must still be applied to send it. */
	src->quiet = false;
}

static void link_move(struct folder_job *src, size_t action, struct upload_ref *ref)
{
	struct plan_action *out = &src->plan.actions[action];
	struct plan_action *in = &ref->job->plan.actions[ref->action];
	struct move_out m = {.action = action,
			     .src_pair = out->base,
			     .src_uid = src->remote[out->remote].uid,
			     .src_flags = src->remote[out->remote].flags,
			     .target = ref->job,
			     .target_local = in->local,
			     .target_uidnext = ref->job->info.uidnext};

	out->op = PLAN_MOVE_OUT;
	src->plan.n_delete_remote--;
	in->op = PLAN_MOVE_IN;
	ref->taken = true;
	move_link(src, &m);
}

void moves_match(struct folder_job *jobs, size_t n)
{
	size_t n_refs = 0;
	struct upload_ref *refs;

	if (n < 2 || !(imap_caps(jobs[0].env->imap) & IMAP_CAP_UIDPLUS))
		return; /* without COPYUID a move could not be paired: delete + upload */
	refs = collect_uploads(jobs, n, &n_refs);
	for (size_t j = 0; j < n && n_refs > 0; j++) {
		for (size_t i = 0; i < jobs[j].plan.n; i++) {
			const struct plan_action *a = &jobs[j].plan.actions[i];
			struct upload_ref key = {0}, *ref;

			if (a->op != PLAN_DELETE_REMOTE)
				continue;
			key.key = jobs[j].pairs[a->base].key;
			ref = xbsearch(&key, refs, n_refs, sizeof(*refs), cmp_ref);
			if (ref && !ref->taken && ref->job != &jobs[j])
				link_move(&jobs[j], i, ref);
		}
	}
	free(refs);
}

/* The Message-ID the target folder's recovery will search for: the one
 * recorded at download, else read from the moved file. */
static char *move_message_id(const struct folder_job *src, const struct move_out *m)
{
	const struct state_pair *p = &src->pairs[m->src_pair];
	struct folder_job *t = m->target;
	char *data = NULL, *id = NULL;
	size_t len;
	time_t mtime;
	struct error err = {0};

	if (p->message_id)
		return xstrdup(p->message_id);
	if (maildir_read_crlf(t->md, &t->local[m->target_local], &data, &len, &mtime, &err) == 0)
		id = message_id_get(data, len);
	free(data);
	return id ? id : xstrdup("");
}

/* The intents of a batch of moves into one target, in one transaction,
 * before the MOVE is sent. */
static int record_intents(struct folder_job *src, struct move_out **ms, size_t n, int64_t *ids,
			  struct error *err)
{
	struct state *st = src->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct folder_job *t = ms[i]->target;
		char *msgid = move_message_id(src, ms[i]);
		struct state_intent in = {.folder_id = t->sf.id,
					  .kind = INTENT_UPLOAD,
					  .key = t->local[ms[i]->target_local].unique};
		int r;

		in.extra = xasprintf("%u %s", ms[i]->target_uidnext, msgid);
		/* A label put back replaces the key's pair, whose UID is gone:
		 * dropped with the intent, as an upload's restore does, so that
		 * after a crash the intent alone says what became of the key. */
		r = ms[i]->target_old_uid
			? state_pair_delete(st, t->sf.id, ms[i]->target_old_uid, err)
			: 0;
		if (r == 0)
			r = state_intent_add(st, &in, &ids[i], err);
		free(in.extra);
		free(msgid);
		if (r < 0) {
			state_rollback(st);
			return -1;
		}
	}
	return state_commit(st, err);
}

/* After the MOVE: each pair moves to the target folder with the UID that
 * COPYUID gave (none: recover.c finds it next time, by its intent). */
static int record_moved(struct folder_job *src, struct move_out **ms, size_t n, const int64_t *ids,
			struct error *err)
{
	struct state *st = src->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct state_pair p = src->pairs[ms[i]->src_pair];

		p.uid = ms[i]->dst_uid;
		p.key = ms[i]->target->local[ms[i]->target_local].unique;
		if ((!ms[i]->copy && state_pair_delete(st, src->sf.id, ms[i]->src_uid, err) < 0) ||
		    (p.uid && (state_pair_put(st, ms[i]->target->sf.id, &p, err) < 0 ||
			       state_intent_done(st, ids[i], err) < 0))) {
			state_rollback(st);
			return -1;
		}
	}
	return state_commit(st, err);
}

/* One UID MOVE for every message going to the same target. */
static int move_batch(struct folder_job *src, struct move_out **ms, size_t n, struct error *err)
{
	uint32_t *uids = xcalloc(n, sizeof(*uids)), *dst = NULL;
	int64_t *ids = xcalloc(n, sizeof(*ids));
	int ret = -1;

	for (size_t i = 0; i < n; i++)
		uids[i] = ms[i]->src_uid;
	if (record_intents(src, ms, n, ids, err) < 0 ||
	    (ms[0]->copy ? imap_copy : imap_move)(src->env->imap, uids, n, ms[0]->target->mbx->name,
						  &dst, err) < 0)
		goto out;
	crashpoint(ms[0]->copy ? "UID COPY sent" : "UID MOVE sent");
	for (size_t i = 0; i < n; i++)
		ms[i]->dst_uid = dst ? dst[i] : 0;
	ret = record_moved(src, ms, n, ids, err);
out:
	free(dst);
	free(ids);
	free(uids);
	return ret;
}

int apply_moves(struct folder_job *job, struct error *err)
{
	struct move_out **batch = xcalloc(job->n_moves ? job->n_moves : 1, sizeof(*batch));
	bool *done = xcalloc(job->n_moves ? job->n_moves : 1, sizeof(bool));
	int ret = 0;

	for (size_t i = 0; i < job->n_moves && ret == 0; i++) {
		size_t n = 0;

		if (done[i])
			continue;
		for (size_t k = i; k < job->n_moves; k++) {
			if (!done[k] && job->moves[k].target == job->moves[i].target &&
			    job->moves[k].copy == job->moves[i].copy) {
				batch[n++] = &job->moves[k];
				done[k] = true;
			}
		}
		ret = move_batch(job, batch, n, err);
	}
	free(done);
	free(batch);
	return ret;
}

/* The moved message's flags, merged as for any pair: the base is the
 * source pair's, the server side what the source had, the local side the
 * moved file. */
static unsigned merged_flags(const struct folder_job *src, const struct move_out *m)
{
	unsigned b = src->pairs[m->src_pair].flags;
	unsigned r = m->src_flags, l = m->target->local[m->target_local].flags;
	unsigned ch_r = r ^ b, ch_l = l ^ b;

	return (b & ~(ch_r | ch_l)) | (r & ch_r) | (l & ch_l & ~ch_r);
}

static int push_moved_flags(struct folder_job *src, const struct move_out *m, struct error *err)
{
	struct folder_job *t = m->target;
	struct maildir_entry *e = &t->local[m->target_local];
	unsigned want = merged_flags(src, m);
	struct state_pair p = src->pairs[m->src_pair];
	struct imap *imap = src->env->imap;
	bool store = (want & ~m->src_flags) || (m->src_flags & ~want);

	/* Only a STORE needs the target selected (a label put back often
	 * carries its flags already: then only the base is settled). */
	if (store && t->env->selected != t && imap_select(imap, t->mbx->name, &t->info, err) < 0)
		return -1;
	if (store)
		t->env->selected = t;
	if ((want & ~m->src_flags) &&
	    imap_store_flags(imap, &m->dst_uid, 1, true, want & ~m->src_flags, NULL, err) < 0)
		return -1;
	if ((m->src_flags & ~want) &&
	    imap_store_flags(imap, &m->dst_uid, 1, false, m->src_flags & ~want, NULL, err) < 0)
		return -1;
	if (want != e->flags &&
	    (maildir_set_flags(t->md, e, want, err) < 0 || maildir_sync(t->md, err) < 0))
		return -1;
	p.uid = m->dst_uid;
	p.key = e->unique;
	p.flags = want;
	return state_pair_put(src->env->st, t->sf.id, &p, err);
}

int moves_finish(struct folder_job *jobs, size_t n, struct error *err)
{
	for (size_t j = 0; j < n; j++) {
		for (size_t i = 0; i < jobs[j].n_moves; i++) {
			const struct move_out *m = &jobs[j].moves[i];

			unsigned want = merged_flags(&jobs[j], m);
			unsigned base = jobs[j].pairs[m->src_pair].flags;

			/* The pair was recorded with the old base: settle it. */
			if (!m->dst_uid || (want == m->src_flags && want == base &&
					    m->target->local[m->target_local].flags == want))
				continue;
			if (push_moved_flags(&jobs[j], m, err) < 0)
				return -1;
		}
	}
	return 0;
}
