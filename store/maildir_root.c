/* The two guard files of an account's Maildir root: a lock, so that two
 * gmaildir processes with different state directories never sync the same
 * Maildir at once, and an identity, so that a state only ever syncs the
 * Maildir it was built with.
 *
 * Both are regular dot files in the root. Every Maildir reader takes only
 * directories holding cur/ (and new/) for folders, and scans for messages
 * only inside cur/ and new/; the leading dot also keeps them out of tools
 * that read every file below a directory (indexers, mail readers' folder
 * browsers). Our own tree walk never enters a dot entry either. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "store/lockfile.h"
#include "store/maildir.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define ID_HEX 32

struct maildir_root_lock {
	int fd;
};

static void busy_error(int fd, const char *root, struct error *err)
{
	long pid = lockfile_pid(fd);

	if (pid > 0)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "Maildir %s is being synced by pid %ld (another gmaildir config or "
			  "account uses it)",
			  root, pid);
	else
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "Maildir %s is being synced by another process (another gmaildir config "
			  "or account uses it)",
			  root);
}

/* The pid is there for the busy message only; the file keeps its size and
 * mtime (LOCKFILE_KEEP_STAMP). Without create (a dry run) the file is
 * locked but left unchanged. */
int maildir_root_lock(const char *root, bool create, struct maildir_root_lock **lock_r,
		      struct error *err)
{
	char *path = fs_join(root, MAILDIR_ROOT_LOCK);
	unsigned flags = LOCKFILE_KEEP_STAMP | (create ? LOCKFILE_CREATE : 0);
	int fd = -1, ret = -1;

	*lock_r = NULL;
	if (create && fs_mkdir_p(root, 0700, err) < 0)
		goto out;
	if (lockfile_take(path, flags, busy_error, root, &fd, err) < 0)
		goto out;
	if (fd >= 0) {
		*lock_r = xmalloc(sizeof(**lock_r));
		(*lock_r)->fd = fd;
	}
	ret = 0;
out:
	free(path);
	return ret;
}

void maildir_root_unlock(struct maildir_root_lock **lockp)
{
	struct maildir_root_lock *lock = lockp ? *lockp : NULL;

	if (!lock)
		return;
	close(lock->fd);
	free(lock);
	*lockp = NULL;
}

static bool id_valid(const char *id)
{
	size_t n = strspn(id, "0123456789abcdef");

	return n == ID_HEX && id[n] == '\0';
}

/* The file is "<id>\n<owner>\n": the owner is what follows the first
 * line, one trailing newline dropped (a path may hold anything else). */
int maildir_root_id_get(const char *root, char **id_r, char **owner_r, struct error *err)
{
	char *path = fs_join(root, MAILDIR_ROOT_ID);
	char buf[ID_HEX + 4200] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret = -1;
	char *owner;
	ssize_t n;

	*id_r = NULL;
	*owner_r = NULL;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			ret = 0;
		else
			error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open(%s): %s", path,
				  strerror(errno));
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "read(%s): %s", path, strerror(errno));
		goto out;
	}
	owner = buf + strcspn(buf, "\n");
	if (*owner)
		*owner++ = '\0';
	if (*owner && owner[strlen(owner) - 1] == '\n')
		owner[strlen(owner) - 1] = '\0';
	if (!id_valid(buf)) {
		error_set(err, ERR_SAFETY, RETRY_NEVER,
			  "%s does not hold a gmaildir Maildir identity; nothing was changed "
			  "(remove it if nothing else wrote it)",
			  path);
		goto out;
	}
	*id_r = xstrdup(buf);
	*owner_r = *owner ? xstrdup(owner) : NULL;
	ret = 1;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

/* tmp + fsync + rename + directory fsync: the identity is either there
 * whole or not at all, also after a power cut. */
int maildir_root_id_put(const char *root, const char *id, const char *owner, struct error *err)
{
	char *path = fs_join(root, MAILDIR_ROOT_ID);
	char *tmp = xasprintf("%s.tmp%ld", path, (long)getpid());
	char *line = xasprintf("%s\n%s\n", id, owner);
	int fd = -1, ret = -1;

	if (fs_mkdir_p(root, 0700, err) < 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fs_write_all(fd, line, strlen(line)) < 0 || fsync(fd) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "write(%s): %s", tmp, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "rename(%s, %s): %s", tmp, path,
			  strerror(errno));
		goto out;
	}
	ret = fs_fsync_dir(root, err);
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	free(tmp);
	free(line);
	free(path);
	return ret;
}

char *maildir_root_id_new(void)
{
	unsigned char rnd[ID_HEX / 2];
	char *id = xmalloc(ID_HEX + 1);
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0 && errno != EINTR)
			abort(); /* the kernel always has randomness for this */
		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	return id;
}
