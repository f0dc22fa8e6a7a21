/* The one logging API. Lines go to stderr; under systemd (JOURNAL_STREAM
 * names our stderr) each line carries a <N> syslog priority prefix instead of
 * a level word, and the journal stamps it. Elsewhere a long-running process
 * (the daemon) asks for timestamps: each line then begins with the local
 * time in ISO 8601 ("2026-12-08T14:03:07.412+01:00 gmaildir: ..."). With a
 * log file (--log-file) lines go there instead of stderr, always stamped.
 * Thread-safe: a line is written whole.
 *
 * Only the CLI and the daemon log user-facing errors; libraries return
 * struct error. Libraries may log debug detail and the IMAP wire trace,
 * which is opt-in (-vv) and must never contain a secret. */
#ifndef GMAILDIR_UTIL_LOG_H
#define GMAILDIR_UTIL_LOG_H

#include <stdbool.h>

#include "util/error.h"

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG, /* -v */
	LOG_LVL_TRACE, /* -vv: includes the IMAP wire trace */
};

/* Reads JOURNAL_STREAM to decide on priority prefixes. */
void log_init(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/* Timestamps on stderr lines (not under the journal, which has its own). */
void log_set_timestamps(bool on);

/* Sends every line to path from now on (appended; created 0600; not
 * inherited by commands we run). -1 with "--log-file PATH: reason" (scope
 * ERR_CONFIG) when it cannot be opened; the old destination stays. */
int log_open_file(const char *path, struct error *err);
/* Opens the log file's path again (after logrotate moved it away); a no-op
 * without one. On failure the old file keeps the lines. */
int log_reopen_file(struct error *err);
/* Whether lines go to a log file. */
bool log_to_file(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, into the log file only (none open: nothing): for what the CLI
 * has shown on its own terms and the log file should hold too. */
void log_file_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_LVL_TRACE, __VA_ARGS__)

#endif
