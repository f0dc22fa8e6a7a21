/* The outbox's files: the queue Maildir, the retry notes beside it, the
 * failed Maildir, the sent copies and the sent log (outbox.h has the
 * layout). The flush that empties it is flush.c. */
#include "smtp/outbox_p.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smtp/envelope.h"
#include "util/crashpoint.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* A queue file may be this big: Gmail takes 25 MB, with room for base64. */
#define QUEUE_FILE_MAX (64u << 20)

char *outbox_dir(const struct account_conf *acct)
{
	return fs_join(acct->state_dir, "outbox");
}

char *outbox_sub(const struct account_conf *acct, const char *sub)
{
	return xasprintf("%s/%s", acct->state_dir, sub);
}

char *outbox_new_name(void)
{
	static unsigned counter;
	struct timespec ts;
	unsigned char rnd[6] = {0};

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd)); /* the pid and counter still tell apart */
	return xasprintf("%" PRId64 ".M%06ldP%ldQ%uR%02x%02x%02x%02x%02x%02x.gmaildir",
			 (int64_t)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(), ++counter, rnd[0],
			 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

/* dir/{tmp,new,cur} and dir/extra (when not NULL). */
static int make_maildir(const char *dir, const char *extra, struct error *err)
{
	static const char *const subs[] = {"tmp", "new", "cur"};

	for (size_t i = 0; i < 3; i++) {
		char *p = fs_join(dir, subs[i]);
		int r = fs_mkdir_p(p, 0700, err);

		free(p);
		if (r < 0)
			return -1;
	}
	if (extra) {
		char *p = fs_join(dir, extra);
		int r = fs_mkdir_p(p, 0700, err);

		free(p);
		if (r < 0)
			return -1;
	}
	return 0;
}

int outbox_make_dirs(const struct account_conf *acct, struct error *err)
{
	char *ob = outbox_dir(acct), *failed = outbox_sub(acct, "failed");
	char *copies = outbox_sub(acct, "sent-copies");
	int ret = -1;

	if (make_maildir(ob, ".retry", err) < 0 || make_maildir(failed, ".reason", err) < 0 ||
	    make_maildir(copies, NULL, err) < 0)
		goto out;
	ret = 0;
out:
	free(ob);
	free(failed);
	free(copies);
	return ret;
}

/* Writes buf into dir/tmp/name, fsyncs it and renames it to dir/sub/name;
 * durable: the directory too. */
int outbox_write_file(const char *dir, const char *sub, const char *name, const char *buf,
		      size_t len, bool durable, struct error *err)
{
	char *tmp = xasprintf("%s/tmp/%s", dir, name);
	char *dst = xasprintf("%s/%s/%s", dir, sub, name);
	char *dstdir = xasprintf("%s/%s", dir, sub);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ret = -1;

	if (fd < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fs_write_all(fd, buf, len) < 0 || (durable && fsync(fd) < 0)) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (durable && fs_fsync_dir(dstdir, err) < 0)
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	free(tmp);
	free(dst);
	free(dstdir);
	return ret;
}

int outbox_read_file(const char *path, char **data_r, size_t *len_r, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int ret = -1;

	*data_r = NULL;
	*len_r = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER, "read %s: %s", path, strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size > QUEUE_FILE_MAX) {
		error_set(err, ERR_MESSAGE, RETRY_NEVER, "%s: larger than %u MB", path,
			  QUEUE_FILE_MAX >> 20);
		goto out;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			error_set(err, ERR_MESSAGE, RETRY_NEVER, "read %s: %s", path,
				  r < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*data_r = buf;
	*len_r = got;
	buf = NULL;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

int outbox_enqueue(const struct account_conf *acct, const char *data, size_t len, char **name_r,
		   struct error *err)
{
	char *dir = outbox_dir(acct);
	char *name = outbox_new_name();
	int ret = -1;

	if (outbox_make_dirs(acct, err) < 0 ||
	    outbox_write_file(dir, "new", name, data, len, true, err) < 0) {
		error_prefix(err, "queueing the message");
		goto out;
	}
	crashpoint("outbox: queued");
	if (name_r) {
		*name_r = name;
		name = NULL;
	}
	ret = 0;
out:
	free(dir);
	free(name);
	return ret;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int outbox_list(const char *dir, char ***names_r, size_t *n_r, struct error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*names_r = NULL;
	*n_r = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	*names_r = names;
	*n_r = n;
	return 0;
}

void outbox_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ------------------------------------------------------------ notes */

void outbox_note_read(const char *path, struct outbox_note *note)
{
	FILE *f = fopen(path, "re");
	char line[1200];

	memset(note, 0, sizeof(*note));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "attempts %llu", &v) == 1)
			note->attempts = (unsigned)v;
		else if (sscanf(line, "next %llu", &v) == 1)
			note->next_try = (time_t)v;
		else if (sscanf(line, "time %llu", &v) == 1)
			note->error_time = (time_t)v;
		else if (sscanf(line, "inflight %llu", &v) == 1)
			note->inflight = v != 0;
		else if (strncmp(line, "error ", 6) == 0)
			snprintf(note->error, sizeof(note->error), "%.*s",
				 (int)sizeof(note->error) - 1, line + 6);
	}
	fclose(f);
}

/* Printable on one line: a server's reply could hold anything. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

int outbox_note_write(const char *dir, const char *sub, const char *name,
		      const struct outbox_note *note, struct error *err)
{
	char error[sizeof(note->error)];
	char *text;
	int r;

	snprintf(error, sizeof(error), "%s", note->error);
	one_line(error);
	text = xasprintf("attempts %u\nnext %" PRId64 "\ntime %" PRId64 "\ninflight %d\nerror %s\n",
			 note->attempts, (int64_t)note->next_try, (int64_t)note->error_time,
			 note->inflight ? 1 : 0, error);
	/* Not fsynced: a note lost in a crash only makes the next try sooner. */
	r = outbox_write_file(dir, sub, name, text, strlen(text), false, err);
	free(text);
	return r;
}

/* ------------------------------------------------------------ report */

static void add_entries(struct outbox_report *r, const char *dir, const char *notes, bool failed)
{
	char **names = NULL;
	size_t n = 0;
	struct error ignored = {0};

	if (outbox_list(dir, &names, &n, &ignored) < 0)
		return;
	r->entries = xrealloc(r->entries, (r->n + n + 1) * sizeof(*r->entries));
	for (size_t i = 0; i < n; i++) {
		char *np = fs_join(notes, names[i]);
		struct outbox_note note;
		struct outbox_entry *e = &r->entries[r->n++];

		outbox_note_read(np, &note);
		free(np);
		*e = (struct outbox_entry){.name = names[i],
					   .attempts = note.attempts,
					   .next_try = note.next_try,
					   .error_time = note.error_time,
					   .error = note.error[0] ? xstrdup(note.error) : NULL,
					   .failed = failed};
		names[i] = NULL;
	}
	if (failed)
		r->failed += n;
	else
		r->queued += n;
	outbox_names_free(names, n);
}

/* The number of lines of sent.log, and what its last one says. */
static void read_sent_log(struct outbox_report *r, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[2048];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long t;
		char id[1000];

		if (sscanf(line, "%llu\t%999[^\t\n]", &t, id) != 2)
			continue;
		r->sent_total++;
		r->last_sent = (time_t)t;
		free(r->last_sent_id);
		r->last_sent_id = xstrdup(id);
	}
	fclose(f);
}

int outbox_report(const struct account_conf *acct, struct outbox_report *r, struct error *err)
{
	char *ob = outbox_dir(acct), *failed = outbox_sub(acct, "failed");
	char *copies = outbox_sub(acct, "sent-copies");
	char *p;
	char **names = NULL;
	size_t n = 0;

	(void)err;
	memset(r, 0, sizeof(*r));
	p = xasprintf("%s/new", ob);
	free(ob);
	ob = p;
	p = xasprintf("%s/outbox/.retry", acct->state_dir);
	add_entries(r, ob, p, false);
	free(p);
	p = xasprintf("%s/new", failed);
	{
		char *notes = xasprintf("%s/.reason", failed);

		add_entries(r, p, notes, true);
		free(notes);
	}
	free(p);
	p = xasprintf("%s/new", copies);
	if (outbox_list(p, &names, &n, err) == 0)
		r->copies_waiting = n;
	outbox_names_free(names, n);
	free(p);
	p = xasprintf("%s/outbox/sent.log", acct->state_dir);
	read_sent_log(r, p);
	free(p);
	free(ob);
	free(failed);
	free(copies);
	return 0;
}

void outbox_report_free(struct outbox_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->entries[i].name);
		free(r->entries[i].error);
	}
	free(r->entries);
	free(r->last_sent_id);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ sent copies */

int outbox_copies(const struct account_conf *acct, char ***names_r, size_t *n_r, struct error *err)
{
	char *dir = xasprintf("%s/sent-copies/new", acct->state_dir);
	int r = outbox_list(dir, names_r, n_r, err);

	free(dir);
	return r;
}

int outbox_copy_read(const struct account_conf *acct, const char *name, char **data_r,
		     size_t *len_r, struct error *err)
{
	char *path = xasprintf("%s/sent-copies/new/%s", acct->state_dir, name);
	struct queued q;
	char *file = NULL;
	size_t len = 0;
	int ret = -1;

	*data_r = NULL;
	*len_r = 0;
	if (outbox_read_file(path, &file, &len, err) < 0 || envelope_decode(file, len, &q, err) < 0)
		goto out;
	*data_r = xmalloc(q.len + 1);
	memcpy(*data_r, q.data, q.len);
	(*data_r)[q.len] = '\0';
	*len_r = q.len;
	queued_free(&q);
	ret = 0;
out:
	free(file);
	free(path);
	return ret;
}

int outbox_copy_done(const struct account_conf *acct, const char *name, struct error *err)
{
	char *path = xasprintf("%s/sent-copies/new/%s", acct->state_dir, name);
	int ret = 0;

	if (unlink(path) < 0 && errno != ENOENT) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "unlink %s: %s", path, strerror(errno));
		ret = -1;
	}
	free(path);
	return ret;
}
