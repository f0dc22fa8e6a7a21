/* The folders beyond the account's IDLE budget: one connection on a
 * thread of its own asks the server for their STATUS every
 * `status_interval` seconds and reports the ones that changed (new or
 * removed messages; flag changes too where the server has CONDSTORE)
 * to the owner's callback, on the loop thread. A folder's first answer
 * counts as a change: what happened before the poller started (or could
 * connect) is found by the sync it asks for. */
#ifndef GMAILDIR_DAEMON_POLLER_H
#define GMAILDIR_DAEMON_POLLER_H

#include <stdbool.h>
#include <time.h>

#include "config/config.h"
#include "util/loop.h"

struct poller;

typedef void poller_changed_fn(const char *folder, void *ctx);
/* The server refused the poller's connection for too many of them. */
typedef void poller_refused_fn(void *ctx);

/* loop and acct are borrowed for the poller's life. No thread runs and
 * no connection is made until a folder is added. Returns NULL with err
 * when out of file descriptors. */
struct poller *poller_new(struct loop *loop, const struct account_conf *acct,
			  poller_changed_fn *changed, poller_refused_fn *refused, void *ctx,
			  struct error *err);
/* Ends the thread (end its socket first with net/sockets.h when it must
 * not wait for a dead link) and frees. Accepts NULL; NULLs *p. */
void poller_free(struct poller **p);
/* Watches folder (display name) too. Loop thread. */
void poller_add(struct poller *p, const char *folder);
/* Polls now (the network changed, the machine woke up). */
void poller_check(struct poller *p);
size_t poller_count(const struct poller *p);
/* The last error ("" when the last round worked) and its time, and
 * whether the connection is up. */
void poller_status(struct poller *p, bool *connected_r, char *err_buf, size_t len,
		   time_t *err_at_r);

#endif
