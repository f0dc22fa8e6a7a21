/* Diagnostics for `gmaildir doctor`: each layer of a connection tried on
 * its own (name resolution, TCP, TLS with the certificate's details), and
 * the local side (can the Maildir root take files, how much room is left).
 * Like the rest of the library it returns data and error texts and never
 * prints; the CLI turns them into verdicts and fixes.
 *
 * Functions return 0 ok, -1 error with err filled, and hold nothing open
 * when they return. */
#ifndef GMAILDIR_IMAP_PROBE_H
#define GMAILDIR_IMAP_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "net/tls.h"
#include "util/error.h"

#define PROBE_MAX_ADDRS 4
#define PROBE_ADDR_LEN 48 /* an IPv6 address as text, with room to spare */

struct probe_dns {
	char addrs[PROBE_MAX_ADDRS][PROBE_ADDR_LEN]; /* the first few, as text */
	size_t n;				     /* in addrs */
	size_t total;				     /* distinct addresses found */
};

/* Resolves host (getaddrinfo, TCP). Error text: "cannot resolve HOST:
 * Name or service not known". */
int probe_dns(const char *host, struct probe_dns *r, struct error *err);

struct probe_tcp {
	char addr[PROBE_ADDR_LEN]; /* the address that answered, or the last tried */
	unsigned ms;		   /* how long the connect took */
	int sys_errno;		   /* on failure: ECONNREFUSED, ETIMEDOUT, ... */
};

/* Connects to host:port, trying each address with a connect bounded by
 * timeout seconds, then closes the connection without sending anything.
 * Error text: "connect to H:P: Connection refused", "connect to H:P: no
 * answer within N s". */
int probe_tcp(const char *host, uint16_t port, unsigned timeout, struct probe_tcp *r,
	      struct error *err);

/* TLS as the account uses it: implicit, or STARTTLS after the server's
 * greeting (acct->tls must not be TLS_NONE). Verifies exactly as
 * imap_connect does (see tls_probe) and fills *info_r, also when
 * verification fails. Nothing is sent after the handshake: no login. */
int probe_tls(const struct account_conf *acct, unsigned timeout, struct tls_peer_info *info_r,
	      struct error *err);

struct probe_dir {
	char *checked;	     /* owned: where a test file was created: the root,
			      * or its nearest existing parent */
	bool exists;	     /* the root itself exists */
	uint64_t free_bytes; /* available to this user on that file system */
};

/* Whether the Maildir root can take files: a test file is created with
 * O_EXCL in the root (or, when the root does not exist yet, in the nearest
 * existing parent, where the first sync would create it) and removed at
 * once; then statvfs. Uses no permission guesses (access(2) says yes to
 * root for everything): it tries. Error texts: "cannot create a file in
 * DIR: Permission denied", "cannot create R: P is not a directory".
 * Clear *r with probe_dir_clear, after an error too. */
int probe_maildir_root(const char *root, struct probe_dir *r, struct error *err);
void probe_dir_clear(struct probe_dir *r);

#endif
