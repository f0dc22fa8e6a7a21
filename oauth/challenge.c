/* When XOAUTH2 fails, Google (and Microsoft) first send a challenge: base64
 * of a small JSON object, {"status":"401","schemes":"Bearer","scope":
 * "https://mail.google.com/"}. It says more than the NO that follows. */
#include "oauth/oauth.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static const char *status_text(const char *status)
{
	/* Gmail says 400 for a token it does not take, whatever the reason. */
	if (strcmp(status, "401") == 0 || strcmp(status, "400") == 0)
		return "the access token was refused: expired, revoked, or issued for another "
		       "account";
	if (strcmp(status, "403") == 0)
		return "the access token lacks the permission (scope) for mail";
	return "the sign-in was refused";
}

void oauth_explain_challenge(const char *b64, char *out, size_t size)
{
	size_t n = strlen(b64);
	unsigned char *raw = xmalloc(n / 4 * 3 + 4);
	int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	json_t *o = NULL;
	const char *status, *scope;

	snprintf(out, size, "the sign-in was refused");
	if (len > 0) {
		while (len > 0 && raw[len - 1] == '\0') /* EVP_DecodeBlock pads with NULs */
			len--;
		o = json_loadb((const char *)raw, (size_t)len, 0, NULL);
	}
	status = json_string_value(json_object_get(o, "status"));
	scope = json_string_value(json_object_get(o, "scope"));
	if (status)
		snprintf(out, size, "%s (XOAUTH2 status %s%s%s)", status_text(status), status,
			 scope ? ", the server wants scope " : "", scope ? scope : "");
	json_decref(o);
	free(raw);
}
