/* Errors that carry a scope, a retry class and a one-line message.
 *
 * Libraries (config/, store/, sync/) never print: they fill a caller-owned
 * struct error and return -1. The CLI and the daemon decide what a person
 * sees. The message reads like "rename(tmp/x, new/x): No space left on
 * device" or the server's own NO text. */
#ifndef GMAILDIR_UTIL_ERROR_H
#define GMAILDIR_UTIL_ERROR_H

#include <stdbool.h>

/* How much a failure breaks: the sync of other folders and accounts goes on
 * after a folder or account error. */
enum error_scope {
	ERR_NONE = 0,
	ERR_MESSAGE, /* one message could not be handled */
	ERR_FOLDER,  /* this folder stops, the others go on */
	ERR_ACCOUNT, /* the account stops (auth, TLS, connection) */
	ERR_CONFIG,  /* usage or configuration error: exit 2 */
	ERR_SAFETY,  /* refused for safety (mass deletion...): exit 3 */
};

/* What the daemon does next. */
enum error_retry {
	RETRY_NEVER = 0, /* needs the user: bad password, bad config */
	RETRY_NOW,	 /* a transient hiccup: try again at once */
	RETRY_BACKOFF,	 /* connection lost, throttled: back off */
};

struct error {
	enum error_scope scope;
	enum error_retry retry;
	char msg[1024];
};

/* Sets all three fields; the message is formatted and truncated to fit. */
void error_set(struct error *err, enum error_scope scope, enum error_retry retry, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));
/* Prepends "prefix: " to the message, keeping scope and retry. */
void error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void error_clear(struct error *err);
bool error_is_set(const struct error *err);

#endif
