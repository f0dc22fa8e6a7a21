/* Internals shared by the engine's files: engine.c (the account), folder.c
 * (gather, plan, guards), apply.c (flag, deletion and upload actions),
 * download.c (batched, crash-safe downloads), recover.c (intents left by an
 * interrupted run). */
#ifndef GMAILDIR_SYNC_ENGINE_P_H
#define GMAILDIR_SYNC_ENGINE_P_H

#include "store/maildir.h"
#include "store/state.h"
#include "sync/engine.h"
#include "sync/imap.h"
#include "sync/plan.h"

/* One account's run: the connection, the state and the options. */
struct engine {
	const struct account_conf *acct;  /* borrowed */
	const struct engine_opts *opts;   /* borrowed */
	const struct engine_observer *obs; /* borrowed */
	struct imap *imap;                /* owned */
	struct state *st;                 /* owned */
	struct state_lock *lock;          /* owned */
};

/* A message on the server, as the metadata fetch reported it. */
struct remote_msg {
	uint32_t uid;
	unsigned flags;
	char *keywords; /* owned or NULL */
	uint32_t size;
	time_t internaldate;
	uint64_t gm_msgid;
};

/* One folder's sync: what was gathered from both sides and the base, the
 * plan over them, and the report. The plan's indices point into remote,
 * local and pairs, in the order they are stored here. */
struct folder_job {
	struct engine *eng;                /* borrowed */
	const struct imap_mailbox *mbx;    /* borrowed */
	char *display;                     /* owned: UTF-8, '/'-separated */
	char *local_rel;                   /* owned: path below the maildir root */
	char *local_abs;                   /* owned */
	struct state_folder sf;            /* sf.id 0 until stored */
	struct imap_mailbox_info info;
	struct remote_msg *remote;         /* owned, sorted by UID */
	size_t n_remote;
	size_t cap_remote;
	struct maildir *md;                /* owned */
	struct maildir_entry *local;       /* owned */
	size_t n_local;
	struct state_pair *pairs;          /* owned */
	size_t n_pairs;
	struct plan plan;                  /* owned */
	struct engine_folder_report report;
};

/* folder.c */
int folder_sync(struct engine *eng, const struct imap_mailbox *mbx, struct error *err);
void folder_job_clear(struct folder_job *job);

/* recover.c: finishes or drops the intents an interrupted run left for this
 * folder; needs the remote and local views gathered. */
int recover_intents(struct folder_job *job, struct error *err);

/* download.c: every PLAN_DOWNLOAD / PLAN_RESTORE_LOCAL of the plan, in
 * batches bounded by bytes. */
int download_run(struct folder_job *job, struct error *err);

/* apply.c: every other action of the plan. */
int apply_flags(struct folder_job *job, struct error *err);
int apply_deletions(struct folder_job *job, struct error *err);
int apply_uploads(struct folder_job *job, struct error *err);

/* Reports progress of the transfers of a folder. */
void engine_progress(struct folder_job *job, size_t done, size_t total, uint64_t bytes,
		     uint64_t total_bytes);

#endif
