/* The systemd notify protocol against our own datagram sockets: a path in
 * a temp dir and an abstract name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/sdnotify.h"
#include "util/xalloc.h"

struct fixture {
	char dir[64];
	char *path;
	int fd;
};

static int bind_dgram(const char *name, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, name, len);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		return -1;
	return fd;
}

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/gmaildir-test-sdnotify.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	fx->path = xasprintf("%s/notify", fx->dir);
	fx->fd = bind_dgram(fx->path, strlen(fx->path) + 1);
	if (fx->fd < 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	close(fx->fd);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx->path);
	free(fx);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return 0;
}

/* The next datagram on fd, NUL-terminated, or "" after 1 s. */
static void receive(int fd, char *buf, size_t cap)
{
	struct timeval tv = {.tv_sec = 1};
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
}

static void test_path_socket(void **state)
{
	struct fixture *fx = *state;
	char buf[256];

	setenv("NOTIFY_SOCKET", fx->path, 1);
	assert_true(sdnotify_enabled());
	assert_int_equal(sdnotify("READY=1"), 1);
	receive(fx->fd, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1");
	assert_int_equal(sdnotify("STATUS=%s: %d folders\nWATCHDOG=1", "personal", 12), 1);
	receive(fx->fd, buf, sizeof(buf));
	assert_string_equal(buf, "STATUS=personal: 12 folders\nWATCHDOG=1");
}

static void test_abstract_socket(void **state)
{
	char name[64], env[64], buf[256];
	int fd, len;

	(void)state;
	len = snprintf(name, sizeof(name), "%cgmaildir-test-%d", '\0', (int)getpid());
	fd = bind_dgram(name, (size_t)len);
	assert_true(fd >= 0);
	snprintf(env, sizeof(env), "@%s", name + 1);
	setenv("NOTIFY_SOCKET", env, 1);
	assert_int_equal(sdnotify("STOPPING=1"), 1);
	receive(fd, buf, sizeof(buf));
	assert_string_equal(buf, "STOPPING=1");
	close(fd);
}

static void test_unset_is_noop(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_false(sdnotify_enabled());
	assert_int_equal(sdnotify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sdnotify("READY=1"), 0);
}

static void test_errors(void **state)
{
	struct fixture *fx = *state;
	char *gone = xasprintf("%s/nobody-listens", fx->dir);
	char *big = xmalloc(5000);

	setenv("NOTIFY_SOCKET", gone, 1);
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, ENOENT);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", fx->path, 1);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	assert_int_equal(sdnotify("STATUS=%s", big), -1);
	assert_int_equal(errno, EMSGSIZE);
	free(gone);
	free(big);
}

static void test_watchdog(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "30s", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_path_socket), T(test_abstract_socket), T(test_unset_is_noop),
	    T(test_errors),	 T(test_watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
