/* Internals shared by the files of oauth/; nobody outside oauth/ includes
 * this header.
 *
 *   pkce.c       random strings and the S256 code challenge (RFC 7636)
 *   endpoint.c   the token endpoint: one HTTPS POST (libcurl), its JSON
 *                answer (jansson)
 *   store.c      where the refresh token lives: Secret Service or a file
 *   loopback.c   the one-request HTTP listener the browser is sent back to
 *   login.c      oauth_login(): the authorization-code flow
 *   access.c     oauth_access_token(): the cached, shared access token
 *   challenge.c  the XOAUTH2 failure challenge made readable */
#ifndef GMAILDIR_OAUTH_OAUTH_P_H
#define GMAILDIR_OAUTH_OAUTH_P_H

#include <stddef.h>
#include <time.h>

#include "config/config.h"
#include "util/error.h"

/* ---- pkce.c ---- */

/* nbytes random bytes, base64url without padding, NUL-terminated, into out
 * (at least 4 * nbytes / 3 + 2 bytes). */
void pkce_random(char *out, size_t nbytes);
/* base64url(SHA-256(verifier)), no padding: 43 characters and a NUL. */
void pkce_s256(const char *verifier, char out[44]);
/* s with every byte outside RFC 3986's unreserved set %-escaped; caller frees. */
char *url_escape(const char *s);

/* ---- endpoint.c ---- */

/* What a token endpoint answered. Strings owned; free with token_reply_free. */
struct token_reply {
	char *access_token;
	char *refresh_token; /* NULL: none issued (a refresh keeps the old one) */
	char *scope;
	long expires_in; /* seconds; 0: not said */
	/* A refusal: the OAuth error code ("invalid_grant") and its text. */
	char *error;
	char *error_description;
	long http_status;
};
void token_reply_free(struct token_reply *r);

/* POSTs the form (already url-escaped "k=v&k=v") to the account's token_url,
 * the client's id and secret added; verified with the account's ca_file
 * (else the system's store); bounded by the account's timeout. Returns 0
 * with *r filled (an OAuth error is a reply too: r->error set), -1 when
 * there was no usable answer (err). */
int token_post(const struct account_conf *acct, const char *form, struct token_reply *r,
	       struct error *err);

/* ---- store.c ---- */

/* The refresh token of acct; *token_r NULL when there is none. *where_r
 * (static text) says where it was looked for. */
int store_load(const struct account_conf *acct, char **token_r, const char **where_r,
	       struct error *err);
/* Keeps the refresh token; *where_r says where it went. */
int store_save(const struct account_conf *acct, const char *token, const char **where_r,
	       struct error *err);
/* The file store's path for acct; caller frees. */
char *store_file_path(const struct account_conf *acct);

/* ---- loopback.c ---- */

struct loopback;
/* Listens on 127.0.0.1:port (0: a free one). */
int loopback_open(unsigned port, struct loopback **lb_r, struct error *err);
unsigned loopback_port(const struct loopback *lb);
/* Waits up to timeout_s for one GET; *query_r is its query string (may be
 * empty; caller frees). Requests for other paths (a browser's favicon) are
 * answered 404 and waited past. */
int loopback_wait(struct loopback *lb, unsigned timeout_s, char **query_r, struct error *err);
/* Answers the request loopback_wait returned with an HTML page. */
void loopback_answer(struct loopback *lb, bool ok, const char *text);
void loopback_close(struct loopback **lb);

/* ---- misc ---- */

/* The value of name in an application/x-www-form-urlencoded query,
 * %-decoded; NULL when absent. Caller frees. */
char *query_param(const char *query, const char *name);

#endif
