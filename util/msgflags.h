/* Message flags as both replicas see them: the IMAP system flags that have a
 * Maildir letter. Any other IMAP keyword is carried as text in the state
 * (see state.h) and never dropped. */
#ifndef GMAILDIR_UTIL_MSGFLAGS_H
#define GMAILDIR_UTIL_MSGFLAGS_H

enum msgflag {
	MF_DRAFT = 1u << 0,	/* D  \Draft */
	MF_FLAGGED = 1u << 1,	/* F  \Flagged */
	MF_FORWARDED = 1u << 2, /* P  $Forwarded ("passed") */
	MF_ANSWERED = 1u << 3,	/* R  \Answered */
	MF_SEEN = 1u << 4,	/* S  \Seen */
	MF_DELETED = 1u << 5,	/* T  \Deleted ("trashed") */
};

#define MF_ALL (MF_DRAFT | MF_FLAGGED | MF_FORWARDED | MF_ANSWERED | MF_SEEN | MF_DELETED)

#endif
