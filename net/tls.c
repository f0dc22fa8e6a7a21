/* TCP and TLS transports for libetpan: see tls.h. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/deflate.h"
#include "net/sockets.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Bounds on what a server may send (tls.h, "The guard"). */
#define GUARD_LINE_MAX (32u << 20)     /* bytes of one line outside literals */
#define GUARD_LITERAL_MAX (256u << 20) /* bytes of one literal */
#define GUARD_LINES_MAX 250000u	       /* lines but FETCH responses per command */
#define GUARD_TEXT_MAX (256u << 20)    /* bytes outside literals per command */
#define GUARD_RATE_BYTES (16u << 10)   /* per `timeout` seconds of waiting */

/* The server's byte stream as IMAP frames it: lines that end with LF,
 * each of which may announce a literal ("{123}" before its CRLF) whose
 * bytes follow and continue the same response. The guard watches it; it
 * never changes a byte. */
struct inbound {
	uint64_t literal_left; /* bytes of the current literal still to come */
	uint64_t line_len;     /* bytes of the current line so far */
	bool continued;	       /* this line continues a response after a literal */
	char head[160];	       /* the start of the current line */
	size_t head_len;
	enum { LIT_NONE, LIT_DIGITS, LIT_PLUS, LIT_BRACE, LIT_CR } lit; /* "{n}" */
	uint64_t lit_n; /* n so far, UINT64_MAX once too long to mean anything */
	bool lit_digit; /* n has a digit */
	uint64_t lines; /* lines but FETCH responses since our last write */
	uint64_t text;	/* bytes outside literals since our last write */
	char bye[160];	/* text of the last "* BYE" line; "" when none came */
};

/* Time spent blocked in reads (writes) and bytes moved since the last
 * write (read) made progress: the slowloris guard. */
struct pace {
	int64_t wait_ms;
	uint64_t bytes;
};

/* The data behind both of our mailstream_low drivers. */
struct conn {
	int fd;			 /* owned: closed by the driver's close */
	SSL *ssl;		 /* owned; NULL for the plain transport */
	unsigned timeout;	 /* seconds, for messages */
	bool failed;		 /* an I/O error happened: no TLS close_notify */
	bool refused;		 /* the guard refused what the server sent */
	struct deflate_codec *z; /* owned: COMPRESS=DEFLATE is on; NULL: off */
	char error[256];	 /* why the last I/O failed; "" when none did */
	struct inbound in;
	struct pace rd, wr;
};

static ssize_t conn_read(mailstream_low *low, void *buf, size_t count);
static ssize_t conn_write(mailstream_low *low, const void *buf, size_t count);
static int conn_close(mailstream_low *low);
static int conn_get_fd(mailstream_low *low);
static void conn_free(mailstream_low *low);

/* libetpan takes a non-const driver pointer but never writes through it. */
static mailstream_low_driver plain_driver = {
    .mailstream_read = conn_read,
    .mailstream_write = conn_write,
    .mailstream_close = conn_close,
    .mailstream_get_fd = conn_get_fd,
    .mailstream_free = conn_free,
};

static mailstream_low_driver ssl_driver = {
    .mailstream_read = conn_read,
    .mailstream_write = conn_write,
    .mailstream_close = conn_close,
    .mailstream_get_fd = conn_get_fd,
    .mailstream_free = conn_free,
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_once_fn(void)
{
	signal(SIGPIPE, SIG_IGN);
	OPENSSL_init_ssl(0, NULL);
}

void tls_init(void)
{
	pthread_once(&init_once, init_once_fn);
}

/* ------------------------------------------------------------------ TCP */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keepalive notices a silently dropped connection (suspend, NAT timeout)
 * within about 4 minutes even while IDLE waits; the timeouts bound every
 * blocking read and write, inside OpenSSL too. */
static int set_sock_opts(int fd, unsigned timeout)
{
	int on = 1, idle = 120, intvl = 30, cnt = 4;
	struct timeval tv = {.tv_sec = (time_t)timeout};
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return 0;
}

/* Waits for a non-blocking connect to finish; errno ETIMEDOUT after
 * timeout seconds (0: no limit). */
static int wait_connected(int fd, unsigned timeout)
{
	int64_t deadline = now_ms() + (int64_t)timeout * 1000;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int soerr = 0, r;
	socklen_t len = sizeof(soerr);

	do {
		int64_t left = timeout ? deadline - now_ms() : -1;

		if (timeout && left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -1;
	errno = soerr;
	return soerr ? -1 : 0;
}

/* One address: returns the connected socket or -1 with errno; a socket
 * ended meanwhile (net/sockets.h) fails with ECANCELED and its reason in
 * why. */
static int connect_one(const struct addrinfo *ai, unsigned timeout, char *why, size_t why_len)
{
	int fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	int saved;

	if (fd < 0)
		return -1;
	if (sockets_add(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		sockets_refusing(why, why_len);
		close(fd);
		errno = ECANCELED;
		return -1;
	}
	/* Ended between sockets_add and connect(): the shutdown found no
	 * connection to abort, so look before waiting (a later one aborts
	 * the connect in flight). */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    (errno != EINPROGRESS || sockets_ended(fd, why, why_len) ||
	     wait_connected(fd, timeout) < 0))
		goto fail;
	if (set_sock_opts(fd, timeout) < 0)
		goto fail;
	if (sockets_ended(fd, why, why_len)) {
		errno = ECANCELED;
		goto fail;
	}
	return fd;
fail:
	saved = errno;
	if (sockets_ended(fd, why, why_len))
		saved = ECANCELED;
	sockets_close(fd);
	errno = saved;
	return -1;
}

void tls_tcp_close(int fd)
{
	sockets_close(fd);
}

int tls_tcp_connect(const struct tls_opts *o, struct error *err)
{
	/* No AI_ADDRCONFIG: it hides 127.0.0.1 on a host with only loopback. */
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char port[8], why[256] = "";
	int fd = -1, gai, last = 0;

	snprintf(port, sizeof(port), "%u", (unsigned)o->port);
	/* getaddrinfo has no timeout of its own; the resolver's applies. */
	gai = getaddrinfo(o->host, port, &hints, &res);
	if (gai != 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "resolve %s: %s", o->host,
			  gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		return -1;
	}
	for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = connect_one(ai, o->timeout, why, sizeof(why));
		if (fd < 0)
			last = errno;
		if (last == ECANCELED)
			break;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		return fd;
	if (last == ECANCELED)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "connect to %s:%u: %s", o->host,
			  (unsigned)o->port, why);
	else if (last == ETIMEDOUT)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "connect to %s:%u: timed out after %u s",
			  o->host, (unsigned)o->port, o->timeout);
	else
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "connect to %s:%u: %s", o->host,
			  (unsigned)o->port, strerror(last));
	return -1;
}

/* ---------------------------------------------------- the plain driver */

static struct conn *conn_of(mailstream_low *low)
{
	return low->data;
}

static void conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	c->failed = true;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	/* An end of file or a reset we caused ourselves says why instead. */
	if (c->fd >= 0)
		sockets_ended(c->fd, c->error, sizeof(c->error));
}

/* Records errno of a failed socket call as the reason. */
static void conn_fail_errno(struct conn *c, int e)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		conn_fail(c, "timed out after %u s", c->timeout);
	else
		conn_fail(c, "%s", strerror(e));
}

/* ------------------------------------------------------------ the guard
 *
 * libetpan 1.9.4 believes whatever the server sends: it buffers a line
 * until its LF however long it is, allocates a literal's announced size
 * up front (up to 4 GB, and the number silently wraps at 2^32), keeps
 * every line of a response in memory until the tagged answer, and waits
 * for as long as bytes keep trickling in. The drivers check the stream on
 * its way in, so that a broken or hostile server costs a bounded amount of
 * memory and time, and fail the read (the connection is then dropped, with
 * the reason in tls_low_error) when it goes beyond:
 *   - a line (outside literals) of GUARD_LINE_MAX bytes: a UID SEARCH
 *     answer of ~3 million UIDs still fits;
 *   - a literal of GUARD_LITERAL_MAX bytes: the largest message we can
 *     hold in memory (libetpan gets the whole body at once);
 *   - GUARD_LINES_MAX lines but FETCH responses in one answer: each costs
 *     libetpan ~200 bytes until the command ends (FETCH responses are
 *     parsed and freed one by one by our handlers), and a real server
 *     sends that many only for a mass EXPUNGE;
 *   - GUARD_TEXT_MAX bytes outside literals in one answer: libetpan keeps
 *     the text of a whole answer;
 *   - too slow a trickle (pace_ok).
 * The bytes of a refused read never reach libetpan. */

static void guard_refuse(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void guard_refuse(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	c->failed = true;
	c->refused = true;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

/* Follows the "{n}" (or "{n+}") that may end the line, byte by byte (a
 * window on the line's end would miss a '{' pushed out of it by leading
 * zeros, which libetpan reads fine). */
static void literal_track(struct inbound *in, char ch)
{
	bool digit = ch >= '0' && ch <= '9';

	if (ch == '{') {
		in->lit = LIT_DIGITS;
		in->lit_n = 0;
		in->lit_digit = false;
	} else if (in->lit == LIT_DIGITS && digit) {
		in->lit_digit = true;
		if (in->lit_n > (UINT64_MAX - 9) / 10)
			in->lit_n = UINT64_MAX;
		else
			in->lit_n = in->lit_n * 10 + (uint64_t)(ch - '0');
	} else if (in->lit == LIT_DIGITS && ch == '+' && in->lit_digit) {
		in->lit = LIT_PLUS;
	} else if ((in->lit == LIT_DIGITS || in->lit == LIT_PLUS) && ch == '}' && in->lit_digit) {
		in->lit = LIT_BRACE;
	} else if (in->lit == LIT_BRACE && ch == '\r') {
		in->lit = LIT_CR;
	} else if (!((in->lit == LIT_BRACE || in->lit == LIT_CR) && ch == '\n')) {
		in->lit = LIT_NONE;
	}
}

/* Whether the line is an untagged FETCH response ("* 12 FETCH ("): the
 * only kind that comes by the thousand, and parsed one by one by our
 * handlers (imap_fetch.c). */
static bool is_fetch_line(const struct inbound *in)
{
	size_t i = 2;

	if (in->head_len < 4 || in->head[0] != '*' || in->head[1] != ' ')
		return false;
	while (i < in->head_len && in->head[i] >= '0' && in->head[i] <= '9')
		i++;
	return i > 2 && in->head_len - i >= 7 && strncasecmp(in->head + i, " FETCH ", 7) == 0;
}

/* A line (or the part of a response before a literal) ended at LF. */
static int guard_line_end(struct conn *c)
{
	struct inbound *in = &c->in;
	bool lit = in->lit == LIT_BRACE || in->lit == LIT_CR;
	uint64_t n = lit ? in->lit_n : 0;

	if (!in->continued) {
		if (!is_fetch_line(in) && ++in->lines > GUARD_LINES_MAX) {
			guard_refuse(c, "the server sent more than %u responses to one command",
				     GUARD_LINES_MAX);
			return -1;
		}
		if (in->head_len >= 6 && strncasecmp(in->head, "* BYE ", 6) == 0) {
			const char *t = in->head + 6;
			size_t len = in->head_len - 6;

			while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r'))
				len--;
			if (len > sizeof(in->bye) - 1)
				len = sizeof(in->bye) - 1;
			for (size_t k = 0; k < len; k++)
				in->bye[k] = t[k] >= 0x20 && t[k] < 0x7f ? t[k] : '?';
			in->bye[len] = '\0';
		}
	}
	if (lit && n > GUARD_LITERAL_MAX) {
		guard_refuse(c,
			     "the server announced a literal of %s%" PRIu64 " bytes (at most %u "
			     "are accepted)",
			     n == UINT64_MAX ? "more than " : "", n == UINT64_MAX ? UINT64_MAX : n,
			     GUARD_LITERAL_MAX);
		return -1;
	}
	in->literal_left = lit ? n : 0;
	/* After a literal the response goes on: not a new line to count. */
	in->continued = lit;
	in->line_len = 0;
	in->head_len = 0;
	in->lit = LIT_NONE;
	return 0;
}

/* Watches n received bytes. -1 (with the reason) when they go beyond a
 * bound; the bytes must then not be handed to libetpan. */
static int guard_inbound(struct conn *c, const char *buf, size_t n)
{
	struct inbound *in = &c->in;

	while (n > 0) {
		if (in->literal_left > 0) {
			size_t k = in->literal_left < n ? (size_t)in->literal_left : n;

			in->literal_left -= k;
			buf += k;
			n -= k;
			continue;
		}
		if (in->head_len < sizeof(in->head))
			in->head[in->head_len++] = *buf;
		literal_track(in, *buf);
		if (++in->text > GUARD_TEXT_MAX) {
			guard_refuse(c,
				     "the server sent more than %u bytes of responses to one "
				     "command",
				     GUARD_TEXT_MAX);
			return -1;
		}
		if (++in->line_len > GUARD_LINE_MAX) {
			guard_refuse(c,
				     "the server sent a line of more than %u bytes without an end",
				     GUARD_LINE_MAX);
			return -1;
		}
		if (*buf == '\n' && guard_line_end(c) < 0)
			return -1;
		buf++;
		n--;
	}
	return 0;
}

/* The slowloris guard. A read (write) blocks at most `timeout` seconds
 * (SO_RCVTIMEO), but a server that sends a byte a second never lets that
 * fire. So the time spent blocked since our side last made progress the
 * other way (for reads: since our last write, i.e. during one answer) may
 * not exceed `timeout` seconds plus one more for every GUARD_RATE_BYTES
 * that came: a server that needs more than `timeout` seconds of our
 * waiting for 16 KB is stalled or hostile. Time between reads (IDLE's
 * poll) does not count: only time inside recv/SSL_read. */
static bool pace_ok(struct conn *c, struct pace *p, int64_t waited_ms, ssize_t moved,
		    const char *what)
{
	uint64_t allowed = (uint64_t)c->timeout * 1000 * (1 + p->bytes / GUARD_RATE_BYTES);

	p->wait_ms += waited_ms;
	if (moved > 0)
		p->bytes += (uint64_t)moved;
	if (c->timeout == 0 || (uint64_t)p->wait_ms <= allowed)
		return true;
	guard_refuse(c, "the server is too slow: %" PRIu64 " bytes %s in %" PRId64 " s", p->bytes,
		     what, p->wait_ms / 1000);
	return false;
}

/* A read of r bytes into buf, after blocking for waited_ms. */
static ssize_t guard_read(struct conn *c, const void *buf, ssize_t r, int64_t waited_ms)
{
	if (c->refused)
		return -1;
	if (!pace_ok(c, &c->rd, waited_ms, r, "received"))
		return -1;
	if (r > 0) {
		c->wr = (struct pace){0, 0};
		if (guard_inbound(c, buf, (size_t)r) < 0)
			return -1;
	}
	return r;
}

/* A write of r bytes, after blocking for waited_ms: a new command, or
 * more of one. The next answer gets its own time, and its own budget of
 * lines. */
static ssize_t guard_write(struct conn *c, ssize_t r, int64_t waited_ms)
{
	if (c->refused)
		return -1;
	if (!pace_ok(c, &c->wr, waited_ms, r, "taken by the server"))
		return -1;
	if (r > 0) {
		c->rd = (struct pace){0, 0};
		c->in.lines = 0;
		c->in.text = 0;
	}
	return r;
}

/* One recv: > 0 bytes, or -1 with the reason kept (never 0: libetpan
 * 1.9.4 spins on a 0 inside a literal). */
static ssize_t wire_plain_read(struct conn *c, void *buf, size_t count)
{
	ssize_t r;

	do
		r = recv(c->fd, buf, count, 0);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return r;
	if (r == 0)
		conn_fail(c, "connection closed by server");
	else
		conn_fail_errno(c, errno);
	return -1;
}

static ssize_t wire_plain_write(struct conn *c, const void *buf, size_t count)
{
	ssize_t r;

	do
		r = send(c->fd, buf, count, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		conn_fail_errno(c, errno);
	return r < 0 ? -1 : r;
}

static int conn_close(mailstream_low *low)
{
	struct conn *c = conn_of(low);

	/* A close_notify over a dead link could only block until the timeout. */
	if (c->ssl && !c->failed && c->fd >= 0)
		SSL_shutdown(c->ssl);
	sockets_close(c->fd);
	c->fd = -1;
	return 0;
}

static int conn_get_fd(mailstream_low *low)
{
	return conn_of(low)->fd;
}

/* Frees the transport and the mailstream_low, leaving the socket open
 * unless conn_close ran (STARTTLS relies on this). */
static void conn_free(mailstream_low *low)
{
	struct conn *c = conn_of(low);

	SSL_free(c->ssl); /* SSL_set_fd made a BIO_NOCLOSE socket BIO */
	deflate_codec_free(&c->z);
	free(c);
	free(low);
}

static mailstream_low *conn_low_new(int fd, SSL *ssl, unsigned timeout)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	mailstream_low *low;

	c->fd = fd;
	c->ssl = ssl;
	c->timeout = timeout;
	low = mailstream_low_new(c, ssl ? &ssl_driver : &plain_driver);
	if (!low) {
		fprintf(stderr, "gmaildir: out of memory (mailstream_low_new)\n");
		abort();
	}
	return low;
}

mailstream_low *tls_low_plain(int fd, unsigned timeout)
{
	return conn_low_new(fd, NULL, timeout);
}

/* ------------------------------------------------------ the TLS driver */

/* The reason of the first queued OpenSSL error, or fallback. */
static const char *ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : fallback;
}

/* Records why SSL_read/SSL_write returned r (<= 0). Returns true when the
 * call was only interrupted by a signal and should be repeated. */
static bool ssl_io_failed(struct conn *c, int r)
{
	int e = SSL_get_error(c->ssl, r), saved = errno;

	switch (e) {
	case SSL_ERROR_ZERO_RETURN:
		conn_fail(c, "connection closed by server");
		break;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		/* A blocking socket only "wants" after EINTR or SO_RCVTIMEO. */
		if (saved == EINTR)
			return true;
		conn_fail(c, "timed out after %u s", c->timeout);
		break;
	case SSL_ERROR_SYSCALL:
		if (saved == EINTR)
			return true;
		if (saved == 0 || ERR_peek_error())
			conn_fail(c, "%s", ssl_reason("connection closed by server"));
		else
			conn_fail_errno(c, saved);
		break;
	default:
		conn_fail(c, "TLS: %s", ssl_reason("error"));
		break;
	}
	ERR_clear_error();
	return false;
}

static ssize_t wire_ssl_read(struct conn *c, void *buf, size_t count)
{
	int n = count > INT_MAX ? INT_MAX : (int)count, r;

	do {
		ERR_clear_error();
		errno = 0;
		r = SSL_read(c->ssl, buf, n);
	} while (r <= 0 && ssl_io_failed(c, r));
	return r > 0 ? r : -1;
}

static ssize_t wire_ssl_write(struct conn *c, const void *buf, size_t count)
{
	int n = count > INT_MAX ? INT_MAX : (int)count, r;

	do {
		ERR_clear_error();
		errno = 0;
		r = SSL_write(c->ssl, buf, n);
	} while (r <= 0 && ssl_io_failed(c, r));
	return r > 0 ? r : -1;
}

/* The socket's bytes, through TLS when there is TLS. */
static ssize_t wire_read(struct conn *c, void *buf, size_t count)
{
	return c->ssl ? wire_ssl_read(c, buf, count) : wire_plain_read(c, buf, count);
}

static ssize_t wire_write(struct conn *c, const void *buf, size_t count)
{
	return c->ssl ? wire_ssl_write(c, buf, count) : wire_plain_write(c, buf, count);
}

/* COMPRESS=DEFLATE: what the server sent, decompressed; reads the wire
 * only when the codec has nothing left to give. */
static ssize_t inflate_read(struct conn *c, void *buf, size_t count)
{
	unsigned char wire[16384];

	for (;;) {
		ssize_t r = deflate_codec_unpack(c->z, buf, count), n;

		if (r < 0)
			conn_fail(c, "COMPRESS: the server's compressed stream is corrupt");
		if (r != 0)
			return r;
		n = wire_read(c, wire, sizeof(wire));
		if (n < 0)
			return -1;
		deflate_codec_feed(c->z, wire, (size_t)n);
	}
}

/* COMPRESS=DEFLATE: count bytes compressed and flushed, all of them sent
 * (the compressor has consumed them: a short write cannot be undone). */
static ssize_t deflate_write(struct conn *c, const void *buf, size_t count)
{
	const unsigned char *out;
	size_t len;

	if (deflate_codec_pack(c->z, buf, count, &out, &len) < 0) {
		conn_fail(c, "COMPRESS: compressing failed");
		return -1;
	}
	while (len > 0) {
		ssize_t n = wire_write(c, out, len);

		if (n < 0)
			return -1;
		out += n;
		len -= (size_t)n;
	}
	return (ssize_t)count;
}

/* The drivers' read and write: the wire, or the codec over it, then the
 * guard, which always sees the IMAP bytes as the server meant them. */
static ssize_t conn_read(mailstream_low *low, void *buf, size_t count)
{
	struct conn *c = conn_of(low);
	int64_t t0 = now_ms();
	ssize_t r;

	if (c->refused)
		return -1;
	r = c->z ? inflate_read(c, buf, count) : wire_read(c, buf, count);
	return r > 0 ? guard_read(c, buf, r, now_ms() - t0) : -1;
}

static ssize_t conn_write(mailstream_low *low, const void *buf, size_t count)
{
	struct conn *c = conn_of(low);
	int64_t t0 = now_ms();
	ssize_t r;

	if (c->refused)
		return -1;
	r = c->z ? deflate_write(c, buf, count) : wire_write(c, buf, count);
	return r > 0 ? guard_write(c, r, now_ms() - t0) : -1;
}

/* ------------------------------------------------- handshake and verify */

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* True when dir holds OpenSSL's hashed names ("5ed36f99.0"): then
 * certificates can be looked up one by one when a chain needs them. */
static bool has_hashed_certs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		const char *n = e->d_name;

		found = strlen(n) >= 10 && strspn(n, "0123456789abcdef") == 8 && n[8] == '.' &&
			strspn(n + 9, "0123456789") == strlen(n + 9);
	}
	closedir(d);
	return found;
}

/* The system's trusted CAs. Loading the whole bundle file parses every
 * certificate in it, tens of milliseconds of CPU that used to be most of a
 * no-change sync; the hashed directory (Debian's /etc/ssl/certs) is read
 * lazily instead, one certificate per lookup. SSL_CERT_FILE, or a system
 * without a hashed directory, gets OpenSSL's defaults. A missing store is
 * not fatal here: verification then fails with a message that says so. */
static void trust_system(SSL_CTX *ctx)
{
	const char *dir = getenv(X509_get_default_cert_dir_env());

	if (!dir || !*dir)
		dir = X509_get_default_cert_dir();
	if (getenv(X509_get_default_cert_file_env()) || !has_hashed_certs(dir) ||
	    SSL_CTX_load_verify_dir(ctx, dir) != 1)
		SSL_CTX_set_default_verify_paths(ctx);
}

/* A new SSL_CTX that verifies the peer against the system store and
 * o->ca_file, TLS 1.2 or newer. */
static SSL_CTX *make_ctx(const struct tls_opts *o, struct error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "TLS: %s", ssl_reason("SSL_CTX_new"));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	trust_system(ctx);
	if (o->ca_file && SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
		const char *why = access(o->ca_file, R_OK) < 0 ? strerror(errno)
							       : ssl_reason("no certificate found");

		error_set(err, ERR_CONFIG, RETRY_NEVER, "ca_file %s: %s", o->ca_file, why);
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	return ctx;
}

/* One context per process, shared by every connection (SSL_CTX is
 * reference counted and safe to share between threads): the trust store
 * is built once, not at each login. It is rebuilt when ca_file names
 * another file or the file changed (a renewed CA under the daemon). */
static struct {
	pthread_mutex_t lock;
	SSL_CTX *ctx;
	char *ca_file;
	struct stat ca_st;
} shared = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool same_ca(const char *ca_file, const struct stat *st)
{
	if (!ca_file || !shared.ca_file)
		return !ca_file && !shared.ca_file;
	return strcmp(ca_file, shared.ca_file) == 0 && st->st_ino == shared.ca_st.st_ino &&
	       st->st_dev == shared.ca_st.st_dev && st->st_size == shared.ca_st.st_size &&
	       st->st_mtim.tv_sec == shared.ca_st.st_mtim.tv_sec &&
	       st->st_mtim.tv_nsec == shared.ca_st.st_mtim.tv_nsec;
}

/* A reference to the shared context for o (the caller frees it). */
static SSL_CTX *ctx_get(const struct tls_opts *o, struct error *err)
{
	struct stat st = {0};
	SSL_CTX *ctx = NULL;

	if (o->ca_file && stat(o->ca_file, &st) < 0)
		memset(&st, 0, sizeof(st)); /* make_ctx says why it cannot be read */
	pthread_mutex_lock(&shared.lock);
	if (!shared.ctx || !same_ca(o->ca_file, &st)) {
		SSL_CTX *fresh = make_ctx(o, err);

		if (!fresh)
			goto out;
		SSL_CTX_free(shared.ctx);
		free(shared.ca_file);
		shared.ctx = fresh;
		shared.ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
		shared.ca_st = st;
	}
	if (SSL_CTX_up_ref(shared.ctx) == 1)
		ctx = shared.ctx;
	else
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "TLS: %s", ssl_reason("SSL_CTX_up_ref"));
out:
	pthread_mutex_unlock(&shared.lock);
	return ctx;
}

/* SNI and the name (or address) the certificate must match. */
static int set_peer_name(SSL *ssl, const char *host)
{
	if (is_ip_literal(host))
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1)
		return -1;
	return 0;
}

/* Appends s to buf (of size cap) as printable ASCII: certificate text comes
 * from the peer and ends up in logs. */
static void append_clean(char *buf, size_t cap, const char *s, size_t len)
{
	size_t at = strlen(buf);

	if (at && at + 2 < cap) {
		memcpy(buf + at, ", ", 2);
		at += 2;
	}
	for (size_t i = 0; i < len && at + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[at++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	buf[at] = '\0';
}

static void append_general_name(char *buf, size_t cap, const GENERAL_NAME *gn)
{
	char ip[INET6_ADDRSTRLEN];
	const unsigned char *d;
	int len;

	if (gn->type == GEN_DNS) {
		d = ASN1_STRING_get0_data(gn->d.dNSName);
		append_clean(buf, cap, (const char *)d, (size_t)ASN1_STRING_length(gn->d.dNSName));
	} else if (gn->type == GEN_IPADD) {
		d = ASN1_STRING_get0_data(gn->d.iPAddress);
		len = ASN1_STRING_length(gn->d.iPAddress);
		if ((len == 4 && inet_ntop(AF_INET, d, ip, sizeof(ip))) ||
		    (len == 16 && inet_ntop(AF_INET6, d, ip, sizeof(ip))))
			append_clean(buf, cap, ip, strlen(ip));
	}
}

/* The names a certificate is valid for: its subjectAltNames, or its CN
 * when it has none. */
static void cert_names(X509 *cert, char *buf, size_t cap)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	char cn[256];

	buf[0] = '\0';
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++)
		append_general_name(buf, cap, sk_GENERAL_NAME_value(sans, i));
	GENERAL_NAMES_free(sans);
	if (buf[0] == '\0' && X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
							cn, sizeof(cn)) > 0)
		append_clean(buf, cap, cn, strlen(cn));
	if (buf[0] == '\0')
		snprintf(buf, cap, "no name");
}

/* The peer's leaf certificate, also after a failed verification (then only
 * the received chain holds it). */
static X509 *peer_leaf(SSL *ssl)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509 *leaf = SSL_get0_peer_certificate(ssl);

	if (!leaf && chain && sk_X509_num(chain) > 0)
		leaf = sk_X509_value(chain, 0);
	return leaf;
}

static void verify_error(SSL *ssl, long vr, const char *host, struct error *err)
{
	X509 *leaf = peer_leaf(ssl);
	char names[512];

	if ((vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) && leaf) {
		cert_names(leaf, names, sizeof(names));
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "host name mismatch: certificate is for %s, connected to %s", names,
			  host);
		return;
	}
	error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "certificate verify failed: %s (host %s)",
		  X509_verify_cert_error_string(vr), host);
}

/* Whether the queued error says the two sides share no TLS version. */
static bool version_refused(void)
{
	int reason = ERR_GET_REASON(ERR_peek_error());

	return reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	       reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
	       reason == SSL_R_NO_PROTOCOLS_AVAILABLE;
}

/* Explains a failed SSL_connect that returned r. */
static void handshake_error(SSL *ssl, int r, int saved_errno, const struct tls_opts *o,
			    struct error *err)
{
	long vr = SSL_get_verify_result(ssl);
	int e = SSL_get_error(ssl, r);
	const char *why;

	if (vr != X509_V_OK) {
		verify_error(ssl, vr, o->host, err);
		return;
	}
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
	    (e == SSL_ERROR_SYSCALL && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "TLS handshake with %s:%u: timed out after %u s", o->host,
			  (unsigned)o->port, o->timeout);
		return;
	}
	if (e == SSL_ERROR_SYSCALL && !ERR_peek_error())
		why = saved_errno ? strerror(saved_errno) : "connection closed by server";
	else
		why = ssl_reason("protocol error");
	error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "TLS handshake with %s:%u failed: %s%s", o->host,
		  (unsigned)o->port, why,
		  version_refused() ? " (we require TLS 1.2 or newer)" : "");
}

/* Runs the handshake on ssl; 0 ok, -1 with err. */
/* SSL_connect with the whole handshake bounded by o->timeout: SO_RCVTIMEO
 * bounds each read only, and a server that sends its certificate a byte
 * a second would hold a blocking handshake for an hour. The socket is
 * non-blocking meanwhile. *timed_out_r tells a handshake cut short. */
static int connect_bounded(SSL *ssl, const struct tls_opts *o, int *saved_r, bool *timed_out_r)
{
	int fd = SSL_get_fd(ssl), fl = fcntl(fd, F_GETFL), r;
	int64_t deadline = now_ms() + (int64_t)o->timeout * 1000;
	bool nonblock = fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;

	*timed_out_r = false;
	for (;;) {
		struct pollfd p = {.fd = fd};
		int64_t left = o->timeout ? deadline - now_ms() : -1;
		int e, pr;

		ERR_clear_error();
		errno = 0;
		r = SSL_connect(ssl);
		*saved_r = errno;
		if (r == 1)
			break;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_SYSCALL && *saved_r == EINTR)
			continue;
		if (!nonblock || (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE))
			break;
		p.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if (o->timeout && left <= 0) {
			*timed_out_r = true;
			break;
		}
		do
			pr = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		while (pr < 0 && errno == EINTR);
		if (pr <= 0) {
			*timed_out_r = pr == 0;
			*saved_r = pr < 0 ? errno : 0;
			break;
		}
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fl);
	return r;
}

static int do_handshake(SSL *ssl, const struct tls_opts *o, struct error *err)
{
	bool timed_out;
	int saved, r = connect_bounded(ssl, o, &saved, &timed_out);

	char why[256];

	if (r != 1 && sockets_ended(SSL_get_fd(ssl), why, sizeof(why))) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "TLS handshake with %s:%u: %s", o->host,
			  (unsigned)o->port, why);
		ERR_clear_error();
		return -1;
	}
	if (r != 1 && timed_out) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "TLS handshake with %s:%u: timed out after %u s", o->host,
			  (unsigned)o->port, o->timeout);
		ERR_clear_error();
		return -1;
	}
	if (r != 1) {
		handshake_error(ssl, r, saved, o, err);
		ERR_clear_error();
		return -1;
	}
	/* Belt and braces: SSL_VERIFY_PEER already failed the handshake on any
	 * verification error. */
	if (!SSL_get0_peer_certificate(ssl) || SSL_get_verify_result(ssl) != X509_V_OK) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "TLS with %s: no verified certificate",
			  o->host);
		return -1;
	}
	log_debug("tls: %s %s with %s:%u, certificate verified", SSL_get_version(ssl),
		  SSL_get_cipher_name(ssl), o->host, (unsigned)o->port);
	return 0;
}

/* An SSL on socket fd for o->host, not yet connected. */
static SSL *ssl_start(int fd, const struct tls_opts *o, struct error *err)
{
	SSL_CTX *ctx = ctx_get(o, err);
	SSL *ssl;

	if (!ctx)
		return NULL;
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the SSL keeps its own reference */
	if (!ssl || set_peer_name(ssl, o->host) < 0 || SSL_set_fd(ssl, fd) != 1) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "TLS setup for %s: %s", o->host,
			  ssl_reason("failed"));
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

int tls_low_tls(int fd, const struct tls_opts *o, mailstream_low **low_r, struct error *err)
{
	SSL *ssl = ssl_start(fd, o, err);

	if (!ssl)
		return -1;
	if (do_handshake(ssl, o, err) < 0) {
		SSL_free(ssl);
		return -1;
	}
	*low_r = conn_low_new(fd, ssl, o->timeout);
	return 0;
}

int tls_starttls(mailstream *stream, const struct tls_opts *o, struct error *err)
{
	mailstream_low *old = mailstream_get_low(stream), *low = NULL;

	if (stream->read_buffer_len > 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "STARTTLS: the server sent data before TLS started; refusing "
			  "(possible injection)");
		return -1;
	}
	if (tls_low_tls(mailstream_low_get_fd(old), o, &low, err) < 0)
		return -1;
	/* Frees the plain transport but not its socket, now the TLS one's. */
	mailstream_low_free(old);
	mailstream_set_low(stream, low);
	return 0;
}

bool tls_low_is_tls(mailstream_low *low)
{
	return low && low->driver == &ssl_driver;
}

static bool is_ours(mailstream_low *low)
{
	return low && (low->driver == &ssl_driver || low->driver == &plain_driver);
}

bool tls_low_pending(mailstream_low *low)
{
	const struct conn *c = is_ours(low) ? conn_of(low) : NULL;

	return c && ((c->ssl && SSL_pending(c->ssl) > 0) || (c->z && deflate_codec_pending(c->z)));
}

int tls_low_start_deflate(mailstream *stream, struct error *err)
{
	mailstream_low *low = mailstream_get_low(stream);

	if (!is_ours(low)) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "COMPRESS: not our transport");
		return -1;
	}
	/* Bytes read past the OK were sent compressed already: the server
	 * may send nothing before our next command (RFC 4978 §3). */
	if (stream->read_buffer_len > 0) {
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "COMPRESS: the server sent data right after its OK; refusing");
		return -1;
	}
	conn_of(low)->z = deflate_codec_new();
	return 0;
}

bool tls_low_deflating(mailstream_low *low)
{
	return is_ours(low) && conn_of(low)->z;
}

const char *tls_low_error(mailstream_low *low)
{
	if (!low || (low->driver != &ssl_driver && low->driver != &plain_driver))
		return NULL;
	return conn_of(low)->error[0] ? conn_of(low)->error : NULL;
}

bool tls_low_refused(mailstream_low *low)
{
	if (!low || (low->driver != &ssl_driver && low->driver != &plain_driver))
		return false;
	return conn_of(low)->refused;
}

const char *tls_low_bye(mailstream_low *low)
{
	if (!low || (low->driver != &ssl_driver && low->driver != &plain_driver))
		return NULL;
	return conn_of(low)->in.bye[0] ? conn_of(low)->in.bye : NULL;
}

/* ------------------------------------------------------- diagnostics */

/* An X509_NAME as one RFC 2253 line, cleaned like every peer text. */
static void name_line(const X509_NAME *name, char *buf, size_t cap)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len;

	buf[0] = '\0';
	if (!bio)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(bio, &data);
		if (data && len > 0)
			append_clean(buf, cap, data, (size_t)len);
	}
	BIO_free(bio);
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static void fill_peer_info(SSL *ssl, bool verified, struct tls_peer_info *info)
{
	X509 *leaf = peer_leaf(ssl);
	STACK_OF(X509) *chain = verified ? SSL_get0_verified_chain(ssl) : NULL;
	const char *cipher = SSL_get_cipher_name(ssl);

	snprintf(info->version, sizeof(info->version), "%s", SSL_get_version(ssl));
	if (cipher && strcmp(cipher, "(NONE)") != 0)
		snprintf(info->cipher, sizeof(info->cipher), "%s", cipher);
	info->verified = verified;
	info->chain_len = chain ? sk_X509_num(chain) : 0;
	if (!leaf)
		return;
	info->have_cert = true;
	name_line(X509_get_subject_name(leaf), info->subject, sizeof(info->subject));
	name_line(X509_get_issuer_name(leaf), info->issuer, sizeof(info->issuer));
	cert_names(leaf, info->names, sizeof(info->names));
	info->not_before = asn1_time(X509_get0_notBefore(leaf));
	info->not_after = asn1_time(X509_get0_notAfter(leaf));
}

int tls_probe(int fd, const struct tls_opts *o, struct tls_peer_info *info_r, struct error *err)
{
	SSL *ssl;
	int ret;

	memset(info_r, 0, sizeof(*info_r));
	ssl = ssl_start(fd, o, err);
	if (!ssl)
		return -1;
	ret = do_handshake(ssl, o, err);
	fill_peer_info(ssl, ret == 0, info_r);
	if (ret == 0)
		SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl); /* a BIO_NOCLOSE socket BIO: fd stays open */
	return ret;
}
