/* Where the refresh token lives. It is the account's password in all but
 * name (whoever holds it reads the mail), so: the desktop's Secret Service
 * when a session bus offers one, else a file only its owner can read, in
 * a directory only its owner can enter. Never the config, never a log. */
#include "oauth/oauth_p.h"

#include <errno.h>
#include <fcntl.h>
#include <libsecret/secret.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_TOKEN 8192

static const SecretSchema schema = {"org.gmaildir.OAuth2",
				    SECRET_SCHEMA_NONE,
				    {{"account", SECRET_SCHEMA_ATTRIBUTE_STRING},
				     {"user", SECRET_SCHEMA_ATTRIBUTE_STRING},
				     {"token_url", SECRET_SCHEMA_ATTRIBUTE_STRING},
				     {NULL, 0}},
				    0,
				    NULL,
				    NULL,
				    NULL,
				    NULL,
				    NULL,
				    NULL,
				    NULL};

static const char WHERE_KEYRING[] = "the Secret Service (your desktop's keyring)";

/* ------------------------------------------------------------- the file */

/* $XDG_STATE_HOME/gmaildir/oauth/NAME.token, else under ~/.local/state. */
static char *store_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");

	if (xdg && xdg[0] == '/')
		return xasprintf("%s/gmaildir/oauth", xdg);
	return xasprintf("%s/.local/state/gmaildir/oauth", fs_home_dir());
}

char *store_file_path(const struct account_conf *acct)
{
	char *dir = store_dir(), *p = xasprintf("%s/%s.token", dir, acct->name);

	free(dir);
	return p;
}

static int file_load(const struct account_conf *acct, char **token_r, struct error *err)
{
	char *path = store_file_path(acct), buf[MAX_TOKEN + 2];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), ret = -1;

	*token_r = NULL;
	if (fd < 0) {
		ret = errno == ENOENT ? 0 : -1;
		if (ret < 0)
			error_set(err, ERR_ACCOUNT, RETRY_NEVER, "open %s: %s", path,
				  strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || (st.st_mode & 077) || st.st_uid != geteuid()) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER,
			  "%s: refused: others can read it or it is not yours (it holds your "
			  "sign-in; chmod 600 it, or remove it and run gmaildir login %s)",
			  path, acct->name);
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "read %s: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0])
		*token_r = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

static int file_save(const struct account_conf *acct, const char *token, struct error *err)
{
	char *dir = store_dir(), *path = store_file_path(acct);
	char *tmp = xasprintf("%s.tmp", path), *line = xasprintf("%s\n", token);
	int fd = -1, ret = -1;

	if (fs_mkdir_p(dir, 0700, err) < 0)
		goto out;
	if (chmod(dir, 0700) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "chmod %s: %s", dir, strerror(errno));
		goto out;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fs_write_all(fd, line, strlen(line)) < 0 || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = fs_fsync_dir(dir, err);
out:
	if (fd >= 0)
		close(fd);
	explicit_bzero(line, strlen(line));
	free(line);
	free(tmp);
	free(path);
	free(dir);
	return ret;
}

/* -------------------------------------------------- the Secret Service */

/* Only with a session bus: without one, libsecret would try to start one
 * (or wait for it) on a headless machine. */
static bool keyring_wanted(const struct account_conf *acct)
{
	if (acct->oauth2.token_store == TOKEN_STORE_FILE)
		return false;
	if (acct->oauth2.token_store == TOKEN_STORE_SECRET_SERVICE)
		return true;
	return getenv("DBUS_SESSION_BUS_ADDRESS") != NULL;
}

/* 1 found, 0 none, -1 the service is not there (err). */
static int keyring_load(const struct account_conf *acct, char **token_r, struct error *err)
{
	GError *gerr = NULL;
	gchar *t =
	    secret_password_lookup_sync(&schema, NULL, &gerr, "account", acct->name, "user",
					acct->user, "token_url", acct->oauth2.token_url, NULL);

	if (gerr) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "Secret Service: %s", gerr->message);
		g_error_free(gerr);
		return -1;
	}
	if (!t)
		return 0;
	*token_r = xstrdup(t);
	secret_password_free(t);
	return 1;
}

static int keyring_save(const struct account_conf *acct, const char *token, struct error *err)
{
	GError *gerr = NULL;
	char *label = xasprintf("gmaildir: OAuth 2.0 sign-in of %s", acct->user);
	gboolean ok = secret_password_store_sync(
	    &schema, SECRET_COLLECTION_DEFAULT, label, token, NULL, &gerr, "account", acct->name,
	    "user", acct->user, "token_url", acct->oauth2.token_url, NULL);

	free(label);
	if (!ok || gerr) {
		error_set(err, ERR_ACCOUNT, RETRY_NEVER, "Secret Service: %s",
			  gerr ? gerr->message : "refused");
		if (gerr)
			g_error_free(gerr);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- the API */

int store_load(const struct account_conf *acct, char **token_r, const char **where_r,
	       struct error *err)
{
	struct error kerr = {0};

	*token_r = NULL;
	if (keyring_wanted(acct)) {
		int r = keyring_load(acct, token_r, &kerr);

		*where_r = WHERE_KEYRING;
		if (r > 0)
			return 0;
		if (r < 0 && acct->oauth2.token_store == TOKEN_STORE_SECRET_SERVICE) {
			*err = kerr;
			return -1;
		}
	}
	*where_r = "a file";
	return file_load(acct, token_r, err);
}

int store_save(const struct account_conf *acct, const char *token, const char **where_r,
	       struct error *err)
{
	if (keyring_wanted(acct)) {
		struct error kerr = {0};

		if (keyring_save(acct, token, &kerr) == 0) {
			char *path = store_file_path(acct);

			unlink(path); /* one place only: no stale copy in a file */
			free(path);
			*where_r = WHERE_KEYRING;
			return 0;
		}
		if (acct->oauth2.token_store == TOKEN_STORE_SECRET_SERVICE) {
			*err = kerr;
			return -1;
		}
	}
	*where_r = "a file";
	return file_save(acct, token, err);
}
