#include "util/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* systemd reads one datagram of at most this much (NOTIFY_BUFFER_MAX is
 * larger, but a status line never needs more). */
#define MSG_MAX 4096

bool sdnotify_enabled(void)
{
	const char *e = getenv("NOTIFY_SOCKET");

	return e && *e;
}

/* The address of $NOTIFY_SOCKET: "/path" or "@abstract" (the '@' becomes
 * the leading NUL of the abstract namespace). Returns 0 ok, -1 with errno. */
static int notify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len_r)
{
	size_t n = strlen(name);

	if ((name[0] != '/' && name[0] != '@') || n < 2) {
		errno = EAFNOSUPPORT; /* e.g. "vsock:...": not for us */
		return -1;
	}
	if (n > sizeof(sa->sun_path) - (name[0] == '/' ? 1 : 0)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@')
		sa->sun_path[0] = '\0';
	/* An abstract name is exactly n bytes: no terminating NUL counted. */
	*len_r = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
	return 0;
}

static int send_to(const char *name, const char *msg, size_t len)
{
	struct sockaddr_un sa;
	socklen_t sa_len;
	int fd, ret = -1, saved;

	if (notify_addr(name, &sa, &sa_len) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len) == (ssize_t)len)
		ret = 1;
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int sdnotify(const char *fmt, ...)
{
	const char *name = getenv("NOTIFY_SOCKET");
	char msg[MSG_MAX];
	va_list ap;
	int n;

	if (!name || !*name)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		errno = EMSGSIZE;
		return -1;
	}
	return send_to(name, msg, (size_t)n);
}

/* A whole decimal number, or 0. */
static unsigned long long parse_ull(const char *s)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	return errno || *end ? 0 : v;
}

uint64_t sdnotify_watchdog_usec(void)
{
	const char *pid = getenv("WATCHDOG_PID");

	if (pid && parse_ull(pid) != (unsigned long long)getpid())
		return 0;
	return parse_ull(getenv("WATCHDOG_USEC"));
}
