/* Unit tests of util/dircheck: what a Maildir root or state_dir path is
 * found to be, without anything created (the cases root meets too: a file
 * in the way, a dangling link; permissions are for t_local_root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/dircheck.h"

static char base[] = "/tmp/test_dircheck.XXXXXX";

static void path(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", base, rel);
}

static void expect(const char *rel, int ret, enum dircheck_problem problem, const char *where_rel,
		   bool exists)
{
	char p[512], w[512];
	struct dircheck r;

	path(p, sizeof(p), rel);
	if (where_rel)
		path(w, sizeof(w), where_rel);
	else
		snprintf(w, sizeof(w), "%s", base);
	assert_int_equal(dircheck_dir(p, &r), ret);
	assert_int_equal(r.problem, problem);
	assert_int_equal(r.exists, exists);
	if (ret < 0)
		assert_string_equal(r.where, w);
}

static void test_cases(void **state)
{
	char p[512], q[512];
	struct stat sb;

	(void)state;
	assert_non_null(mkdtemp(base));
	path(p, sizeof(p), "afile");
	fclose(fopen(p, "w"));
	path(p, sizeof(p), "adir");
	assert_int_equal(mkdir(p, 0700), 0);
	path(p, sizeof(p), "nowhere");
	path(q, sizeof(q), "dangling");
	assert_int_equal(symlink(p, q), 0);

	expect("adir", 0, DIRCHECK_OK, NULL, true);
	expect("missing/deeper/Mail", 0, DIRCHECK_OK, NULL, false);
	expect("afile", -1, DIRCHECK_NOT_DIR, "afile", true);
	expect("afile/Mail", -1, DIRCHECK_PARENT_NOT_DIR, "afile", false);
	expect("afile/x/Mail", -1, DIRCHECK_PARENT_NOT_DIR, "afile", false);
	expect("dangling", -1, DIRCHECK_DANGLING, "dangling", false);
	path(p, sizeof(p), "missing");
	assert_int_equal(stat(p, &sb), -1); /* nothing was made */
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases)};
	char cmd[600];
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		ret = 1;
	return ret;
}
