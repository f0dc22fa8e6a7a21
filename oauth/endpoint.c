/* The token endpoint (RFC 6749 §3.2): one POST, one JSON answer. libcurl
 * with its OpenSSL flavour does the HTTPS (the account's ca_file, host
 * name checked, exactly as for IMAP); jansson reads the JSON. */
#include "oauth/oauth_p.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define MAX_REPLY (64 * 1024) /* a token answer is a few hundred bytes */

struct body {
	char *p;
	size_t len;
	bool too_big;
};

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	size_t add = size * n;

	if (b->len + add > MAX_REPLY) {
		b->too_big = true;
		return 0; /* stops the transfer */
	}
	b->p = xrealloc(b->p, b->len + add + 1);
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *json_text(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? xstrdup(s) : NULL;
}

/* The JSON of a reply into r. */
static int parse_reply(const struct body *b, struct token_reply *r, struct error *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(b->p ? b->p : "", b->len, 0, &jerr);
	json_t *exp;

	if (!o || !json_is_object(o)) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "the token endpoint answered HTTP %ld with no JSON object (%s)",
			  r->http_status, o ? "not an object" : jerr.text);
		json_decref(o);
		return -1;
	}
	r->access_token = json_text(o, "access_token");
	r->refresh_token = json_text(o, "refresh_token");
	r->scope = json_text(o, "scope");
	r->error = json_text(o, "error");
	r->error_description = json_text(o, "error_description");
	exp = json_object_get(o, "expires_in");
	if (json_is_integer(exp))
		r->expires_in = (long)json_integer_value(exp);
	else if (json_is_string(exp)) /* some providers quote it */
		r->expires_in = strtol(json_string_value(exp), NULL, 10);
	json_decref(o);
	if (!r->error && !r->access_token) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "the token endpoint answered HTTP %ld without an access_token",
			  r->http_status);
		return -1;
	}
	return 0;
}

/* The form with client_id and client_secret (RFC 6749 §2.3.1, in the body:
 * what Google documents for installed apps). */
static char *full_form(const struct account_conf *acct, const char *form, struct error *err)
{
	char *secret = NULL, *id = url_escape(acct->oauth2.client_id), *out;

	if (config_get_oauth2_client_secret(acct, &secret, err) < 0) {
		free(id);
		return NULL;
	}
	if (secret) {
		char *s = url_escape(secret);

		out = xasprintf("%s&client_id=%s&client_secret=%s", form, id, s);
		explicit_bzero(s, strlen(s));
		explicit_bzero(secret, strlen(secret));
		free(s);
		free(secret);
	} else {
		out = xasprintf("%s&client_id=%s", form, id);
	}
	free(id);
	return out;
}

static int perform(const struct account_conf *acct, const char *body_text, struct body *b,
		   long *status, struct error *err)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	CURLcode rc;

	if (!c) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, acct->oauth2.token_url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_text);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads; no SIGALRM for DNS */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (acct->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, acct->ca_file);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)acct->timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)acct->timeout);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "gmaildir/" GMAILDIR_VERSION);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "token endpoint %s: %s",
			  acct->oauth2.token_url,
			  b->too_big ? "answer too large"
				     : (ebuf[0] ? ebuf : curl_easy_strerror(rc)));
		return -1;
	}
	return 0;
}

int token_post(const struct account_conf *acct, const char *form, struct token_reply *r,
	       struct error *err)
{
	struct body b = {0};
	char *text;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	pthread_once(&curl_once, curl_init);
	text = full_form(acct, form, err);
	if (!text)
		return -1;
	if (perform(acct, text, &b, &r->http_status, err) == 0)
		ret = parse_reply(&b, r, err);
	explicit_bzero(text, strlen(text));
	free(text);
	if (b.p)
		explicit_bzero(b.p, b.len);
	free(b.p);
	return ret;
}

void token_reply_free(struct token_reply *r)
{
	xfree_secret(&r->access_token);
	xfree_secret(&r->refresh_token);
	free(r->scope);
	free(r->error);
	free(r->error_description);
	memset(r, 0, sizeof(*r));
}
