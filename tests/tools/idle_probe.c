/* idle_probe: one IDLE connection driven by util/loop, as the daemon will
 * drive its own, printing what the server pushes (tests/integration/
 * t_idle.sh).
 *
 *   idle_probe HOST PORT implicit|starttls|none CAFILE USER PASS MAILBOX [SECONDS]
 *
 * CAFILE "-" means the system store only; MAILBOX "-" skips the SELECT
 * (IDLE must then be refused). Runs SECONDS (default 60), or until SIGTERM
 * or SIGINT, then leaves IDLE and logs out. Lines on stdout, each flushed:
 *   idle: started exists=N
 *   event: ms=<CLOCK_REALTIME ms> exists=0|1 n_exists=N expunged=N fetches=N vanished=N
 *   idle: renewed                 (a renewal that brought nothing)
 *   idle: buffered                (data was waiting where poll() cannot see it)
 * Events are handled with the non-blocking halves (imap_idle_done_send, then
 * imap_idle_done_finish on POLLIN, and so on), renewals with the blocking
 * imap_idle_restart.
 *   done
 * On error: "idle_probe: error: MESSAGE" on stderr, exit 1 (2 for usage).
 *
 * Environment: IDLE_PROBE_RENEW_MS renews IDLE that often (default 25
 * minutes); IMAP_PROBE_TRACE=1 shows the wire trace. */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap.h"
#include "util/log.h"
#include "util/loop.h"

#include "tests/tools/probe_args.h"

struct probe {
	struct imap *imap;
	struct loop *loop;
	struct loop_fd *fd_h;
	struct loop_timer *kick;    /* fires at once when data is buffered */
	struct loop_timer *timeout; /* armed while an answer is awaited */
	unsigned timeout_s;
	struct error err;
	int failed;
};

static long long realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_events(const struct imap_idle_events *ev, bool renewal)
{
	if (!imap_idle_events_any(ev)) {
		if (renewal)
			printf("idle: renewed\n");
		return;
	}
	printf("event: ms=%lld exists=%d n_exists=%" PRIu32 " expunged=%zu fetches=%zu "
	       "vanished=%zu\n",
	       realtime_ms(), ev->exists ? 1 : 0, ev->n_exists, ev->expunged, ev->fetches,
	       ev->vanished);
}

static void fail(struct probe *p)
{
	p->failed = 1;
	loop_remove_fd(&p->fd_h);
	loop_stop(p->loop);
}

/* Idling again: poll() cannot see data that our own reads pulled into the
 * stream's or OpenSSL's buffer, and only those reads can put it there: so
 * right after each *_finish is the one place to look. */
static void idling(struct probe *p)
{
	loop_timer_stop(p->timeout);
	if (imap_idle_has_buffered(p->imap)) {
		printf("idle: buffered\n");
		loop_timer_reset(p->kick, 0, 0);
	}
	fflush(stdout);
}

/* A command went out: its answer comes through the socket, in time. */
static void awaiting(struct probe *p)
{
	loop_timer_reset(p->timeout, (int64_t)p->timeout_s * 1000, 0);
}

/* One step of the cycle, without ever waiting for the server: each send
 * returns at once, each finish runs once the answer is readable. */
static int step(struct probe *p)
{
	struct imap_idle_events ev;

	switch (imap_idle_phase(p->imap)) {
	case IMAP_IDLE_ON:
		if (imap_idle_done_send(p->imap, &p->err) < 0)
			return -1;
		awaiting(p);
		return 0;
	case IMAP_IDLE_ENDING:
		if (imap_idle_done_finish(p->imap, &ev, &p->err) < 0)
			return -1;
		print_events(&ev, false);
		fflush(stdout);
		if (imap_idle_start_send(p->imap, &p->err) < 0)
			return -1;
		awaiting(p);
		return 0;
	case IMAP_IDLE_STARTING:
		if (imap_idle_start_finish(p->imap, &p->err) < 0)
			return -1;
		idling(p);
		return 0;
	case IMAP_IDLE_OFF:
	default:
		return 0;
	}
}

static void on_readable(int fd, unsigned revents, void *ctx)
{
	struct probe *p = ctx;

	if (step(p) < 0)
		fail(p);
}

static void on_kick(void *ctx)
{
	struct probe *p = ctx;

	if (imap_idle_phase(p->imap) == IMAP_IDLE_ON && step(p) < 0)
		fail(p);
}

static void on_timeout(void *ctx)
{
	struct probe *p = ctx;

	error_set(&p->err, ERR_ACCOUNT, RETRY_BACKOFF, "IDLE: no answer within %u s", p->timeout_s);
	fail(p);
}

/* The renewal uses the blocking form, so that both are exercised. */
static void on_renew(void *ctx)
{
	struct probe *p = ctx;
	struct imap_idle_events ev;

	if (imap_idle_phase(p->imap) != IMAP_IDLE_ON)
		return; /* a cycle is under way: that renews it */
	if (imap_idle_restart(p->imap, &ev, &p->err) < 0) {
		fail(p);
		return;
	}
	print_events(&ev, true);
	idling(p);
}

static void on_stop(void *ctx)
{
	loop_stop(ctx);
}

static void on_signal(int signo, void *ctx)
{
	loop_stop(ctx);
}

static int start(struct probe *p, const char *mailbox)
{
	struct imap_mailbox_info info = {0};

	if (strcmp(mailbox, "-") != 0 && imap_select(p->imap, mailbox, &info, &p->err) < 0)
		return -1;
	if (imap_idle_start(p->imap, &p->err) < 0)
		return -1;
	printf("idle: started exists=%" PRIu32 "\n", info.exists);
	fflush(stdout);
	return 0;
}

/* The loop: the IDLE socket, a kick for buffered data, renewal, the end. */
static int run(struct probe *p, unsigned seconds)
{
	const char *renew = getenv("IDLE_PROBE_RENEW_MS");
	int64_t renew_ms = renew ? strtoll(renew, NULL, 10) : IMAP_IDLE_RENEW_S * 1000LL;

	if (loop_new(&p->loop, &p->err) < 0 ||
	    loop_add_signal(p->loop, SIGTERM, on_signal, p->loop, &p->err) < 0 ||
	    loop_add_signal(p->loop, SIGINT, on_signal, p->loop, &p->err) < 0)
		return -1;
	p->fd_h = loop_add_fd(p->loop, imap_idle_fd(p->imap), POLLIN, on_readable, p);
	p->kick = loop_add_timer(p->loop, 0, 0, on_kick, p);
	p->timeout = loop_add_timer(p->loop, 0, 0, on_timeout, p);
	loop_timer_stop(p->kick);
	idling(p);
	loop_add_timer(p->loop, renew_ms, renew_ms, on_renew, p);
	loop_add_timer(p->loop, (int64_t)seconds * 1000, 0, on_stop, p->loop);
	if (loop_run(p->loop, &p->err) < 0 || p->failed)
		return -1;
	return 0;
}

static int probe(const struct account_conf *acct, const char *pass, const char *mailbox,
		 unsigned seconds)
{
	struct probe p = {.timeout_s = acct->timeout};
	struct imap_idle_events ev;
	int ret = 1;

	if (imap_connect(acct, pass, &p.imap, &p.err) < 0 || start(&p, mailbox) < 0 ||
	    run(&p, seconds) < 0)
		goto out;
	/* Stopped between two halves of a cycle: complete it first. */
	while (imap_idle_phase(p.imap) == IMAP_IDLE_ENDING ||
	       imap_idle_phase(p.imap) == IMAP_IDLE_STARTING)
		if (step(&p) < 0)
			goto out;
	if (imap_idle_done(p.imap, &ev, &p.err) < 0)
		goto out;
	print_events(&ev, false);
	printf("done\n");
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "idle_probe: error: %s\n", p.err.msg);
	loop_free(&p.loop);
	imap_free(&p.imap);
	return ret;
}

int main(int argc, char **argv)
{
	struct account_conf acct;

	if (argc < 8 || argc > 9 || probe_account(argv, &acct) < 0) {
		fprintf(stderr, "usage: idle_probe HOST PORT implicit|starttls|none CAFILE USER "
				"PASS MAILBOX [SECONDS]\n");
		return 2;
	}
	return probe(&acct, argv[6], argv[7],
		     argc == 9 ? (unsigned)strtoul(argv[8], NULL, 10) : 60);
}
