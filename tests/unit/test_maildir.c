/* One Maildir folder on disk, in a fresh mkdtemp directory per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/maildir.h"
#include "store/maildir_name.h"
#include "util/xalloc.h"

struct fixture {
	char root[64]; /* the mkdtemp directory */
	char *path;    /* root/Mail/INBOX: the Maildir */
	struct maildir *md;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct error err = {0};

	strcpy(fx->root, "/tmp/gmaildir-test-maildir.XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	fx->path = xasprintf("%s/Mail/INBOX", fx->root);
	if (maildir_open(fx->path, true, &fx->md, &err) < 0) {
		print_error("%s\n", err.msg);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	maildir_free(&fx->md);
	nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx->path);
	free(fx);
	return 0;
}

static char *sub(const struct fixture *fx, const char *rel)
{
	return xasprintf("%s/%s", fx->path, rel);
}

static bool exists(const struct fixture *fx, const char *rel)
{
	char *p = sub(fx, rel);
	struct stat st;
	bool ok = lstat(p, &st) == 0;

	free(p);
	return ok;
}

/* Entries of a directory, without "." and "..". */
static size_t count_path(const char *p)
{
	DIR *d = opendir(p);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static size_t count_dir(const struct fixture *fx, const char *rel)
{
	char *p = sub(fx, rel);
	size_t n = count_path(p);

	free(p);
	return n;
}

static char *slurp(const struct fixture *fx, const char *rel, size_t *len_r)
{
	char *p = sub(fx, rel);
	FILE *f = fopen(p, "rb");
	char *data = xmalloc(1 << 16);

	assert_non_null(f);
	*len_r = fread(data, 1, 1 << 16, f);
	fclose(f);
	free(p);
	return data;
}

static void put_file(const struct fixture *fx, const char *rel, const char *content)
{
	char *p = sub(fx, rel);
	FILE *f = fopen(p, "wb");

	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	free(p);
}

/* Delivers data in the given chunks and finishes with flags and mtime. */
static void deliver_chunks(struct maildir *md, const char *unique, const char *const *chunks,
			   size_t n, unsigned flags, time_t mtime)
{
	struct maildir_delivery *d = NULL;
	struct error err = {0};

	assert_int_equal(maildir_delivery_begin(md, unique, &d, &err), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(maildir_delivery_write(d, chunks[i], strlen(chunks[i]), &err), 0);
	assert_int_equal(maildir_delivery_finish(&d, flags, mtime, &err), 0);
	assert_null(d);
}

static void deliver(struct maildir *md, const char *unique, const char *data, unsigned flags)
{
	deliver_chunks(md, unique, &data, 1, flags, 0);
}

static void commit(struct maildir *md)
{
	struct error err = {0};

	if (maildir_commit(md, &err) < 0)
		fail_msg("%s", err.msg);
}

static void scan(struct fixture *fx, struct maildir_entry **e, size_t *n, size_t *skipped)
{
	struct error err = {0};

	if (maildir_scan(fx->md, e, n, skipped, &err) < 0)
		fail_msg("%s", err.msg);
}

static mode_t mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

static void test_create_modes(void **state)
{
	struct fixture *fx = *state;
	const char *subs[] = {"cur", "new", "tmp"};
	char *p;

	assert_int_equal(mode_of(fx->path), 0700);
	for (size_t i = 0; i < 3; i++) {
		p = sub(fx, subs[i]);
		assert_int_equal(mode_of(p), 0700);
		free(p);
	}
	p = xasprintf("%s/Mail", fx->root);
	assert_int_equal(mode_of(p), 0700);
	free(p);
	assert_string_equal(maildir_path(fx->md), fx->path);
}

static void test_open_missing(void **state)
{
	struct fixture *fx = *state;
	struct maildir *md = NULL;
	struct error err = {0};
	char *p = xasprintf("%s/Nope", fx->root);

	assert_int_equal(maildir_open(p, false, &md, &err), -1);
	assert_null(md);
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_int_equal(err.scope, ERR_FOLDER);
	/* a directory without cur/ new/ tmp/ is not a Maildir either */
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(maildir_open(p, false, &md, &err), -1);
	assert_non_null(strstr(err.msg, "/cur"));
	assert_int_equal(maildir_open(p, true, &md, &err), 0);
	maildir_free(&md);
	assert_null(md);
	maildir_free(NULL);
	free(p);
}

/* A symlink in place of cur/ is refused, even with create, and nothing is
 * ever written through it. */
static void test_symlink_refused(void **state)
{
	struct fixture *fx = *state;
	char *box = xasprintf("%s/Evil", fx->root);
	char *target = xasprintf("%s/target", fx->root);
	char *link = xasprintf("%s/cur", box);
	char *tmpdir = xasprintf("%s/tmp", box);
	struct maildir *md = NULL;
	struct error err = {0};

	assert_int_equal(mkdir(box, 0700), 0);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(maildir_open(box, true, &md, &err), -1);
	assert_null(md);
	assert_non_null(strstr(err.msg, "symlinks are refused"));
	/* the same for tmp/, where deliveries write */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(mkdir(link, 0700), 0);
	assert_int_equal(symlink(target, tmpdir), 0);
	assert_int_equal(maildir_open(box, true, &md, &err), -1);
	assert_non_null(strstr(err.msg, "tmp: not a directory"));
	assert_int_equal(count_path(target), 0);
	free(box);
	free(target);
	free(link);
	free(tmpdir);
}

/* A symlink planted after open is not followed: the kept fds still name
 * the real directories. */
static void test_symlink_planted_after_open(void **state)
{
	struct fixture *fx = *state;
	char *target = xasprintf("%s/target", fx->root);
	char *cur = sub(fx, "cur");
	char *moved = sub(fx, "cur.real");
	struct error err = {0};

	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(rename(cur, moved), 0);
	assert_int_equal(symlink(target, cur), 0);
	deliver(fx->md, "u1", "x\r\n", MF_SEEN);
	commit(fx->md);
	/* the message went to the real directory, not through the link */
	assert_true(exists(fx, "cur.real/u1:2,S"));
	assert_int_equal(count_path(target), 0);
	/* and a scan notices the folder is no longer where it was */
	{
		struct maildir_entry *e = NULL;
		size_t ne = 0;

		assert_int_equal(maildir_scan(fx->md, &e, &ne, NULL, &err), -1);
		assert_non_null(strstr(err.msg, "moved or removed"));
	}
	free(target);
	free(cur);
	free(moved);
}

/* The reference conversion, in one pass over the whole input. */
static size_t ref_crlf_to_lf(const char *in, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;
		out[n++] = in[i];
	}
	return n;
}

static void test_deliver_crlf_chunks(void **state)
{
	struct fixture *fx = *state;
	const char *chunks[] = {"a\r\nb\r", "\nc\r", "d\r", "\r\n", "end\r"};
	const char *want = "a\nb\nc\rd\r\nend\r";
	size_t len;
	char *got;

	deliver_chunks(fx->md, "split", chunks, 5, 0, 0);
	commit(fx->md);
	got = slurp(fx, "new/split", &len);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
}

/* Every split point of a message full of CR/LF corner cases gives the same
 * bytes as the one-pass reference; so does byte-by-byte writing. */
static void test_deliver_every_split(void **state)
{
	struct fixture *fx = *state;
	const char msg[] = "\r\nSubject: x\r\n\r\r\nbare\rcr\r\rLF\nend\r\n\r";
	size_t mlen = sizeof(msg) - 1, want_len, got_len;
	char want[sizeof(msg)], name[32];
	struct error err = {0};

	want_len = ref_crlf_to_lf(msg, mlen, want);
	for (size_t cut = 0; cut <= mlen + 1; cut++) {
		struct maildir_delivery *d = NULL;
		char *got;

		snprintf(name, sizeof(name), "s%zu", cut);
		assert_int_equal(maildir_delivery_begin(fx->md, name, &d, &err), 0);
		if (cut <= mlen) {
			assert_int_equal(maildir_delivery_write(d, msg, cut, &err), 0);
			assert_int_equal(maildir_delivery_write(d, msg + cut, mlen - cut, &err), 0);
		} else {
			for (size_t i = 0; i < mlen; i++)
				assert_int_equal(maildir_delivery_write(d, msg + i, 1, &err), 0);
		}
		assert_int_equal(maildir_delivery_finish(&d, 0, 0, &err), 0);
		commit(fx->md);
		snprintf(name, sizeof(name), "new/s%zu", cut);
		got = slurp(fx, name, &got_len);
		assert_int_equal(got_len, want_len);
		assert_memory_equal(got, want, want_len);
		free(got);
	}
}

/* Larger than the delivery buffer, with CRLF across buffer flushes. */
static void test_deliver_large(void **state)
{
	struct fixture *fx = *state;
	struct maildir_delivery *d = NULL;
	struct error err = {0};
	size_t len = 200000, n = 0;
	char *data = xmalloc(len), *want = xmalloc(len);
	char *p;
	struct stat st;

	for (size_t i = 0; i < len; i++)
		data[i] = (i % 7 == 5) ? '\r' : (i % 7 == 6) ? '\n' : (char)('a' + i % 26);
	n = ref_crlf_to_lf(data, len, want);
	assert_int_equal(maildir_delivery_begin(fx->md, "big", &d, &err), 0);
	for (size_t off = 0; off < len; off += 4093) {
		size_t c = len - off < 4093 ? len - off : 4093;

		assert_int_equal(maildir_delivery_write(d, data + off, c, &err), 0);
	}
	assert_int_equal(maildir_delivery_finish(&d, 0, 0, &err), 0);
	commit(fx->md);
	p = sub(fx, "new/big");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal((size_t)st.st_size, n);
	free(p);
	free(data);
	free(want);
}

static void test_placement(void **state)
{
	struct fixture *fx = *state;
	struct maildir_entry *e = NULL;
	size_t n = 0;

	deliver(fx->md, "u1", "one\r\n", 0);
	deliver(fx->md, "u2", "two\r\n", MF_SEEN);
	deliver(fx->md, "u3", "three\r\n", MF_FLAGGED);
	deliver(fx->md, "u4", "four\r\n", MF_SEEN | MF_ANSWERED);
	/* not visible before the commit: only in tmp/ */
	assert_int_equal(maildir_pending(fx->md), 4);
	assert_int_equal(count_dir(fx, "tmp"), 4);
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 0);
	maildir_entries_free(e, n);
	commit(fx->md);
	assert_int_equal(maildir_pending(fx->md), 0);
	assert_int_equal(count_dir(fx, "tmp"), 0);
	assert_true(exists(fx, "new/u1"));
	assert_true(exists(fx, "cur/u2:2,S"));
	assert_true(exists(fx, "cur/u3:2,F")); /* unseen but flagged: cur/ */
	assert_true(exists(fx, "cur/u4:2,RS"));
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 4);
	assert_string_equal(e[0].unique, "u1");
	assert_true(e[0].in_new);
	assert_int_equal(e[0].flags, 0);
	assert_false(e[2].in_new);
	assert_int_equal(e[2].flags, MF_FLAGGED);
	assert_string_equal(e[3].filename, "u4:2,RS");
	assert_int_equal(e[3].flags, MF_SEEN | MF_ANSWERED);
	assert_string_equal(e[3].unknown, "");
	maildir_entries_free(e, n);
	commit(fx->md); /* an empty commit is fine */
}

static void test_mtime_and_mode(void **state)
{
	struct fixture *fx = *state;
	char *p;
	struct stat st;

	deliver_chunks(fx->md, "dated", (const char *[]){"x\r\n"}, 1, MF_SEEN, 1234567890);
	deliver(fx->md, "undated", "y", 0);
	commit(fx->md);
	p = sub(fx, "cur/dated:2,S");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mtime, 1234567890);
	assert_int_equal(st.st_mode & 07777, 0600);
	free(p);
	p = sub(fx, "new/undated");
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_mtime > 1600000000);
	assert_int_equal(st.st_mode & 07777, 0600);
	free(p);
}

static void test_scan_ignores(void **state)
{
	struct fixture *fx = *state;
	struct maildir_entry *e = NULL;
	size_t n = 0, skipped = 0;
	char *p = sub(fx, "cur/subdir");

	put_file(fx, "tmp/intmp", "x");
	put_file(fx, "new/.dot", "x");
	put_file(fx, "cur/.dot:2,S", "x");
	put_file(fx, "cur/bad:1,x", "x");
	put_file(fx, "cur/bad2:2,S,W=1", "x");
	put_file(fx, "new/good", "x");
	put_file(fx, "cur/other,S=5:2,Sa", "x");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	/* a symlink is never taken for a message */
	p = sub(fx, "cur/link:2,S");
	assert_int_equal(symlink("/etc/passwd", p), 0);
	scan(fx, &e, &n, &skipped);
	assert_int_equal(n, 2);
	assert_int_equal(skipped, 4);
	assert_string_equal(e[0].unique, "good");
	assert_string_equal(e[1].unique, "other,S=5");
	assert_string_equal(e[1].unknown, "a");
	assert_int_equal(e[1].flags, MF_SEEN);
	maildir_entries_free(e, n);
	/* each skipped file is named, once, sorted */
	{
		static const char *const want[] = {"cur/bad2:2,S,W=1", "cur/bad:1,x",
						   "cur/link:2,S", "cur/subdir"};
		char *const *names = NULL;
		size_t n_names = 0;

		maildir_skipped(fx->md, &names, &n_names);
		assert_int_equal(n_names, 4);
		for (size_t i = 0; i < 4; i++)
			assert_string_equal(names[i], want[i]);
	}
	scan(fx, &e, &n, NULL); /* skipped_r may be NULL */
	maildir_entries_free(e, n);
	free(p);
}

/* The guard files of the account root: a lock held by another process is
 * refused with its pid; without create nothing is created; an identity
 * reads back, and a file that does not hold one is refused. */
static void test_root_guard(void **state)
{
	struct fixture *fx = *state;
	char *root = xasprintf("%s/Root", fx->root), *lockp = xasprintf("%s/.gmaildir.lock", root);
	struct maildir_root_lock *lock = NULL;
	struct error err = {0};
	char *id = NULL, *got = NULL, *owner = NULL, want[160];
	struct stat st;
	int status = 0;
	pid_t pid;

	assert_int_equal(maildir_root_lock(root, false, &lock, &err), 0);
	assert_null(lock);
	assert_int_equal(lstat(root, &st), -1); /* a dry run created nothing */
	assert_int_equal(maildir_root_id_get(root, &got, &owner, &err), 0);
	assert_int_equal(maildir_root_lock(root, true, &lock, &err), 0);
	assert_non_null(lock);
	assert_int_equal(lstat(lockp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(want, sizeof(want), "Maildir %s is being synced by pid %ld", root, (long)getpid());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct maildir_root_lock *l2 = NULL;
		int rc = maildir_root_lock(root, true, &l2, &err);

		_exit(rc == -1 && !l2 && strncmp(err.msg, want, strlen(want)) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	maildir_root_unlock(&lock);
	assert_null(lock);
	/* taken again, the file keeps its size and mtime */
	{
		struct timespec old = {1600000000, 0}, times[2] = {old, old};
		struct stat again;
		int fd = open(lockp, O_RDWR);

		assert_true(fd >= 0);
		assert_int_equal(futimens(fd, times), 0);
		close(fd);
		assert_int_equal(lstat(lockp, &st), 0);
		assert_int_equal(maildir_root_lock(root, true, &lock, &err), 0);
		assert_int_equal(lstat(lockp, &again), 0);
		assert_int_equal(again.st_size, st.st_size);
		assert_int_equal(again.st_mtim.tv_sec, 1600000000);
		maildir_root_unlock(&lock);
	}
	id = maildir_root_id_new();
	assert_int_equal(strlen(id), 32);
	assert_int_equal(maildir_root_id_put(root, id, "/some/state", &err), 0);
	assert_int_equal(maildir_root_id_get(root, &got, &owner, &err), 1);
	assert_string_equal(got, id);
	assert_string_equal(owner, "/some/state");
	free(got);
	free(owner);
	/* no folder for either file */
	{
		char **paths = NULL;
		size_t n = 0;

		assert_int_equal(maildir_tree_list(root, LAYOUT_VERBATIM, &paths, &n, &err), 0);
		assert_int_equal(n, 0);
		maildir_tree_free(paths, n);
		assert_int_equal(maildir_tree_list(root, LAYOUT_MAILDIRPP, &paths, &n, &err), 0);
		assert_int_equal(n, 0);
		maildir_tree_free(paths, n);
	}
	{
		char *idp = xasprintf("%s/.gmaildir.id", root);
		FILE *f = fopen(idp, "w");

		assert_non_null(f);
		fputs("not an id\n", f);
		fclose(f);
		assert_int_equal(maildir_root_id_get(root, &got, &owner, &err), -1);
		assert_int_equal(err.scope, ERR_SAFETY);
		free(idp);
	}
	free(id);
	free(lockp);
	free(root);
}

/* maildir_scan_keys keeps only the keys asked for, matched whole (not a
 * key that is a prefix of another), the cur/ name of one seen twice, and
 * leaves the last full scan's list of skipped files as it was. */
static void test_scan_keys(void **state)
{
	static char *const keys[] = {"k", "m"}; /* sorted */
	struct fixture *fx = *state;
	struct maildir_entry *e = NULL;
	struct error err = {0};
	char *const *names = NULL;
	size_t n = 0, n_names = 0;

	put_file(fx, "new/k", "x");
	put_file(fx, "cur/k:2,S", "x");
	put_file(fx, "cur/kk:2,F", "x");
	put_file(fx, "cur/j:2,", "x");
	put_file(fx, "new/m", "x");
	put_file(fx, "cur/bad:1,x", "x");
	scan(fx, &e, &n, NULL);
	maildir_entries_free(e, n);
	if (maildir_scan_keys(fx->md, keys, 2, &e, &n, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].unique, "k");
	assert_false(e[0].in_new);
	assert_int_equal(e[0].flags, MF_SEEN);
	assert_string_equal(e[1].unique, "m");
	assert_true(e[1].in_new);
	maildir_entries_free(e, n);
	maildir_skipped(fx->md, &names, &n_names);
	assert_int_equal(n_names, 1);
	assert_string_equal(names[0], "cur/bad:1,x");
	if (maildir_scan_keys(fx->md, keys, 0, &e, &n, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 0);
	maildir_entries_free(e, n);
}

/* A key seen in new/ and cur/ (a MUA's rename during the scan) is one entry,
 * the cur/ one. */
static void test_scan_dedup(void **state)
{
	struct fixture *fx = *state;
	struct maildir_entry *e = NULL;
	size_t n = 0;

	put_file(fx, "new/k", "x");
	put_file(fx, "cur/k:2,S", "x");
	put_file(fx, "new/j", "x");
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].unique, "j");
	assert_string_equal(e[1].unique, "k");
	assert_false(e[1].in_new);
	assert_string_equal(e[1].filename, "k:2,S");
	maildir_entries_free(e, n);
}

static void test_set_flags(void **state)
{
	struct fixture *fx = *state;
	struct maildir_entry *e = NULL;
	struct error err = {0};
	size_t n = 0;

	put_file(fx, "cur/k:2,Sab", "x");
	put_file(fx, "new/m", "y");
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 2);
	/* unknown letters survive a flag change */
	assert_int_equal(maildir_set_flags(fx->md, &e[0], MF_FLAGGED, &err), 0);
	assert_string_equal(e[0].filename, "k:2,Fab");
	assert_int_equal(e[0].flags, MF_FLAGGED);
	assert_true(exists(fx, "cur/k:2,Fab"));
	assert_false(exists(fx, "cur/k:2,Sab"));
	/* new/ -> cur/ */
	assert_true(e[1].in_new);
	assert_int_equal(maildir_set_flags(fx->md, &e[1], MF_SEEN, &err), 0);
	assert_false(e[1].in_new);
	assert_true(exists(fx, "cur/m:2,S"));
	assert_false(exists(fx, "new/m"));
	/* the same flags again: nothing to do */
	assert_int_equal(maildir_set_flags(fx->md, &e[1], MF_SEEN, &err), 0);
	assert_true(exists(fx, "cur/m:2,S"));
	/* a file that vanished meanwhile */
	put_file(fx, "cur/gone:2,", "z");
	maildir_entries_free(e, n);
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].unique, "gone");
	{
		char *p = sub(fx, "cur/gone:2,");

		assert_int_equal(unlink(p), 0);
		free(p);
	}
	assert_int_equal(maildir_set_flags(fx->md, &e[0], MF_SEEN, &err), -1);
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_int_equal(err.scope, ERR_MESSAGE);
	assert_int_equal(maildir_sync(fx->md, &err), 0);
	maildir_entries_free(e, n);
}

/* A rename never replaces a file that already has the target name. */
static void test_set_flags_no_replace(void **state)
{
	struct fixture *fx = *state;
	struct maildir_entry *e = NULL;
	struct error err = {0};
	size_t n = 0, len;
	char *data;

	put_file(fx, "new/k", "mine");
	scan(fx, &e, &n, NULL);
	put_file(fx, "cur/k:2,S", "theirs");
	assert_int_equal(maildir_set_flags(fx->md, &e[0], MF_SEEN, &err), -1);
	assert_non_null(strstr(err.msg, "File exists"));
	data = slurp(fx, "cur/k:2,S", &len);
	assert_memory_equal(data, "theirs", 6);
	free(data);
	assert_true(exists(fx, "new/k"));
	maildir_entries_free(e, n);
}

static void test_remove(void **state)
{
	struct fixture *fx = *state;
	struct maildir_entry *e = NULL;
	struct error err = {0};
	size_t n = 0;

	deliver(fx->md, "r1", "x", MF_SEEN);
	deliver(fx->md, "r2", "y", 0);
	commit(fx->md);
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 2);
	assert_int_equal(maildir_remove(fx->md, &e[0], &err), 0);
	assert_int_equal(maildir_remove(fx->md, &e[1], &err), 0);
	assert_false(exists(fx, "cur/r1:2,S"));
	assert_false(exists(fx, "new/r2"));
	/* already gone: not an error */
	assert_int_equal(maildir_remove(fx->md, &e[0], &err), 0);
	assert_int_equal(maildir_sync(fx->md, &err), 0);
	maildir_entries_free(e, n);
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 0);
	maildir_entries_free(e, n);
}

static void test_read_crlf_round_trip(void **state)
{
	struct fixture *fx = *state;
	const char *orig = "From: a\r\nSubject: b\r\n\r\nbody\rwith bare CR\r\n\r\nlast\r\n";
	const char *chunks[] = {"From: a\r", "\nSubject: b\r\n\r", "\nbody\r",
				"with bare CR\r\n\r\nlast\r", "\n"};
	struct maildir_entry *e = NULL;
	struct error err = {0};
	size_t n = 0, len = 0;
	time_t mtime = 0;
	char *data = NULL;

	deliver_chunks(fx->md, "rt", chunks, 5, MF_SEEN, 1500000000);
	commit(fx->md);
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(maildir_read_crlf(fx->md, &e[0], &data, &len, &mtime, &err), 0);
	assert_int_equal(len, strlen(orig));
	assert_memory_equal(data, orig, len);
	assert_int_equal(mtime, 1500000000);
	free(data);
	maildir_entries_free(e, n);
}

/* A file written by another program with mixed line ends: LF gains a CR,
 * CRLF is not doubled, bare CR stays. */
static void test_read_crlf_mixed(void **state)
{
	struct fixture *fx = *state;
	const char *want = "\r\na\r\nb\r\nc\rd\r\n";
	struct maildir_entry *e = NULL;
	struct error err = {0};
	size_t n = 0, len = 0;
	char *data = NULL;

	put_file(fx, "new/mixed", "\na\nb\r\nc\rd\n");
	put_file(fx, "new/empty", "");
	scan(fx, &e, &n, NULL);
	assert_int_equal(n, 2);
	assert_int_equal(maildir_read_crlf(fx->md, &e[1], &data, &len, NULL, &err), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(data, want, len);
	free(data);
	assert_int_equal(maildir_read_crlf(fx->md, &e[0], &data, &len, NULL, &err), 0);
	assert_int_equal(len, 0);
	free(data);
	/* a vanished file */
	assert_int_equal(maildir_remove(fx->md, &e[0], &err), 0);
	assert_int_equal(maildir_read_crlf(fx->md, &e[0], &data, &len, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "No such file"));
	maildir_entries_free(e, n);
}

static void test_abort(void **state)
{
	struct fixture *fx = *state;
	struct maildir_delivery *d = NULL;
	struct error err = {0};

	assert_int_equal(maildir_delivery_begin(fx->md, "ab", &d, &err), 0);
	assert_int_equal(maildir_delivery_write(d, "data\r", 5, &err), 0);
	assert_int_equal(count_dir(fx, "tmp"), 1);
	maildir_delivery_abort(&d);
	assert_null(d);
	maildir_delivery_abort(&d);
	maildir_delivery_abort(NULL);
	assert_int_equal(count_dir(fx, "tmp"), 0);
	assert_int_equal(maildir_pending(fx->md), 0);
}

static void test_free_cleans_pending(void **state)
{
	struct fixture *fx = *state;

	deliver(fx->md, "p1", "x", 0);
	deliver(fx->md, "p2", "y", MF_SEEN);
	assert_int_equal(count_dir(fx, "tmp"), 2);
	maildir_free(&fx->md);
	assert_null(fx->md);
	assert_int_equal(count_dir(fx, "tmp"), 0);
	assert_int_equal(count_dir(fx, "new"), 0);
	assert_int_equal(count_dir(fx, "cur"), 0);
}

static void test_begin_errors(void **state)
{
	struct fixture *fx = *state;
	struct maildir_delivery *d = NULL, *d2 = NULL;
	struct error err = {0};

	assert_int_equal(maildir_delivery_begin(fx->md, "a/b", &d, &err), -1);
	assert_null(d);
	assert_int_equal(maildir_delivery_begin(fx->md, ".x", &d, &err), -1);
	assert_int_equal(maildir_delivery_begin(fx->md, "a:2,S", &d, &err), -1);
	assert_non_null(strstr(err.msg, "invalid Maildir unique"));
	/* O_EXCL: the same unique twice in tmp/ */
	assert_int_equal(maildir_delivery_begin(fx->md, "twice", &d, &err), 0);
	assert_int_equal(maildir_delivery_begin(fx->md, "twice", &d2, &err), -1);
	assert_non_null(strstr(err.msg, "File exists"));
	maildir_delivery_abort(&d);
}

/* A commit never overwrites a file already under the target name: the
 * error names it, the file stays intact, the delivery stays queued, and
 * the other deliveries of the batch still land. */
static void test_commit_no_replace(void **state)
{
	struct fixture *fx = *state;
	struct error err = {0};
	size_t len;
	char *data;

	put_file(fx, "new/dup", "original");
	deliver(fx->md, "before", "b", MF_SEEN);
	deliver(fx->md, "dup", "newer", 0);
	deliver(fx->md, "after", "a", 0);
	assert_int_equal(maildir_commit(fx->md, &err), -1);
	assert_non_null(strstr(err.msg, "rename("));
	assert_non_null(strstr(err.msg, "tmp/dup, new/dup): File exists"));
	assert_true(exists(fx, "cur/before:2,S"));
	assert_true(exists(fx, "new/after"));
	data = slurp(fx, "new/dup", &len);
	assert_int_equal(len, 8);
	assert_memory_equal(data, "original", 8);
	free(data);
	assert_int_equal(maildir_pending(fx->md), 1);
	maildir_free(&fx->md);
	assert_int_equal(count_dir(fx, "tmp"), 0);
}

static void test_unique_new(void **state)
{
	char *names[1000];

	(void)state;
	for (size_t i = 0; i < 1000; i++) {
		names[i] = maildir_unique_new();
		assert_true(maildir_unique_valid(names[i], strlen(names[i])));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(names[i], names[j]);
	}
	for (size_t i = 0; i < 1000; i++)
		free(names[i]);
}

static void test_stamp(void **state)
{
	struct fixture *fx = *state;
	struct error err = {0};
	uint64_t a = 0, b = 0, c = 0;
	struct timespec pause = {0, 20 * 1000 * 1000};

	assert_int_equal(maildir_stamp(fx->md, &a, &err), 0);
	assert_int_equal(maildir_stamp(fx->md, &b, &err), 0);
	assert_true(a != 0);
	assert_true(a == b);
	nanosleep(&pause, NULL);
	deliver(fx->md, "st", "x", MF_SEEN);
	/* tmp/ does not count */
	assert_int_equal(maildir_stamp(fx->md, &b, &err), 0);
	assert_true(a == b);
	commit(fx->md);
	assert_int_equal(maildir_stamp(fx->md, &c, &err), 0);
	assert_true(c != a);
}

/* Gmail: one download, hard links into other folders. */
static void test_deliver_link(void **state)
{
	struct fixture *fx = *state;
	char *path2 = xasprintf("%s/Mail/Archive", fx->root);
	struct maildir *md2 = NULL;
	struct maildir_entry *e = NULL;
	struct error err = {0};
	struct stat a, b;
	size_t n = 0;
	char *pa, *pb;

	assert_int_equal(maildir_open(path2, true, &md2, &err), 0);
	deliver(fx->md, "lk", "body\r\n", 0);
	commit(fx->md);
	scan(fx, &e, &n, NULL);
	assert_int_equal(maildir_deliver_link(md2, fx->md, &e[0], "lk2", MF_SEEN, &err), 0);
	assert_int_equal(maildir_pending(md2), 1);
	assert_int_equal(maildir_deliver_link(md2, fx->md, &e[0], "../x", 0, &err), -1);
	assert_int_equal(maildir_commit(md2, &err), 0);
	pa = sub(fx, "new/lk");
	pb = xasprintf("%s/cur/lk2:2,S", path2);
	assert_int_equal(stat(pa, &a), 0);
	assert_int_equal(stat(pb, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	assert_int_equal(a.st_nlink, 2);
	maildir_entries_free(e, n);
	maildir_free(&md2);
	free(path2);
	free(pa);
	free(pb);
}

static void test_clean_tmp(void **state)
{
	struct fixture *fx = *state;
	struct error err = {0};
	size_t removed = 99;

	put_file(fx, "tmp/leftover", "x");
	put_file(fx, "tmp/.hidden", "x");
	deliver(fx->md, "queued", "y", 0);
	/* fresh files are kept */
	assert_int_equal(maildir_clean_tmp(fx->md, 36 * 3600, &removed, &err), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(count_dir(fx, "tmp"), 3);
	/* a limit in the future takes every old file, never a queued one */
	assert_int_equal(maildir_clean_tmp(fx->md, -10, &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_false(exists(fx, "tmp/leftover"));
	assert_true(exists(fx, "tmp/queued"));
	commit(fx->md);
	assert_true(exists(fx, "new/queued"));
}

static void test_scan_folder_removed(void **state)
{
	struct fixture *fx = *state;
	struct maildir_entry *e = NULL;
	struct error err = {0};
	char *moved = xasprintf("%s/Moved", fx->root);
	size_t n = 0;

	deliver(fx->md, "x", "x", 0);
	commit(fx->md);
	assert_int_equal(rename(fx->path, moved), 0);
	assert_int_equal(maildir_scan(fx->md, &e, &n, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "moved or removed"));
	assert_int_equal(err.scope, ERR_FOLDER);
	free(moved);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_create_modes),
	    T(test_open_missing),
	    T(test_symlink_refused),
	    T(test_symlink_planted_after_open),
	    T(test_deliver_crlf_chunks),
	    T(test_deliver_every_split),
	    T(test_deliver_large),
	    T(test_placement),
	    T(test_mtime_and_mode),
	    T(test_scan_ignores),
	    T(test_root_guard),
	    T(test_scan_dedup),
	    T(test_scan_keys),
	    T(test_set_flags),
	    T(test_set_flags_no_replace),
	    T(test_remove),
	    T(test_read_crlf_round_trip),
	    T(test_read_crlf_mixed),
	    T(test_abort),
	    T(test_free_cleans_pending),
	    T(test_begin_errors),
	    T(test_commit_no_replace),
	    T(test_unique_new),
	    T(test_stamp),
	    T(test_deliver_link),
	    T(test_clean_tmp),
	    T(test_scan_folder_removed),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
