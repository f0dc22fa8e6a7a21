/* Facts about the account as a whole, as key/value pairs: the identity and
 * the path of the Maildir the state belongs to (sync/claim.c). */
#include "store/state.h"

#include <stdlib.h>

#include "store/state_p.h"

int state_meta_get(struct state *st, const char *key, char **value_r, struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_META_GET, "SELECT value FROM meta WHERE key = ?1", err);
	int rc = -1;

	*value_r = NULL;
	if (!s)
		return -1;
	if (state_bind_text(s, 1, key) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	rc = state_step_row(st, s, err);
	if (rc == 1)
		*value_r = state_column_text(s, 0);
out:
	state_stmt_done(s);
	return rc;
}

int state_meta_put(struct state *st, const char *key, const char *value, struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, SQL_META_PUT,
				     "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", err);
	int ret = -1;

	if (!s)
		return -1;
	if (state_bind_text(s, 1, key) != SQLITE_OK || state_bind_text(s, 2, value) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	ret = state_step_done(st, s, err);
out:
	state_stmt_done(s);
	return ret;
}
