/* Before anything is synced, the account claims its Maildir root: the
 * root's lock (held until the session ends), then the root's identity
 * against the one the state recorded. Two configs with their own state
 * directories on one Maildir would otherwise each take the other's
 * downloads for new local mail and upload them again, every round.
 *
 * The root's .gmaildir.id holds an identity F and its owner, the state
 * directory that recorded it; the state records S and the root's path:
 *   F = S          ours; when the root's path changed, the user moved the
 *                  Maildir with its identity: the state follows it
 *   F, S differ    another state's Maildir: refused
 *   F, no S        the owner's Maildir while the owner's state still
 *                  records F: refused. Otherwise that state is gone (its
 *                  state_dir was removed, or it is ours, lost and made
 *                  anew at the same place: the first sync then matches
 *                  what is there): taken over, under a new identity, so
 *                  that the old state, should it come back, is refused
 *   no F, no S     first use (or a state older than identities): claimed
 *   no F, S        the file was removed: claimed again when the root is
 *                  the one S was recorded for, or the state holds no mail
 *                  yet; a missing root that held mail (an unmounted disk)
 *                  and a root elsewhere without the file (moved without
 *                  it) are refused
 * S is written before F, so that a crash in between leaves "no F, S",
 * which the next run claims again. A dry run checks but writes nothing. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sync/engine_p.h"
#include "util/xalloc.h"

#define META_ID "maildir_id"
#define META_PATH "maildir_path"

struct claim {
	const char *root; /* borrowed */
	char *file_id;	  /* owned or NULL: the root's .gmaildir.id */
	char *owner;	  /* owned or NULL: the state_dir the file names */
	char *state_id;	  /* owned or NULL */
	char *state_path; /* owned or NULL */
};

static int other_state(const struct claim *c, struct error *err)
{
	error_set(err, ERR_SAFETY, RETRY_NEVER,
		  "Maildir %s belongs to another gmaildir state (%s%s%s); nothing was changed. Two "
		  "configs or accounts must not share one Maildir: give this account its own "
		  "maildir. If that other state is gone for good, remove its state_dir, or "
		  "delete %s/%s, and sync again",
		  c->root, c->owner ? "the one in " : "identity ", c->owner ? c->owner : c->file_id,
		  c->state_id ? ", not this account's" : "", c->root, MAILDIR_ROOT_ID);
	return -1;
}

/* Whether the state in dir still records id for its Maildir. A state that
 * cannot be read counts as recording it: refusing is the safe mistake. */
static bool owner_claims(const char *dir, const char *id)
{
	struct state *st = NULL;
	struct error err = {0};
	char *theirs = NULL;
	bool claims = true;
	int rc = state_open_readonly(dir, &st, &err);

	if (rc == 0)
		claims = false;
	else if (rc == 1 && state_meta_get(st, META_ID, &theirs, &err) >= 0)
		claims = theirs && strcmp(theirs, id) == 0;
	free(theirs);
	state_free(&st);
	return claims;
}

/* Whether any folder of the state has a pair: mail synced to the root. */
static int state_has_mail(struct state *st, bool *has_r, struct error *err)
{
	struct state_folder *f = NULL;
	size_t n = 0, pairs = 0;
	int ret = 0;

	*has_r = false;
	if (state_folders_list(st, &f, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && !*has_r && ret == 0; i++) {
		ret = state_pair_count(st, f[i].id, &pairs, err);
		*has_r = pairs > 0;
	}
	state_folders_free(f, n);
	return ret;
}

/* S and the root's path, then F with this state as its owner. */
static int record(struct sync_env *env, const struct claim *c, const char *id, bool write_file,
		  struct error *err)
{
	struct state *st = env->st;

	if (env->opts->dry_run)
		return 0;
	if (state_begin(st, err) < 0)
		return -1;
	if (state_meta_put(st, META_ID, id, err) < 0 ||
	    state_meta_put(st, META_PATH, c->root, err) < 0 || state_commit(st, err) < 0) {
		state_rollback(st);
		return -1;
	}
	return write_file ? maildir_root_id_put(c->root, id, env->acct->state_dir, err) : 0;
}

static int claim_new(struct sync_env *env, const struct claim *c, struct error *err)
{
	char *id = maildir_root_id_new();
	int ret = record(env, c, id, true, err);

	free(id);
	return ret;
}

/* No identity file in the root (see the rules above). */
static int claim_unmarked(struct sync_env *env, struct claim *c, struct error *err)
{
	struct stat sb;
	bool here = c->state_path && strcmp(c->state_path, c->root) == 0, mail = false;

	if (!c->state_id)
		return claim_new(env, c, err);
	if (state_has_mail(env->st, &mail, err) < 0)
		return -1;
	if (mail && stat(c->root, &sb) < 0) {
		error_set(err, ERR_SAFETY, RETRY_NEVER,
			  "Maildir %s is missing but held this account's mail at the last sync; "
			  "nothing was changed (mount or restore it; to start over, remove the "
			  "state_dir %s as well)",
			  c->root, env->acct->state_dir);
		return -1;
	}
	if (mail && !here) {
		error_set(err, ERR_SAFETY, RETRY_NEVER,
			  "this account's state belongs to the Maildir %s, and %s has no %s; "
			  "nothing was changed. If you moved the Maildir here, move %s/%s along; "
			  "to start a new Maildir, use a new state_dir",
			  c->state_path ? c->state_path : "(unknown)", c->root, MAILDIR_ROOT_ID,
			  c->state_path ? c->state_path : "(old root)", MAILDIR_ROOT_ID);
		return -1;
	}
	return record(env, c, c->state_id, true, err);
}

/* An identity file, and a state that never recorded one. */
static int claim_orphan(struct sync_env *env, const struct claim *c, struct error *err)
{
	const char *mine = env->acct->state_dir;

	if (!c->owner || (strcmp(c->owner, mine) != 0 && owner_claims(c->owner, c->file_id)))
		return other_state(c, err);
	if (!env->opts->dry_run && strcmp(c->owner, mine) != 0)
		env_notice(env,
			   "the state that synced %s before (%s) is gone: this state takes "
			   "it over",
			   c->root, c->owner);
	return claim_new(env, c, err);
}

static int claim_decide(struct sync_env *env, struct claim *c, struct error *err)
{
	bool moved = c->state_path && strcmp(c->state_path, c->root) != 0;
	bool owner_moved = !c->owner || strcmp(c->owner, env->acct->state_dir) != 0;

	if (!c->file_id)
		return claim_unmarked(env, c, err);
	if (!c->state_id)
		return claim_orphan(env, c, err);
	if (strcmp(c->state_id, c->file_id) != 0)
		return other_state(c, err);
	if (!moved && !owner_moved && c->state_path)
		return 0;
	if (moved && !env->opts->dry_run)
		env_notice(env,
			   "the Maildir moved from %s to %s (its identity came along): the "
			   "state follows it",
			   c->state_path, c->root);
	return record(env, c, c->file_id, owner_moved, err);
}

int claim_maildir(struct sync_env *env, struct error *err)
{
	struct claim c = {.root = env->acct->maildir};
	bool dry = env->opts->dry_run;
	int ret = -1;

	if (env->claimed)
		return 0;
	if (!env->root_lock && maildir_root_lock(c.root, !dry, &env->root_lock, err) < 0)
		return -1;
	if (state_meta_get(env->st, META_ID, &c.state_id, err) < 0 ||
	    state_meta_get(env->st, META_PATH, &c.state_path, err) < 0 ||
	    maildir_root_id_get(c.root, &c.file_id, &c.owner, err) < 0)
		goto out;
	ret = claim_decide(env, &c, err);
	/* A dry run claims nothing: the next real run decides again. */
	env->claimed = ret == 0 && !dry;
out:
	free(c.file_id);
	free(c.owner);
	free(c.state_id);
	free(c.state_path);
	return ret;
}

int engine_check_maildir(const struct account_conf *acct, struct error *err)
{
	struct engine_opts opts = {.dry_run = true};
	struct sync_env env = {.acct = acct, .opts = &opts};
	struct claim c = {.root = acct->maildir};
	struct error ignored = {0};
	int ret = -1;

	/* A database older than identities has no meta table: no S. */
	if (state_open_readonly(acct->state_dir, &env.st, err) < 0)
		return -1;
	if (env.st && (state_meta_get(env.st, META_ID, &c.state_id, &ignored) < 0 ||
		       state_meta_get(env.st, META_PATH, &c.state_path, &ignored) < 0)) {
		free(c.state_id);
		c.state_id = NULL;
	}
	if (maildir_root_id_get(c.root, &c.file_id, &c.owner, err) < 0)
		goto out;
	ret = claim_decide(&env, &c, err);
out:
	state_free(&env.st);
	free(c.file_id);
	free(c.owner);
	free(c.state_id);
	free(c.state_path);
	return ret;
}
