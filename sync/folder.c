/* One folder's sync: gather the remote view, the local view and the base,
 * finish what an interrupted run left, plan, check the safety rails, apply,
 * and record the folder's new checkpoint. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sync/engine_p.h"
#include "imap/folders.h"
#include "imap/roles.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#define MASS_DELETE_SHARE 0.5
#define MASS_DELETE_MIN 20

/* folders.propagate_deletes deletes a folder on the server only when its
 * server copy is exactly as the last sync left it. */
static bool remote_unchanged(const struct folder_job *job, size_t n_pairs)
{
	return job->info.uidnext == job->sf.uidnext && job->info.exists == n_pairs &&
	       job->info.highestmodseq == job->sf.highestmodseq &&
	       job->info.uidvalidity == job->sf.uidvalidity;
}

/* The local folder must exist if the state says it held mail: a vanished
 * directory (an unmounted disk, a mistaken rm -rf) is never taken as "the
 * user deleted everything". */
static int open_local(struct folder_job *job, size_t n_pairs, struct error *err)
{
	struct stat st;
	char cmd[512];

	if (n_pairs > 0 && stat(job->local_abs, &st) < 0 && errno == ENOENT) {
		/* (Pull never changes the server.) */
		if (job->env->acct->propagate_folder_deletes &&
		    job->env->acct->direction != DIRECTION_PULL && remote_unchanged(job, n_pairs)) {
			job->drop_remote = true;
			return 0;
		}
		job_guard_command(job, "--allow-mass-delete", cmd, sizeof(cmd));
		error_set(err, ERR_SAFETY, RETRY_NEVER,
			  "local folder %s is missing but held %zu messages at the last sync; "
			  "nothing was deleted (restore it, or run `%s` to delete these messages "
			  "on the server)",
			  job->local_abs, n_pairs, cmd);
		if (!job->env->opts->allow_mass_delete)
			return -1;
	}
	/* A dry run creates nothing: a folder not yet on disk is simply empty. */
	if (job->env->opts->dry_run && stat(job->local_abs, &st) < 0 && errno == ENOENT)
		return 0;
	/* A folder that held mail is never recreated behind the user's back:
	 * a missing cur/ or new/ is the same alarm as a missing folder. */
	if (n_pairs > 0 && !job->env->opts->allow_mass_delete &&
	    maildir_open(job->local_abs, false, &job->md, err) < 0) {
		char why[sizeof(err->msg)];

		memcpy(why, err->msg, sizeof(why));
		job_guard_command(job, "--allow-mass-delete", cmd, sizeof(cmd));
		error_set(err, ERR_SAFETY, RETRY_NEVER,
			  "local folder %s is incomplete (%s) but held %zu messages at the last "
			  "sync; nothing was deleted (restore it, or run `%s` to delete these "
			  "messages on the server)",
			  job->local_abs, why, n_pairs, cmd);
		return -1;
	}
	if (!job->md && maildir_open(job->local_abs, !job->env->opts->dry_run, &job->md, err) < 0)
		return -1;
	maildir_set_touch(job->md, job->env->opts->touch, job->env->opts->touch_ctx);
	return 0;
}

static bool same_names(char *const *a, size_t n_a, char *const *b, size_t n_b)
{
	if (n_a != n_b)
		return false;
	for (size_t i = 0; i < n_a; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* The scan's ignored files go into the state for `gmaildir status`, only
 * when the list changed: a sync that changed nothing writes nothing. */
static int record_ignored(struct folder_job *job, char *const *names, size_t n, struct error *err)
{
	struct state *st = job->env->st;
	char **known = NULL;
	size_t n_known = 0;
	int ret = -1;

	if (job->env->opts->dry_run || job->sf.id == 0)
		return 0;
	if (state_ignored_load(st, job->sf.id, &known, &n_known, err) < 0)
		return -1;
	if (same_names(names, n, known, n_known)) {
		ret = 0;
		goto out;
	}
	if (state_begin(st, err) < 0)
		goto out;
	if (state_ignored_set(st, job->sf.id, names, n, err) < 0 || state_commit(st, err) < 0) {
		state_rollback(st);
		goto out;
	}
	ret = 0;
out:
	state_keys_free(known, n_known);
	return ret;
}

static bool same_held(const struct state_held *a, size_t n_a, const struct state_held *b,
		      size_t n_b)
{
	if (n_a != n_b)
		return false;
	for (size_t i = 0; i < n_a; i++)
		if (a[i].uid != b[i].uid || a[i].size != b[i].size)
			return false;
	return true;
}

static int cmp_held(const void *a, const void *b)
{
	uint32_t x = ((const struct state_held *)a)->uid, y = ((const struct state_held *)b)->uid;

	return x < y ? -1 : x > y;
}

/* What max_size keeps on the server goes into the state for `gmaildir
 * status` (max_age's share is a count in the report: it can be most of the
 * folder), only when the list changed. */
static int record_held(struct folder_job *job, struct error *err)
{
	struct state *st = job->env->st;
	struct state_held *now = xcalloc(job->plan.n_held + 1, sizeof(*now)), *known = NULL;
	size_t n = 0, n_known = 0;
	unsigned age;
	uint64_t size;
	int ret = -1;

	job_limits(job, &age, &size);
	for (size_t i = 0; size && i < job->plan.n_held; i++) {
		const struct remote_msg *m = &job->remote[job->plan.held[i]];

		if (m->size > size)
			now[n++] = (struct state_held){m->uid, m->size};
	}
	xqsort(now, n, sizeof(*now), cmp_held);
	if (state_held_load(st, job->sf.id, &known, &n_known, err) < 0)
		goto out;
	ret = 0;
	if (same_held(now, n, known, n_known))
		goto out;
	ret = -1;
	if (state_begin(st, err) < 0)
		goto out;
	if (state_held_set(st, job->sf.id, now, n, err) < 0 || state_commit(st, err) < 0) {
		state_rollback(st);
		goto out;
	}
	ret = 0;
out:
	free(now);
	free(known);
	return ret;
}

/* Files that are not Maildir messages are left alone; each is named at
 * -v (debug), and `gmaildir status` lists them. */
static int gather_local(struct folder_job *job, struct error *err)
{
	char *const *names = NULL;
	size_t skipped = 0, n = 0;

	if (!job->md)
		return 0;
	if (maildir_scan(job->md, &job->local, &job->n_local, &skipped, err) < 0)
		return -1;
	maildir_skipped(job->md, &names, &n);
	for (size_t i = 0; i < n; i++) {
		char safe[1024];

		log_debug("%s: ignored %s/%s: not a Maildir message", job->env->acct->name,
			  job->local_abs, printable(names[i], safe, sizeof(safe)));
	}
	if (skipped > 0)
		env_notice(job->env,
			   "%s: ignored %zu files that are not Maildir messages (-v or gmaildir "
			   "status names them)",
			   job->local_abs, skipped);
	return record_ignored(job, names, n, err);
}

/* The state knows the folder at another local path than the one the
 * config gives it now (the account's layout was changed): syncing the new
 * path would take the old one's mail for deleted, or adopt a stranger's. */
static int moved_by_layout(const struct folder_job *job, struct error *err)
{
	error_set(err, ERR_SAFETY, RETRY_NEVER,
		  "the last sync kept this folder in %s/%s, but layout: %s puts it in %s; "
		  "nothing was changed (set layout back, or move the folders and remove "
		  "the state directory %s: the next sync adopts them)",
		  job->env->acct->maildir, job->sf.local_path,
		  job->env->acct->layout == LAYOUT_MAILDIRPP ? "maildir++" : "verbatim",
		  job->local_abs, job->env->acct->state_dir);
	return -1;
}

static int prepare(struct folder_job *job, struct error *err)
{
	const struct imap_mailbox *m = job->mbx;
	int found;

	if (mailbox_display_name(m, job->env->gmail, &job->display) < 0 ||
	    mailbox_local_path(m, job->env->gmail, job->env->acct->layout, &job->local_rel) < 0) {
		char safe[256];

		error_set(err, ERR_FOLDER, RETRY_NEVER, "invalid folder name '%s'",
			  printable(m->name, safe, sizeof(safe)));
		return -1;
	}
	job->local_abs = fs_join(job->env->acct->maildir, job->local_rel);
	job->report.account = job->env->acct->name;
	job->report.folder = job->display;
	found = state_folder_get(job->env->st, m->name, &job->sf, err);
	if (found < 0)
		return -1;
	if (found && strcmp(job->sf.local_path, job->local_rel) != 0)
		return moved_by_layout(job, err);
	if (!found) {
		job->sf.remote = xstrdup(m->name);
		job->sf.local_path = xstrdup(job->local_rel);
		const char *role = folder_role_name(m->attrs);
		job->sf.role = role ? xstrdup(role) : NULL;
	}
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files kept after the server expunged them (remote_deletions: keep) are
 * marked so that they are never uploaded again. */
static int mark_local_only(struct folder_job *job, struct plan_local *l, struct error *err)
{
	char **keys = NULL;
	size_t n = 0;

	if (job->sf.id == 0)
		return 0;
	if (state_local_only_load(job->env->st, job->sf.id, &keys, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < job->n_local && n > 0; i++) {
		const char *k = l[i].key;

		l[i].local_only = xbsearch(&k, keys, n, sizeof(*keys), cmp_key) != NULL;
	}
	state_keys_free(keys, n);
	return 0;
}

static void fill_plan_input(struct folder_job *job, struct plan_input *in)
{
	const struct account_conf *acct = job->env->acct;
	struct plan_remote *r = xcalloc(job->n_remote, sizeof(*r));
	struct plan_local *l = xcalloc(job->n_local, sizeof(*l));
	struct plan_base *b = xcalloc(job->n_pairs, sizeof(*b));

	time_t now = time(NULL);
	unsigned age;
	uint64_t size;

	job_limits(job, &age, &size);
	for (size_t i = 0; i < job->n_remote; i++)
		r[i] = (struct plan_remote){
		    job->remote[i].uid, job->remote[i].flags,
		    plan_held(age, size, job->remote[i].size, job->remote[i].internaldate, now)};
	for (size_t i = 0; i < job->n_local; i++)
		l[i] = (struct plan_local){job->local[i].unique, job->local[i].flags, false};
	for (size_t i = 0; i < job->n_pairs; i++)
		b[i] =
		    (struct plan_base){job->pairs[i].uid, job->pairs[i].key, job->pairs[i].flags};
	*in = (struct plan_input){r,
				  job->n_remote,
				  l,
				  job->n_local,
				  b,
				  job->n_pairs,
				  acct->conflicts,
				  acct->direction,
				  acct->remote_deletions};
}

static void free_plan_input(struct plan_input *in)
{
	free((void *)in->remote);
	free((void *)in->local);
	free((void *)in->base);
}

/* DESIGN.md §4: more than half of the folder and more than 20 messages
 * deleted in one direction in one sync stops the folder. */
static int check_mass_delete(struct folder_job *job, struct error *err)
{
	const struct plan *p = &job->plan;
	size_t total = job->sparse ? job->n_known : job->n_pairs;
	char cmd[512];

	if (job->env->opts->allow_mass_delete)
		return 0;
	job_guard_command(job, "--allow-mass-delete", cmd, sizeof(cmd));
	if (plan_mass_delete(p->n_delete_remote, total, MASS_DELETE_SHARE, MASS_DELETE_MIN)) {
		error_set(err, ERR_SAFETY, RETRY_NEVER,
			  "refusing to delete %zu of %zu messages on the server (they are gone "
			  "from %s); nothing was deleted; if that is what you want, run `%s`",
			  p->n_delete_remote, total, job->local_abs, cmd);
		return -1;
	}
	if (plan_mass_delete(p->n_delete_local, total, MASS_DELETE_SHARE, MASS_DELETE_MIN)) {
		error_set(err, ERR_SAFETY, RETRY_NEVER,
			  "refusing to delete %zu of %zu local messages (the server expunged "
			  "them); nothing was deleted; if that is what you want, run `%s`",
			  p->n_delete_local, total, cmd);
		return -1;
	}
	return 0;
}

static int count_intents(struct folder_job *job, size_t *n_r, struct error *err)
{
	struct state_intent *ins = NULL;

	if (state_intents_load(job->env->st, job->sf.id, &ins, n_r, err) < 0)
		return -1;
	state_intents_free(ins, *n_r);
	return 0;
}

/* Pairs are read again: recovery or adoption may have added some (a dry
 * run's adoption left them in memory). */
static int plan_folder(struct folder_job *job, struct error *err)
{
	struct plan_input in;

	if (!job->adopted && !job->sparse) {
		state_pairs_free(job->pairs, job->n_pairs);
		job->pairs = NULL;
		job->n_pairs = 0;
		if (state_pairs_load(job->env->st, job->sf.id, &job->pairs, &job->n_pairs, err) < 0)
			return -1;
	}
	fill_plan_input(job, &in);
	if (mark_local_only(job, (struct plan_local *)in.local, err) < 0) {
		free_plan_input(&in);
		return -1;
	}
	plan_build(&in, &job->plan);
	free_plan_input(&in);
	return 0;
}

/* The checkpoint is written only when it moved, so that a sync that changed
 * nothing writes nothing but the time of the sync. */
static int record_checkpoint(struct folder_job *job, struct error *err)
{
	struct state_folder *sf = &job->sf;

	sf->uidvalidity = job->info.uidvalidity;
	sf->uidnext = job->info.uidnext;
	sf->highestmodseq = job->info.highestmodseq;
	sf->local_stamp = job->stamp;
	sf->last_sync = time(NULL);
	free(sf->last_error);
	sf->last_error = NULL;
	return state_folder_put(job->env->st, sf, err);
}

static int apply_plan(struct folder_job *job, struct error *err)
{
	if (apply_flags(job, err) < 0 || apply_moves(job, err) < 0 ||
	    apply_deletions(job, err) < 0 || download_run(job, err) < 0 ||
	    apply_uploads(job, err) < 0)
		return -1;
	return 0;
}

static void count_plan(struct folder_job *job)
{
	struct engine_folder_report *r = &job->report;

	r->held = job->plan.n_held;
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		switch (a->op) {
		case PLAN_DOWNLOAD:
		case PLAN_RESTORE_LOCAL:
			r->downloaded++;
			break;
		case PLAN_UPLOAD:
		case PLAN_RESTORE_REMOTE:
			r->uploaded++;
			break;
		case PLAN_FLAGS:
			r->flags_pulled += a->pull;
			r->flags_pushed += (a->push_add | a->push_remove) != 0;
			break;
		case PLAN_DELETE_LOCAL:
			r->deleted_local++;
			break;
		case PLAN_DELETE_REMOTE:
			r->deleted_remote++;
			break;
		case PLAN_MOVE_OUT:
			r->moved++;
			break;
		default:
			break;
		}
	}
}

static bool uidvalidity_changed(const struct folder_job *job)
{
	return job->sf.id != 0 && job->sf.uidvalidity != 0 &&
	       job->sf.uidvalidity != job->info.uidvalidity;
}

/* UIDNEXT never goes backwards under one UIDVALIDITY (RFC 3501 2.3.1.1):
 * a server that does may have reused UIDs, so none we hold can be trusted
 * and acting on them could delete or mispair mail. The folder stops. */
static int check_uidnext(const struct folder_job *job, struct error *err)
{
	if (job->sf.id == 0 || job->sf.uidvalidity != job->info.uidvalidity ||
	    job->info.uidnext >= job->sf.uidnext)
		return 0;
	error_set(err, ERR_SAFETY, RETRY_NEVER,
		  "the server's UIDNEXT went backwards (%u -> %u) with the same UIDVALIDITY: "
		  "its UIDs cannot be trusted; nothing was changed in this folder",
		  job->sf.uidnext, job->info.uidnext);
	return -1;
}

/* The Maildir's stamp, with the partial-sync limits mixed in: a change of
 * max_age or max_size makes every folder look changed once, so that the
 * messages a raised limit lets in are fetched even where nothing else
 * changed. 0 (no stamp) stays 0; without limits the stamp is the
 * Maildir's own. */
static int take_stamp(struct folder_job *job, struct error *err)
{
	unsigned age;
	uint64_t size, mark;

	job_limits(job, &age, &size);
	mark = ((uint64_t)age * 0x9e3779b97f4a7c15ull) ^ (size * 0xc2b2ae3d27d4eb4full);

	if (maildir_settled_stamp(job->md, &job->stamp, err) < 0)
		return -1;
	if (job->stamp)
		job->stamp ^= mark;
	return 0;
}

/* A folder whose Maildir did not change since the last sync is asked about
 * with STATUS first: servers answer it from an index without opening the
 * mailbox, several times cheaper than SELECT, and a quiet folder then needs
 * nothing else. The selected mailbox is left to SELECT (RFC 3501 §6.3.10
 * discourages STATUS on it). Returns 1 quiet, 0 go on, -1 error. */
static int status_quiet(struct folder_job *job, struct error *err)
{
	struct imap *imap = job->env->imap;
	struct error ignored = {0};
	size_t n_pairs = 0, n_intents = 0;

	if (!job->sf.id || !job->sf.highestmodseq || !(imap_caps(imap) & IMAP_CAP_CONDSTORE) ||
	    imap_is_selected(imap, job->mbx->name) ||
	    maildir_open(job->local_abs, false, &job->md, &ignored) < 0)
		return 0;
	if (take_stamp(job, err) < 0 || count_intents(job, &n_intents, err) < 0 ||
	    state_pair_count(job->env->st, job->sf.id, &n_pairs, err) < 0)
		return -1;
	if (n_intents == 0 && job->stamp != 0 && job->stamp == job->sf.local_stamp) {
		if (job->has_pre)
			job->info = job->pre;
		else if (imap_status(imap, job->mbx->name, &job->info, err) < 0)
			return -1;
		if (folder_quiet(job, n_pairs, job->stamp)) {
			job->quiet = true;
			job->n_known = n_pairs;
			return 1;
		}
	}
	maildir_free(&job->md);
	job->stamp = 0;
	return 0;
}

/* The whole folder: every pair, the server's view and the Maildir's, then
 * what an interrupted run or an earlier tool left (a renumbered mailbox,
 * intents, files to adopt). Returns 0, 1 when there is nothing to plan (a
 * dry run of a renumbered folder), -1 error. */
static int gather_full(struct folder_job *job, struct error *err)
{
	size_t n_pairs = 0;

	if (folder_load_pairs(job, err) < 0)
		return -1;
	if (gather_remote(job, err) < 0 || gather_local(job, err) < 0)
		return -1;
	if (uidvalidity_changed(job)) {
		if (job->env->opts->dry_run) {
			env_notice(job->env,
				   "%s: the server changed UIDVALIDITY; a real sync "
				   "will re-pair its messages",
				   job->display);
			return 1;
		}
		if (rebuild_pairs(job, err) < 0)
			return -1;
	}
	if (!job->env->opts->dry_run && recover_intents(job, err) < 0)
		return -1;
	/* Recovery may have paired files: count again before adopting. A dry
	 * run adopts too (in memory), to show what a real sync would do. */
	if (job->n_local > 0 && job->n_remote > 0 && !uidvalidity_changed(job) &&
	    ((job->sf.id && state_pair_count(job->env->st, job->sf.id, &n_pairs, err) < 0) ||
	     (n_pairs == 0 && adopt_existing(job, err) < 0)))
		return -1;
	return 0;
}

/* Phase one: everything up to the plan. Nothing is changed on either side
 * except finishing what an interrupted run left (recover.c). */
int folder_plan(struct folder_job *job, struct error *err)
{
	size_t n_pairs = 0, n_intents = 0;
	bool sparse = false;
	int quiet, full;

	job->report.account = job->env->acct->name;
	if (prepare(job, err) < 0 || (quiet = status_quiet(job, err)) < 0)
		return -1;
	if (quiet)
		return 0;
	if (select_for_plan(job, err) < 0)
		return -1;
	if (!job->unselected)
		job->env->selected = job;
	if (check_uidnext(job, err) < 0)
		return -1;
	if (job->sf.id == 0 && !job->env->opts->dry_run &&
	    state_folder_put(job->env->st, &job->sf, err) < 0)
		return -1;
	if (job->sf.id && state_pair_count(job->env->st, job->sf.id, &n_pairs, err) < 0)
		return -1;
	if (open_local(job, n_pairs, err) < 0)
		return -1;
	if (job->drop_remote)
		return 0;
	/* The stamp is taken before the scan: a change made after it moves it. */
	if (job->md && take_stamp(job, err) < 0)
		return -1;
	job->n_known = n_pairs;
	if (job->sf.id && count_intents(job, &n_intents, err) < 0)
		return -1;
	/* Decided before the pairs are loaded: a quiet folder of 100,000
	 * messages then costs neither their memory nor their reading. */
	if (n_intents == 0 && folder_quiet(job, n_pairs, job->stamp)) {
		job->quiet = true;
		return 0;
	}
	if (n_intents == 0 && gather_sparse(job, n_pairs, &sparse, err) < 0)
		return -1;
	if (!sparse && (full = gather_full(job, err)) != 0)
		return full < 0 ? -1 : 0;
	if (plan_folder(job, err) < 0)
		return -1;
	return gather_download_dates(job, err);
}

/* Phase two, after moves across folders were matched: the guard, then the
 * actions, then the checkpoint. */
/* The user deleted the whole local folder, and propagate_deletes is on. */
static int drop_remote_folder(struct folder_job *job, struct error *err)
{
	if (job->env->opts->dry_run) {
		env_notice(job->env, "would delete folder '%s' on the server", job->display);
		return 0;
	}
	if (imap_delete(job->env->imap, job->mbx->name, err) < 0 ||
	    state_folder_delete(job->env->st, job->sf.id, err) < 0)
		return -1;
	job->env->selected = NULL;
	env_notice(job->env, "folder '%s' was deleted here: deleted on the server too",
		   job->display);
	return 0;
}

/* True when some action of the plan talks to the server (a flag pull, a
 * local deletion or forgetting a pair do not). */
static bool needs_server(const struct folder_job *job)
{
	if (job->n_moves > 0 || job->n_to_trash > 0)
		return true;
	for (size_t i = 0; i < job->plan.n; i++) {
		const struct plan_action *a = &job->plan.actions[i];

		switch (a->op) {
		case PLAN_FLAGS:
			if (a->push_add || a->push_remove)
				return true;
			break;
		case PLAN_DELETE_LOCAL:
		case PLAN_FORGET:
		case PLAN_KEEP_LOCAL:
		case PLAN_MOVE_IN:
			break;
		default:
			return true;
		}
	}
	return false;
}

/* The mailbox for the apply phase, SELECTed again only when an action
 * needs the server and another mailbox was selected since planning. The
 * plan's UIDs must still name the same messages. job->info keeps what the
 * plan read, and the checkpoint records that: a change someone else made
 * between the two SELECTs is then found by the next sync, not taken as
 * seen (our own changes are found again too, and match the base). */
static int select_for_apply(struct folder_job *job, struct error *err)
{
	struct imap_mailbox_info now;

	if (job->env->selected == job || !needs_server(job))
		return 0;
	if (imap_select(job->env->imap, job->mbx->name, &now, err) < 0)
		return -1;
	job->env->selected = job;
	if (now.uidvalidity != job->info.uidvalidity || now.uidnext < job->info.uidnext) {
		error_set(err, ERR_FOLDER, RETRY_BACKOFF,
			  "%s changed under us (UIDVALIDITY %u -> %u, UIDNEXT %u -> %u) while "
			  "the sync planned it: nothing was applied; the next sync starts over",
			  job->display, job->info.uidvalidity, now.uidvalidity, job->info.uidnext,
			  now.uidnext);
		return -1;
	}
	return 0;
}

int folder_apply(struct folder_job *job, struct error *err)
{
	if (job->drop_remote)
		return drop_remote_folder(job, err);
	if (job->quiet) {
		job->report.unchanged = true;
		job->report.messages = job->n_known;
		/* A past failure that left nothing to redo is over. */
		if (job->sf.last_error && !job->env->opts->dry_run)
			return state_folder_set_error(job->env->st, job->sf.id, NULL, err);
		return 0;
	}
	if (check_mass_delete(job, err) < 0)
		return -1;
	count_plan(job);
	if (job->env->opts->dry_run) {
		job->report.unchanged = job->plan.n == 0;
		return 0;
	}
	if (select_for_apply(job, err) < 0)
		return -1;
	/* (A sparse plan saw no message the limits keep away: it qualified
	 * only with every server message paired.) */
	if (apply_plan(job, err) < 0 || record_checkpoint(job, err) < 0 ||
	    (!job->sparse && record_held(job, err) < 0) ||
	    state_pair_count(job->env->st, job->sf.id, &job->report.messages, err) < 0)
		return -1;
	job->report.unchanged = job->plan.n == 0;
	return 0;
}

void folder_report(struct folder_job *job, const struct error *err)
{
	const struct engine_observer *obs = job->env->obs;

	job->report.account = job->env->acct->name;
	if (err) {
		struct error serr = {0};

		job->report.failed = true;
		job->report.err = *err;
		/* For `gmaildir status`; a failure to record it changes nothing. */
		if (job->sf.id && !job->env->opts->dry_run)
			state_folder_set_error(job->env->st, job->sf.id, err->msg, &serr);
	}
	if (!job->report.folder) {
		printable(job->mbx->name, job->safe_name, sizeof(job->safe_name));
		job->report.folder = job->safe_name;
	}
	if (job->env->opts->dry_run)
		job->report.messages = job->quiet || job->sparse ? job->n_known : job->n_pairs;
	if (obs && obs->folder_done) {
		pthread_mutex_lock(job->env->obs_lock);
		obs->folder_done(&job->report, obs->ctx);
		pthread_mutex_unlock(job->env->obs_lock);
	}
}
