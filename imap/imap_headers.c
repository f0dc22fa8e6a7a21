/* Fetching the Message-ID of every message of the selected mailbox: needed
 * only to re-pair messages after a UIDVALIDITY change, so it is a separate,
 * rarely used command. Each response is handled as it is parsed (memory stays
 * bounded) with UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]). */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_p.h"
#include "imap/message.h"
#include "util/uidset.h"
#include "util/xalloc.h"

struct id_run {
	imap_msgid_fn *fn;
	void *ctx;
	uint32_t hi; /* imap_uid_bound: above it, no message that was asked for */
};

static void progress_none(size_t current, size_t maximum, void *ctx)
{
	(void)current;
	(void)maximum;
	(void)ctx;
}

static void id_handler(struct mailimap_msg_att *att, void *ctx)
{
	struct id_run *run = ctx;
	const struct mailimap_msg_att_body_section *sec = NULL;
	uint32_t uid = 0;
	char *id;

	for (clistiter *it = imap_first(att->att_list); it; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_msg_att_static *st = item->att_data.att_static;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !st)
			continue;
		if (st->att_type == MAILIMAP_MSG_ATT_UID)
			uid = st->att_data.att_uid;
		else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION)
			sec = st->att_data.att_body_section;
	}
	if (!uid || uid > run->hi || !sec || !sec->sec_body_part)
		return;
	id = message_id_get(sec->sec_body_part, sec->sec_length);
	run->fn(uid, id, run->ctx);
	free(id);
}

static struct mailimap_fetch_type *id_fetch_type(void)
{
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	clist *fields = clist_new();
	struct mailimap_header_list *hl;
	struct mailimap_section *sec;

	if (!ft || !fields || clist_append(fields, xstrdup("MESSAGE-ID")) < 0)
		abort();
	hl = mailimap_header_list_new(fields);
	sec = hl ? mailimap_section_new_header_fields(hl) : NULL;
	if (!sec || mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid()) ||
	    mailimap_fetch_type_new_fetch_att_list_add(
		ft, mailimap_fetch_att_new_body_peek_section(sec)))
		abort();
	return ft;
}

int imap_fetch_message_ids(struct imap *imap, imap_msgid_fn *fn, void *ctx, struct error *err)
{
	struct id_run run = {fn, ctx, 0};
	struct mailimap_set *set = NULL;
	struct mailimap_fetch_type *ft = NULL;
	clist *result = NULL;
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	imap_uid_bound(imap, 0, &run.hi);
	set = mailimap_set_new_interval(1, 0);
	ft = id_fetch_type();
	if (!set)
		abort();
	mailimap_set_msg_att_handler(imap->mi, id_handler, &run);
	mailimap_set_progress_callback(imap->mi, progress_none, progress_none, NULL);
	r = mailimap_uid_fetch(imap->mi, set, ft, &result);
	mailimap_set_msg_att_handler(imap->mi, NULL, NULL);
	mailimap_set_progress_callback(imap->mi, NULL, NULL, NULL);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r == MAILIMAP_NO_ERROR)
		mailimap_fetch_list_free(result);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "UID FETCH (Message-ID)");
	return imap_check_mailbox(imap, err);
}

int imap_uid_list(struct imap *imap, uint32_t lo, uint32_t hi, uint32_t **uids_r, size_t *n_r,
		  struct error *err)
{
	struct mailimap_set *set = mailimap_set_new_interval(lo, hi);
	struct mailimap_search_key *key = set ? mailimap_search_key_new_uid(set) : NULL;
	clist *result = NULL;
	uint32_t *uids = NULL;
	size_t n = 0, cap = 0;
	int r;

	*uids_r = NULL;
	*n_r = 0;
	if (!key)
		abort();
	if (imap_check_alive(imap, err) < 0) {
		mailimap_search_key_free(key);
		return -1;
	}
	r = mailimap_uid_search(imap->mi, NULL, key, &result);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "UID SEARCH UID %u:%u", lo, hi);
	if (imap_check_mailbox(imap, err) < 0) {
		mailimap_search_result_free(result);
		return -1;
	}
	for (clistiter *it = imap_first(result); it; it = clist_next(it)) {
		uint32_t uid = *(uint32_t *)clist_content(it);

		/* "n:*" also matches the last message when n is above it. */
		if (uid < lo || (hi && uid > hi))
			continue;
		uids = xgrow(uids, &cap, n + 1, sizeof(*uids));
		uids[n++] = uid;
	}
	mailimap_search_result_free(result);
	*uids_r = uids;
	*n_r = n;
	return 0;
}

/* ------------------------------------------------------------------------
 * Whole header sections of chosen messages (adoption). */

#define HEADERS_PER_COMMAND 500

struct header_run {
	imap_header_fn *fn;
	void *ctx;
	const uint32_t *uids; /* sorted: the UIDs asked for */
	size_t n;
};

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void header_handler(struct mailimap_msg_att *att, void *ctx)
{
	struct header_run *run = ctx;
	const struct mailimap_msg_att_body_section *sec = NULL;
	uint32_t uid = 0;

	for (clistiter *it = imap_first(att->att_list); it; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_msg_att_static *st = item->att_data.att_static;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !st)
			continue;
		if (st->att_type == MAILIMAP_MSG_ATT_UID)
			uid = st->att_data.att_uid;
		else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION)
			sec = st->att_data.att_body_section;
	}
	if (!uid || !sec || !sec->sec_body_part ||
	    !bsearch(&uid, run->uids, run->n, sizeof(*run->uids), cmp_uid))
		return;
	run->fn(uid, sec->sec_body_part, sec->sec_length, run->ctx);
}

static struct mailimap_fetch_type *header_fetch_type(void)
{
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	struct mailimap_section *sec = mailimap_section_new_header();

	if (!ft || !sec ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid()) ||
	    mailimap_fetch_type_new_fetch_att_list_add(
		ft, mailimap_fetch_att_new_body_peek_section(sec)))
		abort();
	return ft;
}

static int header_chunk(struct imap *imap, struct header_run *run, const uint32_t *uids, size_t n,
			struct error *err)
{
	struct mailimap_set *set = imap_set_new(uids, n);
	struct mailimap_fetch_type *ft = header_fetch_type();
	clist *result = NULL;
	int r;

	mailimap_set_msg_att_handler(imap->mi, header_handler, run);
	mailimap_set_progress_callback(imap->mi, progress_none, progress_none, NULL);
	r = mailimap_uid_fetch(imap->mi, set, ft, &result);
	mailimap_set_msg_att_handler(imap->mi, NULL, NULL);
	mailimap_set_progress_callback(imap->mi, NULL, NULL, NULL);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r == MAILIMAP_NO_ERROR)
		mailimap_fetch_list_free(result);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "UID FETCH (%zu headers)", n);
	return imap_check_mailbox(imap, err);
}

int imap_fetch_headers(struct imap *imap, const uint32_t *uids, size_t n, imap_header_fn *fn,
		       void *ctx, struct error *err)
{
	size_t n_sorted = 0;
	uint32_t *sorted = imap_uids_sorted(uids, n, &n_sorted);
	struct header_run run = {fn, ctx, sorted, n_sorted};
	int ret = 0;

	if (imap_check_alive(imap, err) < 0)
		ret = -1;
	for (size_t pos = 0, len; ret == 0 && pos < n_sorted; pos += len) {
		len = uidset_prefix_len(sorted + pos, n_sorted - pos, IMAP_MAX_RUNS);
		if (len > HEADERS_PER_COMMAND)
			len = HEADERS_PER_COMMAND;
		ret = header_chunk(imap, &run, sorted + pos, len, err);
	}
	free(sorted);
	return ret;
}
