/* Applying the plan's flag, deletion and upload actions to both replicas and
 * the base. Each kind is batched: flag pushes are one UID STORE per (flag,
 * sign) over a compact UID set, deletions one STORE + UID EXPUNGE, and state
 * changes one transaction per batch. The order of each step is chosen so
 * that a crash between any two steps is repaired by the next plan or by
 * recover.c (DESIGN.md §5). */
#include <stdlib.h>
#include <string.h>

#include "util/msgflags.h"
#include "util/crashpoint.h"
#include "sync/engine_p.h"
#include "util/xalloc.h"

#define NFLAGS 6

struct uid_list {
	uint32_t *uids;
	size_t n;
	size_t cap;
};

static void uid_list_add(struct uid_list *l, uint32_t uid)
{
	l->uids = xgrow(l->uids, &l->cap, l->n + 1, sizeof(*l->uids));
	l->uids[l->n++] = uid;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Flags go to the server first (one STORE per flag and sign), then the local
 * renames, then the base: replaying any prefix of this is harmless. */
static int push_flags(struct folder_job *job, struct error *err)
{
	struct uid_list add[NFLAGS] = {0}, rm[NFLAGS] = {0};
	int ret = 0;

	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		if (a->op != PLAN_FLAGS)
			continue;
		for (unsigned f = 0; f < NFLAGS; f++) {
			if (a->push_add & (1u << f))
				uid_list_add(&add[f], job->remote[a->remote].uid);
			if (a->push_remove & (1u << f))
				uid_list_add(&rm[f], job->remote[a->remote].uid);
		}
	}
	for (unsigned f = 0; f < NFLAGS && ret == 0; f++) {
		if (add[f].n && imap_store_flags(job->env->imap, add[f].uids, add[f].n, true,
						 1u << f, NULL, err) < 0)
			ret = -1;
		if (ret == 0 && add[f].n)
			crashpoint("UID STORE +FLAGS sent");
		if (ret == 0 && rm[f].n &&
		    imap_store_flags(job->env->imap, rm[f].uids, rm[f].n, false, 1u << f, NULL,
				     err) < 0)
			ret = -1;
		if (ret == 0 && rm[f].n)
			crashpoint("UID STORE -FLAGS sent");
	}
	for (unsigned f = 0; f < NFLAGS; f++) {
		free(add[f].uids);
		free(rm[f].uids);
	}
	return ret;
}

static int pull_flags(struct folder_job *job, struct error *err)
{
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		if (a->op != PLAN_FLAGS || !a->pull)
			continue;
		if (maildir_set_flags(job->md, &job->local[a->local], a->local_flags, err) < 0)
			return -1;
	}
	return 0;
}

static int update_bases(struct folder_job *job, struct error *err)
{
	struct state *st = job->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		if (a->op != PLAN_FLAGS)
			continue;
		if (state_pair_set_flags(st, job->sf.id, job->pairs[a->base].uid, a->flags, err) <
		    0) {
			state_rollback(st);
			return -1;
		}
	}
	return state_commit(st, err);
}

int apply_flags(struct folder_job *job, struct error *err)
{
	bool any = false;

	for (size_t i = 0; i < job->plan.n && !any; i++)
		any = job->plan.actions[i].op == PLAN_FLAGS;
	if (!any)
		return 0;
	/* The renames must be durable before the base says they happened. */
	if (push_flags(job, err) < 0 || pull_flags(job, err) < 0 || maildir_sync(job->md, err) < 0)
		return -1;
	return update_bases(job, err);
}

static int delete_local_files(struct folder_job *job, struct error *err)
{
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		if (a->op == PLAN_DELETE_LOCAL &&
		    maildir_remove(job->md, &job->local[a->local], err) < 0)
			return -1;
	}
	return 0;
}

/* Records the remote deletions as intents, in one transaction, before the
 * EXPUNGE is sent. */
static int remote_delete_intents(struct folder_job *job, struct uid_list *uids, struct error *err)
{
	struct state *st = job->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];
		struct state_intent in = {.folder_id = job->sf.id, .kind = INTENT_DELETE_REMOTE};

		if (a->op != PLAN_DELETE_REMOTE)
			continue;
		in.uid = job->remote[a->remote].uid;
		in.key = job->pairs[a->base].key;
		uid_list_add(uids, in.uid);
		if (state_intent_add(st, &in, NULL, err) < 0) {
			state_rollback(st);
			return -1;
		}
	}
	return state_commit(st, err);
}

static bool drops_pair(enum plan_op op)
{
	return op == PLAN_DELETE_LOCAL || op == PLAN_DELETE_REMOTE || op == PLAN_FORGET ||
	       op == PLAN_KEEP_LOCAL;
}

/* Drops the pairs of every deletion and clears the remote deletion intents,
 * in one transaction. */
static int drop_pairs(struct folder_job *job, struct error *err)
{
	struct state *st = job->env->st;
	struct state_intent *ins = NULL;
	size_t n_ins = 0;
	int ret = -1;

	if (state_intents_load(st, job->sf.id, &ins, &n_ins, err) < 0 || state_begin(st, err) < 0)
		goto out;
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		if (drops_pair(a->op) &&
		    state_pair_delete(st, job->sf.id, job->pairs[a->base].uid, err) < 0)
			goto fail;
		if (a->op == PLAN_KEEP_LOCAL &&
		    state_local_only_add(st, job->sf.id, job->pairs[a->base].key, err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < n_ins; i++)
		if (ins[i].kind == INTENT_DELETE_REMOTE &&
		    state_intent_done(st, ins[i].id, err) < 0)
			goto fail;
	ret = state_commit(st, err);
	goto out;
fail:
	state_rollback(st);
out:
	state_intents_free(ins, n_ins);
	return ret;
}

/* Without UIDPLUS there is no UID EXPUNGE: a plain EXPUNGE removes every
 * \Deleted message, so it is sent only when no other message of the folder
 * carries \Deleted (another client's or the user's own T flag). */
static int expunge(struct folder_job *job, const struct uid_list *uids, struct error *err)
{
	struct imap *imap = job->env->imap;

	if (imap_caps(imap) & IMAP_CAP_UIDPLUS)
		return imap_expunge_uids(imap, uids->uids, uids->n, err);
	for (size_t i = 0; i < job->n_remote; i++) {
		if ((job->remote[i].flags & MF_DELETED) &&
		    !xbsearch(&job->remote[i].uid, uids->uids, uids->n, sizeof(uint32_t),
			      cmp_u32)) {
			error_set(err, ERR_FOLDER, RETRY_NEVER,
				  "the server has no UIDPLUS and other messages in %s are marked "
				  "\\Deleted: not expunging (it would remove those too)",
				  job->display);
			return -1;
		}
	}
	if (imap_store_flags(imap, uids->uids, uids->n, true, MF_DELETED, NULL, err) < 0)
		return -1;
	return imap_expunge(imap, err);
}

/* trash: move sends deleted messages to the \Trash folder (from anywhere
 * but the Trash itself); otherwise, or without a Trash, they are expunged. */
static int move_to_trash(struct folder_job *job, struct uid_list *uids, struct error *err)
{
	uint32_t *dst = NULL;
	int ret;

	xqsort(uids->uids, uids->n, sizeof(*uids->uids), cmp_u32);
	ret = imap_move(job->env->imap, uids->uids, uids->n, job->env->trash, &dst, err);
	free(dst);
	return ret;
}

/* Gmail: the deletions gmail.c chose to send to Trash go there, the rest
 * (label removals) are expunged. */
static int remove_remote_gmail(struct folder_job *job, struct uid_list *uids, struct error *err)
{
	struct uid_list trash = {0}, rest = {0};
	int ret = 0;

	for (size_t i = 0; i < job->n_to_trash; i++)
		uid_list_add(&trash, job->remote[job->plan.actions[job->to_trash[i]].remote].uid);
	xqsort(trash.uids, trash.n, sizeof(*trash.uids), cmp_u32);
	for (size_t i = 0; i < uids->n; i++)
		if (!trash.n ||
		    !xbsearch(&uids->uids[i], trash.uids, trash.n, sizeof(uint32_t), cmp_u32))
			uid_list_add(&rest, uids->uids[i]);
	if (trash.n && job->env->trash)
		ret = move_to_trash(job, &trash, err);
	else /* no Trash folder found: the plain expunge is all there is */
		for (size_t i = 0; i < trash.n; i++)
			uid_list_add(&rest, trash.uids[i]);
	if (ret == 0 && rest.n) {
		xqsort(rest.uids, rest.n, sizeof(*rest.uids), cmp_u32);
		ret = expunge(job, &rest, err);
	}
	free(trash.uids);
	free(rest.uids);
	return ret;
}

static int remove_remote(struct folder_job *job, struct uid_list *uids, struct error *err)
{
	const char *trash = job->env->trash;

	if (job->env->gmail)
		return remove_remote_gmail(job, uids, err);
	xqsort(uids->uids, uids->n, sizeof(*uids->uids), cmp_u32);
	if (job->env->acct->trash == TRASH_MOVE && job->env->no_trash) {
		error_set(err, ERR_FOLDER, RETRY_BACKOFF,
			  "%zu deletion%s wait: trash: move, but the server has no Trash folder "
			  "(create one, or set trash: expunge)",
			  uids->n, uids->n == 1 ? "" : "s");
		return -1;
	}
	if (job->env->acct->trash != TRASH_MOVE || !trash || strcmp(trash, job->mbx->name) == 0)
		return expunge(job, uids, err);
	return move_to_trash(job, uids, err);
}

int apply_deletions(struct folder_job *job, struct error *err)
{
	struct uid_list uids = {0};
	bool any = false;
	int ret = -1;

	for (size_t i = 0; i < job->plan.n && !any; i++)
		any = drops_pair(job->plan.actions[i].op);
	if (!any)
		return 0;
	/* A removal must be durable before its pair is dropped: a file that
	 * came back after a power cut with no pair would be uploaded again. */
	if (delete_local_files(job, err) < 0 || maildir_sync(job->md, err) < 0 ||
	    remote_delete_intents(job, &uids, err) < 0)
		goto out;
	if (uids.n && remove_remote(job, &uids, err) < 0)
		goto out;
	if (uids.n)
		crashpoint("EXPUNGE or MOVE to Trash sent");
	ret = drop_pairs(job, err);
out:
	free(uids.uids);
	return ret;
}
