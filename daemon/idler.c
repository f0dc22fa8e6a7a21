/* One IDLE connection of the daemon. Connecting (TCP, TLS, login, SELECT,
 * the first IDLE sent) runs on a thread of its own, which hands the
 * connection to the loop through a wake: a server that accepts TCP and
 * never answers holds that thread only. From then on the connection is a
 * state machine on the event loop: every step is a *_send, then a *_finish
 * when the socket is readable, so the loop never waits for the server
 * (imap/imap.h, the IDLE section). A timer bounds every wait for an answer
 * (the account timeout, or a few seconds when checking the link after a
 * network change) and renews the IDLE every 10 minutes, well inside RFC
 * 2177's 29. Any failure frees the connection and reconnects with
 * exponential backoff and jitter (1 s .. 5 min); a BYE (Gmail ends
 * sessions after some hours) reconnects at once. Each (re)connection
 * first asks for a sync of the folder, so nothing that happened while it
 * was down is missed.
 *
 * Logging: the loss of a working connection is told once, with its cause,
 * and its return; failures to reconnect are the account's news (its sync
 * fails the same way and says so), so they go to debug unless they are
 * the folder's own (a SELECT refused). */
#include "daemon/idler.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/folders.h"
#include "imap/imap.h"
#include "net/sockets.h"
#include "util/log.h"
#include "util/xalloc.h"

#define RENEW_MS (10 * 60 * 1000)
#define PROBE_MS 2500
#define WORKED_MS (30 * 1000) /* idling this long: the connection worked */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)

enum idler_state { IDLER_DOWN, IDLER_CONNECTING, IDLER_STARTING, IDLER_ON, IDLER_ENDING };

struct idler {
	struct loop *loop;		 /* borrowed */
	const struct account_conf *acct; /* borrowed */
	struct idler_events ev;
	char *display; /* owned: the folder as the engine names it */
	/* owned: as on the wire. A first guess from the display name, until
	 * the first sync's LIST gives the server's (its separator may not be
	 * '/'); the connect thread reads it, so it changes only between
	 * connects (next_remote waits for the one in flight). */
	char *remote;
	char *next_remote; /* owned or NULL */
	struct imap *imap; /* owned */
	struct loop_fd *h;
	struct loop_timer *t;
	struct loop_wake *wake; /* the connect thread is done */
	enum idler_state state;
	int64_t backoff_ms;
	bool given_up;
	bool stepping_down; /* give up once the connect in flight is done */
	bool told;	    /* a loss or failure was logged: say when it works again */
	bool probing;	    /* the answer awaited is a link check */
	int64_t on_since;   /* when IDLE last came up on this connection; 0: not */
	struct idler_status st;

	/* The connect thread's, from its start until it wakes the loop. */
	pthread_t thread;
	struct imap *att_imap;
	struct error att_err;
};

static void set_phase(struct idler *i, enum idler_phase p)
{
	if (i->st.phase != p || !i->st.since) {
		i->st.phase = p;
		i->st.since = time(NULL);
	}
}

static void note_error(struct idler *i, const char *why)
{
	snprintf(i->st.last_error, sizeof(i->st.last_error), "%s", why);
	i->st.last_error_at = time(NULL);
}

static void schedule_retry(struct idler *i, int64_t delay_ms)
{
	i->state = IDLER_DOWN;
	loop_timer_reset(i->t, delay_ms, 0);
	i->backoff_ms = i->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : i->backoff_ms * 2;
}

static void connect_failed(struct idler *i, const struct error *err);

/* The reason without the "IDLE: connection lost: " the IDLE calls put
 * before it (the log line says so already). */
static const char *plain_reason(const char *why)
{
	static const char *const prefixes[] = {"IDLE: ", "connection lost: "};

	for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++)
		if (strncmp(why, prefixes[k], strlen(prefixes[k])) == 0)
			why += strlen(prefixes[k]);
	return why;
}

/* A connection was lost. Only one that had been idling a while counts as
 * a working one (an immediate retry, the loss told): a server that
 * answers IDLE with NO, or BYE at once, is retried with the growing
 * backoff like a failed connect, not in a tight loop. */
static void idler_lost(struct idler *i, const char *why)
{
	bool bye = strstr(why, "BYE") != NULL;
	/* Lost to a network change, or to a check of one, says nothing of
	 * the server: that connection worked. */
	bool ours = i->probing || strstr(why, "the network changed") != NULL;
	bool worked = ours || (i->on_since && loop_now_ms() - i->on_since >= WORKED_MS);

	loop_remove_fd(&i->h);
	imap_abandon(&i->imap);
	i->on_since = 0;
	if (!worked) {
		struct error err;

		error_set(&err, ERR_FOLDER, RETRY_BACKOFF, "%s", plain_reason(why));
		connect_failed(i, &err);
		return;
	}
	note_error(i, why);
	set_phase(i, sockets_says_no_route(why) ? IDLER_PHASE_NO_NETWORK : IDLER_PHASE_WAITING);
	if (bye) {
		/* Not a fault: servers end long sessions. */
		log_info("%s/%s: IDLE: %s; reconnecting", i->acct->name, i->display, why);
		i->backoff_ms = BACKOFF_MIN_MS;
		schedule_retry(i, 0);
		return;
	}
	log_warn("%s/%s: IDLE connection lost: %s; reconnecting", i->acct->name, i->display,
		 plain_reason(why));
	i->told = true;
	i->backoff_ms = BACKOFF_MIN_MS;
	schedule_retry(i, random() % 250);
}

/* A try to connect failed. */
static void connect_failed(struct idler *i, const struct error *err)
{
	int64_t jitter = random() % (i->backoff_ms / 4 + 1);
	bool own = err->scope != ERR_ACCOUNT;

	if (own && strcmp(err->msg, i->st.last_error) != 0) {
		log_warn("%s/%s: IDLE: %s; trying again in %lld s", i->acct->name, i->display,
			 err->msg, (long long)((i->backoff_ms + jitter) / 1000));
		i->told = true;
	} else {
		log_debug("%s/%s: IDLE: %s", i->acct->name, i->display, err->msg);
	}
	note_error(i, err->msg);
	set_phase(i,
		  sockets_says_no_route(err->msg) ? IDLER_PHASE_NO_NETWORK : IDLER_PHASE_WAITING);
	schedule_retry(i, i->backoff_ms + jitter);
}

static void *connect_main(void *arg)
{
	struct idler *i = arg;
	struct imap_mailbox_info info;
	struct imap *imap = NULL;
	struct error err = {0};

	if (imap_sign_in(i->acct, &imap, &err) < 0 ||
	    imap_select(imap, i->remote, &info, &err) < 0 || imap_idle_start_send(imap, &err) < 0)
		imap_free(&imap);
	i->att_imap = imap;
	i->att_err = err;
	loop_wake(i->wake);
	return NULL;
}

static void idler_connect(struct idler *i)
{
	if (pthread_create(&i->thread, NULL, connect_main, i) != 0) {
		struct error err;

		error_set(&err, ERR_ACCOUNT, RETRY_BACKOFF, "cannot start a thread");
		connect_failed(i, &err);
		return;
	}
	i->state = IDLER_CONNECTING;
	if (i->st.phase != IDLER_PHASE_NO_NETWORK)
		set_phase(i, IDLER_PHASE_CONNECTING);
}

static void on_fd(int fd, unsigned revents, void *ctx);

/* No more tries: the folder is someone else's to watch now. */
static void give_up(struct idler *i, const char *why)
{
	i->state = IDLER_DOWN;
	i->given_up = true;
	loop_timer_stop(i->t);
	if (why)
		note_error(i, why);
	set_phase(i, IDLER_PHASE_GIVEN_UP);
}

/* The connect thread is done: take its connection, or its failure. */
static void on_connected(void *ctx)
{
	struct idler *i = ctx;

	if (i->state != IDLER_CONNECTING)
		return;
	pthread_join(i->thread, NULL);
	i->imap = i->att_imap;
	i->att_imap = NULL;
	if (i->next_remote) {
		/* That connect used the guess: the server's name is known now. */
		free(i->remote);
		free(i->next_remote);
		i->remote = i->next_remote;
		i->next_remote = NULL;
		if (!i->imap) {
			i->state = IDLER_DOWN;
			i->backoff_ms = BACKOFF_MIN_MS;
			schedule_retry(i, 0);
			return;
		}
		imap_abandon(&i->imap);
		i->state = IDLER_DOWN;
		schedule_retry(i, 0);
		return;
	}
	if (i->stepping_down) {
		imap_abandon(&i->imap);
		give_up(i, NULL);
		return;
	}
	if (!i->imap && imap_error_is_too_many(&i->att_err)) {
		log_warn("%s/%s: the server refuses one more connection (%s): the folder is "
			 "checked by polling instead",
			 i->acct->name, i->display, i->att_err.msg);
		give_up(i, i->att_err.msg);
		i->ev.refused(i, i->display, i->ev.ctx);
		return;
	}
	if (!i->imap) {
		i->state = IDLER_DOWN;
		connect_failed(i, &i->att_err);
		return;
	}
	i->state = IDLER_STARTING;
	i->probing = false;
	i->h = loop_add_fd(i->loop, imap_idle_fd(i->imap), POLLIN, on_fd, i);
	loop_timer_reset(i->t, (int64_t)i->acct->timeout * 1000, 0);
	/* Whatever happened while we were not idling is found by a sync. */
	i->ev.changed(i->display, i->ev.ctx);
}

static int64_t answer_ms(const struct idler *i)
{
	return i->probing ? PROBE_MS : (int64_t)i->acct->timeout * 1000;
}

static void end_idle(struct idler *i)
{
	struct error err = {0};

	if (imap_idle_done_send(i->imap, &err) < 0) {
		idler_lost(i, err.msg);
		return;
	}
	i->state = IDLER_ENDING;
	loop_timer_reset(i->t, answer_ms(i), 0);
}

static void started(struct idler *i)
{
	struct error err = {0};

	if (imap_idle_start_finish(i->imap, &err) < 0) {
		idler_lost(i, err.msg);
		return;
	}
	i->state = IDLER_ON;
	i->probing = false;
	if (!i->on_since)
		i->on_since = loop_now_ms();
	set_phase(i, IDLER_PHASE_IDLING);
	if (i->told)
		log_info("%s/%s: IDLE is back", i->acct->name, i->display);
	i->told = false;
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
		idler_lost(i, err.msg);
		return;
	}
	if (imap_idle_events_any(&ev))
		i->ev.changed(i->display, i->ev.ctx);
	if (imap_idle_start_send(i->imap, &err) < 0) {
		idler_lost(i, err.msg);
		return;
	}
	i->state = IDLER_STARTING;
	loop_timer_reset(i->t, answer_ms(i), 0);
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
	case IDLER_CONNECTING:
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
	case IDLER_CONNECTING:
		break;
	default:
		idler_lost(i, i->probing ? "no answer to a check after the network changed"
					 : "the server did not answer in time");
		break;
	}
}

struct idler *idler_new(struct loop *loop, const struct account_conf *acct, const char *folder,
			const struct idler_events *ev)
{
	struct idler *i = xcalloc(1, sizeof(*i));
	struct error err = {0};

	i->loop = loop;
	i->acct = acct;
	i->ev = *ev;
	i->display = xstrdup(folder);
	if (mutf7_encode(folder, &i->remote) < 0)
		i->remote = xstrdup(folder);
	i->backoff_ms = BACKOFF_MIN_MS;
	set_phase(i, IDLER_PHASE_CONNECTING);
	i->wake = loop_add_wake(loop, on_connected, i, &err);
	if (!i->wake) {
		log_error("%s/%s: IDLE: %s", acct->name, folder, err.msg);
		i->given_up = true;
		set_phase(i, IDLER_PHASE_GIVEN_UP);
	}
	i->t = loop_add_timer(loop, 0, 0, on_timer, i);
	if (i->given_up)
		loop_timer_stop(i->t);
	return i;
}

/* The server's name for the folder in the idle list: by the name the
 * user wrote (the engine's display name, '/' between levels), else by the
 * name on the wire; INBOX in any case. */
static const struct engine_folder *find_folder(const struct idler *i, const struct engine_folder *f,
					       size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(f[k].display, i->display) == 0 ||
		    (strcasecmp(i->display, "INBOX") == 0 &&
		     strcasecmp(f[k].display, "INBOX") == 0))
			return &f[k];
	for (size_t k = 0; k < n; k++)
		if (strcmp(f[k].remote, i->remote) == 0)
			return &f[k];
	return NULL;
}

void idler_name_from(struct idler *i, const struct engine_folder *f, size_t n)
{
	const struct engine_folder *m = find_folder(i, f, n);

	if (!m)
		return;
	if (strcmp(m->display, i->display) != 0) {
		free(i->display);
		i->display = xstrdup(m->display);
	}
	if (strcmp(m->remote, i->remote) == 0)
		return;
	log_debug("%s/%s: IDLE: the server names it %s", i->acct->name, i->display, m->remote);
	free(i->next_remote);
	i->next_remote = xstrdup(m->remote);
	if (i->state == IDLER_CONNECTING)
		return; /* on_connected takes it */
	free(i->remote);
	i->remote = i->next_remote;
	i->next_remote = NULL;
	if (i->state == IDLER_DOWN && !i->given_up) {
		/* Waiting after a SELECT of the guessed name failed: try now. */
		i->backoff_ms = BACKOFF_MIN_MS;
		loop_timer_reset(i->t, 0, 0);
	} else if (i->imap) {
		/* Idling on another folder of that name: start over. */
		idler_lost(i, "the folder's name on the server changed");
	}
}

bool idler_given_up(const struct idler *i)
{
	return i->given_up || i->stepping_down;
}

const char *idler_folder(const struct idler *i)
{
	return i->display;
}

void idler_check(struct idler *i)
{
	switch (i->state) {
	case IDLER_ON:
		i->probing = true;
		end_idle(i);
		break;
	case IDLER_STARTING:
	case IDLER_ENDING:
		i->probing = true;
		loop_timer_reset(i->t, PROBE_MS, 0);
		break;
	case IDLER_DOWN:
		idler_retry_now(i);
		break;
	case IDLER_CONNECTING:
		break;
	}
}

bool idler_step_down(struct idler *i)
{
	if (i->given_up || i->stepping_down)
		return false;
	if (i->state == IDLER_CONNECTING) {
		i->stepping_down = true; /* on_connected closes what it brings */
		return true;
	}
	loop_remove_fd(&i->h);
	imap_abandon(&i->imap);
	give_up(i, NULL);
	return true;
}

void idler_retry_now(struct idler *i)
{
	if (i->state != IDLER_DOWN || i->given_up)
		return;
	i->backoff_ms = BACKOFF_MIN_MS;
	loop_timer_reset(i->t, 0, 0);
}

void idler_status(const struct idler *i, struct idler_status *st_r)
{
	*st_r = i->st;
}

const char *idler_phase_name(enum idler_phase p)
{
	switch (p) {
	case IDLER_PHASE_WAITING:
		return "reconnecting";
	case IDLER_PHASE_CONNECTING:
		return "connecting";
	case IDLER_PHASE_IDLING:
		return "connected";
	case IDLER_PHASE_NO_NETWORK:
		return "waiting for network";
	case IDLER_PHASE_GIVEN_UP:
		return "polled (server refused one more connection)";
	}
	return "?";
}

void idler_free(struct idler **ip)
{
	struct idler *i = *ip;

	if (!i)
		return;
	if (i->state == IDLER_CONNECTING) {
		pthread_join(i->thread, NULL);
		imap_free(&i->att_imap);
	}
	loop_remove_fd(&i->h);
	loop_remove_timer(&i->t);
	loop_remove_wake(&i->wake);
	imap_free(&i->imap);
	free(i->display);
	free(i->remote);
	free(i);
	*ip = NULL;
}
