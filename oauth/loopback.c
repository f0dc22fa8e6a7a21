/* The browser comes back to http://127.0.0.1:PORT/?code=...&state=...
 * (RFC 8252 §7.3): a listener on the loopback address only, for one
 * request, every wait bounded. */
#include "oauth/oauth_p.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

struct loopback {
	int fd;	    /* listening */
	int client; /* the request being answered; -1 none */
	unsigned port;
};

int loopback_open(unsigned port, struct loopback **lb_r, struct error *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sa);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct loopback *lb;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "listen on 127.0.0.1:%u: %s", port,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	lb = xcalloc(1, sizeof(*lb));
	lb->fd = fd;
	lb->client = -1;
	lb->port = ntohs(sa.sin_port);
	*lb_r = lb;
	return 0;
}

unsigned loopback_port(const struct loopback *lb)
{
	return lb->port;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The request head of fd, up to the blank line; -1 on timeout or junk. */
static int read_head(int fd, long deadline, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)(left < 5000 ? left : 5000)) <= 0)
			return -1;
		r = read(fd, buf + n, size - 1 - n);
		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return 0;
	}
	return -1;
}

static void reply(int fd, const char *status, const char *body)
{
	char *msg = xasprintf("HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\n"
			      "Content-Length: %zu\r\nConnection: close\r\n"
			      "Cache-Control: no-store\r\n\r\n%s",
			      status, strlen(body), body);

	(void)fs_write_all(fd, msg, strlen(msg));
	free(msg);
}

/* "GET /?query HTTP/1.1": the query (after '?', maybe empty), or NULL for
 * another path or method. */
static char *request_query(const char *head)
{
	const char *p, *end;

	if (strncmp(head, "GET /", 5) != 0)
		return NULL;
	p = head + 5;
	end = p + strcspn(p, " \r\n");
	if (p == end)
		return xstrdup("");
	if (*p != '?')
		return NULL;
	return xstrndup(p + 1, (size_t)(end - p - 1));
}

int loopback_wait(struct loopback *lb, unsigned timeout_s, char **query_r, struct error *err)
{
	long deadline = now_ms() + (long)timeout_s * 1000L;
	char head[8192];

	*query_r = NULL;
	for (;;) {
		struct pollfd p = {.fd = lb->fd, .events = POLLIN};
		long left = deadline - now_ms();
		int c;

		if (left <= 0 || poll(&p, 1, (int)(left < 60000 ? left : 60000)) < 0) {
			if (left > 0 && errno == EINTR) {
				error_set(err, ERR_ACCOUNT, RETRY_NEVER, "interrupted");
				return -1;
			}
			break;
		}
		if (!(p.revents & POLLIN))
			continue;
		c = accept4(lb->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (read_head(c, now_ms() + 10000, head, sizeof(head)) == 0) {
			char *q = request_query(head);

			if (q) {
				lb->client = c;
				*query_r = q;
				return 0;
			}
			reply(c, "404 Not Found", "not here");
		}
		close(c);
	}
	error_set(err, ERR_ACCOUNT, RETRY_NEVER,
		  "no answer from the browser within %u s (was the page opened and the access "
		  "allowed?)",
		  timeout_s);
	return -1;
}

/* text with HTML's special characters escaped: it may quote what came in
 * the request (an error= from the provider). Caller frees. */
static char *html_escape(const char *text)
{
	char *out = xmalloc(strlen(text) * 6 + 1), *o = out;

	for (const char *p = text; *p; p++) {
		const char *e = *p == '<'   ? "&lt;"
				: *p == '>' ? "&gt;"
				: *p == '&' ? "&amp;"
				: *p == '"' ? "&quot;"
					    : NULL;

		if (e) {
			strcpy(o, e);
			o += strlen(e);
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

void loopback_answer(struct loopback *lb, bool ok, const char *text)
{
	char *body, *esc;

	if (lb->client < 0)
		return;
	esc = html_escape(text);
	body = xasprintf("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>gmaildir"
			 "</title></head><body><h1>%s</h1><p>%s</p></body></html>",
			 ok ? "Signed in" : "Not signed in", esc);
	reply(lb->client, ok ? "200 OK" : "400 Bad Request", body);
	free(esc);
	free(body);
	close(lb->client);
	lb->client = -1;
}

void loopback_close(struct loopback **lb)
{
	if (!*lb)
		return;
	if ((*lb)->client >= 0)
		close((*lb)->client);
	close((*lb)->fd);
	free(*lb);
	*lb = NULL;
}
