/* Internals shared by the imap/imap*.c files. */
#ifndef GMAILDIR_IMAP_IMAP_P_H
#define GMAILDIR_IMAP_IMAP_P_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "imap/imap.h"
#include "util/error.h"

/* The wire trace of one direction: lines are shown (cut when long), the
 * bytes of literals (message bodies, APPEND data) are replaced by their
 * size, so that the trace never holds a whole message. */
struct imap_trace_dir {
	uint64_t skip;	/* literal bytes still to hide */
	char head[200]; /* the start of the current line */
	size_t head_len;
	char tail[24]; /* its last bytes, where a literal's "{n}" is */
	size_t tail_len;
	size_t len; /* the whole line's length so far */
};

struct imap {
	mailimap *mi;			 /* owned */
	const struct account_conf *acct; /* borrowed */
	unsigned caps;			 /* IMAP_CAP_* as announced (after ENABLE) */
	unsigned masked;		 /* imap_mask_caps() */
	bool dead;			 /* the connection cannot be used any more */
	bool selected;			 /* a SELECT succeeded (sel_* are valid) */
	uint32_t sel_uidvalidity;	 /* UIDVALIDITY as that SELECT reported it */
	char sel_name[128];		 /* its name, for messages (cut, sanitised) */
	char *sel_mailbox;		 /* owned: its name as sent */
	uint32_t sel_uid_floor;		 /* no new message there gets a lower UID */
	uint32_t sel_uidnext;		 /* UIDNEXT as that SELECT reported it (0: none) */
	bool appenduid_bad;		 /* the server gave an impossible APPENDUID */
	bool last_bad;			 /* imap_raw_command's answer was BAD */
	struct imap_trace_dir trace_in, trace_out;
	char challenge[512]; /* a failed XOAUTH2's "+ <base64 JSON>", without "+ " */
	char greeting[256];  /* the text of the server's greeting, cut */
};

/* The first element of a libetpan list that may be NULL (FLAGS () gives
 * a NULL list, and clist_begin() does not check). */
static inline clistiter *imap_first(clist *list)
{
	return list ? clist_begin(list) : NULL;
}

/* Whether cap is announced and not masked. */
bool imap_has(const struct imap *imap, unsigned cap);

/* Whether a libetpan result means the connection is unusable: stream and
 * parse errors, BAD, BYE, out of memory (LIBETPAN.md §11). */
bool imap_r_is_fatal(int r);

/* Fills err after the libetpan call for the command named by fmt returned r
 * (not MAILIMAP_NO_ERROR) and returns -1. A fatal r marks the connection
 * dead (scope ERR_ACCOUNT, RETRY_BACKOFF, the transport's reason); else the
 * server refused (a tagged NO): the given scope, RETRY_BACKOFF, and the
 * server's text with its response code, e.g. "SELECT Foo: [NONEXISTENT]
 * Mailbox doesn't exist: Foo". */
int imap_fail(struct imap *imap, int r, enum error_scope scope, struct error *err, const char *fmt,
	      ...) __attribute__((format(printf, 5, 6)));

/* 0 when the connection can still be used, else -1 with err (ERR_ACCOUNT):
 * every command starts with it. It includes imap_check_mailbox. */
int imap_check_alive(struct imap *imap, struct error *err);

/* A server may announce a new UIDVALIDITY for the selected mailbox at any
 * time (an untagged OK [UIDVALIDITY n], or a whole second SELECT answer),
 * and libetpan quietly takes it. Every UID we hold or receive then means
 * nothing: 0 while the mailbox keeps the UIDVALIDITY its SELECT reported,
 * else -1 with err (ERR_ACCOUNT) and the connection marked dead, so that
 * no further command (an EXPUNGE above all) runs on the strength of it.
 * Called before each command, and after each command of the selected
 * state whose answer the caller would act on. */
int imap_check_mailbox(struct imap *imap, struct error *err);

/* The server's last tagged text with its response code ("[ALERT] ..."),
 * sanitised to printable ASCII, into buf. */
void imap_server_text(struct imap *imap, char *buf, size_t cap);

/* The UIDs a FETCH of lo:hi (hi 0: "*") of the selected mailbox asks
 * for end at *hi_r: hi, and never at or above the UIDNEXT its SELECT
 * reported. A server may add FETCH responses of its own; one beyond
 * UIDNEXT names no message the mailbox had, and must not be taken for
 * one (the messages that arrived since come with the next SELECT). */
void imap_uid_bound(const struct imap *imap, uint32_t hi, uint32_t *hi_r);

/* After a tagged NO: whether the server refused the command's message for
 * good, so that sending it again would get the same answer. That is a NO
 * without a response code (and without words of a passing condition such
 * as "quota" or "try again"), or with a code that judges the message
 * itself (PARSE, CANNOT, TOOBIG, CLIENTBUG). A BAD, an ALERT, TRYCREATE
 * and every other code (OVERQUOTA, LIMIT, UNAVAILABLE, INUSE, SERVERBUG,
 * THROTTLED, ...) speak of the server or the session: not for good. */
bool imap_refused_for_good(struct imap *imap);

/* A malloc'd, sorted, duplicate-free copy of uids; *n_r is its length. */
uint32_t *imap_uids_sorted(const uint32_t *uids, size_t n, size_t *n_r);

/* A mailimap_set of the runs of a sorted, duplicate-free array (n > 0).
 * The caller frees it with mailimap_set_free. */
struct mailimap_set *imap_set_new(const uint32_t *uids, size_t n);

/* The most runs sent in one command: keeps a command line below ~25 KB
 * (Dovecot accepts 64 KB, other servers less). */
#define IMAP_MAX_RUNS 1000

/* The most UIDs one STORE, EXPUNGE or MOVE covers: an EXPUNGE or MOVE
 * gets one untagged response per message back, and the transport refuses
 * an answer of more than 250000 of them (tls.c, GUARD_LINES_MAX). */
#define IMAP_MAX_UIDS 50000

/* Sends the command line cmd (without tag and CRLF) and parses the answer:
 * untagged data lands in imap->mi->imap_response_info as for any command.
 * Returns a libetpan code: MAILIMAP_NO_ERROR on OK,
 * MAILIMAP_ERROR_CUSTOM_COMMAND on NO. */
int imap_raw_command(struct imap *imap, const char *cmd);
/* The same with a non-synchronizing literal after it (LITERAL+: cmd ends
 * with its "{n+}"). */
int imap_raw_command_literal(struct imap *imap, const char *cmd, const char *data, size_t len);

/* "mailbox" as an IMAP quoted string into buf; false when a character
 * cannot be quoted or buf is too small (the caller then lets libetpan send
 * it, as a literal where needed). */
bool imap_quote_mailbox(const char *mailbox, char *buf, size_t cap);

/* Calls fn with the UID set of each VANISHED response of an extension list
 * (imap_response_info->rsp_extension_list; QRESYNC), in order. libetpan
 * keeps them there, not in the selection info. */
typedef void imap_vanished_fn(const struct mailimap_set *set, void *ctx);
void imap_vanished_each(clist *exts, imap_vanished_fn *fn, void *ctx);

/* The number of UIDs in the VANISHED responses of an extension list. */
size_t imap_vanished_count(clist *exts);

/* A keyword buffer that imap_meta_parse reuses from one message to the
 * next; the owner frees s. */
struct imap_kw {
	char *s; /* owned */
	size_t len, cap;
};

/* Fills m from one FETCH response (imap_fetch.c); m->keywords points into
 * kw until the next call. Returns true when the response carried
 * RFC822.SIZE: the answer to a metadata fetch, not a flag update. */
bool imap_meta_parse(const struct mailimap_msg_att *att, struct imap_kw *kw, struct imap_meta *m);

/* Installs fn as libetpan's per-message handler for the next command (with
 * the progress callback it needs, LIBETPAN.md §12); NULL removes it. */
void imap_handler_set(struct imap *imap, mailimap_msg_att_handler *fn, void *ctx);

/* Teaches libetpan's parser BINARY[] answers (imap_binary.c); once per
 * process, before the first connection. */
void imap_binary_register(void);
/* The BINARY[] (or BINARY[]<origin>) of the message in a FETCH response:
 * false when there is none (or NIL). data_r is borrowed from att. */
bool imap_binary_whole(const struct mailimap_msg_att *att, const char **data_r, size_t *len_r);

/* The libetpan logger behind the wire trace (ctx is the struct imap). */
void imap_trace_log(mailimap *mi, int log_type, const char *str, size_t size, void *ctx);

#endif
