#include "sync/hooks.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"

#define HOOK_TIMEOUT_S (30 * 60)

extern char **environ;

void hook_changes_note(struct hook_changes *c, const struct engine_folder_report *r)
{
	if (r->downloaded == 0 && r->flags_pulled == 0 && r->deleted_local == 0 && !r->renamed)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->folders[i], r->folder) == 0)
			return;
	c->folders = xgrow(c->folders, &c->cap, c->n + 1, sizeof(char *));
	c->folders[c->n++] = xstrdup(r->folder);
}

void hook_changes_clear(struct hook_changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->folders[i]);
	free(c->folders);
	memset(c, 0, sizeof(*c));
}

/* The environment of the hook: ours plus the two GMAILDIR_ variables. */
static char **hook_env(const struct account_conf *acct, const struct hook_changes *c)
{
	size_t n = 0, len = 0;
	char **env, *list, *p;

	while (environ[n])
		n++;
	env = xcalloc(n + 3, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		env[i] = environ[i];
	for (size_t i = 0; i < c->n; i++)
		len += strlen(c->folders[i]) + 1;
	list = p = xmalloc(len + 1);
	for (size_t i = 0; i < c->n; i++)
		p += sprintf(p, "%s%s", i ? "\n" : "", c->folders[i]);
	*p = '\0';
	env[n] = xasprintf("GMAILDIR_ACCOUNT=%s", acct->name);
	env[n + 1] = xasprintf("GMAILDIR_CHANGED_FOLDERS=%s", list);
	free(list);
	return env;
}

/* Frees what hook_env made: the two variables it appended. */
static void free_env(char **env)
{
	size_t n = 0;

	while (env[n])
		n++;
	free(env[n - 1]);
	free(env[n - 2]);
	free(env);
}

/* Waits for pid at most HOOK_TIMEOUT_S, then kills it. */
static int wait_bounded(pid_t pid, int *status)
{
	time_t end = time(NULL) + HOOK_TIMEOUT_S;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (time(NULL) > end) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return -1;
		}
		usleep(20000);
	}
}

int hook_post_sync(const struct account_conf *acct, const struct hook_changes *c, struct error *err)
{
	char *argv[] = {"/bin/sh", "-c", (char *)acct->post_sync_command, NULL};
	char **env;
	pid_t pid;
	int status = 0, r;

	if (!acct->post_sync_command || c->n == 0)
		return 0;
	env = hook_env(acct, c);
	r = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, env);
	free_env(env);
	if (r != 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "post_sync_command: %s", strerror(r));
		return -1;
	}
	if (wait_bounded(pid, &status) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "post_sync_command did not finish in %d s",
			  HOOK_TIMEOUT_S);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "post_sync_command exited with status %d",
			  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return -1;
	}
	return 0;
}
