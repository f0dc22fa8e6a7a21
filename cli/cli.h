/* The command-line program's shared pieces: global options, config loading
 * with the exit statuses of DESIGN.md §10, and the commands. Only cli/ prints
 * for a person; the library below it returns errors. */
#ifndef GMAILDIR_CLI_CLI_H
#define GMAILDIR_CLI_CLI_H

#include "config/config.h"

enum exit_status {
	EXIT_OK = 0,
	EXIT_FAILED = 1, /* some folder or account failed, the others went on */
	EXIT_USAGE = 2,	 /* usage or config error */
	EXIT_SAFETY = 3, /* refused for safety: mass deletion, UIDVALIDITY */
};

struct cli {
	const char *config_path; /* borrowed from argv; NULL: the default */
	const char *log_file;	 /* borrowed from argv: --log-file, or NULL */
	int verbosity;		 /* -1 quiet, 0 normal, 1 -v, 2 -vv */
	struct config *config;	 /* owned: loaded by cli_load_config */
};

/* Loads the config once; prints the error and returns EXIT_USAGE on failure,
 * else EXIT_OK. */
int cli_load_config(struct cli *cli);

/* Resolves "ACCOUNT" or "ACCOUNT/FOLDER" arguments. Prints the error and
 * returns NULL for an unknown account. */
const struct account_conf *cli_find_account(struct cli *cli, const char *arg,
					    const char **folder_r);

int cli_cmd_sync(struct cli *cli, int argc, char **argv);
int cli_cmd_list(struct cli *cli, int argc, char **argv);
int cli_cmd_check_config(struct cli *cli, int argc, char **argv);
int cli_cmd_init(struct cli *cli, int argc, char **argv);
int cli_cmd_daemon(struct cli *cli, int argc, char **argv);
int cli_cmd_status(struct cli *cli, int argc, char **argv);
int cli_cmd_doctor(struct cli *cli, int argc, char **argv);
int cli_cmd_send(struct cli *cli, int argc, char **argv);
int cli_cmd_login(struct cli *cli, int argc, char **argv);

/* Prints s to stdout with controls and invalid UTF-8 as '?', padded to
 * |width| columns of the screen: right-aligned when width > 0, left-aligned
 * when < 0 (as printf's %*s); 0 pads nothing. Never cuts s. */
void cli_cell(const char *s, int width);
/* The columns s takes on screen as cli_cell prints it. */
int cli_columns(const char *s);

struct option;
/* After getopt_long returned '?' (opterr is 0: getopt's own message would
 * name argv[0]): prints "gmaildir: CMD: unknown option '-x'; see gmaildir
 * help CMD" (or that an option needs its value) and returns EXIT_USAGE.
 * cmd is NULL for the global options; shorts and longopts are the ones
 * given to getopt_long. */
int cli_bad_option(const char *cmd, char **argv, const char *shorts, const struct option *longopts);

/* Prints a plain-language hint under an error whose text is a known one. */
void cli_hint(const char *message);
/* The hint for a known error text (lines after the first indented by two
 * spaces), or NULL. */
const char *cli_hint_text(const char *message);

#endif
