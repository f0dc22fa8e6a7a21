/* The three-way merge of one folder (DESIGN.md §4): pure logic, no I/O.
 *
 * Inputs: the remote messages R (UID -> flags), the local files L (key ->
 * flags) and the base B (the pairs with the flags both sides last agreed
 * on). Output: the actions that make both sides converge. A second plan over
 * the converged state is empty.
 *
 * Rules:
 *  - flags, per flag: the side that changed it since B wins; both sides are
 *    compared to one base, so two sides can never change one flag in
 *    opposite directions;
 *  - a pair missing on one side is a deletion made there; against a message
 *    the other side modified since B it is a delete/modify conflict, settled
 *    by the conflict policy (deletion-wins, or keep: the modified copy is
 *    restored to the deleting side);
 *  - a UID without a pair is new on the server (download); a key without a
 *    pair is new locally (upload);
 *  - direction pull never changes the server (a local deletion is undone by
 *    downloading again, local flag changes stay local), push never changes
 *    the local side (symmetrically);
 *  - remote_deletions keep: a message expunged on the server stays on disk,
 *    its pair is dropped and the key is remembered as local-only.
 * Keys listed as local-only (kept after a remote deletion) are never
 * uploaded. A remote message held by the partial-sync limits is never
 * downloaded and never deleted for being absent locally. */
#ifndef GMAILDIR_SYNC_PLAN_H
#define GMAILDIR_SYNC_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"

#define PLAN_NONE UINT32_MAX

struct plan_remote {
	uint32_t uid;
	unsigned flags;
	/* Kept on the server by the partial-sync limits (max_age, max_size):
	 * not downloaded, and its file missing is no local deletion (the pair
	 * is forgotten, the message stays on the server). */
	bool held;
};

struct plan_local {
	const char *key; /* borrowed */
	unsigned flags;
	bool local_only; /* kept after a remote deletion: never upload */
};

struct plan_base {
	uint32_t uid;
	const char *key; /* borrowed */
	unsigned flags;
};

/* Arrays are borrowed; remote sorted by UID, local and base in any order. */
struct plan_input {
	const struct plan_remote *remote;
	size_t n_remote;
	const struct plan_local *local;
	size_t n_local;
	const struct plan_base *base;
	size_t n_base;
	enum conflict_policy conflicts;
	enum sync_direction direction;
	enum remote_deletions remote_deletions;
};

enum plan_op {
	PLAN_DOWNLOAD,	     /* remote -> new local file, new pair */
	PLAN_UPLOAD,	     /* local -> APPEND, new pair */
	PLAN_FLAGS,	     /* flags differ: push and/or pull, then base = flags */
	PLAN_DELETE_LOCAL,   /* expunged on the server: remove the file, drop pair */
	PLAN_DELETE_REMOTE,  /* removed locally: expunge on the server, drop pair */
	PLAN_FORGET,	     /* drop the pair only (gone on both sides) */
	PLAN_KEEP_LOCAL,     /* expunged on the server, file kept: drop pair, mark
			      * the key local-only */
	PLAN_RESTORE_LOCAL,  /* drop pair, download again (keep policy / pull) */
	PLAN_RESTORE_REMOTE, /* drop pair, upload again (keep policy / push) */
	/* Never made by plan_build: the engine rewrites a PLAN_DELETE_REMOTE in
	 * one folder and a PLAN_UPLOAD of the same key in another into a move
	 * (UID MOVE on the server, not delete + append). */
	PLAN_MOVE_OUT, /* in the source folder: UID MOVE this message */
	PLAN_MOVE_IN,  /* in the target folder: nothing to do, the source moves */
};

/* Compact (24 bytes): a first sync of a 100,000-message account holds
 * one per message in every folder's plan at once. */
struct plan_action {
	enum plan_op op;
	uint32_t remote;     /* index into input remote, or PLAN_NONE */
	uint32_t local;	     /* index into input local, or PLAN_NONE */
	uint32_t base;	     /* index into input base, or PLAN_NONE */
	uint8_t flags;	     /* PLAN_FLAGS: the new base (MF_*, 6 bits) */
	uint8_t local_flags; /* PLAN_FLAGS: what the local file must carry */
	uint8_t push_add;    /* PLAN_FLAGS: flags to add on the server */
	uint8_t push_remove; /* PLAN_FLAGS: flags to remove on the server */
	bool pull;	     /* PLAN_FLAGS: rename the local file to local_flags */
};

struct plan {
	struct plan_action *actions; /* owned */
	size_t n;
	size_t cap;
	/* Tallies, for the mass-deletion guard and reports. */
	size_t n_delete_local;
	size_t n_delete_remote;
	size_t n_held; /* unpaired remote messages the limits keep there */
	size_t *held;  /* owned: their indices into the input's remote[] */
};

/* Builds the plan. Never fails (allocation aborts). Free with plan_free. */
void plan_build(const struct plan_input *in, struct plan *plan_r);
/* Accepts a zeroed plan. */
void plan_free(struct plan *plan);

/* The mass-deletion guard: true when deleting n_delete of n_pairs messages
 * in one direction is more than share (0..1) of the folder and more than
 * min_count messages. */
bool plan_mass_delete(size_t n_delete, size_t n_pairs, double share, size_t min_count);

const char *plan_op_name(enum plan_op op);

/* Whether the partial-sync limits keep a message on the server: older
 * than max_age days by its INTERNALDATE (when known: 0 is not), or bigger
 * than max_size bytes; 0 turns a limit off. Pure. */
bool plan_held(unsigned max_age, uint64_t max_size, uint32_t size, time_t internaldate, time_t now);

#endif
