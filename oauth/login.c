/* oauth_login(): the authorization-code flow of an installed app (RFC
 * 6749 §4.1 with PKCE, RFC 7636, and a loopback redirect, RFC 8252). The
 * only flow Google allows for https://mail.google.com/: the device flow
 * does not take that scope and the copy-paste flow is gone since 2022. */
#include "oauth/oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/oauth_p.h"
#include "util/xalloc.h"

struct flow {
	char verifier[96];
	char challenge[44];
	char state[32];
	char *redirect;
	char *url;
};

static void flow_start(struct flow *f, const struct account_conf *acct, unsigned port)
{
	char *id = url_escape(acct->oauth2.client_id), *scope = url_escape(acct->oauth2.scope);
	char *redir, *hint = url_escape(acct->user);
	const char *sep = strchr(acct->oauth2.auth_url, '?') ? "&" : "?";

	pkce_random(f->verifier, 48); /* 64 characters, RFC 7636 wants 43..128 */
	pkce_s256(f->verifier, f->challenge);
	pkce_random(f->state, 16);
	f->redirect = xasprintf("http://127.0.0.1:%u/", port);
	redir = url_escape(f->redirect);
	/* access_type=offline and prompt=consent: Google returns a refresh
	 * token only then (and again on a second login). */
	f->url =
	    xasprintf("%s%sresponse_type=code&client_id=%s&redirect_uri=%s&scope=%s"
		      "&state=%s&code_challenge=%s&code_challenge_method=S256"
		      "&access_type=offline&prompt=consent&login_hint=%s",
		      acct->oauth2.auth_url, sep, id, redir, scope, f->state, f->challenge, hint);
	free(id);
	free(scope);
	free(redir);
	free(hint);
}

static void flow_end(struct flow *f)
{
	explicit_bzero(f->verifier, sizeof(f->verifier));
	free(f->redirect);
	free(f->url);
}

/* The browser's answer: its code, once state matches what we sent. */
static int take_code(const struct flow *f, const char *query, char **code_r, struct error *err)
{
	char *state = query_param(query, "state"), *e = query_param(query, "error");
	int ret = -1;

	*code_r = NULL;
	if (!state || strcmp(state, f->state) != 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "the answer to the browser did not carry this sign-in's state (a "
			  "stale tab, or a forged request): nothing was kept; run gmaildir login "
			  "again");
	} else if (e) {
		char *d = query_param(query, "error_description");

		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "the provider refused: %s%s%s", e,
			  d ? ": " : "", d ? d : "");
		free(d);
	} else if (!(*code_r = query_param(query, "code")) || !**code_r) {
		free(*code_r);
		*code_r = NULL;
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "the answer to the browser carried no authorization code");
	} else {
		ret = 0;
	}
	free(state);
	free(e);
	return ret;
}

static int trade_code(const struct account_conf *acct, const struct flow *f, const char *code,
		      struct oauth_login_result *res, struct error *err)
{
	char *c = url_escape(code), *r = url_escape(f->redirect);
	char *form = xasprintf("grant_type=authorization_code&code=%s&redirect_uri=%s"
			       "&code_verifier=%s",
			       c, r, f->verifier);
	struct token_reply tr;
	const char *where;
	int ret = -1;

	free(c);
	free(r);
	if (token_post(acct, form, &tr, err) < 0)
		goto out;
	if (tr.error) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "the token endpoint refused the code: %s%s%s", tr.error,
			  tr.error_description ? ": " : "",
			  tr.error_description ? tr.error_description : "");
		goto out;
	}
	if (!tr.refresh_token) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "the provider gave no refresh token (offline access was not granted); "
			  "remove gmaildir's access in your account's security settings and "
			  "sign in again");
		goto out;
	}
	if (store_save(acct, tr.refresh_token, &where, err) < 0)
		goto out;
	if (strcmp(where, "a file") == 0) {
		char *path = store_file_path(acct);

		snprintf(res->where, sizeof(res->where), "%s (mode 0600)", path);
		free(path);
	} else {
		snprintf(res->where, sizeof(res->where), "%s", where);
	}
	snprintf(res->scope, sizeof(res->scope), "%s", tr.scope ? tr.scope : acct->oauth2.scope);
	ret = 0;
out:
	token_reply_free(&tr);
	explicit_bzero(form, strlen(form));
	free(form);
	return ret;
}

int oauth_login(const struct account_conf *acct, const struct oauth_login_opts *o,
		struct oauth_login_result *res, struct error *err)
{
	struct loopback *lb = NULL;
	struct flow f = {0};
	char *query = NULL, *code = NULL;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	if (!acct->oauth2.configured) {
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "account %s has no oauth2: block (client_id, client_secret)", acct->name);
		return -1;
	}
	if (loopback_open(o->port, &lb, err) < 0)
		return -1;
	flow_start(&f, acct, loopback_port(lb));
	if (o->show_url)
		o->show_url(f.url, o->ctx);
	if (loopback_wait(lb, o->timeout_s ? o->timeout_s : 300, &query, err) < 0)
		goto out;
	if (take_code(&f, query, &code, err) < 0 || trade_code(acct, &f, code, res, err) < 0) {
		loopback_answer(lb, false, err->msg);
		goto out;
	}
	loopback_answer(lb, true, "gmaildir is signed in. You can close this tab.");
	ret = 0;
out:
	if (code)
		explicit_bzero(code, strlen(code));
	free(code);
	free(query);
	flow_end(&f);
	loopback_close(&lb);
	return ret;
}
