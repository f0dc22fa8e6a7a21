/* Internals shared by maildir.c and maildir_delivery.c. */
#ifndef GMAILDIR_STORE_MAILDIR_P_H
#define GMAILDIR_STORE_MAILDIR_P_H

#include <stdbool.h>
#include <stddef.h>

#include "store/maildir.h"
#include "util/error.h"

/* A finished delivery: tmp/<unique> waits for maildir_commit. */
struct maildir_pending {
	char *unique; /* owned */
	unsigned flags;
};

/* The directory fds are opened once with O_NOFOLLOW, and every later file
 * operation is relative to them (openat, renameat2, unlinkat), so that a
 * symlink planted in place of cur/, new/ or tmp/ after open is never
 * followed. */
struct maildir {
	char *path; /* owned */
	int root_fd;
	int cur_fd;
	int new_fd;
	int tmp_fd;
	struct maildir_pending *pending; /* owned */
	size_t n_pending;
	size_t cap_pending;
	maildir_touch_fn *touch; /* announced before each change in new/ cur/ */
	void *touch_ctx;
	bool new_dirty, cur_dirty; /* renamed or removed in, not fsynced yet */
	char **skipped;		   /* owned: of the last scan (maildir_skipped) */
	size_t n_skipped;
};

/* Calls the touch hook, if any, with md->path + "/" + sub + "/" + name. */
void maildir_touch(const struct maildir *md, const char *sub, const char *name);

/* Sets err to "<formatted>: strerror(errnum)" with a retry class chosen by
 * errnum (a full disk or an I/O error is worth retrying later, a permission
 * error is not). Always returns -1. */
int maildir_sys_error(struct error *err, enum error_scope scope, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Renames from (relative to from_fd) to to (relative to to_fd) without ever
 * replacing an existing file: renameat2(RENAME_NOREPLACE), or link + unlink
 * on file systems without it. -1 with errno set (EEXIST: to exists). */
int maildir_move_noreplace(int from_fd, const char *from, int to_fd, const char *to);

/* Appends a finished tmp/<unique> to the commit queue; takes unique. */
void maildir_queue_pending(struct maildir *md, char *unique, unsigned flags);

#endif
