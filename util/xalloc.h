/* Allocation that never fails to the caller: on out-of-memory the process
 * aborts with a message, so callers never carry an OOM error path. */
#ifndef GMAILDIR_UTIL_XALLOC_H
#define GMAILDIR_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grows an array of nmemb elements of size to at least need elements; the
 * capacity doubles. *cap_r is updated. */
void *xgrow(void *ptr, size_t *cap_r, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a malloc'd formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipes the string *s holds (a password, a token) before freeing it, and
 * NULLs *s. Accepts NULL in *s. */
void xfree_secret(char **s);

/* qsort and bsearch for arrays that may be empty and then NULL (growing
 * arrays start so): passing NULL to the libc ones is undefined behaviour
 * even with no element, and UBSan stops on it. */
void xqsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
void *xbsearch(const void *key, const void *base, size_t n, size_t size,
	       int (*cmp)(const void *, const void *));

#endif
