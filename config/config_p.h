/* Internals shared by the files of config/; nobody outside config/ includes
 * this header.
 *
 *   ytree.c         YAML text -> a plain tree of nodes with positions (the
 *                   only libyaml user)
 *   schema.c        typed reads of tree nodes, each failure a
 *                   "file:line:column: message" error
 *   account_conf.c  one account: keys, defaults, cross-key checks
 *   config.c        the public API: load, parse, look-ups
 *   smtp_conf.c     the smtp: block
 *   oauth2_conf.c   the oauth2: block (the built-in token source)
 *   secret.c        config_get_secret(): password and token commands */
#ifndef GMAILDIR_CONFIG_CONFIG_P_H
#define GMAILDIR_CONFIG_CONFIG_P_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* ---- ytree.c ---- */

enum ynode_kind { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };

/* One YAML node and where it starts (1-based). Tags and anchors are dropped;
 * aliases are refused at parse time, so the tree is a tree. */
struct ynode {
	enum ynode_kind kind;
	unsigned line;
	unsigned column;
	char *value; /* scalar: owned, NUL-terminated, but may hold NULs */
	size_t len;  /* scalar: bytes in value */
	/* Sequence: the items. Mapping: key, value, key, value, ... Owned. */
	struct ynode **kids;
	size_t nkids;
	size_t cap;
};

/* Parses the single YAML document in buf. *root_r is NULL when the stream
 * holds no document at all (empty file, only comments). Returns 0 ok, -1
 * error ("file:line:column: problem", scope ERR_CONFIG). */
int ytree_parse(const char *file, const char *buf, size_t len, struct ynode **root_r,
		struct error *err);
/* Accepts NULL; NULLs the caller's pointer. */
void ytree_free(struct ynode **node);
/* The value of key in mapping map (key compared as a whole, NULs included),
 * or NULL when absent or when map is not a mapping. */
const struct ynode *ytree_map_get(const struct ynode *map, const char *key);

/* ---- schema.c ---- */

/* What a reader of the tree needs to report an error. */
struct schema_ctx {
	const char *file;
	struct error *err;
	const char *key; /* the key whose value is being read, for messages */
};

/* One key of a mapping and the function that stores its value into obj. */
struct schema_key {
	const char *name; /* first: join() in schema.c relies on it */
	int (*set)(struct schema_ctx *c, const struct ynode *value, void *obj);
};

/* schema_string() flags. */
#define SCHEMA_ONE_LINE 0x1u /* refuse control characters (tab is fine) */

/* Sets c->err to "file:line:column: message" at node at. Returns -1. */
int schema_error(struct schema_ctx *c, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "key: expected WHAT, got DESCRIPTION" at v. Returns -1. */
int schema_expected(struct schema_ctx *c, const struct ynode *v, const char *what);
/* Checks that map is a mapping whose keys are strings from keys[], each at
 * most once, and calls their set() in file order with c->key set. seen has
 * nkeys slots, NULL on entry; seen[i] is left pointing at key i's node.
 * where names the mapping in messages ("account", "folders"). */
int schema_walk_map(struct schema_ctx *c, const struct ynode *map, const char *where,
		    const struct schema_key *keys, size_t nkeys, const struct ynode **seen,
		    void *obj);
/* A non-empty string without NUL bytes; with SCHEMA_ONE_LINE also at most
 * SCHEMA_LINE_MAX bytes (a path, a user, a password: nothing sane is
 * longer). *out is malloc'd. */
int schema_string(struct schema_ctx *c, const struct ynode *v, unsigned flags, const char **out);
#define SCHEMA_LINE_MAX 4096
/* A host name or address literal: a one-line string of at most 253 bytes,
 * no label (between dots) empty or longer than 63, no space, as DNS
 * allows. *out is malloc'd. */
int schema_host(struct schema_ctx *c, const struct ynode *v, const char **out);
/* A decimal integer in min..max. */
int schema_uint(struct schema_ctx *c, const struct ynode *v, unsigned min, unsigned max,
		unsigned *out);
/* true/false/yes/no, in any case. */
int schema_bool(struct schema_ctx *c, const struct ynode *v, bool *out);
/* One of the NULL-terminated names; *out is its index. */
int schema_enum(struct schema_ctx *c, const struct ynode *v, const char *const *names, int *out);
/* A sequence of one-line strings; *out must be empty on entry. */
int schema_strlist(struct schema_ctx *c, const struct ynode *v, struct strlist *out);
void schema_strlist_free(struct strlist *list);

/* ---- account_conf.c ---- */

/* Reads the account mapping node (the index-th, 0-based) into *a, which must
 * be zeroed, and fills every default. On error *a may be half filled:
 * account_conf_deinit() frees it either way. */
int account_conf_parse(struct schema_ctx *c, const struct ynode *node, size_t index,
		       struct account_conf *a);
void account_conf_deinit(struct account_conf *a);

/* ---- smtp_conf.c ---- */

/* The smtp: block of the account being read. */
struct smtp_ctx {
	struct account_conf *a;
	const struct ynode *account; /* the account's mapping, for messages */
	const struct ynode *node;    /* the smtp: mapping; NULL when absent */
	const struct ynode **seen;   /* its keys' nodes; owned */
};

/* Reads the smtp: mapping v into x->a->smtp. */
int smtp_conf_parse(struct schema_ctx *c, const struct ynode *v, struct smtp_ctx *x);
/* Once the whole account is read: the defaults from the account, and the
 * checks (port 25 toward Google, a password source). */
int smtp_conf_finish(struct schema_ctx *c, struct account_conf *a, struct smtp_ctx *x);
void smtp_ctx_deinit(struct smtp_ctx *x);
void smtp_conf_deinit(struct smtp_conf *s);

/* ---- oauth2_conf.c ---- */

/* The oauth2: block of the account being read. */
struct oauth2_ctx {
	struct account_conf *a;
	const struct ynode *node;  /* the oauth2: mapping; NULL when absent */
	const struct ynode **seen; /* its keys' nodes; owned */
};

int oauth2_conf_parse(struct schema_ctx *c, const struct ynode *v, struct oauth2_ctx *x);
/* Once the whole account is read: required keys, Google's defaults. */
int oauth2_conf_finish(struct schema_ctx *c, struct account_conf *a, struct oauth2_ctx *x);
void oauth2_ctx_deinit(struct oauth2_ctx *x);
void oauth2_conf_deinit(struct oauth2_conf *o);

/* ---- secret.c ---- */

/* How long a password or token command may run (default 2 minutes). For
 * tests; not thread-safe. */
void secret_set_timeout_ms(unsigned ms);

/* ---- config.c ---- */

#endif
