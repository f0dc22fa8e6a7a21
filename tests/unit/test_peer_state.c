/* Other tools' sync state: the pure parsers on text those tools wrote
 * (mbsync 1.4.4 and offlineimap3 8.0 against the harness Dovecot, via
 * tests/lib/peers.sh), then peer_state_read over a folder laid out as they
 * lay it out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/msgflags.h"
#include "store/peer_state.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* ~/.mbsync/:far:INBOX_:near:INBOX after two runs (server flags S S F R). */
static const char MB_DEFAULT[] = "FarUidValidity 1796606765\n"
				 "NearUidValidity 1796606766\n"
				 "MaxPulledUid 5\n"
				 "MaxPushedUid 5\n"
				 "\n"
				 "1 1 S\n"
				 "2 2 S\n"
				 "3 3 F\n"
				 "4 4 R\n"
				 "5 5 \n";
/* <folder>/.mbsyncstate ("SyncState *") after a local flag change of 2 to
 * FS and the expunge of 3 and 4; also what a killed run left committed. */
static const char MB_INBOX[] = "FarUidValidity 1796606999\n"
			       "NearUidValidity 1796607000\n"
			       "MaxPulledUid 4\n"
			       "MaxPushedUid 4\n"
			       "\n"
			       "1 1 S\n"
			       "2 2 FS\n";

struct mb_case {
	const char *desc, *text;
	int rc;
	uint32_t far_uv, near_uv;
	size_t n;
	struct peer_mbsync_pair pairs[6];
};

static const struct mb_case mb_cases[] = {
    {"default location",
     MB_DEFAULT,
     0,
     1796606765,
     1796606766,
     5,
     {{1, 1, MF_SEEN}, {2, 2, MF_SEEN}, {3, 3, MF_FLAGGED}, {4, 4, MF_ANSWERED}, {5, 5, 0}}},
    {"in-folder",
     MB_INBOX,
     0,
     1796606999,
     1796607000,
     2,
     {{1, 1, MF_SEEN}, {2, 2, MF_FLAGGED | MF_SEEN}}},
    {"names before 1.4, every flag, expired and skipped kept",
     "MasterUidValidity 7\nSlaveUidValidity 8\nMaxPulledUid 3\nMaxExpiredMasterUid 1\n\n"
     "1 0 ~S\n2 4 ^DFPRST\n3 5 X\n",
     0,
     7,
     8,
     3,
     {{1, 0, MF_SEEN}, {2, 4, MF_ALL}, {3, 5, 0}}},
    {"placeholders and near-only entries left out",
     "FarUidValidity 7\nNearUidValidity 8\n\n0 3 S\n4 5 <S\n6 7 >\n8 9 T\n",
     0,
     7,
     8,
     1,
     {{8, 9, MF_DELETED}}},
    {"a skipped side of 1.2 (-1)",
     "FarUidValidity 7\nNearUidValidity 8\n\n4 4294967295 S\n",
     0,
     7,
     8,
     1,
     {{4, 0, MF_SEEN}}},
    {"empty", "", -1, 0, 0, 0, {{0}}},
    {"header only, unterminated", "FarUidValidity 7\nNearUidValidity 8\n", -1, 0, 0, 0, {{0}}},
    {"no near UIDVALIDITY", "FarUidValidity 7\n\n1 1 S\n", -1, 0, 0, 0, {{0}}},
    {"a cut last line", "FarUidValidity 7\nNearUidValidity 8\n\n1 1 S\n2 2", -1, 0, 0, 0, {{0}}},
    {"unknown header", "FarUidValidity 7\nColour 8\n\n", -1, 0, 0, 0, {{0}}},
    {"pre-1.1 header", "7:3 8:0:3\n\n1 1 S\n", -1, 0, 0, 0, {{0}}},
    {"garbage entry", "FarUidValidity 7\nNearUidValidity 8\n\n1 x S\n", -1, 0, 0, 0, {{0}}},
    {"lower-case flags", "FarUidValidity 7\nNearUidValidity 8\n\n1 1 s\n", -1, 0, 0, 0, {{0}}},
    {"uid past 32 bits",
     "FarUidValidity 7\nNearUidValidity 8\n\n4294967296 1 S\n",
     -1,
     0,
     0,
     0,
     {{0}}},
};

static void test_parse_mbsync(void **unused)
{
	for (size_t i = 0; i < sizeof(mb_cases) / sizeof(mb_cases[0]); i++) {
		const struct mb_case *c = &mb_cases[i];
		struct peer_mbsync_state st;
		struct error err = {0};
		int rc = peer_state_parse_mbsync(c->text, strlen(c->text), &st, &err);
		if (rc != c->rc)
			fail_msg("%s: rc %d (%s)", c->desc, rc, err.msg);
		if (rc == 0) {
			assert_int_equal(st.far_uidvalidity, c->far_uv);
			assert_int_equal(st.near_uidvalidity, c->near_uv);
			if (st.n != c->n)
				fail_msg("%s: %zu pairs", c->desc, st.n);
			for (size_t j = 0; j < st.n; j++) {
				assert_int_equal(st.pairs[j].far_uid, c->pairs[j].far_uid);
				assert_int_equal(st.pairs[j].near_uid, c->pairs[j].near_uid);
				assert_int_equal(st.pairs[j].flags, c->pairs[j].flags);
			}
		} else {
			assert_true(error_is_set(&err));
		}
		peer_state_mbsync_deinit(&st);
	}
}

static void test_parse_uidvalidity(void **unused)
{
	static const struct {
		const char *text;
		int rc;
		uint32_t v;
	} cases[] = {
	    {"1796606766\n5\n", 0, 1796606766}, /* mbsync's .uidvalidity */
	    {"1796606765\n", 0, 1796606765},	/* OfflineIMAP's FolderValidity */
	    {"42", 0, 42},
	    {"4294967295\n", 0, 4294967295u},
	    {"", -1, 0},
	    {"\n", -1, 0},
	    {"0\n", -1, 0},
	    {"4294967296\n", -1, 0},
	    {"12 \n", -1, 0},
	    {"x1\n", -1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t v = 0;
		int rc = peer_state_parse_uidvalidity(cases[i].text, strlen(cases[i].text), &v);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d", cases[i].text, rc);
		if (rc == 0)
			assert_int_equal(v, cases[i].v);
	}
}

/* offlineimap3 8 writes SQLite only; the plain format is that of the
 * LocalStatus files older OfflineIMAP left (read from its source). */
static void test_parse_offlineimap(void **unused)
{
	static const struct {
		const char *desc, *text;
		int rc;
		size_t n;
		struct peer_uid_flags recs[4];
	} cases[] = {
	    {"format 2",
	     "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n"
	     "1|S|1700000000|\n2|FS|0|work, home\n5||0|\n",
	     0,
	     3,
	     {{1, MF_SEEN}, {2, MF_FLAGGED | MF_SEEN}, {5, 0}}},
	    {"format 1",
	     "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 1\n3:RS\n4:\n",
	     0,
	     2,
	     {{3, MF_ANSWERED | MF_SEEN}, {4, 0}}},
	    {"magic only",
	     "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n",
	     0,
	     0,
	     {{0}}},
	    {"no magic", "1|S|0|\n", -1, 0, {{0}}},
	    {"format 3",
	     "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 3\n",
	     -1,
	     0,
	     {{0}}},
	    {"format 2 line in a format 1 file",
	     "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 1\n1|S|0|\n",
	     -1,
	     0,
	     {{0}}},
	    {"no mtime",
	     "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n1|S\n",
	     -1,
	     0,
	     {{0}}},
	    {"uid 0",
	     "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n0|S|0|\n",
	     -1,
	     0,
	     {{0}}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct peer_uid_flags *recs = NULL;
		struct error err = {0};
		size_t n = 99;
		int rc = peer_state_parse_offlineimap(cases[i].text, strlen(cases[i].text), &recs,
						      &n, &err);
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d (%s)", cases[i].desc, rc, err.msg);
		if (rc == 0) {
			assert_int_equal(n, cases[i].n);
			for (size_t j = 0; j < n; j++) {
				assert_int_equal(recs[j].uid, cases[i].recs[j].uid);
				assert_int_equal(recs[j].flags, cases[i].recs[j].flags);
			}
		} else {
			assert_null(recs);
			assert_int_equal(n, 0);
		}
		free(recs);
	}
}

#define FMD5_INBOX "7e33429f656f1e6e9d79b29c3f82c57e" /* md5("INBOX") */

static void test_name_uid(void **unused)
{
	static const struct {
		const char *unique, *fmd5;
		bool ok;
		uint32_t uid;
	} cases[] = {
	    /* mbsync */
	    {"1796606766.11312_4.vm,U=4", NULL, true, 4},
	    {"1796606766.11312_4.vm,S=1234,U=4000000000", NULL, true, 4000000000u},
	    {"1796606766.11312_4.vm", NULL, false, 0},
	    {"1796606766.11312_4.vm,U=", NULL, false, 0},
	    {"1796606766.11312_4.vm,U=0", NULL, false, 0},
	    {"1796606766.11312_4.vm,U=4x", NULL, false, 0},
	    {"1796606766.11312_4.vm,U=4294967296", NULL, false, 0},
	    {"x.U=4", NULL, false, 0},
	    /* an OfflineIMAP name is not mbsync's */
	    {"1796606766_6.11319.vm,U=4,FMD5=" FMD5_INBOX, NULL, false, 0},
	    /* OfflineIMAP */
	    {"1796606766_6.11319.vm,U=4,FMD5=" FMD5_INBOX, FMD5_INBOX, true, 4},
	    {"1796606766_6.11319.vm,U=4,FMD5=e649fc2cbb4c09923a41281ff3dafebd", FMD5_INBOX, false,
	     0},
	    {"1796606766_6.11319.vm,U=4,FMD5=" FMD5_INBOX "0", FMD5_INBOX, false, 0},
	    {"1796606766_6.11319.vm,U=4", FMD5_INBOX, false, 0},
	    {"1796606766_6.11319.vm,FMD5=" FMD5_INBOX, FMD5_INBOX, false, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t uid = 0;
		bool ok = peer_state_name_uid(cases[i].unique, cases[i].fmd5, &uid);
		if (ok != cases[i].ok)
			fail_msg("%s: %d", cases[i].unique, ok);
		if (ok)
			assert_int_equal(uid, cases[i].uid);
	}
}

static void test_lieer(void **unused)
{
	static const struct {
		const char *unique;
		bool ok;
		uint64_t gm;
	} cases[] = {
	    {"17c9f0a2b4d3e5f1", true, 0x17c9f0a2b4d3e5f1ull},
	    {"17c9f0a2b4d3e5f1.eml", true, 0x17c9f0a2b4d3e5f1ull},
	    {"ffffffffffffffff", true, UINT64_MAX},
	    {"13e4b2b0c1a9f00", true, 0x13e4b2b0c1a9f00ull},
	    {"17C9F0A2B4D3E5F1", false, 0},
	    {"17c9f0a2b4d3e5f10", false, 0}, /* 17 digits */
	    {"17c9f0a2b", false, 0},	     /* too short to be Gmail's */
	    {"07c9f0a2b4d3e5f1", false, 0},
	    {"17c9f0a2b4d3e5f1.", false, 0},
	    {"17c9f0a2b4d3e5f1.e-l", false, 0},
	    {"1796606766.11312_4.vm,U=4", false, 0},
	    {"", false, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t gm = 0;
		bool ok = peer_state_lieer_gm_msgid(cases[i].unique, &gm);
		if (ok != cases[i].ok)
			fail_msg("%s: %d", cases[i].unique, ok);
		if (ok)
			assert_true(gm == cases[i].gm);
	}
}

static void test_letters(void **unused)
{
	assert_int_equal(peer_state_flags_from_letters("DFPRST", 6), MF_ALL);
	assert_int_equal(peer_state_flags_from_letters("Sa", 2), MF_SEEN);
	assert_int_equal(peer_state_flags_from_letters("S", 0), 0);
	assert_string_equal(peer_tool_name(PEER_MBSYNC), "mbsync");
	assert_string_equal(peer_tool_name(PEER_OFFLINEIMAP), "offlineimap");
	assert_string_equal(peer_tool_name(PEER_NONE), "none");
}

/* ---- peer_state_read over folders laid out as the tools lay them out */

struct fx {
	char root[64];
	char *home, *mail;
};

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static void put_at(const char *dir, const char *name, const char *text)
{
	char *p = fs_join(dir, name);
	put(p, text);
	free(p);
}

static void mkdirs(const char *path)
{
	struct error err = {0};
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
}

static char *mk_folder(struct fx *fx, const char *rel)
{
	char *f = fs_join(fx->mail, rel), *sub;
	const char *subs[] = {"cur", "new", "tmp"};
	for (size_t i = 0; i < 3; i++) {
		sub = fs_join(f, subs[i]);
		mkdirs(sub);
		free(sub);
	}
	return f;
}

static int setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	snprintf(fx->root, sizeof(fx->root), "/tmp/test_peer_state.XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	fx->home = fs_join(fx->root, "home");
	fx->mail = fs_join(fx->root, "Mail");
	mkdirs(fx->home);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char *cmd = xasprintf("rm -rf '%s'", fx->root);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(fx->home);
	free(fx->mail);
	free(fx);
	return 0;
}

static int read_folder(const char *path, const char *rel, uint32_t uv, const char *home,
		       struct peer_state **ps, char *why, size_t size)
{
	struct peer_folder f = {path, rel, rel, uv, home};
	struct error err = {0};
	int rc = peer_state_read(&f, ps, why, size, &err);
	if (rc < 0)
		fail_msg("peer_state_read: %s", err.msg);
	return rc;
}

static void check_rec(const struct peer_state *ps, size_t i, uint32_t uid, const char *unique,
		      unsigned flags)
{
	assert_true(i < ps->n);
	assert_int_equal(ps->recs[i].uid, uid);
	if (unique)
		assert_string_equal(ps->recs[i].unique, unique);
	else
		assert_null(ps->recs[i].unique);
	assert_int_equal(ps->recs[i].flags, flags);
}

/* mbsync's default location: the state in ~/.mbsync named after the
 * channel's stores and boxes, files named by the near UID. */
static void test_read_mbsync_default(void **state)
{
	struct fx *fx = *state;
	struct peer_state *ps = NULL;
	char why[1024], *f = mk_folder(fx, "INBOX"), *dir = fs_join(fx->home, ".mbsync");

	mkdirs(dir);
	put_at(dir, ":far:INBOX_:near:INBOX", MB_DEFAULT);
	/* Another channel's folder that only shares a suffix. */
	put_at(dir, ":far:Old!INBOX_:near:Old!INBOX", MB_DEFAULT);
	put_at(f, ".uidvalidity", "1796606766\n5\n");
	put_at(f, "cur/1796606766.11312_1.vm,U=1:2,S", "");
	put_at(f, "cur/1796606766.11312_2.vm,U=2:2,S", "");
	put_at(f, "new/1796606766.11312_3.vm,U=3:2,F", "");
	/* 4 was deleted locally since; 5 has two files (a copy): neither. */
	put_at(f, "new/1796606766.11312_5.vm,U=5:2,", "");
	put_at(f, "cur/copy.of.5,U=5:2,S", "");
	put_at(f, "cur/written.by.a.mua:2,S", "");

	assert_int_equal(read_folder(f, "INBOX", 1796606765, fx->home, &ps, why, sizeof(why)), 1);
	assert_int_equal(ps->tool, PEER_MBSYNC);
	assert_non_null(strstr(ps->source, "/.mbsync/:far:INBOX_:near:INBOX"));
	assert_int_equal(ps->n, 5);
	check_rec(ps, 0, 1, "1796606766.11312_1.vm,U=1", MF_SEEN);
	check_rec(ps, 1, 2, "1796606766.11312_2.vm,U=2", MF_SEEN);
	check_rec(ps, 2, 3, "1796606766.11312_3.vm,U=3", MF_FLAGGED);
	check_rec(ps, 3, 4, NULL, MF_ANSWERED);
	check_rec(ps, 4, 5, NULL, 0);
	peer_state_free(&ps);
	assert_null(ps);

	/* The server's folder was recreated: its UIDs mean other messages. */
	assert_int_equal(read_folder(f, "INBOX", 1796606999, fx->home, &ps, why, sizeof(why)), 0);
	assert_null(ps);
	assert_non_null(strstr(why, "server UIDVALIDITY was 1796606765, is 1796606999"));

	/* The local folder was recreated under the same name. */
	put_at(f, ".uidvalidity", "1796607123\n1\n");
	assert_int_equal(read_folder(f, "INBOX", 1796606765, fx->home, &ps, why, sizeof(why)), 0);
	assert_non_null(strstr(why, ".uidvalidity is 1796607123"));
	free(f);
	free(dir);
}

/* "SyncState *": .mbsyncstate in the folder; a killed run leaves .new and
 * .journal beside it, and then nothing is used. Nested folder names are
 * flattened with '!' in the default location. */
static void test_read_mbsync_in_folder(void **state)
{
	struct fx *fx = *state;
	struct peer_state *ps = NULL;
	char why[1024], *f = mk_folder(fx, "A/B"), *p;

	put_at(f, ".uidvalidity", "1796607000\n4\n");
	put_at(f, ".mbsyncstate", MB_INBOX);
	put_at(f, "cur/1796607000.23310_1.vm,U=1:2,S", "");
	put_at(f, "cur/1796607000.23310_2.vm,U=2:2,FS", "");
	assert_int_equal(read_folder(f, "A/B", 1796606999, fx->home, &ps, why, sizeof(why)), 1);
	assert_int_equal(ps->n, 2);
	check_rec(ps, 0, 1, "1796607000.23310_1.vm,U=1", MF_SEEN);
	check_rec(ps, 1, 2, "1796607000.23310_2.vm,U=2", MF_FLAGGED | MF_SEEN);
	peer_state_free(&ps);

	/* The start of the journal of a run killed while pulling new mail. */
	put_at(f, ".mbsyncstate.journal", "4\n+ 5 0\n+ 6 0\n");
	put_at(f, ".mbsyncstate.new", "");
	put_at(f, ".mbsyncstate.lock", "");
	assert_int_equal(read_folder(f, "A/B", 1796606999, fx->home, &ps, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "interrupted"));

	/* Without SyncState *, the state is ~/.mbsync/:far:A!B_:near:A!B. */
	p = fs_join(f, ".mbsyncstate");
	assert_int_equal(unlink(p), 0);
	free(p);
	p = fs_join(fx->home, ".mbsync");
	mkdirs(p);
	put_at(p, ":far:A!B_:near:A!B", MB_INBOX);
	assert_int_equal(read_folder(f, "A/B", 1796606999, fx->home, &ps, why, sizeof(why)), 1);
	assert_int_equal(ps->n, 2);
	peer_state_free(&ps);

	/* Two channels with a state for the same pair of folders. */
	put_at(p, ":gmail:A!B_:local:A!B", MB_INBOX);
	assert_int_equal(read_folder(f, "A/B", 1796606999, fx->home, &ps, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "2 channels"));
	free(p);
	free(f);
}

/* An OfflineIMAP LocalStatus-sqlite database with the schema offlineimap3
 * 8.0 creates (db_version 2). */
static void mk_sqlite(const char *path, const char *rows)
{
	sqlite3 *db;
	char *sql = xasprintf("CREATE TABLE metadata (key VARCHAR(50) PRIMARY KEY, value "
			      "VARCHAR(128));"
			      "INSERT INTO metadata VALUES('db_version', '2');"
			      "CREATE TABLE status (id INTEGER PRIMARY KEY, flags VARCHAR(50), "
			      "mtime INTEGER, labels VARCHAR(256));%s",
			      rows);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(sql);
}

#define FMD5_AB "e649fc2cbb4c09923a41281ff3dafebd" /* md5("A/B") */

static void test_read_offlineimap(void **state)
{
	struct fx *fx = *state;
	struct peer_state *ps = NULL;
	char why[1024], *f = mk_folder(fx, "A/B");
	char *meta = fs_join(fx->home, ".offlineimap"), *p;

	p = xasprintf("%s/Account-gm/LocalStatus-sqlite", meta);
	mkdirs(p);
	put_at(p, "A.B-not-this", "");
	free(p);
	p = xasprintf("%s/Account-gm/LocalStatus-sqlite/A.B", meta);
	mk_sqlite(p, "INSERT INTO status VALUES(1, 'S', 0, '');"
		     "INSERT INTO status VALUES(2, 'FS', 0, '');"
		     "INSERT INTO status VALUES(3, '', 0, '');"
		     "INSERT INTO status VALUES(4, 'R', 0, '');");
	free(p);
	/* Both repositories keep a FolderValidity; the local one is not the
	 * server's. */
	p = xasprintf("%s/Repository-local/FolderValidity", meta);
	mkdirs(p);
	put_at(p, "A.B", "42\n");
	free(p);
	p = xasprintf("%s/Repository-remote/FolderValidity", meta);
	mkdirs(p);
	put_at(p, "A.B", "1796606766\n");
	free(p);
	put_at(f, "cur/1796606766_0.11319.vm,U=1,FMD5=" FMD5_AB ":2,S", "");
	put_at(f, "cur/1796606766_1.11319.vm,U=2,FMD5=" FMD5_AB ":2,FS", "");
	put_at(f, "new/1796606766_2.11319.vm,U=3,FMD5=" FMD5_AB ":2,", "");
	/* Moved here from INBOX by a mail reader: its UID is INBOX's. */
	put_at(f, "cur/1796606766_6.11319.vm,U=4,FMD5=" FMD5_INBOX ":2,R", "");

	assert_int_equal(read_folder(f, "A/B", 1796606766, fx->home, &ps, why, sizeof(why)), 1);
	assert_int_equal(ps->tool, PEER_OFFLINEIMAP);
	assert_non_null(strstr(ps->source, "/Account-gm/LocalStatus-sqlite/A.B"));
	assert_int_equal(ps->n, 4);
	check_rec(ps, 0, 1, "1796606766_0.11319.vm,U=1,FMD5=" FMD5_AB, MF_SEEN);
	check_rec(ps, 1, 2, "1796606766_1.11319.vm,U=2,FMD5=" FMD5_AB, MF_FLAGGED | MF_SEEN);
	check_rec(ps, 2, 3, "1796606766_2.11319.vm,U=3,FMD5=" FMD5_AB, 0);
	check_rec(ps, 3, 4, NULL, MF_ANSWERED);
	peer_state_free(&ps);

	assert_int_equal(read_folder(f, "A/B", 7, fx->home, &ps, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "not the server's UIDVALIDITY"));

	/* A plain LocalStatus of an older OfflineIMAP in a second account:
	 * two accounts claim the folder, nothing is used. */
	p = xasprintf("%s/Account-old/LocalStatus", meta);
	mkdirs(p);
	put_at(p, "A.B", "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n1|S|0|\n");
	assert_int_equal(read_folder(f, "A/B", 1796606766, fx->home, &ps, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "several accounts"));
	free(p);
	p = xasprintf("rm -rf '%s/Account-gm'", meta);
	assert_int_equal(system(p), 0);
	free(p);
	assert_int_equal(read_folder(f, "A/B", 1796606766, fx->home, &ps, why, sizeof(why)), 1);
	assert_int_equal(ps->n, 1);
	check_rec(ps, 0, 1, "1796606766_0.11319.vm,U=1,FMD5=" FMD5_AB, MF_SEEN);
	assert_non_null(strstr(ps->source, "/Account-old/LocalStatus/A.B"));
	peer_state_free(&ps);
	free(meta);
	free(f);
}

static void test_read_none(void **state)
{
	struct fx *fx = *state;
	struct peer_state *ps = NULL;
	char why[1024], tiny[8], *f = mk_folder(fx, "INBOX");

	put_at(f, "cur/17c9f0a2b4d3e5f1:2,S", ""); /* lieer: nothing to read */
	assert_int_equal(read_folder(f, "INBOX", 5, fx->home, &ps, why, sizeof(why)), 0);
	assert_null(ps);
	assert_non_null(strstr(why, "mbsync: "));
	assert_non_null(strstr(why, "offlineimap: "));
	/* A reason too long for the buffer is cut, NUL-terminated. */
	assert_int_equal(read_folder(f, "INBOX", 5, fx->home, &ps, tiny, sizeof(tiny)), 0);
	assert_true(strlen(tiny) < sizeof(tiny));
	assert_int_equal(read_folder(f, "INBOX", 5, fx->home, &ps, NULL, 0), 0);
	peer_state_free(&ps);
	peer_state_free(NULL);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_mbsync),
	    cmocka_unit_test(test_parse_uidvalidity),
	    cmocka_unit_test(test_parse_offlineimap),
	    cmocka_unit_test(test_name_uid),
	    cmocka_unit_test(test_lieer),
	    cmocka_unit_test(test_letters),
	    cmocka_unit_test_setup_teardown(test_read_mbsync_default, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_mbsync_in_folder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_offlineimap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_none, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
