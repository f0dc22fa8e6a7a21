/* The account level of a sync: secret, lock, state, connection, the folder
 * list, then each selected folder in turn. A folder that fails is reported
 * and the others go on. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>

#include "sync/engine_p.h"
#include "imap/folders.h"
#include "imap/roles.h"
#include "sync/sent_copies.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

static bool name_requested(const struct engine_opts *opts, const char *display)
{
	if (!opts->folders || opts->n_folders == 0)
		return true;
	for (size_t i = 0; i < opts->n_folders; i++) {
		if (strcmp(opts->folders[i], display) == 0)
			return true;
		if (strcasecmp(display, "INBOX") == 0 && strcasecmp(opts->folders[i], "INBOX") == 0)
			return true;
	}
	return false;
}

/* A mailbox is synced when it can be selected, its name is valid, and the
 * config (and the command line, if it names folders) selects it. */
static bool mailbox_wanted(const struct sync_env *env, const struct imap_mailbox *m)
{
	char *display = NULL;
	bool wanted = false;

	if (m->attrs & IMAP_MBX_NOSELECT)
		return false;
	if (mailbox_display_name(m, env->gmail, &display) < 0) {
		char safe[256];

		env_notice(env, "skipping folder '%s': its name is not valid modified UTF-7",
			   printable(m->name, safe, sizeof(safe)));
		return false;
	}
	wanted = folder_selected(env->acct, display) && name_requested(env->opts, display) &&
		 !(env->gmail && gmail_skipped_by_default(env->acct, m, display));
	free(display);
	return wanted;
}

/* Gmail's work across folders needs every local copy of a message, also
 * those in folders skipped as quiet; nothing to do anywhere needs none. A
 * folder whose pairs cannot be read is failed before anything is applied:
 * without its copies a deletion elsewhere would look like the last one. */
static int gmail_pairs_needed(struct folder_job *jobs, size_t n, bool *failed, struct error *err)
{
	bool work = false;
	int ret = 0;

	for (size_t i = 0; i < n; i++)
		work = work || (!failed[i] && !jobs[i].quiet && jobs[i].plan.n > 0);
	for (size_t i = 0; work && i < n; i++) {
		struct error ferr = {0};

		if (failed[i] || !jobs[i].quiet || folder_load_pairs(&jobs[i], &ferr) == 0)
			continue;
		folder_report(&jobs[i], &ferr);
		*err = ferr;
		ret = -1;
	}
	for (size_t i = 0; ret < 0 && i < n; i++)
		failed[i] = true;
	return ret;
}

/* A plan that can take no part in a move across folders (no upload, no
 * deletion on the server) and moves no message is applied at once, while
 * its mailbox is still selected: no second SELECT, and its pairs are still
 * in SQLite's cache. Transfers wait for the pool, which spreads them over
 * connections; Gmail waits, as its label work needs every plan. */
static bool apply_now(const struct folder_job *job)
{
	if (job->env->gmail || job->quiet || job->drop_remote || job->plan.n == 0)
		return false;
	for (size_t i = 0; i < job->plan.n; i++) {
		switch (job->plan.actions[i].op) {
		case PLAN_FLAGS:
		case PLAN_DELETE_LOCAL:
		case PLAN_FORGET:
		case PLAN_KEEP_LOCAL:
			break;
		default:
			return false;
		}
	}
	return true;
}

static void plan_and_apply(struct folder_job *job, bool *failed, struct error *err)
{
	struct error ferr = {0};

	if (folder_plan(job, &ferr) == 0) {
		if (!apply_now(job))
			return;
		job->applied = true;
		if (folder_apply(job, &ferr) == 0) {
			folder_report(job, NULL);
			folder_job_release(job);
			return;
		}
	}
	*failed = true;
	folder_report(job, &ferr);
	*err = ferr;
	if (job->applied)
		folder_job_release(job);
}

/* Plans every wanted folder, matches moves across them, then applies each
 * plan (some at once: apply_now). A folder that fails is reported at once
 * and the others go on; a dead connection stops the account. Returns 1
 * when some folder failed. */
/* The STATUS of every folder but the selected one, pipelined: one round
 * trip where each folder would cost its own (a STATUS to find it
 * unchanged, or a SELECT of an empty one). A folder without an answer
 * just asks again later. */
static void prefetch_status(struct sync_env *env, struct folder_job *jobs, size_t n)
{
	const char **names = xcalloc(n ? n : 1, sizeof(*names));
	struct imap_mailbox_info *infos = xcalloc(n ? n : 1, sizeof(*infos));
	bool *ok = xcalloc(n ? n : 1, sizeof(bool));
	size_t *at = xcalloc(n ? n : 1, sizeof(*at)), k = 0;
	struct error ignored = {0};

	for (size_t i = 0; i < n; i++) {
		if (!jobs[i].mbx || imap_is_selected(env->imap, jobs[i].mbx->name))
			continue;
		names[k] = jobs[i].mbx->name;
		at[k++] = i;
	}
	if (k >= 2 && imap_status_many(env->imap, names, k, infos, ok, &ignored) == 0) {
		for (size_t j = 0; j < k; j++) {
			jobs[at[j]].pre = infos[j];
			jobs[at[j]].has_pre = ok[j];
		}
	}
	free(names);
	free(infos);
	free(ok);
	free(at);
}

static int run_jobs(struct sync_env *env, struct folder_job *jobs, size_t n, struct error *err)
{
	bool *failed = xcalloc(n ? n : 1, sizeof(bool));
	int ret = 0;

	prefetch_status(env, jobs, n);

	for (size_t i = 0; i < n && !imap_is_dead(env->imap); i++) {
		struct error ferr = {0};

		if (env_cancelled(env)) {
			error_set(&ferr, ERR_FOLDER, RETRY_NOW, "interrupted");
			failed[i] = true;
			continue;
		}
		plan_and_apply(&jobs[i], &failed[i], err);
	}
	moves_match(jobs, n);
	if (env->gmail && gmail_pairs_needed(jobs, n, failed, err) < 0)
		ret = 1;
	else
		gmail_match(jobs, n);
	if (!imap_is_dead(env->imap))
		workers_apply(env, jobs, n, failed);
	if (!imap_is_dead(env->imap) && !env->opts->dry_run && moves_finish(jobs, n, err) < 0)
		ret = 1;
	for (size_t i = 0; i < n; i++)
		ret |= failed[i];
	if (imap_is_dead(env->imap)) {
		ret = -1;
		if (!err->msg[0])
			error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
				  "the connection to the server was lost");
	}
	free(failed);
	return ret;
}

/* True when one of the remote mailboxes maps to the local path. */
static bool remote_has(const struct sync_env *env, const struct imap_mailbox *mbx, size_t n,
		       const char *path)
{
	bool found = false;

	for (size_t i = 0; i < n && !found; i++) {
		char *p = NULL;

		found = mailbox_local_path(&mbx[i], env->gmail, env->acct->layout, &p) == 0 &&
			strcmp(p, path) == 0;
		free(p);
	}
	return found;
}

/* True when the Maildir holds exactly the pairs, each with its base flags,
 * and nothing else: the folder is as the last sync left it, even though
 * its stamp moved (a sync that delivered into it records the stamp taken
 * before the delivery). */
static bool local_as_synced(struct sync_env *env, const struct state_folder *sf, struct maildir *md)
{
	struct local_vs_pairs r;
	struct error err = {0};

	return local_vs_pairs(env->st, sf->id, md, &r, &err) == 0 && r.files == r.pairs &&
	       r.missing == 0 && r.flags_moved == 0 && r.skipped == 0;
}

/* The server deleted a folder we synced. With folders.propagate_deletes and
 * no local change since the last sync, the local copy goes too; otherwise
 * it is kept, and said so. */
static void forget_local_folder(struct sync_env *env, struct state_folder *sf, const char *path,
				const char *display)
{
	char *abs = fs_join(env->acct->maildir, path);
	struct maildir *md = NULL;
	struct error err = {0};
	uint64_t stamp = 0;

	/* Push never changes this side. */
	if (!env->acct->propagate_folder_deletes || env->opts->dry_run ||
	    env->acct->direction == DIRECTION_PUSH || maildir_open(abs, false, &md, &err) < 0 ||
	    maildir_stamp(md, &stamp, &err) < 0 ||
	    (stamp != sf->local_stamp && !local_as_synced(env, sf, md))) {
		env_notice(env, "folder '%s' is gone from the server; the local copy is kept%s",
			   display,
			   env->acct->propagate_folder_deletes ? " (it changed here)" : "");
		goto out;
	}
	maildir_free(&md);
	if (maildir_remove_folder(abs, &err) < 0 || state_folder_delete(env->st, sf->id, &err) < 0)
		env_notice(env, "folder '%s': %s", display, err.msg);
	else
		env_notice(env, "folder '%s' was deleted on the server: deleted here too", display);
out:
	maildir_free(&md);
	free(abs);
}

/* A local folder the server does not have: created there, unless the state
 * knows it (then the server deleted it, and the local copy is kept). */
static void create_remote(struct sync_env *env, struct imap_mailbox **mbx, size_t *n,
			  const char *path, char delim)
{
	char *remote = NULL, *display = NULL;
	struct state_folder sf = {0};
	struct error err = {0};
	int known;

	if (folder_layout_remote_name(env->acct->layout, path, delim, &remote) < 0 ||
	    folder_display_name(remote, delim, &display) < 0) {
		/* Another tool's own naming (mbsync's "..kids" for INBOX/kids)
		 * is left alone and said, not a failure of every run. */
		env_notice(env, "local folder '%s' has no valid server name; not synced", path);
		goto out;
	}
	if (!folder_selected(env->acct, display) || !name_requested(env->opts, display))
		goto out;
	known = state_folder_get(env->st, remote, &sf, &err);
	if (known != 0) {
		forget_local_folder(env, &sf, path, display);
		goto out;
	}
	if (env->opts->dry_run) {
		env_notice(env, "would create folder '%s' on the server", display);
		goto out;
	}
	if (imap_create(env->imap, remote, &err) < 0) {
		/* Not synced, so the run failed (exit 1); it is asked again
		 * next time, when the user may have renamed it. */
		env_notice(
		    env,
		    "could not create folder '%s' on the server: %s; it is not synced (rename "
		    "it, or leave it out with folders.exclude)",
		    display, err.msg);
		env->not_created++;
		goto out;
	}
	*mbx = xrealloc(*mbx, (*n + 1) * sizeof(**mbx));
	(*mbx)[(*n)++] = (struct imap_mailbox){remote, delim, 0};
	remote = NULL;
out:
	state_folder_clear(&sf);
	free(remote);
	free(display);
}

static int add_local_folders(struct sync_env *env, struct imap_mailbox **mbx, size_t *n,
			     struct error *err)
{
	char **paths = NULL;
	size_t n_paths = 0, n_remote = *n;
	char delim = imap_mailboxes_delim(*mbx, *n);

	if (env->acct->direction == DIRECTION_PULL)
		return 0; /* pull never changes the server */
	if (maildir_tree_list(env->acct->maildir, env->acct->layout, &paths, &n_paths, err) < 0)
		return -1;
	for (size_t i = 0; i < n_paths; i++)
		if (!remote_has(env, *mbx, n_remote, paths[i]))
			create_remote(env, mbx, n, paths[i], delim);
	maildir_tree_free(paths, n_paths);
	return 0;
}

static void keep_folders(struct sync_env *env, const struct folder_job *jobs, size_t n);

/* Two mailboxes must never share a Maildir (a Gmail label named "Sent" and
 * the \Sent folder; a server listing a name twice): the later one is
 * skipped, with a notice. */
static bool path_taken(const struct sync_env *env, const struct imap_mailbox *mbx, size_t i)
{
	char *mine = NULL, *other = NULL, safe[256];
	bool taken = false;

	if (mailbox_local_path(&mbx[i], env->gmail, env->acct->layout, &mine) < 0)
		return false;
	for (size_t k = 0; k < i && !taken; k++) {
		if (!(mbx[k].attrs & IMAP_MBX_NOSELECT) &&
		    mailbox_local_path(&mbx[k], env->gmail, env->acct->layout, &other) == 0)
			taken = strcmp(mine, other) == 0;
		free(other);
		other = NULL;
	}
	if (taken)
		env_notice(env, "skipping folder '%s': another server folder is synced to %s",
			   printable(mbx[i].name, safe, sizeof(safe)), mine);
	free(mine);
	return taken;
}

/* Sent copies go into the \Sent folder's local side before its job runs,
 * whose upload then appends them. Without a synced \Sent folder they wait
 * (status shows them). */
static void place_sent_copies(struct sync_env *env, const struct folder_job *jobs, size_t n)
{
	struct error err = {0};
	size_t placed = 0;

	if (env->opts->dry_run || env->acct->direction == DIRECTION_PULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!(jobs[i].mbx->attrs & IMAP_MBX_SENT))
			continue;
		if (sent_copies_place(env->acct, jobs[i].mbx, env->gmail, &placed, &err) < 0)
			env_notice(env, "copies of sent mail: %s", err.msg);
		else if (placed > 0)
			log_debug("%s: %zu sent message%s placed in the Sent folder",
				  env->acct->name, placed, placed == 1 ? "" : "s");
		return;
	}
}

/* A Trash folder by its name, for servers without SPECIAL-USE (Courier,
 * Cyrus without it): "Trash", then "INBOX/Trash" (Courier keeps every
 * folder under INBOX.), then Outlook's and Apple's names. */
static const char *trash_by_name(const struct imap_mailbox *mbx, size_t n)
{
	static const char *const names[] = {"Trash", "INBOX/Trash", "Deleted Items",
					    "Deleted Messages"};

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		for (size_t i = 0; i < n; i++) {
			char *display = NULL;
			bool same = !(mbx[i].attrs & IMAP_MBX_NOSELECT) &&
				    mailbox_display_name(&mbx[i], false, &display) == 0 &&
				    strcasecmp(display, names[k]) == 0;

			free(display);
			if (same)
				return mbx[i].name;
		}
	return NULL;
}

/* trash: move on a server that marks no folder \Trash and has none by
 * name: one is created, under INBOX when every other folder is there (a
 * server that refuses other top-level names). If that fails too, deletions
 * wait (apply.c) rather than expunge what the user asked to keep. */
static void find_trash(struct sync_env *env, struct imap_mailbox **mbx, size_t *n)
{
	char delim = imap_mailboxes_delim(*mbx, *n), name[64];
	bool under_inbox = *n > 1;
	struct error err = {0};

	env->trash = NULL;
	env->no_trash = false;
	for (size_t i = 0; i < *n && !env->trash; i++)
		if ((*mbx)[i].attrs & IMAP_MBX_TRASH)
			env->trash = (*mbx)[i].name;
	if (env->trash || env->acct->trash != TRASH_MOVE || env->gmail)
		return;
	env->trash = trash_by_name(*mbx, *n);
	if (env->trash || env->opts->dry_run || env->acct->direction == DIRECTION_PULL)
		return;
	for (size_t i = 0; i < *n; i++) {
		const char *nm = (*mbx)[i].name;

		if (nm && strcasecmp(nm, "INBOX") != 0 &&
		    (strncasecmp(nm, "INBOX", 5) != 0 || nm[5] != delim))
			under_inbox = false;
	}
	snprintf(name, sizeof(name), under_inbox ? "INBOX%cTrash" : "Trash", delim);
	if (imap_create(env->imap, name, &err) < 0) {
		env_notice(env,
			   "trash: move, but the server has no Trash folder and would not create "
			   "%s (%s): deletions wait; create one, or set trash: expunge",
			   name, err.msg);
		env->no_trash = true;
		return;
	}
	env_notice(env, "created folder '%s' on the server for trash: move", name);
	*mbx = xrealloc(*mbx, (*n + 1) * sizeof(**mbx));
	(*mbx)[*n] = (struct imap_mailbox){xstrdup(name), delim, IMAP_MBX_TRASH};
	env->trash = (*mbx)[(*n)++].name;
}

static int sync_folders(struct sync_env *env, struct error *err)
{
	struct imap_mailbox *mbx = NULL;
	struct folder_job *jobs = NULL;
	size_t n = 0, n_jobs = 0;
	int ret = -1;

	env->gmail = imap_caps(env->imap) & IMAP_CAP_XGM;
	env->not_created = 0;
	if (imap_list(env->imap, &mbx, &n, err) < 0)
		goto out;
	renames_from_local(env, mbx, n);
	renames_from_server(env, mbx, n);
	if (add_local_folders(env, &mbx, &n, err) < 0)
		goto out;
	find_trash(env, &mbx, &n);
	jobs = xcalloc(n ? n : 1, sizeof(*jobs));
	for (size_t i = 0; i < n; i++) {
		if (!mailbox_wanted(env, &mbx[i]) || path_taken(env, mbx, i))
			continue;
		jobs[n_jobs].env = env;
		jobs[n_jobs].mbx = &mbx[i];
		jobs[n_jobs].report.renamed = renamed_this_run(env, mbx[i].name);
		n_jobs++;
	}
	place_sent_copies(env, jobs, n_jobs);
	ret = run_jobs(env, jobs, n_jobs, err);
	if (ret == 0 && env->not_created > 0)
		ret = 1;
	keep_folders(env, jobs, n_jobs);
out:
	for (size_t i = 0; i < n_jobs; i++)
		folder_job_clear(&jobs[i]);
	free(jobs);
	imap_mailboxes_free(mbx, n);
	renames_forget(env);
	return ret;
}

struct engine_session {
	struct sync_env env;
	pthread_mutex_t folders_lock;
	struct engine_folder *folders; /* owned: of the last full sync */
	size_t n_folders;
	char *secret;	  /* owned: see env_connect */
	bool state_later; /* lock and state are taken after the login */
	pthread_mutex_t obs_lock;
	pthread_mutex_t secret_lock;
};

/* The account lock, then the state (made when missing). */
static int open_state(struct engine_session *s, struct error *err)
{
	const struct account_conf *acct = s->env.acct;

	if (fs_mkdir_p(acct->state_dir, 0700, err) < 0 ||
	    state_lock_acquire(acct->state_dir, acct->name, &s->env.lock, err) < 0 ||
	    state_open(acct->state_dir, &s->env.st, err) < 0)
		return -1;
	s->state_later = false;
	return 0;
}

static bool state_exists(const char *dir)
{
	char *db = fs_join(dir, "state.db");
	struct stat sb;
	bool there = stat(db, &sb) == 0;

	free(db);
	return there;
}

/* The local paths are checked first, once for the account. Then the lock,
 * so that a second process says who holds the account before it spends a
 * login on it; with later (a one-off sync of an account that has no state
 * yet) lock and state wait for the login, so that a first sync that cannot
 * connect leaves nothing behind. */
static int session_new(const struct account_conf *acct, const struct engine_observer *obs,
		       bool later, struct engine_session **s_r, struct error *err)
{
	struct engine_session *s;

	if (engine_check_local(acct, err) < 0)
		return -1;
	s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->obs_lock, NULL);
	pthread_mutex_init(&s->secret_lock, NULL);
	pthread_mutex_init(&s->folders_lock, NULL);
	s->env = (struct sync_env){.acct = acct,
				   .obs = obs,
				   .obs_lock = &s->obs_lock,
				   .secret = &s->secret,
				   .secret_lock = &s->secret_lock,
				   .session = s};
	s->state_later = later && !state_exists(acct->state_dir);
	if (!s->state_later && open_state(s, err) < 0) {
		engine_session_free(&s);
		return -1;
	}
	*s_r = s;
	return 0;
}

int engine_session_open(const struct account_conf *acct, const struct engine_observer *obs,
			struct engine_session **s_r, struct error *err)
{
	return session_new(acct, obs, false, s_r, err);
}

void engine_folders_free(struct engine_folder *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].display);
		free(f[i].local_abs);
		free(f[i].remote);
	}
	free(f);
}

void engine_session_folders(struct engine_session *s, struct engine_folder **f_r, size_t *n_r)
{
	pthread_mutex_lock(&s->folders_lock);
	*f_r = xcalloc(s->n_folders ? s->n_folders : 1, sizeof(**f_r));
	for (size_t i = 0; i < s->n_folders; i++)
		(*f_r)[i] = (struct engine_folder){xstrdup(s->folders[i].display),
						   xstrdup(s->folders[i].local_abs),
						   xstrdup(s->folders[i].remote)};
	*n_r = s->n_folders;
	pthread_mutex_unlock(&s->folders_lock);
}

/* Remembers the folders of a full sync, for the daemon's watcher. */
static void keep_folders(struct sync_env *env, const struct folder_job *jobs, size_t n)
{
	struct engine_session *s = env->session;
	struct engine_folder *f = xcalloc(n ? n : 1, sizeof(*f));
	size_t k = 0;

	if (!s || (env->opts->folders && env->opts->n_folders))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (jobs[i].display && jobs[i].local_abs)
			f[k++] = (struct engine_folder){xstrdup(jobs[i].display),
							xstrdup(jobs[i].local_abs),
							xstrdup(jobs[i].mbx->name)};
	pthread_mutex_lock(&s->folders_lock);
	engine_folders_free(s->folders, s->n_folders);
	s->folders = f;
	s->n_folders = k;
	f = NULL;
	k = 0;
	pthread_mutex_unlock(&s->folders_lock);
out:
	engine_folders_free(f, k);
}

/* Why the account could not connect or sign in, and since when, for
 * status ("sign-in needed: ..." stays visible while the daemon waits);
 * cleared by the next connection. Best effort: status is what it serves. */
static void note_connect_error(struct sync_env *env, const struct error *why)
{
	struct error ignored = {0};
	char *old = NULL, *now = NULL;

	if (!env->st || env->opts->dry_run)
		return;
	if (state_meta_get(env->st, CONNECT_ERROR_KEY, &old, &ignored) < 0)
		old = NULL;
	if (why) {
		/* The first time of a run of the same failure is kept. */
		const char *msg = old ? strchr(old, ' ') : NULL;

		if (!msg || strcmp(msg + 1, why->msg) != 0) {
			now = xasprintf("%lld %s", (long long)time(NULL), why->msg);
			state_meta_put(env->st, CONNECT_ERROR_KEY, now, &ignored);
		}
	} else if (old && *old) {
		state_meta_put(env->st, CONNECT_ERROR_KEY, "", &ignored);
	}
	free(old);
	free(now);
}

int engine_session_sync(struct engine_session *s, const struct engine_opts *opts, struct error *err)
{
	struct sync_env *env = &s->env;

	env->opts = opts;
	env->selected = NULL;
	env->trash = NULL;
	/* The connection kept from the last run may have been closed since
	 * (a BYE, a cut): anything waiting on it is settled by a NOOP, which
	 * fails on a dead one. Found out now, that costs a reconnect instead
	 * of this run. */
	if (env->imap && !imap_is_dead(env->imap) && imap_has_input(env->imap)) {
		struct error ignored = {0};

		if (imap_noop(env->imap, &ignored) < 0)
			log_debug("%s: the kept connection is gone (%s); reconnecting",
				  env->acct->name, ignored.msg);
	}
	if (env->imap && (opts->fresh_connection || imap_is_dead(env->imap)))
		imap_abandon(&env->imap);
	/* Before the login, like the account lock: a Maildir another process
	 * syncs, or another state's, is said at once. Without a state yet,
	 * only checked (nothing written) until the login worked. */
	if (s->state_later ? engine_check_maildir(env->acct, err) < 0 : claim_maildir(env, err) < 0)
		return -1;
	if (!env->imap) {
		int r = env_connect(env, &env->imap, err);

		note_connect_error(env, r < 0 ? err : NULL);
		if (r < 0)
			return -1;
	}
	if (s->state_later && (open_state(s, err) < 0 || claim_maildir(env, err) < 0))
		return -1;
	return sync_folders(env, err);
}

bool engine_session_connected(const struct engine_session *s)
{
	return s->env.imap && !imap_is_dead(s->env.imap);
}

void engine_session_free(struct engine_session **sp)
{
	struct engine_session *s = *sp;

	if (!s)
		return;
	env_free_secret(&s->secret);
	imap_free(&s->env.imap);
	state_free(&s->env.st);
	maildir_root_unlock(&s->env.root_lock);
	state_lock_release(&s->env.lock);
	pthread_mutex_destroy(&s->obs_lock);
	pthread_mutex_destroy(&s->secret_lock);
	pthread_mutex_destroy(&s->folders_lock);
	engine_folders_free(s->folders, s->n_folders);
	free(s);
	*sp = NULL;
}

int engine_sync_account(const struct account_conf *acct, const struct engine_opts *opts,
			const struct engine_observer *obs, struct error *err)
{
	struct engine_session *s = NULL;
	int ret;

	if (session_new(acct, obs, true, &s, err) < 0)
		return -1;
	ret = engine_session_sync(s, opts, err);
	engine_session_free(&s);
	return ret;
}
