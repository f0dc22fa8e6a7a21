/* inotify on a Maildir tree in a fresh temp dir per test: folder changes,
 * new and removed folders, our own changes dropped, overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/watch.h"
#include "util/xalloc.h"

struct fixture {
	char root[64];
	struct watch *w;
	/* What the last drain reported, one "KIND name" line each. */
	char *seen[64];
	size_t n_seen;
	bool add_new_folders; /* the callback registers folders it is told of */
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static char *at(const struct fixture *fx, const char *rel)
{
	return xasprintf("%s/%s", fx->root, rel);
}

static void mkdir_rel(const struct fixture *fx, const char *rel)
{
	char *p = at(fx, rel);

	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
}

static void make_folder(const struct fixture *fx, const char *rel)
{
	static const char *const subs[] = {"", "/cur", "/new", "/tmp"};

	for (size_t i = 0; i < 4; i++) {
		char *r = xasprintf("%s%s", rel, subs[i]);

		mkdir_rel(fx, r);
		free(r);
	}
}

static void touch(const struct fixture *fx, const char *rel)
{
	char *p = at(fx, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
	free(p);
}

static void rename_rel(const struct fixture *fx, const char *a, const char *b)
{
	char *pa = at(fx, a), *pb = at(fx, b);

	assert_int_equal(rename(pa, pb), 0);
	free(pa);
	free(pb);
}

static void unlink_rel(const struct fixture *fx, const char *rel)
{
	char *p = at(fx, rel);

	assert_int_equal(unlink(p), 0);
	free(p);
}

static void ignore_rel(const struct fixture *fx, const char *rel)
{
	/* A doubled slash: the spelling must not matter. */
	char *p = xasprintf("%s//%s", fx->root, rel);

	watch_ignore_path(fx->w, p);
	free(p);
}

static void add_folder(struct fixture *fx, const char *rel)
{
	struct error err = {0};
	char *p = at(fx, rel);

	assert_int_equal(watch_add_folder(fx->w, rel, p, &err), 0);
	free(p);
}

static void on_event(const struct watch_event *ev, void *ctx)
{
	static const char *const kinds[] = {"FOLDER", "TREE", "OVERFLOW"};
	struct fixture *fx = ctx;

	assert_true(fx->n_seen < 64);
	fx->seen[fx->n_seen++] = xasprintf("%s %s", kinds[ev->kind], ev->name ? ev->name : "-");
	if (fx->add_new_folders && ev->kind == WATCH_TREE) {
		char *p = at(fx, ev->name), *cur = xasprintf("%s/cur", p);
		struct stat st;

		if (stat(cur, &st) == 0)
			add_folder(fx, ev->name);
		free(p);
		free(cur);
	}
}

static void clear_seen(struct fixture *fx)
{
	for (size_t i = 0; i < fx->n_seen; i++)
		free(fx->seen[i]);
	fx->n_seen = 0;
}

/* Reads events until none came for 100 ms; the report, sorted and
 * space-joined ("" for none). One drain covers a whole burst, as the
 * daemon's debounce does. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *drain(struct fixture *fx)
{
	struct pollfd p = {.fd = watch_fd(fx->w), .events = POLLIN};
	struct error err = {0};
	char *out = xstrdup(""), *t;

	clear_seen(fx);
	while (poll(&p, 1, 100) > 0)
		assert_int_equal(watch_read(fx->w, on_event, fx, &err), 0);
	qsort(fx->seen, fx->n_seen, sizeof(*fx->seen), cmp_str);
	for (size_t i = 0; i < fx->n_seen; i++) {
		t = xasprintf("%s%s%s", out, i ? "|" : "", fx->seen[i]);
		free(out);
		out = t;
	}
	return out;
}

#define assert_drain(fx, want)                                                                     \
	do {                                                                                       \
		char *got_ = drain(fx);                                                            \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct error err = {0};

	strcpy(fx->root, "/tmp/gmaildir-test-watch.XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	make_folder(fx, "INBOX");
	make_folder(fx, "Archive");
	if (watch_new(fx->root, LAYOUT_VERBATIM, &fx->w, &err) < 0) {
		print_error("%s\n", err.msg);
		return -1;
	}
	add_folder(fx, "INBOX");
	add_folder(fx, "Archive");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	watch_free(&fx->w);
	assert_null(fx->w);
	clear_seen(fx);
	nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* ------------------------------------------------------------ folders */

static void test_file_changes(void **state)
{
	struct fixture *fx = *state;

	assert_drain(fx, "");
	touch(fx, "INBOX/new/1.a");
	assert_drain(fx, "FOLDER INBOX");
	rename_rel(fx, "INBOX/new/1.a", "INBOX/cur/1.a:2,S");
	assert_drain(fx, "FOLDER INBOX");
	rename_rel(fx, "INBOX/cur/1.a:2,S", "INBOX/cur/1.a:2,FS");
	assert_drain(fx, "FOLDER INBOX");
	unlink_rel(fx, "INBOX/cur/1.a:2,FS");
	assert_drain(fx, "FOLDER INBOX");
	/* A delivery: written in tmp/ (not watched), renamed into new/. */
	touch(fx, "Archive/tmp/2.b");
	assert_drain(fx, "");
	rename_rel(fx, "Archive/tmp/2.b", "Archive/new/2.b");
	assert_drain(fx, "FOLDER Archive");
	/* A move between folders reports both, each once. */
	rename_rel(fx, "Archive/new/2.b", "INBOX/cur/2.b:2,");
	touch(fx, "INBOX/cur/3.c:2,");
	assert_drain(fx, "FOLDER Archive|FOLDER INBOX");
	/* Dot files are not messages. */
	touch(fx, "INBOX/cur/.hidden");
	assert_drain(fx, "");
}

static void test_own_changes_dropped(void **state)
{
	struct fixture *fx = *state;
	char *src, *dst;

	/* Download: rename tmp/ -> new/, announced. */
	touch(fx, "INBOX/tmp/1.a");
	ignore_rel(fx, "INBOX/new/1.a");
	rename_rel(fx, "INBOX/tmp/1.a", "INBOX/new/1.a");
	assert_drain(fx, "");
	/* Flag change: both names announced. */
	ignore_rel(fx, "INBOX/new/1.a");
	ignore_rel(fx, "INBOX/cur/1.a:2,S");
	rename_rel(fx, "INBOX/new/1.a", "INBOX/cur/1.a:2,S");
	assert_drain(fx, "");
	/* Gmail label: a hard link into another folder. */
	ignore_rel(fx, "Archive/cur/1.a:2,S");
	src = at(fx, "INBOX/cur/1.a:2,S");
	dst = at(fx, "Archive/cur/1.a:2,S");
	assert_int_equal(link(src, dst), 0);
	assert_drain(fx, "");
	/* One announcement covers one event: the user's own rename of the
	 * same file afterwards is seen. */
	rename_rel(fx, "INBOX/cur/1.a:2,S", "INBOX/cur/1.a:2,RS");
	assert_drain(fx, "FOLDER INBOX");
	/* Deletion, announced. */
	ignore_rel(fx, "Archive/cur/1.a:2,S");
	unlink_rel(fx, "Archive/cur/1.a:2,S");
	assert_drain(fx, "");
	/* Ours and the user's in the same burst: the user's wins. */
	ignore_rel(fx, "INBOX/cur/1.a:2,RS");
	unlink_rel(fx, "INBOX/cur/1.a:2,RS");
	touch(fx, "Archive/new/9.z");
	assert_drain(fx, "FOLDER Archive");
	free(src);
	free(dst);
}

static void test_announcement_expires(void **state)
{
	struct fixture *fx = *state;

	watch_set_ignore_ttl(fx->w, 50);
	ignore_rel(fx, "INBOX/new/1.a");
	usleep(120 * 1000);
	touch(fx, "INBOX/new/1.a");
	assert_drain(fx, "FOLDER INBOX");
}

static void *announcer(void *arg)
{
	struct fixture *fx = arg;
	char name[64];

	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "INBOX/new/%d.t", i);
		ignore_rel(fx, name);
	}
	return NULL;
}

static void test_announce_from_threads(void **state)
{
	struct fixture *fx = *state;
	pthread_t th[4];
	char name[64], tmp[64];

	for (int i = 0; i < 200; i++) {
		snprintf(tmp, sizeof(tmp), "INBOX/tmp/%d.t", i);
		touch(fx, tmp);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, announcer, fx), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 200; i++) {
		snprintf(tmp, sizeof(tmp), "INBOX/tmp/%d.t", i);
		snprintf(name, sizeof(name), "INBOX/new/%d.t", i);
		rename_rel(fx, tmp, name);
	}
	assert_drain(fx, "");
}

static void test_write_in_place_is_never_ours(void **state)
{
	struct fixture *fx = *state;

	/* A program writing straight into new/: its creation was announced
	 * (by coincidence), but the write after it is still a change. */
	ignore_rel(fx, "INBOX/new/1.a");
	touch(fx, "INBOX/new/1.a");
	assert_drain(fx, "FOLDER INBOX");
}

static void test_remove_folder(void **state)
{
	struct fixture *fx = *state;

	watch_remove_folder(fx->w, "INBOX");
	watch_remove_folder(fx->w, "no such folder");
	touch(fx, "INBOX/new/1.a");
	touch(fx, "Archive/new/1.a");
	assert_drain(fx, "FOLDER Archive");
	/* Registered again: seen again. */
	add_folder(fx, "INBOX");
	touch(fx, "INBOX/new/2.a");
	assert_drain(fx, "FOLDER INBOX");
}

static void test_register_again(void **state)
{
	struct fixture *fx = *state;
	struct error err = {0};
	char *other = at(fx, "Other");

	/* Same path: an event queued before is not lost. */
	touch(fx, "INBOX/new/1.a");
	add_folder(fx, "INBOX");
	assert_drain(fx, "FOLDER INBOX");
	/* A new path for the name: only the new directories count. */
	make_folder(fx, "Other");
	assert_drain(fx, "TREE Other");
	assert_int_equal(watch_add_folder(fx->w, "INBOX", other, &err), 0);
	touch(fx, "INBOX/new/2.a");
	assert_drain(fx, "");
	touch(fx, "Other/new/3.a");
	assert_drain(fx, "FOLDER INBOX");
	free(other);
}

static void test_add_folder_errors(void **state)
{
	struct fixture *fx = *state;
	struct error err = {0};
	char *p = at(fx, "Nothing");

	assert_int_equal(watch_add_folder(fx->w, "Nothing", p, &err), -1);
	assert_non_null(strstr(err.msg, "Nothing/cur"));
	assert_int_equal(err.scope, ERR_FOLDER);
	free(p);
	assert_int_equal(
	    watch_new("/nonexistent/gmaildir", LAYOUT_VERBATIM, &fx->w, &err) == 0 ? 0 : -1, -1);
	assert_non_null(strstr(err.msg, "No such file"));
	assert_non_null(fx->w); /* untouched on failure */
}

/* --------------------------------------------------------------- tree */

static void test_new_folder(void **state)
{
	struct fixture *fx = *state;

	mkdir_rel(fx, "Lists");
	assert_drain(fx, "TREE Lists");
	/* The new directory is watched: its children are seen. */
	mkdir_rel(fx, "Lists/dev");
	assert_drain(fx, "TREE Lists/dev");
	mkdir_rel(fx, "Lists/dev/cur");
	mkdir_rel(fx, "Lists/dev/new");
	mkdir_rel(fx, "Lists/dev/tmp");
	assert_drain(fx, "TREE Lists/dev");
	/* Registered from the callback, as the daemon will. */
	fx->add_new_folders = true;
	make_folder(fx, "Sent");
	assert_drain(fx, "TREE Sent");
	touch(fx, "Sent/cur/1.a:2,S");
	assert_drain(fx, "FOLDER Sent");
	/* Dot directories are not folders. */
	mkdir_rel(fx, ".notmuch");
	assert_drain(fx, "");
}

/* Maildir++: the root's dot directories are the folders, the root's own
 * cur/new/tmp make it INBOX, and nothing else is a tree directory. */
static void test_maildirpp_tree(void **state)
{
	struct fixture *pp = xcalloc(1, sizeof(*pp));
	struct error err = {0};

	(void)state;
	strcpy(pp->root, "/tmp/gmaildir-test-watch-pp.XXXXXX");
	assert_non_null(mkdtemp(pp->root));
	make_folder(pp, ".Sent");
	assert_int_equal(watch_new(pp->root, LAYOUT_MAILDIRPP, &pp->w, &err), 0);
	mkdir_rel(pp, "cur");
	assert_drain(pp, "TREE ");
	mkdir_rel(pp, ".Lists.dev");
	assert_drain(pp, "TREE .Lists.dev");
	mkdir_rel(pp, ".Lists.dev/cur");
	mkdir_rel(pp, ".Lists.dev/new");
	assert_drain(pp, "TREE .Lists.dev");
	mkdir_rel(pp, ".Sent/tmp/x"); /* below cur/new/tmp: never */
	mkdir_rel(pp, ".Sent/courierimapkeywords");
	mkdir_rel(pp, "INBOX"); /* a verbatim-style directory is no folder */
	mkdir_rel(pp, "INBOX/cur");
	assert_drain(pp, "");
	watch_free(&pp->w);
	clear_seen(pp);
	nftw(pp->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(pp);
}

static void test_nested_burst(void **state)
{
	struct fixture *fx = *state;

	/* Created faster than the events are read: the directories below
	 * A are found by scanning A when it is added. */
	mkdir_rel(fx, "A");
	mkdir_rel(fx, "A/B");
	mkdir_rel(fx, "A/B/C");
	assert_drain(fx, "TREE A");
	mkdir_rel(fx, "A/B/C/cur");
	assert_drain(fx, "TREE A/B/C");
	mkdir_rel(fx, "A/B/C/D");
	assert_drain(fx, "TREE A/B/C/D");
}

static void test_folder_moved_and_removed(void **state)
{
	struct fixture *fx = *state;

	make_folder(fx, "Old");
	assert_drain(fx, "TREE Old");
	rename_rel(fx, "Old", "Renamed");
	assert_drain(fx, "TREE Old|TREE Renamed");
	/* The moved tree is watched under its new name only. */
	mkdir_rel(fx, "Renamed/Sub");
	assert_drain(fx, "TREE Renamed/Sub");
	/* Our own folder creation, announced, is not reported. */
	ignore_rel(fx, "Mine");
	mkdir_rel(fx, "Mine");
	assert_drain(fx, "");
	/* A registered folder removed: its files, then the folder. */
	touch(fx, "Archive/cur/1.a:2,");
	assert_drain(fx, "FOLDER Archive");
	unlink_rel(fx, "Archive/cur/1.a:2,");
	{
		char *cur = at(fx, "Archive/cur"), *new = at(fx, "Archive/new"),
		     *tmp = at(fx, "Archive/tmp"), *dir = at(fx, "Archive");

		assert_int_equal(rmdir(cur), 0);
		assert_int_equal(rmdir(new), 0);
		assert_int_equal(rmdir(tmp), 0);
		assert_int_equal(rmdir(dir), 0);
		free(cur);
		free(new);
		free(tmp);
		free(dir);
	}
	assert_drain(fx, "FOLDER Archive|TREE Archive");
}

/* ------------------------------------------------------------ overflow */

static long max_queued_events(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void test_overflow(void **state)
{
	struct fixture *fx = *state;
	long max = max_queued_events();
	char name[64], prev[64];

	/* Each rename is two events (moved from, moved to). */
	if (max <= 0 || max > 1000000) {
		skip();
		return;
	}
	touch(fx, "INBOX/cur/0");
	for (long i = 0; i < max / 2 + 100; i++) {
		snprintf(name, sizeof(name), "INBOX/cur/%ld", i + 1);
		snprintf(prev, sizeof(prev), "INBOX/cur/%ld", i);
		rename_rel(fx, prev, name);
	}
	/* Only the overflow is reported: a full scan covers the rest. */
	assert_drain(fx, "OVERFLOW -");
	touch(fx, "Archive/new/after");
	assert_drain(fx, "FOLDER Archive");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_file_changes),
	    T(test_own_changes_dropped),
	    T(test_announcement_expires),
	    T(test_announce_from_threads),
	    T(test_write_in_place_is_never_ours),
	    T(test_remove_folder),
	    T(test_register_again),
	    T(test_add_folder_errors),
	    T(test_new_folder),
	    T(test_maildirpp_tree),
	    T(test_nested_burst),
	    T(test_folder_moved_and_removed),
	    T(test_overflow),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
