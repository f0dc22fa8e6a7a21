#include "sync/roles.h"

#include <stddef.h>

#include "sync/imap.h"

const char *folder_role_name(unsigned attrs)
{
	static const struct {
		unsigned attr;
		const char *name;
	} roles[] = {
		{IMAP_MBX_INBOX, "inbox"},     {IMAP_MBX_ALL, "all"},
		{IMAP_MBX_ARCHIVE, "archive"}, {IMAP_MBX_DRAFTS, "drafts"},
		{IMAP_MBX_FLAGGED, "flagged"}, {IMAP_MBX_JUNK, "junk"},
		{IMAP_MBX_SENT, "sent"},       {IMAP_MBX_TRASH, "trash"},
		{IMAP_MBX_IMPORTANT, "important"},
	};

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (attrs & roles[i].attr)
			return roles[i].name;
	return NULL;
}
