/* Folder names: modified UTF-7 (RFC 3501 §5.1.3), the mapping between a
 * remote name and its local Maildir path, include/exclude globs, and
 * special-use roles. Pure functions, no I/O.
 *
 * Local layout (DESIGN.md §10): folder "A/B" of root R is the Maildir
 * R/A/B/{cur,new,tmp}; the remote hierarchy delimiter becomes '/', names are
 * decoded to UTF-8. The mapping is reversible (a local folder created by the
 * user becomes a remote folder) and can never escape the root: components
 * that would be unsafe or clash with the Maildir structure (".", "..", "",
 * "cur", "new", "tmp", a leading '.', a '/' inside a component when the
 * delimiter is not '/', control characters) are escaped, not refused.
 *
 * The escaping, per component of the decoded (UTF-8) name:
 *   - '%', '/', C0 controls and DEL become "%XX" (two upper-case hex digits);
 *   - a leading '.' becomes "%2E" (so ".", ".." and ".hidden" are covered);
 *   - "cur", "new" and "tmp" get their first letter escaped: "%63ur",
 *     "%6Eew", "%74mp" (exact case: "Cur" is left alone on a case-sensitive
 *     file system);
 *   - the empty component (remote "A//B", "A/") is the lone "%";
 *   - the first component "INBOX" in any case is "INBOX";
 *   - everything else, non-ASCII UTF-8 included, is kept as it is.
 * A local path is valid only in exactly this canonical spelling ("%2e",
 * "%41", a bare "50%" or "inbox" are refused), so the mapping is a bijection:
 * folder_remote_name(folder_local_path(x)) == x, except that INBOX comes back
 * in capitals (IMAP names INBOX case-insensitively). */
#ifndef GMAILDIR_IMAP_FOLDERS_H
#define GMAILDIR_IMAP_FOLDERS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* Decodes modified UTF-7 to UTF-8. Returns 0 ok, -1 on invalid input (bad
 * base64, unterminated shift, non-minimal or unpaired surrogates, a shifted
 * run that encodes printable ASCII). *out_r is the caller's to free.
 * Only the canonical form is accepted, so that mutf7_encode() gives back the
 * input exactly: raw bytes outside 0x20-0x7e, two adjacent shifted runs,
 * padding or non-zero leftover bits, and an encoded U+0000 are refused. */
int mutf7_decode(const char *in, char **out_r);
/* Encodes UTF-8 to modified UTF-7. Returns 0 ok, -1 on invalid UTF-8.
 * Strict UTF-8: overlong forms, surrogates and code points above U+10FFFF
 * are invalid. Control characters are base64-encoded, as the RFC requires.
 * *out_r is the caller's to free. */
int mutf7_encode(const char *in, char **out_r);

/* The local path (relative to the account root, '/'-separated) of a remote
 * folder given as on the wire, with its hierarchy delimiter ('\0': none).
 * "INBOX" in any case maps to "INBOX". Returns 0 ok, -1 when the name cannot
 * be decoded (invalid modified UTF-7: the caller reports and skips it).
 * An empty name and a delimiter outside printable ASCII are also -1.
 * *path_r is the caller's to free. */
int folder_local_path(const char *remote, char delim, char **path_r);
/* The reverse: the remote wire name of a local path. Returns 0 ok, -1 when
 * path is not a valid local folder path: not in canonical spelling, a
 * component holding the delimiter (or '/' at all when delim is '\0'), or
 * one that is not valid UTF-8. *remote_r is the caller's to free. */
int folder_remote_name(const char *local_path, char delim, char **remote_r);

/* The same two mappings for either layout of config.h. Verbatim is
 * folder_local_path() and folder_remote_name() above. Maildir++ (the tree
 * Dovecot, Courier, OfflineIMAP with "sep = ." and mbsync with "SubFolders
 * Maildir++" make):
 *   - INBOX is the root itself, local path ".";
 *   - any other folder is one dot directory of the root: its decoded
 *     components joined by '.', with a leading '.': "Lists/dev" is
 *     ".Lists.dev", Gmail's \Sent (local name "Sent") is ".Sent";
 *   - children of INBOX keep it as first component, as Dovecot does:
 *     "INBOX/x" is ".INBOX.x" (".INBOX" alone is refused: INBOX is ".");
 *     mbsync 1.4 writes them as "..x", which has no server name here;
 *   - per component, '%', '.', '/', C0 controls and DEL become "%XX" (a
 *     literal '.' would otherwise split the folder in two, so remote
 *     "v1.2" is ".v1%2E2"), and the empty component is the lone "%"; cur,
 *     new, tmp and a leading '.' need nothing (the directory is ".cur").
 * As for verbatim, only the canonical spelling maps back ("%2e", ".inbox.x"
 * are refused), so that two directories never name one folder. Escapes
 * of other programs are not interpreted: a directory is synced under the
 * name it spells, or, when that is not canonical (a lower-case "%2e"),
 * it has no server name and the caller skips it with a notice. */
int folder_layout_local_path(enum maildir_layout layout, const char *remote, char delim,
			     char **path_r);
int folder_layout_remote_name(enum maildir_layout layout, const char *local_path, char delim,
			      char **remote_r);

/* The human-readable name used for globs and messages: the remote name
 * decoded to UTF-8 with '/' as delimiter (the local path without escapes).
 * Returns 0 ok, -1 invalid. Control characters (C0, DEL, C1) are shown as
 * '?' so that the name is safe to print. *name_r is the caller's to free. */
int folder_display_name(const char *remote, char delim, char **name_r);

/* True when display_name matches one of acct->include and none of
 * acct->exclude (fnmatch, '*' matches across '/'; INBOX case-insensitive).
 * An empty include list means ["*"]; exclude wins over include. A pattern
 * equal to the name also matches, so "[Gmail]/Spam" (where '[' would open a
 * bracket expression) does what it says. */
bool folder_selected(const struct account_conf *acct, const char *display_name);

/* The order in which folders are shown (sync, status, list): INBOX and its
 * children first (INBOX case-insensitive), then by name with ASCII case
 * folded and '/' before every other character, so that a folder's children
 * follow it ("Work", "Work/a", "Work-old"). Byte order breaks ties, so the
 * order is total and stable. A qsort-style comparison of display names. */
int folder_display_cmp(const char *a, const char *b);

#endif
