/* Special-use roles (RFC 6154, and Gmail's \Important) of remote folders, as
 * the short names recorded in the state and shown to people. */
#ifndef GMAILDIR_SYNC_ROLES_H
#define GMAILDIR_SYNC_ROLES_H

/* The role of a mailbox from its IMAP_MBX_* attributes: "inbox", "all",
 * "archive", "drafts", "flagged", "junk", "sent", "trash", "important", or
 * NULL when it has none. */
const char *folder_role_name(unsigned attrs);

#endif
