/* oauth_access_token(): one access token per account, shared by every
 * connection of this process (sync workers, IDLE, SMTP), refreshed ahead
 * of its expiry by whichever caller first needs it while the others wait
 * for that one refresh: no burst of token requests when eight connections
 * open at once. */
#include "oauth/oauth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oauth/oauth_p.h"
#include "util/xalloc.h"

#define SIGNIN_NEEDED "sign-in needed"

struct entry {
	struct entry *next;
	char *account;
	char *token_url;
	pthread_mutex_t lock; /* the rest, and the refresh itself */
	char *access;
	time_t expires; /* 0: unknown */
	long lifetime;	/* of the last one, seconds */
	char *refused;	/* the refresh token the provider refused; NULL: none */
	char refused_why[512];
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table;

static struct entry *entry_for(const struct account_conf *acct)
{
	struct entry *e;

	pthread_mutex_lock(&table_lock);
	for (e = table; e; e = e->next)
		if (strcmp(e->account, acct->name) == 0 &&
		    strcmp(e->token_url, acct->oauth2.token_url) == 0)
			break;
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->account = xstrdup(acct->name);
		e->token_url = xstrdup(acct->oauth2.token_url);
		pthread_mutex_init(&e->lock, NULL);
		e->next = table;
		table = e;
	}
	pthread_mutex_unlock(&table_lock);
	return e;
}

/* Fresh enough to hand out: not within a fifth of its life (at most two
 * minutes) of the end, so a connection opened now signs in well before. */
static bool fresh(const struct entry *e, time_t now)
{
	long margin = e->lifetime / 5;

	if (!e->access)
		return false;
	if (!e->expires)
		return true;
	if (margin > 120)
		margin = 120;
	return now + margin < e->expires;
}

static int signin_needed(const struct account_conf *acct, const char *why, struct error *err)
{
	error_set(err, ERR_ACCOUNT, RETRY_NEVER, SIGNIN_NEEDED ": %s; run: gmaildir login %s", why,
		  acct->name);
	return -1;
}

/* The refresh (RFC 6749 §6) with the kept refresh token; e->lock held. */
static int refresh(const struct account_conf *acct, struct entry *e, struct error *err)
{
	char *rt = NULL, *esc, *form;
	const char *where;
	struct token_reply tr;
	int ret = -1;

	if (store_load(acct, &rt, &where, err) < 0)
		return -1;
	if (!rt)
		return signin_needed(acct, "no OAuth 2.0 sign-in is kept for this account", err);
	if (e->refused && strcmp(e->refused, rt) == 0) {
		signin_needed(acct, e->refused_why, err);
		xfree_secret(&rt);
		return -1;
	}
	esc = url_escape(rt);
	form = xasprintf("grant_type=refresh_token&refresh_token=%s", esc);
	xfree_secret(&esc);
	if (token_post(acct, form, &tr, err) < 0)
		goto out;
	if (tr.error) {
		if (strcmp(tr.error, "invalid_grant") == 0) {
			snprintf(
			    e->refused_why, sizeof(e->refused_why),
			    "the provider no longer honours the saved sign-in (invalid_grant%s%s: "
			    "revoked, the password changed, or a Testing project's 7 days "
			    "are over)",
			    tr.error_description ? ": " : "",
			    tr.error_description ? tr.error_description : "");
			xfree_secret(&e->refused);
			e->refused = xstrdup(rt);
			signin_needed(acct, e->refused_why, err);
		} else {
			error_set(err, ERR_ACCOUNT,
				  tr.http_status >= 500 ? RETRY_BACKOFF : RETRY_NEVER,
				  "the token endpoint refused a refresh: %s%s%s", tr.error,
				  tr.error_description ? ": " : "",
				  tr.error_description ? tr.error_description : "");
		}
		goto out;
	}
	/* A provider that rotates refresh tokens (Microsoft does): keep the new. */
	if (tr.refresh_token && strcmp(tr.refresh_token, rt) != 0 &&
	    store_save(acct, tr.refresh_token, &where, err) < 0)
		goto out;
	xfree_secret(&e->access);
	e->access = tr.access_token;
	tr.access_token = NULL;
	e->lifetime = tr.expires_in > 0 ? tr.expires_in : 0;
	e->expires = tr.expires_in > 0 ? time(NULL) + tr.expires_in : 0;
	xfree_secret(&e->refused);
	ret = 0;
out:
	token_reply_free(&tr);
	xfree_secret(&form);
	xfree_secret(&rt);
	return ret;
}

int oauth_access_token(const struct account_conf *acct, const char *refused, char **token_r,
		       struct error *err)
{
	struct entry *e = entry_for(acct);
	int ret = 0;

	*token_r = NULL;
	pthread_mutex_lock(&e->lock);
	if (refused && e->access && strcmp(refused, e->access) == 0)
		xfree_secret(&e->access); /* refused by the server: never hand it out again */
	if (!fresh(e, time(NULL)))
		ret = refresh(acct, e, err);
	if (ret == 0)
		*token_r = xstrdup(e->access);
	pthread_mutex_unlock(&e->lock);
	return ret;
}

bool oauth_signin_needed(const struct error *err)
{
	return strncmp(err->msg, SIGNIN_NEEDED, strlen(SIGNIN_NEEDED)) == 0;
}

int oauth_check(const struct account_conf *acct, struct oauth_check *c, struct error *err)
{
	struct entry *e = entry_for(acct);
	char *rt = NULL;
	const char *where;
	int ret;

	memset(c, 0, sizeof(*c));
	if (store_load(acct, &rt, &where, err) < 0)
		return -1;
	c->have_token = rt != NULL;
	if (strcmp(where, "a file") == 0) {
		char *path = store_file_path(acct);

		snprintf(c->where, sizeof(c->where), "%s", path);
		free(path);
	} else {
		snprintf(c->where, sizeof(c->where), "%s", where);
	}
	xfree_secret(&rt);
	if (!c->have_token)
		return signin_needed(acct, "no OAuth 2.0 sign-in is kept for this account", err);
	pthread_mutex_lock(&e->lock);
	xfree_secret(&e->access); /* a real refresh: that is what doctor tests */
	ret = refresh(acct, e, err);
	if (ret == 0) {
		c->refreshed = true;
		c->expires_in = e->lifetime;
	}
	pthread_mutex_unlock(&e->lock);
	snprintf(c->scope, sizeof(c->scope), "%s", acct->oauth2.scope);
	return ret;
}
