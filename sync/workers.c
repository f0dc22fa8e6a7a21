/* Parallel folders: the apply phase (downloads, uploads, flag pushes,
 * deletions) of several folders at once, each worker owning one IMAP
 * connection and one SQLite connection (DESIGN.md §7). A folder is applied
 * by exactly one worker. Worker 0 is the account's own connection; the
 * others connect only when there are at least two folders with work to do,
 * so a sync with nothing to do costs no extra login.
 *
 * Jobs are handed out largest first (by planned bytes), so that the biggest
 * download starts at once and the small ones fill the gaps. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sync/engine_p.h"
#include "util/xalloc.h"

#define MAX_OFFERS 16

struct pool {
	struct sync_env *main;	 /* borrowed: the account's engine */
	struct folder_job *jobs; /* borrowed */
	size_t *order;		 /* job indices, largest work first */
	size_t n_order;
	size_t next;			   /* next index into order */
	bool *failed;			   /* borrowed: per job */
	bool *done;			   /* owned: per job, applied or failed */
	bool paused;			   /* a quota answer: start no other folder */
	bool hold;			   /* Gmail's All Mail runs alone: only help it */
	size_t running;			   /* jobs being applied */
	struct dl_run *offers[MAX_OFFERS]; /* borrowed: downloads open to help */
	size_t n_offers;
	pthread_mutex_t lock;
	pthread_cond_t cv;     /* a job ended, a download was offered, hold ended */
	struct env_pool iface; /* what the workers' envs offer downloads to */
};

struct worker {
	struct pool *pool;
	struct sync_env env; /* a copy of main with its own connections */
	bool own;	     /* env.imap and env.st belong to this worker */
	bool started;	     /* thread runs (joined at the end) */
	pthread_t thread;
};

static uint64_t planned_bytes(const struct folder_job *job)
{
	uint64_t bytes = 1;

	for (size_t i = 0; i < job->plan.n; i++)
		if (job->plan.actions[i].remote != PLAN_NONE)
			bytes += job->remote[job->plan.actions[i].remote].size;
	return bytes;
}

static _Thread_local const struct folder_job *sort_jobs;

static int cmp_work(const void *a, const void *b)
{
	uint64_t x = planned_bytes(&sort_jobs[*(const size_t *)a]);
	uint64_t y = planned_bytes(&sort_jobs[*(const size_t *)b]);

	return x > y ? -1 : x < y;
}

/* Gmail's quota answers: the account pauses (no other folder is started),
 * what was done is kept, and the next run resumes (GMAIL.md, Limits). */
static bool is_quota(const struct error *err)
{
	return strstr(err->msg, "[OVERQUOTA]") || strstr(err->msg, "[THROTTLED]") ||
	       strstr(err->msg, "[UNAVAILABLE]");
}

/* The next job to apply, under p->lock; NULL when none is left to start. */
static struct folder_job *take_locked(struct pool *p)
{
	if (p->next >= p->n_order || p->paused || env_cancelled(p->main))
		return NULL;
	p->running++;
	return &p->jobs[p->order[p->next++]];
}

static struct folder_job *take(struct pool *p)
{
	struct folder_job *job;

	pthread_mutex_lock(&p->lock);
	job = take_locked(p);
	pthread_mutex_unlock(&p->lock);
	return job;
}

/* A download with batches to spare, under p->lock (the caller then helps). */
static struct dl_run *offer_locked(struct pool *p)
{
	for (size_t i = 0; i < p->n_offers; i++)
		if (download_wants_help(p->offers[i]))
			return p->offers[i];
	return NULL;
}

/* env_pool.offer: a download open to idle workers. */
static void pool_offer(void *pool, struct dl_run *run)
{
	struct pool *p = pool;

	pthread_mutex_lock(&p->lock);
	if (p->n_offers < MAX_OFFERS) {
		p->offers[p->n_offers++] = run;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->lock);
}

static void pool_withdraw(void *pool, struct dl_run *run)
{
	struct pool *p = pool;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n_offers; i++)
		if (p->offers[i] == run) {
			p->offers[i] = p->offers[--p->n_offers];
			break;
		}
	pthread_mutex_unlock(&p->lock);
}

static void apply_one(struct worker *w, struct folder_job *job)
{
	struct error err = {0};
	size_t i = (size_t)(job - w->pool->jobs);
	bool failed;

	job->env = &w->env;
	failed = folder_apply(job, &err) < 0;
	if (failed && is_quota(&err))
		error_prefix(&err, "the server's quota stopped the sync (everything done so far is "
				   "kept; run again later to resume)");
	folder_report(job, failed ? &err : NULL);
	pthread_mutex_lock(&w->pool->lock);
	if (failed && is_quota(&err))
		w->pool->paused = true;
	w->pool->failed[i] = failed;
	w->pool->done[i] = true;
	w->pool->running--;
	pthread_cond_broadcast(&w->pool->cv);
	pthread_mutex_unlock(&w->pool->lock);
}

/* Applies jobs; between them, helps another worker's download. An idle
 * worker waits while jobs run (one may offer a download); it leaves when
 * nothing is left to start and nothing runs. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;

	while (!imap_is_dead(w->env.imap)) {
		struct folder_job *job = NULL;
		struct dl_run *run = NULL;

		pthread_mutex_lock(&p->lock);
		for (;;) {
			if (!p->hold && (job = take_locked(p)) != NULL)
				break;
			if ((run = offer_locked(p)) != NULL)
				break;
			if (!p->hold && p->running == 0)
				break;
			pthread_cond_wait(&p->cv, &p->lock);
		}
		pthread_mutex_unlock(&p->lock);
		if (job)
			apply_one(w, job);
		else if (run)
			download_help(run, &w->env);
		else
			break;
	}
	return NULL;
}

/* A worker beyond the first gets its own login and state connection; one
 * that cannot connect simply takes no job. */
static bool worker_connect(struct worker *w)
{
	const struct sync_env *main = w->pool->main;
	struct error err = {0};

	/* Its SQLite page cache is kept small: a worker mostly appends pairs
	 * and intents, and each connection's cache is its own memory. */
	if (state_open(main->acct->state_dir, &w->env.st, &err) == 0 &&
	    state_set_cache(w->env.st, 128, &err) == 0 &&
	    env_connect(&w->env, &w->env.imap, &err) == 0)
		return true;
	env_notice(main, "an extra connection failed (%s); going on with fewer", err.msg);
	imap_free(&w->env.imap);
	state_free(&w->env.st);
	return false;
}

/* An extra worker logs in on its own thread: on a slow link a login is
 * several round trips, and the first worker must not wait for them before
 * its first FETCH (nor one extra login for another). */
static void *worker_thread(void *arg)
{
	struct worker *w = arg;

	w->own = worker_connect(w);
	if (w->own)
		worker_main(w);
	return NULL;
}

static size_t busy_jobs(struct pool *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!p->failed[i] && !p->jobs[i].applied && !p->jobs[i].quiet &&
		    p->jobs[i].plan.n > 0)
			p->order[p->n_order++] = i;
	sort_jobs = p->jobs;
	xqsort(p->order, p->n_order, sizeof(*p->order), cmp_work);
	/* Quiet and empty folders only need their report: they go last. */
	for (size_t i = 0; i < n; i++)
		if (!p->failed[i] && !p->jobs[i].applied &&
		    (p->jobs[i].quiet || p->jobs[i].plan.n == 0))
			p->order[p->n_order++] = i;
	return p->n_order;
}

static bool has_transfers(const struct folder_job *job)
{
	for (size_t i = 0; !job->quiet && i < job->plan.n; i++) {
		enum plan_op op = job->plan.actions[i].op;

		if (op == PLAN_DOWNLOAD || op == PLAN_RESTORE_LOCAL || op == PLAN_UPLOAD ||
		    op == PLAN_RESTORE_REMOTE)
			return true;
	}
	return false;
}

/* Connections worth opening for a job: one, or one per download batch
 * (up to `connections`) when its batches can be shared. */
static size_t job_width(const struct folder_job *job, size_t cap)
{
	size_t batches;

	if (!has_transfers(job))
		return 0;
	batches = download_batches(job);
	return batches < 2 ? 1 : batches < cap ? batches : cap;
}

/* The account's `connections`, within the daemon's budget. */
static size_t connection_cap(const struct sync_env *env)
{
	size_t cap = env->acct->connections;

	if (env->opts->max_connections && env->opts->max_connections < cap)
		cap = env->opts->max_connections;
	return cap ? cap : 1;
}

static size_t worker_count(const struct sync_env *env, size_t n_busy)
{
	size_t want = connection_cap(env);

	if (env->opts->dry_run || n_busy < 2)
		return 1;
	return want < n_busy ? want : n_busy;
}

/* Applies the first job not started yet whose mailbox has attr, alone
 * (the other workers may only help with its download). */
static void apply_first(struct pool *p, struct worker *w0, unsigned attr)
{
	for (size_t i = p->next; i < p->n_order; i++) {
		struct folder_job *job = &p->jobs[p->order[i]];

		if (!(job->mbx->attrs & attr))
			continue;
		memmove(&p->order[p->next + 1], &p->order[p->next], (i - p->next) * sizeof(size_t));
		p->order[p->next] = (size_t)(job - p->jobs);
		job = take(p);
		if (job)
			apply_one(w0, job);
		break;
	}
}

/* Gmail: INBOX first (the mail a person waits for, usually a small part
 * of the account), then All Mail, which holds every message, each alone;
 * All Mail hard-links what INBOX brought, and the label folders then
 * hard-link its files instead of downloading the same messages again in
 * parallel. */
static void first_all_mail(struct pool *p, struct worker *w0)
{
	apply_first(p, w0, IMAP_MBX_INBOX);
	apply_first(p, w0, IMAP_MBX_ALL);
	pthread_mutex_lock(&p->lock);
	p->hold = false;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
}

/* Runs folder_apply for every job not failed yet. Jobs a lost connection
 * left behind are reported as failed. */
void workers_apply(struct sync_env *env, struct folder_job *jobs, size_t n, bool *failed)
{
	struct pool p = {.main = env, .jobs = jobs, .failed = failed};
	size_t n_busy = 0, n_workers;
	struct worker *ws;

	p.order = xcalloc(n ? n : 1, sizeof(*p.order));
	p.done = xcalloc(n ? n : 1, sizeof(bool));
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cv, NULL);
	busy_jobs(&p, n);
	/* Only transfers are worth another login (a TLS handshake, LOGIN,
	 * ID): flag pushes and deletions go on the connection that planned
	 * them. */
	for (size_t i = 0; i < p.n_order; i++)
		n_busy += job_width(&jobs[p.order[i]], connection_cap(env));
	n_workers = worker_count(env, n_busy);
	ws = xcalloc(n_workers, sizeof(*ws));
	p.hold = env->gmail;
	p.iface = (struct env_pool){pool_offer, pool_withdraw, &p};
	if (n_workers > 1)
		env->pool = &p.iface;
	ws[0] = (struct worker){.pool = &p, .env = *env};
	for (size_t i = 1; i < n_workers; i++) {
		ws[i].pool = &p;
		ws[i].env = *env;
		ws[i].env.imap = NULL;
		ws[i].env.st = NULL;
		ws[i].env.lock = NULL;
		ws[i].env.selected = NULL;
		ws[i].started = pthread_create(&ws[i].thread, NULL, worker_thread, &ws[i]) == 0;
	}
	if (env->gmail)
		first_all_mail(&p, &ws[0]);
	worker_main(&ws[0]);
	for (size_t i = 1; i < n_workers; i++) {
		if (!ws[i].started)
			continue;
		pthread_join(ws[i].thread, NULL);
		if (!ws[i].own)
			continue;
		imap_free(&ws[i].env.imap);
		state_free(&ws[i].env.st);
	}
	env->selected = ws[0].env.selected;
	for (size_t i = 0; i < n; i++) {
		jobs[i].env = env;
		if (!failed[i] && !p.done[i] && !jobs[i].applied) {
			struct error err;

			error_set(&err, ERR_FOLDER, RETRY_BACKOFF, "not synced: %s",
				  p.paused ? "paused by the server's quota, run again later"
				  : env_cancelled(env) ? "interrupted"
						       : "the connection was lost");
			failed[i] = true;
			folder_report(&jobs[i], &err);
		}
	}
	env->pool = NULL;
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.lock);
	free(ws);
	free(p.done);
	free(p.order);
}
