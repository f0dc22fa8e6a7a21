/* Finding the Maildir folders below an account root. Verbatim layout:
 * every directory that holds cur/ and new/ is one, at any depth (folder
 * "A/B" is R/A/B); dot directories are skipped. Maildir++: the root itself
 * (INBOX) and its dot directories, one level only. Symlinks are not
 * followed, so a walk never leaves the root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildir.h"
#include "util/xalloc.h"

#define MAX_DEPTH 32

struct tree_walk {
	char **paths;
	size_t n;
	size_t cap;
};

static bool is_subdir(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static bool is_reserved(const char *name)
{
	return name[0] == '.' || strcmp(name, "cur") == 0 || strcmp(name, "new") == 0 ||
	       strcmp(name, "tmp") == 0;
}

static bool is_folder(int dfd)
{
	return is_subdir(dfd, "cur") && is_subdir(dfd, "new");
}

static void add_path(struct tree_walk *w, const char *rel)
{
	w->paths = xgrow(w->paths, &w->cap, w->n + 1, sizeof(*w->paths));
	w->paths[w->n++] = xstrdup(rel);
}

static void walk(struct tree_walk *w, int dfd, const char *rel, int depth)
{
	DIR *d;
	struct dirent *de;

	if (depth > 0 && is_folder(dfd))
		add_path(w, rel);
	if (depth >= MAX_DEPTH || !(d = fdopendir(dup(dfd))))
		return;
	while ((de = readdir(d)) != NULL) {
		int sub;
		char *path;

		if (is_reserved(de->d_name))
			continue;
		sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		path = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		walk(w, sub, path, depth + 1);
		free(path);
		close(sub);
	}
	closedir(d);
}

/* Maildir++: "." when the root holds cur/ and new/, then each dot
 * directory of the root that does. The root's own cur, new and tmp never
 * start with a dot, so they are never taken as folders. */
static void walk_pp(struct tree_walk *w, int dfd)
{
	DIR *d;
	struct dirent *de;

	if (is_folder(dfd))
		add_path(w, ".");
	if (!(d = fdopendir(dup(dfd))))
		return;
	while ((de = readdir(d)) != NULL) {
		int sub;

		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (is_folder(sub))
			add_path(w, de->d_name);
		close(sub);
	}
	closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int maildir_tree_list(const char *root, enum maildir_layout layout, char ***paths_r, size_t *n_r,
		      struct error *err)
{
	struct tree_walk w = {0};
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*paths_r = NULL;
	*n_r = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open(%s): %s", root, strerror(errno));
		return -1;
	}
	if (layout == LAYOUT_MAILDIRPP)
		walk_pp(&w, fd);
	else
		walk(&w, fd, "", 0);
	close(fd);
	xqsort(w.paths, w.n, sizeof(*w.paths), cmp_str);
	*paths_r = w.paths;
	*n_r = w.n;
	return 0;
}

void maildir_tree_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* Unlinks every file of one subdirectory, then the subdirectory. */
static int remove_sub(int dfd, const char *sub)
{
	int fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
			closedir(d);
			return -1;
		}
	closedir(d);
	return unlinkat(dfd, sub, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

int maildir_remove_folder(const char *path, struct error *err)
{
	static const char *const subs[] = {"new", "cur", "tmp"};
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int ret = -1;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		error_set(err, ERR_FOLDER, RETRY_NEVER, "open(%s): %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < 3; i++) {
		if (remove_sub(fd, subs[i]) < 0) {
			error_set(err, ERR_FOLDER, RETRY_NEVER, "remove(%s/%s): %s", path, subs[i],
				  strerror(errno));
			goto out;
		}
	}
	/* Subfolders stay: only an emptied directory goes. */
	if (rmdir(path) < 0 && errno != ENOTEMPTY && errno != EEXIST) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "rmdir(%s): %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}
