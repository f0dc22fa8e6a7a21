/* The server changed a folder's UIDVALIDITY: every UID in the state is
 * meaningless. No pair is trusted; pairs are rebuilt by matching the server's
 * messages against the old pairs whose files are still here (X-GM-MSGID on
 * Gmail, else Message-ID + size, then for what is left adoption's match of
 * the normalised header and body size: a server that rewrote a message on
 * upload, Courier's bare CR, or lost its date). During that pass nothing is deleted and
 * nothing re-uploaded (DESIGN.md §4):
 *   - a matched message gets a pair with its new UID and the old base flags,
 *     so the ordinary merge then carries any flag change either way;
 *   - an old local file that matches nothing is kept and marked local-only
 *     (never uploaded: it may well be on the server under a form we could not
 *     recognise, and a second copy there is worse than a kept local one);
 *   - a server message that matches nothing is downloaded as new. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sync/engine_p.h"
#include "imap/message.h"
#include "util/xalloc.h"

struct rb_ctx {
	struct folder_job *job;
	char **ids; /* owned: Message-ID per remote index, or NULL */
};

struct old_ref {
	size_t pair; /* index into job->pairs */
	bool local;  /* its file is still here */
	bool taken;
	time_t mtime; /* of its file, for pairs without a Message-ID */
};

static void on_id(uint32_t uid, const char *message_id, void *ctx)
{
	struct rb_ctx *c = ctx;
	size_t i = job_remote_index(c->job, uid);

	if (i != PLAN_NONE && !c->ids[i] && message_id)
		c->ids[i] = xstrdup(message_id);
}

static const struct maildir_entry *local_find(const struct folder_job *job, const char *key)
{
	size_t i = job_local_index(job, key);

	return i == PLAN_NONE ? NULL : &job->local[i];
}

static bool local_has(const struct folder_job *job, const char *key)
{
	return local_find(job, key) != NULL;
}

/* The file's mtime, which is the message's INTERNALDATE for every file we
 * wrote or sent: with the size, it identifies a message without Message-ID. */
static time_t local_mtime(const struct folder_job *job, const char *key)
{
	const struct maildir_entry *e = local_find(job, key);
	struct stat st;
	char *path;
	time_t t = 0;

	if (!e)
		return 0;
	path = xasprintf("%s/%s/%s", job->local_abs, e->in_new ? "new" : "cur", e->filename);
	if (stat(path, &st) == 0)
		t = st.st_mtime;
	free(path);
	return t;
}

static struct old_ref *match_without_id(struct rb_ctx *c, struct old_ref *refs, size_t r)
{
	const struct remote_msg *m = &c->job->remote[r];

	for (size_t i = 0; i < c->job->n_pairs; i++) {
		const struct state_pair *p = &c->job->pairs[refs[i].pair];

		if (!refs[i].taken && refs[i].local && !p->message_id && !p->gm_msgid &&
		    p->size == m->size && refs[i].mtime && refs[i].mtime == m->internaldate)
			return &refs[i];
	}
	return NULL;
}

/* Old pairs are sorted by identity (X-GM-MSGID, else Message-ID) so that
 * matching a whole folder costs O(n log n). */
static _Thread_local const struct state_pair *sort_pairs;

/* Orders by X-GM-MSGID, then Message-ID (absent first). A search with a
 * non-zero gm compares the X-GM-MSGID alone. */
static int cmp_msgid(const char *a, const char *b)
{
	if (!a || !b)
		return a ? 1 : (b ? -1 : 0);
	return strcmp(a, b);
}

static int cmp_ident(const struct state_pair *a, uint64_t gm, const char *id)
{
	if (a->gm_msgid != gm)
		return a->gm_msgid < gm ? -1 : 1;
	return gm ? 0 : cmp_msgid(a->message_id, id);
}

static int cmp_ref(const void *x, const void *y)
{
	const struct state_pair *a = &sort_pairs[((const struct old_ref *)x)->pair];
	const struct state_pair *b = &sort_pairs[((const struct old_ref *)y)->pair];

	if (a->gm_msgid != b->gm_msgid)
		return a->gm_msgid < b->gm_msgid ? -1 : 1;
	return cmp_msgid(a->message_id, b->message_id);
}

/* The old pair that is this server message, if any: each is taken once.
 * On Gmail the X-GM-MSGID decides; elsewhere Message-ID and size. */
static struct old_ref *match(struct rb_ctx *c, struct old_ref *refs, size_t r)
{
	const struct folder_job *job = c->job;
	const struct remote_msg *m = &job->remote[r];
	bool gm = m->gm_msgid != 0;
	size_t lo = 0, hi = job->n_pairs;

	if (!gm && !c->ids[r])
		return NULL;
	while (lo < hi) { /* the first ref not below the identity */
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_ident(&job->pairs[refs[mid].pair], gm ? m->gm_msgid : 0,
			      gm ? NULL : c->ids[r]) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < job->n_pairs; lo++) {
		const struct state_pair *p = &job->pairs[refs[lo].pair];

		if (cmp_ident(p, gm ? m->gm_msgid : 0, gm ? NULL : c->ids[r]) != 0)
			break;
		if (!refs[lo].taken && refs[lo].local && (gm || p->size == m->size))
			return &refs[lo];
	}
	return NULL;
}

/* Intents name old UIDs and mean nothing now. A file an interrupted
 * download or upload left is kept like an unmatched one: local-only. */
static int drop_intents(struct folder_job *job, size_t *n_kept_r, struct error *err)
{
	struct state *st = job->env->st;
	struct state_intent *ins = NULL;
	size_t n = 0;
	int ret = -1;

	if (state_intents_load(st, job->sf.id, &ins, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (ins[i].key && local_has(job, ins[i].key)) {
			if (state_local_only_add(st, job->sf.id, ins[i].key, err) < 0)
				goto out;
			(*n_kept_r)++;
		}
		if (state_intent_done(st, ins[i].id, err) < 0)
			goto out;
	}
	ret = 0;
out:
	state_intents_free(ins, n);
	return ret;
}

/* The matches of one rebuild: the old ref of each server message, and
 * which were found by adoption's match (their size is the server's). */
struct rb_match {
	struct old_ref **of_remote; /* per remote index, or NULL */
	bool *adopted;		    /* per remote index */
	struct old_ref **of_local;  /* per local index: the old ref whose file it is */
};

static void on_adopted(size_t r, size_t l, void *ctx)
{
	struct rb_match *m = ctx;

	m->of_remote[r] = m->of_local[l];
	m->of_remote[r]->taken = true;
	m->adopted[r] = true;
}

/* Old files still unmatched against server messages still unmatched, by
 * adoption's normalised identity (not on Gmail: X-GM-MSGID decides). */
static int match_rest(struct rb_ctx *c, struct old_ref *refs, struct rb_match *m, struct error *err)
{
	struct folder_job *job = c->job;
	bool *r_taken = xcalloc(job->n_remote ? job->n_remote : 1, sizeof(bool));
	bool *l_taken = xcalloc(job->n_local ? job->n_local : 1, sizeof(bool));
	size_t left_r = 0, left_l = 0;
	int ret = 0;

	for (size_t r = 0; r < job->n_remote; r++)
		left_r += !(r_taken[r] = m->of_remote[r] != NULL);
	for (size_t l = 0; l < job->n_local; l++)
		l_taken[l] = true;
	for (size_t i = 0; i < job->n_pairs; i++) {
		size_t l;

		if (refs[i].taken || !refs[i].local)
			continue;
		l = job_local_index(job, job->pairs[refs[i].pair].key);
		if (l == PLAN_NONE)
			continue;
		l_taken[l] = false;
		m->of_local[l] = &refs[i];
		left_l++;
	}
	if (left_r > 0 && left_l > 0 && !(imap_caps(job->env->imap) & IMAP_CAP_XGM))
		ret = adopt_match_rest(job, r_taken, l_taken, on_adopted, m, err);
	free(r_taken);
	free(l_taken);
	return ret;
}

static int store_pairs(struct rb_ctx *c, struct old_ref *refs, size_t *n_matched_r,
		       size_t *n_kept_r, struct error *err)
{
	struct folder_job *job = c->job;
	struct state *st = job->env->st;
	size_t n_r = job->n_remote ? job->n_remote : 1;
	struct rb_match m = {xcalloc(n_r, sizeof(*m.of_remote)), xcalloc(n_r, sizeof(bool)),
			     xcalloc(job->n_local ? job->n_local : 1, sizeof(*m.of_local))};
	int ret = -1;

	for (size_t r = 0; r < job->n_remote; r++) {
		struct old_ref *o = match(c, refs, r);

		if (!o && !job->remote[r].gm_msgid && !c->ids[r])
			o = match_without_id(c, refs, r);
		if (o)
			o->taken = true;
		m.of_remote[r] = o;
	}
	if (match_rest(c, refs, &m, err) < 0)
		goto out;
	for (size_t r = 0; r < job->n_remote; r++) {
		struct state_pair p;

		if (!m.of_remote[r])
			continue;
		p = job->pairs[m.of_remote[r]->pair];
		p.uid = job->remote[r].uid;
		if (m.adopted[r])
			p.size = job->remote[r].size;
		if (state_pair_put(st, job->sf.id, &p, err) < 0)
			goto out;
		(*n_matched_r)++;
	}
	for (size_t i = 0; i < job->n_pairs; i++) {
		if (refs[i].taken || !refs[i].local)
			continue;
		if (state_local_only_add(st, job->sf.id, job->pairs[refs[i].pair].key, err) < 0)
			goto out;
		(*n_kept_r)++;
	}
	ret = 0;
out:
	free(m.of_remote);
	free(m.adopted);
	free(m.of_local);
	return ret;
}

/* Replaces every pair of the folder in one transaction, with the new
 * UIDVALIDITY, so that a crash leaves either the old state (and the rebuild
 * runs again) or the new one. */
static int replace_pairs(struct rb_ctx *c, struct error *err)
{
	struct folder_job *job = c->job;
	struct state *st = job->env->st;
	struct old_ref *refs = xcalloc(job->n_pairs ? job->n_pairs : 1, sizeof(*refs));
	size_t matched = 0, kept = 0;
	uint32_t old = job->sf.uidvalidity;
	int ret = -1;

	for (size_t i = 0; i < job->n_pairs; i++) {
		const struct state_pair *p = &job->pairs[i];

		refs[i] = (struct old_ref){i, local_has(job, p->key), false, 0};
		if (!p->message_id && !p->gm_msgid && refs[i].local)
			refs[i].mtime = local_mtime(job, p->key);
	}
	sort_pairs = job->pairs;
	xqsort(refs, job->n_pairs, sizeof(*refs), cmp_ref);
	if (state_begin(st, err) < 0)
		goto out;
	job->sf.uidvalidity = job->info.uidvalidity;
	if (state_pairs_clear(st, job->sf.id, err) < 0 ||
	    store_pairs(c, refs, &matched, &kept, err) < 0 || drop_intents(job, &kept, err) < 0 ||
	    state_folder_put(st, &job->sf, err) < 0) {
		state_rollback(st);
		job->sf.uidvalidity = old;
		goto out;
	}
	ret = state_commit(st, err);
	env_notice(job->env,
		   "%s: the server changed UIDVALIDITY (%u -> %u): %zu messages matched, "
		   "%zu kept locally without a server copy we could recognise (not uploaded)",
		   job->display, old, job->info.uidvalidity, matched, kept);
out:
	free(refs);
	return ret;
}

int rebuild_pairs(struct folder_job *job, struct error *err)
{
	struct rb_ctx c = {job, xcalloc(job->n_remote ? job->n_remote : 1, sizeof(char *))};
	int ret = -1;

	state_pairs_free(job->pairs, job->n_pairs);
	job->pairs = NULL;
	job->n_pairs = 0;
	if (state_pairs_load(job->env->st, job->sf.id, &job->pairs, &job->n_pairs, err) < 0)
		goto out;
	if (job->n_remote > 0 && !(imap_caps(job->env->imap) & IMAP_CAP_XGM) &&
	    imap_fetch_message_ids(job->env->imap, on_id, &c, err) < 0)
		goto out;
	ret = replace_pairs(&c, err);
out:
	for (size_t i = 0; i < job->n_remote; i++)
		free(c.ids[i]);
	free(c.ids);
	state_pairs_free(job->pairs, job->n_pairs);
	job->pairs = NULL;
	job->n_pairs = 0;
	return ret;
}
