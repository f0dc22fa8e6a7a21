/* Crash-safe delivery into a Maildir: tmp/ file, batched durability,
 * rename into new/ or cur/ (see the protocol in maildir.h). */
#include "store/maildir.h"
#include "util/crashpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildir_name.h"
#include "store/maildir_p.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define DELIVERY_BUF (64 * 1024)

struct maildir_delivery {
	struct maildir *md; /* borrowed */
	char *unique;	    /* owned */
	int fd;		    /* tmp/<unique>, -1 once closed */
	bool cr_held;	    /* the last input byte was a CR not yet written */
	size_t used;
	char buf[DELIVERY_BUF];
};

int maildir_delivery_begin(struct maildir *md, const char *unique, struct maildir_delivery **d_r,
			   struct error *err)
{
	struct maildir_delivery *d;
	int fd;

	*d_r = NULL;
	if (!maildir_unique_valid(unique, strlen(unique))) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER, "%s: invalid Maildir unique name \"%s\"",
			  md->path, unique);
		return -1;
	}
	/* O_EXCL: never reuse or follow anything already named so in tmp/. */
	fd = openat(md->tmp_fd, unique, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "open(%s/tmp/%s)", md->path,
					 unique);
	d = xmalloc(sizeof(*d));
	d->md = md;
	d->unique = xstrdup(unique);
	d->fd = fd;
	d->cr_held = false;
	d->used = 0;
	*d_r = d;
	return 0;
}

static int flush(struct maildir_delivery *d, struct error *err)
{
	if (d->used > 0 && fs_write_all(d->fd, d->buf, d->used) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "write(%s/tmp/%s)", d->md->path,
					 d->unique);
	d->used = 0;
	return 0;
}

static int put(struct maildir_delivery *d, const char *p, size_t len, struct error *err)
{
	while (len > 0) {
		size_t n = DELIVERY_BUF - d->used;

		if (n == 0) {
			if (flush(d, err) < 0)
				return -1;
			continue;
		}
		if (n > len)
			n = len;
		memcpy(d->buf + d->used, p, n);
		d->used += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* A CR is held back until the next byte is known, which may arrive in the
 * next call: CR LF is written as LF, CR anything-else as CR and that byte. */
int maildir_delivery_write(struct maildir_delivery *d, const void *buf, size_t len,
			   struct error *err)
{
	const char *p = buf, *end = p + len;

	while (p < end) {
		const char *cr;

		if (d->cr_held) {
			d->cr_held = false;
			if (*p != '\n' && put(d, "\r", 1, err) < 0)
				return -1;
		}
		cr = memchr(p, '\r', (size_t)(end - p));
		if (put(d, p, (size_t)((cr ? cr : end) - p), err) < 0)
			return -1;
		if (!cr)
			break;
		d->cr_held = true;
		p = cr + 1;
	}
	return 0;
}

/* The data is complete before the mtime is set: a later write would move
 * it again. The access time is left alone. */
static int set_mtime(struct maildir_delivery *d, time_t mtime, struct error *err)
{
	struct timespec times[2] = {{0, UTIME_OMIT}, {mtime, 0}};

	if (futimens(d->fd, times) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "futimens(%s/tmp/%s)", d->md->path,
					 d->unique);
	return 0;
}

static void delivery_free(struct maildir_delivery *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d->unique);
	free(d);
}

void maildir_delivery_abort(struct maildir_delivery **dp)
{
	struct maildir_delivery *d = dp ? *dp : NULL;

	if (!d)
		return;
	unlinkat(d->md->tmp_fd, d->unique, 0);
	delivery_free(d);
	*dp = NULL;
}

void maildir_queue_pending(struct maildir *md, char *unique, unsigned flags)
{
	md->pending = xgrow(md->pending, &md->cap_pending, md->n_pending + 1, sizeof(*md->pending));
	md->pending[md->n_pending].unique = unique;
	md->pending[md->n_pending].flags = flags & MF_ALL;
	md->n_pending++;
}

int maildir_delivery_finish(struct maildir_delivery **dp, unsigned flags, time_t mtime,
			    struct error *err)
{
	struct maildir_delivery *d = *dp;
	int ret = -1, fd;

	*dp = NULL;
	if (d->cr_held && put(d, "\r", 1, err) < 0)
		goto out;
	d->cr_held = false;
	if (flush(d, err) < 0 || (mtime > 0 && set_mtime(d, mtime, err) < 0))
		goto out;
	fd = d->fd;
	d->fd = -1;
	/* close() can report a late write error (NFS, quota). */
	if (close(fd) < 0) {
		maildir_sys_error(err, ERR_FOLDER, errno, "close(%s/tmp/%s)", d->md->path,
				  d->unique);
		goto out;
	}
	maildir_queue_pending(d->md, d->unique, flags);
	d->unique = NULL;
	ret = 0;
out:
	if (ret < 0)
		maildir_delivery_abort(&d);
	else
		delivery_free(d);
	return ret;
}

size_t maildir_pending(const struct maildir *md)
{
	return md->n_pending;
}

/* The placement rule: only a message with no flag at all is "new" and goes
 * to new/ under its bare unique; any flag (not just \Seen) sends it to cur/
 * with ":2,<letters>", because new/ names carry no info and the flags would
 * otherwise be lost. */
static int commit_one(struct maildir *md, const struct maildir_pending *p, bool *to_new,
		      bool *to_cur, struct error *err)
{
	bool cur = p->flags != 0;
	int to_fd = cur ? md->cur_fd : md->new_fd;
	char *name = cur ? maildir_name_format(p->unique, strlen(p->unique), p->flags, "")
			 : xstrdup(p->unique);
	int ret = -1;

	maildir_touch(md, to_fd == md->new_fd ? "new" : "cur", name);
	if (maildir_move_noreplace(md->tmp_fd, p->unique, to_fd, name) < 0) {
		maildir_sys_error(err, ERR_FOLDER, errno, "rename(%s/tmp/%s, %s/%s)", md->path,
				  p->unique, cur ? "cur" : "new", name);
		goto out;
	}
	*(cur ? to_cur : to_new) = true;
	crashpoint("file renamed into new/cur");
	ret = 0;
out:
	free(name);
	return ret;
}

/* fsync of the directories that received files. */
static int sync_dirs(struct maildir *md, bool to_new, bool to_cur, struct error *err)
{
	if (to_new && fsync(md->new_fd) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "fsync(%s/new)", md->path);
	if (to_cur && fsync(md->cur_fd) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "fsync(%s/cur)", md->path);
	return 0;
}

/* The crash-safe order, for the whole batch:
 *   1. syncfs: every queued file's data and inode are on disk before any of
 *      them can appear under its final name. Otherwise a crash after a
 *      durable rename could leave an empty or truncated message in new/ or
 *      cur/, which the next sync would take for the message itself.
 *   2. renames tmp/ -> new/ or cur/, never replacing an existing file; each
 *      makes one message visible atomically.
 *   3. fsync of the directories that received files, so the renames are
 *      durable before the caller records the pairs in the state DB.
 * A crash before 2 leaves files in tmp/ only; between 2 and 3 a rename may
 * be lost, which only looks like a message not yet downloaded.
 * A failed rename does not stop the others: it stays queued (maildir_free
 * removes its tmp/ file), and err holds the first failure. */
int maildir_commit(struct maildir *md, struct error *err)
{
	bool to_new = false, to_cur = false, failed = false;
	size_t kept = 0;

	if (md->n_pending == 0)
		return 0;
	if (syncfs(md->tmp_fd) < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "syncfs(%s)", md->path);
	for (size_t i = 0; i < md->n_pending; i++) {
		struct maildir_pending p = md->pending[i];

		if (commit_one(md, &p, &to_new, &to_cur, failed ? NULL : err) < 0) {
			md->pending[kept++] = p;
			failed = true;
		} else {
			free(p.unique);
		}
	}
	md->n_pending = kept;
	if (sync_dirs(md, to_new, to_cur, failed ? NULL : err) < 0)
		failed = true;
	return failed ? -1 : 0;
}

int maildir_deliver_link(struct maildir *md, struct maildir *src, const struct maildir_entry *entry,
			 const char *unique, unsigned flags, struct error *err)
{
	int src_fd = entry->in_new ? src->new_fd : src->cur_fd;

	if (!maildir_unique_valid(unique, strlen(unique))) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER, "%s: invalid Maildir unique name \"%s\"",
			  md->path, unique);
		return -1;
	}
	if (linkat(src_fd, entry->filename, md->tmp_fd, unique, 0) < 0)
		return maildir_sys_error(err, ERR_MESSAGE, errno, "link(%s/%s/%s, %s/tmp/%s)",
					 src->path, entry->in_new ? "new" : "cur", entry->filename,
					 md->path, unique);
	maildir_queue_pending(md, xstrdup(unique), flags);
	return 0;
}

static bool is_pending(const struct maildir *md, const char *name)
{
	for (size_t i = 0; i < md->n_pending; i++)
		if (strcmp(md->pending[i].unique, name) == 0)
			return true;
	return false;
}

/* ctime, not mtime: a delivery sets the mtime to the message's date,
 * which may be years old, while the ctime is the time of our last write. */
static int clean_one(struct maildir *md, const char *name, time_t limit, size_t *removed)
{
	struct stat st;

	if (fstatat(md->tmp_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode) || st.st_ctime >= limit)
		return 0;
	if (unlinkat(md->tmp_fd, name, 0) < 0)
		return errno == ENOENT ? 0 : -1;
	(*removed)++;
	return 0;
}

int maildir_clean_tmp(struct maildir *md, time_t max_age, size_t *removed_r, struct error *err)
{
	int fd = openat(md->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	time_t limit = time(NULL) - max_age;
	size_t removed = 0;
	struct dirent *de;
	int ret = -1;
	DIR *d;

	if (fd < 0)
		return maildir_sys_error(err, ERR_FOLDER, errno, "open(%s/tmp)", md->path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return maildir_sys_error(err, ERR_FOLDER, errno, "opendir(%s/tmp)", md->path);
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (de->d_name[0] == '.' || is_pending(md, de->d_name))
			continue;
		if (clean_one(md, de->d_name, limit, &removed) < 0) {
			maildir_sys_error(err, ERR_FOLDER, errno, "remove(%s/tmp/%s)", md->path,
					  de->d_name);
			goto out;
		}
	}
	if (errno) {
		maildir_sys_error(err, ERR_FOLDER, errno, "readdir(%s/tmp)", md->path);
		goto out;
	}
	ret = 0;
out:
	if (removed_r)
		*removed_r = removed;
	closedir(d);
	return ret;
}

int maildir_tmp_remove(struct maildir *md, const char *unique, struct error *err)
{
	if (is_pending(md, unique))
		return 0;
	if (unlinkat(md->tmp_fd, unique, 0) < 0 && errno != ENOENT)
		return maildir_sys_error(err, ERR_FOLDER, errno, "unlink(%s/tmp/%s)", md->path,
					 unique);
	return 0;
}
