#include "imap/roles.h"

#include <fnmatch.h>
#include <stddef.h>
#include <string.h>

#include "imap/folders.h"
#include "util/xalloc.h"

struct role {
	unsigned attr;
	const char *name;	/* as recorded in the state */
	const char *gmail_name; /* the local name on Gmail, or NULL */
};

static const struct role roles[] = {
    {IMAP_MBX_INBOX, "inbox", NULL},
    {IMAP_MBX_ALL, "all", "Archive"},
    {IMAP_MBX_ARCHIVE, "archive", NULL},
    {IMAP_MBX_DRAFTS, "drafts", "Drafts"},
    {IMAP_MBX_FLAGGED, "flagged", "Starred"},
    {IMAP_MBX_JUNK, "junk", "Spam"},
    {IMAP_MBX_SENT, "sent", "Sent"},
    {IMAP_MBX_TRASH, "trash", "Trash"},
    {IMAP_MBX_IMPORTANT, "important", "Important"},
};

static const struct role *role_of(unsigned attrs)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (attrs & roles[i].attr)
			return &roles[i];
	return NULL;
}

const char *folder_role_name(unsigned attrs)
{
	const struct role *r = role_of(attrs);

	return r ? r->name : NULL;
}

const char *gmail_local_name(unsigned attrs)
{
	const struct role *r = role_of(attrs);

	return r ? r->gmail_name : NULL;
}

int mailbox_local_path(const struct imap_mailbox *m, bool gmail, enum maildir_layout layout,
		       char **path_r)
{
	const char *plain = gmail ? gmail_local_name(m->attrs) : NULL;

	/* The plain names are single components: "Sent" or ".Sent". */
	if (plain)
		return folder_layout_local_path(layout, plain, '/', path_r);
	return folder_layout_local_path(layout, m->name, m->delim, path_r);
}

int mailbox_display_name(const struct imap_mailbox *m, bool gmail, char **name_r)
{
	const char *plain = gmail ? gmail_local_name(m->attrs) : NULL;

	if (plain) {
		*name_r = xstrdup(plain);
		return 0;
	}
	return folder_display_name(m->name, m->delim, name_r);
}

bool gmail_skipped_by_default(const struct account_conf *acct, const struct imap_mailbox *m,
			      const char *display)
{
	if (!(m->attrs & (IMAP_MBX_JUNK | IMAP_MBX_TRASH | IMAP_MBX_FLAGGED | IMAP_MBX_IMPORTANT)))
		return false;
	for (size_t i = 0; i < acct->include.len; i++)
		if (strcmp(acct->include.items[i], "*") != 0 &&
		    fnmatch(acct->include.items[i], display, 0) == 0)
			return false;
	return true;
}
