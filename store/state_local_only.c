/* Keys kept on disk after the server deleted their message (config
 * remote_deletions: keep): never uploaded again. */
#include "store/state.h"

#include <stdlib.h>

#include "store/state_p.h"

/* Runs a cached statement with ?1 folder and ?2 key. With row_r, the
 * statement answers at most one row and *row_r says whether it did. */
static int run_key_stmt(struct state *st, enum state_sql id, const char *sql, int64_t folder_id,
			const char *key, int *row_r, struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, id, sql, err);
	int rc = -1;

	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK ||
	    state_bind_text(s, 2, key) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	if (row_r) {
		rc = state_step_row(st, s, err);
		*row_r = rc;
	} else {
		rc = state_step_done(st, s, err);
	}
out:
	state_stmt_done(s);
	return rc < 0 ? -1 : 0;
}

int state_local_only_add(struct state *st, int64_t folder_id, const char *key, struct error *err)
{
	return run_key_stmt(st, SQL_LOCAL_ONLY_ADD,
			    "INSERT OR IGNORE INTO local_only(folder_id, key) VALUES(?1, ?2)",
			    folder_id, key, NULL, err);
}

int state_local_only_delete(struct state *st, int64_t folder_id, const char *key, struct error *err)
{
	return run_key_stmt(st, SQL_LOCAL_ONLY_DELETE,
			    "DELETE FROM local_only WHERE folder_id = ?1 AND key = ?2", folder_id,
			    key, NULL, err);
}

int state_local_only_has(struct state *st, int64_t folder_id, const char *key, struct error *err)
{
	int row = -1;

	if (run_key_stmt(st, SQL_LOCAL_ONLY_HAS,
			 "SELECT 1 FROM local_only WHERE folder_id = ?1 AND key = ?2", folder_id,
			 key, &row, err) < 0)
		return -1;
	return row;
}

/* state_load_rows callbacks: the key column into a char *. */
static void read_key(sqlite3_stmt *s, void *elem)
{
	*(char **)elem = state_column_text(s, 0);
}

static void clear_key(void *elem)
{
	free(*(char **)elem);
}

int state_local_only_load(struct state *st, int64_t folder_id, char ***keys_r, size_t *n_r,
			  struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_LOCAL_ONLY_LOAD,
		       "SELECT key FROM local_only WHERE folder_id = ?1 ORDER BY key", err);
	void *v = NULL;
	int ret = -1;

	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	ret = state_load_rows(st, s, sizeof(char *), read_key, clear_key, &v, n_r, err);
	if (ret == 0)
		*keys_r = v;
out:
	state_stmt_done(s);
	return ret;
}

void state_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}
