/* One IMAP session over libetpan, on TLS of our own (OpenSSL 3, see
 * tls.h): connect, verify, authenticate, and the commands the engine needs.
 *
 * Nothing here knows about Maildir or the state DB. Every function returns
 * 0 ok, -1 error with err filled (the server's own NO/BAD text where there is
 * one), unless its comment says otherwise. After an error with scope
 * ERR_ACCOUNT the connection is dead (imap_is_dead) and must be freed.
 * A tagged NO keeps the connection: scope ERR_MESSAGE for STORE, EXPUNGE,
 * APPEND, MOVE and body FETCH, ERR_FOLDER for the others, retry
 * RETRY_BACKOFF; a BAD, a parse error or a lost link is ERR_ACCOUNT.
 *
 * Protocol traps handled here (LIBETPAN.md): UID FETCH n:* also returns the
 * last message when n is above the highest UID, so results below n are
 * dropped; a tagged NO with partial FETCH data is reported, not taken for
 * success; unsolicited FETCH responses without UID are skipped. */
#ifndef GMAILDIR_IMAP_IMAP_H
#define GMAILDIR_IMAP_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "util/error.h"

struct imap;

/* Capabilities the engine cares about, read after login. */
enum imap_cap {
	IMAP_CAP_IDLE = 1u << 0,
	IMAP_CAP_CONDSTORE = 1u << 1,
	IMAP_CAP_QRESYNC = 1u << 2,
	IMAP_CAP_UIDPLUS = 1u << 3,
	IMAP_CAP_MOVE = 1u << 4,
	IMAP_CAP_SPECIAL_USE = 1u << 5,
	IMAP_CAP_XGM = 1u << 6, /* X-GM-EXT-1: Gmail */
	IMAP_CAP_ESEARCH = 1u << 7,
	IMAP_CAP_LIST_STATUS = 1u << 8,
	IMAP_CAP_LITERAL_PLUS = 1u << 9,
	IMAP_CAP_ENABLE = 1u << 10,
	IMAP_CAP_ID = 1u << 11,
	IMAP_CAP_XLIST = 1u << 12,
	IMAP_CAP_BINARY = 1u << 13,   /* RFC 3516: BINARY[] fetches, literal8 */
	IMAP_CAP_COMPRESS = 1u << 14, /* RFC 4978 COMPRESS=DEFLATE, on when set */
};

/* Connects to acct->host:port, sets up TLS as acct->tls says (implicit, or
 * STARTTLS, which must be offered; "none" only with allow_insecure),
 * verifies the certificate chain (system store + acct->ca_file) and host
 * name, authenticates with secret (LOGIN, or XOAUTH2 when acct->auth says so),
 * reads capabilities, sends ID, and ENABLEs QRESYNC where offered.
 * Errors name what failed: "certificate verify failed: self-signed
 * certificate in certificate chain (host 127.0.0.1)", "connect to
 * 127.0.0.1:993: Connection refused", "login failed: [AUTHENTICATIONFAILED]
 * Authentication failed.". The IMAP wire trace goes to log_trace and never
 * shows the secret. */
int imap_connect(const struct account_conf *acct, const char *secret, struct imap **imap_r,
		 struct error *err);
/* imap_connect() with the account's credentials (oauth/credentials.h):
 * its password or token, and with the built-in OAuth 2.0 source one more
 * try with a refreshed token when the server refuses the first. */
int imap_sign_in(const struct account_conf *acct, struct imap **imap_r, struct error *err);
/* True when err is imap_connect()'s "login failed" (the server refused the
 * credentials), not a network or TLS failure. */
bool imap_error_is_login(const struct error *err);
/* True when err says the server refused one more connection of the
 * account (Gmail: "Too many simultaneous connections"), which only
 * fewer connections fix. */
bool imap_error_is_too_many(const struct error *err);
/* Logs out if the connection is alive, then closes it. Accepts NULL. */
void imap_free(struct imap **imap);
/* The text of the server's greeting ("Courier-IMAP ready. ..."), cut to
 * 255 bytes; "" when there was none. Says which server it is to hints. */
const char *imap_greeting(const struct imap *imap);
/* Closes without a LOGOUT: for a connection that may be silently dead (a
 * check went unanswered, the machine slept), where LOGOUT could only wait
 * for the timeout. Accepts NULL. */
void imap_abandon(struct imap **imap);

unsigned imap_caps(const struct imap *imap);
bool imap_is_dead(const struct imap *imap);
/* Masks capabilities out (tests and fallbacks: force the plain path). */
void imap_mask_caps(struct imap *imap, unsigned caps);

/* Mailbox attributes from LIST (SPECIAL-USE, or XLIST as a fallback). */
enum imap_mbx_attr {
	IMAP_MBX_NOSELECT = 1u << 0, /* \Noselect or \NonExistent */
	IMAP_MBX_ALL = 1u << 1,
	IMAP_MBX_ARCHIVE = 1u << 2,
	IMAP_MBX_DRAFTS = 1u << 3,
	IMAP_MBX_FLAGGED = 1u << 4,
	IMAP_MBX_JUNK = 1u << 5,
	IMAP_MBX_SENT = 1u << 6,
	IMAP_MBX_TRASH = 1u << 7,
	IMAP_MBX_IMPORTANT = 1u << 8,
	IMAP_MBX_INBOX = 1u << 9, /* XLIST's \Inbox, or the name INBOX */
};

struct imap_mailbox {
	char *name; /* owned: as on the wire (modified UTF-7), unquoted */
	char delim; /* hierarchy delimiter, '\0' when NIL */
	unsigned attrs;
};

/* LIST "" "*" with special-use attributes (LIST ... RETURN (SPECIAL-USE)
 * when SPECIAL-USE and LIST-EXTENDED are offered, XLIST on old Gmail, else
 * a plain LIST). Free with imap_mailboxes_free. */
int imap_list(struct imap *imap, struct imap_mailbox **mbx_r, size_t *n_r, struct error *err);
void imap_mailboxes_free(struct imap_mailbox *mbx, size_t n);
/* The hierarchy delimiter of a LIST: the first one given, '/' if none. */
char imap_mailboxes_delim(const struct imap_mailbox *mbx, size_t n);

struct imap_mailbox_info {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t exists;
	uint64_t highestmodseq; /* 0: NOMODSEQ or no CONDSTORE */
};

/* SELECT (with CONDSTORE where offered). */
int imap_select(struct imap *imap, const char *mailbox, struct imap_mailbox_info *info_r,
		struct error *err);
/* True when mailbox is the one selected on this connection. */
bool imap_is_selected(const struct imap *imap, const char *mailbox);
/* STATUS (MESSAGES UIDNEXT UIDVALIDITY [HIGHESTMODSEQ]) of a mailbox that
 * need not be selected. */
int imap_status(struct imap *imap, const char *mailbox, struct imap_mailbox_info *info_r,
		struct error *err);
/* STATUS of n mailboxes, pipelined: every command is sent before the
 * first answer is read, so n folders cost one round trip. ok_r[i] tells
 * whether infos_r[i] holds an answer (false: NO or BAD for that one, or a
 * name that could not be sent). Returns 0, -1 only for a dead
 * connection. */
int imap_status_many(struct imap *imap, const char *const *mailboxes, size_t n,
		     struct imap_mailbox_info *infos_r, bool *ok_r, struct error *err);
/* CREATE; a mailbox that already exists ([ALREADYEXISTS]) counts as
 * created. */
int imap_create(struct imap *imap, const char *mailbox, struct error *err);
/* DELETE of a mailbox (with the messages in it). */
int imap_delete(struct imap *imap, const char *mailbox, struct error *err);
/* RENAME from to: the server moves the mailbox and its children, keeping
 * their messages (and, on most servers, their UIDs). */
int imap_rename(struct imap *imap, const char *from, const char *to, struct error *err);
int imap_noop(struct imap *imap, struct error *err);

/* What a metadata fetch reports of one message. Pointers are borrowed for
 * the duration of the callback. */
struct imap_meta {
	uint32_t uid;
	unsigned flags;	      /* MF_* */
	const char *keywords; /* other flags, space separated; NULL when none.
			       * An unknown system flag keeps its backslash
			       * ("\Important"); \Recent is dropped. */
	uint32_t size;	      /* RFC822.SIZE */
	time_t internaldate;  /* 0 when not fetched */
	uint64_t modseq;      /* 0 without CONDSTORE */
	uint64_t gm_msgid;    /* 0 unless Gmail */
};

typedef void imap_meta_fn(const struct imap_meta *meta, void *ctx);

/* A range of UIDs, lo <= hi. */
struct imap_uid_range {
	uint32_t lo, hi;
};

/* SELECT mailbox (QRESYNC (uidvalidity modseq 1:known_hi)) (RFC 7162
 * §3.2.5): the mailbox state as imap_select gives it, and in the same
 * answer what changed since modseq among the messages 1:known_hi. Needs
 * QRESYNC enabled (imap_caps), and uidvalidity, modseq and known_hi not 0
 * (else ERR_FOLDER, RETRY_NEVER, nothing sent).
 * fn is called, after the answer was read, once per FETCH response of it
 * (UID, FLAGS and MODSEQ of a message changed since modseq: no size, no
 * date; a message above known_hi may be among them). *vanished_r gets the
 * UIDs of the VANISHED (EARLIER) responses within 1:known_hi as sorted,
 * disjoint, non-adjacent ranges (ranges, not UIDs: a server may name a
 * whole span of long-gone UIDs), NULL when there were none; the caller
 * frees it. VANISHED is a claim, not a listing: check it before acting.
 * Returns 1 when the answer's changes apply; 0 when the mailbox is
 * selected but there are none to use: the answer carries another
 * UIDVALIDITY (the server ignored the QRESYNC parameters), or the name
 * needs a literal and a plain imap_select was sent instead; fn is then not
 * called and *vanished_r is NULL; -1 on error. */
int imap_select_qresync(struct imap *imap, const char *mailbox, uint32_t uidvalidity,
			uint64_t modseq, uint32_t known_hi, struct imap_mailbox_info *info_r,
			imap_meta_fn *fn, void *ctx, struct imap_uid_range **vanished_r,
			size_t *n_vanished_r, struct error *err);

/* UID FETCH uid_lo:uid_hi (UID FLAGS RFC822.SIZE INTERNALDATE [MODSEQ]
 * [X-GM-MSGID]) of the selected mailbox; uid_hi 0 means "*". With
 * changedsince > 0 only messages with a higher MODSEQ come back (CONDSTORE;
 * without it changedsince is ignored and everything comes back).
 * Calls fn once per message in the range (UIDs below uid_lo, and those at
 * or above the UIDNEXT the SELECT reported, are dropped: a server's own
 * FETCH responses can name any UID, even one that never was) as
 * responses are parsed: memory does not grow with the mailbox (the range is
 * fetched in chunks of about 2000 messages). Unsolicited FETCH responses
 * (another client's flag change: no RFC822.SIZE) are not reported. A tagged
 * NO fails the whole call (ERR_FOLDER), even after some fn calls. */
int imap_fetch_meta(struct imap *imap, uint32_t uid_lo, uint32_t uid_hi, uint64_t changedsince,
		    imap_meta_fn *fn, void *ctx, struct error *err);

typedef void imap_msgid_fn(uint32_t uid, const char *message_id, void *ctx);

/* The Message-ID of every message of the selected mailbox (message_id NULL
 * when a message has none), handled as responses are parsed. Used to re-pair
 * messages after a UIDVALIDITY change. */
int imap_fetch_message_ids(struct imap *imap, imap_msgid_fn *fn, void *ctx, struct error *err);

/* Receives the header section of one message (BODY[HEADER], exactly the
 * server's bytes, its empty last line included). */
typedef void imap_header_fn(uint32_t uid, const char *data, size_t len, void *ctx);

/* UID FETCH (BODY.PEEK[HEADER]) of the given UIDs of the selected mailbox,
 * in commands of at most 500 messages, each handled as it is parsed; an
 * answer for a UID that was not asked for is dropped. Recognises messages
 * another tool stored (adoption) without their bodies. */
int imap_fetch_headers(struct imap *imap, const uint32_t *uids, size_t n, imap_header_fn *fn,
		       void *ctx, struct error *err);

/* The UIDs of the selected mailbox in lo:hi (hi 0: "*") with UID SEARCH,
 * unsorted. Caller frees *uids_r. */
int imap_uid_list(struct imap *imap, uint32_t lo, uint32_t hi, uint32_t **uids_r, size_t *n_r,
		  struct error *err);

/* Receives one whole message body (exactly the server's bytes). Returns 0
 * to go on, -1 to record a failure for this UID (the fetch goes on). */
typedef int imap_body_fn(uint32_t uid, const char *data, size_t len, void *ctx);

/* UID FETCH uids (BODY.PEEK[]) in one command (several only when the UID
 * set has more than 1000 runs); the caller bounds the batch by bytes.
 * Where the server offers BINARY, a message whose BODY[] holds 0x80 bytes
 * (NUL bytes, as a plain literal shows them) is fetched again with
 * BINARY.PEEK[] too, and its NUL bytes are restored (imap_fetch.c). fn is
 * called as each message is parsed, so at most one message body is held at
 * a time. Returns 0 when every UID came back, 1 when the command completed
 * but some UIDs did not (err says so, with the server's text, scope
 * ERR_MESSAGE), -1 on a failed command (a NO with no data at all: scope
 * ERR_FOLDER) or a dead connection. */
int imap_fetch_bodies(struct imap *imap, const uint32_t *uids, size_t n, imap_body_fn *fn,
		      void *ctx, struct error *err);
/* UID FETCH uid (BODY.PEEK[]<at.len>): one piece of a message too big to
 * hold whole (libetpan reads every literal whole into memory). fn gets
 * the piece, shorter than len at the end of the message and empty past
 * it. Returns as imap_fetch_bodies for one UID. */
int imap_fetch_body_piece(struct imap *imap, uint32_t uid, uint32_t at, uint32_t len,
			  imap_body_fn *fn, void *ctx, struct error *err);

/* UID STORE uids +FLAGS.SILENT (or -FLAGS.SILENT when !add) with the MF_*
 * flags and the space-separated keywords (may be NULL; "\Name" is sent as
 * a system flag), as compact UID sets. No flags at all: nothing is sent. A
 * keyword that is not an IMAP atom is refused (ERR_MESSAGE) before sending. */
int imap_store_flags(struct imap *imap, const uint32_t *uids, size_t n, bool add, unsigned flags,
		     const char *keywords, struct error *err);
/* UID STORE +FLAGS.SILENT (\Deleted) then UID EXPUNGE (needs UIDPLUS; without
 * it this refuses rather than expunge other clients' \Deleted messages). */
int imap_expunge_uids(struct imap *imap, const uint32_t *uids, size_t n, struct error *err);
/* A plain EXPUNGE of every \Deleted message of the selected mailbox: for
 * servers without UIDPLUS, only when the caller knows no other message there
 * carries \Deleted. */
int imap_expunge(struct imap *imap, struct error *err);
/* APPEND with flags and INTERNALDATE (0: none); a message holding NUL
 * bytes goes as a literal8 where the server offers BINARY and LITERAL+. *uid_r gets the APPENDUID
 * answer, 0 when the server has no UIDPLUS. A NO [TRYCREATE] (no such
 * mailbox) has scope ERR_FOLDER; a NO that refuses this message for good
 * (imap_p.h, imap_refused_for_good) has ERR_MESSAGE with RETRY_NEVER; any
 * other NO has ERR_MESSAGE with RETRY_BACKOFF. */
int imap_append(struct imap *imap, const char *mailbox, unsigned flags, const char *keywords,
		time_t internaldate, const char *data, size_t len, uint32_t *uidvalidity_r,
		uint32_t *uid_r, struct error *err);
/* UID MOVE (or UID COPY + UID EXPUNGE without MOVE; refused when the server
 * has neither MOVE nor UIDPLUS) of uids to mailbox; with COPYUID
 * *dst_uids_r[i] is the new UID of uids[i] (0 when unknown). Caller frees. */
int imap_move(struct imap *imap, const uint32_t *uids, size_t n, const char *mailbox,
	      uint32_t **dst_uids_r, struct error *err);
/* UID COPY of uids to mailbox (on Gmail: adds a label); *dst_uids_r as for
 * imap_move. Caller frees. */
int imap_copy(struct imap *imap, const uint32_t *uids, size_t n, const char *mailbox,
	      uint32_t **dst_uids_r, struct error *err);
/* UID SEARCH UID min_uid:* HEADER Message-ID <message_id>. Caller frees. */
int imap_search_message_id(struct imap *imap, const char *message_id, uint32_t min_uid,
			   uint32_t **uids_r, size_t *n_r, struct error *err);

/* ------------------------------------------------------------------ IDLE
 * (RFC 2177; imap/imap_idle.c). The daemon keeps one connection per pushed
 * folder in IDLE and polls its fd in the event loop. Each step of a cycle
 * exists in two halves, so that the loop thread never waits for the
 * server: a *_send that only writes, and a *_finish to call once the fd is
 * readable (its answer always comes through the socket: nothing was read
 * since the command went out). A *_finish may still wait for the rest of
 * an answer whose start has arrived, bounded by the account timeout.
 *
 *   imap_select(imap, "INBOX", ...);
 *   imap_idle_start_send; on POLLIN: imap_idle_start_finish;
 *   idling: if imap_idle_has_buffered(imap) act at once (poll() cannot
 *     see those bytes, and only our own reads, i.e. right after a
 *     *_finish, can have put them there); else wait for POLLIN, or for
 *     the renewal every IMAP_IDLE_RENEW_S;
 *   then imap_idle_done_send; on POLLIN: imap_idle_done_finish gives the
 *     events; sync the folder if imap_idle_events_any; start again.
 * A timer on each wait for POLLIN (the account timeout) catches a server
 * that went silent: free the connection then.
 *
 * imap_idle_start, imap_idle_done and imap_idle_restart chain the halves
 * and block for the round trips (tools and tests, or a thread of its own).
 * While the connection is in any phase but IMAP_IDLE_OFF, no other command
 * may be sent on it. A server that leaves (BYE, or the socket closed)
 * shows as POLLIN; the next step fails with ERR_ACCOUNT and the
 * connection is dead. imap_free in any phase does not wait: its LOGOUT
 * ends the IDLE with a BAD (Dovecot: "Expected DONE") and the connection
 * closes; leave IDLE first for a clean logout. */

/* Re-issue IDLE at least this often: RFC 2177 lets servers drop an IDLE
 * after 30 minutes of silence, and some NAT boxes forget quieter links. */
#define IMAP_IDLE_RENEW_S (25 * 60)

enum imap_idle_phase {
	IMAP_IDLE_OFF = 0,  /* not in IDLE: commands may be sent */
	IMAP_IDLE_STARTING, /* IDLE sent, continuation not read yet */
	IMAP_IDLE_ON,	    /* idling */
	IMAP_IDLE_ENDING,   /* DONE sent, tagged answer not read yet */
};

/* What the server reported while idling. */
struct imap_idle_events {
	bool exists;	   /* an EXISTS came: new messages */
	uint32_t n_exists; /* the message count after IDLE (libetpan's view) */
	size_t expunged;   /* EXPUNGE responses (without QRESYNC) */
	size_t fetches;	   /* unsolicited FETCH: flags changed elsewhere */
	size_t vanished;   /* UIDs in VANISHED responses (QRESYNC) */
};

/* Whether ev reports any change of the mailbox. */
bool imap_idle_events_any(const struct imap_idle_events *ev);
enum imap_idle_phase imap_idle_phase(const struct imap *imap);

/* Sends IDLE. Requires IDLE in the capabilities and a selected mailbox
 * (libetpan's own IDLE crashes without one): refused otherwise, as in any
 * phase but IMAP_IDLE_OFF (ERR_FOLDER, RETRY_NEVER, nothing sent). */
int imap_idle_start_send(struct imap *imap, struct error *err);
/* Reads up to the server's "+" continuation. Untagged responses the server
 * sends before it are kept for the answer to DONE (libetpan 1.9.4 would
 * block on them until the timeout; LIBETPAN.md §0), and
 * imap_idle_has_buffered is then true. A NO to IDLE: ERR_FOLDER, the
 * connection stays usable. */
int imap_idle_start_finish(struct imap *imap, struct error *err);
/* Both halves. */
int imap_idle_start(struct imap *imap, struct error *err);

/* Between commands, without blocking: true when the server sent something
 * since its last answer (a BYE, unasked data) or closed the connection. */
bool imap_has_input(const struct imap *imap);

/* The socket to poll for POLLIN in every phase; -1 without a connection. */
int imap_idle_fd(const struct imap *imap);
/* True when data has already been read off the socket and waits in the
 * stream's buffer or in OpenSSL's (SSL_pending): poll() would not wake
 * for it, so the caller must act without polling. */
bool imap_idle_has_buffered(const struct imap *imap);

/* Sends DONE. First reads what the socket already holds, without waiting:
 * a BYE there fails at once (the server is leaving, and may keep the
 * socket open long after: Dovecot's TLS proxy does), as does a closed
 * socket (ERR_ACCOUNT, the connection is dead). */
int imap_idle_done_send(struct imap *imap, struct error *err);
/* Reads everything up to the tagged answer and reports in *ev_r what
 * arrived during IDLE (zeroed first; also filled after a NO, left zero
 * when the answer could not be read). The phase is IMAP_IDLE_OFF after it
 * whatever happens. */
int imap_idle_done_finish(struct imap *imap, struct imap_idle_events *ev_r, struct error *err);
/* Both halves. */
int imap_idle_done(struct imap *imap, struct imap_idle_events *ev_r, struct error *err);
/* imap_idle_done, then imap_idle_start. */
int imap_idle_restart(struct imap *imap, struct imap_idle_events *ev_r, struct error *err);

#endif
