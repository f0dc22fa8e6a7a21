/* The IMAP session: connect, TLS, authentication, capabilities, teardown,
 * and the error mapping shared by the other imap_*.c files. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imap/imap_p.h"
#include "oauth/oauth.h"
#include "net/tls.h"
#include "util/log.h"
#include "util/uidset.h"
#include "util/xalloc.h"

#ifndef GMAILDIR_VERSION
#define GMAILDIR_VERSION "0"
#endif

static const struct {
	const char *name;
	unsigned cap;
} cap_names[] = {
    {"IDLE", IMAP_CAP_IDLE},
    {"CONDSTORE", IMAP_CAP_CONDSTORE},
    {"QRESYNC", IMAP_CAP_QRESYNC},
    {"UIDPLUS", IMAP_CAP_UIDPLUS},
    {"MOVE", IMAP_CAP_MOVE},
    {"SPECIAL-USE", IMAP_CAP_SPECIAL_USE},
    {"X-GM-EXT-1", IMAP_CAP_XGM},
    {"ESEARCH", IMAP_CAP_ESEARCH},
    {"LIST-STATUS", IMAP_CAP_LIST_STATUS},
    {"LITERAL+", IMAP_CAP_LITERAL_PLUS},
    {"ENABLE", IMAP_CAP_ENABLE},
    {"ID", IMAP_CAP_ID},
    {"XLIST", IMAP_CAP_XLIST},
    {"BINARY", IMAP_CAP_BINARY},
    {"COMPRESS=DEFLATE", IMAP_CAP_COMPRESS},
};

/* The capabilities gmaildir uses, by name ("IDLE CONDSTORE ..."), for the
 * debug log. */
static void caps_text(unsigned caps, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if ((caps & cap_names[i].cap) && n + strlen(cap_names[i].name) + 2 < cap)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " " : "",
					      cap_names[i].name);
	if (n == 0)
		snprintf(buf, cap, "no extension gmaildir uses");
}

/* ------------------------------------------------------ shared helpers */

bool imap_has(const struct imap *imap, unsigned cap)
{
	return (imap->caps & ~imap->masked & cap) == cap;
}

bool imap_r_is_fatal(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
	case MAILIMAP_ERROR_PARSE:
	case MAILIMAP_ERROR_FATAL:
	case MAILIMAP_ERROR_PROTOCOL:
	case MAILIMAP_ERROR_MEMORY:
	case MAILIMAP_ERROR_NEEDS_MORE_DATA:
		return true;
	default:
		return false;
	}
}

/* Replaces what the peer sent that does not belong in a one-line message. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			*s = '?';
}

/* Response codes that libetpan keeps from untagged lines of the same
 * command and that say nothing about why it failed. */
static bool code_is_informational(const char *atom)
{
	static const char *const info[] = {"CLOSED", "NOMODSEQ", "UIDNOTSTICKY", "HIGHESTMODSEQ",
					   "URLMECH"};

	for (size_t i = 0; i < sizeof(info) / sizeof(info[0]); i++)
		if (strcasecmp(atom, info[i]) == 0)
			return true;
	return false;
}

void imap_server_text(struct imap *imap, char *buf, size_t cap)
{
	const struct mailimap_response_info *ri = imap->mi->imap_response_info;
	const char *text = imap->mi->imap_response;
	char code[128] = "";

	if (!text || !*text)
		text = "(no text)";
	if (ri && ri->rsp_atom && !code_is_informational(ri->rsp_atom))
		snprintf(code, sizeof(code), "[%s] ", ri->rsp_atom);
	else if (ri && ri->rsp_alert && strcmp(ri->rsp_alert, text) == 0)
		snprintf(code, sizeof(code), "[ALERT] ");
	else if (ri && ri->rsp_trycreate)
		snprintf(code, sizeof(code), "[TRYCREATE] ");
	if (ri && ri->rsp_alert && strcmp(ri->rsp_alert, text) != 0)
		snprintf(buf, cap, "%s%s [ALERT] %s", code, text, ri->rsp_alert);
	else
		snprintf(buf, cap, "%s%s", code, text);
	sanitize(buf);
}

/* Words of a NO without a response code that speak of a passing
 * condition of the server, not of the message. */
static bool text_is_passing(const char *text)
{
	static const char *const words[] = {"quota",	"try again", "temporar",    "throttl",
					    "too many", "later",     "unavailable", "busy"};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(text, words[i]))
			return true;
	return false;
}

bool imap_refused_for_good(struct imap *imap)
{
	static const char *const message_codes[] = {"PARSE", "CANNOT", "TOOBIG", "CLIENTBUG"};
	const struct mailimap_response_info *ri = imap->mi->imap_response_info;
	const char *text = imap->mi->imap_response;

	if (imap->last_bad || imap->dead || !ri || ri->rsp_trycreate || ri->rsp_alert)
		return false;
	if (ri->rsp_parse)
		return true;
	if (ri->rsp_atom && !code_is_informational(ri->rsp_atom)) {
		for (size_t i = 0; i < sizeof(message_codes) / sizeof(message_codes[0]); i++)
			if (strcasecmp(ri->rsp_atom, message_codes[i]) == 0)
				return true;
		return false;
	}
	return !text || !text_is_passing(text);
}

/* The start of the last line libetpan was parsing (its buffer holds the
 * text of the response so far), to show what the server sent instead of
 * what IMAP allows there; "" when there is none. */
static void parse_context(struct imap *imap, char *buf, size_t cap)
{
	const MMAPString *b = imap->mi->imap_stream_buffer;
	size_t end, start, n;

	buf[0] = '\0';
	if (!b || !b->str || b->len == 0)
		return;
	end = b->len;
	while (end > 0 && (b->str[end - 1] == '\n' || b->str[end - 1] == '\r'))
		end--;
	for (start = end; start > 0 && b->str[start - 1] != '\n'; start--)
		;
	n = end - start < cap - 1 ? end - start : cap - 1;
	memcpy(buf, b->str + start, n);
	buf[n] = '\0';
}

/* Why a fatal libetpan result killed the connection. */
static void fatal_reason(struct imap *imap, int r, char *buf, size_t cap)
{
	mailstream *s = imap->mi->imap_stream;
	mailstream_low *low = s ? mailstream_get_low(s) : NULL;
	const char *low_err = tls_low_error(low), *bye = tls_low_bye(low);
	const char *text = imap->mi->imap_response ? imap->mi->imap_response : "(no text)";

	/* What the server did wrong first: our transport refused its data, or
	 * it said BYE (the socket closing after it is only the consequence). */
	if (low_err && tls_low_refused(low))
		snprintf(buf, cap, "connection dropped: %s", low_err);
	else if (bye)
		snprintf(buf, cap, "the server ended the session: BYE %s", bye);
	else if (low_err)
		snprintf(buf, cap, "connection lost: %s", low_err);
	else if (r == MAILIMAP_ERROR_STREAM)
		snprintf(buf, cap, "connection lost: server closed the connection");
	else if (r == MAILIMAP_ERROR_PARSE) {
		char near[64];

		parse_context(imap, near, sizeof(near));
		snprintf(buf, cap,
			 "could not parse the server's response%s%s%s; connection dropped",
			 near[0] ? " near \"" : "", near, near[0] ? "\"" : "");
	} else if (r == MAILIMAP_ERROR_PROTOCOL)
		snprintf(buf, cap, "server said BAD: %s", text);
	else if (r == MAILIMAP_ERROR_FATAL)
		snprintf(buf, cap, "server closed the session: %s", text);
	else
		snprintf(buf, cap, "libetpan error %d; connection dropped", r);
	sanitize(buf);
}

int imap_fail(struct imap *imap, int r, enum error_scope scope, struct error *err, const char *fmt,
	      ...)
{
	char what[512], why[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (imap_r_is_fatal(r)) {
		imap->dead = true;
		fatal_reason(imap, r, why, sizeof(why));
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s: %s", what, why);
	} else if (r == MAILIMAP_ERROR_BAD_STATE) {
		error_set(err, scope, RETRY_NEVER, "%s: not allowed in this state (libetpan)",
			  what);
	} else {
		imap_server_text(imap, why, sizeof(why));
		error_set(err, scope, RETRY_BACKOFF, "%s: %s", what, why);
	}
	return -1;
}

void imap_uid_bound(const struct imap *imap, uint32_t hi, uint32_t *hi_r)
{
	uint32_t top = imap->selected && imap->sel_uidnext > 0 ? imap->sel_uidnext - 1 : UINT32_MAX;

	*hi_r = hi == 0 || hi > top ? top : hi;
}

uint32_t *imap_uids_sorted(const uint32_t *uids, size_t n, size_t *n_r)
{
	uint32_t *copy = xmalloc((n ? n : 1) * sizeof(*copy));

	if (n)
		memcpy(copy, uids, n * sizeof(*copy));
	*n_r = uidset_normalize(copy, n);
	return copy;
}

struct mailimap_set *imap_set_new(const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	size_t pos = 0;
	uint32_t lo, hi;

	if (!set)
		abort(); /* allocation does not fail to the caller */
	while (uidset_next_run(uids, n, &pos, &lo, &hi))
		if (mailimap_set_add_interval(set, lo, hi) != MAILIMAP_NO_ERROR)
			abort();
	return set;
}

/* libetpan's mailimap_custom_command() sends a space before the CRLF,
 * which a strict server may answer with BAD; this sends cmd as it is, and
 * then data (when not NULL) as the literal cmd announced at its end. */
int imap_raw_command_literal(struct imap *imap, const char *cmd, const char *data, size_t len)
{
	struct mailimap_response *response = NULL;
	mailstream *s = imap->mi->imap_stream;
	int r, cond;

	r = mailimap_send_current_tag(imap->mi);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (mailstream_write(s, cmd, strlen(cmd)) < 0 || mailstream_write(s, "\r\n", 2) < 0 ||
	    (data && (mailstream_write(s, data, len) < 0 || mailstream_write(s, "\r\n", 2) < 0)) ||
	    mailstream_flush(s) < 0 || !mailimap_read_line(imap->mi))
		return MAILIMAP_ERROR_STREAM;
	r = mailimap_parse_response(imap->mi, &response);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	cond = response->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
	mailimap_response_free(response);
	imap->last_bad = cond == MAILIMAP_RESP_COND_STATE_BAD;
	return cond == MAILIMAP_RESP_COND_STATE_OK ? MAILIMAP_NO_ERROR
						   : MAILIMAP_ERROR_CUSTOM_COMMAND;
}

int imap_raw_command(struct imap *imap, const char *cmd)
{
	return imap_raw_command_literal(imap, cmd, NULL, 0);
}

/* ------------------------------------------------------------- connect */

static struct tls_opts tls_opts_of(const struct account_conf *acct)
{
	return (struct tls_opts){.host = acct->host,
				 .port = acct->port,
				 .ca_file = acct->ca_file,
				 .timeout = acct->timeout};
}

/* config/ enforces this too; a plaintext login must never happen by
 * accident. */
static int check_tls_policy(const struct account_conf *acct, struct error *err)
{
	if (acct->tls == TLS_NONE && !acct->allow_insecure) {
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "account %s: tls: none sends the password in clear text; set "
			  "allow_insecure: true to accept that",
			  acct->name ? acct->name : "?");
		return -1;
	}
	if (!acct->host || !acct->user) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "account %s: host and user are required",
			  acct->name ? acct->name : "?");
		return -1;
	}
	return 0;
}

static struct imap *imap_alloc(const struct account_conf *acct)
{
	struct imap *imap = xcalloc(1, sizeof(*imap));

	imap->acct = acct;
	imap->mi = mailimap_new(0, NULL);
	if (!imap->mi)
		abort();
	/* libetpan reads this only for streams it creates itself (it never
	 * does here: the socket timeouts of tls.c bound every read and
	 * write); set anyway so that no path falls back to its 300 s. */
	mailimap_set_timeout(imap->mi, acct->timeout);
	/* The trace costs a callback per read: only when it is shown. */
	if (log_enabled(LOG_LVL_TRACE))
		mailimap_set_logger(imap->mi, imap_trace_log, imap);
	return imap;
}

/* The transport: TCP, then TLS right away unless STARTTLS or none. */
static int open_transport(struct imap *imap, mailstream **stream_r, struct error *err)
{
	struct tls_opts o = tls_opts_of(imap->acct);
	mailstream_low *low = NULL;
	int fd = tls_tcp_connect(&o, err);

	if (fd < 0)
		return -1;
	if (imap->acct->tls != TLS_IMPLICIT) {
		low = tls_low_plain(fd, o.timeout);
	} else if (tls_low_tls(fd, &o, &low, err) < 0) {
		tls_tcp_close(fd);
		return -1;
	}
	*stream_r = mailstream_new(low, 8192);
	if (!*stream_r)
		abort();
	return 0;
}

/* Connects and reads the greeting. The stream belongs to the session from
 * mailimap_connect on, whatever it returns. */
static int open_session(struct imap *imap, struct error *err)
{
	const struct account_conf *a = imap->acct;
	mailstream *stream = NULL;
	int r;

	if (open_transport(imap, &stream, err) < 0)
		return -1;
	r = mailimap_connect(imap->mi, stream);
	if (r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED || r == MAILIMAP_NO_ERROR_AUTHENTICATED) {
		snprintf(imap->greeting, sizeof(imap->greeting), "%s",
			 imap->mi->imap_response ? imap->mi->imap_response : "");
		return 0;
	}
	imap->dead = true;
	if (r == MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION) {
		char text[600];

		imap_server_text(imap, text, sizeof(text));
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "connect to %s:%u: server refused: %s",
			  a->host, (unsigned)a->port, text);
		return -1;
	}
	return imap_fail(imap, r, ERR_ACCOUNT, err, "connect to %s:%u: no IMAP greeting", a->host,
			 (unsigned)a->port);
}

/* Re-reads the capabilities when asked to or when the greeting carried
 * none, and computes imap->caps. */
static int read_caps(struct imap *imap, bool force, struct error *err)
{
	struct mailimap_connection_info *ci = imap->mi->imap_connection_info;
	struct mailimap_capability_data *cd = NULL;
	int r;

	if (force || !ci || !ci->imap_capability) {
		r = mailimap_capability(imap->mi, &cd);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(imap, r, ERR_ACCOUNT, err, "CAPABILITY");
		mailimap_capability_data_free(cd);
	}
	imap->caps = 0;
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (mailimap_has_extension(imap->mi, cap_names[i].name))
			imap->caps |= cap_names[i].cap;
	return 0;
}

static int starttls(struct imap *imap, struct error *err)
{
	struct tls_opts o = tls_opts_of(imap->acct);
	int r;

	if (imap->mi->imap_state != MAILIMAP_STATE_NON_AUTHENTICATED) {
		imap->dead = true;
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "server logged us in (PREAUTH) before STARTTLS; refusing to continue "
			  "without TLS");
		return -1;
	}
	if (!mailimap_has_extension(imap->mi, "STARTTLS")) {
		imap->dead = true;
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "server does not offer STARTTLS; refusing to continue without TLS");
		return -1;
	}
	r = mailimap_starttls(imap->mi);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(imap, r, ERR_ACCOUNT, err, "STARTTLS");
		imap->dead = true;
		return -1;
	}
	if (tls_starttls(imap->mi->imap_stream, &o, err) < 0) {
		imap->dead = true;
		return -1;
	}
	/* What was announced before TLS may have been forged: forget it. */
	return read_caps(imap, true, err);
}

#define LOGIN_FAILED "login failed"

bool imap_error_is_login(const struct error *err)
{
	return strncmp(err->msg, LOGIN_FAILED ":", sizeof(LOGIN_FAILED)) == 0;
}

/* Gmail says why in an [ALERT] or [AUTHENTICATIONFAILED] text; a server
 * that is only unavailable for now deserves another try later. */
static int login_failed(struct imap *imap, struct error *err)
{
	const struct mailimap_response_info *ri = imap->mi->imap_response_info;
	bool temporary = ri && ri->rsp_atom && strcasecmp(ri->rsp_atom, "UNAVAILABLE") == 0;
	char text[800];

	imap_server_text(imap, text, sizeof(text));
	if (imap->challenge[0]) {
		char why[300];

		oauth_explain_challenge(imap->challenge, why, sizeof(why));
		error_set(err, ERR_ACCOUNT, temporary ? RETRY_BACKOFF : RETRY_NEVER,
			  LOGIN_FAILED ": %s (%s)", text, why);
		return -1;
	}
	error_set(err, ERR_ACCOUNT, temporary ? RETRY_BACKOFF : RETRY_NEVER, LOGIN_FAILED ": %s",
		  text);
	return -1;
}

/* During AUTHENTICATE XOAUTH2: libetpan answers the failure challenge and
 * drops it, so it is caught here on its way in (and the trace goes on). */
static void auth_logger(mailimap *mi, int type, const char *str, size_t size, void *ctx)
{
	struct imap *imap = ctx;

	if (type == MAILSTREAM_LOG_TYPE_DATA_RECEIVED && size > 2 && str[0] == '+' &&
	    str[1] == ' ' && !imap->challenge[0]) {
		size_t n = strcspn(str + 2, "\r\n");

		if (n > size - 2)
			n = size - 2;
		if (n >= sizeof(imap->challenge))
			n = sizeof(imap->challenge) - 1;
		memcpy(imap->challenge, str + 2, n);
		imap->challenge[n] = '\0';
	}
	if (log_enabled(LOG_LVL_TRACE))
		imap_trace_log(mi, type, str, size, ctx);
}

static int xoauth2(struct imap *imap, const char *token)
{
	int r;

	imap->challenge[0] = '\0';
	mailimap_set_logger(imap->mi, auth_logger, imap);
	r = mailimap_oauth2_authenticate(imap->mi, imap->acct->user, token);
	mailimap_set_logger(imap->mi, log_enabled(LOG_LVL_TRACE) ? imap_trace_log : NULL, imap);
	return r;
}

/* Capabilities change at login. Most servers put the new list in the
 * tagged OK ([CAPABILITY ...]), which libetpan stores in place of the old
 * one: with the old one dropped first, its presence afterwards says
 * whether a CAPABILITY command is still needed (read_caps). */
static void forget_caps(struct imap *imap)
{
	struct mailimap_connection_info *ci = imap->mi->imap_connection_info;

	if (ci && ci->imap_capability) {
		mailimap_capability_data_free(ci->imap_capability);
		ci->imap_capability = NULL;
	}
}

static int authenticate(struct imap *imap, const char *secret, struct error *err)
{
	const struct account_conf *a = imap->acct;
	int r;

	if (imap->mi->imap_state == MAILIMAP_STATE_AUTHENTICATED)
		return 0; /* PREAUTH */
	if (!secret)
		secret = "";
	if (a->auth != AUTH_XOAUTH2 && mailimap_has_extension(imap->mi, "LOGINDISABLED")) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "login failed: the server refuses LOGIN on this connection "
			  "(LOGINDISABLED); use TLS");
		return -1;
	}
	forget_caps(imap);
	if (a->auth == AUTH_XOAUTH2)
		r = xoauth2(imap, secret);
	else
		r = mailimap_login(imap->mi, a->user, secret);
	if (r == MAILIMAP_NO_ERROR)
		return 0;
	if (r == MAILIMAP_ERROR_LOGIN)
		return login_failed(imap, err);
	return imap_fail(imap, r, ERR_ACCOUNT, err, "login");
}

/* True when the ENABLE answer just read lists QRESYNC. */
static bool enabled_qresync(const struct mailimap_response_info *ri)
{
	for (clistiter *e = ri ? imap_first(ri->rsp_extension_list) : NULL; e; e = clist_next(e)) {
		const struct mailimap_extension_data *ext = clist_content(e);
		const struct mailimap_capability_data *cd = ext->ext_data;

		if (ext->ext_extension != &mailimap_extension_enable || !cd)
			continue;
		for (clistiter *it = imap_first(cd->cap_list); it; it = clist_next(it)) {
			const struct mailimap_capability *c = clist_content(it);

			if (c->cap_type == MAILIMAP_CAPABILITY_NAME &&
			    strcasecmp(c->cap_data.cap_name, "QRESYNC") == 0)
				return true;
		}
	}
	return false;
}

/* Sends cmd under the next tag, not flushed; its tag into *tag_r. */
static int send_tagged(struct imap *imap, const char *cmd, int *tag_r)
{
	int r = mailimap_send_current_tag(imap->mi);

	if (r != MAILIMAP_NO_ERROR)
		return r;
	*tag_r = imap->mi->imap_tag;
	if (mailstream_write(imap->mi->imap_stream, cmd, strlen(cmd)) < 0)
		return MAILIMAP_ERROR_STREAM;
	return MAILIMAP_NO_ERROR;
}

/* Reads the answer to the command sent under tag: 1 OK, 0 NO or BAD, or a
 * libetpan error (< 0 there means a broken stream: negated). */
static int read_tagged(struct imap *imap, int tag)
{
	struct mailimap_response *response = NULL;
	int r, cond;

	/* libetpan checks the tagged answer against the session's tag. */
	imap->mi->imap_tag = tag;
	if (!mailimap_read_line(imap->mi))
		return -MAILIMAP_ERROR_STREAM;
	r = mailimap_parse_response(imap->mi, &response);
	if (r != MAILIMAP_NO_ERROR)
		return -r;
	cond = response->rsp_resp_done->rsp_type == MAILIMAP_RESP_DONE_TYPE_TAGGED
		   ? response->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type
		   : MAILIMAP_RESP_COND_STATE_BAD;
	mailimap_response_free(response);
	return cond == MAILIMAP_RESP_COND_STATE_OK;
}

/* What a session asks for right after the login, pipelined, as on a slow
 * link a login is a chain of round trips: RFC 2971 ID (Gmail asks clients
 * for it; its refusal does not matter), ENABLE QRESYNC (RFC 7162 §3.2.3,
 * before any QRESYNC SELECT; without a confirmation the capability is
 * dropped) and, last, COMPRESS DEFLATE (RFC 4978): nothing may follow it
 * until its answer, after which both directions are deflated. A refused
 * COMPRESS only means going on without; IMAP_CAP_COMPRESS stays set only
 * when it is on. */
struct session_asks {
	bool id, enable, compress;
	int id_tag, en_tag, z_tag;
};

static int send_session_asks(struct imap *imap, struct session_asks *a)
{
	int r = MAILIMAP_NO_ERROR;

	if (a->id)
		r = send_tagged(
		    imap, "ID (\"name\" \"gmaildir\" \"version\" \"" GMAILDIR_VERSION "\")\r\n",
		    &a->id_tag);
	if (r == MAILIMAP_NO_ERROR && a->enable)
		r = send_tagged(imap, "ENABLE QRESYNC\r\n", &a->en_tag);
	if (r == MAILIMAP_NO_ERROR && a->compress)
		r = send_tagged(imap, "COMPRESS DEFLATE\r\n", &a->z_tag);
	if (r == MAILIMAP_NO_ERROR && mailstream_flush(imap->mi->imap_stream) < 0)
		r = MAILIMAP_ERROR_STREAM;
	return r;
}

static int session_asks(struct imap *imap, struct session_asks *a, struct error *err)
{
	int r, last;
	const char *what = a->id ? "ID" : a->enable ? "ENABLE QRESYNC" : "COMPRESS";

	r = send_session_asks(imap, a);
	last = imap->mi->imap_tag;
	if (r == MAILIMAP_NO_ERROR && a->id && (r = read_tagged(imap, a->id_tag)) >= 0)
		r = MAILIMAP_NO_ERROR;
	if (r == MAILIMAP_NO_ERROR && a->enable) {
		what = "ENABLE QRESYNC";
		r = read_tagged(imap, a->en_tag);
		if (r == 1 && enabled_qresync(imap->mi->imap_response_info))
			imap->caps |= IMAP_CAP_CONDSTORE;
		else
			imap->caps &= ~IMAP_CAP_QRESYNC;
		if (r >= 0)
			r = MAILIMAP_NO_ERROR;
	}
	if (r == MAILIMAP_NO_ERROR && a->compress) {
		what = "COMPRESS";
		r = read_tagged(imap, a->z_tag);
		if (r == 0)
			log_debug("imap: the server refused COMPRESS; going on without");
		if (r != 1)
			imap->caps &= ~IMAP_CAP_COMPRESS;
		if (r >= 0)
			r = MAILIMAP_NO_ERROR;
	}
	imap->mi->imap_tag = last;
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r < 0 ? -r : r, ERR_ACCOUNT, err, "%s", what);
	if ((imap->caps & IMAP_CAP_COMPRESS) &&
	    tls_low_start_deflate(imap->mi->imap_stream, err) < 0) {
		imap->dead = true;
		return -1;
	}
	return 0;
}

/* After the session is open: TLS upgrade, login, capabilities, then ID,
 * ENABLE and COMPRESS. */
static int setup_session(struct imap *imap, const char *secret, struct error *err)
{
	if (read_caps(imap, false, err) < 0)
		return -1;
	if (imap->acct->tls == TLS_STARTTLS && starttls(imap, err) < 0)
		return -1;
	if (authenticate(imap, secret, err) < 0)
		return -1;
	/* Capabilities change after login (and a forged list before TLS
	 * must not survive): the ones the login answer carried, or asked
	 * for (PREAUTH: the greeting's were read over this same TLS). */
	if (read_caps(imap, false, err) < 0)
		return -1;
	if (imap->acct->compress == COMPRESS_NEVER)
		imap->caps &= ~IMAP_CAP_COMPRESS;
	struct session_asks asks = {.id = imap->caps & IMAP_CAP_ID,
				    .enable = (imap->caps & (IMAP_CAP_QRESYNC | IMAP_CAP_ENABLE)) ==
					      (IMAP_CAP_QRESYNC | IMAP_CAP_ENABLE),
				    .compress = imap->caps & IMAP_CAP_COMPRESS};
	if ((asks.id || asks.enable || asks.compress) && session_asks(imap, &asks, err) < 0)
		return -1;
	if (!(imap->caps & IMAP_CAP_ENABLE))
		imap->caps &= ~IMAP_CAP_QRESYNC;
	return 0;
}

int imap_connect(const struct account_conf *acct, const char *secret, struct imap **imap_r,
		 struct error *err)
{
	struct imap *imap = NULL;
	int ret = -1;

	if (check_tls_policy(acct, err) < 0)
		return -1;
	tls_init();
	imap_binary_register();
	imap = imap_alloc(acct);
	if (open_session(imap, err) < 0 || setup_session(imap, secret, err) < 0)
		goto out;
	if (log_enabled(LOG_LVL_DEBUG)) {
		char names[512];

		caps_text(imap->caps, names, sizeof(names));
		log_debug("imap: connected to %s:%u as %s (%s)", acct->host, (unsigned)acct->port,
			  acct->user, names);
	}
	*imap_r = imap;
	imap = NULL;
	ret = 0;
out:
	imap_free(&imap);
	return ret;
}

const char *imap_greeting(const struct imap *imap)
{
	return imap->greeting;
}

void imap_free(struct imap **imapp)
{
	struct imap *imap = imapp ? *imapp : NULL;

	if (!imap)
		return;
	if (imap->mi && imap->mi->imap_stream) {
		/* LOGOUT over a dead link would only wait for the timeout
		 * (LIBETPAN.md §11); mailimap_logout closes the stream. */
		/* LOGOUT is said, its answer not awaited: the server ends the
		 * session either way, and a round trip at the end of every
		 * run is a tenth of a second on a slow link. */
		if (!imap->dead && mailimap_send_current_tag(imap->mi) == MAILIMAP_NO_ERROR &&
		    mailstream_write(imap->mi->imap_stream, "LOGOUT\r\n", 8) == 8)
			mailstream_flush(imap->mi->imap_stream);
		mailstream_close(imap->mi->imap_stream);
		imap->mi->imap_stream = NULL;
	}
	if (imap->mi)
		mailimap_free(imap->mi);
	free(imap->sel_mailbox);
	free(imap);
	*imapp = NULL;
}

void imap_abandon(struct imap **imapp)
{
	if (imapp && *imapp)
		(*imapp)->dead = true;
	imap_free(imapp);
}

unsigned imap_caps(const struct imap *imap)
{
	return imap->caps & ~imap->masked;
}

bool imap_is_dead(const struct imap *imap)
{
	return imap->dead;
}

void imap_mask_caps(struct imap *imap, unsigned caps)
{
	imap->masked |= caps;
}

int imap_check_alive(struct imap *imap, struct error *err)
{
	if (!imap->dead)
		return imap_check_mailbox(imap, err);
	error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "the IMAP connection to %s was lost earlier",
		  imap->acct->host);
	return -1;
}

int imap_check_mailbox(struct imap *imap, struct error *err)
{
	const struct mailimap_selection_info *si = imap->mi->imap_selection_info;

	if (!imap->selected || !si || si->sel_uidvalidity == imap->sel_uidvalidity)
		return 0;
	imap->dead = true;
	error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
		  "the server changed the UIDVALIDITY of %s from %u to %u in the middle of the "
		  "session; none of its answers about that mailbox can be trusted (connection "
		  "dropped, nothing more done on it)",
		  imap->sel_name, imap->sel_uidvalidity, si->sel_uidvalidity);
	return -1;
}
