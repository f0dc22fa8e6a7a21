/* Small file-system helpers with crash-safety in mind. All return 0 ok, -1
 * error (with the failing call and path in err). */
#ifndef GMAILDIR_UTIL_FS_H
#define GMAILDIR_UTIL_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* Creates path and its missing parents with mode; existing dirs are fine. */
int fs_mkdir_p(const char *path, mode_t mode, struct error *err);
/* fsync(2) of a directory, so that renames and creations in it are durable. */
int fs_fsync_dir(const char *path, struct error *err);
/* Writes all of buf to fd, retrying on EINTR and short writes. */
int fs_write_all(int fd, const void *buf, size_t len);
/* Joins a and b with one '/'; the caller frees the result. */
char *fs_join(const char *a, const char *b);
/* The user's home directory: $HOME, else the password database, else "/".
 * The string is borrowed (environment or static storage); not thread-safe
 * where it falls back to getpwuid: call it at start-up or on one thread. */
const char *fs_home_dir(void);
/* Expands a leading "~/" (or "~" alone) with $HOME; the caller frees. */
char *fs_expand_home(const char *path);

#endif
