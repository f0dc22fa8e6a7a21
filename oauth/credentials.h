/* The secret a connection signs in with: the password or the token from
 * the config's sources (config_get_secret), or, with an oauth2: block, an
 * access token of the built-in OAuth 2.0 source. Every connection asks
 * here, so a login method is chosen in one place. */
#ifndef GMAILDIR_OAUTH_CREDENTIALS_H
#define GMAILDIR_OAUTH_CREDENTIALS_H

#include <stdbool.h>

#include "config/config.h"
#include "util/error.h"

/* For the account's IMAP server. refused: the secret the server just
 * refused (NULL: none): a built-in token is then refreshed. Caller frees
 * (and should wipe) *secret_r. */
int credentials_imap(const struct account_conf *acct, const char *refused, char **secret_r,
		     struct error *err);
/* The same for its SMTP server. */
int credentials_smtp(const struct account_conf *acct, const char *refused, char **secret_r,
		     struct error *err);
/* Whether a refused sign-in deserves one more try with a fresh token: the
 * built-in source, whose token may have ended a moment ago. */
bool credentials_refreshable(const struct account_conf *acct, bool smtp);

#endif
