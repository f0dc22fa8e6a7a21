/* The kernel's news about the network (rtnetlink): links going up or
 * down, addresses and routes added or removed. The daemon polls the fd in
 * its event loop and, when something changed, checks its connections
 * (net/sockets.h) instead of waiting for TCP to notice. */
#ifndef GMAILDIR_NET_NETWATCH_H
#define GMAILDIR_NET_NETWATCH_H

#include "util/error.h"

struct netwatch;

/* Subscribes to link, IPv4/IPv6 address and route changes. Returns 0, or
 * -1 with err (no netlink: a container without it; the caller goes on
 * without network awareness). */
int netwatch_open(struct netwatch **nw_r, struct error *err);
/* Accepts NULL; NULLs *nw. */
void netwatch_free(struct netwatch **nw);
/* The socket to poll for POLLIN. */
int netwatch_fd(const struct netwatch *nw);
/* Reads everything queued without blocking. Returns 1 when something
 * that may change a path to a server arrived (or news were lost: the
 * kernel's queue overflowed), 0 when nothing did. */
int netwatch_read(struct netwatch *nw);

#endif
