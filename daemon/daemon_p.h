/* Internals of the daemon (daemon.c; its idlers: idler.h): one event loop in the main
 * thread that only waits and schedules, one sync worker thread per account
 * that does the blocking work through an engine session (DESIGN.md §7). */
#ifndef GMAILDIR_DAEMON_DAEMON_P_H
#define GMAILDIR_DAEMON_DAEMON_P_H

#include <pthread.h>
#include <stdatomic.h>

#include "config/config.h"
#include "daemon/budget.h"
#include "daemon/control.h"
#include "daemon/idler.h"
#include "daemon/poller.h"
#include "store/watch.h"
#include "sync/engine.h"
#include "sync/hooks.h"
#include "imap/imap.h"
#include "util/loop.h"

struct daemon;

/* A `gmaildir sync` waiting for its run (control.h). */
struct ctl_job {
	struct ctl_ticket *ticket; /* owned reference */
	struct ctl_request rq;	   /* owned */
};

/* One account: its worker's request queue, its watcher, its IDLE links. */
struct daccount {
	struct daemon *d;		 /* borrowed */
	const struct account_conf *acct; /* borrowed from d->cfg */
	struct engine_session *session;	 /* owned; used by the worker only */
	struct engine_observer observer; /* its ctx is this account */
	struct hook_changes changes;	 /* worker only: for post_sync_command */
	size_t run_folders;		 /* worker only: folders the sync reported */
	size_t run_changed;		 /* ... of those, changed or failed */
	pthread_t thread;
	bool thread_started;

	/* Requests to the worker, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool req_full;
	char **req_folders; /* owned: display names */
	size_t n_req;
	size_t cap_req;
	bool quit;
	struct ctl_job *ctl_jobs; /* owned: first come, first run */
	size_t n_ctl, cap_ctl;
	bool req_flush;	       /* submit the outbox (only: no sync) */
	bool flush_force;      /* ... ignoring the backoff */
	int last_ret;	       /* of the last sync: 0, 1 (some folder failed), -1 */
	bool signin_needed;    /* the last sync failed for want of an OAuth sign-in */
	char last_error[1024]; /* worker only: the last account error logged */
	bool synced_once;
	time_t last_ok;		 /* when a sync last worked; 0: not yet */
	char status_error[1024]; /* the last sync's failure, "" after a success */
	time_t status_error_at;	 /* when it happened */
	time_t failing_since;	 /* the first of the failures in a row */
	time_t quota_at;	 /* the server's download limit stopped a sync then */
	time_t quota_until;	 /* ... and the next full sync is not before this */
	bool syncing;		 /* a sync is running */
	atomic_bool cancel;
	atomic_bool fresh; /* the next sync makes a new connection */
	/* Worker only: the `gmaildir sync` the running sync is for, if any. */
	struct ctl_ticket *run_ticket; /* borrowed from the job */
	bool run_dry;

	/* Loop side. */
	struct loop_wake *done; /* the worker finished a sync */
	struct watch *watch;	/* owned */
	struct loop_fd *watch_h;
	struct loop_timer *debounce; /* inotify events settle into one sync */
	struct loop_timer *poll;     /* full sync every poll_interval */
	struct loop_timer *retry;    /* after a failed account sync: backoff */
	int64_t retry_ms;
	bool failing;	/* loop side: the last sync failed */
	char **pending; /* owned: folders changed on disk */
	size_t n_pending;
	size_t cap_pending;
	bool pending_full;
	struct budget budget;
	struct idler **idlers; /* owned */
	size_t n_idlers;
	struct poller *poller; /* owned: folders beyond the IDLE budget */
	char *status_last;     /* owned: STATE/daemon-status as last written */
	int outbox_fd;	       /* inotify on STATE/outbox/new; -1: none */
	struct loop_fd *outbox_h;
	struct control *control; /* owned; NULL: none (the sync says why) */
};

#endif
