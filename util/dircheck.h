/* Whether a directory this process must write into (a Maildir root, a
 * state directory) can be used, or made where it is missing: found before
 * anything is connected or written, so that a wrong path is said once, up
 * front, instead of by every folder after the login.
 *
 * Nothing is created: the answer comes from stat(2) and faccessat(2) with
 * the effective ids, which see modes, ACLs, read-only mounts (also the
 * ones systemd's ProtectSystem= makes) and immutable files. */
#ifndef GMAILDIR_UTIL_DIRCHECK_H
#define GMAILDIR_UTIL_DIRCHECK_H

#include <stdbool.h>

enum dircheck_problem {
	DIRCHECK_OK = 0,
	DIRCHECK_NOT_DIR,	 /* the path is there, but not a directory */
	DIRCHECK_DANGLING,	 /* a symbolic link to nothing */
	DIRCHECK_PARENT_NOT_DIR, /* missing, and an existing ancestor is a file */
	DIRCHECK_NO_ACCESS,	 /* the directory (or the ancestor it is made in) refuses us */
	DIRCHECK_READ_ONLY,	 /* ... is on a read-only file system */
	DIRCHECK_ERROR,		 /* stat or access failed otherwise: see sys_errno */
};

struct dircheck {
	enum dircheck_problem problem;
	bool exists;	  /* the directory itself is there */
	char where[4096]; /* the path the problem is with: the directory, or
			   * the nearest existing ancestor it would be made in */
	int sys_errno;	  /* errno behind NO_ACCESS, READ_ONLY and ERROR */
};

/* Fills *r for path (a directory to be read and written; created with its
 * missing parents when absent). Returns 0 when usable, -1 when not (then
 * r->problem says why). */
int dircheck_dir(const char *path, struct dircheck *r);

/* The same for a file that exists and must be read and written (a
 * database): 0 usable or absent, -1 not (NO_ACCESS, READ_ONLY, ERROR). */
int dircheck_file(const char *path, struct dircheck *r);

#endif
