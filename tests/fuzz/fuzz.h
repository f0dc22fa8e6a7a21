/* What every libFuzzer harness of tests/fuzz/ shares: the entry point's
 * prototype and a check that turns a broken property into a crash that
 * libFuzzer reports (and saves the input of).
 *
 * The harnesses test the pure cores (STYLE.md rule 13): each links only the
 * library sources it needs, built with ASan+UBSan, and checks properties
 * (round trips, invariants), not just the absence of crashes. */
#ifndef GMAILDIR_TESTS_FUZZ_FUZZ_H
#define GMAILDIR_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message when cond is false: libFuzzer treats the abort as
 * a crash and writes the input to a crash-* file. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property broken: %s: ", __FILE__, __LINE__,        \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The input as a C string, cut at its first NUL (no name we parse can hold
 * one). The caller frees it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
