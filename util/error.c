#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void error_set(struct error *err, enum error_scope scope, enum error_retry retry, const char *fmt,
	       ...)
{
	va_list ap;

	if (!err)
		return;
	err->scope = scope;
	err->retry = retry;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void error_prefix(struct error *err, const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation is fine here: the message is for people, and the prefix
	 * (what was being done) matters more than the tail. */
	size_t n = strlen(prefix);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, prefix, n);
	memcpy(err->msg + n, ": ", 2);
	size_t rest = sizeof(err->msg) - n - 3;
	size_t ol = strnlen(old, rest);
	memcpy(err->msg + n + 2, old, ol);
	err->msg[n + 2 + ol] = '\0';
}

void error_clear(struct error *err)
{
	if (!err)
		return;
	err->scope = ERR_NONE;
	err->retry = RETRY_NEVER;
	err->msg[0] = '\0';
}

bool error_is_set(const struct error *err)
{
	return err && err->scope != ERR_NONE;
}
