/* rtnetlink multicast groups for links, addresses and routes (rtnetlink(7)).
 * What changed is not parsed beyond the message type: any of them may move
 * the path to a server, and the daemon's check of each connection is
 * cheap and exact, where guessing from the message would not be. */
#include "net/netwatch.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/xalloc.h"

struct netwatch {
	int fd;
};

int netwatch_open(struct netwatch **nw_r, struct error *err)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
				 .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR |
					      RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
					      RTMGRP_IPV6_ROUTE};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "rtnetlink: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*nw_r = xcalloc(1, sizeof(**nw_r));
	(*nw_r)->fd = fd;
	return 0;
}

void netwatch_free(struct netwatch **nw)
{
	if (!*nw)
		return;
	close((*nw)->fd);
	free(*nw);
	*nw = NULL;
}

int netwatch_fd(const struct netwatch *nw)
{
	return nw->fd;
}

/* A link's news count when it went up or down; Wi-Fi drivers send
 * RTM_NEWLINK for every scan and association event too, which change
 * no path (ifi_change: the flags that changed; 0 for those). */
static bool link_flipped(const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return true;
	return (ifi->ifi_change & (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)) != 0;
}

static bool moves_paths(const struct nlmsghdr *h)
{
	switch (h->nlmsg_type) {
	case RTM_NEWLINK:
		return link_flipped(h);
	case RTM_DELLINK:
	case RTM_NEWADDR:
	case RTM_DELADDR:
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		return true;
	default:
		return false;
	}
}

int netwatch_read(struct netwatch *nw)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));
	int changed = 0;
	ssize_t n;

	while ((n = recv(nw->fd, buf, sizeof(buf), 0)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS: the kernel dropped news for us. */
			if (errno == ENOBUFS)
				changed = 1;
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n))
			if (moves_paths(h))
				changed = 1;
	}
	return changed;
}
