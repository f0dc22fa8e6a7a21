/* The intents table: work in flight, recorded before it touches a replica
 * (DESIGN.md §5). */
#include "store/state.h"

#include <stdlib.h>
#include <string.h>

#include "store/state_p.h"

#define INTENT_COLUMNS "id, folder_id, kind, uid, key, extra, created"

void state_intent_clear(struct state_intent *in)
{
	if (!in)
		return;
	free(in->key);
	free(in->extra);
	memset(in, 0, sizeof(*in));
}

/* The row in INTENT_COLUMNS order into a struct state_intent (void *: a
 * state_load_rows reader). */
static void read_intent(sqlite3_stmt *s, void *elem)
{
	struct state_intent *in = elem;

	in->id = sqlite3_column_int64(s, 0);
	in->folder_id = sqlite3_column_int64(s, 1);
	in->kind = (enum intent_kind)sqlite3_column_int(s, 2);
	in->uid = (uint32_t)sqlite3_column_int64(s, 3);
	in->key = state_column_text(s, 4);
	in->extra = state_column_text(s, 5);
	in->created = (time_t)sqlite3_column_int64(s, 6);
}

static int bind_intent(sqlite3_stmt *s, const struct state_intent *in)
{
	int rc = sqlite3_bind_int64(s, 1, in->folder_id);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 2, (int)in->kind);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 3, in->uid);
	if (rc == SQLITE_OK)
		rc = state_bind_text(s, 4, in->key);
	if (rc == SQLITE_OK)
		rc = state_bind_text(s, 5, in->extra);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 6, (sqlite3_int64)time(NULL));
	return rc;
}

int state_intent_add(struct state *st, const struct state_intent *in, int64_t *id_r,
		     struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_INTENT_ADD,
		       "INSERT INTO intents(folder_id, kind, uid, key, extra, created) "
		       "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
		       err);
	int ret = -1;

	if (!s)
		return -1;
	if (bind_intent(s, in) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	if (state_step_done(st, s, err) < 0)
		goto out;
	if (id_r)
		*id_r = sqlite3_last_insert_rowid(st->db);
	ret = 0;
out:
	state_stmt_done(s);
	return ret;
}

int state_intent_done(struct state *st, int64_t id, struct error *err)
{
	return state_run_ints(st, SQL_INTENT_DONE, "DELETE FROM intents WHERE id = ?1",
			      (int64_t[]){id}, 1, err);
}

/* Two statements rather than "?1 = 0 OR folder_id = ?1", which would keep
 * SQLite from using the (folder_id, id) index. */
static sqlite3_stmt *load_stmt(struct state *st, int64_t folder_id, struct error *err)
{
	if (folder_id == 0)
		return state_stmt(st, SQL_INTENT_LOAD_ALL,
				  "SELECT " INTENT_COLUMNS " FROM intents ORDER BY id", err);
	return state_stmt(st, SQL_INTENT_LOAD,
			  "SELECT " INTENT_COLUMNS " FROM intents WHERE folder_id = ?1 ORDER BY id",
			  err);
}

static void clear_intent(void *elem)
{
	state_intent_clear(elem);
}

/* Not state_load_folder_rows: folder id 0 picks another statement, ?1 unbound. */
int state_intents_load(struct state *st, int64_t folder_id, struct state_intent **intents_r,
		       size_t *n_r, struct error *err)
{
	sqlite3_stmt *s = load_stmt(st, folder_id, err);
	void *v = NULL;
	int ret = -1;

	if (!s)
		return -1;
	if (folder_id != 0 && sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	ret = state_load_rows(st, s, sizeof(struct state_intent), read_intent, clear_intent, &v,
			      n_r, err);
	if (ret == 0)
		*intents_r = v;
out:
	state_stmt_done(s);
	return ret;
}

void state_intents_free(struct state_intent *intents, size_t n)
{
	for (size_t i = 0; i < n; i++)
		state_intent_clear(&intents[i]);
	free(intents);
}
