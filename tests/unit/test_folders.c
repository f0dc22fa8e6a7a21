/* Unit tests of imap/folders.h: modified UTF-7, the remote <-> local folder
 * mapping and folder selection. Table-driven, plus seeded random round trips
 * that check the properties the engine relies on (reversibility, canonical
 * forms, paths that can never escape the account root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "imap/folders.h"
#include "util/xalloc.h"

/* A small deterministic generator, so that a failure is reproducible on
 * every machine (rand() differs between C libraries). */
static uint64_t rng_state;

static uint32_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static uint32_t rng_below(uint32_t n)
{
	return rng_next() % n;
}

/* ---- modified UTF-7 ---- */

struct mutf7_case {
	const char *wire;
	const char *utf8;
};

static const struct mutf7_case mutf7_valid[] = {
    {"", ""},
    {"plain ASCII ~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}",
     "plain ASCII ~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}"},
    {"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
					"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
    {"Entw&APw-rfe", "Entw\xc3\xbcrfe"},
    {"&-", "&"},
    {"A&-B&-&-", "A&B&&"},
    {"&-&APw-", "&\xc3\xbc"},
    {"&APw-&-", "\xc3\xbc&"},
    {"&AOQA,A-", "\xc3\xa4\xc3\xbc"},
    {"&Jjo-!", "\xe2\x98\xba!"},
    {"&2D3eAA-", "\xf0\x9f\x98\x80"},		/* U+1F600, a surrogate pair */
    {"&2DzfiQD8-", "\xf0\x9f\x8e\x89\xc3\xbc"}, /* a pair, then a BMP unit */
    {"&2,,f,w-", "\xf4\x8f\xbf\xbf"},		/* U+10FFFF */
    {"&AAE-", "\x01"},				/* controls are encoded */
    {"&AH8-", "\x7f"},
    {"&AIA-", "\xc2\x80"},
    {"a&AAk-b", "a\tb"},
};

static const char *const mutf7_bad_wire[] = {
    "&",	       /* unterminated */
    "&U,BTFw",	       /* unterminated after data */
    "Entw&APw",	       /* unterminated */
    "&U/BTFw-",	       /* '/' is not modified base64 */
    "&APw=-",	       /* padding */
    "&&-",	       /* '&' inside a run */
    "&AP x-",	       /* space inside a run */
    "&APx-",	       /* leftover bits not zero */
    "&AP-",	       /* 12 bits: no whole unit */
    "&A-",	       /* 6 bits */
    "&APwA-",	       /* an odd byte count */
    "&AGE-",	       /* 'a' must be sent directly */
    "&ACY-",	       /* '&' must be "&-" */
    "&AGEA,A-",	       /* printable ASCII inside a mixed run */
    "&AAA-",	       /* U+0000 */
    "&2D0-",	       /* high surrogate alone */
    "&3gA-",	       /* low surrogate alone */
    "&3gDYPQ-",	       /* low before high */
    "&2D0A,A-",	       /* high followed by a BMP unit */
    "&2D3YPd4A-",      /* two highs */
    "&AOQ-&APw-",      /* adjacent runs: not canonical */
    "Entw\xc3\xbcrfe", /* raw 8-bit */
    "\x01",	       /* raw control */
    "a\tb",	       /* raw tab */
    "\x7f",	       /* raw DEL */
};

static const char *const mutf7_bad_utf8[] = {
    "\xc3",		/* truncated */
    "\xc3(",		/* bad continuation */
    "\x80",		/* lone continuation */
    "\xc0\xaf",		/* overlong '/' */
    "\xc1\xbf",		/* overlong */
    "\xe0\x80\xaf",	/* overlong, 3 bytes */
    "\xf0\x80\x80\xaf", /* overlong, 4 bytes */
    "\xed\xa0\x80",	/* surrogate U+D800 */
    "\xed\xbf\xbf",	/* surrogate U+DFFF */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "\xf8\x88\x80\x80\x80",
    "\xff",
    "ok\xe2\x98", /* truncated at the end */
};

static void test_mutf7_valid(void **state)
{
	for (size_t i = 0; i < sizeof(mutf7_valid) / sizeof(mutf7_valid[0]); i++) {
		const struct mutf7_case *c = &mutf7_valid[i];
		char *out = NULL;

		assert_int_equal(mutf7_decode(c->wire, &out), 0);
		assert_string_equal(out, c->utf8);
		free(out);
		assert_int_equal(mutf7_encode(c->utf8, &out), 0);
		assert_string_equal(out, c->wire);
		free(out);
	}
}

static void test_mutf7_decode_rejects(void **state)
{
	for (size_t i = 0; i < sizeof(mutf7_bad_wire) / sizeof(mutf7_bad_wire[0]); i++) {
		char *out = NULL;

		if (mutf7_decode(mutf7_bad_wire[i], &out) != -1)
			fail_msg("accepted \"%s\" as \"%s\"", mutf7_bad_wire[i], out);
		assert_null(out);
	}
}

static void test_mutf7_encode_rejects(void **state)
{
	for (size_t i = 0; i < sizeof(mutf7_bad_utf8) / sizeof(mutf7_bad_utf8[0]); i++) {
		char *out = NULL;

		assert_int_equal(mutf7_encode(mutf7_bad_utf8[i], &out), -1);
		assert_null(out);
	}
}

static uint32_t random_code_point(void)
{
	switch (rng_below(5)) {
	case 0:
		return 0x20 + rng_below(0x5f); /* printable ASCII, '&' and '-' included */
	case 1:
		return "&-&,+/"[rng_below(6)];
	case 2:
		return rng_below(4) ? 1 + rng_below(0x1f) : 0x7f;
	case 3: {
		uint32_t cp = 0x80 + rng_below(0x10000 - 0x80);

		return cp >= 0xd800 && cp <= 0xdfff ? cp - 0x1000 : cp;
	}
	default:
		return 0x10000 + rng_below(0x100000);
	}
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A random valid UTF-8 string of up to 24 code points; the caller frees. */
static char *random_utf8(void)
{
	size_t n = rng_below(25), len = 0;
	char *s = xmalloc(4 * n + 1);

	for (size_t i = 0; i < n; i++)
		len += put_utf8(s + len, random_code_point());
	s[len] = '\0';
	return s;
}

static void assert_wire_ascii(const char *wire)
{
	for (const char *p = wire; *p; p++)
		assert_true(*p >= 0x20 && *p <= 0x7e);
}

static void test_mutf7_random_round_trip(void **state)
{
	rng_state = 0x9e3779b97f4a7c15u;
	for (int i = 0; i < 5000; i++) {
		char *utf8 = random_utf8(), *wire = NULL, *back = NULL;

		assert_int_equal(mutf7_encode(utf8, &wire), 0);
		assert_wire_ascii(wire);
		assert_int_equal(mutf7_decode(wire, &back), 0);
		assert_string_equal(back, utf8);
		free(utf8);
		free(wire);
		free(back);
	}
}

/* Whatever the decoder accepts, the encoder gives back byte for byte: the
 * decoder takes only canonical input. Random strings over an alphabet that
 * often forms valid runs. */
static void test_mutf7_random_canonical(void **state)
{
	static const char alphabet[] = "&&&---AAAPw2D3eg,+/ a.=";
	int accepted = 0;

	rng_state = 0x243f6a8885a308d3u;
	for (int i = 0; i < 20000; i++) {
		char in[16], *utf8 = NULL, *wire = NULL;
		size_t n = rng_below(sizeof(in));

		for (size_t k = 0; k < n; k++)
			in[k] = alphabet[rng_below(sizeof(alphabet) - 1)];
		in[n] = '\0';
		if (mutf7_decode(in, &utf8) < 0)
			continue;
		accepted++;
		assert_int_equal(mutf7_encode(utf8, &wire), 0);
		assert_string_equal(wire, in);
		free(utf8);
		free(wire);
	}
	assert_true(accepted > 1000); /* the alphabet did its job */
}

/* ---- remote <-> local mapping ---- */

struct map_case {
	const char *remote;
	char delim;
	const char *local;   /* NULL: folder_local_path() fails */
	const char *display; /* NULL: same as local */
	const char *back;    /* folder_remote_name(local); NULL: remote itself */
};

static const struct map_case map_cases[] = {
    {"INBOX", '/', "INBOX", NULL, NULL},
    {"inbox", '/', "INBOX", NULL, "INBOX"},
    {"Inbox", '.', "INBOX", NULL, "INBOX"},
    {"INBOX", '\0', "INBOX", NULL, NULL},
    {"INBOX/Sub", '/', "INBOX/Sub", NULL, NULL},
    {"inbox/x", '/', "INBOX/x", NULL, "INBOX/x"},
    {"INBOX.Sent", '.', "INBOX/Sent", NULL, NULL},
    {"x/inbox", '/', "x/inbox", NULL, NULL},
    {"x.INBOX", '.', "x/INBOX", NULL, NULL},
    {"INBOX/x", '\0', "INBOX%2Fx", "INBOX/x", NULL},
    {"[Gmail]", '/', "[Gmail]", NULL, NULL},
    {"[Gmail]/All Mail", '/', "[Gmail]/All Mail", NULL, NULL},
    {"[Gmail]/Sent Mail", '/', "[Gmail]/Sent Mail", NULL, NULL},
    {"A.B", '.', "A/B", NULL, NULL},
    {"A.B", '/', "A.B", NULL, NULL},
    {"a.b.c", '.', "a/b/c", NULL, NULL},
    {"a/b", '.', "a%2Fb", "a/b", NULL},
    {"a/b", '\0', "a%2Fb", "a/b", NULL},
    {"..", '/', "%2E.", "..", NULL},
    {".", '/', "%2E", ".", NULL},
    {"../etc", '/', "%2E./etc", "../etc", NULL},
    {"a/../b", '/', "a/%2E./b", "a/../b", NULL},
    {"..", '\0', "%2E.", "..", NULL},
    {"cur", '/', "%63ur", "cur", NULL},
    {"x/tmp", '/', "x/%74mp", "x/tmp", NULL},
    {"new/new", '/', "%6Eew/%6Eew", "new/new", NULL},
    {"tmp.x", '.', "%74mp/x", "tmp/x", NULL},
    {"Cur", '/', "Cur", NULL, NULL},
    {"current", '/', "current", NULL, NULL},
    {".hidden", '/', "%2Ehidden", ".hidden", NULL},
    {".cur", '/', "%2Ecur", ".cur", NULL},
    {"a/.b", '/', "a/%2Eb", "a/.b", NULL},
    {".hidden", '.', "%/hidden", "/hidden", NULL},
    {"A//B", '/', "A/%/B", "A//B", NULL},
    {"A/", '/', "A/%", "A/", NULL},
    {"/A", '/', "%/A", "/A", NULL},
    {"/", '/', "%/%", "/", NULL},
    {"100%", '/', "100%25", "100%", NULL},
    {"%", '/', "%25", "%", NULL},
    {"a%2Fb", '/', "a%252Fb", "a%2Fb", NULL},
    {"a\\b c", '/', "a\\b c", NULL, NULL},
    {"&-", '/', "&", NULL, NULL},
    {"R&-D/&-", '/', "R&D/&", NULL, NULL},
    {"Entw&APw-rfe", '/', "Entw\xc3\xbcrfe", NULL, NULL},
    {"~peter/mail/&U,BTFw-/&ZeVnLIqe-", '/',
     "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", NULL, NULL},
    {"&U,BTFw-", '\0', "\xe5\x8f\xb0\xe5\x8c\x97", NULL, NULL},
    {"&2D3eAA-", '/', "\xf0\x9f\x98\x80", NULL, NULL},
    {"tab&AAk-x", '/', "tab%09x", "tab?x", NULL},
    {"&AH8-", '/', "%7F", "?", NULL},
    {"&AIA-", '/', "\xc2\x80", "?", NULL}, /* C1 control: kept on disk, hidden on screen */
    {"Entw&APx-rfe", '/', NULL, NULL, NULL},
    {"&U,BTFw", '/', NULL, NULL, NULL},
    {"Entw\xc3\xbcrfe", '/', NULL, NULL, NULL},
    {"a&AGE-", '/', NULL, NULL, NULL},
    {"ok/&2D0-", '/', NULL, NULL, NULL},
    {"", '/', NULL, NULL, NULL},
    {"", '\0', NULL, NULL, NULL},
    {"a", '\x01', NULL, NULL, NULL},
};

/* The properties promised in folders.h, checked on every path we produce. */
static void assert_safe_path(const char *path)
{
	const char *comp = path;

	assert_true(*path != '\0' && *path != '/');
	for (;;) {
		const char *end = strchr(comp, '/');
		size_t len = end ? (size_t)(end - comp) : strlen(comp);

		assert_true(len > 0);
		assert_true(comp[0] != '.');
		assert_false(len == 3 &&
			     (strncmp(comp, "cur", 3) == 0 || strncmp(comp, "new", 3) == 0 ||
			      strncmp(comp, "tmp", 3) == 0));
		for (size_t i = 0; i < len; i++)
			assert_true((unsigned char)comp[i] >= 0x20 && comp[i] != 0x7f);
		if (!end)
			break;
		comp = end + 1;
	}
}

static void check_map_case(const struct map_case *c)
{
	char *local = NULL, *display = NULL, *remote = NULL;

	if (!c->local) {
		assert_int_equal(folder_local_path(c->remote, c->delim, &local), -1);
		assert_int_equal(folder_display_name(c->remote, c->delim, &display), -1);
		assert_null(local);
		assert_null(display);
		return;
	}
	assert_int_equal(folder_local_path(c->remote, c->delim, &local), 0);
	assert_string_equal(local, c->local);
	assert_safe_path(local);
	assert_int_equal(folder_display_name(c->remote, c->delim, &display), 0);
	assert_string_equal(display, c->display ? c->display : c->local);
	assert_int_equal(folder_remote_name(local, c->delim, &remote), 0);
	assert_string_equal(remote, c->back ? c->back : c->remote);
	free(local);
	free(display);
	free(remote);
}

static void test_map_table(void **state)
{
	for (size_t i = 0; i < sizeof(map_cases) / sizeof(map_cases[0]); i++)
		check_map_case(&map_cases[i]);
}

struct local_case {
	const char *local;
	char delim;
	const char *remote; /* NULL: invalid */
};

static const struct local_case local_cases[] = {
    {"Projects/2024", '/', "Projects/2024"},
    {"Projects/2024", '.', "Projects.2024"},
    {"Entw\xc3\xbcrfe", '/', "Entw&APw-rfe"},
    {"Cur/New", '/', "Cur/New"},
    {"INBOX/inbox", '/', "INBOX/inbox"},
    {"R&D", '/', "R&-D"},
    {"", '/', NULL},
    {"/", '/', NULL},
    {"/a", '/', NULL},
    {"%", '/', NULL}, /* the empty name */
    {"%", '\0', NULL},
    {"a/", '/', NULL},
    {"a//b", '/', NULL},
    {".", '/', NULL},
    {"..", '/', NULL},
    {"a/../b", '/', NULL},
    {".hidden", '/', NULL},
    {"cur", '/', NULL},
    {"x/tmp", '/', NULL},
    {"new", '.', NULL},
    {"inbox", '/', NULL}, /* INBOX is spelt in capitals */
    {"Inbox/x", '/', NULL},
    {"%49NBOX", '/', NULL}, /* needless escape */
    {"%2e", '/', NULL},	    /* lower-case hex */
    {"%6eew", '/', NULL},
    {"%63UR", '/', NULL}, /* "cUR" needs no escape */
    {"%41", '/', NULL},
    {"50%", '/', NULL}, /* a bare '%' */
    {"%2", '/', NULL},
    {"%zz", '/', NULL},
    {"%00", '/', NULL},	   /* NUL */
    {"%C3%BC", '/', NULL}, /* 8-bit bytes are never escaped */
    {"a\001b", '/', NULL}, /* a raw control character */
    {"a%2Fb", '/', NULL},  /* the delimiter inside a component */
    {"A.B", '.', NULL},
    {"a/b", '\0', NULL},	 /* no hierarchy in a flat namespace */
    {"\xc3", '/', NULL},	 /* invalid UTF-8 */
    {"\xed\xa0\x80", '/', NULL}, /* a surrogate */
};

static void test_remote_name_table(void **state)
{
	for (size_t i = 0; i < sizeof(local_cases) / sizeof(local_cases[0]); i++) {
		const struct local_case *c = &local_cases[i];
		char *remote = NULL, *local = NULL;

		if (!c->remote) {
			if (folder_remote_name(c->local, c->delim, &remote) != -1)
				fail_msg("accepted local \"%s\" as \"%s\"", c->local, remote);
			assert_null(remote);
			continue;
		}
		assert_int_equal(folder_remote_name(c->local, c->delim, &remote), 0);
		assert_string_equal(remote, c->remote);
		assert_int_equal(folder_local_path(remote, c->delim, &local), 0);
		assert_string_equal(local, c->local);
		free(remote);
		free(local);
	}
}

static const char *const name_pieces[] = {
    ".",    "..",   "cur",   "new",	 "tmp",
    "%",    "%2E",  "/",     ".",	 "&",
    "-",    "a",    "B",     "\xc3\xbc", "\xf0\x9f\x98\x80",
    "\x01", "\x7f", "INBOX", "inbox",	 " ",
};

/* A random decoded name from pieces that stress the escaping. */
static char *random_name(void)
{
	size_t n = 1 + rng_below(6), len = 0;
	char *s = xmalloc(n * 8 + 1);

	for (size_t i = 0; i < n; i++) {
		const char *p = name_pieces[rng_below(sizeof(name_pieces) / sizeof(*name_pieces))];

		memcpy(s + len, p, strlen(p));
		len += strlen(p);
	}
	s[len] = '\0';
	return s;
}

/* The remote name the round trip gives back: INBOX in capitals. */
static void upcase_first_inbox(char *wire, char delim)
{
	size_t len = delim ? strcspn(wire, (char[]){delim, '\0'}) : strlen(wire);

	if (len == 5 && strncasecmp(wire, "INBOX", 5) == 0)
		memcpy(wire, "INBOX", 5);
}

static void check_random_name(char delim)
{
	char *raw = random_name(), *wire = NULL, *local = NULL, *back = NULL, *display = NULL;

	assert_int_equal(mutf7_encode(raw, &wire), 0);
	assert_int_equal(folder_local_path(wire, delim, &local), 0);
	assert_safe_path(local);
	assert_int_equal(folder_display_name(wire, delim, &display), 0);
	assert_int_equal(folder_remote_name(local, delim, &back), 0);
	upcase_first_inbox(wire, delim);
	assert_string_equal(back, wire);
	free(raw);
	free(wire);
	free(local);
	free(back);
	free(display);
}

static void test_map_random_round_trip(void **state)
{
	static const char delims[] = {'/', '.', '\0'};

	rng_state = 0x13198a2e03707344u;
	for (int i = 0; i < 6000; i++)
		check_random_name(delims[i % 3]);
}

/* Any local path folder_remote_name() accepts maps back to itself, so two
 * local directories can never stand for the same remote folder. */
static void test_local_random_canonical(void **state)
{
	static const char *const pieces[] = {"%", "2", "E", "e", "F", "5",  "4",     "9",    "6",
					     "3", "0", ".", "/", "a", "ur", "INBOX", "inbox"};
	static const char delims[] = {'/', '.', '\0'};
	int accepted = 0;

	rng_state = 0xa4093822299f31d0u;
	for (int i = 0; i < 20000; i++) {
		char path[64] = "", *remote = NULL, *local = NULL;
		char delim = delims[i % 3];
		size_t n = 1 + rng_below(8);

		for (size_t k = 0; k < n; k++)
			strcat(path, pieces[rng_below(sizeof(pieces) / sizeof(*pieces))]);
		if (folder_remote_name(path, delim, &remote) < 0)
			continue;
		accepted++;
		assert_safe_path(path);
		assert_int_equal(folder_local_path(remote, delim, &local), 0);
		assert_string_equal(local, path);
		free(remote);
		free(local);
	}
	assert_true(accepted > 1000);
}

/* ---- Maildir++ layout ---- */

/* What folders.h promises of a Maildir++ path: the root ".", or one dot
 * directory of it whose components are never empty and never hold a
 * control character, and which is not a second INBOX. */
static void assert_safe_pp_path(const char *path)
{
	const char *comp = path + 1;

	assert_true(path[0] == '.');
	assert_null(strchr(path, '/'));
	if (path[1] == '\0')
		return;
	assert_string_not_equal(path, ".INBOX");
	assert_string_not_equal(path, "..");
	for (;;) {
		const char *end = strchr(comp, '.');
		size_t len = end ? (size_t)(end - comp) : strlen(comp);

		assert_true(len > 0);
		for (size_t i = 0; i < len; i++)
			assert_true((unsigned char)comp[i] >= 0x20 && comp[i] != 0x7f);
		if (!end)
			break;
		comp = end + 1;
	}
}

struct pp_case {
	const char *remote;
	char delim;
	const char *local; /* NULL: invalid */
	const char *back;  /* the remote name it maps back to, NULL: remote */
};

static const struct pp_case pp_cases[] = {
    {"INBOX", '/', ".", NULL},
    {"inbox", '/', ".", "INBOX"},
    {"INBOX", '\0', ".", NULL},
    {"Sent", '/', ".Sent", NULL},
    {"Archive", '/', ".Archive", NULL},
    {"Lists/dev", '/', ".Lists.dev", NULL},
    {"Lists.dev", '.', ".Lists.dev", NULL}, /* a server with Maildir++ itself */
    {"INBOX/x", '/', ".INBOX.x", NULL},	    /* Dovecot's convention */
    {"inbox/x", '/', ".INBOX.x", "INBOX/x"},
    {"INBOX.x", '.', ".INBOX.x", NULL},
    {"x/INBOX", '/', ".x.INBOX", NULL}, /* only the first component is special */
    {"v1.2", '/', ".v1%2E2", NULL},	/* a literal '.' is escaped */
    {".hidden", '/', ".%2Ehidden", NULL},
    {"a/.", '/', ".a.%2E", NULL},
    {"cur", '/', ".cur", NULL}, /* no clash: the directory is ".cur" */
    {"Lists/new", '/', ".Lists.new", NULL},
    {"tmp/tmp", '/', ".tmp.tmp", NULL},
    {"50%", '/', ".50%25", NULL},
    {"a/b", '.', ".a%2Fb", NULL},  /* a '/' inside a name */
    {"a//b", '/', ".a.%.b", NULL}, /* the empty component */
    {"a/", '/', ".a.%", NULL},
    {"tab&AAk-x", '/', ".tab%09x", NULL},
    {"Entw&APw-rfe", '/', ".Entw\xc3\xbcrfe", NULL},
    {"&ZeVnLIqe-", '/', ".\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", NULL},
    {"[Gmail]/All Mail", '/', ".[Gmail].All Mail", NULL},
    {"", '/', NULL, NULL},
    {"Entw&APx-rfe", '/', NULL, NULL}, /* invalid modified UTF-7 */
    {"a", '\x01', NULL, NULL},
};

static void check_pp_case(const struct pp_case *c)
{
	char *local = NULL, *remote = NULL;

	if (!c->local) {
		assert_int_equal(
		    folder_layout_local_path(LAYOUT_MAILDIRPP, c->remote, c->delim, &local), -1);
		assert_null(local);
		return;
	}
	assert_int_equal(folder_layout_local_path(LAYOUT_MAILDIRPP, c->remote, c->delim, &local),
			 0);
	assert_string_equal(local, c->local);
	assert_safe_pp_path(local);
	assert_int_equal(folder_layout_remote_name(LAYOUT_MAILDIRPP, local, c->delim, &remote), 0);
	assert_string_equal(remote, c->back ? c->back : c->remote);
	free(local);
	free(remote);
}

static void test_pp_map_table(void **state)
{
	for (size_t i = 0; i < sizeof(pp_cases) / sizeof(pp_cases[0]); i++)
		check_pp_case(&pp_cases[i]);
}

static const struct local_case pp_local_cases[] = {
    {".", '/', "INBOX"},
    {".Lists.new", '/', "Lists/new"},
    {".Lists.new", '.', "Lists.new"},
    {".Sent", '\0', "Sent"},
    {".INBOX.x", '/', "INBOX/x"},
    {".INBOX", '/', NULL}, /* INBOX is the root, "." */
    {".inbox", '/', NULL},
    {".Inbox.x", '/', NULL},
    {"", '/', NULL},
    {"..", '/', NULL},
    {"...", '/', NULL},
    {".a.", '/', NULL},
    {".a..b", '/', NULL},  /* an empty component is "%" */
    {"..kids", '/', NULL}, /* mbsync 1.4's INBOX/kids: not ours */
    {".%", '/', NULL},	   /* the empty name */
    {"Sent", '/', NULL},   /* not a dot directory */
    {"INBOX", '/', NULL},
    {".a/b", '/', NULL},
    {"./a", '/', NULL},
    {".a.b", '\0', NULL}, /* no hierarchy in a flat namespace */
    {".v1%2e2", '/', NULL},
    {".%41", '/', NULL},
    {".50%", '/', NULL},
    {".a%2Fb", '/', NULL}, /* the delimiter inside a component */
    {".a%2Eb", '.', NULL},
    {".a\001b", '/', NULL},
    {".\xc3", '/', NULL},
};

static void test_pp_remote_name_table(void **state)
{
	for (size_t i = 0; i < sizeof(pp_local_cases) / sizeof(pp_local_cases[0]); i++) {
		const struct local_case *c = &pp_local_cases[i];
		char *remote = NULL, *local = NULL;

		if (!c->remote) {
			if (folder_layout_remote_name(LAYOUT_MAILDIRPP, c->local, c->delim,
						      &remote) != -1)
				fail_msg("accepted local \"%s\" as \"%s\"", c->local, remote);
			continue;
		}
		assert_int_equal(
		    folder_layout_remote_name(LAYOUT_MAILDIRPP, c->local, c->delim, &remote), 0);
		assert_string_equal(remote, c->remote);
		assert_int_equal(
		    folder_layout_local_path(LAYOUT_MAILDIRPP, remote, c->delim, &local), 0);
		assert_string_equal(local, c->local);
		free(remote);
		free(local);
	}
}

/* The verbatim layout through the dispatcher is the plain mapping. */
static void test_layout_verbatim(void **state)
{
	char *local = NULL, *remote = NULL;

	assert_int_equal(folder_layout_local_path(LAYOUT_VERBATIM, "INBOX/x", '/', &local), 0);
	assert_string_equal(local, "INBOX/x");
	assert_int_equal(folder_layout_remote_name(LAYOUT_VERBATIM, ".x", '/', &remote), -1);
	assert_int_equal(folder_layout_remote_name(LAYOUT_VERBATIM, local, '/', &remote), 0);
	assert_string_equal(remote, "INBOX/x");
	free(local);
	free(remote);
}

static void test_pp_random_round_trip(void **state)
{
	static const char delims[] = {'/', '.', '\0'};

	rng_state = 0x243f6a8885a308d3u;
	for (int i = 0; i < 6000; i++) {
		char delim = delims[i % 3];
		char *raw = random_name(), *wire = NULL, *local = NULL, *back = NULL;

		assert_int_equal(mutf7_encode(raw, &wire), 0);
		assert_int_equal(folder_layout_local_path(LAYOUT_MAILDIRPP, wire, delim, &local),
				 0);
		assert_safe_pp_path(local);
		assert_int_equal(folder_layout_remote_name(LAYOUT_MAILDIRPP, local, delim, &back),
				 0);
		upcase_first_inbox(wire, delim);
		assert_string_equal(back, wire);
		free(raw);
		free(wire);
		free(local);
		free(back);
	}
}

/* As test_local_random_canonical, for Maildir++ paths. */
static void test_pp_local_random_canonical(void **state)
{
	static const char *const pieces[] = {"%", "2", "E", "e", "F", "5",  "4",     "9",    "6",
					     "3", "0", ".", "/", "a", "ur", "INBOX", "inbox"};
	static const char delims[] = {'/', '.', '\0'};
	int accepted = 0;

	rng_state = 0x082efa98ec4e6c89u;
	for (int i = 0; i < 20000; i++) {
		char path[64] = ".", *remote = NULL, *local = NULL;
		char delim = delims[i % 3];
		size_t n = rng_below(8);

		for (size_t k = 0; k < n; k++)
			strcat(path, pieces[rng_below(sizeof(pieces) / sizeof(*pieces))]);
		if (folder_layout_remote_name(LAYOUT_MAILDIRPP, path, delim, &remote) < 0)
			continue;
		accepted++;
		assert_safe_pp_path(path);
		assert_int_equal(folder_layout_local_path(LAYOUT_MAILDIRPP, remote, delim, &local),
				 0);
		assert_string_equal(local, path);
		free(remote);
		free(local);
	}
	assert_true(accepted > 1000);
}

/* ---- selection ---- */

#define LIST(...)                                                                                  \
	{                                                                                          \
		(char *[]){__VA_ARGS__}, sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)          \
	}

struct select_case {
	const char *name;
	bool selected;
};

static void check_selection(const struct account_conf *acct, const struct select_case *cases,
			    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (folder_selected(acct, cases[i].name) != cases[i].selected)
			fail_msg("\"%s\" should%s be selected", cases[i].name,
				 cases[i].selected ? "" : " not");
	}
}

#define CHECK_SELECTION(acct, ...)                                                                 \
	do {                                                                                       \
		const struct select_case cases_[] = {__VA_ARGS__};                                 \
		check_selection(acct, cases_, sizeof(cases_) / sizeof(cases_[0]));                 \
	} while (0)

static void test_selected_defaults(void **state)
{
	struct account_conf acct = {.name = "t"}; /* include [] means ["*"] */

	CHECK_SELECTION(&acct, {"INBOX", true}, {"[Gmail]/All Mail", true}, {".hidden", true},
			{"a/b/c", true});
}

static void test_selected_star_crosses_slash(void **state)
{
	struct account_conf acct = {.include = LIST("*"),
				    .exclude = LIST("\\[Gmail]/*", "Archive*")};

	CHECK_SELECTION(&acct, {"INBOX", true}, {"Work/2024/Q1", true}, {"[Gmail]/All Mail", false},
			{"[Gmail]/Sub/Deep", false}, {"[Gmail]", true}, {"Archive", false},
			{"Archive/2020/x", false}, {"archive", true});
}

static void test_selected_literal_brackets(void **state)
{
	struct account_conf acct = {.include = LIST("*"), .exclude = LIST("[Gmail]/Spam")};

	CHECK_SELECTION(&acct, {"[Gmail]/Spam", false}, {"[Gmail]/Trash", true},
			{"G/Spam", false} /* the glob reading still applies */);
}

static void test_selected_exclude_wins(void **state)
{
	struct account_conf acct = {.include = LIST("Work/*", "INBOX"),
				    .exclude = LIST("Work/Old*", "INBOX")};

	CHECK_SELECTION(&acct, {"Work/New", true}, {"Work/Old", false}, {"Work/Old/x", false},
			{"Work", false}, {"Home", false}, {"INBOX", false});
}

static void test_selected_inbox_case(void **state)
{
	struct account_conf acct = {.include = LIST("inbox", "Inbox/Lists/*", "inbox2")};

	CHECK_SELECTION(&acct, {"INBOX", true}, {"inbox", true}, {"Inbox", true},
			{"INBOX/Lists/a", true}, {"inbox/Lists/a", true}, {"INBOX/Other", false},
			{"INBOX/lists/a", false} /* only INBOX itself ignores case */,
			{"inbox2", true}, {"INBOX2", false}, {"Work", false});
}

static void test_selected_inbox_prefix_glob(void **state)
{
	struct account_conf acct = {.include = LIST("inbox*", "W?rk")};

	CHECK_SELECTION(&acct, {"INBOX", true}, {"INBOX/a/b", true}, {"inboxes", true},
			{"Inboxes", false}, {"Work", true}, {"Wrk", false}, {"work", false});
}

/* The display order: sorting a shuffled list gives the one expected. */
static int cmp_names(const void *a, const void *b)
{
	return folder_display_cmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_display_order(void **state)
{
	const char *want[] = {"INBOX",
			      "INBOX/kids",
			      "[Gmail]/All Mail",
			      "Archive",
			      "archive",
			      "Entw\xc3\xbcrfe",
			      "Sent",
			      "Work",
			      "Work/a",
			      "Work/b",
			      "Work-old",
			      "Zed",
			      "\xe6\x97\xa5\xe6\x9c\xac"};
	const char *names[] = {"Work/b",
			       "\xe6\x97\xa5\xe6\x9c\xac",
			       "Zed",
			       "archive",
			       "INBOX/kids",
			       "[Gmail]/All Mail",
			       "Work-old",
			       "Sent",
			       "Work",
			       "Archive",
			       "Entw\xc3\xbcrfe",
			       "Work/a",
			       "INBOX"};

	(void)state;
	assert_int_equal((sizeof(names) / sizeof(names[0])), (sizeof(want) / sizeof(want[0])));
	qsort(names, (sizeof(names) / sizeof(names[0])), sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < (sizeof(want) / sizeof(want[0])); i++)
		assert_string_equal(names[i], want[i]);
	assert_true(folder_display_cmp("inbox", "Archive") < 0);
	assert_int_equal(folder_display_cmp("Sent", "Sent"), 0);
	assert_true(folder_display_cmp("INBOXES", "Archive") > 0); /* not INBOX's tree */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mutf7_valid),
	    cmocka_unit_test(test_mutf7_decode_rejects),
	    cmocka_unit_test(test_mutf7_encode_rejects),
	    cmocka_unit_test(test_mutf7_random_round_trip),
	    cmocka_unit_test(test_mutf7_random_canonical),
	    cmocka_unit_test(test_map_table),
	    cmocka_unit_test(test_remote_name_table),
	    cmocka_unit_test(test_map_random_round_trip),
	    cmocka_unit_test(test_local_random_canonical),
	    cmocka_unit_test(test_pp_map_table),
	    cmocka_unit_test(test_pp_remote_name_table),
	    cmocka_unit_test(test_layout_verbatim),
	    cmocka_unit_test(test_pp_random_round_trip),
	    cmocka_unit_test(test_pp_local_random_canonical),
	    cmocka_unit_test(test_selected_defaults),
	    cmocka_unit_test(test_selected_star_crosses_slash),
	    cmocka_unit_test(test_selected_literal_brackets),
	    cmocka_unit_test(test_selected_exclude_wins),
	    cmocka_unit_test(test_selected_inbox_case),
	    cmocka_unit_test(test_selected_inbox_prefix_glob),
	    cmocka_unit_test(test_display_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
