/* Config loading for every command, and `check-config`, which prints the
 * parsed accounts with every default filled in and secrets masked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "util/xalloc.h"

int cli_load_config(struct cli *cli)
{
	struct error err = {0};
	char *def = NULL;
	const char *path = cli->config_path;

	if (cli->config)
		return EXIT_OK;
	if (!path)
		path = def = config_default_path();
	if (config_load(path, &cli->config, &err) < 0) {
		struct stat st;

		fprintf(stderr, "gmaildir: %s\n", err.msg);
		/* A first run: say how to get a config, not only that there is none. */
		if (stat(path, &st) < 0 && errno == ENOENT)
			fprintf(stderr,
				"  There is no config yet. For Gmail, `gmaildir init gmail "
				"you@gmail.com` writes one;\n"
				"  for another IMAP server, `gmaildir init imap you@example.org`.\n"
				"  Every key: config.yaml.example (in %s,\n"
				"  or packaging/ in the source) and gmaildir.yaml(5).\n"
				"  `gmaildir -c FILE ...` reads another file.\n",
				GMAILDIR_DOCDIR);
		free(def);
		return EXIT_USAGE;
	}
	free(def);
	return EXIT_OK;
}

const struct account_conf *cli_find_account(struct cli *cli, const char *arg, const char **folder_r)
{
	const struct account_conf *acct;
	const char *slash = strchr(arg, '/');
	char *name = slash ? xstrndup(arg, (size_t)(slash - arg)) : xstrdup(arg);

	acct = config_find_account(cli->config, name);
	if (!acct)
		fprintf(stderr, "gmaildir: no account named '%s' in the config\n", name);
	free(name);
	if (folder_r)
		*folder_r = slash ? slash + 1 : NULL;
	return acct;
}

static const char *enum_name(const char *const *names, unsigned v)
{
	return names[v];
}

static void print_list(const char *key, const struct strlist *l)
{
	printf("    %s: [", key);
	for (size_t i = 0; i < l->len; i++)
		printf("%s\"%s\"", i ? ", " : "", l->items[i]);
	printf("]\n");
}

static void print_smtp(const struct smtp_conf *m)
{
	static const char *const save[] = {"auto", "always", "never"};

	if (!m->configured) {
		printf("    smtp: none\n");
		return;
	}
	printf("    smtp:\n      host: %s\n      port: %u\n      tls: %s\n", m->host,
	       (unsigned)m->port, m->tls == TLS_STARTTLS ? "starttls" : "implicit");
	printf("      user: %s\n      auth: %s\n", m->user,
	       m->auth == AUTH_XOAUTH2 ? "xoauth2" : "login");
	if (m->ca_file)
		printf("      ca_file: %s\n", m->ca_file);
	if (m->auth == AUTH_XOAUTH2)
		printf("      oauth2_token_command: \"%s\"\n", m->oauth2_token_command);
	else if (m->password)
		printf("      password: \"********\"\n");
	else
		printf("      password_command: \"%s\"\n", m->password_command);
	printf("      save_sent: %s (%s)\n", save[m->save_sent],
	       m->copy_to_sent ? "a copy goes to the Sent folder"
			       : "no copy: the server files one");
}

static void print_account(const struct account_conf *a)
{
	static const char *const auth[] = {"login", "xoauth2"};
	static const char *const conflicts[] = {"deletion-wins", "keep"};
	static const char *const direction[] = {"both", "pull", "push"};
	static const char *const deletions[] = {"propagate", "keep"};

	printf("  - name: %s\n", a->name);
	if (a->gmail)
		printf("    provider: gmail\n");
	printf("    host: %s\n    port: %u\n    tls: %s\n", a->host, a->port,
	       config_tls_name(a->tls));
	printf("    allow_insecure: %s\n", a->allow_insecure ? "true" : "false");
	if (a->ca_file)
		printf("    ca_file: %s\n", a->ca_file);
	printf("    user: %s\n    auth: %s\n", a->user, enum_name(auth, a->auth));
	if (a->password)
		printf("    password: \"********\"\n");
	if (a->password_command)
		printf("    password_command: \"%s\"\n", a->password_command);
	if (a->oauth2_token_command)
		printf("    oauth2_token_command: \"%s\"\n", a->oauth2_token_command);
	printf("    maildir: %s\n    layout: %s\n    state_dir: %s\n", a->maildir,
	       a->layout == LAYOUT_MAILDIRPP ? "maildir++" : "verbatim", a->state_dir);
	print_list("folders.include", &a->include);
	print_list("folders.exclude", &a->exclude);
	printf("    folders.propagate_deletes: %s\n",
	       a->propagate_folder_deletes ? "true" : "false");
	for (size_t i = 0; i < a->n_limits; i++) {
		const struct folder_limits *l = &a->limits[i];

		printf("    folders.limits \"%s\":", l->pattern);
		if (l->set_age)
			printf(" max_age %u", l->max_age);
		if (l->set_size)
			printf(" max_size %llu", (unsigned long long)l->max_size);
		putchar('\n');
	}
	printf("    trash: %s\n", a->trash == TRASH_MOVE ? "move" : "expunge");
	if (a->post_sync_command)
		printf("    post_sync_command: \"%s\"\n", a->post_sync_command);
	printf("    conflicts: %s\n    direction: %s\n    remote_deletions: %s\n",
	       enum_name(conflicts, a->conflicts), enum_name(direction, a->direction),
	       enum_name(deletions, a->remote_deletions));
	print_list("idle", &a->idle);
	printf("    poll_interval: %u\n    connections: %u\n    max_connections: %u\n"
	       "    status_interval: %u\n    timeout: %u\n    compress: %s\n",
	       a->poll_interval, a->connections, a->max_connections, a->status_interval, a->timeout,
	       a->compress == COMPRESS_NEVER ? "never" : "auto");
	if (a->max_age)
		printf("    max_age: %u\n", a->max_age);
	if (a->max_size)
		printf("    max_size: %llu\n", (unsigned long long)a->max_size);
	print_smtp(&a->smtp);
}

int cli_cmd_check_config(struct cli *cli, int argc, char **argv)
{
	int ret = cli_load_config(cli);

	if (ret != EXIT_OK)
		return ret;
	if (argc > 1) {
		fprintf(stderr, "gmaildir: check-config takes no arguments\n");
		return EXIT_USAGE;
	}
	printf("accounts:\n");
	for (size_t i = 0; i < config_account_count(cli->config); i++)
		print_account(config_account(cli->config, i));
	return EXIT_OK;
}
