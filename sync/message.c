#include "sync/message.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

#define FIELD "message-id:"
#define FIELD_LEN (sizeof(FIELD) - 1)
#define MAX_ID 998

/* Length of the line starting at p, without its CRLF or LF. */
static size_t line_len(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

static const char *next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl + 1 : end;
}

/* Appends the value of one (possibly continued) line, squeezing the folding
 * white space away. A NUL byte makes the value unusable: the C string would
 * end there, and a cut or empty ID would match other messages in a search
 * (SEARCH HEADER Message-ID "" matches every message that has one). */
static bool append_value(char *buf, size_t *len, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)p[i]))
			continue;
		if (*len >= MAX_ID || p[i] == '\0')
			return false;
		buf[(*len)++] = p[i];
	}
	return true;
}

char *message_id_get(const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	char buf[MAX_ID + 1];
	size_t n = 0;

	while (p < end) {
		size_t ll = line_len(p, end);

		if (ll == 0)
			break; /* end of the header section */
		if (ll >= FIELD_LEN && strncasecmp(p, FIELD, FIELD_LEN) == 0) {
			if (!append_value(buf, &n, p + FIELD_LEN, ll - FIELD_LEN))
				return NULL;
			for (p = next_line(p, end); p < end && (*p == ' ' || *p == '\t');
			     p = next_line(p, end))
				if (!append_value(buf, &n, p, line_len(p, end)))
					return NULL;
			return n ? xstrndup(buf, n) : NULL;
		}
		p = next_line(p, end);
	}
	return NULL;
}
