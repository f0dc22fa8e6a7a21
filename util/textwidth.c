/* Display width of UTF-8 text. The C library knows the width of every
 * character (wcwidth), but only under a UTF-8 locale, and the user's may
 * be "C" or Latin-1 while folder names are always UTF-8. So the bytes are
 * decoded here, and wcwidth is asked under a C.UTF-8 locale of this thread
 * only (uselocale), never by changing the process's locale. Where C.UTF-8
 * is not installed, a small table of the wide and combining blocks gives
 * the same answer for the names people write. */
#include "util/textwidth.h"

#include <locale.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#include "util/xalloc.h"

static locale_t utf8_locale = (locale_t)0;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Length of the valid UTF-8 sequence at s with its code point in *cp_r, or
 * 0 when s does not start one (a stray continuation byte, an overlong
 * form, a surrogate, past U+10FFFF, or cut short). */
static size_t decode(const unsigned char *s, uint32_t *cp_r)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	uint32_t cp;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	cp = s[0] & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the terminating NUL */
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

static bool in(uint32_t cp, uint32_t lo, uint32_t hi)
{
	return cp >= lo && cp <= hi;
}

/* Without C.UTF-8: the combining marks and the East Asian wide blocks. */
static int table_width(uint32_t cp)
{
	if (in(cp, 0x300, 0x36f) || in(cp, 0x200b, 0x200f) || in(cp, 0xfe00, 0xfe0f) ||
	    in(cp, 0x20d0, 0x20ff))
		return 0;
	if (in(cp, 0x1100, 0x115f) || (in(cp, 0x2e80, 0xa4cf) && cp != 0x303f) ||
	    in(cp, 0xac00, 0xd7a3) || in(cp, 0xf900, 0xfaff) || in(cp, 0xfe30, 0xfe4f) ||
	    in(cp, 0xff00, 0xff60) || in(cp, 0xffe0, 0xffe6) || in(cp, 0x1f300, 0x1f64f) ||
	    in(cp, 0x1f900, 0x1f9ff) || in(cp, 0x20000, 0x3fffd))
		return 2;
	return 1;
}

static size_t char_width(uint32_t cp)
{
	locale_t old;
	int w;

	if (is_control(cp))
		return 1; /* printed as '?' */
	if (cp < 0x7f)
		return 1;
	pthread_once(&utf8_once, utf8_locale_init);
	if (!utf8_locale)
		return (size_t)table_width(cp);
	old = uselocale(utf8_locale);
	w = wcwidth((wchar_t)cp);
	uselocale(old);
	/* Unassigned or otherwise unprintable: terminals give it a cell. */
	return w < 0 ? 1 : (size_t)w;
}

size_t textwidth(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t cols = 0;

	while (*p) {
		uint32_t cp;
		size_t len = decode(p, &cp);

		cols += len ? char_width(cp) : 1;
		p += len ? len : 1;
	}
	return cols;
}

char *textwidth_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xmalloc(strlen(s) + 1), *o = out;

	while (*p) {
		uint32_t cp;
		size_t len = decode(p, &cp);

		if (!len || is_control(cp)) {
			*o++ = '?';
			p += len ? len : 1;
			continue;
		}
		memcpy(o, p, len);
		o += len;
		p += len;
	}
	*o = '\0';
	return out;
}
