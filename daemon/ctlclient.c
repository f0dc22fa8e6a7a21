/* `gmaildir sync` through a running daemon (ctlclient.h). */
#include "daemon/ctlclient.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon/ctlproto.h"
#include "daemon/ctlsock.h"
#include "util/loop.h"
#include "util/xalloc.h"

/* Lines from the daemon, read with a deadline. */
struct reader {
	int fd;
	int64_t deadline; /* loop_now_ms; 0: none */
	char buf[2 * CTL_LINE_MAX];
	size_t len;
	bool skipping; /* inside a line too long to keep */
};

/* Waits for fd to be readable until the deadline: 1 ready, 0 late, -1 error. */
static int wait_readable(const struct reader *rd)
{
	for (;;) {
		struct pollfd p = {.fd = rd->fd, .events = POLLIN};
		int64_t left = rd->deadline ? rd->deadline - loop_now_ms() : -1;
		int r;

		if (rd->deadline && left <= 0)
			return 0;
		r = poll(&p, 1, left > 60000 || left < 0 ? 60000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* The next line into line (without its '\n'). Returns 1, 0 when the
 * daemon hung up, -1 when late (*late) or on a read error. */
static int read_line(struct reader *rd, char *line, size_t cap, bool *late)
{
	for (;;) {
		char *nl = memchr(rd->buf, '\n', rd->len);
		ssize_t n;
		int w;

		if (nl) {
			size_t used = (size_t)(nl - rd->buf) + 1,
			       keep = used - 1 < cap ? used - 1 : cap - 1;
			bool skipped = rd->skipping;

			memcpy(line, rd->buf, keep);
			line[keep] = '\0';
			memmove(rd->buf, rd->buf + used, rd->len - used);
			rd->len -= used;
			rd->skipping = false;
			if (!skipped)
				return 1;
			continue;
		}
		if (rd->len == sizeof(rd->buf)) {
			rd->len = 0; /* no line is that long: drop it to its end */
			rd->skipping = true;
		}
		w = wait_readable(rd);
		if (w <= 0) {
			*late = w == 0;
			return -1;
		}
		n = recv(rd->fd, rd->buf + rd->len, sizeof(rd->buf) - rd->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		rd->len += (size_t)n;
	}
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms > 0 ? loop_now_ms() + timeout_ms : 0;
}

/* A unix connect() blocks while the listener's backlog is full (a daemon
 * that hangs, and every `gmaildir sync` a timer started since): the send
 * timeout bounds it, and the request's send after it. */
static void set_send_timeout(int fd, int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};

	if (timeout_ms > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The daemon did not say hello: late, or it hung up (it is stopping). */
static void unanswered(const char *state_dir, bool late, struct error *err)
{
	error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
		  late ? "the daemon at %s/%s does not answer" : "the daemon at %s/%s hung up",
		  state_dir, CTLSOCK_NAME);
}

/* The daemon's first line, within timeout_ms. Returns 0 with its pid in
 * *pid_r, -1 with err. */
static int read_hello(int fd, const char *state_dir, int timeout_ms, long *pid_r, struct error *err)
{
	struct reader *rd = xcalloc(1, sizeof(*rd));
	struct ctl_reply *r = xmalloc(sizeof(*r));
	char line[CTL_LINE_MAX];
	bool late = false;
	int ret = -1;

	*rd = (struct reader){.fd = fd, .deadline = deadline_of(timeout_ms)};
	if (read_line(rd, line, sizeof(line), &late) <= 0) {
		unanswered(state_dir, late, err);
		goto out;
	}
	ctl_reply_parse(line, r);
	if (r->kind != CTL_REPLY_HELLO || rd->len) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "the daemon at %s/%s speaks another version of gmaildir (restart it)",
			  state_dir, CTLSOCK_NAME);
		goto out;
	}
	*pid_r = r->pid;
	ret = 0;
out:
	free(rd);
	free(r);
	return ret;
}

int ctlclient_connect(const char *state_dir, int timeout_ms, int *fd_r, long *pid_r,
		      struct error *err)
{
	struct sockaddr_un sa;
	struct error ignored = {0};
	int dirfd = -1, fd = -1, ret = 0;

	*fd_r = -1;
	if (ctlsock_addr(state_dir, &sa, &dirfd, &ignored) < 0)
		return 0; /* no state directory: no daemon */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out;
	set_send_timeout(fd, timeout_ms);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* ENOENT, ECONNREFUSED: nobody listens there. EAGAIN: a
		 * daemon does, but accepts nobody. */
		if (errno == EAGAIN) {
			unanswered(state_dir, true, err);
			ret = -1;
		}
		goto out;
	}
	ret = -1;
	if (!ctlsock_peer_ok(fd, NULL)) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "%s/%s is held by another user: not ours to talk to", state_dir,
			  CTLSOCK_NAME);
		goto out;
	}
	if (read_hello(fd, state_dir, timeout_ms, pid_r, err) < 0)
		goto out;
	*fd_r = fd;
	fd = -1;
	ret = 1;
out:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	return ret;
}

static bool send_all(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		off += (size_t)w;
	}
	return true;
}

/* One answer to obs. Returns 1 when the run is over (*ret_r, err set). */
static int take_reply(struct ctl_reply *r, const char *account, const struct engine_observer *obs,
		      int *ret_r, struct error *err)
{
	switch (r->kind) {
	case CTL_REPLY_PROGRESS:
		r->progress.account = account;
		if (obs->progress)
			obs->progress(&r->progress, obs->ctx);
		return 0;
	case CTL_REPLY_FOLDER:
		r->report.account = account;
		if (obs->folder_done)
			obs->folder_done(&r->report, obs->ctx);
		return 0;
	case CTL_REPLY_NOTICE:
		if (obs->notice)
			obs->notice(account, r->err.msg, obs->ctx);
		return 0;
	case CTL_REPLY_DONE:
		*ret_r = r->ret;
		*err = r->err;
		return 1;
	case CTL_REPLY_ERROR:
		*ret_r = -1;
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "the daemon refused the request: %s",
			  r->err.msg);
		return 1;
	default:
		return 0; /* queued, or a line of a later version */
	}
}

int ctlclient_sync(int fd, const char *account, const struct engine_opts *opts, int timeout_ms,
		   const struct engine_observer *obs, bool *late_r, struct error *err)
{
	struct reader *rd = xcalloc(1, sizeof(*rd));
	struct ctl_reply *r = xmalloc(sizeof(*r));
	char *req = ctl_request_format(opts), line[CTL_LINE_MAX];
	int ret = -1, got = 0;

	*late_r = false;
	*rd = (struct reader){.fd = fd, .deadline = deadline_of(timeout_ms)};
	if (!req) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "a folder name with a line break");
		goto out;
	}
	if (!send_all(fd, req)) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "the daemon hung up: %s",
			  strerror(errno));
		goto out;
	}
	while (got == 0 && (got = read_line(rd, line, sizeof(line), late_r)) > 0) {
		ctl_reply_parse(line, r);
		got = take_reply(r, account, obs, &ret, err) ? 2 : 0;
	}
	if (got == 0)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "the daemon stopped before its sync was done");
	else if (got < 0 && *late_r)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "the daemon has not finished its sync within %d s; it goes on in the "
			  "background",
			  timeout_ms / 1000);
	else if (got < 0)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "reading from the daemon: %s",
			  strerror(errno));
out:
	close(fd);
	free(req);
	free(rd);
	free(r);
	return got == 2 ? ret : -1;
}
