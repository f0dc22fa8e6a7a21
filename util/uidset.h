/* Compact IMAP UID sets ("1:3,7,9:12") built from arrays of UIDs. Pure
 * functions, no I/O, no libetpan: imap/imap.c turns the runs into a
 * struct mailimap_set itself.
 *
 * A "run" is a maximal range of consecutive UIDs. Unless a comment says
 * otherwise the array must be sorted ascending without duplicates (see
 * uidset_normalize) and hold no 0 (UID 0 does not exist in IMAP). */
#ifndef GMAILDIR_UTIL_UIDSET_H
#define GMAILDIR_UTIL_UIDSET_H

#include <stddef.h>
#include <stdint.h>

/* Sorts uids ascending and removes duplicates and zeros, in place.
 * Returns the new count. Accepts any array. */
size_t uidset_normalize(uint32_t *uids, size_t n);

/* Reads the run that starts at *pos: sets *lo_r and *hi_r and advances *pos
 * past it. Returns 1 when a run was read, 0 when *pos >= n. */
int uidset_next_run(const uint32_t *uids, size_t n, size_t *pos, uint32_t *lo_r, uint32_t *hi_r);

/* Number of runs in uids. */
size_t uidset_count_runs(const uint32_t *uids, size_t n);

/* Length of the longest prefix of uids that holds at most max_runs runs
 * (max_runs > 0), so that a long list can be sent as several commands of
 * bounded length. Returns n when the whole array fits. */
size_t uidset_prefix_len(const uint32_t *uids, size_t n, size_t max_runs);

/* Formats uids as an IMAP sequence set: "1:3,7,9:12". Returns a malloc'd
 * string the caller frees; "" when n is 0. */
char *uidset_format(const uint32_t *uids, size_t n);

/* Parses an IMAP UID set of numbers and ranges ("1:3,7,12:9"; no "*") into
 * a sorted, duplicate-free array. A range may be written high:low. At most
 * max UIDs are produced: a bigger set is an error (a server could announce
 * 1:4294967295). Returns 0 ok (*uids_r malloc'd, the caller frees; NULL
 * when *n_r is 0), -1 on a syntax error or too many UIDs. */
int uidset_parse(const char *s, size_t max, uint32_t **uids_r, size_t *n_r);

#endif
