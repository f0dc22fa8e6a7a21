/* inotify watches of a Maildir tree (see watch.h). */
#include "store/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/loop.h"
#include "util/xalloc.h"

/* What changes a folder: names appearing or vanishing in cur/ and new/,
 * and a file written in place (a program delivering without tmp/). No
 * IN_ATTRIB: flags live in names, and a hard link we add would fire it on
 * every other link of the message. */
#define FOLDER_MASK                                                                                \
	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
/* What changes the tree: directories appearing, vanishing or moving. */
#define TREE_MASK                                                                                  \
	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF |     \
	 IN_ONLYDIR | IN_DONT_FOLLOW)

#define MAX_DEPTH 32	     /* as maildir_tree_list */
#define IGNORE_MAX 4096	     /* announcements kept */
#define IGNORE_TTL_MS 5000   /* how long one is kept */
#define READS_PER_CALL 16    /* bounded work per watch_read */
#define READ_BUF (64 * 1024) /* each read */

enum dir_kind { DIR_TREE, DIR_CUR, DIR_NEW };

/* One watched directory, found by its watch descriptor. */
struct wdir {
	int wd;
	enum dir_kind kind;
	char *path; /* owned: absolute, normalised */
	char *name; /* owned: DIR_TREE: relative to the root ("" for it);
		     * else the folder's local_rel */
};

struct ignore {
	uint64_t hash;
	int64_t expires; /* loop_now_ms() */
	char *path;	 /* owned, normalised */
};

/* Names reported by one drain, each once. */
struct nameset {
	char **v;
	size_t n, cap;
};

struct watch {
	int fd;
	bool pp;	   /* Maildir++: the tree is the root and its dot dirs */
	char *root;	   /* owned, normalised */
	struct wdir *dirs; /* sorted by wd */
	size_t n_dirs, cap_dirs;

	/* One drain's findings. */
	struct nameset folders, trees;
	bool overflow;

	pthread_mutex_t lock; /* guards ign, n_ign, cap_ign, ttl_ms */
	struct ignore *ign;
	size_t n_ign, cap_ign;
	int64_t ttl_ms;
};

/* ------------------------------------------------------------- helpers */

/* path without repeated or trailing slashes (but "/" stays). Caller frees. */
static char *path_norm(const char *path)
{
	char *out = xstrdup(path);
	size_t k = 0;

	for (size_t i = 0; path[i]; i++)
		if (!(path[i] == '/' && k > 0 && out[k - 1] == '/'))
			out[k++] = path[i];
	while (k > 1 && out[k - 1] == '/')
		k--;
	out[k] = '\0';
	return out;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
	return h;
}

static bool is_reserved(const char *name)
{
	return strcmp(name, "cur") == 0 || strcmp(name, "new") == 0 || strcmp(name, "tmp") == 0;
}

static char *rel_join(const char *rel, const char *name)
{
	return rel[0] ? xasprintf("%s/%s", rel, name) : xstrdup(name);
}

static int rel_depth(const char *rel)
{
	int d = rel[0] ? 1 : 0;

	for (; *rel; rel++)
		d += *rel == '/';
	return d;
}

static void nameset_add(struct nameset *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return;
	s->v = xgrow(s->v, &s->cap, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = xstrdup(name);
}

static void nameset_clear(struct nameset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

/* --------------------------------------------------- watch descriptors */

/* Index of wd in the sorted array, or where it would go (*found false). */
static size_t dir_index(const struct watch *w, int wd, bool *found)
{
	size_t lo = 0, hi = w->n_dirs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->dirs[mid].wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < w->n_dirs && w->dirs[lo].wd == wd;
	return lo;
}

static struct wdir *dir_find(struct watch *w, int wd)
{
	bool found;
	size_t i = dir_index(w, wd, &found);

	return found ? &w->dirs[i] : NULL;
}

/* Records what wd watches; the kernel gives the same wd for the same
 * inode, in which case the newer registration wins. */
static void dir_put(struct watch *w, int wd, enum dir_kind kind, const char *path, const char *name)
{
	bool found;
	size_t i = dir_index(w, wd, &found);

	if (found) {
		free(w->dirs[i].path);
		free(w->dirs[i].name);
	} else {
		w->dirs = xgrow(w->dirs, &w->cap_dirs, w->n_dirs + 1, sizeof(*w->dirs));
		memmove(&w->dirs[i + 1], &w->dirs[i], (w->n_dirs - i) * sizeof(*w->dirs));
		w->n_dirs++;
	}
	w->dirs[i] = (struct wdir){wd, kind, xstrdup(path), xstrdup(name)};
}

/* Forgets wd (the kernel dropped it, or we are about to). */
static void dir_drop(struct watch *w, int wd)
{
	bool found;
	size_t i = dir_index(w, wd, &found);

	if (!found)
		return;
	free(w->dirs[i].path);
	free(w->dirs[i].name);
	memmove(&w->dirs[i], &w->dirs[i + 1], (w->n_dirs - i - 1) * sizeof(*w->dirs));
	w->n_dirs--;
}

static void dir_unwatch(struct watch *w, int wd)
{
	inotify_rm_watch(w->fd, wd);
	dir_drop(w, wd);
}

/* ------------------------------------------------------------------ tree */

static int add_error(const char *path, struct error *err)
{
	if (errno == ENOSPC)
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "inotify_add_watch(%s): inotify watch limit reached "
			  "(fs.inotify.max_user_watches)",
			  path);
	else
		error_set(err, ERR_FOLDER, RETRY_BACKOFF, "inotify_add_watch(%s): %s", path,
			  strerror(errno));
	return -1;
}

static bool is_dir_at(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int tree_add(struct watch *w, const char *rel, struct error *err);

/* Whether name, a subdirectory of the tree directory parent (relative to
 * the root), is a tree directory itself. Verbatim: any but dot directories
 * (and cur/new/tmp, which callers check first). Maildir++: only the dot
 * directories of the root, the folders; nothing deeper. */
static bool tree_child_ok(const struct watch *w, const char *parent, const char *name)
{
	if (!w->pp)
		return name[0] != '.';
	return parent[0] == '\0' && name[0] == '.' && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* Watches the subdirectories of path (rel) that are tree directories. The
 * watch on path comes first, so that a directory created meanwhile is
 * either seen here or reported by an event. */
static int tree_add_children(struct watch *w, const char *path, const char *rel, struct error *err)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return 0; /* gone again: its parent reports that */
	while (ret == 0 && (de = readdir(d)) != NULL) {
		char *child;

		if (is_reserved(de->d_name) || !tree_child_ok(w, rel, de->d_name) ||
		    !is_dir_at(dirfd(d), de))
			continue;
		child = rel_join(rel, de->d_name);
		ret = tree_add(w, child, err);
		free(child);
	}
	closedir(d);
	return ret;
}

/* Watches the tree directory rel and everything below it. A directory
 * that vanished meanwhile is no error; the watch limit is. */
static int tree_add(struct watch *w, const char *rel, struct error *err)
{
	char *path = rel[0] ? xasprintf("%s/%s", w->root, rel) : xstrdup(w->root);
	int wd, ret = 0;

	if (rel_depth(rel) > MAX_DEPTH)
		goto out;
	wd = inotify_add_watch(w->fd, path, TREE_MASK);
	if (wd < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			ret = add_error(path, err);
		goto out;
	}
	dir_put(w, wd, DIR_TREE, path, rel);
	ret = tree_add_children(w, path, rel, err);
out:
	free(path);
	return ret;
}

/* Stops watching rel and the tree directories below it (moved away or
 * removed: the kernel would go on reporting a moved directory). */
static void tree_drop(struct watch *w, const char *rel)
{
	size_t len = strlen(rel);

	for (size_t i = 0; i < w->n_dirs;) {
		const struct wdir *d = &w->dirs[i];

		if (d->kind == DIR_TREE && strncmp(d->name, rel, len) == 0 &&
		    (d->name[len] == '\0' || d->name[len] == '/'))
			dir_unwatch(w, d->wd); /* shifts the array: same i again */
		else
			i++;
	}
}

/* ------------------------------------------------------------ ignoring */

void watch_set_ignore_ttl(struct watch *w, int64_t ttl_ms)
{
	pthread_mutex_lock(&w->lock);
	w->ttl_ms = ttl_ms;
	pthread_mutex_unlock(&w->lock);
}

static void ignore_del(struct watch *w, size_t i)
{
	free(w->ign[i].path);
	w->ign[i] = w->ign[--w->n_ign];
}

/* Makes room for one more: drops expired entries, else the oldest. */
static void ignore_make_room(struct watch *w, int64_t now)
{
	size_t oldest = 0;

	for (size_t i = 0; i < w->n_ign;) {
		if (w->ign[i].expires <= now)
			ignore_del(w, i);
		else
			i++;
	}
	if (w->n_ign < IGNORE_MAX)
		return;
	for (size_t i = 1; i < w->n_ign; i++)
		if (w->ign[i].expires < w->ign[oldest].expires)
			oldest = i;
	ignore_del(w, oldest);
}

void watch_ignore_path(struct watch *w, const char *path)
{
	char *p = path_norm(path);
	int64_t now = loop_now_ms();

	pthread_mutex_lock(&w->lock);
	if (w->n_ign >= IGNORE_MAX)
		ignore_make_room(w, now);
	w->ign = xgrow(w->ign, &w->cap_ign, w->n_ign + 1, sizeof(*w->ign));
	w->ign[w->n_ign++] = (struct ignore){hash_str(p), now + w->ttl_ms, p};
	pthread_mutex_unlock(&w->lock);
}

/* Whether dir/name was announced and not expired; consumes the
 * announcement (one announcement, one event). */
static bool ignore_take(struct watch *w, const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	uint64_t h = hash_str(p);
	int64_t now = loop_now_ms();
	bool hit = false;

	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->n_ign; i++) {
		if (w->ign[i].hash != h || strcmp(w->ign[i].path, p) != 0)
			continue;
		hit = w->ign[i].expires > now;
		ignore_del(w, i);
		break;
	}
	pthread_mutex_unlock(&w->lock);
	free(p);
	return hit;
}

/* -------------------------------------------------------------- events */

/* An event in a folder's cur/ or new/. */
static void folder_event(struct watch *w, const struct wdir *d, const struct inotify_event *ev)
{
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		nameset_add(&w->folders, d->name);
		/* A moved directory would go on reporting from elsewhere. */
		if (ev->mask & IN_MOVE_SELF)
			dir_unwatch(w, ev->wd);
		return;
	}
	/* Dot files are not messages (maildir_scan ignores them too). */
	if (ev->len == 0 || ev->name[0] == '.')
		return;
	/* We never write in cur/ or new/ (deliveries go through tmp/), so a
	 * write there is never ours and must not consume an announcement. */
	if (!(ev->mask & IN_CLOSE_WRITE) && ignore_take(w, d->path, ev->name))
		return;
	nameset_add(&w->folders, d->name);
}

/* A directory of the tree itself moved or vanished. */
static void tree_self_event(struct watch *w, const struct wdir *d, const struct inotify_event *ev)
{
	/* Below the root, the parent's event reports it; the root itself has
	 * no watched parent. */
	if (d->name[0] == '\0')
		nameset_add(&w->trees, "");
	if (ev->mask & IN_MOVE_SELF)
		dir_unwatch(w, ev->wd);
}

/* A subdirectory created, moved in or out, or removed: watch or forget
 * it, and report it unless we announced it. */
static void tree_child_event(struct watch *w, const struct wdir *d, const struct inotify_event *ev)
{
	bool ours = ignore_take(w, d->path, ev->name);
	char *parent = xstrdup(d->name); /* d moves when dirs change */
	char *child = rel_join(parent, ev->name);

	if (is_reserved(ev->name)) {
		/* cur/ new/ tmp/: the parent may have become a folder, or
		 * stopped being one. */
		if (!ours)
			nameset_add(&w->trees, parent);
	} else {
		if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
			if (tree_add(w, child, NULL) < 0)
				w->overflow = true; /* out of watches: scan it all */
		} else {
			tree_drop(w, child);
		}
		if (!ours)
			nameset_add(&w->trees, child);
	}
	free(child);
	free(parent);
}

static void handle_event(struct watch *w, const struct inotify_event *ev)
{
	struct wdir *d;

	if (ev->mask & IN_Q_OVERFLOW) {
		w->overflow = true;
		return;
	}
	d = dir_find(w, ev->wd);
	if (!d)
		return; /* a watch we dropped, whose events were queued */
	if (ev->mask & IN_IGNORED) {
		dir_drop(w, ev->wd);
		return;
	}
	if (d->kind != DIR_TREE)
		folder_event(w, d, ev);
	else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
		tree_self_event(w, d, ev);
	else if ((ev->mask & IN_ISDIR) && ev->len > 0 &&
		 (is_reserved(ev->name) || tree_child_ok(w, d->name, ev->name)))
		tree_child_event(w, d, ev);
}

/* Reads and handles one buffer of events. Returns 1 when some were read,
 * 0 when none were queued, -1 on error. */
static int read_batch(struct watch *w, char *buf, struct error *err)
{
	ssize_t n = read(w->fd, buf, READ_BUF);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "read(inotify): %s", strerror(errno));
		return -1;
	}
	for (ssize_t off = 0; off < n;) {
		const struct inotify_event *ev = (const struct inotify_event *)(buf + off);

		handle_event(w, ev);
		off += (ssize_t)(sizeof(*ev) + ev->len);
	}
	return n > 0;
}

/* Calls fn for what one drain found, then forgets it. The names are
 * detached first, so that fn may change the registrations. */
static void report(struct watch *w, watch_fn *fn, void *ctx)
{
	struct nameset folders = w->folders, trees = w->trees;
	struct watch_event ev;

	w->folders = (struct nameset){0};
	w->trees = (struct nameset){0};
	if (w->overflow) {
		w->overflow = false;
		ev = (struct watch_event){WATCH_OVERFLOW, NULL};
		fn(&ev, ctx);
	} else {
		for (size_t i = 0; i < trees.n; i++) {
			ev = (struct watch_event){WATCH_TREE, trees.v[i]};
			fn(&ev, ctx);
		}
		for (size_t i = 0; i < folders.n; i++) {
			ev = (struct watch_event){WATCH_FOLDER, folders.v[i]};
			fn(&ev, ctx);
		}
	}
	nameset_clear(&folders);
	nameset_clear(&trees);
	free(folders.v);
	free(trees.v);
}

int watch_read(struct watch *w, watch_fn *fn, void *ctx, struct error *err)
{
	/* inotify_event is int-aligned; so must the buffer be. */
	char *buf = xmalloc(READ_BUF);
	int r = 1;

	for (int i = 0; i < READS_PER_CALL && r > 0; i++)
		r = read_batch(w, buf, err);
	free(buf);
	report(w, fn, ctx);
	return r < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ folders */

static int folder_watch(struct watch *w, const char *local_rel, const char *dir, enum dir_kind kind,
			int *wd_r, struct error *err)
{
	int wd = inotify_add_watch(w->fd, dir, FOLDER_MASK);

	if (wd < 0)
		return add_error(dir, err);
	dir_put(w, wd, kind, dir, local_rel);
	*wd_r = wd;
	return 0;
}

void watch_remove_folder(struct watch *w, const char *local_rel)
{
	for (size_t i = 0; i < w->n_dirs;) {
		const struct wdir *d = &w->dirs[i];

		if (d->kind != DIR_TREE && strcmp(d->name, local_rel) == 0)
			dir_unwatch(w, d->wd);
		else
			i++;
	}
}

/* The watch descriptors of local_rel's cur/ and new/, -1 when none. */
static void folder_wds(const struct watch *w, const char *local_rel, int wds[2])
{
	wds[0] = wds[1] = -1;
	for (size_t i = 0; i < w->n_dirs; i++) {
		const struct wdir *d = &w->dirs[i];

		if (d->kind != DIR_TREE && strcmp(d->name, local_rel) == 0)
			wds[d->kind == DIR_CUR ? 0 : 1] = d->wd;
	}
}

int watch_add_folder(struct watch *w, const char *local_rel, const char *abs_path,
		     struct error *err)
{
	char *base = path_norm(abs_path);
	char *cur = xasprintf("%s/cur", base), *new = xasprintf("%s/new", base);
	int old[2], now[2] = {-1, -1}, ret = -1;

	/* The same directories again keep their watch descriptors (the
	 * kernel returns the same ones), so no queued event is lost; only
	 * watches of a previous path are dropped. */
	folder_wds(w, local_rel, old);
	if (folder_watch(w, local_rel, cur, DIR_CUR, &now[0], err) < 0 ||
	    folder_watch(w, local_rel, new, DIR_NEW, &now[1], err) < 0) {
		watch_remove_folder(w, local_rel);
		goto out;
	}
	for (int i = 0; i < 2; i++)
		if (old[i] >= 0 && old[i] != now[0] && old[i] != now[1])
			dir_unwatch(w, old[i]);
	ret = 0;
out:
	free(base);
	free(cur);
	free(new);
	return ret;
}

/* ----------------------------------------------------------- lifetime */

int watch_new(const char *root, enum maildir_layout layout, struct watch **w_r, struct error *err)
{
	struct watch *w = xcalloc(1, sizeof(*w));
	struct stat st;

	w->pp = layout == LAYOUT_MAILDIRPP;
	pthread_mutex_init(&w->lock, NULL);
	w->fd = -1;
	w->ttl_ms = IGNORE_TTL_MS;
	w->root = path_norm(root);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "inotify_init1: %s", strerror(errno));
		goto fail;
	}
	/* tree_add treats a missing directory as gone-meanwhile: not for the
	 * root. */
	if (stat(w->root, &st) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "watch %s: %s", w->root, strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "watch %s: not a directory", w->root);
		goto fail;
	}
	if (tree_add(w, "", err) < 0)
		goto fail;
	*w_r = w;
	return 0;
fail:
	watch_free(&w);
	return -1;
}

void watch_free(struct watch **wp)
{
	struct watch *w = wp ? *wp : NULL;

	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd); /* drops every watch */
	for (size_t i = 0; i < w->n_dirs; i++) {
		free(w->dirs[i].path);
		free(w->dirs[i].name);
	}
	for (size_t i = 0; i < w->n_ign; i++)
		free(w->ign[i].path);
	nameset_clear(&w->folders);
	nameset_clear(&w->trees);
	free(w->folders.v);
	free(w->trees.v);
	free(w->dirs);
	free(w->ign);
	free(w->root);
	pthread_mutex_destroy(&w->lock);
	free(w);
	*wp = NULL;
}

int watch_fd(const struct watch *w)
{
	return w->fd;
}
