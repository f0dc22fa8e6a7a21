/* Unit tests of the daemon's control-socket lines (daemon/ctlproto.h):
 * a request and every reply read back as written, and hostile lines
 * (wrong order, unknown words, bad numbers, overlong texts, tabs and line
 * ends in names) refused or read as nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/ctlproto.h"
#include "util/xalloc.h"

/* Feeds text line by line; returns the last feed's result. */
static int feed_all(struct ctl_request *rq, const char *text, struct error *err)
{
	char *copy = xstrdup(text), *line, *save = NULL;
	int r = 0;

	for (line = strtok_r(copy, "\n", &save); line && r == 0; line = strtok_r(NULL, "\n", &save))
		r = ctl_request_feed(rq, line, err);
	free(copy);
	return r;
}

static void test_request_round_trip(void **state)
{
	const char *folders[] = {"INBOX", "Projects/2026 plans"};
	struct engine_opts o = {.folders = folders, .n_folders = 2, .allow_mass_delete = true};
	struct ctl_request rq = {0};
	struct error err = {0};
	char *text = ctl_request_format(&o);

	(void)state;
	assert_non_null(text);
	assert_int_equal(feed_all(&rq, text, &err), 1);
	assert_int_equal(rq.n_folders, 2);
	assert_string_equal(rq.folders[1], "Projects/2026 plans");
	assert_true(rq.allow_mass_delete);
	assert_false(rq.dry_run);
	assert_false(rq.allow_unmatched);
	ctl_request_clear(&rq);
	free(text);
}

static void test_request_refuses(void **state)
{
	static const char *const bad[] = {
	    "sync\n",			       /* no hello */
	    "hello 2\nsync\n",		       /* another version */
	    "hello 1\noption rm-rf\nsync\n",   /* unknown option */
	    "hello 1\nfolder \nsync\n",	       /* empty name */
	    "hello 1\nGET / HTTP/1.0\nsync\n", /* garbage */
	};
	const char *name = "a\nb";
	struct engine_opts o = {.folders = &name, .n_folders = 1};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_request rq = {0};
		struct error err = {0};

		assert_int_equal(feed_all(&rq, bad[i], &err), -1);
		assert_true(err.msg[0] != '\0');
		ctl_request_clear(&rq);
	}
	assert_null(ctl_request_format(&o)); /* a name with a line end */
}

static void test_request_folder_limit(void **state)
{
	struct ctl_request rq = {0};
	struct error err = {0};
	int r = 0;

	(void)state;
	assert_int_equal(ctl_request_feed(&rq, "hello 1", &err), 0);
	for (int i = 0; i <= CTL_FOLDERS_MAX && r == 0; i++)
		r = ctl_request_feed(&rq, "folder X", &err);
	assert_int_equal(r, -1);
	assert_int_equal(rq.n_folders, CTL_FOLDERS_MAX);
	ctl_request_clear(&rq);
}

/* The line without its '\n', into the static buffer. */
static const char *chomp(char *line)
{
	static char buf[CTL_LINE_MAX];
	size_t n = strlen(line);

	assert_true(n > 0 && line[n - 1] == '\n');
	assert_true(n <= CTL_LINE_MAX);
	assert_null(memchr(line, '\n', n - 1));
	memcpy(buf, line, n - 1);
	buf[n - 1] = '\0';
	free(line);
	return buf;
}

static void test_folder_report_round_trip(void **state)
{
	struct engine_folder_report in = {.folder = "Entwürfe\twith tab",
					  .downloaded = 3,
					  .linked = 1,
					  .uploaded = 2,
					  .flags_pulled = 4,
					  .flags_pushed = 5,
					  .deleted_local = 6,
					  .deleted_remote = 7,
					  .moved = 8,
					  .held = 9,
					  .bytes_down = 12345678901ULL,
					  .bytes_up = 42,
					  .messages = 99,
					  .failed = true};
	struct ctl_reply *r = xmalloc(sizeof(*r));

	(void)state;
	error_set(&in.err, ERR_SAFETY, RETRY_NEVER, "refusing\nto delete");
	ctl_reply_parse(chomp(ctl_reply_folder(&in)), r);
	assert_int_equal(r->kind, CTL_REPLY_FOLDER);
	assert_string_equal(r->report.folder, "Entwürfe with tab");
	assert_true(r->report.failed);
	assert_int_equal(r->report.err.scope, ERR_SAFETY);
	assert_string_equal(r->report.err.msg, "refusing to delete");
	assert_int_equal(r->report.downloaded, 3);
	assert_int_equal(r->report.moved, 8);
	assert_int_equal(r->report.held, 9);
	assert_true(r->report.bytes_down == 12345678901ULL);
	assert_int_equal(r->report.messages, 99);
	free(r);
}

static void test_other_replies(void **state)
{
	struct engine_progress p = {
	    .folder = "INBOX", .done = 5, .total = 10, .bytes = 7, .total_bytes = 70};
	struct error err = {0};
	struct ctl_reply *r = xmalloc(sizeof(*r));
	char big[3 * CTL_LINE_MAX];

	(void)state;
	ctl_reply_parse(chomp(ctl_reply_hello(1234)), r);
	assert_int_equal(r->kind, CTL_REPLY_HELLO);
	assert_int_equal(r->pid, 1234);
	ctl_reply_parse(chomp(ctl_reply_progress(&p)), r);
	assert_int_equal(r->kind, CTL_REPLY_PROGRESS);
	assert_string_equal(r->progress.folder, "INBOX");
	assert_int_equal(r->progress.total, 10);
	error_set(&err, ERR_ACCOUNT, RETRY_BACKOFF, "connect: Connection refused");
	ctl_reply_parse(chomp(ctl_reply_done(-1, &err)), r);
	assert_int_equal(r->kind, CTL_REPLY_DONE);
	assert_int_equal(r->ret, -1);
	assert_int_equal(r->err.scope, ERR_ACCOUNT);
	assert_string_equal(r->err.msg, "connect: Connection refused");
	ctl_reply_parse(chomp(ctl_reply_done(1, &err)), r);
	assert_int_equal(r->ret, 1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ctl_reply_parse(chomp(ctl_reply_text("notice", big)), r); /* cut to a line */
	assert_int_equal(r->kind, CTL_REPLY_NOTICE);
	free(r);
}

static void test_replies_hostile(void **state)
{
	static const char *const bad[] = {
	    "hello 1",
	    "hello 2 55",
	    "hello 1 -5",
	    "progress 1 2 3\tX",
	    "progress 1 2 3 x\tX",
	    "folder 1 0 0 5 1 1 1 1 1 1 1 1 1 1 1\tX\t",    /* 15 numbers */
	    "folder 2 0 0 5 1 1 1 1 1 1 1 1 1 1 1 1\tX\t",  /* failed 2 */
	    "folder 1 0 0 99 1 1 1 1 1 1 1 1 1 1 1 1\tX\t", /* no such scope */
	    "folder 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 99999999999999999999999\tX\t",
	    "folder 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1\t\t", /* no name */
	    "done 2 0\t",
	    "done x",
	    "whatever",
	    "",
	};
	struct ctl_reply *r = xmalloc(sizeof(*r));

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ctl_reply_parse(bad[i], r);
		assert_int_equal(r->kind, CTL_REPLY_UNKNOWN);
	}
	ctl_reply_parse("queued", r);
	assert_int_equal(r->kind, CTL_REPLY_QUEUED);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_round_trip),
	    cmocka_unit_test(test_request_refuses),
	    cmocka_unit_test(test_request_folder_limit),
	    cmocka_unit_test(test_folder_report_round_trip),
	    cmocka_unit_test(test_other_replies),
	    cmocka_unit_test(test_replies_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
