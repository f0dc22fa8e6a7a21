/* `gmaildir daemon`: the long-running service (systemd user unit). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "daemon/daemon.h"
#include "util/log.h"

int cli_cmd_daemon(struct cli *cli, int argc, char **argv)
{
	struct error err = {0};
	char *def = NULL;
	const char *path = cli->config_path;
	int ret = cli_load_config(cli);

	if (ret != EXIT_OK)
		return ret;
	if (argc > 1 && argv[1][0] == '-') {
		fprintf(stderr, "usage: gmaildir [-c FILE] daemon [ACCOUNT...]\n");
		return EXIT_USAGE;
	}
	if (!path)
		path = def = config_default_path();
	/* Its lines are read later, in a file or a terminal's scrollback:
	 * each says when (the journal stamps its own). */
	log_set_timestamps(true);
	if (daemon_run(path, &cli->config, (const char *const *)argv + 1, (size_t)argc - 1, &err) <
	    0) {
		fprintf(stderr, "gmaildir: %s\n", err.msg);
		log_file_msg(LOG_LVL_ERROR, "%s", err.msg);
		cli_hint(err.msg);
		ret = err.scope == ERR_CONFIG ? EXIT_USAGE : EXIT_FAILED;
	}
	free(def);
	return ret;
}
