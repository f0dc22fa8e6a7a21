/* Copies of sent mail into the local Sent folder (sent_copies.c). */
#ifndef GMAILDIR_SYNC_SENT_COPIES_H
#define GMAILDIR_SYNC_SENT_COPIES_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "imap/imap.h"
#include "util/error.h"

/* Places every waiting copy of acct's sent mail in the local folder of
 * sent (the server's \Sent mailbox), seen; *placed_r counts them. */
int sent_copies_place(const struct account_conf *acct, const struct imap_mailbox *sent, bool gmail,
		      size_t *placed_r, struct error *err);

#endif
