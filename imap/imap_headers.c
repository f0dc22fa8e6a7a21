/* Fetching the Message-ID of every message of the selected mailbox: needed
 * only to re-pair messages after a UIDVALIDITY change, so it is a separate,
 * rarely used command. Each response is handled as it is parsed (memory stays
 * bounded) with UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]). */
#include <stdio.h>
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

/* The UID and the body section of one FETCH response (the one section
 * these fetches ask for), or NULL when either is missing. */
static const struct mailimap_msg_att_body_section *section_of(const struct mailimap_msg_att *att,
							      uint32_t *uid_r)
{
	const struct mailimap_msg_att_body_section *sec = NULL;

	*uid_r = 0;
	for (clistiter *it = imap_first(att->att_list); it; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_msg_att_static *st = item->att_data.att_static;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !st)
			continue;
		if (st->att_type == MAILIMAP_MSG_ATT_UID)
			*uid_r = st->att_data.att_uid;
		else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION)
			sec = st->att_data.att_body_section;
	}
	return *uid_r && sec && sec->sec_body_part ? sec : NULL;
}

/* UID FETCH set (UID BODY.PEEK[section]), each response to handler as it
 * is parsed. Takes set and section; what names the command in errors. */
static int fetch_section(struct imap *imap, struct mailimap_set *set,
			 struct mailimap_section *section, mailimap_msg_att_handler *handler,
			 void *ctx, const char *what, struct error *err)
{
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	clist *result = NULL;
	int r;

	if (!ft || !set || !section ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid()) ||
	    mailimap_fetch_type_new_fetch_att_list_add(
		ft, mailimap_fetch_att_new_body_peek_section(section)))
		abort();
	mailimap_set_msg_att_handler(imap->mi, handler, ctx);
	mailimap_set_progress_callback(imap->mi, progress_none, progress_none, NULL);
	r = mailimap_uid_fetch(imap->mi, set, ft, &result);
	mailimap_set_msg_att_handler(imap->mi, NULL, NULL);
	mailimap_set_progress_callback(imap->mi, NULL, NULL, NULL);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r == MAILIMAP_NO_ERROR)
		mailimap_fetch_list_free(result);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "UID FETCH (%s)", what);
	return imap_check_mailbox(imap, err);
}

static void id_handler(struct mailimap_msg_att *att, void *ctx)
{
	struct id_run *run = ctx;
	uint32_t uid;
	const struct mailimap_msg_att_body_section *sec = section_of(att, &uid);
	char *id;

	if (!sec || uid > run->hi)
		return;
	id = message_id_get(sec->sec_body_part, sec->sec_length);
	run->fn(uid, id, run->ctx);
	free(id);
}

/* BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]. */
static struct mailimap_section *id_section(void)
{
	clist *fields = clist_new();
	struct mailimap_header_list *hl;

	if (!fields || clist_append(fields, xstrdup("MESSAGE-ID")) < 0)
		abort();
	hl = mailimap_header_list_new(fields);
	return hl ? mailimap_section_new_header_fields(hl) : NULL;
}

int imap_fetch_message_ids(struct imap *imap, imap_msgid_fn *fn, void *ctx, struct error *err)
{
	struct id_run run = {fn, ctx, 0};

	if (imap_check_alive(imap, err) < 0)
		return -1;
	imap_uid_bound(imap, 0, &run.hi);
	return fetch_section(imap, mailimap_set_new_interval(1, 0), id_section(), id_handler, &run,
			     "Message-ID", err);
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
	uint32_t uid;
	const struct mailimap_msg_att_body_section *sec = section_of(att, &uid);

	if (!sec || !bsearch(&uid, run->uids, run->n, sizeof(*run->uids), cmp_uid))
		return;
	run->fn(uid, sec->sec_body_part, sec->sec_length, run->ctx);
}

int imap_fetch_headers(struct imap *imap, const uint32_t *uids, size_t n, imap_header_fn *fn,
		       void *ctx, struct error *err)
{
	size_t n_sorted = 0;
	uint32_t *sorted = imap_uids_sorted(uids, n, &n_sorted);
	struct header_run run = {fn, ctx, sorted, n_sorted};
	char what[32];
	int ret = 0;

	if (imap_check_alive(imap, err) < 0)
		ret = -1;
	for (size_t pos = 0, len; ret == 0 && pos < n_sorted; pos += len) {
		len = uidset_prefix_len(sorted + pos, n_sorted - pos, IMAP_MAX_RUNS);
		if (len > HEADERS_PER_COMMAND)
			len = HEADERS_PER_COMMAND;
		snprintf(what, sizeof(what), "%zu headers", len);
		ret = fetch_section(imap, imap_set_new(sorted + pos, len),
				    mailimap_section_new_header(), header_handler, &run, what, err);
	}
	free(sorted);
	return ret;
}
