/* Unit tests of util/suggest: the distances, and which known word (if
 * any) a misspelling is taken for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/suggest.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_distance(void **state)
{
	(void)state;
	assert_int_equal(suggest_distance("", ""), 0);
	assert_int_equal(suggest_distance("host", "host"), 0);
	assert_int_equal(suggest_distance("Host", "host"), 0);
	assert_int_equal(suggest_distance("conections", "connections"), 1);
	assert_int_equal(suggest_distance("hots", "host"), 1);
	assert_int_equal(suggest_distance("conenctions", "connections"), 1);
	assert_int_equal(suggest_distance("port", "user"), 4);
	assert_int_equal(suggest_distance("", "abc"), 3);
	assert_int_equal(suggest_distance("kitten", "sitting"), 3);
	char longer[100];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_true(suggest_distance(longer, "a") == SIZE_MAX);
}

static const char *const keys[] = {
    "name",	   "provider",	      "host",	       "port", "tls", "user", "password", "maildir",
    "connections", "max_connections", "poll_interval", "idle"};

static const struct {
	const char *typed;
	const char *want; /* NULL: no suggestion */
} cases[] = {
    {"conections", "connections"},
    {"conenctions", "connections"},
    {"hots", "host"},
    {"Host", "host"},
    {"pasword", "password"},
    {"maildri", "maildir"},
    {"max_conections", "max_connections"},
    {"poll-interval", "poll_interval"},
    {"tsl", "tls"},
    {"xyz", NULL}, /* three edits from anything */
    {"a", NULL},   /* too short to guess */
    {"usr", "user"},
    {"timeout", NULL},
    {"", NULL},
};

static void test_closest(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const char *got = suggest_closest(cases[i].typed, keys, N(keys), sizeof(keys[0]));

		if (!cases[i].want ? got != NULL : !got || strcmp(got, cases[i].want) != 0)
			fail_msg("'%s': got %s, want %s", cases[i].typed, got ? got : "none",
				 cases[i].want ? cases[i].want : "none");
	}
}

/* Names as the first member of a struct, as in the config schema. */
struct entry {
	const char *name;
	int other;
};

static void test_stride(void **state)
{
	static const struct entry entries[] = {{"include", 1}, {"exclude", 2}, {"limits", 3}};

	(void)state;
	assert_string_equal(suggest_closest("exlude", entries, N(entries), sizeof(entries[0])),
			    "exclude");
	assert_null(suggest_closest("frobnicate", entries, N(entries), sizeof(entries[0])));
	assert_null(suggest_closest("x", entries, 0, sizeof(entries[0])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_distance),
	    cmocka_unit_test(test_closest),
	    cmocka_unit_test(test_stride),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
