/* Where the daemon's control socket lives and who may use it, shared by
 * the daemon (control.h) and `gmaildir sync` (ctlclient.h).
 *
 * The socket is STATE/daemon.sock, next to the account's lock: the
 * client finds it from the config alone (no runtime directory to agree
 * on: cron and ssh sessions often have no $XDG_RUNTIME_DIR), a socket
 * exists exactly for the accounts a daemon runs, and two daemons of two
 * configs never meet. state_dir is 0700 and the socket 0600; both sides
 * check the other's uid too (SO_PEERCRED). */
#ifndef GMAILDIR_DAEMON_CTLSOCK_H
#define GMAILDIR_DAEMON_CTLSOCK_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/un.h>

#include "util/error.h"

#define CTLSOCK_NAME "daemon.sock"

/* Fills *sa_r with STATE/daemon.sock. A path longer than sun_path (108
 * bytes) is reached through /proc/self/fd/N of the directory, which is
 * opened into *dirfd_r (the caller closes it once bind or connect is
 * done; -1 when not needed). Returns 0, -1 with err. */
int ctlsock_addr(const char *state_dir, struct sockaddr_un *sa_r, int *dirfd_r, struct error *err);

/* Whether the peer of the connected unix socket fd runs as our uid; its
 * pid into *pid_r (may be NULL). */
bool ctlsock_peer_ok(int fd, pid_t *pid_r);

#endif
