/* One IDLE connection of the daemon, as a state machine on the event loop:
 * every step is a *_send, then a *_finish when the socket is readable, so
 * the loop never waits for the server (imap/imap.h, the IDLE section). A
 * timer bounds every wait for an answer (the account timeout) and renews the
 * IDLE every 10 minutes, well inside RFC 2177's 29. Any failure frees the
 * connection and reconnects with exponential backoff and jitter (1 s .. 5
 * min); each (re)connection first asks for a sync of the folder, so nothing
 * that happened while it was down is missed. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/idler.h"
#include "imap/folders.h"
#include "imap/imap.h"
#include "util/log.h"
#include "util/xalloc.h"

#define RENEW_MS (10 * 60 * 1000)
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)

enum idler_state { IDLER_DOWN, IDLER_STARTING, IDLER_ON, IDLER_ENDING };

struct idler {
	struct loop *loop;		 /* borrowed */
	const struct account_conf *acct; /* borrowed */
	idler_changed_fn *changed;	 /* asks for a sync of the folder */
	void *ctx;
	char *display;	   /* owned: the folder as the engine names it */
	char *remote;	   /* owned: as on the wire */
	struct imap *imap; /* owned */
	struct loop_fd *h;
	struct loop_timer *t;
	enum idler_state state;
	int64_t backoff_ms;
};

static int64_t timeout_ms(const struct idler *i)
{
	return (int64_t)i->acct->timeout * 1000;
}

static void idler_down(struct idler *i, const char *why)
{
	int64_t jitter = i->backoff_ms > 0 ? random() % (i->backoff_ms / 4 + 1) : 0;

	/* The account's sync says "sign-in needed" once; IDLE's every retry
	 * would only repeat it. */
	if (why && strncmp(why, "sign-in needed", 14) != 0)
		log_warn("%s/%s: IDLE: %s; reconnecting in %lld s", i->acct->name, i->display, why,
			 (long long)((i->backoff_ms + jitter) / 1000));
	loop_remove_fd(&i->h);
	imap_free(&i->imap);
	i->state = IDLER_DOWN;
	loop_timer_reset(i->t, i->backoff_ms + jitter, 0);
	i->backoff_ms = i->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : i->backoff_ms * 2;
}

static void on_fd(int fd, unsigned revents, void *ctx);

static void idler_connect(struct idler *i)
{
	struct imap_mailbox_info info;
	struct error err = {0};

	if (imap_sign_in(i->acct, &i->imap, &err) < 0 ||
	    imap_select(i->imap, i->remote, &info, &err) < 0 ||
	    imap_idle_start_send(i->imap, &err) < 0) {
		idler_down(i, err.msg);
		return;
	}
	i->state = IDLER_STARTING;
	i->h = loop_add_fd(i->loop, imap_idle_fd(i->imap), POLLIN, on_fd, i);
	loop_timer_reset(i->t, timeout_ms(i), 0);
	/* Whatever happened while we were not idling is found by a sync. */
	i->changed(i->display, i->ctx);
}

static void end_idle(struct idler *i)
{
	struct error err = {0};

	if (imap_idle_done_send(i->imap, &err) < 0) {
		idler_down(i, err.msg);
		return;
	}
	i->state = IDLER_ENDING;
	loop_timer_reset(i->t, timeout_ms(i), 0);
}

static void started(struct idler *i)
{
	struct error err = {0};

	if (imap_idle_start_finish(i->imap, &err) < 0) {
		idler_down(i, err.msg);
		return;
	}
	i->state = IDLER_ON;
	i->backoff_ms = BACKOFF_MIN_MS;
	loop_timer_reset(i->t, RENEW_MS, 0);
	/* Bytes already read off the socket: poll() will not announce them. */
	if (imap_idle_has_buffered(i->imap))
		end_idle(i);
}

static void ended(struct idler *i)
{
	struct imap_idle_events ev;
	struct error err = {0};

	if (imap_idle_done_finish(i->imap, &ev, &err) < 0) {
		idler_down(i, err.msg);
		return;
	}
	if (imap_idle_events_any(&ev))
		i->changed(i->display, i->ctx);
	if (imap_idle_start_send(i->imap, &err) < 0) {
		idler_down(i, err.msg);
		return;
	}
	i->state = IDLER_STARTING;
	loop_timer_reset(i->t, timeout_ms(i), 0);
}

static void on_fd(int fd, unsigned revents, void *ctx)
{
	struct idler *i = ctx;

	(void)fd;
	(void)revents;
	switch (i->state) {
	case IDLER_STARTING:
		started(i);
		break;
	case IDLER_ON:
		end_idle(i);
		break;
	case IDLER_ENDING:
		ended(i);
		break;
	case IDLER_DOWN:
		break;
	}
}

static void on_timer(void *ctx)
{
	struct idler *i = ctx;

	switch (i->state) {
	case IDLER_DOWN:
		idler_connect(i);
		break;
	case IDLER_ON: /* renewal */
		end_idle(i);
		break;
	default:
		idler_down(i, "the server did not answer in time");
		break;
	}
}

struct idler *idler_new(struct loop *loop, const struct account_conf *acct, const char *folder,
			idler_changed_fn *changed, void *ctx)
{
	struct idler *i = xcalloc(1, sizeof(*i));

	i->loop = loop;
	i->acct = acct;
	i->changed = changed;
	i->ctx = ctx;
	i->display = xstrdup(folder);
	if (mutf7_encode(folder, &i->remote) < 0)
		i->remote = xstrdup(folder);
	i->backoff_ms = BACKOFF_MIN_MS;
	i->t = loop_add_timer(loop, 0, 0, on_timer, i);
	return i;
}

void idler_name_from(struct idler *i, const struct engine_folder *f, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (strcmp(f[k].remote, i->remote) == 0 && strcmp(f[k].display, i->display) != 0) {
			free(i->display);
			i->display = xstrdup(f[k].display);
			return;
		}
	}
}

void idler_check(struct idler *i)
{
	if (i->state == IDLER_ON)
		end_idle(i);
}

void idler_retry_now(struct idler *i)
{
	if (i->state != IDLER_DOWN)
		return;
	i->backoff_ms = BACKOFF_MIN_MS;
	loop_timer_reset(i->t, 0, 0);
}

void idler_free(struct idler **ip)
{
	struct idler *i = *ip;

	if (!i)
		return;
	loop_remove_fd(&i->h);
	loop_remove_timer(&i->t);
	imap_free(&i->imap);
	free(i->display);
	free(i->remote);
	free(i);
	*ip = NULL;
}
