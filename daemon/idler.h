/* A connection idling on one folder for the daemon's event loop: a change
 * the server reports (and every (re)connection, which may have missed
 * some) is handed to the owner's callback, which schedules a sync of the
 * folder. It reconnects with backoff by itself. The idler knows nothing of
 * the daemon that owns it: the loop, the account and the callback are
 * all it is given. */
#ifndef GMAILDIR_DAEMON_IDLER_H
#define GMAILDIR_DAEMON_IDLER_H

#include <stddef.h>

#include "config/config.h"
#include "sync/engine.h"
#include "util/loop.h"

struct idler;

/* Called on the loop thread with the folder's display name. */
typedef void idler_changed_fn(const char *folder, void *ctx);

/* Starts idling on folder (display name) of acct at once; loop and acct
 * are borrowed for the idler's life. Free with idler_free. */
struct idler *idler_new(struct loop *loop, const struct account_conf *acct, const char *folder,
			idler_changed_fn *changed, void *ctx);
/* Accepts NULL; NULLs *ip. */
void idler_free(struct idler **ip);
/* The engine's name of the idler's folder, once a sync listed it (Gmail's
 * "[Gmail]/All Mail" is "Archive" here). */
void idler_name_from(struct idler *i, const struct engine_folder *f, size_t n);
/* After a suspend/resume: end IDLE now, which checks the link. */
void idler_check(struct idler *i);
/* The account works again (a sync just succeeded after failures): a down
 * idler reconnects now instead of at the end of its grown backoff. */
void idler_retry_now(struct idler *i);

#endif
