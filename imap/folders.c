/* Remote folder names <-> local paths and display names, and folder
 * selection by glob. The escaping scheme is described in folders.h. */
#include "imap/folders.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

/* A growing NUL-terminated string. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sbuf_putc(struct sbuf *b, char c)
{
	b->s = xgrow(b->s, &b->cap, b->len + 2, 1);
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

static void sbuf_puts(struct sbuf *b, const char *s)
{
	while (*s)
		sbuf_putc(b, *s++);
}

/* The string, never NULL (an empty buffer gives ""); the caller frees it. */
static char *sbuf_take(struct sbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");

	*b = (struct sbuf){NULL, 0, 0};
	return s;
}

/* Called with one component of a name (a NUL-terminated copy), whether it is
 * the first one, and the remote delimiter; appends its mapping to out.
 * Returns 0 ok, -1 invalid. */
typedef int (*component_fn)(const char *comp, bool first, char delim, struct sbuf *out);

/* Splits name at sep ('\0': one component), maps each component with fn and
 * joins the results with out_sep. Returns 0 ok, -1 invalid. */
static int map_components(const char *name, char sep, char out_sep, component_fn fn, char delim,
			  char **out_r)
{
	struct sbuf out = {NULL, 0, 0};
	const char *p = name;

	if (*name == '\0')
		return -1; /* no folder has an empty name */
	for (bool first = true;; first = false) {
		const char *end = sep ? strchr(p, sep) : NULL;
		char *comp = xstrndup(p, end ? (size_t)(end - p) : strlen(p));
		int ret;

		if (!first)
			sbuf_putc(&out, out_sep);
		ret = fn(comp, first, delim, &out);
		free(comp);
		if (ret < 0) {
			free(out.s);
			return -1;
		}
		if (!end)
			break;
		p = end + 1;
	}
	*out_r = sbuf_take(&out);
	return 0;
}

/* Delimiters are single printable ASCII characters, or '\0' for a flat
 * namespace; anything else cannot be mapped safely. */
static bool delim_ok(char delim)
{
	return delim == '\0' || (delim >= 0x20 && delim <= 0x7e);
}

static bool is_inbox(const char *comp, bool first)
{
	return first && strcasecmp(comp, "INBOX") == 0;
}

static bool is_maildir_subdir(const char *comp)
{
	return strcmp(comp, "cur") == 0 || strcmp(comp, "new") == 0 || strcmp(comp, "tmp") == 0;
}

static bool needs_escape(unsigned char c, bool at_start, bool reserved)
{
	if (c == '%' || c == '/' || c < 0x20 || c == 0x7f)
		return true;
	return at_start && (c == '.' || reserved);
}

/* Appends one decoded component as a layout names it on disk (see
 * folders.h). Verbatim escapes what needs_escape says (a leading dot, and
 * cur/new/tmp whole); Maildir++ also escapes every '.', its hierarchy
 * separator on disk, and needs no more (the directory is ".cur"). */
static void escape_as(const char *raw, bool first, bool maildirpp, struct sbuf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	bool reserved = !maildirpp && is_maildir_subdir(raw);

	if (is_inbox(raw, first)) {
		sbuf_puts(out, "INBOX");
		return;
	}
	if (*raw == '\0') {
		sbuf_putc(out, '%');
		return;
	}
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		bool at_start = !maildirpp && p == (const unsigned char *)raw;

		if ((maildirpp && *p == '.') || needs_escape(*p, at_start, reserved)) {
			sbuf_putc(out, '%');
			sbuf_putc(out, hex[*p >> 4]);
			sbuf_putc(out, hex[*p & 0xf]);
		} else {
			sbuf_putc(out, (char)*p);
		}
	}
}

static void escape_component(const char *raw, bool first, struct sbuf *out)
{
	escape_as(raw, first, false, out);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undoes the escapes of one local component. Lenient on purpose: the caller
 * re-escapes the result and compares, which rejects every non-canonical
 * form at once. Returns 0 ok, -1 on a malformed escape or an escaped NUL. */
static int unescape_component(const char *comp, struct sbuf *raw)
{
	if (strcmp(comp, "%") == 0)
		return 0; /* the empty component */
	for (const char *p = comp; *p; p++) {
		int hi, lo;

		if (*p != '%') {
			sbuf_putc(raw, *p);
			continue;
		}
		hi = hex_value(p[1]);
		lo = hi < 0 ? -1 : hex_value(p[2]);
		if (lo < 0 || (hi == 0 && lo == 0))
			return -1;
		sbuf_putc(raw, (char)(hi << 4 | lo));
		p += 2;
	}
	return 0;
}

static int local_component(const char *comp, bool first, char delim, struct sbuf *out)
{
	char *raw;

	if (mutf7_decode(comp, &raw) < 0)
		return -1;
	escape_component(raw, first, out);
	free(raw);
	return 0;
}

int folder_local_path(const char *remote, char delim, char **path_r)
{
	if (!delim_ok(delim))
		return -1;
	return map_components(remote, delim, '/', local_component, delim, path_r);
}

/* One local component back to its wire form, against the escaping of one
 * layout: only the one spelling that escape produces is accepted, so that
 * two local directories never name the same remote folder. */
static int remote_component_as(const char *comp, bool first, char delim, struct sbuf *out,
			       void (*escape)(const char *raw, bool first, struct sbuf *out))
{
	struct sbuf rawb = {NULL, 0, 0}, check = {NULL, 0, 0};
	char *raw = NULL, *canon = NULL, *wire = NULL;
	int ret = -1;

	if (unescape_component(comp, &rawb) < 0)
		goto out;
	raw = sbuf_take(&rawb);
	escape(raw, first, &check);
	canon = sbuf_take(&check);
	if (strcmp(canon, comp) != 0 || mutf7_encode(raw, &wire) < 0)
		goto out;
	/* A delimiter inside a component would split it on the server. */
	if (delim && strchr(wire, delim))
		goto out;
	sbuf_puts(out, wire);
	ret = 0;
out:
	free(rawb.s);
	free(raw);
	free(canon);
	free(wire);
	return ret;
}

static int remote_component(const char *comp, bool first, char delim, struct sbuf *out)
{
	return remote_component_as(comp, first, delim, out, escape_component);
}

int folder_remote_name(const char *local_path, char delim, char **remote_r)
{
	if (!delim_ok(delim))
		return -1;
	/* A flat namespace has no hierarchy to map '/' to. */
	if (delim == '\0' && strchr(local_path, '/'))
		return -1;
	/* The lone "%" would be the empty name, which no folder has. */
	if (strcmp(local_path, "%") == 0)
		return -1;
	return map_components(local_path, '/', delim, remote_component, delim, remote_r);
}

/* ------------------------------------------------------------ Maildir++ */

static void pp_escape_component(const char *raw, bool first, struct sbuf *out)
{
	escape_as(raw, first, true, out);
}

static int pp_local_component(const char *comp, bool first, char delim, struct sbuf *out)
{
	char *raw;

	(void)delim;
	if (mutf7_decode(comp, &raw) < 0)
		return -1;
	pp_escape_component(raw, first, out);
	free(raw);
	return 0;
}

static int folder_pp_local_path(const char *remote, char delim, char **path_r)
{
	char *joined;

	if (!delim_ok(delim) ||
	    map_components(remote, delim, '.', pp_local_component, delim, &joined) < 0)
		return -1;
	/* INBOX is the root itself; every other folder a dot directory. */
	*path_r = strcmp(joined, "INBOX") == 0 ? xstrdup(".") : xasprintf(".%s", joined);
	free(joined);
	return 0;
}

/* As remote_component, against the Maildir++ escaping. */
static int pp_remote_component(const char *comp, bool first, char delim, struct sbuf *out)
{
	return remote_component_as(comp, first, delim, out, pp_escape_component);
}

static int folder_pp_remote_name(const char *local_path, char delim, char **remote_r)
{
	const char *name = local_path + 1;

	if (!delim_ok(delim))
		return -1;
	if (strcmp(local_path, ".") == 0) {
		*remote_r = xstrdup("INBOX");
		return 0;
	}
	/* Only dot directories of the root; ".INBOX" would be a second INBOX,
	 * "." is the one; ".%" would be the empty name. */
	if (local_path[0] != '.' || strchr(name, '/') || strcmp(name, "INBOX") == 0 ||
	    strcmp(name, "%") == 0)
		return -1;
	if (delim == '\0' && strchr(name, '.'))
		return -1;
	return map_components(name, '.', delim, pp_remote_component, delim, remote_r);
}

int folder_layout_local_path(enum maildir_layout layout, const char *remote, char delim,
			     char **path_r)
{
	if (layout == LAYOUT_MAILDIRPP)
		return folder_pp_local_path(remote, delim, path_r);
	return folder_local_path(remote, delim, path_r);
}

int folder_layout_remote_name(enum maildir_layout layout, const char *local_path, char delim,
			      char **remote_r)
{
	if (layout == LAYOUT_MAILDIRPP)
		return folder_pp_remote_name(local_path, delim, remote_r);
	return folder_remote_name(local_path, delim, remote_r);
}

/* Control characters (C0, DEL and the UTF-8 encoded C1 range) are shown as
 * '?', so that a hostile folder name cannot drive a terminal. */
static void put_printable(const char *s, struct sbuf *out)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		if (*p < 0x20 || *p == 0x7f) {
			sbuf_putc(out, '?'), p++;
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			sbuf_putc(out, '?'), p += 2;
		} else {
			sbuf_putc(out, (char)*p++);
		}
	}
}

static int display_component(const char *comp, bool first, char delim, struct sbuf *out)
{
	char *raw;

	if (mutf7_decode(comp, &raw) < 0)
		return -1;
	if (is_inbox(raw, first))
		sbuf_puts(out, "INBOX");
	else
		put_printable(raw, out);
	free(raw);
	return 0;
}

int folder_display_name(const char *remote, char delim, char **name_r)
{
	if (!delim_ok(delim))
		return -1;
	return map_components(remote, delim, '/', display_component, delim, name_r);
}

/* True when s is INBOX or inside it, its first component in any case. */
static bool in_inbox(const char *s)
{
	return strncasecmp(s, "INBOX", 5) == 0 && (s[5] == '\0' || s[5] == '/');
}

static void upcase_inbox(char *s)
{
	for (int i = 0; i < 5; i++)
		s[i] = "INBOX"[i];
}

/* fnmatch without FNM_PATHNAME, so '*' crosses '/'. A pattern equal to the
 * name also matches, so that "[Gmail]/Spam" works although '[' opens a
 * bracket expression. A pattern starting with "inbox" in any case is also
 * tried as "INBOX..." against names inside INBOX. */
static bool pattern_matches(const char *pattern, const char *name)
{
	char *up;
	bool ok;

	if (strcmp(pattern, name) == 0 || fnmatch(pattern, name, 0) == 0)
		return true;
	if (!in_inbox(name) || strncasecmp(pattern, "INBOX", 5) != 0)
		return false;
	up = xstrdup(pattern);
	upcase_inbox(up);
	ok = fnmatch(up, name, 0) == 0;
	free(up);
	return ok;
}

static bool any_matches(const struct strlist *patterns, const char *name)
{
	for (size_t i = 0; i < patterns->len; i++) {
		if (pattern_matches(patterns->items[i], name))
			return true;
	}
	return false;
}

bool folder_selected(const struct account_conf *acct, const char *display_name)
{
	char *name = xstrdup(display_name);
	bool included;

	/* Callers normally pass folder_display_name() output, which already
	 * spells INBOX in capitals; a raw "inbox/x" is treated the same. */
	if (in_inbox(name))
		upcase_inbox(name);
	included = acct->include.len == 0 || any_matches(&acct->include, name);
	included = included && !any_matches(&acct->exclude, name);
	free(name);
	return included;
}

/* A byte's rank: '/' lowest, ASCII letters as lower case, others as is. */
static int display_rank(unsigned char c)
{
	if (c == '/')
		return 1;
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int folder_display_cmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
	bool ia = in_inbox(a), ib = in_inbox(b);

	if (ia != ib)
		return ia ? -1 : 1;
	if (ia) { /* "inbox" and "INBOX" rank alike: skip the word */
		p += 5;
		q += 5;
	}
	for (; *p && display_rank(*p) == display_rank(*q); p++, q++)
		;
	if (*p || *q)
		return display_rank(*p) - display_rank(*q);
	return strcmp(a, b);
}
