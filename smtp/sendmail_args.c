/* sendmail's options, as mail programs pass them (sendmail_args.h). */
#include "smtp/sendmail_args.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static void warn(struct send_args *a, const char *opt)
{
	a->warnings = xrealloc(a->warnings, (a->n_warnings + 1) * sizeof(*a->warnings));
	a->warnings[a->n_warnings++] = xasprintf("ignoring sendmail option %s", opt);
}

static void add_rcpt(struct send_args *a, const char *r)
{
	a->rcpts = xrealloc(a->rcpts, (a->n_rcpts + 1) * sizeof(*a->rcpts));
	a->rcpts[a->n_rcpts++] = r;
}

/* The value of an option given as "-fADDR" or "-f ADDR". */
static int value(int argc, char **argv, int *i, const char **v_r, struct error *err)
{
	const char *arg = argv[*i];

	if (arg[2] != '\0') {
		*v_r = arg + 2;
		return 0;
	}
	if (*i + 1 >= argc) {
		error_set(err, ERR_CONFIG, RETRY_NEVER, "option %s needs a value", arg);
		return -1;
	}
	*v_r = argv[++*i];
	return 0;
}

static int long_option(int argc, char **argv, int *i, struct send_args *a, struct error *err)
{
	const char *arg = argv[*i];

	if (strcmp(arg, "--flush") == 0) {
		a->flush = true;
	} else if (strncmp(arg, "--account=", 10) == 0) {
		a->account = arg + 10;
	} else if (strcmp(arg, "--account") == 0) {
		if (*i + 1 >= argc) {
			error_set(err, ERR_CONFIG, RETRY_NEVER, "option --account needs a value");
			return -1;
		}
		a->account = argv[++*i];
	} else {
		warn(a, arg);
	}
	return 0;
}

/* -b: the mode. -bm (deliver mail) is what we do; the others are not. */
static int mode(struct send_args *a, const char *arg, struct error *err)
{
	if (strcmp(arg, "-bm") == 0)
		return 0;
	error_set(err, ERR_CONFIG, RETRY_NEVER,
		  "sendmail mode %s is not supported: gmaildir send only sends the message on "
		  "standard input",
		  arg);
	(void)a;
	return -1;
}

/* One option starting with a single '-'. */
static int short_option(int argc, char **argv, int *i, struct send_args *a, struct error *err)
{
	const char *arg = argv[*i];
	const char *v;

	switch (arg[1]) {
	case 't':
		a->from_headers = true;
		return arg[2] ? (warn(a, arg), 0) : 0;
	case 'i':
		a->dot_ends = false;
		return 0;
	case 'v':
		a->verbose = true;
		return 0;
	case 'f':
	case 'r':
		if (value(argc, argv, i, &v, err) < 0)
			return -1;
		a->sender = v;
		return 0;
	case 'F':
		if (value(argc, argv, i, &v, err) < 0)
			return -1;
		a->full_name = v;
		return 0;
	case 'a':
		if (value(argc, argv, i, &v, err) < 0)
			return -1;
		a->account = v;
		return 0;
	case 'o':
		if (strcmp(arg, "-oi") == 0)
			a->dot_ends = false;
		else
			warn(a, arg);
		return 0;
	case 'b':
		return mode(a, arg, err);
	case 'B': /* body type: we look at the bytes ourselves */
	case 'N': /* DSN notify */
	case 'R': /* DSN return */
	case 'V': /* envelope id */
	case 'X': /* log file */
	case 'L': /* syslog tag */
	case 'O': /* option=value */
	case 'h': /* hop count */
	case 'p': /* protocol */
		if (arg[2] == '\0' && *i + 1 < argc)
			(*i)++;
		warn(a, arg);
		return 0;
	default: /* -U, -G, -m, -n, -em, -d... */
		warn(a, arg);
		return 0;
	}
}

int send_args_parse(int argc, char **argv, struct send_args *a, struct error *err)
{
	bool operands = false;

	memset(a, 0, sizeof(*a));
	a->dot_ends = true;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		int r = 0;

		if (operands || arg[0] != '-' || arg[1] == '\0')
			add_rcpt(a, arg);
		else if (strcmp(arg, "--") == 0)
			operands = true;
		else if (arg[1] == '-')
			r = long_option(argc, argv, &i, a, err);
		else
			r = short_option(argc, argv, &i, a, err);
		if (r < 0) {
			send_args_free(a);
			return -1;
		}
	}
	return 0;
}

void send_args_free(struct send_args *a)
{
	free(a->rcpts);
	for (size_t i = 0; i < a->n_warnings; i++)
		free(a->warnings[i]);
	free(a->warnings);
	memset(a, 0, sizeof(*a));
}
