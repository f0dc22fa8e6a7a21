/* Read-only views of an account's state for `gmaildir status` and
 * `gmaildir doctor`: a read-only connection, per-folder counts, who holds
 * the account lock, and an integrity check. Nothing here writes, creates or
 * locks anything, so it is safe beside a running daemon. */
#include "store/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "store/lockfile.h"
#include "store/state_p.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* A reader normally never waits in WAL mode; only a checkpoint or a
 * recovery in progress can make it. */
#define READER_BUSY_TIMEOUT_MS 2000

int state_open_readonly(const char *dir, struct state **st_r, struct error *err)
{
	char *path = fs_join(dir, "state.db");
	struct state *st = NULL;
	struct stat sb;
	int ret = -1;

	*st_r = NULL;
	if (stat(path, &sb) < 0) {
		if (errno == ENOENT) {
			ret = 0;
			goto out;
		}
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "stat(%s): %s", path, strerror(errno));
		goto out;
	}
	st = xcalloc(1, sizeof(*st));
	/* READONLY: no migration, no journal_mode change. SQLite may still
	 * open the -shm file of a live WAL database: that is how a reader
	 * shares the writer's index, and it changes no data. */
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			    NULL) != SQLITE_OK) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "state.db: %s",
			  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, READER_BUSY_TIMEOUT_MS);
	*st_r = st;
	st = NULL;
	ret = 1;
out:
	state_free(&st);
	free(path);
	return ret;
}

/* A state_load_rows callback: frees one report's strings. */
static void clear_report(void *elem)
{
	struct state_folder_report *r = elem;

	free(r->remote);
	free(r->local_path);
	free(r->last_error);
	state_keys_free(r->ignored, r->n_ignored);
	free(r->held);
}

void state_reports_free(struct state_folder_report *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		clear_report(&r[i]);
	free(r);
}

/* 1 when the query answers a row, 0 when not, -1 error (for example a file
 * that is not a database). */
static int has_row(struct state *st, const char *sql, struct error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return state_db_error(st, err);
	rc = state_step_row(st, s, err);
	sqlite3_finalize(s);
	return rc;
}

/* 1 when the folders table exists, 0 when the schema was never created. */
static int has_schema(struct state *st, struct error *err)
{
	return has_row(st, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'folders'",
		       err);
}

/* 1 from schema v2 on. */
static int has_last_error_at(struct state *st, struct error *err)
{
	return has_row(
	    st, "SELECT 1 FROM pragma_table_info('folders') WHERE name = 'last_error_at'", err);
}

static struct state_folder_report *report_of(struct state_folder_report *r, size_t n,
					     const char *remote)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].remote && strcmp(r[i].remote, remote) == 0)
			return &r[i];
	return NULL;
}

/* Rows of a per-folder table, "SELECT f.remote, ... FROM table JOIN
 * folders f", each handed with its folder's report to add. A database
 * from before the table (schema v3 for ignored, v4 for held) has none. */
static int load_rows(struct state *st, const char *table, const char *sql,
		     void (*add)(struct state_folder_report *f, sqlite3_stmt *s),
		     struct state_folder_report *r, size_t n, struct error *err)
{
	sqlite3_stmt *s = NULL;
	char *check =
	    xasprintf("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '%s'", table);
	int rc = has_row(st, check, err);

	free(check);
	if (rc <= 0)
		return rc;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return state_db_error(st, err);
	while ((rc = state_step_row(st, s, err)) == 1) {
		const unsigned char *remote = sqlite3_column_text(s, 0);
		struct state_folder_report *f =
		    remote ? report_of(r, n, (const char *)remote) : NULL;

		if (f)
			add(f, s);
	}
	sqlite3_finalize(s);
	return rc < 0 ? -1 : 0;
}

/* The files the folder's last scan ignored. */
static void add_ignored(struct state_folder_report *f, sqlite3_stmt *s)
{
	f->ignored = xrealloc(f->ignored, (f->n_ignored + 1) * sizeof(*f->ignored));
	f->ignored[f->n_ignored++] = state_column_text(s, 1);
}

/* What max_size kept on the server at the folder's last sync. */
static void add_held(struct state_folder_report *f, sqlite3_stmt *s)
{
	f->held = xrealloc(f->held, (f->n_held + 1) * sizeof(*f->held));
	f->held[f->n_held++] = (struct state_held){(uint32_t)sqlite3_column_int64(s, 1),
						   (uint64_t)sqlite3_column_int64(s, 2)};
}

static int load_extras(struct state *st, struct state_folder_report *r, size_t n, struct error *err)
{
	if (load_rows(st, "ignored",
		      "SELECT f.remote, i.name FROM ignored i JOIN folders f ON f.id = i.folder_id "
		      "ORDER BY f.remote, i.name",
		      add_ignored, r, n, err) < 0)
		return -1;
	return load_rows(st, "held",
			 "SELECT f.remote, h.uid, h.size FROM held h JOIN folders f ON f.id = "
			 "h.folder_id ORDER BY f.remote, h.uid",
			 add_held, r, n, err);
}

/* The row of REPORT_SQL into a struct state_folder_report (void *: a
 * state_load_rows reader). */
static void read_report(sqlite3_stmt *s, void *elem)
{
	struct state_folder_report *r = elem;

	r->remote = state_column_text(s, 0);
	r->local_path = state_column_text(s, 1);
	r->last_sync = (time_t)sqlite3_column_int64(s, 2);
	r->last_error = state_column_text(s, 3);
	r->last_error_at = (time_t)sqlite3_column_int64(s, 4); /* NULL reads as 0 */
	r->pairs = (size_t)sqlite3_column_int64(s, 5);
	r->pending = (size_t)sqlite3_column_int64(s, 6);
}

/* One statement, so the counts and the rows come from one snapshot. The
 * %s is the last_error_at column, or NULL in a database of schema v1: this
 * reader never migrates, and status may well run first after an upgrade. */
#define REPORT_SQL                                                                                 \
	"SELECT f.remote, f.local_path, f.last_sync, f.last_error, %s,"                            \
	" (SELECT count(*) FROM pairs p WHERE p.folder_id = f.id),"                                \
	" (SELECT count(*) FROM intents i WHERE i.folder_id = f.id)"                               \
	" FROM folders f ORDER BY f.local_path"

int state_report_load(struct state *st, struct state_folder_report **r_r, size_t *n_r,
		      struct error *err)
{
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	char *sql;
	int has_at, rc = has_schema(st, err);

	*r_r = NULL;
	*n_r = 0;
	if (rc <= 0)
		return rc;
	has_at = has_last_error_at(st, err);
	if (has_at < 0)
		return -1;
	sql = xasprintf(REPORT_SQL, has_at ? "f.last_error_at" : "NULL");
	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return state_db_error(st, err);
	rc = state_load_rows(st, s, sizeof(struct state_folder_report), read_report, clear_report,
			     &v, n_r, err);
	sqlite3_finalize(s);
	if (rc == 0 && load_extras(st, v, *n_r, err) < 0) {
		state_reports_free(v, *n_r);
		*n_r = 0;
		return -1;
	}
	if (rc == 0)
		*r_r = v;
	return rc;
}

/* Looks for a flock on the file of sb in /proc/locks, whose lines read
 * "1: FLOCK  ADVISORY  WRITE 1832 fe:00:10952738 0 EOF" (pid, then the
 * device in hex and the inode). Returns 1 found (*pid_r set), 0 not, -1
 * when /proc/locks cannot be read. */
static int proc_locks_find(const struct stat *sb, long *pid_r)
{
	FILE *f = fopen("/proc/locks", "re");
	char line[256];
	int found = 0;

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f)) {
		char kind[16], mode[16], access[16];
		unsigned maj, min;
		uintmax_t ino;
		long pid;

		if (sscanf(line, "%*[^:]: %15s %15s %15s %ld %x:%x:%" SCNuMAX, kind, mode, access,
			   &pid, &maj, &min, &ino) != 7 ||
		    strcmp(kind, "FLOCK") != 0)
			continue;
		if (ino == (uintmax_t)sb->st_ino && maj == major(sb->st_dev) &&
		    min == minor(sb->st_dev)) {
			*pid_r = pid;
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/* Without /proc: a shared lock fails when a sync holds the exclusive one.
 * Ours lasts only until the LOCK_UN; a sync starting in that instant would
 * see the account as busy and retry. */
static int flock_probe(int fd)
{
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		return 0;
	}
	return errno == EWOULDBLOCK ? 1 : -1;
}

int state_lock_holder(const char *dir, long *pid_r, struct error *err)
{
	char *path = fs_join(dir, "lock");
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	long locks_pid = 0;
	struct stat sb;
	int held = -1;

	*pid_r = 0;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			held = 0;
		else
			error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open(%s): %s", path,
				  strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == 0)
		held = proc_locks_find(&sb, &locks_pid);
	if (held < 0)
		held = flock_probe(fd);
	if (held < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "flock(%s): %s", path, strerror(errno));
		goto out;
	}
	if (held) {
		/* 0 when none: the file is empty for a moment after the
		 * lock is taken, and after it is released. */
		*pid_r = lockfile_pid(fd);
		if (*pid_r <= 0)
			*pid_r = locks_pid > 0 ? locks_pid : 0;
	}
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return held;
}

/* The check's complaint on one line: SQLite starts it with "*** in database
 * main ***" and separates its parts with newlines. */
static void integrity_error(const char *answer, struct error *err)
{
	static const char banner[] = "*** in database main ***";
	char buf[512];
	size_t n = 0;

	if (strncmp(answer, banner, sizeof(banner) - 1) == 0)
		answer += sizeof(banner) - 1;
	while (*answer == '\n' || *answer == ' ')
		answer++;
	for (; *answer && n + 3 < sizeof(buf); answer++) {
		if (*answer == '\n') {
			buf[n++] = ';';
			buf[n++] = ' ';
		} else {
			buf[n++] = *answer;
		}
	}
	buf[n] = '\0';
	error_set(err, ERR_ACCOUNT, RETRY_NEVER, "state.db: damaged: %s", buf);
}

/* The first row of PRAGMA integrity_check: "ok" or the first problem. */
static int run_integrity_check(struct state *st, struct error *err)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *answer;
	int rc, ret = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check(1)", -1, &s, NULL) != SQLITE_OK)
		return state_db_error(st, err);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		state_db_error(st, err);
		goto out;
	}
	answer = sqlite3_column_text(s, 0);
	if (answer && strcmp((const char *)answer, "ok") == 0)
		ret = 1;
	else
		integrity_error(answer ? (const char *)answer : "no answer", err);
out:
	sqlite3_finalize(s);
	return ret;
}

int state_integrity_check(const char *dir, struct error *err)
{
	struct state *st = NULL;
	int ret = state_open_readonly(dir, &st, err);

	if (ret <= 0)
		return ret;
	ret = run_integrity_check(st, err);
	state_free(&st);
	return ret;
}
