/* post_sync_command (e.g. "notmuch new"): run after a sync that changed
 * local mail, with GMAILDIR_ACCOUNT and GMAILDIR_CHANGED_FOLDERS (the
 * changed folders, newline-separated) in its environment. */
#ifndef GMAILDIR_SYNC_HOOKS_H
#define GMAILDIR_SYNC_HOOKS_H

#include <stddef.h>

#include "config/config.h"
#include "sync/engine.h"
#include "util/error.h"

struct hook_changes {
	char **folders; /* owned */
	size_t n;
	size_t cap;
};

/* Notes the folder of a report if the sync changed files there (also one
 * that failed later: what it downloaded before is on disk; and one that was
 * renamed: its files moved). */
void hook_changes_note(struct hook_changes *c, const struct engine_folder_report *r);
void hook_changes_clear(struct hook_changes *c);

/* Runs acct->post_sync_command with /bin/sh -c when there is one and
 * something changed; waits for it (at most 30 minutes). Returns 0 when it
 * ran and exited 0 or had nothing to do, -1 otherwise (err: "post_sync_command
 * exited with status 1"). Callers log the error: it is never fatal. */
int hook_post_sync(const struct account_conf *acct, const struct hook_changes *c,
		   struct error *err);

#endif
