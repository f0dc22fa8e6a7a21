/* First contact: a folder with no pairs yet whose Maildir already holds
 * mail (a move from mbsync, OfflineIMAP or lieer, a lost state directory).
 * Without this every local file would be uploaded and every server message
 * downloaded: two copies of everything on both sides.
 *
 * A local file and a server message are the same message when their
 * normalised headers (message_normalise: the fields tools add, such as
 * mbsync's X-TUID, left out) have the same SHA-256 and their bodies the
 * same size with CRLF line ends. The server's side costs one Message-ID
 * fetch of the folder and BODY[HEADER] of the candidates only (a
 * Message-ID some local file has, or none when some local file has none),
 * never a body. On Gmail a file that lieer named by the message's Gmail id
 * is paired by X-GM-MSGID directly. Equal identities are paired in date
 * order, each side taken once, so two different messages sharing a
 * Message-ID and a size are never paired crosswise: their headers differ.
 *
 * The base of a matched pair is what the tool that wrote the Maildir last
 * agreed with the server, where its state can be read (mbsync's,
 * OfflineIMAP's: store/peer_state.h, its UIDVALIDITY checked) and names
 * this very file and UID: a flag set or cleared on either side since that
 * tool's last sync then merges as any change does. The peer's state also
 * tells deletions made since: a file whose UID it synced is gone from the
 * server (the server expunged it), or a UID it synced has no file any more
 * and no other file matches it (the user deleted it here); each becomes a
 * pair, so that the merge propagates the deletion instead of copying the
 * message back. Without a peer state the base is the flags both sides
 * share, so that a flag set on either side is kept.
 *
 * The first-contact guard: when the rest, what would go up or down as new,
 * is more than a small share of the Maildir, the tool that wrote it was
 * probably not recognised, and going on would duplicate it. The folder then
 * stops before anything is stored or changed (ERR_SAFETY, exit 3) until
 * --allow-unmatched. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/peer_state.h"
#include "sync/engine_p.h"
#include "imap/folders.h"
#include "imap/message.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* More new messages than this and than this share of the Maildir stop a
 * first contact. */
#define GUARD_MIN 10
#define GUARD_SHARE 0.05

/* What identifies one message of either side. */
struct ident {
	unsigned char digest[32]; /* SHA-256 of the normalised header */
	uint64_t body;		  /* body size with CRLF line ends */
	time_t when;		  /* local: mtime; remote: INTERNALDATE */
	size_t index;		  /* into job->local or job->remote */
};

struct adopt {
	struct folder_job *job;
	char **remote_ids; /* owned: Message-ID per remote index, or NULL */
	char **local_ids;  /* owned: sorted Message-IDs of unmatched files */
	size_t n_local_ids;
	bool local_no_id;   /* some unmatched file has no Message-ID */
	bool *local_taken;  /* owned, per local index */
	bool *remote_taken; /* owned, per remote index */
	struct ident *loc;  /* owned */
	size_t n_loc, cap_loc;
	struct ident *rem; /* owned */
	size_t n_rem, cap_rem;
	struct state_pair *pairs; /* owned: the adopted pairs */
	size_t n_pairs, cap_pairs;
	size_t n_local_taken, n_remote_taken;
	size_t by_gm;
	struct peer_state *peer;  /* owned, or NULL: the other tool's state */
	size_t peer_bases;	  /* matched pairs whose base is the peer's */
	size_t peer_gone_remote;  /* the peer's files the server expunged since */
	size_t peer_gone_local;	  /* the peer's messages deleted here since */
	adopt_match_fn *on_match; /* adopt_match_rest: told, instead of add_pair */
	void *on_match_ctx;
};

static void sha_sink(const char *p, size_t n, void *ctx)
{
	EVP_DigestUpdate(ctx, p, n);
}

/* The identity of a message: digest of its normalised header, and the
 * size its body has with CRLF line ends (as message_normalise returns it;
 * body_size overrides it when not UINT64_MAX). */
static void ident_of(const char *data, size_t len, uint64_t body_size, struct ident *id)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int dlen = 0;
	uint64_t body;

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		abort();
	body = message_normalise(data, len, sha_sink, md);
	if (!EVP_DigestFinal_ex(md, id->digest, &dlen))
		abort();
	EVP_MD_CTX_free(md);
	id->body = body_size != UINT64_MAX ? body_size : body;
}

static int cmp_ident(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;
	int d = memcmp(x->digest, y->digest, sizeof(x->digest));

	if (d)
		return d;
	if (x->body != y->body)
		return x->body < y->body ? -1 : 1;
	return x->when < y->when ? -1 : x->when > y->when;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_peer_uid(const void *a, const void *b)
{
	uint32_t x = ((const struct peer_record *)a)->uid, y = ((const struct peer_record *)b)->uid;

	return x < y ? -1 : x > y;
}

/* The peer's record of this UID, or NULL. */
static const struct peer_record *peer_find(const struct adopt *a, uint32_t uid)
{
	struct peer_record key = {uid, NULL, 0};

	if (!a->peer)
		return NULL;
	return xbsearch(&key, a->peer->recs, a->peer->n, sizeof(key), cmp_peer_uid);
}

static struct state_pair *new_pair(struct adopt *a)
{
	a->pairs = xgrow(a->pairs, &a->cap_pairs, a->n_pairs + 1, sizeof(*a->pairs));
	memset(&a->pairs[a->n_pairs], 0, sizeof(*a->pairs));
	return &a->pairs[a->n_pairs++];
}

/* Pairs server message r with local file l. The base is the peer's flags
 * when the peer synced this UID as this very file, else the flags both
 * sides share. */
static void add_pair(struct adopt *a, size_t r, size_t l)
{
	const struct remote_msg *m = &a->job->remote[r];
	const struct maildir_entry *e = &a->job->local[l];
	const struct peer_record *rec = peer_find(a, m->uid);
	const char *id = a->remote_ids ? a->remote_ids[r] : NULL;
	struct state_pair *p = new_pair(a);

	*p = (struct state_pair){m->uid,
				 xstrdup(e->unique),
				 m->flags & e->flags,
				 m->keywords ? xstrdup(m->keywords) : NULL,
				 m->size,
				 id ? xstrdup(id) : NULL,
				 m->gm_msgid};
	if (rec && rec->unique && strcmp(rec->unique, e->unique) == 0) {
		p->flags = rec->flags;
		a->peer_bases++;
	}
	a->remote_taken[r] = true;
	a->local_taken[l] = true;
	a->n_remote_taken++;
	a->n_local_taken++;
}

struct gm_index {
	uint64_t gm;
	size_t remote;
};

static int cmp_gm(const void *a, const void *b)
{
	uint64_t x = ((const struct gm_index *)a)->gm, y = ((const struct gm_index *)b)->gm;

	return x < y ? -1 : x > y;
}

static void match_by_gm_msgid(struct adopt *a)
{
	struct folder_job *job = a->job;
	struct gm_index *idx = xcalloc(job->n_remote ? job->n_remote : 1, sizeof(*idx));
	size_t n = 0;

	for (size_t r = 0; r < job->n_remote; r++)
		if (job->remote[r].gm_msgid)
			idx[n++] = (struct gm_index){job->remote[r].gm_msgid, r};
	xqsort(idx, n, sizeof(*idx), cmp_gm);
	for (size_t l = 0; l < job->n_local && n > 0; l++) {
		struct gm_index key = {0, 0};
		const struct gm_index *hit;

		if (!peer_state_lieer_gm_msgid(job->local[l].unique, &key.gm) ||
		    !(hit = xbsearch(&key, idx, n, sizeof(*idx), cmp_gm)) ||
		    a->remote_taken[hit->remote])
			continue;
		add_pair(a, hit->remote, l);
		a->by_gm++;
	}
	free(idx);
}

/* Bare CRs (not before an LF) in the body of data (CRLF form). */
static size_t body_bare_crs(const char *data, size_t len)
{
	const char *body = memmem(data, len, "\r\n\r\n", 4);
	size_t n = 0;

	if (!body)
		return 0;
	for (const char *p = body + 4; p < data + len; p++)
		n += *p == '\r' && (p + 1 == data + len || p[1] != '\n');
	return n;
}

/* Servers that rewrite a bare CR of the body as CRLF (Dovecot, Courier)
 * store it one byte longer each: the file gets a second identity with that
 * size, so either form of the server copy is recognised. */
static void add_bare_cr_variant(struct adopt *a, const char *data, size_t len)
{
	size_t crs = body_bare_crs(data, len);

	if (crs == 0)
		return;
	a->loc = xgrow(a->loc, &a->cap_loc, a->n_loc + 1, sizeof(*a->loc));
	a->loc[a->n_loc] = a->loc[a->n_loc - 1];
	a->loc[a->n_loc++].body += crs;
}

/* Every file not yet matched is read once: its identity and Message-ID. A
 * file that cannot be read is simply not matched (it is then new here). */
static void read_local(struct adopt *a)
{
	struct folder_job *job = a->job;

	a->cap_loc = job->n_local ? job->n_local : 1;
	a->loc = xcalloc(a->cap_loc, sizeof(*a->loc));
	a->local_ids = xcalloc(job->n_local ? job->n_local : 1, sizeof(*a->local_ids));
	for (size_t l = 0; l < job->n_local; l++) {
		struct error ignored = {0};
		char *data = NULL, *id;
		size_t len = 0;
		time_t mtime = 0;

		if (a->local_taken[l] ||
		    maildir_read_crlf(job->md, &job->local[l], &data, &len, &mtime, &ignored) < 0)
			continue;
		a->loc = xgrow(a->loc, &a->cap_loc, a->n_loc + 1, sizeof(*a->loc));
		ident_of(data, len, UINT64_MAX, &a->loc[a->n_loc]);
		a->loc[a->n_loc].when = mtime;
		a->loc[a->n_loc++].index = l;
		add_bare_cr_variant(a, data, len);
		id = message_id_get(data, len);
		free(data);
		if (id)
			a->local_ids[a->n_local_ids++] = id;
		else
			a->local_no_id = true;
	}
	xqsort(a->local_ids, a->n_local_ids, sizeof(*a->local_ids), cmp_str);
}

static void on_remote_id(uint32_t uid, const char *message_id, void *ctx)
{
	struct adopt *a = ctx;
	size_t r = job_remote_index(a->job, uid);

	if (r != PLAN_NONE && !a->remote_ids[r] && message_id)
		a->remote_ids[r] = xstrdup(message_id);
}

static void on_remote_header(uint32_t uid, const char *data, size_t len, void *ctx)
{
	struct adopt *a = ctx;
	size_t r = job_remote_index(a->job, uid);
	const struct remote_msg *m;
	struct ident *id;

	if (r == PLAN_NONE)
		return;
	m = &a->job->remote[r];
	a->rem = xgrow(a->rem, &a->cap_rem, a->n_rem + 1, sizeof(*a->rem));
	id = &a->rem[a->n_rem++];
	/* BODY[HEADER] ends with the empty line: the rest of RFC822.SIZE is
	 * the body. A size smaller than the header cannot be: match nothing. */
	ident_of(data, len, m->size >= len ? m->size - len : UINT64_MAX - 1, id);
	id->when = m->internaldate;
	id->index = r;
}

/* The server messages worth a header fetch: their Message-ID is one a
 * local file has, or they have none and some local file has none. */
static int fetch_candidates(struct adopt *a, struct error *err)
{
	struct folder_job *job = a->job;
	uint32_t *uids = xcalloc(job->n_remote ? job->n_remote : 1, sizeof(*uids));
	size_t n = 0;
	int ret;

	for (size_t r = 0; r < job->n_remote; r++) {
		const char *id = a->remote_ids[r];

		if (a->remote_taken[r])
			continue;
		if (id ? xbsearch(&id, a->local_ids, a->n_local_ids, sizeof(char *), cmp_str) !=
			     NULL
		       : a->local_no_id)
			uids[n++] = job->remote[r].uid;
	}
	ret = n ? imap_fetch_headers(job->env->imap, uids, n, on_remote_header, a, err) : 0;
	free(uids);
	return ret;
}

static void take(struct adopt *a, size_t r, size_t l)
{
	if (!a->on_match) {
		add_pair(a, r, l);
		return;
	}
	a->remote_taken[r] = true;
	a->local_taken[l] = true;
	a->on_match(r, l, a->on_match_ctx);
}

/* Walks both sorted identity lists: equal identities pair in date order. */
static void match_by_identity(struct adopt *a)
{
	size_t i = 0, j = 0;

	xqsort(a->loc, a->n_loc, sizeof(*a->loc), cmp_ident);
	xqsort(a->rem, a->n_rem, sizeof(*a->rem), cmp_ident);
	while (i < a->n_loc && j < a->n_rem) {
		int d = memcmp(a->loc[i].digest, a->rem[j].digest, sizeof(a->loc[i].digest));

		if (d == 0 && a->loc[i].body != a->rem[j].body)
			d = a->loc[i].body < a->rem[j].body ? -1 : 1;
		if (d < 0) {
			i++;
		} else if (d > 0) {
			j++;
		} else if (a->remote_taken[a->rem[j].index]) {
			j++;
		} else if (a->local_taken[a->loc[i].index]) {
			/* Its other identity (bare CRs) matched already: the server
			 * message may still be another file's. */
			i++;
		} else {
			take(a, a->rem[j].index, a->loc[i].index);
			i++;
			j++;
		}
	}
}

/* What another tool last agreed for this folder, if it can be trusted
 * (peer_state_read checks the UIDVALIDITY); none is no error. */
static int read_peer(struct adopt *a, struct error *err)
{
	struct folder_job *job = a->job;
	const char *home = fs_home_dir();
	char *server_name = NULL;
	struct peer_folder f;
	int found;

	if (!home || folder_display_name(job->mbx->name, job->mbx->delim, &server_name) < 0)
		return 0;
	f = (struct peer_folder){job->local_abs, job->local_rel, server_name, job->info.uidvalidity,
				 home};
	found = peer_state_read(&f, &a->peer, NULL, 0, err);
	free(server_name);
	return found < 0 ? -1 : 0;
}

/* Deletions made since the peer's last sync, as pairs the merge acts on:
 * a file the peer synced whose UID the server no longer has (expunged
 * there: the file goes), and a UID the peer synced whose file is gone and
 * which no other file matched (deleted here: the server's copy goes). The
 * second gets a fresh key that no file has. */
static void add_peer_deletions(struct adopt *a)
{
	struct folder_job *job = a->job;

	for (size_t i = 0; a->peer && i < a->peer->n; i++) {
		const struct peer_record *rec = &a->peer->recs[i];
		size_t r = job_remote_index(job, rec->uid);
		size_t l = rec->unique ? job_local_index(job, rec->unique) : PLAN_NONE;
		struct state_pair *p;

		if (r == PLAN_NONE && l != PLAN_NONE && !a->local_taken[l]) {
			p = new_pair(a);
			p->uid = rec->uid;
			p->key = xstrdup(rec->unique);
			p->flags = rec->flags;
			a->local_taken[l] = true;
			a->n_local_taken++;
			a->peer_gone_remote++;
		} else if (r != PLAN_NONE && !rec->unique && !a->remote_taken[r]) {
			p = new_pair(a);
			p->uid = rec->uid;
			p->key = maildir_unique_new();
			p->flags = rec->flags;
			p->size = job->remote[r].size;
			p->gm_msgid = job->remote[r].gm_msgid;
			a->remote_taken[r] = true;
			a->n_remote_taken++;
			a->peer_gone_local++;
		}
	}
}

static void adopt_free(struct adopt *a)
{
	for (size_t r = 0; a->remote_ids && r < a->job->n_remote; r++)
		free(a->remote_ids[r]);
	free(a->remote_ids);
	for (size_t i = 0; i < a->n_local_ids; i++)
		free(a->local_ids[i]);
	free(a->local_ids);
	free(a->local_taken);
	free(a->remote_taken);
	free(a->loc);
	free(a->rem);
	state_pairs_free(a->pairs, a->n_pairs);
	peer_state_free(&a->peer);
}

static int adopt_match(struct adopt *a, struct error *err)
{
	struct folder_job *job = a->job;

	a->local_taken = xcalloc(job->n_local ? job->n_local : 1, sizeof(bool));
	a->remote_taken = xcalloc(job->n_remote ? job->n_remote : 1, sizeof(bool));
	a->remote_ids = xcalloc(job->n_remote ? job->n_remote : 1, sizeof(char *));
	if (read_peer(a, err) < 0)
		return -1;
	if (job->env->gmail)
		match_by_gm_msgid(a);
	read_local(a);
	if (a->n_loc > 0 && (imap_fetch_message_ids(job->env->imap, on_remote_id, a, err) < 0 ||
			     fetch_candidates(a, err) < 0))
		return -1;
	match_by_identity(a);
	add_peer_deletions(a);
	return 0;
}

/* What the first sync would send up and bring down as new, by direction. */
static void unmatched(const struct adopt *a, size_t *up_r, size_t *down_r)
{
	enum sync_direction dir = a->job->env->acct->direction;

	*up_r = dir == DIRECTION_PULL ? 0 : a->job->n_local - a->n_local_taken;
	*down_r = dir == DIRECTION_PUSH ? 0 : a->job->n_remote - a->n_remote_taken;
}

/* Pairs of a file and a server message (not the deletions). */
static size_t matched_count(const struct adopt *a)
{
	return a->n_pairs - a->peer_gone_local - a->peer_gone_remote;
}

static int check_guard(const struct adopt *a, size_t up, size_t down, struct error *err)
{
	const struct folder_job *job = a->job;
	size_t new_msgs = up + down;
	char cmd[512];

	if (job->env->opts->allow_unmatched || new_msgs <= GUARD_MIN ||
	    (double)new_msgs <= GUARD_SHARE * (double)job->n_local)
		return 0;
	job_guard_command(job, "--allow-unmatched", cmd, sizeof(cmd));
	error_set(err, ERR_SAFETY, RETRY_NEVER,
		  "first sync over %s, which already holds %zu messages: %zu matched the "
		  "server's, %zu would be uploaded and %zu downloaded as new messages; nothing "
		  "was changed (see what would happen with --dry-run; if these really are "
		  "different messages, run `%s`)",
		  job->local_abs, job->n_local, matched_count(a), up, down, cmd);
	return -1;
}

static int store_pairs(struct adopt *a, struct error *err)
{
	struct state *st = a->job->env->st;

	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < a->n_pairs; i++)
		if (state_pair_put(st, a->job->sf.id, &a->pairs[i], err) < 0)
			goto fail;
	if (state_commit(st, err) == 0)
		return 0;
fail:
	state_rollback(st);
	return -1;
}

static int cmp_pair_uid(const void *a, const void *b)
{
	uint32_t x = ((const struct state_pair *)a)->uid, y = ((const struct state_pair *)b)->uid;

	return x < y ? -1 : x > y;
}

static void notice_result(const struct adopt *a, size_t up, size_t down)
{
	const struct folder_job *job = a->job;
	char peer[256] = "";

	if (a->peer)
		snprintf(peer, sizeof(peer),
			 "; %zu merged against %s's last sync, which also saw %zu deleted on the "
			 "server and %zu deleted here since",
			 a->peer_bases, peer_tool_name(a->peer->tool), a->peer_gone_remote,
			 a->peer_gone_local);
	env_notice(job->env,
		   "%s: %zu messages already here matched the server's (not copied again%s); "
		   "%zu new here, %zu new on the server%s",
		   job->display, matched_count(a), a->by_gm ? ", some by their Gmail id" : "", up,
		   down, peer);
}

int adopt_match_rest(struct folder_job *job, const bool *remote_taken, const bool *local_taken,
		     adopt_match_fn *fn, void *ctx, struct error *err)
{
	struct adopt a = {.job = job, .on_match = fn, .on_match_ctx = ctx};
	size_t n_r = job->n_remote ? job->n_remote : 1, n_l = job->n_local ? job->n_local : 1;
	int ret = -1;

	a.remote_taken = xcalloc(n_r, sizeof(bool));
	a.local_taken = xcalloc(n_l, sizeof(bool));
	a.remote_ids = xcalloc(n_r, sizeof(char *));
	memcpy(a.remote_taken, remote_taken, job->n_remote * sizeof(bool));
	memcpy(a.local_taken, local_taken, job->n_local * sizeof(bool));
	read_local(&a);
	if (a.n_loc > 0 && (imap_fetch_message_ids(job->env->imap, on_remote_id, &a, err) < 0 ||
			    fetch_candidates(&a, err) < 0))
		goto out;
	match_by_identity(&a);
	ret = 0;
out:
	adopt_free(&a);
	return ret;
}

int adopt_existing(struct folder_job *job, struct error *err)
{
	struct adopt a = {.job = job};
	size_t up = 0, down = 0;
	int ret = -1;

	if (adopt_match(&a, err) < 0)
		goto out;
	unmatched(&a, &up, &down);
	if (a.n_pairs || job->env->opts->dry_run)
		notice_result(&a, up, down);
	if (check_guard(&a, up, down, err) < 0)
		goto out;
	if (job->env->opts->dry_run) {
		/* Nothing is stored: the plan is made over these pairs. */
		xqsort(a.pairs, a.n_pairs, sizeof(*a.pairs), cmp_pair_uid);
		state_pairs_free(job->pairs, job->n_pairs);
		job->pairs = a.pairs;
		job->n_pairs = a.n_pairs;
		job->adopted = true;
		a.pairs = NULL;
		a.n_pairs = 0;
		ret = 0;
		goto out;
	}
	ret = store_pairs(&a, err);
out:
	adopt_free(&a);
	return ret;
}
