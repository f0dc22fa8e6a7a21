#include "util/crashpoint.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static long crash_at; /* 0: never */
static const char *log_path;
static atomic_long steps;

static void read_env(void)
{
	const char *v = getenv("GMAILDIR_CRASH_AT");

	crash_at = v ? strtol(v, NULL, 10) : 0;
	log_path = getenv("GMAILDIR_CRASH_LOG");
}

void crashpoint(const char *what)
{
	long k;

	pthread_once(&once, read_env);
	if (!crash_at && !log_path)
		return;
	k = atomic_fetch_add(&steps, 1) + 1;
	if (log_path) {
		FILE *f = fopen(log_path, "a");

		if (f) {
			fprintf(f, "%ld %s\n", k, what);
			fclose(f);
		}
	}
	if (k == crash_at)
		raise(SIGKILL);
}
