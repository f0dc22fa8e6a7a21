/* IDLE (RFC 2177) for the daemon's event loop (see imap.h).
 *
 * The IDLE command is sent here rather than by mailimap_idle(): 1.9.4's
 * version dereferences the selection without checking it and, when an
 * untagged response precedes the "+" continuation, blocks until the read
 * timeout and kills the connection (LIBETPAN.md §0, libetpan issue #393).
 * Such responses are put back in front of the stream's read buffer, so
 * that the parse after DONE handles them with the rest, exactly as if
 * they had come after the "+".
 *
 * The phase is kept in libetpan's own imap_idle_timestamp, which nothing
 * else reads but mailimap_idle_get_done_delay(): 0 off, the start time
 * while idling, and two negative values for a command sent whose answer
 * has not been read yet. */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap/imap_p.h"
#include "net/tls.h"

#define PHASE_STARTING ((time_t)-1) /* IDLE sent, "+" not read yet */
#define PHASE_ENDING ((time_t)-2)   /* DONE sent, tagged answer not read yet */

enum imap_idle_phase imap_idle_phase(const struct imap *imap)
{
	time_t t = imap->mi ? imap->mi->imap_idle_timestamp : 0;

	if (t == 0)
		return IMAP_IDLE_OFF;
	if (t == PHASE_STARTING)
		return IMAP_IDLE_STARTING;
	if (t == PHASE_ENDING)
		return IMAP_IDLE_ENDING;
	return IMAP_IDLE_ON;
}

static void set_phase(struct imap *imap, time_t t)
{
	imap->mi->imap_idle_timestamp = t;
}

bool imap_idle_events_any(const struct imap_idle_events *ev)
{
	return ev->exists || ev->expunged > 0 || ev->fetches > 0 || ev->vanished > 0;
}

int imap_idle_fd(const struct imap *imap)
{
	if (!imap->mi || !imap->mi->imap_stream)
		return -1;
	return mailimap_idle_get_fd(imap->mi);
}

bool imap_idle_has_buffered(const struct imap *imap)
{
	mailstream *s = imap->mi ? imap->mi->imap_stream : NULL;

	return s && (s->read_buffer_len > 0 || tls_low_pending(mailstream_get_low(s)));
}

bool imap_has_input(const struct imap *imap)
{
	struct pollfd pfd = {.fd = imap_idle_fd(imap), .events = POLLIN};

	return imap_idle_has_buffered(imap) || (pfd.fd >= 0 && poll(&pfd, 1, 0) > 0);
}

static int refuse(struct error *err, const char *why)
{
	error_set(err, ERR_FOLDER, RETRY_NEVER, "IDLE: %s", why);
	return -1;
}

/* Every step starts here: a live connection in the expected phase. */
static int check_phase(struct imap *imap, enum imap_idle_phase want, struct error *err)
{
	static const char *const why[] = {
	    [IMAP_IDLE_OFF] = "not idling",
	    [IMAP_IDLE_STARTING] = "IDLE was not sent",
	    [IMAP_IDLE_ON] = "not idling",
	    [IMAP_IDLE_ENDING] = "DONE was not sent",
	};

	if (imap_check_alive(imap, err) < 0)
		return -1;
	if (imap_idle_phase(imap) == want)
		return 0;
	if (want == IMAP_IDLE_OFF)
		return refuse(err, "already idling");
	return refuse(err, why[want]);
}

/* A connection-killing problem of our own finding. */
static int broken(struct imap *imap, struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int broken(struct imap *imap, struct error *err, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	imap->dead = true;
	set_phase(imap, 0);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "IDLE: %s", msg);
	return -1;
}

/* Sends one command line with a fresh tag (IDLE) or without (DONE). */
static int send_line(struct imap *imap, bool tagged, const char *line, struct error *err)
{
	mailstream *s = imap->mi->imap_stream;

	if ((tagged && mailimap_send_current_tag(imap->mi) != MAILIMAP_NO_ERROR) ||
	    mailstream_write(s, line, strlen(line)) < 0 || mailstream_flush(s) < 0) {
		set_phase(imap, 0);
		return imap_fail(imap, MAILIMAP_ERROR_STREAM, ERR_ACCOUNT, err, "IDLE");
	}
	return 0;
}

/* ----------------------------------------------------------------- start */

int imap_idle_start_send(struct imap *imap, struct error *err)
{
	if (check_phase(imap, IMAP_IDLE_OFF, err) < 0)
		return -1;
	if (!imap_has(imap, IMAP_CAP_IDLE))
		return refuse(err, "the server does not offer IDLE");
	if (imap->mi->imap_state != MAILIMAP_STATE_SELECTED || !imap->mi->imap_selection_info)
		return refuse(err, "no mailbox selected");
	/* As mailimap_idle() does: the answer to DONE reports what comes
	 * from now on. */
	imap->mi->imap_selection_info->sel_has_exists = 0;
	imap->mi->imap_selection_info->sel_has_recent = 0;
	if (send_line(imap, true, "IDLE\r\n", err) < 0)
		return -1;
	set_phase(imap, PHASE_STARTING);
	return 0;
}

/* Puts data back in front of what the stream has buffered, so that the
 * next reads return it first. The buffer holds buffer_max_size bytes. */
static int unread(mailstream *s, const MMAPString *data)
{
	if (data->len == 0)
		return 0;
	if (data->len > s->buffer_max_size - s->read_buffer_len)
		return -1;
	memmove(s->read_buffer + data->len, s->read_buffer, s->read_buffer_len);
	memcpy(s->read_buffer, data->str, data->len);
	s->read_buffer_len += data->len;
	return 0;
}

/* A line that announces a literal ("... {12}" or "{12+}" at its end). */
static bool ends_in_literal(const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	return len > 0 && line[len - 1] == '}';
}

/* The tagged answer to IDLE instead of "+": a NO (e.g. not allowed in
 * this state) keeps the connection, anything else breaks it. */
static int tagged_instead(struct imap *imap, struct error *err)
{
	struct mailimap_response *resp = NULL;
	int r = mailimap_parse_response(imap->mi, &resp);

	if (r == MAILIMAP_NO_ERROR) {
		mailimap_response_free(resp);
		r = MAILIMAP_ERROR_EXTENSION; /* the server's text says why */
	}
	return imap_fail(imap, r, ERR_FOLDER, err, "IDLE");
}

/* Reads up to the "+" continuation, collecting untagged lines in early. */
static int wait_continuation(struct imap *imap, MMAPString *early, struct error *err)
{
	size_t cap = imap->mi->imap_stream->buffer_max_size;

	for (;;) {
		const char *line = mailimap_read_line(imap->mi);
		size_t len;

		if (!line)
			return imap_fail(imap, MAILIMAP_ERROR_STREAM, ERR_ACCOUNT, err, "IDLE");
		len = imap->mi->imap_stream_buffer->len;
		if (line[0] == '+')
			return 0;
		if (line[0] != '*')
			return tagged_instead(imap, err);
		/* A literal's bytes need not end in a line: not worth the
		 * code for something no server sends before "+". */
		if (ends_in_literal(line, len))
			return broken(imap, err, "a literal before the continuation");
		if (early->len + len > cap)
			return broken(imap, err, "too much data before the continuation");
		if (!mmap_string_append_len(early, line, len))
			abort();
	}
}

int imap_idle_start_finish(struct imap *imap, struct error *err)
{
	MMAPString *early;
	int ret = -1;

	if (check_phase(imap, IMAP_IDLE_STARTING, err) < 0)
		return -1;
	set_phase(imap, 0); /* unless "+" comes */
	early = mmap_string_new("");
	if (!early)
		abort();
	if (wait_continuation(imap, early, err) < 0)
		goto out;
	if (unread(imap->mi->imap_stream, early) < 0) {
		broken(imap, err, "too much data around the continuation");
		goto out;
	}
	set_phase(imap, time(NULL));
	ret = 0;
out:
	mmap_string_free(early);
	return ret;
}

int imap_idle_start(struct imap *imap, struct error *err)
{
	if (imap_idle_start_send(imap, err) < 0)
		return -1;
	return imap_idle_start_finish(imap, err);
}

/* ------------------------------------------------------------------ done */

/* Reads what the socket holds right now (without waiting) into the
 * stream's buffer, after what is already there. Returns 0 ok (maybe
 * nothing read), -1 when the server closed the connection. */
static int pull_available(struct imap *imap)
{
	mailstream *s = imap->mi->imap_stream;
	mailstream_low *low = mailstream_get_low(s);
	struct pollfd p = {.fd = imap_idle_fd(imap), .events = POLLIN};
	ssize_t n;

	if (s->read_buffer_len >= s->buffer_max_size)
		return 0;
	if (!tls_low_pending(low) && poll(&p, 1, 0) <= 0)
		return 0;
	n = mailstream_low_read(low, s->read_buffer + s->read_buffer_len,
				s->buffer_max_size - s->read_buffer_len);
	if (n < 0)
		return -1;
	s->read_buffer_len += (size_t)n;
	return 0;
}

/* The text of an untagged BYE among the buffered lines, into text. */
static bool find_bye(const mailstream *s, char *text, size_t cap)
{
	const char *b = s->read_buffer, *end = b + s->read_buffer_len;

	for (const char *line = b; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		size_t len = (size_t)((eol ? eol : end) - line);

		if (len >= 5 && strncasecmp(line, "* BYE", 5) == 0) {
			size_t n = 0;

			for (const char *c = line + 5; c < line + len && n + 1 < cap; c++)
				if (*c != '\r')
					text[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
			text[n] = '\0';
			return true;
		}
		line = eol ? eol + 1 : end;
	}
	return false;
}

int imap_idle_done_send(struct imap *imap, struct error *err)
{
	char bye[200];

	if (check_phase(imap, IMAP_IDLE_ON, err) < 0)
		return -1;
	/* A server that leaves says BYE and may keep the socket open for a
	 * while (Dovecot's TLS proxy does): no answer to DONE would come
	 * before the read timeout. Look first. */
	if (pull_available(imap) < 0) {
		set_phase(imap, 0);
		return imap_fail(imap, MAILIMAP_ERROR_STREAM, ERR_ACCOUNT, err, "IDLE");
	}
	if (find_bye(imap->mi->imap_stream, bye, sizeof(bye)))
		return broken(imap, err, "the server said BYE:%s", bye);
	if (send_line(imap, false, "DONE\r\n", err) < 0)
		return -1;
	set_phase(imap, PHASE_ENDING);
	return 0;
}

static size_t set_count(const struct mailimap_set *set)
{
	size_t n = 0;

	for (clistiter *it = imap_first(set ? set->set_list : NULL); it; it = clist_next(it)) {
		const struct mailimap_set_item *item = clist_content(it);
		uint32_t lo = item->set_first, hi = item->set_last;

		n += (size_t)(lo < hi ? hi - lo : lo - hi) + 1;
	}
	return n;
}

void imap_vanished_each(clist *exts, imap_vanished_fn *fn, void *ctx)
{
	for (clistiter *it = imap_first(exts); it; it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);

		if (ext && ext->ext_extension->ext_id == MAILIMAP_EXTENSION_QRESYNC &&
		    ext->ext_type == MAILIMAP_QRESYNC_TYPE_VANISHED && ext->ext_data)
			fn(((const struct mailimap_qresync_vanished *)ext->ext_data)->qr_known_uids,
			   ctx);
	}
}

static void add_count(const struct mailimap_set *set, void *ctx)
{
	*(size_t *)ctx += set_count(set);
}

size_t imap_vanished_count(clist *exts)
{
	size_t n = 0;

	imap_vanished_each(exts, add_count, &n);
	return n;
}

/* What the answer to DONE held: everything untagged since IDLE. Read
 * right away: the next command replaces imap_response_info. */
static void collect(const struct imap *imap, struct imap_idle_events *ev)
{
	const struct mailimap_selection_info *si = imap->mi->imap_selection_info;
	const struct mailimap_response_info *ri = imap->mi->imap_response_info;

	if (si) {
		ev->exists = si->sel_has_exists;
		ev->n_exists = si->sel_exists;
	}
	if (!ri)
		return;
	ev->expunged = ri->rsp_expunged ? (size_t)clist_count(ri->rsp_expunged) : 0;
	ev->fetches = ri->rsp_fetch_list ? (size_t)clist_count(ri->rsp_fetch_list) : 0;
	ev->vanished = imap_vanished_count(ri->rsp_extension_list);
}

/* The second half of mailimap_idle_done(), which sends DONE itself. */
static int read_done_answer(struct imap *imap)
{
	struct mailimap_response *resp = NULL;
	int r, cond;

	if (!mailimap_read_line(imap->mi))
		return MAILIMAP_ERROR_STREAM;
	r = mailimap_parse_response(imap->mi, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	cond = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
	mailimap_response_free(resp);
	return cond == MAILIMAP_RESP_COND_STATE_OK ? MAILIMAP_NO_ERROR : MAILIMAP_ERROR_EXTENSION;
}

int imap_idle_done_finish(struct imap *imap, struct imap_idle_events *ev_r, struct error *err)
{
	int r;

	memset(ev_r, 0, sizeof(*ev_r));
	if (check_phase(imap, IMAP_IDLE_ENDING, err) < 0)
		return -1;
	set_phase(imap, 0);
	r = read_done_answer(imap);
	/* After a read or parse error imap_response_info still holds the
	 * previous command's data: nothing to report then. */
	if (r == MAILIMAP_NO_ERROR || r == MAILIMAP_ERROR_EXTENSION)
		collect(imap, ev_r);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "IDLE");
	return 0;
}

int imap_idle_done(struct imap *imap, struct imap_idle_events *ev_r, struct error *err)
{
	memset(ev_r, 0, sizeof(*ev_r));
	if (imap_idle_done_send(imap, err) < 0)
		return -1;
	return imap_idle_done_finish(imap, ev_r, err);
}

int imap_idle_restart(struct imap *imap, struct imap_idle_events *ev_r, struct error *err)
{
	if (imap_idle_done(imap, ev_r, err) < 0)
		return -1;
	return imap_idle_start(imap, err);
}
