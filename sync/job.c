/* A folder job's own data: finding a message of either side by its key,
 * loading the pairs of a folder skipped as quiet, letting go of what
 * planning and applying needed, and clearing the job. Used by every file
 * that works on a job; calls nothing of theirs. */
#include <stdlib.h>
#include <string.h>

#include "sync/engine_p.h"

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
