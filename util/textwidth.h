/* Text for a terminal: how many columns a UTF-8 string takes, and a copy
 * of it that is safe to print. Names come from servers and from disk, so
 * they are taken as UTF-8 whatever the user's locale, and invalid bytes
 * never stop the show: each is shown as one '?'. Pure functions. */
#ifndef GMAILDIR_UTIL_TEXTWIDTH_H
#define GMAILDIR_UTIL_TEXTWIDTH_H

#include <stddef.h>

/* Columns on a terminal of s as textwidth_clean() prints it: 2 for a wide
 * (CJK, fullwidth) character, 0 for a combining mark, 1 for everything
 * else, including each '?' that stands for a control or an invalid byte. */
size_t textwidth(const char *s);

/* A copy of s in which every C0 or C1 control, DEL, and every byte that is
 * not part of valid UTF-8 is one '?': a server's folder name must not drive
 * the terminal. The caller frees the result. */
char *textwidth_clean(const char *s);

#endif
