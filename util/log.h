/* The one logging API. Lines go to stderr; under systemd (JOURNAL_STREAM
 * names our stderr) each line carries a <N> syslog priority prefix instead of
 * a level word. Thread-safe: a line is written whole.
 *
 * Only the CLI and the daemon log user-facing errors; libraries return
 * struct error. Libraries may log debug detail and the IMAP wire trace,
 * which is opt-in (-vv) and must never contain a secret. */
#ifndef GMAILDIR_UTIL_LOG_H
#define GMAILDIR_UTIL_LOG_H

#include <stdbool.h>

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

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_LVL_TRACE, __VA_ARGS__)

#endif
