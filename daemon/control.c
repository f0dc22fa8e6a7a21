/* The control socket's server (control.h). Clients are few and short
 * lived (one `gmaildir sync` each), so a small table does; every read
 * and write is non-blocking, a client never stalls the loop. */
#include "daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/ctlsock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define MAX_CLIENTS 16
#define PROGRESS_EVERY_MS 250
#define OUT_MAX (1024 * 1024) /* a client that reads nothing is let go */
#define ACCEPT_PAUSE_MS 1000

struct ctl_ticket {
	atomic_int refs;
	pthread_mutex_t mu;
	char *out; /* owned: lines not yet taken by the loop */
	size_t len, cap;
	char *progress; /* owned: the latest progress line, not yet taken */
	int64_t progress_at;
	bool finished;
	struct loop_wake *wake; /* borrowed: the control's */
};

struct client {
	struct control *c; /* borrowed */
	int fd;
	struct loop_fd *h;
	char in[CTL_LINE_MAX];
	size_t in_len;
	struct ctl_request rq;
	struct ctl_ticket *t; /* owned reference, once the request is complete */
	char *out;	      /* owned: bytes to write */
	size_t out_len, out_off, out_cap;
	bool closing;  /* hang up once out is written */
	bool draining; /* refused: our side is shut, its rest is read and dropped */
};

struct control {
	struct loop *loop; /* borrowed */
	int fd;
	int dirfd;  /* O_PATH: the state directory, for the socket's name */
	bool bound; /* the name is ours to remove */
	struct loop_fd *h;
	struct loop_timer *resume; /* out of fds: accept again later */
	struct loop_wake *wake;
	control_request_fn *cb;
	void *ctx;
	struct client *clients[MAX_CLIENTS];
	size_t n_clients;
};

/* ------------------------------------------------------------ tickets */

static struct ctl_ticket *ticket_new(struct loop_wake *wake)
{
	struct ctl_ticket *t = xcalloc(1, sizeof(*t));

	atomic_init(&t->refs, 1);
	pthread_mutex_init(&t->mu, NULL);
	t->wake = wake;
	return t;
}

struct ctl_ticket *ctl_ticket_ref(struct ctl_ticket *t)
{
	atomic_fetch_add(&t->refs, 1);
	return t;
}

void ctl_ticket_unref(struct ctl_ticket **tp)
{
	struct ctl_ticket *t = *tp;

	if (!t)
		return;
	*tp = NULL;
	if (atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->out);
	free(t->progress);
	free(t);
}

/* Appends line (owned, freed here) for the client, and wakes the loop. */
static void ticket_put(struct ctl_ticket *t, char *line, bool finish)
{
	size_t n = strlen(line);

	pthread_mutex_lock(&t->mu);
	if (!t->finished) {
		t->out = xgrow(t->out, &t->cap, t->len + n + 1, 1);
		memcpy(t->out + t->len, line, n + 1);
		t->len += n;
		t->finished = finish;
	}
	pthread_mutex_unlock(&t->mu);
	free(line);
	loop_wake(t->wake);
}

void ctl_ticket_progress(struct ctl_ticket *t, const struct engine_progress *p)
{
	char *line = ctl_reply_progress(p);
	int64_t now = loop_now_ms();
	bool wake;

	pthread_mutex_lock(&t->mu);
	free(t->progress);
	t->progress = line;
	wake = now - t->progress_at >= PROGRESS_EVERY_MS;
	if (wake)
		t->progress_at = now;
	pthread_mutex_unlock(&t->mu);
	if (wake)
		loop_wake(t->wake);
}

void ctl_ticket_report(struct ctl_ticket *t, const struct engine_folder_report *r)
{
	/* A progress line after the folder's report would be stale. */
	pthread_mutex_lock(&t->mu);
	free(t->progress);
	t->progress = NULL;
	pthread_mutex_unlock(&t->mu);
	ticket_put(t, ctl_reply_folder(r), false);
}

void ctl_ticket_notice(struct ctl_ticket *t, const char *text)
{
	ticket_put(t, ctl_reply_text("notice", text), false);
}

void ctl_ticket_finish(struct ctl_ticket *t, int ret, const struct error *err)
{
	ticket_put(t, ctl_reply_done(ret, err), true);
}

/* ------------------------------------------------------------ clients */

static void client_queue(struct client *cl, char *line)
{
	size_t n = strlen(line);

	cl->out = xgrow(cl->out, &cl->out_cap, cl->out_len + n + 1, 1);
	memcpy(cl->out + cl->out_len, line, n + 1);
	cl->out_len += n;
	free(line);
}

static void client_drop(struct control *c, struct client *cl)
{
	for (size_t i = 0; i < c->n_clients; i++) {
		if (c->clients[i] != cl)
			continue;
		memmove(&c->clients[i], &c->clients[i + 1],
			(c->n_clients - i - 1) * sizeof(c->clients[0]));
		c->n_clients--;
		break;
	}
	loop_remove_fd(&cl->h);
	close(cl->fd);
	ctl_ticket_unref(&cl->t);
	ctl_request_clear(&cl->rq);
	free(cl->out);
	free(cl);
}

/* Takes what the worker wrote into the ticket. */
static void client_pull(struct client *cl)
{
	struct ctl_ticket *t = cl->t;

	pthread_mutex_lock(&t->mu);
	if (t->progress && !t->finished) {
		client_queue(cl, t->progress);
		t->progress = NULL;
	}
	if (t->len) {
		client_queue(cl, t->out);
		t->out = NULL;
		t->len = t->cap = 0;
	}
	cl->closing = cl->closing || t->finished;
	pthread_mutex_unlock(&t->mu);
}

/* Writes what it can. Returns false when the client was dropped. */
static bool client_flush(struct control *c, struct client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			client_drop(c, cl); /* it hung up: the run goes on without it */
			return false;
		}
		cl->out_off += (size_t)n;
	}
	if (cl->out_off == cl->out_len) {
		cl->out_off = cl->out_len = 0;
		if (cl->closing && cl->t) {
			client_drop(c, cl);
			return false;
		}
		/* Closing with unread input would reset the connection and
		 * lose the error line: the client hangs up after reading it. */
		if (cl->closing && !cl->draining) {
			shutdown(cl->fd, SHUT_WR);
			cl->draining = true;
		}
	} else if (cl->out_len - cl->out_off > OUT_MAX) {
		client_drop(c, cl);
		return false;
	}
	loop_fd_set_events(cl->h, POLLIN | (cl->out_len ? POLLOUT : 0));
	return true;
}

/* A complete request: a ticket for the worker. */
static void client_request(struct control *c, struct client *cl)
{
	cl->t = ticket_new(c->wake);
	client_queue(cl, xstrdup("queued\n"));
	c->cb(cl->t, &cl->rq, c->ctx);
	ctl_request_clear(&cl->rq);
}

/* Feeds the complete lines read so far. */
static void client_lines(struct control *c, struct client *cl)
{
	char *nl;
	struct error err = {0};

	while (!cl->t && !cl->closing && (nl = memchr(cl->in, '\n', cl->in_len))) {
		size_t used = (size_t)(nl - cl->in) + 1;
		int r;

		*nl = '\0';
		r = ctl_request_feed(&cl->rq, cl->in, &err);
		memmove(cl->in, cl->in + used, cl->in_len - used);
		cl->in_len -= used;
		if (r < 0) {
			client_queue(cl, ctl_reply_text("error", err.msg));
			cl->closing = true;
		} else if (r > 0) {
			client_request(c, cl);
		}
	}
	if (!cl->t && !cl->closing && cl->in_len == sizeof(cl->in)) {
		client_queue(cl, ctl_reply_text("error", "line too long"));
		cl->closing = true;
	}
}

/* Reads what came. Returns false when the client was dropped. */
static bool client_read(struct control *c, struct client *cl)
{
	for (;;) {
		ssize_t n;

		if (cl->t || cl->closing)
			cl->in_len = 0; /* nothing more is wanted from it */
		n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			client_drop(c, cl);
			return false;
		}
		if (cl->t || cl->closing)
			continue;
		cl->in_len += (size_t)n;
		client_lines(c, cl);
	}
}

static void on_client(int fd, unsigned revents, void *ctx)
{
	struct client *cl = ctx;
	struct control *c = cl->c;

	(void)fd;
	if ((revents & POLLIN) && !client_read(c, cl))
		return;
	if (revents & (POLLERR | POLLNVAL)) {
		client_drop(c, cl);
		return;
	}
	if (cl->out_len || (cl->closing && !cl->draining))
		client_flush(c, cl);
	else if (revents & POLLHUP)
		client_drop(c, cl);
}

/* The table is full: the oldest client that has not finished its request
 * makes room (a client of ours that connected and went quiet); clients
 * waiting for a run are never dropped. */
static bool make_room(struct control *c)
{
	if (c->n_clients < MAX_CLIENTS)
		return true;
	for (size_t i = 0; i < c->n_clients; i++) {
		if (!c->clients[i]->t) {
			client_drop(c, c->clients[i]);
			return true;
		}
	}
	return false;
}

static void on_accept(int fd, unsigned revents, void *ctx)
{
	struct control *c = ctx;
	struct client *cl;
	pid_t pid = 0;
	int cfd;

	(void)revents;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		/* Out of fds or memory, the connection stays in the backlog
		 * and the socket readable: polling it again at once would
		 * spin the loop. The client waits (its hello timeout). */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			loop_fd_set_events(c->h, 0);
			loop_timer_reset(c->resume, ACCEPT_PAUSE_MS, 0);
		}
		return;
	}
	if (!ctlsock_peer_ok(cfd, &pid)) {
		log_warn("control socket: refused a connection from another user (pid %ld)",
			 (long)pid);
		close(cfd);
		return;
	}
	if (!make_room(c)) {
		close(cfd);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->c = c;
	cl->fd = cfd;
	client_queue(cl, ctl_reply_hello((long)getpid()));
	cl->h = loop_add_fd(c->loop, cfd, POLLIN | POLLOUT, on_client, cl);
	c->clients[c->n_clients++] = cl;
	log_debug("control socket: a client (pid %ld)", (long)pid);
}

static void on_resume(void *ctx)
{
	struct control *c = ctx;

	loop_fd_set_events(c->h, POLLIN);
}

/* The worker wrote into some ticket: send it on. */
static void on_wake(void *ctx)
{
	struct control *c = ctx;

	for (size_t i = c->n_clients; i-- > 0;) {
		struct client *cl = c->clients[i];

		if (!cl->t)
			continue;
		client_pull(cl);
		client_flush(c, cl);
	}
}

/* ------------------------------------------------------------ the socket */

/* A socket left by a daemon that died is replaced; anything else by
 * that name is not ours to remove. */
static int remove_stale(int dirfd, const char *state_dir, struct error *err)
{
	struct stat st;

	if (fstatat(dirfd, CTLSOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "%s/%s exists and is not a socket",
			  state_dir, CTLSOCK_NAME);
		return -1;
	}
	if (unlinkat(dirfd, CTLSOCK_NAME, 0) < 0 && errno != ENOENT) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "unlink(%s/%s): %s", state_dir,
			  CTLSOCK_NAME, strerror(errno));
		return -1;
	}
	return 0;
}

/* Binds and listens. The mode is set on the socket before bind (Linux
 * takes it from there, less the umask) and on the name after. */
static int listen_on(struct control *c, const char *state_dir, struct error *err)
{
	struct sockaddr_un sa;
	int tmpfd = -1, ret = -1;

	if (ctlsock_addr(state_dir, &sa, &tmpfd, err) < 0)
		goto out;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd >= 0 && fchmod(c->fd, 0600) == 0 &&
	    bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		c->bound = true;
	if (!c->bound || fchmodat(c->dirfd, CTLSOCK_NAME, 0600, 0) < 0 || listen(c->fd, 8) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "control socket %s/%s: %s", state_dir,
			  CTLSOCK_NAME, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (tmpfd >= 0)
		close(tmpfd);
	return ret;
}

int control_open(struct loop *loop, const char *state_dir, control_request_fn *cb, void *ctx,
		 struct control **c_r, struct error *err)
{
	struct control *c = xcalloc(1, sizeof(*c));

	*c_r = NULL;
	c->loop = loop;
	c->cb = cb;
	c->ctx = ctx;
	c->fd = -1;
	c->dirfd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open(%s): %s", state_dir,
			  strerror(errno));
		goto fail;
	}
	if (remove_stale(c->dirfd, state_dir, err) < 0 || listen_on(c, state_dir, err) < 0)
		goto fail;
	c->wake = loop_add_wake(loop, on_wake, c, err);
	if (!c->wake)
		goto fail;
	c->h = loop_add_fd(loop, c->fd, POLLIN, on_accept, c);
	c->resume = loop_add_timer(loop, ACCEPT_PAUSE_MS, 0, on_resume, c);
	loop_timer_stop(c->resume);
	*c_r = c;
	return 0;
fail:
	control_free(&c);
	return -1;
}

void control_free(struct control **cp)
{
	struct control *c = *cp;

	if (!c)
		return;
	/* What is ready (the news that the daemon stops) goes out if the
	 * client can take it now; the socket does not wait. */
	on_wake(c);
	while (c->n_clients)
		client_drop(c, c->clients[0]);
	loop_remove_fd(&c->h);
	loop_remove_timer(&c->resume);
	loop_remove_wake(&c->wake);
	if (c->fd >= 0)
		close(c->fd);
	if (c->bound)
		unlinkat(c->dirfd, CTLSOCK_NAME, 0);
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c);
	*cp = NULL;
}
