/* The control socket's lines (ctlproto.h). Both sides parse what the
 * other wrote as untrusted: every number is checked, every text bounded. */
#include "daemon/ctlproto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define REPORT_NUMBERS 16

/* A copy of src (at most cap - 1 bytes) with tabs and line ends as spaces. */
static void clean(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < cap; i++)
		dst[i] = src[i] == '\t' || src[i] == '\n' || src[i] == '\r' ? ' ' : src[i];
	dst[i] = '\0';
}

/* A line of at most CTL_LINE_MAX bytes: longer texts are cut. */
static char *line_end(char *s)
{
	size_t n = strlen(s);

	if (n >= CTL_LINE_MAX - 1) {
		n = CTL_LINE_MAX - 2;
		s[n] = '\0';
	}
	s = xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	return s;
}

void ctl_request_clear(struct ctl_request *rq)
{
	for (size_t i = 0; i < rq->n_folders; i++)
		free(rq->folders[i]);
	free(rq->folders);
	memset(rq, 0, sizeof(*rq));
}

static bool has_line_end(const char *s)
{
	return strchr(s, '\n') || strchr(s, '\r');
}

char *ctl_request_format(const struct engine_opts *opts)
{
	char *text = xasprintf("hello %d\n", CTL_VERSION), *t;

	for (size_t i = 0; i < opts->n_folders; i++) {
		if (has_line_end(opts->folders[i]) ||
		    strlen(opts->folders[i]) > CTL_LINE_MAX - 16) {
			free(text);
			return NULL;
		}
		t = xasprintf("%sfolder %s\n", text, opts->folders[i]);
		free(text);
		text = t;
	}
	t = xasprintf("%s%s%s%ssync\n", text, opts->dry_run ? "option dry-run\n" : "",
		      opts->allow_mass_delete ? "option allow-mass-delete\n" : "",
		      opts->allow_unmatched ? "option allow-unmatched\n" : "");
	free(text);
	return t;
}

static int feed_option(struct ctl_request *rq, const char *word, struct error *err)
{
	if (strcmp(word, "dry-run") == 0)
		rq->dry_run = true;
	else if (strcmp(word, "allow-mass-delete") == 0)
		rq->allow_mass_delete = true;
	else if (strcmp(word, "allow-unmatched") == 0)
		rq->allow_unmatched = true;
	else {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "unknown option '%.64s'", word);
		return -1;
	}
	return 0;
}

static int feed_folder(struct ctl_request *rq, const char *name, struct error *err)
{
	if (!*name || rq->n_folders >= CTL_FOLDERS_MAX) {
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  *name ? "more than %d folders" : "an empty folder name", CTL_FOLDERS_MAX);
		return -1;
	}
	rq->folders = xgrow(rq->folders, &rq->cap_folders, rq->n_folders + 1, sizeof(char *));
	rq->folders[rq->n_folders++] = xstrdup(name);
	return 0;
}

int ctl_request_feed(struct ctl_request *rq, const char *line, struct error *err)
{
	if (!rq->hello) {
		if (strcmp(line, "hello 1") != 0) {
			error_set(err, ERR_CONFIG, RETRY_NEVER,
				  "expected 'hello %d' (another version of gmaildir?)",
				  CTL_VERSION);
			return -1;
		}
		rq->hello = true;
		return 0;
	}
	if (strncmp(line, "folder ", 7) == 0)
		return feed_folder(rq, line + 7, err);
	if (strncmp(line, "option ", 7) == 0)
		return feed_option(rq, line + 7, err);
	if (strcmp(line, "sync") == 0)
		return 1;
	error_set(err, ERR_CONFIG, RETRY_NEVER, "unknown request line '%.64s'", line);
	return -1;
}

/* ------------------------------------------------------------ replies */

char *ctl_reply_hello(long pid)
{
	return xasprintf("hello %d %ld\n", CTL_VERSION, pid);
}

char *ctl_reply_progress(const struct engine_progress *p)
{
	char folder[CTL_LINE_MAX];

	clean(folder, sizeof(folder), p->folder);
	return line_end(xasprintf("progress %zu %zu %" PRIu64 " %" PRIu64 "\t%s", p->done, p->total,
				  p->bytes, p->total_bytes, folder));
}

char *ctl_reply_folder(const struct engine_folder_report *r)
{
	char folder[CTL_LINE_MAX / 2], msg[sizeof(r->err.msg)];

	clean(folder, sizeof(folder), r->folder);
	clean(msg, sizeof(msg), r->failed ? r->err.msg : "");
	return line_end(xasprintf("folder %d %d %d %d %zu %zu %zu %zu %zu %zu %zu %zu %zu %" PRIu64
				  " %" PRIu64 " %zu\t%s\t%s",
				  r->failed, r->unchanged, r->renamed, (int)r->err.scope,
				  r->downloaded, r->linked, r->uploaded, r->flags_pulled,
				  r->flags_pushed, r->deleted_local, r->deleted_remote, r->moved,
				  r->held, r->bytes_down, r->bytes_up, r->messages, folder, msg));
}

char *ctl_reply_text(const char *word, const char *text)
{
	char clean_text[CTL_LINE_MAX];

	clean(clean_text, sizeof(clean_text), text);
	return line_end(xasprintf("%s %s", word, clean_text));
}

char *ctl_reply_done(int ret, const struct error *err)
{
	char msg[sizeof(err->msg)];

	clean(msg, sizeof(msg), ret < 0 ? err->msg : "");
	return line_end(
	    xasprintf("done %d %d\t%s", ret, ret < 0 ? (int)err->scope : (int)ERR_NONE, msg));
}

/* Reads n unsigned decimal numbers separated by single spaces from *s,
 * up to the first tab or the end; *s then points there. */
static bool read_numbers(const char **s, uint64_t *v, size_t n)
{
	const char *p = *s;

	for (size_t i = 0; i < n; i++) {
		char *end;

		if (i > 0 && *p++ != ' ')
			return false;
		if (*p < '0' || *p > '9')
			return false;
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno)
			return false;
		p = end;
	}
	if (*p && *p != '\t')
		return false;
	*s = p;
	return true;
}

/* The tab-separated text after *s into dst, *s moved past it. */
static void read_text(const char **s, char *dst, size_t cap)
{
	const char *p = *s;
	size_t n;

	if (*p == '\t')
		p++;
	n = strcspn(p, "\t");
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	p += strcspn(p, "\t");
	*s = p;
}

static bool valid_scope(uint64_t v)
{
	return v <= ERR_SAFETY;
}

static bool parse_folder(const char *s, struct ctl_reply *r)
{
	uint64_t v[REPORT_NUMBERS];
	struct engine_folder_report *f = &r->report;

	if (!read_numbers(&s, v, REPORT_NUMBERS) || *s != '\t' || v[0] > 1 || v[1] > 1 ||
	    v[2] > 1 || !valid_scope(v[3]))
		return false;
	*f = (struct engine_folder_report){.failed = v[0],
					   .unchanged = v[1],
					   .renamed = v[2],
					   .downloaded = v[4],
					   .linked = v[5],
					   .uploaded = v[6],
					   .flags_pulled = v[7],
					   .flags_pushed = v[8],
					   .deleted_local = v[9],
					   .deleted_remote = v[10],
					   .moved = v[11],
					   .held = v[12],
					   .bytes_down = v[13],
					   .bytes_up = v[14],
					   .messages = v[15],
					   .folder = r->folder};
	read_text(&s, r->folder, sizeof(r->folder));
	read_text(&s, f->err.msg, sizeof(f->err.msg));
	f->err.scope = f->failed ? (enum error_scope)v[3] : ERR_NONE;
	return r->folder[0] != '\0';
}

static bool parse_progress(const char *s, struct ctl_reply *r)
{
	uint64_t v[4];

	if (!read_numbers(&s, v, 4) || *s != '\t')
		return false;
	read_text(&s, r->folder, sizeof(r->folder));
	r->progress = (struct engine_progress){
	    .folder = r->folder, .done = v[0], .total = v[1], .bytes = v[2], .total_bytes = v[3]};
	return true;
}

/* "done RET SCOPE\tERROR": RET is -1, 0 or 1. */
static bool parse_done(const char *s, struct ctl_reply *r)
{
	uint64_t v[1];
	bool neg = strncmp(s, "-1 ", 3) == 0;

	if (neg)
		r->ret = -1;
	else if (strncmp(s, "0 ", 2) == 0 || strncmp(s, "1 ", 2) == 0)
		r->ret = s[0] - '0';
	else
		return false;
	s += neg ? 3 : 2;
	if (!read_numbers(&s, v, 1) || !valid_scope(v[0]))
		return false;
	read_text(&s, r->err.msg, sizeof(r->err.msg));
	r->err.scope = (enum error_scope)v[0];
	if (r->ret < 0 && r->err.scope == ERR_NONE)
		r->err.scope = ERR_ACCOUNT;
	if (r->ret < 0 && !r->err.msg[0])
		snprintf(r->err.msg, sizeof(r->err.msg), "the daemon's sync failed");
	return true;
}

static bool parse_hello(const char *s, struct ctl_reply *r)
{
	uint64_t v[2];

	if (!read_numbers(&s, v, 2) || *s || v[0] != CTL_VERSION || v[1] == 0 || v[1] > INT32_MAX)
		return false;
	r->pid = (long)v[1];
	return true;
}

void ctl_reply_parse(const char *line, struct ctl_reply *r)
{
	static const struct {
		const char *word;
		enum ctl_reply_kind kind;
	} kinds[] = {{"hello ", CTL_REPLY_HELLO},   {"progress ", CTL_REPLY_PROGRESS},
		     {"folder ", CTL_REPLY_FOLDER}, {"notice ", CTL_REPLY_NOTICE},
		     {"done ", CTL_REPLY_DONE},	    {"error ", CTL_REPLY_ERROR}};
	bool ok = false;

	memset(r, 0, sizeof(*r));
	if (strcmp(line, "queued") == 0) {
		r->kind = CTL_REPLY_QUEUED;
		return;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && !r->kind; i++) {
		size_t n = strlen(kinds[i].word);

		if (strncmp(line, kinds[i].word, n) == 0)
			r->kind = kinds[i].kind;
		line += r->kind ? n : 0;
	}
	switch (r->kind) {
	case CTL_REPLY_HELLO:
		ok = parse_hello(line, r);
		break;
	case CTL_REPLY_PROGRESS:
		ok = parse_progress(line, r);
		break;
	case CTL_REPLY_FOLDER:
		ok = parse_folder(line, r);
		break;
	case CTL_REPLY_DONE:
		ok = parse_done(line, r);
		break;
	case CTL_REPLY_NOTICE:
	case CTL_REPLY_ERROR:
		clean(r->err.msg, sizeof(r->err.msg), line);
		ok = true;
		break;
	default:
		break;
	}
	if (!ok)
		memset(r, 0, sizeof(*r));
}
