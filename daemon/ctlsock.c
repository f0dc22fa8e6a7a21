/* The control socket's address and peer check (ctlsock.h). */
#include "daemon/ctlsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ctlsock_addr(const char *state_dir, struct sockaddr_un *sa_r, int *dirfd_r, struct error *err)
{
	int n;

	memset(sa_r, 0, sizeof(*sa_r));
	sa_r->sun_family = AF_UNIX;
	*dirfd_r = -1;
	n = snprintf(sa_r->sun_path, sizeof(sa_r->sun_path), "%s/%s", state_dir, CTLSOCK_NAME);
	if (n >= 0 && (size_t)n < sizeof(sa_r->sun_path))
		return 0;
	/* The kernel resolves the magic link to the directory itself. */
	*dirfd_r = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd_r < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open(%s): %s", state_dir,
			  strerror(errno));
		return -1;
	}
	snprintf(sa_r->sun_path, sizeof(sa_r->sun_path), "/proc/self/fd/%d/%s", *dirfd_r,
		 CTLSOCK_NAME);
	return 0;
}

bool ctlsock_peer_ok(int fd, pid_t *pid_r)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return false;
	if (pid_r)
		*pid_r = cred.pid;
	return cred.uid == getuid();
}
