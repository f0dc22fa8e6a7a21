/* Fuzzes the three-way merge (sync/plan.h) with random folders.
 *
 * The input describes up to MAXM messages, 4 bytes each, after one byte of
 * configuration (direction, conflict policy, remote deletions). Message i
 * may have UID i+1 on the server, a file with key "k<i>" (or, rarely, the
 * key of an earlier message: several files under one key), and a pair
 * (UID i+1, "k<i>") in the base, each with its own flags.
 *
 * Properties of every plan:
 *  - shape: each action's indices are in range, the ones its op needs are
 *    set and the others PLAN_NONE, a pair's UID and key match the messages
 *    named; no message or pair is in two actions; the tallies are right;
 *    flag actions are consistent; no move ops;
 *  - no loss: a message leaves a side, and a pair is dropped, only by an
 *    action that the input justifies (DELETE_REMOTE: the pair's file is
 *    gone; DELETE_LOCAL and KEEP_LOCAL: its UID is gone; FORGET: both;
 *    RESTORE_*: the missing side is rebuilt); a local-only key is never
 *    uploaded; pull never writes the server, push never writes files;
 *    remote_deletions keep never deletes a file; under direction both,
 *    conflicts keep never deletes a copy modified since the base;
 *  - applied to a model of the folder, no message is lost unless the input
 *    deleted it, direction both converges (same messages and flags on both
 *    sides, all paired), and planning again gives an empty plan.
 * With several files under one key the simulation is skipped, as in
 * tests/unit/test_plan.c: which file an action means is up to the engine.
 * The model is written here again, independently of that test. */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>

#include "util/msgflags.h"
#include "sync/plan.h"

#define MAXM 48
#define CAP (3 * MAXM) /* an action adds at most one entry to a side */
#define KEYLEN 16
#define NONE PLAN_NONE

struct m_remote {
	uint32_t uid;
	unsigned flags;
	unsigned content; /* which message this is, followed across sides */
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
	struct m_remote r[CAP];
	struct m_local l[CAP];
	struct m_base b[CAP];
	size_t nr, nl, nb;
	uint32_t next_uid;
	unsigned next_key;
	enum conflict_policy conflicts;
	enum sync_direction direction;
	enum remote_deletions rdel;
};

/* The plan_input view of a model; keys are borrowed from it. */
struct view {
	struct plan_remote r[CAP];
	struct plan_local l[CAP];
	struct plan_base b[CAP];
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

/* ---- Reading the input ---- */

enum {
	IN_REMOTE = 1u << 0,
	IN_LOCAL = 1u << 1,
	IN_BASE = 1u << 2,
	IN_LOCAL_ONLY = 1u << 3,
	IN_DUP_KEY = 1u << 4,	 /* the file has the key of an earlier message */
	IN_LOCAL_SAME = 1u << 5, /* local flags = base flags (one side changed) */
	IN_REMOTE_SAME = 1u << 6,
};

static bool model_has_base_key(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->nb; i++)
		if (strcmp(m->b[i].key, key) == 0)
			return true;
	return false;
}

static void add_message(struct model *m, unsigned i, const uint8_t *d)
{
	unsigned bits = d[0], bf = d[3] & MF_ALL;
	unsigned rf = bits & IN_REMOTE_SAME ? bf : d[1] & MF_ALL;
	unsigned lf = bits & IN_LOCAL_SAME ? bf : d[2] & MF_ALL;

	if (bits & IN_REMOTE)
		m->r[m->nr++] = (struct m_remote){i + 1, rf, i};
	if (bits & IN_BASE) {
		struct m_base *b = &m->b[m->nb++];

		b->uid = i + 1;
		snprintf(b->key, KEYLEN, "k%u", i);
		b->flags = bf;
	}
	if (bits & IN_LOCAL) {
		struct m_local *l = &m->l[m->nl++];
		unsigned k = bits & IN_DUP_KEY && i > 0 ? d[1] % i : i;

		snprintf(l->key, KEYLEN, "k%u", k);
		l->flags = lf;
		/* A file whose key is in the base holds that pair's message;
		 * any other file is a message of its own. */
		l->content = model_has_base_key(m, l->key) ? k : MAXM + i;
		l->local_only = bits & IN_LOCAL_ONLY;
	}
}

static void read_model(const uint8_t *data, size_t size, struct model *m)
{
	unsigned cfg = data[0];

	memset(m, 0, sizeof(*m));
	m->direction = (enum sync_direction)(cfg % 3);
	m->conflicts = (enum conflict_policy)(cfg / 3 % 2);
	m->rdel = (enum remote_deletions)(cfg / 6 % 2);
	for (unsigned i = 0; i < MAXM && 1 + 4 * (size_t)i + 4 <= size; i++)
		add_message(m, i, data + 1 + 4 * i);
	m->next_uid = MAXM + 1;
}

static bool has_dup_keys(const struct model *m)
{
	for (size_t i = 0; i < m->nl; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->l[i].key, m->l[j].key) == 0)
				return true;
	return false;
}

/* ---- Look-ups in a plan_input ---- */

static bool input_has_uid(const struct plan_input *in, uint32_t uid)
{
	for (size_t i = 0; i < in->n_remote; i++)
		if (in->remote[i].uid == uid)
			return true;
	return false;
}

static bool input_has_key(const struct plan_input *in, const char *key)
{
	for (size_t i = 0; i < in->n_local; i++)
		if (strcmp(in->local[i].key, key) == 0)
			return true;
	return false;
}

static bool base_has_uid(const struct plan_input *in, uint32_t uid)
{
	for (size_t i = 0; i < in->n_base; i++)
		if (in->base[i].uid == uid)
			return true;
	return false;
}

static bool base_has_key(const struct plan_input *in, const char *key)
{
	for (size_t i = 0; i < in->n_base; i++)
		if (strcmp(in->base[i].key, key) == 0)
			return true;
	return false;
}

/* Whether local[l] is the first file of its key in input order. */
static bool first_of_key(const struct plan_input *in, size_t l)
{
	for (size_t i = 0; i < l; i++)
		if (strcmp(in->local[i].key, in->local[l].key) == 0)
			return false;
	return true;
}

/* ---- Printing, for a failed property ---- */

static void dump(const struct plan_input *in, const struct plan *p)
{
	fprintf(stderr, "direction %d, conflicts %d, remote_deletions %d\n", in->direction,
		in->conflicts, in->remote_deletions);
	for (size_t i = 0; i < in->n_remote; i++)
		fprintf(stderr, "  remote[%zu] uid %u flags %#x\n", i, in->remote[i].uid,
			in->remote[i].flags);
	for (size_t i = 0; i < in->n_local; i++)
		fprintf(stderr, "  local[%zu] %s flags %#x%s\n", i, in->local[i].key,
			in->local[i].flags, in->local[i].local_only ? " local-only" : "");
	for (size_t i = 0; i < in->n_base; i++)
		fprintf(stderr, "  base[%zu] uid %u %s flags %#x\n", i, in->base[i].uid,
			in->base[i].key, in->base[i].flags);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->actions[i];

		fprintf(stderr, "  %s r=%zd l=%zd b=%zd flags %#x local %#x +%#x -%#x%s\n",
			plan_op_name(a->op), (ssize_t)a->remote, (ssize_t)a->local,
			(ssize_t)a->base, a->flags, a->local_flags, a->push_add, a->push_remove,
			a->pull ? " pull" : "");
	}
}

#define PLAN_CHECK(cond, in, p, ...)                                                               \
	do {                                                                                       \
		if (!(cond))                                                                       \
			dump(in, p);                                                               \
		FUZZ_CHECK(cond, __VA_ARGS__);                                                     \
	} while (0)

/* ---- Properties of one plan ---- */

/* Which of remote, local and base each op names (1) or must not (0). */
static const struct {
	bool r, l, b;
} op_shape[] = {
    [PLAN_DOWNLOAD] = {1, 0, 0},       [PLAN_UPLOAD] = {0, 1, 0},
    [PLAN_FLAGS] = {1, 1, 1},	       [PLAN_DELETE_LOCAL] = {0, 1, 1},
    [PLAN_DELETE_REMOTE] = {1, 0, 1},  [PLAN_FORGET] = {0, 0, 1},
    [PLAN_KEEP_LOCAL] = {0, 1, 1},     [PLAN_RESTORE_LOCAL] = {1, 0, 1},
    [PLAN_RESTORE_REMOTE] = {0, 1, 1},
};

static bool index_ok(size_t i, size_t n, bool wanted)
{
	return wanted ? i < n : i == NONE;
}

static bool writes_server(const struct plan_action *a)
{
	return a->op == PLAN_UPLOAD || a->op == PLAN_DELETE_REMOTE ||
	       a->op == PLAN_RESTORE_REMOTE ||
	       (a->op == PLAN_FLAGS && (a->push_add || a->push_remove));
}

static bool writes_files(const struct plan_action *a)
{
	return a->op == PLAN_DOWNLOAD || a->op == PLAN_DELETE_LOCAL ||
	       a->op == PLAN_RESTORE_LOCAL || (a->op == PLAN_FLAGS && a->pull);
}

static void check_shape(const struct plan_input *in, const struct plan *p,
			const struct plan_action *a)
{
	PLAN_CHECK(a->op <= PLAN_RESTORE_REMOTE, in, p, "op %d", a->op);
	PLAN_CHECK(index_ok(a->remote, in->n_remote, op_shape[a->op].r) &&
		       index_ok(a->local, in->n_local, op_shape[a->op].l) &&
		       index_ok(a->base, in->n_base, op_shape[a->op].b),
		   in, p, "%s: bad indices", plan_op_name(a->op));
	if (a->remote != NONE && a->base != NONE)
		PLAN_CHECK(in->remote[a->remote].uid == in->base[a->base].uid, in, p,
			   "%s: UID is not the pair's", plan_op_name(a->op));
	if (a->local != NONE && a->base != NONE)
		PLAN_CHECK(strcmp(in->local[a->local].key, in->base[a->base].key) == 0, in, p,
			   "%s: key is not the pair's", plan_op_name(a->op));
}

/* The configuration's promises: remote_deletions keep never deletes a
 * file; under direction both, conflicts keep never deletes a copy the
 * other side modified since the base (a delete/modify conflict restores
 * it instead; pull and push cannot restore onto the side they never
 * write). */
static void check_policy(const struct plan_input *in, const struct plan *p,
			 const struct plan_action *a)
{
	const struct plan_base *b = a->base != NONE ? &in->base[a->base] : NULL;
	bool keep = in->conflicts == CONFLICT_KEEP && in->direction == DIRECTION_BOTH;

	if (a->op == PLAN_DELETE_LOCAL) {
		PLAN_CHECK(in->remote_deletions != REMOTE_DELETIONS_KEEP, in, p,
			   "remote_deletions keep, but a file is deleted");
		PLAN_CHECK(!keep || in->local[a->local].flags == b->flags, in, p,
			   "conflicts keep, but a modified file is deleted");
	}
	if (a->op == PLAN_DELETE_REMOTE)
		PLAN_CHECK(!keep || in->remote[a->remote].flags == b->flags, in, p,
			   "conflicts keep, but a modified message is expunged");
}

/* Every action is justified by the input: what it removes is proven deleted
 * on the other side, what it adds is proven missing. */
static void check_justified(const struct plan_input *in, const struct plan *p,
			    const struct plan_action *a)
{
	const struct plan_base *b = a->base != NONE ? &in->base[a->base] : NULL;
	bool uid_gone = b && !input_has_uid(in, b->uid);
	bool key_gone = b && !input_has_key(in, b->key);
	bool ok = true;

	switch (a->op) {
	case PLAN_DOWNLOAD:
		ok = !base_has_uid(in, in->remote[a->remote].uid);
		break;
	case PLAN_UPLOAD:
		ok = !base_has_key(in, in->local[a->local].key) &&
		     !in->local[a->local].local_only && first_of_key(in, a->local);
		break;
	case PLAN_FLAGS:
		break;
	case PLAN_DELETE_LOCAL:
	case PLAN_KEEP_LOCAL:
	case PLAN_RESTORE_REMOTE:
		ok = uid_gone && !key_gone;
		break;
	case PLAN_DELETE_REMOTE:
	case PLAN_RESTORE_LOCAL:
		ok = key_gone && !uid_gone;
		break;
	case PLAN_FORGET:
		ok = uid_gone && key_gone;
		break;
	default:
		ok = false; /* moves are made by the engine, never planned */
	}
	PLAN_CHECK(ok, in, p, "%s is not justified by the input", plan_op_name(a->op));
	check_policy(in, p, a);
	PLAN_CHECK(!(in->direction == DIRECTION_PULL && writes_server(a)), in, p,
		   "pull, but %s writes the server", plan_op_name(a->op));
	PLAN_CHECK(!(in->direction == DIRECTION_PUSH && writes_files(a)), in, p,
		   "push, but %s writes files", plan_op_name(a->op));
}

/* Per flag, the value of the side that changed it since base wins (both
 * sides changing one flag changed it the same way), else base's. Written
 * bit by bit on purpose, apart from plan.c's mask arithmetic. */
static unsigned side_wins(unsigned base, unsigned a, unsigned b)
{
	unsigned out = 0;

	for (unsigned bit = 1; bit & MF_ALL; bit <<= 1) {
		unsigned v = base & bit;

		if ((a & bit) != v)
			v = a & bit;
		else if ((b & bit) != v)
			v = b & bit;
		out |= v;
	}
	return out;
}

static void check_flags_action(const struct plan_input *in, const struct plan *p,
			       const struct plan_action *a)
{
	unsigned rf = in->remote[a->remote].flags, lf = in->local[a->local].flags;
	unsigned bf = in->base[a->base].flags;
	unsigned new_r = (rf | a->push_add) & ~a->push_remove;
	unsigned new_l = a->pull ? a->local_flags : lf;

	PLAN_CHECK(!(a->push_add & a->push_remove) && !(a->push_add & rf) &&
		       (a->push_remove & ~rf) == 0,
		   in, p, "inconsistent push");
	PLAN_CHECK(a->pull == (a->local_flags != lf), in, p, "pull but no change, or the reverse");
	PLAN_CHECK(((a->flags | a->local_flags | a->push_add | a->push_remove) & ~MF_ALL) == 0, in,
		   p, "unknown flag bits");
	PLAN_CHECK(new_r != rf || new_l != lf || a->flags != bf, in, p,
		   "a flag action that does nothing");
	if (in->direction == DIRECTION_BOTH) {
		PLAN_CHECK(new_r == a->flags && new_l == a->flags, in, p,
			   "both sides do not end with the new base");
		PLAN_CHECK(a->flags == side_wins(bf, rf, lf), in, p,
			   "a flag does not follow the side that changed it");
	} else if (in->direction == DIRECTION_PULL) {
		PLAN_CHECK(a->flags == rf && new_r == rf, in, p, "pull: the server's flags change");
		PLAN_CHECK(new_l == side_wins(bf, rf, lf), in, p,
			   "pull: the file does not take exactly the server's changes");
	} else {
		PLAN_CHECK(a->flags == lf && new_l == lf, in, p, "push: the files' flags change");
		PLAN_CHECK(new_r == side_wins(bf, lf, rf), in, p,
			   "push: the server does not take exactly the files' changes");
	}
}

static void mark_once(bool *used, size_t i, const struct plan_input *in, const struct plan *p,
		      const char *what)
{
	if (i == NONE)
		return;
	PLAN_CHECK(!used[i], in, p, "%s[%zu] is in two actions", what, i);
	used[i] = true;
}

static void check_plan(const struct plan_input *in, const struct plan *p)
{
	bool r_used[CAP] = {false}, l_used[CAP] = {false}, b_used[CAP] = {false};
	size_t n_del_l = 0, n_del_r = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->actions[i];

		check_shape(in, p, a);
		check_justified(in, p, a);
		if (a->op == PLAN_FLAGS)
			check_flags_action(in, p, a);
		mark_once(r_used, a->remote, in, p, "remote");
		mark_once(l_used, a->local, in, p, "local");
		mark_once(b_used, a->base, in, p, "base");
		n_del_l += a->op == PLAN_DELETE_LOCAL;
		n_del_r += a->op == PLAN_DELETE_REMOTE;
	}
	PLAN_CHECK(n_del_l == p->n_delete_local && n_del_r == p->n_delete_remote, in, p, "tallies");
}

/* ---- The simulation ---- */

static void sim_download(struct model *w, size_t r)
{
	struct m_local *l = &w->l[w->nl++];
	struct m_base *b = &w->b[w->nb++];

	snprintf(l->key, KEYLEN, "d%u", w->next_key++);
	l->flags = w->r[r].flags;
	l->content = w->r[r].content;
	l->local_only = false;
	*b = (struct m_base){.uid = w->r[r].uid, .flags = w->r[r].flags};
	memcpy(b->key, l->key, KEYLEN);
}

static void sim_upload(struct model *w, size_t l)
{
	struct m_base *b = &w->b[w->nb++];

	w->r[w->nr++] = (struct m_remote){w->next_uid, w->l[l].flags, w->l[l].content};
	*b = (struct m_base){.uid = w->next_uid++, .flags = w->l[l].flags};
	memcpy(b->key, w->l[l].key, KEYLEN);
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
	default:
		break;
	}
}

/* Applies p (planned over m) into out. Actions name m's indices: additions
 * are appended and removals dropped at the end, so the indices hold. */
static void sim_apply(const struct model *m, const struct plan *p, struct model *out)
{
	bool rgone[CAP] = {false}, lgone[CAP] = {false}, bgone[CAP] = {false};
	struct model *w = malloc(sizeof(*w));

	if (!w)
		abort();
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

/* ---- Properties of the outcome ---- */

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

/* A message survives on some side unless its pair shows it deleted. */
static void check_survivors(const struct plan_input *in, const struct plan *p,
			    const struct model *m, const struct model *after)
{
	for (size_t i = 0; i < m->nr; i++) {
		bool deleted = false;

		for (size_t b = 0; b < m->nb; b++)
			if (m->b[b].uid == m->r[i].uid && !input_has_key(in, m->b[b].key))
				deleted = true;
		PLAN_CHECK(deleted || has_content(after, m->r[i].content), in, p, "UID %u is lost",
			   m->r[i].uid);
	}
	for (size_t i = 0; i < m->nl; i++) {
		bool deleted = false;

		for (size_t b = 0; b < m->nb; b++)
			if (strcmp(m->b[b].key, m->l[i].key) == 0 &&
			    !input_has_uid(in, m->b[b].uid))
				deleted = true;
		PLAN_CHECK(deleted || has_content(after, m->l[i].content), in, p, "file %s is lost",
			   m->l[i].key);
	}
}

static const struct m_remote *find_uid(const struct model *m, uint32_t uid)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->r[i].uid == uid)
			return &m->r[i];
	return NULL;
}

static const struct m_local *find_key(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->nl; i++)
		if (strcmp(m->l[i].key, key) == 0)
			return &m->l[i];
	return NULL;
}

static bool model_base_has(const struct model *m, const uint32_t *uid, const char *key)
{
	for (size_t i = 0; i < m->nb; i++)
		if (uid ? m->b[i].uid == *uid : strcmp(m->b[i].key, key) == 0)
			return true;
	return false;
}

/* Direction both: every pair joins a message and a file holding the same
 * message with the same flags, and nothing is left unpaired but files
 * kept after a remote deletion. */
static void check_converged(const struct plan_input *in, const struct plan *p,
			    const struct model *a)
{
	for (size_t i = 0; i < a->nb; i++) {
		const struct m_remote *r = find_uid(a, a->b[i].uid);
		const struct m_local *l = find_key(a, a->b[i].key);

		PLAN_CHECK(r && l, in, p, "after the sync, pair %zu lacks a side", i);
		PLAN_CHECK(r->content == l->content, in, p, "pair %zu joins two messages", i);
		PLAN_CHECK(r->flags == a->b[i].flags && l->flags == a->b[i].flags, in, p,
			   "pair %zu: flags differ", i);
	}
	for (size_t i = 0; i < a->nr; i++)
		PLAN_CHECK(model_base_has(a, &a->r[i].uid, NULL), in, p,
			   "after the sync, UID %u has no pair", a->r[i].uid);
	for (size_t i = 0; i < a->nl; i++)
		PLAN_CHECK(a->l[i].local_only || model_base_has(a, NULL, a->l[i].key), in, p,
			   "after the sync, file %s has no pair", a->l[i].key);
}

/* Pull leaves the server as it was, push the files (keys and flags). */
static void check_untouched(const struct plan_input *in, const struct plan *p,
			    const struct model *m, const struct model *a)
{
	if (m->direction == DIRECTION_PULL) {
		bool same = m->nr == a->nr;

		for (size_t i = 0; same && i < m->nr; i++)
			same = m->r[i].uid == a->r[i].uid && m->r[i].flags == a->r[i].flags;
		PLAN_CHECK(same, in, p, "pull changed the server");
	}
	if (m->direction == DIRECTION_PUSH) {
		bool same = m->nl == a->nl;

		for (size_t i = 0; same && i < m->nl; i++)
			same =
			    strcmp(m->l[i].key, a->l[i].key) == 0 && m->l[i].flags == a->l[i].flags;
		PLAN_CHECK(same, in, p, "push changed the files");
	}
}

static void check_outcome(const struct model *m, const struct plan_input *in, const struct plan *p)
{
	struct model *after = malloc(sizeof(*after));
	struct view *v2 = malloc(sizeof(*v2));
	struct plan p2;

	if (!after || !v2)
		abort();
	sim_apply(m, p, after);
	check_survivors(in, p, m, after);
	check_untouched(in, p, m, after);
	if (m->direction == DIRECTION_BOTH)
		check_converged(in, p, after);
	make_view(after, v2);
	plan_build(&v2->in, &p2);
	check_plan(&v2->in, &p2);
	if (p2.n != 0)
		dump(in, p);
	PLAN_CHECK(p2.n == 0, &v2->in, &p2, "the second plan is not empty");
	plan_free(&p2);
	free(after);
	free(v2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m;
	struct view *v;
	struct plan p;

	if (size == 0)
		return 0;
	m = malloc(sizeof(*m));
	v = malloc(sizeof(*v));
	if (!m || !v)
		abort();
	read_model(data, size, m);
	make_view(m, v);
	plan_build(&v->in, &p);
	check_plan(&v->in, &p);
	if (!has_dup_keys(m))
		check_outcome(m, &v->in, &p);
	plan_free(&p);
	free(m);
	free(v);
	return 0;
}
