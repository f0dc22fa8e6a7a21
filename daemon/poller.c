/* STATUS polling of the folders IDLE has no connection for (poller.h).
 * The thread owns its connection; everything shared with the loop thread
 * is under mu. */
#include "daemon/poller.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/folders.h"
#include "imap/imap.h"
#include "util/log.h"
#include "util/xalloc.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)

struct watched {
	char *name;   /* owned: as configured (display) */
	char *remote; /* owned: as on the wire */
	struct imap_mailbox_info last;
	bool known; /* last holds a STATUS answer */
};

struct poller {
	struct loop *loop;		 /* borrowed */
	const struct account_conf *acct; /* borrowed */
	poller_changed_fn *changed;
	poller_refused_fn *refused;
	void *ctx;
	struct loop_wake *wake;
	pthread_t thread;
	bool started;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct watched *folders; /* owned */
	size_t n_folders, cap_folders;
	char **queue; /* owned: changed folders for the loop */
	size_t n_queue, cap_queue;
	bool quit, kick, connected;
	bool was_refused; /* for the loop: too many connections */
	char last_error[1024];
	time_t last_error_at;
};

static bool differs(const struct imap_mailbox_info *a, const struct imap_mailbox_info *b)
{
	return a->uidvalidity != b->uidvalidity || a->uidnext != b->uidnext ||
	       a->exists != b->exists || a->highestmodseq != b->highestmodseq;
}

/* Under mu: a folder changed. */
static void queue_locked(struct poller *p, const char *name)
{
	for (size_t i = 0; i < p->n_queue; i++)
		if (strcmp(p->queue[i], name) == 0)
			return;
	p->queue = xgrow(p->queue, &p->cap_queue, p->n_queue + 1, sizeof(char *));
	p->queue[p->n_queue++] = xstrdup(name);
}

/* STATUS of folder k; false when the connection is gone. */
static bool poll_one(struct poller *p, struct imap *imap, size_t k)
{
	struct imap_mailbox_info now;
	struct error err = {0};
	char *remote;

	pthread_mutex_lock(&p->mu);
	remote = xstrdup(p->folders[k].remote);
	pthread_mutex_unlock(&p->mu);
	if (imap_status(imap, remote, &now, &err) < 0) {
		free(remote);
		if (err.scope == ERR_ACCOUNT)
			return false;
		log_debug("%s: STATUS: %s", p->acct->name, err.msg);
		return true;
	}
	free(remote);
	pthread_mutex_lock(&p->mu);
	/* The first answer is news too: what changed between the last sync
	 * and now is only found by a sync. */
	if (!p->folders[k].known || differs(&p->folders[k].last, &now))
		queue_locked(p, p->folders[k].name);
	p->folders[k].last = now;
	p->folders[k].known = true;
	pthread_mutex_unlock(&p->mu);
	return true;
}

static void set_error(struct poller *p, const char *msg)
{
	pthread_mutex_lock(&p->mu);
	snprintf(p->last_error, sizeof(p->last_error), "%s", msg);
	if (msg[0])
		p->last_error_at = time(NULL);
	p->connected = msg[0] == '\0';
	pthread_mutex_unlock(&p->mu);
}

/* One round over every folder; false when it could not finish. */
static bool poll_round(struct poller *p, struct imap **imap)
{
	struct error err = {0};
	size_t n;

	if (!*imap && imap_sign_in(p->acct, imap, &err) < 0) {
		log_debug("%s: polling: %s", p->acct->name, err.msg);
		set_error(p, err.msg);
		if (imap_error_is_too_many(&err)) {
			pthread_mutex_lock(&p->mu);
			p->was_refused = true;
			pthread_mutex_unlock(&p->mu);
			loop_wake(p->wake);
		}
		return false;
	}
	pthread_mutex_lock(&p->mu);
	n = p->n_folders; /* folders are only ever added */
	pthread_mutex_unlock(&p->mu);
	for (size_t k = 0; k < n; k++) {
		if (!poll_one(p, *imap, k)) {
			set_error(p, "the connection was lost");
			imap_abandon(imap);
			return false;
		}
	}
	set_error(p, "");
	return true;
}

static void wait_locked(struct poller *p, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (!p->quit && !p->kick)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
			break;
	p->kick = false;
}

static void *poll_main(void *arg)
{
	struct poller *p = arg;
	struct imap *imap = NULL;
	int64_t backoff = BACKOFF_MIN_MS;

	pthread_mutex_lock(&p->mu);
	while (!p->quit) {
		bool ok, news;

		pthread_mutex_unlock(&p->mu);
		ok = poll_round(p, &imap);
		pthread_mutex_lock(&p->mu);
		news = p->n_queue > 0;
		if (news)
			loop_wake(p->wake);
		else if (ok)
			log_debug("%s: polled %zu folder(s) (STATUS): nothing changed",
				  p->acct->name, p->n_folders);
		if (ok)
			backoff = BACKOFF_MIN_MS;
		wait_locked(p, ok ? (int64_t)p->acct->status_interval * 1000 : backoff);
		if (!ok)
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	pthread_mutex_unlock(&p->mu);
	imap_free(&imap);
	return NULL;
}

/* Loop thread: hand what changed to the owner. */
static void on_wake(void *ctx)
{
	struct poller *p = ctx;
	char **q;
	size_t n;
	bool refused;

	pthread_mutex_lock(&p->mu);
	refused = p->was_refused;
	p->was_refused = false;
	q = p->queue;
	n = p->n_queue;
	p->queue = NULL;
	p->n_queue = p->cap_queue = 0;
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < n; i++) {
		p->changed(q[i], p->ctx);
		free(q[i]);
	}
	free(q);
	if (refused)
		p->refused(p->ctx);
}

struct poller *poller_new(struct loop *loop, const struct account_conf *acct,
			  poller_changed_fn *changed, poller_refused_fn *refused, void *ctx,
			  struct error *err)
{
	struct poller *p = xcalloc(1, sizeof(*p));
	pthread_condattr_t ca;

	p->loop = loop;
	p->acct = acct;
	p->changed = changed;
	p->refused = refused;
	p->ctx = ctx;
	p->wake = loop_add_wake(loop, on_wake, p, err);
	if (!p->wake) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	return p;
}

void poller_add(struct poller *p, const char *folder)
{
	struct watched *w;

	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_folders; i++) {
		if (strcmp(p->folders[i].name, folder) == 0) {
			pthread_mutex_unlock(&p->mu);
			return;
		}
	}
	p->folders = xgrow(p->folders, &p->cap_folders, p->n_folders + 1, sizeof(*p->folders));
	w = &p->folders[p->n_folders++];
	memset(w, 0, sizeof(*w));
	w->name = xstrdup(folder);
	if (mutf7_encode(folder, &w->remote) < 0)
		w->remote = xstrdup(folder);
	pthread_mutex_unlock(&p->mu);
	if (!p->started)
		p->started = pthread_create(&p->thread, NULL, poll_main, p) == 0;
}

void poller_check(struct poller *p)
{
	pthread_mutex_lock(&p->mu);
	p->kick = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

size_t poller_count(const struct poller *p)
{
	return p->n_folders; /* written on the loop thread only */
}

void poller_status(struct poller *p, bool *connected_r, char *err_buf, size_t len, time_t *err_at_r)
{
	pthread_mutex_lock(&p->mu);
	*connected_r = p->connected;
	snprintf(err_buf, len, "%s", p->last_error);
	*err_at_r = p->last_error_at;
	pthread_mutex_unlock(&p->mu);
}

void poller_free(struct poller **pp)
{
	struct poller *p = *pp;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->started)
		pthread_join(p->thread, NULL);
	loop_remove_wake(&p->wake);
	for (size_t i = 0; i < p->n_folders; i++) {
		free(p->folders[i].name);
		free(p->folders[i].remote);
	}
	free(p->folders);
	for (size_t i = 0; i < p->n_queue; i++)
		free(p->queue[i]);
	free(p->queue);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
	*pp = NULL;
}
