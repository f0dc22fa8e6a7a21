/* The environment a folder job works in: what one connection of an
 * account's sync run may use (options, connection, state) and may call
 * (notices and progress for the observer, the cancel check, another
 * connection, idle workers to share a download with). */
#ifndef GMAILDIR_SYNC_ENV_H
#define GMAILDIR_SYNC_ENV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "imap/imap.h"
#include "store/state.h"
#include "sync/engine.h"

struct folder_job;
struct dl_run;

/* Idle connections that may take a share of a long download: the apply
 * phase's workers (workers.c) fill this while they run. */
struct env_pool {
	/* Offers run to the idle workers; withdraws it (no new helper comes
	 * after withdraw returns). */
	void (*offer)(void *pool, struct dl_run *run);
	void (*withdraw)(void *pool, struct dl_run *run);
	void *pool;
};

/* What the engine hands the work done on one connection of an account's
 * run (a folder job, a worker): the account, the options, the connection
 * and the state, and the services below. engine.c fills it; nothing that
 * uses it calls back into engine.c. A worker has a copy of its own, with
 * its own connection and SQLite handle. */
struct sync_env {
	const struct account_conf *acct;     /* borrowed */
	const struct engine_opts *opts;	     /* borrowed */
	const struct engine_observer *obs;   /* borrowed */
	struct imap *imap;		     /* owned */
	struct state *st;		     /* owned */
	struct state_lock *lock;	     /* owned */
	struct maildir_root_lock *root_lock; /* owned: see claim_maildir */
	bool claimed;			     /* the Maildir root is ours (claim.c) */
	const struct folder_job *selected;   /* the job whose mailbox is selected */
	const char *trash;		     /* borrowed: the \Trash mailbox, or NULL */
	bool no_trash;			/* trash: move, but the server has no Trash and made none */
	char **secret;			/* the session's secret (env_connect) */
	pthread_mutex_t *secret_lock;	/* guards *secret */
	struct engine_session *session; /* borrowed: the session it belongs to */
	bool gmail;			/* the server speaks X-GM-EXT-1 */
	pthread_mutex_t *obs_lock;	/* serialises observer calls of workers */
	const struct env_pool *pool;	/* borrowed: idle workers, or NULL */
	size_t not_created; /* local folders the server would not create: the run failed */
	char **renamed;	    /* owned: server names of the folders renamed this run */
	size_t n_renamed;
};

/* Whether the caller asked the sync to stop (engine_opts.cancel). */
bool env_cancelled(const struct sync_env *env);

/* A new connection for the account (the secret read or refreshed as
 * needed); safe from worker threads. */
int env_connect(struct sync_env *env, struct imap **imap_r, struct error *err);

/* Wipes and frees the secret a session keeps for env_connect; accepts a
 * NULL *secret and NULLs it. */
void env_free_secret(char **secret);

/* Tells the observer something a person should know (printf-like). */
void env_notice(const struct sync_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports progress of the transfers of a folder. */
void env_progress(const struct sync_env *env, const char *folder, size_t done, size_t total,
		  uint64_t bytes, uint64_t total_bytes);

/* A download offered to idle workers, and withdrawn; no-ops without them. */
void env_offer(const struct sync_env *env, struct dl_run *run);
void env_withdraw(const struct sync_env *env, struct dl_run *run);

/* in with control characters replaced by '?', into buf; returns buf. */
const char *printable(const char *in, char *buf, size_t size);

#endif
