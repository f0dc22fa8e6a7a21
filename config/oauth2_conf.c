/* An account's oauth2: block: the built-in OAuth 2.0 token source (the
 * client the user registered as a "Desktop app", and the provider's
 * endpoints, Google's by default).
 *
 *   oauth2:
 *     client_id: 1234-abc.apps.googleusercontent.com
 *     client_secret: GOCSPX-...        # or client_secret_command
 *     auth_url: https://accounts.google.com/o/oauth2/v2/auth
 *     token_url: https://oauth2.googleapis.com/token
 *     scope: https://mail.google.com/
 *     token_store: auto                # secret-service, file
 */
#include "config/config_p.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

enum oauth2_key {
	OK_CLIENT_ID,
	OK_CLIENT_SECRET,
	OK_CLIENT_SECRET_COMMAND,
	OK_AUTH_URL,
	OK_TOKEN_URL,
	OK_SCOPE,
	OK_TOKEN_STORE,
	OK_COUNT
};

static const char *const store_names[] = {"auto", "secret-service", "file", NULL};

static struct oauth2_conf *oauth2(void *obj)
{
	return &((struct oauth2_ctx *)obj)->a->oauth2;
}

static int set_client_id(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, SCHEMA_ONE_LINE, &oauth2(obj)->client_id);
}

static int set_client_secret(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, SCHEMA_ONE_LINE, &oauth2(obj)->client_secret);
}

static int set_client_secret_command(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, 0, &oauth2(obj)->client_secret_command);
}

/* Endpoints are https:// (the code and the tokens travel there); plain
 * http only toward this machine, for a provider a test runs. */
static int read_url(struct schema_ctx *c, const struct ynode *v, const char **out)
{
	const char *u;

	if (schema_string(c, v, SCHEMA_ONE_LINE, out) < 0)
		return -1;
	u = *out;
	if (strncasecmp(u, "https://", 8) == 0 && u[8])
		return 0;
	if (strncasecmp(u, "http://127.0.0.1", 16) == 0 ||
	    strncasecmp(u, "http://localhost", 16) == 0)
		return 0;
	return schema_error(c, v, "%s: must be an https:// URL", c->key ? c->key : "url");
}

static int set_auth_url(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return read_url(c, v, &oauth2(obj)->auth_url);
}

static int set_token_url(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return read_url(c, v, &oauth2(obj)->token_url);
}

static int set_scope(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, SCHEMA_ONE_LINE, &oauth2(obj)->scope);
}

static int set_token_store(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, store_names, &i) < 0)
		return -1;
	oauth2(obj)->token_store = (enum token_store)i;
	return 0;
}

static const struct schema_key oauth2_keys[OK_COUNT] = {
    [OK_CLIENT_ID] = {"client_id", set_client_id},
    [OK_CLIENT_SECRET] = {"client_secret", set_client_secret},
    [OK_CLIENT_SECRET_COMMAND] = {"client_secret_command", set_client_secret_command},
    [OK_AUTH_URL] = {"auth_url", set_auth_url},
    [OK_TOKEN_URL] = {"token_url", set_token_url},
    [OK_SCOPE] = {"scope", set_scope},
    [OK_TOKEN_STORE] = {"token_store", set_token_store},
};

int oauth2_conf_parse(struct schema_ctx *c, const struct ynode *v, struct oauth2_ctx *x)
{
	x->node = v;
	x->seen = xcalloc(OK_COUNT, sizeof(*x->seen));
	return schema_walk_map(c, v, "oauth2", oauth2_keys, OK_COUNT, x->seen, x);
}

int oauth2_conf_finish(struct schema_ctx *c, struct account_conf *a, struct oauth2_ctx *x)
{
	struct oauth2_conf *o = &a->oauth2;

	if (!x->node)
		return 0;
	o->configured = true;
	if (!o->client_id)
		return schema_error(c, x->node, "oauth2: missing required key \"client_id\"");
	if (o->client_secret && o->client_secret_command)
		return schema_error(c, x->node,
				    "oauth2: client_secret and client_secret_command exclude each "
				    "other; keep one");
	if (!o->auth_url)
		o->auth_url = xstrdup("https://accounts.google.com/o/oauth2/v2/auth");
	if (!o->token_url)
		o->token_url = xstrdup("https://oauth2.googleapis.com/token");
	if (!o->scope)
		o->scope = xstrdup("https://mail.google.com/");
	return 0;
}

void oauth2_conf_deinit(struct oauth2_conf *o)
{
	free((char *)o->client_id);
	if (o->client_secret)
		explicit_bzero((char *)o->client_secret, strlen(o->client_secret));
	free((char *)o->client_secret);
	free((char *)o->client_secret_command);
	free((char *)o->auth_url);
	free((char *)o->token_url);
	free((char *)o->scope);
	memset(o, 0, sizeof(*o));
}

void oauth2_ctx_deinit(struct oauth2_ctx *x)
{
	free(x->seen);
	x->seen = NULL;
}
