#include "store/maildir_name.h"

#include <string.h>

#include "util/xalloc.h"

/* The letters we know, in ASCII order (DESIGN.md §4). */
static const struct {
	char letter;
	unsigned flag;
} known_letters[] = {
    {'D', MF_DRAFT},	{'F', MF_FLAGGED}, {'P', MF_FORWARDED},
    {'R', MF_ANSWERED}, {'S', MF_SEEN},	   {'T', MF_DELETED},
};

#define N_KNOWN (sizeof(known_letters) / sizeof(known_letters[0]))

static unsigned letter_flag(char c)
{
	for (size_t i = 0; i < N_KNOWN; i++)
		if (known_letters[i].letter == c)
			return known_letters[i].flag;
	return 0;
}

static bool is_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Fills out with the letters marked in have[], in ASCII order, truncated to
 * size - 1 letters; always NUL-terminated when size > 0. */
static void emit_letters(const bool have[128], char *out, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return;
	for (int c = 'A'; c <= 'z' && n + 1 < size; c++)
		if (have[c])
			out[n++] = (char)c;
	out[n] = '\0';
}

/* Splits the letters after ":2," into known flags and the other letters
 * (sorted, de-duplicated). Only ASCII letters are flags: any other byte
 * makes the name unparsable, because sorting or re-writing it on a flag
 * change could corrupt fields we do not understand. At most 52 distinct
 * letters exist, so unknown[] (MAILDIR_UNKNOWN_MAX + 1) always fits them. */
static int parse_letters(const char *s, unsigned *flags_r, char *unknown)
{
	bool have[128] = {false};
	unsigned flags = 0;

	for (; *s; s++) {
		unsigned f;

		if (!is_letter(*s))
			return -1;
		f = letter_flag(*s);
		if (f)
			flags |= f;
		else
			have[(unsigned char)*s] = true;
	}
	emit_letters(have, unknown, MAILDIR_UNKNOWN_MAX + 1);
	*flags_r = flags;
	return 0;
}

int maildir_name_parse(const char *name, struct maildir_name *r)
{
	const char *colon;

	memset(r, 0, sizeof(*r));
	if (!name || name[0] == '\0' || name[0] == '.' || strchr(name, '/'))
		return -1;
	colon = strchr(name, ':');
	r->unique = name;
	r->unique_len = colon ? (size_t)(colon - name) : strlen(name);
	if (r->unique_len == 0)
		return -1;
	if (!colon)
		return 0;
	if (strncmp(colon, ":2,", 3) != 0)
		return -1;
	r->has_info = true;
	return parse_letters(colon + 3, &r->flags, r->unknown);
}

/* Known letters come from flags only: a known letter found in unknown is
 * ignored, so that a stale unknown string can never set a flag. */
void maildir_flags_to_letters(unsigned flags, const char *unknown, char *buf, size_t size)
{
	bool have[128] = {false};

	for (size_t i = 0; i < N_KNOWN; i++)
		if (flags & known_letters[i].flag)
			have[(unsigned char)known_letters[i].letter] = true;
	for (const char *u = unknown ? unknown : ""; *u; u++)
		if (is_letter(*u) && !letter_flag(*u))
			have[(unsigned char)*u] = true;
	emit_letters(have, buf, size);
}

char *maildir_name_format(const char *unique, size_t unique_len, unsigned flags,
			  const char *unknown)
{
	char letters[MAILDIR_UNKNOWN_MAX + 8];

	maildir_flags_to_letters(flags, unknown, letters, sizeof(letters));
	return xasprintf("%.*s:2,%s", (int)unique_len, unique, letters);
}

bool maildir_unique_valid(const char *unique, size_t len)
{
	if (!unique || len == 0 || len > 200 || unique[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (unique[i] == '/' || unique[i] == ':' || unique[i] == '\0')
			return false;
	return true;
}
