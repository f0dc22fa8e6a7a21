/* The I/O edge of peer_state: finds and reads other tools' state files and
 * the folder's file names, then joins them with the pure parsers of
 * peer_state.c. Never writes. See peer_state.h for the contract. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildir_name.h"
#include "store/peer_state.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* State files of a few MB at most; anything larger is not one. */
#define PEER_FILE_MAX (64u << 20)

/* The unique names of the folder's files by a UID found in their names. */
struct name_map {
	struct name_ent {
		uint32_t uid;
		char *unique; /* owned; NULL when two files claim the uid */
	} * ents;
	size_t n, cap;
};

/* Why nothing was used, appended "tool: reason; ..." to the caller's buffer. */
struct why {
	char *buf;
	size_t size;
};

static void why_add(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why_add(struct why *w, const char *fmt, ...)
{
	if (!w->buf || w->size == 0)
		return;
	size_t used = strlen(w->buf);
	if (used > 0 && used + 2 < w->size) {
		memcpy(w->buf + used, "; ", 3);
		used += 2;
	}
	if (used + 1 >= w->size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->buf + used, w->size - used, fmt, ap);
	va_end(ap);
}

static void name_map_free(struct name_map *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->ents[i].unique);
	free(m->ents);
	memset(m, 0, sizeof(*m));
}

static int ent_cmp(const void *a, const void *b)
{
	const struct name_ent *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Sorts and marks uids claimed by more than one file as untrusted. */
static void name_map_finish(struct name_map *m)
{
	size_t o = 0;

	qsort(m->ents, m->n, sizeof(*m->ents), ent_cmp);
	for (size_t i = 0; i < m->n; i++) {
		if (o > 0 && m->ents[o - 1].uid == m->ents[i].uid) {
			free(m->ents[o - 1].unique);
			m->ents[o - 1].unique = NULL;
			free(m->ents[i].unique);
			continue;
		}
		m->ents[o++] = m->ents[i];
	}
	m->n = o;
}

/* The file carrying uid: 1 with *unique (borrowed, may be NULL when two
 * files claim it), 0 when none does. */
static int name_map_find(const struct name_map *m, uint32_t uid, const char **unique)
{
	struct name_ent key = {uid, NULL};
	const struct name_ent *e = bsearch(&key, m->ents, m->n, sizeof(*m->ents), ent_cmp);
	if (!e)
		return 0;
	*unique = e->unique;
	return 1;
}

static int scan_sub(const char *folder, const char *sub, const char *fmd5, struct name_map *m,
		    struct error *err)
{
	char *dir = fs_join(folder, sub);
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		if (errno != ENOENT) {
			error_set(err, ERR_FOLDER, RETRY_BACKOFF, "opendir(%s): %s", dir,
				  strerror(errno));
			rc = -1;
		}
		goto out;
	}
	while ((de = readdir(d))) {
		struct maildir_name mn;
		uint32_t uid;
		if (maildir_name_parse(de->d_name, &mn) < 0)
			continue;
		char *unique = xmalloc(mn.unique_len + 1);
		memcpy(unique, mn.unique, mn.unique_len);
		unique[mn.unique_len] = '\0';
		if (!peer_state_name_uid(unique, fmd5, &uid)) {
			free(unique);
			continue;
		}
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 64;
			m->ents = xrealloc(m->ents, m->cap * sizeof(*m->ents));
		}
		m->ents[m->n++] = (struct name_ent){uid, unique};
	}
	closedir(d);
out:
	free(dir);
	return rc;
}

/* Every file of cur/ and new/ with a UID in its name (see
 * peer_state_name_uid for fmd5). */
static int scan_folder(const char *folder, const char *fmd5, struct name_map *m, struct error *err)
{
	if (scan_sub(folder, "cur", fmd5, m, err) < 0 || scan_sub(folder, "new", fmd5, m, err) < 0)
		return -1;
	name_map_finish(m);
	return 0;
}

/* Reads a whole file: 1 with *buf (caller frees, NUL-terminated) and *len,
 * 0 when it does not exist, -1 on another error. */
static int slurp(const char *path, char **buf, size_t *len, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *b = NULL;
	size_t got = 0;
	int rc = -1;

	*buf = NULL;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		error_set(err, ERR_FOLDER, RETRY_BACKOFF, "open(%s): %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > PEER_FILE_MAX) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "%s: not a state file", path);
		goto out;
	}
	b = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_set(err, ERR_FOLDER, RETRY_BACKOFF, "read(%s): %s", path,
				  strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
	rc = 1;
out:
	free(b);
	close(fd);
	return rc;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* '/' made c, as both tools do to put a folder name in one file name. */
static char *flatten(const char *name, char c)
{
	char *s = xstrdup(name);
	for (char *p = s; *p; p++)
		if (*p == '/')
			*p = c;
	return s;
}

static struct peer_state *state_new(enum peer_tool tool, const char *source)
{
	struct peer_state *ps = xcalloc(1, sizeof(*ps));
	ps->tool = tool;
	ps->source = xstrdup(source);
	return ps;
}

static void state_add(struct peer_state *ps, size_t *cap, uint32_t uid, const char *unique,
		      unsigned flags)
{
	if (ps->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		ps->recs = xrealloc(ps->recs, *cap * sizeof(*ps->recs));
	}
	ps->recs[ps->n++] = (struct peer_record){uid, unique ? xstrdup(unique) : NULL, flags};
}

static int rec_cmp(const void *a, const void *b)
{
	const struct peer_record *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Ascending by uid; a uid listed twice (never written by the tools) keeps
 * its first record only, with no file, since it cannot be trusted. */
static void state_finish(struct peer_state *ps)
{
	size_t o = 0;

	qsort(ps->recs, ps->n, sizeof(*ps->recs), rec_cmp);
	for (size_t i = 0; i < ps->n; i++) {
		if (o > 0 && ps->recs[o - 1].uid == ps->recs[i].uid) {
			free(ps->recs[o - 1].unique);
			ps->recs[o - 1].unique = NULL;
			free(ps->recs[i].unique);
			continue;
		}
		ps->recs[o++] = ps->recs[i];
	}
	ps->n = o;
}

void peer_state_free(struct peer_state **ps)
{
	if (!ps || !*ps)
		return;
	for (size_t i = 0; i < (*ps)->n; i++)
		free((*ps)->recs[i].unique);
	free((*ps)->recs);
	free((*ps)->source);
	free(*ps);
	*ps = NULL;
}

/* ---------------------------------------------------------------- mbsync */

/* Checks one mbsync state file against the server and the folder: 1 with
 * *st filled, 0 not usable (reason added), -1 I/O error. */
static int mbsync_load(const char *path, const struct peer_folder *f, uint32_t near_uv,
		       struct peer_mbsync_state *st, struct why *w, struct error *err)
{
	char *buf = NULL, *newf = xasprintf("%s.new", path);
	size_t len;
	struct error perr = {0};
	int rc = slurp(path, &buf, &len, err);

	if (rc <= 0)
		goto out;
	rc = 0;
	if (exists(newf)) {
		why_add(w, "mbsync: %s: an interrupted run left %s.new (not replayed)", path, path);
	} else if (peer_state_parse_mbsync(buf, len, st, &perr) < 0) {
		why_add(w, "mbsync: %s: %s", path, perr.msg);
	} else if (st->far_uidvalidity != f->uidvalidity) {
		why_add(w, "mbsync: %s: server UIDVALIDITY was %u, is %u", path,
			st->far_uidvalidity, f->uidvalidity);
	} else if (st->near_uidvalidity != near_uv) {
		why_add(w, "mbsync: %s: the folder's .uidvalidity is %u, the state says %u", path,
			near_uv, st->near_uidvalidity);
	} else {
		rc = 1;
	}
	if (rc != 1)
		peer_state_mbsync_deinit(st);
out:
	free(buf);
	free(newf);
	return rc;
}

static bool mbsync_name_matches(const char *name, const char *far, const char *near)
{
	size_t n = strlen(name), nl = strlen(near);
	char *mid = xasprintf(":%s_:", far);
	bool ok = name[0] == ':' && n > nl + 1 && name[n - nl - 1] == ':' &&
		  strcmp(name + n - nl, near) == 0 && strstr(name, mid) != NULL;
	free(mid);
	return ok;
}

/* The default-location state of the folder: the one file in home/.mbsync
 * named for this server folder and local folder that passes the checks.
 * 1 with *path_r (caller frees), 0 none, -1 error. */
static int mbsync_find_default(const struct peer_folder *f, uint32_t near_uv,
			       struct peer_mbsync_state *st, char **path_r, struct why *w,
			       struct error *err)
{
	char *dir = fs_join(f->home, ".mbsync");
	char *far = flatten(f->server_name, '!'), *near = flatten(f->rel, '!');
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0, named = 0, rc = 0;

	*path_r = NULL;
	if (!d) {
		why_add(w, "mbsync: no state in the folder or in %s", dir);
		goto out;
	}
	while ((de = readdir(d))) {
		struct peer_mbsync_state cand = {0};
		if (!mbsync_name_matches(de->d_name, far, near))
			continue;
		named++;
		char *path = fs_join(dir, de->d_name);
		rc = mbsync_load(path, f, near_uv, &cand, w, err);
		if (rc < 0) {
			free(path);
			break;
		}
		if (rc == 1 && ++found == 1) {
			*st = cand;
			*path_r = path;
			continue;
		}
		peer_state_mbsync_deinit(&cand);
		free(path);
	}
	closedir(d);
	if (rc >= 0 && found > 1) {
		why_add(w, "mbsync: %d channels of %s hold a state for this folder", found, dir);
		peer_state_mbsync_deinit(st);
		free(*path_r);
		*path_r = NULL;
	}
	if (rc >= 0)
		rc = found == 1;
	else {
		peer_state_mbsync_deinit(st);
		free(*path_r);
		*path_r = NULL;
	}
	if (rc == 0 && named == 0)
		why_add(w, "mbsync: no usable state for %s in %s", f->rel, dir);
out:
	free(dir);
	free(far);
	free(near);
	return rc;
}

static int mbsync_read(const struct peer_folder *f, struct peer_state **r, struct why *w,
		       struct error *err)
{
	char *uvpath = fs_join(f->path, ".uidvalidity"), *inbox = NULL, *path = NULL, *buf = NULL;
	struct peer_mbsync_state st = {0};
	struct name_map m = {0};
	uint32_t near_uv;
	size_t len;
	int rc = slurp(uvpath, &buf, &len, err);

	if (rc <= 0) {
		if (rc == 0)
			why_add(w, "mbsync: the folder has no .uidvalidity");
		goto out;
	}
	if (peer_state_parse_uidvalidity(buf, len, &near_uv) < 0) {
		why_add(w, "mbsync: %s is not a UIDVALIDITY", uvpath);
		rc = 0;
		goto out;
	}
	/* "SyncState *" keeps the state in the folder; it wins when present. */
	inbox = fs_join(f->path, ".mbsyncstate");
	rc = exists(inbox) ? mbsync_load(inbox, f, near_uv, &st, w, err) : 0;
	if (rc == 1)
		path = xstrdup(inbox);
	else if (rc == 0 && !exists(inbox))
		rc = mbsync_find_default(f, near_uv, &st, &path, w, err);
	if (rc <= 0)
		goto out;
	rc = scan_folder(f->path, NULL, &m, err);
	if (rc < 0)
		goto out;
	struct peer_state *ps = state_new(PEER_MBSYNC, path);
	size_t cap = 0;
	for (size_t i = 0; i < st.n; i++) {
		const char *unique = NULL;
		if (st.pairs[i].near_uid)
			name_map_find(&m, st.pairs[i].near_uid, &unique);
		state_add(ps, &cap, st.pairs[i].far_uid, unique, st.pairs[i].flags);
	}
	state_finish(ps);
	*r = ps;
	rc = 1;
out:
	name_map_free(&m);
	peer_state_mbsync_deinit(&st);
	free(uvpath);
	free(inbox);
	free(path);
	free(buf);
	return rc;
}

/* ----------------------------------------------------------- OfflineIMAP */

/* The hex MD5 of s, as OfflineIMAP puts it in FMD5= (33 bytes). */
static void md5_hex(const char *s, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL);
	for (unsigned i = 0; i < n && i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[32] = '\0';
}

/* The status rows of a LocalStatus-sqlite database: 1 ok, 0 not usable. */
static int oi_sqlite(const char *path, struct peer_uid_flags **recs_r, size_t *n_r, struct why *w)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	size_t cap = 0;
	int rc = 0, s;

	*recs_r = NULL;
	*n_r = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto bad;
	sqlite3_busy_timeout(db, 2000);
	if (sqlite3_prepare_v2(db, "SELECT id, flags FROM status", -1, &q, NULL) != SQLITE_OK)
		goto bad;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		sqlite3_int64 id = sqlite3_column_int64(q, 0);
		const char *fl = (const char *)sqlite3_column_text(q, 1);
		if (id <= 0 || id > UINT32_MAX)
			continue;
		if (*n_r == cap) {
			cap = cap ? cap * 2 : 64;
			*recs_r = xrealloc(*recs_r, cap * sizeof(**recs_r));
		}
		(*recs_r)[(*n_r)++] = (struct peer_uid_flags){
		    (uint32_t)id, fl ? peer_state_flags_from_letters(fl, strlen(fl)) : 0};
	}
	if (s != SQLITE_DONE)
		goto bad;
	rc = 1;
	goto out;
bad:
	why_add(w, "offlineimap: %s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
	free(*recs_r);
	*recs_r = NULL;
	*n_r = 0;
out:
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc;
}

/* Whether some Repository-* of metadata holds FolderValidity/<base> equal
 * to uv: 1 yes, 0 no (reason added), -1 error. */
static int oi_validity(const char *meta, const char *base, uint32_t uv, struct why *w,
		       struct error *err)
{
	DIR *d = opendir(meta);
	struct dirent *de;
	int rc = 0, seen = 0;

	if (!d)
		return 0;
	while (rc == 0 && (de = readdir(d))) {
		if (strncmp(de->d_name, "Repository-", 11) != 0)
			continue;
		char *p = xasprintf("%s/%s/FolderValidity/%s", meta, de->d_name, base), *buf;
		size_t len;
		uint32_t v;
		int got = slurp(p, &buf, &len, err);
		free(p);
		if (got < 0) {
			rc = -1;
			break;
		}
		if (got == 1 && peer_state_parse_uidvalidity(buf, len, &v) == 0) {
			seen++;
			if (v == uv)
				rc = 1;
		}
		free(buf);
	}
	closedir(d);
	if (rc == 0)
		why_add(w, "offlineimap: %s: %s", meta,
			seen ? "its FolderValidity is not the server's UIDVALIDITY now"
			     : "no FolderValidity for this folder");
	return rc;
}

/* The LocalStatus of one Account-* directory: 1 with rows and *src_r, 0
 * none, -1 error. */
static int oi_status(const char *acct, const char *base, struct peer_uid_flags **recs, size_t *n,
		     char **src_r, struct why *w, struct error *err)
{
	char *p = xasprintf("%s/LocalStatus-sqlite/%s", acct, base), *buf = NULL;
	size_t len;
	int rc = 0;

	if (exists(p)) {
		rc = oi_sqlite(p, recs, n, w);
	} else {
		free(p);
		p = xasprintf("%s/LocalStatus/%s", acct, base);
		rc = slurp(p, &buf, &len, err);
		if (rc == 1) {
			struct error perr = {0};
			if (peer_state_parse_offlineimap(buf, len, recs, n, &perr) < 0) {
				why_add(w, "offlineimap: %s: %s", p, perr.msg);
				rc = 0;
			}
		}
	}
	if (rc == 1)
		*src_r = p;
	else
		free(p);
	free(buf);
	return rc;
}

/* The one Account-* that has a status for base: 1, 0 (none or several),
 * -1 error. */
static int oi_find_status(const char *meta, const char *base, struct peer_uid_flags **recs,
			  size_t *n, char **src_r, struct why *w, struct error *err)
{
	DIR *d = opendir(meta);
	struct dirent *de;
	int rc = 0, found = 0;

	*src_r = NULL;
	if (!d) {
		why_add(w, "offlineimap: no %s", meta);
		return 0;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "Account-", 8) != 0)
			continue;
		struct peer_uid_flags *r2 = NULL;
		size_t n2 = 0;
		char *src = NULL, *acct = fs_join(meta, de->d_name);
		rc = oi_status(acct, base, &r2, &n2, &src, w, err);
		free(acct);
		if (rc < 0)
			break;
		if (rc == 1 && ++found == 1) {
			*recs = r2, *n = n2, *src_r = src;
			continue;
		}
		free(r2);
		free(src);
	}
	closedir(d);
	if (rc >= 0 && found == 1)
		return 1;
	free(*recs);
	*recs = NULL;
	free(*src_r);
	*src_r = NULL;
	if (rc >= 0)
		why_add(w, "offlineimap: %s in %s",
			found ? "several accounts hold a status" : "no status for this folder",
			meta);
	return rc < 0 ? -1 : 0;
}

static int oi_read(const struct peer_folder *f, struct peer_state **r, struct why *w,
		   struct error *err)
{
	char *meta = fs_join(f->home, ".offlineimap"), *base = flatten(f->server_name, '.');
	char *src = NULL, fmd5[33];
	struct peer_uid_flags *recs = NULL;
	struct name_map m = {0};
	size_t n = 0;
	int rc = oi_find_status(meta, base, &recs, &n, &src, w, err);

	if (rc <= 0)
		goto out;
	rc = oi_validity(meta, base, f->uidvalidity, w, err);
	if (rc <= 0)
		goto out;
	md5_hex(f->rel, fmd5);
	rc = scan_folder(f->path, fmd5, &m, err);
	if (rc < 0)
		goto out;
	struct peer_state *ps = state_new(PEER_OFFLINEIMAP, src);
	size_t cap = 0;
	for (size_t i = 0; i < n; i++) {
		const char *unique = NULL;
		name_map_find(&m, recs[i].uid, &unique);
		state_add(ps, &cap, recs[i].uid, unique, recs[i].flags);
	}
	state_finish(ps);
	*r = ps;
	rc = 1;
out:
	name_map_free(&m);
	free(recs);
	free(meta);
	free(base);
	free(src);
	return rc;
}

int peer_state_read(const struct peer_folder *f, struct peer_state **r, char *why, size_t why_size,
		    struct error *err)
{
	struct why w = {why, why_size};
	int rc;

	*r = NULL;
	if (why && why_size)
		why[0] = '\0';
	rc = mbsync_read(f, r, &w, err);
	if (rc == 0)
		rc = oi_read(f, r, &w, err);
	if (rc < 0)
		error_prefix(err, "peer state of %s", f->rel);
	return rc;
}
