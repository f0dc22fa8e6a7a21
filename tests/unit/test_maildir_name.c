/* Maildir file names: parse, format, letters, unique validity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store/maildir_name.h"

#define ALL_KNOWN "DFPRST"

struct parse_case {
	const char *name;
	bool ok;
	const char *unique;
	unsigned flags;
	const char *unknown;
	bool has_info;
	const char *canonical; /* format(parse(name)); NULL when !ok */
};

static const struct parse_case parse_cases[] = {
    /* plain names */
    {"1700000000.M1P2Q3.host", true, "1700000000.M1P2Q3.host", 0, "", false,
     "1700000000.M1P2Q3.host:2,"},
    {"k:2,S", true, "k", MF_SEEN, "", true, "k:2,S"},
    {"k:2,", true, "k", 0, "", true, "k:2,"},
    {"k with space:2,R", true, "k with space", MF_ANSWERED, "", true, "k with space:2,R"},
    /* other programs' fields stay in the unique */
    {"1.host,S=1234:2,S", true, "1.host,S=1234", MF_SEEN, "", true, "1.host,S=1234:2,S"},
    {"1.host,S=1234,W=1300:2,RS", true, "1.host,S=1234,W=1300", MF_ANSWERED | MF_SEEN, "", true,
     "1.host,S=1234,W=1300:2,RS"},
    {"1.host,S=99", true, "1.host,S=99", 0, "", false, "1.host,S=99:2,"},
    {"1.h\\057x\\072y:2,S", true, "1.h\\057x\\072y", MF_SEEN, "", true, "1.h\\057x\\072y:2,S"},
    /* every known letter, in any order, de-duplicated */
    {"k:2,DFPRST", true, "k", MF_ALL, "", true, "k:2,DFPRST"},
    {"k:2,TSRPFD", true, "k", MF_ALL, "", true, "k:2,DFPRST"},
    {"k:2,SS", true, "k", MF_SEEN, "", true, "k:2,S"},
    {"k:2,FSFSF", true, "k", MF_FLAGGED | MF_SEEN, "", true, "k:2,FS"},
    {"k:2,D", true, "k", MF_DRAFT, "", true, "k:2,D"},
    {"k:2,P", true, "k", MF_FORWARDED, "", true, "k:2,P"},
    {"k:2,T", true, "k", MF_DELETED, "", true, "k:2,T"},
    /* unknown letters are kept, sorted, de-duplicated */
    {"k:2,a", true, "k", 0, "a", true, "k:2,a"},
    {"k:2,s", true, "k", 0, "s", true, "k:2,s"},
    {"k:2,Sba", true, "k", MF_SEEN, "ab", true, "k:2,Sab"},
    {"k:2,aSaFb", true, "k", MF_FLAGGED | MF_SEEN, "ab", true, "k:2,FSab"},
    {"k:2,Zab", true, "k", 0, "Zab", true, "k:2,Zab"},
    {"k:2,FZ", true, "k", MF_FLAGGED, "Z", true, "k:2,FZ"},
    {"k:2,AS", true, "k", MF_SEEN, "A", true, "k:2,AS"},
    {"k:2,zzzSzz", true, "k", MF_SEEN, "z", true, "k:2,Sz"},
    {"k:2,ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba", true, "k", MF_ALL,
     "ABCEGHIJKLMNOQUVWXYZabcdefghijklmnopqrstuvwxyz", true,
     "k:2,ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},
    /* not message names */
    {"", false, NULL, 0, NULL, false, NULL},
    {".hidden", false, NULL, 0, NULL, false, NULL},
    {".k:2,S", false, NULL, 0, NULL, false, NULL},
    {".", false, NULL, 0, NULL, false, NULL},
    {"..", false, NULL, 0, NULL, false, NULL},
    {":2,S", false, NULL, 0, NULL, false, NULL},
    {"a/b", false, NULL, 0, NULL, false, NULL},
    {"k:2,S/x", false, NULL, 0, NULL, false, NULL},
    {"k:1,xyz", false, NULL, 0, NULL, false, NULL},
    {"k:3,S", false, NULL, 0, NULL, false, NULL},
    {"k:2", false, NULL, 0, NULL, false, NULL},
    {"k:", false, NULL, 0, NULL, false, NULL},
    {"k:2S", false, NULL, 0, NULL, false, NULL},
    {"k:2,S1", false, NULL, 0, NULL, false, NULL},
    {"k:2,S,W=12", false, NULL, 0, NULL, false, NULL},
    {"k:2,S:2,F", false, NULL, 0, NULL, false, NULL},
    {"k:2,S F", false, NULL, 0, NULL, false, NULL},
};

#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

static void check_parse_case(const struct parse_case *c)
{
	struct maildir_name nm;
	int rc = maildir_name_parse(c->name, &nm);
	char *formatted;

	print_message("case \"%s\"\n", c->name);
	assert_int_equal(rc, c->ok ? 0 : -1);
	if (!c->ok)
		return;
	assert_int_equal(nm.unique_len, strlen(c->unique));
	assert_memory_equal(nm.unique, c->unique, nm.unique_len);
	assert_ptr_equal(nm.unique, c->name); /* borrowed, not copied */
	assert_int_equal(nm.flags, c->flags);
	assert_string_equal(nm.unknown, c->unknown);
	assert_int_equal(nm.has_info, c->has_info);
	formatted = maildir_name_format(nm.unique, nm.unique_len, nm.flags, nm.unknown);
	assert_string_equal(formatted, c->canonical);
	free(formatted);
}

static void test_parse_table(void **state)
{
	(void)state;
	assert_true(N_CASES(parse_cases) >= 25);
	for (size_t i = 0; i < N_CASES(parse_cases); i++)
		check_parse_case(&parse_cases[i]);
}

/* format(parse(x)) is a fixed point: parsing it again gives the same. */
static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CASES(parse_cases); i++) {
		struct maildir_name a, b;
		char *once, *twice;

		if (!parse_cases[i].ok)
			continue;
		assert_int_equal(maildir_name_parse(parse_cases[i].name, &a), 0);
		once = maildir_name_format(a.unique, a.unique_len, a.flags, a.unknown);
		assert_int_equal(maildir_name_parse(once, &b), 0);
		assert_int_equal(a.flags, b.flags);
		assert_string_equal(a.unknown, b.unknown);
		assert_int_equal(a.unique_len, b.unique_len);
		assert_memory_equal(a.unique, b.unique, a.unique_len);
		assert_true(b.has_info);
		twice = maildir_name_format(b.unique, b.unique_len, b.flags, b.unknown);
		assert_string_equal(once, twice);
		free(once);
		free(twice);
	}
}

static void test_parse_null(void **state)
{
	struct maildir_name nm;

	(void)state;
	assert_int_equal(maildir_name_parse(NULL, &nm), -1);
}

struct letters_case {
	unsigned flags;
	const char *unknown;
	size_t size;
	const char *want;
};

static const struct letters_case letters_cases[] = {
    {0, "", 72, ""},
    {0, NULL, 72, ""},
    {MF_SEEN, "", 72, "S"},
    {MF_ALL, "", 72, ALL_KNOWN},
    {MF_SEEN | MF_DRAFT, "z", 72, "DSz"},
    {MF_FLAGGED, "ba", 72, "Fab"},
    /* a known letter in unknown never sets a flag */
    {0, "S", 72, ""},
    {MF_SEEN, "SST", 72, "S"},
    /* only ASCII letters are kept */
    {0, "a1,b", 72, "ab"},
    /* truncated to fit, still NUL-terminated */
    {MF_ALL, "", 3, "DF"},
    {MF_ALL, "", 1, ""},
};

static void test_flags_to_letters(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CASES(letters_cases); i++) {
		const struct letters_case *c = &letters_cases[i];
		char buf[72];

		memset(buf, 'x', sizeof(buf));
		maildir_flags_to_letters(c->flags, c->unknown, buf, c->size);
		assert_string_equal(buf, c->want);
	}
}

static void test_format(void **state)
{
	char *s;

	(void)state;
	s = maildir_name_format("abc.def", 3, MF_SEEN | MF_ANSWERED, "x");
	assert_string_equal(s, "abc:2,RSx");
	free(s);
	s = maildir_name_format("u", 1, 0, NULL);
	assert_string_equal(s, "u:2,");
	free(s);
}

struct unique_case {
	const char *s;
	size_t len;
	bool valid;
};

static void test_unique_valid(void **state)
{
	char long_ok[201], long_bad[202];
	const struct unique_case cases[] = {
	    {"1700000000.M1P2Q3R00.host", 25, true},
	    {"a", 1, true},
	    {",S=12", 5, true},
	    {"a b", 3, true},
	    {"", 0, false},
	    {".abc", 4, false},
	    {"a/b", 3, false},
	    {"a:b", 3, false},
	    {"a:2,S", 5, false},
	    {"a\0b", 3, false},
	    {long_ok, 200, true},
	    {long_bad, 201, false},
	};

	(void)state;
	memset(long_ok, 'x', 200);
	long_ok[200] = '\0';
	memset(long_bad, 'x', 201);
	long_bad[201] = '\0';
	for (size_t i = 0; i < N_CASES(cases); i++)
		assert_int_equal(maildir_unique_valid(cases[i].s, cases[i].len), cases[i].valid);
	assert_false(maildir_unique_valid(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table), cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_parse_null),	cmocka_unit_test(test_flags_to_letters),
	    cmocka_unit_test(test_format),	cmocka_unit_test(test_unique_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
