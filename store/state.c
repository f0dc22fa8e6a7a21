/* The state database: opening, schema migrations, transactions, the
 * account lock, and the statement cache shared by state_*.c. */
#include "store/state.h"
#include "util/crashpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/lockfile.h"
#include "store/state_p.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A writer waits this long for another connection's transaction. */
#define BUSY_TIMEOUT_MS 5000

/* Migrations, applied in order: migrations[i] takes the schema from version
 * i to i + 1. Never edit a released entry; append a new one. */
static const char *const migrations[] = {
    /* v1 */
    "CREATE TABLE folders("
    " id INTEGER PRIMARY KEY,"
    " remote TEXT NOT NULL UNIQUE,"
    " local_path TEXT NOT NULL,"
    " role TEXT,"
    " uidvalidity INTEGER NOT NULL DEFAULT 0,"
    " uidnext INTEGER NOT NULL DEFAULT 0,"
    " highestmodseq INTEGER NOT NULL DEFAULT 0,"
    " local_stamp INTEGER NOT NULL DEFAULT 0,"
    " last_sync INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT);"
    /* Clustered by (folder, uid): loading a folder in UID order is one
     * sequential read. */
    "CREATE TABLE pairs("
    " folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    " uid INTEGER NOT NULL,"
    " key TEXT NOT NULL,"
    " flags INTEGER NOT NULL DEFAULT 0,"
    " keywords TEXT,"
    " size INTEGER NOT NULL DEFAULT 0,"
    " message_id TEXT,"
    " gm_msgid INTEGER," /* NULL when unknown */
    " PRIMARY KEY(folder_id, uid)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX pairs_key ON pairs(folder_id, key);"
    "CREATE INDEX pairs_gm_msgid ON pairs(gm_msgid) WHERE gm_msgid IS NOT NULL;"
    "CREATE TABLE intents("
    " id INTEGER PRIMARY KEY,"
    " folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    " kind INTEGER NOT NULL,"
    " uid INTEGER NOT NULL DEFAULT 0,"
    " key TEXT,"
    " extra TEXT,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX intents_folder ON intents(folder_id, id);"
    /* Keys kept on disk after a remote deletion (remote_deletions: keep). */
    "CREATE TABLE local_only("
    " folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " PRIMARY KEY(folder_id, key)) WITHOUT ROWID;",
    /* v2: when last_error was recorded, in Unix seconds. NULL when there is
     * no error, and for an error recorded before v2 (its time is unknown). */
    "ALTER TABLE folders ADD COLUMN last_error_at INTEGER;",
    /* v3: facts about the account as a whole (the identity of its Maildir,
     * store/state_meta.c), and the files of each folder that its last scan
     * ignored as not Maildir messages (store/state_ignored.c). */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE ignored("
    " folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL," /* "cur/<file>" or "new/<file>" */
    " PRIMARY KEY(folder_id, name)) WITHOUT ROWID;",
    /* v4: the messages max_size keeps on the server, as the last sync of
     * each folder found them (store/state_held.c), for `gmaildir status`. */
    "CREATE TABLE held("
    " folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    " uid INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " PRIMARY KEY(folder_id, uid)) WITHOUT ROWID;",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

int state_db_error(struct state *st, struct error *err)
{
	int code = sqlite3_errcode(st->db) & 0xff; /* the primary code */
	enum error_retry retry = RETRY_NEVER;

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_FULL ||
	    code == SQLITE_IOERR)
		retry = RETRY_BACKOFF;
	error_set(err, code == SQLITE_CONSTRAINT ? ERR_FOLDER : ERR_ACCOUNT, retry, "state.db: %s",
		  sqlite3_errmsg(st->db));
	return -1;
}

sqlite3_stmt *state_stmt(struct state *st, enum state_sql id, const char *sql, struct error *err)
{
	if (st->stmts[id])
		return st->stmts[id];
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[id], NULL) !=
	    SQLITE_OK) {
		state_db_error(st, err);
		return NULL;
	}
	return st->stmts[id];
}

void state_stmt_done(sqlite3_stmt *s)
{
	if (!s)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

int state_step_done(struct state *st, sqlite3_stmt *s, struct error *err)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		return state_db_error(st, err);
	return 0;
}

int state_run_ints(struct state *st, enum state_sql id, const char *sql, const int64_t *v, size_t n,
		   struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, id, sql, err);
	int ret = -1;

	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (sqlite3_bind_int64(s, (int)i + 1, v[i]) != SQLITE_OK) {
			state_db_error(st, err);
			goto out;
		}
	}
	ret = state_step_done(st, s, err);
out:
	state_stmt_done(s);
	return ret;
}

int state_step_row(struct state *st, sqlite3_stmt *s, struct error *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return state_db_error(st, err);
}

int state_load_rows(struct state *st, sqlite3_stmt *s, size_t elem_size,
		    void (*read_row)(sqlite3_stmt *s, void *elem), void (*clear)(void *elem),
		    void **array_r, size_t *n_r, struct error *err)
{
	char *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = state_step_row(st, s, err)) == 1) {
		v = xgrow(v, &cap, n + 1, elem_size);
		memset(v + n * elem_size, 0, elem_size);
		read_row(s, v + n * elem_size);
		n++;
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			clear(v + i * elem_size);
		free(v);
		return -1;
	}
	*array_r = v;
	*n_r = n;
	return 0;
}

int state_load_folder_rows(struct state *st, enum state_sql id, const char *sql, int64_t folder_id,
			   size_t elem_size, void (*read_row)(sqlite3_stmt *s, void *elem),
			   void (*clear)(void *elem), void **array_r, size_t *n_r,
			   struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, id, sql, err);
	int ret = -1;

	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, folder_id) != SQLITE_OK) {
		state_db_error(st, err);
		goto out;
	}
	ret = state_load_rows(st, s, elem_size, read_row, clear, array_r, n_r, err);
out:
	state_stmt_done(s);
	return ret;
}

/* state_load_rows callbacks: column 0, a text, into a char *. */
static void read_name(sqlite3_stmt *s, void *elem)
{
	*(char **)elem = state_column_text(s, 0);
}

static void clear_name(void *elem)
{
	free(*(char **)elem);
}

int state_load_folder_names(struct state *st, enum state_sql id, const char *sql, int64_t folder_id,
			    char ***names_r, size_t *n_r, struct error *err)
{
	void *v = NULL;

	if (state_load_folder_rows(st, id, sql, folder_id, sizeof(char *), read_name, clear_name,
				   &v, n_r, err) < 0)
		return -1;
	*names_r = v;
	return 0;
}

int state_run_id_text(struct state *st, enum state_sql id, const char *sql, int64_t v,
		      const char *text, int *row_r, struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, id, sql, err);
	int rc = -1;

	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, v) != SQLITE_OK || state_bind_text(s, 2, text) != SQLITE_OK) {
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

int state_bind_text(sqlite3_stmt *s, int i, const char *text)
{
	if (!text)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

char *state_column_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? xstrdup((const char *)t) : NULL;
}

/* SQLite would create the file with the umask's mode; create it 0600
 * first. Its -wal and -shm files then get the same mode (SQLite copies the
 * database file's permissions). The directory is synced once so that a
 * fresh database survives a power cut. */
static int create_private(const char *dir, const char *path, struct error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open(%s): %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return fs_fsync_dir(dir, err);
}

/* A pragma that answers one row; when want is not NULL the answer must be
 * it (journal_mode may silently stay "delete" on some file systems). */
static int pragma(struct state *st, const char *sql, const char *want, struct error *err)
{
	sqlite3_stmt *s = NULL;
	int rc, ret = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return state_db_error(st, err);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		state_db_error(st, err);
		goto out;
	}
	if (want && (rc != SQLITE_ROW || !sqlite3_column_text(s, 0) ||
		     strcmp((const char *)sqlite3_column_text(s, 0), want) != 0)) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "state.db: %s did not give %s", sql, want);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(s);
	return ret;
}

static int configure(struct state *st, struct error *err)
{
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if (pragma(st, "PRAGMA journal_mode=WAL", "wal", err) < 0 ||
	    pragma(st, "PRAGMA synchronous=FULL", NULL, err) < 0 ||
	    pragma(st, "PRAGMA cache_size=-512", NULL, err) < 0 ||
	    pragma(st, "PRAGMA foreign_keys=ON", NULL, err) < 0)
		return -1;
	return 0;
}

int state_set_cache(struct state *st, unsigned kib, struct error *err)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%u", kib);
	return pragma(st, sql, NULL, err);
}

static int exec(struct state *st, const char *sql, struct error *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return state_db_error(st, err);
	return 0;
}

/* 0 for a database that has no schema yet. */
static int schema_version(struct state *st, int *version_r, struct error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT max(version) FROM schema_version", -1, &s, NULL) !=
	    SQLITE_OK)
		return state_db_error(st, err);
	rc = state_step_row(st, s, err);
	if (rc >= 0)
		*version_r = rc == 1 ? sqlite3_column_int(s, 0) : 0;
	sqlite3_finalize(s);
	return rc < 0 ? -1 : 0;
}

static int set_schema_version(struct state *st, int version, struct error *err)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
		 "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d)", version);
	return exec(st, sql, err);
}

/* All pending migrations run in one IMMEDIATE transaction: two processes
 * opening a fresh database cannot both migrate, and a crash mid-way leaves
 * the old schema intact. */
static int migrate(struct state *st, struct error *err)
{
	int version = 0;

	if (exec(st, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (exec(st, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)", err) <
		0 ||
	    schema_version(st, &version, err) < 0)
		goto fail;
	if (version > SCHEMA_VERSION) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "state.db: schema version %d is newer than this gmaildir knows (%d)",
			  version, SCHEMA_VERSION);
		goto fail;
	}
	for (int v = version; v < SCHEMA_VERSION; v++)
		if (exec(st, migrations[v], err) < 0)
			goto fail;
	if (version < SCHEMA_VERSION && set_schema_version(st, SCHEMA_VERSION, err) < 0)
		goto fail;
	return exec(st, "COMMIT", err);
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int state_open(const char *dir, struct state **st_r, struct error *err)
{
	struct state *st = NULL;
	char *path = NULL;
	int ret = -1;

	*st_r = NULL;
	if (fs_mkdir_p(dir, 0700, err) < 0)
		goto out;
	path = fs_join(dir, "state.db");
	if (create_private(dir, path, err) < 0)
		goto out;
	st = xcalloc(1, sizeof(*st));
	/* NOMUTEX: a connection is used by one thread only (one per worker). */
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			    NULL) != SQLITE_OK) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "state.db: %s",
			  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto out;
	}
	if (configure(st, err) < 0 || migrate(st, err) < 0)
		goto out;
	*st_r = st;
	st = NULL;
	ret = 0;
out:
	state_free(&st);
	free(path);
	return ret;
}

void state_free(struct state **stp)
{
	struct state *st = stp ? *stp : NULL;

	if (!st)
		return;
	for (int i = 0; i < SQL_COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		log_debug("state.db: close: %s", sqlite3_errmsg(st->db));
	free(st);
	*stp = NULL;
}

/* IMMEDIATE: the write lock is taken now, under the busy timeout. A
 * deferred transaction that reads and then writes can fail at once with
 * SQLITE_BUSY when another worker committed in between. */
int state_begin(struct state *st, struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, SQL_BEGIN, "BEGIN IMMEDIATE", err);
	int ret;

	if (!s)
		return -1;
	ret = state_step_done(st, s, err);
	state_stmt_done(s);
	return ret;
}

/* On error the transaction is still open: the caller rolls it back. */
int state_commit(struct state *st, struct error *err)
{
	sqlite3_stmt *s = state_stmt(st, SQL_COMMIT, "COMMIT", err);
	int ret;

	if (!s)
		return -1;
	ret = state_step_done(st, s, err);
	state_stmt_done(s);
	if (ret == 0)
		crashpoint("state commit");
	return ret;
}

void state_rollback(struct state *st)
{
	struct error err = {0};
	sqlite3_stmt *s;

	/* SQLite may already have rolled back by itself (e.g. on SQLITE_FULL). */
	if (sqlite3_get_autocommit(st->db))
		return;
	s = state_stmt(st, SQL_ROLLBACK, "ROLLBACK", &err);
	if (!s || state_step_done(st, s, &err) < 0)
		log_debug("rollback: %s", err.msg);
	state_stmt_done(s);
}

struct state_lock {
	int fd;
};

static void lock_busy_error(int fd, const char *account, struct error *err)
{
	long pid = lockfile_pid(fd);

	if (pid > 0)
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF, "account %s is being synced by pid %ld",
			  account, pid);
	else
		error_set(err, ERR_ACCOUNT, RETRY_BACKOFF,
			  "account %s is being synced by another process", account);
}

/* The lock file and its pid: see store/lockfile.h. */
int state_lock_acquire(const char *dir, const char *account, struct state_lock **lock_r,
		       struct error *err)
{
	char *path = NULL;
	int fd = -1, ret = -1;

	*lock_r = NULL;
	if (fs_mkdir_p(dir, 0700, err) < 0)
		goto out;
	path = fs_join(dir, "lock");
	if (lockfile_take(path, LOCKFILE_CREATE, lock_busy_error, account, &fd, err) < 0)
		goto out;
	*lock_r = xmalloc(sizeof(**lock_r));
	(*lock_r)->fd = fd;
	ret = 0;
out:
	free(path);
	return ret;
}

void state_lock_release(struct state_lock **lockp)
{
	struct state_lock *lock = lockp ? *lockp : NULL;

	if (!lock)
		return;
	/* Still ours until close: clearing the pid is safe. */
	if (ftruncate(lock->fd, 0) < 0)
		log_debug("lock: ftruncate: %s", strerror(errno));
	close(lock->fd);
	free(lock);
	*lockp = NULL;
}
