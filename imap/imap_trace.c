/* The IMAP wire trace (log level trace, -vv). It must never show a secret:
 * libetpan tags the LOGIN and AUTHENTICATE lines as private and they are
 * replaced by a marker. It should not show mail either: literal contents
 * (bodies, APPEND data) are replaced by their size, and long lines are cut. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_p.h"
#include "util/log.h"

static void trace_reset(struct imap_trace_dir *d)
{
	d->head_len = 0;
	d->tail_len = 0;
	d->len = 0;
}

static void trace_add(struct imap_trace_dir *d, char ch)
{
	if (d->head_len < sizeof(d->head))
		d->head[d->head_len++] = ch;
	if (d->tail_len == sizeof(d->tail)) {
		memmove(d->tail, d->tail + 1, sizeof(d->tail) - 1);
		d->tail_len--;
	}
	d->tail[d->tail_len++] = ch;
	d->len++;
}

/* The size of the literal announced at the end of the line ("{123}" or
 * "{123+}" before CRLF), or -1. */
static int64_t trace_literal(const struct imap_trace_dir *d)
{
	size_t end = d->tail_len;
	char num[24];
	size_t i, n = 0;

	while (end > 0 && (d->tail[end - 1] == '\n' || d->tail[end - 1] == '\r'))
		end--;
	if (end < 3 || d->tail[end - 1] != '}')
		return -1;
	end--;
	if (d->tail[end - 1] == '+')
		end--;
	for (i = end; i > 0 && isdigit((unsigned char)d->tail[i - 1]); i--)
		;
	if (i == 0 || d->tail[i - 1] != '{' || i == end || end - i >= sizeof(num))
		return -1;
	for (size_t k = i; k < end; k++)
		num[n++] = d->tail[k];
	num[n] = '\0';
	return (int64_t)strtoll(num, NULL, 10);
}

/* Logs the completed line, then arms the literal skip if it announces one.
 * A tagged answer ends the command: a literal we announced and the server
 * refused (APPEND to a missing mailbox) was never sent, so the other
 * direction (peer) must not wait for it. */
static void trace_emit(struct imap_trace_dir *d, struct imap_trace_dir *peer, char dir)
{
	size_t show = d->head_len;
	int64_t lit;

	while (show > 0 && (d->head[show - 1] == '\n' || d->head[show - 1] == '\r'))
		show--;
	for (size_t i = 0; i < show; i++)
		if (!isprint((unsigned char)d->head[i]))
			d->head[i] = '?';
	if (d->len > d->head_len)
		log_trace("imap: %c %.*s ... (%zu bytes)", dir, (int)show, d->head, d->len);
	else
		log_trace("imap: %c %.*s", dir, (int)show, d->head);
	if (dir == '<' && show > 0 && d->head[0] != '*' && d->head[0] != '+')
		peer->skip = 0;
	lit = trace_literal(d);
	if (lit > 0) {
		log_trace("imap: %c <literal of %" PRId64 " bytes not shown>", dir, lit);
		d->skip = (uint64_t)lit;
	}
	trace_reset(d);
}

static void trace_feed(struct imap_trace_dir *d, struct imap_trace_dir *peer, char dir,
		       const char *s, size_t size)
{
	while (size > 0) {
		if (d->skip > 0) {
			size_t n = d->skip < size ? (size_t)d->skip : size;

			d->skip -= n;
			s += n;
			size -= n;
			continue;
		}
		trace_add(d, *s);
		if (*s == '\n')
			trace_emit(d, peer, dir);
		s++;
		size--;
	}
}

/* libetpan hands over the unparsed rest of the response. */
static void trace_parse_error(const char *str, size_t size)
{
	char buf[121];
	size_t n = 0;

	for (; str && n < size && n + 1 < sizeof(buf); n++)
		buf[n] = isprint((unsigned char)str[n]) ? str[n] : '?';
	buf[n] = '\0';
	log_trace("imap: parse error near: %s", buf);
}

void imap_trace_log(mailimap *mi, int log_type, const char *str, size_t size, void *ctx)
{
	struct imap *imap = ctx;

	(void)mi;
	switch (log_type) {
	case MAILSTREAM_LOG_TYPE_DATA_RECEIVED:
		trace_feed(&imap->trace_in, &imap->trace_out, '<', str, size);
		break;
	case MAILSTREAM_LOG_TYPE_DATA_SENT:
		trace_feed(&imap->trace_out, &imap->trace_in, '>', str, size);
		break;
	case MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE:
		/* A whole command line with a password or token in it. */
		trace_reset(&imap->trace_out);
		log_trace("imap: > <secret hidden>");
		break;
	case MAILSTREAM_LOG_TYPE_ERROR_PARSE:
		trace_parse_error(str, size);
		break;
	default:
		break; /* libetpan's own banners and I/O error markers */
	}
}
