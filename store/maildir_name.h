/* Maildir file names, parsed and formatted: pure functions, no I/O.
 *
 * A name is "<unique>" (typically in new/) or "<unique>:2,<letters>" with the
 * flag letters in ASCII order. The unique part is the message's local key
 * and never changes; it may itself hold ",S=<size>" or other ",X=" fields
 * written by other programs, which are kept as part of the unique. Letters we
 * do not know (lower-case keywords of some MUAs, unknown upper-case) are kept
 * verbatim so that renaming a file for a flag change never loses them. */
#ifndef GMAILDIR_STORE_MAILDIR_NAME_H
#define GMAILDIR_STORE_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "util/msgflags.h"

#define MAILDIR_UNKNOWN_MAX 64

struct maildir_name {
	const char *unique; /* borrowed: points into the parsed string */
	size_t unique_len;
	unsigned flags;			       /* MF_* for the known letters */
	char unknown[MAILDIR_UNKNOWN_MAX + 1]; /* other letters, ASCII order */
	bool has_info;			       /* ":2," was present */
};

/* Parses a file name (no directory part). Returns 0 ok, -1 when it is not a
 * message file name: empty, starts with '.', contains '/', an empty unique,
 * an info part other than ":2," (e.g. ":1,"), or flags that are not all
 * ASCII letters (e.g. ":2,S,W=12": re-sorting it on a flag change could
 * corrupt a field we do not understand, so such a file is left alone). */
int maildir_name_parse(const char *name, struct maildir_name *r);

/* Known flags plus unknown letters as a sorted, de-duplicated letter string
 * in buf (size >= MAILDIR_UNKNOWN_MAX + 8). Known letters come from flags
 * only: one found in unknown is ignored, as is any non-letter. */
void maildir_flags_to_letters(unsigned flags, const char *unknown, char *buf, size_t size);

/* "<unique>:2,<letters>"; the caller frees. */
char *maildir_name_format(const char *unique, size_t unique_len, unsigned flags,
			  const char *unknown);

/* True when unique can be used as a local key we created or accept: no '/',
 * no ':', no NUL, not starting with '.', 1..200 bytes. */
bool maildir_unique_valid(const char *unique, size_t len);

#endif
