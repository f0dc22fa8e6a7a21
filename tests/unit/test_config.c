/* Unit tests of config/: good configs and their defaults, a table of bad
 * configs with their exact "file:line:column: message", the permission
 * check of config_load(), the secret commands, and a crash hunt over
 * truncated and mutated input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_p.h" /* secret_set_timeout_ms() */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

#define ACC_FOR_SMTP                                                                               \
	"accounts:\n"                                                                              \
	"  - name: a\n"                                                                            \
	"    host: h\n"                                                                            \
	"    user: u\n"                                                                            \
	"    password: p\n"                                                                        \
	"    maildir: /m\n"

static struct config *parse_ok(const char *yaml)
{
	struct config *cfg = NULL;
	struct error err = {0};

	if (config_parse("t.yaml", yaml, strlen(yaml), &cfg, &err) < 0)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(cfg);
	return cfg;
}

static void expect_prefix(const char *msg, const char *prefix)
{
	if (strncmp(msg, prefix, strlen(prefix)) != 0)
		fail_msg("message\n  got:  %s\n  want: %s...", msg, prefix);
}

static void assert_list(const struct strlist *l, size_t n, ...)
{
	va_list ap;

	assert_int_equal(l->len, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->items[i], va_arg(ap, const char *));
	va_end(ap);
}

/* A fixed environment, so that defaults are predictable. */
static int group_setup(void **state)
{
	(void)state;
	setenv("HOME", "/home/tester", 1);
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_CONFIG_HOME");
	return 0;
}

/* ---- good configs ---- */

static const char full_yaml[] =
    "# every key\n"
    "accounts:\n"
    "  - name: work.main@x+y-z_1\n"
    "    host: imap.example.org\n"
    "    port: 10993\n"
    "    tls: starttls\n"
    "    allow_insecure: yes\n"
    "    ca_file: /etc/ca.pem\n"
    "    user: alice@example.org\n"
    "    auth: login\n"
    "    password_command: \"pass show mail\"\n"
    "    maildir: /srv/mail/work\n"
    "    layout: maildir++\n"
    "    state_dir: /srv/state/work\n"
    "    folders: { include: [\"INBOX\", \"Lists/*\"], exclude: [Spam, Trash] }\n"
    "    conflicts: keep\n"
    "    direction: pull\n"
    "    remote_deletions: keep\n"
    "    idle: [INBOX, Sent]\n"
    "    poll_interval: 600\n"
    "    connections: 15\n"
    "    timeout: 3600\n"
    "    max_age: 90\n"
    "    max_size: 25M\n"
    "    max_connections: 12\n"
    "    status_interval: 30\n"
    "    compress: never\n"
    "  - name: personal\n"
    "    provider: gmail\n"
    "    user: me@gmail.com\n"
    "    auth: xoauth2\n"
    "    oauth2_token_command: get-token\n"
    "    maildir: ~/Mail/personal\n";

static void test_full(void **state)
{
	(void)state;
	struct config *cfg = parse_ok(full_yaml);
	const struct account_conf *a = config_account(cfg, 0);

	assert_int_equal(config_account_count(cfg), 2);
	assert_string_equal(a->name, "work.main@x+y-z_1");
	assert_false(a->gmail);
	assert_string_equal(a->host, "imap.example.org");
	assert_int_equal(a->port, 10993);
	assert_int_equal(a->tls, TLS_STARTTLS);
	assert_true(a->allow_insecure);
	assert_string_equal(a->ca_file, "/etc/ca.pem");
	assert_string_equal(a->user, "alice@example.org");
	assert_int_equal(a->auth, AUTH_LOGIN);
	assert_null(a->password);
	assert_string_equal(a->password_command, "pass show mail");
	assert_null(a->oauth2_token_command);
	assert_string_equal(a->maildir, "/srv/mail/work");
	assert_int_equal(a->layout, LAYOUT_MAILDIRPP);
	assert_string_equal(a->state_dir, "/srv/state/work");
	assert_list(&a->include, 2, "INBOX", "Lists/*");
	assert_list(&a->exclude, 2, "Spam", "Trash");
	assert_int_equal(a->conflicts, CONFLICT_KEEP);
	assert_int_equal(a->direction, DIRECTION_PULL);
	assert_int_equal(a->remote_deletions, REMOTE_DELETIONS_KEEP);
	assert_list(&a->idle, 2, "INBOX", "Sent");
	assert_int_equal(a->poll_interval, 600);
	assert_int_equal(a->connections, 15);
	assert_int_equal(a->max_age, 90);
	assert_int_equal(a->max_size, 25u << 20);
	assert_int_equal(a->max_connections, 12);
	assert_int_equal(a->status_interval, 30);
	assert_int_equal(a->compress, COMPRESS_NEVER);
	assert_int_equal(a->timeout, 3600);

	a = config_account(cfg, 1);
	assert_string_equal(a->name, "personal");
	assert_int_equal(a->auth, AUTH_XOAUTH2);
	assert_string_equal(a->oauth2_token_command, "get-token");
	assert_string_equal(a->maildir, "/home/tester/Mail/personal");
	assert_null(config_account(cfg, 2));
	assert_ptr_equal(config_find_account(cfg, "personal"), a);
	assert_ptr_equal(config_find_account(cfg, "work.main@x+y-z_1"), config_account(cfg, 0));
	assert_null(config_find_account(cfg, "nobody"));
	config_free(&cfg);
	assert_null(cfg);
}

static void test_gmail_preset(void **state)
{
	(void)state;
	struct config *cfg = parse_ok("accounts:\n"
				      "  - name: g\n"
				      "    provider: gmail\n"
				      "    user: you@gmail.com\n"
				      "    password_command: pass show google\n"
				      "    maildir: /m\n");
	const struct account_conf *a = config_account(cfg, 0);

	assert_true(a->gmail);
	assert_string_equal(a->host, "imap.gmail.com");
	assert_int_equal(a->port, 993);
	assert_int_equal(a->tls, TLS_IMPLICIT);
	assert_int_equal(a->auth, AUTH_LOGIN);
	config_free(&cfg);
}

/* provider: gmail sends through smtp.gmail.com:465 without a block, with
 * the account's user and password, and files no copy in Sent itself. */
static void test_smtp_gmail_default(void **state)
{
	(void)state;
	struct config *cfg = parse_ok("accounts:\n"
				      "  - name: g\n"
				      "    provider: gmail\n"
				      "    user: you@gmail.com\n"
				      "    password_command: pass show google\n"
				      "    maildir: /m\n");
	const struct smtp_conf *m = &config_account(cfg, 0)->smtp;

	assert_true(m->configured);
	assert_string_equal(m->host, "smtp.gmail.com");
	assert_int_equal(m->port, 465);
	assert_int_equal(m->tls, TLS_IMPLICIT);
	assert_string_equal(m->user, "you@gmail.com");
	assert_string_equal(m->password_command, "pass show google");
	assert_null(m->password);
	assert_false(m->copy_to_sent);
	config_free(&cfg);
}

/* Another server: no block, no SMTP; a block takes the account's values
 * for what it leaves out, 587 means STARTTLS, and copies go to Sent. */
static void test_smtp_block(void **state)
{
	(void)state;
	struct config *cfg = parse_ok(ACC_FOR_SMTP "    ca_file: /ca.pem\n"
						   "    smtp:\n"
						   "      host: mail.example.org\n"
						   "      port: 587\n");
	const struct smtp_conf *m = &config_account(cfg, 0)->smtp;
	struct config *none;

	assert_true(m->configured);
	assert_string_equal(m->host, "mail.example.org");
	assert_int_equal(m->port, 587);
	assert_int_equal(m->tls, TLS_STARTTLS);
	assert_string_equal(m->user, "u");
	assert_string_equal(m->password, "p");
	assert_string_equal(m->ca_file, "/ca.pem");
	assert_true(m->copy_to_sent);
	config_free(&cfg);

	cfg = parse_ok(ACC_FOR_SMTP "    smtp: {host: s, tls: starttls, user: other,"
				    " password_command: cmd, save_sent: never}\n");
	m = &config_account(cfg, 0)->smtp;
	assert_int_equal(m->port, 587);
	assert_string_equal(m->user, "other");
	assert_null(m->password);
	assert_string_equal(m->password_command, "cmd");
	assert_false(m->copy_to_sent);
	config_free(&cfg);

	none = parse_ok(ACC_FOR_SMTP);
	assert_false(config_account(none, 0)->smtp.configured);
	config_free(&none);
}

/* An oauth2: block: auth xoauth2 without saying so, Google's endpoints by
 * default, and the outgoing server signs in with the same tokens. */
static void test_oauth2_block(void **state)
{
	(void)state;
	struct config *cfg = parse_ok("accounts:\n"
				      "  - name: g\n"
				      "    provider: gmail\n"
				      "    user: you@gmail.com\n"
				      "    maildir: /m\n"
				      "    oauth2:\n"
				      "      client_id: 123-abc.apps.googleusercontent.com\n"
				      "      client_secret_command: pass show gmaildir-client\n");
	const struct account_conf *a = config_account(cfg, 0);

	assert_int_equal(a->auth, AUTH_XOAUTH2);
	assert_true(a->oauth2.configured);
	assert_string_equal(a->oauth2.client_id, "123-abc.apps.googleusercontent.com");
	assert_null(a->oauth2.client_secret);
	assert_string_equal(a->oauth2.client_secret_command, "pass show gmaildir-client");
	assert_string_equal(a->oauth2.auth_url, "https://accounts.google.com/o/oauth2/v2/auth");
	assert_string_equal(a->oauth2.token_url, "https://oauth2.googleapis.com/token");
	assert_string_equal(a->oauth2.scope, "https://mail.google.com/");
	assert_int_equal(a->oauth2.token_store, TOKEN_STORE_AUTO);
	assert_int_equal(a->smtp.auth, AUTH_XOAUTH2);
	assert_true(a->smtp.builtin_oauth2);
	config_free(&cfg);

	cfg = parse_ok("accounts:\n  - name: a\n    host: h\n    user: u\n    maildir: /m\n"
		       "    oauth2:\n"
		       "      client_id: i\n"
		       "      auth_url: https://login.example/authorize\n"
		       "      token_url: https://login.example/token\n"
		       "      scope: \"https://outlook.office.com/IMAP.AccessAsUser.All "
		       "offline_access\"\n"
		       "      token_store: file\n");
	a = config_account(cfg, 0);
	assert_string_equal(a->oauth2.token_url, "https://login.example/token");
	assert_string_equal(a->oauth2.scope,
			    "https://outlook.office.com/IMAP.AccessAsUser.All offline_access");
	assert_int_equal(a->oauth2.token_store, TOKEN_STORE_FILE);
	assert_false(a->smtp.configured);
	config_free(&cfg);
}

static void test_smtp_port_refusal(void **state)
{
	(void)state;
	assert_non_null(config_smtp_port_refusal("smtp.gmail.com", 25));
	assert_non_null(config_smtp_port_refusal("aspmx.l.google.com", 25));
	assert_non_null(config_smtp_port_refusal("gmail.com.", 25));
	assert_null(config_smtp_port_refusal("smtp.gmail.com", 465));
	assert_null(config_smtp_port_refusal("mail.example.org", 25));
	assert_null(config_smtp_port_refusal("notgmail.com", 25));
}

/* Explicit host, port and tls win over the preset. */
static void test_gmail_override(void **state)
{
	(void)state;
	struct config *cfg = parse_ok("accounts:\n"
				      "  - name: g\n"
				      "    port: 1993\n"
				      "    provider: gmail\n"
				      "    host: 127.0.0.1\n"
				      "    tls: starttls\n"
				      "    user: u\n"
				      "    password: p\n"
				      "    maildir: /m\n");
	const struct account_conf *a = config_account(cfg, 0);

	assert_true(a->gmail);
	assert_string_equal(a->host, "127.0.0.1");
	assert_int_equal(a->port, 1993);
	assert_int_equal(a->tls, TLS_STARTTLS);
	config_free(&cfg);
}

static void test_defaults(void **state)
{
	(void)state;
	struct config *cfg = parse_ok("accounts:\n"
				      "- name: d\n"
				      "  host: h\n"
				      "  user: u\n"
				      "  password: p\n"
				      "  maildir: /m\n");
	const struct account_conf *a = config_account(cfg, 0);

	assert_false(a->gmail);
	assert_int_equal(a->port, 993);
	assert_int_equal(a->tls, TLS_IMPLICIT);
	assert_false(a->allow_insecure);
	assert_null(a->ca_file);
	assert_int_equal(a->auth, AUTH_LOGIN);
	assert_string_equal(a->password, "p");
	assert_null(a->password_command);
	assert_string_equal(a->state_dir, "/home/tester/.local/state/gmaildir/d");
	assert_int_equal(a->layout, LAYOUT_VERBATIM);
	assert_list(&a->include, 1, "*");
	assert_list(&a->exclude, 0);
	assert_int_equal(a->conflicts, CONFLICT_DELETION_WINS);
	assert_int_equal(a->direction, DIRECTION_BOTH);
	assert_int_equal(a->remote_deletions, REMOTE_DELETIONS_PROPAGATE);
	assert_list(&a->idle, 1, "INBOX");
	assert_int_equal(a->poll_interval, 300);
	assert_int_equal(a->connections, 4);
	assert_int_equal(a->timeout, 60);
	config_free(&cfg);
}

static void test_default_ports(void **state)
{
	(void)state;
	struct config *cfg = parse_ok("accounts:\n"
				      "  - {name: s, host: h, user: u, password: p, maildir: /s,"
				      " tls: starttls}\n"
				      "  - {name: n, host: h, user: u, password: p, maildir: /n,"
				      " tls: none, allow_insecure: true}\n");

	assert_int_equal(config_account(cfg, 0)->port, 143);
	assert_int_equal(config_account(cfg, 1)->port, 143);
	assert_int_equal(config_account(cfg, 1)->tls, TLS_NONE);
	config_free(&cfg);
}

static void test_tilde(void **state)
{
	(void)state;
	struct config *cfg;
	const struct account_conf *a;

	setenv("HOME", "/h/alice", 1);
	cfg = parse_ok("accounts:\n"
		       "  - name: t\n"
		       "    host: h\n"
		       "    user: u\n"
		       "    password: p\n"
		       "    maildir: ~\n"
		       "    state_dir: ~/st/\n"
		       "    ca_file: \"~/ca.pem\"\n");
	a = config_account(cfg, 0);
	assert_string_equal(a->maildir, "/h/alice");
	assert_string_equal(a->state_dir, "/h/alice/st/");
	assert_string_equal(a->ca_file, "/h/alice/ca.pem");
	config_free(&cfg);
	setenv("HOME", "/home/tester", 1);
}

static void test_xdg_state_home(void **state)
{
	(void)state;
	static const char yaml[] = "accounts: [{name: x, host: h, user: u, password: p, "
				   "maildir: /m}]\n";
	struct config *cfg;

	setenv("XDG_STATE_HOME", "/var/xdg", 1);
	cfg = parse_ok(yaml);
	assert_string_equal(config_account(cfg, 0)->state_dir, "/var/xdg/gmaildir/x");
	config_free(&cfg);
	/* The XDG spec says to ignore a relative path. */
	setenv("XDG_STATE_HOME", "rel", 1);
	cfg = parse_ok(yaml);
	assert_string_equal(config_account(cfg, 0)->state_dir,
			    "/home/tester/.local/state/gmaildir/x");
	config_free(&cfg);
	unsetenv("XDG_STATE_HOME");
}

/* The schema, not YAML's implicit typing, decides what a scalar is. */
static void test_scalar_forms(void **state)
{
	(void)state;
	struct config *cfg = parse_ok("%YAML 1.1\n"
				      "---\n"
				      "accounts:\n"
				      "  - name: 123\n"
				      "    host: 'h'\n"
				      "    port: \"+0993\"\n"
				      "    tls: none\n"
				      "    allow_insecure: True\n"
				      "    user: !!str null\n"
				      "    password: &pw yes\n"
				      "    maildir: /m\n"
				      "    idle: []\n"
				      "    folders: {}\n"
				      "...\n");
	const struct account_conf *a = config_account(cfg, 0);

	assert_string_equal(a->name, "123");
	assert_int_equal(a->port, 993);
	assert_true(a->allow_insecure);
	assert_string_equal(a->user, "null");
	assert_string_equal(a->password, "yes");
	assert_list(&a->idle, 0);
	assert_list(&a->include, 1, "*");
	config_free(&cfg);
}

static void test_booleans(void **state)
{
	(void)state;
	static const char *const words[] = {"true",  "yes", "TRUE",  "Yes",
					    "false", "no",  "False", "NO"};
	char yaml[256];

	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		struct config *cfg;

		snprintf(yaml, sizeof(yaml),
			 "accounts: [{name: b, host: h, user: u, password: p, maildir: /m, "
			 "allow_insecure: %s}]\n",
			 words[i]);
		cfg = parse_ok(yaml);
		assert_int_equal(config_account(cfg, 0)->allow_insecure, i < 4);
		config_free(&cfg);
	}
}

static void test_multiline_command(void **state)
{
	(void)state;
	struct config *cfg = parse_ok("accounts:\n"
				      "  - name: m\n"
				      "    host: h\n"
				      "    user: u\n"
				      "    maildir: /m\n"
				      "    password_command: |\n"
				      "      set -e\n"
				      "      pass show x\n"
				      "    folders:\n"
				      "      exclude: [\"[Gmail]/Spam\"]\n");
	const struct account_conf *a = config_account(cfg, 0);

	assert_string_equal(a->password_command, "set -e\npass show x\n");
	assert_list(&a->include, 1, "*");
	assert_list(&a->exclude, 1, "[Gmail]/Spam");
	config_free(&cfg);
}

static void test_default_path(void **state)
{
	(void)state;
	char *p;

	p = config_default_path();
	assert_string_equal(p, "/home/tester/.config/gmaildir/config.yaml");
	free(p);
	setenv("XDG_CONFIG_HOME", "/cfg", 1);
	p = config_default_path();
	assert_string_equal(p, "/cfg/gmaildir/config.yaml");
	free(p);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	p = config_default_path();
	assert_string_equal(p, "/home/tester/.config/gmaildir/config.yaml");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
}

static void test_tls_name(void **state)
{
	(void)state;
	assert_string_equal(config_tls_name(TLS_IMPLICIT), "implicit");
	assert_string_equal(config_tls_name(TLS_STARTTLS), "starttls");
	assert_string_equal(config_tls_name(TLS_NONE), "none");
}

static void test_free_null(void **state)
{
	(void)state;
	struct config *cfg = NULL;

	config_free(&cfg);
	assert_null(cfg);
}

/* ---- bad configs ---- */

/* A valid account of 6 lines; a key added after it is on line 7, column 5,
 * and its value at column 5 + strlen(key) + 2. */
#define ACC                                                                                        \
	"accounts:\n"                                                                              \
	"  - name: a\n"                                                                            \
	"    host: h\n"                                                                            \
	"    user: u\n"                                                                            \
	"    password: p\n"                                                                        \
	"    maildir: /m\n"
/* The same without the password, for the secret rules. */
#define ACC_NOPW                                                                                   \
	"accounts:\n"                                                                              \
	"  - name: a\n"                                                                            \
	"    host: h\n"                                                                            \
	"    user: u\n"                                                                            \
	"    maildir: /m\n"

struct bad_case {
	const char *name;
	const char *yaml;
	size_t len; /* 0: strlen(yaml) */
	const char *want;
};

static const struct bad_case bad_cases[] = {
    /* The document as a whole. */
    {"empty file", "", 0, "t.yaml:1:1: the file is empty; expected a mapping with \"accounts:\""},
    {"only comments", "# nothing\n\n", 0, "t.yaml:1:1: the file is empty"},
    {"top level scalar", "hello\n", 0,
     "t.yaml:1:1: expected a mapping with \"accounts:\" at the top level, got \"hello\""},
    {"top level sequence", "\n- a\n", 0,
     "t.yaml:2:1: expected a mapping with \"accounts:\" at the top level, got a sequence"},
    {"missing accounts", "{}\n", 0, "t.yaml:1:1: missing required key \"accounts\""},
    {"unknown top key", "acounts: []\n", 0,
     "t.yaml:1:1: unknown key \"acounts\" in the top level; did you mean \"accounts\"?"},
    {"duplicate top key", ACC "accounts: []\n", 0,
     "t.yaml:7:1: duplicate key \"accounts\" (first at line 1)"},
    {"accounts empty", "accounts: []\n", 0, "t.yaml:1:11: accounts: expected at least one account"},
    {"accounts null", "accounts:\n", 0,
     "t.yaml:1:10: accounts: expected a sequence of accounts, got an empty value"},
    {"accounts mapping", "accounts: {name: a}\n", 0,
     "t.yaml:1:11: accounts: expected a sequence of accounts, got a mapping"},
    {"account scalar", "accounts:\n  - just-a-name\n", 0,
     "t.yaml:2:5: accounts: expected a mapping, got \"just-a-name\""},
    /* Keys. */
    {"unknown key", ACC "    hots: x\n", 0,
     "t.yaml:7:5: unknown key \"hots\" in account; did you mean \"host\"?"},
    {"unknown key, near a known one", ACC "    conections: 2\n", 0,
     "t.yaml:7:5: unknown key \"conections\" in account; did you mean \"connections\"?"},
    {"unknown key, near none: the list", ACC "    frobnicate: 2\n", 0,
     "t.yaml:7:5: unknown key \"frobnicate\" in account; allowed: name, provider, host, port,"},
    {"duplicate key", ACC "    host: other\n", 0,
     "t.yaml:7:5: duplicate key \"host\" (first at line 3)"},
    {"sequence as key", ACC "    ? [a]\n    : b\n", 0,
     "t.yaml:7:7: expected a key name in account, got a sequence"},
    {"empty key", ACC "    \"\": b\n", 0,
     "t.yaml:7:5: expected a key name in account, got an empty value"},
    {"missing name", "accounts:\n  - host: h\n    user: u\n    password: p\n    maildir: /m\n", 0,
     "t.yaml:2:5: missing required key \"name\" in account #1"},
    {"missing host", "accounts:\n  - name: a\n    user: u\n    password: p\n    maildir: /m\n", 0,
     "t.yaml:2:5: missing required key \"host\" (or provider: gmail) in account \"a\""},
    {"missing user", "accounts:\n  - name: a\n    host: h\n    password: p\n    maildir: /m\n", 0,
     "t.yaml:2:5: missing required key \"user\" in account \"a\""},
    {"missing maildir", "accounts:\n  - name: a\n    host: h\n    user: u\n    password: p\n", 0,
     "t.yaml:2:5: missing required key \"maildir\" in account \"a\""},
    {"missing in second account", ACC "  - name: b\n    host: h\n", 0,
     "t.yaml:7:5: missing required key \"user\" in account \"b\""},
    /* Secrets. */
    {"no password", ACC_NOPW, 0,
     "t.yaml:2:5: missing required key \"password\" or \"password_command\" in account \"a\""},
    {"password and command", ACC "    password_command: pass\n", 0,
     "t.yaml:7:5: password and password_command exclude each other; keep one"},
    {"xoauth2 without command", ACC "    auth: xoauth2\n", 0,
     "t.yaml:2:5: missing required key \"oauth2\" or \"oauth2_token_command\" (auth: xoauth2) in "
     "account \"a\""},
    {"password not a string", ACC_NOPW "    password: [p]\n", 0,
     "t.yaml:6:15: password: expected a string, got a sequence"},
    /* Enums. */
    {"bad tls", ACC "    tls: ssl\n", 0,
     "t.yaml:7:10: tls: expected implicit, starttls or none, got \"ssl\""},
    {"bad auth", ACC "    auth: plain\n", 0,
     "t.yaml:7:11: auth: expected login or xoauth2, got \"plain\""},
    {"bad provider", ACC "    provider: yahoo\n", 0,
     "t.yaml:7:15: provider: expected gmail, got \"yahoo\""},
    {"bad conflicts", ACC "    conflicts: newest\n", 0,
     "t.yaml:7:16: conflicts: expected deletion-wins or keep, got \"newest\""},
    {"bad direction", ACC "    direction: sideways\n", 0,
     "t.yaml:7:16: direction: expected both, pull or push, got \"sideways\""},
    {"bad layout", ACC "    layout: mbsync\n", 0,
     "t.yaml:7:13: layout: expected verbatim or maildir++, got \"mbsync\""},
    {"layout case matters", ACC "    layout: Maildir++\n", 0,
     "t.yaml:7:13: layout: expected verbatim or maildir++, got \"Maildir++\""},
    {"bad remote_deletions", ACC "    remote_deletions: [keep]\n", 0,
     "t.yaml:7:23: remote_deletions: expected propagate or keep, got a sequence"},
    {"long value cut", ACC "    tls: 0123456789012345678901234567890123456789xyz\n", 0,
     "t.yaml:7:10: tls: expected implicit, starttls or none, got "
     "\"0123456789012345678901234567890123456789...\""},
    {"enum case matters", ACC "    tls: IMPLICIT\n", 0,
     "t.yaml:7:10: tls: expected implicit, starttls or none, got \"IMPLICIT\""},
    {"tls none not allowed", ACC "    tls: none\n", 0,
     "t.yaml:7:5: tls: none sends the password in clear; it also needs allow_insecure: true"},
    {"tls none insecure false", ACC "    allow_insecure: false\n    tls: none\n", 0,
     "t.yaml:8:5: tls: none sends the password in clear"},
    /* Booleans. */
    {"bad bool", ACC "    allow_insecure: maybe\n", 0,
     "t.yaml:7:21: allow_insecure: expected a boolean (true/false/yes/no), got \"maybe\""},
    {"bool as number", ACC "    allow_insecure: 1\n", 0,
     "t.yaml:7:21: allow_insecure: expected a boolean"},
    /* Integers. */
    {"port zero", ACC "    port: 0\n", 0, "t.yaml:7:11: port: \"0\" is out of range (1..65535)"},
    {"port too big", ACC "    port: 65536\n", 0,
     "t.yaml:7:11: port: \"65536\" is out of range (1..65535)"},
    {"port huge", ACC "    port: 99999999999999999999999\n", 0,
     "t.yaml:7:11: port: \"99999999999999999999999\" is out of range (1..65535)"},
    {"port negative", ACC "    port: -1\n", 0, "t.yaml:7:11: port: \"-1\" is out of range"},
    {"port junk", ACC "    port: 99x\n", 0, "t.yaml:7:11: port: expected an integer, got \"99x\""},
    {"port hex", ACC "    port: 0x10\n", 0, "t.yaml:7:11: port: expected an integer, got \"0x10\""},
    {"port float", ACC "    port: 993.0\n", 0, "t.yaml:7:11: port: expected an integer"},
    {"port sign only", ACC "    port: \"-\"\n", 0, "t.yaml:7:11: port: expected an integer"},
    {"port empty", ACC "    port:\n", 0,
     "t.yaml:7:10: port: expected an integer, got an empty value"},
    {"port sequence", ACC "    port: [1]\n", 0,
     "t.yaml:7:11: port: expected an integer, got a sequence"},
    {"poll with unit", ACC "    poll_interval: 5m\n", 0,
     "t.yaml:7:20: poll_interval: expected an integer, got \"5m\""},
    {"poll too short", ACC "    poll_interval: 5\n", 0,
     "t.yaml:7:20: poll_interval: \"5\" is out of range (10..86400)"},
    {"too many connections", ACC "    connections: 16\n", 0,
     "t.yaml:7:18: connections: \"16\" is out of range (1..15)"},
    {"max_size without a number", ACC "    max_size: 10X\n", 0,
     "t.yaml:7:15: max_size: expected a size like 10M, 500K or 2G, got \"10X\""},
    {"max_size zero", ACC "    max_size: 0\n", 0,
     "t.yaml:7:15: max_size: expected a size like 10M, 500K or 2G, got \"0\""},
    {"max_age zero", ACC "    max_age: 0\n", 0,
     "t.yaml:7:14: max_age: \"0\" is out of range (1..36500)"},
    {"compress maybe", ACC "    compress: maybe\n", 0,
     "t.yaml:7:15: compress: expected auto or never, got \"maybe\""},
    {"max_connections one", ACC "    max_connections: 1\n", 0,
     "t.yaml:7:22: max_connections: \"1\" is out of range (2..50)"},
    {"timeout zero", ACC "    timeout: 0\n", 0,
     "t.yaml:7:14: timeout: \"0\" is out of range (1..3600)"},
    {"timeout too long", ACC "    timeout: 3601\n", 0,
     "t.yaml:7:14: timeout: \"3601\" is out of range (1..3600)"},
    /* Strings. */
    {"name with slash", "accounts:\n  - name: a/b\n", 0,
     "t.yaml:2:11: name: may only hold letters, digits and . _ @ + - (it names a directory)"},
    {"name with space", "accounts:\n  - name: \"a b\"\n", 0, "t.yaml:2:11: name: may only hold"},
    {"name dotdot", "accounts:\n  - name: ..\n", 0,
     "t.yaml:2:11: name: \".\" and \"..\" are not valid directory names"},
    {"name empty", "accounts:\n  - name: \"\"\n", 0, "t.yaml:2:11: name: must not be empty"},
    {"unknown key with NUL", ACC "    \"host\\0\": x\n", 0,
     "t.yaml:7:5: unknown key \"host?\" in account"},
    {"host empty", "accounts:\n  - name: a\n    host:\n    user: u\n", 0,
     "t.yaml:3:10: host: must not be empty"},
    {"user mapping", "accounts:\n  - name: a\n    user: {x: 1}\n", 0,
     "t.yaml:3:11: user: expected a string, got a mapping"},
    {"host with NUL", "accounts:\n  - name: a\n    host: \"a\\0b\"\n", 0,
     "t.yaml:3:11: host: contains a NUL character"},
    {"user with newline", "accounts:\n  - name: a\n    user: \"a\\r\\nb\"\n", 0,
     "t.yaml:3:11: user: contains a control character"},
    {"duplicate key in flow", "accounts: [{name: a, name: b}]\n", 0,
     "t.yaml:1:22: duplicate key \"name\" (first at line 1)"},
    {"maildir relative", "accounts:\n  - name: a\n    maildir: Mail\n", 0,
     "t.yaml:3:14: maildir: must be an absolute path or start with ~/"},
    {"maildir other user", "accounts:\n  - name: a\n    maildir: ~bob/Mail\n", 0,
     "t.yaml:3:14: maildir: must be an absolute path"},
    {"state_dir relative", ACC "    state_dir: st\n", 0,
     "t.yaml:7:16: state_dir: must be an absolute path"},
    {"ca_file relative", ACC "    ca_file: ca.pem\n", 0,
     "t.yaml:7:14: ca_file: must be an absolute path"},
    /* Lists. */
    {"folders sequence", ACC "    folders: [a]\n", 0,
     "t.yaml:7:14: folders: expected a mapping, got a sequence"},
    {"folders unknown key", ACC "    folders: {include: [a], exlude: [b]}\n", 0,
     "t.yaml:7:29: unknown key \"exlude\" in folders; did you mean \"exclude\"?"},
    {"folders duplicate key", ACC "    folders:\n      include: [a]\n      include: [b]\n", 0,
     "t.yaml:9:7: duplicate key \"include\" (first at line 8)"},
    {"include scalar", ACC "    folders: {include: \"*\"}\n", 0,
     "t.yaml:7:24: include: expected a sequence, got \"*\""},
    {"idle empty item", ACC "    idle: [INBOX, \"\"]\n", 0, "t.yaml:7:19: idle: must not be empty"},
    {"idle nested", ACC "    idle:\n      - [INBOX]\n", 0,
     "t.yaml:8:9: idle: expected a string, got a sequence"},
    /* Across accounts. */
    {"duplicate name",
     ACC "  - name: a\n    host: h\n    user: u\n    password: p\n    maildir: /n\n", 0,
     "t.yaml:7:11: duplicate account name \"a\" (first at line 2)"},
    {"same maildir", ACC "  - {name: b, host: h, user: u, password: p, maildir: /m/}\n", 0,
     "t.yaml:7:55: maildir: overlaps the maildir of account \"a\""},
    {"nested maildir", ACC "  - {name: b, host: h, user: u, password: p, maildir: /m/b}\n", 0,
     "t.yaml:7:55: maildir: overlaps the maildir of account \"a\""},
    {"state_dir on a default",
     ACC "  - {name: b, host: h, user: u, password: p, maildir: /n,"
	 " state_dir: /home/tester/.local/state/gmaildir/a}\n",
     0, "t.yaml:7:70: state_dir: overlaps the state_dir of account \"a\""},
    {"default state_dir on explicit",
     "accounts:\n"
     "  - {name: b, host: h, user: u, password: p, maildir: /n,"
     " state_dir: /home/tester/.local/state/gmaildir}\n"
     "  - {name: a, host: h, user: u, password: p, maildir: /m}\n",
     0, "t.yaml:2:70: state_dir: overlaps the state_dir of account \"a\""},
    /* The smtp: block. */
    {"smtp port 25 to gmail", ACC "    smtp: {host: smtp.gmail.com, port: 25}\n", 0,
     "t.yaml:7:34: smtp: port 25 toward smtp.gmail.com: Google blocks port 25"},
    {"smtp port 25 to googlemail", ACC "    smtp: {host: SMTP.GoogleMail.com., port: 25}\n", 0,
     "t.yaml:7:"},
    {"smtp tls none", ACC "    smtp: {host: s, tls: none}\n", 0,
     "t.yaml:7:26: tls: expected implicit or starttls"},
    {"smtp without host", ACC "    smtp: {port: 587}\n", 0,
     "t.yaml:7:11: smtp: missing required key \"host\""},
    {"smtp unknown key", ACC "    smtp: {hots: s}\n", 0,
     "t.yaml:7:12: unknown key \"hots\" in smtp"},
    {"smtp two passwords", ACC "    smtp: {host: s, password: x, password_command: y}\n", 0,
     "t.yaml:7:11: smtp: password and password_command exclude each other"},
    {"smtp xoauth2 without command", ACC "    smtp: {host: s, auth: xoauth2}\n", 0,
     "t.yaml:7:11: smtp: auth: xoauth2 needs the account's \"oauth2\" block or "
     "\"oauth2_token_command\""},
    /* The oauth2: block. */
    {"oauth2 without client_id", ACC_NOPW "    oauth2: {client_secret: s}\n", 0,
     "t.yaml:6:13: oauth2: missing required key \"client_id\""},
    {"oauth2 and a token command",
     ACC_NOPW "    oauth2_token_command: x\n    oauth2: {client_id: i}\n", 0,
     "t.yaml:7:5: oauth2 and oauth2_token_command are two token sources; keep one"},
    {"oauth2 with auth login", ACC_NOPW "    auth: login\n    oauth2: {client_id: i}\n", 0,
     "t.yaml:7:5: oauth2: signs in with OAuth 2.0, which needs auth: xoauth2"},
    {"oauth2 two client secrets",
     ACC_NOPW "    oauth2: {client_id: i, client_secret: s, client_secret_command: c}\n", 0,
     "t.yaml:6:13: oauth2: client_secret and client_secret_command exclude each other"},
    {"oauth2 plain http endpoint",
     ACC_NOPW "    oauth2: {client_id: i, token_url: \"http://evil.example/t\"}\n", 0,
     "t.yaml:6:39: token_url: must be an https:// URL"},
    {"oauth2 bad token_store", ACC_NOPW "    oauth2: {client_id: i, token_store: disk}\n", 0,
     "t.yaml:6:41: token_store: expected auto, secret-service or file"},
    /* YAML itself. */
    {"alias", ACC "    user2: *x\n", 0, "t.yaml:7:12: aliases (*name) are not supported"},
    {"anchor and alias", "accounts:\n  - &a {name: a}\n  - *a\n", 0,
     "t.yaml:3:5: aliases (*name) are not supported"},
    {"two documents", ACC "---\n" ACC, 0,
     "t.yaml:7:1: only one YAML document is allowed in a config file"},
    {"bad indentation", "accounts:\n  - name: a\n   host: h\n", 0, "t.yaml:3:"},
    {"tab indentation", "accounts:\n\t- name: a\n", 0,
     "t.yaml:2:1: found character that cannot start any token"},
    {"unclosed flow", "accounts: [{name: a\n", 0, "t.yaml:2:1: "},
    {"unclosed quote", "accounts:\n  - name: \"a\n", 0,
     "t.yaml:3:1: found unexpected end of stream"},
    {"invalid utf-8", "accounts:\n  - name: \xff\n", 0, "t.yaml:2:11: invalid leading UTF-8 octet"},
    {"NUL byte", "accounts:\0\n", 10, "t.yaml:1:10: control characters are not allowed"},
    {"nesting too deep",
     "accounts: "
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     0, "t.yaml:1:42: nesting too deep"},
};

static void test_bad(void **state)
{
	(void)state;
	const struct bad_case *bc = *state;
	size_t len = bc->len ? bc->len : strlen(bc->yaml);
	struct config *cfg = (struct config *)1;
	struct error err = {0};

	assert_int_equal(config_parse("t.yaml", bc->yaml, len, &cfg, &err), -1);
	assert_null(cfg);
	assert_int_equal(err.scope, ERR_CONFIG);
	expect_prefix(err.msg, bc->want);
	/* One line, as promised. */
	assert_null(strchr(err.msg, '\n'));
}

/* ---- config_load() ---- */

struct tmpdir {
	char path[64];
	char file[96];
};

static void tmp_make(struct tmpdir *t, const char *content, mode_t mode)
{
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(t->path));
	snprintf(t->file, sizeof(t->file), "%s/config.yaml", t->path);
	fd = open(t->file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	assert_int_equal(chmod(t->file, mode), 0);
}

static void tmp_remove(struct tmpdir *t)
{
	unlink(t->file);
	rmdir(t->path);
}

static void test_load_password_mode(void **state)
{
	(void)state;
	struct tmpdir t;
	struct config *cfg = NULL;
	struct error err = {0};
	char want[256];

	tmp_make(&t, ACC, 0644);
	assert_int_equal(config_load(t.file, &cfg, &err), -1);
	assert_null(cfg);
	assert_int_equal(err.scope, ERR_CONFIG);
	snprintf(want, sizeof(want),
		 "%s: holds a password but is readable by others; run: chmod 600 %s", t.file,
		 t.file);
	assert_string_equal(err.msg, want);
	/* Group bits alone are enough to refuse. */
	assert_int_equal(chmod(t.file, 0640), 0);
	assert_int_equal(config_load(t.file, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(t.file, 0600), 0);
	assert_int_equal(config_load(t.file, &cfg, &err), 0);
	assert_string_equal(config_account(cfg, 0)->password, "p");
	config_free(&cfg);
	tmp_remove(&t);
}

/* Without a password the mode does not matter. */
static void test_load_no_password(void **state)
{
	(void)state;
	struct tmpdir t;
	struct config *cfg = NULL;
	struct error err = {0};

	tmp_make(&t, ACC_NOPW "    password_command: pass\n", 0644);
	assert_int_equal(config_load(t.file, &cfg, &err), 0);
	assert_string_equal(config_account(cfg, 0)->password_command, "pass");
	config_free(&cfg);
	tmp_remove(&t);
}

static void test_load_errors(void **state)
{
	(void)state;
	struct tmpdir t;
	struct config *cfg = NULL;
	struct error err = {0};
	char want[256];

	assert_int_equal(config_load("/nonexistent/gmaildir.yaml", &cfg, &err), -1);
	assert_string_equal(err.msg, "/nonexistent/gmaildir.yaml: No such file or directory");
	assert_int_equal(err.scope, ERR_CONFIG);
	assert_int_equal(config_load("/tmp", &cfg, &err), -1);
	assert_string_equal(err.msg, "/tmp: not a regular file");
	/* A FIFO is refused without waiting for a writer. */
	snprintf(t.path, sizeof(t.path), "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(t.path));
	snprintf(t.file, sizeof(t.file), "%s/fifo", t.path);
	assert_int_equal(mkfifo(t.file, 0600), 0);
	assert_int_equal(config_load(t.file, &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", t.file);
	assert_string_equal(err.msg, want);
	tmp_remove(&t);
	/* Syntax errors are named after the path. */
	tmp_make(&t, "accounts: [\n", 0600);
	assert_int_equal(config_load(t.file, &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s:2:1: ", t.file);
	expect_prefix(err.msg, want);
	assert_null(cfg);
	tmp_remove(&t);
}

static void test_load_too_large(void **state)
{
	size_t size = 1024 * 1024 + 1;
	char *big = malloc(size + 1);
	struct tmpdir t;
	struct config *cfg = NULL;
	struct error err = {0};
	char want[256];

	(void)state;
	memset(big, '#', size);
	big[size] = '\0';
	tmp_make(&t, big, 0600);
	assert_int_equal(config_load(t.file, &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s: larger than 1 MiB", t.file);
	assert_string_equal(err.msg, want);
	tmp_remove(&t);
	free(big);
}

/* ---- config_get_secret() ---- */

static struct config *cmd_config(const char *key, const char *cmd)
{
	char yaml[512];

	snprintf(yaml, sizeof(yaml),
		 "accounts:\n"
		 "  - name: a\n"
		 "    host: h\n"
		 "    user: u\n"
		 "    maildir: /m\n"
		 "    %s%s: '%s'\n",
		 strcmp(key, "oauth2_token_command") == 0 ? "auth: xoauth2\n    " : "", key, cmd);
	return parse_ok(yaml);
}

/* Runs cmd as password_command; returns the secret or NULL with *err. */
static char *secret_of(const char *key, const char *cmd, struct error *err)
{
	struct config *cfg = cmd_config(key, cmd);
	char *secret = (char *)1;
	int rc = config_get_secret(config_account(cfg, 0), &secret, err);

	config_free(&cfg);
	if (rc < 0) {
		assert_null(secret);
		assert_int_equal(err->scope, ERR_ACCOUNT);
		return NULL;
	}
	assert_non_null(secret);
	return secret;
}

static void expect_secret(const char *key, const char *cmd, const char *want)
{
	struct error err = {0};
	char *s = secret_of(key, cmd, &err);

	if (!s)
		fail_msg("%s: %s", cmd, err.msg);
	assert_string_equal(s, want);
	free(s);
}

static void expect_secret_error(const char *cmd, const char *want)
{
	struct error err = {0};
	char *s = secret_of("password_command", cmd, &err);

	if (s)
		fail_msg("%s: unexpected secret \"%s\"", cmd, s);
	expect_prefix(err.msg, want);
}

static void test_secret_password(void **state)
{
	(void)state;
	struct config *cfg = parse_ok(ACC);
	struct error err = {0};
	char *s = NULL;

	assert_int_equal(config_get_secret(config_account(cfg, 0), &s, &err), 0);
	assert_string_equal(s, "p");
	free(s);
	config_free(&cfg);
}

static void test_secret_command(void **state)
{
	(void)state;
	expect_secret("password_command", "echo hunter2", "hunter2");
	expect_secret("password_command", "printf \"s3cr et\\r\\nsecond line\\n\"", "s3cr et");
	expect_secret("password_command", "printf no-newline", "no-newline");
	/* Stderr chatter does not matter when the exit status is 0. */
	expect_secret("password_command", "echo warning >&2; echo pw", "pw");
	/* Much output after the first line is read and dropped. */
	expect_secret("password_command", "yes | head -n 200000", "y");
}

static void test_secret_command_fails(void **state)
{
	(void)state;
	struct error err = {0};

	expect_secret_error("echo oops >&2; echo more >&2; exit 3",
			    "password_command exited with status 3: oops");
	assert_null(secret_of("password_command", "exit 4", &err));
	assert_string_equal(err.msg, "password_command exited with status 4");
	expect_secret_error("no-such-command-xyz", "password_command exited with status 127: ");
	expect_secret_error("kill -9 $$", "password_command was killed by signal 9");
	/* The secret printed before failing must not leak into the message. */
	assert_null(secret_of("password_command", "echo sekrit; echo bad >&2; exit 1", &err));
	assert_null(strstr(err.msg, "sekrit"));
	assert_string_equal(err.msg, "password_command exited with status 1: bad");
}

static void test_secret_command_empty(void **state)
{
	(void)state;
	expect_secret_error("true", "password_command printed an empty password");
	expect_secret_error("echo", "password_command printed an empty password");
	expect_secret_error("printf \"\\r\\nlater\\n\"",
			    "password_command printed an empty password");
	expect_secret_error("head -c 100000 /dev/zero | tr \"\\\\0\" x",
			    "password_command printed more than 64 KiB on its first line");
}

static void test_secret_oauth2(void **state)
{
	(void)state;
	struct error err = {0};

	expect_secret("oauth2_token_command", "echo ya29.token", "ya29.token");
	assert_null(secret_of("oauth2_token_command", "true", &err));
	assert_string_equal(err.msg, "oauth2_token_command printed an empty token");
	assert_null(secret_of("oauth2_token_command", "echo expired >&2; exit 2", &err));
	assert_string_equal(err.msg, "oauth2_token_command exited with status 2: expired");
}

static long long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000LL + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_secret_timeout(void **state)
{
	(void)state;
	struct error err = {0};
	struct timespec t0;

	secret_set_timeout_ms(300);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_null(secret_of("password_command", "exec sleep 10", &err));
	assert_string_equal(err.msg, "password_command did not finish within 1 s");
	/* A command that closes its output and goes on is caught too. */
	assert_null(secret_of("password_command", "echo pw; exec sleep 10 >&- 2>&-", &err));
	assert_string_equal(err.msg, "password_command did not finish within 1 s");
	assert_true(elapsed_ms(&t0) < 5000);
	secret_set_timeout_ms(120000);
}

/* ---- robustness ---- */

static void parse_any(const char *buf, size_t len)
{
	struct config *cfg = NULL;
	struct error err = {0};
	int rc = config_parse("t.yaml", buf, len, &cfg, &err);

	if (rc == 0) {
		assert_non_null(cfg);
		config_free(&cfg);
		return;
	}
	assert_int_equal(rc, -1);
	assert_null(cfg);
	expect_prefix(err.msg, "t.yaml:");
	assert_null(strchr(err.msg, '\n'));
}

static void test_truncations(void **state)
{
	(void)state;
	size_t len = strlen(full_yaml);

	for (size_t i = 0; i <= len; i++) {
		/* A copy of exactly i bytes, so that ASan sees any overread. */
		char *buf = malloc(i ? i : 1);

		memcpy(buf, full_yaml, i);
		parse_any(buf, i);
		free(buf);
	}
}

static uint32_t rng_next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Mutated copies of the full config: random bytes, and bytes that mean
 * something to YAML, overwritten, inserted or deleted. */
static void test_mutations(void **state)
{
	(void)state;
	static const char special[] = ":-[]{}&*!|>'\"#%@`,? \t\n\r\\\0\x80\xff";
	size_t len = strlen(full_yaml);
	char *buf = malloc(len + 16);
	uint32_t seed = 0x2545f491;

	for (int round = 0; round < 3000; round++) {
		size_t n = len;

		memcpy(buf, full_yaml, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			uint32_t r = rng_next(&seed);
			size_t at = r % n;
			char ch =
			    r & 0x100 ? special[(r >> 9) % (sizeof(special) - 1)] : (char)(r >> 16);

			if (r & 0x200000 && n < len + 16) { /* insert */
				memmove(buf + at + 1, buf + at, n - at);
				n++;
			} else if (r & 0x400000 && n > 1) { /* delete */
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				continue;
			}
			buf[at] = ch;
		}
		parse_any(buf, n);
	}
	free(buf);
}

/* ---- main ---- */

/* folders.limits: the first pattern that sets a limit wins, per limit;
 * the account's own limits elsewhere. */
static void test_folder_limits(void **state)
{
	static const char yaml[] = "accounts:\n"
				   "  - name: t\n"
				   "    host: h\n"
				   "    user: u\n"
				   "    password: p\n"
				   "    maildir: /tmp/m\n"
				   "    max_age: 30\n"
				   "    max_size: 1M\n"
				   "    folders:\n"
				   "      limits:\n"
				   "        \"Lists/*\": {max_age: 0}\n"
				   "        \"Lists/big\": {max_age: 7, max_size: 0}\n"
				   "        Archive: {max_size: 10M}\n";
	struct config *cfg = NULL;
	struct error err = {0};
	const struct account_conf *a;
	unsigned age;
	uint64_t size;

	(void)state;
	assert_int_equal(config_parse("t.yaml", yaml, strlen(yaml), &cfg, &err), 0);
	a = config_account(cfg, 0);
	assert_int_equal(a->n_limits, 3);
	config_folder_limits(a, "INBOX", &age, &size);
	assert_int_equal(age, 30);
	assert_int_equal(size, 1u << 20);
	config_folder_limits(a, "Lists/big", &age, &size);
	assert_int_equal(age, 0); /* the Lists pattern came first */
	assert_int_equal(size, 0);
	config_folder_limits(a, "Lists/dev", &age, &size);
	assert_int_equal(age, 0);
	assert_int_equal(size, 1u << 20);
	config_folder_limits(a, "Archive", &age, &size);
	assert_int_equal(age, 30);
	assert_int_equal(size, 10u << 20);
	config_free(&cfg);
}

/* The account with host HOST (and, when smtp, the same as its smtp host). */
static char *host_yaml(const char *host, bool smtp)
{
	char *y = malloc(strlen(host) + 256);

	assert_non_null(y);
	sprintf(y,
		"accounts:\n  - name: a\n    host: %s\n    user: u\n    password: p\n"
		"    maildir: /m\n%s%s\n",
		smtp ? "h" : host, smtp ? "    smtp: {user: u, password: p, host: " : "",
		smtp ? host : "");
	if (smtp)
		strcat(y, "}\n");
	return y;
}

static void expect_host(const char *host, bool smtp, const char *want)
{
	char *y = host_yaml(host, smtp);
	struct config *cfg = NULL;
	struct error err = {0};
	int r = config_parse("t.yaml", y, strlen(y), &cfg, &err);

	if (!want) {
		if (r < 0)
			fail_msg("host of %zu bytes refused: %s", strlen(host), err.msg);
		config_free(&cfg);
	} else {
		assert_int_equal(r, -1);
		expect_prefix(err.msg, want);
	}
	free(y);
}

/* A host as long as DNS allows and no longer: 253 bytes, labels of 63. */
static void test_host_limits(void **state)
{
	char host[100001];

	(void)state;
	memset(host, 'a', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	expect_host(host, false,
		    "t.yaml:3:11: host: 100000 characters long; a host name has at most 253");
	expect_host(host, true, "t.yaml:7:40: host: 100000 characters long");
	/* 4 labels of 62 + 3 dots + "abcd" = 253; then one more. */
	for (int i = 0; i < 4; i++) {
		memset(host + i * 63, 'x', 62);
		host[i * 63 + 62] = '.';
	}
	strcpy(host + 252, "a");
	expect_host(host, false, NULL);
	strcpy(host + 252, "a.");
	expect_host(host, false, NULL); /* the final dot does not count */
	strcpy(host + 252, "ab");
	expect_host(host, false, "t.yaml:3:11: host: 254 characters long");
	memset(host, 'y', 64);
	strcpy(host + 64, ".example.org");
	expect_host(host, false,
		    "t.yaml:3:11: host: a label of 64 characters; a host name's labels (between "
		    "dots) have at most 63");
	expect_host("imap..example.org", false, "t.yaml:3:11: host: has an empty label");
	expect_host(".example.org", false, "t.yaml:3:11: host: has an empty label");
	expect_host("\"imap example.org\"", false, "t.yaml:3:11: host: contains a space");
	expect_host("imap.example.org.", false, NULL);
	expect_host("\"::1\"", false, NULL);
	expect_host("127.0.0.1", true, NULL);
}

/* One-line strings stop at SCHEMA_LINE_MAX bytes. */
static void test_line_max(void **state)
{
	size_t n = SCHEMA_LINE_MAX + 1;
	char *y = malloc(n + 256);
	struct config *cfg = NULL;
	struct error err = {0};

	(void)state;
	assert_non_null(y);
	strcpy(y, "accounts:\n  - name: a\n    host: h\n    password: p\n    maildir: /m\n"
		  "    user: ");
	memset(y + strlen(y), 'u', n);
	y[strlen("accounts:\n  - name: a\n    host: h\n    password: p\n    maildir: /m\n"
		 "    user: ") +
	  n] = '\0';
	strcat(y, "\n");
	assert_int_equal(config_parse("t.yaml", y, strlen(y), &cfg, &err), -1);
	expect_prefix(err.msg, "t.yaml:6:11: user: 4097 bytes long, more than the 4096 allowed");
	free(y);
}

static const struct CMUnitTest fixed_tests[] = {
    cmocka_unit_test(test_full),
    cmocka_unit_test(test_gmail_preset),
    cmocka_unit_test(test_gmail_override),
    cmocka_unit_test(test_smtp_gmail_default),
    cmocka_unit_test(test_smtp_block),
    cmocka_unit_test(test_smtp_port_refusal),
    cmocka_unit_test(test_oauth2_block),
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_default_ports),
    cmocka_unit_test(test_tilde),
    cmocka_unit_test(test_xdg_state_home),
    cmocka_unit_test(test_scalar_forms),
    cmocka_unit_test(test_booleans),
    cmocka_unit_test(test_multiline_command),
    cmocka_unit_test(test_default_path),
    cmocka_unit_test(test_tls_name),
    cmocka_unit_test(test_free_null),
    cmocka_unit_test(test_load_password_mode),
    cmocka_unit_test(test_load_no_password),
    cmocka_unit_test(test_load_errors),
    cmocka_unit_test(test_folder_limits),
    cmocka_unit_test(test_load_too_large),
    cmocka_unit_test(test_secret_password),
    cmocka_unit_test(test_secret_command),
    cmocka_unit_test(test_secret_command_fails),
    cmocka_unit_test(test_secret_command_empty),
    cmocka_unit_test(test_secret_oauth2),
    cmocka_unit_test(test_secret_timeout),
    cmocka_unit_test(test_truncations),
    cmocka_unit_test(test_mutations),
    cmocka_unit_test(test_host_limits),
    cmocka_unit_test(test_line_max),
};

/* One group, so that the runner's count covers every case: the fixed tests,
 * then one test per row of bad_cases, named after the row. */
static struct CMUnitTest all_tests[ARRAY_SIZE(fixed_tests) + ARRAY_SIZE(bad_cases)];

int main(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(fixed_tests); i++)
		all_tests[n++] = fixed_tests[i];
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		all_tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(test_bad, NULL);
		all_tests[n].name = bad_cases[i].name;
		all_tests[n].initial_state = (void *)&bad_cases[i];
		n++;
	}
	return cmocka_run_group_tests_name("config", all_tests, group_setup, NULL);
}
