#include "sync/plan.h"

#include <stdlib.h>
#include <string.h>

#include "util/msgflags.h"
#include "util/xalloc.h"

/* Look-up tables built once per plan: O(n log n) for n messages. */
struct plan_ctx {
	const struct plan_input *in;
	struct plan *plan;
	size_t *local_by_key; /* indices into in->local, sorted by key */
	bool *remote_used;
	bool *local_used;
	size_t held_cap;
};

static _Thread_local const struct plan_local *sort_base_local;

static int cmp_local_idx(const void *a, const void *b)
{
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	const struct plan_local *la = &sort_base_local[ia];
	const struct plan_local *lb = &sort_base_local[ib];
	int d = strcmp(la->key, lb->key);

	/* Equal keys stay in input order, so that of several files with one
	 * key the first is the one paired or uploaded (qsort is not stable). */
	if (d == 0)
		return (ia > ib) - (ia < ib);
	return d;
}

/* The first file of that key in sorted order: the one mark_duplicate_keys
 * leaves unmarked. Any other copy would leave the first to be uploaded. */
static size_t find_local(const struct plan_ctx *c, const char *key)
{
	size_t lo = 0, hi = c->in->n_local;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->in->local[c->local_by_key[mid]].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->in->n_local && strcmp(c->in->local[c->local_by_key[lo]].key, key) == 0)
		return c->local_by_key[lo];
	return PLAN_NONE;
}

static size_t find_remote(const struct plan_ctx *c, uint32_t uid)
{
	size_t lo = 0, hi = c->in->n_remote;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t u = c->in->remote[mid].uid;

		if (u == uid)
			return mid;
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return PLAN_NONE;
}

static struct plan_action *add(struct plan_ctx *c, enum plan_op op, size_t r, size_t l, size_t b)
{
	struct plan *p = c->plan;
	struct plan_action *a;

	p->actions = xgrow(p->actions, &p->cap, p->n + 1, sizeof(*p->actions));
	a = &p->actions[p->n++];
	memset(a, 0, sizeof(*a));
	a->op = op;
	a->remote = r;
	a->local = l;
	a->base = b;
	if (op == PLAN_DELETE_LOCAL)
		p->n_delete_local++;
	if (op == PLAN_DELETE_REMOTE)
		p->n_delete_remote++;
	return a;
}

/* Per flag, the side that changed it since the base wins; a flag changed on
 * both sides was changed the same way (it is one bit), so there is no
 * conflict. Direction pull keeps the server as it is and only brings its
 * changes down; push is the mirror image. */
static void plan_flags(struct plan_ctx *c, size_t r, size_t l, size_t b)
{
	unsigned rf = c->in->remote[r].flags & MF_ALL, lf = c->in->local[l].flags & MF_ALL;
	unsigned bf = c->in->base[b].flags & MF_ALL;
	unsigned ch_r = rf ^ bf, ch_l = lf ^ bf;
	unsigned new_r, new_l, new_b;
	struct plan_action *a;

	if (c->in->direction == DIRECTION_PULL) {
		new_r = rf;
		new_l = (lf & ~ch_r) | (rf & ch_r);
		new_b = rf;
	} else if (c->in->direction == DIRECTION_PUSH) {
		new_l = lf;
		new_r = (rf & ~ch_l) | (lf & ch_l);
		new_b = lf;
	} else {
		new_b = (bf & ~(ch_r | ch_l)) | (rf & ch_r) | (lf & ch_l & ~ch_r);
		new_r = new_l = new_b;
	}
	if (new_r == rf && new_l == lf && new_b == bf)
		return;
	a = add(c, PLAN_FLAGS, r, l, b);
	a->flags = new_b;
	a->local_flags = new_l;
	a->push_add = new_r & ~rf;
	a->push_remove = rf & ~new_r;
	a->pull = new_l != lf;
}

/* The message is on the server but its file is gone: a local deletion.
 * Restoring the file under keep writes the local side, which push never
 * does (the mirror of plan_remote_gone under pull). */
static void plan_local_gone(struct plan_ctx *c, size_t r, size_t b)
{
	bool remote_modified = c->in->remote[r].flags != c->in->base[b].flags;

	/* Aged out (or the size limit came down): the user's copy went, the
	 * server's stays. */
	if (c->in->remote[r].held)
		add(c, PLAN_FORGET, PLAN_NONE, PLAN_NONE, b);
	else if (c->in->direction == DIRECTION_PULL ||
		 (remote_modified && c->in->conflicts == CONFLICT_KEEP &&
		  c->in->direction == DIRECTION_BOTH))
		add(c, PLAN_RESTORE_LOCAL, r, PLAN_NONE, b);
	else
		add(c, PLAN_DELETE_REMOTE, r, PLAN_NONE, b);
}

/* The file is here but the server expunged the message. */
static void plan_remote_gone(struct plan_ctx *c, size_t l, size_t b)
{
	bool local_modified = c->in->local[l].flags != c->in->base[b].flags;

	if (c->in->direction == DIRECTION_PUSH)
		add(c, PLAN_RESTORE_REMOTE, PLAN_NONE, l, b);
	else if (c->in->remote_deletions == REMOTE_DELETIONS_KEEP)
		add(c, PLAN_KEEP_LOCAL, PLAN_NONE, l, b);
	else if (local_modified && c->in->conflicts == CONFLICT_KEEP &&
		 c->in->direction == DIRECTION_BOTH)
		add(c, PLAN_RESTORE_REMOTE, PLAN_NONE, l, b);
	else
		add(c, PLAN_DELETE_LOCAL, PLAN_NONE, l, b);
}

static void plan_pair(struct plan_ctx *c, size_t b)
{
	const struct plan_base *base = &c->in->base[b];
	size_t r = find_remote(c, base->uid);
	size_t l = find_local(c, base->key);

	if (r != PLAN_NONE)
		c->remote_used[r] = true;
	if (l != PLAN_NONE)
		c->local_used[l] = true;
	if (r != PLAN_NONE && l != PLAN_NONE)
		plan_flags(c, r, l, b);
	else if (r != PLAN_NONE)
		plan_local_gone(c, r, b);
	else if (l != PLAN_NONE)
		plan_remote_gone(c, l, b);
	else
		add(c, PLAN_FORGET, PLAN_NONE, PLAN_NONE, b);
}

/* A key that occurs twice (the same unique in new/ and cur/) counts once;
 * the extra copies are neither paired nor uploaded. */
static void mark_duplicate_keys(struct plan_ctx *c)
{
	for (size_t i = 1; i < c->in->n_local; i++) {
		size_t prev = c->local_by_key[i - 1], cur = c->local_by_key[i];

		if (strcmp(c->in->local[prev].key, c->in->local[cur].key) == 0)
			c->local_used[cur] = true;
	}
}

static void plan_unpaired(struct plan_ctx *c)
{
	for (size_t r = 0; r < c->in->n_remote; r++) {
		if (c->remote_used[r])
			continue;
		if (c->in->remote[r].held) {
			if (c->plan->n_held == c->held_cap) {
				c->held_cap = c->held_cap ? 2 * c->held_cap : 64;
				c->plan->held =
				    xrealloc(c->plan->held, c->held_cap * sizeof(*c->plan->held));
			}
			c->plan->held[c->plan->n_held++] = r;
		} else if (c->in->direction != DIRECTION_PUSH)
			add(c, PLAN_DOWNLOAD, r, PLAN_NONE, PLAN_NONE);
	}
	for (size_t l = 0; l < c->in->n_local; l++)
		if (!c->local_used[l] && !c->in->local[l].local_only &&
		    c->in->direction != DIRECTION_PULL)
			add(c, PLAN_UPLOAD, PLAN_NONE, l, PLAN_NONE);
}

void plan_build(const struct plan_input *in, struct plan *plan_r)
{
	struct plan_ctx c = {.in = in, .plan = plan_r};

	memset(plan_r, 0, sizeof(*plan_r));
	c.local_by_key = xcalloc(in->n_local, sizeof(size_t));
	c.remote_used = xcalloc(in->n_remote, sizeof(bool));
	c.local_used = xcalloc(in->n_local, sizeof(bool));
	for (size_t i = 0; i < in->n_local; i++)
		c.local_by_key[i] = i;
	/* qsort has no context argument in C17; planning is single-threaded
	 * per call but workers plan concurrently, hence the thread-local. */
	sort_base_local = in->local;
	xqsort(c.local_by_key, in->n_local, sizeof(size_t), cmp_local_idx);
	mark_duplicate_keys(&c);
	for (size_t b = 0; b < in->n_base; b++)
		plan_pair(&c, b);
	plan_unpaired(&c);
	free(c.local_by_key);
	free(c.remote_used);
	free(c.local_used);
}

void plan_free(struct plan *plan)
{
	free(plan->actions);
	free(plan->held);
	memset(plan, 0, sizeof(*plan));
}

bool plan_mass_delete(size_t n_delete, size_t n_pairs, double share, size_t min_count)
{
	return n_delete > min_count && (double)n_delete > share * (double)n_pairs;
}

const char *plan_op_name(enum plan_op op)
{
	static const char *const names[] = {
	    "download",	      "upload",	  "flags",	"delete-local",
	    "delete-remote",  "forget",	  "keep-local", "restore-local",
	    "restore-remote", "move-out", "move-in",
	};

	return names[op];
}

bool plan_held(unsigned max_age, uint64_t max_size, uint32_t size, time_t internaldate, time_t now)
{
	if (max_size && size > max_size)
		return true;
	return max_age && internaldate > 0 && internaldate < now - (time_t)max_age * 86400;
}
