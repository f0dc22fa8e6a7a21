/* The transport's guard (net/tls.c) against what a broken or hostile
 * server sends, on the plain driver over a socketpair: bounded lines,
 * literals and answers, a trickle that never lets the read timeout fire,
 * the text of a BYE, and -1 (never 0) at the end of the stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/tls.h"

/* What the peer thread writes: a head, then `repeat` copies of `body`
 * (each after `delay_ms`), then it closes its end. */
struct peer {
	int fd;
	const char *head;
	const char *body;
	size_t body_len; /* 0: strlen(body) */
	size_t repeat;
	unsigned delay_ms;
	pthread_t th;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	size_t len = p->body_len ? p->body_len : (p->body ? strlen(p->body) : 0);

	if (p->head && send(p->fd, p->head, strlen(p->head), MSG_NOSIGNAL) < 0)
		goto out;
	for (size_t i = 0; i < p->repeat; i++) {
		if (p->delay_ms) {
			struct timespec ts = {0, (long)p->delay_ms * 1000000L};

			nanosleep(&ts, NULL);
		}
		if (send(p->fd, p->body, len, MSG_NOSIGNAL) < 0)
			break;
	}
out:
	close(p->fd);
	return NULL;
}

struct rig {
	struct peer peer;
	mailstream_low *low;
	size_t got;   /* bytes the driver handed over */
	ssize_t last; /* the last read's result */
};

static void rig_start(struct rig *r, unsigned timeout)
{
	int sv[2];

	tls_init();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	{
		struct timeval tv = {.tv_sec = timeout};

		setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	r->low = tls_low_plain(sv[0], timeout);
	r->peer.fd = sv[1];
	assert_int_equal(pthread_create(&r->peer.th, NULL, peer_main, &r->peer), 0);
}

/* Reads until the driver fails; returns the seconds it took. */
static double rig_drain(struct rig *r)
{
	static char buf[65536];
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	while ((r->last = mailstream_low_read(r->low, buf, sizeof(buf))) > 0)
		r->got += (size_t)r->last;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static void rig_stop(struct rig *r)
{
	mailstream_low_close(r->low);
	mailstream_low_free(r->low);
	pthread_join(r->peer.th, NULL);
}

static void assert_refused(struct rig *r, const char *phrase)
{
	const char *why = tls_low_error(r->low);

	assert_true(tls_low_refused(r->low));
	assert_non_null(why);
	if (!strstr(why, phrase)) {
		print_error("error \"%s\" lacks \"%s\"\n", why, phrase);
		fail();
	}
}

static void test_eof_is_minus_one(void **state)
{
	struct rig r = {.peer = {.head = "* OK hello\r\n"}};

	(void)state;
	rig_start(&r, 5);
	rig_drain(&r);
	assert_int_equal(r.last, -1);
	assert_int_equal(r.got, 12);
	assert_false(tls_low_refused(r.low));
	assert_string_equal(tls_low_error(r.low), "connection closed by server");
	rig_stop(&r);
}

static void test_long_line(void **state)
{
	static char chunk[1 << 16];
	struct rig r = {
	    .peer = {
		.head = "* OK [ALERT] ", .body = chunk, .body_len = sizeof(chunk), .repeat = 1000}};

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	rig_start(&r, 5);
	rig_drain(&r);
	assert_refused(&r, "line of more than");
	/* Nothing of the refused read reached the caller. */
	assert_true(r.got <= (32u << 20));
	rig_stop(&r);
}

static void test_huge_literal(void **state)
{
	struct rig r = {.peer = {.head = "* 1 FETCH (UID 1 BODY[] {4294967295}\r\nxxxx"}};

	(void)state;
	rig_start(&r, 5);
	rig_drain(&r);
	assert_refused(&r, "literal of 4294967295 bytes");
	assert_int_equal(r.got, 0);
	rig_stop(&r);
}

static void test_literal_number_overflow(void **state)
{
	struct rig r = {.peer = {.head = "* 1 FETCH (UID 1 BODY[] {184467440737095516150}\r\n"}};

	(void)state;
	rig_start(&r, 5);
	rig_drain(&r);
	assert_refused(&r, "literal of more than");
	rig_stop(&r);
}

/* Literal bytes are not lines: LFs inside one neither end a line nor
 * count, and the response goes on after it. */
/* Leading zeros push the '{' far from the line's end: still a literal. */
static void test_literal_leading_zeros(void **state)
{
	struct rig r = {
	    .peer = {.head = "* 1 FETCH (UID 1 BODY[] {00000000000000000000000004294967295}\r\n"}};

	(void)state;
	rig_start(&r, 5);
	rig_drain(&r);
	assert_refused(&r, "literal of 4294967295 bytes");
	rig_stop(&r);
}

static void test_literal_passes(void **state)
{
	struct rig r = {.peer = {.head = "* 1 FETCH (UID 1 BODY[] {12}\r\na\nb\nc\nd\ne\nf\n)\r\n"
					 "* BYE [UNAVAILABLE] going \x1b away\r\n"}};

	(void)state;
	rig_start(&r, 5);
	rig_drain(&r);
	assert_false(tls_low_refused(r.low));
	assert_string_equal(tls_low_bye(r.low), "[UNAVAILABLE] going ? away");
	rig_stop(&r);
}

static void test_flood(void **state)
{
	static char lines[12 * 1000 + 1];
	struct rig r = {.peer = {.body = lines, .repeat = 300}};

	(void)state;
	for (int i = 0; i < 1000; i++)
		memcpy(lines + 12 * i, "* OK flood\r\n", 12);
	rig_start(&r, 5);
	rig_drain(&r);
	assert_refused(&r, "responses to one command");
	rig_stop(&r);
}

/* FETCH responses come by the thousand legitimately: not counted. */
static void test_fetch_lines_pass(void **state)
{
	static char lines[20 * 1000 + 1];
	struct rig r = {.peer = {.body = lines, .repeat = 300}};

	(void)state;
	for (int i = 0; i < 1000; i++)
		memcpy(lines + 20 * i, "* 7 FETCH (UID 12)\r\n", 20);
	rig_start(&r, 5);
	rig_drain(&r);
	assert_false(tls_low_refused(r.low));
	assert_int_equal(r.got, 20u * 1000 * 300);
	rig_stop(&r);
}

/* A byte every 200 ms never lets a 1 s read timeout fire; the guard ends
 * it after about 1 s of waiting. */
static void test_trickle(void **state)
{
	struct rig r = {.peer = {.body = "x", .repeat = 40, .delay_ms = 200}};
	double secs;

	(void)state;
	rig_start(&r, 1);
	secs = rig_drain(&r);
	assert_refused(&r, "too slow");
	assert_true(secs < 3.0);
	rig_stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_eof_is_minus_one),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_huge_literal),
	    cmocka_unit_test(test_literal_number_overflow),
	    cmocka_unit_test(test_literal_leading_zeros),
	    cmocka_unit_test(test_literal_passes),
	    cmocka_unit_test(test_flood),
	    cmocka_unit_test(test_fetch_lines_pass),
	    cmocka_unit_test(test_trickle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
