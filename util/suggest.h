/* "Did you mean ...?": the closest of a list of known words to one that is
 * not among them (a misspelt config key or command). Pure functions. */
#ifndef GMAILDIR_UTIL_SUGGEST_H
#define GMAILDIR_UTIL_SUGGEST_H

#include <stddef.h>

/* The optimal string alignment distance of a and b: insertions, deletions,
 * substitutions and swaps of two neighbours count one each, ASCII case is
 * ignored. Words longer than 64 bytes are "far" (SIZE_MAX). */
size_t suggest_distance(const char *a, const char *b);

/* The word of words[0..n) (each the first member, a const char *, of an
 * element stride bytes apart: an array of strings, or of structs that
 * start with their name) closest to word, when it is close enough to be
 * the one meant: at most 2 edits, and fewer than half of its length. NULL
 * when none is (borrowed from words otherwise). */
const char *suggest_closest(const char *word, const void *words, size_t n, size_t stride);

#endif
