/* YAML text to a plain tree, through libyaml's event API.
 *
 * The event API is used rather than yaml_parser_load() because it shows
 * aliases as they come, with their position: the document API resolves them
 * into shared (even cyclic) nodes, which a walker could loop on or blow up
 * with (a "billion laughs" file). A config file has no use for aliases, so
 * they are refused. Tags are ignored: the schema, not the tag, decides how a
 * scalar is read. */
#include "config/config_p.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/xalloc.h"

/* Far deeper than the schema goes (5 levels); it bounds the recursion of
 * ytree_free() whatever the input. */
#define YTREE_MAX_DEPTH 32

struct builder {
	const char *file;
	struct error *err;
	struct ynode *root;
	struct ynode *stack[YTREE_MAX_DEPTH]; /* open sequences and mappings */
	size_t depth;
	unsigned documents;
	bool done;
};

static int error_at(struct builder *b, const yaml_mark_t *mark, const char *msg)
{
	error_set(b->err, ERR_CONFIG, RETRY_NEVER, "%s:%zu:%zu: %s", b->file, mark->line + 1,
		  mark->column + 1, msg);
	return -1;
}

static struct ynode *node_new(enum ynode_kind kind, const yaml_mark_t *mark)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = (unsigned)mark->line + 1;
	n->column = (unsigned)mark->column + 1;
	return n;
}

/* Hangs n under the innermost open container, or makes it the root. */
static int attach(struct builder *b, struct ynode *n, const yaml_mark_t *mark)
{
	struct ynode *parent;

	if (b->depth == 0) {
		if (b->root) { /* cannot happen: one document, one root */
			ytree_free(&n);
			return error_at(b, mark, "more than one root node");
		}
		b->root = n;
		return 0;
	}
	parent = b->stack[b->depth - 1];
	parent->kids = xgrow(parent->kids, &parent->cap, parent->nkids + 1, sizeof(*parent->kids));
	parent->kids[parent->nkids++] = n;
	return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct ynode *n = node_new(YNODE_SCALAR, &ev->start_mark);

	n->len = ev->data.scalar.length;
	n->value = xstrndup((const char *)ev->data.scalar.value, n->len);
	return attach(b, n, &ev->start_mark);
}

static int on_container(struct builder *b, const yaml_event_t *ev, enum ynode_kind kind)
{
	struct ynode *n;

	if (b->depth == YTREE_MAX_DEPTH)
		return error_at(b, &ev->start_mark, "nesting too deep");
	n = node_new(kind, &ev->start_mark);
	if (attach(b, n, &ev->start_mark) < 0)
		return -1;
	b->stack[b->depth++] = n;
	return 0;
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++b->documents > 1)
			return error_at(b, &ev->start_mark,
					"only one YAML document is allowed in a config file");
		return 0;
	case YAML_ALIAS_EVENT:
		return error_at(b, &ev->start_mark, "aliases (*name) are not supported");
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_container(b, ev, YNODE_SEQUENCE);
	case YAML_MAPPING_START_EVENT:
		return on_container(b, ev, YNODE_MAPPING);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0) /* libyaml pairs them; be safe anyway */
			b->depth--;
		return 0;
	case YAML_STREAM_END_EVENT:
		b->done = true;
		return 0;
	default:
		return 0;
	}
}

/* The byte offset of a reader error (bad encoding) as a position. */
static yaml_mark_t offset_mark(const char *buf, size_t len, size_t offset)
{
	yaml_mark_t m = {0};

	for (size_t i = 0; i < offset && i < len; i++) {
		if (buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
	}
	return m;
}

static int syntax_error(struct builder *b, const yaml_parser_t *p, const char *buf, size_t len)
{
	const char *problem = p->problem ? p->problem : "YAML syntax error";
	yaml_mark_t mark = p->problem_mark;
	char msg[512];

	if (p->error == YAML_MEMORY_ERROR)
		problem = "out of memory";
	if (p->error == YAML_READER_ERROR)
		mark = offset_mark(buf, len, p->problem_offset);
	if (p->context)
		snprintf(msg, sizeof(msg), "%s (%s at line %zu)", problem, p->context,
			 p->context_mark.line + 1);
	else
		snprintf(msg, sizeof(msg), "%s", problem);
	return error_at(b, &mark, msg);
}

int ytree_parse(const char *file, const char *buf, size_t len, struct ynode **root_r,
		struct error *err)
{
	struct builder b = {.file = file, .err = err};
	yaml_parser_t parser;
	yaml_event_t ev;
	int ret = -1;

	*root_r = NULL;
	if (!yaml_parser_initialize(&parser)) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "%s: out of memory", file);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!b.done) {
		int rc;

		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&b, &parser, buf, len);
			goto out;
		}
		rc = on_event(&b, &ev);
		yaml_event_delete(&ev);
		if (rc < 0)
			goto out;
	}
	*root_r = b.root;
	b.root = NULL;
	ret = 0;
out:
	ytree_free(&b.root);
	yaml_parser_delete(&parser);
	return ret;
}

void ytree_free(struct ynode **node)
{
	struct ynode *n = *node;

	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		ytree_free(&n->kids[i]);
	free(n->kids);
	if (n->value) /* it may be a password */
		explicit_bzero(n->value, n->len);
	free(n->value);
	free(n);
	*node = NULL;
}

const struct ynode *ytree_map_get(const struct ynode *map, const char *key)
{
	size_t klen = strlen(key);

	if (!map || map->kind != YNODE_MAPPING)
		return NULL;
	for (size_t i = 0; i + 1 < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];

		if (k->kind == YNODE_SCALAR && k->len == klen && memcmp(k->value, key, klen) == 0)
			return map->kids[i + 1];
	}
	return NULL;
}
