/* Fuzzes store/maildir_name.h. Properties:
 *  - a name that parses formats to a name that parses to the same unique,
 *    flags and unknown letters, and formatting that again changes nothing;
 *  - the info part of the formatted name holds the bytes of the input's,
 *    sorted and de-duplicated (nothing is lost or invented by a rename);
 *  - a valid unique is also a name that parses to itself;
 *  - maildir_flags_to_letters never writes past its buffer. */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>

#include "store/maildir_name.h"

static bool is_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The set of bytes after ":2," in name (none without an info part). */
static void info_set(const char *name, bool set[256])
{
	const char *info = strstr(name, ":2,");

	memset(set, 0, 256 * sizeof(bool));
	if (!info)
		return;
	for (const char *p = info + 3; *p; p++)
		set[(unsigned char)*p] = true;
}

static void check_round_trip(const char *name, const struct maildir_name *n)
{
	struct maildir_name n2, n3;
	char *f1 = maildir_name_format(n->unique, n->unique_len, n->flags, n->unknown);
	char *f2;
	bool in[256], out[256];

	FUZZ_CHECK(maildir_name_parse(f1, &n2) == 0, "format gave unparsable \"%s\"", f1);
	FUZZ_CHECK(n2.unique_len == n->unique_len &&
		       memcmp(n2.unique, n->unique, n->unique_len) == 0,
		   "unique changed: \"%s\" -> \"%s\"", name, f1);
	FUZZ_CHECK(n2.flags == n->flags, "flags changed: \"%s\" -> \"%s\"", name, f1);
	FUZZ_CHECK(strcmp(n2.unknown, n->unknown) == 0, "unknown letters changed: \"%s\" -> \"%s\"",
		   name, f1);
	FUZZ_CHECK(n2.has_info, "\"%s\" has no info part", f1);
	if (n->has_info) {
		info_set(name, in);
		info_set(f1, out);
		FUZZ_CHECK(memcmp(in, out, sizeof(in)) == 0,
			   "flag letters differ: \"%s\" -> \"%s\"", name, f1);
	}
	f2 = maildir_name_format(n2.unique, n2.unique_len, n2.flags, n2.unknown);
	FUZZ_CHECK(strcmp(f1, f2) == 0, "format is not stable: \"%s\" -> \"%s\"", f1, f2);
	FUZZ_CHECK(maildir_name_parse(f2, &n3) == 0, "\"%s\" does not parse", f2);
	free(f1);
	free(f2);
}

/* flags_to_letters with arbitrary flags and an arbitrary unknown string,
 * into a buffer of the documented minimum size: ASan sees any overflow. */
static void check_letters(const uint8_t *data, size_t size, const char *s)
{
	char buf[MAILDIR_UNKNOWN_MAX + 8];
	unsigned flags = size ? data[0] : 0;

	maildir_flags_to_letters(flags, s, buf, sizeof(buf));
	FUZZ_CHECK(strlen(buf) < sizeof(buf), "unterminated");
	for (const char *p = buf; *p; p++)
		FUZZ_CHECK(is_letter(*p) && (p == buf || p[-1] < *p), "\"%s\" not sorted letters",
			   buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = fuzz_cstr(data, size);
	struct maildir_name n;
	size_t len = strlen(name);

	if (maildir_name_parse(name, &n) == 0) {
		FUZZ_CHECK(n.unique_len > 0 && n.unique == name, "bad unique");
		check_round_trip(name, &n);
	}
	if (maildir_unique_valid(name, len)) {
		FUZZ_CHECK(maildir_name_parse(name, &n) == 0 && n.unique_len == len && !n.has_info,
			   "valid unique \"%s\" is not a name", name);
	}
	check_letters(data, size, name);
	free(name);
	return 0;
}
