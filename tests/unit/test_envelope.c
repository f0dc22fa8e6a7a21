/* Unit tests of smtp/envelope.h and smtp/sendmail_args.h: the addresses of
 * a message, what is transmitted (CRLF, no Bcc, the fields we add), the
 * queue file round trip, and sendmail's options as mail programs pass
 * them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/envelope.h"
#include "smtp/sendmail_args.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* "a,b,c" of the parsed list, to compare in one assertion. */
static void assert_addrs(const char *list, const char *want)
{
	char **a = NULL;
	size_t n = 0;
	char got[1024] = "";

	envelope_parse_addrs(list, strlen(list), &a, &n);
	for (size_t i = 0; i < n; i++) {
		strcat(got, i ? "," : "");
		strcat(got, a[i]);
	}
	envelope_addrs_free(a, n);
	assert_string_equal(got, want);
}

static void test_addresses(void **state)
{
	(void)state;
	assert_addrs("a@b.c", "a@b.c");
	assert_addrs("John Smith <john@x.org>", "john@x.org");
	assert_addrs("\"Smith, John\" <john@x.org>, jane@y.org", "john@x.org,jane@y.org");
	assert_addrs("john@x.org (John Smith)", "john@x.org");
	assert_addrs("(comment (nested)) <a@b>", "a@b");
	assert_addrs("undisclosed-recipients:;", "");
	assert_addrs("Team: a@b, \"Q\" <c@d>; e@f", "a@b,c@d,e@f");
	assert_addrs("<@relay1,@relay2:user@host>", "user@host");
	assert_addrs("\"john doe\"@example.com", "\"john doe\"@example.com");
	assert_addrs("user@[192.0.2.1]", "user@[192.0.2.1]");
	assert_addrs("A@B, a@b, <A@b>", "A@B");
	assert_addrs("=?UTF-8?Q?J=C3=B6rg?= <joerg@x>", "joerg@x");
	assert_addrs("john\r\n @x.org", "john@x.org");
	assert_addrs("", "");
	assert_addrs(",,,", "");
	assert_addrs("<", "");
	assert_addrs("\"unterminated", "\"unterminated");
}

static struct prepare_opts opts(bool t)
{
	return (struct prepare_opts){.from_headers = t,
				     .default_from = "me@example.org",
				     .msgid_domain = "example.org",
				     .now = 1700000000,
				     .tz_offset_minutes = 60,
				     .random_tag = "tag"};
}

static void test_prepare_bcc(void **state)
{
	static const char msg[] = "From: Me <me@example.org>\n"
				  "To: a@x, b@y\n"
				  "Bcc: hidden@z,\n"
				  " other@z\n"
				  "Subject: hi\n"
				  "Message-ID: <id1@example.org>\n"
				  "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
				  "\n"
				  "body\n"
				  ".dot\n";
	struct prepare_opts o = opts(true);
	struct outgoing out;
	struct error err = {0};

	(void)state;
	assert_int_equal(envelope_prepare(msg, strlen(msg), &o, &out, &err), 0);
	assert_int_equal(out.n_rcpts, 4);
	assert_string_equal(out.rcpts[0], "a@x");
	assert_string_equal(out.rcpts[2], "hidden@z");
	assert_string_equal(out.rcpts[3], "other@z");
	assert_string_equal(out.sender, "me@example.org");
	assert_string_equal(out.message_id, "<id1@example.org>");
	assert_null(strstr(out.data, "Bcc"));
	assert_null(strstr(out.data, "hidden"));
	assert_string_equal(out.data, "From: Me <me@example.org>\r\n"
				      "To: a@x, b@y\r\n"
				      "Subject: hi\r\n"
				      "Message-ID: <id1@example.org>\r\n"
				      "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
				      "\r\n"
				      "body\r\n"
				      ".dot\r\n");
	assert_false(out.eight_bit);
	outgoing_free(&out);
}

/* What is missing is added; without -t only the command line counts. */
static void test_prepare_adds(void **state)
{
	static const char msg[] = "To: a@x\r\nSubject: s\r\n\r\nb\r";
	static const char *const rcpts[] = {"c@y, d@z"};
	struct prepare_opts o = opts(false);
	struct outgoing out;
	struct error err = {0};

	(void)state;
	o.rcpts = rcpts;
	o.n_rcpts = 1;
	o.full_name = "Me \"Myself\"";
	assert_int_equal(envelope_prepare(msg, strlen(msg), &o, &out, &err), 0);
	assert_int_equal(out.n_rcpts, 2);
	assert_string_equal(out.rcpts[0], "c@y");
	assert_string_equal(out.rcpts[1], "d@z");
	assert_string_equal(out.message_id, "<tag@example.org>");
	assert_string_equal(out.data, "To: a@x\r\nSubject: s\r\n"
				      "From: \"Me \\\"Myself\\\"\" <me@example.org>\r\n"
				      "Date: Tue, 14 Nov 2023 23:13:20 +0100\r\n"
				      "Message-ID: <tag@example.org>\r\n"
				      "\r\nb\r\n");
	outgoing_free(&out);
}

static void test_prepare_resent_and_errors(void **state)
{
	static const char resent[] = "To: old@x\nResent-To: new@y\nResent-Bcc: nb@z\n\nb\n";
	static const char none[] = "Subject: nobody\n\nb\n";
	static const char utf8[] = "From: J\xc3\xb6rg <j@x>\nTo: a@b\n\nb\n";
	static const char body8[] = "From: j@x\nTo: a@b\n\nb\xc3\xa4\n";
	static const char nohead[] = "just text\nmore";
	struct prepare_opts o = opts(true);
	struct outgoing out;
	struct error err = {0};

	(void)state;
	assert_int_equal(envelope_prepare(resent, strlen(resent), &o, &out, &err), 0);
	assert_int_equal(out.n_rcpts, 2);
	assert_string_equal(out.rcpts[0], "new@y");
	assert_string_equal(out.rcpts[1], "nb@z");
	assert_null(strstr(out.data, "nb@z"));
	outgoing_free(&out);

	assert_int_equal(envelope_prepare(none, strlen(none), &o, &out, &err), -1);
	assert_non_null(strstr(err.msg, "no recipients"));

	assert_int_equal(envelope_prepare(utf8, strlen(utf8), &o, &out, &err), 0);
	assert_true(out.utf8);
	assert_true(out.eight_bit);
	assert_string_equal(out.sender, "j@x");
	outgoing_free(&out);

	assert_int_equal(envelope_prepare(body8, strlen(body8), &o, &out, &err), 0);
	assert_false(out.utf8);
	assert_true(out.eight_bit);
	outgoing_free(&out);

	o.rcpts = (const char *const[]){"a@b"};
	o.n_rcpts = 1;
	assert_int_equal(envelope_prepare(nohead, strlen(nohead), &o, &out, &err), 0);
	assert_non_null(strstr(out.data, "\r\n\r\njust text\r\nmore"));
	outgoing_free(&out);

	{
		/* Longer than the 256 octets of an SMTP path. */
		char longaddr[300];

		memset(longaddr, 'a', sizeof(longaddr) - 3);
		memcpy(longaddr + sizeof(longaddr) - 3, "@b", 3);
		o.rcpts = (const char *const[]){longaddr};
		assert_int_equal(envelope_prepare(nohead, strlen(nohead), &o, &out, &err), -1);
		assert_non_null(strstr(err.msg, "cannot be given"));
	}
}

/* NUL bytes travel as they are; the length says where the message ends. */
static void test_prepare_nul(void **state)
{
	static const char msg[] = "To: a@b\n\nx\0y\n";
	struct prepare_opts o = opts(true);
	struct outgoing out;
	struct error err = {0};

	(void)state;
	assert_int_equal(envelope_prepare(msg, sizeof(msg) - 1, &o, &out, &err), 0);
	assert_true(out.len > 5);
	assert_memory_equal(out.data + out.len - 5, "x\0y\r\n", 5);
	outgoing_free(&out);
}

static void test_queue_round_trip(void **state)
{
	static const char msg[] = "From: me@x\nTo: a@b\nBcc: c@d\n\nhello\n";
	struct prepare_opts o = opts(true);
	struct outgoing out;
	struct queued q;
	struct error err = {0};
	char *file;
	size_t len;

	(void)state;
	assert_int_equal(envelope_prepare(msg, strlen(msg), &o, &out, &err), 0);
	file = envelope_encode(&out, &len);
	assert_int_equal(strncmp(file, "X-Gmaildir-Envelope-From: <me@x>\r\n", 34), 0);
	assert_int_equal(envelope_decode(file, len, &q, &err), 0);
	assert_string_equal(q.sender, "me@x");
	assert_int_equal(q.n_rcpts, 2);
	assert_string_equal(q.rcpts[1], "c@d");
	assert_string_equal(q.message_id, "<tag@example.org>");
	assert_int_equal(q.len, out.len);
	assert_memory_equal(q.data, out.data, out.len);
	queued_free(&q);
	free(file);
	outgoing_free(&out);
	assert_int_equal(envelope_decode(msg, strlen(msg), &q, &err), -1);
	assert_non_null(strstr(err.msg, "not a queued message"));
}

static void test_from_address(void **state)
{
	static const char msg[] = "Subject: x\nFrom: \"A B\" <ab@x>\n\n";
	char *a = NULL;

	(void)state;
	envelope_from_address(msg, strlen(msg), &a);
	assert_string_equal(a, "ab@x");
	free(a);
	envelope_from_address("To: x@y\n\n", 9, &a);
	assert_null(a);
}

static int parse(struct send_args *a, int argc, const char **argv)
{
	struct error err = {0};

	return send_args_parse(argc, (char **)argv, a, &err);
}

static void test_sendmail_args(void **state)
{
	const char *mutt[] = {"send", "-oem", "-oi", "--", "a@b", "c@d"};
	const char *git[] = {"send", "-i", "-f", "me@x", "a@b"};
	const char *emacs[] = {"send", "-oi", "-t", "-fme@x", "-F", "Me"};
	const char *aerc[] = {"send", "-t", "-a", "work", "-B8BITMIME", "-N", "never"};
	const char *bad[] = {"send", "-bs"};
	const char *novalue[] = {"send", "-f"};
	const char *flush[] = {"send", "--flush", "--account=home"};
	struct send_args a;

	(void)state;
	assert_int_equal(parse(&a, N(mutt), mutt), 0);
	assert_false(a.dot_ends);
	assert_int_equal(a.n_rcpts, 2);
	assert_int_equal(a.n_warnings, 1);
	assert_string_equal(a.warnings[0], "ignoring sendmail option -oem");
	send_args_free(&a);

	assert_int_equal(parse(&a, N(git), git), 0);
	assert_false(a.dot_ends);
	assert_string_equal(a.sender, "me@x");
	assert_int_equal(a.n_rcpts, 1);
	send_args_free(&a);

	assert_int_equal(parse(&a, N(emacs), emacs), 0);
	assert_true(a.from_headers);
	assert_string_equal(a.sender, "me@x");
	assert_string_equal(a.full_name, "Me");
	assert_int_equal(a.n_rcpts, 0);
	send_args_free(&a);

	assert_int_equal(parse(&a, N(aerc), aerc), 0);
	assert_true(a.from_headers);
	assert_true(a.dot_ends);
	assert_string_equal(a.account, "work");
	assert_int_equal(a.n_warnings, 2);
	assert_int_equal(a.n_rcpts, 0);
	send_args_free(&a);

	assert_int_equal(parse(&a, N(bad), bad), -1);
	assert_int_equal(parse(&a, N(novalue), novalue), -1);
	assert_int_equal(parse(&a, N(flush), flush), 0);
	assert_true(a.flush);
	assert_string_equal(a.account, "home");
	send_args_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addresses),	 cmocka_unit_test(test_prepare_bcc),
	    cmocka_unit_test(test_prepare_adds), cmocka_unit_test(test_prepare_resent_and_errors),
	    cmocka_unit_test(test_prepare_nul),	 cmocka_unit_test(test_queue_round_trip),
	    cmocka_unit_test(test_from_address), cmocka_unit_test(test_sendmail_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
