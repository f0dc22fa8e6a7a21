#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static enum log_level cur_level = LOG_LVL_INFO;
static bool journal;
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

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = {3, 4, 6, 7, 7};
	static const char *const word[] = {"error: ", "warning: ", "", "", ""};
	char line[8192];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	if (journal)
		fprintf(stderr, "<%d>%s\n", prio[level], line);
	else
		fprintf(stderr, "gmaildir: %s%s\n", word[level], line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
