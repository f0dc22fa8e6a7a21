/* One Maildir folder on disk: scan, crash-safe delivery, flag renames,
 * deletion, and reading a message back for upload.
 *
 * Files are created 0600 and directories 0700. Delivery follows the Maildir
 * protocol with batched durability (DESIGN.md §5):
 *   1. maildir_delivery_begin: open tmp/<unique> with O_EXCL;
 *   2. maildir_delivery_write: stream the server's bytes, CRLF stored as LF;
 *   3. maildir_delivery_finish: close, set mtime, queue the rename;
 *   4. maildir_commit: make the queued files durable (one syncfs for the
 *      batch), rename each tmp/ file into new/ (unseen) or cur/ (":2,"+flags),
 *      fsync new/ and cur/. Only after this returns may the caller record
 *      the messages in the state DB.
 * A crash before step 4 leaves files in tmp/ only, which scans ignore.
 *
 * Placement: a message with no flag at all lands in new/ under its bare
 * unique; any flag (\Seen or not, e.g. \Flagged alone) sends it to cur/ as
 * "<unique>:2,<letters>", since a name in new/ carries no flags.
 *
 * One struct maildir belongs to one thread. Every delivery must be finished
 * or aborted before maildir_free. */
#ifndef GMAILDIR_STORE_MAILDIR_H
#define GMAILDIR_STORE_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "util/error.h"

struct maildir;
struct maildir_delivery;

/* Told the absolute path of every file about to appear in, leave, or be
 * renamed within new/ or cur/ (both names of a rename), before it happens:
 * the daemon's inotify watcher drops the events of our own changes. */
typedef void maildir_touch_fn(const char *path, void *ctx);

/* One message file found by a scan. */
struct maildir_entry {
	char *unique;	/* owned: the local key */
	char *filename; /* owned: the full file name, without directory */
	unsigned flags; /* MF_* */
	char *unknown;	/* owned: unknown flag letters, "" when none */
	bool in_new;	/* the file is in new/, else cur/ */
};

/* Opens the Maildir at path. With create, missing path, cur/, new/ and tmp/
 * are created (0700, parents too). Without create a missing folder is an
 * error. Symlinked cur/new/tmp are refused (never followed for writes).
 * Returns 0 ok, -1 error. */
int maildir_open(const char *path, bool create, struct maildir **md_r, struct error *err);
/* Aborts pending deliveries that were never committed (their tmp/ files are
 * removed). Accepts NULL; NULLs the caller's pointer. */
void maildir_free(struct maildir **md);
const char *maildir_path(const struct maildir *md);
/* Installs the touch hook (NULL: none). */
void maildir_set_touch(struct maildir *md, maildir_touch_fn *fn, void *ctx);

/* A fresh unique name: "<sec>.M<usec>P<pid>Q<counter>R<random>.<host>".
 * Never collides with another process or an earlier call. Caller frees. */
char *maildir_unique_new(void);

/* The Maildir folders below root (directories holding cur/ and new/), as
 * sorted paths relative to root, in the account's layout (config.h):
 * verbatim, '/'-separated paths at any depth, dot directories not entered;
 * Maildir++, "." for the root itself and the names of its dot directories
 * (".Sent", ".Lists.dev"), nothing deeper. Symlinks are not followed. A
 * missing root is no folder. Free with maildir_tree_free. */
int maildir_tree_list(const char *root, enum maildir_layout layout, char ***paths_r, size_t *n_r,
		      struct error *err);
void maildir_tree_free(char **paths, size_t n);
/* The guard files of an account's Maildir root (store/maildir_root.c):
 * regular dot files in the root, never a folder or a message to any
 * Maildir reader. */
#define MAILDIR_ROOT_LOCK ".gmaildir.lock"
#define MAILDIR_ROOT_ID ".gmaildir.id"

struct maildir_root_lock;

/* Takes an exclusive flock on <root>/.gmaildir.lock without waiting and
 * writes the pid into it. With create a missing root (0700) and lock file
 * are created; without (a dry run) nothing is created or written, and a
 * missing root or lock file is simply nothing to lock (0, *lock_r NULL).
 * When another process holds it: -1 with "Maildir ROOT is being synced by
 * pid N ...". Free with maildir_root_unlock. */
int maildir_root_lock(const char *root, bool create, struct maildir_root_lock **lock_r,
		      struct error *err);
void maildir_root_unlock(struct maildir_root_lock **lock);
/* The identity recorded in <root>/.gmaildir.id, and its owner (the state
 * directory that recorded it; NULL when the file names none): 1 with
 * *id_r and *owner_r (caller frees both), 0 when there is none (no file,
 * or no root), -1 error (also a file that does not hold an identity:
 * ERR_SAFETY). */
int maildir_root_id_get(const char *root, char **id_r, char **owner_r, struct error *err);
/* Records id and its owner in <root>/.gmaildir.id, durably (the root is
 * created). */
int maildir_root_id_put(const char *root, const char *id, const char *owner, struct error *err);
/* A fresh random identity (32 lowercase hex digits). Caller frees. */
char *maildir_root_id_new(void);

/* Removes a Maildir folder: every file in its new/, cur/ and tmp/, those
 * directories, and the folder directory itself unless subfolders remain. */
int maildir_remove_folder(const char *path, struct error *err);

/* Reads new/ and cur/ once (one readdir each, no stat per file). Files whose
 * name does not parse, subdirectories and symlinks are skipped (their count
 * is in *skipped_r if not NULL;
 * dot files are ignored without being counted). Entries come sorted by
 * unique, one per unique: when a MUA's rename makes a key show up twice,
 * the cur/ name wins. When new/ or cur/ changed during the read (see
 * maildir_stamp), the read is repeated, up to 3 times. A folder that was
 * moved or removed since maildir_open is an error, never an empty result.
 * Caller frees with maildir_entries_free. Returns 0 ok, -1 error. */
int maildir_scan(struct maildir *md, struct maildir_entry **entries_r, size_t *n_r,
		 size_t *skipped_r, struct error *err);
/* maildir_scan, keeping only the files whose unique is one of keys (n_keys,
 * sorted by strcmp); files that are not messages are passed over without
 * being counted, and maildir_skipped keeps the last full scan's list. For a
 * folder where a few known messages changed on the server: the names are
 * read, but only those few are kept. */
int maildir_scan_keys(struct maildir *md, char *const *keys, size_t n_keys,
		      struct maildir_entry **entries_r, size_t *n_r, struct error *err);
void maildir_entries_free(struct maildir_entry *entries, size_t n);
/* The files the last successful maildir_scan skipped (the ones counted in
 * its *skipped_r), as "new/<name>" or "cur/<name>", sorted; none before a
 * scan. Borrowed: valid until the next scan or maildir_free. */
void maildir_skipped(const struct maildir *md, char *const **names_r, size_t *n_r);

/* A cheap change stamp of new/ and cur/ (their mtimes and ctimes in ns):
 * equal stamps mean no file was added, removed or renamed in between, up to
 * the file system's timestamp granularity. Never 0. */
int maildir_stamp(struct maildir *md, uint64_t *stamp_r, struct error *err);
/* The stamp a sync records to skip an unchanged folder next time: as
 * maildir_stamp, but 0 ("read the folder next time") when new/ or cur/
 * changed in the last 2 seconds, since a change within the same timestamp
 * tick would not move it. */
int maildir_settled_stamp(struct maildir *md, uint64_t *stamp_r, struct error *err);

int maildir_delivery_begin(struct maildir *md, const char *unique, struct maildir_delivery **d_r,
			   struct error *err);
/* Appends bytes; CRLF pairs become LF, also when split across calls; a bare
 * CR is kept. On error the caller aborts the delivery. */
int maildir_delivery_write(struct maildir_delivery *d, const void *buf, size_t len,
			   struct error *err);
/* Closes the tmp file, sets its mtime (when mtime > 0) and queues it for
 * maildir_commit with its flags. The delivery object is consumed either way:
 * *d is NULLed. */
int maildir_delivery_finish(struct maildir_delivery **d, unsigned flags, time_t mtime,
			    struct error *err);
/* Drops a delivery in progress and unlinks its tmp file. Accepts NULL. */
void maildir_delivery_abort(struct maildir_delivery **d);
/* Makes every finished delivery durable and visible (see the top comment).
 * Returns 0 ok, -1 error with the first failure in err. A rename never
 * replaces an existing file; one that fails (e.g. EEXIST) does not stop the
 * others and stays queued, so after -1 some files moved and some did not: a
 * later scan shows which. A failed syncfs moves nothing. */
int maildir_commit(struct maildir *md, struct error *err);
/* Number of finished deliveries waiting for maildir_commit. */
size_t maildir_pending(const struct maildir *md);

/* Queues a hard link of src's message as tmp/<unique> of md, placed by
 * flags at the next maildir_commit of md, like a finished delivery (Gmail:
 * one download, a link in every label's folder). md and src may be the
 * same. A different file system fails with EXDEV in the message: the
 * caller then copies (read + deliver) instead. */
int maildir_deliver_link(struct maildir *md, struct maildir *src, const struct maildir_entry *entry,
			 const char *unique, unsigned flags, struct error *err);

/* Removes files left in tmp/ by a crash whose ctime is older than max_age
 * seconds (the Maildir spec says 36 hours: other programs deliver there
 * too). Queued deliveries are never touched. *removed_r may be NULL. */
int maildir_clean_tmp(struct maildir *md, time_t max_age, size_t *removed_r, struct error *err);

/* Removes tmp/<unique> if it is there and not a queued delivery: the
 * leftover of our own interrupted download, named by its intent. */
int maildir_tmp_remove(struct maildir *md, const char *unique, struct error *err);

/* Renames a message to carry flags: the file ends in cur/ as
 * "<unique>:2,<letters>"; unknown letters are kept. *entry is updated.
 * Returns 0 ok, -1 error (a file that vanished meanwhile is an error with
 * errno ENOENT in the message). */
int maildir_set_flags(struct maildir *md, struct maildir_entry *entry, unsigned flags,
		      struct error *err);
/* Removes a message file. A file that is already gone is not an error. */
int maildir_remove(struct maildir *md, const struct maildir_entry *entry, struct error *err);
/* fsync of new/ and cur/, each only if a maildir_set_flags or
 * maildir_remove of this handle changed it since the last call: makes them
 * durable. Call it once per batch before committing the state that records
 * them, or a crash could bring a removed file back with no pair (and it
 * would be uploaded again as a new message). */
int maildir_sync(struct maildir *md, struct error *err);

/* Reads a message for upload, LF turned into CRLF (bare CR kept), and its
 * mtime (for INTERNALDATE). Caller frees *data_r. */
int maildir_read_crlf(struct maildir *md, const struct maildir_entry *entry, char **data_r,
		      size_t *len_r, time_t *mtime_r, struct error *err);

#endif
