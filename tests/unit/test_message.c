/* Unit tests of imap/message.h: the Message-ID of a raw message, and the
 * normalised form that recognises one message whatever tool stored it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/message.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *data;
	size_t len;	  /* 0: strlen(data) */
	const char *want; /* NULL: none */
} cases[] = {
    {"From: a\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n", 0, "<1@x>"},
    {"message-id:<2@x>\n\n", 0, "<2@x>"},
    {"MESSAGE-ID: <3@x>", 0, "<3@x>"},
    /* folded, the continuation's white space squeezed out */
    {"Message-ID:\r\n <4@\r\n\texample.test>\r\nSubject: s\r\n\r\n", 0, "<4@example.test>"},
    /* only the header section counts */
    {"Subject: s\n\nMessage-ID: <5@x>\n", 0, NULL},
    {"Subject: s\r\n\r\nMessage-ID: <5@x>\r\n", 0, NULL},
    /* the first field wins, even an empty one */
    {"Message-ID: <6@x>\nMessage-ID: <7@x>\n\n", 0, "<6@x>"},
    {"Message-ID:   \nMessage-ID: <7@x>\n\n", 0, NULL},
    {"X-Message-ID: <8@x>\n\n", 0, NULL},
    {"Message-ID <9@x>\n\n", 0, NULL},
    {"", 0, NULL},
    /* a NUL byte makes the ID unusable: cut, it would match others */
    {"Message-ID: \0n@x>\n\n", 19, NULL},
    {"Message-ID: <a@x\0>\n\n", 20, NULL},
    /* a NUL elsewhere in the header section is fine */
    {"X: \0\nMessage-ID: <b@x>\n\n", 24, "<b@x>"},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].data);
		char *id = message_id_get(cases[i].data, len);

		if (cases[i].want) {
			assert_non_null(id);
			assert_string_equal(id, cases[i].want);
		} else if (id) {
			fail_msg("case %zu: got \"%s\", want none", i, id);
		}
		free(id);
	}
}

/* 998 bytes is the longest ID kept; one more is none. */
static void test_length(void **state)
{
	char buf[1100];
	char *id;

	(void)state;
	memcpy(buf, "Message-ID: ", 12);
	memset(buf + 12, 'a', 998);
	memcpy(buf + 12 + 998, "\n\n", 2);
	id = message_id_get(buf, 12 + 998 + 2);
	assert_non_null(id);
	assert_int_equal(strlen(id), 998);
	free(id);
	memset(buf + 12, 'a', 999);
	memcpy(buf + 12 + 999, "\n\n", 2);
	assert_null(message_id_get(buf, 12 + 999 + 2));
}

/* What message_normalise feeds its sink, collected. */
struct collected {
	char buf[4096];
	size_t len;
};

static void collect(const char *p, size_t n, void *ctx)
{
	struct collected *c = ctx;

	assert_true(c->len + n < sizeof(c->buf));
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
}

static uint64_t normalise(const char *data, size_t len, struct collected *c)
{
	c->len = 0;
	c->buf[0] = '\0';
	return message_normalise(data, len, collect, c);
}

static const struct {
	const char *data;
	const char *header; /* what the sink gets */
	uint64_t body;	    /* the body's CRLF size */
} norm_cases[] = {
    /* line ends: CRLF and LF give one form */
    {"From: a\r\nSubject: s\r\n\r\nbody\r\n", "From: a\nSubject: s\n", 6},
    {"From: a\nSubject: s\n\nbody\n", "From: a\nSubject: s\n", 6},
    /* mbsync's X-TUID, anywhere, in any case */
    {"From: a\nX-TUID: 1234abcd\nSubject: s\n\nb\n", "From: a\nSubject: s\n", 3},
    {"x-tuid: zz\nFrom: a\n\n", "From: a\n", 0},
    /* OfflineIMAP's header, folded over two lines */
    {"X-OfflineIMAP: 1234-\n 5678\nFrom: a\n\n", "From: a\n", 0},
    /* mbox and MUA status fields */
    {"Status: RO\nX-Status: A\nX-Keywords: $x\nX-UID: 7\nFrom: a\n\n", "From: a\n", 0},
    {"X-Mozilla-Status: 0001\nX-Mozilla-Status2: 0\nX-Mozilla-Keys: \nFrom: a\n\n", "From: a\n", 0},
    {"Content-Length: 5\nLines: 1\nFrom: a\n\nabc\n", "From: a\n", 5},
    /* a field whose name only starts like a tool's stays */
    {"X-TUIDS: 1\nStatuses: 2\nFrom: a\n\n", "X-TUIDS: 1\nStatuses: 2\nFrom: a\n", 0},
    /* white space before the colon still names the field */
    {"Status : RO\nFrom: a\n\n", "From: a\n", 0},
    /* a leading mbox From_ line */
    {"From someone@x Sat Jan  1 00:00:00 2000\nFrom: a\n\nb", "From: a\n", 1},
    /* no body at all, no empty line */
    {"From: a\nSubject: s", "From: a\nSubject: s\n", 0},
    {"", "", 0},
    /* a body with mixed line ends: each bare LF counts two */
    {"A: 1\n\nx\r\ny\nz", "A: 1\n", 7},
};

static void test_normalise(void **state)
{
	struct collected c;

	(void)state;
	for (size_t i = 0; i < N(norm_cases); i++) {
		uint64_t body = normalise(norm_cases[i].data, strlen(norm_cases[i].data), &c);

		if (strcmp(c.buf, norm_cases[i].header) != 0)
			fail_msg("case %zu: header \"%s\", want \"%s\"", i, c.buf,
				 norm_cases[i].header);
		if (body != norm_cases[i].body)
			fail_msg("case %zu: body %llu, want %llu", i, (unsigned long long)body,
				 (unsigned long long)norm_cases[i].body);
	}
}

/* The server's side: BODY[HEADER] (CRLF, its empty line included) gives
 * the same form as the whole local file, and RFC822.SIZE minus its length
 * is the body size the file gives. */
static void test_normalise_server_side(void **state)
{
	const char *file = "Return-Path: <a@x>\nX-TUID: q\nSubject: s\n\nline 1\nline 2\n";
	const char *header = "Return-Path: <a@x>\r\nSubject: s\r\n\r\n";
	const char *whole = "Return-Path: <a@x>\r\nSubject: s\r\n\r\nline 1\r\nline 2\r\n";
	struct collected a, b;
	uint64_t body_file;

	(void)state;
	body_file = normalise(file, strlen(file), &a);
	assert_int_equal(normalise(header, strlen(header), &b), 0);
	assert_string_equal(a.buf, b.buf);
	assert_int_equal(body_file, strlen(whole) - strlen(header));
}

/* NUL bytes are bytes like any other. */
static void test_normalise_nul(void **state)
{
	static const char data[] = "A: x\0y\nB: z\n\n\0\0\n";
	struct collected c;

	(void)state;
	assert_int_equal(normalise(data, sizeof(data) - 1, &c), 4);
	assert_int_equal(c.len, 12);
	assert_memory_equal(c.buf, "A: x\0y\nB: z\n", 12);
}

/* Where a NUL may hide behind Dovecot's 0x80: never in UTF-8 text. */
static void test_stray_0x80(void **state)
{
	static const struct {
		const char *data;
		size_t len;
		bool stray;
	} stray_cases[] = {
	    {"plain ASCII\r\n", 13, false},
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 15, false}, /* é € 😀 */
	    {"\xc2\x80", 2, false},				      /* U+0080 */
	    {"\xe2\x80\x80", 3, false},				      /* U+2000 */
	    {"\xf0\x90\x80\x80", 4, false},			      /* U+10000 */
	    {"a\x80"
	     "b",
	     3, true}, /* a NUL made 0x80 */
	    {"\x80", 1, true},
	    {"caf\xc3\xa9\x80", 6, true}, /* a NUL right after a whole sequence */
	    {"\xe2\x80", 2, true},	  /* cut short */
	    {"\xc3\xa9\xe2\x82\x80", 5, false},
	    {"\xa0\x80", 2, true}, /* continuation bytes with no lead */
	    {"\xc0\x80", 2, true}, /* overlong NUL: not well-formed */
	    {"windows-1252 euro \x80", 19, true},
	    {"", 0, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(stray_cases) / sizeof(stray_cases[0]); i++) {
		if (message_has_stray_0x80(stray_cases[i].data, stray_cases[i].len) !=
		    stray_cases[i].stray)
			fail_msg("case %zu", i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),	  cmocka_unit_test(test_length),
	    cmocka_unit_test(test_normalise),	  cmocka_unit_test(test_normalise_server_side),
	    cmocka_unit_test(test_normalise_nul), cmocka_unit_test(test_stray_0x80),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
