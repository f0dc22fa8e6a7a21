#include "util/dircheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(struct dircheck *r, enum dircheck_problem problem, const char *where, int e)
{
	r->problem = problem;
	r->sys_errno = e;
	snprintf(r->where, sizeof(r->where), "%s", where);
	return -1;
}

/* mode: what we need of where, as for access(2). */
static int check_access(struct dircheck *r, const char *where, int mode)
{
	if (faccessat(AT_FDCWD, where, mode, AT_EACCESS) == 0)
		return 0;
	if (errno == EROFS)
		return fail(r, DIRCHECK_READ_ONLY, where, errno);
	if (errno == EACCES || errno == EPERM)
		return fail(r, DIRCHECK_NO_ACCESS, where, errno);
	return fail(r, DIRCHECK_ERROR, where, errno);
}

/* The directory is missing: where it would be made, the nearest existing
 * ancestor, must be a directory we may add to. */
static int check_ancestor(const char *path, struct dircheck *r)
{
	char p[sizeof(r->where)];
	struct stat sb;
	char *slash;

	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		slash = strrchr(p, '/');
		if (!slash) {
			snprintf(p, sizeof(p), ".");
		} else if (slash == p) {
			p[1] = '\0';
		} else {
			*slash = '\0';
		}
		if (stat(p, &sb) == 0)
			break;
		if (errno != ENOENT && errno != ENOTDIR)
			return fail(r, errno == EACCES ? DIRCHECK_NO_ACCESS : DIRCHECK_ERROR, p,
				    errno);
		if (strcmp(p, "/") == 0 || strcmp(p, ".") == 0)
			return fail(r, DIRCHECK_ERROR, p, errno);
	}
	if (!S_ISDIR(sb.st_mode))
		return fail(r, DIRCHECK_PARENT_NOT_DIR, p, ENOTDIR);
	return check_access(r, p, W_OK | X_OK);
}

int dircheck_dir(const char *path, struct dircheck *r)
{
	struct stat sb;
	int e;

	memset(r, 0, sizeof(*r));
	if (stat(path, &sb) == 0) {
		r->exists = true;
		if (!S_ISDIR(sb.st_mode))
			return fail(r, DIRCHECK_NOT_DIR, path, ENOTDIR);
		return check_access(r, path, R_OK | W_OK | X_OK);
	}
	e = errno;
	if (e == ENOENT && lstat(path, &sb) == 0)
		return fail(r, DIRCHECK_DANGLING, path, ENOENT);
	if (e == ENOENT || e == ENOTDIR)
		return check_ancestor(path, r);
	return fail(r, e == EACCES ? DIRCHECK_NO_ACCESS : DIRCHECK_ERROR, path, e);
}

int dircheck_file(const char *path, struct dircheck *r)
{
	memset(r, 0, sizeof(*r));
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	r->exists = true;
	return check_access(r, path, R_OK | W_OK);
}
