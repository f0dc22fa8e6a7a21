/* The wire format of the daemon's control socket (daemon/control.h):
 * `gmaildir sync` asks a running daemon to sync an account now and reads
 * back what that run did. Pure: text in, structs out, and back.
 *
 * One record per line, at most CTL_LINE_MAX bytes with its '\n'; texts
 * (folder names, errors) are last on their line or tab-separated, with
 * tabs and line ends turned into spaces. The client sends
 *
 *   hello 1
 *   folder NAME          zero or more: the folders (none: all of them)
 *   option WORD          dry-run, allow-mass-delete, allow-unmatched
 *   sync                 the end of the request
 *
 * and the daemon answers
 *
 *   hello 1 PID          at once, before the request
 *   queued               the request is taken; its run starts after the
 *                        one in flight, if any
 *   progress DONE TOTAL BYTES TOTAL_BYTES<TAB>FOLDER
 *   folder N1 ... N16<TAB>FOLDER<TAB>ERROR   a folder's report (ctlproto.c)
 *   notice TEXT
 *   done RET SCOPE<TAB>ERROR                 RET as engine_sync_account's
 *   error TEXT           the request was refused; the daemon hangs up
 *
 * A reader skips lines it does not know, so either side may add some. */
#ifndef GMAILDIR_DAEMON_CTLPROTO_H
#define GMAILDIR_DAEMON_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "sync/engine.h"
#include "util/error.h"

#define CTL_VERSION 1
#define CTL_LINE_MAX 4096
#define CTL_FOLDERS_MAX 256

struct ctl_request {
	bool dry_run;
	bool allow_mass_delete;
	bool allow_unmatched;
	bool hello;	/* the hello line was read */
	char **folders; /* owned */
	size_t n_folders, cap_folders;
};

void ctl_request_clear(struct ctl_request *rq);
/* The request for opts (its folders and options) as lines, ending in
 * "sync\n"; the caller frees. Names with a line end cannot be sent:
 * NULL then. */
char *ctl_request_format(const struct engine_opts *opts);
/* Reads one line of a request (without its '\n'). Returns 1 when the
 * request is complete, 0 when more lines are wanted, -1 for a line that
 * is not allowed here (err says why; the request is then unusable). */
int ctl_request_feed(struct ctl_request *rq, const char *line, struct error *err);

enum ctl_reply_kind {
	CTL_REPLY_UNKNOWN = 0, /* skip it */
	CTL_REPLY_HELLO,
	CTL_REPLY_QUEUED,
	CTL_REPLY_PROGRESS,
	CTL_REPLY_FOLDER,
	CTL_REPLY_NOTICE,
	CTL_REPLY_DONE,
	CTL_REPLY_ERROR,
};

struct ctl_reply {
	enum ctl_reply_kind kind;
	long pid;			    /* HELLO */
	struct engine_progress progress;    /* PROGRESS; folder: the field below */
	struct engine_folder_report report; /* FOLDER; folder, err: below */
	int ret;			    /* DONE */
	struct error err;		    /* DONE; ERROR, NOTICE: msg */
	char folder[CTL_LINE_MAX];	    /* PROGRESS, FOLDER */
};

/* Parses one reply line (without its '\n') into *r (the report's and
 * progress's folder point into r; their account is NULL). A line that is
 * malformed comes back as CTL_REPLY_UNKNOWN. */
void ctl_reply_parse(const char *line, struct ctl_reply *r);

/* The reply lines, '\n' included; the caller frees. */
char *ctl_reply_hello(long pid);
char *ctl_reply_progress(const struct engine_progress *p);
char *ctl_reply_folder(const struct engine_folder_report *r);
char *ctl_reply_text(const char *word, const char *text); /* notice, error */
char *ctl_reply_done(int ret, const struct error *err);

#endif
