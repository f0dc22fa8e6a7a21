/* The folders table. */
#include "store/state.h"

#include <stdlib.h>
#include <string.h>

#include "store/state_p.h"

#define FOLDER_COLUMNS                                                                             \
	"id, remote, local_path, role, uidvalidity, uidnext, highestmodseq, local_stamp, "         \
	"last_sync, last_error, last_error_at"

void state_folder_clear(struct state_folder *f)
{
	if (!f)
		return;
	free(f->remote);
	free(f->local_path);
	free(f->role);
	free(f->last_error);
	memset(f, 0, sizeof(*f));
}

/* The row in FOLDER_COLUMNS order into a struct state_folder (void *: a
 * state_load_rows reader). 64-bit unsigned values are stored as their
 * signed bit pattern. */
static void read_folder(sqlite3_stmt *s, void *elem)
{
	struct state_folder *f = elem;

	f->id = sqlite3_column_int64(s, 0);
	f->remote = state_column_text(s, 1);
	f->local_path = state_column_text(s, 2);
	f->role = state_column_text(s, 3);
	f->uidvalidity = (uint32_t)sqlite3_column_int64(s, 4);
	f->uidnext = (uint32_t)sqlite3_column_int64(s, 5);
	f->highestmodseq = (uint64_t)sqlite3_column_int64(s, 6);
	f->local_stamp = (uint64_t)sqlite3_column_int64(s, 7);
	f->last_sync = (time_t)sqlite3_column_int64(s, 8);
	f->last_error = state_column_text(s, 9);
	f->last_error_at = (time_t)sqlite3_column_int64(s, 10); /* NULL reads as 0 */
}

int state_folder_get(struct state *st, const char *remote, struct state_folder *f_r,
		     struct error *err)
{
	sqlite3_stmt *s = state_stmt(
	    st, SQL_FOLDER_GET, "SELECT " FOLDER_COLUMNS " FROM folders WHERE remote = ?1", err);
	int rc = -1;

	memset(f_r, 0, sizeof(*f_r));
	if (!s)
		return -1;
	if (state_bind_text(s, 1, remote) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	rc = state_step_row(st, s, err);
	if (rc == 1)
		read_folder(s, f_r);
out:
	state_stmt_done(s);
	return rc;
}

/* Parameters ?1..?10 in FOLDER_COLUMNS order, without the id. A time
 * without an error is not stored: the engine clears last_error alone. */
static int bind_folder(sqlite3_stmt *s, const struct state_folder *f)
{
	int rc = state_bind_text(s, 1, f->remote);

	if (rc == SQLITE_OK)
		rc = state_bind_text(s, 2, f->local_path);
	if (rc == SQLITE_OK)
		rc = state_bind_text(s, 3, f->role);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 4, f->uidvalidity);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 5, f->uidnext);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 6, (sqlite3_int64)f->highestmodseq);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 7, (sqlite3_int64)f->local_stamp);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 8, (sqlite3_int64)f->last_sync);
	if (rc == SQLITE_OK)
		rc = state_bind_text(s, 9, f->last_error);
	if (rc == SQLITE_OK && f->last_error && f->last_error_at)
		rc = sqlite3_bind_int64(s, 10, (sqlite3_int64)f->last_error_at);
	else if (rc == SQLITE_OK)
		rc = sqlite3_bind_null(s, 10);
	return rc;
}

static int folder_insert(struct state *st, struct state_folder *f, struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, SQL_FOLDER_INSERT,
				     "INSERT INTO folders(remote, local_path, role, uidvalidity, "
				     "uidnext, highestmodseq, local_stamp, last_sync, last_error, "
				     "last_error_at) "
				     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
				     err);
	int ret = -1;

	if (!s)
		return -1;
	if (bind_folder(s, f) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	if (state_step_done(st, s, err) < 0)
		goto out;
	f->id = sqlite3_last_insert_rowid(st->db);
	ret = 0;
out:
	state_stmt_done(s);
	return ret;
}

static int folder_update(struct state *st, const struct state_folder *f, struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, SQL_FOLDER_UPDATE,
				     "UPDATE folders SET remote = ?1, local_path = ?2, role = ?3, "
				     "uidvalidity = ?4, uidnext = ?5, highestmodseq = ?6, "
				     "local_stamp = ?7, last_sync = ?8, last_error = ?9, "
				     "last_error_at = ?10 WHERE id = ?11",
				     err);
	int ret = -1;

	if (!s)
		return -1;
	if (bind_folder(s, f) != SQLITE_OK || sqlite3_bind_int64(s, 11, f->id) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	if (state_step_done(st, s, err) < 0)
		goto out;
	if (sqlite3_changes(st->db) == 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "state.db: no folder with id %lld",
			  (long long)f->id);
		goto out;
	}
	ret = 0;
out:
	state_stmt_done(s);
	return ret;
}

/* The time is taken here rather than by SQLite so that it reads the same
 * clock as last_sync (time(NULL) in the engine). */
int state_folder_set_error(struct state *st, int64_t folder_id, const char *message,
			   struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_FOLDER_SET_ERROR,
		       "UPDATE folders SET last_error = ?1, last_error_at = ?2 WHERE id = ?3", err);
	int rc, ret = -1;

	if (!s)
		return -1;
	rc = state_bind_text(s, 1, message);
	if (rc == SQLITE_OK && message)
		rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
	else if (rc == SQLITE_OK)
		rc = sqlite3_bind_null(s, 2);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 3, folder_id);
	if (rc != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	ret = state_step_done(st, s, err);
out:
	state_stmt_done(s);
	return ret;
}

int state_folder_put(struct state *st, struct state_folder *f, struct error *err)
{
	return f->id == 0 ? folder_insert(st, f, err) : folder_update(st, f, err);
}

static void clear_folder(void *elem)
{
	state_folder_clear(elem);
}

int state_folders_list(struct state *st, struct state_folder **folders_r, size_t *n_r,
		       struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, SQL_FOLDER_LIST,
				     "SELECT " FOLDER_COLUMNS " FROM folders ORDER BY remote", err);
	void *v = NULL;
	int ret;

	if (!s)
		return -1;
	ret = state_load_rows(st, s, sizeof(struct state_folder), read_folder, clear_folder, &v,
			      n_r, err);
	if (ret == 0)
		*folders_r = v;
	state_stmt_done(s);
	return ret;
}

void state_folders_free(struct state_folder *folders, size_t n)
{
	for (size_t i = 0; i < n; i++)
		state_folder_clear(&folders[i]);
	free(folders);
}

/* Pairs, intents and local-only keys go with it (ON DELETE CASCADE). */
int state_folder_delete(struct state *st, int64_t folder_id, struct error *err)
{
	return state_run_ints(st, SQL_FOLDER_DELETE, "DELETE FROM folders WHERE id = ?1",
			      &folder_id, 1, err);
}
