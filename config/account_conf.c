/* One account of the config: its keys, the checks between keys, and the
 * defaults. A key is read by its own small set_*() function, called from
 * schema_walk_map() through the table below, which is also the list shown
 * to the user after "unknown key". */
#include "config/config_p.h"

#include <stdio.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/xalloc.h"

/* Indexes into account_keys[] and actx.seen[]. */
enum key {
	K_NAME,
	K_PROVIDER,
	K_HOST,
	K_PORT,
	K_TLS,
	K_ALLOW_INSECURE,
	K_CA_FILE,
	K_USER,
	K_AUTH,
	K_PASSWORD,
	K_PASSWORD_COMMAND,
	K_OAUTH2_TOKEN_COMMAND,
	K_MAILDIR,
	K_LAYOUT,
	K_STATE_DIR,
	K_FOLDERS,
	K_CONFLICTS,
	K_DIRECTION,
	K_REMOTE_DELETIONS,
	K_IDLE,
	K_POLL_INTERVAL,
	K_CONNECTIONS,
	K_MAX_CONNECTIONS,
	K_STATUS_INTERVAL,
	K_COMPRESS,
	K_MAX_AGE,
	K_MAX_SIZE,
	K_TIMEOUT,
	K_TRASH,
	K_POST_SYNC_COMMAND,
	K_SMTP,
	K_OAUTH2,
	K_COUNT
};

enum folder_key { FK_INCLUDE, FK_EXCLUDE, FK_PROPAGATE_DELETES, FK_LIMITS, FK_COUNT };

/* The account being read and which of its keys were present. */
struct actx {
	struct account_conf *a;
	struct smtp_ctx smtp;
	struct oauth2_ctx oauth2;
	const struct ynode *seen[K_COUNT];	   /* key nodes */
	const struct ynode *folder_seen[FK_COUNT]; /* key nodes under folders: */
};

/* The enum names, in the order of the enum values of config.h. */
static const char *const provider_names[] = {"gmail", NULL};
static const char *const tls_names[] = {"implicit", "starttls", "none", NULL};
static const char *const auth_names[] = {"login", "xoauth2", NULL};
static const char *const conflict_names[] = {"deletion-wins", "keep", NULL};
static const char *const direction_names[] = {"both", "pull", "push", NULL};
static const char *const remote_deletion_names[] = {"propagate", "keep", NULL};
static const char *const trash_names[] = {"expunge", "move", NULL};
static const char *const layout_names[] = {"verbatim", "maildir++", NULL};
static const char *const compress_names[] = {"auto", "never", NULL};

static struct account_conf *acct(void *obj)
{
	return ((struct actx *)obj)->a;
}

/* The name becomes a directory (state_dir, logs), so it must be a safe
 * single path component. */
static int set_name(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._@+-";
	const char *name;

	if (schema_string(c, v, SCHEMA_ONE_LINE, &acct(obj)->name) < 0)
		return -1;
	name = acct(obj)->name;
	if (name[strspn(name, ok)] != '\0')
		return schema_error(c, v,
				    "name: may only hold letters, digits and . _ @ + - "
				    "(it names a directory)");
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return schema_error(c, v, "name: \".\" and \"..\" are not valid directory names");
	if (strlen(name) > 255)
		return schema_error(c, v, "name: longer than 255 characters");
	return 0;
}

static int set_provider(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, provider_names, &i) < 0)
		return -1;
	acct(obj)->gmail = true; /* gmail is the only provider */
	return 0;
}

static int set_host(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_host(c, v, &acct(obj)->host);
}

static int set_port(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	unsigned port;

	if (schema_uint(c, v, 1, 65535, &port) < 0)
		return -1;
	acct(obj)->port = (uint16_t)port;
	return 0;
}

static int set_tls(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, tls_names, &i) < 0)
		return -1;
	acct(obj)->tls = (enum tls_mode)i;
	return 0;
}

static int set_allow_insecure(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_bool(c, v, &acct(obj)->allow_insecure);
}

/* A path: ~ expanded, and absolute, because a relative path would depend on
 * the working directory of whoever starts us (systemd starts us in /). */
static int read_path(struct schema_ctx *c, const struct ynode *v, const char **out)
{
	const char *raw;

	if (schema_string(c, v, SCHEMA_ONE_LINE, &raw) < 0)
		return -1;
	*out = fs_expand_home(raw);
	free((char *)raw);
	if ((*out)[0] != '/')
		return schema_error(c, v, "%s: must be an absolute path or start with ~/", c->key);
	return 0;
}

static int set_ca_file(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return read_path(c, v, &acct(obj)->ca_file);
}

static int set_user(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, SCHEMA_ONE_LINE, &acct(obj)->user);
}

static int set_auth(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, auth_names, &i) < 0)
		return -1;
	acct(obj)->auth = (enum auth_mode)i;
	return 0;
}

static int set_password(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, SCHEMA_ONE_LINE, &acct(obj)->password);
}

/* Commands may span lines (a YAML block scalar holding a small script). */
static int set_password_command(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, 0, &acct(obj)->password_command);
}

static int set_oauth2_token_command(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, 0, &acct(obj)->oauth2_token_command);
}

static int set_maildir(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return read_path(c, v, &acct(obj)->maildir);
}

static int set_layout(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, layout_names, &i) < 0)
		return -1;
	acct(obj)->layout = (enum maildir_layout)i;
	return 0;
}

static int set_state_dir(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return read_path(c, v, &acct(obj)->state_dir);
}

static int set_include(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_strlist(c, v, &acct(obj)->include);
}

static int set_exclude(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_strlist(c, v, &acct(obj)->exclude);
}

static int set_propagate_deletes(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_bool(c, v, &acct(obj)->propagate_folder_deletes);
}

static int set_limits(struct schema_ctx *c, const struct ynode *v, void *obj);

static const struct schema_key folder_keys[FK_COUNT] = {
    [FK_INCLUDE] = {"include", set_include},
    [FK_EXCLUDE] = {"exclude", set_exclude},
    [FK_PROPAGATE_DELETES] = {"propagate_deletes", set_propagate_deletes},
    [FK_LIMITS] = {"limits", set_limits},
};

static int set_folders(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	struct actx *x = obj;

	return schema_walk_map(c, v, "folders", folder_keys, FK_COUNT, x->folder_seen, x);
}

static int set_conflicts(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, conflict_names, &i) < 0)
		return -1;
	acct(obj)->conflicts = (enum conflict_policy)i;
	return 0;
}

static int set_direction(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, direction_names, &i) < 0)
		return -1;
	acct(obj)->direction = (enum sync_direction)i;
	return 0;
}

static int set_remote_deletions(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, remote_deletion_names, &i) < 0)
		return -1;
	acct(obj)->remote_deletions = (enum remote_deletions)i;
	return 0;
}

static int set_post_sync_command(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_string(c, v, 0, &acct(obj)->post_sync_command);
}

static int set_trash(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, trash_names, &i) < 0)
		return -1;
	acct(obj)->trash = (enum trash_mode)i;
	return 0;
}

static int set_idle(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_strlist(c, v, &acct(obj)->idle);
}

/* Polling more often than every 10 s only loads the server (IDLE is there
 * for speed); less often than daily is not a sync any more. */
static int set_poll_interval(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_uint(c, v, 10, 86400, &acct(obj)->poll_interval);
}

/* Gmail allows 15 simultaneous IMAP connections per account. */
static int set_connections(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_uint(c, v, 1, 15, &acct(obj)->connections);
}

/* The budget of every connection the daemon holds at once for the account
 * (IDLE, sync, polling, SMTP). Gmail's limit is about 15 per account, and
 * the user's phone and web mail need some of them. */
static int set_max_connections(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_uint(c, v, 2, 50, &acct(obj)->max_connections);
}

/* STATUS of the folders beyond the IDLE budget, on one connection. */
static int set_status_interval(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_uint(c, v, 5, 3600, &acct(obj)->status_interval);
}

/* COMPRESS=DEFLATE (RFC 4978) when the server offers it; never: for a
 * link that compresses already, or to read a wire trace. */
static int set_compress(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	int i;

	if (schema_enum(c, v, compress_names, &i) < 0)
		return -1;
	acct(obj)->compress = (enum compress_mode)i;
	return 0;
}

/* Partial sync (gmaildir.yaml(5)): a message the limits keep on the
 * server is never taken as deleted on either side. */
static int set_max_age(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_uint(c, v, 1, 36500, &acct(obj)->max_age);
}

/* "10M", "500K", "2G" or bytes into *out; zero only with allow_zero. */
static int read_size(struct schema_ctx *c, const struct ynode *v, bool allow_zero, uint64_t *out)
{
	const char *raw = NULL;
	char *end = NULL;
	unsigned long long n, mul = 1;
	int ret = -1;

	if (schema_string(c, v, SCHEMA_ONE_LINE, &raw) < 0)
		return -1;
	errno = 0;
	n = strtoull(raw, &end, 10);
	if (!end)
		end = (char *)raw;
	if (*end == 'K' || *end == 'k')
		mul = 1ull << 10;
	else if (*end == 'M' || *end == 'm')
		mul = 1ull << 20;
	else if (*end == 'G' || *end == 'g')
		mul = 1ull << 30;
	if (mul > 1)
		end++;
	if (errno || end == raw || *end || (n == 0 && !allow_zero) || n > (1ull << 40) / mul ||
	    raw[0] == '-')
		schema_error(c, v, "%s: expected a size like 10M, 500K or 2G, got \"%s\"", c->key,
			     raw);
	else {
		*out = n * mul;
		ret = 0;
	}
	free((void *)raw);
	return ret;
}

static int set_max_size(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return read_size(c, v, false, &acct(obj)->max_size);
}

/* One folders.limits entry: max_age and/or max_size, 0 for none. */
static int set_limit_age(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	struct folder_limits *l = obj;

	l->set_age = true;
	return schema_uint(c, v, 0, 36500, &l->max_age);
}

static int set_limit_size(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	struct folder_limits *l = obj;

	l->set_size = true;
	return read_size(c, v, true, &l->max_size);
}

static const struct schema_key limit_keys[] = {
    {"max_age", set_limit_age},
    {"max_size", set_limit_size},
};

/* folders.limits: a mapping of folder patterns to their limits. */
static int set_limits(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	struct account_conf *a = acct(obj);
	size_t cap = 0;

	if (v->kind != YNODE_MAPPING)
		return schema_expected(c, v, "a mapping of folder patterns to limits");
	for (size_t i = 0; i + 1 < v->nkids; i += 2) {
		const struct ynode *key = v->kids[i], *val = v->kids[i + 1];
		const struct ynode *seen[2] = {NULL, NULL};
		struct folder_limits *l;

		if (key->kind != YNODE_SCALAR || key->len == 0 || memchr(key->value, 0, key->len))
			return schema_expected(c, key, "a folder pattern");
		a->limits = xgrow(a->limits, &cap, a->n_limits + 1, sizeof(*a->limits));
		l = &a->limits[a->n_limits++];
		memset(l, 0, sizeof(*l));
		l->pattern = xstrdup(key->value);
		if (schema_walk_map(c, val, "folders.limits", limit_keys, 2, seen, l) < 0)
			return -1;
	}
	return 0;
}

static int set_timeout(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return schema_uint(c, v, 1, 3600, &acct(obj)->timeout);
}

static int set_smtp(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return smtp_conf_parse(c, v, &((struct actx *)obj)->smtp);
}

static int set_oauth2(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	return oauth2_conf_parse(c, v, &((struct actx *)obj)->oauth2);
}

static const struct schema_key account_keys[K_COUNT] = {
    [K_NAME] = {"name", set_name},
    [K_PROVIDER] = {"provider", set_provider},
    [K_HOST] = {"host", set_host},
    [K_PORT] = {"port", set_port},
    [K_TLS] = {"tls", set_tls},
    [K_ALLOW_INSECURE] = {"allow_insecure", set_allow_insecure},
    [K_CA_FILE] = {"ca_file", set_ca_file},
    [K_USER] = {"user", set_user},
    [K_AUTH] = {"auth", set_auth},
    [K_PASSWORD] = {"password", set_password},
    [K_PASSWORD_COMMAND] = {"password_command", set_password_command},
    [K_OAUTH2_TOKEN_COMMAND] = {"oauth2_token_command", set_oauth2_token_command},
    [K_MAILDIR] = {"maildir", set_maildir},
    [K_LAYOUT] = {"layout", set_layout},
    [K_STATE_DIR] = {"state_dir", set_state_dir},
    [K_FOLDERS] = {"folders", set_folders},
    [K_CONFLICTS] = {"conflicts", set_conflicts},
    [K_DIRECTION] = {"direction", set_direction},
    [K_REMOTE_DELETIONS] = {"remote_deletions", set_remote_deletions},
    [K_IDLE] = {"idle", set_idle},
    [K_POLL_INTERVAL] = {"poll_interval", set_poll_interval},
    [K_CONNECTIONS] = {"connections", set_connections},
    [K_MAX_CONNECTIONS] = {"max_connections", set_max_connections},
    [K_STATUS_INTERVAL] = {"status_interval", set_status_interval},
    [K_COMPRESS] = {"compress", set_compress},
    [K_MAX_AGE] = {"max_age", set_max_age},
    [K_MAX_SIZE] = {"max_size", set_max_size},
    [K_TIMEOUT] = {"timeout", set_timeout},
    [K_TRASH] = {"trash", set_trash},
    [K_POST_SYNC_COMMAND] = {"post_sync_command", set_post_sync_command},
    [K_SMTP] = {"smtp", set_smtp},
    [K_OAUTH2] = {"oauth2", set_oauth2},
};

/* "missing required key WHAT in account ..." at the account's mapping. */
static int missing(struct schema_ctx *c, const struct ynode *node, size_t index,
		   const struct account_conf *a, const char *what)
{
	if (a->name)
		return schema_error(c, node, "missing required key %s in account \"%s\"", what,
				    a->name);
	return schema_error(c, node, "missing required key %s in account #%zu", what, index + 1);
}

static int check_required(struct schema_ctx *c, const struct ynode *node, size_t index,
			  const struct actx *x)
{
	if (!x->seen[K_NAME])
		return missing(c, node, index, x->a, "\"name\"");
	if (!x->seen[K_HOST] && !x->a->gmail)
		return missing(c, node, index, x->a, "\"host\" (or provider: gmail)");
	if (!x->seen[K_USER])
		return missing(c, node, index, x->a, "\"user\"");
	if (!x->seen[K_MAILDIR])
		return missing(c, node, index, x->a, "\"maildir\"");
	return 0;
}

/* The later of two key nodes in the file. */
static const struct ynode *later(const struct ynode *p, const struct ynode *q)
{
	if (p->line != q->line)
		return p->line > q->line ? p : q;
	return p->column > q->column ? p : q;
}

static int check_security(struct schema_ctx *c, const struct ynode *node, size_t index,
			  const struct actx *x)
{
	const struct account_conf *a = x->a;

	if (a->tls == TLS_NONE && !a->allow_insecure)
		return schema_error(c, x->seen[K_TLS],
				    "tls: none sends the password in clear; it also needs "
				    "allow_insecure: true");
	if (x->seen[K_OAUTH2] && x->seen[K_AUTH] && a->auth != AUTH_XOAUTH2)
		return schema_error(c, x->seen[K_OAUTH2],
				    "oauth2: signs in with OAuth 2.0, which needs auth: xoauth2");
	if (x->seen[K_OAUTH2] && a->oauth2_token_command)
		return schema_error(
		    c, later(x->seen[K_OAUTH2], x->seen[K_OAUTH2_TOKEN_COMMAND]),
		    "oauth2 and oauth2_token_command are two token sources; keep one (oauth2: "
		    "gmaildir signs in itself; oauth2_token_command: another tool does)");
	if (a->auth == AUTH_XOAUTH2 || x->seen[K_OAUTH2]) {
		if (!a->oauth2_token_command && !x->seen[K_OAUTH2])
			return missing(c, node, index, a,
				       "\"oauth2\" or \"oauth2_token_command\" (auth: xoauth2)");
		return 0;
	}
	if (a->password && a->password_command)
		return schema_error(c, later(x->seen[K_PASSWORD], x->seen[K_PASSWORD_COMMAND]),
				    "password and password_command exclude each other; keep one");
	if (!a->password && !a->password_command)
		return missing(c, node, index, a, "\"password\" or \"password_command\"");
	return 0;
}

static void list_of_one(struct strlist *list, const char *item)
{
	list->items = xcalloc(1, sizeof(*list->items));
	list->items[0] = xstrdup(item);
	list->len = 1;
}

/* $XDG_STATE_HOME/gmaildir/<name>, else ~/.local/state/gmaildir/<name>. The
 * XDG spec says to ignore a relative $XDG_STATE_HOME. */
static char *default_state_dir(const char *name)
{
	const char *xdg = getenv("XDG_STATE_HOME");

	if (xdg && xdg[0] == '/')
		return xasprintf("%s/gmaildir/%s", xdg, name);
	return xasprintf("%s/.local/state/gmaildir/%s", fs_home_dir(), name);
}

static void fill_defaults(struct actx *x)
{
	struct account_conf *a = x->a;

	if (!a->host) /* only with provider: gmail, see check_required() */
		a->host = xstrdup("imap.gmail.com");
	if (!x->seen[K_PORT])
		a->port = a->tls == TLS_IMPLICIT ? 993 : 143;
	if (!a->state_dir)
		a->state_dir = default_state_dir(a->name);
	if (!x->folder_seen[FK_INCLUDE])
		list_of_one(&a->include, "*");
	if (!x->seen[K_IDLE])
		list_of_one(&a->idle, "INBOX");
	if (!x->seen[K_POLL_INTERVAL])
		a->poll_interval = 300;
	if (!x->seen[K_CONNECTIONS])
		a->connections = 4;
	if (!x->seen[K_MAX_CONNECTIONS])
		a->max_connections = 8;
	if (!x->seen[K_STATUS_INTERVAL])
		a->status_interval = 60;
	if (!x->seen[K_TIMEOUT])
		a->timeout = 60;
}

int account_conf_parse(struct schema_ctx *c, const struct ynode *node, size_t index,
		       struct account_conf *a)
{
	struct actx x = {.a = a, .smtp = {.a = a, .account = node}, .oauth2 = {.a = a}};
	int ret = -1;

	/* Enums default to their first value (zero) through the zeroed *a. */
	c->key = "accounts";
	if (schema_walk_map(c, node, "account", account_keys, K_COUNT, x.seen, &x) < 0)
		goto out;
	if (check_required(c, node, index, &x) < 0 || check_security(c, node, index, &x) < 0)
		goto out;
	if (x.seen[K_OAUTH2])
		a->auth = AUTH_XOAUTH2; /* an oauth2: block says how to sign in */
	fill_defaults(&x);
	c->key = "oauth2";
	if (oauth2_conf_finish(c, a, &x.oauth2) < 0)
		goto out;
	c->key = "smtp";
	if (smtp_conf_finish(c, a, &x.smtp) < 0)
		goto out;
	ret = 0;
out:
	smtp_ctx_deinit(&x.smtp);
	oauth2_ctx_deinit(&x.oauth2);
	return ret;
}

void account_conf_deinit(struct account_conf *a)
{
	free((char *)a->name);
	free((char *)a->host);
	free((char *)a->ca_file);
	free((char *)a->user);
	if (a->password) /* a secret: do not leave it in freed memory */
		explicit_bzero((char *)a->password, strlen(a->password));
	free((char *)a->password);
	free((char *)a->password_command);
	free((char *)a->post_sync_command);
	free((char *)a->oauth2_token_command);
	free((char *)a->maildir);
	free((char *)a->state_dir);
	schema_strlist_free(&a->include);
	schema_strlist_free(&a->exclude);
	for (size_t i = 0; i < a->n_limits; i++)
		free(a->limits[i].pattern);
	free(a->limits);
	schema_strlist_free(&a->idle);
	smtp_conf_deinit(&a->smtp);
	oauth2_conf_deinit(&a->oauth2);
	memset(a, 0, sizeof(*a));
}

void config_folder_limits(const struct account_conf *acct, const char *folder, unsigned *max_age_r,
			  uint64_t *max_size_r)
{
	bool age_done = false, size_done = false;

	*max_age_r = acct->max_age;
	*max_size_r = acct->max_size;
	for (size_t i = 0; i < acct->n_limits && !(age_done && size_done); i++) {
		const struct folder_limits *l = &acct->limits[i];

		if (fnmatch(l->pattern, folder, 0) != 0)
			continue;
		if (l->set_age && !age_done) {
			*max_age_r = l->max_age;
			age_done = true;
		}
		if (l->set_size && !size_done) {
			*max_size_r = l->max_size;
			size_done = true;
		}
	}
}
