/* Internals of the daemon (daemon.c, idler.c): one event loop in the main
 * thread that only waits and schedules, one sync worker thread per account
 * that does the blocking work through an engine session (DESIGN.md §7). */
#ifndef GMAILDIR_DAEMON_DAEMON_P_H
#define GMAILDIR_DAEMON_DAEMON_P_H

#include <pthread.h>
#include <stdatomic.h>

#include "config/config.h"
#include "store/watch.h"
#include "sync/engine.h"
#include "sync/hooks.h"
#include "imap/imap.h"
#include "util/loop.h"

struct daemon;
struct idler;

/* One account: its worker's request queue, its watcher, its IDLE links. */
struct daccount {
	struct daemon *d;		 /* borrowed */
	const struct account_conf *acct; /* borrowed from d->cfg */
	struct engine_session *session;	 /* owned; used by the worker only */
	struct engine_observer observer; /* its ctx is this account */
	struct hook_changes changes;	 /* worker only: for post_sync_command */
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
	int last_ret; /* of the last sync: 0, 1 (some folder failed), -1 */
	bool synced_once;
	atomic_bool cancel;

	/* Loop side. */
	struct loop_wake *done; /* the worker finished a sync */
	struct watch *watch;	/* owned */
	struct loop_fd *watch_h;
	struct loop_timer *debounce; /* inotify events settle into one sync */
	struct loop_timer *poll;     /* full sync every poll_interval */
	struct loop_timer *retry;    /* after a failed account sync: backoff */
	int64_t retry_ms;
	char **pending; /* owned: folders changed on disk */
	size_t n_pending;
	size_t cap_pending;
	bool pending_full;
	struct idler **idlers; /* owned */
	size_t n_idlers;
};

/* The daemon's event loop. */
struct loop *daemon_loop(struct daemon *d);

/* Asks the account's worker for a sync of one folder (display name), or of
 * everything (folder NULL). Loop thread. */
void daccount_request(struct daccount *a, const char *folder);

/* idler.c: a connection idling on one folder; a change reported by the
 * server requests a sync of that folder. Reconnects with backoff. */
struct idler *idler_new(struct daccount *a, const char *folder);
void idler_free(struct idler **ip);
/* The engine's name of the idler's folder, once a sync listed it (Gmail's
 * "[Gmail]/All Mail" is "Archive" here). */
void idler_name_from(struct idler *i, const struct engine_folder *f, size_t n);
/* After a suspend/resume: end IDLE now, which checks the link. */
void idler_check(struct idler *i);

#endif
