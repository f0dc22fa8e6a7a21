/* The long-running service: keeps every account of the config in sync,
 * pushed both ways (IMAP IDLE, inotify), until SIGTERM or SIGINT. */
#ifndef GMAILDIR_DAEMON_DAEMON_H
#define GMAILDIR_DAEMON_DAEMON_H

#include "config/config.h"
#include "util/error.h"

/* Runs until a stop signal, for the named accounts (n_names 0: all of
 * them). Takes ownership of *cfg (NULLed); config_path is read again on
 * SIGHUP. Returns 0 after a clean stop, -1 when it could not start (err: an
 * unknown account, one locked by another process...). */
int daemon_run(const char *config_path, struct config **cfg, const char *const *names,
	       size_t n_names, struct error *err);

#endif
