/* SMTP submission (RFC 6409) to an account's outgoing server: libetpan's
 * SMTP client over our verified-TLS transport (net/tls.h).
 *
 * A session is opened once (connect, TLS from the first byte or STARTTLS,
 * EHLO, AUTH) and then submits messages one after the other. STARTTLS is
 * never optional: a server that does not offer it, or refuses it, is not
 * talked to in clear. Port 25 toward Google is refused before connecting.
 *
 * What libetpan does not do here, and why (LIBETPAN.md has the general
 * traps): AUTH PLAIN and LOGIN go through Cyrus SASL in libetpan 1.9.4,
 * whose plugins are another package and another place for a secret to
 * leak, so this file sends them itself; MAIL FROM gets BODY=8BITMIME and
 * SMTPUTF8, which libetpan cannot add; and DATA is sent here because
 * mailstream_send_data() appends a CRLF of its own before the final dot,
 * which would change every message by one empty line. The secret is only
 * ever written with mailstream's privacy flag set, which the wire trace
 * (log level trace) shows as a marker. */
#ifndef GMAILDIR_SMTP_SUBMIT_H
#define GMAILDIR_SMTP_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "util/error.h"

struct smtp;

/* What became of one message. */
enum smtp_outcome {
	SMTP_SENT,	/* 2xx after the final dot: the server has it */
	SMTP_DEFERRED,	/* 4xx, or the connection lost before the final dot */
	SMTP_REJECTED,	/* 5xx, or the server cannot take it (SIZE, 8BITMIME) */
	SMTP_UNCERTAIN, /* the connection was lost after the final dot, before
			 * the reply: the server may have it */
};

/* One message as the queue holds it. */
struct smtp_message {
	const char *sender;	  /* MAIL FROM */
	const char *const *rcpts; /* RCPT TO, each once */
	size_t n_rcpts;
	const char *data; /* CRLF line ends, no dot-stuffing */
	size_t len;
	bool eight_bit; /* needs 8BITMIME */
	bool utf8;	/* needs SMTPUTF8 */
};

/* What the server announced, for `doctor`. */
struct smtp_info {
	bool tls;	   /* the session is encrypted (always, once open) */
	size_t size_limit; /* SIZE; 0: none announced */
	bool eight_bit_mime;
	bool smtputf8;
	char auth_used[16]; /* "PLAIN", "LOGIN", "XOAUTH2" */
};

/* Connects to acct->smtp and signs in with secret (the password, or the
 * access token with auth: xoauth2). Errors are ERR_ACCOUNT ("connect to
 * H:P: ...", "server does not offer STARTTLS; ...", "login failed: 535
 * ..."), RETRY_BACKOFF when time may fix it (no network, 4xx), RETRY_NEVER
 * when it needs the user (a refused password, port 25 toward Google:
 * ERR_CONFIG). Returns 0 ok, -1 error. */
int smtp_open(const struct account_conf *acct, const char *secret, struct smtp **s_r,
	      struct error *err);
/* True when err is smtp_open()'s refused sign-in (535 or 454 to AUTH), not
 * a network or TLS failure. */
bool smtp_error_is_login(const struct error *err);

/* Submits one message. For anything but SMTP_SENT, err says why, with the
 * server's reply when there is one; after SMTP_DEFERRED or
 * SMTP_UNCERTAIN the session may be dead (smtp_alive). */
enum smtp_outcome smtp_submit(struct smtp *s, const struct smtp_message *m, struct error *err);

/* False once the connection is gone: open a new session for more mail. */
bool smtp_alive(const struct smtp *s);

void smtp_get_info(const struct smtp *s, struct smtp_info *info_r);

/* QUIT (when alive) and frees. Accepts NULL; NULLs the caller's pointer. */
void smtp_close(struct smtp **s);

#endif
