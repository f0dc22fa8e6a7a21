/* A message to send: its header fields, its addresses, and the queue
 * file's envelope fields (envelope.h). Everything is length-based: a
 * message may hold NUL bytes, lack a body, or lack a header. */
#include "smtp/envelope.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

#define ENV_FROM "X-Gmaildir-Envelope-From"
#define ENV_TO "X-Gmaildir-Envelope-To"

/* ------------------------------------------------------------ buffers */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* ------------------------------------------------------------ fields */

/* One header field: [start, end) with its line end and continuations;
 * the name is [start, start + name_len), the value follows the colon. */
struct field {
	size_t start, end, name_len, value;
};

struct header {
	struct field *f;
	size_t n;
	size_t end;	 /* where the header section ends (before the blank line) */
	size_t body;	 /* where the body starts (after the blank line) */
	bool blank_line; /* a blank line separates header and body */
};

/* The end of the line starting at i (after its LF, CR LF or lone CR). */
static size_t line_end(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] != '\n' && s[i] != '\r')
		i++;
	if (i < len && s[i] == '\r') {
		i++;
		if (i < len && s[i] == '\n')
			i++;
	} else if (i < len) {
		i++;
	}
	return i;
}

/* The length of a field name at s (printable, no space, then ':'), or 0. */
static size_t field_name(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i] > 0x20 && s[i] < 0x7f && s[i] != ':')
		i++;
	return i > 0 && i < len && s[i] == ':' ? i : 0;
}

static bool is_blank_line(const char *s, size_t len, size_t i)
{
	return i < len && (s[i] == '\n' || s[i] == '\r');
}

static void header_parse(const char *s, size_t len, struct header *h)
{
	size_t i = 0, cap = 0;

	memset(h, 0, sizeof(*h));
	while (i < len && !is_blank_line(s, len, i)) {
		size_t nl = field_name(s + i, len - i);
		struct field f;

		if (nl == 0)
			break; /* not a field: the body starts here */
		f = (struct field){.start = i, .name_len = nl, .value = i + nl + 1};
		i = line_end(s, len, i);
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i = line_end(s, len, i);
		f.end = i;
		if (h->n == cap) {
			cap = cap ? cap * 2 : 16;
			h->f = xrealloc(h->f, cap * sizeof(*h->f));
		}
		h->f[h->n++] = f;
	}
	h->end = i;
	h->blank_line = is_blank_line(s, len, i);
	h->body = h->blank_line ? line_end(s, len, i) : i;
}

static bool field_is(const char *s, const struct field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(s + f->start, name, f->name_len) == 0;
}

static const struct field *field_find(const char *s, const struct header *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (field_is(s, &h->f[i], name))
			return &h->f[i];
	return NULL;
}

/* ------------------------------------------------------------ addresses */

struct addrs {
	char **a;
	size_t n, cap;
};

static void addrs_add(struct addrs *l, const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (n == 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->a[i]) == n && strncasecmp(l->a[i], s, n) == 0)
			return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->a = xrealloc(l->a, l->cap * sizeof(*l->a));
	}
	l->a[l->n++] = xstrndup(s, n);
}

/* Skips a comment starting at s[i] == '(' (nested, with escapes). */
static size_t skip_comment(const char *s, size_t len, size_t i)
{
	int depth = 0;

	for (; i < len; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')' && --depth == 0) {
			return i + 1;
		}
	}
	return len;
}

/* The end of a quoted string or domain literal opened at s[i]. */
static size_t skip_quoted(const char *s, size_t len, size_t i, char close)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == close)
			return i + 1;
	}
	return len;
}

/* The parser's state for one mailbox: the addr-spec text seen outside
 * angle brackets (for a bare address), and the one inside them. */
struct mbox {
	struct buf plain;
	struct buf angle;
	bool have_angle;
	bool in_angle;
};

static void mbox_end(struct mbox *m, struct addrs *out)
{
	if (m->have_angle) {
		const char *a = m->angle.p ? m->angle.p : "";
		const char *colon = a[0] == '@' ? strchr(a, ':') : NULL;

		/* An obsolete route "<@relay1,@relay2:user@host>". */
		if (colon)
			a = colon + 1;
		addrs_add(out, a, strlen(a));
	} else if (m->plain.p) {
		addrs_add(out, m->plain.p, m->plain.len);
	}
	free(m->plain.p);
	free(m->angle.p);
	*m = (struct mbox){0};
}

static void mbox_text(struct mbox *m, const char *s, size_t n)
{
	buf_add(m->in_angle ? &m->angle : &m->plain, s, n);
}

static void parse_addrs_into(const char *s, size_t len, struct addrs *out)
{
	struct mbox m = {0};
	size_t i = 0;

	while (i < len) {
		char c = s[i];
		size_t j;

		if (c == '(') {
			i = skip_comment(s, len, i);
		} else if (c == '"' || c == '[') {
			j = skip_quoted(s, len, i, c == '"' ? '"' : ']');
			mbox_text(&m, s + i, j - i);
			i = j;
		} else if (c == '<') {
			m.in_angle = true;
			m.have_angle = true;
			free(m.angle.p);
			m.angle = (struct buf){0};
			i++;
		} else if (c == '>') {
			m.in_angle = false;
			i++;
		} else if (c == ',' && !m.in_angle) {
			mbox_end(&m, out);
			i++;
		} else if (c == ':' && !m.in_angle) {
			/* "Group name:" - what came before was its name. */
			free(m.plain.p);
			m.plain = (struct buf){0};
			i++;
		} else if (c == ';' && !m.in_angle) {
			mbox_end(&m, out);
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			/* Words of a display name are not an address: a space
			 * outside brackets starts over, unless an '@' is next. */
			if (!m.in_angle && m.plain.len > 0 &&
			    !memchr(m.plain.p, '@', m.plain.len)) {
				size_t k = i;

				while (k < len && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r' ||
						   s[k] == '\n'))
					k++;
				if (k < len && s[k] != '@' && s[k] != '.') {
					free(m.plain.p);
					m.plain = (struct buf){0};
				}
			}
			i++;
		} else {
			j = i;
			while (j < len && !strchr("()\"[<>,:; \t\r\n", s[j]))
				j++;
			if (j == i)
				j++;
			mbox_text(&m, s + i, j - i);
			i = j;
		}
	}
	mbox_end(&m, out);
}

void envelope_parse_addrs(const char *s, size_t len, char ***addrs_r, size_t *n_r)
{
	struct addrs l = {0};

	parse_addrs_into(s, len, &l);
	*addrs_r = l.a;
	*n_r = l.n;
}

void envelope_addrs_free(char **addrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

static void field_addrs(const char *s, const struct field *f, struct addrs *out)
{
	parse_addrs_into(s + f->value, f->end - f->value, out);
}

void envelope_from_address(const char *raw, size_t len, char **addr_r)
{
	struct header h;
	const struct field *f;
	struct addrs l = {0};

	*addr_r = NULL;
	header_parse(raw, len, &h);
	f = field_find(raw, &h, "From");
	if (f)
		field_addrs(raw, f, &l);
	if (l.n > 0) {
		*addr_r = l.a[0];
		l.a[0] = NULL;
	}
	envelope_addrs_free(l.a, l.n);
	free(h.f);
}

/* ------------------------------------------------------------ prepare */

/* s[0, n) with every line end made CRLF. */
static void add_crlf(struct buf *b, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\r' && s[i] != '\n')
			continue;
		buf_add(b, s + run, i - run);
		buf_add(b, "\r\n", 2);
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			i++;
		run = i + 1;
	}
	buf_add(b, s + run, n - run);
}

/* The Message-ID of the header, "<...>", or NULL. */
static char *message_id_of(const char *s, const struct header *h)
{
	const struct field *f = field_find(s, h, "Message-ID");
	const char *v, *lt, *gt;
	size_t n;

	if (!f)
		return NULL;
	v = s + f->value;
	n = f->end - f->value;
	lt = memchr(v, '<', n);
	gt = lt ? memchr(lt, '>', n - (size_t)(lt - v)) : NULL;
	if (!lt || !gt)
		return NULL;
	for (const char *p = lt; p <= gt; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			return NULL;
	return xstrndup(lt, (size_t)(gt - lt) + 1);
}

/* An RFC 5322 date, in the C locale whatever the process's. */
static void format_date(time_t now, long tz_min, char *buf, size_t size)
{
	static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t local = now + tz_min * 60;
	long off = tz_min < 0 ? -tz_min : tz_min;
	struct tm tm;

	gmtime_r(&local, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, tz_min < 0 ? '-' : '+', off / 60, off % 60);
}

/* Bcc and Resent-Bcc are never transmitted. */
static bool is_bcc(const char *s, const struct field *f)
{
	return field_is(s, f, "Bcc") || field_is(s, f, "Resent-Bcc");
}

/* The recipients -t finds: Resent-To/Cc/Bcc when the message has any
 * (it is being re-sent), else To/Cc/Bcc. */
static void header_rcpts(const char *s, const struct header *h, struct addrs *out)
{
	static const char *const resent[] = {"Resent-To", "Resent-Cc", "Resent-Bcc"};
	static const char *const plain[] = {"To", "Cc", "Bcc"};
	const char *const *names = plain;

	for (size_t i = 0; i < h->n; i++)
		for (size_t k = 0; k < 3; k++)
			if (field_is(s, &h->f[i], resent[k]))
				names = resent;
	for (size_t i = 0; i < h->n; i++)
		for (size_t k = 0; k < 3; k++)
			if (field_is(s, &h->f[i], names[k]))
				field_addrs(s, &h->f[i], out);
}

/* An address we can write between < and > in MAIL or RCPT. */
static bool usable(const char *a)
{
	if (strlen(a) > 256)
		return false;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return true;
}

static bool has_high(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* The new message: fields but Bcc, the ones we add, the body; CRLF. */
static void build(const char *raw, size_t len, const struct header *h, const struct prepare_opts *o,
		  struct outgoing *out)
{
	struct buf b = {0};
	char date[64];

	for (size_t i = 0; i < h->n; i++)
		if (!is_bcc(raw, &h->f[i]))
			add_crlf(&b, raw + h->f[i].start, h->f[i].end - h->f[i].start);
	/* A last field without a line end (a message of only a header). */
	if (b.len > 0 && b.p[b.len - 1] != '\n')
		buf_add(&b, "\r\n", 2);
	if (!field_find(raw, h, "From")) {
		if (o->full_name && *o->full_name) {
			buf_str(&b, "From: \"");
			for (const char *p = o->full_name; *p; p++) {
				if (*p == '"' || *p == '\\')
					buf_add(&b, "\\", 1);
				if (*p != '\r' && *p != '\n')
					buf_add(&b, p, 1);
			}
			buf_str(&b, "\" <");
			buf_str(&b, o->default_from);
			buf_str(&b, ">\r\n");
		} else {
			buf_str(&b, "From: ");
			buf_str(&b, o->default_from);
			buf_str(&b, "\r\n");
		}
	}
	if (!field_find(raw, h, "Date")) {
		format_date(o->now, o->tz_offset_minutes, date, sizeof(date));
		buf_str(&b, "Date: ");
		buf_str(&b, date);
		buf_str(&b, "\r\n");
	}
	if (!out->message_id) {
		out->message_id = xasprintf("<%s@%s>", o->random_tag, o->msgid_domain);
		buf_str(&b, "Message-ID: ");
		buf_str(&b, out->message_id);
		buf_str(&b, "\r\n");
	}
	buf_add(&b, "\r\n", 2);
	add_crlf(&b, raw + h->body, len - h->body);
	out->data = b.p;
	out->len = b.len;
}

int envelope_prepare(const char *raw, size_t len, const struct prepare_opts *o,
		     struct outgoing *out, struct error *err)
{
	struct header h;
	struct addrs rcpts = {0}, from = {0};
	const struct field *ff;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	header_parse(raw, len, &h);
	for (size_t i = 0; i < o->n_rcpts; i++)
		parse_addrs_into(o->rcpts[i], strlen(o->rcpts[i]), &rcpts);
	if (o->from_headers)
		header_rcpts(raw, &h, &rcpts);
	if (rcpts.n == 0) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER,
			  "no recipients: give addresses or use -t (To, Cc, Bcc)");
		goto out;
	}
	ff = field_find(raw, &h, "From");
	if (ff)
		field_addrs(raw, ff, &from);
	out->from_addr = from.n ? xstrdup(from.a[0]) : NULL;
	out->sender = xstrdup(o->sender	       ? o->sender
			      : out->from_addr ? out->from_addr
					       : o->default_from);
	for (size_t i = 0; i < rcpts.n; i++) {
		if (!usable(rcpts.a[i])) {
			error_set(err, ERR_MESSAGE, RETRY_NEVER,
				  "recipient %.200s cannot be given to an SMTP server", rcpts.a[i]);
			goto out;
		}
		out->utf8 |= has_high(rcpts.a[i], strlen(rcpts.a[i]));
	}
	if (!usable(out->sender)) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER,
			  "the sender address cannot be given to an SMTP server (use -f)");
		goto out;
	}
	out->message_id = message_id_of(raw, &h);
	build(raw, len, &h, o, out);
	out->rcpts = rcpts.a;
	out->n_rcpts = rcpts.n;
	rcpts.a = NULL;
	rcpts.n = 0;
	out->eight_bit = has_high(out->data, out->len);
	out->utf8 |= has_high(raw, h.end) || has_high(out->sender, strlen(out->sender));
	ret = 0;
out:
	envelope_addrs_free(rcpts.a, rcpts.n);
	envelope_addrs_free(from.a, from.n);
	free(h.f);
	if (ret < 0)
		outgoing_free(out);
	return ret;
}

void outgoing_free(struct outgoing *o)
{
	free(o->data);
	free(o->sender);
	envelope_addrs_free(o->rcpts, o->n_rcpts);
	free(o->message_id);
	free(o->from_addr);
	memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------ the queue file */

char *envelope_encode(const struct outgoing *o, size_t *len_r)
{
	struct buf b = {0};

	buf_str(&b, ENV_FROM ": <");
	buf_str(&b, o->sender);
	buf_str(&b, ">\r\n");
	for (size_t i = 0; i < o->n_rcpts; i++) {
		buf_str(&b, ENV_TO ": <");
		buf_str(&b, o->rcpts[i]);
		buf_str(&b, ">\r\n");
	}
	buf_add(&b, o->data, o->len);
	*len_r = b.len;
	return b.p;
}

/* The address between < and > of an envelope field's value. */
static char *angle_value(const char *v, size_t n)
{
	const char *lt = memchr(v, '<', n);
	const char *gt = lt ? memchr(lt, '>', n - (size_t)(lt - v)) : NULL;

	return lt && gt ? xstrndup(lt + 1, (size_t)(gt - lt) - 1) : NULL;
}

int envelope_decode(const char *file, size_t len, struct queued *q, struct error *err)
{
	size_t i = 0;
	struct addrs rcpts = {0};

	memset(q, 0, sizeof(*q));
	while (i < len) {
		size_t nl = field_name(file + i, len - i), e = line_end(file, len, i);
		bool from = nl == strlen(ENV_FROM) && strncasecmp(file + i, ENV_FROM, nl) == 0;
		bool to = nl == strlen(ENV_TO) && strncasecmp(file + i, ENV_TO, nl) == 0;
		char *a;

		if (!from && !to)
			break;
		a = angle_value(file + i + nl + 1, e - i - nl - 1);
		if (a && from && !q->sender)
			q->sender = a;
		else if (a && to) {
			addrs_add(&rcpts, a, strlen(a));
			free(a);
		} else {
			free(a);
		}
		i = e;
	}
	q->rcpts = rcpts.a;
	q->n_rcpts = rcpts.n;
	if (!q->sender || q->n_rcpts == 0) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER,
			  "not a queued message: no " ENV_FROM " and " ENV_TO " fields at the "
			  "top");
		queued_free(q);
		return -1;
	}
	q->data = file + i;
	q->len = len - i;
	{
		struct header h;

		header_parse(q->data, q->len, &h);
		q->message_id = message_id_of(q->data, &h);
		free(h.f);
	}
	return 0;
}

void queued_free(struct queued *q)
{
	free(q->sender);
	envelope_addrs_free(q->rcpts, q->n_rcpts);
	free(q->message_id);
	memset(q, 0, sizeof(*q));
}
