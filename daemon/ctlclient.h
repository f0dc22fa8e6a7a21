/* The client side of the daemon's control socket (ctlsock.h, ctlproto.h):
 * what `gmaildir sync` uses when a daemon runs the account. */
#ifndef GMAILDIR_DAEMON_CTLCLIENT_H
#define GMAILDIR_DAEMON_CTLCLIENT_H

#include <stdbool.h>

#include "sync/engine.h"
#include "util/error.h"

/* Connects to the daemon that runs the account whose state is state_dir
 * and reads its hello. Returns 1 with the connection in *fd_r and the
 * daemon's pid in *pid_r; 0 when no daemon listens there (no socket, or
 * one left by a daemon that died); -1 when something answers that is not
 * a daemon of ours, or a daemon does not answer within timeout_ms (err). */
int ctlclient_connect(const char *state_dir, int timeout_ms, int *fd_r, long *pid_r,
		      struct error *err);

/* Sends the request for opts (its folders, dry_run, allow_mass_delete,
 * allow_unmatched) on fd, then feeds the daemon's answers to obs (the
 * reports' account is account) until its run is done, or timeout_ms
 * passed (<= 0: no limit; *late_r then true). Returns as
 * engine_sync_account: 0, 1 (some folder failed), -1 with err (the
 * account failed, the daemon stopped, or the answer was late). Closes fd. */
int ctlclient_sync(int fd, const char *account, const struct engine_opts *opts, int timeout_ms,
		   const struct engine_observer *obs, bool *late_r, struct error *err);

#endif
