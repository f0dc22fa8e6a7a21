/* The long-running service: keeps every account of the config in sync,
 * pushed both ways (IMAP IDLE, inotify), until SIGTERM or SIGINT. */
#ifndef GMAILDIR_SYNC_DAEMON_H
#define GMAILDIR_SYNC_DAEMON_H

#include "config/config.h"
#include "util/error.h"

/* Runs until a stop signal. Takes ownership of *cfg (NULLed); config_path
 * is read again on SIGHUP. Returns 0 after a clean stop, -1 when it could
 * not start (err: an account locked by another process, no inotify...). */
int daemon_run(const char *config_path, struct config **cfg, struct error *err);

#endif
