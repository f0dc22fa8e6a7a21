/* Internals shared by the state_*.c files: the connection, the cache of
 * prepared statements, and small SQLite helpers. */
#ifndef GMAILDIR_STORE_STATE_P_H
#define GMAILDIR_STORE_STATE_P_H

#include <sqlite3.h>

#include "store/state.h"

/* One slot per statement: each is prepared on first use and then reset and
 * reused for the life of the connection (pairs are a hot path). */
enum state_sql {
	SQL_BEGIN,
	SQL_COMMIT,
	SQL_ROLLBACK,
	SQL_FOLDER_GET,
	SQL_FOLDER_INSERT,
	SQL_FOLDER_UPDATE,
	SQL_FOLDER_LIST,
	SQL_FOLDER_DELETE,
	SQL_FOLDER_SET_ERROR,
	SQL_PAIR_PUT,
	SQL_PAIR_SET_FLAGS,
	SQL_PAIR_DELETE,
	SQL_PAIR_LOAD,
	SQL_PAIR_COUNT,
	SQL_PAIR_BY_KEY,
	SQL_PAIR_BY_UID,
	SQL_PAIR_BY_GM_MSGID,
	SQL_PAIR_CLEAR,
	SQL_INTENT_ADD,
	SQL_INTENT_DONE,
	SQL_INTENT_LOAD,
	SQL_INTENT_LOAD_ALL,
	SQL_LOCAL_ONLY_ADD,
	SQL_LOCAL_ONLY_HAS,
	SQL_LOCAL_ONLY_DELETE,
	SQL_LOCAL_ONLY_LOAD,
	SQL_META_GET,
	SQL_META_PUT,
	SQL_IGNORED_CLEAR,
	SQL_IGNORED_ADD,
	SQL_IGNORED_LOAD,
	SQL_HELD_CLEAR,
	SQL_HELD_ADD,
	SQL_HELD_LOAD,
	SQL_COUNT
};

struct state {
	sqlite3 *db;
	sqlite3_stmt *stmts[SQL_COUNT];
};

/* The cached statement for id, prepared from sql on first use. Returns NULL
 * with err set when preparing fails. Hand it back with state_stmt_done. */
sqlite3_stmt *state_stmt(struct state *st, enum state_sql id, const char *sql, struct error *err);
/* Resets the statement and drops its bindings (which may point into the
 * caller's memory). Accepts NULL. */
void state_stmt_done(sqlite3_stmt *s);
/* "state.db: <sqlite message>" in err. Always returns -1. */
int state_db_error(struct state *st, struct error *err);
/* Steps a statement that returns no row. 0 ok, -1 error. */
int state_step_done(struct state *st, sqlite3_stmt *s, struct error *err);
/* Runs the cached statement id (prepared from sql) that returns no row,
 * its parameters ?1..?n bound to v[0..n-1]. 0 ok, -1 error. */
int state_run_ints(struct state *st, enum state_sql id, const char *sql, const int64_t *v, size_t n,
		   struct error *err);
/* Steps a statement that returns at most one row: 1 row, 0 none, -1 error. */
int state_step_row(struct state *st, sqlite3_stmt *s, struct error *err);

/* Steps s, already bound by the caller, to its last row and reads each row
 * with read_row into a new zeroed element of elem_size bytes at the end of
 * a growing array. Returns 0 with the array (NULL when there is no row) in
 * *array_r and its length in *n_r, both owned by the caller; or -1 with err
 * set, every element read so far cleared with clear and the array freed,
 * *array_r and *n_r untouched. The statement is the caller's to reset
 * (state_stmt_done) or finalize. */
int state_load_rows(struct state *st, sqlite3_stmt *s, size_t elem_size,
		    void (*read_row)(sqlite3_stmt *s, void *elem), void (*clear)(void *elem),
		    void **array_r, size_t *n_r, struct error *err);

/* state_load_rows over the cached statement id (prepared from sql), its
 * ?1 bound to folder_id; the statement is reset. Same returns. */
int state_load_folder_rows(struct state *st, enum state_sql id, const char *sql, int64_t folder_id,
			   size_t elem_size, void (*read_row)(sqlite3_stmt *s, void *elem),
			   void (*clear)(void *elem), void **array_r, size_t *n_r,
			   struct error *err);
/* state_load_folder_rows for a statement whose rows are one text column:
 * the texts as a char * array (free with state_keys_free). */
int state_load_folder_names(struct state *st, enum state_sql id, const char *sql, int64_t folder_id,
			    char ***names_r, size_t *n_r, struct error *err);
/* Runs the cached statement id (prepared from sql) with ?1 v and ?2 text.
 * With row_r, the statement answers at most one row and *row_r says
 * whether it did (1 or 0). 0 ok, -1 error. */
int state_run_id_text(struct state *st, enum state_sql id, const char *sql, int64_t v,
		      const char *text, int *row_r, struct error *err);

/* Binds text, or NULL when text is NULL. Returns an SQLite code. */
int state_bind_text(sqlite3_stmt *s, int i, const char *text);
/* A copy of a text column, NULL for SQL NULL. */
char *state_column_text(sqlite3_stmt *s, int col);

#endif
