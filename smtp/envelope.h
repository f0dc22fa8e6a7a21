/* What a message to send says, and how the outbox keeps it (pure: no I/O).
 *
 * envelope_prepare() turns what a mail program piped to `gmaildir send`
 * into the bytes to transmit and the envelope: CRLF line ends everywhere,
 * Bcc fields removed (their recipients kept in the envelope), and From,
 * Date and Message-ID added when missing. The outbox file is that message
 * with the envelope in front as header fields of its own
 * (X-Gmaildir-Envelope-From once, X-Gmaildir-Envelope-To per recipient),
 * so that a queued file is still a message a mail reader can open;
 * envelope_decode() reads it back. */
#ifndef GMAILDIR_SMTP_ENVELOPE_H
#define GMAILDIR_SMTP_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/error.h"

struct prepare_opts {
	bool from_headers;	  /* -t: recipients from To/Cc/Bcc too */
	const char *const *rcpts; /* from the command line (each may hold a list) */
	size_t n_rcpts;
	const char *sender;	  /* -f; NULL: the From address */
	const char *full_name;	  /* -F: for a From field we add; may be NULL */
	const char *default_from; /* the account's address */
	const char *msgid_domain; /* right of the @ of a Message-ID we add */
	time_t now;		  /* for a Date we add */
	long tz_offset_minutes;	  /* local time zone, east of UTC */
	const char *random_tag;	  /* left of the @ of a Message-ID we add */
};

struct outgoing {
	char *data; /* the message to transmit: CRLF, no Bcc, no dot-stuffing */
	size_t len;
	char *sender; /* MAIL FROM: -f, else From's address, else default_from */
	char **rcpts; /* RCPT TO, each once (compared without case) */
	size_t n_rcpts;
	char *message_id; /* "<...>" */
	char *from_addr;  /* the first address of From, NULL when none */
	bool eight_bit;	  /* a byte >= 0x80 anywhere: needs 8BITMIME */
	bool utf8;	  /* ... in the header or an address: needs SMTPUTF8 */
};

/* Returns 0 ok, -1 (ERR_MESSAGE) when there is no recipient or an address
 * cannot be put in an SMTP command. */
int envelope_prepare(const char *raw, size_t len, const struct prepare_opts *o,
		     struct outgoing *out, struct error *err);
void outgoing_free(struct outgoing *o);

/* The queue file: envelope fields, then o->data. Caller frees. */
char *envelope_encode(const struct outgoing *o, size_t *len_r);

/* A queue file read back. data points into the file given to decode. */
struct queued {
	char *sender; /* "" for the null sender */
	char **rcpts;
	size_t n_rcpts;
	char *message_id; /* NULL when the message has none */
	const char *data;
	size_t len;
};

/* Returns 0 ok, -1 (ERR_MESSAGE) for a file without the envelope fields. */
int envelope_decode(const char *file, size_t len, struct queued *q, struct error *err);
void queued_free(struct queued *q);

/* The addr-specs of an RFC 5322 address list (mailboxes, groups, display
 * names, comments, quoted local parts, obsolete routes), each once, in
 * order; what cannot be parsed is skipped. Free with envelope_addrs_free. */
void envelope_parse_addrs(const char *s, size_t len, char ***addrs_r, size_t *n_r);
void envelope_addrs_free(char **addrs, size_t n);

/* The first address of the From field of raw, or NULL (*addr_r). */
void envelope_from_address(const char *raw, size_t len, char **addr_r);

#endif
