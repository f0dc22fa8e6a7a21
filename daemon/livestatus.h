/* What a running daemon tells `gmaildir status` about an account's
 * connections: a small file, STATE/daemon-status, rewritten (tmp, then
 * rename) whenever it changes and removed when the daemon stops. One
 * record per line, fields separated by tabs (tabs and newlines in texts
 * become spaces):
 *
 *   pid <pid>
 *   last_ok <epoch>                       a sync last worked then (0: not yet)
 *   error <epoch> <text>                  the last sync's failure, if any
 *   conn <role> <folder> <state> <since> <error_at> <error>
 *
 * role is "idle", "poll" (folder: how many) or "sync" (folder: "-");
 * state is a word or words as people read them: "connected",
 * "reconnecting", "waiting for network", "syncing", ... */
#ifndef GMAILDIR_DAEMON_LIVESTATUS_H
#define GMAILDIR_DAEMON_LIVESTATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util/error.h"

struct live_conn {
	char role[8];
	char folder[256];
	char state[64];
	time_t since;
	time_t error_at;
	char error[1024];
};

struct live_status {
	pid_t pid;
	time_t last_ok;
	time_t error_at;
	char error[1024];
	struct live_conn *conns; /* owned */
	size_t n_conns, cap_conns;
};

/* Appends a connection (texts copied, cut to fit). */
void live_status_add(struct live_status *ls, const char *role, const char *folder,
		     const char *state, time_t since, time_t error_at, const char *error);
void live_status_clear(struct live_status *ls);

/* The file's text (caller frees) and its reading back: pure. Parsing
 * skips lines it does not know. */
char *live_status_format(const struct live_status *ls);
void live_status_parse(const char *text, struct live_status *ls_r);

/* Writes STATE/daemon-status when text differs from *last (owned, kept
 * updated). Returns 0, -1 with err. */
int live_status_save(const char *state_dir, const char *text, char **last, struct error *err);
/* Reads it: 1 found (ls_r filled), 0 none, -1 unreadable with err. */
int live_status_load(const char *state_dir, struct live_status *ls_r, struct error *err);
void live_status_remove(const char *state_dir);

#endif
