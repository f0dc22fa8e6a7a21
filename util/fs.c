#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xalloc.h"

int fs_mkdir_p(const char *path, mode_t mode, struct error *err)
{
	char *p = xstrdup(path);
	int ret = -1;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			error_set(err, ERR_FOLDER, RETRY_NEVER, "mkdir(%s): %s", p,
				  strerror(errno));
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "mkdir(%s): %s", p, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(p);
	return ret;
}

int fs_fsync_dir(const char *path, struct error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = -1;

	if (fd < 0) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "open(%s): %s", path, strerror(errno));
		return -1;
	}
	if (fsync(fd) < 0) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "fsync(%s): %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

int fs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

char *fs_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la > 0 && a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

const char *fs_home_dir(void)
{
	const char *home = getenv("HOME");
	const struct passwd *pw;

	if (home && home[0] != '\0')
		return home;
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir && pw->pw_dir[0] != '\0')
		return pw->pw_dir;
	return "/";
}

char *fs_expand_home(const char *path)
{
	const char *home = getenv("HOME");

	if (path[0] != '~' || (path[1] != '\0' && path[1] != '/') || !home)
		return xstrdup(path);
	return xasprintf("%s%s", home, path + 1);
}
