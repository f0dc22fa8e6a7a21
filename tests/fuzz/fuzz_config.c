/* Fuzzes config_parse (config/config.h) with arbitrary YAML text: it never
 * crashes or leaks (LeakSanitizer runs at the end of each input), a failure
 * always carries a "name:line:column: ..." message with scope ERR_CONFIG,
 * and a config it accepts has the documented defaults filled in. */
#include "tests/fuzz/fuzz.h"

#include "config/config.h"

#define NAME "fuzz.yaml"

static void check_account(const struct account_conf *a)
{
	FUZZ_CHECK(a->name && a->name[0], "account without a name");
	FUZZ_CHECK(a->maildir && a->maildir[0] == '/', "account %s: maildir", a->name);
	FUZZ_CHECK(a->state_dir && a->state_dir[0], "account %s without a state_dir", a->name);
	if (a->auth == AUTH_XOAUTH2)
		FUZZ_CHECK(a->oauth2_token_command, "account %s: xoauth2 without a command",
			   a->name);
	else
		FUZZ_CHECK(!a->password != !a->password_command,
			   "account %s: not exactly one of password, password_command", a->name);
	FUZZ_CHECK(a->host && a->host[0] && a->user, "account %s without host or user", a->name);
	FUZZ_CHECK(a->port > 0 && a->connections > 0, "account %s: port %u, connections %u",
		   a->name, a->port, a->connections);
	for (size_t i = 0; i < a->include.len; i++)
		FUZZ_CHECK(a->include.items[i] != NULL, "NULL include pattern");
	for (size_t i = 0; i < a->exclude.len; i++)
		FUZZ_CHECK(a->exclude.items[i] != NULL, "NULL exclude pattern");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	struct error err = {0};

	if (config_parse(NAME, (const char *)data, size, &cfg, &err) < 0) {
		FUZZ_CHECK(cfg == NULL, "cfg set on failure");
		FUZZ_CHECK(err.scope == ERR_CONFIG, "scope %d", err.scope);
		FUZZ_CHECK(strncmp(err.msg, NAME ":", sizeof(NAME)) == 0, "message \"%s\"",
			   err.msg);
		return 0;
	}
	FUZZ_CHECK(config_account_count(cfg) > 0, "no account");
	for (size_t i = 0; i < config_account_count(cfg); i++) {
		const struct account_conf *a = config_account(cfg, i);

		check_account(a);
		FUZZ_CHECK(config_find_account(cfg, a->name) == a, "names are not unique");
	}
	config_free(&cfg);
	FUZZ_CHECK(cfg == NULL, "config_free did not NULL the pointer");
	return 0;
}
