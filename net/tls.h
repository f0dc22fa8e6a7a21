/* Our transport under libetpan (LIBETPAN.md §2.5): TCP with timeouts and
 * keepalive, and TLS on OpenSSL 3 that verifies the certificate chain
 * (system store plus an optional CA file) and the host name, with SNI and
 * TLS 1.2 at least. Debian's libetpan would use GnuTLS and verify nothing,
 * so its own TLS functions are never called.
 *
 * Each transport is a libetpan mailstream_low. mailstream_low_close() closes
 * the socket; mailstream_low_free() frees everything but leaves the socket
 * open (that is what STARTTLS needs: the plain transport is freed and the
 * TLS one takes over its socket). mailstream_close() does both.
 *
 * Reads and writes never return 0: end of file, errors and timeouts are -1
 * (a 0 makes libetpan 1.9.4 spin), and the reason is kept for
 * tls_low_error(). SIGPIPE is ignored process-wide by tls_init().
 *
 * Time: connect and the TLS handshake are each bounded by the timeout as a
 * whole; every read and write by the timeout (SO_RCVTIMEO/SO_SNDTIMEO);
 * and a server that trickles (a byte a second never lets those fire) by
 * a rate: the time blocked during one answer may not exceed the timeout
 * plus one more timeout per 16 KB received. Memory: what a server sends is
 * bounded per line, per literal and per answer (tls_low_refused). */
#ifndef GMAILDIR_NET_TLS_H
#define GMAILDIR_NET_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <libetpan/mailstream.h>

#include "util/error.h"

struct tls_opts {
	const char *host;    /* borrowed: connected to, sent as SNI, verified */
	uint16_t port;	     /* for messages only once connected */
	const char *ca_file; /* borrowed: extra trusted CAs (PEM), NULL: none */
	unsigned timeout;    /* seconds: connect, handshake, each read or write */
};

/* Once per process, from any thread: ignores SIGPIPE (OpenSSL writes to
 * the socket with write(2), which would otherwise kill us when the peer is
 * gone) and initialises OpenSSL. */
void tls_init(void);

/* Resolves o->host, then tries each address with a non-blocking connect
 * bounded by o->timeout. The socket is CLOEXEC, blocking, with SO_KEEPALIVE
 * (probes after 2 min idle, every 30 s, 4 of them) and SO_RCVTIMEO /
 * SO_SNDTIMEO of o->timeout. Returns the socket, or -1 with err
 * ("connect to H:P: Connection refused", "... timed out after N s"; scope
 * ERR_ACCOUNT, RETRY_BACKOFF). */
int tls_tcp_connect(const struct tls_opts *o, struct error *err);
/* Closes a socket of tls_tcp_connect that no transport took over (the
 * transports close theirs): it leaves net/sockets.h's list. */
void tls_tcp_close(int fd);

/* A plain transport over the connected socket fd, which it takes over
 * (closed by mailstream_low_close); timeout is the socket's, for messages.
 * Never fails (aborts on OOM). */
mailstream_low *tls_low_plain(int fd, unsigned timeout);

/* TLS handshake on the connected socket fd, with chain and host-name
 * verification. On success *low_r owns fd. On failure fd is left open for
 * the caller to close, and err says what failed:
 *   "certificate verify failed: self-signed certificate in certificate
 *    chain (host H)",
 *   "host name mismatch: certificate is for a.example, b.example, connected
 *    to H",
 *   "TLS handshake with H:P failed: ...", "... timed out after N s".
 * Scope ERR_ACCOUNT, retry RETRY_BACKOFF (a captive portal or a renewed
 * certificate can fix it), except an unreadable ca_file (ERR_CONFIG,
 * RETRY_NEVER). Returns 0 ok, -1 error. */
int tls_low_tls(int fd, const struct tls_opts *o, mailstream_low **low_r, struct error *err);

/* STARTTLS, once the server has answered OK to the command: builds TLS on
 * the socket of stream's plain transport, frees the plain transport
 * (keeping the socket) and installs the TLS one. Refuses when the server
 * sent anything after its OK (CVE-2020-15953: injected responses).
 * Returns 0 ok, -1 error (the stream is unusable then; close it). */
int tls_starttls(mailstream *stream, const struct tls_opts *o, struct error *err);

/* True when low is one of ours and holds bytes that poll() on the
 * socket cannot see: decrypted (SSL_pending) or decompressed. IDLE must
 * check this, and the stream's own read buffer, before sleeping in
 * poll(). */
bool tls_low_pending(mailstream_low *low);

/* COMPRESS=DEFLATE from now on, once the server answered OK to the
 * command: the transport of stream compresses what is written and
 * decompresses what is read (net/deflate.h), below the guard. Refuses
 * when the server sent anything after its OK. Returns 0, -1 with err
 * (the stream is unusable then). */
int tls_low_start_deflate(mailstream *stream, struct error *err);
/* True when low is ours and compressing. */
bool tls_low_deflating(mailstream_low *low);

/* True when low is our TLS transport. */
bool tls_low_is_tls(mailstream_low *low);

/* Why the last read or write on low failed ("connection closed by server",
 * "timed out after 60 s", "Connection reset by peer", an OpenSSL reason), or
 * NULL when none failed or low is not ours. Borrowed, valid until the next
 * I/O on low. */
const char *tls_low_error(mailstream_low *low);

/* True when the connection failed because the server went beyond what
 * the drivers accept from it (a line or literal too long, too many
 * responses to one command, too slow a trickle): tls_low_error says which.
 * The drivers watch every byte received, as IMAP frames them (lines,
 * literals announced by "{n}"), without changing any. */
bool tls_low_refused(mailstream_low *low);

/* The text of the last untagged BYE the server sent on low, printable
 * ASCII; NULL when none came or low is not ours. */
const char *tls_low_bye(mailstream_low *low);

/* What a diagnostic handshake learnt (tls_probe). Strings are printable
 * ASCII (certificate text comes from the peer), "" when unknown. */
struct tls_peer_info {
	char version[16];	      /* negotiated: "TLSv1.3" */
	char cipher[64];	      /* negotiated cipher suite */
	char subject[256];	      /* the leaf's subject, RFC 2253 */
	char issuer[256];	      /* the leaf's issuer, RFC 2253 */
	char names[512];	      /* the names it is valid for: SANs, else CN */
	time_t not_before, not_after; /* 0 when unknown */
	int chain_len;		      /* certificates in the verified chain; 0: none */
	bool have_cert;		      /* the peer sent a certificate (fields above) */
	bool verified;		      /* chain and host name verified */
};

/* For `gmaildir doctor`: the TLS handshake of tls_low_tls on the connected
 * socket fd, with the same checks and the same error texts, which fills
 * *info_r with the negotiated version and the peer's certificate, also when
 * verification failed (have_cert then says whether one was received), and
 * then closes the TLS session. fd stays open: it is the caller's.
 * Returns 0 verified, -1 error (err as tls_low_tls). */
int tls_probe(int fd, const struct tls_opts *o, struct tls_peer_info *info_r, struct error *err);

#endif
