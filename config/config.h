/* The configuration: loaded once from YAML, validated, immutable afterwards.
 *
 * config/ is the only user of libyaml. Everyone else gets a
 * const struct account_conf *, whose strings belong to the struct config and
 * live until config_free(). Every error names file:line:column and what was
 * expected. */
#ifndef GMAILDIR_CONFIG_CONFIG_H
#define GMAILDIR_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum tls_mode { TLS_IMPLICIT = 0, TLS_STARTTLS, TLS_NONE };
enum auth_mode { AUTH_LOGIN = 0, AUTH_XOAUTH2 };
enum conflict_policy { CONFLICT_DELETION_WINS = 0, CONFLICT_KEEP };
enum sync_direction { DIRECTION_BOTH = 0, DIRECTION_PULL, DIRECTION_PUSH };
enum remote_deletions { REMOTE_DELETIONS_PROPAGATE = 0, REMOTE_DELETIONS_KEEP };
/* How a local deletion reaches the server: \Deleted + UID EXPUNGE, or a
 * UID MOVE into the folder with the \Trash role. */
enum trash_mode { TRASH_EXPUNGE = 0, TRASH_MOVE };
enum compress_mode { COMPRESS_AUTO = 0, COMPRESS_NEVER };

/* folders.limits: the partial-sync limits of the folders a pattern
 * matches, overriding the account's (0: no limit there). */
struct folder_limits {
	char *pattern; /* owned: fnmatch, '*' crosses '/' */
	bool set_age, set_size;
	unsigned max_age;
	uint64_t max_size;
};
/* How folders sit below the account root (DESIGN.md §10). Verbatim: folder
 * "A/B" is R/A/B, INBOX is R/INBOX. Maildir++ (Dovecot's and Courier's
 * default, mbsync's "SubFolders Maildir++"): INBOX is R itself, folder "A/B"
 * is R/.A.B. The mapping is in imap/folders.h. */
enum maildir_layout { LAYOUT_VERBATIM = 0, LAYOUT_MAILDIRPP };

/* Where a copy of a sent message goes (smtp.save_sent). Auto: nowhere for
 * Gmail, whose SMTP files every message in [Gmail]/Sent Mail by itself (a
 * copy of ours would be a duplicate), the \Sent folder everywhere else. */
enum save_sent { SAVE_SENT_AUTO = 0, SAVE_SENT_ALWAYS, SAVE_SENT_NEVER };

/* A list of strings (glob patterns, folder names). */
struct strlist {
	char **items; /* owned by the config */
	size_t len;
};

/* The outgoing server of an account: the smtp: block, every default filled
 * in from the account (user, password source, ca_file, timeout). Strings
 * are owned by the struct config, as the account's. */
struct smtp_conf {
	bool configured; /* an smtp: block, or provider: gmail (smtp.gmail.com) */
	const char *host;
	uint16_t port;	   /* 465 with tls: implicit, 587 with starttls */
	enum tls_mode tls; /* implicit or starttls; never none */
	const char *ca_file;
	const char *user;
	enum auth_mode auth;
	const char *password;
	const char *password_command;
	const char *oauth2_token_command;
	bool builtin_oauth2; /* xoauth2 with the account's oauth2: tokens */
	enum save_sent save_sent;
	bool copy_to_sent; /* save_sent resolved: auto is false for Gmail */
};

/* Where the built-in OAuth 2.0 source keeps the refresh token. Auto: the
 * Secret Service when a session bus offers one, else a 0600 file under
 * $XDG_STATE_HOME/gmaildir/. Never the config file. */
enum token_store { TOKEN_STORE_AUTO = 0, TOKEN_STORE_SECRET_SERVICE, TOKEN_STORE_FILE };

/* The oauth2: block: gmaildir signs in by itself (gmaildir login) and keeps
 * the refresh token; the access tokens come from token_url. Google's
 * endpoints and scope by default. Strings owned by the struct config. */
struct oauth2_conf {
	bool configured;
	const char *client_id;
	const char *client_secret;	   /* NULL: client_secret_command, or none */
	const char *client_secret_command; /* run with /bin/sh -c */
	const char *auth_url;
	const char *token_url;
	const char *scope;
	enum token_store token_store;
};

/* One account, with every default filled in. All pointers are owned by the
 * struct config; optional strings are NULL when absent. */
struct account_conf {
	const char *name;
	bool gmail; /* provider: gmail */
	const char *host;
	uint16_t port;
	enum tls_mode tls;
	bool allow_insecure;
	const char *ca_file; /* ~ expanded */
	const char *user;
	enum auth_mode auth;
	const char *password;		  /* only if the file is 0600-ish */
	const char *password_command;	  /* run with /bin/sh -c */
	const char *oauth2_token_command; /* auth: xoauth2 */
	const char *maildir;		  /* ~ expanded, never empty */
	enum maildir_layout layout;	  /* default verbatim */
	const char *state_dir;		  /* ~ expanded; default under XDG_STATE_HOME */
	struct strlist include;		  /* default ["*"] */
	struct strlist exclude;		  /* default [] */
	bool propagate_folder_deletes;	  /* folders.propagate_deletes, default false */
	struct folder_limits *limits;	  /* owned: folders.limits, in file order */
	size_t n_limits;
	enum conflict_policy conflicts;
	enum sync_direction direction;
	enum remote_deletions remote_deletions;
	enum trash_mode trash;	       /* default expunge */
	struct strlist idle;	       /* default ["INBOX"] */
	unsigned poll_interval;	       /* seconds, default 300 */
	unsigned connections;	       /* parallel connections, default 4 */
	unsigned max_connections;      /* the daemon's budget, all roles; default 8 */
	unsigned status_interval;      /* seconds: STATUS polling beyond it; 60 */
	unsigned timeout;	       /* network timeout in seconds, default 60 */
	enum compress_mode compress;   /* COMPRESS=DEFLATE when offered; default auto */
	unsigned max_age;	       /* days: older server messages are left there; 0 off */
	uint64_t max_size;	       /* bytes: bigger ones are left there; 0 off */
	const char *post_sync_command; /* run after a sync that changed local mail */
	struct smtp_conf smtp;
	struct oauth2_conf oauth2; /* auth: xoauth2 without oauth2_token_command */
};

struct config;

/* Loads and validates path. Refuses a file that holds "password:" and is
 * readable by group or others (the message says chmod 600).
 * Returns 0 ok, -1 error (scope ERR_CONFIG, message "file:line:column: ..."). */
int config_load(const char *path, struct config **cfg_r, struct error *err);

/* Parses a YAML document held in memory; name is used in messages only.
 * No permission check. For tests and fuzzing. */
int config_parse(const char *name, const char *buf, size_t len, struct config **cfg_r,
		 struct error *err);

/* Accepts NULL; NULLs the caller's pointer. */
void config_free(struct config **cfg);

size_t config_account_count(const struct config *cfg);
/* i < config_account_count(); the pointer lives as long as cfg. */
const struct account_conf *config_account(const struct config *cfg, size_t i);
/* Returns NULL when there is no account of that name. */
const struct account_conf *config_find_account(const struct config *cfg, const char *name);

/* The default config path: $XDG_CONFIG_HOME/gmaildir/config.yaml, else
 * ~/.config/gmaildir/config.yaml. The caller frees it. */
char *config_default_path(void);

/* The password (from "password" or "password_command") or, with auth xoauth2,
 * the access token from oauth2_token_command. A command's first stdout line is
 * the secret; a non-zero exit or an empty line is an error that quotes the
 * command's stderr but never the secret. The caller frees *secret_r (and
 * should wipe it). Returns 0 ok, -1 error (scope ERR_ACCOUNT). */
int config_get_secret(const struct account_conf *acct, char **secret_r, struct error *err);
/* The partial-sync limits of folder (its local name, '/' between levels):
 * the account's max_age and max_size, each overridden by the first
 * folders.limits pattern that matches and sets it. Pure. */
void config_folder_limits(const struct account_conf *acct, const char *folder, unsigned *max_age_r,
			  uint64_t *max_size_r);

/* config_get_secret() for the account's SMTP server (its smtp: block may
 * name another password or token source). */
int config_get_smtp_secret(const struct account_conf *acct, char **secret_r, struct error *err);

/* The oauth2: block's client secret (client_secret or the first line of
 * client_secret_command); *secret_r NULL for a client without one (a
 * public client). Same rules as config_get_secret(). */
int config_get_oauth2_client_secret(const struct account_conf *acct, char **secret_r,
				    struct error *err);

/* Why port on host must not be used for submission, or NULL: port 25
 * toward Google's servers, which block it for clients (and never take
 * authenticated submission there). The text says to use 465 or 587. */
const char *config_smtp_port_refusal(const char *host, unsigned port);

const char *config_tls_name(enum tls_mode tls);

#endif
