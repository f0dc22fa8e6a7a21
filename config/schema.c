/* Typed reads of YAML tree nodes. Each failure becomes one line,
 * "file:line:column: key: what was wrong", pointing at the offending node.
 *
 * The schema decides the type, not YAML's implicit typing: `name: 123` is the
 * string "123" and `port: "993"` the integer 993. Values are quoted back in
 * messages only where they cannot be secrets (enums, integers, booleans,
 * keys); a string value is never shown, since it may be a password. */
#include "config/config_p.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/suggest.h"
#include "util/xalloc.h"

/* How much of a bad value a message shows. */
#define SHOW_MAX 40

int schema_error(struct schema_ctx *c, const struct ynode *at, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(c->err, ERR_CONFIG, RETRY_NEVER, "%s:%u:%u: %s", c->file, at->line, at->column,
		  msg);
	return -1;
}

/* A short, quoted, printable copy of s: control bytes become '?', and a long
 * value is cut on a UTF-8 character boundary and ends with "...". */
static void quote(const char *s, size_t len, char *buf, size_t size)
{
	size_t n = len, o = 0;

	if (n > SHOW_MAX) {
		n = SHOW_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	buf[o++] = '"';
	for (size_t i = 0; i < n && o + 5 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (n < len && o + 5 < size)
		o += (size_t)snprintf(buf + o, size - o, "...");
	buf[o++] = '"';
	buf[o] = '\0';
}

/* What v is, for "got ...". A scalar's text is shown: only call this where
 * the value cannot be a secret. */
static const char *describe(const struct ynode *v, char *buf, size_t size)
{
	if (v->kind == YNODE_SEQUENCE)
		return "a sequence";
	if (v->kind == YNODE_MAPPING)
		return "a mapping";
	if (v->len == 0)
		return "an empty value";
	quote(v->value, v->len, buf, size);
	return buf;
}

/* Like describe(), but never shows a scalar's text. */
static const char *describe_kind(const struct ynode *v)
{
	if (v->kind == YNODE_SEQUENCE)
		return "a sequence";
	if (v->kind == YNODE_MAPPING)
		return "a mapping";
	return v->len == 0 ? "an empty value" : "a scalar";
}

int schema_expected(struct schema_ctx *c, const struct ynode *v, const char *what)
{
	char shown[SHOW_MAX + 8];
	const char *got = describe(v, shown, sizeof(shown));

	if (!c->key)
		return schema_error(c, v, "expected %s, got %s", what, got);
	return schema_error(c, v, "%s: expected %s, got %s", c->key, what, got);
}

/* Whether scalar v is exactly word (case-insensitively if icase). */
static bool scalar_is(const struct ynode *v, const char *word, bool icase)
{
	size_t n = strlen(word);

	if (v->kind != YNODE_SCALAR || v->len != n)
		return false;
	return icase ? strncasecmp(v->value, word, n) == 0 : memcmp(v->value, word, n) == 0;
}

/* "a, b, c" from n strings spaced stride bytes apart: an array of names, or
 * the name members (first in the struct) of an array of schema_key. */
static void join(char *buf, size_t size, const void *base, size_t stride, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < size; i++) {
		const char *s = *(const char *const *)((const char *)base + i * stride);

		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", s);
	}
}

static int find_key(struct schema_ctx *c, const struct ynode *k, const char *where,
		    const struct schema_key *keys, size_t nkeys, size_t *idx_r)
{
	char shown[SHOW_MAX + 8];
	char allowed[512];

	if (k->kind != YNODE_SCALAR || k->len == 0)
		return schema_error(c, k, "expected a key name in %s, got %s", where,
				    describe_kind(k));
	for (size_t i = 0; i < nkeys; i++) {
		if (scalar_is(k, keys[i].name, false)) {
			*idx_r = i;
			return 0;
		}
	}
	quote(k->value, k->len, shown, sizeof(shown));
	/* A near miss is almost always a typo: name the key meant. The key is
	 * a C string here (no NUL inside: that would not be near anything). */
	if (!memchr(k->value, '\0', k->len)) {
		const char *near = suggest_closest(k->value, keys, nkeys, sizeof(*keys));

		if (near)
			return schema_error(c, k, "unknown key %s in %s; did you mean \"%s\"?",
					    shown, where, near);
	}
	join(allowed, sizeof(allowed), keys, sizeof(*keys), nkeys);
	return schema_error(c, k, "unknown key %s in %s; allowed: %s", shown, where, allowed);
}

int schema_walk_map(struct schema_ctx *c, const struct ynode *map, const char *where,
		    const struct schema_key *keys, size_t nkeys, const struct ynode **seen,
		    void *obj)
{
	if (map->kind != YNODE_MAPPING)
		return schema_expected(c, map, "a mapping");
	for (size_t i = 0; i + 1 < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];
		size_t idx;

		if (find_key(c, k, where, keys, nkeys, &idx) < 0)
			return -1;
		if (seen[idx])
			return schema_error(c, k, "duplicate key \"%s\" (first at line %u)",
					    keys[idx].name, seen[idx]->line);
		seen[idx] = k;
		c->key = keys[idx].name;
		if (keys[idx].set(c, map->kids[i + 1], obj) < 0)
			return -1;
	}
	return 0;
}

/* Control bytes other than tab: a value meant for one line (a host, a
 * user, a path) holding one is a mistake, or an attempt at IMAP injection. */
static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return true;
	}
	return false;
}

int schema_string(struct schema_ctx *c, const struct ynode *v, unsigned flags, const char **out)
{
	if (v->kind != YNODE_SCALAR)
		return schema_error(c, v, "%s: expected a string, got %s", c->key,
				    describe_kind(v));
	if (v->len == 0)
		return schema_error(c, v, "%s: must not be empty", c->key);
	/* A "\0" escape would silently cut the C string short. */
	if (memchr(v->value, '\0', v->len))
		return schema_error(c, v, "%s: contains a NUL character", c->key);
	if ((flags & SCHEMA_ONE_LINE) && has_control(v->value, v->len))
		return schema_error(c, v, "%s: contains a control character", c->key);
	if ((flags & SCHEMA_ONE_LINE) && v->len > SCHEMA_LINE_MAX)
		return schema_error(c, v, "%s: %zu bytes long, more than the %u allowed", c->key,
				    v->len, SCHEMA_LINE_MAX);
	*out = xstrndup(v->value, v->len);
	return 0;
}

/* The limits of RFC 1035 (253 bytes written without the final dot, labels
 * of 1..63): a longer "host" is a paste gone wrong, and would otherwise
 * fail only later, in the resolver, with a less helpful message. */
static int check_host(struct schema_ctx *c, const struct ynode *v)
{
	size_t len = v->len, label = 0;

	if (len > 1 && v->value[len - 1] == '.')
		len--; /* a fully qualified "imap.example.org." */
	if (len > 253)
		return schema_error(c, v, "%s: %zu characters long; a host name has at most 253",
				    c->key, v->len);
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? v->value[i] : '.';

		if (ch == ' ' || ch == '\t')
			return schema_error(c, v, "%s: contains a space", c->key);
		if (ch != '.') {
			label++;
			continue;
		}
		if (label == 0)
			return schema_error(
			    c, v, "%s: has an empty label (\"..\" or a dot at the start)", c->key);
		if (label > 63)
			return schema_error(c, v,
					    "%s: a label of %zu characters; a host name's labels "
					    "(between dots) have at most 63",
					    c->key, label);
		label = 0;
	}
	return 0;
}

int schema_host(struct schema_ctx *c, const struct ynode *v, const char **out)
{
	if (v->kind == YNODE_SCALAR && v->len > 0 && check_host(c, v) < 0)
		return -1;
	return schema_string(c, v, SCHEMA_ONE_LINE, out);
}

/* Reads [+-]digits, saturating far above any range we check. */
static bool parse_decimal(const char *s, size_t len, bool *neg_r, unsigned long long *n_r)
{
	size_t i = 0;
	unsigned long long n = 0;

	*neg_r = len > 0 && s[0] == '-';
	if (len > 0 && (s[0] == '-' || s[0] == '+'))
		i = 1;
	if (i == len)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (n < 1000000000000ULL)
			n = n * 10 + (unsigned)(s[i] - '0');
	}
	*n_r = n;
	return true;
}

int schema_uint(struct schema_ctx *c, const struct ynode *v, unsigned min, unsigned max,
		unsigned *out)
{
	unsigned long long n;
	bool neg;

	if (v->kind != YNODE_SCALAR || !parse_decimal(v->value, v->len, &neg, &n))
		return schema_expected(c, v, "an integer");
	if ((neg && n > 0) || n < min || n > max) {
		char shown[SHOW_MAX + 8];

		quote(v->value, v->len, shown, sizeof(shown));
		return schema_error(c, v, "%s: %s is out of range (%u..%u)", c->key, shown, min,
				    max);
	}
	*out = (unsigned)n;
	return 0;
}

int schema_bool(struct schema_ctx *c, const struct ynode *v, bool *out)
{
	if (scalar_is(v, "true", true) || scalar_is(v, "yes", true)) {
		*out = true;
		return 0;
	}
	if (scalar_is(v, "false", true) || scalar_is(v, "no", true)) {
		*out = false;
		return 0;
	}
	return schema_expected(c, v, "a boolean (true/false/yes/no)");
}

int schema_enum(struct schema_ctx *c, const struct ynode *v, const char *const *names, int *out)
{
	char allowed[256];
	char what[300];
	size_t n = 0;

	for (; names[n]; n++) {
		if (scalar_is(v, names[n], false)) {
			*out = (int)n;
			return 0;
		}
	}
	/* "a, b or c" */
	join(allowed, sizeof(allowed), names, sizeof(*names), n - 1);
	snprintf(what, sizeof(what), "%s%s%s", allowed, n > 1 ? " or " : "", names[n - 1]);
	return schema_expected(c, v, what);
}

int schema_strlist(struct schema_ctx *c, const struct ynode *v, struct strlist *out)
{
	if (v->kind != YNODE_SEQUENCE)
		return schema_expected(c, v, "a sequence");
	out->items = xcalloc(v->nkids, sizeof(*out->items));
	for (size_t i = 0; i < v->nkids; i++) {
		const char *s = NULL;

		if (schema_string(c, v->kids[i], SCHEMA_ONE_LINE, &s) < 0)
			return -1;
		out->items[out->len++] = (char *)s;
	}
	return 0;
}

void schema_strlist_free(struct strlist *list)
{
	for (size_t i = 0; i < list->len; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->len = 0;
}
