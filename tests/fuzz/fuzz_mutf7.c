/* Fuzzes modified UTF-7 (imap/mutf7.c). The input is tried both ways:
 *  - as a wire name: if it decodes, the result is strict UTF-8 without
 *    NUL and encode(decode(x)) == x (only the canonical form is accepted);
 *  - as UTF-8: it encodes exactly when it is strict UTF-8 (checked by an
 *    independent validator), the result is printable ASCII, and
 *    decode(encode(y)) == y. */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>

#include "imap/folders.h"

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF. Written apart from mutf7.c on purpose. */
static bool utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned char c = *s;
		size_t more;
		uint32_t cp, min;

		if (c < 0x80) {
			s++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			more = 1, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			more = 2, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			more = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		for (size_t i = 1; i <= more; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += 1 + more;
	}
	return true;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static void check_decode(const char *x)
{
	char *dec = NULL, *enc = NULL;

	if (mutf7_decode(x, &dec) < 0)
		return;
	FUZZ_CHECK(utf8_valid((const unsigned char *)dec), "decode(\"%s\") is not UTF-8", x);
	FUZZ_CHECK(mutf7_encode(dec, &enc) == 0, "decode(\"%s\") does not encode", x);
	FUZZ_CHECK(strcmp(enc, x) == 0, "encode(decode(\"%s\")) = \"%s\"", x, enc);
	free(dec);
	free(enc);
}

static void check_encode(const char *y)
{
	char *enc = NULL, *dec = NULL;
	bool valid = utf8_valid((const unsigned char *)y);

	if (mutf7_encode(y, &enc) < 0) {
		FUZZ_CHECK(!valid, "valid UTF-8 refused by encode");
		return;
	}
	FUZZ_CHECK(valid, "invalid UTF-8 accepted by encode: \"%s\"", enc);
	FUZZ_CHECK(printable_ascii(enc), "encode gave a non-printable byte");
	FUZZ_CHECK(mutf7_decode(enc, &dec) == 0, "encode gave undecodable \"%s\"", enc);
	FUZZ_CHECK(strcmp(dec, y) == 0, "decode(encode(y)) != y via \"%s\"", enc);
	free(enc);
	free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);

	check_decode(s);
	check_encode(s);
	free(s);
	return 0;
}
