/* Internals shared by the engine's files: engine.c (the account, on top),
 * folder.c (gather, plan, guards), apply.c (flag, deletion and upload
 * actions), download.c (batched, crash-safe downloads), recover.c (intents
 * left by an interrupted run) and the others named below. What a folder
 * job may use of its account's run is struct sync_env (sync/env.h): no
 * file here calls back into engine.c. */
#ifndef GMAILDIR_SYNC_ENGINE_P_H
#define GMAILDIR_SYNC_ENGINE_P_H

#include <pthread.h>

#include "store/maildir.h"
#include "store/state.h"
#include "imap/imap.h"
#include "sync/engine.h"
#include "sync/env.h"
#include "sync/plan.h"

/* A message on the server, as the metadata fetch reported it. */
struct remote_msg {
	uint32_t uid;
	unsigned flags;
	char *keywords; /* owned or NULL */
	uint32_t size;
	time_t internaldate;
	uint64_t gm_msgid;
};

/* A message moved (PLAN_MOVE_OUT) or, on Gmail, copied (a label added)
 * out of a folder into another one. */
struct move_out {
	size_t action;	 /* the source job's plan action, or PLAN_NONE */
	size_t src_pair; /* index into the source job's pairs */
	uint32_t src_uid;
	unsigned src_flags;	   /* the server copy's flags before the move */
	bool copy;		   /* UID COPY: the source message stays */
	struct folder_job *target; /* borrowed */
	size_t target_local;	   /* index into target->local */
	uint32_t target_uidnext;   /* the target's UIDNEXT before any move */
	uint32_t dst_uid;	   /* the UID in the target, 0 until moved */
	/* Gmail, a label put back: the target's pair whose server copy left
	 * (its UID is gone), replaced by the copy's; 0 when none. */
	uint32_t target_old_uid;
};

/* One folder's sync: what was gathered from both sides and the base, the
 * plan over them, and the report. The plan's indices point into remote,
 * local and pairs, in the order they are stored here. */
struct folder_job {
	struct sync_env *env;		/* borrowed */
	const struct imap_mailbox *mbx; /* borrowed */
	char *display;			/* owned: UTF-8, '/'-separated */
	char *local_rel;		/* owned: path below the maildir root */
	char *local_abs;		/* owned */
	struct state_folder sf;		/* sf.id 0 until stored */
	struct imap_mailbox_info info;
	struct remote_msg *remote; /* owned, sorted by UID */
	size_t n_remote;
	size_t cap_remote;
	struct maildir *md;	     /* owned */
	struct maildir_entry *local; /* owned */
	size_t n_local;
	struct state_pair *pairs; /* owned; not loaded when quiet */
	size_t n_pairs;
	size_t n_known;		/* pairs in the state, loaded or not */
	struct plan plan;	/* owned */
	struct move_out *moves; /* owned */
	size_t n_moves;
	size_t cap_moves;
	struct engine_folder_report report;
	bool drop_remote; /* propagate_deletes: the local folder was deleted */
	bool quiet;	  /* nothing changed on either side: skipped */
	bool has_pre;	  /* pre holds the run's pipelined STATUS of the folder */
	bool unselected;  /* planned from pre without a SELECT (empty there) */
	struct imap_mailbox_info pre;
	bool applied;	  /* applied right after its plan (engine.c apply_now) */
	bool adopted;	  /* dry run: job->pairs are adoption's, not stored */
	size_t *to_trash; /* owned: DELETE_REMOTE actions to move to Trash (Gmail) */
	size_t n_to_trash;
	size_t cap_to_trash;
	uint64_t stamp; /* maildir_settled_stamp before the scan */
	/* The planning SELECT was QRESYNC and its answer applies (same
	 * UIDVALIDITY): job->remote holds its FETCH responses, vanished its
	 * VANISHED (EARLIER) UIDs (changes.c). */
	bool qresync;
	struct imap_uid_range *vanished; /* owned */
	size_t n_vanished;
	char safe_name[256]; /* the remote name, printable, when no display name */
	bool header_checked; /* upload.c: one 8-bit header was read back this run */
	/* gather_sparse: pairs, remote and local hold the changed messages
	 * only (n_known counts the folder's pairs). */
	bool sparse;
};

/* folder.c: a folder's sync in two phases, so that moves across folders
 * can be matched between them. Both return 0 ok, -1 error (err). */
int folder_plan(struct folder_job *job, struct error *err);
int folder_apply(struct folder_job *job, struct error *err);
/* Tells the observer how the folder went (err NULL: it succeeded). */
void folder_report(struct folder_job *job, const struct error *err);
/* job.c: a job's own data. folder_job_clear frees everything. */
void folder_job_clear(struct folder_job *job);
/* Frees what planning and applying a folder needed (both sides' views,
 * the pairs, the plan), keeping its names, state row and report: for a
 * folder applied at once, so that a sync holds one folder's messages at a
 * time, not every folder's. */
void folder_job_release(struct folder_job *job);
/* Loads the pairs of a folder skipped as quiet, for the work across
 * folders that needs every copy of a message (Gmail). */
int folder_load_pairs(struct folder_job *job, struct error *err);
/* Index of the server message with this UID (job->remote is sorted by UID),
 * or PLAN_NONE. */
size_t job_remote_index(const struct folder_job *job, uint32_t uid);
/* The partial-sync limits of the job's folder (config_folder_limits by
 * its local name). */
void job_limits(const struct folder_job *job, unsigned *max_age_r, uint64_t *max_size_r);
/* Index of the local file with this key (maildir_scan sorts by unique), or
 * PLAN_NONE. */
size_t job_local_index(const struct folder_job *job, const char *key);
/* The command that lifts a guard for this folder only, for the guard's
 * message: "gmaildir sync OPTION ACCOUNT/FOLDER", the argument quoted
 * for a shell when it needs it. It works beside a running daemon too
 * (the daemon then does that run). */
void job_guard_command(const struct folder_job *job, const char *option, char *buf, size_t cap);

/* How the files of a Maildir stand against a folder's pairs, by key. */
struct local_vs_pairs {
	size_t files, pairs;
	size_t missing;	    /* pairs whose file is not there */
	size_t flags_moved; /* files whose flags are not their pair's base */
	size_t skipped;	    /* files the scan skipped (not messages) */
};
/* Scans md and compares it with the pairs of folder_id (job.c). Returns
 * 0, -1 on a scan or state error. */
int local_vs_pairs(struct state *st, int64_t folder_id, struct maildir *md,
		   struct local_vs_pairs *r, struct error *err);

/* moves.c: turns a deletion in one folder and an upload of the same key in
 * another into a move (needs UIDPLUS for COPYUID); apply_moves runs the
 * moves out of a folder. */
void moves_match(struct folder_job *jobs, size_t n);
int apply_moves(struct folder_job *job, struct error *err);
/* After every folder was applied: a moved file whose flags were also
 * changed gets them on the server now (the target folder is selected for
 * it), so that one sync converges. */
int moves_finish(struct folder_job *jobs, size_t n, struct error *err);

/* changes.c: the SELECT before planning (with QRESYNC where the server
 * and the state allow it: its answer then carries the changes), the
 * remote view, read cheapest first (needs job->pairs loaded), and whether
 * the folder can be skipped altogether. */
int select_for_plan(struct folder_job *job, struct error *err);
int gather_remote(struct folder_job *job, struct error *err);
/* After planning: the messages the plan downloads whose INTERNALDATE the
 * remote view lacks (a QRESYNC SELECT's FETCH has none, nor has an
 * unchanged message taken from its pair, e.g. one restored under
 * direction pull) get it, and their size, from the server, so that the
 * file's mtime is the server's date. Nothing to do (0) in a dry run. */
int gather_download_dates(struct folder_job *job, struct error *err);
bool folder_quiet(const struct folder_job *job, size_t n_pairs, uint64_t stamp);
/* A folder whose Maildir is as the last sync left it and whose QRESYNC
 * SELECT names only flag changes (no UID given out, none vanished, EXISTS
 * the pairs): the views are read for the changed messages alone, their
 * pairs by UID and their files by key, so that 1% of a 500,000-message
 * folder costs 1% of it. *taken_r false: the folder does not qualify (or a
 * changed message has no pair) and nothing was read; the full path goes
 * on. n_pairs: the folder's pairs in the state. */
int gather_sparse(struct folder_job *job, size_t n_pairs, bool *taken_r, struct error *err);

/* recover.c: finishes or drops the intents an interrupted run left for this
 * folder; needs the remote and local views gathered. */
int recover_intents(struct folder_job *job, struct error *err);

/* gmail.c: Gmail's deletion semantics and global flags across folders,
 * new local copies of a known message turned into UID COPY (a label
 * added, never a second message), and a message gone from one folder but
 * still in another taken as a label removal (never an APPEND); a no-op on
 * other servers. */
void gmail_match(struct folder_job *jobs, size_t n);
/* moves.c: records a move or copy out of src (see struct move_out). */
void move_link(struct folder_job *src, const struct move_out *m);

/* workers.c: folder_apply for every job not failed, on up to
 * acct->connections connections at once; failed[] is updated. */
void workers_apply(struct sync_env *env, struct folder_job *jobs, size_t n, bool *failed);

/* rebuild.c: after a UIDVALIDITY change, replaces the folder's pairs by
 * matching (needs the remote and local views gathered). */
int rebuild_pairs(struct folder_job *job, struct error *err);
/* adopt.c: a folder without pairs whose both sides hold mail (an existing
 * Maildir, maybe another tool's): pairs local files with server messages
 * by their normalised headers and body size (X-GM-MSGID for lieer's
 * files), and stops (ERR_SAFETY) when too much would still go up or down
 * as new, unless opts->allow_unmatched. The pairs are stored; in a dry run
 * they are left in job->pairs instead (job->adopted) for the plan. */
int adopt_existing(struct folder_job *job, struct error *err);

/* Adoption's match (the normalised header's digest and the body size,
 * paired in date order) between the server messages and local files not
 * taken yet (remote_taken and local_taken, per index of job->remote and
 * job->local): fn(r, l, ctx) for each match. It fetches Message-IDs, then
 * headers of the candidates only. For the UIDVALIDITY rebuild, where a
 * server that rewrote a message on upload (Courier: a bare CR) or dropped
 * its date no longer matches on Message-ID and size. */
typedef void adopt_match_fn(size_t r, size_t l, void *ctx);
int adopt_match_rest(struct folder_job *job, const bool *remote_taken, const bool *local_taken,
		     adopt_match_fn *fn, void *ctx, struct error *err);

/* download.c: every PLAN_DOWNLOAD / PLAN_RESTORE_LOCAL of the plan, in
 * batches bounded by bytes; idle workers may run some of the batches. */
int download_run(struct folder_job *job, struct error *err);
/* How many batches the plan's downloads make. */
size_t download_batches(const struct folder_job *job);
struct dl_run;
/* True when run has batches to spare; the caller then must call
 * download_help (it counts as a helper from now on). */
bool download_wants_help(struct dl_run *run);
/* Runs batches of run on env's own connection until none is left. */
void download_help(struct dl_run *run, struct sync_env *env);

/* apply.c: every other action of the plan. */
int apply_flags(struct folder_job *job, struct error *err);
int apply_deletions(struct folder_job *job, struct error *err);
int apply_uploads(struct folder_job *job, struct error *err);

/* claim.c: locks the account's Maildir root (held until the session
 * ends) and checks that the root is the one the state belongs to, recording
 * it on first use. Once per session; a dry run checks, creates nothing and
 * claims nothing. -1 with err (ERR_SAFETY when the root belongs to another
 * state) when the sync must not touch this Maildir. */
int claim_maildir(struct sync_env *env, struct error *err);

/* Folder renames, applied as renames (renames.c), between the LIST and
 * the jobs: a synced folder renamed here is RENAMEd on the server (mbx
 * follows); one renamed on the server is renamed here. The state rows
 * follow in both cases. Failures are notices: the folders then sync as
 * before (a deletion and a new folder). */
void renames_from_local(struct sync_env *env, struct imap_mailbox *mbx, size_t n);
void renames_from_server(struct sync_env *env, const struct imap_mailbox *mbx, size_t n);
/* Whether this run renamed the folder that is now server folder name
 * (env->renamed); renames_forget empties that list at the run's end. */
bool renamed_this_run(const struct sync_env *env, const char *name);
void renames_forget(struct sync_env *env);

#endif
