/* STATE/daemon-status (livestatus.h). Not durable on purpose: it says
 * what is true while the daemon runs, and a crash leaves a file whose pid
 * is dead, which status then ignores. */
#include "daemon/livestatus.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

#define FILE_NAME "daemon-status"

/* Copies src into dst (cap bytes) with tabs and line ends as spaces. */
static void copy_field(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < cap; i++)
		dst[i] = src[i] == '\t' || src[i] == '\n' || src[i] == '\r' ? ' ' : src[i];
	dst[i] = '\0';
}

void live_status_add(struct live_status *ls, const char *role, const char *folder,
		     const char *state, time_t since, time_t error_at, const char *error)
{
	struct live_conn *c;

	ls->conns = xgrow(ls->conns, &ls->cap_conns, ls->n_conns + 1, sizeof(*ls->conns));
	c = &ls->conns[ls->n_conns++];
	copy_field(c->role, sizeof(c->role), role);
	copy_field(c->folder, sizeof(c->folder), folder);
	copy_field(c->state, sizeof(c->state), state);
	copy_field(c->error, sizeof(c->error), error);
	c->since = since;
	c->error_at = error_at;
}

void live_status_clear(struct live_status *ls)
{
	free(ls->conns);
	memset(ls, 0, sizeof(*ls));
}

char *live_status_format(const struct live_status *ls)
{
	char err[sizeof(ls->error)];
	char *text = xasprintf("pid\t%ld\nlast_ok\t%lld\n", (long)ls->pid, (long long)ls->last_ok);

	copy_field(err, sizeof(err), ls->error);
	if (err[0]) {
		char *t = xasprintf("%serror\t%lld\t%s\n", text, (long long)ls->error_at, err);

		free(text);
		text = t;
	}
	for (size_t i = 0; i < ls->n_conns; i++) {
		const struct live_conn *c = &ls->conns[i];
		char *t =
		    xasprintf("%sconn\t%s\t%s\t%s\t%lld\t%lld\t%s\n", text, c->role, c->folder,
			      c->state, (long long)c->since, (long long)c->error_at, c->error);

		free(text);
		text = t;
	}
	return text;
}

/* Splits line (modified) at tabs into at most max fields. */
static size_t split(char *line, char **f, size_t max)
{
	size_t n = 0;

	while (n < max) {
		char *tab = n + 1 < max ? strchr(line, '\t') : NULL;

		f[n++] = line;
		if (!tab)
			break;
		*tab = '\0';
		line = tab + 1;
	}
	return n;
}

static void parse_line(char *line, struct live_status *ls)
{
	char *f[7];
	size_t n = split(line, f, 7);

	if (n == 2 && strcmp(f[0], "pid") == 0)
		ls->pid = (pid_t)strtol(f[1], NULL, 10);
	else if (n == 2 && strcmp(f[0], "last_ok") == 0)
		ls->last_ok = (time_t)strtoll(f[1], NULL, 10);
	else if (n == 3 && strcmp(f[0], "error") == 0) {
		ls->error_at = (time_t)strtoll(f[1], NULL, 10);
		copy_field(ls->error, sizeof(ls->error), f[2]);
	} else if (n == 7 && strcmp(f[0], "conn") == 0) {
		live_status_add(ls, f[1], f[2], f[3], (time_t)strtoll(f[4], NULL, 10),
				(time_t)strtoll(f[5], NULL, 10), f[6]);
	}
}

void live_status_parse(const char *text, struct live_status *ls_r)
{
	char *copy = xstrdup(text), *save = NULL;

	memset(ls_r, 0, sizeof(*ls_r));
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		parse_line(line, ls_r);
	free(copy);
}

int live_status_save(const char *state_dir, const char *text, char **last, struct error *err)
{
	char *path = xasprintf("%s/" FILE_NAME, state_dir);
	char *tmp = xasprintf("%s.tmp", path);
	int fd = -1, ret = -1;

	if (*last && strcmp(*last, text) == 0) {
		ret = 0;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fs_write_all(fd, text, strlen(text)) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "write %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* A failed close(2) has closed the descriptor all the same. */
	ret = close(fd);
	fd = -1;
	if (ret < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "write %s: %s", tmp, strerror(errno));
		goto out;
	}
	ret = -1;
	if (rename(tmp, path) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	free(*last);
	*last = xstrdup(text);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	free(tmp);
	return ret;
}

int live_status_load(const char *state_dir, struct live_status *ls_r, struct error *err)
{
	char *path = xasprintf("%s/" FILE_NAME, state_dir);
	FILE *f = fopen(path, "re");
	char buf[65536];
	size_t n;
	int ret = -1;

	memset(ls_r, 0, sizeof(*ls_r));
	if (!f) {
		ret = errno == ENOENT ? 0 : -1;
		if (ret < 0)
			error_set(err, ERR_ACCOUNT, RETRY_NEVER, "%s: %s", path, strerror(errno));
		goto out;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	live_status_parse(buf, ls_r);
	ret = 1;
out:
	free(path);
	return ret;
}

void live_status_remove(const char *state_dir)
{
	char *path = xasprintf("%s/" FILE_NAME, state_dir);

	unlink(path);
	free(path);
}
