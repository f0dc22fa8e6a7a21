/* Unit tests of oauth/'s pure parts: the PKCE challenge (RFC 7636's own
 * example), URL escaping and query parsing (what the browser brings back),
 * and the XOAUTH2 challenge made readable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "oauth/oauth.h"
#include "oauth/oauth_p.h"

static void test_s256_rfc7636(void **state)
{
	(void)state;
	char out[44];

	/* RFC 7636, appendix B. */
	pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out);
	assert_string_equal(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void test_random_verifier(void **state)
{
	(void)state;
	char a[96], b[96];

	pkce_random(a, 48);
	pkce_random(b, 48);
	assert_int_equal(strlen(a), 64); /* within RFC 7636's 43..128 */
	assert_string_not_equal(a, b);
	assert_int_equal(
	    strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 64);
}

static void test_url_escape(void **state)
{
	(void)state;
	char *e = url_escape("http://127.0.0.1:8080/ a+b&c=d~é");

	assert_string_equal(e, "http%3A%2F%2F127.0.0.1%3A8080%2F%20a%2Bb%26c%3Dd~%C3%A9");
	free(e);
}

static void test_query_param(void **state)
{
	(void)state;
	const char *q = "state=abc&code=4%2F0Ad-x+y&scope=https%3A%2F%2Fmail.google.com%2F&x=";
	char *v;

	v = query_param(q, "code");
	assert_string_equal(v, "4/0Ad-x y");
	free(v);
	v = query_param(q, "scope");
	assert_string_equal(v, "https://mail.google.com/");
	free(v);
	v = query_param(q, "x");
	assert_string_equal(v, "");
	free(v);
	assert_null(query_param(q, "error"));
	assert_null(query_param(q, "stat")); /* a prefix of a name is not the name */
	assert_null(query_param("", "code"));
	v = query_param("code=%zz%4", "code"); /* broken escapes stay as they are */
	assert_string_equal(v, "%zz%4");
	free(v);
}

static void test_challenge(void **state)
{
	(void)state;
	char out[300];

	/* {"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"} */
	oauth_explain_challenge("eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRw"
				"czovL21haWwuZ29vZ2xlLmNvbS8ifQ==",
				out, sizeof(out));
	assert_non_null(strstr(out, "expired, revoked"));
	assert_non_null(strstr(out, "status 401"));
	assert_non_null(strstr(out, "https://mail.google.com/"));
	oauth_explain_challenge("not base64 at all!", out, sizeof(out));
	assert_string_equal(out, "the sign-in was refused");
	oauth_explain_challenge("", out, sizeof(out));
	assert_string_equal(out, "the sign-in was refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_s256_rfc7636), cmocka_unit_test(test_random_verifier),
	    cmocka_unit_test(test_url_escape),	 cmocka_unit_test(test_query_param),
	    cmocka_unit_test(test_challenge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
