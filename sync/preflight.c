/* The local paths of an account, checked before anything is connected or
 * written (engine_check_local): a Maildir root that is a file, or that
 * cannot be made or written, would otherwise be found after the login, by
 * every folder in turn. The message names the config key, the path, what
 * is wrong and what to do. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/engine.h"
#include "util/dircheck.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* What the user can do about r, for the key "accounts.NAME.KEY". */
static void say(const struct account_conf *acct, const char *key, const char *path,
		const struct dircheck *r, struct error *err)
{
	const char *why = strerror(r->sys_errno);
	char head[128];

	snprintf(head, sizeof(head), "accounts.%s.%s", acct->name, key);
	switch (r->problem) {
	case DIRCHECK_NOT_DIR:
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "%s: %s is not a directory; set %s: to a directory (it is created "
			  "when missing), or move what is there away",
			  head, path, key);
		break;
	case DIRCHECK_DANGLING:
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "%s: %s is a symbolic link to nothing; point it at a directory, or set "
			  "%s: to one",
			  head, path, key);
		break;
	case DIRCHECK_PARENT_NOT_DIR:
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "%s: %s cannot be created: %s is not a directory; set %s: to a path "
			  "under a directory",
			  head, path, r->where, key);
		break;
	case DIRCHECK_NO_ACCESS:
		if (r->exists)
			error_set(err, ERR_CONFIG, RETRY_NEVER,
				  "%s: %s is not writable by this user (%s); give it to this "
				  "user (chown $USER %s && chmod 700 %s), or set %s: to a "
				  "directory of yours",
				  head, path, why, path, path, key);
		else
			error_set(err, ERR_CONFIG, RETRY_NEVER,
				  "%s: %s cannot be created: this user may not write in %s (%s); "
				  "create it for this user (mkdir -p %s && chown $USER %s), or set "
				  "%s: to a path in a directory of yours",
				  head, path, r->where, why, path, path, key);
		break;
	case DIRCHECK_READ_ONLY:
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "%s: %s cannot be written: %s: %s; mount it read-write or set %s: "
			  "elsewhere. Under the systemd user unit only ~/Mail and "
			  "~/.local/state/gmaildir are writable: add ReadWritePaths=%s under "
			  "[Service] with systemctl --user edit gmaildir (or gmaildir@%s)",
			  head, path, r->where, why, key, path, acct->name);
		break;
	default:
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "%s: cannot check %s (%s: %s); set %s: to a directory this user can "
			  "write",
			  head, path, r->where, why, key);
		break;
	}
}

/* The state database, when there is one, must be writable as well. */
static int check_state_db(const struct account_conf *acct, struct error *err)
{
	char *db = fs_join(acct->state_dir, "state.db");
	struct dircheck r;
	int ret = dircheck_file(db, &r);

	if (ret < 0 && r.problem == DIRCHECK_READ_ONLY)
		say(acct, "state_dir", acct->state_dir, &r, err);
	else if (ret < 0)
		error_set(err, ERR_CONFIG, RETRY_NEVER,
			  "accounts.%s.state_dir: %s is not writable by this user (%s); give it "
			  "to this user (chown $USER %s && chmod 600 %s)",
			  acct->name, db, strerror(r.sys_errno), db, db);
	free(db);
	return ret;
}

int engine_check_local_path(const struct account_conf *acct, bool state, struct error *err)
{
	const char *key = state ? "state_dir" : "maildir";
	const char *path = state ? acct->state_dir : acct->maildir;
	struct dircheck r;

	if (dircheck_dir(path, &r) < 0) {
		say(acct, key, path, &r, err);
		return -1;
	}
	return state && r.exists ? check_state_db(acct, err) : 0;
}

int engine_check_local(const struct account_conf *acct, struct error *err)
{
	if (engine_check_local_path(acct, false, err) < 0)
		return -1;
	return engine_check_local_path(acct, true, err);
}
