/* Folder renames move nothing. Between the LIST and the folder jobs:
 *
 *  - Renamed here: a synced folder whose Maildir is gone while the server
 *    still has it, and a new local folder (not on the server, not in the
 *    state) that holds every one of its pairs' files (same keys; a file
 *    added since is simply uploaded later). The server folder is RENAMEd
 *    and the state row follows: the job then sees a folder it knows.
 *  - Renamed on the server: a synced folder the LIST no longer names, and
 *    a new server folder that holds exactly its messages: the same
 *    UIDVALIDITY and, UID by UID, the same sizes; or, when the server gave
 *    the renamed folder a new UIDVALIDITY, the same Message-IDs with the
 *    same sizes (the job's UIDVALIDITY rebuild then re-pairs them without
 *    a download). On Gmail (a label renamed) the X-GM-MSGIDs decide when
 *    the UIDVALIDITY differs. The Maildir is rename(2)d and the state row
 *    follows. A server that makes the old name again at once (Dovecot's
 *    auto-created special-use folders) lists it with a new UIDVALIDITY:
 *    that too is a folder gone, found when some new folder appeared.
 *
 * Children: a server RENAME takes a folder's children along, and in the
 * verbatim layout so does rename(2) of its directory. Parents are handled
 * first; a child whose directory already moved with its parent only has
 * its state row updated. A crash between the rename and the state update
 * leaves the same situation, found again by the next run.
 * Not in a run limited to named folders, nor in the direction that must
 * not change that side. Gmail's own folders ([Gmail]/...) are never
 * renamed: only labels are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "sync/engine_p.h"
#include "imap/folders.h"
#include "imap/roles.h"
#include "util/fs.h"
#include "util/xalloc.h"

static bool local_holds(struct sync_env *env, const struct state_folder *sf, const char *abs);

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool listed(const struct imap_mailbox *mbx, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(mbx[i].name, name) == 0)
			return true;
	return false;
}

static int by_name_length(const void *a, const void *b)
{
	size_t la = strlen(((const struct state_folder *)a)->remote);
	size_t lb = strlen(((const struct state_folder *)b)->remote);

	return la < lb ? -1 : la > lb;
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = ((const struct state_pair *)a)->uid, y = ((const struct state_pair *)b)->uid;

	return x < y ? -1 : x > y;
}

/* The messages of a candidate server folder, as the metadata fetch and
 * the Message-ID fetch report them. */
struct seen_msg {
	uint32_t uid, size;
	uint64_t gm_msgid; /* 0 unless Gmail */
	char *msgid;	   /* owned; NULL until fetched, "" for none */
};

struct seen {
	struct seen_msg *m;
	size_t n, cap;
	bool stray; /* a Message-ID for a UID the fetch did not list */
};

static void on_meta(const struct imap_meta *m, void *ctx)
{
	struct seen *s = ctx;

	s->m = xgrow(s->m, &s->cap, s->n + 1, sizeof(*s->m));
	s->m[s->n++] = (struct seen_msg){m->uid, m->size, m->gm_msgid, NULL};
}

static int cmp_seen(const void *a, const void *b)
{
	uint32_t x = ((const struct seen_msg *)a)->uid, y = ((const struct seen_msg *)b)->uid;

	return x < y ? -1 : x > y;
}

static void on_msgid(uint32_t uid, const char *message_id, void *ctx)
{
	struct seen *s = ctx;
	struct seen_msg want = {.uid = uid}, *hit;

	hit = xbsearch(&want, s->m, s->n, sizeof(*s->m), cmp_seen);
	if (hit && !hit->msgid)
		hit->msgid = xstrdup(message_id ? message_id : "");
	else
		s->stray = true;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->m[i].msgid);
	free(s->m);
}

/* The same UIDs with the same sizes. */
static bool same_by_uid(const struct seen *s, struct state_pair *p, size_t n_p)
{
	xqsort(p, n_p, sizeof(*p), cmp_uid);
	for (size_t i = 0; i < s->n; i++) {
		struct state_pair want = {.uid = s->m[i].uid};
		const struct state_pair *hit = xbsearch(&want, p, n_p, sizeof(*p), cmp_uid);

		if (!hit || hit->size != s->m[i].size)
			return false;
	}
	return true;
}

/* The same (Message-ID, size) pairs, each as many times; a message
 * without a Message-ID proves nothing. O(n log n). */
struct id_size {
	const char *id;
	uint64_t size;
};

static int cmp_id_size(const void *a, const void *b)
{
	const struct id_size *x = a, *y = b;
	int d = strcmp(x->id, y->id);

	if (d)
		return d;
	return x->size < y->size ? -1 : x->size > y->size;
}

static bool same_by_msgid(const struct seen *s, const struct state_pair *p, size_t n_p)
{
	struct id_size *a = xcalloc(n_p ? n_p : 1, sizeof(*a));
	struct id_size *b = xcalloc(n_p ? n_p : 1, sizeof(*b));
	bool same = !s->stray && s->n == n_p;

	for (size_t i = 0; same && i < n_p; i++) {
		same = s->m[i].msgid && *s->m[i].msgid && p[i].message_id;
		if (same) {
			a[i] = (struct id_size){s->m[i].msgid, s->m[i].size};
			b[i] = (struct id_size){p[i].message_id, p[i].size};
		}
	}
	/* Sorted, the two lists are equal exactly when the multisets are. */
	if (same) {
		xqsort(a, n_p, sizeof(*a), cmp_id_size);
		xqsort(b, n_p, sizeof(*b), cmp_id_size);
		for (size_t i = 0; same && i < n_p; i++)
			same = cmp_id_size(&a[i], &b[i]) == 0;
	}
	free(a);
	free(b);
	return same;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Gmail: the same X-GM-MSGIDs, each as many times. */
static bool same_by_gm(const struct seen *s, const struct state_pair *p, size_t n_p)
{
	uint64_t *a = xcalloc(n_p ? n_p : 1, sizeof(*a)), *b = xcalloc(n_p ? n_p : 1, sizeof(*b));
	bool same = s->n == n_p;

	for (size_t i = 0; same && i < n_p; i++) {
		a[i] = s->m[i].gm_msgid;
		b[i] = p[i].gm_msgid;
		same = a[i] && b[i];
	}
	if (same) {
		xqsort(a, n_p, sizeof(*a), cmp_u64);
		xqsort(b, n_p, sizeof(*b), cmp_u64);
		same = memcmp(a, b, n_p * sizeof(*a)) == 0;
	}
	free(a);
	free(b);
	return same;
}

/* Whether server folder name holds exactly the messages of sf's pairs. */
static bool server_holds(struct sync_env *env, const struct state_folder *sf, const char *name)
{
	struct imap_mailbox_info info;
	struct state_pair *p = NULL;
	struct seen s = {0};
	size_t n_p = 0;
	struct error err = {0};
	bool same = false;

	if (state_pairs_load(env->st, sf->id, &p, &n_p, &err) < 0 || n_p == 0 ||
	    imap_status(env->imap, name, &info, &err) < 0 || info.exists != n_p)
		goto out;
	env->selected = NULL;
	if (imap_select(env->imap, name, &info, &err) < 0 ||
	    imap_fetch_meta(env->imap, 1, 0, 0, on_meta, &s, &err) < 0 || s.n != n_p)
		goto out;
	if (info.uidvalidity == sf->uidvalidity) {
		same = same_by_uid(&s, p, n_p);
		goto out;
	}
	if (env->gmail) {
		same = same_by_gm(&s, p, n_p);
		goto out;
	}
	xqsort(s.m, s.n, sizeof(*s.m), cmp_seen);
	if (imap_fetch_message_ids(env->imap, on_msgid, &s, &err) < 0)
		goto out;
	same = same_by_msgid(&s, p, n_p);
out:
	seen_free(&s);
	state_pairs_free(p, n_p);
	return same;
}

/* sf now is server folder name at local path path. */
static int follow(struct sync_env *env, struct state_folder *sf, const char *name, const char *path,
		  struct error *err)
{
	free(sf->remote);
	free(sf->local_path);
	sf->remote = xstrdup(name);
	sf->local_path = xstrdup(path);
	if (state_folder_put(env->st, sf, err) < 0)
		return -1;
	env->renamed = xrealloc(env->renamed, (env->n_renamed + 1) * sizeof(*env->renamed));
	env->renamed[env->n_renamed++] = xstrdup(name);
	return 0;
}

bool renamed_this_run(const struct sync_env *env, const char *name)
{
	for (size_t i = 0; i < env->n_renamed; i++)
		if (strcmp(env->renamed[i], name) == 0)
			return true;
	return false;
}

/* rename(2) of the Maildir from to to (both absolute), parents made. */
static int move_maildir(const char *from, const char *to, struct error *err)
{
	char *parent = xstrdup(to), *slash = strrchr(parent, '/');
	int ret = 0;

	if (slash && slash != parent) {
		*slash = '\0';
		ret = fs_mkdir_p(parent, 0700, err);
	}
	if (ret == 0 && rename(from, to) < 0) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "rename %s to %s: %s", from, to,
			  strerror(errno));
		ret = -1;
	}
	free(parent);
	return ret;
}

/* A Gmail folder of its own ([Gmail]/Sent Mail, All Mail, ...), which
 * has a role or sits under [Gmail]: not a label. */
static bool gmail_system(const struct sync_env *env, const char *remote)
{
	return env->gmail && strncmp(remote, "[Gmail]", 7) == 0;
}

static bool wanted(const struct sync_env *env, const struct imap_mailbox *m, char **display_r)
{
	if ((m->attrs & IMAP_MBX_NOSELECT) || gmail_system(env, m->name) ||
	    strcasecmp(m->name, "INBOX") == 0 || mailbox_display_name(m, env->gmail, display_r) < 0)
		return false;
	return folder_selected(env->acct, *display_r) &&
	       !(env->gmail && gmail_skipped_by_default(env->acct, m, *display_r));
}

/* Renamed on the server: sf vanished from the list; m is its new name? */
static bool server_rename_one(struct sync_env *env, struct state_folder *sf,
			      const struct imap_mailbox *m)
{
	char *display = NULL, *path = NULL, *from = NULL, *to = NULL, *old_display = NULL;
	struct state_folder known = {0};
	struct error err = {0};
	bool done = false, from_dir, to_dir;

	if (!wanted(env, m, &display) ||
	    mailbox_local_path(m, env->gmail, env->acct->layout, &path) < 0 ||
	    state_folder_get(env->st, m->name, &known, &err) != 0)
		goto out;
	from = fs_join(env->acct->maildir, sf->local_path);
	to = fs_join(env->acct->maildir, path);
	from_dir = is_dir(from);
	to_dir = is_dir(to);
	/* Either it is still to move, or it moved with its parent (then the
	 * directory there must be this folder's). */
	if (from_dir == to_dir || (to_dir && !local_holds(env, sf, to)) ||
	    !server_holds(env, sf, m->name))
		goto out;
	if (folder_display_name(sf->remote, m->delim, &old_display) < 0)
		old_display = xstrdup(sf->remote);
	if (env->opts->dry_run) {
		env_notice(env,
			   "folder '%s' was renamed on the server to '%s': would rename it here",
			   old_display, display);
		done = true;
		goto out;
	}
	if ((from_dir && move_maildir(from, to, &err) < 0) ||
	    follow(env, sf, m->name, path, &err) < 0)
		env_notice(env, "folder '%s' renamed on the server to '%s': %s", old_display,
			   display, err.msg);
	else
		env_notice(
		    env,
		    "folder '%s' was renamed on the server to '%s': renamed here too, nothing "
		    "downloaded",
		    old_display, display);
	done = true;
out:
	state_folder_clear(&known);
	free(display);
	free(old_display);
	free(path);
	free(from);
	free(to);
	return done;
}

/* A server folder no state row names and with no directory here yet: a
 * possible new name of a renamed folder. */
static bool unknown_new(struct sync_env *env, const struct imap_mailbox *m)
{
	char *display = NULL, *path = NULL, *abs = NULL;
	struct state_folder known = {0};
	struct error err = {0};
	bool yes = wanted(env, m, &display) &&
		   mailbox_local_path(m, env->gmail, env->acct->layout, &path) == 0 &&
		   state_folder_get(env->st, m->name, &known, &err) == 0;

	if (yes) {
		abs = fs_join(env->acct->maildir, path);
		yes = !is_dir(abs);
	}
	state_folder_clear(&known);
	free(display);
	free(path);
	free(abs);
	return yes;
}

/* A server that makes a folder again the moment it is renamed away
 * (Dovecot's "auto = create" for its special-use folders) still lists the
 * old name, with a new UIDVALIDITY, while the messages are under the new
 * one. Looked for only when a new folder appeared: then one pipelined
 * STATUS of the synced folders finds the ones made again. */
static void renamed_and_remade(struct sync_env *env, struct state_folder *sf, size_t n_sf,
			       const struct imap_mailbox *mbx, size_t n)
{
	const char **names = xcalloc(n_sf ? n_sf : 1, sizeof(*names));
	size_t *of = xcalloc(n_sf ? n_sf : 1, sizeof(*of)), c = 0, n_new = 0;
	struct imap_mailbox_info *infos = NULL;
	bool *ok = NULL;
	struct error err = {0};

	for (size_t k = 0; k < n; k++)
		n_new += unknown_new(env, &mbx[k]);
	for (size_t i = 0; n_new && i < n_sf; i++)
		if (sf[i].uidvalidity && listed(mbx, n, sf[i].remote) &&
		    !gmail_system(env, sf[i].remote) && strcasecmp(sf[i].remote, "INBOX") != 0) {
			names[c] = sf[i].remote;
			of[c++] = i;
		}
	if (c == 0)
		goto out;
	infos = xcalloc(c, sizeof(*infos));
	ok = xcalloc(c, sizeof(*ok));
	if (imap_status_many(env->imap, names, c, infos, ok, &err) < 0)
		goto out;
	for (size_t j = 0; j < c; j++) {
		if (!ok[j] || infos[j].uidvalidity == sf[of[j]].uidvalidity ||
		    renamed_this_run(env, sf[of[j]].remote))
			continue;
		for (size_t k = 0; k < n; k++)
			if (unknown_new(env, &mbx[k]) &&
			    server_rename_one(env, &sf[of[j]], &mbx[k]))
				break;
	}
out:
	free(names);
	free(of);
	free(infos);
	free(ok);
}

void renames_from_server(struct sync_env *env, const struct imap_mailbox *mbx, size_t n)
{
	struct state_folder *sf = NULL;
	size_t n_sf = 0;
	struct error err = {0};

	if (env->acct->direction == DIRECTION_PUSH || env->opts->n_folders > 0 ||
	    state_folders_list(env->st, &sf, &n_sf, &err) < 0)
		return;
	xqsort(sf, n_sf, sizeof(*sf), by_name_length);
	for (size_t i = 0; i < n_sf; i++) {
		if (!sf[i].uidvalidity || listed(mbx, n, sf[i].remote) ||
		    gmail_system(env, sf[i].remote))
			continue;
		for (size_t k = 0; k < n; k++)
			if (server_rename_one(env, &sf[i], &mbx[k]))
				break;
	}
	renamed_and_remade(env, sf, n_sf, mbx, n);
	state_folders_free(sf, n_sf);
}

/* Whether the Maildir at abs holds the file of every pair of sf. */
static bool local_holds(struct sync_env *env, const struct state_folder *sf, const char *abs)
{
	struct maildir *md = NULL;
	struct local_vs_pairs r = {0};
	struct error err = {0};
	bool holds = maildir_open(abs, false, &md, &err) == 0 &&
		     local_vs_pairs(env->st, sf->id, md, &r, &err) == 0 && r.pairs > 0 &&
		     r.missing == 0;

	maildir_free(&md);
	return holds;
}

/* The list after RENAME from to: the folder and its children. */
static void rename_listed(struct imap_mailbox *mbx, size_t n, const char *from, const char *to,
			  char delim)
{
	size_t len = strlen(from);

	for (size_t i = 0; i < n; i++) {
		const char *name = mbx[i].name;

		if (strncmp(name, from, len) != 0 || (name[len] && name[len] != delim))
			continue;
		mbx[i].name = xasprintf("%s%s", to, name + len);
		free((char *)name);
		/* A server ties a special use to the name (Dovecot's config):
		 * the renamed folder is no longer the Sent or Trash folder. */
		mbx[i].attrs &= IMAP_MBX_NOSELECT;
	}
}

/* After RENAME from to, which took from's children along: their rows
 * follow, and where a child's Maildir is not inside its parent's
 * (Maildir++: ".A.c" beside ".A"), its directory is renamed too. */
static void follow_children(struct sync_env *env, struct state_folder *sf, size_t n_sf,
			    const char *from, const char *to, char delim)
{
	size_t len = strlen(from);

	for (size_t i = 0; i < n_sf; i++) {
		char *remote, *path = NULL, *old_abs, *new_abs;
		struct error err = {0};

		if (strncmp(sf[i].remote, from, len) != 0 || sf[i].remote[len] != delim)
			continue;
		remote = xasprintf("%s%s", to, sf[i].remote + len);
		if (folder_layout_local_path(env->acct->layout, remote, delim, &path) < 0) {
			free(remote);
			continue;
		}
		old_abs = fs_join(env->acct->maildir, sf[i].local_path);
		new_abs = fs_join(env->acct->maildir, path);
		if ((is_dir(old_abs) && !is_dir(new_abs) &&
		     move_maildir(old_abs, new_abs, &err) < 0) ||
		    follow(env, &sf[i], remote, path, &err) < 0)
			env_notice(env, "folder '%s', inside a renamed one: %s", remote, err.msg);
		free(old_abs);
		free(new_abs);
		free(remote);
		free(path);
	}
}

/* Whether a listed mailbox or a state row already has this local path
 * (on Gmail, "Archive" is [Gmail]/All Mail's, not a label's). */
static bool path_in_use(const struct sync_env *env, const struct imap_mailbox *mbx, size_t n,
			const struct state_folder *sf, size_t n_sf, const char *path)
{
	for (size_t i = 0; i < n_sf; i++)
		if (strcmp(sf[i].local_path, path) == 0)
			return true;
	for (size_t i = 0; i < n; i++) {
		char *p = NULL;
		bool same = mailbox_local_path(&mbx[i], env->gmail, env->acct->layout, &p) == 0 &&
			    strcmp(p, path) == 0;

		free(p);
		if (same)
			return true;
	}
	return false;
}

/* Renamed here: sf[at]'s Maildir is gone; is local folder path its new
 * name? */
static bool local_rename_one(struct sync_env *env, struct state_folder *sf, size_t n_sf, size_t at,
			     const char *path, struct imap_mailbox *mbx, size_t n, char delim)
{
	char *remote = NULL, *display = NULL, *abs = NULL, *old_display = NULL, *old = NULL;
	struct state_folder known = {0};
	struct error err = {0};
	bool done = false;

	if (folder_layout_remote_name(env->acct->layout, path, delim, &remote) < 0 ||
	    folder_display_name(remote, delim, &display) < 0 || gmail_system(env, remote) ||
	    !folder_selected(env->acct, display) || listed(mbx, n, remote) ||
	    path_in_use(env, mbx, n, sf, n_sf, path) ||
	    state_folder_get(env->st, remote, &known, &err) != 0)
		goto out;
	abs = fs_join(env->acct->maildir, path);
	if (!local_holds(env, &sf[at], abs))
		goto out;
	old = xstrdup(sf[at].remote);
	if (folder_display_name(old, delim, &old_display) < 0)
		old_display = xstrdup(old);
	done = true;
	if (env->opts->dry_run) {
		env_notice(env,
			   "folder '%s' was renamed here to '%s': would rename it on the server",
			   old_display, display);
		goto out;
	}
	if (imap_rename(env->imap, old, remote, &err) < 0) {
		env_notice(env, "folder '%s' was renamed here to '%s', but the server refused: %s",
			   old_display, display, err.msg);
		done = false;
		goto out;
	}
	rename_listed(mbx, n, old, remote, delim);
	if (follow(env, &sf[at], remote, path, &err) < 0) {
		env_notice(env, "folder '%s' renamed to '%s': %s", old_display, display, err.msg);
	} else {
		follow_children(env, sf, n_sf, old, remote, delim);
		env_notice(
		    env,
		    "folder '%s' was renamed here to '%s': renamed on the server too, nothing "
		    "uploaded",
		    old_display, display);
	}
out:
	state_folder_clear(&known);
	free(old);
	free(remote);
	free(display);
	free(old_display);
	free(abs);
	return done;
}

void renames_from_local(struct sync_env *env, struct imap_mailbox *mbx, size_t n)
{
	struct state_folder *sf = NULL;
	size_t n_sf = 0, n_paths = 0, n_gone = 0;
	char **paths = NULL;
	struct error err = {0};

	if (env->acct->direction == DIRECTION_PULL || env->opts->n_folders > 0 ||
	    state_folders_list(env->st, &sf, &n_sf, &err) < 0)
		return;
	/* Cheap first: a stat per synced folder; the tree only if one is gone. */
	for (size_t i = 0; i < n_sf; i++) {
		char *abs = fs_join(env->acct->maildir, sf[i].local_path);

		if (listed(mbx, n, sf[i].remote) && !is_dir(abs))
			n_gone++;
		free(abs);
	}
	if (n_gone == 0 ||
	    maildir_tree_list(env->acct->maildir, env->acct->layout, &paths, &n_paths, &err) < 0)
		goto out;
	xqsort(sf, n_sf, sizeof(*sf), by_name_length);
	for (size_t i = 0; i < n_sf; i++) {
		char *abs = fs_join(env->acct->maildir, sf[i].local_path);
		bool gone = listed(mbx, n, sf[i].remote) && !is_dir(abs) &&
			    !gmail_system(env, sf[i].remote) &&
			    strcasecmp(sf[i].remote, "INBOX") != 0;

		free(abs);
		for (size_t k = 0; gone && k < n_paths; k++)
			if (local_rename_one(env, sf, n_sf, i, paths[k], mbx, n,
					     imap_mailboxes_delim(mbx, n)))
				break;
	}
	maildir_tree_free(paths, n_paths);
out:
	state_folders_free(sf, n_sf);
}

void renames_forget(struct sync_env *env)
{
	for (size_t i = 0; i < env->n_renamed; i++)
		free(env->renamed[i]);
	free(env->renamed);
	env->renamed = NULL;
	env->n_renamed = 0;
}
