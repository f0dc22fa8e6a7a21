/* The services a folder job may call (sync/env.h): they lead to the
 * observer, the cancel flag, the account's secret and the idle workers,
 * never back into the engine. */
#include "sync/env.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void env_progress(const struct sync_env *env, const char *folder, size_t done, size_t total,
		  uint64_t bytes, uint64_t total_bytes)
{
	const struct engine_observer *obs = env->obs;
	struct engine_progress p = {env->acct->name, folder, done, total, bytes, total_bytes};

	if (!obs || !obs->progress)
		return;
	pthread_mutex_lock(env->obs_lock);
	obs->progress(&p, obs->ctx);
	pthread_mutex_unlock(env->obs_lock);
}

void env_notice(const struct sync_env *env, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (!env->obs || !env->obs->notice)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(env->obs_lock);
	env->obs->notice(env->acct->name, text, env->obs->ctx);
	pthread_mutex_unlock(env->obs_lock);
}

void env_free_secret(char **secret)
{
	xfree_secret(secret);
}

/* A connection for this account. XOAUTH2 tokens expire, so each new
 * connection asks for one (the built-in source hands out its cached token,
 * a token command runs again); a password is read once per session and
 * kept (wiped at the end) for reconnects and extra connections. Workers
 * call this too: the secret is guarded. */
int env_connect(struct sync_env *env, struct imap **imap_r, struct error *err)
{
	int ret = 0;

	if (env->acct->auth == AUTH_XOAUTH2)
		return imap_sign_in(env->acct, imap_r, err);
	/* The lock guards the first read only: the secret then stays put
	 * until the session ends, after every worker, and the logins of
	 * several workers go on side by side. */
	pthread_mutex_lock(env->secret_lock);
	if (!*env->secret)
		ret = config_get_secret(env->acct, env->secret, err);
	pthread_mutex_unlock(env->secret_lock);
	if (ret == 0)
		ret = imap_connect(env->acct, *env->secret, imap_r, err);
	return ret;
}

bool env_cancelled(const struct sync_env *env)
{
	return env->opts->cancel && atomic_load(env->opts->cancel);
}

void env_offer(const struct sync_env *env, struct dl_run *run)
{
	if (env->pool)
		env->pool->offer(env->pool->pool, run);
}

void env_withdraw(const struct sync_env *env, struct dl_run *run)
{
	if (env->pool)
		env->pool->withdraw(env->pool->pool, run);
}

/* A server's name made safe to print: control characters (a hostile name
 * could hold terminal escapes) become '?'. */
const char *printable(const char *in, char *buf, size_t size)
{
	size_t i = 0;

	for (; in[i] && i + 1 < size; i++)
		buf[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
	buf[i] = '\0';
	return buf;
}
