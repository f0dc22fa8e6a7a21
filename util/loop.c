/* The event loop (see loop.h). Registrations live in small arrays scanned
 * linearly: a daemon has tens of fds and timers, where a heap or a tree
 * would cost more code than it saves time. */
#include "util/loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"

#define NS_PER_MS INT64_C(1000000)
#define SUSPEND_MIN_MS 1000

struct loop_fd {
	struct loop *loop;
	int fd;
	unsigned events;
	loop_fd_fn *cb;
	void *ctx;
	bool dead; /* removed: never called again, freed after the round */
	bool idle; /* its fd was closed under us (POLLNVAL): not polled */
};

struct loop_timer {
	struct loop *loop;
	int64_t when_ns; /* CLOCK_BOOTTIME deadline, while armed */
	int64_t period_ns;
	uint64_t fired_round; /* at most one call per round */
	loop_timer_fn *cb;
	void *ctx;
	bool armed;
	bool dead;
};

struct loop_wake {
	struct loop *loop;
	int efd;
	struct loop_fd *h;
	loop_wake_fn *cb;
	void *ctx;
};

struct loop_sig {
	loop_signal_fn *cb;
	void *ctx;
};

struct loop {
	struct loop_fd **fds;
	size_t n_fds, cap_fds;
	struct loop_timer **timers;
	size_t n_timers, cap_timers;
	struct loop_wake **wakes;
	size_t n_wakes, cap_wakes;

	/* What the current round polls, and whose each entry is. */
	struct pollfd *pfds;
	struct loop_fd **owners;
	size_t cap_pfds;

	int timerfd;
	int64_t timerfd_ns; /* the deadline it is armed for, 0: disarmed */
	struct loop_fd *timer_h;
	int stop_efd;
	struct loop_fd *stop_h;
	atomic_bool stop;
	int sigfd;
	sigset_t sigmask;
	struct loop_fd *sig_h;
	struct loop_sig sigs[_NSIG];

	bool dispatching; /* inside a round: removals are deferred */
	bool garbage;	  /* some registration was removed during the round */
	bool running;
	uint64_t round;

	struct loop_clock clock; /* at the previous round */
	loop_suspend_fn *suspend_cb;
	void *suspend_ctx;
};

/* ---------------------------------------------------------------- clocks */

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t loop_now_ms(void)
{
	return clock_ns(CLOCK_BOOTTIME) / NS_PER_MS;
}

struct loop_clock loop_clock_now(void)
{
	return (struct loop_clock){.boot_ms = clock_ns(CLOCK_BOOTTIME) / NS_PER_MS,
				   .mono_ms = clock_ns(CLOCK_MONOTONIC) / NS_PER_MS};
}

int64_t loop_clock_suspended_ms(struct loop_clock before, struct loop_clock after)
{
	int64_t d = (after.boot_ms - before.boot_ms) - (after.mono_ms - before.mono_ms);

	return d >= SUSPEND_MIN_MS ? d : 0;
}

/* ------------------------------------------------------- fd registrations */

struct loop_fd *loop_add_fd(struct loop *loop, int fd, unsigned events, loop_fd_fn *cb, void *ctx)
{
	struct loop_fd *h = xcalloc(1, sizeof(*h));

	h->loop = loop;
	h->fd = fd;
	h->events = events;
	h->cb = cb;
	h->ctx = ctx;
	loop->fds = xgrow(loop->fds, &loop->cap_fds, loop->n_fds + 1, sizeof(*loop->fds));
	loop->fds[loop->n_fds++] = h;
	return h;
}

void loop_fd_set_events(struct loop_fd *h, unsigned events)
{
	h->events = events;
}

/* Drops h from the array and frees it; only outside a round. */
static void fd_release(struct loop *loop, struct loop_fd *h)
{
	for (size_t i = 0; i < loop->n_fds; i++) {
		if (loop->fds[i] != h)
			continue;
		loop->fds[i] = loop->fds[--loop->n_fds];
		break;
	}
	free(h);
}

void loop_remove_fd(struct loop_fd **hp)
{
	struct loop_fd *h = hp ? *hp : NULL;

	if (!h)
		return;
	*hp = NULL;
	h->dead = true;
	if (h->loop->dispatching)
		h->loop->garbage = true;
	else
		fd_release(h->loop, h);
}

/* ---------------------------------------------------------------- timers */

struct loop_timer *loop_add_timer(struct loop *loop, int64_t delay_ms, int64_t period_ms,
				  loop_timer_fn *cb, void *ctx)
{
	struct loop_timer *t = xcalloc(1, sizeof(*t));

	t->loop = loop;
	t->cb = cb;
	t->ctx = ctx;
	loop->timers =
	    xgrow(loop->timers, &loop->cap_timers, loop->n_timers + 1, sizeof(*loop->timers));
	loop->timers[loop->n_timers++] = t;
	loop_timer_reset(t, delay_ms, period_ms);
	return t;
}

void loop_timer_reset(struct loop_timer *t, int64_t delay_ms, int64_t period_ms)
{
	if (delay_ms < 0)
		delay_ms = 0;
	t->when_ns = clock_ns(CLOCK_BOOTTIME) + delay_ms * NS_PER_MS;
	t->period_ns = period_ms > 0 ? period_ms * NS_PER_MS : 0;
	t->armed = true;
}

void loop_timer_stop(struct loop_timer *t)
{
	t->armed = false;
}

bool loop_timer_armed(const struct loop_timer *t)
{
	return t->armed;
}

static void timer_release(struct loop *loop, struct loop_timer *t)
{
	for (size_t i = 0; i < loop->n_timers; i++) {
		if (loop->timers[i] != t)
			continue;
		/* Keep the order: equal deadlines fire in creation order. */
		memmove(&loop->timers[i], &loop->timers[i + 1],
			(loop->n_timers - i - 1) * sizeof(*loop->timers));
		loop->n_timers--;
		break;
	}
	free(t);
}

void loop_remove_timer(struct loop_timer **tp)
{
	struct loop_timer *t = tp ? *tp : NULL;

	if (!t)
		return;
	*tp = NULL;
	t->dead = true;
	t->armed = false;
	if (t->loop->dispatching)
		t->loop->garbage = true;
	else
		timer_release(t->loop, t);
}

/* The armed timer with the earliest deadline that has not fired in this
 * round; with due_ns > 0 only one due by then. */
static struct loop_timer *timer_next(struct loop *loop, int64_t due_ns)
{
	struct loop_timer *best = NULL;

	for (size_t i = 0; i < loop->n_timers; i++) {
		struct loop_timer *t = loop->timers[i];

		if (!t->armed || t->dead || t->fired_round == loop->round)
			continue;
		if (due_ns > 0 && t->when_ns > due_ns)
			continue;
		if (!best || t->when_ns < best->when_ns)
			best = t;
	}
	return best;
}

/* Calls every timer due at the start of the dispatch, earliest first. */
static void timers_dispatch(struct loop *loop)
{
	int64_t now = clock_ns(CLOCK_BOOTTIME);
	struct loop_timer *t;

	while ((t = timer_next(loop, now)) != NULL) {
		t->fired_round = loop->round;
		if (t->period_ns > 0) {
			t->when_ns += t->period_ns;
			if (t->when_ns <= now)
				t->when_ns = now + t->period_ns;
		} else {
			t->armed = false;
		}
		t->cb(t->ctx);
	}
}

/* Arms the timerfd for the earliest deadline (absolute CLOCK_BOOTTIME), or
 * disarms it. A deadline already past makes it fire at once. */
static void timerfd_update(struct loop *loop)
{
	struct loop_timer *t;
	struct itimerspec its = {0};
	int64_t when;

	t = timer_next(loop, 0);
	when = t ? t->when_ns : 0;
	if (when == loop->timerfd_ns)
		return;
	if (when > 0) {
		its.it_value.tv_sec = when / 1000000000;
		its.it_value.tv_nsec = when % 1000000000;
		/* 0 would disarm: a deadline at the epoch fires at 1 ns. */
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		loop->timerfd_ns = when;
}

static void drain_counter(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
}

static void timerfd_ready(int fd, unsigned revents, void *ctx)
{
	struct loop *loop = ctx;

	drain_counter(fd);
	loop->timerfd_ns = 0; /* expired: it must be armed again */
}

/* --------------------------------------------------------------- signals */

static void signals_ready(int fd, unsigned revents, void *ctx)
{
	struct loop *loop = ctx;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		struct loop_sig *s;

		if (si.ssi_signo == 0 || si.ssi_signo >= _NSIG)
			continue;
		s = &loop->sigs[si.ssi_signo];
		if (s->cb)
			s->cb((int)si.ssi_signo, s->ctx);
	}
}

int loop_add_signal(struct loop *loop, int signo, loop_signal_fn *cb, void *ctx, struct error *err)
{
	sigset_t one, old;
	int fd;

	if (signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "signal %d cannot be caught", signo);
		return -1;
	}
	sigemptyset(&one);
	sigaddset(&one, signo);
	/* Blocked first, so that no instance of it can take the default
	 * action (SIGUSR1 terminates) before the signalfd is in place. */
	pthread_sigmask(SIG_BLOCK, &one, &old);
	sigaddset(&loop->sigmask, signo);
	fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "signalfd: %s", strerror(errno));
		sigdelset(&loop->sigmask, signo);
		if (!sigismember(&old, signo))
			pthread_sigmask(SIG_UNBLOCK, &one, NULL);
		return -1;
	}
	loop->sigs[signo] = (struct loop_sig){cb, ctx};
	if (loop->sigfd < 0) {
		loop->sigfd = fd;
		loop->sig_h = loop_add_fd(loop, fd, POLLIN, signals_ready, loop);
	}
	return 0;
}

/* ----------------------------------------------------------------- wakes */

static void wake_ready(int fd, unsigned revents, void *ctx)
{
	struct loop_wake *w = ctx;

	drain_counter(fd);
	/* w may be removed (and freed) by its own callback: not used after. */
	w->cb(w->ctx);
}

struct loop_wake *loop_add_wake(struct loop *loop, loop_wake_fn *cb, void *ctx, struct error *err)
{
	struct loop_wake *w;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (efd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "eventfd: %s", strerror(errno));
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->loop = loop;
	w->efd = efd;
	w->cb = cb;
	w->ctx = ctx;
	w->h = loop_add_fd(loop, efd, POLLIN, wake_ready, w);
	loop->wakes = xgrow(loop->wakes, &loop->cap_wakes, loop->n_wakes + 1, sizeof(*loop->wakes));
	loop->wakes[loop->n_wakes++] = w;
	return w;
}

/* Adds 1 to an eventfd counter. It only fails (EAGAIN) when the counter
 * is about to overflow, and then a wake-up is pending anyway. */
static void eventfd_poke(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* nothing to do: see above */
	}
}

void loop_wake(struct loop_wake *w)
{
	eventfd_poke(w->efd);
}

static void wake_release(struct loop_wake *w)
{
	loop_remove_fd(&w->h);
	close(w->efd);
	free(w);
}

void loop_remove_wake(struct loop_wake **wp)
{
	struct loop_wake *w = wp ? *wp : NULL;
	struct loop *loop;

	if (!w)
		return;
	*wp = NULL;
	loop = w->loop;
	for (size_t i = 0; i < loop->n_wakes; i++) {
		if (loop->wakes[i] != w)
			continue;
		loop->wakes[i] = loop->wakes[--loop->n_wakes];
		break;
	}
	/* The fd registration is deferred like any other; closing the eventfd
	 * now is safe because a dead registration is never polled again. */
	wake_release(w);
}

/* ------------------------------------------------------------ life cycle */

static void stop_ready(int fd, unsigned revents, void *ctx)
{
	drain_counter(fd);
}

int loop_new(struct loop **loop_r, struct error *err)
{
	struct loop *loop = xcalloc(1, sizeof(*loop));

	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	loop->timerfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	loop->stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->timerfd < 0 || loop->stop_efd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "event loop: %s", strerror(errno));
		loop_free(&loop);
		return -1;
	}
	loop->timer_h = loop_add_fd(loop, loop->timerfd, POLLIN, timerfd_ready, loop);
	loop->stop_h = loop_add_fd(loop, loop->stop_efd, POLLIN, stop_ready, loop);
	loop->clock = loop_clock_now();
	*loop_r = loop;
	return 0;
}

void loop_free(struct loop **loopp)
{
	struct loop *loop = loopp ? *loopp : NULL;

	if (!loop)
		return;
	while (loop->n_wakes > 0)
		loop_remove_wake(&loop->wakes[0]);
	for (size_t i = 0; i < loop->n_fds; i++)
		free(loop->fds[i]);
	for (size_t i = 0; i < loop->n_timers; i++)
		free(loop->timers[i]);
	if (loop->timerfd >= 0)
		close(loop->timerfd);
	if (loop->stop_efd >= 0)
		close(loop->stop_efd);
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	free(loop->fds);
	free(loop->timers);
	free(loop->wakes);
	free(loop->pfds);
	free(loop->owners);
	free(loop);
	*loopp = NULL;
}

void loop_stop(struct loop *loop)
{
	atomic_store(&loop->stop, true);
	eventfd_poke(loop->stop_efd);
}

void loop_on_suspend(struct loop *loop, loop_suspend_fn *cb, void *ctx)
{
	loop->suspend_cb = cb;
	loop->suspend_ctx = ctx;
}

/* ----------------------------------------------------------------- rounds */

/* The pollfd array of this round: live registrations only. */
static size_t build_pollfds(struct loop *loop)
{
	size_t n = 0;

	if (loop->cap_pfds < loop->n_fds) {
		loop->cap_pfds = loop->n_fds;
		loop->pfds = xrealloc(loop->pfds, loop->cap_pfds * sizeof(*loop->pfds));
		loop->owners = xrealloc(loop->owners, loop->cap_pfds * sizeof(*loop->owners));
	}
	for (size_t i = 0; i < loop->n_fds; i++) {
		struct loop_fd *h = loop->fds[i];

		if (h->dead || h->idle)
			continue;
		loop->pfds[n] = (struct pollfd){.fd = h->fd, .events = (short)h->events};
		loop->owners[n++] = h;
	}
	return n;
}

static void fds_dispatch(struct loop *loop, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct loop_fd *h = loop->owners[i];
		unsigned rev = (unsigned short)loop->pfds[i].revents;

		/* An earlier callback of this round may have removed it. */
		if (rev == 0 || h->dead)
			continue;
		h->cb(h->fd, rev, h->ctx);
		if ((rev & POLLNVAL) && !h->dead)
			h->idle = true;
	}
}

static void check_suspend(struct loop *loop)
{
	struct loop_clock now = loop_clock_now();
	int64_t slept = loop_clock_suspended_ms(loop->clock, now);

	loop->clock = now;
	if (slept > 0 && loop->suspend_cb)
		loop->suspend_cb(slept, loop->suspend_ctx);
}

/* Frees what was removed during the round. */
static void sweep(struct loop *loop)
{
	size_t k = 0;

	if (!loop->garbage)
		return;
	loop->garbage = false;
	for (size_t i = 0; i < loop->n_fds; i++) {
		if (loop->fds[i]->dead)
			free(loop->fds[i]);
		else
			loop->fds[k++] = loop->fds[i];
	}
	loop->n_fds = k;
	k = 0;
	for (size_t i = 0; i < loop->n_timers; i++) {
		if (loop->timers[i]->dead)
			free(loop->timers[i]);
		else
			loop->timers[k++] = loop->timers[i];
	}
	loop->n_timers = k;
}

int loop_run_once(struct loop *loop, int max_wait_ms, struct error *err)
{
	size_t n;
	int r;

	loop->round++; /* before timerfd_update: last round's timers count again */
	timerfd_update(loop);
	n = build_pollfds(loop);
	r = poll(loop->pfds, n, max_wait_ms);
	if (r < 0 && errno != EINTR) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "poll: %s", strerror(errno));
		return -1;
	}
	loop->dispatching = true;
	check_suspend(loop);
	if (r > 0)
		fds_dispatch(loop, n);
	timers_dispatch(loop);
	loop->dispatching = false;
	sweep(loop);
	return 0;
}

int loop_run(struct loop *loop, struct error *err)
{
	int ret = 0;

	while (!atomic_load(&loop->stop)) {
		ret = loop_run_once(loop, -1, err);
		if (ret < 0)
			break;
	}
	/* The stop is consumed: the loop can be run again. */
	atomic_store(&loop->stop, false);
	return ret;
}
