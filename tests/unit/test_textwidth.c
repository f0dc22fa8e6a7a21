/* Unit tests of util/textwidth: display columns of UTF-8 names (wide CJK,
 * combining marks, arrows) and the printable copy, with invalid UTF-8 of
 * every kind shown as '?' and never read past its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/textwidth.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *text;
	size_t width;
	const char *clean;
} cases[] = {
    {"", 0, ""},
    {"INBOX", 5, "INBOX"},
    {"Entw\xc3\xbcrfe", 8, "Entw\xc3\xbcrfe"},	       /* Entwürfe */
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 6, NULL}, /* 日本語 */
    {"\xe2\x86\x93new", 4, NULL},		       /* ↓new */
    {"e\xcc\x81t\xc3\xa9", 3, NULL},		       /* e + combining acute, té */
    {"\xef\xbc\xa1", 2, NULL},			       /* fullwidth A */
    {"\xea\xb0\x80", 2, NULL},			       /* Hangul syllable */
    {"a\tb\x1b[2Jc", 8, "a?b?[2Jc"},		       /* controls */
    {"\x7f\xc2\x9b", 2, "??"},			       /* DEL, C1 CSI */
    {"\xff\xfe", 2, "??"},			       /* never in UTF-8 */
    {"x\x80y", 3, "x?y"},			       /* stray continuation */
    {"\xc0\xaf", 2, "??"},			       /* overlong '/' */
    {"\xe0\x80\xaf", 3, "???"},			       /* overlong, 3 bytes */
    {"\xed\xa0\x80", 3, "???"},			       /* a surrogate */
    {"\xf4\x90\x80\x80", 4, "????"},		       /* past U+10FFFF */
    {"ab\xe6\x97", 4, "ab??"},			       /* cut short at the end */
    {"\xe6\x97"
     "a",
     3, "??a"},			   /* cut short before ASCII */
    {"\xf0\x9f\x93\xa7", 2, NULL}, /* an emoji (U+1F4E7) */
};

static void test_width_and_clean(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		char *clean = textwidth_clean(cases[i].text);
		const char *want = cases[i].clean ? cases[i].clean : cases[i].text;

		if (textwidth(cases[i].text) != cases[i].width)
			fail_msg("case %zu: width %zu, want %zu", i, textwidth(cases[i].text),
				 cases[i].width);
		assert_string_equal(clean, want);
		/* What is printed takes the columns counted. */
		assert_int_equal(textwidth(clean), cases[i].width);
		free(clean);
	}
}

/* Every byte string of up to three bytes: no crash, and the clean copy is
 * never longer than the input nor wider than its byte count. */
static void test_every_short_string(void **state)
{
	unsigned char buf[4] = {0};

	(void)state;
	for (unsigned a = 1; a < 256; a++) {
		for (unsigned b = 0; b < 256; b += 7) {
			for (unsigned c = 0; c < 256; c += 61) {
				char *clean;

				buf[0] = (unsigned char)a;
				buf[1] = (unsigned char)b;
				buf[2] = b ? (unsigned char)c : 0;
				clean = textwidth_clean((const char *)buf);
				assert_true(strlen(clean) <= strlen((const char *)buf));
				assert_true(textwidth((const char *)buf) <= 2 * strlen(clean) + 3);
				free(clean);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_width_and_clean),
	    cmocka_unit_test(test_every_short_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
