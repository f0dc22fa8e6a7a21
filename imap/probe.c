/* Diagnostics for `gmaildir doctor`: see probe.h. */
#include "imap/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"

/* ------------------------------------------------------------------ DNS */

static void addr_text(const struct addrinfo *ai, char *buf, size_t cap)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, (socklen_t)cap, NULL, 0,
			NI_NUMERICHOST) != 0)
		snprintf(buf, cap, "?");
}

static bool seen(const struct probe_dns *r, const char *addr)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->addrs[i], addr) == 0)
			return true;
	return false;
}

static int resolve(const char *host, uint16_t port, struct addrinfo **res_r, struct error *err)
{
	/* No AI_ADDRCONFIG, as in tls.c: it hides 127.0.0.1 on a host with
	 * only loopback. */
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	char service[8];
	int gai;

	snprintf(service, sizeof(service), "%u", (unsigned)port);
	gai = getaddrinfo(host, service, &hints, res_r);
	if (gai == 0)
		return 0;
	error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "cannot resolve %s: %s", host,
		  gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
	return -1;
}

int probe_dns(const char *host, struct probe_dns *r, struct error *err)
{
	struct addrinfo *res = NULL;
	char addr[PROBE_ADDR_LEN];

	memset(r, 0, sizeof(*r));
	if (resolve(host, 0, &res, err) < 0)
		return -1;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		addr_text(ai, addr, sizeof(addr));
		if (seen(r, addr))
			continue;
		r->total++;
		if (r->n < PROBE_MAX_ADDRS)
			snprintf(r->addrs[r->n++], sizeof(r->addrs[0]), "%s", addr);
	}
	freeaddrinfo(res);
	return 0;
}

/* ------------------------------------------------------------------ TCP */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A non-blocking connect bounded by timeout seconds. Returns 0 connected,
 * else an errno value (ETIMEDOUT when no answer came). */
static int connect_within(const struct addrinfo *ai, unsigned timeout)
{
	int fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int64_t deadline = now_ms() + (int64_t)timeout * 1000;
	int e = 0, r = 0;
	socklen_t len = sizeof(e);

	if (fd < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		e = errno;
		goto out;
	}
	do {
		int64_t left = deadline - now_ms();

		r = left <= 0 ? 0 : poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		e = errno;
	else if (r == 0)
		e = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
out:
	close(fd);
	return e;
}

int probe_tcp(const char *host, uint16_t port, unsigned timeout, struct probe_tcp *r,
	      struct error *err)
{
	struct addrinfo *res = NULL;
	int64_t t0;

	memset(r, 0, sizeof(*r));
	if (resolve(host, port, &res, err) < 0)
		return -1;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		addr_text(ai, r->addr, sizeof(r->addr));
		t0 = now_ms();
		r->sys_errno = connect_within(ai, timeout);
		r->ms = (unsigned)(now_ms() - t0);
		if (r->sys_errno == 0)
			break;
	}
	freeaddrinfo(res);
	if (r->sys_errno == 0)
		return 0;
	if (r->sys_errno == ETIMEDOUT)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "connect to %s:%u: no answer within %u s", host, (unsigned)port, timeout);
	else
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "connect to %s:%u: %s", host,
			  (unsigned)port, strerror(r->sys_errno));
	return -1;
}

/* ------------------------------------------------------------------ TLS */

/* One response line (CRLF cut off), read a byte at a time so that nothing
 * after it is consumed: after STARTTLS's OK the next byte is TLS. The
 * socket's receive timeout (set by tls_tcp_connect) bounds each read. */
static int read_line(int fd, char *buf, size_t cap, struct error *err)
{
	size_t n = 0;
	char c;

	for (;;) {
		ssize_t r = recv(fd, &c, 1, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
				  "reading the server's answer: %s",
				  r == 0 ? "connection closed by server"
				  : errno == EAGAIN || errno == EWOULDBLOCK ? "timed out"
									    : strerror(errno));
			return -1;
		}
		if (c == '\n')
			break;
		if (n + 1 < cap && c != '\r')
			buf[n++] = (unsigned char)c >= 0x20 && c != 0x7f ? c : '?';
	}
	buf[n] = '\0';
	return 0;
}

/* The plain-text part of STARTTLS: greeting, command, tagged OK. */
static int starttls_exchange(int fd, struct error *err)
{
	static const char cmd[] = "gd1 STARTTLS\r\n";
	char line[512];

	if (read_line(fd, line, sizeof(line), err) < 0)
		return -1;
	if (strncmp(line, "* OK", 4) != 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "the server's greeting is not IMAP's: %s",
			  line);
		return -1;
	}
	if (send(fd, cmd, sizeof(cmd) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(cmd) - 1)) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "sending STARTTLS: %s", strerror(errno));
		return -1;
	}
	do {
		if (read_line(fd, line, sizeof(line), err) < 0)
			return -1;
	} while (strncmp(line, "gd1 ", 4) != 0);
	if (strncmp(line + 4, "OK", 2) != 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "the server does not offer STARTTLS (it answered: %s)", line + 4);
		return -1;
	}
	return 0;
}

int probe_tls(const struct account_conf *acct, unsigned timeout, struct tls_peer_info *info_r,
	      struct error *err)
{
	struct tls_opts o = {
	    .host = acct->host, .port = acct->port, .ca_file = acct->ca_file, .timeout = timeout};
	int fd, ret = -1;

	memset(info_r, 0, sizeof(*info_r));
	tls_init();
	fd = tls_tcp_connect(&o, err);
	if (fd < 0)
		return -1;
	if (acct->tls == TLS_STARTTLS && starttls_exchange(fd, err) < 0)
		goto out;
	ret = tls_probe(fd, &o, info_r, err);
out:
	tls_tcp_close(fd);
	return ret;
}

/* -------------------------------------------------------------- Maildir */

void probe_dir_clear(struct probe_dir *r)
{
	free(r->checked);
	memset(r, 0, sizeof(*r));
}

/* The nearest existing ancestor of path (path itself when it exists). */
static int existing_base(const char *root, struct probe_dir *r, struct error *err)
{
	char *p = xstrdup(root), *slash;
	struct stat sb;

	while (stat(p, &sb) < 0) {
		if ((errno != ENOENT && errno != ENOTDIR) || !(slash = strrchr(p, '/'))) {
			error_set(err, ERR_ACCOUNT, RETRY_NEVER, "stat(%s): %s", p,
				  strerror(errno));
			free(p);
			return -1;
		}
		if (slash == p)
			slash[1] = '\0'; /* "/" */
		else
			*slash = '\0';
	}
	r->exists = strcmp(p, root) == 0;
	r->checked = p;
	if (!S_ISDIR(sb.st_mode)) {
		if (r->exists)
			error_set(err, ERR_ACCOUNT, RETRY_NEVER, "%s is not a directory", root);
		else
			error_set(err, ERR_ACCOUNT, RETRY_NEVER,
				  "cannot create %s: %s is not a directory", root, p);
		return -1;
	}
	return 0;
}

/* Creates and removes one file in dir: the only test that tells the truth
 * for every user, ACL and read-only mount. */
static int try_create(const char *dir, struct error *err)
{
	char *path =
	    xasprintf("%s/.gmaildir-doctor.%ld.%ld", dir, (long)getpid(), (long)time(NULL));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "cannot create a file in %s: %s", dir,
			  strerror(errno));
		free(path);
		return -1;
	}
	close(fd);
	if (unlink(path) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "unlink(%s): %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

int probe_maildir_root(const char *root, struct probe_dir *r, struct error *err)
{
	struct statvfs vfs;

	memset(r, 0, sizeof(*r));
	if (existing_base(root, r, err) < 0 || try_create(r->checked, err) < 0)
		return -1;
	if (statvfs(r->checked, &vfs) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "statvfs(%s): %s", r->checked,
			  strerror(errno));
		return -1;
	}
	r->free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return 0;
}
