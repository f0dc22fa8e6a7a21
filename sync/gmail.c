/* Gmail's dialect across folders (GMAIL.md, DESIGN.md §8), decided after
 * every folder was planned and before any is applied:
 *
 *  - Deleting: EXPUNGE in a label folder removes only that label, which is
 *    what deleting one local copy means. Deleting in Archive (All Mail), or
 *    deleting every local copy of a message, means "delete the message": it
 *    is moved to [Gmail]/Trash (found by its \Trash attribute), which removes
 *    it from every label; the other copies disappear at the next sync, when
 *    Gmail's state is read again rather than predicted.
 *  - Flags belong to the message, not to the label: a flag changed on one
 *    local copy is set on every local copy in the same sync.
 *  - A message gone from one folder on the server but still in another
 *    (All Mail, a label) lost a label; it was not deleted. A flag change
 *    made here on the copy that left is the message's: it is carried to
 *    the surviving copies (pushed through one of them, every file
 *    renamed). Under conflicts: keep that copy is then restored as the
 *    label it was (UID COPY from a folder that has the message), never
 *    APPENDed as a second message; under deletion-wins it goes, as any
 *    label removal does. */
#include <stdlib.h>
#include <string.h>

#include "util/msgflags.h"
#include "sync/engine_p.h"
#include "imap/message.h"
#include "util/xalloc.h"

/* One local copy of a Gmail message: a pair of some folder. */
struct copy {
	uint64_t gm;
	struct folder_job *job;
	size_t pair;   /* index into job->pairs */
	size_t action; /* its plan action, or PLAN_NONE */
};

static int cmp_copy(const void *a, const void *b)
{
	uint64_t x = ((const struct copy *)a)->gm, y = ((const struct copy *)b)->gm;

	return x < y ? -1 : x > y;
}

static struct copy *collect_copies(struct folder_job *jobs, size_t n, size_t *n_r)
{
	struct copy *cs = NULL;
	size_t k = 0, cap = 0;

	for (size_t j = 0; j < n; j++) {
		struct folder_job *job = &jobs[j];
		size_t *act = xcalloc(job->n_pairs ? job->n_pairs : 1, sizeof(size_t));

		for (size_t i = 0; i < job->n_pairs; i++)
			act[i] = PLAN_NONE;
		for (size_t a = 0; a < job->plan.n; a++)
			if (job->plan.actions[a].base != PLAN_NONE)
				act[job->plan.actions[a].base] = a;
		for (size_t i = 0; i < job->n_pairs; i++) {
			if (!job->pairs[i].gm_msgid)
				continue;
			cs = xgrow(cs, &cap, k + 1, sizeof(*cs));
			cs[k++] = (struct copy){job->pairs[i].gm_msgid, job, i, act[i]};
		}
		free(act);
	}
	xqsort(cs, k, sizeof(*cs), cmp_copy);
	*n_r = k;
	return cs;
}

static enum plan_op op_of(const struct copy *c)
{
	return c->action == PLAN_NONE ? PLAN_FLAGS : c->job->plan.actions[c->action].op;
}

static bool is_all_mail(const struct folder_job *job)
{
	return job->mbx->attrs & IMAP_MBX_ALL;
}

/* Deletions of one message's copies: to Trash when it is deleted in All Mail
 * or when no copy survives; one move suffices, the other copies are left to
 * their (then empty) expunge. */
static void settle_deletions(struct copy *g, size_t n)
{
	bool all_deleted = true;
	struct copy *mover = NULL;

	for (size_t i = 0; i < n; i++) {
		if (op_of(&g[i]) != PLAN_DELETE_REMOTE)
			all_deleted = false;
		else if (!mover || is_all_mail(g[i].job))
			mover = &g[i];
	}
	if (!mover || (!all_deleted && !is_all_mail(mover->job)))
		return;
	mover->job->to_trash = xgrow(mover->job->to_trash, &mover->job->cap_to_trash,
				     mover->job->n_to_trash + 1, sizeof(size_t));
	mover->job->to_trash[mover->job->n_to_trash++] = mover->action;
}

/* A copy whose server side left its folder while its file is here: the
 * plan deletes the file or restores the message (or, once restore_labels
 * made it a label put back, copies it in). */
static bool left_folder(enum plan_op op)
{
	return op == PLAN_DELETE_LOCAL || op == PLAN_RESTORE_REMOTE || op == PLAN_MOVE_IN;
}

/* What a copy's change since its base makes of the message's flags: the
 * merged flags of a flag action; the file's flags for a copy whose label
 * was removed (the user's change outlives the label, unless direction
 * pull keeps local changes local). Returns false when it changes nothing. */
static bool copy_flags(const struct copy *c, unsigned *flags_r)
{
	const struct plan_action *a =
	    c->action == PLAN_NONE ? NULL : &c->job->plan.actions[c->action];

	if (a && a->op == PLAN_FLAGS) {
		*flags_r = a->flags;
		return true;
	}
	if (!a || !left_folder(a->op) || a->local == PLAN_NONE ||
	    c->job->env->acct->direction == DIRECTION_PULL)
		return false;
	*flags_r = c->job->local[a->local].flags & MF_ALL;
	return true;
}

/* The message's flags after this sync: every copy's change applied. */
static unsigned group_flags(const struct copy *g, size_t n)
{
	unsigned flags = g[0].job->pairs[g[0].pair].flags;

	for (size_t i = 0; i < n; i++) {
		unsigned base = g[i].job->pairs[g[i].pair].flags, now;

		if (copy_flags(&g[i], &now))
			flags = (flags & ~(now ^ base)) | (now & (now ^ base));
	}
	return flags;
}

/* The folder was read in this sync: its copies' flags can be pushed and
 * their files renamed now. */
static bool read_now(const struct folder_job *job)
{
	return !job->quiet && job->md;
}

/* A copy whose server message is still in its folder, to restore a label
 * from: preferably in a folder read now, then in All Mail. NULL when the
 * message is in no other folder of this sync. */
static struct copy *survivor(struct copy *g, size_t n)
{
	struct copy *best = NULL;
	int best_rank = -1;

	for (size_t i = 0; i < n; i++) {
		int rank = 2 * read_now(g[i].job) + is_all_mail(g[i].job);

		if (op_of(&g[i]) == PLAN_FLAGS && rank > best_rank) {
			best = &g[i];
			best_rank = rank;
		}
	}
	return best;
}

/* The server copy's flags as this sync read them (a quiet folder's are
 * its pairs'). */
static unsigned server_flags(const struct copy *c)
{
	const struct folder_job *job = c->job;
	size_t r = job->quiet ? PLAN_NONE : job_remote_index(job, job->pairs[c->pair].uid);

	return r == PLAN_NONE ? job->pairs[c->pair].flags : job->remote[r].flags & MF_ALL;
}

/* Under keep (or push), a copy modified here whose label was removed on
 * the server is to be restored: an APPEND would make a second message, so
 * the label is put back by UID COPY from a surviving copy. The copy
 * carries the message's flags already when the survivor's folder was read
 * (spread_flags pushes them there first); moves_finish settles the rest. */
static void restore_labels(struct copy *g, size_t n)
{
	struct copy *src = survivor(g, n);
	unsigned want = group_flags(g, n);

	for (size_t i = 0; src && i < n; i++) {
		struct folder_job *job = g[i].job;
		struct plan_action *a;
		struct move_out m;

		if (op_of(&g[i]) != PLAN_RESTORE_REMOTE || !job->md)
			continue;
		a = &job->plan.actions[g[i].action];
		m = (struct move_out){.action = PLAN_NONE,
				      .src_pair = src->pair,
				      .src_uid = src->job->pairs[src->pair].uid,
				      .src_flags = read_now(src->job) ? want : server_flags(src),
				      .copy = true,
				      .target = job,
				      .target_local = a->local,
				      .target_uidnext = job->info.uidnext,
				      .target_old_uid = job->pairs[g[i].pair].uid};
		move_link(src->job, &m);
		a->op = PLAN_MOVE_IN;
	}
}

/* A copy that had nothing to do gets a flag action of its own. */
static size_t add_flags_action(struct folder_job *job, size_t pair)
{
	size_t r = job_remote_index(job, job->pairs[pair].uid);
	size_t l = job_local_index(job, job->pairs[pair].key);
	struct plan_action *a;

	if (r == PLAN_NONE || l == PLAN_NONE)
		return PLAN_NONE;
	job->plan.actions =
	    xgrow(job->plan.actions, &job->plan.cap, job->plan.n + 1, sizeof(*job->plan.actions));
	a = &job->plan.actions[job->plan.n];
	memset(a, 0, sizeof(*a));
	*a = (struct plan_action){.op = PLAN_FLAGS, .remote = r, .local = l, .base = pair};
	return job->plan.n++;
}

/* Gives every surviving copy the message's flags. Flags are global on Gmail,
 * so one copy's STORE sets them for all: only the first push is kept. */
static void spread_flags(struct copy *g, size_t n)
{
	unsigned want = group_flags(g, n);
	bool pushed = false;

	for (size_t i = 0; i < n; i++) {
		struct folder_job *job = g[i].job;
		struct plan_action *a;
		unsigned rf;

		if (op_of(&g[i]) != PLAN_FLAGS || job->quiet || !job->md ||
		    (g[i].action == PLAN_NONE && job->pairs[g[i].pair].flags == want))
			continue;
		if (g[i].action == PLAN_NONE &&
		    (g[i].action = add_flags_action(job, g[i].pair)) == PLAN_NONE)
			continue;
		a = &job->plan.actions[g[i].action];
		rf = job->remote[a->remote].flags;
		a->push_add = pushed ? 0 : want & ~rf;
		a->push_remove = pushed ? 0 : rf & ~want;
		pushed = pushed || a->push_add || a->push_remove;
		a->pull = job->local[a->local].flags != want;
		a->flags = a->local_flags = want;
	}
}

/* A known message by content: Message-ID and size, over every pair. */
struct known {
	const char *message_id; /* borrowed */
	uint64_t size;
	struct folder_job *job;
	size_t pair;
};

static int cmp_known(const void *a, const void *b)
{
	const struct known *x = a, *y = b;
	int d = strcmp(x->message_id, y->message_id);

	return d ? d : (x->size < y->size ? -1 : x->size > y->size);
}

static struct known *collect_known(struct folder_job *jobs, size_t n, size_t *n_r)
{
	struct known *ks = NULL;
	size_t k = 0, cap = 0;

	for (size_t j = 0; j < n; j++)
		for (size_t i = 0; i < jobs[j].n_pairs; i++) {
			const struct state_pair *p = &jobs[j].pairs[i];

			if (!p->message_id)
				continue;
			ks = xgrow(ks, &cap, k + 1, sizeof(*ks));
			ks[k++] = (struct known){p->message_id, p->size, &jobs[j], i};
		}
	xqsort(ks, k, sizeof(*ks), cmp_known);
	*n_r = k;
	return ks;
}

/* A new local file that is a known message (a hard link or a byte copy of
 * it, put into another label's folder): on Gmail an APPEND would make a
 * second message; UID COPY from a folder that has it adds the label. */
static void copy_instead(struct folder_job *job, size_t action, const struct known *ks, size_t n)
{
	struct plan_action *a = &job->plan.actions[action];
	struct known key = {0}, *hit;
	struct error err = {0};
	char *data = NULL;
	size_t len = 0;
	time_t mtime;

	if (maildir_read_crlf(job->md, &job->local[a->local], &data, &len, &mtime, &err) < 0)
		return;
	key.message_id = message_id_get(data, len);
	key.size = len;
	free(data);
	hit = key.message_id ? xbsearch(&key, ks, n, sizeof(*ks), cmp_known) : NULL;
	if (hit && hit->job != job) {
		const struct state_pair *p = &hit->job->pairs[hit->pair];
		struct move_out m = {.action = PLAN_NONE,
				     .src_pair = hit->pair,
				     .src_uid = p->uid,
				     .src_flags = p->flags,
				     .copy = true,
				     .target = job,
				     .target_local = a->local,
				     .target_uidnext = job->info.uidnext};

		move_link(hit->job, &m);
		a->op = PLAN_MOVE_IN;
	}
	free((char *)key.message_id);
}

static void copies_match(struct folder_job *jobs, size_t n)
{
	size_t n_known = 0;
	struct known *ks = collect_known(jobs, n, &n_known);

	for (size_t j = 0; j < n && n_known > 0; j++)
		for (size_t i = 0; i < jobs[j].plan.n; i++)
			if (jobs[j].plan.actions[i].op == PLAN_UPLOAD && jobs[j].md)
				copy_instead(&jobs[j], i, ks, n_known);
	free(ks);
}

void gmail_match(struct folder_job *jobs, size_t n)
{
	size_t n_copies = 0;
	struct copy *cs;

	if (n == 0 || !jobs[0].env->gmail)
		return;
	copies_match(jobs, n);
	cs = collect_copies(jobs, n, &n_copies);
	for (size_t i = 0; i < n_copies;) {
		size_t k = i + 1;

		while (k < n_copies && cs[k].gm == cs[i].gm)
			k++;
		restore_labels(&cs[i], k - i);
		settle_deletions(&cs[i], k - i);
		spread_flags(&cs[i], k - i);
		i = k;
	}
	free(cs);
}
