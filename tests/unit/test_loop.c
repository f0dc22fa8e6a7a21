/* The event loop: timer order and precision, removal from inside
 * callbacks, signals, cross-thread wakes, and no CPU spent while idle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/loop.h"

/* Slack allowed on a timer: sanitizer builds on a loaded machine are slow. */
#define TOLERANCE_MS 60

static struct loop *new_loop(void)
{
	struct loop *loop = NULL;
	struct error err = {0};

	assert_int_equal(loop_new(&loop, &err), 0);
	return loop;
}

static void stop_cb(void *ctx)
{
	loop_stop(ctx);
}

/* Runs the loop until it stops, with a guard timer so a broken test
 * cannot hang. */
static void run_bounded(struct loop *loop, int64_t guard_ms)
{
	struct error err = {0};
	struct loop_timer *guard = loop_add_timer(loop, guard_ms, 0, stop_cb, loop);

	assert_int_equal(loop_run(loop, &err), 0);
	loop_remove_timer(&guard);
}

/* ---------------------------------------------------------------- timers */

struct fired {
	int order[8];
	int64_t at[8];
	int n;
	int64_t start;
};

struct timer_arg {
	struct fired *f;
	int id;
};

static void record_cb(void *ctx)
{
	struct timer_arg *a = ctx;

	a->f->order[a->f->n] = a->id;
	a->f->at[a->f->n++] = loop_now_ms() - a->f->start;
}

static void test_timers_in_order(void **state)
{
	struct loop *loop = new_loop();
	struct fired f = {.start = loop_now_ms()};
	struct timer_arg a[3] = {{&f, 60}, {&f, 20}, {&f, 40}};
	struct loop_timer *t[3];

	for (int i = 0; i < 3; i++)
		t[i] = loop_add_timer(loop, a[i].id, 0, record_cb, &a[i]);
	loop_add_timer(loop, 100, 0, stop_cb, loop);
	run_bounded(loop, 2000);
	assert_int_equal(f.n, 3);
	for (int i = 0; i < 3; i++) {
		int want = 20 * (i + 1);

		assert_int_equal(f.order[i], want);
		assert_true(f.at[i] >= want);
		assert_true(f.at[i] < want + TOLERANCE_MS);
	}
	/* One-shot timers stay registered, disarmed. */
	for (int i = 0; i < 3; i++)
		assert_false(loop_timer_armed(t[i]));
	loop_free(&loop);
	assert_null(loop);
}

static void count_cb(void *ctx)
{
	(*(int *)ctx)++;
}

static void test_periodic(void **state)
{
	struct loop *loop = new_loop();
	int n = 0;

	loop_add_timer(loop, 10, 10, count_cb, &n);
	loop_add_timer(loop, 105, 0, stop_cb, loop);
	run_bounded(loop, 2000);
	assert_true(n >= 7);
	assert_true(n <= 10);
	loop_free(&loop);
}

static void test_reset_debounces(void **state)
{
	struct loop *loop = new_loop();
	struct fired f = {.start = loop_now_ms()};
	struct timer_arg a = {&f, 1};
	struct loop_timer *t = loop_add_timer(loop, 50, 0, record_cb, &a);

	/* Reset at ~30 ms: the timer fires ~50 ms later, not at 50. */
	while (loop_now_ms() - f.start < 30)
		assert_int_equal(loop_run_once(loop, 5, NULL), 0);
	assert_int_equal(f.n, 0);
	loop_timer_reset(t, 50, 0);
	loop_add_timer(loop, 150, 0, stop_cb, loop);
	run_bounded(loop, 2000);
	assert_int_equal(f.n, 1);
	assert_true(f.at[0] >= 80);
	/* Fired and re-armed by hand. */
	loop_timer_reset(t, 0, 0);
	assert_true(loop_timer_armed(t));
	assert_int_equal(loop_run_once(loop, 1000, NULL), 0);
	assert_int_equal(f.n, 2);
	loop_timer_stop(t);
	loop_timer_reset(t, 10, 0);
	loop_timer_stop(t);
	assert_int_equal(loop_run_once(loop, 50, NULL), 0);
	assert_int_equal(f.n, 2);
	loop_free(&loop);
}

struct self_remove {
	struct loop_timer *t;
	struct loop_timer *other;
	int n;
};

static void remove_self_cb(void *ctx)
{
	struct self_remove *s = ctx;

	s->n++;
	loop_remove_timer(&s->t);
	assert_null(s->t);
}

static void test_timer_remove_inside_own(void **state)
{
	struct loop *loop = new_loop();
	struct self_remove s = {0};

	s.t = loop_add_timer(loop, 5, 5, remove_self_cb, &s);
	loop_add_timer(loop, 60, 0, stop_cb, loop);
	run_bounded(loop, 2000);
	assert_int_equal(s.n, 1);
	loop_free(&loop);
}

static void remove_other_cb(void *ctx)
{
	struct self_remove *s = ctx;

	s->n++;
	loop_remove_timer(&s->other);
}

static void fail_cb(void *ctx)
{
	fail_msg("a removed timer fired");
}

static void test_timer_remove_inside_other(void **state)
{
	struct loop *loop = new_loop();
	struct self_remove s = {0};

	/* Both due in the same round: the first removes the second. */
	s.t = loop_add_timer(loop, 10, 0, remove_other_cb, &s);
	s.other = loop_add_timer(loop, 10, 0, fail_cb, NULL);
	loop_add_timer(loop, 60, 0, stop_cb, loop);
	run_bounded(loop, 2000);
	assert_int_equal(s.n, 1);
	assert_null(s.other);
	loop_remove_timer(&s.t);
	loop_remove_timer(&s.t); /* NULL is fine */
	loop_free(&loop);
}

/* ------------------------------------------------------------------- fds */

struct fd_pair {
	struct loop_fd *h[2];
	int pipe[2][2];
	int calls[2];
};

static void fd_remove_self_cb(int fd, unsigned revents, void *ctx)
{
	struct fd_pair *p = ctx;

	assert_true(revents & POLLIN);
	p->calls[0]++;
	loop_remove_fd(&p->h[0]);
}

static void test_fd_remove_inside_own(void **state)
{
	struct loop *loop = new_loop();
	struct fd_pair p = {0};

	assert_int_equal(pipe(p.pipe[0]), 0);
	assert_int_equal(write(p.pipe[0][1], "x", 1), 1);
	p.h[0] = loop_add_fd(loop, p.pipe[0][0], POLLIN, fd_remove_self_cb, &p);
	for (int i = 0; i < 3; i++)
		assert_int_equal(loop_run_once(loop, 20, NULL), 0);
	assert_int_equal(p.calls[0], 1);
	assert_null(p.h[0]);
	close(p.pipe[0][0]);
	close(p.pipe[0][1]);
	loop_free(&loop);
}

/* Whichever of the two runs first removes the other, which must then not
 * run although its fd was ready in the same poll(). */
static void fd_remove_other_cb(int fd, unsigned revents, void *ctx)
{
	struct fd_pair *p = ctx;
	int me = fd == p->pipe[0][0] ? 0 : 1;

	p->calls[me]++;
	loop_remove_fd(&p->h[1 - me]);
}

static void test_fd_remove_inside_other(void **state)
{
	struct loop *loop = new_loop();
	struct fd_pair p = {0};

	for (int i = 0; i < 2; i++) {
		assert_int_equal(pipe(p.pipe[i]), 0);
		assert_int_equal(write(p.pipe[i][1], "x", 1), 1);
		p.h[i] = loop_add_fd(loop, p.pipe[i][0], POLLIN, fd_remove_other_cb, &p);
	}
	assert_int_equal(loop_run_once(loop, 100, NULL), 0);
	assert_int_equal(p.calls[0] + p.calls[1], 1);
	/* The survivor goes on being called (its byte is still unread). */
	assert_int_equal(loop_run_once(loop, 100, NULL), 0);
	assert_int_equal(p.calls[0] + p.calls[1], 2);
	loop_remove_fd(&p.h[0]);
	loop_remove_fd(&p.h[1]);
	for (int i = 0; i < 2; i++) {
		close(p.pipe[i][0]);
		close(p.pipe[i][1]);
	}
	loop_free(&loop);
}

struct fd_timer {
	struct loop_fd *h;
	int calls;
};

static void fd_count_cb(int fd, unsigned revents, void *ctx)
{
	((struct fd_timer *)ctx)->calls++;
}

static void remove_fd_timer_cb(void *ctx)
{
	loop_remove_fd(&((struct fd_timer *)ctx)->h);
}

static void test_fd_remove_inside_timer(void **state)
{
	struct loop *loop = new_loop();
	struct fd_timer ft = {0};
	int pfd[2];

	assert_int_equal(pipe(pfd), 0);
	ft.h = loop_add_fd(loop, pfd[0], POLLIN, fd_count_cb, &ft);
	loop_add_timer(loop, 10, 0, remove_fd_timer_cb, &ft);
	loop_add_timer(loop, 60, 0, stop_cb, loop);
	run_bounded(loop, 2000);
	assert_null(ft.h);
	assert_int_equal(write(pfd[1], "x", 1), 1);
	assert_int_equal(loop_run_once(loop, 20, NULL), 0);
	assert_int_equal(ft.calls, 0);
	close(pfd[0]);
	close(pfd[1]);
	loop_free(&loop);
}

static void nval_cb(int fd, unsigned revents, void *ctx)
{
	assert_true(revents & POLLNVAL);
	(*(int *)ctx)++;
}

static void test_closed_fd_does_not_spin(void **state)
{
	struct loop *loop = new_loop();
	int pfd[2], n = 0;
	struct loop_fd *h;

	assert_int_equal(pipe(pfd), 0);
	close(pfd[0]);
	close(pfd[1]);
	h = loop_add_fd(loop, pfd[0], POLLIN, nval_cb, &n);
	for (int i = 0; i < 5; i++)
		assert_int_equal(loop_run_once(loop, 0, NULL), 0);
	assert_int_equal(n, 1);
	loop_remove_fd(&h);
	loop_free(&loop);
}

static void test_fd_events_change(void **state)
{
	struct loop *loop = new_loop();
	struct fd_timer ft = {0};
	int pfd[2];

	assert_int_equal(pipe(pfd), 0);
	/* The write end is writable: POLLOUT fires only while asked for. */
	ft.h = loop_add_fd(loop, pfd[1], 0, fd_count_cb, &ft);
	assert_int_equal(loop_run_once(loop, 10, NULL), 0);
	assert_int_equal(ft.calls, 0);
	loop_fd_set_events(ft.h, POLLOUT);
	assert_int_equal(loop_run_once(loop, 10, NULL), 0);
	assert_int_equal(ft.calls, 1);
	loop_remove_fd(&ft.h);
	close(pfd[0]);
	close(pfd[1]);
	loop_free(&loop);
}

/* --------------------------------------------------------------- signals */

struct sig_seen {
	int signo;
	int n;
};

static void sig_cb(int signo, void *ctx)
{
	struct sig_seen *s = ctx;

	s->signo = signo;
	s->n++;
}

static void test_signal(void **state)
{
	struct loop *loop = new_loop();
	struct sig_seen s = {0};
	struct error err = {0};
	sigset_t cur;

	assert_int_equal(loop_add_signal(loop, SIGUSR1, sig_cb, &s, &err), 0);
	assert_int_equal(loop_add_signal(loop, SIGUSR2, sig_cb, &s, &err), 0);
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	assert_true(sigismember(&cur, SIGUSR1));
	raise(SIGUSR1);
	assert_int_equal(loop_run_once(loop, 1000, NULL), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.signo, SIGUSR1);
	raise(SIGUSR2);
	assert_int_equal(loop_run_once(loop, 1000, NULL), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.signo, SIGUSR2);
	assert_int_equal(loop_add_signal(loop, SIGKILL, sig_cb, &s, &err), -1);
	assert_non_null(strstr(err.msg, "cannot be caught"));
	loop_free(&loop);
}

/* ----------------------------------------------------------------- wakes */

struct waker {
	struct loop *loop;
	struct loop_wake *w;
	atomic_int sent;
	int received;
	int64_t sent_at, woke_at;
};

static void *waker_thread(void *arg)
{
	struct waker *wk = arg;

	usleep(50 * 1000);
	wk->sent_at = loop_now_ms();
	for (int i = 0; i < 100; i++) {
		atomic_fetch_add(&wk->sent, 1);
		loop_wake(wk->w);
	}
	return NULL;
}

static void wake_cb(void *ctx)
{
	struct waker *wk = ctx;

	if (wk->received++ == 0)
		wk->woke_at = loop_now_ms();
	if (atomic_load(&wk->sent) == 100)
		loop_stop(wk->loop);
}

static void test_wake_from_thread(void **state)
{
	struct waker wk = {.loop = new_loop()};
	struct error err = {0};
	pthread_t th;

	wk.w = loop_add_wake(wk.loop, wake_cb, &wk, &err);
	assert_non_null(wk.w);
	assert_int_equal(pthread_create(&th, NULL, waker_thread, &wk), 0);
	run_bounded(wk.loop, 3000);
	pthread_join(th, NULL);
	/* Coalesced: far fewer calls than wakes, and prompt. */
	assert_true(wk.received >= 1);
	assert_true(wk.received < 100);
	assert_true(wk.woke_at - wk.sent_at < TOLERANCE_MS);
	loop_remove_wake(&wk.w);
	assert_null(wk.w);
	loop_free(&wk.loop);
}

static void *stopper_thread(void *arg)
{
	usleep(30 * 1000);
	loop_stop(arg);
	return NULL;
}

static void test_stop_from_thread(void **state)
{
	struct loop *loop = new_loop();
	struct error err = {0};
	int64_t t0 = loop_now_ms();
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, stopper_thread, loop), 0);
	assert_int_equal(loop_run(loop, &err), 0);
	pthread_join(th, NULL);
	assert_true(loop_now_ms() - t0 < 30 + TOLERANCE_MS);
	loop_free(&loop);
}

static void remove_wake_cb(void *ctx)
{
	struct waker *wk = ctx;

	wk->received++;
	loop_remove_wake(&wk->w);
}

static void test_wake_remove_inside_own(void **state)
{
	struct waker wk = {.loop = new_loop()};

	wk.w = loop_add_wake(wk.loop, remove_wake_cb, &wk, NULL);
	loop_wake(wk.w);
	assert_int_equal(loop_run_once(wk.loop, 100, NULL), 0);
	assert_int_equal(wk.received, 1);
	assert_null(wk.w);
	assert_int_equal(loop_run_once(wk.loop, 10, NULL), 0);
	loop_free(&wk.loop);
}

/* ------------------------------------------------------------- idle, time */

static int64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

static void test_no_spin_while_idle(void **state)
{
	struct loop *loop = new_loop();
	int pfd[2];
	struct fd_timer ft = {0};
	int64_t cpu0, t0;

	/* An fd with nothing to read and a far timer: nothing to do. */
	assert_int_equal(pipe(pfd), 0);
	ft.h = loop_add_fd(loop, pfd[0], POLLIN, fd_count_cb, &ft);
	loop_add_timer(loop, 10000, 0, fail_cb, NULL);
	loop_add_timer(loop, 300, 0, stop_cb, loop);
	cpu0 = cpu_us();
	t0 = loop_now_ms();
	run_bounded(loop, 2000);
	assert_true(loop_now_ms() - t0 >= 300);
	print_message("idle 300 ms: %lld us of CPU\n", (long long)(cpu_us() - cpu0));
	assert_true(cpu_us() - cpu0 < 20000);
	loop_remove_fd(&ft.h);
	close(pfd[0]);
	close(pfd[1]);
	loop_free(&loop);
}

static void test_suspend_detection(void **state)
{
	struct loop_clock a = {.boot_ms = 1000, .mono_ms = 500};
	struct loop_clock b = {.boot_ms = 61000, .mono_ms = 10500};

	/* 60 s passed on BOOTTIME, 10 s on MONOTONIC: 50 s asleep. */
	assert_int_equal(loop_clock_suspended_ms(a, b), 50000);
	b.boot_ms = 11400;
	assert_int_equal(loop_clock_suspended_ms(a, b), 0);
	b = loop_clock_now();
	a = loop_clock_now();
	assert_int_equal(loop_clock_suspended_ms(b, a), 0);
	assert_true(loop_now_ms() >= a.boot_ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timers_in_order),
	    cmocka_unit_test(test_periodic),
	    cmocka_unit_test(test_reset_debounces),
	    cmocka_unit_test(test_timer_remove_inside_own),
	    cmocka_unit_test(test_timer_remove_inside_other),
	    cmocka_unit_test(test_fd_remove_inside_own),
	    cmocka_unit_test(test_fd_remove_inside_other),
	    cmocka_unit_test(test_fd_remove_inside_timer),
	    cmocka_unit_test(test_closed_fd_does_not_spin),
	    cmocka_unit_test(test_fd_events_change),
	    cmocka_unit_test(test_signal),
	    cmocka_unit_test(test_wake_from_thread),
	    cmocka_unit_test(test_stop_from_thread),
	    cmocka_unit_test(test_wake_remove_inside_own),
	    cmocka_unit_test(test_no_spin_while_idle),
	    cmocka_unit_test(test_suspend_detection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
