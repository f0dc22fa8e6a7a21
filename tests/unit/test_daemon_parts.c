/* Unit tests of the daemon's pure parts and of net/sockets: the
 * connection budget's split (never more than the budget), the status
 * file's text read back, and a socket another thread blocks on ended at
 * once by sockets_refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/budget.h"
#include "daemon/livestatus.h"
#include "net/sockets.h"
#include "net/tls.h"

static void test_budget_fits(void **state)
{
	(void)state;
	for (unsigned max = 2; max <= 20; max++)
		for (size_t idle = 0; idle <= 20; idle++)
			for (unsigned conns = 1; conns <= 15; conns++)
				for (int smtp = 0; smtp <= 1; smtp++) {
					struct budget b;

					budget_split(max, idle, conns, smtp, &b);
					assert_true(budget_total(&b) <= max);
					assert_true(b.sync >= 1);
					assert_true(b.sync <= conns);
					assert_true(b.idle <= idle);
					/* Every folder is pushed one way or the other. */
					assert_true(b.idle == idle || b.poller);
				}
}

static void test_budget_default(void **state)
{
	struct budget b;

	(void)state;
	/* The defaults: budget 8, INBOX, 4 sync connections, SMTP. */
	budget_split(8, 1, 4, true, &b);
	assert_int_equal(b.idle, 1);
	assert_int_equal(b.sync, 4);
	assert_false(b.poller);
	assert_true(b.smtp);
	/* Ten folders to push in a budget of 8: 5 IDLE, 1 poller, 1 sync. */
	budget_split(8, 10, 4, true, &b);
	assert_int_equal(b.idle, 5);
	assert_true(b.poller);
	assert_int_equal(b.sync, 1);
	assert_int_equal(budget_total(&b), 8);
	/* Just fits: 6 IDLE + 1 sync + SMTP. */
	budget_split(8, 6, 4, true, &b);
	assert_int_equal(b.idle, 6);
	assert_false(b.poller);
	assert_int_equal(b.sync, 1);
}

static void test_live_status_round_trip(void **state)
{
	struct live_status ls = {.pid = 4242, .last_ok = 1700000000, .error_at = 1700000100};
	struct live_status back;
	char *text;

	(void)state;
	snprintf(ls.error, sizeof(ls.error), "connect to h:993: Network is unreachable");
	live_status_add(&ls, "sync", "-", "waiting for network", 1700000050, 1700000100,
			"connect\tto h:993:\nNetwork is unreachable");
	live_status_add(&ls, "idle", "Caf\xc3\xa9 \xe2\x98\x95", "connected", 1700000001, 0, "");
	live_status_add(&ls, "poll", "3 folder(s)", "connecting", 0, 0, "");
	text = live_status_format(&ls);
	live_status_parse(text, &back);
	assert_int_equal(back.pid, 4242);
	assert_int_equal(back.last_ok, 1700000000);
	assert_int_equal(back.error_at, 1700000100);
	assert_string_equal(back.error, ls.error);
	assert_int_equal(back.n_conns, 3);
	assert_string_equal(back.conns[0].state, "waiting for network");
	/* Tabs and line ends in a text cannot break the lines. */
	assert_string_equal(back.conns[0].error, "connect to h:993: Network is unreachable");
	assert_string_equal(back.conns[1].folder, "Caf\xc3\xa9 \xe2\x98\x95");
	assert_int_equal(back.conns[1].since, 1700000001);
	assert_string_equal(back.conns[2].role, "poll");
	free(text);
	live_status_clear(&ls);
	live_status_clear(&back);
	/* Lines it does not know are skipped. */
	live_status_parse("pid\t7\nfuture\tx\ty\nconn\tshort\n", &back);
	assert_int_equal(back.pid, 7);
	assert_int_equal(back.n_conns, 0);
	live_status_clear(&back);
}

struct reader {
	int fd;
	ssize_t got;
};

static void *read_blocked(void *arg)
{
	struct reader *r = arg;
	char c;

	r->got = recv(r->fd, &c, 1, 0);
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A read blocked on a silent server returns at once when the daemon
 * stops, and no new connection is made until allowed again. */
static void test_sockets_refuse_ends_blocked_read(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct tls_opts o = {.host = "127.0.0.1", .timeout = 30};
	struct error err = {0};
	struct reader r = {.got = 99};
	pthread_t t;
	char why[256];
	int64_t t0;

	(void)state;
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	o.port = ntohs(sa.sin_port);
	r.fd = tls_tcp_connect(&o, &err);
	assert_true(r.fd >= 0);
	assert_int_equal(sockets_count(), 1);
	/* Loopback is never "unroutable". */
	assert_int_equal(sockets_end_unroutable(), 0);
	assert_int_equal(pthread_create(&t, NULL, read_blocked, &r), 0);
	usleep(100 * 1000);
	t0 = now_ms();
	sockets_refuse("the daemon is stopping");
	pthread_join(t, NULL);
	assert_true(now_ms() - t0 < 1000);
	assert_true(r.got <= 0);
	assert_true(sockets_ended(r.fd, why, sizeof(why)));
	assert_string_equal(why, "the daemon is stopping");
	assert_int_equal(tls_tcp_connect(&o, &err), -1);
	assert_non_null(strstr(err.msg, "the daemon is stopping"));
	tls_tcp_close(r.fd);
	assert_int_equal(sockets_count(), 0);
	sockets_allow();
	r.fd = tls_tcp_connect(&o, &err);
	assert_true(r.fd >= 0);
	tls_tcp_close(r.fd);
	close(lfd);
}

static void test_says_no_route(void **state)
{
	(void)state;
	assert_true(sockets_says_no_route("connect to h:993: Network is unreachable"));
	assert_true(sockets_says_no_route("the network changed: no route to 10.0.0.1 (x)"));
	assert_false(sockets_says_no_route("login failed: [AUTHENTICATIONFAILED]"));
	assert_false(sockets_says_no_route("connect to h:993: Connection refused"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_budget_fits),
	    cmocka_unit_test(test_budget_default),
	    cmocka_unit_test(test_live_status_round_trip),
	    cmocka_unit_test(test_sockets_refuse_ends_blocked_read),
	    cmocka_unit_test(test_says_no_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
