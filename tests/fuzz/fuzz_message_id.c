/* Fuzzes message_id_get (imap/message.h) over arbitrary bytes, NULs and
 * lone CRs included, against a reference written here from the contract in
 * message.h: the first "Message-ID:" field of the header section (which
 * ends at the first empty line), continuation lines joined, all white space
 * removed; NULL when there is none, when it is empty, longer than 998
 * bytes, or holds a NUL. Reading stays inside the buffer (ASan: the copy
 * has no spare byte). */
#include "tests/fuzz/fuzz.h"

#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

#include "imap/message.h"

#define MAX_ID 998

/* Line [p, *next): its length without the LF and one CR before it. */
static size_t line(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

	*next = nl ? nl + 1 : end;
	return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

/* The value of the field starting at p (after the colon) and its
 * continuation lines, white space removed, into buf (size len + 1). */
static size_t collect(const char *p, size_t n, const char *next, const char *end, char *buf)
{
	size_t out = 0;

	for (;;) {
		for (size_t i = 0; i < n; i++)
			if (!isspace((unsigned char)p[i]))
				buf[out++] = p[i];
		p = next;
		if (p >= end || (*p != ' ' && *p != '\t'))
			return out;
		n = line(p, end, &next);
	}
}

/* The expected result: 1 and *id_r (malloc'd) for an ID, 0 for none. */
static int reference(const char *data, size_t len, char **id_r)
{
	const char *p = data, *end = data + len, *next;
	char *buf = malloc(len + 1);
	size_t n, out;

	if (!buf)
		abort();
	*id_r = NULL;
	for (; p < end; p = next) {
		n = line(p, end, &next);
		if (n == 0)
			break;
		if (n < 11 || strncasecmp(p, "message-id:", 11) != 0)
			continue;
		out = collect(p + 11, n - 11, next, end, buf);
		if (out == 0 || out > MAX_ID || memchr(buf, '\0', out))
			break;
		buf[out] = '\0';
		*id_r = buf;
		return 1;
	}
	free(buf);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so that a read past the end is caught. */
	char *buf = malloc(size ? size : 1);
	char *id, *want;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	id = message_id_get(buf, size);
	if (reference(buf, size, &want)) {
		FUZZ_CHECK(id && strcmp(id, want) == 0, "got \"%s\", want \"%s\"",
			   id ? id : "(none)", want);
	} else {
		FUZZ_CHECK(id == NULL, "got \"%s\", want none", id);
	}
	free(id);
	free(want);
	free(buf);
	return 0;
}
