/* The flush: every due message of the outbox over one SMTP session, and
 * what each outcome does to its file (outbox.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "oauth/credentials.h"
#include "smtp/envelope.h"
#include "smtp/outbox_p.h"
#include "smtp/submit.h"
#include "util/crashpoint.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#define BACKOFF_FIRST 60    /* seconds before the first retry */
#define BACKOFF_MAX 3600    /* never longer than an hour */
#define ERROR_SHOWN_LEN 700 /* of a reason kept in a note */

/* Everything one flush works with. */
struct flush {
	const struct account_conf *acct;
	const struct flush_opts *o;
	struct flush_result *res;
	char *dir;   /* STATE/outbox */
	char *retry; /* STATE/outbox/.retry */
	char *secret;
	struct smtp *smtp;
	time_t now;
};

/* The wait before the next try; GMAILDIR_SMTP_BACKOFF (seconds) replaces
 * the first step, for the tests, like crashpoint()'s variables. */
static time_t backoff(unsigned attempts)
{
	const char *knob = getenv("GMAILDIR_SMTP_BACKOFF");
	time_t d = knob && *knob ? (time_t)strtoul(knob, NULL, 10) : BACKOFF_FIRST;

	for (unsigned i = 1; i < attempts && d < BACKOFF_MAX; i++)
		d *= 2;
	return d < BACKOFF_MAX ? d : BACKOFF_MAX;
}

static char *note_path(const struct flush *f, const char *name)
{
	return fs_join(f->retry, name);
}

/* Another flusher (the daemon, another send) holds the queue: wait for it
 * up to lock_wait_ms. */
static int lock_queue(struct flush *f, int *fd_r, struct error *err)
{
	char *path = fs_join(f->dir, ".lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int waited = 0;

	*fd_r = -1;
	if (fd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || waited >= f->o->lock_wait_ms) {
			close(fd);
			f->res->busy = errno == EWOULDBLOCK;
			return 0;
		}
		usleep(50 * 1000);
		waited += 50;
	}
	*fd_r = fd;
	return 0;
}

/* The due queue: all with force, else those whose next try has come. */
static bool due(const struct flush *f, const char *name)
{
	char *np;
	struct outbox_note note;

	if (f->o->only)
		return strcmp(name, f->o->only) == 0;
	if (f->o->force)
		return true;
	np = note_path(f, name);
	outbox_note_read(np, &note);
	free(np);
	return note.next_try <= f->now;
}

/* Records a failed try: the reason, one more attempt, the next try. */
static void note_failure(struct flush *f, const char *name, const char *why, bool inflight)
{
	char *np = note_path(f, name);
	struct outbox_note note;
	struct error ignored = {0};

	outbox_note_read(np, &note);
	free(np);
	note.attempts++;
	note.error_time = f->now;
	note.next_try = f->now + backoff(note.attempts);
	note.inflight = inflight;
	snprintf(note.error, sizeof(note.error), "%.*s", ERROR_SHOWN_LEN, why);
	if (outbox_note_write(f->dir, ".retry", name, &note, &ignored) < 0)
		log_debug("%s: %s", f->acct->name, ignored.msg);
}

static void set_inflight(struct flush *f, const char *name)
{
	char *np = note_path(f, name);
	struct outbox_note note;
	struct error ignored = {0};

	outbox_note_read(np, &note);
	free(np);
	if (note.inflight) {
		log_warn("%s: queued message %s was being sent when gmaildir last stopped; "
			 "sending it again (if the server had taken it, its recipients get it "
			 "twice)",
			 f->acct->name, name);
	}
	note.inflight = true;
	if (outbox_note_write(f->dir, ".retry", name, &note, &ignored) < 0)
		log_debug("%s: %s", f->acct->name, ignored.msg);
}

static void forget_note(struct flush *f, const char *name)
{
	char *np = note_path(f, name);

	unlink(np);
	free(np);
}

/* sent.log: time, Message-ID, recipients. */
static void log_sent(struct flush *f, const struct queued *q)
{
	char *path = fs_join(f->dir, "sent.log");
	char *line = xasprintf("%" PRId64 "\t%s\t%zu\n", (int64_t)f->now,
			       q->message_id ? q->message_id : "-", q->n_rcpts);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd >= 0) {
		if (fs_write_all(fd, line, strlen(line)) < 0 || fdatasync(fd) < 0)
			log_warn("%s: writing %s: %s", f->acct->name, path, strerror(errno));
		close(fd);
	}
	free(line);
	free(path);
}

/* Out of the queue after a 2xx: into sent-copies/ when a copy goes to the
 * Sent folder, else gone. One rename or one unlink: never both states. */
static int take_out(struct flush *f, const char *name, struct error *err)
{
	char *src = xasprintf("%s/new/%s", f->dir, name);
	char *newdir = xasprintf("%s/new", f->dir);
	int ret = -1;

	if (f->acct->smtp.copy_to_sent) {
		char *dst = xasprintf("%s/sent-copies/new/%s", f->acct->state_dir, name);
		int r = rename(src, dst);

		free(dst);
		if (r < 0) {
			error_set(err, ERR_ACCOUNT, RETRY_NEVER, "rename %s: %s", src,
				  strerror(errno));
			goto out;
		}
	} else if (unlink(src) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "unlink %s: %s", src, strerror(errno));
		goto out;
	}
	forget_note(f, name);
	ret = fs_fsync_dir(newdir, err);
out:
	free(src);
	free(newdir);
	return ret;
}

/* Into failed/ after a 5xx, the reason first so that it is always there. */
static int fail_out(struct flush *f, const char *name, const char *why, struct error *err)
{
	char *failed = outbox_sub(f->acct, "failed");
	char *src = xasprintf("%s/new/%s", f->dir, name);
	char *dst = xasprintf("%s/new/%s", failed, name);
	struct outbox_note note = {.error_time = f->now};
	int ret = -1;

	snprintf(note.error, sizeof(note.error), "%.*s", ERROR_SHOWN_LEN, why);
	if (outbox_note_write(failed, ".reason", name, &note, err) < 0)
		goto out;
	if (rename(src, dst) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "rename %s: %s", src, strerror(errno));
		goto out;
	}
	forget_note(f, name);
	log_error("%s: the server refused queued message %s for good; it is in %s/new: %s",
		  f->acct->name, name, failed, why);
	ret = 0;
out:
	free(failed);
	free(src);
	free(dst);
	return ret;
}

/* Whether the header section (or an address) needs SMTPUTF8, and whether
 * any byte needs 8BITMIME. */
static void eight_bit_of(const struct queued *q, bool *eight_r, bool *utf8_r)
{
	bool header = true;

	*eight_r = false;
	*utf8_r = false;
	for (size_t i = 0; i < q->len; i++) {
		unsigned char ch = (unsigned char)q->data[i];

		if (header && ch == '\n' && i + 2 < q->len &&
		    (q->data[i + 1] == '\n' || (q->data[i + 1] == '\r' && q->data[i + 2] == '\n')))
			header = false;
		if (ch >= 0x80) {
			*eight_r = true;
			if (header)
				*utf8_r = true;
		}
	}
	for (size_t i = 0; i < q->n_rcpts && !*utf8_r; i++)
		for (const char *p = q->rcpts[i]; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*utf8_r = true;
	if (q->sender)
		for (const char *p = q->sender; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*utf8_r = true;
}

static int connect_smtp(struct flush *f, struct error *err)
{
	if (f->smtp && smtp_alive(f->smtp))
		return 0;
	smtp_close(&f->smtp);
	if (!f->secret && credentials_smtp(f->acct, NULL, &f->secret, err) < 0)
		return -1;
	if (smtp_open(f->acct, f->secret, &f->smtp, err) == 0)
		return 0;
	/* A built-in token refused: one more try with a refreshed one. */
	if (smtp_error_is_login(err) && credentials_refreshable(f->acct, true)) {
		char *fresh = NULL;

		if (credentials_smtp(f->acct, f->secret, &fresh, err) < 0)
			return -1;
		explicit_bzero(f->secret, strlen(f->secret));
		free(f->secret);
		f->secret = fresh;
		error_clear(err);
		return smtp_open(f->acct, f->secret, &f->smtp, err);
	}
	return -1;
}

/* One queued message. -1 only when the session could not be opened. */
static int flush_one(struct flush *f, const char *name, struct error *err)
{
	char *path = xasprintf("%s/new/%s", f->dir, name);
	char *file = NULL;
	size_t len = 0;
	struct queued q = {0};
	struct smtp_message m;
	struct error why = {0};
	enum smtp_outcome out;
	int ret = 0;

	if (outbox_read_file(path, &file, &len, &why) < 0) {
		if (access(path, F_OK) < 0) /* sent meanwhile by another flusher */
			goto out;
		note_failure(f, name, why.msg, false);
		goto out;
	}
	if (envelope_decode(file, len, &q, &why) < 0) {
		f->res->rejected++;
		fail_out(f, name, why.msg, &why);
		goto out;
	}
	if (connect_smtp(f, err) < 0) {
		ret = -1;
		goto out;
	}
	m = (struct smtp_message){.sender = q.sender,
				  .rcpts = (const char *const *)q.rcpts,
				  .n_rcpts = q.n_rcpts,
				  .data = q.data,
				  .len = q.len};
	eight_bit_of(&q, &m.eight_bit, &m.utf8);
	set_inflight(f, name);
	crashpoint("smtp: submitting");
	out = smtp_submit(f->smtp, &m, &why);
	f->now = time(NULL);
	switch (out) {
	case SMTP_SENT:
		crashpoint("smtp: accepted");
		f->res->sent++;
		log_sent(f, &q);
		log_info("%s: sent %s to %zu recipient%s", f->acct->name,
			 q.message_id ? q.message_id : name, q.n_rcpts, q.n_rcpts == 1 ? "" : "s");
		if (take_out(f, name, &why) < 0)
			log_error("%s: %s", f->acct->name, why.msg);
		crashpoint("smtp: out of the queue");
		break;
	case SMTP_REJECTED:
		f->res->rejected++;
		snprintf(f->res->reason, sizeof(f->res->reason), "%s", why.msg);
		if (fail_out(f, name, why.msg, &why) < 0)
			log_error("%s: %s", f->acct->name, why.msg);
		break;
	case SMTP_UNCERTAIN:
		f->res->uncertain++;
		log_warn("%s: %s: %s; it stays queued and is sent again, so its recipients may "
			 "get it twice",
			 f->acct->name, q.message_id ? q.message_id : name, why.msg);
		/* Queued as a deferral, still marked in flight. */
		snprintf(f->res->reason, sizeof(f->res->reason), "%s", why.msg);
		note_failure(f, name, why.msg, true);
		break;
	case SMTP_DEFERRED:
		f->res->deferred++;
		snprintf(f->res->reason, sizeof(f->res->reason), "%s", why.msg);
		note_failure(f, name, why.msg, false);
		break;
	}
out:
	queued_free(&q);
	free(file);
	free(path);
	return ret;
}

/* Every due message of names; on a session that cannot be opened, each
 * due one still waiting gets the reason. */
static int flush_names(struct flush *f, char **names, size_t n, bool *tried, struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (tried[i] || !due(f, names[i]))
			continue;
		tried[i] = true;
		if (flush_one(f, names[i], err) == 0)
			continue;
		for (size_t k = i; k < n; k++) {
			if (k == i || (!tried[k] && due(f, names[k]))) {
				tried[k] = true;
				note_failure(f, names[k], err->msg, false);
			}
		}
		snprintf(f->res->reason, sizeof(f->res->reason), "%s", err->msg);
		return -1;
	}
	return 0;
}

/* What is left, for the caller's message. */
static void count_waiting(struct flush *f)
{
	char *newdir = xasprintf("%s/new", f->dir);
	char **names = NULL;
	size_t n = 0;
	struct error ignored = {0};

	f->res->waiting = 0;
	f->res->next_try = 0;
	if (outbox_list(newdir, &names, &n, &ignored) == 0) {
		f->res->waiting = n;
		for (size_t i = 0; i < n; i++) {
			char *np = note_path(f, names[i]);
			struct outbox_note note;

			outbox_note_read(np, &note);
			free(np);
			if (f->res->next_try == 0 || note.next_try < f->res->next_try)
				f->res->next_try = note.next_try ? note.next_try : f->now;
		}
	}
	outbox_names_free(names, n);
	free(newdir);
}

/* Rounds: messages queued while a round ran are taken by the next one. */
static int flush_rounds(struct flush *f, struct error *err)
{
	char *newdir = xasprintf("%s/new", f->dir);
	char **tried_names = NULL;
	size_t n_tried = 0;
	int ret = 0;

	for (int round = 0; round < 8 && ret == 0; round++) {
		char **names = NULL;
		size_t n = 0, fresh = 0;
		bool *tried;

		if (outbox_list(newdir, &names, &n, err) < 0) {
			ret = -1;
			break;
		}
		tried = xcalloc(n ? n : 1, sizeof(*tried));
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < n_tried && !tried[i]; k++)
				tried[i] = strcmp(names[i], tried_names[k]) == 0;
			fresh += !tried[i];
		}
		if (fresh > 0)
			ret = flush_names(f, names, n, tried, err);
		for (size_t i = 0; i < n; i++) {
			if (!tried[i])
				continue;
			tried_names = xrealloc(tried_names, (n_tried + 1) * sizeof(*tried_names));
			tried_names[n_tried++] = names[i];
			names[i] = NULL;
		}
		free(tried);
		outbox_names_free(names, n);
		if (fresh == 0)
			break;
	}
	outbox_names_free(tried_names, n_tried);
	free(newdir);
	return ret;
}

int outbox_flush(const struct account_conf *acct, const struct flush_opts *o,
		 struct flush_result *res, struct error *err)
{
	struct flush f = {.acct = acct, .o = o, .res = res, .now = time(NULL)};
	int lock_fd = -1;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	f.dir = outbox_dir(acct);
	f.retry = fs_join(f.dir, ".retry");
	{
		/* Nothing was ever queued: nothing to do, nothing to create. */
		char *newdir = xasprintf("%s/new", f.dir);
		bool none = access(newdir, F_OK) < 0;

		free(newdir);
		if (none) {
			ret = 0;
			goto out;
		}
	}
	if (outbox_make_dirs(acct, err) < 0 || lock_queue(&f, &lock_fd, err) < 0)
		goto out;
	if (lock_fd < 0) { /* another flusher has it, and will see ours */
		ret = 0;
		goto out;
	}
	ret = flush_rounds(&f, err);
out:
	smtp_close(&f.smtp);
	if (f.secret) {
		explicit_bzero(f.secret, strlen(f.secret));
		free(f.secret);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	count_waiting(&f);
	free(f.dir);
	free(f.retry);
	return ret;
}
