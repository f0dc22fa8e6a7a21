/* SMTP submission: the session (connect, STARTTLS, EHLO, AUTH) and one
 * message's MAIL, RCPT, DATA. See submit.h for what is done here rather
 * than by libetpan, and why. */
#include "smtp/submit.h"

#include "oauth/oauth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libetpan/libetpan.h>
#include <openssl/evp.h>

#include "net/tls.h"
#include "oauth/oauth.h"
#include "util/crashpoint.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Exported by libetpan 1.9.4 but declared only in its private header. */
int mailsmtp_send_command(mailsmtp *session, char *command);
int mailsmtp_send_command_private(mailsmtp *session, char *command);
int mailsmtp_read_response(mailsmtp *session);

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets. */
#define PATH_MAX_LEN 256

struct smtp {
	const struct account_conf *acct;
	mailsmtp *ms;
	bool dead;
	bool smtputf8;
	bool in_data; /* the trace shows no message content */
	char auth_used[16];
	char challenge[300]; /* a failed XOAUTH2's challenge, made readable */
};

/* ------------------------------------------------------------ the trace */

/* The wire trace at log level trace: commands and replies, cut at 200
 * bytes; the secret (written with the privacy flag) and message contents
 * never. */
static void trace_log(mailsmtp *ms, int type, const char *str, size_t size, void *ctx)
{
	struct smtp *s = ctx;
	char line[204];
	size_t n = 0;
	const char *dir;

	(void)ms;
	if (type == MAILSTREAM_LOG_TYPE_DATA_RECEIVED)
		dir = "S:";
	else if (type == MAILSTREAM_LOG_TYPE_DATA_SENT)
		dir = "C:";
	else if (type == MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE) {
		log_trace("smtp C: <secret, %zu bytes>", size);
		return;
	} else
		return;
	if (s->in_data && dir[0] == 'C') {
		log_trace("smtp C: <message data, %zu bytes>", size);
		return;
	}
	for (size_t i = 0; i < size && n < 200; i++) {
		unsigned char ch = (unsigned char)str[i];

		if (ch == '\r' || ch == '\n')
			continue;
		line[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	line[n] = '\0';
	log_trace("smtp %s %s", dir, line);
}

/* ------------------------------------------------------------ replies */

/* The last reply, "CODE text / text", printable and bounded. */
static void reply_text(const struct smtp *s, char *buf, size_t size)
{
	const char *r = s->ms->response ? s->ms->response : "";
	size_t o;

	o = (size_t)snprintf(buf, size, "%d ", s->ms->response_code);
	for (; *r && o + 4 < size; r++) {
		unsigned char ch = (unsigned char)*r;

		if (ch == '\n') {
			if (r[1])
				o += (size_t)snprintf(buf + o, size - o, " / ");
			continue;
		}
		if (ch != '\r')
			buf[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	while (o > 0 && buf[o - 1] == ' ')
		o--;
	buf[o] = '\0';
}

/* Sends cmd (a whole line with CRLF) and reads the reply; 0 when the
 * connection broke, which also marks the session dead. */
static int command(struct smtp *s, const char *cmd, bool private)
{
	int r = private ? mailsmtp_send_command_private(s->ms, (char *)cmd)
			: mailsmtp_send_command(s->ms, (char *)cmd);

	if (r < 0) {
		s->dead = true;
		return 0;
	}
	r = mailsmtp_read_response(s->ms);
	if (r == 0)
		s->dead = true;
	return r;
}

/* Why the connection broke, for messages. */
static const char *lost_why(const struct smtp *s)
{
	const char *why = NULL;

	if (s->ms->stream)
		why = tls_low_error(mailstream_get_low(s->ms->stream));
	return why ? why : "connection lost";
}

/* err for a reply (or none) to what: RETRY_BACKOFF but for 5xx. */
static void reply_error(struct smtp *s, int code, const char *what, struct error *err)
{
	char text[700];

	if (code == 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s: %s", what, lost_why(s));
		return;
	}
	reply_text(s, text, sizeof(text));
	error_set(err, ERR_ACCOUNT, code >= 500 ? RETRY_NEVER : RETRY_BACKOFF, "%s: %s", what,
		  text);
}

/* ------------------------------------------------------------ session */

#define LOGIN_FAILED "login failed"

bool smtp_error_is_login(const struct error *err)
{
	return strstr(err->msg, "smtp: " LOGIN_FAILED ": ") != NULL;
}

static struct tls_opts opts_of(const struct account_conf *a)
{
	const struct smtp_conf *m = &a->smtp;

	return (struct tls_opts){
	    .host = m->host, .port = m->port, .ca_file = m->ca_file, .timeout = a->timeout};
}

/* Whether the last EHLO reply holds the keyword word on a line of its own. */
static bool ehlo_has(const struct smtp *s, const char *word)
{
	const char *r = s->ms->response;
	size_t n = strlen(word);

	while (r && *r) {
		if (strncasecmp(r, word, n) == 0 && (r[n] == '\n' || r[n] == ' ' || r[n] == '\0'))
			return true;
		r = strchr(r, '\n');
		if (r)
			r++;
	}
	return false;
}

/* Whether the AUTH line of the last EHLO offers mech. */
static bool auth_offers(const struct smtp *s, const char *mech)
{
	const char *r = s->ms->response;
	size_t n = strlen(mech);

	while (r && *r) {
		if (strncasecmp(r, "AUTH", 4) == 0 && (r[4] == ' ' || r[4] == '=')) {
			const char *p = r + 5;

			while (*p && *p != '\n') {
				while (*p == ' ')
					p++;
				if (strncasecmp(p, mech, n) == 0 &&
				    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
					return true;
				while (*p && *p != ' ' && *p != '\n')
					p++;
			}
		}
		r = strchr(r, '\n');
		if (r)
			r++;
	}
	return false;
}

static int ehlo(struct smtp *s, struct error *err)
{
	int r = mailesmtp_ehlo(s->ms);

	if (r == MAILSMTP_NO_ERROR) {
		s->smtputf8 = ehlo_has(s, "SMTPUTF8");
		return 0;
	}
	if (r == MAILSMTP_ERROR_STREAM)
		s->dead = true;
	reply_error(s, r == MAILSMTP_ERROR_STREAM ? 0 : s->ms->response_code, "EHLO", err);
	return -1;
}

static int starttls(struct smtp *s, struct error *err)
{
	struct tls_opts o = opts_of(s->acct);
	int r;

	if (!(s->ms->esmtp & MAILSMTP_ESMTP_STARTTLS)) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "%s:%u does not offer STARTTLS; refusing to go on without TLS (a "
			  "network that removes STARTTLS is reading the connection; try port "
			  "465, tls: implicit)",
			  o.host, (unsigned)o.port);
		return -1;
	}
	r = mailesmtp_starttls(s->ms);
	if (r != MAILSMTP_NO_ERROR) {
		reply_error(s, r == MAILSMTP_ERROR_STREAM ? 0 : s->ms->response_code,
			    "STARTTLS refused; not going on without TLS", err);
		s->dead = true;
		return -1;
	}
	if (tls_starttls(s->ms->stream, &o, err) < 0) {
		s->dead = true;
		return -1;
	}
	/* What was announced before TLS may have been forged: ask again. */
	return ehlo(s, err);
}

static char *base64(const char *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
	return out;
}

/* Sends "prefix BASE64(secret-bearing bytes)\r\n" privately; wipes it. */
static int send_secret(struct smtp *s, const char *prefix, const char *raw, size_t len)
{
	char *b64 = base64(raw, len);
	char *line = xasprintf("%s%s\r\n", prefix, b64);
	int code = command(s, line, true);

	explicit_bzero(b64, strlen(b64));
	explicit_bzero(line, strlen(line));
	free(b64);
	free(line);
	return code;
}

static int auth_plain(struct smtp *s, const char *user, const char *secret)
{
	size_t ul = strlen(user), pl = strlen(secret);
	char *raw = xmalloc(ul + pl + 2);
	int code;

	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[ul + 1] = '\0';
	memcpy(raw + ul + 2, secret, pl);
	code = send_secret(s, "AUTH PLAIN ", raw, ul + pl + 2);
	explicit_bzero(raw, ul + pl + 2);
	free(raw);
	return code;
}

static int auth_login(struct smtp *s, const char *user, const char *secret)
{
	int code = command(s, "AUTH LOGIN\r\n", false);

	if (code != 334)
		return code;
	code = send_secret(s, "", user, strlen(user));
	if (code != 334)
		return code;
	return send_secret(s, "", secret, strlen(secret));
}

/* Google's SASL XOAUTH2: on failure the server sends a 334 with a JSON
 * error and waits for an empty line before its 535. */
static int auth_xoauth2(struct smtp *s, const char *user, const char *token)
{
	char *raw = xasprintf("user=%s\001auth=Bearer %s\001\001", user, token);
	int code = send_secret(s, "AUTH XOAUTH2 ", raw, strlen(raw));

	explicit_bzero(raw, strlen(raw));
	free(raw);
	if (code == 334) {
		const char *b64 = s->ms->response ? s->ms->response : "";

		oauth_explain_challenge(b64, s->challenge, sizeof(s->challenge));
		code = command(s, "\r\n", false);
	}
	return code;
}

static int authenticate(struct smtp *s, const char *secret, struct error *err)
{
	const struct smtp_conf *m = &s->acct->smtp;
	const char *mech;
	int code;

	if (m->auth == AUTH_XOAUTH2)
		mech = "XOAUTH2";
	else if (auth_offers(s, "PLAIN"))
		mech = "PLAIN";
	else if (auth_offers(s, "LOGIN"))
		mech = "LOGIN";
	else {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "%s:%u offers neither AUTH PLAIN nor AUTH LOGIN", m->host,
			  (unsigned)m->port);
		return -1;
	}
	snprintf(s->auth_used, sizeof(s->auth_used), "%s", mech);
	if (m->auth == AUTH_XOAUTH2)
		code = auth_xoauth2(s, m->user, secret);
	else if (mech[0] == 'P')
		code = auth_plain(s, m->user, secret);
	else
		code = auth_login(s, m->user, secret);
	if (code == 235)
		return 0;
	reply_error(s, code, LOGIN_FAILED, err);
	if (s->challenge[0]) {
		struct error plain = *err;

		error_set(err, plain.scope, plain.retry, "%s (%s)", plain.msg, s->challenge);
	}
	/* 454 is "temporary authentication failure"; 535 needs the user. */
	err->retry = code >= 500 ? RETRY_NEVER : RETRY_BACKOFF;
	return -1;
}

/* TCP, TLS at once with tls: implicit, and the greeting. */
static int open_stream(struct smtp *s, struct error *err)
{
	struct tls_opts o = opts_of(s->acct);
	mailstream_low *low = NULL;
	mailstream *stream;
	int fd = tls_tcp_connect(&o, err);
	int r;

	if (fd < 0)
		return -1;
	if (s->acct->smtp.tls == TLS_STARTTLS) {
		low = tls_low_plain(fd, o.timeout);
	} else if (tls_low_tls(fd, &o, &low, err) < 0) {
		tls_tcp_close(fd);
		return -1;
	}
	stream = mailstream_new(low, 8192);
	if (!stream)
		abort();
	/* The stream is the session's from here, whatever happens. */
	r = mailsmtp_connect(s->ms, stream);
	if (r == MAILSMTP_NO_ERROR)
		return 0;
	s->dead = true;
	if (r == MAILSMTP_ERROR_STREAM)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "connect to %s:%u: no SMTP greeting",
			  o.host, (unsigned)o.port);
	else {
		char text[600];

		reply_text(s, text, sizeof(text));
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "connect to %s:%u: server refused: %s",
			  o.host, (unsigned)o.port, text);
	}
	return -1;
}

int smtp_open(const struct account_conf *acct, const char *secret, struct smtp **s_r,
	      struct error *err)
{
	const struct smtp_conf *m = &acct->smtp;
	const char *why = config_smtp_port_refusal(m->host, m->port);
	struct smtp *s;

	*s_r = NULL;
	if (!m->configured) {
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "account %s has no outgoing server: add an smtp: block", acct->name);
		return -1;
	}
	if (why) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "port 25 toward %s: %s", m->host, why);
		return -1;
	}
	tls_init();
	s = xcalloc(1, sizeof(*s));
	s->acct = acct;
	s->ms = mailsmtp_new(0, NULL);
	if (!s->ms)
		abort();
	mailsmtp_set_timeout(s->ms, acct->timeout);
	if (log_enabled(LOG_LVL_TRACE))
		mailsmtp_set_logger(s->ms, trace_log, s);
	if (open_stream(s, err) < 0 || ehlo(s, err) < 0 ||
	    (m->tls == TLS_STARTTLS && starttls(s, err) < 0) || authenticate(s, secret, err) < 0) {
		error_prefix(err, "smtp");
		smtp_close(&s);
		return -1;
	}
	*s_r = s;
	return 0;
}

bool smtp_alive(const struct smtp *s)
{
	return s && !s->dead && s->ms->stream;
}

void smtp_get_info(const struct smtp *s, struct smtp_info *info_r)
{
	memset(info_r, 0, sizeof(*info_r));
	info_r->tls = true;
	if (s->ms->esmtp & MAILSMTP_ESMTP_SIZE)
		info_r->size_limit = s->ms->smtp_max_msg_size;
	info_r->eight_bit_mime = (s->ms->esmtp & MAILSMTP_ESMTP_8BITMIME) != 0;
	info_r->smtputf8 = s->smtputf8;
	snprintf(info_r->auth_used, sizeof(info_r->auth_used), "%s", s->auth_used);
}

void smtp_close(struct smtp **sp)
{
	struct smtp *s = *sp;

	if (!s)
		return;
	if (!s->dead && s->ms->stream)
		command(s, "QUIT\r\n", false);
	if (s->ms->stream) {
		mailstream_close(s->ms->stream);
		s->ms->stream = NULL;
	}
	mailsmtp_free(s->ms);
	free(s);
	*sp = NULL;
}

/* ------------------------------------------------------------ one message */

/* What a reply code means for the message. */
static enum smtp_outcome outcome_of(int code)
{
	if (code >= 200 && code < 300)
		return SMTP_SENT;
	return code >= 500 && code < 600 ? SMTP_REJECTED : SMTP_DEFERRED;
}

/* The message error for a reply to what (or none). */
static enum smtp_outcome refused(struct smtp *s, int code, const char *what, struct error *err)
{
	reply_error(s, code, what, err);
	err->scope = ERR_MESSAGE;
	return code == 0 ? SMTP_DEFERRED : outcome_of(code);
}

/* A path we can put in <...>: bounded, no controls, no angle brackets. */
static bool path_ok(const char *p)
{
	size_t n = strlen(p);

	if (n > PATH_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x21 || ch == 0x7f || ch == '<' || ch == '>')
			return false;
	}
	return true;
}

/* Refusals that need no server round trip: what this server cannot take. */
static int precheck(struct smtp *s, const struct smtp_message *m, struct error *err)
{
	size_t limit = (s->ms->esmtp & MAILSMTP_ESMTP_SIZE) ? s->ms->smtp_max_msg_size : 0;

	if (m->n_rcpts == 0) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER, "no recipients");
		return -1;
	}
	if (limit > 0 && m->len > limit) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER,
			  "the message is %zu bytes; %s accepts at most %zu (SIZE)", m->len,
			  s->acct->smtp.host, limit);
		return -1;
	}
	if (m->eight_bit && !(s->ms->esmtp & MAILSMTP_ESMTP_8BITMIME)) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER,
			  "the message holds 8-bit bytes and %s does not offer 8BITMIME; send "
			  "it MIME-encoded (quoted-printable or base64)",
			  s->acct->smtp.host);
		return -1;
	}
	if (m->utf8 && !s->smtputf8) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER,
			  "the message has UTF-8 in its header or addresses and %s does not "
			  "offer SMTPUTF8",
			  s->acct->smtp.host);
		return -1;
	}
	if (!path_ok(m->sender)) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER, "the sender address is not usable");
		return -1;
	}
	for (size_t i = 0; i < m->n_rcpts; i++) {
		if (!path_ok(m->rcpts[i])) {
			error_set(err, ERR_MESSAGE, RETRY_NEVER,
				  "recipient #%zu is not a usable address", i + 1);
			return -1;
		}
	}
	return 0;
}

static enum smtp_outcome envelope(struct smtp *s, const struct smtp_message *m, struct error *err)
{
	char cmd[PATH_MAX_LEN + 96];
	int o, code;

	o = snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>", m->sender);
	if (s->ms->esmtp & MAILSMTP_ESMTP_SIZE)
		o += snprintf(cmd + o, sizeof(cmd) - (size_t)o, " SIZE=%zu", m->len);
	if (m->eight_bit)
		o += snprintf(cmd + o, sizeof(cmd) - (size_t)o, " BODY=8BITMIME");
	if (m->utf8)
		o += snprintf(cmd + o, sizeof(cmd) - (size_t)o, " SMTPUTF8");
	snprintf(cmd + o, sizeof(cmd) - (size_t)o, "\r\n");
	code = command(s, cmd, false);
	if (code != 250)
		return refused(s, code, "MAIL FROM", err);
	for (size_t i = 0; i < m->n_rcpts; i++) {
		char what[PATH_MAX_LEN + 16];

		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", m->rcpts[i]);
		code = command(s, cmd, false);
		if (code == 250 || code == 251)
			continue;
		snprintf(what, sizeof(what), "RCPT TO %s", m->rcpts[i]);
		return refused(s, code, what, err);
	}
	return SMTP_SENT;
}

/* The message, dot-stuffed, then the final dot. -1 when the connection
 * broke. */
static int send_data(struct smtp *s, const struct smtp_message *m)
{
	const char *p = m->data, *end = m->data + m->len;
	mailstream *st = s->ms->stream;
	int ret = -1;

	s->in_data = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (*p == '.' && mailstream_write(st, ".", 1) < 0)
			goto out;
		if (mailstream_write(st, p, n) < 0)
			goto out;
		p += n;
	}
	/* A message that does not end with a line end gets one: the final
	 * dot must start a line. */
	if (m->len > 0 && m->data[m->len - 1] != '\n' && mailstream_write(st, "\r\n", 2) < 0)
		goto out;
	s->in_data = false;
	if (mailstream_write(st, ".\r\n", 3) < 0 || mailstream_flush(st) < 0)
		goto out;
	ret = 0;
out:
	s->in_data = false;
	if (ret < 0)
		s->dead = true;
	return ret;
}

/* After a refusal with the connection still up: forget the transaction. */
static void reset(struct smtp *s)
{
	if (!s->dead && command(s, "RSET\r\n", false) != 250)
		s->dead = true;
}

enum smtp_outcome smtp_submit(struct smtp *s, const struct smtp_message *m, struct error *err)
{
	enum smtp_outcome out;
	int code;

	if (!smtp_alive(s)) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "the SMTP connection is closed");
		return SMTP_DEFERRED;
	}
	if (precheck(s, m, err) < 0)
		return SMTP_REJECTED;
	out = envelope(s, m, err);
	if (out != SMTP_SENT) {
		reset(s);
		return out;
	}
	code = command(s, "DATA\r\n", false);
	if (code != 354) {
		out = refused(s, code, "DATA", err);
		reset(s);
		return out;
	}
	if (send_data(s, m) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "sending the message: %s", lost_why(s));
		return SMTP_DEFERRED;
	}
	crashpoint("smtp: final dot sent");
	code = mailsmtp_read_response(s->ms);
	if (code == 0) {
		s->dead = true;
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "the connection was lost after the whole message was sent, before "
			  "the server answered (%s): the server may have it",
			  lost_why(s));
		return SMTP_UNCERTAIN;
	}
	out = outcome_of(code);
	if (out != SMTP_SENT) {
		refused(s, code, "after the message", err);
		reset(s);
	}
	return out;
}
