/* IDLE against a scripted server on 127.0.0.1 (plain TCP): the protocol
 * edges Dovecot never shows, such as an untagged response before the
 * continuation (libetpan 1.9.4 blocks on it), data arriving in the same
 * segment as "+ idling", a NO to IDLE, and BYE during IDLE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "imap/imap.h"
#include "util/loop.h"

/* What the server does; "%s" in a reply is the tag of the IDLE command. */
struct script {
	const char *caps;	/* after CAPABILITY; default "IMAP4rev1 IDLE" */
	const char *idle_reply; /* sent in one write on IDLE */
	const char *later;	/* sent 100 ms after idle_reply, if not NULL */
	bool close_later;	/* close the socket 100 ms after idle_reply */
};

struct server {
	const struct script *sc;
	int lfd, fd;
	uint16_t port;
	pthread_t th;
	char buf[4096];
	size_t len;
	int idles; /* IDLE commands seen: "later" comes after the first */
};

struct fixture {
	struct server srv;
	struct account_conf acct;
	struct imap *imap;
};

/* ---------------------------------------------------------- the server */

/* Sends text with each "%s" replaced by arg (scripts are data, not
 * format strings). */
static void say(struct server *s, const char *text, const char *arg)
{
	char out[1024];
	size_t n = 0;

	for (const char *c = text; *c && n < sizeof(out) - 64; c++) {
		if (c[0] == '%' && c[1] == 's') {
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%.60s", arg);
			c++;
		} else {
			out[n++] = *c;
		}
	}
	if (write(s->fd, out, n) < 0)
		return;
}

/* The next CRLF-terminated line, without the CRLF; false at EOF. */
static bool read_line(struct server *s, char *line, size_t cap)
{
	for (;;) {
		char *eol = memchr(s->buf, '\n', s->len);
		ssize_t n;

		if (eol) {
			size_t l = (size_t)(eol - s->buf) + 1;
			size_t k = l - 1 - (l >= 2 && s->buf[l - 2] == '\r');

			snprintf(line, cap, "%.*s", (int)k, s->buf);
			memmove(s->buf, s->buf + l, s->len - l);
			s->len -= l;
			return true;
		}
		n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
		if (n <= 0)
			return false;
		s->len += (size_t)n;
	}
}

static void on_idle(struct server *s, const char *tag)
{
	say(s, s->sc->idle_reply, tag);
	if ((!s->sc->later && !s->sc->close_later) || s->idles++ > 0)
		return;
	usleep(100 * 1000);
	if (s->sc->later)
		say(s, s->sc->later, tag);
	if (s->sc->close_later)
		shutdown(s->fd, SHUT_RDWR);
}

/* One command: answers it; false when the session is over. */
static bool serve(struct server *s, const char *line, char *idle_tag)
{
	char tag[32] = "", cmd[32] = "";

	if (strcasecmp(line, "DONE") == 0) {
		say(s, "%s OK Idle completed\r\n", idle_tag);
		return true;
	}
	sscanf(line, "%31s %31s", tag, cmd);
	if (strcasecmp(cmd, "CAPABILITY") == 0) {
		say(s, "* CAPABILITY %s\r\n", s->sc->caps ? s->sc->caps : "IMAP4rev1 IDLE");
		say(s, "%s OK done\r\n", tag);
	} else if (strcasecmp(cmd, "SELECT") == 0) {
		say(s, "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 4] ok\r\n", "");
		say(s, "%s OK [READ-WRITE] selected\r\n", tag);
	} else if (strcasecmp(cmd, "IDLE") == 0) {
		snprintf(idle_tag, 32, "%s", tag);
		on_idle(s, tag);
	} else if (strcasecmp(cmd, "LOGOUT") == 0) {
		say(s, "* BYE bye\r\n%s OK bye\r\n", tag);
		return false;
	} else {
		say(s, "%s OK done\r\n", tag); /* LOGIN, NOOP */
	}
	return true;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	char line[1024], idle_tag[32] = "";

	s->fd = accept(s->lfd, NULL, NULL);
	if (s->fd < 0)
		return NULL;
	say(s, "* OK scripted server ready\r\n", "");
	while (read_line(s, line, sizeof(line)) && serve(s, line, idle_tag))
		;
	close(s->fd);
	return NULL;
}

static int server_start(struct server *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s->lfd, 1) < 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	s->port = ntohs(sa.sin_port);
	return pthread_create(&s->th, NULL, server_main, s) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- fixture */

static struct fixture *connect_to(const struct script *sc, bool select)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct imap_mailbox_info info;
	struct error err = {0};

	assert_non_null(fx);
	fx->srv.sc = sc;
	assert_int_equal(server_start(&fx->srv), 0);
	fx->acct = (struct account_conf){.name = "t",
					 .host = "127.0.0.1",
					 .port = fx->srv.port,
					 .tls = TLS_NONE,
					 .allow_insecure = true,
					 .user = "u",
					 .timeout = 5};
	if (imap_connect(&fx->acct, "p", &fx->imap, &err) < 0)
		fail_msg("connect: %s", err.msg);
	if (select && imap_select(fx->imap, "INBOX", &info, &err) < 0)
		fail_msg("select: %s", err.msg);
	return fx;
}

static void finish(struct fixture *fx)
{
	imap_free(&fx->imap);
	pthread_join(fx->srv.th, NULL);
	close(fx->srv.lfd);
	free(fx);
}

static bool readable_within(struct imap *imap, int ms)
{
	struct pollfd p = {.fd = imap_idle_fd(imap), .events = POLLIN};

	return poll(&p, 1, ms) > 0;
}

/* --------------------------------------------------------------- tests */

static void test_refused_without_select(void **state)
{
	static const struct script sc = {.idle_reply = "+ idling\r\n"};
	struct fixture *fx = connect_to(&sc, false);
	struct error err = {0};

	assert_int_equal(imap_idle_start(fx->imap, &err), -1);
	assert_string_equal(err.msg, "IDLE: no mailbox selected");
	assert_int_equal(err.scope, ERR_FOLDER);
	assert_false(imap_is_dead(fx->imap));
	assert_int_equal(imap_idle_phase(fx->imap), IMAP_IDLE_OFF);
	assert_int_equal(imap_noop(fx->imap, &err), 0);
	finish(fx);
}

static void test_refused_without_capability(void **state)
{
	static const struct script sc = {.caps = "IMAP4rev1", .idle_reply = "+ idling\r\n"};
	struct fixture *fx = connect_to(&sc, true);
	struct error err = {0};

	assert_int_equal(imap_idle_start(fx->imap, &err), -1);
	assert_string_equal(err.msg, "IDLE: the server does not offer IDLE");
	assert_int_equal(imap_noop(fx->imap, &err), 0);
	finish(fx);
}

static void test_events(void **state)
{
	static const struct script sc = {
	    .idle_reply = "+ idling\r\n",
	    .later = "* 4 EXISTS\r\n* 2 EXPUNGE\r\n* 1 FETCH (FLAGS (\\Seen))\r\n"};
	struct fixture *fx = connect_to(&sc, true);
	struct imap_idle_events ev;
	struct error err = {0};

	assert_int_equal(imap_idle_start(fx->imap, &err), 0);
	assert_int_equal(imap_idle_phase(fx->imap), IMAP_IDLE_ON);
	assert_false(imap_idle_has_buffered(fx->imap));
	assert_true(readable_within(fx->imap, 2000));
	assert_int_equal(imap_idle_done(fx->imap, &ev, &err), 0);
	assert_true(ev.exists);
	assert_int_equal(ev.n_exists, 3); /* 4, then one expunged */
	assert_int_equal(ev.expunged, 1);
	assert_int_equal(ev.fetches, 1);
	assert_int_equal(ev.vanished, 0);
	assert_true(imap_idle_events_any(&ev));
	/* Renewals that bring nothing (the script sends its data once). */
	assert_int_equal(imap_idle_start(fx->imap, &err), 0);
	if (imap_idle_restart(fx->imap, &ev, &err) < 0)
		fail_msg("%s", err.msg);
	assert_false(imap_idle_events_any(&ev));
	assert_int_equal(imap_idle_done(fx->imap, &ev, &err), 0);
	assert_false(imap_idle_events_any(&ev));
	assert_int_equal(imap_noop(fx->imap, &err), 0);
	finish(fx);
}

static void test_untagged_before_continuation(void **state)
{
	static const struct script sc = {.idle_reply = "* 4 EXISTS\r\n* 1 FETCH (FLAGS ())\r\n"
						       "+ idling\r\n"};
	struct fixture *fx = connect_to(&sc, true);
	struct imap_idle_events ev;
	struct error err = {0};
	int64_t t0 = loop_now_ms();

	/* libetpan's own mailimap_idle() waits for the 5 s timeout here
	 * and then fails with a dead connection. */
	assert_int_equal(imap_idle_start(fx->imap, &err), 0);
	assert_true(loop_now_ms() - t0 < 2000);
	/* Kept for the answer to DONE, and announced as buffered. */
	assert_true(imap_idle_has_buffered(fx->imap));
	assert_int_equal(imap_idle_done(fx->imap, &ev, &err), 0);
	assert_true(ev.exists);
	assert_int_equal(ev.n_exists, 4);
	assert_int_equal(ev.fetches, 1);
	assert_false(imap_idle_has_buffered(fx->imap));
	assert_int_equal(imap_noop(fx->imap, &err), 0);
	finish(fx);
}

static void test_data_in_same_segment(void **state)
{
	static const struct script sc = {.idle_reply = "+ idling\r\n* 5 EXISTS\r\n"};
	struct fixture *fx = connect_to(&sc, true);
	struct imap_idle_events ev;
	struct error err = {0};

	/* The EXISTS was read with the "+": poll() will not report it. */
	assert_int_equal(imap_idle_start(fx->imap, &err), 0);
	assert_true(imap_idle_has_buffered(fx->imap));
	assert_false(readable_within(fx->imap, 200));
	assert_int_equal(imap_idle_done(fx->imap, &ev, &err), 0);
	assert_true(ev.exists);
	assert_int_equal(ev.n_exists, 5);
	finish(fx);
}

static void test_no_to_idle(void **state)
{
	static const struct script sc = {.idle_reply = "%s NO [CANNOT] Not now\r\n"};
	struct fixture *fx = connect_to(&sc, true);
	struct error err = {0};

	assert_int_equal(imap_idle_start(fx->imap, &err), -1);
	assert_non_null(strstr(err.msg, "Not now"));
	assert_int_equal(err.scope, ERR_FOLDER);
	assert_false(imap_is_dead(fx->imap));
	assert_int_equal(imap_idle_phase(fx->imap), IMAP_IDLE_OFF);
	assert_int_equal(imap_noop(fx->imap, &err), 0);
	finish(fx);
}

static void test_bye_without_close(void **state)
{
	static const struct script sc = {.idle_reply = "+ idling\r\n",
					 .later = "* BYE Server shutting down.\r\n"};
	struct fixture *fx = connect_to(&sc, true);
	struct imap_idle_events ev;
	struct error err = {0};
	int64_t t0;

	assert_int_equal(imap_idle_start(fx->imap, &err), 0);
	assert_true(readable_within(fx->imap, 2000));
	/* The socket stays open: waiting for the answer to DONE would take
	 * the whole timeout. */
	t0 = loop_now_ms();
	assert_int_equal(imap_idle_done(fx->imap, &ev, &err), -1);
	assert_true(loop_now_ms() - t0 < 1000);
	assert_string_equal(err.msg, "IDLE: the server said BYE: Server shutting down.");
	assert_int_equal(err.scope, ERR_ACCOUNT);
	assert_true(imap_is_dead(fx->imap));
	finish(fx);
}

static void test_closed_during_idle(void **state)
{
	static const struct script sc = {.idle_reply = "+ idling\r\n", .close_later = true};
	struct fixture *fx = connect_to(&sc, true);
	struct imap_idle_events ev;
	struct error err = {0};

	assert_int_equal(imap_idle_start(fx->imap, &err), 0);
	assert_true(readable_within(fx->imap, 2000));
	assert_int_equal(imap_idle_done(fx->imap, &ev, &err), -1);
	assert_int_equal(err.scope, ERR_ACCOUNT);
	assert_true(imap_is_dead(fx->imap));
	assert_false(imap_idle_events_any(&ev));
	finish(fx);
}

static void test_phases(void **state)
{
	static const struct script sc = {.idle_reply = "+ idling\r\n"};
	struct fixture *fx = connect_to(&sc, true);
	struct imap_idle_events ev;
	struct error err = {0};

	assert_int_equal(imap_idle_done(fx->imap, &ev, &err), -1);
	assert_string_equal(err.msg, "IDLE: not idling");
	assert_int_equal(imap_idle_start_send(fx->imap, &err), 0);
	assert_int_equal(imap_idle_phase(fx->imap), IMAP_IDLE_STARTING);
	assert_int_equal(imap_idle_start_send(fx->imap, &err), -1);
	assert_string_equal(err.msg, "IDLE: already idling");
	assert_int_equal(imap_idle_done_send(fx->imap, &err), -1);
	/* The continuation comes through the socket. */
	assert_true(readable_within(fx->imap, 2000));
	assert_int_equal(imap_idle_start_finish(fx->imap, &err), 0);
	assert_int_equal(imap_idle_phase(fx->imap), IMAP_IDLE_ON);
	assert_int_equal(imap_idle_done_finish(fx->imap, &ev, &err), -1);
	assert_string_equal(err.msg, "IDLE: DONE was not sent");
	assert_int_equal(imap_idle_done_send(fx->imap, &err), 0);
	assert_int_equal(imap_idle_phase(fx->imap), IMAP_IDLE_ENDING);
	assert_true(readable_within(fx->imap, 2000));
	assert_int_equal(imap_idle_done_finish(fx->imap, &ev, &err), 0);
	assert_int_equal(imap_idle_phase(fx->imap), IMAP_IDLE_OFF);
	assert_false(imap_is_dead(fx->imap));
	finish(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused_without_select),
	    cmocka_unit_test(test_refused_without_capability),
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_untagged_before_continuation),
	    cmocka_unit_test(test_data_in_same_segment),
	    cmocka_unit_test(test_no_to_idle),
	    cmocka_unit_test(test_bye_without_close),
	    cmocka_unit_test(test_closed_during_idle),
	    cmocka_unit_test(test_phases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
