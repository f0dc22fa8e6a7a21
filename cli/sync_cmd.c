/* `gmaildir sync [ACCOUNT[/FOLDER]...]`: one sync of the named accounts (all
 * when none is named), progress on a TTY, a one-line summary per folder, and
 * the exit status of DESIGN.md §10. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "daemon/ctlclient.h"
#include "imap/folders.h"
#include "smtp/outbox.h"
#include "sync/engine.h"
#include "sync/hooks.h"
#include "util/log.h"
#include "util/xalloc.h"

struct sync_view {
	bool tty;	/* stderr is a terminal: one updating progress line */
	bool quiet;	/* -q: errors only */
	bool line_open; /* a progress line is on screen */
	bool dry_run;
	bool any_failed;
	bool any_safety;
	struct timespec folder_start;
	const char *folder;	     /* borrowed: the folder of the open progress line */
	struct hook_changes changes; /* folders changed on disk, for the hook */
	size_t reports;		     /* folders done (or failed) so far */
	/* The folder reports of the account being synced, printed sorted when
	 * it is done: workers finish folders in any order. */
	struct engine_folder_report *lines; /* owned, each .folder owned */
	size_t n_lines, cap_lines;
	bool late;	     /* the daemon's run outlasted --wait */
	bool account_failed; /* the last account's run failed as a whole */
	int wait_s;	     /* --wait: for a running daemon's run; 0: no limit */
};

#define WAIT_DEFAULT_S 600
#define WAIT_MAX_S (7 * 24 * 3600)
#define HELLO_TIMEOUT_MS 5000

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void on_progress(const struct engine_progress *p, void *ctx)
{
	struct sync_view *v = ctx;
	double secs, rate, left, mb = (double)p->bytes / 1e6;

	if (!v->tty || v->quiet)
		return;
	if (v->folder != p->folder) {
		v->folder = p->folder;
		clock_gettime(CLOCK_MONOTONIC, &v->folder_start);
	}
	secs = seconds_since(&v->folder_start);
	rate = secs > 0.05 ? mb / secs : 0.0;
	left =
	    rate > 0 && p->total_bytes > p->bytes ? ((double)p->total_bytes / 1e6 - mb) / rate : 0;
	fprintf(stderr, "\r\033[K%s/%s: %zu/%zu messages, %.1f/%.1f MB, %.1f MB/s", p->account,
		p->folder, p->done, p->total, mb, (double)p->total_bytes / 1e6, rate);
	if (left >= 1)
		fprintf(stderr, ", %d:%02d left", (int)left / 60, (int)left % 60);
	v->line_open = true;
}

static void close_line(struct sync_view *v)
{
	if (v->line_open)
		fprintf(stderr, "\r\033[K");
	v->line_open = false;
}

/* Nothing moved either way: the folder's line says "unchanged". */
static bool no_change(const struct engine_folder_report *r)
{
	return r->unchanged ||
	       (!r->renamed && !r->downloaded && !r->uploaded && !r->flags_pulled &&
		!r->flags_pushed && !r->deleted_local && !r->deleted_remote && !r->moved);
}

/* "5 down (1.2 MB), 2 up, flags 0 down 1 up, deleted 0 here 0 there, 0
 * moved": every field, in a fixed order, so eyes and scripts find each at
 * its place. Appended to buf at *len (snprintf's bounds). */
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = *len + (size_t)n < size ? *len + (size_t)n : size;
}

static void format_changes(const struct engine_folder_report *r, char *buf, size_t size,
			   size_t *len)
{
	append(buf, size, len, "%zu down (%.1f MB", r->downloaded, (double)r->bytes_down / 1e6);
	if (r->linked)
		append(buf, size, len, ", %zu linked", r->linked);
	append(buf, size, len,
	       "), %zu up, flags %zu down %zu up, deleted %zu here %zu there, %zu moved",
	       r->uploaded, r->flags_pulled, r->flags_pushed, r->deleted_local, r->deleted_remote,
	       r->moved);
}

static void format_held(const struct engine_folder_report *r, char *buf, size_t size, size_t *len)
{
	if (r->held)
		append(buf, size, len, "; %zu left on the server by max_age/max_size", r->held);
}

/* The folder's line. A folder that failed gets one too (after its error):
 * what it did before the failure (the uploads of the batches that went
 * through, say) is done and counts. One where nothing changed says only
 * that, not a row of zeros. On stdout (the name padded by screen columns)
 * and into the log file (--log-file). */
static void print_counts(const struct engine_folder_report *r)
{
	char body[512];
	size_t len = 0;

	body[0] = '\0';
	if (!r->failed && no_change(r)) {
		append(body, sizeof(body), &len, "unchanged, %zu messages", r->messages);
	} else {
		append(body, sizeof(body), &len, "%s", r->failed ? "failed after " : "");
		format_changes(r, body, sizeof(body), &len);
		/* A failed folder's count of messages was never taken. */
		if (!r->failed)
			append(body, sizeof(body), &len, "; %zu messages", r->messages);
	}
	format_held(r, body, sizeof(body), &len);
	printf("%s/", r->account);
	cli_cell(r->folder, 0);
	printf(": %s\n", body);
	log_file_msg(LOG_LVL_INFO, "%s/%s: %s", r->account, r->folder, body);
}

static void add_counts(struct engine_folder_report *sum, const struct engine_folder_report *r)
{
	sum->downloaded += r->downloaded;
	sum->linked += r->linked;
	sum->uploaded += r->uploaded;
	sum->flags_pulled += r->flags_pulled;
	sum->flags_pushed += r->flags_pushed;
	sum->deleted_local += r->deleted_local;
	sum->deleted_remote += r->deleted_remote;
	sum->moved += r->moved;
	sum->held += r->held;
	sum->bytes_down += r->bytes_down;
	if (!r->failed)
		sum->messages += r->messages;
}

/* The account's total under its folders: "work (12 folders, 2 changed):
 * ..." or "work (12 folders): unchanged, 1234 messages". */
static void print_total(const struct sync_view *v, const char *account)
{
	struct engine_folder_report sum = {0};
	size_t changed = 0, failed = 0;

	for (size_t i = 0; i < v->n_lines; i++) {
		add_counts(&sum, &v->lines[i]);
		failed += v->lines[i].failed;
		changed += !v->lines[i].failed && !no_change(&v->lines[i]);
	}
	char line[640];
	size_t len = 0;

	line[0] = '\0';
	append(line, sizeof(line), &len, "%s (%zu folders", account, v->n_lines);
	if (changed)
		append(line, sizeof(line), &len, ", %zu changed", changed);
	if (failed)
		append(line, sizeof(line), &len, ", %zu failed", failed);
	append(line, sizeof(line), &len, "): ");
	if (!changed && !failed) {
		append(line, sizeof(line), &len, "unchanged, %zu messages", sum.messages);
	} else {
		format_changes(&sum, line, sizeof(line), &len);
		append(line, sizeof(line), &len, "; %zu messages", sum.messages);
	}
	format_held(&sum, line, sizeof(line), &len);
	printf("%s\n", line);
	log_file_msg(LOG_LVL_INFO, "%s", line);
}

#define PLAN_NAME_COLUMNS 34

/* --dry-run: the plan of every folder, one row each. */
static void plan_row(const char *name, const struct engine_folder_report *r)
{
	cli_cell(name, -PLAN_NAME_COLUMNS);
	printf(" %6zu %6zu %7zu %7zu %6zu %6zu %6zu\n", r->downloaded, r->uploaded, r->flags_pulled,
	       r->flags_pushed, r->deleted_local, r->deleted_remote, r->moved);
}

/* The header by screen columns: the arrows are 3 bytes and one column. */
static void plan_header(void)
{
	static const char *const heads[] = {"↓new", "↑new", "↓flags", "↑flags",
					    "↓del", "↑del", "moves"};
	static const int widths[] = {6, 6, 7, 7, 6, 6, 6};

	cli_cell("would change (dry run)", -PLAN_NAME_COLUMNS);
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		putchar(' ');
		cli_cell(heads[i], widths[i]);
	}
	putchar('\n');
}

static void print_plan(const struct sync_view *v, const char *account)
{
	struct engine_folder_report sum = {0};
	size_t rows = 0;

	for (size_t i = 0; i < v->n_lines; i++) {
		char *name;

		if (v->lines[i].failed)
			continue; /* its error said it all */
		if (!rows++)
			plan_header();
		name = xasprintf("%s/%s", account, v->lines[i].folder);
		plan_row(name, &v->lines[i]);
		add_counts(&sum, &v->lines[i]);
		free(name);
	}
	if (rows > 1)
		plan_row("total", &sum);
}

static int cmp_line(const void *a, const void *b)
{
	return folder_display_cmp(((const struct engine_folder_report *)a)->folder,
				  ((const struct engine_folder_report *)b)->folder);
}

/* The account's folders, sorted (INBOX first, then by name), and their
 * total when there is more than one. */
static void print_account_lines(struct sync_view *v, const char *account)
{
	if (v->n_lines > 1)
		qsort(v->lines, v->n_lines, sizeof(*v->lines), cmp_line);
	if (v->dry_run) {
		print_plan(v, account);
	} else {
		for (size_t i = 0; i < v->n_lines; i++)
			print_counts(&v->lines[i]);
		if (v->n_lines > 1)
			print_total(v, account);
	}
	fflush(stdout);
	for (size_t i = 0; i < v->n_lines; i++)
		free((char *)v->lines[i].folder);
	v->n_lines = 0;
}

/* Keeps a copy of r for print_account_lines; its strings are borrowed
 * only for the callback, so the folder's name is copied (the account's
 * name is the config's, which outlives the view). */
static void keep_line(struct sync_view *v, const struct engine_folder_report *r)
{
	if (v->n_lines == v->cap_lines) {
		v->cap_lines = v->cap_lines ? 2 * v->cap_lines : 16;
		v->lines = xrealloc(v->lines, v->cap_lines * sizeof(*v->lines));
	}
	v->lines[v->n_lines] = *r;
	v->lines[v->n_lines++].folder = xstrdup(r->folder);
}

static void on_folder_done(const struct engine_folder_report *r, void *ctx)
{
	struct sync_view *v = ctx;

	close_line(v);
	v->folder = NULL;
	v->reports++;
	if (r->failed) {
		if (r->err.scope == ERR_SAFETY)
			v->any_safety = true;
		else
			v->any_failed = true;
		fprintf(stderr, "gmaildir: %s/%s: %s\n", r->account, r->folder, r->err.msg);
		log_file_msg(LOG_LVL_ERROR, "%s/%s: %s", r->account, r->folder, r->err.msg);
		fflush(stderr);
	}
	if (!v->quiet)
		keep_line(v, r);
	if (!v->dry_run)
		hook_changes_note(&v->changes, r);
}

static void on_notice(const char *account, const char *text, void *ctx)
{
	struct sync_view *v = ctx;

	close_line(v);
	if (!v->quiet)
		fprintf(stderr, "gmaildir: %s: %s\n", account, text);
	log_file_msg(LOG_LVL_INFO, "%s: %s", account, text);
}

/* Messages whose next try has not come were left alone (a timer that runs
 * sync every few minutes must not hammer the server with a password it
 * already refused): say so, and how to send them now. */
static void say_not_due(const struct account_conf *acct, const struct flush_result *res)
{
	char when[16] = "later";
	struct tm tm;
	time_t t = res->next_try;

	if (t && localtime_r(&t, &tm))
		strftime(when, sizeof when, "%H:%M", &tm);
	fprintf(stderr,
		"gmaildir: %s: outbox: %zu queued message%s wait%s until %s (gmaildir send "
		"--flush sends %s now)\n",
		acct->name, res->waiting, res->waiting == 1 ? "" : "s",
		res->waiting == 1 ? "s" : "", when, res->waiting == 1 ? "it" : "them");
}

/* The outbox first: on Gmail the server's Sent Mail copy then comes down
 * in this same sync, elsewhere the copy for the Sent folder goes up in it.
 * Mail that cannot go is never lost (it stays queued): a warning, not a
 * failed sync. */
static void flush_outbox(const struct account_conf *acct, const struct sync_view *view)
{
	struct flush_opts fo = {0};
	struct flush_result res;
	struct error err = {0};
	int r;

	if (!acct->smtp.configured || view->dry_run)
		return;
	r = outbox_flush(acct, &fo, &res, &err);
	if (view->quiet)
		return;
	if (res.sent)
		fprintf(stderr, "gmaildir: %s: sent %zu queued message%s\n", acct->name, res.sent,
			res.sent == 1 ? "" : "s");
	if (r < 0)
		fprintf(stderr, "gmaildir: %s: warning: outbox: %s (%zu message%s wait)\n",
			acct->name, err.msg, res.waiting, res.waiting == 1 ? "" : "s");
	else if (res.deferred || res.uncertain)
		fprintf(stderr, "gmaildir: %s: warning: outbox: %s (%zu message%s wait)\n",
			acct->name, res.reason, res.waiting, res.waiting == 1 ? "" : "s");
	if (res.rejected)
		fprintf(stderr,
			"gmaildir: %s: the server refused %zu queued message%s for good (see "
			"gmaildir status): %s\n",
			acct->name, res.rejected, res.rejected == 1 ? "" : "s", res.reason);
	if (r == 0 && res.waiting && !res.busy && !res.deferred && !res.uncertain)
		say_not_due(acct, &res);
}

/* Whether we run as the account's post_sync_command (sync/hooks.h). Its
 * sync through the daemon would be queued behind the run that waits for
 * the command: both would wait until --wait runs out. */
static bool in_own_hook(const struct account_conf *acct)
{
	const char *name = getenv("GMAILDIR_ACCOUNT");

	return name && strcmp(name, acct->name) == 0;
}

/* A daemon that runs the account holds its lock: it does this sync
 * instead, with our options for that one run, and its reports are shown
 * as ours (and its post_sync_command runs there). Returns 1 when a
 * daemon took it (*ret_r and err as engine_sync_account), 0 when no
 * daemon runs the account. */
static int via_daemon(const struct account_conf *acct, const struct engine_opts *opts,
		      const struct engine_observer *obs, struct sync_view *view, int *ret_r,
		      struct error *err)
{
	long pid = 0;
	bool late = false;
	int fd, r = ctlclient_connect(acct->state_dir, HELLO_TIMEOUT_MS, &fd, &pid, err);

	*ret_r = -1;
	if (r <= 0)
		return -r;
	if (in_own_hook(acct)) {
		close(fd);
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "called from the post_sync_command of the daemon's (pid %ld) sync of "
			  "this account, which waits for it: a sync from here would wait for "
			  "that one (the daemon syncs what the command changes by itself)",
			  pid);
		return 1;
	}
	if (!view->quiet)
		fprintf(stderr,
			"gmaildir: %s: the daemon (pid %ld) runs this account: it syncs now\n",
			acct->name, pid);
	*ret_r = ctlclient_sync(fd, acct->name, opts, view->wait_s * 1000, obs, &late, err);
	if (late)
		error_prefix(err, "daemon pid %ld", pid);
	view->late = late;
	return 1;
}

static int sync_one(const struct account_conf *acct, struct engine_opts *opts,
		    struct sync_view *view)
{
	struct engine_observer obs = {on_progress, on_folder_done, on_notice, view};
	struct error err = {0}, herr = {0};
	int ret;

	if (via_daemon(acct, opts, &obs, view, &ret, &err) == 0) {
		flush_outbox(acct, view);
		ret = engine_sync_account(acct, opts, &obs, &err);
		close_line(view);
		print_account_lines(view, acct->name);
		if (hook_post_sync(acct, &view->changes, &herr) < 0)
			fprintf(stderr, "gmaildir: %s: warning: %s\n", acct->name, herr.msg);
	} else {
		close_line(view);
		print_account_lines(view, acct->name);
	}
	hook_changes_clear(&view->changes);
	view->account_failed = ret < 0;
	if (ret < 0) {
		fprintf(stderr, "gmaildir: %s: %s\n", acct->name, err.msg);
		log_file_msg(LOG_LVL_ERROR, "%s: %s", acct->name, err.msg);
		if (view->late)
			fprintf(stderr,
				"  hint: `gmaildir status %s` shows how far it got; --wait=SECONDS "
				"waits longer (0: as long as it takes)\n",
				acct->name);
		view->late = false;
		cli_hint(err.msg);
		if (err.scope == ERR_SAFETY)
			view->any_safety = true;
		else if (err.scope == ERR_CONFIG)
			return EXIT_USAGE;
		else
			view->any_failed = true;
	} else if (ret > 0) {
		/* Some folder was not synced (each was reported). */
		view->any_failed = true;
	}
	return EXIT_OK;
}

static size_t env_size(const char *name)
{
	const char *v = getenv(name);

	return v ? (size_t)strtoull(v, NULL, 10) : 0;
}

static int parse_wait(const char *arg, int *wait_r)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);

	if (!*arg || *end || arg[0] == '-' || v > WAIT_MAX_S) {
		fprintf(stderr, "gmaildir: --wait=%s: a number of seconds up to %d (0: no limit)\n",
			arg, WAIT_MAX_S);
		return EXIT_USAGE;
	}
	*wait_r = (int)v;
	return EXIT_OK;
}

static int parse_sync_opts(int argc, char **argv, struct engine_opts *opts, int *wait_r)
{
	static const struct option longopts[] = {
	    {"dry-run", no_argument, NULL, 'n'},
	    {"allow-mass-delete", no_argument, NULL, 'D'},
	    {"allow-unmatched", no_argument, NULL, 'U'},
	    {"wait", required_argument, NULL, 'W'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*wait_r = WAIT_DEFAULT_S;
	while ((c = getopt_long(argc, argv, "n", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			opts->dry_run = true;
			break;
		case 'D':
			opts->allow_mass_delete = true;
			break;
		case 'U':
			opts->allow_unmatched = true;
			break;
		case 'W':
			if (parse_wait(optarg, wait_r) != EXIT_OK)
				return EXIT_USAGE;
			break;
		default:
			return cli_bad_option("sync", argv, "n", longopts);
		}
	}
	return EXIT_OK;
}

/* Runs the account of one argument, restricted to its folder if one is
 * named ("ACCOUNT/FOLDER"). */
static int sync_arg(struct cli *cli, const char *arg, struct engine_opts *opts,
		    struct sync_view *view)
{
	const char *folder = NULL;
	const struct account_conf *acct = cli_find_account(cli, arg, &folder);
	struct engine_opts one = *opts;
	size_t before = view->reports;
	int ret;

	if (!acct)
		return EXIT_USAGE;
	if (folder && *folder) {
		one.folders = &folder;
		one.n_folders = 1;
	}
	ret = sync_one(acct, &one, view);

	/* A named folder that no job took: misspelled, or excluded. Saying
	 * nothing and exiting 0 would look like "in sync". (A run that failed
	 * as a whole, say the server was unreachable, took no folder at all:
	 * it said why, and exits 1.) */
	if (ret == EXIT_OK && one.n_folders == 1 && view->reports == before &&
	    !view->account_failed) {
		fprintf(stderr,
			"gmaildir: %s/%s: no such folder is synced (not on the server nor here, "
			"or left out by folders.include/exclude); `gmaildir list %s` shows the "
			"folders and their names\n",
			acct->name, folder, acct->name);
		ret = EXIT_USAGE;
	}
	return ret;
}

/* Every account's local paths before any account connects: a wrong one is
 * a config error (exit 2), said once, and nothing is synced. */
static int check_local(const struct account_conf *acct, int ret)
{
	struct error err = {0};

	if (!acct)
		return EXIT_USAGE;
	if (engine_check_local(acct, &err) == 0)
		return ret;
	fprintf(stderr, "gmaildir: %s\n", err.msg);
	log_file_msg(LOG_LVL_ERROR, "%s", err.msg);
	return EXIT_USAGE;
}

static int check_all_local(struct cli *cli, int argc, char **argv)
{
	int ret = EXIT_OK;

	for (size_t i = 0; optind >= argc && i < config_account_count(cli->config); i++)
		ret = check_local(config_account(cli->config, i), ret);
	for (int i = optind; i < argc; i++)
		ret = check_local(cli_find_account(cli, argv[i], NULL), ret);
	return ret;
}

int cli_cmd_sync(struct cli *cli, int argc, char **argv)
{
	struct engine_opts opts = {0};
	struct sync_view view = {0};
	/* A bad option is named before a missing config. */
	int ret = parse_sync_opts(argc, argv, &opts, &view.wait_s);

	if (ret == EXIT_OK)
		ret = cli_load_config(cli);
	if (ret == EXIT_OK)
		ret = check_all_local(cli, argc, argv);
	if (ret != EXIT_OK)
		return ret;
	/* Test knobs: small batches make many commit points to interrupt. */
	opts.batch_messages = env_size("GMAILDIR_BATCH_MESSAGES");
	opts.batch_bytes = env_size("GMAILDIR_BATCH_BYTES");
	/* and small pieces put every message through the piecewise path. */
	opts.piece_bytes = (uint32_t)env_size("GMAILDIR_PIECE_BYTES");
	view.tty = isatty(STDERR_FILENO);
	view.quiet = cli->verbosity < 0;
	view.dry_run = opts.dry_run;
	if (optind >= argc) {
		for (size_t i = 0; i < config_account_count(cli->config) && ret == EXIT_OK; i++)
			ret = sync_one(config_account(cli->config, i), &opts, &view);
	}
	for (int i = optind; i < argc && ret == EXIT_OK; i++)
		ret = sync_arg(cli, argv[i], &opts, &view);
	free(view.lines);
	if (ret != EXIT_OK)
		return ret;
	if (view.any_safety)
		return EXIT_SAFETY;
	return view.any_failed ? EXIT_FAILED : EXIT_OK;
}
