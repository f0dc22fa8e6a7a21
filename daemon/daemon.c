/* `gmaildir daemon`: stays running and syncs each account as soon as
 * something changes (DESIGN.md §7).
 *
 * The main thread runs the one event loop and only waits and schedules:
 * IDLE connections (idler.c), the inotify watcher (debounced 200 ms),
 * timers (poll_interval, retry backoff, systemd watchdog), signals
 * (SIGTERM/SIGINT stop, SIGHUP reloads the config, SIGUSR1 syncs now) and
 * wake-ups from the workers. Each account has one worker thread that runs
 * the blocking syncs through an engine session, one request at a time; a
 * folder is therefore never synced by two workers at once. Our own changes
 * on disk are announced to the watcher (the touch hook) and never wake us. */
#include "daemon/daemon.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon_p.h"
#include "daemon/livestatus.h"
#include "net/netwatch.h"
#include "net/sockets.h"
#include "oauth/oauth.h"
#include "smtp/outbox.h"
#include "sync/hooks.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/sdnotify.h"
#include "util/xalloc.h"

#define DEBOUNCE_MS 200
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS (5 * 60 * 1000)
#define SIGNIN_POLL_MS (10 * 1000)
#define NET_SETTLE_MS 150
#define CLOCK_TICK_MS (15 * 1000)
#define STOP_GRACE_MS 1700
#define STATUS_TICK_MS (5 * 1000)
#define QUOTA_PAUSE_S (60 * 60)

struct daemon {
	struct loop *loop;   /* owned */
	struct netwatch *nw; /* owned; NULL: no rtnetlink here */
	struct loop_fd *nw_h;
	struct loop_timer *net_settle;	/* network news settle into one check */
	struct loop_timer *clock_tick;	/* notices a resume without a watchdog */
	struct loop_timer *status_tick; /* rewrites STATE/daemon-status on change */
	const char *config_path;	/* borrowed */
	struct config *cfg;		/* owned */
	struct daccount *accts;		/* owned */
	size_t n;
	const char *const *names; /* borrowed: the accounts to run, or none: all */
	size_t n_names;
	struct loop_timer *watchdog;
	bool ready; /* READY=1 was sent */
};

/* ------------------------------------------------------------ the worker */

static void touch(const char *path, void *ctx)
{
	watch_ignore_path(ctx, path);
}

/* Gmail's daily download limit ([OVERQUOTA], THROTTLED, "bandwidth"). */
static bool is_quota(const char *msg)
{
	return strstr(msg, "[OVERQUOTA]") || strstr(msg, "THROTTLED") ||
	       strcasestr(msg, "bandwidth");
}

/* The server's download limit stopped a folder: what arrived is kept,
 * small changes keep flowing (IDLE, inotify), and the next full sync
 * waits QUOTA_PAUSE_S instead of asking again every poll_interval. Told
 * once per pause. Worker thread. */
static void note_quota(struct daccount *a, const char *folder, const char *msg)
{
	time_t now = time(NULL), until = now + QUOTA_PAUSE_S;
	bool news;
	char at[16] = "?";
	struct tm tm;

	pthread_mutex_lock(&a->mu);
	news = a->quota_until <= now;
	if (news)
		a->quota_at = now;
	a->quota_until = until;
	pthread_mutex_unlock(&a->mu);
	if (localtime_r(&until, &tm))
		strftime(at, sizeof(at), "%H:%M", &tm);
	if (news)
		log_warn("%s/%s: %s; everything so far is kept, downloads resume at about %s",
			 a->acct->name, folder, msg, at);
}

/* A folder the guards stopped: its error names the `gmaildir sync` that
 * lifts the guard, and with the daemon running that command has the
 * daemon do it (control.h). */
static const char *safety_note(const struct engine_folder_report *r)
{
	return r->err.scope == ERR_SAFETY && strstr(r->err.msg, "gmaildir sync --")
		   ? " (while this daemon runs, that command has it do that sync)"
		   : "";
}

static void on_folder_done(const struct engine_folder_report *r, void *ctx)
{
	struct daccount *a = ctx;

	if (a->run_ticket)
		ctl_ticket_report(a->run_ticket, r);
	if (a->run_dry)
		return; /* a dry run changed nothing: nothing to log or hook */
	hook_changes_note(&a->changes, r);
	a->run_folders++;
	a->run_changed += r->failed || !r->unchanged;
	if (r->failed && is_quota(r->err.msg))
		note_quota(a, r->folder, r->err.msg);
	else if (r->failed)
		log_error("%s/%s: %s%s", r->account, r->folder, r->err.msg, safety_note(r));
	else if (!r->unchanged)
		log_info("%s/%s: %zu down, %zu up, flags %zu down %zu up, deleted %zu here %zu "
			 "there, %zu moved",
			 r->account, r->folder, r->downloaded, r->uploaded, r->flags_pulled,
			 r->flags_pushed, r->deleted_local, r->deleted_remote, r->moved);
}

static void on_progress(const struct engine_progress *p, void *ctx)
{
	struct daccount *a = ctx;

	if (a->run_ticket)
		ctl_ticket_progress(a->run_ticket, p);
}

static void on_notice(const char *account, const char *text, void *ctx)
{
	struct daccount *a = ctx;

	if (a->run_ticket)
		ctl_ticket_notice(a->run_ticket, text);
	log_warn("%s: %s", account, text);
}

/* What the worker does next: a sync of some folders (owned; NULL: all),
 * the outbox, and the `gmaildir sync` it is for, if any. */
struct wreq {
	char **folders;
	size_t n;
	bool sync;
	int flush;	    /* 0 no, 1 what is due, 2 everything */
	struct ctl_job job; /* job.ticket NULL: the daemon's own */
};

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* A run of a `gmaildir sync` also does what the daemon meant to do for
 * the same folders: that run starts after it was asked. Under a->mu. */
static void drop_covered(struct daccount *a, char *const *folders, size_t n)
{
	size_t k = 0;

	if (n == 0) {
		a->req_full = false;
		free_names(a->req_folders, a->n_req);
		a->req_folders = NULL;
		a->n_req = a->cap_req = 0;
		return;
	}
	for (size_t i = 0; i < a->n_req; i++) {
		bool covered = false;

		for (size_t j = 0; j < n && !covered; j++)
			covered = strcmp(a->req_folders[i], folders[j]) == 0;
		if (covered)
			free(a->req_folders[i]);
		else
			a->req_folders[k++] = a->req_folders[i];
	}
	a->n_req = k;
}

/* The first `gmaildir sync` waiting. Under a->mu. */
static void take_ctl_job(struct daccount *a, struct wreq *w)
{
	w->job = a->ctl_jobs[0];
	memmove(&a->ctl_jobs[0], &a->ctl_jobs[1], (a->n_ctl - 1) * sizeof(a->ctl_jobs[0]));
	a->n_ctl--;
	w->n = w->job.rq.n_folders;
	w->folders = w->n ? w->job.rq.folders : NULL;
	if (!w->n)
		free(w->job.rq.folders);
	w->job.rq.folders = NULL;
	w->job.rq.n_folders = w->job.rq.cap_folders = 0;
	w->sync = true;
	if (!w->job.rq.dry_run)
		drop_covered(a, w->folders, w->n);
}

/* Takes the pending request under the lock: a `gmaildir sync` first (in
 * the order they came), else the daemon's own: a full sync, or a list
 * of folders, or none (w->sync false) with the outbox. Returns false
 * when asked to quit. */
static bool next_request(struct daccount *a, struct wreq *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_lock(&a->mu);
	while (!a->quit && !a->req_full && a->n_req == 0 && !a->req_flush && !a->n_ctl)
		pthread_cond_wait(&a->cv, &a->mu);
	/* Quitting: what is pending stays with the account, freed with it. */
	if (a->quit) {
		pthread_mutex_unlock(&a->mu);
		return false;
	}
	if (a->n_ctl) {
		take_ctl_job(a, w);
		pthread_mutex_unlock(&a->mu);
		return true;
	}
	w->flush = a->req_flush ? (a->flush_force ? 2 : 1) : 0;
	a->req_flush = a->flush_force = false;
	w->sync = a->req_full || a->n_req > 0;
	w->folders = a->req_full ? NULL : a->req_folders;
	w->n = a->req_full ? 0 : a->n_req;
	if (a->req_full)
		free_names(a->req_folders, a->n_req);
	a->req_folders = NULL;
	a->n_req = a->cap_req = 0;
	a->req_full = false;
	pthread_mutex_unlock(&a->mu);
	return true;
}

/* The outbox of the account: due messages, or all with force (the
 * network is back, a message was just queued). */
static void flush_outbox(struct daccount *a, bool force)
{
	struct flush_opts fo = {.force = force};
	struct flush_result res;
	struct error err = {0};

	if (!a->acct->smtp.configured)
		return;
	if (outbox_flush(a->acct, &fo, &res, &err) < 0)
		log_warn("%s: outbox: %s (%zu message%s wait)", a->acct->name, err.msg, res.waiting,
			 res.waiting == 1 ? "" : "s");
	else if (res.deferred)
		log_warn("%s: outbox: %s (%zu message%s wait)", a->acct->name, res.reason,
			 res.waiting, res.waiting == 1 ? "" : "s");
}

/* An account that fails the same way again and again (no network for an
 * hour, a sign-in to renew) is told once, not at every retry; a success
 * or another failure is news again. */
static void log_account_error(struct daccount *a, int ret, const struct error *err)
{
	if (ret >= 0) {
		if (a->last_error[0])
			log_info("%s: working again", a->acct->name);
		a->last_error[0] = '\0';
		return;
	}
	if (atomic_load(&a->cancel) || strcmp(a->last_error, err->msg) == 0)
		return;
	snprintf(a->last_error, sizeof(a->last_error), "%s", err->msg);
	if (imap_error_is_too_many(err))
		log_warn("%s: %s; making room", a->acct->name, err->msg); /* shrink_budget */
	else
		log_error("%s: %s", a->acct->name, err->msg);
}

/* After a sync: what status and the loop learn from it. Worker. */
static void note_result(struct daccount *a, int ret, bool full, const struct error *err)
{
	pthread_mutex_lock(&a->mu);
	a->last_ret = ret;
	a->signin_needed = ret < 0 && oauth_signin_needed(err);
	a->synced_once = a->synced_once || ret >= 0;
	if (ret == 0 && full)
		a->quota_until = 0; /* a whole sync went through */
	if (ret >= 0) {
		a->last_ok = time(NULL);
		a->status_error[0] = '\0';
	} else if (!atomic_load(&a->cancel)) {
		if (!a->status_error[0])
			a->failing_since = time(NULL);
		snprintf(a->status_error, sizeof(a->status_error), "%s", err->msg);
		a->status_error_at = time(NULL);
	}
	pthread_mutex_unlock(&a->mu);
}

static void set_syncing(struct daccount *a, bool on)
{
	pthread_mutex_lock(&a->mu);
	a->syncing = on;
	pthread_mutex_unlock(&a->mu);
}

/* One request. A `gmaildir sync`'s options hold for its run only: the
 * mass-deletion permission covers the folders it named (all of them
 * when it named none), as in a sync without the daemon; a dry run
 * changes nothing and counts for nothing (status, backoff, hook). */
static void run_request(struct daccount *a, struct wreq *w)
{
	const struct ctl_request *rq = &w->job.rq;
	bool dry = rq->dry_run;
	struct engine_opts o = {.folders = (const char *const *)w->folders,
				.n_folders = w->n,
				.dry_run = dry,
				.allow_mass_delete = rq->allow_mass_delete,
				.allow_unmatched = rq->allow_unmatched,
				.touch = a->watch ? touch : NULL,
				.touch_ctx = a->watch,
				.max_connections = (unsigned)a->budget.sync,
				.cancel = &a->cancel};
	struct error err = {0};
	int ret;

	/* A full sync also sends what is due; after a failed run (the
	 * network was gone), everything queued. */
	if (!dry && (w->flush || (w->sync && !w->folders)))
		flush_outbox(a, w->flush == 2 || a->last_ret < 0);
	if (!w->sync)
		return;
	if (w->job.ticket)
		log_info("%s: gmaildir sync asks for a sync%s now", a->acct->name,
			 dry ? " (dry run)" : "");
	o.fresh_connection = atomic_exchange(&a->fresh, false);
	set_syncing(a, true);
	a->run_folders = a->run_changed = 0;
	a->run_ticket = w->job.ticket;
	a->run_dry = dry;
	ret = engine_session_sync(a->session, &o, &err);
	a->run_ticket = NULL;
	a->run_dry = false;
	if (!dry) {
		log_account_error(a, ret, &err);
		/* -v: a sync that found nothing is said too, so that a quiet log
		 * shows the daemon still looks. */
		if (ret == 0 && a->run_changed == 0)
			log_debug("%s: %s: %zu folder(s) checked, nothing changed", a->acct->name,
				  w->folders ? "sync of the folders that signalled" : "full sync",
				  a->run_folders);
		if (hook_post_sync(a->acct, &a->changes, &err) < 0)
			log_warn("%s: %s", a->acct->name, err.msg);
	}
	hook_changes_clear(&a->changes);
	if (w->job.ticket)
		ctl_ticket_finish(w->job.ticket, ret, &err);
	set_syncing(a, false);
	if (dry)
		return;
	note_result(a, ret, !w->folders, &err);
	loop_wake(a->done);
}

static void *worker_main(void *arg)
{
	struct daccount *a = arg;
	struct wreq w;

	while (next_request(a, &w)) {
		run_request(a, &w);
		free_names(w.folders, w.n);
		ctl_ticket_unref(&w.job.ticket);
		ctl_request_clear(&w.job.rq);
	}
	return NULL;
}

/* A `gmaildir sync` asks for a run now: queued for the worker, before
 * the daemon's own requests. Loop thread. */
static void on_ctl_request(struct ctl_ticket *t, struct ctl_request *rq, void *ctx)
{
	struct daccount *a = ctx;

	pthread_mutex_lock(&a->mu);
	a->ctl_jobs = xgrow(a->ctl_jobs, &a->cap_ctl, a->n_ctl + 1, sizeof(a->ctl_jobs[0]));
	a->ctl_jobs[a->n_ctl].ticket = ctl_ticket_ref(t);
	a->ctl_jobs[a->n_ctl].rq = *rq;
	a->n_ctl++;
	memset(rq, 0, sizeof(*rq));
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* The `gmaildir sync`s still waiting when the account stops are told
 * so. After the worker was joined. */
static void drop_ctl_jobs(struct daccount *a)
{
	struct error err = {0};

	error_set(&err, ERR_ACCOUNT, RETRY_BACKOFF,
		  "the daemon stopped or reloaded its config before this sync could run");
	for (size_t i = 0; i < a->n_ctl; i++) {
		ctl_ticket_finish(a->ctl_jobs[i].ticket, -1, &err);
		ctl_ticket_unref(&a->ctl_jobs[i].ticket);
		ctl_request_clear(&a->ctl_jobs[i].rq);
	}
	free(a->ctl_jobs);
	a->ctl_jobs = NULL;
	a->n_ctl = a->cap_ctl = 0;
}

/* STATE/daemon.sock: without it `gmaildir sync` is refused while the
 * daemon runs (the account's lock), so say why. */
static void control_start(struct daccount *a)
{
	struct error err = {0};

	if (control_open(a->d->loop, a->acct->state_dir, on_ctl_request, a, &a->control, &err) < 0)
		log_warn(
		    "%s: gmaildir sync cannot ask this daemon to sync (it is refused while the "
		    "daemon runs): %s",
		    a->acct->name, err.msg);
}

/* Asks the account's worker for a sync of one folder (display name), or of
 * everything (folder NULL). Loop thread. */
static void daccount_request(struct daccount *a, const char *folder)
{
	pthread_mutex_lock(&a->mu);
	if (!folder) {
		a->req_full = true;
	} else if (!a->req_full) {
		bool known = false;

		for (size_t i = 0; i < a->n_req && !known; i++)
			known = strcmp(a->req_folders[i], folder) == 0;
		if (!known) {
			a->req_folders =
			    xgrow(a->req_folders, &a->cap_req, a->n_req + 1, sizeof(char *));
			a->req_folders[a->n_req++] = xstrdup(folder);
		}
	}
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* Asks the worker to submit the outbox now. Loop thread. */
static void daccount_request_flush(struct daccount *a)
{
	pthread_mutex_lock(&a->mu);
	a->req_flush = true;
	a->flush_force = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* A message arrived in the outbox (gmaildir send could not submit it, or
 * a client wrote into the queue): send it. */
static void on_outbox_fd(int fd, unsigned revents, void *ctx)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool queued = false;

	(void)revents;
	while (read(fd, buf, sizeof(buf)) > 0)
		queued = true;
	if (queued)
		daccount_request_flush(ctx);
}

static void outbox_watch(struct daccount *a)
{
	struct error err = {0};
	char *newdir;

	a->outbox_fd = -1;
	if (!a->acct->smtp.configured)
		return;
	newdir = xasprintf("%s/outbox/new", a->acct->state_dir);
	if (fs_mkdir_p(newdir, 0700, &err) == 0) {
		a->outbox_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (a->outbox_fd >= 0 &&
		    inotify_add_watch(a->outbox_fd, newdir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
			close(a->outbox_fd);
			a->outbox_fd = -1;
		}
	}
	if (a->outbox_fd >= 0)
		a->outbox_h = loop_add_fd(a->d->loop, a->outbox_fd, POLLIN, on_outbox_fd, a);
	else
		log_warn("%s: queued mail is sent only by the periodic sync: cannot watch %s",
			 a->acct->name, newdir);
	free(newdir);
}

/* An idler or the poller saw a change (or came up): sync its folder. */
static void on_folder_change(const char *folder, void *ctx)
{
	daccount_request(ctx, folder);
}

static void on_poller_refused(void *ctx);

/* folder (as configured) is pushed by STATUS polling: beyond the IDLE
 * budget, or its idler was refused by the server. */
static void poll_folder(struct daccount *a, const char *folder)
{
	struct error err = {0};

	if (!a->poller)
		a->poller =
		    poller_new(a->d->loop, a->acct, on_folder_change, on_poller_refused, a, &err);
	if (!a->poller) {
		log_warn("%s/%s: changes on the server are found by the periodic sync only: %s",
			 a->acct->name, folder, err.msg);
		return;
	}
	poller_add(a->poller, folder);
}

static void on_idle_refused(struct idler *i, const char *folder, void *ctx)
{
	(void)i;
	poll_folder(ctx, folder);
}

/* The server refused the sync or the poller for too many connections:
 * the budget shrinks to what it takes, IDLE first (the last folder
 * listed steps down to polling). False when no IDLE is left to shrink. */
static bool shrink_budget(struct daccount *a)
{
	/* A poller that does not exist yet takes a connection of its own:
	 * then two IDLE folders make room, one for it, one for the sync. */
	size_t want = a->poller ? 1 : 2, freed = 0;

	for (size_t k = a->n_idlers; k-- > 0 && freed < want;) {
		struct idler *i = a->idlers[k];

		if (idler_given_up(i) || !idler_step_down(i))
			continue;
		log_warn("%s: the server refuses more connections: %s is checked by polling "
			 "instead of IDLE",
			 a->acct->name, idler_folder(i));
		poll_folder(a, idler_folder(i));
		freed++;
	}
	if (freed && a->poller)
		poller_check(a->poller); /* it may be waiting out a refusal */
	if (freed && a->budget.idle >= freed)
		a->budget.idle -= freed;
	return freed > 0;
}

static void on_poller_refused(void *ctx)
{
	shrink_budget(ctx);
}

/* ------------------------------------------------------------ loop side */

static void watch_folders(struct daccount *a)
{
	struct engine_folder *f = NULL;
	size_t n = 0;
	struct error err = {0};

	engine_session_folders(a->session, &f, &n);
	for (size_t i = 0; i < a->n_idlers; i++)
		idler_name_from(a->idlers[i], f, n);
	if (!a->watch) {
		engine_folders_free(f, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (watch_add_folder(a->watch, f[i].display, f[i].local_abs, &err) < 0)
			log_debug("%s: not watching %s: %s", a->acct->name, f[i].display, err.msg);
	engine_folders_free(f, n);
}

/* ------------------------------------------------------------ status */

static void add_sync_status(struct daccount *a, struct live_status *ls)
{
	const char *state;
	char paused[64];

	pthread_mutex_lock(&a->mu);
	ls->last_ok = a->last_ok;
	ls->error_at = a->status_error_at;
	snprintf(ls->error, sizeof(ls->error), "%s", a->status_error);
	if (a->quota_until > time(NULL)) {
		struct tm tm;

		snprintf(paused, sizeof(paused), "paused by the server's download limit");
		if (localtime_r(&a->quota_until, &tm))
			strftime(paused + strlen(paused), sizeof(paused) - strlen(paused),
				 " until about %H:%M", &tm);
		state = paused;
	} else if (a->syncing)
		state = "syncing";
	else if (a->status_error[0])
		state =
		    sockets_says_no_route(a->status_error) ? "waiting for network" : "reconnecting";
	else
		state = a->synced_once ? "connected" : "connecting";
	live_status_add(ls, "sync", "-", state,
			state == paused	     ? a->quota_at
			: a->status_error[0] ? a->failing_since
					     : 0,
			a->status_error_at, a->status_error);
	pthread_mutex_unlock(&a->mu);
}

static void add_push_status(struct daccount *a, struct live_status *ls)
{
	for (size_t i = 0; i < a->n_idlers; i++) {
		struct idler_status st;

		idler_status(a->idlers[i], &st);
		live_status_add(ls, "idle", idler_folder(a->idlers[i]), idler_phase_name(st.phase),
				st.since, st.last_error_at, st.last_error);
	}
	if (a->poller) {
		char err[1024], n[32];
		time_t at;
		bool up;

		poller_status(a->poller, &up, err, sizeof(err), &at);
		snprintf(n, sizeof(n), "%zu folder(s)", poller_count(a->poller));
		live_status_add(ls, "poll", n,
				up	 ? "connected"
				: err[0] ? "reconnecting"
					 : "connecting",
				0, at, err);
	}
}

/* STATE/daemon-status for `gmaildir status` (daemon/livestatus.h). */
static void write_status(struct daccount *a)
{
	struct live_status ls = {.pid = getpid()};
	struct error err = {0};
	char *text;

	add_sync_status(a, &ls);
	add_push_status(a, &ls);
	text = live_status_format(&ls);
	if (live_status_save(a->acct->state_dir, text, &a->status_last, &err) < 0)
		log_debug("%s: %s", a->acct->name, err.msg);
	free(text);
	live_status_clear(&ls);
}

static void on_status_tick(void *ctx)
{
	struct daemon *d = ctx;

	for (size_t i = 0; i < d->n; i++)
		write_status(&d->accts[i]);
}

static void maybe_ready(struct daemon *d)
{
	for (size_t i = 0; i < d->n; i++) {
		bool done;

		pthread_mutex_lock(&d->accts[i].mu);
		done = d->accts[i].synced_once;
		pthread_mutex_unlock(&d->accts[i].mu);
		if (!done)
			return;
	}
	if (!d->ready) {
		d->ready = true;
		log_info("first sync done; watching for changes");
		sdnotify("READY=1\nSTATUS=%zu account(s) in sync, watching", d->n);
	}
}

/* A sync finished: watch what it covered; back off after a failure. */
static bool is_too_many(const char *msg)
{
	struct error e = {0};

	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	return imap_error_is_too_many(&e);
}

static void on_done(void *ctx)
{
	struct daccount *a = ctx;
	time_t quota_until;
	bool refused;
	int ret;

	pthread_mutex_lock(&a->mu);
	ret = a->last_ret;
	refused = ret < 0 && is_too_many(a->status_error);
	quota_until = a->quota_until;
	pthread_mutex_unlock(&a->mu);
	/* The next full sync after the download limit's pause. */
	if (quota_until > time(NULL))
		loop_timer_reset(a->poll, (int64_t)(quota_until - time(NULL)) * 1000,
				 (int64_t)a->acct->poll_interval * 1000);
	watch_folders(a);
	/* The sync comes first: an IDLE connection makes room for it. */
	if (refused && shrink_budget(a))
		a->retry_ms = RETRY_MIN_MS;
	if (ret < 0 && !atomic_load(&a->cancel) && a->signin_needed) {
		/* Waiting for `gmaildir login`: a retry only reads the kept
		 * sign-in (the provider is not asked again for the refused
		 * one), so look often and resume soon after the login. */
		loop_timer_reset(a->retry, SIGNIN_POLL_MS, 0);
	} else if (ret < 0 && !atomic_load(&a->cancel)) {
		/* Jitter: accounts (and laptops) that failed together do not
		 * all come back in the same second. */
		loop_timer_reset(a->retry, a->retry_ms + random() % (a->retry_ms / 4 + 1), 0);
		a->retry_ms = a->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : a->retry_ms * 2;
	} else {
		a->retry_ms = RETRY_MIN_MS;
	}
	if (ret >= 0 && a->failing)
		for (size_t k = 0; k < a->n_idlers; k++)
			idler_retry_now(a->idlers[k]);
	a->failing = ret < 0;
	write_status(a);
	maybe_ready(a->d);
}

static void on_retry(void *ctx)
{
	daccount_request(ctx, NULL);
}

static void on_poll(void *ctx)
{
	struct daccount *a = ctx;

	log_debug("%s: poll_interval (%u s): full sync", a->acct->name, a->acct->poll_interval);
	daccount_request(a, NULL);
}

static void add_pending(struct daccount *a, const char *folder)
{
	for (size_t i = 0; i < a->n_pending; i++)
		if (strcmp(a->pending[i], folder) == 0)
			return;
	a->pending = xgrow(a->pending, &a->cap_pending, a->n_pending + 1, sizeof(char *));
	a->pending[a->n_pending++] = xstrdup(folder);
}

static void on_watch_event(const struct watch_event *ev, void *ctx)
{
	struct daccount *a = ctx;

	if (ev->kind == WATCH_FOLDER)
		add_pending(a, ev->name);
	else
		a->pending_full = true; /* new folders, or lost events: everything */
}

static void on_watch_fd(int fd, unsigned revents, void *ctx)
{
	struct daccount *a = ctx;
	struct error err = {0};

	(void)fd;
	(void)revents;
	if (watch_read(a->watch, on_watch_event, a, &err) < 0)
		log_warn("%s: inotify: %s", a->acct->name, err.msg);
	if (a->pending_full || a->n_pending > 0)
		loop_timer_reset(a->debounce, DEBOUNCE_MS, 0);
}

/* Changes on disk settled: one sync for all of them. */
static void on_debounce(void *ctx)
{
	struct daccount *a = ctx;

	if (a->pending_full)
		daccount_request(a, NULL);
	for (size_t i = 0; i < a->n_pending; i++) {
		if (!a->pending_full)
			daccount_request(a, a->pending[i]);
		free(a->pending[i]);
	}
	a->n_pending = 0;
	a->pending_full = false;
}

/* ------------------------------------------------------ account lifetime */

static void account_watch(struct daccount *a)
{
	struct error err = {0};

	if (fs_mkdir_p(a->acct->maildir, 0700, &err) < 0 ||
	    watch_new(a->acct->maildir, a->acct->layout, &a->watch, &err) < 0) {
		log_warn("%s: local changes are noticed only by the periodic sync: %s",
			 a->acct->name, err.msg);
		return;
	}
	a->watch_h = loop_add_fd(a->d->loop, watch_fd(a->watch), POLLIN, on_watch_fd, a);
}

static struct loop_timer *idle_timer(struct loop *loop, loop_timer_fn *fn, void *ctx)
{
	struct loop_timer *t = loop_add_timer(loop, 1, 0, fn, ctx);

	loop_timer_stop(t);
	return t;
}

/* IDLE for the folders the budget allows, STATUS polling for the rest. */
static void start_pushing(struct daccount *a)
{
	const struct account_conf *acct = a->acct;
	struct idler_events ev = {on_folder_change, on_idle_refused, a};

	budget_split(acct->max_connections, acct->idle.len, acct->connections,
		     acct->smtp.configured, &a->budget);
	a->idlers = xcalloc(acct->idle.len ? acct->idle.len : 1, sizeof(*a->idlers));
	for (size_t i = 0; i < acct->idle.len; i++) {
		if (i < a->budget.idle)
			a->idlers[a->n_idlers++] =
			    idler_new(a->d->loop, acct, acct->idle.items[i], &ev);
		else
			poll_folder(a, acct->idle.items[i]);
	}
	if (a->budget.poller)
		log_info("%s: %zu folder(s) to push, more than max_connections (%u) leaves IDLE "
			 "connections for: %zu use IDLE, the others are checked every %u s",
			 acct->name, acct->idle.len, acct->max_connections, a->budget.idle,
			 acct->status_interval);
}

static int account_start(struct daemon *d, struct daccount *a, const struct account_conf *acct,
			 struct error *err)
{
	int64_t poll_ms = (int64_t)acct->poll_interval * 1000;

	a->d = d;
	a->acct = acct;
	a->outbox_fd = -1;
	a->retry_ms = RETRY_MIN_MS;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	atomic_init(&a->cancel, false);
	a->observer = (struct engine_observer){on_progress, on_folder_done, on_notice, a};
	if (engine_session_open(acct, &a->observer, &a->session, err) < 0)
		return -1;
	account_watch(a);
	outbox_watch(a);
	control_start(a);
	a->done = loop_add_wake(d->loop, on_done, a, err);
	if (!a->done)
		return -1;
	a->debounce = idle_timer(d->loop, on_debounce, a);
	a->retry = idle_timer(d->loop, on_retry, a);
	a->poll = loop_add_timer(d->loop, poll_ms, poll_ms, on_poll, a);
	start_pushing(a);
	a->req_full = true;
	a->thread_started = pthread_create(&a->thread, NULL, worker_main, a) == 0;
	return 0;
}

/* Finishes the step in flight (the engine stops at the next batch
 * boundary, everything committed stays), then releases everything. */
static void account_stop(struct daccount *a)
{
	atomic_store(&a->cancel, true);
	pthread_mutex_lock(&a->mu);
	a->quit = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->thread_started)
		pthread_join(a->thread, NULL);
	drop_ctl_jobs(a);
	control_free(&a->control);
	for (size_t i = 0; i < a->n_idlers; i++)
		idler_free(&a->idlers[i]);
	free(a->idlers);
	poller_free(&a->poller);
	live_status_remove(a->acct->state_dir);
	free(a->status_last);
	loop_remove_fd(&a->watch_h);
	loop_remove_fd(&a->outbox_h);
	if (a->outbox_fd >= 0)
		close(a->outbox_fd);
	loop_remove_wake(&a->done);
	loop_remove_timer(&a->debounce);
	loop_remove_timer(&a->retry);
	loop_remove_timer(&a->poll);
	watch_free(&a->watch);
	engine_session_free(&a->session);
	for (size_t i = 0; i < a->n_pending; i++)
		free(a->pending[i]);
	free(a->pending);
	hook_changes_clear(&a->changes);
	for (size_t i = 0; i < a->n_req; i++)
		free(a->req_folders[i]);
	free(a->req_folders);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	memset(a, 0, sizeof(*a));
}

static void accounts_stop(struct daemon *d)
{
	for (size_t i = 0; i < d->n; i++)
		atomic_store(&d->accts[i].cancel, true);
	for (size_t i = 0; i < d->n; i++)
		account_stop(&d->accts[i]);
	free(d->accts);
	d->accts = NULL;
	d->n = 0;
}

static bool wanted(const struct daemon *d, const struct account_conf *acct)
{
	bool yes = d->n_names == 0;

	for (size_t k = 0; k < d->n_names && !yes; k++)
		yes = strcmp(d->names[k], acct->name) == 0;
	return yes;
}

/* The local paths of every account before any starts: one that cannot be
 * used stops the daemon (exit 2, not restarted), with the fix. The first
 * problem is returned, any other one logged. */
static int check_local(const struct daemon *d, struct error *err)
{
	int ret = 0;

	for (size_t i = 0; i < config_account_count(d->cfg); i++) {
		const struct account_conf *acct = config_account(d->cfg, i);
		struct error e = {0};

		if (!wanted(d, acct) || engine_check_local(acct, &e) == 0)
			continue;
		if (ret == 0)
			*err = e;
		else
			log_error("%s", e.msg);
		ret = -1;
	}
	return ret;
}

static int accounts_start(struct daemon *d, struct error *err)
{
	size_t n = config_account_count(d->cfg);

	for (size_t i = 0; i < d->n_names; i++) {
		if (!config_find_account(d->cfg, d->names[i])) {
			error_set(err, ERR_CONFIG, RETRY_NEVER,
				  "no account named '%s' in the config", d->names[i]);
			return -1;
		}
	}
	if (check_local(d, err) < 0)
		return -1;
	d->accts = xcalloc(n ? n : 1, sizeof(*d->accts));
	for (size_t i = 0; i < n; i++) {
		const struct account_conf *acct = config_account(d->cfg, i);

		if (!wanted(d, acct))
			continue;
		if (account_start(d, &d->accts[d->n++], acct, err) < 0) {
			if (err->scope != ERR_CONFIG)
				error_prefix(err, "%s", acct->name);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ signals */

/* Whether the daemon got through its stop, and whether it began (loop
 * thread). Process-wide: there is one. */
static atomic_bool stop_finished;
static bool stopping;

static void *stop_guard_main(void *arg)
{
	struct timespec ts = {STOP_GRACE_MS / 1000, (STOP_GRACE_MS % 1000) * 1000000L};

	(void)arg;
	while (nanosleep(&ts, &ts) < 0)
		;
	if (!atomic_load(&stop_finished)) {
		/* As safe as a kill -9, which every step is made to survive. */
		log_warn("stopping: what is still in flight is abandoned; the next start finishes "
			 "it");
		_exit(0);
	}
	return NULL;
}

static void stop_guard_start(void)
{
	static atomic_bool started;
	pthread_attr_t attr;
	pthread_t t;

	if (atomic_exchange(&started, true))
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, stop_guard_main, NULL) != 0)
		log_debug("no stop guard: cannot start a thread");
	pthread_attr_destroy(&attr);
}

static void stop_guard_done(void)
{
	atomic_store(&stop_finished, true);
}

/* Stopping never waits for the network: every socket is ended at once
 * (in-flight I/O fails; the intents in the state DB make the next start
 * finish the step), and what still hangs (a DNS look-up, a token
 * refresh) is abandoned after STOP_GRACE_MS. */
static void on_stop(int signo, void *ctx)
{
	struct daemon *d = ctx;

	stopping = true;
	log_info("signal %d: stopping", signo);
	sdnotify("STOPPING=1");
	for (size_t i = 0; i < d->n; i++)
		atomic_store(&d->accts[i].cancel, true);
	sockets_refuse("the daemon is stopping");
	stop_guard_start();
	loop_stop(d->loop);
}

/* A config that does not load keeps the old one running. */
static void on_reload(int signo, void *ctx)
{
	struct daemon *d = ctx;
	struct config *cfg = NULL;
	struct error err = {0};

	(void)signo;
	/* A stop in the same round wins: no new accounts, no new sockets. */
	if (atomic_load(&stop_finished) || stopping)
		return;
	/* logrotate's postrotate sends SIGHUP too: the file it moved away
	 * is let go. */
	if (log_reopen_file(&err) < 0)
		log_error("%s; logging on in the old file", err.msg);
	if (config_load(d->config_path, &cfg, &err) < 0) {
		log_error("reload refused, the running config stays: %s", err.msg);
		return;
	}
	sdnotify("RELOADING=1");
	sockets_refuse("the configuration is being reloaded");
	accounts_stop(d);
	sockets_allow();
	config_free(&d->cfg);
	d->cfg = cfg;
	if (accounts_start(d, &err) < 0)
		log_error("reload: %s", err.msg);
	log_info("config reloaded: %zu account(s)", d->n);
	sdnotify("READY=1");
}

static void on_sync_now(int signo, void *ctx)
{
	struct daemon *d = ctx;

	(void)signo;
	log_debug("SIGUSR1: sync requested (%zu account(s))", d->n);
	for (size_t i = 0; i < d->n; i++)
		daccount_request(&d->accts[i], NULL);
}

/* The path to the servers may have changed. Connections that cannot be
 * on the new path are ended at once (their I/O fails now, not after the
 * timeout); the others are checked; an account that lost anything, or
 * was failing (no network), syncs everything now: changes made on both
 * sides meanwhile are merged as usual. After a resume (suspect: NAT and
 * servers forget sleeping peers) every connection is checked and the
 * sync's kept one replaced. */
static void network_changed(struct daemon *d, bool suspect)
{
	size_t ended = sockets_end_unroutable();

	if (ended)
		log_info("network changed: %zu connection(s) had no way to their server any more",
			 ended);
	for (size_t i = 0; i < d->n; i++) {
		struct daccount *a = &d->accts[i];

		for (size_t k = 0; k < a->n_idlers; k++)
			idler_check(a->idlers[k]);
		if (a->poller)
			poller_check(a->poller);
		a->retry_ms = RETRY_MIN_MS;
		if (suspect)
			atomic_store(&a->fresh, true);
		if (suspect || ended || a->failing) {
			loop_timer_stop(a->retry);
			daccount_request(a, NULL);
		}
		write_status(a);
	}
}

/* After a suspend every link is suspect. */
static void on_suspend(int64_t slept_ms, void *ctx)
{
	log_info("resumed after %lld s asleep: checking connections", (long long)(slept_ms / 1000));
	network_changed(ctx, true);
}

/* SIGUSR2: the same check on demand (a sleep hook, a VPN script, tests). */
static void on_check_now(int signo, void *ctx)
{
	(void)signo;
	log_info("asked to check connections");
	network_changed(ctx, true);
}

static void on_net_fd(int fd, unsigned revents, void *ctx)
{
	struct daemon *d = ctx;

	(void)fd;
	(void)revents;
	/* A link change comes as several messages (link, address, routes):
	 * they settle first, so the check sees the final state. */
	if (netwatch_read(d->nw) > 0)
		loop_timer_reset(d->net_settle, NET_SETTLE_MS, 0);
}

static void on_net_settle(void *ctx)
{
	network_changed(ctx, false);
}

/* Resume detection runs on every loop wake-up; without systemd's watchdog
 * ping nothing may wake an idle daemon soon after a resume. */
static void on_clock_tick(void *ctx)
{
	(void)ctx;
}

static void net_watch_start(struct daemon *d)
{
	struct error err = {0};

	d->net_settle = idle_timer(d->loop, on_net_settle, d);
	if (netwatch_open(&d->nw, &err) < 0) {
		log_warn("network changes are noticed by the timeouts only: %s", err.msg);
		return;
	}
	d->nw_h = loop_add_fd(d->loop, netwatch_fd(d->nw), POLLIN, on_net_fd, d);
}

/* systemd ignores WATCHDOG=1 before READY=1: while the first sync runs
 * (an offline laptop may wait long for it), the start timeout is extended
 * instead, two watchdog periods at a time, so a hung loop is still caught. */
static void on_watchdog(void *ctx)
{
	struct daemon *d = ctx;

	if (d->ready)
		sdnotify("WATCHDOG=1");
	else
		sdnotify("EXTEND_TIMEOUT_USEC=%llu",
			 (unsigned long long)sdnotify_watchdog_usec() * 2);
}

static int add_signals(struct daemon *d, struct error *err)
{
	if (loop_add_signal(d->loop, SIGTERM, on_stop, d, err) < 0 ||
	    loop_add_signal(d->loop, SIGINT, on_stop, d, err) < 0 ||
	    loop_add_signal(d->loop, SIGHUP, on_reload, d, err) < 0 ||
	    loop_add_signal(d->loop, SIGUSR1, on_sync_now, d, err) < 0 ||
	    loop_add_signal(d->loop, SIGUSR2, on_check_now, d, err) < 0)
		return -1;
	loop_on_suspend(d->loop, on_suspend, d);
	if (sdnotify_watchdog_usec() > 0) {
		int64_t ms = (int64_t)(sdnotify_watchdog_usec() / 2000);

		d->watchdog = loop_add_timer(d->loop, ms, ms, on_watchdog, d);
	} else {
		d->clock_tick =
		    loop_add_timer(d->loop, CLOCK_TICK_MS, CLOCK_TICK_MS, on_clock_tick, d);
	}
	return 0;
}

int daemon_run(const char *config_path, struct config **cfg, const char *const *names,
	       size_t n_names, struct error *err)
{
	struct daemon d = {
	    .config_path = config_path, .cfg = *cfg, .names = names, .n_names = n_names};
	int ret = -1;

	*cfg = NULL;
	/* Signals first: the worker threads inherit the blocked mask. */
	if (loop_new(&d.loop, err) < 0 || add_signals(&d, err) < 0)
		goto out;
	net_watch_start(&d);
	d.status_tick = loop_add_timer(d.loop, STATUS_TICK_MS, STATUS_TICK_MS, on_status_tick, &d);
	if (accounts_start(&d, err) < 0)
		goto out;
	log_info("daemon started: %zu account(s)", d.n);
	ret = loop_run(d.loop, err);
out:
	accounts_stop(&d);
	stop_guard_done();
	loop_remove_fd(&d.nw_h);
	netwatch_free(&d.nw);
	loop_remove_timer(&d.net_settle);
	loop_remove_timer(&d.clock_tick);
	loop_remove_timer(&d.status_tick);
	loop_remove_timer(&d.watchdog);
	loop_free(&d.loop);
	config_free(&d.cfg);
	return ret;
}
