/* The process's list of live TCP sockets (net/sockets.h). A socket is
 * ended under the same lock that unlists it before close(), so a
 * shutdown never reaches a number the kernel has handed out again. */
#include "net/sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/xalloc.h"

#define REASON_MAX 256

struct entry {
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	bool ended;
	char reason[REASON_MAX];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *entries; /* owned; lives as long as the process */
static size_t n_entries, cap_entries;
static bool refusing;
static char refuse_why[REASON_MAX];

static struct entry *find_locked(int fd)
{
	for (size_t i = 0; i < n_entries; i++)
		if (entries[i].fd == fd)
			return &entries[i];
	return NULL;
}

static void end_locked(struct entry *e, const char *why)
{
	if (e->ended)
		return;
	e->ended = true;
	snprintf(e->reason, sizeof(e->reason), "%s", why);
	shutdown(e->fd, SHUT_RDWR);
}

int sockets_add(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct entry *e;

	pthread_mutex_lock(&lock);
	if (refusing) {
		pthread_mutex_unlock(&lock);
		errno = ECANCELED;
		return -1;
	}
	entries = xgrow(entries, &cap_entries, n_entries + 1, sizeof(*entries));
	e = &entries[n_entries++];
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	if (len > sizeof(e->peer))
		len = sizeof(e->peer);
	memcpy(&e->peer, addr, len);
	e->peer_len = len;
	pthread_mutex_unlock(&lock);
	return 0;
}

void sockets_close(int fd)
{
	struct entry *e;

	if (fd < 0)
		return;
	pthread_mutex_lock(&lock);
	e = find_locked(fd);
	if (e)
		*e = entries[--n_entries];
	close(fd);
	pthread_mutex_unlock(&lock);
}

bool sockets_ended(int fd, char *buf, size_t len)
{
	struct entry *e;
	bool ended = false;

	pthread_mutex_lock(&lock);
	e = find_locked(fd);
	if (e && e->ended) {
		ended = true;
		snprintf(buf, len, "%s", e->reason);
	}
	pthread_mutex_unlock(&lock);
	return ended;
}

void sockets_refuse(const char *why)
{
	pthread_mutex_lock(&lock);
	refusing = true;
	snprintf(refuse_why, sizeof(refuse_why), "%s", why);
	for (size_t i = 0; i < n_entries; i++)
		end_locked(&entries[i], refuse_why);
	pthread_mutex_unlock(&lock);
}

void sockets_allow(void)
{
	pthread_mutex_lock(&lock);
	refusing = false;
	pthread_mutex_unlock(&lock);
}

bool sockets_refusing(char *buf, size_t len)
{
	bool r;

	pthread_mutex_lock(&lock);
	r = refusing;
	if (r)
		snprintf(buf, len, "%s", refuse_why);
	pthread_mutex_unlock(&lock);
	return r;
}

static bool is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	if (a->ss_family == AF_INET6) {
		const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(x) ||
		       (IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr[12] == 127);
	}
	return true; /* not IP: nothing to route */
}

static void host_text(const struct sockaddr_storage *a, char *buf, size_t len)
{
	const void *x = a->ss_family == AF_INET
			    ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
			    : (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr;

	if (!inet_ntop(a->ss_family, x, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* Whether addr (a socket's local address) is still one of this host's:
 * binding a UDP socket to it fails with EADDRNOTAVAIL once it is gone. */
static bool still_assigned(const struct sockaddr_storage *addr, socklen_t len)
{
	struct sockaddr_storage a = *addr;
	int u = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (u < 0)
		return true; /* cannot tell: leave it to the timeouts */
	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
	ok = bind(u, (struct sockaddr *)&a, len) == 0 || errno != EADDRNOTAVAIL;
	close(u);
	return ok;
}

/* Asks the kernel whether e's connection can still be on a way to its
 * peer: a route must exist (a UDP connect() sends nothing, it only looks
 * the route up), and the connection's local address must still be ours
 * (the laptop moved to another network). A local address that is merely
 * not the preferred one any more (a new IPv6 privacy address) still
 * works and is left alone. Fills why and returns false when not. */
static bool still_routed(const struct entry *e, char *why, size_t len)
{
	struct sockaddr_storage mine = {0};
	socklen_t mine_len = sizeof(mine);
	char peer[INET6_ADDRSTRLEN], a[INET6_ADDRSTRLEN];
	int u, ok;

	host_text(&e->peer, peer, sizeof(peer));
	u = socket(e->peer.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u < 0)
		return true; /* cannot tell: leave it to the timeouts */
	ok = connect(u, (const struct sockaddr *)&e->peer, e->peer_len) == 0;
	if (!ok)
		snprintf(why, len, "the network changed: no route to %s (%s)", peer,
			 strerror(errno));
	close(u);
	if (!ok || getsockname(e->fd, (struct sockaddr *)&mine, &mine_len) < 0 ||
	    mine.ss_family != e->peer.ss_family)
		return ok;
	host_text(&mine, a, sizeof(a));
	/* Not bound yet (a connect in flight): nothing to lose. */
	if (strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0 || still_assigned(&mine, mine_len))
		return true;
	snprintf(why, len, "the network changed: %s is no longer an address of this host", a);
	return false;
}

size_t sockets_end_unroutable(void)
{
	size_t ended = 0;
	char why[REASON_MAX];

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_entries; i++) {
		struct entry *e = &entries[i];

		if (e->ended || is_loopback(&e->peer) || still_routed(e, why, sizeof(why)))
			continue;
		end_locked(e, why);
		ended++;
	}
	pthread_mutex_unlock(&lock);
	return ended;
}

size_t sockets_count(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = n_entries;
	pthread_mutex_unlock(&lock);
	return n;
}

bool sockets_says_no_route(const char *msg)
{
	return strstr(msg, "unreachable") || strstr(msg, "no route") ||
	       strstr(msg, "Network is down");
}
