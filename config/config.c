/* The public face of config/: reading the file, the top level of the YAML
 * document, the checks across accounts, and the look-ups. */
#include "config/config_p.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

/* A config file is a few KiB; anything much larger is the wrong file. */
#define CONFIG_MAX_SIZE (1024 * 1024)

struct config {
	struct account_conf *accounts; /* owned, naccounts of them */
	size_t naccounts;
};

/* Whether directory a is b, or one holds the other. Two accounts sharing a
 * maildir or a state_dir would each see the other's mail as its own, so
 * this is refused. Paths are compared as written (after ~ expansion). */
static bool paths_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n;

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[lb - 1] == '/')
		lb--;
	n = la < lb ? la : lb;
	if (memcmp(a, b, n) != 0)
		return false;
	if (la == lb)
		return true;
	return (la > lb ? a : b)[n] == '/';
}

/* Checks account i's maildir (or state_dir) against those before it. The
 * error points at an explicit key: a default state_dir has no position. */
static int check_dirs(struct schema_ctx *c, const struct ynode *seq, const struct config *cfg,
		      size_t i, bool state)
{
	const char *key = state ? "state_dir" : "maildir";
	const struct account_conf *a = &cfg->accounts[i];

	for (size_t j = 0; j < i; j++) {
		const struct account_conf *b = &cfg->accounts[j];
		const struct ynode *at = ytree_map_get(seq->kids[i], key);
		const char *other = b->name;

		if (!paths_overlap(state ? a->state_dir : a->maildir,
				   state ? b->state_dir : b->maildir))
			continue;
		if (!at) {
			at = ytree_map_get(seq->kids[j], key);
			other = a->name;
		}
		if (!at) /* two defaults never overlap; be safe anyway */
			at = seq->kids[i];
		return schema_error(c, at, "%s: overlaps the %s of account \"%s\"", key, key,
				    other);
	}
	return 0;
}

static int check_unique(struct schema_ctx *c, const struct ynode *seq, const struct config *cfg,
			size_t i)
{
	for (size_t j = 0; j < i; j++) {
		if (strcmp(cfg->accounts[i].name, cfg->accounts[j].name) != 0)
			continue;
		return schema_error(c, ytree_map_get(seq->kids[i], "name"),
				    "duplicate account name \"%s\" (first at line %u)",
				    cfg->accounts[i].name,
				    ytree_map_get(seq->kids[j], "name")->line);
	}
	if (check_dirs(c, seq, cfg, i, false) < 0 || check_dirs(c, seq, cfg, i, true) < 0)
		return -1;
	return 0;
}

static int set_accounts(struct schema_ctx *c, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;

	if (v->kind != YNODE_SEQUENCE)
		return schema_expected(c, v, "a sequence of accounts");
	if (v->nkids == 0)
		return schema_error(c, v, "accounts: expected at least one account");
	cfg->accounts = xcalloc(v->nkids, sizeof(*cfg->accounts));
	for (size_t i = 0; i < v->nkids; i++) {
		/* Counted before parsing, so that config_free() frees a half
		 * filled account too. */
		cfg->naccounts = i + 1;
		if (account_conf_parse(c, v->kids[i], i, &cfg->accounts[i]) < 0)
			return -1;
		if (check_unique(c, v, cfg, i) < 0)
			return -1;
	}
	return 0;
}

static const struct schema_key top_keys[] = {
    {"accounts", set_accounts},
};

static int parse_root(struct schema_ctx *c, const struct ynode *root, struct config *cfg)
{
	const struct ynode *seen[1] = {NULL};
	const struct ynode empty = {.kind = YNODE_SCALAR, .line = 1, .column = 1, .value = ""};

	if (!root)
		return schema_error(c, &empty,
				    "the file is empty; expected a mapping with "
				    "\"accounts:\"");
	if (root->kind != YNODE_MAPPING)
		return schema_expected(c, root, "a mapping with \"accounts:\" at the top level");
	if (schema_walk_map(c, root, "the top level", top_keys, 1, seen, cfg) < 0)
		return -1;
	if (!seen[0])
		return schema_error(c, root, "missing required key \"accounts\"");
	return 0;
}

int config_parse(const char *name, const char *buf, size_t len, struct config **cfg_r,
		 struct error *err)
{
	struct schema_ctx c = {.file = name, .err = err};
	struct ynode *root = NULL;
	struct config *cfg = NULL;
	int ret = -1;

	*cfg_r = NULL;
	if (ytree_parse(name, buf, len, &root, err) < 0)
		goto out;
	cfg = xcalloc(1, sizeof(*cfg));
	if (parse_root(&c, root, cfg) < 0)
		goto out;
	*cfg_r = cfg;
	cfg = NULL;
	ret = 0;
out:
	ytree_free(&root);
	config_free(&cfg);
	return ret;
}

/* Reads a whole regular file of at most CONFIG_MAX_SIZE bytes. */
static int read_file(const char *path, char **buf_r, size_t *len_r, mode_t *mode_r,
		     struct error *err)
{
	/* O_NONBLOCK: opening a FIFO would otherwise wait for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int ret = -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "%s: not a regular file", path);
		goto out;
	}
	/* One byte more than allowed, to notice a file that grew past it. */
	buf = xmalloc(CONFIG_MAX_SIZE + 1);
	for (;;) {
		ssize_t n = read(fd, buf + len, CONFIG_MAX_SIZE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_set(err, ERR_CONFIG, RETRY_NEVER, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_MAX_SIZE) {
			error_set(err, ERR_CONFIG, RETRY_NEVER, "%s: larger than 1 MiB", path);
			goto out;
		}
	}
	*buf_r = buf;
	*len_r = len;
	*mode_r = st.st_mode;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

static bool has_password(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->naccounts; i++) {
		if (cfg->accounts[i].password || cfg->accounts[i].smtp.password)
			return true;
	}
	return false;
}

int config_load(const char *path, struct config **cfg_r, struct error *err)
{
	char *buf = NULL;
	size_t len = 0;
	mode_t mode = 0;
	int ret = -1;

	*cfg_r = NULL;
	if (read_file(path, &buf, &len, &mode, err) < 0)
		goto out;
	if (config_parse(path, buf, len, cfg_r, err) < 0)
		goto out;
	/* Checked after parsing, since only a file that really holds a
	 * password must be private; the message tells how to fix it. */
	if (has_password(*cfg_r) && (mode & 077)) {
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "%s: holds a password but is readable by others; run: chmod 600 %s", path,
			  path);
		config_free(cfg_r);
		goto out;
	}
	ret = 0;
out:
	if (buf) /* it may hold a password */
		explicit_bzero(buf, len);
	free(buf);
	return ret;
}

void config_free(struct config **cfg)
{
	struct config *c = *cfg;

	if (!c)
		return;
	for (size_t i = 0; i < c->naccounts; i++)
		account_conf_deinit(&c->accounts[i]);
	free(c->accounts);
	free(c);
	*cfg = NULL;
}

size_t config_account_count(const struct config *cfg)
{
	return cfg->naccounts;
}

const struct account_conf *config_account(const struct config *cfg, size_t i)
{
	return i < cfg->naccounts ? &cfg->accounts[i] : NULL;
}

const struct account_conf *config_find_account(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->naccounts; i++) {
		if (strcmp(cfg->accounts[i].name, name) == 0)
			return &cfg->accounts[i];
	}
	return NULL;
}

char *config_default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");

	/* The XDG spec says to ignore a relative path. */
	if (xdg && xdg[0] == '/')
		return xasprintf("%s/gmaildir/config.yaml", xdg);
	return xasprintf("%s/.config/gmaildir/config.yaml", fs_home_dir());
}

const char *config_tls_name(enum tls_mode tls)
{
	switch (tls) {
	case TLS_IMPLICIT:
		return "implicit";
	case TLS_STARTTLS:
		return "starttls";
	case TLS_NONE:
		return "none";
	}
	return "unknown";
}
