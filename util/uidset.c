#include "util/uidset.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

size_t uidset_normalize(uint32_t *uids, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(uids, n, sizeof(*uids), cmp_u32);
	for (size_t i = 0; i < n; i++) {
		if (uids[i] == 0 || (out > 0 && uids[out - 1] == uids[i]))
			continue;
		uids[out++] = uids[i];
	}
	return out;
}

int uidset_next_run(const uint32_t *uids, size_t n, size_t *pos, uint32_t *lo_r, uint32_t *hi_r)
{
	size_t i = *pos;

	if (i >= n)
		return 0;
	*lo_r = uids[i];
	/* uids[i] + 1 cannot overflow inside a run: UINT32_MAX ends any run. */
	while (i + 1 < n && uids[i] != UINT32_MAX && uids[i + 1] == uids[i] + 1)
		i++;
	*hi_r = uids[i];
	*pos = i + 1;
	return 1;
}

size_t uidset_count_runs(const uint32_t *uids, size_t n)
{
	size_t pos = 0, runs = 0;
	uint32_t lo, hi;

	while (uidset_next_run(uids, n, &pos, &lo, &hi))
		runs++;
	return runs;
}

size_t uidset_prefix_len(const uint32_t *uids, size_t n, size_t max_runs)
{
	size_t pos = 0, runs = 0;
	uint32_t lo, hi;

	while (runs < max_runs && uidset_next_run(uids, n, &pos, &lo, &hi))
		runs++;
	return pos;
}

char *uidset_format(const uint32_t *uids, size_t n)
{
	/* "4294967295:4294967295," is 22 bytes: a run never needs more. */
	size_t cap = uidset_count_runs(uids, n) * 22 + 1, len = 0, pos = 0;
	char *buf = xmalloc(cap);
	uint32_t lo, hi;

	buf[0] = '\0';
	while (uidset_next_run(uids, n, &pos, &lo, &hi)) {
		const char *sep = len ? "," : "";

		if (lo == hi)
			len += (size_t)snprintf(buf + len, cap - len, "%s%" PRIu32, sep, lo);
		else
			len += (size_t)snprintf(buf + len, cap - len, "%s%" PRIu32 ":%" PRIu32, sep,
						lo, hi);
	}
	return buf;
}

/* Reads one UID (1..UINT32_MAX) at *s and advances *s past it. */
static int parse_uid(const char **s, uint32_t *uid_r)
{
	char *end;
	unsigned long long v;

	if (**s < '0' || **s > '9')
		return -1;
	errno = 0;
	v = strtoull(*s, &end, 10);
	if (errno || v == 0 || v > UINT32_MAX)
		return -1;
	*s = end;
	*uid_r = (uint32_t)v;
	return 0;
}

/* Appends lo..hi to *arr, keeping the total at or below max. */
static int append_range(uint32_t **arr, size_t *n, size_t *cap, uint32_t lo, uint32_t hi,
			size_t max)
{
	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	if ((uint64_t)hi - lo + 1 > (uint64_t)(max - *n))
		return -1;
	*arr = xgrow(*arr, cap, *n + (size_t)(hi - lo) + 1, sizeof(**arr));
	for (uint64_t u = lo; u <= hi; u++)
		(*arr)[(*n)++] = (uint32_t)u;
	return 0;
}

int uidset_parse(const char *s, size_t max, uint32_t **uids_r, size_t *n_r)
{
	uint32_t *arr = NULL, lo, hi;
	size_t n = 0, cap = 0;

	while (*s) {
		if (parse_uid(&s, &lo) < 0)
			goto fail;
		hi = lo;
		if (*s == ':' && (s++, parse_uid(&s, &hi) < 0))
			goto fail;
		if (append_range(&arr, &n, &cap, lo, hi, max) < 0)
			goto fail;
		if (*s == ',' && s[1] != '\0')
			s++;
		else if (*s != '\0')
			goto fail;
	}
	n = uidset_normalize(arr, n);
	*uids_r = n ? arr : NULL;
	if (!n)
		free(arr);
	*n_r = n;
	return 0;
fail:
	free(arr);
	return -1;
}
