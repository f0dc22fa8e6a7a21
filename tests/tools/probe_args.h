/* probe_args.h: the command line that imap_probe and idle_probe share,
 *
 *   HOST PORT implicit|starttls|none CAFILE USER ...
 *
 * made into an account_conf. Header-only (static functions): the Makefile
 * builds each .c file of tests/tools as a program of its own.
 *
 * CAFILE "-" means the system store only; TLS "none" allows the plain
 * connection. The account is named "probe", with a 30 s network timeout.
 * Environment: IMAP_PROBE_TRACE=1 shows the wire trace. */
#ifndef GMAILDIR_TESTS_TOOLS_PROBE_ARGS_H
#define GMAILDIR_TESTS_TOOLS_PROBE_ARGS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/log.h"

static int probe_parse_tls(const char *s, enum tls_mode *tls_r)
{
	if (strcmp(s, "implicit") == 0)
		*tls_r = TLS_IMPLICIT;
	else if (strcmp(s, "starttls") == 0)
		*tls_r = TLS_STARTTLS;
	else if (strcmp(s, "none") == 0)
		*tls_r = TLS_NONE;
	else
		return -1;
	return 0;
}

/* probe_account: *acct from argv[1..5] (the caller has checked that they
 * are there), then the log level from IMAP_PROBE_TRACE. -1 (nothing
 * logged, logging not set up) if argv[3] is no TLS mode: a usage error. */
static int probe_account(char **argv, struct account_conf *acct)
{
	const char *trace = getenv("IMAP_PROBE_TRACE");

	*acct = (struct account_conf){.name = "probe", .timeout = 30};
	if (probe_parse_tls(argv[3], &acct->tls) < 0)
		return -1;
	log_init(trace && *trace == '1' ? LOG_LVL_TRACE : LOG_LVL_INFO);
	acct->host = argv[1];
	acct->port = (uint16_t)strtoul(argv[2], NULL, 10);
	acct->allow_insecure = acct->tls == TLS_NONE;
	acct->ca_file = strcmp(argv[4], "-") == 0 ? NULL : argv[4];
	acct->user = argv[5];
	return 0;
}

#endif
