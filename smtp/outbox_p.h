/* Internals shared by outbox.c (the files) and flush.c (the submission
 * loop); nobody outside smtp/ includes this header. */
#ifndef GMAILDIR_SMTP_OUTBOX_P_H
#define GMAILDIR_SMTP_OUTBOX_P_H

#include <stdbool.h>
#include <time.h>

#include "smtp/outbox.h"

/* The retry note of a queued message (outbox/.retry/NAME), or the reason
 * of a failed one (failed/.reason/NAME). */
struct outbox_note {
	unsigned attempts;
	time_t next_try;
	time_t error_time;
	bool inflight; /* a submission had begun: a crash may have sent it */
	char error[800];
};

/* STATE/sub; the caller frees. */
char *outbox_sub(const struct account_conf *acct, const char *sub);
/* Creates outbox/, failed/ and sent-copies/ with their subdirectories. */
int outbox_make_dirs(const struct account_conf *acct, struct error *err);
/* A name no other queue file has: time first, so that names sort oldest
 * first. Caller frees. */
char *outbox_new_name(void);
/* dir/tmp/name, then a rename to dir/sub/name; durable: fsync of the file
 * and of dir/sub. */
int outbox_write_file(const char *dir, const char *sub, const char *name, const char *buf,
		      size_t len, bool durable, struct error *err);
int outbox_read_file(const char *path, char **data_r, size_t *len_r, struct error *err);
/* The names in dir (not starting with '.'), sorted; none when missing. */
int outbox_list(const char *dir, char ***names_r, size_t *n_r, struct error *err);
/* A missing or unreadable note reads as all zero. */
void outbox_note_read(const char *path, struct outbox_note *note);
int outbox_note_write(const char *dir, const char *sub, const char *name,
		      const struct outbox_note *note, struct error *err);

#endif
