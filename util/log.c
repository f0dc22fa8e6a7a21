#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

static enum log_level cur_level = LOG_LVL_INFO;
static bool journal;
static bool stamps;	 /* log_set_timestamps: on stderr too */
static int file_fd = -1; /* --log-file, or -1 */
static char *file_path;	 /* owned: for log_reopen_file */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* systemd sets JOURNAL_STREAM=dev:ino for the stream it connected; only when
 * that is really our stderr do we switch to <N> prefixes. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level)
{
	cur_level = level;
	journal = stderr_is_journal();
}

void log_set_level(enum log_level level)
{
	cur_level = level;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

bool log_enabled(enum log_level level)
{
	return level <= cur_level;
}

void log_set_timestamps(bool on)
{
	stamps = on;
}

static int open_append(const char *path, int *fd_r, struct error *err)
{
	*fd_r = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (*fd_r < 0) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "--log-file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int log_open_file(const char *path, struct error *err)
{
	int fd;

	if (open_append(path, &fd, err) < 0)
		return -1;
	pthread_mutex_lock(&log_lock);
	if (file_fd >= 0)
		close(file_fd);
	file_fd = fd;
	free(file_path);
	file_path = xstrdup(path);
	pthread_mutex_unlock(&log_lock);
	return 0;
}

/* A rotated file (renamed away by logrotate) is closed, and lines go to a
 * new one at the path. Until the new one opens, the old one keeps them. */
int log_reopen_file(struct error *err)
{
	char *path = NULL;
	int fd, ret = 0;

	pthread_mutex_lock(&log_lock);
	if (file_path)
		path = xstrdup(file_path);
	pthread_mutex_unlock(&log_lock);
	if (!path)
		return 0;
	ret = open_append(path, &fd, err);
	if (ret == 0) {
		pthread_mutex_lock(&log_lock);
		close(file_fd);
		file_fd = fd;
		pthread_mutex_unlock(&log_lock);
	}
	free(path);
	return ret;
}

bool log_to_file(void)
{
	bool on;

	pthread_mutex_lock(&log_lock);
	on = file_fd >= 0;
	pthread_mutex_unlock(&log_lock);
	return on;
}

/* Local time, ISO 8601 with milliseconds and the offset:
 * "2026-12-08T14:03:07.412+01:00". */
static void timestamp(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	char zone[8];
	size_t n;

	gettimeofday(&tv, NULL);
	if (!localtime_r(&tv.tv_sec, &tm) || !(n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm))) {
		snprintf(buf, size, "?");
		return;
	}
	if (!strftime(zone, sizeof(zone), "%z", &tm) || strlen(zone) != 5)
		snprintf(zone, sizeof(zone), "+0000");
	snprintf(buf + n, size - n, ".%03ld%.3s:%s", (long)(tv.tv_usec / 1000), zone, zone + 3);
}

/* Under log_lock. A line that cannot be written is lost: there is no
 * better place to say so. */
static void emit(enum log_level level, const char *line, bool file)
{
	static const int prio[] = {3, 4, 6, 7, 7};
	static const char *const word[] = {"error: ", "warning: ", "", "", ""};
	char ts[48] = "", out[8400];
	int n;

	if (file || (stamps && !journal))
		timestamp(ts, sizeof(ts));
	if (file) {
		n = snprintf(out, sizeof(out), "%s gmaildir: %s%s\n", ts, word[level], line);
		if (n >= (int)sizeof(out)) { /* cut short: still one whole line */
			n = (int)sizeof(out) - 1;
			out[n - 1] = '\n';
		}
		if (n > 0)
			(void)!fs_write_all(file_fd, out, (size_t)n);
	} else if (journal) {
		fprintf(stderr, "<%d>%s\n", prio[level], line);
	} else {
		fprintf(stderr, "%s%sgmaildir: %s%s\n", ts, ts[0] ? " " : "", word[level], line);
	}
	if (!file)
		fflush(stderr);
}

static void log_line(enum log_level level, bool file_only, const char *fmt, va_list ap)
{
	char line[8192];

	vsnprintf(line, sizeof(line), fmt, ap);
	pthread_mutex_lock(&log_lock);
	if (file_fd >= 0)
		emit(level, line, true);
	else if (!file_only)
		emit(level, line, false);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_line(level, false, fmt, ap);
	va_end(ap);
}

void log_file_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_line(level, true, fmt, ap);
	va_end(ap);
}
