/* The lock files shared by the state directory's lock and the Maildir
 * root's: an exclusive flock on a file that holds the holder's pid, for
 * the "is being synced by pid N" message only.
 *
 * flock, not fcntl locks: an fcntl lock would be dropped when any other fd
 * of this process on the same file is closed. The lock dies with the
 * process, so a crash never leaves a stale lock; the file is never
 * removed, which would let two processes lock two different files. */
#ifndef GMAILDIR_STORE_LOCKFILE_H
#define GMAILDIR_STORE_LOCKFILE_H

#include "util/error.h"

enum lockfile_flags {
	/* Create the file when missing and write our pid into it. Without
	 * it a missing file is no error, and an existing one is locked but
	 * left unchanged (a dry run). */
	LOCKFILE_CREATE = 1 << 0,
	/* Write the pid at a fixed width and put the file's times back, so
	 * that the file keeps its size and mtime from one holder to the next. */
	LOCKFILE_KEEP_STAMP = 1 << 1,
};

/* Sets err when the lock on fd is held by another process; who names
 * what is locked, for the message. */
typedef void lockfile_busy_fn(int fd, const char *who, struct error *err);

/* Takes an exclusive, non-blocking flock on path. Returns 0 with the
 * locked fd in *fd_r (the caller's to close), or 0 with *fd_r -1 when the
 * file is missing and LOCKFILE_CREATE is not set; -1 with err set by busy
 * when another process holds it, or with the failing call in err. */
int lockfile_take(const char *path, unsigned flags, lockfile_busy_fn *busy, const char *who,
		  int *fd_r, struct error *err);

/* The pid the holder wrote into fd, or 0 when there is none (yet): the
 * holder writes it only after taking the lock. */
long lockfile_pid(int fd);

#endif
