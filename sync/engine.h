/* The sync engine: runs one account's sync (all its selected folders, or the
 * ones named) between the IMAP server and the Maildir tree, with the state DB
 * in between. It never prints: progress and per-folder results go to an
 * observer, and the CLI or the daemon decides what a person sees. */
#ifndef GMAILDIR_SYNC_ENGINE_H
#define GMAILDIR_SYNC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdatomic.h>

#include "config/config.h"
#include "store/maildir.h"
#include "util/error.h"

/* What one folder's sync did. */
struct engine_folder_report {
	const char *account; /* borrowed */
	const char *folder;  /* borrowed: display name (UTF-8, '/' delimiter) */
	size_t downloaded;
	size_t linked; /* of those, hard-linked from a copy on disk (Gmail labels) */
	size_t uploaded;
	size_t flags_pulled; /* remote flag changes applied locally */
	size_t flags_pushed; /* local flag changes sent to the server */
	size_t deleted_local;
	size_t deleted_remote;
	size_t moved;
	size_t held; /* left on the server by max_age / max_size */
	uint64_t bytes_down;
	uint64_t bytes_up;
	size_t messages; /* pairs after the sync */
	bool unchanged;	 /* skipped: nothing changed on either side */
	bool renamed;	 /* renamed on one side, so here on the other (its files moved) */
	bool failed;
	struct error err; /* when failed */
};

struct engine_progress {
	const char *account; /* borrowed */
	const char *folder;  /* borrowed */
	size_t done;	     /* messages transferred so far in this folder */
	size_t total;	     /* messages to transfer in this folder */
	uint64_t bytes;	     /* bytes transferred so far in this folder */
	uint64_t total_bytes;
};

struct engine_observer {
	void (*progress)(const struct engine_progress *p, void *ctx);	      /* may be NULL */
	void (*folder_done)(const struct engine_folder_report *r, void *ctx); /* may be NULL */
	/* Something a person should know that is not a failure ("folder X was
	 * deleted on the server; the local copy is kept"). May be NULL. */
	void (*notice)(const char *account, const char *text, void *ctx);
	void *ctx;
};

struct engine_opts {
	bool dry_run;		    /* plan and report, change nothing anywhere */
	bool allow_mass_delete;	    /* lift the mass-deletion guard */
	bool allow_unmatched;	    /* lift the first-contact guard (sync/adopt.c) */
	const char *const *folders; /* display names to sync; NULL or empty: all selected */
	size_t n_folders;
	/* Batch bounds for downloads: a UID FETCH asks for at most this many
	 * bytes / messages (0: defaults). */
	uint64_t batch_bytes;
	size_t batch_messages;
	/* Messages bigger than this are fetched in pieces of this size (0: the
	 * default, 512 KB). */
	uint32_t piece_bytes;
	/* The daemon: told every path the sync is about to change on disk. */
	maildir_touch_fn *touch;
	void *touch_ctx;
	/* At most this many connections at once (0: the account's
	 * `connections`): the daemon's budget minus what IDLE holds. */
	unsigned max_connections;
	/* A session drops the connection it kept and makes a new one (the
	 * network changed under it, the machine slept). */
	bool fresh_connection;
	/* Set from another thread to stop at the next batch boundary; a folder
	 * stopped so fails ("interrupted") and records no checkpoint. */
	atomic_bool *cancel;
};

/* A folder the last sync of a session covered. */
struct engine_folder {
	char *display;	 /* owned */
	char *local_abs; /* owned */
	char *remote;	 /* owned: as on the wire */
};

/* A long-lived sync session of one account (the daemon): the account lock
 * and the state are held from open to free; the connection is made at the
 * first sync and made again after it was lost. */
struct engine_session;

int engine_session_open(const struct account_conf *acct, const struct engine_observer *obs,
			struct engine_session **s_r, struct error *err);
/* One sync with these options; returns as engine_sync_account. */
int engine_session_sync(struct engine_session *s, const struct engine_opts *opts,
			struct error *err);
bool engine_session_connected(const struct engine_session *s);
/* The folders the last full sync covered (display name, local path); the
 * caller frees with engine_folders_free. */
void engine_session_folders(struct engine_session *s, struct engine_folder **f_r, size_t *n_r);
void engine_folders_free(struct engine_folder *f, size_t n);
void engine_session_free(struct engine_session **s);

/* Whether a sync of acct would accept its Maildir root as this account's
 * (the rules of sync/claim.c), found without taking a lock or writing
 * anything: 0 yes, -1 no, with the sync's own refusal in err. For
 * `gmaildir doctor`. */
int engine_check_maildir(const struct account_conf *acct, struct error *err);

/* Whether the account's Maildir root and state_dir can be used (or made,
 * when missing) by this process, found without connecting or writing
 * anything: 0 yes, -1 no with one message (scope ERR_CONFIG: exit 2) that
 * names the config key ("accounts.NAME.maildir"), the path, the problem
 * and the fix. Sessions check it when they open; the CLI and the daemon
 * call it first for every account, so that nothing starts when one is
 * wrong. */
int engine_check_local(const struct account_conf *acct, struct error *err);
/* The same for one of the two: the Maildir root (state false) or the
 * state_dir with its state.db (true). The message is "PROBLEM; FIX": the
 * first "; " ends the problem. */
int engine_check_local_path(const struct account_conf *acct, bool state, struct error *err);

/* Syncs one account. Folder failures are reported to obs->folder_done and
 * the other folders go on. Returns 0 when every folder succeeded, 1 when
 * some folder failed (see the reports), -1 when the account as a whole failed
 * (err: password command, lock, state DB, connection, TLS, login). */
int engine_sync_account(const struct account_conf *acct, const struct engine_opts *opts,
			const struct engine_observer *obs, struct error *err);

#endif
