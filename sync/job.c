/* A folder job's own data: finding a message of either side by its key,
 * loading the pairs of a folder skipped as quiet, letting go of what
 * planning and applying needed, and clearing the job; and how a Maildir
 * stands against a folder's pairs. Used by every file that works on a
 * job; calls nothing of theirs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/engine_p.h"
#include "util/xalloc.h"

size_t job_remote_index(const struct folder_job *job, uint32_t uid)
{
	size_t lo = 0, hi = job->n_remote;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (job->remote[mid].uid == uid)
			return mid;
		if (job->remote[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return PLAN_NONE;
}

/* Whether s goes into a shell command as it is. */
static bool shell_plain(const char *s)
{
	return *s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			       "_@%+=:,./-") == strlen(s);
}

/* arg quoted for a shell: 'It'\''s' (a quote inside single quotes
 * ends them for a moment). The caller frees. */
static char *shell_quote(const char *arg)
{
	char *q = xmalloc(strlen(arg) * 4 + 3), *o = q;

	if (shell_plain(arg))
		return strcpy(q, arg);
	*o++ = '\'';
	for (const char *p = arg; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

void job_guard_command(const struct folder_job *job, const char *option, char *buf, size_t cap)
{
	char *arg = job->display ? xasprintf("%s/%s", job->env->acct->name, job->display)
				 : xstrdup(job->env->acct->name);
	char *quoted = shell_quote(arg);

	snprintf(buf, cap, "gmaildir sync %s %s", option, quoted);
	free(quoted);
	free(arg);
}

size_t job_local_index(const struct folder_job *job, const char *key)
{
	size_t lo = 0, hi = job->n_local;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(job->local[mid].unique, key);

		if (d == 0)
			return mid;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return PLAN_NONE;
}

void folder_job_clear(struct folder_job *job)
{
	for (size_t i = 0; i < job->n_remote; i++)
		free(job->remote[i].keywords);
	free(job->remote);
	maildir_entries_free(job->local, job->n_local);
	maildir_free(&job->md);
	state_pairs_free(job->pairs, job->n_pairs);
	plan_free(&job->plan);
	state_folder_clear(&job->sf);
	free(job->display);
	free(job->local_rel);
	free(job->local_abs);
	free(job->moves);
	free(job->to_trash);
	free(job->vanished);
	memset(job, 0, sizeof(*job));
}

void folder_job_release(struct folder_job *job)
{
	for (size_t i = 0; i < job->n_remote; i++)
		free(job->remote[i].keywords);
	free(job->remote);
	job->remote = NULL;
	job->n_remote = job->cap_remote = 0;
	maildir_entries_free(job->local, job->n_local);
	job->local = NULL;
	job->n_local = 0;
	maildir_free(&job->md);
	state_pairs_free(job->pairs, job->n_pairs);
	job->pairs = NULL;
	job->n_pairs = 0;
	plan_free(&job->plan);
	free(job->vanished);
	job->vanished = NULL;
	job->n_vanished = 0;
}

int folder_load_pairs(struct folder_job *job, struct error *err)
{
	if (!job->sf.id || job->pairs)
		return 0;
	return state_pairs_load(job->env->st, job->sf.id, &job->pairs, &job->n_pairs, err);
}

void job_limits(const struct folder_job *job, unsigned *max_age_r, uint64_t *max_size_r)
{
	const char *name = job->display ? job->display : job->mbx ? job->mbx->name : "";

	config_folder_limits(job->env->acct, name, max_age_r, max_size_r);
}

static int cmp_pair_key(const void *a, const void *b)
{
	return strcmp(((const struct state_pair *)a)->key, ((const struct state_pair *)b)->key);
}

int local_vs_pairs(struct state *st, int64_t folder_id, struct maildir *md,
		   struct local_vs_pairs *r, struct error *err)
{
	struct maildir_entry *e = NULL;
	struct state_pair *p = NULL;
	size_t n_e = 0, n_p = 0, skipped = 0;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (maildir_scan(md, &e, &n_e, &skipped, err) < 0 ||
	    state_pairs_load(st, folder_id, &p, &n_p, err) < 0)
		goto out;
	*r = (struct local_vs_pairs){.files = n_e, .pairs = n_p, .skipped = skipped};
	xqsort(p, n_p, sizeof(*p), cmp_pair_key);
	/* Entries come sorted by key, one per key: one merge walk. */
	for (size_t i = 0, k = 0; k < n_p; k++) {
		while (i < n_e && strcmp(e[i].unique, p[k].key) < 0)
			i++;
		if (i < n_e && strcmp(e[i].unique, p[k].key) == 0)
			r->flags_moved += e[i].flags != p[k].flags;
		else
			r->missing++;
	}
	ret = 0;
out:
	maildir_entries_free(e, n_e);
	state_pairs_free(p, n_p);
	return ret;
}
