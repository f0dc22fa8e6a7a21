/* Lock files: see store/lockfile.h. */
#include "store/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

long lockfile_pid(int fd)
{
	char buf[32] = {0};

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	return strtol(buf, NULL, 10);
}

/* With LOCKFILE_KEEP_STAMP the Maildir root's lock keeps its size and
 * mtime: a sync that changed nothing leaves every file below the root as
 * it was (backup tools compare size and mtime, and so do our tests of an
 * idle sync). */
static int write_pid(int fd, unsigned flags)
{
	char buf[32];
	int n;
	struct stat sb;
	bool had_times;

	if (!(flags & LOCKFILE_KEEP_STAMP)) {
		n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
			return -1;
		return 0;
	}
	n = snprintf(buf, sizeof(buf), "%10ld\n", (long)getpid());
	had_times = fstat(fd, &sb) == 0 && sb.st_size == n;
	if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) < 0)
		return -1;
	if (had_times) {
		struct timespec times[2] = {sb.st_atim, sb.st_mtim};

		if (futimens(fd, times) < 0)
			return -1;
	}
	return 0;
}

int lockfile_take(const char *path, unsigned flags, lockfile_busy_fn *busy, const char *who,
		  int *fd_r, struct error *err)
{
	bool create = flags & LOCKFILE_CREATE;
	int fd, ret = -1;

	*fd_r = -1;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	if (fd < 0 && !create && (errno == ENOENT || errno == ENOTDIR)) {
		ret = 0; /* nothing to lock, and nothing may be created */
		goto out;
	}
	if (fd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open(%s): %s", path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			busy(fd, who, err);
		else
			error_set(err, ERR_ACCOUNT, RETRY_NEVER, "flock(%s): %s", path,
				  strerror(errno));
		goto out;
	}
	if (create && write_pid(fd, flags) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "write(%s): %s", path, strerror(errno));
		goto out;
	}
	*fd_r = fd;
	fd = -1;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}
