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
#include "sync/message.h"
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
			refs[k++] = (struct upload_ref){jobs[j].local[a->local].unique, &jobs[j], i,
							false};
		}
	}
	qsort(refs, k, sizeof(*refs), cmp_ref);
	*n_r = k;
	return refs;
}

static void link_move(struct folder_job *src, size_t action, struct upload_ref *ref)
{
	struct plan_action *out = &src->plan.actions[action];
	struct plan_action *in = &ref->job->plan.actions[ref->action];

	out->op = PLAN_MOVE_OUT;
	src->plan.n_delete_remote--;
	in->op = PLAN_MOVE_IN;
	ref->taken = true;
	src->moves = xgrow(src->moves, &src->cap_moves, src->n_moves + 1, sizeof(*src->moves));
	src->moves[src->n_moves++] = (struct move_out){action, ref->job, in->local, 0, 0};
}

void moves_match(struct folder_job *jobs, size_t n)
{
	size_t n_refs = 0;
	struct upload_ref *refs;

	if (n < 2 || !(imap_caps(jobs[0].eng->imap) & IMAP_CAP_UIDPLUS))
		return; /* without COPYUID a move could not be paired: delete + upload */
	refs = collect_uploads(jobs, n, &n_refs);
	for (size_t j = 0; j < n && n_refs > 0; j++) {
		for (size_t i = 0; i < jobs[j].plan.n; i++) {
			const struct plan_action *a = &jobs[j].plan.actions[i];
			struct upload_ref key = {0}, *ref;

			if (a->op != PLAN_DELETE_REMOTE)
				continue;
			key.key = jobs[j].pairs[a->base].key;
			ref = bsearch(&key, refs, n_refs, sizeof(*refs), cmp_ref);
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
	const struct state_pair *p = &src->pairs[src->plan.actions[m->action].base];
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

static int record_intent(struct folder_job *src, const struct move_out *m, int64_t *id_r,
			 struct error *err)
{
	struct folder_job *t = m->target;
	char *msgid = move_message_id(src, m);
	struct state_intent in = {.folder_id = t->sf.id,
				  .kind = INTENT_UPLOAD,
				  .key = t->local[m->target_local].unique};
	int ret;

	in.extra = xasprintf("%u %s", t->info.uidnext, msgid);
	ret = state_begin(src->eng->st, err) < 0 || state_intent_add(src->eng->st, &in, id_r, err) < 0
		      ? -1
		      : state_commit(src->eng->st, err);
	if (ret < 0)
		state_rollback(src->eng->st);
	free(in.extra);
	free(msgid);
	return ret;
}

/* After the MOVE: the pair moves to the target folder with the UID that
 * COPYUID gave (or none: then recover.c finds it next time). */
static int record_moved(struct folder_job *src, const struct move_out *m, uint32_t dst_uid,
			int64_t intent, struct error *err)
{
	struct state *st = src->eng->st;
	const struct plan_action *a = &src->plan.actions[m->action];
	struct state_pair p = src->pairs[a->base];

	p.uid = dst_uid;
	p.key = m->target->local[m->target_local].unique;
	p.flags = src->remote[a->remote].flags;
	if (state_begin(st, err) < 0)
		return -1;
	if (state_pair_delete(st, src->sf.id, src->pairs[a->base].uid, err) < 0 ||
	    (dst_uid && (state_pair_put(st, m->target->sf.id, &p, err) < 0 ||
			 state_intent_done(st, intent, err) < 0))) {
		state_rollback(st);
		return -1;
	}
	return state_commit(st, err);
}

static int move_one(struct folder_job *src, struct move_out *m, struct error *err)
{
	const struct plan_action *a = &src->plan.actions[m->action];
	uint32_t uid = src->remote[a->remote].uid, *dst = NULL;
	int64_t intent = 0;
	int ret = -1;

	if (record_intent(src, m, &intent, err) < 0)
		return -1;
	if (imap_move(src->eng->imap, &uid, 1, m->target->mbx->name, &dst, err) < 0)
		goto out;
	m->dst_uid = dst ? dst[0] : 0;
	m->flags = src->remote[a->remote].flags;
	ret = record_moved(src, m, m->dst_uid, intent, err);
out:
	free(dst);
	return ret;
}

int apply_moves(struct folder_job *job, struct error *err)
{
	for (size_t i = 0; i < job->n_moves; i++)
		if (move_one(job, &job->moves[i], err) < 0)
			return -1;
	return 0;
}

static int push_moved_flags(struct folder_job *src, const struct move_out *m, struct error *err)
{
	struct folder_job *t = m->target;
	unsigned want = t->local[m->target_local].flags;
	struct state_pair p = src->pairs[src->plan.actions[m->action].base];
	struct imap *imap = src->eng->imap;

	if (t->eng->selected != t && imap_select(imap, t->mbx->name, &t->info, err) < 0)
		return -1;
	t->eng->selected = t;
	if ((want & ~m->flags) &&
	    imap_store_flags(imap, &m->dst_uid, 1, true, want & ~m->flags, NULL, err) < 0)
		return -1;
	if ((m->flags & ~want) &&
	    imap_store_flags(imap, &m->dst_uid, 1, false, m->flags & ~want, NULL, err) < 0)
		return -1;
	p.uid = m->dst_uid;
	p.key = t->local[m->target_local].unique;
	p.flags = want;
	return state_pair_put(src->eng->st, t->sf.id, &p, err);
}

int moves_finish(struct folder_job *jobs, size_t n, struct error *err)
{
	for (size_t j = 0; j < n; j++) {
		for (size_t i = 0; i < jobs[j].n_moves; i++) {
			const struct move_out *m = &jobs[j].moves[i];

			if (!m->dst_uid || m->target->local[m->target_local].flags == m->flags)
				continue;
			if (push_moved_flags(&jobs[j], m, err) < 0)
				return -1;
		}
	}
	return 0;
}
