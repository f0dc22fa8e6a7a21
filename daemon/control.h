/* The daemon's control socket for one account (STATE/daemon.sock, see
 * ctlsock.h; the lines: ctlproto.h): `gmaildir sync` asks the running
 * daemon to sync now and reads back what that run did.
 *
 * The server lives in the loop thread. A complete request becomes a
 * ticket, handed to the callback, which queues it for the account's
 * worker; the worker writes the run's progress, reports and result into
 * the ticket from its own thread, and the loop sends them on. A client
 * that hangs up early loses the answer only: the run still happens. */
#ifndef GMAILDIR_DAEMON_CONTROL_H
#define GMAILDIR_DAEMON_CONTROL_H

#include "daemon/ctlproto.h"
#include "sync/engine.h"
#include "util/error.h"
#include "util/loop.h"

struct control;
struct ctl_ticket;

/* A request arrived: rq's contents are the callee's to move out (what
 * is left is cleared after the call). The ticket is borrowed: take a
 * reference to keep it. Loop thread. */
typedef void control_request_fn(struct ctl_ticket *t, struct ctl_request *rq, void *ctx);

/* Listens on STATE/daemon.sock (mode 0600), replacing a socket left by a
 * daemon that died: the caller holds the account's lock, so no other
 * daemon can be listening there. Returns 0, -1 with err. */
int control_open(struct loop *loop, const char *state_dir, control_request_fn *cb, void *ctx,
		 struct control **c_r, struct error *err);
/* Closes every client, removes the socket and frees. Every producer of
 * its tickets must be done (the worker joined). Accepts NULL; NULLs *c. */
void control_free(struct control **c);

/* The ticket's reference count. Any thread. */
struct ctl_ticket *ctl_ticket_ref(struct ctl_ticket *t);
void ctl_ticket_unref(struct ctl_ticket **t);

/* What the run does, for the client; any thread. Progress is sent at most
 * a few times a second (the latest one wins). After finish nothing more
 * is sent and the client is let go. */
void ctl_ticket_progress(struct ctl_ticket *t, const struct engine_progress *p);
void ctl_ticket_report(struct ctl_ticket *t, const struct engine_folder_report *r);
void ctl_ticket_notice(struct ctl_ticket *t, const char *text);
void ctl_ticket_finish(struct ctl_ticket *t, int ret, const struct error *err);

#endif
