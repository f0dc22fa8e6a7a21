/* `gmaildir send`'s command line, as sendmail's (pure: no I/O). Mail
 * programs pass options we have no use for (-oem, -odb, -B8BITMIME ...):
 * they are accepted with a warning, never a failure; only the modes we do
 * not offer (-bs, -bt, -bp ...) are refused. */
#ifndef GMAILDIR_SMTP_SENDMAIL_ARGS_H
#define GMAILDIR_SMTP_SENDMAIL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

struct send_args {
	bool from_headers;     /* -t */
	bool dot_ends;	       /* a line "." ends input; false with -i / -oi */
	const char *sender;    /* -f ADDR, -r ADDR; borrowed from argv */
	const char *full_name; /* -F NAME */
	const char *account;   /* -a NAME, --account NAME, --account=NAME */
	bool flush;	       /* --flush */
	bool verbose;	       /* -v */
	const char **rcpts;    /* operands, and all after "--"; the array is owned */
	size_t n_rcpts;
	char **warnings; /* owned: "ignoring sendmail option -oem" */
	size_t n_warnings;
};

/* argv[0] is the command name ("send"). Returns 0 ok, -1 (ERR_CONFIG)
 * for a mode we do not offer or an option without its value. */
int send_args_parse(int argc, char **argv, struct send_args *a, struct error *err);
void send_args_free(struct send_args *a);

#endif
