/* Built-in OAuth 2.0 (the account's oauth2: block): signing in once with a
 * browser (oauth_login), then access tokens on demand from the kept
 * refresh token (oauth_access_token), one refresh shared by every
 * connection of the account. Google's endpoints by default; any provider
 * with the authorization-code flow, PKCE and XOAUTH2 by configuration. */
#ifndef GMAILDIR_OAUTH_OAUTH_H
#define GMAILDIR_OAUTH_OAUTH_H

#include <stdbool.h>
#include <time.h>

#include "config/config.h"
#include "util/error.h"

struct oauth_login_opts {
	unsigned port;	    /* of the loopback redirect; 0: a free one */
	unsigned timeout_s; /* how long the browser may take; 0: 5 minutes */
	/* Called once the listener runs, with the URL to open; the CLI prints
	 * it and may start a browser. */
	void (*show_url)(const char *url, void *ctx);
	void *ctx;
};

struct oauth_login_result {
	char where[512]; /* where the refresh token went, for the user */
	char scope[512]; /* what the provider granted */
};

/* The authorization-code flow with PKCE (S256) and a loopback redirect
 * (RFC 8252): waits for the browser, checks state, trades the code for
 * tokens and keeps the refresh token. */
int oauth_login(const struct account_conf *acct, const struct oauth_login_opts *o,
		struct oauth_login_result *res, struct error *err);

/* A valid access token for acct (caller frees, and should wipe it),
 * refreshed ahead of its expiry. refused: a token the server just refused
 * (NULL: none); when it is the current one, it is refreshed now. Without a
 * refresh token, or when the provider no longer honours it (invalid_grant:
 * revoked, or a Testing project's 7 days are over), the error begins with
 * "sign-in needed" and says to run gmaildir login; the provider is not
 * asked again until a new sign-in is kept. */
int oauth_access_token(const struct account_conf *acct, const char *refused, char **token_r,
		       struct error *err);

/* True for oauth_access_token()'s "sign-in needed" errors. */
bool oauth_signin_needed(const struct error *err);

/* What doctor shows: is there a sign-in, where, and does a refresh work. */
struct oauth_check {
	bool have_token;
	char where[512];
	bool refreshed; /* a test refresh gave an access token */
	long expires_in;
	char scope[512];
};
int oauth_check(const struct account_conf *acct, struct oauth_check *c, struct error *err);

/* Google's XOAUTH2 failure challenge (base64 of {"status":"401",
 * "schemes":"Bearer","scope":"..."}) as one readable line into out. */
void oauth_explain_challenge(const char *b64, char *out, size_t size);

#endif
