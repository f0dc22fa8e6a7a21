/* imap_sign_in(): a connection with the account's own credentials. A
 * built-in OAuth 2.0 access token can end between the moment it was
 * handed out and the server's check, or be revoked early: one refused
 * sign-in gets one more try with a freshly refreshed token. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap.h"
#include "oauth/credentials.h"
#include "util/xalloc.h"

int imap_sign_in(const struct account_conf *acct, struct imap **imap_r, struct error *err)
{
	char *secret = NULL, *again = NULL;
	int ret = -1;

	if (credentials_imap(acct, NULL, &secret, err) < 0)
		return -1;
	ret = imap_connect(acct, secret, imap_r, err);
	/* When the refresh fails too, its error says more (sign-in needed,
	 * the provider unreachable) than the server's refusal. */
	if (ret < 0 && imap_error_is_login(err) && credentials_refreshable(acct, false) &&
	    credentials_imap(acct, secret, &again, err) == 0) {
		error_clear(err);
		ret = imap_connect(acct, again, imap_r, err);
	}
	xfree_secret(&secret);
	xfree_secret(&again);
	return ret;
}

bool imap_error_is_too_many(const struct error *err)
{
	return strcasestr(err->msg, "too many simultaneous connections") ||
	       strcasestr(err->msg, "maximum number of connections") ||
	       strcasestr(err->msg, "too many connections");
}
