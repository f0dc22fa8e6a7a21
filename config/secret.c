/* config_get_secret(): the password or token, from the config or from a
 * command run with /bin/sh -c.
 *
 * The command's stdout and stderr are read through pipes with poll(), both
 * bounded, so that a chatty command can neither exhaust memory nor block on
 * a full pipe while we wait for the other stream. The command inherits
 * stdin, so an interactive one (a pinentry, a prompt) still works from a
 * terminal; it gets COMMAND_TIMEOUT_MS to finish, then is killed. A secret never appears in
 * an error, and buffers that held one are wiped before they are freed. */
#include "config/config_p.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"

#define SECRET_MAX (64 * 1024)	  /* stdout kept: the secret's first line */
#define STDERR_KEEP 1024	  /* stderr kept: enough for its first line */
#define DRAIN_MAX (1024 * 1024)	  /* read (and dropped) past that, then hang up */
#define STDERR_SHOWN 200	  /* stderr characters quoted in a message */
#define COMMAND_TIMEOUT_MS 120000 /* long enough to type a passphrase */

static unsigned timeout_ms = COMMAND_TIMEOUT_MS;

/* One output stream of the command. */
struct capture {
	int fd;	      /* read end; -1 once closed */
	char *buf;    /* owned, keep + 1 bytes */
	size_t len;   /* bytes stored */
	size_t keep;  /* bytes we store at most */
	size_t total; /* bytes read, stored or not */
};

/* A running command. what names it in messages ("password_command"). */
struct run {
	const char *what;
	pid_t pid;
	long long deadline; /* CLOCK_MONOTONIC, in ms */
	struct capture out;
	struct capture err;
};

static void capture_init(struct capture *cap, size_t keep)
{
	cap->fd = -1;
	cap->buf = xmalloc(keep + 1);
	cap->len = 0;
	cap->keep = keep;
	cap->total = 0;
}

static void capture_deinit(struct capture *cap)
{
	if (cap->fd >= 0)
		close(cap->fd);
	cap->fd = -1;
	explicit_bzero(cap->buf, cap->keep + 1);
	free(cap->buf);
	cap->buf = NULL;
}

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++) {
		if (p[i] >= 0)
			close(p[i]);
		p[i] = -1;
	}
}

/* Starts /bin/sh -c cmd with stdout and stderr on pipes. posix_spawn() is
 * safe in a threaded process, and lets us reset what exec would otherwise
 * pass on: a blocked signal mask, and SIGPIPE ignored by the daemon. */
static int spawn(struct run *r, const char *cmd, struct error *err)
{
	int out[2] = {-1, -1}, errp[2] = {-1, -1};
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int rc;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		rc = errno;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&r->pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc == 0) {
		r->out.fd = out[0];
		r->err.fd = errp[0];
		out[0] = errp[0] = -1;
	}
out:
	close_pair(out);
	close_pair(errp);
	if (rc != 0)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s: cannot run /bin/sh: %s", r->what,
			  strerror(rc));
	return rc == 0 ? 0 : -1;
}

/* One read from a ready stream. Past DRAIN_MAX we hang up; the command then
 * dies of SIGPIPE, which is reported like any failure. */
static void pump(struct capture *cap)
{
	char chunk[4096];
	ssize_t n = read(cap->fd, chunk, sizeof(chunk));
	size_t room = cap->keep - cap->len;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0 || cap->total > DRAIN_MAX) {
		close(cap->fd);
		cap->fd = -1;
		return;
	}
	if ((size_t)n < room)
		room = (size_t)n;
	memcpy(cap->buf + cap->len, chunk, room);
	cap->len += room;
	cap->total += (size_t)n;
	explicit_bzero(chunk, sizeof(chunk));
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int timed_out(const struct run *r, struct error *err)
{
	error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s did not finish within %u s", r->what,
		  (timeout_ms + 999) / 1000);
	return -1;
}

/* Reads both streams to their end, or fails at the deadline. */
static int collect(struct run *r, struct error *err)
{
	while (r->out.fd >= 0 || r->err.fd >= 0) {
		struct pollfd pfd[2] = {{r->out.fd, POLLIN, 0}, {r->err.fd, POLLIN, 0}};
		long long left = r->deadline - now_ms();
		int n;

		if (left <= 0)
			return timed_out(r, err);
		n = poll(pfd, 2, (int)left);
		if (n < 0 && errno != EINTR) {
			error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s: poll: %s", r->what,
				  strerror(errno));
			return -1;
		}
		if (n > 0 && pfd[0].revents)
			pump(&r->out);
		if (n > 0 && pfd[1].revents)
			pump(&r->err);
	}
	return 0;
}

static void kill_and_reap(const struct run *r)
{
	int status;

	kill(r->pid, SIGKILL);
	while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* Waits for the exit, which normally follows the end of output at once, but
 * a command may close its output and go on; so this also has the deadline,
 * and polls with short naps (there is no waitpid() with a timeout). */
static int wait_exit(const struct run *r, int *status_r, struct error *err)
{
	long nap_ms = 1;

	for (;;) {
		pid_t p = waitpid(r->pid, status_r, WNOHANG);
		struct timespec nap = {0, nap_ms * 1000000};

		if (p == r->pid)
			return 0;
		if (p < 0 && errno != EINTR) {
			error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s: waitpid: %s", r->what,
				  strerror(errno));
			return -1;
		}
		if (now_ms() >= r->deadline) {
			kill_and_reap(r);
			return timed_out(r, err);
		}
		nanosleep(&nap, NULL);
		if (nap_ms < 64)
			nap_ms *= 2;
	}
}

/* The length of the first line of buf, without its CR/LF. A NUL ends the
 * line too: nothing after it could be sent to a server. */
static size_t first_line(const char *buf, size_t len)
{
	size_t n = 0;

	while (n < len && buf[n] != '\n' && buf[n] != '\0')
		n++;
	while (n > 0 && buf[n - 1] == '\r')
		n--;
	return n;
}

/* ": <first stderr line>", printable and bounded, or "" if none. */
static void stderr_suffix(const struct capture *cap, char *buf, size_t size)
{
	size_t n = first_line(cap->buf, cap->len);
	size_t o = 0;

	if (n > STDERR_SHOWN)
		n = STDERR_SHOWN;
	buf[0] = '\0';
	if (n == 0)
		return;
	o = (size_t)snprintf(buf, size, ": ");
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)cap->buf[i];

		buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	buf[o] = '\0';
}

static int check_status(const struct run *r, int status, struct error *err)
{
	char why[STDERR_SHOWN + 8];

	stderr_suffix(&r->err, why, sizeof(why));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s exited with status %d%s", r->what,
			  WEXITSTATUS(status), why);
	else if (WIFSIGNALED(status))
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s was killed by signal %d%s", r->what,
			  WTERMSIG(status), why);
	else
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s ended oddly (status %#x)", r->what,
			  (unsigned)status);
	return -1;
}

static int take_secret(const struct run *r, const char *noun, char **secret_r, struct error *err)
{
	size_t n = first_line(r->out.buf, r->out.len);

	if (n == r->out.keep) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "%s printed more than %d KiB on its first line", r->what,
			  SECRET_MAX / 1024);
		return -1;
	}
	if (n == 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "%s printed an empty %s", r->what, noun);
		return -1;
	}
	*secret_r = xstrndup(r->out.buf, n);
	return 0;
}

/* Runs cmd and returns the first line of its output as the secret. noun
 * ("password", "token") is for messages. */
static int run_command(const char *what, const char *noun, const char *cmd, char **secret_r,
		       struct error *err)
{
	struct run r = {.what = what, .pid = -1, .deadline = now_ms() + timeout_ms};
	int status = 0;
	int ret = -1;

	capture_init(&r.out, SECRET_MAX);
	capture_init(&r.err, STDERR_KEEP);
	if (spawn(&r, cmd, err) < 0)
		goto out;
	if (collect(&r, err) < 0) {
		kill_and_reap(&r);
		goto out;
	}
	if (wait_exit(&r, &status, err) < 0 || check_status(&r, status, err) < 0)
		goto out;
	if (take_secret(&r, noun, secret_r, err) < 0)
		goto out;
	ret = 0;
out:
	capture_deinit(&r.out);
	capture_deinit(&r.err);
	return ret;
}

void secret_set_timeout_ms(unsigned ms)
{
	timeout_ms = ms;
}

/* The sources of one server's secret. */
struct secret_source {
	const char *account;
	enum auth_mode auth;
	const char *password;
	const char *password_command;
	const char *token_command;
};

static int get_secret(const struct secret_source *s, char **secret_r, struct error *err)
{
	*secret_r = NULL;
	if (s->auth == AUTH_XOAUTH2 && s->token_command)
		return run_command("oauth2_token_command", "token", s->token_command, secret_r,
				   err);
	if (s->auth == AUTH_LOGIN && s->password) {
		*secret_r = xstrdup(s->password);
		return 0;
	}
	if (s->auth == AUTH_LOGIN && s->password_command)
		return run_command("password_command", "password", s->password_command, secret_r,
				   err);
	/* Only a hand-made account_conf gets here: config_parse() refuses it. */
	error_set(err, ERR_ACCOUNT, RETRY_NEVER, "account %s: no %s configured",
		  s->account ? s->account : "?",
		  s->auth == AUTH_XOAUTH2 ? "oauth2_token_command" : "password");
	return -1;
}

int config_get_secret(const struct account_conf *acct, char **secret_r, struct error *err)
{
	const struct secret_source s = {acct->name, acct->auth, acct->password,
					acct->password_command, acct->oauth2_token_command};

	return get_secret(&s, secret_r, err);
}

int config_get_smtp_secret(const struct account_conf *acct, char **secret_r, struct error *err)
{
	const struct smtp_conf *m = &acct->smtp;
	const struct secret_source s = {acct->name, m->auth, m->password, m->password_command,
					m->oauth2_token_command};

	return get_secret(&s, secret_r, err);
}

int config_get_oauth2_client_secret(const struct account_conf *acct, char **secret_r,
				    struct error *err)
{
	const struct oauth2_conf *o = &acct->oauth2;

	*secret_r = NULL;
	if (o->client_secret_command)
		return run_command("client_secret_command", "client secret",
				   o->client_secret_command, secret_r, err);
	if (o->client_secret)
		*secret_r = xstrdup(o->client_secret);
	return 0;
}
