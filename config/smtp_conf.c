/* An account's smtp: block: its keys, the defaults it takes from the
 * account, and the one refusal no configuration may talk us out of (port
 * 25 toward Google).
 *
 *   smtp:
 *     host: smtp.example.org      # provider: gmail: smtp.gmail.com
 *     port: 465                   # default: 465 implicit, 587 starttls
 *     tls: implicit               # or starttls; never none
 *     user: ...                   # default: the account's
 *     auth: login                 # or xoauth2; default: the account's
 *     password_command: ...       # default: the account's password source
 *     ca_file: ...                # default: the account's
 *     save_sent: auto             # always, never
 */
#include "config/config_p.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/fs.h"
#include "util/xalloc.h"

enum smtp_key {
	SK_HOST,
	SK_PORT,
	SK_TLS,
	SK_USER,
	SK_AUTH,
	SK_PASSWORD,
	SK_PASSWORD_COMMAND,
	SK_OAUTH2_TOKEN_COMMAND,
	SK_CA_FILE,
	SK_SAVE_SENT,
	SK_COUNT
};

static const char *const tls_names[] = {"implicit", "starttls", NULL};
static const char *const auth_names[] = {"login", "xoauth2", NULL};
static const char *const save_sent_names[] = {"auto", "always", "never", NULL};

static struct smtp_conf *smtp(void *obj)
{
	return &((struct smtp_ctx *)obj)->a->smtp;
}

static int set_host(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_host(c, v, &smtp(obj)->host);
}

static int set_port(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	unsigned port;

	if (schema_uint(c, v, 1, 65535, &port) < 0)
		return -1;
	smtp(obj)->port = (uint16_t)port;
	return 0;
}

static int set_tls(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, tls_names, &i) < 0)
		return -1;
	smtp(obj)->tls = i == 0 ? TLS_IMPLICIT : TLS_STARTTLS;
	return 0;
}

static int set_user(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, SCHEMA_ONE_LINE, &smtp(obj)->user);
}

static int set_auth(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, auth_names, &i) < 0)
		return -1;
	smtp(obj)->auth = (enum auth_mode)i;
	return 0;
}

static int set_password(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, SCHEMA_ONE_LINE, &smtp(obj)->password);
}

static int set_password_command(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, 0, &smtp(obj)->password_command);
}

static int set_oauth2_token_command(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, 0, &smtp(obj)->oauth2_token_command);
}

static int set_ca_file(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	const char *raw;

	if (schema_string(c, v, SCHEMA_ONE_LINE, &raw) < 0)
		return -1;
	smtp(obj)->ca_file = fs_expand_home(raw);
	free((char *)raw);
	if (smtp(obj)->ca_file[0] != '/')
		return schema_error(c, v, "ca_file: must be an absolute path or start with ~/");
	return 0;
}

static int set_save_sent(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, save_sent_names, &i) < 0)
		return -1;
	smtp(obj)->save_sent = (enum save_sent)i;
	return 0;
}

static const struct schema_key smtp_keys[SK_COUNT] = {
    [SK_HOST] = {"host", set_host},
    [SK_PORT] = {"port", set_port},
    [SK_TLS] = {"tls", set_tls},
    [SK_USER] = {"user", set_user},
    [SK_AUTH] = {"auth", set_auth},
    [SK_PASSWORD] = {"password", set_password},
    [SK_PASSWORD_COMMAND] = {"password_command", set_password_command},
    [SK_OAUTH2_TOKEN_COMMAND] = {"oauth2_token_command", set_oauth2_token_command},
    [SK_CA_FILE] = {"ca_file", set_ca_file},
    [SK_SAVE_SENT] = {"save_sent", set_save_sent},
};

int smtp_conf_parse(struct schema_ctx *c, const struct ynode *v, struct smtp_ctx *x)
{
	x->node = v;
	x->seen = xcalloc(SK_COUNT, sizeof(*x->seen));
	return schema_walk_map(c, v, "smtp", smtp_keys, SK_COUNT, x->seen, x);
}

/* Hosts of Google's mail service: a domain equal to or below one of these. */
static bool is_google_host(const char *host)
{
	static const char *const domains[] = {"gmail.com", "googlemail.com", "google.com"};
	size_t hl = strlen(host);

	while (hl > 0 && host[hl - 1] == '.') /* a fully qualified "smtp.gmail.com." */
		hl--;
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		size_t dl = strlen(domains[i]);

		if (hl == dl && strncasecmp(host, domains[i], dl) == 0)
			return true;
		if (hl > dl && host[hl - dl - 1] == '.' &&
		    strncasecmp(host + hl - dl, domains[i], dl) == 0)
			return true;
	}
	return false;
}

const char *config_smtp_port_refusal(const char *host, unsigned port)
{
	if (port != 25 || !host || !is_google_host(host))
		return NULL;
	return "Google blocks port 25 for mail clients (it is for server-to-server "
	       "mail and takes no sign-in); use port 465 (tls: implicit) or 587 "
	       "(tls: starttls)";
}

static const char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* The account's value for each key the block left out. */
static void inherit(struct smtp_conf *s, const struct account_conf *a, const struct smtp_ctx *x)
{
	bool own_password = x->seen && (x->seen[SK_PASSWORD] || x->seen[SK_PASSWORD_COMMAND]);

	if (!s->user)
		s->user = xstrdup(a->user);
	if (!(x->seen && x->seen[SK_AUTH]))
		s->auth = a->auth;
	if (!own_password) {
		s->password = dup_or_null(a->password);
		s->password_command = dup_or_null(a->password_command);
	}
	if (!s->oauth2_token_command)
		s->oauth2_token_command = dup_or_null(a->oauth2_token_command);
	/* The account's own sign-in serves its outgoing server too (Google
	 * issues one token for https://mail.google.com/, IMAP and SMTP). */
	s->builtin_oauth2 =
	    s->auth == AUTH_XOAUTH2 && !s->oauth2_token_command && a->oauth2.configured;
	if (!s->ca_file)
		s->ca_file = dup_or_null(a->ca_file);
}

int smtp_conf_finish(struct schema_ctx *c, struct account_conf *a, struct smtp_ctx *x)
{
	struct smtp_conf *s = &a->smtp;
	const char *why;

	if (!x->node && !a->gmail)
		return 0; /* no outgoing server: `send` says so */
	s->configured = true;
	if (!s->host) {
		if (!a->gmail)
			return schema_error(c, x->node, "smtp: missing required key \"host\"");
		s->host = xstrdup("smtp.gmail.com");
	}
	if (!(x->seen && x->seen[SK_TLS]))
		s->tls =
		    x->seen && x->seen[SK_PORT] && s->port == 587 ? TLS_STARTTLS : TLS_IMPLICIT;
	if (!(x->seen && x->seen[SK_PORT]))
		s->port = s->tls == TLS_IMPLICIT ? 465 : 587;
	why = config_smtp_port_refusal(s->host, s->port);
	if (why) {
		c->key = "port";
		return schema_error(c, x->seen && x->seen[SK_PORT] ? x->seen[SK_PORT] : x->node,
				    "smtp: port 25 toward %s: %s", s->host, why);
	}
	inherit(s, a, x);
	if (s->auth == AUTH_XOAUTH2 && !s->oauth2_token_command && !s->builtin_oauth2)
		return schema_error(c, x->node ? x->node : x->account,
				    "smtp: auth: xoauth2 needs the account's \"oauth2\" block or "
				    "\"oauth2_token_command\"");
	if (s->auth == AUTH_LOGIN && s->password && s->password_command)
		return schema_error(c, x->node,
				    "smtp: password and password_command exclude each other; "
				    "keep one");
	if (s->auth == AUTH_LOGIN && !s->password && !s->password_command)
		return schema_error(c, x->node ? x->node : x->account,
				    "smtp: needs \"password\" or \"password_command\"");
	s->copy_to_sent =
	    s->save_sent == SAVE_SENT_ALWAYS || (s->save_sent == SAVE_SENT_AUTO && !a->gmail);
	return 0;
}

void smtp_conf_deinit(struct smtp_conf *s)
{
	free((char *)s->host);
	free((char *)s->ca_file);
	free((char *)s->user);
	if (s->password)
		explicit_bzero((char *)s->password, strlen(s->password));
	free((char *)s->password);
	free((char *)s->password_command);
	free((char *)s->oauth2_token_command);
	memset(s, 0, sizeof(*s));
}

void smtp_ctx_deinit(struct smtp_ctx *x)
{
	free(x->seen);
	x->seen = NULL;
}
