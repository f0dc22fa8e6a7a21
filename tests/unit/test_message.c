/* Unit tests of sync/message.h: the Message-ID of a raw message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sync/message.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
