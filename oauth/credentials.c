#include "oauth/credentials.h"

#include "oauth/oauth.h"

int credentials_imap(const struct account_conf *acct, const char *refused, char **secret_r,
		     struct error *err)
{
	if (credentials_refreshable(acct, false))
		return oauth_access_token(acct, refused, secret_r, err);
	return config_get_secret(acct, secret_r, err);
}

int credentials_smtp(const struct account_conf *acct, const char *refused, char **secret_r,
		     struct error *err)
{
	if (credentials_refreshable(acct, true))
		return oauth_access_token(acct, refused, secret_r, err);
	return config_get_smtp_secret(acct, secret_r, err);
}

bool credentials_refreshable(const struct account_conf *acct, bool smtp)
{
	if (smtp)
		return acct->smtp.builtin_oauth2;
	return acct->auth == AUTH_XOAUTH2 && acct->oauth2.configured;
}
