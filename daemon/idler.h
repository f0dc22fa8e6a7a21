/* A connection idling on one folder for the daemon's event loop: a change
 * the server reports (and every (re)connection, which may have missed
 * some) is handed to the owner's callback, which schedules a sync of the
 * folder. It reconnects with backoff by itself, on a thread of its own,
 * so that a server that never answers stalls nothing else. The idler
 * knows nothing of the daemon that owns it: the loop, the account and the
 * callbacks are all it is given. */
#ifndef GMAILDIR_DAEMON_IDLER_H
#define GMAILDIR_DAEMON_IDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "sync/engine.h"
#include "util/loop.h"

struct idler;

/* Called on the loop thread. */
struct idler_events {
	/* Sync the folder (display name): the server reported a change,
	 * or the idler (re)connected and may have missed some. */
	void (*changed)(const char *folder, void *ctx);
	/* The server refused one more connection ("Too many simultaneous
	 * connections"): the idler has stopped trying; the owner watches
	 * the folder some other way and frees the idler when it likes. */
	void (*refused)(struct idler *i, const char *folder, void *ctx);
	void *ctx;
};

enum idler_phase {
	IDLER_PHASE_WAITING,	/* down, the next try is scheduled */
	IDLER_PHASE_CONNECTING, /* connect, TLS, login, SELECT in flight */
	IDLER_PHASE_IDLING,	/* connected: IDLE on or being renewed */
	IDLER_PHASE_NO_NETWORK, /* down, and the last try found no route */
	IDLER_PHASE_GIVEN_UP,	/* refused by the server: not trying */
};

/* What `gmaildir status` shows of one connection. */
struct idler_status {
	enum idler_phase phase;
	time_t since;	       /* wall clock of the last phase change */
	char last_error[1024]; /* "" when none since the start */
	time_t last_error_at;
};

/* Starts idling on folder (display name) of acct at once; loop, acct and
 * ev (copied) are borrowed for the idler's life. Free with idler_free. */
struct idler *idler_new(struct loop *loop, const struct account_conf *acct, const char *folder,
			const struct idler_events *ev);
/* Waits for a connect in flight (end it first with net/sockets.h when it
 * must not wait for a dead link), then frees. Accepts NULL; NULLs *ip. */
void idler_free(struct idler **ip);
/* The engine's name of the idler's folder, once a sync listed it (Gmail's
 * "[Gmail]/All Mail" is "Archive" here). */
void idler_name_from(struct idler *i, const struct engine_folder *f, size_t n);
/* The display name (borrowed). */
const char *idler_folder(const struct idler *i);
/* The path to the server may have changed (network change, resume): a
 * connection that does not answer a check within a few seconds is
 * replaced; a down idler tries again at once. */
void idler_check(struct idler *i);
/* The account works again (a sync just succeeded after failures): a down
 * idler reconnects now instead of at the end of its grown backoff. */
void idler_retry_now(struct idler *i);
/* The account's budget shrank (the server refused the sync or the
 * poller): close the connection for good; the owner watches the folder
 * some other way. False when the idler had given up already. */
bool idler_step_down(struct idler *i);
/* True once the idler stopped trying (refused, or stepped down). */
bool idler_given_up(const struct idler *i);
void idler_status(const struct idler *i, struct idler_status *st_r);
/* The phase as status shows it: "connected", "reconnecting", ... */
const char *idler_phase_name(enum idler_phase p);

#endif
