/* Unit tests of util/uidset: compact IMAP UID sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/uidset.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_normalize(void **state)
{
	uint32_t u[] = {9, 3, 0, 3, 1, 2, 9, 4294967295u, 7};
	uint32_t want[] = {1, 2, 3, 7, 9, 4294967295u};
	size_t n = uidset_normalize(u, N(u));

	(void)state;
	assert_int_equal(n, N(want));
	assert_memory_equal(u, want, sizeof(want));
	assert_int_equal(uidset_normalize(NULL, 0), 0);
}

static const struct {
	uint32_t uids[8];
	size_t n;
	const char *text;
	size_t runs;
} format_cases[] = {
    {{0}, 0, "", 0},
    {{5}, 1, "5", 1},
    {{1, 2, 3}, 3, "1:3", 1},
    {{1, 3, 5}, 3, "1,3,5", 3},
    {{1, 2, 3, 7, 9, 10, 11, 12}, 8, "1:3,7,9:12", 3},
    {{4294967294u, 4294967295u}, 2, "4294967294:4294967295", 1},
    {{1, 4294967295u}, 2, "1,4294967295", 2},
};

static void test_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(format_cases); i++) {
		char *s = uidset_format(format_cases[i].uids, format_cases[i].n);

		assert_string_equal(s, format_cases[i].text);
		assert_int_equal(uidset_count_runs(format_cases[i].uids, format_cases[i].n),
				 format_cases[i].runs);
		free(s);
	}
}

static void test_next_run(void **state)
{
	uint32_t u[] = {1, 2, 3, 7, 9, 10};
	size_t pos = 0;
	uint32_t lo, hi;

	(void)state;
	assert_int_equal(uidset_next_run(u, N(u), &pos, &lo, &hi), 1);
	assert_int_equal(lo, 1);
	assert_int_equal(hi, 3);
	assert_int_equal(uidset_next_run(u, N(u), &pos, &lo, &hi), 1);
	assert_int_equal(lo, 7);
	assert_int_equal(hi, 7);
	assert_int_equal(uidset_next_run(u, N(u), &pos, &lo, &hi), 1);
	assert_int_equal(lo, 9);
	assert_int_equal(hi, 10);
	assert_int_equal(uidset_next_run(u, N(u), &pos, &lo, &hi), 0);
}

static void test_prefix_len(void **state)
{
	uint32_t u[] = {1, 2, 3, 7, 9, 10, 20};

	(void)state;
	assert_int_equal(uidset_prefix_len(u, N(u), 1), 3);
	assert_int_equal(uidset_prefix_len(u, N(u), 2), 4);
	assert_int_equal(uidset_prefix_len(u, N(u), 3), 6);
	assert_int_equal(uidset_prefix_len(u, N(u), 4), 7);
	assert_int_equal(uidset_prefix_len(u, N(u), 100), 7);
	assert_int_equal(uidset_prefix_len(u, 0, 1), 0);
}

static void test_parse(void **state)
{
	uint32_t *u = NULL, want[] = {1, 2, 3, 7, 9, 10, 11, 12};
	size_t n = 0;

	(void)state;
	assert_int_equal(uidset_parse("1:3,7,12:9", 100, &u, &n), 0);
	assert_int_equal(n, N(want));
	assert_memory_equal(u, want, sizeof(want));
	free(u);
	assert_int_equal(uidset_parse("", 100, &u, &n), 0);
	assert_int_equal(n, 0);
	assert_null(u);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "0", "1:", ":3", "1,,2", "1,", "a", "1:*", "4294967296", "1 2", "-1",
	};
	uint32_t *u = NULL;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < N(bad); i++)
		assert_int_equal(uidset_parse(bad[i], 100, &u, &n), -1);
	/* A server announcing a huge range must not make us allocate it. */
	assert_int_equal(uidset_parse("1:4294967295", 1000, &u, &n), -1);
	assert_int_equal(uidset_parse("1:10,20:30", 15, &u, &n), -1);
	assert_int_equal(uidset_parse("1:10,20:24", 15, &u, &n), 0);
	assert_int_equal(n, 15);
	free(u);
}

static void test_roundtrip(void **state)
{
	uint32_t src[200], *back = NULL;
	size_t n = 0, back_n = 0;
	char *s;

	(void)state;
	srand(42);
	for (size_t i = 0; i < N(src); i++)
		src[i] = (uint32_t)(rand() % 400) + 1;
	n = uidset_normalize(src, N(src));
	s = uidset_format(src, n);
	assert_int_equal(uidset_parse(s, 1000, &back, &back_n), 0);
	assert_int_equal(back_n, n);
	assert_memory_equal(back, src, n * sizeof(*src));
	free(back);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize), cmocka_unit_test(test_format),
	    cmocka_unit_test(test_next_run),  cmocka_unit_test(test_prefix_len),
	    cmocka_unit_test(test_parse),     cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
