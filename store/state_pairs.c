/* The pairs table: the base of the three-way merge (DESIGN.md §3, §4). */
#include "store/state.h"

#include <stdlib.h>
#include <string.h>

#include "store/state_p.h"
#include "util/xalloc.h"

#define PAIR_COLUMNS "uid, key, flags, keywords, size, message_id, gm_msgid"

void state_pair_clear(struct state_pair *p)
{
	if (!p)
		return;
	free(p->key);
	free(p->keywords);
	free(p->message_id);
	memset(p, 0, sizeof(*p));
}

/* The row in PAIR_COLUMNS order, starting at column col. */
static void read_pair(sqlite3_stmt *s, int col, struct state_pair *p)
{
	p->uid = (uint32_t)sqlite3_column_int64(s, col);
	p->key = state_column_text(s, col + 1);
	p->flags = (unsigned)sqlite3_column_int64(s, col + 2);
	p->keywords = state_column_text(s, col + 3);
	p->size = (uint64_t)sqlite3_column_int64(s, col + 4);
	p->message_id = state_column_text(s, col + 5);
	p->gm_msgid = (uint64_t)sqlite3_column_int64(s, col + 6); /* NULL reads as 0 */
}

/* state_load_rows callbacks: a whole row into a struct state_pair. */
static void read_pair_row(sqlite3_stmt *s, void *elem)
{
	read_pair(s, 0, elem);
}

static void clear_pair(void *elem)
{
	state_pair_clear(elem);
}

/* ?1 folder, ?2..?8 in PAIR_COLUMNS order; gm_msgid 0 is stored as NULL
 * so that the partial index holds only Gmail messages. */
static int bind_pair(sqlite3_stmt *s, int64_t folder_id, const struct state_pair *p)
{
	int rc = sqlite3_bind_int64(s, 1, folder_id);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, p->uid);
	if (rc == SQLITE_OK)
		rc = state_bind_text(s, 3, p->key);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 4, p->flags);
	if (rc == SQLITE_OK)
		rc = state_bind_text(s, 5, p->keywords);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 6, (sqlite3_int64)p->size);
	if (rc == SQLITE_OK)
		rc = state_bind_text(s, 7, p->message_id);
	if (rc == SQLITE_OK && p->gm_msgid)
		rc = sqlite3_bind_int64(s, 8, (sqlite3_int64)p->gm_msgid);
	else if (rc == SQLITE_OK)
		rc = sqlite3_bind_null(s, 8);
	return rc;
}

/* An upsert on (folder, uid) rather than INSERT OR REPLACE: REPLACE would
 * also silently delete another pair holding the same key, where a key
 * clash must be an error. */
int state_pair_put(struct state *st, int64_t folder_id, const struct state_pair *p,
		   struct error *err)
{
	sqlite3_stmt *s = state_stmt(
	    st, SQL_PAIR_PUT,
	    "INSERT INTO pairs(folder_id, " PAIR_COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
	    "ON CONFLICT(folder_id, uid) DO UPDATE SET key = excluded.key, "
	    "flags = excluded.flags, keywords = excluded.keywords, size = excluded.size, "
	    "message_id = excluded.message_id, gm_msgid = excluded.gm_msgid",
	    err);
	int ret = -1;

	if (!s)
		return -1;
	if (bind_pair(s, folder_id, p) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	ret = state_step_done(st, s, err);
out:
	state_stmt_done(s);
	return ret;
}

int state_pair_set_flags(struct state *st, int64_t folder_id, uint32_t uid, unsigned flags,
			 struct error *err)
{
	return state_run_ints(st, SQL_PAIR_SET_FLAGS,
			      "UPDATE pairs SET flags = ?3 WHERE folder_id = ?1 AND uid = ?2",
			      (int64_t[]){folder_id, uid, flags}, 3, err);
}

int state_pair_delete(struct state *st, int64_t folder_id, uint32_t uid, struct error *err)
{
	return state_run_ints(st, SQL_PAIR_DELETE,
			      "DELETE FROM pairs WHERE folder_id = ?1 AND uid = ?2",
			      (int64_t[]){folder_id, uid}, 2, err);
}

int state_pairs_clear(struct state *st, int64_t folder_id, struct error *err)
{
	return state_run_ints(st, SQL_PAIR_CLEAR, "DELETE FROM pairs WHERE folder_id = ?1",
			      (int64_t[]){folder_id}, 1, err);
}

int state_pairs_load(struct state *st, int64_t folder_id, struct state_pair **pairs_r, size_t *n_r,
		     struct error *err)
{
	void *v = NULL;

	if (state_load_folder_rows(
		st, SQL_PAIR_LOAD,
		"SELECT " PAIR_COLUMNS " FROM pairs WHERE folder_id = ?1 ORDER BY uid", folder_id,
		sizeof(struct state_pair), read_pair_row, clear_pair, &v, n_r, err) < 0)
		return -1;
	*pairs_r = v;
	return 0;
}

int state_pairs_load_uids(struct state *st, int64_t folder_id, const uint32_t *uids, size_t n,
			  struct state_pair **pairs_r, size_t *n_r, struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_PAIR_BY_UID,
		       "SELECT " PAIR_COLUMNS " FROM pairs WHERE folder_id = ?1 AND uid = ?2", err);
	struct state_pair *v = xcalloc(n ? n : 1, sizeof(*v));
	size_t found = 0;
	int rc = 0;

	if (!s) {
		free(v);
		return -1;
	}
	for (size_t i = 0; i < n && rc >= 0; i++) {
		sqlite3_reset(s);
		if (sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 2, uids[i]) != SQLITE_OK) {
			rc = state_db_error(st, err);
			break;
		}
		rc = state_step_row(st, s, err);
		if (rc == 1)
			read_pair(s, 0, &v[found++]);
	}
	state_stmt_done(s);
	if (rc < 0) {
		state_pairs_free(v, found);
		return -1;
	}
	*pairs_r = v;
	*n_r = found;
	return 0;
}

void state_pairs_free(struct state_pair *pairs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		state_pair_clear(&pairs[i]);
	free(pairs);
}

int state_pair_count(struct state *st, int64_t folder_id, size_t *n_r, struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_PAIR_COUNT, "SELECT count(*) FROM pairs WHERE folder_id = ?1", err);
	int ret = -1;

	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	if (state_step_row(st, s, err) != 1)
		goto out;
	*n_r = (size_t)sqlite3_column_int64(s, 0);
	ret = 0;
out:
	state_stmt_done(s);
	return ret;
}

int state_pair_by_key(struct state *st, int64_t folder_id, const char *key, struct state_pair *p_r,
		      struct error *err)
{
	sqlite3_stmt *s =
	    state_stmt(st, SQL_PAIR_BY_KEY,
		       "SELECT " PAIR_COLUMNS " FROM pairs WHERE folder_id = ?1 AND key = ?2", err);
	int rc = -1;

	memset(p_r, 0, sizeof(*p_r));
	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK ||
	    state_bind_text(s, 2, key) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	rc = state_step_row(st, s, err);
	if (rc == 1)
		read_pair(s, 0, p_r);
out:
	state_stmt_done(s);
	return rc;
}

/* A Gmail message sits in several folders: the one with the lowest folder
 * id (then UID) is returned, so the answer is stable. */
int state_pair_by_gm_msgid(struct state *st, uint64_t gm_msgid, int64_t *folder_id_r,
			   struct state_pair *p_r, struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, SQL_PAIR_BY_GM_MSGID,
				     "SELECT folder_id, " PAIR_COLUMNS " FROM pairs "
				     "WHERE gm_msgid = ?1 ORDER BY folder_id, uid LIMIT 1",
				     err);
	int rc = -1;

	memset(p_r, 0, sizeof(*p_r));
	if (!s)
		return -1;
	if (gm_msgid == 0) {
		rc = 0;
		goto out;
	}
	if (sqlite3_bind_int64(s, 1, (sqlite3_int64)gm_msgid) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	rc = state_step_row(st, s, err);
	if (rc == 1) {
		*folder_id_r = sqlite3_column_int64(s, 0);
		read_pair(s, 1, p_r);
	}
out:
	state_stmt_done(s);
	return rc;
}
