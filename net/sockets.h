/* Every TCP socket the transports open (net/tls.h) is listed here, from
 * socket() to close(), with the address it goes to, so that one thread can
 * end another's blocking I/O at once: the daemon does it when it stops
 * (nothing waits for a dead link's timeout) and when the network changed
 * under a connection (its route is gone or its local address is no
 * longer this host's: no byte will ever come back).
 *
 * Ending a socket is shutdown(2): a blocked connect, read or write returns
 * at once, and the next one fails; the owner still closes it, through
 * sockets_close, and the failure it reports reads as the reason given
 * here ("stopping", "the network changed: ..."). The list is the process's
 * (the routing table is too); every function is thread-safe. */
#ifndef GMAILDIR_NET_SOCKETS_H
#define GMAILDIR_NET_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Lists fd, connecting or connected to addr. Returns 0, or -1 (errno
 * ECANCELED, fd not listed) while sockets_refuse is in force: the caller
 * closes fd and fails its connect. */
int sockets_add(int fd, const struct sockaddr *addr, socklen_t len);
/* Unlists fd (when listed) and closes it. Accepts -1. */
void sockets_close(int fd);
/* When fd was ended here: copies the reason into buf and returns true. */
bool sockets_ended(int fd, char *buf, size_t len);

/* Ends every listed socket and refuses new ones until sockets_allow, for
 * the reason why (borrowed text, copied). */
void sockets_refuse(const char *why);
void sockets_allow(void);
/* While refusing: copies the reason into buf and returns true. */
bool sockets_refusing(char *buf, size_t len);
/* Ends the sockets whose path is gone: no route to their peer any more,
 * or a local address the host no longer has (the laptop moved to another
 * network). Loopback peers are never ended.
 * Returns how many it ended. */
size_t sockets_end_unroutable(void);
/* True when msg, a connection's error, says the network has no way to
 * the server (ENETUNREACH's "Network is unreachable", ENETDOWN, or an end
 * here for a route that went): waiting for the network, not a server's
 * fault. */
bool sockets_says_no_route(const char *msg);
/* How many sockets are listed (tests, status). */
size_t sockets_count(void);

#endif
