/* Unit tests of sync/plan.h, the three-way merge of one folder (DESIGN.md §4).
 *
 * Every plan is checked four ways:
 *  - against an oracle written here from DESIGN.md §4 and the rules in
 *    plan.h, bit by bit and message by message, independently of plan.c;
 *  - for well-formedness: indices in range and consistent with the base,
 *    each message in at most one action, the direction respected (pull never
 *    touches the server, push never touches the files), the tallies right;
 *  - for "no mail is lost": a message leaves a side only through a
 *    deletion the input proves;
 *  - by applying it to a small simulated account and planning again: the
 *    second plan is empty (every direction) and, for direction both, the two
 *    sides then hold the same messages with the same flags.
 * Inputs come from hand-written rows for the important cases, from the full
 * cross product of one message's situations under every configuration, and
 * from seeded random folders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/msgflags.h"
#include "sync/plan.h"

#define NONE PLAN_NONE
#define ABSENT (-1)
#define MAXM 96 /* messages per side in a simulated folder */
#define KEYLEN 16

static const enum sync_direction directions[] = {DIRECTION_BOTH, DIRECTION_PULL, DIRECTION_PUSH};
static const enum conflict_policy policies[] = {CONFLICT_DELETION_WINS, CONFLICT_KEEP};
static const enum remote_deletions rdels[] = {REMOTE_DELETIONS_PROPAGATE, REMOTE_DELETIONS_KEEP};

/* ---- A deterministic generator (rand() differs between C libraries). ---- */

static uint64_t rng_state;

static uint32_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static uint32_t rng_below(uint32_t n)
{
	return rng_next() % n;
}

/* ---- The simulated account: both replicas and the base. ---- */

struct m_remote {
	uint32_t uid;
	unsigned flags;
	unsigned content; /* which message this is, to follow it across sides */
};

struct m_local {
	char key[KEYLEN];
	unsigned flags;
	unsigned content;
	bool local_only;
};

struct m_base {
	uint32_t uid;
	char key[KEYLEN];
	unsigned flags;
};

struct model {
	struct m_remote r[MAXM];
	size_t nr;
	struct m_local l[MAXM];
	size_t nl;
	struct m_base b[MAXM];
	size_t nb;
	uint32_t next_uid;
	unsigned next_key;
	enum conflict_policy conflicts;
	enum sync_direction direction;
	enum remote_deletions rdel;
};

/* The plan_input view of a model; the keys are borrowed from the model. */
struct view {
	struct plan_remote r[MAXM];
	struct plan_local l[MAXM];
	struct plan_base b[MAXM];
	struct plan_input in;
};

static void make_view(const struct model *m, struct view *v)
{
	for (size_t i = 0; i < m->nr; i++)
		v->r[i] = (struct plan_remote){m->r[i].uid, m->r[i].flags, false};
	for (size_t i = 0; i < m->nl; i++)
		v->l[i] = (struct plan_local){m->l[i].key, m->l[i].flags, m->l[i].local_only};
	for (size_t i = 0; i < m->nb; i++)
		v->b[i] = (struct plan_base){m->b[i].uid, m->b[i].key, m->b[i].flags};
	v->in = (struct plan_input){.remote = v->r,
				    .n_remote = m->nr,
				    .local = v->l,
				    .n_local = m->nl,
				    .base = v->b,
				    .n_base = m->nb,
				    .conflicts = m->conflicts,
				    .direction = m->direction,
				    .remote_deletions = m->rdel};
}

static size_t model_add_remote(struct model *m, uint32_t uid, unsigned flags, unsigned content)
{
	assert_true(m->nr < MAXM);
	assert_true(m->nr == 0 || m->r[m->nr - 1].uid < uid);
	m->r[m->nr] = (struct m_remote){uid, flags, content};
	if (m->next_uid <= uid)
		m->next_uid = uid + 1;
	return m->nr++;
}

static size_t model_add_local(struct model *m, const char *key, unsigned flags, unsigned content,
			      bool local_only)
{
	assert_true(m->nl < MAXM);
	assert_true(strlen(key) < KEYLEN);
	m->l[m->nl] = (struct m_local){"", flags, content, local_only};
	strcpy(m->l[m->nl].key, key);
	return m->nl++;
}

static void model_add_base(struct model *m, uint32_t uid, const char *key, unsigned flags)
{
	assert_true(m->nb < MAXM);
	assert_true(strlen(key) < KEYLEN);
	m->b[m->nb] = (struct m_base){uid, "", flags};
	strcpy(m->b[m->nb].key, key);
	m->nb++;
}

static bool model_has_dup_keys(const struct model *m)
{
	for (size_t i = 0; i < m->nl; i++)
		for (size_t j = i + 1; j < m->nl; j++)
			if (strcmp(m->l[i].key, m->l[j].key) == 0)
				return true;
	return false;
}

/* ---- Printing, for failures. ---- */

static const char *dir_name(enum sync_direction d)
{
	return d == DIRECTION_BOTH ? "both" : d == DIRECTION_PULL ? "pull" : "push";
}

static void flags_str(unsigned f, char *buf)
{
	static const char letters[] = "DFPRST";
	size_t n = 0;

	for (unsigned i = 0; i < 6; i++)
		if (f & (1u << i))
			buf[n++] = letters[i];
	if (f & ~(unsigned)MF_ALL)
		n += (size_t)sprintf(buf + n, "+%#x", f & ~(unsigned)MF_ALL);
	if (n == 0)
		buf[n++] = '-';
	buf[n] = '\0';
}

static void print_input(const struct plan_input *in)
{
	char f[32];

	fprintf(stderr, "input: direction %s, conflicts %s, remote_deletions %s\n",
		dir_name(in->direction), in->conflicts == CONFLICT_KEEP ? "keep" : "deletion-wins",
		in->remote_deletions == REMOTE_DELETIONS_KEEP ? "keep" : "propagate");
	for (size_t i = 0; i < in->n_remote; i++) {
		flags_str(in->remote[i].flags, f);
		fprintf(stderr, "  remote[%zu] uid %u %s\n", i, in->remote[i].uid, f);
	}
	for (size_t i = 0; i < in->n_local; i++) {
		flags_str(in->local[i].flags, f);
		fprintf(stderr, "  local[%zu] %s %s%s\n", i, in->local[i].key, f,
			in->local[i].local_only ? " local-only" : "");
	}
	for (size_t i = 0; i < in->n_base; i++) {
		flags_str(in->base[i].flags, f);
		fprintf(stderr, "  base[%zu] uid %u %s %s\n", i, in->base[i].uid, in->base[i].key,
			f);
	}
}

static long idx(size_t i)
{
	return i == NONE ? -1L : (long)i;
}

static void print_actions(const char *what, const struct plan_action *a, size_t n)
{
	fprintf(stderr, "%s: %zu action(s)\n", what, n);
	for (size_t i = 0; i < n; i++) {
		char f[32], lf[32], pa[32], pr[32];

		flags_str(a[i].flags, f);
		flags_str(a[i].local_flags, lf);
		flags_str(a[i].push_add, pa);
		flags_str(a[i].push_remove, pr);
		fprintf(stderr, "  %s r=%ld l=%ld b=%ld", plan_op_name(a[i].op), idx(a[i].remote),
			idx(a[i].local), idx(a[i].base));
		if (a[i].op == PLAN_FLAGS)
			fprintf(stderr, " base=%s local=%s push+%s push-%s%s", f, lf, pa, pr,
				a[i].pull ? " pull" : "");
		fputc('\n', stderr);
	}
}

#define FAIL(in, plan, ...)                                                                        \
	do {                                                                                       \
		print_input(in);                                                                   \
		print_actions("plan", (plan)->actions, (plan)->n);                                 \
		fail_msg(__VA_ARGS__);                                                             \
	} while (0)

/* ---- The oracle: DESIGN.md §4 and plan.h, restated naively. ---- */

struct alist {
	struct plan_action *a;
	size_t n;
};

static void alist_add(struct alist *o, enum plan_op op, size_t r, size_t l, size_t b)
{
	o->a[o->n++] = (struct plan_action){.op = op, .remote = r, .local = l, .base = b};
}

/* Per flag: the side that changed it since the base wins. Pull never changes
 * the server and agrees with it (base = remote), local-only changes stay;
 * push is the mirror image. */
static void oracle_flags(const struct plan_input *in, struct alist *o, size_t r, size_t l, size_t b)
{
	unsigned rf = in->remote[r].flags, lf = in->local[l].flags, bf = in->base[b].flags;
	unsigned nr = 0, nl = 0, nb = 0;

	for (unsigned bit = 0; bit < 32; bit++) {
		unsigned m = 1u << bit;
		bool rb = rf & m, lb = lf & m, bb = bf & m;
		bool rch = rb != bb, lch = lb != bb;
		bool vr, vl, vb;

		switch (in->direction) {
		case DIRECTION_PULL:
			vr = rb;
			vl = rch ? rb : lb;
			vb = rb;
			break;
		case DIRECTION_PUSH:
			vl = lb;
			vr = lch ? lb : rb;
			vb = lb;
			break;
		default:
			vr = vl = vb = rch ? rb : lch ? lb : bb;
			break;
		}
		nr |= vr ? m : 0;
		nl |= vl ? m : 0;
		nb |= vb ? m : 0;
	}
	if (nr == rf && nl == lf && nb == bf)
		return;
	alist_add(o, PLAN_FLAGS, r, l, b);
	o->a[o->n - 1].flags = nb;
	o->a[o->n - 1].local_flags = nl;
	o->a[o->n - 1].push_add = nr & ~rf;
	o->a[o->n - 1].push_remove = rf & ~nr;
	o->a[o->n - 1].pull = nl != lf;
}

/* The file of a pair is gone: a local deletion. Pull undoes it; keep undoes
 * it against a server-side modification, but only where the local side may
 * be written (direction both); otherwise it is propagated. */
static enum plan_op oracle_local_gone(const struct plan_input *in, size_t r, size_t b)
{
	bool remote_modified = in->remote[r].flags != in->base[b].flags;

	if (in->direction == DIRECTION_PULL)
		return PLAN_RESTORE_LOCAL;
	if (in->direction == DIRECTION_BOTH && in->conflicts == CONFLICT_KEEP && remote_modified)
		return PLAN_RESTORE_LOCAL;
	return PLAN_DELETE_REMOTE;
}

/* The server expunged a pair's message. */
static enum plan_op oracle_remote_gone(const struct plan_input *in, size_t l, size_t b)
{
	bool local_modified = in->local[l].flags != in->base[b].flags;

	if (in->direction == DIRECTION_PUSH)
		return PLAN_RESTORE_REMOTE;
	if (in->remote_deletions == REMOTE_DELETIONS_KEEP)
		return PLAN_KEEP_LOCAL;
	if (in->direction == DIRECTION_BOTH && in->conflicts == CONFLICT_KEEP && local_modified)
		return PLAN_RESTORE_REMOTE;
	return PLAN_DELETE_LOCAL;
}

static void oracle_pair(const struct plan_input *in, struct alist *o, bool *rused, bool *lused,
			size_t b)
{
	size_t r = NONE, l = NONE;

	for (size_t i = 0; i < in->n_remote && r == NONE; i++)
		if (in->remote[i].uid == in->base[b].uid)
			r = i;
	/* Of several files with one key, the first in input order is the one. */
	for (size_t i = 0; i < in->n_local && l == NONE; i++)
		if (strcmp(in->local[i].key, in->base[b].key) == 0)
			l = i;
	if (r != NONE)
		rused[r] = true;
	if (l != NONE)
		lused[l] = true;
	if (r != NONE && l != NONE)
		oracle_flags(in, o, r, l, b);
	else if (r != NONE)
		alist_add(o, oracle_local_gone(in, r, b), r, NONE, b);
	else if (l != NONE)
		alist_add(o, oracle_remote_gone(in, l, b), NONE, l, b);
	else
		alist_add(o, PLAN_FORGET, NONE, NONE, b);
}

static bool key_seen_before(const struct plan_input *in, size_t l)
{
	for (size_t j = 0; j < l; j++)
		if (strcmp(in->local[j].key, in->local[l].key) == 0)
			return true;
	return false;
}

static void oracle(const struct plan_input *in, struct alist *o)
{
	bool *rused = calloc(in->n_remote + 1, sizeof(bool));
	bool *lused = calloc(in->n_local + 1, sizeof(bool));

	assert_non_null(rused);
	assert_non_null(lused);
	o->a = calloc(in->n_base + in->n_remote + in->n_local + 1, sizeof(*o->a));
	assert_non_null(o->a);
	o->n = 0;
	for (size_t b = 0; b < in->n_base; b++)
		oracle_pair(in, o, rused, lused, b);
	for (size_t r = 0; r < in->n_remote; r++)
		if (!rused[r] && in->direction != DIRECTION_PUSH)
			alist_add(o, PLAN_DOWNLOAD, r, NONE, NONE);
	for (size_t l = 0; l < in->n_local; l++)
		if (!lused[l] && !key_seen_before(in, l) && !in->local[l].local_only &&
		    in->direction != DIRECTION_PULL)
			alist_add(o, PLAN_UPLOAD, NONE, l, NONE);
	free(rused);
	free(lused);
}

static int cmp_size(size_t a, size_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_action(const void *pa, const void *pb)
{
	const struct plan_action *a = pa, *b = pb;
	int d;

	if (a->op != b->op)
		return a->op < b->op ? -1 : 1;
	if ((d = cmp_size(a->remote, b->remote)) != 0)
		return d;
	if ((d = cmp_size(a->local, b->local)) != 0)
		return d;
	return cmp_size(a->base, b->base);
}

static bool same_action(const struct plan_action *a, const struct plan_action *b)
{
	return a->op == b->op && a->remote == b->remote && a->local == b->local &&
	       a->base == b->base && a->flags == b->flags && a->local_flags == b->local_flags &&
	       a->push_add == b->push_add && a->push_remove == b->push_remove && a->pull == b->pull;
}

/* Compares a plan with the expected actions, in any order. */
static void check_same(const struct plan_input *in, const struct plan *p, struct alist *exp,
		       const char *what)
{
	struct plan_action *got = calloc(p->n + 1, sizeof(*got));
	bool ok = p->n == exp->n;

	assert_non_null(got);
	if (p->n)
		memcpy(got, p->actions, p->n * sizeof(*got));
	qsort(got, p->n, sizeof(*got), cmp_action);
	qsort(exp->a, exp->n, sizeof(*exp->a), cmp_action);
	for (size_t i = 0; ok && i < p->n; i++)
		ok = same_action(&got[i], &exp->a[i]);
	free(got);
	if (!ok) {
		print_actions("expected", exp->a, exp->n);
		FAIL(in, p, "%s: the plan differs from the expected one", what);
	}
}

/* ---- Well-formedness and "no mail is lost", on the plan alone. ---- */

static bool op_has_remote(enum plan_op op)
{
	return op == PLAN_DOWNLOAD || op == PLAN_FLAGS || op == PLAN_DELETE_REMOTE ||
	       op == PLAN_RESTORE_LOCAL;
}

static bool op_has_local(enum plan_op op)
{
	return op == PLAN_UPLOAD || op == PLAN_FLAGS || op == PLAN_DELETE_LOCAL ||
	       op == PLAN_KEEP_LOCAL || op == PLAN_RESTORE_REMOTE;
}

static bool op_has_base(enum plan_op op)
{
	return op != PLAN_DOWNLOAD && op != PLAN_UPLOAD;
}

static bool op_writes_server(const struct plan_action *a)
{
	return a->op == PLAN_UPLOAD || a->op == PLAN_DELETE_REMOTE ||
	       a->op == PLAN_RESTORE_REMOTE ||
	       (a->op == PLAN_FLAGS && (a->push_add || a->push_remove));
}

static bool op_writes_files(const struct plan_action *a)
{
	return a->op == PLAN_DOWNLOAD || a->op == PLAN_DELETE_LOCAL ||
	       a->op == PLAN_RESTORE_LOCAL || (a->op == PLAN_FLAGS && a->pull);
}

static void check_indices(const struct plan_input *in, const struct plan *p,
			  const struct plan_action *a)
{
	if ((a->remote != NONE) != op_has_remote(a->op) ||
	    (a->remote != NONE && a->remote >= in->n_remote))
		FAIL(in, p, "%s: bad remote index", plan_op_name(a->op));
	if ((a->local != NONE) != op_has_local(a->op) ||
	    (a->local != NONE && a->local >= in->n_local))
		FAIL(in, p, "%s: bad local index", plan_op_name(a->op));
	if ((a->base != NONE) != op_has_base(a->op) || (a->base != NONE && a->base >= in->n_base))
		FAIL(in, p, "%s: bad base index", plan_op_name(a->op));
	if (a->base != NONE && a->remote != NONE &&
	    in->remote[a->remote].uid != in->base[a->base].uid)
		FAIL(in, p, "%s: remote and base disagree on the UID", plan_op_name(a->op));
	if (a->base != NONE && a->local != NONE &&
	    strcmp(in->local[a->local].key, in->base[a->base].key) != 0)
		FAIL(in, p, "%s: local and base disagree on the key", plan_op_name(a->op));
	if (a->op != PLAN_FLAGS &&
	    (a->flags || a->local_flags || a->push_add || a->push_remove || a->pull))
		FAIL(in, p, "%s carries flag fields", plan_op_name(a->op));
}

static void check_flags_action(const struct plan_input *in, const struct plan *p,
			       const struct plan_action *a)
{
	unsigned rf = in->remote[a->remote].flags, lf = in->local[a->local].flags;
	unsigned bf = in->base[a->base].flags;
	unsigned new_r = (rf | a->push_add) & ~a->push_remove;
	unsigned new_l = a->pull ? a->local_flags : lf;

	if ((a->push_add & rf) || (a->push_remove & ~rf))
		FAIL(in, p, "flags: push_add/push_remove do not fit the server's flags");
	if (a->pull != (a->local_flags != lf))
		FAIL(in, p, "flags: pull does not say whether the file changes");
	if (new_r == rf && new_l == lf && a->flags == bf)
		FAIL(in, p, "flags: an action that changes nothing");
	if (in->direction == DIRECTION_BOTH && (new_r != a->flags || new_l != a->flags))
		FAIL(in, p, "flags: direction both, but the sides do not end equal to the base");
	if (in->direction == DIRECTION_PULL && a->flags != rf)
		FAIL(in, p, "flags: direction pull, but the base is not the server's flags");
	if (in->direction == DIRECTION_PUSH && a->flags != lf)
		FAIL(in, p, "flags: direction push, but the base is not the file's flags");
}

static bool local_has_key(const struct plan_input *in, const char *key)
{
	for (size_t i = 0; i < in->n_local; i++)
		if (strcmp(in->local[i].key, key) == 0)
			return true;
	return false;
}

static bool remote_has_uid(const struct plan_input *in, uint32_t uid)
{
	for (size_t i = 0; i < in->n_remote; i++)
		if (in->remote[i].uid == uid)
			return true;
	return false;
}

/* Property 1 on the plan itself: each remote message and each file ends in
 * an action that keeps or transfers it, or in none (already in step, or a
 * direction that leaves it alone); it is removed only by DELETE_* against a
 * pair whose other half the input shows deleted. */
static void check_no_loss(const struct plan_input *in, const struct plan *p, const size_t *r_act,
			  const size_t *l_act)
{
	for (size_t r = 0; r < in->n_remote; r++) {
		const struct plan_action *a = r_act[r] == NONE ? NULL : &p->actions[r_act[r]];

		if (a && a->op == PLAN_DELETE_REMOTE && local_has_key(in, in->base[a->base].key))
			FAIL(in, p, "remote[%zu] deleted, but its file is still there", r);
	}
	for (size_t l = 0; l < in->n_local; l++) {
		const struct plan_action *a = l_act[l] == NONE ? NULL : &p->actions[l_act[l]];

		if (a && a->op == PLAN_DELETE_LOCAL && remote_has_uid(in, in->base[a->base].uid))
			FAIL(in, p, "local[%zu] deleted, but the server still has it", l);
	}
}

static void check_plan_shape(const struct plan_input *in, const struct plan *p)
{
	size_t *r_act = malloc((in->n_remote + 1) * sizeof(size_t));
	size_t *l_act = malloc((in->n_local + 1) * sizeof(size_t));
	size_t *b_act = malloc((in->n_base + 1) * sizeof(size_t));
	size_t n_del_l = 0, n_del_r = 0;

	assert_true(r_act && l_act && b_act);
	for (size_t i = 0; i < in->n_remote; i++)
		r_act[i] = NONE;
	for (size_t i = 0; i < in->n_local; i++)
		l_act[i] = NONE;
	for (size_t i = 0; i < in->n_base; i++)
		b_act[i] = NONE;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->actions[i];

		check_indices(in, p, a);
		if ((a->remote != NONE && r_act[a->remote] != NONE) ||
		    (a->local != NONE && l_act[a->local] != NONE) ||
		    (a->base != NONE && b_act[a->base] != NONE))
			FAIL(in, p, "a message is in two actions");
		if (a->remote != NONE)
			r_act[a->remote] = i;
		if (a->local != NONE)
			l_act[a->local] = i;
		if (a->base != NONE)
			b_act[a->base] = i;
		if (a->op == PLAN_FLAGS)
			check_flags_action(in, p, a);
		if (in->direction == DIRECTION_PULL && op_writes_server(a))
			FAIL(in, p, "direction pull, but %s writes to the server",
			     plan_op_name(a->op));
		if (in->direction == DIRECTION_PUSH && op_writes_files(a))
			FAIL(in, p, "direction push, but %s writes files", plan_op_name(a->op));
		if (a->op == PLAN_UPLOAD && in->local[a->local].local_only)
			FAIL(in, p, "a local-only key is uploaded");
		n_del_l += a->op == PLAN_DELETE_LOCAL;
		n_del_r += a->op == PLAN_DELETE_REMOTE;
	}
	if (n_del_l != p->n_delete_local || n_del_r != p->n_delete_remote)
		FAIL(in, p, "tallies: %zu/%zu counted, %zu/%zu in the plan", p->n_delete_local,
		     p->n_delete_remote, n_del_l, n_del_r);
	check_no_loss(in, p, r_act, l_act);
	free(r_act);
	free(l_act);
	free(b_act);
}

/* ---- The simulator: applies a plan to a model. ---- */

static void sim_download(struct model *w, size_t r)
{
	char key[KEYLEN];

	snprintf(key, sizeof(key), "d%u", w->next_key++);
	model_add_local(w, key, w->r[r].flags, w->r[r].content, false);
	model_add_base(w, w->r[r].uid, key, w->r[r].flags);
}

static void sim_upload(struct model *w, size_t l)
{
	uint32_t uid = w->next_uid;

	model_add_remote(w, uid, w->l[l].flags, w->l[l].content);
	model_add_base(w, uid, w->l[l].key, w->l[l].flags);
}

static void sim_action(struct model *w, const struct plan_action *a, bool *rgone, bool *lgone,
		       bool *bgone)
{
	switch (a->op) {
	case PLAN_DOWNLOAD:
		sim_download(w, a->remote);
		break;
	case PLAN_UPLOAD:
		sim_upload(w, a->local);
		break;
	case PLAN_FLAGS:
		w->r[a->remote].flags = (w->r[a->remote].flags | a->push_add) & ~a->push_remove;
		if (a->pull)
			w->l[a->local].flags = a->local_flags;
		w->b[a->base].flags = a->flags;
		break;
	case PLAN_DELETE_LOCAL:
		lgone[a->local] = bgone[a->base] = true;
		break;
	case PLAN_DELETE_REMOTE:
		rgone[a->remote] = bgone[a->base] = true;
		break;
	case PLAN_FORGET:
		bgone[a->base] = true;
		break;
	case PLAN_KEEP_LOCAL:
		bgone[a->base] = true;
		w->l[a->local].local_only = true;
		break;
	case PLAN_RESTORE_LOCAL:
		bgone[a->base] = true;
		sim_download(w, a->remote);
		break;
	case PLAN_RESTORE_REMOTE:
		bgone[a->base] = true;
		sim_upload(w, a->local);
		break;
	case PLAN_MOVE_OUT:
	case PLAN_MOVE_IN:
		fail_msg("plan_build never makes moves (the engine does)");
		break;
	}
}

/* Applies p (planned over m) and leaves the result in out. The actions refer
 * to m's indices; what they add is appended, what they remove is dropped at
 * the end, so the indices hold throughout. */
static void sim_apply(const struct model *m, const struct plan *p, struct model *out)
{
	bool rgone[MAXM] = {false}, lgone[MAXM] = {false}, bgone[MAXM] = {false};
	struct model *w = malloc(sizeof(*w));

	assert_non_null(w);
	*w = *m;
	for (size_t i = 0; i < p->n; i++)
		sim_action(w, &p->actions[i], rgone, lgone, bgone);
	*out = *w;
	out->nr = out->nl = out->nb = 0;
	for (size_t i = 0; i < w->nr; i++)
		if (!rgone[i])
			out->r[out->nr++] = w->r[i];
	for (size_t i = 0; i < w->nl; i++)
		if (!lgone[i])
			out->l[out->nl++] = w->l[i];
	for (size_t i = 0; i < w->nb; i++)
		if (!bgone[i])
			out->b[out->nb++] = w->b[i];
	free(w);
}

static bool has_content(const struct model *m, unsigned content)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->r[i].content == content)
			return true;
	for (size_t i = 0; i < m->nl; i++)
		if (m->l[i].content == content)
			return true;
	return false;
}

static bool base_has_uid(const struct model *m, uint32_t uid, const char **key_r)
{
	for (size_t i = 0; i < m->nb; i++)
		if (m->b[i].uid == uid) {
			*key_r = m->b[i].key;
			return true;
		}
	return false;
}

static bool base_has_key(const struct model *m, const char *key, uint32_t *uid_r)
{
	for (size_t i = 0; i < m->nb; i++)
		if (strcmp(m->b[i].key, key) == 0) {
			*uid_r = m->b[i].uid;
			return true;
		}
	return false;
}

static bool model_has_key(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->nl; i++)
		if (strcmp(m->l[i].key, key) == 0)
			return true;
	return false;
}

static bool model_has_uid(const struct model *m, uint32_t uid)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->r[i].uid == uid)
			return true;
	return false;
}

/* Property 1 on the outcome: a message survives on some side unless the
 * input shows its pair deleted on one side. */
static void check_survivors(const struct plan_input *in, const struct plan *p,
			    const struct model *m, const struct model *after)
{
	const char *key;
	uint32_t uid;

	for (size_t i = 0; i < m->nr; i++) {
		bool deleted = base_has_uid(m, m->r[i].uid, &key) && !model_has_key(m, key);

		if (!deleted && !has_content(after, m->r[i].content))
			FAIL(in, p, "remote[%zu] is lost", i);
	}
	for (size_t i = 0; i < m->nl; i++) {
		bool deleted = base_has_key(m, m->l[i].key, &uid) && !model_has_uid(m, uid);

		if (!deleted && !has_content(after, m->l[i].content))
			FAIL(in, p, "local[%zu] is lost", i);
	}
}

static int cmp_pair(const void *pa, const void *pb)
{
	const unsigned *a = pa, *b = pb;

	return a[0] != b[0] ? (a[0] < b[0] ? -1 : 1) : (a[1] != b[1] ? (a[1] < b[1] ? -1 : 1) : 0);
}

/* Property 3: after a sync in direction both, the server and the files hold
 * the same messages (the local-only files aside) with the same flags, and
 * every one of them is paired with base = its flags. */
static void check_converged(const struct plan_input *in, const struct plan *p,
			    const struct model *a)
{
	unsigned rs[MAXM][2], ls[MAXM][2];
	size_t nl = 0;
	uint32_t uid;
	const char *key;

	for (size_t i = 0; i < a->nr; i++) {
		rs[i][0] = a->r[i].content;
		rs[i][1] = a->r[i].flags;
		if (!base_has_uid(a, a->r[i].uid, &key))
			FAIL(in, p, "after the sync, UID %u has no pair", a->r[i].uid);
	}
	for (size_t i = 0; i < a->nl; i++) {
		if (a->l[i].local_only)
			continue;
		ls[nl][0] = a->l[i].content;
		ls[nl][1] = a->l[i].flags;
		nl++;
		if (!base_has_key(a, a->l[i].key, &uid))
			FAIL(in, p, "after the sync, key %s has no pair", a->l[i].key);
	}
	qsort(rs, a->nr, sizeof(rs[0]), cmp_pair);
	qsort(ls, nl, sizeof(ls[0]), cmp_pair);
	if (nl != a->nr || (nl && memcmp(rs, ls, nl * sizeof(rs[0])) != 0))
		FAIL(in, p, "after the sync, the two sides differ");
	for (size_t i = 0; i < a->nb; i++)
		for (size_t j = 0; j < a->nr; j++)
			if (a->r[j].uid == a->b[i].uid && a->r[j].flags != a->b[i].flags)
				FAIL(in, p, "after the sync, base %zu differs from the server", i);
}

/* Pull leaves the server as it is, push leaves the files as they are. */
static void check_untouched(const struct plan_input *in, const struct plan *p,
			    const struct model *m, const struct model *a)
{
	if (m->direction == DIRECTION_PULL) {
		bool same = m->nr == a->nr;

		for (size_t i = 0; same && i < m->nr; i++)
			same = m->r[i].uid == a->r[i].uid && m->r[i].flags == a->r[i].flags;
		if (!same)
			FAIL(in, p, "direction pull changed the server");
	}
	if (m->direction == DIRECTION_PUSH) {
		bool same = m->nl == a->nl;

		for (size_t i = 0; same && i < m->nl; i++)
			same =
			    strcmp(m->l[i].key, a->l[i].key) == 0 && m->l[i].flags == a->l[i].flags;
		if (!same)
			FAIL(in, p, "direction push changed the files");
	}
}

/* Runs every check on one model. With several files under one key the
 * simulation is skipped: which file an action means is then up to the
 * engine, and the model cannot tell. */
static void check_model(const struct model *m, const char *what)
{
	struct view *v = malloc(sizeof(*v)), *v2 = malloc(sizeof(*v2));
	struct model *after = malloc(sizeof(*after));
	struct plan p, p2;
	struct alist exp;

	assert_true(v && v2 && after);
	make_view(m, v);
	plan_build(&v->in, &p);
	check_plan_shape(&v->in, &p);
	oracle(&v->in, &exp);
	check_same(&v->in, &p, &exp, what);
	free(exp.a);
	if (!model_has_dup_keys(m)) {
		sim_apply(m, &p, after);
		check_survivors(&v->in, &p, m, after);
		check_untouched(&v->in, &p, m, after);
		if (m->direction == DIRECTION_BOTH)
			check_converged(&v->in, &p, after);
		make_view(after, v2);
		plan_build(&v2->in, &p2);
		if (p2.n != 0) {
			print_input(&v->in);
			print_actions("first plan", p.actions, p.n);
			FAIL(&v2->in, &p2, "%s: the second plan is not empty", what);
		}
		plan_free(&p2);
	}
	plan_free(&p);
	free(v);
	free(v2);
	free(after);
}

/* ---- Hand-written rows: one message, its situation, the expected plan. ---- */

#define FS MF_SEEN
#define FF MF_FLAGGED
#define FT MF_DELETED
#define FR MF_ANSWERED

struct exp_op {
	enum plan_op op;
	unsigned flags, local_flags, push_add, push_remove;
	bool pull;
};

struct row {
	const char *name;
	int base, remote, local; /* flags, or ABSENT */
	bool local_only;
	enum sync_direction dir;
	enum conflict_policy pol;
	enum remote_deletions rdel;
	size_t n;
	struct exp_op exp[2];
};

#define BOTH DIRECTION_BOTH
#define PULL DIRECTION_PULL
#define PUSH DIRECTION_PUSH
#define DW CONFLICT_DELETION_WINS
#define KEEP CONFLICT_KEEP
#define PROP REMOTE_DELETIONS_PROPAGATE
#define RKEEP REMOTE_DELETIONS_KEEP
#define OP(o)                                                                                      \
	{                                                                                          \
		o, 0, 0, 0, 0, false                                                               \
	}
#define FL(base, local, add, remove, pull)                                                         \
	{                                                                                          \
		PLAN_FLAGS, base, local, add, remove, pull                                         \
	}

/* name, base, remote, local (flags or ABSENT), local_only, direction, conflicts,
 * remote_deletions, number of actions, the actions. */
/* clang-format off */
static const struct row rows[] = {
	/* Flags, direction both. */
	{"unchanged", FS, FS, FS, false, BOTH, DW, PROP, 0, {{0}}},
	{"remote +S", 0, FS, 0, false, BOTH, DW, PROP, 1, {FL(FS, FS, 0, 0, true)}},
	{"local +S", 0, 0, FS, false, BOTH, DW, PROP, 1, {FL(FS, FS, FS, 0, false)}},
	{"remote -S", FS, 0, FS, false, BOTH, DW, PROP, 1, {FL(0, 0, 0, 0, true)}},
	{"local -F", FF, FF, 0, false, BOTH, DW, PROP, 1, {FL(0, 0, 0, FF, false)}},
	{"remote +S, local -F", FF, FF | FS, 0, false, BOTH, DW, PROP, 1,
	 {FL(FS, FS, 0, FF, true)}},
	{"remote -F, local +S", FF, 0, FF | FS, false, BOTH, KEEP, PROP, 1,
	 {FL(FS, FS, FS, 0, true)}},
	{"remote +S +R, local -F +T", FF, FF | FS | FR, FT, false, BOTH, DW, PROP, 1,
	 {FL(FS | FR | FT, FS | FR | FT, FT, FF, true)}},
	{"both +S: base only", 0, FS, FS, false, BOTH, DW, PROP, 1, {FL(FS, FS, 0, 0, false)}},
	{"both -S: base only", FS | FF, FF, FF, false, BOTH, KEEP, RKEEP, 1,
	 {FL(FF, FF, 0, 0, false)}},
	{"both +S, remote +F", 0, FS | FF, FS, false, BOTH, DW, PROP, 1,
	 {FL(FS | FF, FS | FF, 0, 0, true)}},
	{"every flag set remotely", 0, MF_ALL, 0, false, BOTH, DW, PROP, 1,
	 {FL(MF_ALL, MF_ALL, 0, 0, true)}},
	{"every flag cleared locally", MF_ALL, MF_ALL, 0, false, BOTH, DW, PROP, 1,
	 {FL(0, 0, 0, MF_ALL, false)}},
	{"remote +T is a flag", FS, FS | FT, FS, false, BOTH, DW, PROP, 1,
	 {FL(FS | FT, FS | FT, 0, 0, true)}},
	{"local +T is a flag", FS, FS, FS | FT, false, BOTH, DW, PROP, 1,
	 {FL(FS | FT, FS | FT, FT, 0, false)}},
	{"remote -T is a flag", FT, 0, FT, false, BOTH, DW, PROP, 1, {FL(0, 0, 0, 0, true)}},
	{"T unchanged", FT, FT, FT, false, BOTH, DW, PROP, 0, {{0}}},
	/* Flags, direction pull: the server is never written. */
	{"pull: local +S stays local", 0, 0, FS, false, PULL, DW, PROP, 0, {{0}}},
	{"pull: remote +S", 0, FS, 0, false, PULL, DW, PROP, 1, {FL(FS, FS, 0, 0, true)}},
	{"pull: remote +S, local +F", 0, FS, FF, false, PULL, DW, PROP, 1,
	 {FL(FS, FS | FF, 0, 0, true)}},
	{"pull: remote -F, local +S", FF, 0, FF | FS, false, PULL, KEEP, PROP, 1,
	 {FL(0, FS, 0, 0, true)}},
	{"pull: both +S", 0, FS, FS, false, PULL, DW, PROP, 1, {FL(FS, FS, 0, 0, false)}},
	{"pull: local -S stays local", FS, FS, 0, false, PULL, DW, RKEEP, 0, {{0}}},
	/* Flags, direction push: the files are never written. */
	{"push: local +S", 0, 0, FS, false, PUSH, DW, PROP, 1, {FL(FS, FS, FS, 0, false)}},
	{"push: remote +S stays remote", 0, FS, 0, false, PUSH, DW, PROP, 0, {{0}}},
	{"push: remote +S, local +F", 0, FS, FF, false, PUSH, DW, PROP, 1,
	 {FL(FF, FF, FF, 0, false)}},
	{"push: local -F, remote +S", FF, FF | FS, 0, false, PUSH, KEEP, PROP, 1,
	 {FL(0, 0, 0, FF, false)}},
	{"push: both +S", 0, FS, FS, false, PUSH, DW, PROP, 1, {FL(FS, FS, 0, 0, false)}},
	/* Deleted locally, direction both. */
	{"local del, remote same, dw", FS, FS, ABSENT, false, BOTH, DW, PROP, 1,
	 {OP(PLAN_DELETE_REMOTE)}},
	{"local del, remote same, keep", FS, FS, ABSENT, false, BOTH, KEEP, PROP, 1,
	 {OP(PLAN_DELETE_REMOTE)}},
	{"local del, remote +F, dw", FS, FS | FF, ABSENT, false, BOTH, DW, PROP, 1,
	 {OP(PLAN_DELETE_REMOTE)}},
	{"local del, remote +F, keep", FS, FS | FF, ABSENT, false, BOTH, KEEP, PROP, 1,
	 {OP(PLAN_RESTORE_LOCAL)}},
	{"local del, remote -S, keep", FS, 0, ABSENT, false, BOTH, KEEP, RKEEP, 1,
	 {OP(PLAN_RESTORE_LOCAL)}},
	{"local del, remote +T, keep", 0, FT, ABSENT, false, BOTH, KEEP, PROP, 1,
	 {OP(PLAN_RESTORE_LOCAL)}},
	/* Expunged on the server, direction both. */
	{"remote del, local same, dw", FS, ABSENT, FS, false, BOTH, DW, PROP, 1,
	 {OP(PLAN_DELETE_LOCAL)}},
	{"remote del, local same, keep", FS, ABSENT, FS, false, BOTH, KEEP, PROP, 1,
	 {OP(PLAN_DELETE_LOCAL)}},
	{"remote del, local +F, dw", FS, ABSENT, FS | FF, false, BOTH, DW, PROP, 1,
	 {OP(PLAN_DELETE_LOCAL)}},
	{"remote del, local +F, keep", FS, ABSENT, FS | FF, false, BOTH, KEEP, PROP, 1,
	 {OP(PLAN_RESTORE_REMOTE)}},
	{"remote del, local +T, keep", 0, ABSENT, FT, false, BOTH, KEEP, PROP, 1,
	 {OP(PLAN_RESTORE_REMOTE)}},
	{"remote del kept, local same", FS, ABSENT, FS, false, BOTH, DW, RKEEP, 1,
	 {OP(PLAN_KEEP_LOCAL)}},
	{"remote del kept, local +F, keep", FS, ABSENT, FS | FF, false, BOTH, KEEP, RKEEP, 1,
	 {OP(PLAN_KEEP_LOCAL)}},
	{"both del, dw", FS, ABSENT, ABSENT, false, BOTH, DW, PROP, 1, {OP(PLAN_FORGET)}},
	{"both del, keep", FS, ABSENT, ABSENT, false, BOTH, KEEP, RKEEP, 1, {OP(PLAN_FORGET)}},
	/* Deletions, direction pull. */
	{"pull: local del is undone", FS, FS, ABSENT, false, PULL, DW, PROP, 1,
	 {OP(PLAN_RESTORE_LOCAL)}},
	{"pull: local del, remote +F", FS, FS | FF, ABSENT, false, PULL, DW, PROP, 1,
	 {OP(PLAN_RESTORE_LOCAL)}},
	{"pull: remote del", FS, ABSENT, FS, false, PULL, KEEP, PROP, 1, {OP(PLAN_DELETE_LOCAL)}},
	{"pull: remote del, local +F, keep", FS, ABSENT, FS | FF, false, PULL, KEEP, PROP, 1,
	 {OP(PLAN_DELETE_LOCAL)}},
	{"pull: remote del kept", FS, ABSENT, FS, false, PULL, DW, RKEEP, 1,
	 {OP(PLAN_KEEP_LOCAL)}},
	{"pull: both del", FS, ABSENT, ABSENT, false, PULL, DW, PROP, 1, {OP(PLAN_FORGET)}},
	/* Deletions, direction push. */
	{"push: local del", FS, FS, ABSENT, false, PUSH, DW, PROP, 1, {OP(PLAN_DELETE_REMOTE)}},
	{"push: local del, remote +F, keep", FS, FS | FF, ABSENT, false, PUSH, KEEP, PROP, 1,
	 {OP(PLAN_DELETE_REMOTE)}},
	{"push: remote del is undone", FS, ABSENT, FS, false, PUSH, DW, PROP, 1,
	 {OP(PLAN_RESTORE_REMOTE)}},
	{"push: remote del kept is undone", FS, ABSENT, FS, false, PUSH, DW, RKEEP, 1,
	 {OP(PLAN_RESTORE_REMOTE)}},
	{"push: both del", FS, ABSENT, ABSENT, false, PUSH, KEEP, PROP, 1, {OP(PLAN_FORGET)}},
	/* New messages. */
	{"new remote", ABSENT, FS, ABSENT, false, BOTH, DW, PROP, 1, {OP(PLAN_DOWNLOAD)}},
	{"new remote with T", ABSENT, FT, ABSENT, false, BOTH, DW, PROP, 1, {OP(PLAN_DOWNLOAD)}},
	{"pull: new remote", ABSENT, 0, ABSENT, false, PULL, DW, PROP, 1, {OP(PLAN_DOWNLOAD)}},
	{"push: new remote stays", ABSENT, 0, ABSENT, false, PUSH, DW, PROP, 0, {{0}}},
	{"new local", ABSENT, ABSENT, FS, false, BOTH, DW, PROP, 1, {OP(PLAN_UPLOAD)}},
	{"new local with T", ABSENT, ABSENT, FT, false, BOTH, KEEP, PROP, 1, {OP(PLAN_UPLOAD)}},
	{"pull: new local stays", ABSENT, ABSENT, 0, false, PULL, DW, PROP, 0, {{0}}},
	{"push: new local", ABSENT, ABSENT, 0, false, PUSH, DW, PROP, 1, {OP(PLAN_UPLOAD)}},
	{"local-only", ABSENT, ABSENT, FS, true, BOTH, DW, PROP, 0, {{0}}},
	{"local-only, rkeep", ABSENT, ABSENT, FS, true, BOTH, KEEP, RKEEP, 0, {{0}}},
	{"push: local-only", ABSENT, ABSENT, FS, true, PUSH, DW, PROP, 0, {{0}}},
	{"new on both sides", ABSENT, FS, 0, false, BOTH, DW, PROP, 2,
	 {OP(PLAN_DOWNLOAD), OP(PLAN_UPLOAD)}},
	{"new remote, local-only file", ABSENT, FS, 0, true, BOTH, DW, PROP, 1,
	 {OP(PLAN_DOWNLOAD)}},
};
/* clang-format on */

/* Builds the one-message model of a row (or of a cross-product case). The
 * remote copy and the file are one message when paired, two otherwise. */
static void one_message(struct model *m, int base, int remote, int local, bool local_only,
			enum sync_direction dir, enum conflict_policy pol,
			enum remote_deletions rdel)
{
	memset(m, 0, sizeof(*m));
	m->next_uid = 1;
	m->direction = dir;
	m->conflicts = pol;
	m->rdel = rdel;
	if (base != ABSENT)
		model_add_base(m, 7, "k7", (unsigned)base);
	if (remote != ABSENT)
		model_add_remote(m, 7, (unsigned)remote, 1);
	if (local != ABSENT)
		model_add_local(m, "k7", (unsigned)local, base != ABSENT ? 1 : 2, local_only);
}

static void row_expected(const struct row *row, struct alist *exp)
{
	exp->a = calloc(3, sizeof(*exp->a));
	assert_non_null(exp->a);
	exp->n = row->n;
	for (size_t i = 0; i < row->n; i++) {
		const struct exp_op *e = &row->exp[i];
		enum plan_op op = e->op;

		exp->a[i] = (struct plan_action){
		    .op = op,
		    .remote = op_has_remote(op) ? 0 : NONE,
		    .local = op_has_local(op) ? 0 : NONE,
		    .base = op_has_base(op) ? 0 : NONE,
		    .flags = e->flags,
		    .local_flags = e->local_flags,
		    .push_add = e->push_add,
		    .push_remove = e->push_remove,
		    .pull = e->pull,
		};
	}
}

static void test_rows(void **state)
{
	struct model *m = malloc(sizeof(*m));
	struct view *v = malloc(sizeof(*v));

	(void)state;
	assert_true(m && v);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *row = &rows[i];
		struct alist exp;
		struct plan p;

		one_message(m, row->base, row->remote, row->local, row->local_only, row->dir,
			    row->pol, row->rdel);
		make_view(m, v);
		plan_build(&v->in, &p);
		row_expected(row, &exp);
		check_same(&v->in, &p, &exp, row->name);
		free(exp.a);
		/* The oracle and the simulation must agree with the row too. */
		check_model(m, row->name);
		plan_free(&p);
	}
	free(m);
	free(v);
}

/* ---- The cross product: one message, every situation, every config. ---- */

/* Three flags (one of them T) span every per-flag case: set, cleared, kept,
 * changed on one side, on both, on neither. */
static unsigned flags3(unsigned i)
{
	return ((i & 1) ? MF_FLAGGED : 0) | ((i & 2) ? MF_SEEN : 0) | ((i & 4) ? MF_DELETED : 0);
}

enum side_state { ST_UNCHANGED, ST_CHANGED, ST_DELETED, ST_NEW, ST_ABSENT, ST_COUNT };

static enum side_state side_state(int base, int side)
{
	if (base == ABSENT)
		return side == ABSENT ? ST_ABSENT : ST_NEW;
	if (side == ABSENT)
		return ST_DELETED;
	return side == base ? ST_UNCHANGED : ST_CHANGED;
}

static int cross_flags(unsigned i)
{
	return i == 0 ? ABSENT : (int)flags3(i - 1);
}

static void test_cross_product(void **state)
{
	struct model *m = malloc(sizeof(*m));
	unsigned seen[12][ST_COUNT][ST_COUNT];
	size_t cases = 0;

	(void)state;
	assert_non_null(m);
	memset(seen, 0, sizeof(seen));
	/* 12 configurations x base, remote, local in {absent, 8 flag sets} x
	 * local_only (which only an unpaired file can be). */
	for (unsigned i = 0; i < 12 * 9 * 9 * 9 * 2; i++) {
		unsigned cfg = i / (9 * 9 * 9 * 2), lo = i % 2;
		int b = cross_flags(i / (9 * 9 * 2) % 9), r = cross_flags(i / (9 * 2) % 9);
		int l = cross_flags(i / 2 % 9);

		if (b == ABSENT && r == ABSENT && l == ABSENT)
			continue;
		if (lo && (b != ABSENT || l == ABSENT))
			continue;
		one_message(m, b, r, l, lo, directions[cfg / 4], policies[cfg / 2 % 2],
			    rdels[cfg % 2]);
		check_model(m, "cross product");
		seen[cfg][side_state(b, r)][side_state(b, l)]++;
		cases++;
	}
	/* Every pair of side states was met under every configuration. */
	for (unsigned cfg = 0; cfg < 12; cfg++)
		for (int rs = 0; rs < ST_COUNT; rs++)
			for (int ls = 0; ls < ST_COUNT; ls++) {
				bool paired = rs <= ST_DELETED;

				if (paired == (ls <= ST_DELETED) &&
				    !(rs == ST_ABSENT && ls == ST_ABSENT))
					assert_true(seen[cfg][rs][ls] > 0);
			}
	assert_int_equal(cases, 12 * (8 * 9 * 9 + 9 * 9 - 1 + 9 * 8));
	free(m);
}

/* ---- Random folders. ---- */

static unsigned rand_flags(void)
{
	return rng_next() & MF_ALL;
}

static unsigned change_flags(unsigned f)
{
	unsigned mask = 0;

	if (rng_below(4) == 0)
		mask = rng_next() & MF_ALL;
	while (mask == 0) /* one or two flags flipped */
		mask = (1u << rng_below(6)) | (rng_below(2) ? 1u << rng_below(6) : 0);
	return f ^ mask;
}

static void shuffle_locals(struct model *m)
{
	for (size_t i = m->nl; i > 1; i--) {
		size_t j = rng_below((uint32_t)i);
		struct m_local t = m->l[i - 1];

		m->l[i - 1] = m->l[j];
		m->l[j] = t;
	}
}

static void shuffle_base(struct model *m)
{
	for (size_t i = m->nb; i > 1; i--) {
		size_t j = rng_below((uint32_t)i);
		struct m_base t = m->b[i - 1];

		m->b[i - 1] = m->b[j];
		m->b[j] = t;
	}
}

static void gen_paired(struct model *m, uint32_t uid, unsigned content)
{
	char key[KEYLEN];
	unsigned bf = rand_flags();
	unsigned rs = rng_below(3), ls = rng_below(3); /* deleted, unchanged, changed */

	snprintf(key, sizeof(key), "p%u", uid);
	model_add_base(m, uid, key, bf);
	if (rs)
		model_add_remote(m, uid, rs == 1 ? bf : change_flags(bf), content);
	if (ls)
		model_add_local(m, key, ls == 1 ? bf : change_flags(bf), content, false);
}

static void gen_unpaired(struct model *m, uint32_t uid, unsigned content)
{
	char key[KEYLEN];
	unsigned kind = rng_below(4); /* remote only (x2), local only, both */

	snprintf(key, sizeof(key), "n%u", uid);
	if (kind != 2)
		model_add_remote(m, uid, rand_flags(), content);
	if (kind >= 2)
		model_add_local(m, key, rand_flags(), content + 1, rng_below(4) == 0);
}

/* A folder of 0..20 messages, some paired (each side unchanged, changed or
 * deleted), some new on one side or both, in shuffled order; with dups, some
 * keys also occur twice. */
static void gen_folder(struct model *m, bool dups)
{
	size_t n = rng_below(21);
	uint32_t uid = 1 + rng_below(5);

	memset(m, 0, sizeof(*m));
	m->next_uid = 1;
	for (size_t i = 0; i < n; i++) {
		unsigned content = 2 * (unsigned)i + 1;

		if (rng_below(10) < 6)
			gen_paired(m, uid, content);
		else
			gen_unpaired(m, uid, content);
		uid += 1 + rng_below(3);
	}
	for (size_t i = 0, nl = m->nl; dups && i < nl; i++)
		if (rng_below(3) == 0)
			model_add_local(m, m->l[i].key, rand_flags(), 1000 + (unsigned)i,
					rng_below(4) == 0);
	shuffle_locals(m);
	shuffle_base(m);
}

static void random_folders(bool dups, size_t count)
{
	struct model *m = malloc(sizeof(*m));

	assert_non_null(m);
	for (size_t i = 0; i < count; i++) {
		gen_folder(m, dups);
		for (size_t d = 0; d < 3; d++)
			for (size_t c = 0; c < 2; c++)
				for (size_t k = 0; k < 2; k++) {
					m->direction = directions[d];
					m->conflicts = policies[c];
					m->rdel = rdels[k];
					check_model(m, dups ? "random folder with duplicate keys"
							    : "random folder");
				}
	}
	free(m);
}

static void test_random_folders(void **state)
{
	(void)state;
	rng_state = 0x9e3779b97f4a7c15u;
	random_folders(false, 5000);
}

static void test_random_folders_dup_keys(void **state)
{
	(void)state;
	rng_state = 0x243f6a8885a308d3u;
	random_folders(true, 2000);
}

/* Three syncs in a row with changes in between: the base carried from one
 * sync to the next is what the planner was told it would be. */
static void test_random_sequences(void **state)
{
	struct model *m = malloc(sizeof(*m)), *after = malloc(sizeof(*after));
	struct view *v = malloc(sizeof(*v));

	(void)state;
	assert_true(m && after && v);
	rng_state = 0x452821e638d01377u;
	for (size_t i = 0; i < 1000; i++) {
		gen_folder(m, false);
		m->direction = directions[rng_below(3)];
		m->conflicts = policies[rng_below(2)];
		m->rdel = rdels[rng_below(2)];
		for (int round = 0; round < 3; round++) {
			struct plan p;

			check_model(m, "sequence");
			make_view(m, v);
			plan_build(&v->in, &p);
			sim_apply(m, &p, after);
			plan_free(&p);
			*m = *after;
			/* Change some flags on both sides, delete a few. */
			for (size_t j = 0; j < m->nr; j++)
				if (rng_below(4) == 0)
					m->r[j].flags = change_flags(m->r[j].flags);
			for (size_t j = 0; j < m->nl; j++)
				if (rng_below(4) == 0)
					m->l[j].flags = change_flags(m->l[j].flags);
			if (m->nr && rng_below(3) == 0) {
				size_t j = rng_below((uint32_t)m->nr);

				memmove(&m->r[j], &m->r[j + 1], (m->nr - j - 1) * sizeof(m->r[0]));
				m->nr--;
			}
			if (m->nl && rng_below(3) == 0) {
				size_t j = rng_below((uint32_t)m->nl);

				memmove(&m->l[j], &m->l[j + 1], (m->nl - j - 1) * sizeof(m->l[0]));
				m->nl--;
			}
		}
	}
	free(m);
	free(after);
	free(v);
}

/* ---- Duplicate keys, explicitly. ---- */

static void plan_of(const struct plan_remote *r, size_t nr, const struct plan_local *l, size_t nl,
		    const struct plan_base *b, size_t nb, enum sync_direction dir, struct plan *p)
{
	struct plan_input in = {
	    r, nr, l, nl, b, nb, CONFLICT_DELETION_WINS, dir, REMOTE_DELETIONS_PROPAGATE};

	plan_build(&in, p);
}

static size_t count_op(const struct plan *p, enum plan_op op)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->actions[i].op == op;
	return n;
}

static void test_dup_key_unpaired(void **state)
{
	const struct plan_local l[] = {{"a", FS, false}, {"a", 0, false}, {"a", FF, false}};
	struct plan p;

	(void)state;
	for (size_t n = 2; n <= 3; n++) {
		plan_of(NULL, 0, l, n, NULL, 0, DIRECTION_BOTH, &p);
		assert_int_equal(p.n, 1);
		assert_int_equal(p.actions[0].op, PLAN_UPLOAD);
		assert_int_equal(p.actions[0].local, 0);
		plan_free(&p);
	}
}

/* A paired key that occurs twice: the pair takes one copy, the other is
 * neither paired nor uploaded, whichever order the files come in. */
static void test_dup_key_paired(void **state)
{
	const struct plan_remote r[] = {{5, FS, false}};
	const struct plan_base b[] = {{5, "k", FS}};
	const struct plan_local l2[] = {{"k", FS, false}, {"k", FS, false}};
	const struct plan_local l3[] = {{"k", FS, false}, {"k", 0, false}, {"k", FF, false}};
	const struct plan_local lx[] = {
	    {"x", 0, false}, {"k", FS, false}, {"k", FS, false}, {"k", FS, false}, {"y", 0, false}};
	struct plan p;

	(void)state;
	plan_of(r, 1, l2, 2, b, 1, DIRECTION_BOTH, &p);
	assert_int_equal(p.n, 0);
	plan_free(&p);
	plan_of(r, 1, l3, 3, b, 1, DIRECTION_PUSH, &p);
	assert_int_equal(count_op(&p, PLAN_UPLOAD), 0);
	plan_free(&p);
	plan_of(r, 1, lx, 5, b, 1, DIRECTION_BOTH, &p);
	assert_int_equal(p.n, 2);
	assert_int_equal(count_op(&p, PLAN_UPLOAD), 2);
	for (size_t i = 0; i < p.n; i++)
		assert_true(p.actions[i].local == 0 || p.actions[i].local == 4);
	plan_free(&p);
}

/* Partial sync: a message the limits keep on the server is never
 * downloaded, and its file missing is no local deletion in any
 * direction: the pair is forgotten, the server keeps it. Its flags still
 * sync while both copies exist. */
static void test_held_by_limits(void **state)
{
	const struct plan_remote r[] = {{1, FS, true}, {2, 0, true}, {3, FS, false}};
	const struct plan_base b[] = {{1, "one", FS}, {2, "two", 0}, {3, "three", FS}};
	const struct plan_local gone[] = {{"two", FF, false}};
	const enum sync_direction dirs[] = {DIRECTION_BOTH, DIRECTION_PULL, DIRECTION_PUSH};
	struct plan p;

	(void)state;
	for (size_t d = 0; d < 3; d++) {
		/* "one" and "three" gone locally, "two" flagged here. */
		plan_of(r, 3, gone, 1, b, 3, dirs[d], &p);
		assert_int_equal(count_op(&p, PLAN_DOWNLOAD), 0);
		assert_int_equal(count_op(&p, PLAN_FORGET), 1);
		for (size_t i = 0; i < p.n; i++)
			if (p.actions[i].op == PLAN_DELETE_REMOTE ||
			    p.actions[i].op == PLAN_RESTORE_LOCAL)
				assert_int_equal(p.actions[i].remote, 2); /* "three": not held */
		if (dirs[d] != DIRECTION_PULL)
			assert_int_equal(count_op(&p, PLAN_FLAGS), 1); /* "two": F pushed */
		plan_free(&p);
	}
	/* Held and unpaired: not downloaded; unheld: downloaded. */
	plan_of(r, 3, NULL, 0, NULL, 0, DIRECTION_BOTH, &p);
	assert_int_equal(count_op(&p, PLAN_DOWNLOAD), 1);
	assert_int_equal(p.actions[0].remote, 2);
	plan_free(&p);
}

static void test_plan_held(void **state)
{
	time_t now = 1800000000;

	(void)state;
	assert_false(plan_held(0, 0, 1u << 30, 1, now));
	assert_true(plan_held(0, 1000, 1001, now, now));
	assert_false(plan_held(0, 1000, 1000, now, now));
	assert_true(plan_held(30, 0, 10, now - 31 * 86400, now));
	assert_false(plan_held(30, 0, 10, now - 29 * 86400, now));
	/* An unknown date is never "old". */
	assert_false(plan_held(30, 0, 10, 0, now));
}

/* ---- A folder of several messages, by hand, with the indices checked. ---- */

static void test_mixed_folder(void **state)
{
	const struct plan_remote r[] = {
	    {1, FS, false}, {2, FS | FF, false}, {4, 0, false}, {9, FR, false}};
	const struct plan_local l[] = {{"new", FT, false},
				       {"b", FS, false},
				       {"a", FS, false},
				       {"c", 0, false},
				       {"kept", 0, true}};
	const struct plan_base b[] = {{3, "c", 0}, {2, "b", FS}, {1, "a", FS}, {4, "gone", 0}};
	struct plan_input in = {
	    r, 4, l, 5, b, 4, CONFLICT_DELETION_WINS, DIRECTION_BOTH, REMOTE_DELETIONS_PROPAGATE};
	struct plan p;
	struct alist exp = {calloc(8, sizeof(struct plan_action)), 0};

	(void)state;
	assert_non_null(exp.a);
	plan_build(&in, &p);
	alist_add(&exp, PLAN_DELETE_LOCAL, NONE, 3, 0); /* "c": UID 3 expunged */
	alist_add(&exp, PLAN_FLAGS, 1, 1, 1);		/* "b": remote +F */
	exp.a[1].flags = exp.a[1].local_flags = FS | FF;
	exp.a[1].pull = true;
	alist_add(&exp, PLAN_DELETE_REMOTE, 2, NONE, 3); /* "gone": file removed */
	alist_add(&exp, PLAN_DOWNLOAD, 3, NONE, NONE);	 /* UID 9 is new */
	alist_add(&exp, PLAN_UPLOAD, NONE, 0, NONE);	 /* "new" is new */
	check_same(&in, &p, &exp, "mixed folder");
	assert_int_equal(p.n_delete_local, 1);
	assert_int_equal(p.n_delete_remote, 1);
	free(exp.a);
	plan_free(&p);
}

/* ---- Size: a large folder plans in O(n log n). ---- */

static void test_large_folder(void **state)
{
	enum { N = 100000 };
	struct plan_remote *r = calloc(N, sizeof(*r));
	struct plan_local *l = calloc(N, sizeof(*l));
	struct plan_base *b = calloc(N, sizeof(*b));
	char(*keys)[KEYLEN] = calloc(N, KEYLEN);
	struct plan p;

	(void)state;
	assert_true(r && l && b && keys);
	for (size_t i = 0; i < N; i++) {
		snprintf(keys[i], KEYLEN, "%zu", (i * 7919) % N);
		r[i] = (struct plan_remote){(uint32_t)i + 1, FS, false};
		l[i] = (struct plan_local){keys[i], FS, false};
		b[(i * 31) % N] = (struct plan_base){(uint32_t)i + 1, NULL, FS};
	}
	for (size_t i = 0; i < N; i++)
		b[i].key = keys[b[i].uid - 1];
	plan_of(r, N, l, N, b, N, DIRECTION_BOTH, &p);
	assert_int_equal(p.n, 0);
	plan_free(&p);
	/* Every file gone: every message is a deletion, and the guard trips. */
	plan_of(r, N, NULL, 0, b, N, DIRECTION_BOTH, &p);
	assert_int_equal(p.n, N);
	assert_int_equal(p.n_delete_remote, N);
	assert_int_equal(p.n_delete_local, 0);
	assert_true(plan_mass_delete(p.n_delete_remote, N, 0.5, 20));
	plan_free(&p);
	free(r);
	free(l);
	free(b);
	free(keys);
}

/* ---- Small API pieces. ---- */

static void test_empty(void **state)
{
	struct plan_input in = {0};
	struct plan p;

	(void)state;
	for (size_t d = 0; d < 3; d++) {
		in.direction = directions[d];
		plan_build(&in, &p);
		assert_int_equal(p.n, 0);
		assert_int_equal(p.n_delete_local, 0);
		assert_int_equal(p.n_delete_remote, 0);
		plan_free(&p);
	}
}

static void test_plan_free(void **state)
{
	struct plan p = {0};

	(void)state;
	plan_free(&p);
	plan_free(&p);
	assert_null(p.actions);
	assert_int_equal(p.n, 0);
}

static void test_mass_delete(void **state)
{
	(void)state;
	assert_true(plan_mass_delete(21, 40, 0.5, 20));
	assert_false(plan_mass_delete(20, 30, 0.5, 20)); /* not more than 20 */
	assert_false(plan_mass_delete(21, 42, 0.5, 20)); /* not more than half */
	assert_true(plan_mass_delete(22, 42, 0.5, 20));
	assert_true(plan_mass_delete(21, 21, 0.5, 20));
	assert_false(plan_mass_delete(20, 20, 0.5, 20));
	assert_false(plan_mass_delete(0, 0, 0.5, 20));
	assert_false(plan_mass_delete(0, 100, 0.5, 20));
	assert_false(plan_mass_delete(1000, 100000, 0.5, 20));
	assert_true(plan_mass_delete(50001, 100000, 0.5, 20));
	assert_false(plan_mass_delete(50000, 100000, 0.5, 20));
	assert_true(plan_mass_delete(1, 1, 0.5, 0));
	assert_false(plan_mass_delete(1, 2, 0.5, 0));
	assert_false(plan_mass_delete(100, 100, 1.0, 20)); /* share 1: never more than all */
	assert_true(plan_mass_delete(21, 100, 0.0, 20));
}

static void test_op_names(void **state)
{
	static const char *const names[] = {"download",	    "upload",	     "flags",
					    "delete-local", "delete-remote", "forget",
					    "keep-local",   "restore-local", "restore-remote"};

	(void)state;
	for (int op = PLAN_DOWNLOAD; op <= PLAN_RESTORE_REMOTE; op++)
		assert_string_equal(plan_op_name((enum plan_op)op), names[op]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_plan_free),
	    cmocka_unit_test(test_op_names),
	    cmocka_unit_test(test_mass_delete),
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_mixed_folder),
	    cmocka_unit_test(test_dup_key_unpaired),
	    cmocka_unit_test(test_dup_key_paired),
	    cmocka_unit_test(test_held_by_limits),
	    cmocka_unit_test(test_plan_held),
	    cmocka_unit_test(test_cross_product),
	    cmocka_unit_test(test_random_folders),
	    cmocka_unit_test(test_random_folders_dup_keys),
	    cmocka_unit_test(test_random_sequences),
	    cmocka_unit_test(test_large_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
