/* inotify on an account's Maildir tree, for the daemon: which folders
 * changed on disk, whether folders appeared or vanished, and when the
 * kernel lost events.
 *
 * Two kinds of watches:
 *   - the cur/ and new/ of each folder registered with watch_add_folder:
 *     a file created, linked, renamed in or out, deleted or written there
 *     marks the folder changed (tmp/ is not watched: deliveries become
 *     visible by their rename into new/ or cur/);
 *   - every directory of the tree below the root (symlinks and dot
 *     directories are not entered, cur/new/tmp are not tree directories;
 *     in the Maildir++ layout, the root and its dot directories only):
 *     a directory created, moved or removed there is a structure change
 *     (a new folder candidate, or a folder gone), and new directories are
 *     watched at once.
 *
 * Our own changes: before the engine creates, renames (both names) or
 * removes a file or directory in a watched place, it announces the path
 * with watch_ignore_path(); the next event for exactly that path is then
 * dropped. Announcements expire after a few seconds (an operation that
 * failed leaves no event). So the daemon's own downloads, flag renames and
 * deletions never trigger a sync, while a user's change to another file,
 * or to the same file later, still does: no feedback loop, nothing missed.
 *
 * watch_read reports at most one event per folder and per directory in one
 * drain. After WATCH_TREE the caller lists the folders again (adding and
 * removing registrations); after WATCH_OVERFLOW it scans everything.
 * Events that happen to a folder before its registration are not seen:
 * scan a folder when registering it.
 *
 * Threads: watch_ignore_path may be called from any thread (worker
 * threads); everything else belongs to the thread that runs the loop. */
#ifndef GMAILDIR_STORE_WATCH_H
#define GMAILDIR_STORE_WATCH_H

#include <stdint.h>

#include "config/config.h"
#include "util/error.h"

struct watch;

enum watch_kind {
	WATCH_FOLDER,	/* files in a registered folder changed: sync it */
	WATCH_TREE,	/* directories appeared, vanished or moved: list the folders */
	WATCH_OVERFLOW, /* the kernel dropped events: scan every folder */
};

struct watch_event {
	enum watch_kind kind;
	/* WATCH_FOLDER: the local_rel of watch_add_folder. WATCH_TREE: the
	 * directory concerned, relative to the root ("" is the root itself;
	 * for cur/ new/ tmp/ appearing it is their parent). NULL for
	 * WATCH_OVERFLOW. Borrowed for the callback. */
	const char *name;
};

typedef void watch_fn(const struct watch_event *ev, void *ctx);

/* Watches the tree below root (which must exist), laid out as layout says
 * (config.h). Returns 0 ok, -1 error ("inotify watch limit reached
 * (fs.inotify.max_user_watches)", a missing root...). */
int watch_new(const char *root, enum maildir_layout layout, struct watch **w_r, struct error *err);
/* Accepts NULL; NULLs the caller's pointer. */
void watch_free(struct watch **w);

/* The inotify fd, non-blocking: poll it for POLLIN and call watch_read. */
int watch_fd(const struct watch *w);

/* Watches abs_path/cur and abs_path/new, reported as local_rel. Registering
 * a folder again is cheap and loses no queued event when the path is the
 * same; a new path replaces the old watches. Returns 0 ok, -1 error
 * (ERR_FOLDER: a missing cur/ or new/; ERR_ACCOUNT: the watch limit). */
int watch_add_folder(struct watch *w, const char *local_rel, const char *abs_path,
		     struct error *err);
/* Stops watching the folder; unknown names are ignored. */
void watch_remove_folder(struct watch *w, const char *local_rel);

/* Reads what the kernel queued (a bounded amount per call: the loop calls
 * again while the fd stays readable) and calls fn once per folder changed,
 * per tree directory changed, or once for an overflow (then alone: a full
 * scan covers the rest). fn may add and remove folders. Returns 0 ok, -1
 * when reading the inotify fd failed. */
int watch_read(struct watch *w, watch_fn *fn, void *ctx, struct error *err);

/* Announces that we are about to create, rename (from or to) or remove
 * path: its next event is ours and is dropped, if it comes within the
 * expiry (5 s). path must be spelled as the folder's abs_path (or the root)
 * plus "/cur/NAME", "/new/NAME" or a directory below the root; repeated
 * and trailing slashes do not matter. At most 4096 announcements are kept:
 * beyond that the oldest are forgotten, which costs a needless sync, not a
 * missed change. Any thread. */
void watch_ignore_path(struct watch *w, const char *path);
/* Changes the expiry of announcements (tests). */
void watch_set_ignore_ttl(struct watch *w, int64_t ttl_ms);

#endif
