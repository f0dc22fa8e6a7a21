#include "imap/message.h"

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

/* Fields that mail tools write into their own copy of a message: they say
 * nothing of the message itself. */
static const char *const tool_fields[] = {
    "x-tuid",	      "x-offlineimap",	"status",     "x-status",	  "x-keywords",
    "x-uid",	      "x-imap",		"x-imapbase", "x-mozilla-status", "x-mozilla-status2",
    "x-mozilla-keys", "content-length", "lines",
};

static bool is_tool_field(const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);
	size_t name;

	if (!colon)
		return false;
	for (name = (size_t)(colon - p); name > 0 && (p[name - 1] == ' ' || p[name - 1] == '\t');)
		name--;
	for (size_t i = 0; i < sizeof(tool_fields) / sizeof(*tool_fields); i++)
		if (strlen(tool_fields[i]) == name && strncasecmp(p, tool_fields[i], name) == 0)
			return true;
	return false;
}

/* Bytes from p to end with CRLF line ends. */
static uint64_t crlf_size(const char *p, const char *end)
{
	uint64_t n = (uint64_t)(end - p);

	for (const char *q = p; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
		n += q == p || q[-1] != '\r';
	return n;
}

uint64_t message_normalise(const char *data, size_t len, message_sink_fn *sink, void *ctx)
{
	const char *p = data, *end = data + len;
	bool skipping = false;

	if (len >= 5 && memcmp(p, "From ", 5) == 0)
		p = next_line(p, end);
	while (p < end) {
		size_t ll = line_len(p, end);

		if (ll == 0)
			return crlf_size(next_line(p, end), end);
		/* A continuation line belongs to the field above it. */
		if (*p != ' ' && *p != '\t')
			skipping = is_tool_field(p, ll);
		if (!skipping) {
			sink(p, ll, ctx);
			sink("\n", 1, ctx);
		}
		p = next_line(p, end);
	}
	return 0;
}

/* The length of the UTF-8 sequence lead byte c starts, 0 when c is no
 * lead byte (RFC 3629: C2..F4). */
static size_t utf8_seq_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* Whether the 0x80 at p[at] is a continuation byte of a well-formed
 * sequence: a lead byte at most 3 bytes back whose sequence covers it,
 * with only continuation bytes between. */
static bool in_utf8_seq(const unsigned char *p, size_t len, size_t at)
{
	for (size_t back = 1; back <= 3 && back <= at; back++) {
		size_t lead = at - back, n = utf8_seq_len(p[lead]);

		if ((p[lead] & 0xc0) == 0x80)
			continue; /* another continuation byte: look further back */
		if (n == 0 || back >= n || lead + n > len)
			return false;
		for (size_t k = lead + 1; k < lead + n; k++)
			if ((p[k] & 0xc0) != 0x80)
				return false;
		return true;
	}
	return false;
}

bool message_has_stray_0x80(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	const unsigned char *hit;

	for (size_t at = 0; at < len; at++) {
		hit = memchr(p + at, 0x80, len - at);
		if (!hit)
			return false;
		at = (size_t)(hit - p);
		if (!in_utf8_seq(p, len, at))
			return true;
	}
	return false;
}
