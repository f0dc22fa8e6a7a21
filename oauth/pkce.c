/* PKCE (RFC 7636): the verifier stays here, its S256 hash goes to the
 * browser, so a code stolen on its way back is useless without us. */
#include "oauth/oauth_p.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64url[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
}

void pkce_random(char *out, size_t nbytes)
{
	unsigned char buf[96];

	if (nbytes > sizeof(buf) || RAND_bytes(buf, (int)nbytes) != 1)
		abort(); /* no randomness: nothing safe to do */
	b64url_encode(buf, nbytes, out);
}

void pkce_s256(const char *verifier, char out[44])
{
	unsigned char md[32];
	unsigned int len = 0;

	if (!EVP_Digest(verifier, strlen(verifier), md, &len, EVP_sha256(), NULL) || len != 32)
		abort();
	b64url_encode(md, 32, out);
}

char *url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1);
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *query_param(const char *query, const char *name)
{
	size_t nl = strlen(name);
	const char *p = query;

	while (p && *p) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			char *out = xmalloc(len - nl);
			size_t o = 0;

			for (size_t i = nl + 1; i < len; i++) {
				int h, l;

				if (p[i] == '+') {
					out[o++] = ' ';
				} else if (p[i] == '%' && i + 2 < len &&
					   (h = hexval(p[i + 1])) >= 0 &&
					   (l = hexval(p[i + 2])) >= 0) {
					out[o++] = (char)(h * 16 + l);
					i += 2;
				} else {
					out[o++] = p[i];
				}
			}
			out[o] = '\0';
			return out;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}
