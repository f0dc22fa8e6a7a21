/* The sync state of one account: an SQLite database in WAL mode with
 * synchronous=FULL, a schema version table and migrations from day one.
 *
 * Default place: $XDG_STATE_HOME/gmaildir/<account>/state.db, dir 0700, file
 * 0600. Each sync worker owns one struct state (one SQLite connection); the
 * account lock (state_lock_*) is taken once per process.
 *
 * Tables (DESIGN.md §3):
 *   folders: id, remote name (as on the wire), local path, role, UIDVALIDITY,
 *            UIDNEXT, HIGHESTMODSEQ, local stamp, last sync time, last error
 *            and when it was recorded
 *   pairs:   folder, UID, local key, base flags (MF_*), base keywords (text),
 *            size, Message-ID, X-GM-MSGID
 *   intents: work in flight (DESIGN.md §5): kind, folder, UID, local key,
 *            extra text, creation time
 *   local_only: folder, local key: files kept after a remote deletion
 *            (remote_deletions: keep), or refused by the server; never
 *            uploaded
 *   meta:    key, value: facts about the account (its Maildir's identity)
 *   ignored: folder, name ("cur/x"): files the folder's last scan ignored
 *
 * Strings returned in structs are owned by the struct and freed by the
 * matching *_free / *_clear function. All functions return 0 ok, -1 error
 * unless stated otherwise. */
#ifndef GMAILDIR_STORE_STATE_H
#define GMAILDIR_STORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/error.h"

struct state;
struct state_lock;

/* Takes an exclusive flock on <dir>/lock (dir created 0700) without waiting.
 * When another process holds it: -1 with "account NAME is being synced by
 * pid N" (the pid is written into the lock file by the holder). */
int state_lock_acquire(const char *dir, const char *account, struct state_lock **lock_r,
		       struct error *err);
void state_lock_release(struct state_lock **lock);

/* Opens (creating and migrating as needed) <dir>/state.db. A database of a
 * newer schema than this program knows is an error, never touched. */
int state_open(const char *dir, struct state **st_r, struct error *err);
/* Caps the connection's page cache at kib KiB (the default is 512): for
 * the extra connections of parallel workers, which mostly append. */
int state_set_cache(struct state *st, unsigned kib, struct error *err);
void state_free(struct state **st);

/* One transaction per batch of messages, not one per message. state_begin
 * takes the write lock at once (BEGIN IMMEDIATE, waiting up to 5 s for
 * another connection). When state_commit fails the transaction is still
 * open: the caller calls state_rollback. */
int state_begin(struct state *st, struct error *err);
int state_commit(struct state *st, struct error *err);
/* Never fails to the caller: a rollback error is logged at debug level. */
void state_rollback(struct state *st);

struct state_folder {
	int64_t id;
	char *remote;	  /* owned: the name as on the wire (modified UTF-7) */
	char *local_path; /* owned: path relative to the account's maildir root */
	char *role;	  /* owned or NULL: "sent", "trash", "all", ... */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint64_t local_stamp; /* maildir_stamp() at the end of the last sync */
	time_t last_sync;     /* 0: never */
	char *last_error;     /* owned or NULL */
	time_t last_error_at; /* when last_error was recorded; 0: no error, or unknown */
};

void state_folder_clear(struct state_folder *f);
/* Look-up by remote name: 1 found, 0 not found, -1 error. */
int state_folder_get(struct state *st, const char *remote, struct state_folder *f_r,
		     struct error *err);
/* Inserts (id 0: f->id is set) or updates every field by id (an id that
 * does not exist is an error). last_error_at is stored only along with a
 * last_error: clearing last_error clears it too. */
int state_folder_put(struct state *st, struct state_folder *f, struct error *err);
/* Records why the folder's last sync failed, with the time now as
 * last_error_at (NULL: clears both), touching nothing else: a failed sync
 * must not move the checkpoint. */
int state_folder_set_error(struct state *st, int64_t folder_id, const char *message,
			   struct error *err);
/* All folders, ordered by remote name. Free with state_folders_free. */
int state_folders_list(struct state *st, struct state_folder **folders_r, size_t *n_r,
		       struct error *err);
void state_folders_free(struct state_folder *folders, size_t n);
/* Removes a folder with its pairs and intents. */
int state_folder_delete(struct state *st, int64_t folder_id, struct error *err);

struct state_pair {
	uint32_t uid;
	char *key;	/* owned: the Maildir unique */
	unsigned flags; /* base flags, MF_* */
	char *keywords; /* owned or NULL: other IMAP keywords, space separated */
	uint64_t size;
	char *message_id;  /* owned or NULL */
	uint64_t gm_msgid; /* 0 when unknown */
};

void state_pair_clear(struct state_pair *p);
/* Inserts or replaces the pair (folder, uid). A key already used by another
 * UID of the folder is an error (constraint), never silently replaced. */
int state_pair_put(struct state *st, int64_t folder_id, const struct state_pair *p,
		   struct error *err);
/* Only the flags of an existing pair: the indexes are left alone, so a
 * flag change writes one table page, not also the index pages a full put
 * rewrites. A missing pair is not an error (nothing is changed). */
int state_pair_set_flags(struct state *st, int64_t folder_id, uint32_t uid, unsigned flags,
			 struct error *err);
int state_pair_delete(struct state *st, int64_t folder_id, uint32_t uid, struct error *err);
/* Every pair of a folder ordered by UID. Free with state_pairs_free. */
int state_pairs_load(struct state *st, int64_t folder_id, struct state_pair **pairs_r, size_t *n_r,
		     struct error *err);
void state_pairs_free(struct state_pair *pairs, size_t n);
/* The pairs of the n UIDs given (ascending), in that order; a UID
 * without a pair is left out (*n_r < n says some were). For a folder where
 * only a few messages changed: one indexed lookup each, not the whole
 * folder. Free with state_pairs_free. */
int state_pairs_load_uids(struct state *st, int64_t folder_id, const uint32_t *uids, size_t n,
			  struct state_pair **pairs_r, size_t *n_r, struct error *err);
/* Number of pairs of a folder. */
int state_pair_count(struct state *st, int64_t folder_id, size_t *n_r, struct error *err);
/* Look-ups: 1 found, 0 not found, -1 error. */
int state_pair_by_key(struct state *st, int64_t folder_id, const char *key, struct state_pair *p_r,
		      struct error *err);
/* The pair with the lowest folder id (then UID) holding gm_msgid; a
 * gm_msgid of 0 is never found. */
int state_pair_by_gm_msgid(struct state *st, uint64_t gm_msgid, int64_t *folder_id_r,
			   struct state_pair *p_r, struct error *err);
/* Drops every pair of a folder (UIDVALIDITY change: pairs are rebuilt). */
int state_pairs_clear(struct state *st, int64_t folder_id, struct error *err);

enum intent_kind {
	INTENT_DOWNLOAD = 1,  /* uid -> key: file being written */
	INTENT_UPLOAD,	      /* key -> APPEND in flight; extra: Message-ID */
	INTENT_DELETE_LOCAL,  /* key being removed locally */
	INTENT_DELETE_REMOTE, /* uid being expunged */
	INTENT_MOVE,	      /* uid moved to another folder; extra: target */
};

struct state_intent {
	int64_t id;
	int64_t folder_id;
	enum intent_kind kind;
	uint32_t uid;	/* 0 when none */
	char *key;	/* owned or NULL */
	char *extra;	/* owned or NULL */
	time_t created; /* set by state_intent_add (ignored on input) */
};

void state_intent_clear(struct state_intent *in);
/* Records an intent; *id_r (may be NULL) gets its id. The caller commits
 * the transaction before acting on the replica. */
int state_intent_add(struct state *st, const struct state_intent *in, int64_t *id_r,
		     struct error *err);
int state_intent_done(struct state *st, int64_t id, struct error *err);
/* Pending intents of a folder (folder_id 0: of every folder), oldest first. */
int state_intents_load(struct state *st, int64_t folder_id, struct state_intent **intents_r,
		       size_t *n_r, struct error *err);
void state_intents_free(struct state_intent *intents, size_t n);

/* Local-only keys of a folder. Adding a key twice is not an error. */
int state_local_only_add(struct state *st, int64_t folder_id, const char *key, struct error *err);
int state_local_only_delete(struct state *st, int64_t folder_id, const char *key,
			    struct error *err);
/* 1 listed, 0 not, -1 error. */
int state_local_only_has(struct state *st, int64_t folder_id, const char *key, struct error *err);
/* Every local-only key of a folder, sorted. Free with state_keys_free. */
int state_local_only_load(struct state *st, int64_t folder_id, char ***keys_r, size_t *n_r,
			  struct error *err);
void state_keys_free(char **keys, size_t n);

/* The meta key of the account's last connect or sign-in failure:
 * "UNIXTIME message", or empty once a connection worked again. */
#define CONNECT_ERROR_KEY "connect_error"
/* Account-wide facts (store/state_meta.c). state_meta_get: 1 with *value_r
 * (caller frees), 0 when the key is not set, -1 error. state_meta_put
 * inserts or replaces. */
int state_meta_get(struct state *st, const char *key, char **value_r, struct error *err);
int state_meta_put(struct state *st, const char *key, const char *value, struct error *err);

/* The files the last scan of a folder ignored as not Maildir messages
 * ("cur/<name>", "new/<name>"; store/state_ignored.c). state_ignored_set
 * replaces the folder's list by names[0..n-1] (run it inside a
 * transaction); state_ignored_load gives the list sorted (free with
 * state_keys_free). */
int state_ignored_set(struct state *st, int64_t folder_id, char *const *names, size_t n,
		      struct error *err);
int state_ignored_load(struct state *st, int64_t folder_id, char ***names_r, size_t *n_r,
		       struct error *err);

/* The messages of a folder that max_size keeps on the server, as its last
 * sync found them (store/state_held.c). state_held_set replaces the
 * folder's list by h[0..n-1] (inside a transaction); state_held_load
 * gives it in UID order (free the array). */
struct state_held {
	uint32_t uid;
	uint64_t size;
};
int state_held_set(struct state *st, int64_t folder_id, const struct state_held *h, size_t n,
		   struct error *err);
int state_held_load(struct state *st, int64_t folder_id, struct state_held **h_r, size_t *n_r,
		    struct error *err);

/* ----------------------------------------------------------------------
 * Read-only views for `gmaildir status` and `doctor` (store/state_report.c).
 * None of them takes the account lock, creates a file or directory, or
 * migrates anything: they work while a daemon syncs the account (WAL lets a
 * reader in beside the writer). */

/* Opens <dir>/state.db read-only. Returns 1 opened, 0 when there is no
 * database yet (never synced: nothing is created), -1 error. A database
 * without a schema (created, never migrated) opens; its folders list is
 * then simply empty. Free with state_free. */
int state_open_readonly(const char *dir, struct state **st_r, struct error *err);

/* What status shows of one folder: the folders row plus two counts. */
struct state_folder_report {
	char *remote;	  /* owned: the name as on the wire */
	char *local_path; /* owned: relative to the account's maildir root */
	time_t last_sync; /* 0: never */
	char *last_error; /* owned or NULL */
	/* When last_error was recorded; 0: no error, or unknown (recorded
	 * before schema v2, or a database not migrated yet). */
	time_t last_error_at;
	size_t pairs;	/* messages paired: on the server as last seen */
	size_t pending; /* intents not yet done */
	/* owned: the files the last scan ignored (see state_ignored_set),
	 * sorted; none in a database older than schema v3 */
	char **ignored;
	size_t n_ignored;
	/* owned: what max_size kept on the server at the last sync (see
	 * state_held_set), in UID order; none before schema v4 */
	struct state_held *held;
	size_t n_held;
};

/* Every folder of the state, ordered by local path. An empty or
 * schema-less database gives 0 folders. Free with state_reports_free. */
int state_report_load(struct state *st, struct state_folder_report **r_r, size_t *n_r,
		      struct error *err);
void state_reports_free(struct state_folder_report *r, size_t n);

/* Whether a process holds the account lock of <dir> right now, found
 * without taking the lock (/proc/locks; where that cannot be read, a shared
 * non-blocking flock that is dropped at once). *pid_r is the holder's pid
 * (the one it wrote into the lock file) or 0 when unknown. Returns 1 held,
 * 0 not held (also: no lock file), -1 error. */
int state_lock_holder(const char *dir, long *pid_r, struct error *err);

/* PRAGMA integrity_check of <dir>/state.db on a read-only connection.
 * Returns 1 intact, 0 no database, -1 damaged or unreadable: err holds
 * SQLite's message or the check's first complaint ("state.db: file is not a
 * database"). */
int state_integrity_check(const char *dir, struct error *err);

#endif
