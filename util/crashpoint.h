/* Crash points for the kill-at-every-step test (tests/integration/
 * t_crash_steps.sh). Every step that changes a replica or the state calls
 * crashpoint() right after it happened; with GMAILDIR_CRASH_AT=k in the
 * environment the process SIGKILLs itself at the k-th one, and
 * GMAILDIR_CRASH_LOG=file appends "k what" for each step taken, so a test
 * can count the steps of a scenario and then stop it at every one. Without
 * the variables it costs one load and a branch. */
#ifndef GMAILDIR_UTIL_CRASHPOINT_H
#define GMAILDIR_UTIL_CRASHPOINT_H

void crashpoint(const char *what);

#endif
