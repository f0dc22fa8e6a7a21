/* The systemd notify protocol, by hand (no libsystemd): one datagram per
 * message to the unix socket named by $NOTIFY_SOCKET, an absolute path or
 * "@name" for the abstract namespace. Outside systemd (NOTIFY_SOCKET
 * unset) every call is a no-op.
 *
 * Messages are newline-separated VAR=value lines: "READY=1",
 * "STATUS=Syncing INBOX", "STOPPING=1", "RELOADING=1", "WATCHDOG=1".
 * Thread-safe: each call opens its own socket. */
#ifndef GMAILDIR_UTIL_SDNOTIFY_H
#define GMAILDIR_UTIL_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Whether NOTIFY_SOCKET is set (we run under Type=notify). */
bool sdnotify_enabled(void);

/* Formats and sends one notification. Returns 1 sent, 0 not under systemd
 * (nothing done), -1 error with errno set (an unusable NOTIFY_SOCKET,
 * EMSGSIZE for a message over 4 KB, or the sendto() error). A failed
 * notification is not fatal for the caller: systemd only misses a status. */
int sdnotify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd expects pings within ($WATCHDOG_USEC, set
 * with WatchdogSec=), in microseconds; 0 when there is no watchdog, the
 * value does not parse, or $WATCHDOG_PID names another process (the
 * variables were inherited, not meant for us). Ping with "WATCHDOG=1" at
 * half the interval. */
uint64_t sdnotify_watchdog_usec(void);

#endif
