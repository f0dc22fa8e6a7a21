/* What another sync tool last agreed with the server for one Maildir folder:
 * the state files of mbsync (isync 1.4) and OfflineIMAP (offlineimap3), and
 * the Gmail-id file names of lieer. Adoption (a first sync over a Maildir
 * that such a tool made) uses it to pair local files with server messages
 * without downloading anything twice.
 *
 * The parsers are pure (a buffer in, values out); peer_state_read() is the
 * only function that touches files: the folder's cur/ and new/, its own
 * state files, and the tools' directories under a given home. It never
 * writes. Nothing here prints: errors go to a struct error, and the reason
 * a peer state was not used goes to a caller's buffer, for -v. */
#ifndef GMAILDIR_STORE_PEER_STATE_H
#define GMAILDIR_STORE_PEER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum peer_tool {
	PEER_NONE = 0,
	PEER_MBSYNC,
	PEER_OFFLINEIMAP,
};

/* "mbsync", "offlineimap" or "none". */
const char *peer_tool_name(enum peer_tool tool);

/* One message as the peer last synced it. */
struct peer_record {
	uint32_t uid; /* the server's UID (under the UIDVALIDITY checked) */
	/* owned: the local file's unique name (before ":2,"), or NULL when the
	 * peer synced this UID but no file in cur/ or new/ carries it now (the
	 * user deleted it since, or two files claim it and neither is trusted). */
	char *unique;
	unsigned flags; /* MF_* (util/msgflags.h) as the peer last synced them */
};

struct peer_state {
	enum peer_tool tool;
	char *source;		  /* owned: the state file read, for messages */
	struct peer_record *recs; /* owned: ascending by uid, each uid once */
	size_t n;
};

/* The folder to look up; every field is borrowed for the call only. */
struct peer_folder {
	const char *path;	 /* absolute path of the Maildir folder */
	const char *rel;	 /* its path under the account's Maildir root:
				    "INBOX", "Archive", "A/B" */
	const char *server_name; /* the server's folder name, "/" separated */
	uint32_t uidvalidity;	 /* the server's UIDVALIDITY now */
	const char *home;	 /* where ~/.mbsync and ~/.offlineimap are */
};

/* Looks for what mbsync, then OfflineIMAP, last agreed for the folder:
 *  - mbsync: <path>/.mbsyncstate ("SyncState *"), else the one file of
 *    <home>/.mbsync/ named ":<far store>:<server name>_:<near store>:<rel>"
 *    ('/' written '!'); its FarUidValidity must equal uidvalidity and its
 *    NearUidValidity the folder's .uidvalidity; files are matched by the
 *    near UID in their name (",U=<n>"). A state with a ".new" file beside
 *    it (an mbsync run that stopped before committing) is not used: its
 *    journal is not replayed, since what it would add (pending UIDs, half
 *    propagated messages) is exactly what cannot be trusted; the next
 *    mbsync run would replay it, or adoption falls back to headers.
 *  - OfflineIMAP: <home>/.offlineimap/Account-<any>/LocalStatus-sqlite/<B>
 *    (table status) or LocalStatus/<B> (plain), with B the server name with
 *    '/' made '.'; the one Repository-<any>/FolderValidity/<B> holding
 *    uidvalidity must exist; files are matched by ",U=<uid>" together with
 *    ",FMD5=<md5 of rel>" (a file whose FMD5 differs was moved from another
 *    folder, and its UID means nothing here).
 * Returns 1 and *r (free with peer_state_free) when one was found; 0 when
 * none can be used, with the reasons in why (always NUL-terminated; why may
 * be NULL); -1 on an I/O error reading the folder (err set). A peer file
 * that is malformed, ambiguous or of another UIDVALIDITY is a 0, never an
 * error: adoption then matches by headers. Not handled: an mbsync
 * SyncState path prefix other than "*" or the default, mbsync's AltMap (the
 * UIDs are then in .isyncuidmap.db), an OfflineIMAP metadata directory other
 * than ~/.offlineimap, and nametrans. */
int peer_state_read(const struct peer_folder *f, struct peer_state **r, char *why, size_t why_size,
		    struct error *err);

/* Accepts NULL; NULLs *ps. */
void peer_state_free(struct peer_state **ps);

/* ---- pure parsers, used by peer_state_read and tested alone ---- */

/* One line of an mbsync state: far = server, near = the Maildir. */
struct peer_mbsync_pair {
	uint32_t far_uid;  /* never 0 here */
	uint32_t near_uid; /* 0: not (or no longer) in the Maildir */
	unsigned flags;	   /* MF_* */
};

struct peer_mbsync_state {
	uint32_t far_uidvalidity;
	uint32_t near_uidvalidity;
	struct peer_mbsync_pair *pairs; /* owned, in file order */
	size_t n;
};

/* Parses an mbsync (1.1 and later) state file: a header of "Key value"
 * lines, an empty line, then "far near [marks]flags" lines. Entries with no
 * server message (far 0) and placeholders ('<', '>': 1.5) are left out;
 * skipped ('^') and expired ('~') entries are kept with their near UID.
 * Returns 0, or -1 (err says which line) when the text is not one. Free
 * with peer_state_mbsync_deinit, also after -1. */
int peer_state_parse_mbsync(const char *buf, size_t len, struct peer_mbsync_state *r,
			    struct error *err);
void peer_state_mbsync_deinit(struct peer_mbsync_state *st);

/* The first line of a file holding a number as decimal digits: mbsync's
 * .uidvalidity ("UIDVALIDITY\nMAXUID\n") and OfflineIMAP's FolderValidity.
 * Returns 0, or -1 when it is not a number in 1..2^32-1. */
int peer_state_parse_uidvalidity(const char *buf, size_t len, uint32_t *r);

struct peer_uid_flags {
	uint32_t uid;
	unsigned flags; /* MF_* */
};

/* Parses an OfflineIMAP plain LocalStatus file (format 1 "uid:flags" or
 * format 2 "uid|flags|mtime|labels" after its magic line). Returns 0 with
 * *recs_r (caller frees; NULL when empty) and *n_r, or -1 with err. */
int peer_state_parse_offlineimap(const char *buf, size_t len, struct peer_uid_flags **recs_r,
				 size_t *n_r, struct error *err);

/* The UID field ",U=<n>" of a Maildir unique name. With fmd5 NULL (mbsync)
 * a name that also has ",FMD5=" is refused; with fmd5 set (OfflineIMAP) the
 * name must hold ",FMD5=<fmd5>" exactly. True with *uid_r on a match. */
bool peer_state_name_uid(const char *unique, const char *fmd5, uint32_t *uid_r);

/* MF_* of the known flag letters among s[0..len); others are ignored. */
unsigned peer_state_flags_from_letters(const char *s, size_t len);

/* True when unique is a lieer file name: the Gmail message id as lieer
 * writes it (the API's id, the lowercase hex of X-GM-MSGID, 12 to 16
 * digits here), optionally followed by ".<extension>" (lieer's
 * file_extension setting); *gm_r is then the X-GM-MSGID. */
bool peer_state_lieer_gm_msgid(const char *unique, uint64_t *gm_r);

#endif
