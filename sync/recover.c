/* Finishing the work an interrupted run left (DESIGN.md §5). Runs after
 * both sides were gathered and before planning, so that the plan never sees
 * a half-done step:
 *   download intent, file present  -> pair it (never download it again);
 *   download intent, file absent   -> drop it (the UID is downloaded again);
 *   upload intent                  -> look the message up on the server
 *                                     (Message-ID, else size, among UIDs at
 *                                     or above the UIDNEXT seen before the
 *                                     APPEND); found -> pair, else drop (the
 *                                     file is uploaded again);
 *   deletion intents               -> drop (the plan redoes what is left). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/engine_p.h"
#include "imap/message.h"
#include "util/log.h"
#include "util/xalloc.h"

static const struct maildir_entry *find_local(const struct folder_job *job, const char *key)
{
	size_t i = job_local_index(job, key);

	return i == PLAN_NONE ? NULL : &job->local[i];
}

static const struct remote_msg *find_remote(const struct folder_job *job, uint32_t uid)
{
	size_t i = job_remote_index(job, uid);

	return i == PLAN_NONE ? NULL : &job->remote[i];
}

static int cmp_pair_uid(const void *a, const void *b)
{
	uint32_t x = ((const struct state_pair *)a)->uid, y = ((const struct state_pair *)b)->uid;

	return x < y ? -1 : x > y;
}

/* Pairs are loaded by recover_intents, ordered by UID. */
static bool uid_paired(const struct folder_job *job, uint32_t uid)
{
	struct state_pair key = {.uid = uid};

	return xbsearch(&key, job->pairs, job->n_pairs, sizeof(key), cmp_pair_uid) != NULL;
}

static int pair_with(struct folder_job *job, uint32_t uid, const struct maildir_entry *e,
		     const char *message_id, struct error *err)
{
	const struct remote_msg *r = find_remote(job, uid);
	struct state_pair p = {uid,
			       e->unique,
			       e->flags,
			       NULL,
			       r ? r->size : 0,
			       (char *)message_id,
			       r ? r->gm_msgid : 0};
	int found;
	struct state_pair old = {0};

	/* A key already paired, or a UID that another key holds, is not taken
	 * twice (pairing it would move that UID off its file). */
	found = state_pair_by_key(job->env->st, job->sf.id, e->unique, &old, err);
	state_pair_clear(&old);
	if (found != 0)
		return found < 0 ? -1 : 0;
	if (uid_paired(job, uid))
		return 0;
	if (r)
		p.keywords = r->keywords;
	return state_pair_put(job->env->st, job->sf.id, &p, err);
}

static int recover_download(struct folder_job *job, const struct state_intent *in,
			    struct error *err)
{
	const struct maildir_entry *e = in->key ? find_local(job, in->key) : NULL;

	if (!e)
		return in->key ? maildir_tmp_remove(job->md, in->key, err) : 0;
	log_debug("%s: pairing UID %u with %s, left by an interrupted download", job->display,
		  in->uid, e->unique);
	return pair_with(job, in->uid, e, NULL, err);
}

/* Without a Message-ID the size must identify one message among the new
 * UIDs, else nothing is paired and the file is uploaded again. */
static uint32_t match_by_size(const struct folder_job *job, uint32_t min_uid, uint64_t size)
{
	uint32_t match = 0;

	for (size_t i = 0; i < job->n_remote; i++) {
		const struct remote_msg *r = &job->remote[i];

		if (r->uid < min_uid || r->size != size)
			continue;
		if (match)
			return 0;
		match = r->uid;
	}
	return match;
}

static int local_size(struct folder_job *job, const struct maildir_entry *e, uint64_t *size_r,
		      char **message_id_r, struct error *err)
{
	char *data = NULL;
	size_t len = 0;
	time_t mtime;

	if (maildir_read_crlf(job->md, e, &data, &len, &mtime, err) < 0)
		return -1;
	*size_r = len;
	*message_id_r = message_id_get(data, len);
	free(data);
	return 0;
}

static int recover_upload(struct folder_job *job, const struct state_intent *in, struct error *err)
{
	const struct maildir_entry *e = in->key ? find_local(job, in->key) : NULL;
	unsigned min_uid = 0;
	uint32_t *uids = NULL, uid = 0;
	size_t n = 0;
	uint64_t size = 0;
	char *message_id = NULL;
	int ret = -1;

	if (!e)
		return 0;
	if (in->extra)
		sscanf(in->extra, "%u", &min_uid);
	if (local_size(job, e, &size, &message_id, err) < 0)
		goto out;
	/* An empty ID would match every message that has one. */
	if (message_id && *message_id &&
	    imap_search_message_id(job->env->imap, message_id, min_uid, &uids, &n, err) < 0)
		goto out;
	/* The size identifies a message only when it has no Message-ID: one
	 * that has one and is not found was not uploaded. */
	uid = n > 0 ? uids[0] : (message_id ? 0 : match_by_size(job, min_uid, size));
	if (uid) {
		log_debug("%s: %s was uploaded as UID %u before an interruption", job->display,
			  e->unique, uid);
		if (pair_with(job, uid, e, message_id, err) < 0)
			goto out;
	}
	ret = 0;
out:
	free(uids);
	free(message_id);
	return ret;
}

static int recover_one(struct folder_job *job, const struct state_intent *in, struct error *err)
{
	switch (in->kind) {
	case INTENT_DOWNLOAD:
		return recover_download(job, in, err);
	case INTENT_UPLOAD:
		return recover_upload(job, in, err);
	default:
		return 0;
	}
}

int recover_intents(struct folder_job *job, struct error *err)
{
	struct state *st = job->env->st;
	struct state_intent *ins = NULL;
	size_t n = 0;
	int ret = -1;

	if (state_intents_load(st, job->sf.id, &ins, &n, err) < 0)
		return -1;
	if (n == 0) {
		ret = 0;
		goto out;
	}
	state_pairs_free(job->pairs, job->n_pairs);
	job->pairs = NULL;
	job->n_pairs = 0;
	if (state_pairs_load(st, job->sf.id, &job->pairs, &job->n_pairs, err) < 0)
		goto out;
	if (state_begin(st, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (recover_one(job, &ins[i], err) < 0 || state_intent_done(st, ins[i].id, err) < 0)
			goto fail;
	ret = state_commit(st, err);
	goto out;
fail:
	state_rollback(st);
out:
	state_intents_free(ins, n);
	return ret;
}
