/* `gmaildir status [--json] [ACCOUNT...]`: per account, whether a sync or
 * the daemon holds it right now, and per folder the messages on disk, the
 * messages paired at the last sync (the server as last seen), the time of
 * the last successful sync, the work still pending (intents) and the last
 * error with its time. Read-only: it takes no lock, creates no file and
 * opens the state database read-only, so it works beside a running daemon.
 *
 * The --json schema (stable: scripts rely on it; fields are only ever
 * added):
 *   {"accounts": [{
 *      "name": "personal",
 *      "locked_by": 1234 | null,    pid of the sync or daemon holding the
 *                                   account (0: held, pid not known yet)
 *      "error": "..." | null,       the state database could not be read
 *      "connect_error": "..." | null,   why the last connection or sign-in
 *                                   failed ("sign-in needed: ..."); null once
 *                                   one worked again
 *      "connect_error_at": "2026-..Z" | null,   since when
 *      "folders": [{
 *         "name": "INBOX",          local path below the maildir root
 *         "remote": "INBOX" | null, name on the server (null: never synced)
 *         "local": 20,              message files in cur/ and new/
 *         "synced": 20,             messages paired at the last sync
 *         "last_sync": 1700000000 | null,   Unix time of the last success
 *         "pending": 0,             unfinished operations (intents)
 *         "last_error": "..." | null,
 *         "last_error_at": "2026-11-26T08:12:05Z" | null
 *                                   when last_error was recorded, in UTC
 *                                   (null: no error, or one recorded by an
 *                                   older gmaildir)
 *         "ignored": ["cur/x", ...] files the last sync of the folder left
 *                                   alone as not Maildir messages
 *         "held": [{"uid": 7, "size": 31457280}, ...]  messages max_size
 *                                   left on the server at the last sync
 *      }],
 *      "outbox": null | {           null: the account has no smtp server
 *         "queued": 1, "failed": 0, messages waiting; refused for good
 *         "copies_waiting": 0,      sent, not yet in the local Sent folder
 *         "sent": 12,               messages the server took (sent.log)
 *         "last_sent": "2026-..Z" | null,
 *         "last_error": "..." | null, "last_error_at": "2026-..Z" | null,
 *         "messages": [{"name": "...", "state": "queued" | "failed",
 *                       "attempts": 2, "next_try": "2026-..Z" | null,
 *                       "error": "..." | null, "error_at": "..Z" | null}]
 *      },
 *      "daemon": null | {          null: no daemon runs the account now
 *         "pid": 1234, "last_sync_ok": "2026-..Z" | null,
 *         "last_error": "..." | null, "last_error_at": "2026-..Z" | null,
 *         "connections": [{"role": "idle" | "poll" | "sync",
 *            "folder": "INBOX" | "3 folder(s)" | null,
 *            "state": "connected" | "connecting" | "reconnecting" |
 *                     "waiting for network" | "syncing" | ...,
 *            "since": "2026-..Z" | null,
 *            "last_error": "..." | null, "last_error_at": "2026-..Z" | null}]
 *      }
 *   }]}
 * Exit status: 0, or 1 when some account's state could not be read, 2 for
 * a usage or config error. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "daemon/livestatus.h"
#include "imap/folders.h"
#include "smtp/outbox.h"
#include "store/maildir.h"
#include "store/state.h"
#include "util/xalloc.h"

struct folder_row {
	char *name;	      /* owned: local path */
	char *remote;	      /* owned or NULL: never synced */
	size_t local;	      /* files in cur/ + new/ */
	size_t synced;	      /* pairs */
	time_t last_sync;     /* 0: never */
	size_t pending;	      /* intents */
	char *last_error;     /* owned or NULL */
	time_t last_error_at; /* 0: no error, or unknown */
	char **ignored;	      /* owned: "cur/x", of the last sync */
	size_t n_ignored;
	struct state_held *held; /* owned: what max_size left on the server */
	size_t n_held;
};

struct account_view {
	const struct account_conf *acct; /* borrowed */
	int held;			 /* 1 a process holds the lock, 0 not, -1 unknown */
	long pid;			 /* the holder, 0 when unknown */
	const char *holder;		 /* "daemon" or "sync": static */
	bool has_db;			 /* a state database exists */
	char *error;			 /* owned or NULL: the state could not be read */
	struct folder_row *rows;	 /* owned */
	size_t n_rows;
	struct outbox_report outbox; /* when the account has an smtp server */
	char *connect_error;	     /* owned or NULL: the last connect/sign-in failure */
	time_t connect_error_at;
	bool live;		   /* the running daemon's connections are known */
	struct live_status daemon; /* when live */
};

/* ------------------------------------------------------------ gathering */

/* Message files in one of cur/ and new/: one readdir, no stat (dot files
 * and subdirectories are not messages). */
static size_t count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type != DT_DIR && de->d_type != DT_LNK)
			n++;
	closedir(d);
	return n;
}

static size_t count_local(const char *root, const char *folder)
{
	char *cur = xasprintf("%s/%s/cur", root, folder);
	char *new = xasprintf("%s/%s/new", root, folder);
	size_t n = count_dir(cur) + count_dir(new);

	free(cur);
	free(new);
	return n;
}

static struct folder_row *add_row(struct account_view *v, const char *name)
{
	struct folder_row *r;

	v->rows = xrealloc(v->rows, (v->n_rows + 1) * sizeof(*v->rows));
	r = &v->rows[v->n_rows++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	return r;
}

static bool has_row(const struct account_view *v, const char *name)
{
	for (size_t i = 0; i < v->n_rows; i++)
		if (strcmp(v->rows[i].name, name) == 0)
			return true;
	return false;
}

/* "UNIXTIME message" (sync/engine.c), empty when the last connection
 * worked. */
static void read_connect_error(struct account_view *v, struct state *st)
{
	struct error ignored = {0};
	char *val = NULL, *sp;

	if (state_meta_get(st, CONNECT_ERROR_KEY, &val, &ignored) <= 0)
		return;
	sp = strchr(val, ' ');
	if (sp && sp[1]) {
		v->connect_error_at = (time_t)strtoll(val, NULL, 10);
		v->connect_error = xstrdup(sp + 1);
	}
	free(val);
}

/* The folders the state knows, with their counts. */
static int gather_state(struct account_view *v, struct error *err)
{
	struct state *st = NULL;
	struct state_folder_report *rep = NULL;
	size_t n = 0;
	int rc = state_open_readonly(v->acct->state_dir, &st, err);

	if (rc <= 0)
		return rc;
	v->has_db = true;
	read_connect_error(v, st);
	rc = state_report_load(st, &rep, &n, err);
	state_free(&st);
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct folder_row *r = add_row(v, rep[i].local_path ? rep[i].local_path : "?");

		r->remote = rep[i].remote ? xstrdup(rep[i].remote) : NULL;
		r->synced = rep[i].pairs;
		r->pending = rep[i].pending;
		r->last_sync = rep[i].last_sync;
		r->last_error = rep[i].last_error ? xstrdup(rep[i].last_error) : NULL;
		r->last_error_at = rep[i].last_error_at;
		r->ignored = rep[i].ignored;
		r->n_ignored = rep[i].n_ignored;
		rep[i].ignored = NULL;
		rep[i].n_ignored = 0;
		r->held = rep[i].held;
		r->n_held = rep[i].n_held;
		rep[i].held = NULL;
		rep[i].n_held = 0;
	}
	state_reports_free(rep, n);
	return 0;
}

/* Local folders the state does not know yet (created by a mail reader, or
 * everything before the first sync). */
static void gather_local_only(struct account_view *v)
{
	struct error err = {0};
	char **paths = NULL;
	size_t n = 0;

	if (maildir_tree_list(v->acct->maildir, v->acct->layout, &paths, &n, &err) < 0)
		return; /* the state's folders are still worth showing */
	for (size_t i = 0; i < n; i++)
		if (!has_row(v, paths[i]))
			add_row(v, paths[i]);
	maildir_tree_free(paths, n);
}

static int cmp_row(const void *a, const void *b)
{
	return folder_display_cmp(((const struct folder_row *)a)->name,
				  ((const struct folder_row *)b)->name);
}

/* "daemon" or "sync" from the holder's command line; "sync" when it cannot
 * be read (the holder may run as another user, or just exited). */
static const char *holder_kind(long pid)
{
	char path[64], cmd[4096];
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = fopen(path, "re");
	if (!f)
		return "sync";
	len = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	cmd[len] = '\0';
	/* Arguments are NUL-separated: look at each. The first command word
	 * decides; "daemon" cannot be an option's argument before it. */
	for (size_t at = 0; at < len; at += strlen(cmd + at) + 1) {
		if (strcmp(cmd + at, "daemon") == 0)
			return "daemon";
		if (strcmp(cmd + at, "sync") == 0)
			return "sync";
	}
	return "sync";
}

static void gather(struct account_view *v)
{
	struct error err = {0};

	v->held = state_lock_holder(v->acct->state_dir, &v->pid, &err);
	if (v->held == 1 && v->pid > 0)
		v->holder = holder_kind(v->pid);
	if (gather_state(v, &err) < 0)
		v->error = xstrdup(err.msg);
	gather_local_only(v);
	for (size_t i = 0; i < v->n_rows; i++)
		v->rows[i].local = count_local(v->acct->maildir, v->rows[i].name);
	if (v->n_rows)
		qsort(v->rows, v->n_rows, sizeof(*v->rows), cmp_row);
	if (v->acct->smtp.configured)
		outbox_report(v->acct, &v->outbox, &err);
	/* A file left by a daemon that died is not news. */
	if (v->holder && strcmp(v->holder, "daemon") == 0 &&
	    live_status_load(v->acct->state_dir, &v->daemon, &err) == 1)
		v->live = v->daemon.pid == (pid_t)v->pid;
}

static void view_clear(struct account_view *v)
{
	for (size_t i = 0; i < v->n_rows; i++) {
		free(v->rows[i].name);
		free(v->rows[i].remote);
		free(v->rows[i].last_error);
		state_keys_free(v->rows[i].ignored, v->rows[i].n_ignored);
		free(v->rows[i].held);
	}
	free(v->rows);
	free(v->error);
	free(v->connect_error);
	live_status_clear(&v->daemon);
	outbox_report_free(&v->outbox);
	memset(v, 0, sizeof(*v));
}

/* ----------------------------------------------------------- the table */

/* "just now", "42 s ago", "3 min ago", "5 h ago", "12 days ago", "never". */
static void relative_time(time_t t, time_t now, char *buf, size_t cap)
{
	long d = (long)(now - t);

	if (t == 0)
		snprintf(buf, cap, "never");
	else if (d < 10)
		snprintf(buf, cap, "just now");
	else if (d < 60)
		snprintf(buf, cap, "%ld s ago", d);
	else if (d < 3600)
		snprintf(buf, cap, "%ld min ago", d / 60);
	else if (d < 48 * 3600)
		snprintf(buf, cap, "%ld h ago", d / 3600);
	else
		snprintf(buf, cap, "%ld days ago", d / 86400);
}

/* Prints s with control characters and invalid UTF-8 as '?': names and
 * server texts must not drive the terminal. */
static void put_clean(const char *s)
{
	cli_cell(s, 0);
}

static time_t latest_sync(const struct account_view *v)
{
	time_t t = 0;

	for (size_t i = 0; i < v->n_rows; i++)
		if (v->rows[i].last_sync > t)
			t = v->rows[i].last_sync;
	return t;
}

static void print_header(const struct account_view *v, time_t now)
{
	char when[32];
	time_t last = latest_sync(v);

	printf("%s: ", v->acct->name);
	if (v->held == 1 && v->pid > 0)
		printf("%s running (pid %ld)", v->holder, v->pid);
	else if (v->held == 1)
		printf("being synced");
	else if (v->held == 0)
		printf("idle");
	else
		printf("lock state unknown");
	relative_time(last, now, when, sizeof(when));
	if (v->error)
		printf(", state unreadable\n");
	else if (last)
		printf(", last sync %s\n", when);
	else
		printf(", never synced%s\n", v->has_db ? "" : " (no state yet)");
	if (v->error)
		printf("  error: %s\n", v->error);
}

/* " (2026-11-26 08:12, 3 min ago)" in local time; nothing when the time
 * is unknown (an error recorded before the column existed). */
static void print_error_time(time_t t, time_t now)
{
	char when[32], date[32];
	struct tm tm;

	if (t == 0 || !localtime_r(&t, &tm) ||
	    strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm) == 0)
		return;
	relative_time(t, now, when, sizeof(when));
	printf(" (%s, %s)", date, when);
}

#define HELD_SHOWN 10

static void print_size(uint64_t bytes)
{
	if (bytes >= 1000 * 1000)
		printf("%.1f MB", (double)bytes / 1e6);
	else
		printf("%.1f KB", (double)bytes / 1e3);
}

/* What max_size keeps on the server: the user may want one of them (raise
 * max_size for the folder, and the next sync fetches it). */
static void print_held(const struct folder_row *r)
{
	uint64_t total = 0;

	if (r->n_held == 0)
		return;
	for (size_t i = 0; i < r->n_held; i++)
		total += r->held[i].size;
	printf("    left on the server by max_size: %zu message%s, ", r->n_held,
	       r->n_held == 1 ? "" : "s");
	print_size(total);
	printf(" (raise max_size to fetch them)\n");
	for (size_t i = 0; i < r->n_held && i < HELD_SHOWN; i++) {
		printf("      UID %u, ", (unsigned)r->held[i].uid);
		print_size(r->held[i].size);
		putchar('\n');
	}
	if (r->n_held > HELD_SHOWN)
		printf("      ... and %zu more (gmaildir status --json lists all)\n",
		       r->n_held - HELD_SHOWN);
}

static void print_row(const struct folder_row *r, int name_w, time_t now)
{
	char when[32];

	relative_time(r->last_sync, now, when, sizeof(when));
	printf("  ");
	cli_cell(r->name, -name_w);
	printf("  %6zu  %6zu  %7zu  %s\n", r->local, r->synced, r->pending, when);
	if (r->last_error) {
		printf("    last error");
		print_error_time(r->last_error_at, now);
		printf(": ");
		put_clean(r->last_error);
		putchar('\n');
	}
	for (size_t i = 0; i < r->n_ignored; i++) {
		printf("    ignored (not a Maildir message): ");
		put_clean(r->ignored[i]);
		putchar('\n');
	}
	print_held(r);
}

/* The newest error of the queue. */
static const struct outbox_entry *last_error(const struct outbox_report *o)
{
	const struct outbox_entry *e = NULL;

	for (size_t i = 0; i < o->n; i++)
		if (o->entries[i].error && (!e || o->entries[i].error_time >= e->error_time))
			e = &o->entries[i];
	return e;
}

static void print_outbox(const struct account_view *v, time_t now)
{
	const struct outbox_report *o = &v->outbox;
	char when[32], next[32];
	struct tm tm;

	if (!v->acct->smtp.configured)
		return;
	printf("  outbox: %zu queued, %zu failed", o->queued, o->failed);
	if (o->copies_waiting)
		printf(", %zu waiting for the Sent folder", o->copies_waiting);
	relative_time(o->last_sent, now, when, sizeof(when));
	if (o->sent_total)
		printf("; %zu sent, the last %s", o->sent_total, when);
	putchar('\n');
	for (size_t i = 0; i < o->n; i++) {
		const struct outbox_entry *e = &o->entries[i];

		printf("    %s %s", e->failed ? "failed" : "queued", e->name);
		if (!e->failed && e->attempts) {
			next[0] = '\0';
			if (e->next_try > now && localtime_r(&e->next_try, &tm))
				strftime(next, sizeof(next), ", next try %H:%M", &tm);
			printf(" (%u attempt%s%s)", e->attempts, e->attempts == 1 ? "" : "s",
			       e->next_try > now ? next : ", next try at the next sync");
		}
		putchar('\n');
		if (e->error) {
			printf("      %s", e->failed ? "refused" : "last error");
			print_error_time(e->error_time, now);
			printf(": ");
			put_clean(e->error);
			putchar('\n');
		}
	}
}

/* "  IDLE INBOX: connected since 14:02 (3 h ago)"... */
static void print_conn(const struct live_conn *c, time_t now)
{
	char when[32];

	if (strcmp(c->role, "idle") == 0)
		printf("  IDLE %s: ", c->folder);
	else if (strcmp(c->role, "poll") == 0)
		printf("  polling %s: ", c->folder);
	else
		printf("  sync: ");
	put_clean(c->state);
	if (c->since) {
		relative_time(c->since, now, when, sizeof(when));
		printf(" since %s", when);
	}
	if (c->error[0] && strcmp(c->state, "connected") != 0) {
		printf("; last error: ");
		put_clean(c->error);
		print_error_time(c->error_at, now);
	}
	putchar('\n');
}

static void print_live(const struct account_view *v, time_t now)
{
	char when[32];

	if (!v->live)
		return;
	if (v->daemon.last_ok) {
		relative_time(v->daemon.last_ok, now, when, sizeof(when));
		printf("  last successful sync %s\n", when);
	}
	for (size_t i = 0; i < v->daemon.n_conns; i++)
		print_conn(&v->daemon.conns[i], now);
}

static void print_table(const struct account_view *v, time_t now)
{
	int name_w = (int)strlen("FOLDER");

	print_header(v, now);
	if (v->connect_error) {
		printf("  cannot sign in or connect: ");
		put_clean(v->connect_error);
		print_error_time(v->connect_error_at, now);
		putchar('\n');
	}
	print_live(v, now);
	print_outbox(v, now);
	if (!v->n_rows)
		return;
	for (size_t i = 0; i < v->n_rows; i++)
		if (cli_columns(v->rows[i].name) > name_w)
			name_w = cli_columns(v->rows[i].name);
	printf("  %-*s  %6s  %6s  %7s  %s\n", name_w, "FOLDER", "LOCAL", "SYNCED", "PENDING",
	       "LAST SYNC");
	for (size_t i = 0; i < v->n_rows; i++)
		print_row(&v->rows[i], name_w, now);
}

/* ---------------------------------------------------------------- JSON */

/* Length of the valid UTF-8 sequence at s, 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	unsigned cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	cp = len == 2	? (s[0] & 0x1fu) << 6 | (s[1] & 0x3fu)
	     : len == 3 ? (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu)
			: (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 |
			      (s[3] & 0x3fu);
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD so that the
 * document always parses. NULL prints null. */
static void json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	while (*p) {
		size_t len;

		if (*p == '"' || *p == '\\')
			printf("\\%c", *p++);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p++);
		else if (*p < 0x80)
			putchar(*p++);
		else if ((len = utf8_len(p)) > 0) {
			fwrite(p, 1, len, stdout);
			p += len;
		} else {
			fputs("\\ufffd", stdout);
			p++;
		}
	}
	putchar('"');
}

/* An ISO 8601 UTC time ("2026-11-26T08:12:05Z"); 0 prints null. */
static void json_utc(time_t t)
{
	char buf[32];
	struct tm tm;

	if (t == 0 || !gmtime_r(&t, &tm) ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		fputs("null", stdout);
	else
		printf("\"%s\"", buf);
}

static void json_folder(const struct folder_row *r)
{
	printf("{\"name\":");
	json_str(r->name);
	printf(",\"remote\":");
	json_str(r->remote);
	printf(",\"local\":%zu,\"synced\":%zu,\"last_sync\":", r->local, r->synced);
	if (r->last_sync)
		printf("%lld", (long long)r->last_sync);
	else
		printf("null");
	printf(",\"pending\":%zu,\"last_error\":", r->pending);
	json_str(r->last_error);
	printf(",\"last_error_at\":");
	json_utc(r->last_error_at);
	printf(",\"ignored\":[");
	for (size_t i = 0; i < r->n_ignored; i++) {
		if (i)
			putchar(',');
		json_str(r->ignored[i]);
	}
	printf("],\"held\":[");
	for (size_t i = 0; i < r->n_held; i++)
		printf("%s{\"uid\":%u,\"size\":%llu}", i ? "," : "", (unsigned)r->held[i].uid,
		       (unsigned long long)r->held[i].size);
	printf("]}");
}

static void json_outbox(const struct account_view *v)
{
	const struct outbox_report *o = &v->outbox;
	const struct outbox_entry *last = last_error(o);

	if (!v->acct->smtp.configured) {
		printf("null");
		return;
	}
	printf("{\"queued\":%zu,\"failed\":%zu,\"copies_waiting\":%zu,\"sent\":%zu,"
	       "\"last_sent\":",
	       o->queued, o->failed, o->copies_waiting, o->sent_total);
	json_utc(o->last_sent);
	printf(",\"last_error\":");
	json_str(last ? last->error : NULL);
	printf(",\"last_error_at\":");
	json_utc(last ? last->error_time : 0);
	printf(",\"messages\":[");
	for (size_t i = 0; i < o->n; i++) {
		const struct outbox_entry *e = &o->entries[i];

		printf("%s{\"name\":", i ? "," : "");
		json_str(e->name);
		printf(",\"state\":\"%s\",\"attempts\":%u,\"next_try\":",
		       e->failed ? "failed" : "queued", e->attempts);
		json_utc(e->failed ? 0 : e->next_try);
		printf(",\"error\":");
		json_str(e->error);
		printf(",\"error_at\":");
		json_utc(e->error_time);
		putchar('}');
	}
	printf("]}");
}

static void json_conn(const struct live_conn *c)
{
	printf("{\"role\":");
	json_str(c->role);
	printf(",\"folder\":");
	json_str(c->role[0] == 's' && strcmp(c->role, "sync") == 0 ? NULL : c->folder);
	printf(",\"state\":");
	json_str(c->state);
	printf(",\"since\":");
	json_utc(c->since);
	printf(",\"last_error\":");
	json_str(c->error[0] ? c->error : NULL);
	printf(",\"last_error_at\":");
	json_utc(c->error[0] ? c->error_at : 0);
	putchar('}');
}

/* The running daemon's view, or null when no daemon runs the account. */
static void json_live(const struct account_view *v)
{
	if (!v->live) {
		printf("null");
		return;
	}
	printf("{\"pid\":%ld,\"last_sync_ok\":", (long)v->daemon.pid);
	json_utc(v->daemon.last_ok);
	printf(",\"last_error\":");
	json_str(v->daemon.error[0] ? v->daemon.error : NULL);
	printf(",\"last_error_at\":");
	json_utc(v->daemon.error[0] ? v->daemon.error_at : 0);
	printf(",\"connections\":[");
	for (size_t i = 0; i < v->daemon.n_conns; i++) {
		if (i)
			putchar(',');
		json_conn(&v->daemon.conns[i]);
	}
	printf("]}");
}

static void json_account(const struct account_view *v)
{
	printf("{\"name\":");
	json_str(v->acct->name);
	printf(",\"locked_by\":");
	if (v->held == 1)
		printf("%ld", v->pid);
	else
		printf("null");
	printf(",\"error\":");
	json_str(v->error);
	printf(",\"connect_error\":");
	json_str(v->connect_error);
	printf(",\"connect_error_at\":");
	json_utc(v->connect_error_at);
	printf(",\"folders\":[");
	for (size_t i = 0; i < v->n_rows; i++) {
		if (i)
			putchar(',');
		json_folder(&v->rows[i]);
	}
	printf("],\"outbox\":");
	json_outbox(v);
	printf(",\"daemon\":");
	json_live(v);
	putchar('}');
}

/* ------------------------------------------------------------- command */

static int parse_status_opts(int argc, char **argv, bool *json_r)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'j')
			return cli_bad_option("status", argv, "", longopts);
		*json_r = true;
	}
	return EXIT_OK;
}

/* The accounts to show: the named ones, or all. NULL after an unknown
 * name (already reported). */
static const struct account_conf **pick_accounts(struct cli *cli, int argc, char **argv,
						 size_t *n_r)
{
	size_t n = optind < argc ? (size_t)(argc - optind) : config_account_count(cli->config);
	const struct account_conf **accts = xcalloc(n ? n : 1, sizeof(*accts));

	for (size_t i = 0; i < n; i++) {
		accts[i] = optind < argc ? cli_find_account(cli, argv[optind + (int)i], NULL)
					 : config_account(cli->config, i);
		if (!accts[i]) {
			free(accts);
			return NULL;
		}
	}
	*n_r = n;
	return accts;
}

int cli_cmd_status(struct cli *cli, int argc, char **argv)
{
	const struct account_conf **accts;
	bool json = false, any_error = false;
	time_t now = time(NULL);
	size_t n = 0;
	/* A bad option is named before a missing config. */
	int ret = parse_status_opts(argc, argv, &json);

	if (ret == EXIT_OK)
		ret = cli_load_config(cli);
	if (ret != EXIT_OK)
		return ret;
	accts = pick_accounts(cli, argc, argv, &n);
	if (!accts)
		return EXIT_USAGE;
	if (json)
		printf("{\"accounts\":[");
	for (size_t i = 0; i < n; i++) {
		struct account_view v = {.acct = accts[i]};

		gather(&v);
		/* Like sync: 1 when something is wrong, so that a script (or a
		 * monitor) sees a failing account without parsing the text. */
		any_error |= v.error != NULL || v.connect_error != NULL;
		for (size_t k = 0; k < v.n_rows; k++)
			any_error |= v.rows[k].last_error != NULL;
		if (json) {
			if (i)
				putchar(',');
			json_account(&v);
		} else {
			if (i)
				putchar('\n');
			print_table(&v, now);
		}
		view_clear(&v);
	}
	if (json)
		printf("]}\n");
	free(accts);
	return any_error ? EXIT_FAILED : EXIT_OK;
}
