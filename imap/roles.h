/* Special-use roles (RFC 6154, and Gmail's \Important) of remote folders, as
 * the short names recorded in the state and shown to people, and the names
 * and paths a mailbox gets locally. */
#ifndef GMAILDIR_IMAP_ROLES_H
#define GMAILDIR_IMAP_ROLES_H

#include <stdbool.h>

#include "config/config.h"
#include "imap/imap.h"

/* The role of a mailbox from its IMAP_MBX_* attributes: "inbox", "all",
 * "archive", "drafts", "flagged", "junk", "sent", "trash", "important", or
 * NULL when it has none. */
const char *folder_role_name(unsigned attrs);

/* Gmail's system folders get plain local names (GMAIL.md): \All is
 * "Archive", \Junk "Spam", \Flagged "Starred", and \Sent, \Drafts, \Trash,
 * \Important their own. They are found by attribute, never by name, since
 * Gmail localizes the names ("[Google Mail]/Papierkorb"). NULL for a mailbox
 * without such a role. */
const char *gmail_local_name(unsigned attrs);

/* The local path (below the account root) and the display name (UTF-8, '/'
 * delimiter: what globs and "ACCOUNT/FOLDER" arguments match) of a mailbox;
 * gmail: the server speaks Gmail's dialect (X-GM-EXT-1); layout: the
 * account's (imap/folders.h). Return 0 ok, -1 when the name is not valid
 * modified UTF-7. The caller frees. */
int mailbox_local_path(const struct imap_mailbox *m, bool gmail, enum maildir_layout layout,
		       char **path_r);
int mailbox_display_name(const struct imap_mailbox *m, bool gmail, char **name_r);

/* Gmail's Spam, Trash, Starred and Important are views or short-lived: they
 * are synced only when an include pattern other than "*" names them. */
bool gmail_skipped_by_default(const struct account_conf *acct, const struct imap_mailbox *m,
			      const char *display);

#endif
