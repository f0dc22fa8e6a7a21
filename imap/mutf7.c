/* Modified UTF-7 (RFC 3501 §5.1.3) <-> UTF-8.
 *
 * Both directions accept only the canonical form, so that
 * mutf7_encode(mutf7_decode(x)) == x for every x the decoder accepts: the
 * folder mapping relies on that to give back the exact wire name of a
 * folder it has turned into a local path. */
#include "imap/folders.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Bits of a shifted run not yet turned into base64 characters or UTF-16
 * units. At most 20 bits are ever held. */
struct bits {
	uint32_t val;
	unsigned n;
};

/* Printable US-ASCII stands for itself and may never appear base64-encoded;
 * everything else (controls, DEL, non-ASCII) must be. */
static bool is_direct(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int b64_value(unsigned char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_chars, c);
	return p ? (int)(p - b64_chars) : -1;
}

static char *utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/* Reads one code point of strict UTF-8 at *p: no overlong forms, no
 * surrogates, nothing above U+10FFFF. Returns 0 ok, -1 invalid. */
static int utf8_get(const unsigned char **p, uint32_t *cp_r)
{
	const unsigned char *s = *p;
	uint32_t cp, min;
	int more;

	if (s[0] < 0x80) {
		cp = s[0], more = 0, min = 0;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		cp = s[0] & 0x1f, more = 1, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		cp = s[0] & 0x0f, more = 2, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		cp = s[0] & 0x07, more = 3, min = 0x10000;
	} else {
		return -1;
	}
	for (int i = 1; i <= more; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1; /* also stops at the terminating NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*p = s + 1 + more;
	*cp_r = cp;
	return 0;
}

/* Takes one UTF-16 unit of a shifted run; *hi holds a pending high
 * surrogate (0: none). Returns 0 ok, -1 when the unit is not allowed. */
static int decode_unit(uint32_t u, uint32_t *hi, char **o)
{
	if (*hi) {
		if (u < 0xdc00 || u > 0xdfff)
			return -1; /* high surrogate not followed by a low one */
		*o = utf8_put(*o, 0x10000 + ((*hi - 0xd800) << 10) + (u - 0xdc00));
		*hi = 0;
		return 0;
	}
	if (u >= 0xd800 && u <= 0xdbff) {
		*hi = u;
		return 0;
	}
	/* A lone low surrogate, printable ASCII (which must be sent directly)
	 * and NUL (which no C string can carry) are all invalid. */
	if ((u >= 0xdc00 && u <= 0xdfff) || u == 0 || (u < 0x80 && is_direct((unsigned char)u)))
		return -1;
	*o = utf8_put(*o, u);
	return 0;
}

/* Decodes the base64 run at *p (just after '&', not "&-") up to and
 * including its closing '-'. Returns 0 ok, -1 invalid. */
static int decode_run(const char **p, char **o)
{
	const unsigned char *s = (const unsigned char *)*p;
	struct bits b = {0, 0};
	uint32_t hi = 0;

	for (; *s != '-'; s++) {
		int v = b64_value(*s);

		if (v < 0)
			return -1; /* a stray character or the end of the string */
		b.val = b.val << 6 | (uint32_t)v;
		b.n += 6;
		if (b.n >= 16) {
			b.n -= 16;
			if (decode_unit(b.val >> b.n & 0xffff, &hi, o) < 0)
				return -1;
			b.val &= (1u << b.n) - 1;
		}
	}
	/* A minimal encoding leaves fewer than 6 bits over, all zero: more
	 * would be an odd byte count or padding. */
	if (b.n >= 6 || b.val != 0 || hi != 0)
		return -1;
	*p = (const char *)s + 1;
	return 0;
}

int mutf7_decode(const char *in, char **out_r)
{
	/* Every input byte yields at most 9/8 output bytes. */
	char *out = xmalloc(2 * strlen(in) + 1), *o = out;
	bool after_run = false;

	while (*in) {
		if (!is_direct((unsigned char)*in))
			goto fail;
		if (*in != '&') {
			*o++ = *in++, after_run = false;
		} else if (in[1] == '-') {
			*o++ = '&', in += 2, after_run = false;
		} else {
			/* Two adjacent runs would re-encode as one. */
			if (after_run)
				goto fail;
			in++;
			if (decode_run(&in, &o) < 0)
				goto fail;
			after_run = true;
		}
	}
	*o = '\0';
	*out_r = out;
	return 0;
fail:
	free(out);
	return -1;
}

static void put_unit(struct bits *b, uint32_t u, char **o)
{
	b->val = b->val << 16 | u;
	b->n += 16;
	while (b->n >= 6) {
		b->n -= 6;
		*(*o)++ = b64_chars[b->val >> b->n & 0x3f];
	}
	b->val &= (1u << b->n) - 1;
}

/* Encodes the run of characters at *p that need base64, with its '&' and
 * '-'. Returns 0 ok, -1 on invalid UTF-8. */
static int encode_run(const unsigned char **p, char **o)
{
	struct bits b = {0, 0};
	uint32_t cp;

	*(*o)++ = '&';
	while (**p && !is_direct(**p)) {
		if (utf8_get(p, &cp) < 0)
			return -1;
		if (cp < 0x10000) {
			put_unit(&b, cp, o);
		} else {
			put_unit(&b, 0xd800 + ((cp - 0x10000) >> 10), o);
			put_unit(&b, 0xdc00 + ((cp - 0x10000) & 0x3ff), o);
		}
	}
	if (b.n > 0)
		*(*o)++ = b64_chars[b.val << (6 - b.n) & 0x3f];
	*(*o)++ = '-';
	return 0;
}

int mutf7_encode(const char *in, char **out_r)
{
	/* The worst case is a lone control character between ASCII ones:
	 * one input byte becomes "&AAE-". */
	char *out = xmalloc(5 * strlen(in) + 1), *o = out;
	const unsigned char *p = (const unsigned char *)in;

	while (*p) {
		if (*p == '&') {
			*o++ = '&', *o++ = '-', p++;
		} else if (is_direct(*p)) {
			*o++ = (char)*p++;
		} else if (encode_run(&p, &o) < 0) {
			free(out);
			return -1;
		}
	}
	*o = '\0';
	*out_r = out;
	return 0;
}
