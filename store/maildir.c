#include "store/maildir.h"
#include "util/crashpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildir_name.h"
#include "store/maildir_p.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* How often a scan is repeated when new/ or cur/ changed while it ran. */
#define SCAN_ATTEMPTS 3

static enum error_retry retry_for(int errnum)
{
	switch (errnum) {
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case EAGAIN:
	case EINTR:
	case EBUSY:
	case ETIMEDOUT:
		return RETRY_BACKOFF;
	default:
		return RETRY_NEVER;
	}
}

int maildir_sys_error(struct error *err, enum error_scope scope, int errnum, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	error_set(err, scope, retry_for(errnum), "%s: %s", what, strerror(errnum));
	return -1;
}

int maildir_move_noreplace(int from_fd, const char *from, int to_fd, const char *to)
{
	if (renameat2(from_fd, from, to_fd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* No RENAME_NOREPLACE here (some network file systems): the classic
	 * Maildir way, link() refuses an existing target. */
	if (linkat(from_fd, from, to_fd, to, 0) < 0)
		return -1;
	return unlinkat(from_fd, from, 0);
}

/* Opens one of cur/ new/ tmp/, creating it first when asked. O_NOFOLLOW
 * makes a symlink fail with ELOOP or ENOTDIR: refused, never followed. */
static int open_sub(struct maildir *md, const char *name, bool create, int *fd_r, struct error *err)
{
	int fd;

	if (create && mkdirat(md->root_fd, name, 0700) < 0 && errno != EEXIST)
		return maildir_sys_error(err, ERR_FOLDER, errno, "mkdir(%s/%s)", md->path, name);
	fd = openat(md->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
		error_set(err, ERR_FOLDER, RETRY_NEVER,
			  "%s/%s: not a directory (symlinks are refused)", md->path, name);
		return -1;
	}
	if (fd < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "open(%s/%s)", md->path, name);
	*fd_r = fd;
	return 0;
}

/* The root itself may be a symlink (a Maildir tree on another disk is
 * common); only its cur/ new/ tmp/ must be real directories. */
int maildir_open(const char *path, bool create, struct maildir **md_r, struct error *err)
{
	struct maildir *md = xcalloc(1, sizeof(*md));
	int ret = -1;

	*md_r = NULL;
	md->path = xstrdup(path);
	md->root_fd = md->cur_fd = md->new_fd = md->tmp_fd = -1;
	if (create && fs_mkdir_p(path, 0700, err) < 0)
		goto out;
	md->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->root_fd < 0) {
		maildir_sys_error(err, ERR_FOLDER, errno, "open(%s)", path);
		goto out;
	}
	if (open_sub(md, "cur", create, &md->cur_fd, err) < 0 ||
	    open_sub(md, "new", create, &md->new_fd, err) < 0 ||
	    open_sub(md, "tmp", create, &md->tmp_fd, err) < 0)
		goto out;
	*md_r = md;
	md = NULL;
	ret = 0;
out:
	maildir_free(&md);
	return ret;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void maildir_free(struct maildir **mdp)
{
	struct maildir *md = mdp ? *mdp : NULL;

	if (!md)
		return;
	for (size_t i = 0; i < md->n_pending; i++) {
		if (md->tmp_fd >= 0)
			unlinkat(md->tmp_fd, md->pending[i].unique, 0);
		free(md->pending[i].unique);
	}
	free(md->pending);
	maildir_tree_free(md->skipped, md->n_skipped);
	close_fd(&md->cur_fd);
	close_fd(&md->new_fd);
	close_fd(&md->tmp_fd);
	close_fd(&md->root_fd);
	free(md->path);
	free(md);
	*mdp = NULL;
}

const char *maildir_path(const struct maildir *md)
{
	return md->path;
}

/* The host name with '/' and ':' escaped as the Maildir spec asks, so that
 * the unique stays one valid file name without an info separator. */
static void host_part(char *out, size_t size)
{
	char host[65] = "localhost";
	size_t n = 0;

	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *h = host; *h && n + 5 < size; h++) {
		if (*h == '/' || *h == ':')
			n += (size_t)snprintf(out + n, size - n, "\\%03o", (unsigned char)*h);
		else
			out[n++] = *h;
	}
	out[n] = '\0';
}

/* Time and pid make names unique between processes, the counter within one
 * process (threads included), and the random part guards against a pid
 * reused within the same microsecond after a crash or a clock step. */
char *maildir_unique_new(void)
{
	static atomic_ulong counter;
	unsigned long long rnd = 0;
	struct timespec ts;
	char host[256];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd ^= (unsigned long long)ts.tv_nsec * 0x9e3779b97f4a7c15ULL;
	host_part(host, sizeof(host));
	return xasprintf("%lld.M%ldP%ldQ%luR%016llx.%s", (long long)ts.tv_sec, ts.tv_nsec / 1000,
			 (long)getpid(), atomic_fetch_add(&counter, 1) + 1, rnd, host);
}

struct scan {
	struct maildir_entry *entries;
	size_t n;
	size_t cap;
	char **skipped; /* "new/<name>", "cur/<name>" */
	size_t n_skipped;
	size_t cap_skipped;
	/* maildir_scan_keys: only these uniques (sorted) are kept, and
	 * nothing is counted as skipped. NULL: every file. */
	char *const *only;
	size_t n_only;
};

static void scan_skip(struct scan *sc, const char *sub, const char *name)
{
	sc->skipped = xgrow(sc->skipped, &sc->cap_skipped, sc->n_skipped + 1, sizeof(char *));
	sc->skipped[sc->n_skipped++] = xasprintf("%s/%s", sub, name);
}

/* Drops what a scan found; its filter (sc->only) stays for the next. */
static void scan_clear(struct scan *sc)
{
	maildir_entries_free(sc->entries, sc->n);
	maildir_tree_free(sc->skipped, sc->n_skipped);
	sc->entries = NULL;
	sc->n = sc->cap = 0;
	sc->skipped = NULL;
	sc->n_skipped = sc->cap_skipped = 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_add(struct scan *sc, const struct maildir_name *nm, const char *filename,
		     bool in_new)
{
	struct maildir_entry *e;

	sc->entries = xgrow(sc->entries, &sc->cap, sc->n + 1, sizeof(*sc->entries));
	e = &sc->entries[sc->n++];
	e->unique = xstrndup(nm->unique, nm->unique_len);
	e->filename = xstrdup(filename);
	e->flags = nm->flags;
	e->unknown = xstrdup(nm->unknown);
	e->in_new = in_new;
}

/* Whether the scan keeps a file of this unique: all of them, or those in
 * sc->only (bsearch on a name that is not NUL-terminated). */
static bool wanted(const struct scan *sc, const struct maildir_name *nm)
{
	size_t lo = 0, hi = sc->n_only;

	if (!sc->only)
		return true;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = sc->only[mid];
		int c = strncmp(nm->unique, k, nm->unique_len);

		if (c == 0 && k[nm->unique_len] != '\0')
			c = -1; /* k is longer: the unique sorts before it */
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

/* One readdir of a directory, without a stat per file: d_type is enough
 * to skip subdirectories and symlinks (never read through: a planted link
 * must not get some other file uploaded), and the flags are in the names.
 * Dot files are hidden by convention and not counted as skipped. */
static int scan_dir(struct maildir *md, int dir_fd, bool in_new, struct scan *sc, struct error *err)
{
	const char *sub = in_new ? "new" : "cur";
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct maildir_name nm;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "open(%s/%s)", md->path, sub);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return maildir_sys_error(err, ERR_FOLDER, errno, "opendir(%s/%s)", md->path, sub);
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_LNK ||
		    maildir_name_parse(de->d_name, &nm) < 0) {
			if (!sc->only)
				scan_skip(sc, sub, de->d_name);
		} else if (wanted(sc, &nm)) {
			scan_add(sc, &nm, de->d_name, in_new);
		}
	}
	if (errno) {
		int e = errno;

		closedir(d);
		return maildir_sys_error(err, ERR_FOLDER, e, "readdir(%s/%s)", md->path, sub);
	}
	closedir(d);
	return 0;
}

/* Orders by unique, then cur/ before new/, then file name. */
static int entry_cmp(const void *a, const void *b)
{
	const struct maildir_entry *x = a, *y = b;
	int c = strcmp(x->unique, y->unique);

	if (c)
		return c;
	if (x->in_new != y->in_new)
		return x->in_new ? 1 : -1;
	return strcmp(x->filename, y->filename);
}

static void entry_free(struct maildir_entry *e)
{
	free(e->unique);
	free(e->filename);
	free(e->unknown);
}

/* A file renamed by a MUA during the scan may be seen twice (new/x and
 * cur/x:2,S, or two names in cur/). One entry per key is kept, the one in
 * cur/ (the later state); the other name is only hidden, never touched. */
static void scan_dedup(struct scan *sc)
{
	size_t out = 0;

	if (sc->n == 0)
		return;
	xqsort(sc->entries, sc->n, sizeof(*sc->entries), entry_cmp);
	for (size_t i = 1; i < sc->n; i++) {
		if (strcmp(sc->entries[i].unique, sc->entries[out].unique) == 0)
			entry_free(&sc->entries[i]);
		else
			sc->entries[++out] = sc->entries[i];
	}
	sc->n = out + 1;
}

/* The fds follow the directories even when the folder is moved or removed
 * while open; a scan of such orphans would report an empty folder. Compare
 * them with what the path names now. */
static int check_identity(struct maildir *md, int fd, const char *sub, struct error *err)
{
	struct stat a, b;
	char *p = xasprintf("%s/%s", md->path, sub);
	bool gone;
	int ret = -1;

	if (fstat(fd, &a) < 0) {
		maildir_sys_error(err, ERR_FOLDER, errno, "fstat(%s)", p);
		goto out;
	}
	gone = fstatat(AT_FDCWD, p, &b, AT_SYMLINK_NOFOLLOW) < 0;
	if (gone && errno != ENOENT && errno != ENOTDIR) {
		maildir_sys_error(err, ERR_FOLDER, errno, "stat(%s)", p);
		goto out;
	}
	if (gone || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		error_set(err, ERR_FOLDER, RETRY_NOW, "%s: folder was moved or removed while open",
			  p);
		goto out;
	}
	ret = 0;
out:
	free(p);
	return ret;
}

static int scan_once(struct maildir *md, struct scan *sc, struct error *err)
{
	/* new/ before cur/: a file moved new/ -> cur/ between the two reads is
	 * then seen at least once, never missed. */
	if (scan_dir(md, md->new_fd, true, sc, err) < 0 ||
	    scan_dir(md, md->cur_fd, false, sc, err) < 0)
		return -1;
	scan_dedup(sc);
	return 0;
}

/* The scan proper, read again when the directories changed meanwhile. */
static int scan_stable(struct maildir *md, struct scan *sc, struct error *err)
{
	uint64_t before, after;

	if (check_identity(md, md->new_fd, "new", err) < 0 ||
	    check_identity(md, md->cur_fd, "cur", err) < 0)
		return -1;
	for (int attempt = 0; attempt < SCAN_ATTEMPTS; attempt++) {
		scan_clear(sc);
		if (maildir_stamp(md, &before, err) < 0 || scan_once(md, sc, err) < 0 ||
		    maildir_stamp(md, &after, err) < 0)
			return -1;
		/* readdir may miss a file renamed while it runs: read again
		 * when the directories changed meanwhile. */
		if (before == after)
			break;
	}
	return 0;
}

int maildir_scan_keys(struct maildir *md, char *const *keys, size_t n_keys,
		      struct maildir_entry **entries_r, size_t *n_r, struct error *err)
{
	struct scan sc = {.only = keys, .n_only = n_keys};
	int ret = -1;

	if (scan_stable(md, &sc, err) < 0)
		goto out;
	*entries_r = sc.entries;
	*n_r = sc.n;
	sc.entries = NULL;
	sc.n = 0;
	ret = 0;
out:
	scan_clear(&sc);
	return ret;
}

int maildir_scan(struct maildir *md, struct maildir_entry **entries_r, size_t *n_r,
		 size_t *skipped_r, struct error *err)
{
	struct scan sc = {0};
	int ret = -1;

	if (scan_stable(md, &sc, err) < 0)
		goto out;
	*entries_r = sc.entries;
	*n_r = sc.n;
	if (skipped_r)
		*skipped_r = sc.n_skipped;
	xqsort(sc.skipped, sc.n_skipped, sizeof(*sc.skipped), cmp_name);
	maildir_tree_free(md->skipped, md->n_skipped);
	md->skipped = sc.skipped;
	md->n_skipped = sc.n_skipped;
	sc.entries = NULL;
	sc.n = 0;
	sc.skipped = NULL;
	sc.n_skipped = 0;
	ret = 0;
out:
	scan_clear(&sc);
	return ret;
}

void maildir_skipped(const struct maildir *md, char *const **names_r, size_t *n_r)
{
	*names_r = md->skipped;
	*n_r = md->n_skipped;
}

void maildir_entries_free(struct maildir_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entry_free(&entries[i]);
	free(entries);
}

static uint64_t fnv_mix(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t ts_ns(struct timespec ts)
{
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int maildir_stamp(struct maildir *md, uint64_t *stamp_r, struct error *err)
{
	struct stat sn, sc;
	uint64_t h = 0xcbf29ce484222325ULL;

	if (fstat(md->new_fd, &sn) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "fstat(%s/new)", md->path);
	if (fstat(md->cur_fd, &sc) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "fstat(%s/cur)", md->path);
	h = fnv_mix(h, ts_ns(sn.st_mtim));
	h = fnv_mix(h, ts_ns(sn.st_ctim));
	h = fnv_mix(h, ts_ns(sc.st_mtim));
	h = fnv_mix(h, ts_ns(sc.st_ctim));
	h = fnv_mix(h, (uint64_t)sn.st_ino);
	h = fnv_mix(h, (uint64_t)sc.st_ino);
	/* 0 means "never stamped" in the state DB. */
	*stamp_r = h ? h : 1;
	return 0;
}

static bool recently(struct timespec ts, time_t now)
{
	return ts.tv_sec + 2 >= now;
}

int maildir_settled_stamp(struct maildir *md, uint64_t *stamp_r, struct error *err)
{
	struct stat sn, sc;
	time_t now = time(NULL);

	if (maildir_stamp(md, stamp_r, err) < 0)
		return -1;
	if (fstat(md->new_fd, &sn) < 0 || fstat(md->cur_fd, &sc) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "fstat(%s)", md->path);
	if (recently(sn.st_mtim, now) || recently(sn.st_ctim, now) || recently(sc.st_mtim, now) ||
	    recently(sc.st_ctim, now))
		*stamp_r = 0;
	return 0;
}

static int entry_dir_fd(const struct maildir *md, const struct maildir_entry *entry)
{
	return entry->in_new ? md->new_fd : md->cur_fd;
}

int maildir_set_flags(struct maildir *md, struct maildir_entry *entry, unsigned flags,
		      struct error *err)
{
	char *name = maildir_name_format(entry->unique, strlen(entry->unique), flags & MF_ALL,
					 entry->unknown);
	int ret = -1;

	if (entry->in_new || strcmp(name, entry->filename) != 0) {
		/* NOREPLACE: a file already carrying the target name (a copy
		 * made by someone else) is never overwritten. */
		maildir_touch(md, entry->in_new ? "new" : "cur", entry->filename);
		maildir_touch(md, "cur", name);
		md->new_dirty |= entry->in_new;
		md->cur_dirty = true;
		if (maildir_move_noreplace(entry_dir_fd(md, entry), entry->filename, md->cur_fd,
					   name) < 0) {
			maildir_sys_error(err, ERR_MESSAGE, errno, "rename(%s/%s/%s, cur/%s)",
					  md->path, entry->in_new ? "new" : "cur", entry->filename,
					  name);
			goto out;
		}
	}
	free(entry->filename);
	entry->filename = name;
	name = NULL;
	entry->flags = flags & MF_ALL;
	entry->in_new = false;
	crashpoint("flag rename");
	ret = 0;
out:
	free(name);
	return ret;
}

int maildir_remove(struct maildir *md, const struct maildir_entry *entry, struct error *err)
{
	maildir_touch(md, entry->in_new ? "new" : "cur", entry->filename);
	md->new_dirty |= entry->in_new;
	md->cur_dirty |= !entry->in_new;
	if (unlinkat(entry_dir_fd(md, entry), entry->filename, 0) < 0 && errno != ENOENT)
		return maildir_sys_error(err, ERR_MESSAGE, errno, "unlink(%s/%s/%s)", md->path,
					 entry->in_new ? "new" : "cur", entry->filename);
	crashpoint("file removed");
	return 0;
}

int maildir_sync(struct maildir *md, struct error *err)
{
	if (md->new_dirty && fsync(md->new_fd) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "fsync(%s/new)", md->path);
	md->new_dirty = false;
	if (md->cur_dirty && fsync(md->cur_fd) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "fsync(%s/cur)", md->path);
	md->cur_dirty = false;
	return 0;
}

/* Reads fd to its end; size is a hint (the file may change meanwhile). */
static int read_all(int fd, size_t size, char **data_r, size_t *len_r)
{
	size_t cap = size + 1, len = 0;
	char *data = xmalloc(cap);

	for (;;) {
		ssize_t n;

		if (len == cap)
			data = xgrow(data, &cap, cap + 1, 1);
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(data);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*data_r = data;
	*len_r = len;
	return 0;
}

/* LF without a CR before it becomes CRLF; CRLF and bare CR stay as they
 * are. The result is NUL-terminated for convenience (not counted). */
static char *lf_to_crlf(const char *in, size_t len, size_t *len_r)
{
	size_t extra = 0, n = 0;
	char *out;

	for (size_t i = 0; i < len; i++)
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			extra++;
	out = xmalloc(len + extra + 1);
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = in[i];
	}
	out[n] = '\0';
	*len_r = n;
	return out;
}

int maildir_read_crlf(struct maildir *md, const struct maildir_entry *entry, char **data_r,
		      size_t *len_r, time_t *mtime_r, struct error *err)
{
	const char *sub = entry->in_new ? "new" : "cur";
	int fd =
	    openat(entry_dir_fd(md, entry), entry->filename, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char *raw = NULL;
	size_t raw_len;
	struct stat st;
	int ret = -1;

	if (fd < 0)
		return maildir_sys_error(err, ERR_MESSAGE, errno, "open(%s/%s/%s)", md->path, sub,
					 entry->filename);
	if (fstat(fd, &st) < 0 || read_all(fd, (size_t)st.st_size, &raw, &raw_len) < 0) {
		maildir_sys_error(err, ERR_MESSAGE, errno, "read(%s/%s/%s)", md->path, sub,
				  entry->filename);
		goto out;
	}
	*data_r = lf_to_crlf(raw, raw_len, len_r);
	if (mtime_r)
		*mtime_r = st.st_mtime;
	ret = 0;
out:
	free(raw);
	close(fd);
	return ret;
}

void maildir_set_touch(struct maildir *md, maildir_touch_fn *fn, void *ctx)
{
	md->touch = fn;
	md->touch_ctx = ctx;
}

void maildir_touch(const struct maildir *md, const char *sub, const char *name)
{
	char *path;

	if (!md->touch)
		return;
	path = xasprintf("%s/%s/%s", md->path, sub, name);
	md->touch(path, md->touch_ctx);
	free(path);
}
