/* The one event loop: poll() over registered file descriptors, timers on
 * CLOCK_BOOTTIME, signals through a signalfd, and wake-ups from other
 * threads through an eventfd.
 *
 * Everything here runs in the thread that calls loop_run, except
 * loop_wake() and loop_stop(), which any thread may call. Callbacks run one
 * at a time in that thread and must not block: blocking work belongs to
 * worker threads, which report back with loop_wake().
 *
 * Registrations (fds, timers, wakes) are handles owned by the caller until
 * removed. Removing one is safe at any time, including from inside its own
 * callback or another callback of the same dispatch round: a removed
 * registration is never called again, and its memory is released once the
 * round is over. loop_free releases any registration still present, so
 * handles must not be used after it.
 *
 * Timers use CLOCK_BOOTTIME through a timerfd, so a deadline that passed
 * while the machine was suspended fires right after resume (poll()'s own
 * timeout counts CLOCK_MONOTONIC, which stops during suspend). With nothing
 * due, the loop sleeps in poll() without a timeout: it never spins. */
#ifndef GMAILDIR_UTIL_LOOP_H
#define GMAILDIR_UTIL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct loop;
struct loop_fd;
struct loop_timer;
struct loop_wake;

/* revents as poll() reported them (POLLIN, POLLOUT, POLLHUP, POLLERR...). */
typedef void loop_fd_fn(int fd, unsigned revents, void *ctx);
typedef void loop_timer_fn(void *ctx);
typedef void loop_signal_fn(int signo, void *ctx);
typedef void loop_wake_fn(void *ctx);
/* slept_ms: how long the machine was suspended (CLOCK_BOOTTIME advanced
 * that much more than CLOCK_MONOTONIC since the previous check). */
typedef void loop_suspend_fn(int64_t slept_ms, void *ctx);

/* Creates a loop (its timerfd and stop eventfd). Returns 0 ok, -1 error
 * (out of file descriptors) with err. */
int loop_new(struct loop **loop_r, struct error *err);
/* Frees the loop and every registration still in it; registered fds are
 * not closed (they belong to their owners). Signals stay blocked. Accepts
 * NULL; NULLs the caller's pointer. Not from inside a callback. */
void loop_free(struct loop **loop);

/* Runs until loop_stop(): waits, then dispatches fds, signals, wakes and
 * due timers. Returns 0 when stopped, -1 when poll() failed for a reason
 * other than EINTR (err says why). Not re-entrant. */
int loop_run(struct loop *loop, struct error *err);
/* One round: waits at most max_wait_ms (-1: until something happens, 0:
 * not at all), then dispatches what is ready. Returns 0 or -1 as loop_run. */
int loop_run_once(struct loop *loop, int max_wait_ms, struct error *err);
/* Makes loop_run return after the current round. Any thread. */
void loop_stop(struct loop *loop);

/* Watches fd for events (POLLIN, POLLOUT...). fd stays the caller's: remove
 * the registration before closing it. A registration whose fd turns out to
 * be closed (POLLNVAL) is called once with POLLNVAL and then left idle, so
 * that the loop cannot spin on it. Never fails. */
struct loop_fd *loop_add_fd(struct loop *loop, int fd, unsigned events, loop_fd_fn *cb, void *ctx);
/* Changes the events watched (e.g. POLLOUT only while output is queued). */
void loop_fd_set_events(struct loop_fd *h, unsigned events);
/* Removes the registration and NULLs *h. Accepts NULL and *h NULL. */
void loop_remove_fd(struct loop_fd **h);

/* A timer firing delay_ms from now, then every period_ms when period_ms > 0
 * (a periodic timer that fell behind, e.g. across a suspend, fires once
 * and continues period_ms from then: no bursts). A one-shot timer stays
 * registered, disarmed, after it fired: loop_timer_reset arms it again.
 * Never fails. */
struct loop_timer *loop_add_timer(struct loop *loop, int64_t delay_ms, int64_t period_ms,
				  loop_timer_fn *cb, void *ctx);
/* Re-arms t to fire delay_ms from now with the given period (debouncing:
 * reset on every event). Safe inside t's own callback. */
void loop_timer_reset(struct loop_timer *t, int64_t delay_ms, int64_t period_ms);
/* Disarms t without removing it. */
void loop_timer_stop(struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);
/* Removes the timer and NULLs *t. Accepts NULL and *t NULL. */
void loop_remove_timer(struct loop_timer **t);

/* Delivers signo through the loop's signalfd to cb. Blocks signo in the
 * calling thread's signal mask, which threads created afterwards inherit:
 * register signals before starting worker threads, or a signal may go to
 * a worker that does not block it. A later call for the same signo
 * replaces the callback. Returns 0 ok, -1 error with err. */
int loop_add_signal(struct loop *loop, int signo, loop_signal_fn *cb, void *ctx, struct error *err);

/* A wake-up channel (one eventfd): loop_wake(w), from any thread, makes the
 * loop call cb once soon after; several wakes before the loop runs are
 * coalesced into one call. The producer's queue is the caller's business
 * (drain all of it in cb). Returns NULL with err when out of fds. */
struct loop_wake *loop_add_wake(struct loop *loop, loop_wake_fn *cb, void *ctx, struct error *err);
/* Any thread; async-signal-safe. */
void loop_wake(struct loop_wake *w);
/* Removes the channel and NULLs *w; producers must be done with it.
 * Accepts NULL and *w NULL. */
void loop_remove_wake(struct loop_wake **w);

/* Calls cb, at the next wake-up of the loop, whenever the machine was
 * suspended for at least a second since the previous wake-up (a resume:
 * connections are likely dead). The check runs on every round, so a
 * caller that needs to notice within N seconds keeps a timer of period N
 * (the systemd watchdog ping does). NULL cb: no callback. */
void loop_on_suspend(struct loop *loop, loop_suspend_fn *cb, void *ctx);

/* CLOCK_BOOTTIME in milliseconds: monotonic, and counts suspended time. */
int64_t loop_now_ms(void);

/* The two clocks read together, for suspend detection. */
struct loop_clock {
	int64_t boot_ms; /* CLOCK_BOOTTIME */
	int64_t mono_ms; /* CLOCK_MONOTONIC */
};
struct loop_clock loop_clock_now(void);
/* How long the machine was suspended between the two readings: the
 * difference of the clocks' advances, 0 when it is below 1000 ms (reading
 * two clocks one after the other is not atomic). Pure. */
int64_t loop_clock_suspended_ms(struct loop_clock before, struct loop_clock after);

#endif
