/* The files each folder's last scan ignored as not Maildir messages, so
 * that `gmaildir status` names them without scanning. */
#include "store/state.h"

#include <stdlib.h>

#include "store/state_p.h"

static int add_name(struct state *st, int64_t folder_id, const char *name, struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_IGNORED_ADD,
		       "INSERT OR IGNORE INTO ignored(folder_id, name) VALUES(?1, ?2)", err);
	int ret = -1;

	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK ||
	    state_bind_text(s, 2, name) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	ret = state_step_done(st, s, err);
out:
	state_stmt_done(s);
	return ret;
}

int state_ignored_set(struct state *st, int64_t folder_id, char *const *names, size_t n,
		      struct error *err)
{
	const int64_t id = folder_id;

	if (state_run_ints(st, SQL_IGNORED_CLEAR, "DELETE FROM ignored WHERE folder_id = ?1", &id,
			   1, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (add_name(st, folder_id, names[i], err) < 0)
			return -1;
	return 0;
}

static void read_name(sqlite3_stmt *s, void *elem)
{
	*(char **)elem = state_column_text(s, 0);
}

static void clear_name(void *elem)
{
	free(*(char **)elem);
}

int state_ignored_load(struct state *st, int64_t folder_id, char ***names_r, size_t *n_r,
		       struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_IGNORED_LOAD,
		       "SELECT name FROM ignored WHERE folder_id = ?1 ORDER BY name", err);
	void *v = NULL;
	int ret = -1;

	*names_r = NULL;
	*n_r = 0;
	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	ret = state_load_rows(st, s, sizeof(char *), read_name, clear_name, &v, n_r, err);
	if (ret == 0)
		*names_r = v;
out:
	state_stmt_done(s);
	return ret;
}
