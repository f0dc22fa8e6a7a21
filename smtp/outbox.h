/* The outbox: mail accepted by `gmaildir send` and not yet taken by the
 * SMTP server, kept durably under the account's state directory:
 *
 *   STATE/outbox/      a Maildir (tmp/, new/, cur/): one file per queued
 *                      message, an RFC 5322 message whose first header
 *                      fields are X-Gmaildir-Envelope-From/-To (the
 *                      envelope, Bcc recipients included), so that
 *                      `mutt -f STATE/outbox` shows it
 *   STATE/outbox/.retry/NAME   attempts, next try, last error (losing it
 *                      only makes the next try sooner)
 *   STATE/outbox/.lock the flush lock: one submitter at a time
 *   STATE/outbox/sent.log  one line per message the server took:
 *                      time, Message-ID, recipients, the server's reply
 *   STATE/failed/      a Maildir of messages the server refused for good
 *                      (5xx), with failed/.reason/NAME
 *   STATE/sent-copies/ messages sent but not yet copied into the local
 *                      Sent folder (servers other than Gmail), which the
 *                      next sync places there and uploads
 *
 * Nothing leaves outbox/new without a 2xx from the server (then one
 * rename into sent-copies/, or an unlink) or a 5xx (a rename into
 * failed/). */
#ifndef GMAILDIR_SMTP_OUTBOX_H
#define GMAILDIR_SMTP_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config/config.h"
#include "util/error.h"

/* The queue's own directory, STATE/outbox; the caller frees. */
char *outbox_dir(const struct account_conf *acct);

/* Writes data (a queue file: envelope fields, then the message) durably
 * into the outbox: tmp/, fsync, rename into new/, fsync of new/. Only
 * then is the message accepted. *name_r (may be NULL) gets its name. */
int outbox_enqueue(const struct account_conf *acct, const char *data, size_t len, char **name_r,
		   struct error *err);

/* One queued or failed message, for status. */
struct outbox_entry {
	char *name;
	unsigned attempts;
	time_t next_try;   /* 0: at once */
	time_t error_time; /* 0: no error yet */
	char *error;	   /* NULL: none */
	bool failed;	   /* in failed/ */
};

struct outbox_report {
	struct outbox_entry *entries; /* queued first (oldest first), then failed */
	size_t n;
	size_t queued, failed, copies_waiting;
	size_t sent_total;  /* lines in sent.log */
	time_t last_sent;   /* 0: never */
	char *last_sent_id; /* Message-ID of the last one, NULL: never */
};

/* What the outbox of acct holds; a missing outbox is an empty one. */
int outbox_report(const struct account_conf *acct, struct outbox_report *r, struct error *err);
void outbox_report_free(struct outbox_report *r);

/* What a flush does. */
struct flush_opts {
	bool force;	  /* ignore the backoff: `send --flush`, the network is back */
	const char *only; /* just this queued name (send's own message); NULL: all due */
	int lock_wait_ms; /* how long to wait for another flusher; 0: not at all */
};

struct flush_result {
	size_t sent, deferred, rejected, uncertain;
	size_t waiting;	   /* still queued afterwards */
	time_t next_try;   /* of the earliest still queued; 0: none */
	bool busy;	   /* another process holds the flush lock */
	char reason[1024]; /* the last deferral's or refusal's reason */
};

/* Submits every due message of acct's outbox over one SMTP session (a new
 * one when the server closes it). A message the server takes leaves the
 * queue; one it defers stays, with its next try backed off (1, 2, 4 ...
 * 60 minutes); one it refuses for good moves to failed/; one whose reply
 * was lost after the final dot stays and is sent again next time, the
 * one case where a recipient can get a message twice (logged). Returns 0
 * when it could do its job (even if some messages were deferred or
 * refused: see *res), -1 when the server could not be reached or signed
 * into (err, also recorded with every due message). */
int outbox_flush(const struct account_conf *acct, const struct flush_opts *o,
		 struct flush_result *res, struct error *err);

/* The sent copies waiting in STATE/sent-copies (sync places them in the
 * local Sent folder): their names, oldest first. Free with
 * outbox_names_free. A missing directory is none. */
int outbox_copies(const struct account_conf *acct, char ***names_r, size_t *n_r, struct error *err);
void outbox_names_free(char **names, size_t n);
/* The message of one copy, without the envelope fields; caller frees. */
int outbox_copy_read(const struct account_conf *acct, const char *name, char **data_r,
		     size_t *len_r, struct error *err);
/* The copy is in the Sent folder now: forget it. */
int outbox_copy_done(const struct account_conf *acct, const char *name, struct error *err);

#endif
