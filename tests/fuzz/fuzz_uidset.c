/* Fuzzes util/uidset.h. The input is used twice:
 *  - as text for uidset_parse: what parses is sorted, duplicate-free,
 *    without 0 and at most max long, and format/parse gives it back;
 *  - as an array of UIDs (4 bytes each): normalize, then format, parse,
 *    run counting and the prefix split must agree with each other. */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>

#include "util/uidset.h"

static bool strictly_sorted(const uint32_t *u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (u[i] == 0 || (i > 0 && u[i - 1] >= u[i]))
			return false;
	return true;
}

/* format, parse back, and the run helpers, on a normalized array. */
static void check_array(const uint32_t *u, size_t n)
{
	char *text = uidset_format(u, n);
	uint32_t *back = NULL;
	size_t nb = 0, runs = uidset_count_runs(u, n), seen = 0;

	FUZZ_CHECK(uidset_parse(text, n, &back, &nb) == 0, "\"%s\" does not parse", text);
	FUZZ_CHECK(nb == n && (n == 0 || memcmp(back, u, n * sizeof(*u)) == 0),
		   "\"%s\" parses to another set", text);
	if (n > 0) {
		uint32_t *over = NULL;
		size_t no = 0;

		FUZZ_CHECK(uidset_parse(text, n - 1, &over, &no) < 0, "\"%s\" parsed with max %zu",
			   text, n - 1);
	}
	/* One run per comma-separated item. */
	for (const char *p = text; *p; p++)
		seen += *p == ',';
	FUZZ_CHECK(runs == (n ? seen + 1 : 0), "%zu runs, \"%s\"", runs, text);
	for (size_t k = 1; k <= runs + 1 && k < 8; k++) {
		size_t pre = uidset_prefix_len(u, n, k);

		FUZZ_CHECK(pre <= n && uidset_count_runs(u, pre) <= k, "prefix of %zu runs", k);
		FUZZ_CHECK(pre == n || uidset_count_runs(u, pre + 1) > k, "prefix %zu too short",
			   pre);
	}
	free(text);
	free(back);
}

static void check_text(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	uint32_t *u = NULL;
	size_t n = 0;
	/* At most 5,100: a range like 1:4294967295 is refused, not allocated. */
	size_t max = size ? (size_t)data[0] * 20 : 0;

	if (uidset_parse(s, max, &u, &n) == 0) {
		FUZZ_CHECK(n <= max, "%zu UIDs, max %zu", n, max);
		FUZZ_CHECK((n == 0) == (u == NULL), "NULL iff empty");
		FUZZ_CHECK(strictly_sorted(u, n), "parse gave an unsorted set");
		check_array(u, n);
	}
	free(u);
	free(s);
}

static void check_binary(const uint8_t *data, size_t size)
{
	size_t n = size / 4;
	uint32_t *u = malloc((n ? n : 1) * sizeof(*u));

	if (!u)
		abort();
	for (size_t i = 0; i < n; i++) {
		/* Small values on half the bytes, so that runs happen. */
		memcpy(&u[i], data + 4 * i, 4);
		if (data[4 * i] & 1)
			u[i] = (u[i] >> 1) % 64;
	}
	n = uidset_normalize(u, n);
	FUZZ_CHECK(strictly_sorted(u, n), "normalize gave an unsorted set");
	check_array(u, n);
	free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_text(data, size);
	check_binary(data, size);
	return 0;
}
