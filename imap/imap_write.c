/* Commands that change the server: STORE, EXPUNGE, APPEND, MOVE; and the
 * Message-ID search that finds what an interrupted APPEND left behind.
 * Long UID lists go out as several commands of at most IMAP_MAX_RUNS runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/msgflags.h"
#include "imap/imap_p.h"
#include "util/log.h"
#include "util/uidset.h"
#include "util/xalloc.h"

/* ----------------------------------------------------------------- flags */

/* An IMAP atom without the characters that would break the command or
 * make the flag something else (RFC 3501 atom-specials, '\' and ']'). */
static bool keyword_ok(const char *w, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)w[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return false;
	}
	return true;
}

static void add_flag(struct mailimap_flag_list *fl, struct mailimap_flag *f)
{
	if (!f || mailimap_flag_list_add(fl, f) != MAILIMAP_NO_ERROR)
		abort();
}

static void add_system_flags(struct mailimap_flag_list *fl, unsigned flags)
{
	if (flags & MF_ANSWERED)
		add_flag(fl, mailimap_flag_new_answered());
	if (flags & MF_FLAGGED)
		add_flag(fl, mailimap_flag_new_flagged());
	if (flags & MF_DELETED)
		add_flag(fl, mailimap_flag_new_deleted());
	if (flags & MF_SEEN)
		add_flag(fl, mailimap_flag_new_seen());
	if (flags & MF_DRAFT)
		add_flag(fl, mailimap_flag_new_draft());
	if (flags & MF_FORWARDED)
		add_flag(fl, mailimap_flag_new_flag_keyword(xstrdup("$Forwarded")));
}

/* Adds the space-separated keywords; "\Name" (an unknown system flag, as
 * imap_fetch_meta reports it) becomes a flag extension. -1 on a keyword
 * that cannot be sent. */
static int add_keywords(struct mailimap_flag_list *fl, const char *keywords)
{
	const char *p = keywords;

	while (p && *p) {
		size_t len = strcspn(p, " ");
		bool ext = *p == '\\';

		if (len > 0) {
			if (!keyword_ok(p + ext, len - ext))
				return -1;
			add_flag(fl,
				 ext ? mailimap_flag_new_flag_extension(xstrndup(p + 1, len - 1))
				     : mailimap_flag_new_flag_keyword(xstrndup(p, len)));
		}
		p += len;
		p += strspn(p, " ");
	}
	return 0;
}

/* The flag list of flags and keywords; NULL with err on a bad keyword. The
 * caller frees it with mailimap_flag_list_free (or hands it on). */
static struct mailimap_flag_list *flag_list_new(unsigned flags, const char *keywords,
						struct error *err)
{
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();

	if (!fl)
		abort();
	add_system_flags(fl, flags);
	if (add_keywords(fl, keywords) < 0) {
		mailimap_flag_list_free(fl);
		error_set(err, ERR_MESSAGE, RETRY_NEVER,
			  "keyword list \"%s\" cannot be sent as IMAP flags", keywords);
		return NULL;
	}
	return fl;
}

static bool no_flags(unsigned flags, const char *keywords)
{
	return (flags & MF_ALL) == 0 && (!keywords || keywords[strspn(keywords, " ")] == '\0');
}

/* ----------------------------------------------------------------- STORE */

/* UID STORE of one chunk of a sorted UID array. */
static int store_chunk(struct imap *imap, const uint32_t *uids, size_t n, bool add, unsigned flags,
		       const char *keywords, struct error *err)
{
	struct mailimap_flag_list *fl = flag_list_new(flags, keywords, err);
	struct mailimap_store_att_flags *att;
	struct mailimap_set *set;
	int r;

	if (!fl)
		return -1;
	att = add ? mailimap_store_att_flags_new_add_flags_silent(fl)
		  : mailimap_store_att_flags_new_remove_flags_silent(fl);
	if (!att)
		abort();
	set = imap_set_new(uids, n);
	r = mailimap_uid_store(imap->mi, set, att);
	mailimap_store_att_flags_free(att); /* frees fl too */
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_MESSAGE, err, "UID STORE %cFLAGS (%zu messages)",
				 add ? '+' : '-', n);
	return imap_check_mailbox(imap, err);
}

/* Runs fn over a sorted copy of uids, IMAP_MAX_RUNS runs at a time. */
typedef int chunk_fn(struct imap *imap, const uint32_t *uids, size_t n, void *arg,
		     struct error *err);

static int for_chunks(struct imap *imap, const uint32_t *uids, size_t n, chunk_fn *fn, void *arg,
		      struct error *err)
{
	size_t m, len;
	uint32_t *sorted = imap_uids_sorted(uids, n, &m);
	int ret = 0;

	for (size_t pos = 0; pos < m && ret == 0; pos += len) {
		len = uidset_prefix_len(sorted + pos, m - pos, IMAP_MAX_RUNS);
		/* One EXPUNGE response per message comes back (without
		 * QRESYNC): keep well below what tls.c accepts in one answer. */
		if (len > IMAP_MAX_UIDS)
			len = IMAP_MAX_UIDS;
		ret = fn(imap, sorted + pos, len, arg, err);
	}
	free(sorted);
	return ret;
}

struct store_args {
	bool add;
	unsigned flags;
	const char *keywords;
};

static int store_cb(struct imap *imap, const uint32_t *uids, size_t n, void *arg, struct error *err)
{
	const struct store_args *a = arg;

	return store_chunk(imap, uids, n, a->add, a->flags, a->keywords, err);
}

int imap_store_flags(struct imap *imap, const uint32_t *uids, size_t n, bool add, unsigned flags,
		     const char *keywords, struct error *err)
{
	struct store_args a = {.add = add, .flags = flags, .keywords = keywords};

	if (imap_check_alive(imap, err) < 0)
		return -1;
	if (no_flags(flags, keywords))
		return 0;
	return for_chunks(imap, uids, n, store_cb, &a, err);
}

/* --------------------------------------------------------------- EXPUNGE */

static int expunge_cb(struct imap *imap, const uint32_t *uids, size_t n, void *arg,
		      struct error *err)
{
	struct mailimap_set *set;
	int r;

	(void)arg;
	if (store_chunk(imap, uids, n, true, MF_DELETED, NULL, err) < 0)
		return -1;
	set = imap_set_new(uids, n);
	r = mailimap_uid_expunge(imap->mi, set);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_MESSAGE, err, "UID EXPUNGE (%zu messages)", n);
	return imap_check_mailbox(imap, err);
}

static int refuse_without_uidplus(const char *what, struct error *err)
{
	error_set(err, ERR_FOLDER, RETRY_NEVER,
		  "%s: the server lacks UIDPLUS, and a plain EXPUNGE would also remove "
		  "messages other clients marked \\Deleted; refusing",
		  what);
	return -1;
}

int imap_expunge_uids(struct imap *imap, const uint32_t *uids, size_t n, struct error *err)
{
	if (imap_check_alive(imap, err) < 0)
		return -1;
	if (!imap_has(imap, IMAP_CAP_UIDPLUS))
		return refuse_without_uidplus("UID EXPUNGE", err);
	return for_chunks(imap, uids, n, expunge_cb, NULL, err);
}

int imap_expunge(struct imap *imap, struct error *err)
{
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	r = mailimap_expunge(imap->mi);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "EXPUNGE");
	return imap_check_mailbox(imap, err);
}

/* ---------------------------------------------------------------- APPEND */

/* Whether an APPENDUID answer can name the message just appended to
 * mailbox. In the selected mailbox it must carry its UIDVALIDITY and a
 * UID it had not given out yet: UIDs only grow, so at or above UIDNEXT of
 * the SELECT and above the previous APPEND's. A server that names an old
 * UID (or the same one twice) would have the file paired with another
 * message: both would then be copied again, on each side. Once one is
 * impossible, none of that server's is believed any more (a wrong one can
 * also look possible). */
static bool appenduid_plausible(struct imap *imap, const char *mailbox, uint32_t uidvalidity,
				uint32_t uid)
{
	bool same =
	    imap->selected && imap->sel_mailbox &&
	    (strcmp(mailbox, imap->sel_mailbox) == 0 ||
	     (strcasecmp(mailbox, "INBOX") == 0 && strcasecmp(imap->sel_mailbox, "INBOX") == 0));

	if (uid == 0 || uidvalidity == 0 || imap->appenduid_bad)
		return false;
	if (!same)
		return true;
	if (uidvalidity != imap->sel_uidvalidity || uid < imap->sel_uid_floor) {
		imap->appenduid_bad = true;
		return false;
	}
	imap->sel_uid_floor = uid + 1;
	return true;
}

/* INTERNALDATE in UTC: the zone is part of the syntax, any zone will do. */
static struct mailimap_date_time *date_time_new(time_t t)
{
	struct tm tm;
	struct mailimap_date_time *dt;

	if (!gmtime_r(&t, &tm))
		return NULL;
	dt = mailimap_date_time_new(tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900, tm.tm_hour,
				    tm.tm_min, tm.tm_sec, 0);
	if (!dt)
		abort();
	return dt;
}

bool imap_quote_mailbox(const char *mailbox, char *buf, size_t cap)
{
	size_t k = 0;

	buf[k++] = '"';
	for (const char *p = mailbox; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f || k + 4 >= cap)
			return false;
		if (c == '"' || c == '\\')
			buf[k++] = '\\';
		buf[k++] = (char)c;
	}
	buf[k++] = '"';
	buf[k] = '\0';
	return true;
}

/* " (\Seen kw ...)" for APPEND, "" without flags; false when a keyword
 * cannot be sent or the list is too long for buf. */
static bool append_flags_text(unsigned flags, const char *keywords, char *buf, size_t cap)
{
	static const struct {
		unsigned bit;
		const char *name;
	} sys[] = {{MF_ANSWERED, "\\Answered"}, {MF_FLAGGED, "\\Flagged"},
		   {MF_DELETED, "\\Deleted"},	{MF_SEEN, "\\Seen"},
		   {MF_DRAFT, "\\Draft"},	{MF_FORWARDED, "$Forwarded"}};
	const char *p = keywords;
	size_t k = 0;
	int n;

	buf[0] = '\0';
	if (no_flags(flags, keywords))
		return true;
	k = (size_t)snprintf(buf, cap, " (");
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]) && k < cap; i++)
		if (flags & sys[i].bit)
			k += (size_t)snprintf(buf + k, cap - k, "%s%s",
					      buf[k - 1] == '(' ? "" : " ", sys[i].name);
	while (p && *p && k < cap) {
		size_t len = strcspn(p, " ");
		bool ext = *p == '\\';

		if (len > 0) {
			if (!keyword_ok(p + ext, len - ext) || len > INT32_MAX)
				return false;
			k += (size_t)snprintf(buf + k, cap - k, "%s%.*s",
					      buf[k - 1] == '(' ? "" : " ", (int)len, p);
		}
		p += len;
		p += strspn(p, " ");
	}
	n = k < cap ? snprintf(buf + k, cap - k, ")") : 0;
	return n == 1 && k + 1 < cap;
}

/* The APPENDUID of the last tagged answer (RFC 4315), 0 0 without. */
static void last_appenduid(struct imap *imap, uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	const struct mailimap_response_info *ri = imap->mi->imap_response_info;

	*uidvalidity_r = *uid_r = 0;
	for (clistiter *it = ri ? imap_first(ri->rsp_extension_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);
		const struct mailimap_uidplus_resp_code_apnd *apnd;
		const struct mailimap_set_item *item;

		if (ext->ext_extension->ext_id != MAILIMAP_EXTENSION_UIDPLUS ||
		    ext->ext_type != MAILIMAP_UIDPLUS_RESP_CODE_APND || !ext->ext_data)
			continue;
		apnd = ext->ext_data;
		item = apnd->uid_set ? clist_content(imap_first(apnd->uid_set->set_list)) : NULL;
		if (item && item->set_first == item->set_last) {
			*uidvalidity_r = apnd->uid_uidvalidity;
			*uid_r = item->set_first;
		}
	}
}

/* APPEND with a non-synchronizing literal (RFC 7888 LITERAL+): command and
 * message go out at once, without waiting for the server's "+", which
 * saves a round trip per message. Returns a libetpan code, -1 when this
 * message cannot be sent so (the caller falls back). */
static int append_literal_plus(struct imap *imap, const char *mailbox, unsigned flags,
			       const char *keywords, time_t internaldate, const char *data,
			       size_t len, uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char mbox[512], fl[512], date[40] = "", head[1200];
	struct tm tm;
	int r;

	if (!imap_quote_mailbox(mailbox, mbox, sizeof(mbox)) ||
	    !append_flags_text(flags, keywords, fl, sizeof(fl)))
		return -1;
	if (internaldate > 0 && gmtime_r(&internaldate, &tm))
		snprintf(date, sizeof(date), " \"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
			 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	/* NUL bytes go as a literal8 (RFC 3516) where the server offers it: in
	 * a plain literal a server drops them or refuses the message. */
	snprintf(head, sizeof(head), "APPEND %s%s%s %s{%zu+}", mbox, fl, date,
		 imap_has(imap, IMAP_CAP_BINARY) && memchr(data, '\0', len) ? "~" : "", len);
	r = imap_raw_command_literal(imap, head, data, len);
	if (r == MAILIMAP_ERROR_CUSTOM_COMMAND)
		return MAILIMAP_ERROR_APPEND;
	if (r != MAILIMAP_NO_ERROR)
		return r;
	last_appenduid(imap, uidvalidity_r, uid_r);
	return MAILIMAP_NO_ERROR;
}

int imap_append(struct imap *imap, const char *mailbox, unsigned flags, const char *keywords,
		time_t internaldate, const char *data, size_t len, uint32_t *uidvalidity_r,
		uint32_t *uid_r, struct error *err)
{
	struct mailimap_flag_list *fl = NULL;
	struct mailimap_date_time *dt = NULL;
	uint32_t uidvalidity = 0, uid = 0;
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	imap->last_bad = false;
	r = imap_has(imap, IMAP_CAP_LITERAL_PLUS)
		? append_literal_plus(imap, mailbox, flags, keywords, internaldate, data, len,
				      &uidvalidity, &uid)
		: -1;
	if (r < 0) {
		if (!no_flags(flags, keywords) && !(fl = flag_list_new(flags, keywords, err)))
			return -1;
		if (internaldate > 0)
			dt = date_time_new(internaldate);
		r = mailimap_uidplus_append(imap->mi, mailbox, fl, dt, data, len, &uidvalidity,
					    &uid);
		if (fl)
			mailimap_flag_list_free(fl);
		if (dt)
			mailimap_date_time_free(dt);
	}
	if (r != MAILIMAP_NO_ERROR) {
		const struct mailimap_response_info *ri = imap->mi->imap_response_info;
		bool trycreate = r == MAILIMAP_ERROR_APPEND && ri && ri->rsp_trycreate;

		imap_fail(imap, r, trycreate ? ERR_FOLDER : ERR_MESSAGE, err,
			  "APPEND to %s (%zu bytes)", mailbox, len);
		if (r == MAILIMAP_ERROR_APPEND && imap_refused_for_good(imap))
			err->retry = RETRY_NEVER;
		return -1;
	}
	/* An APPENDUID that cannot be right is taken as none: the caller then
	 * looks the message up by its Message-ID. */
	if (uid && !appenduid_plausible(imap, mailbox, uidvalidity, uid)) {
		char name[128];

		snprintf(name, sizeof(name), "%s", mailbox);
		for (char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		log_warn("APPEND to %s: ignoring the server's APPENDUID %u %u (not a new UID of "
			 "this mailbox)",
			 name, uidvalidity, uid);
		uidvalidity = 0;
		uid = 0;
	}
	if (uidvalidity_r)
		*uidvalidity_r = uidvalidity;
	if (uid_r)
		*uid_r = uid;
	return 0;
}

/* ------------------------------------------------------------------ MOVE */

/* The UIDs of a server's COPYUID set, in its order; -1 when it names more
 * than max (or "*"). */
static int expand_set(const struct mailimap_set *set, size_t max, uint32_t **arr_r, size_t *n_r)
{
	uint32_t *arr = xmalloc((max ? max : 1) * sizeof(*arr));
	size_t n = 0;

	for (clistiter *it = imap_first(set->set_list); it; it = clist_next(it)) {
		const struct mailimap_set_item *item = clist_content(it);
		uint32_t a = item->set_first, b = item->set_last, step = a <= b ? 1 : (uint32_t)-1;

		if (a == 0 || b == 0 || (uint64_t)(a <= b ? b - a : a - b) + 1 > max - n) {
			free(arr);
			return -1;
		}
		for (uint32_t u = a;; u += step) {
			arr[n++] = u;
			if (u == b)
				break;
		}
	}
	*arr_r = arr;
	*n_r = n;
	return 0;
}

struct uid_pair {
	uint32_t src, dst;
};

static int cmp_pair(const void *a, const void *b)
{
	uint32_t x = ((const struct uid_pair *)a)->src, y = ((const struct uid_pair *)b)->src;

	return (x > y) - (x < y);
}

struct move_args {
	const uint32_t *uids; /* the caller's, in the caller's order */
	size_t n;
	uint32_t *dst; /* dst[i] for uids[i] */
	const char *mailbox;
	bool copy; /* UID COPY only: the source messages stay */
};

/* Records COPYUID src -> dst in a->dst for the caller's UIDs. */
static void map_copyuid(struct move_args *a, const struct mailimap_set *src,
			const struct mailimap_set *dst, size_t max)
{
	uint32_t *s = NULL, *d = NULL;
	size_t ns = 0, nd = 0;
	struct uid_pair *pairs;

	if (!src || !dst || expand_set(src, max, &s, &ns) < 0)
		return;
	if (expand_set(dst, max, &d, &nd) < 0 || nd != ns)
		goto out;
	pairs = xmalloc((ns ? ns : 1) * sizeof(*pairs));
	for (size_t i = 0; i < ns; i++)
		pairs[i] = (struct uid_pair){s[i], d[i]};
	qsort(pairs, ns, sizeof(*pairs), cmp_pair);
	for (size_t i = 0; i < a->n; i++) {
		struct uid_pair key = {a->uids[i], 0}, *hit;

		hit = bsearch(&key, pairs, ns, sizeof(*pairs), cmp_pair);
		if (hit)
			a->dst[i] = hit->dst;
	}
	free(pairs);
out:
	free(s);
	free(d);
}

static int move_cb(struct imap *imap, const uint32_t *uids, size_t n, void *arg, struct error *err)
{
	struct move_args *a = arg;
	struct mailimap_set *set = imap_set_new(uids, n), *src = NULL, *dst = NULL;
	uint32_t uidvalidity = 0;
	bool move = imap_has(imap, IMAP_CAP_MOVE) && !a->copy;
	int r;

	if (move)
		r = mailimap_uidplus_uid_move(imap->mi, set, a->mailbox, &uidvalidity, &src, &dst);
	else
		r = mailimap_uidplus_uid_copy(imap->mi, set, a->mailbox, &uidvalidity, &src, &dst);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_MESSAGE, err, "UID %s to %s (%zu messages)",
				 move ? "MOVE" : "COPY", a->mailbox, n);
	if (imap_check_mailbox(imap, err) < 0)
		r = -1;
	else
		map_copyuid(a, src, dst, n);
	if (src)
		mailimap_set_free(src);
	if (dst)
		mailimap_set_free(dst);
	if (r < 0)
		return -1;
	/* Without MOVE: the copy is made, now remove exactly these. */
	return move || a->copy ? 0 : expunge_cb(imap, uids, n, NULL, err);
}

static int move_or_copy(struct imap *imap, const uint32_t *uids, size_t n, const char *mailbox,
			uint32_t **dst_uids_r, bool copy, struct error *err)
{
	struct move_args a = {.uids = uids, .n = n, .mailbox = mailbox, .copy = copy};

	*dst_uids_r = NULL;
	if (imap_check_alive(imap, err) < 0)
		return -1;
	if (!imap_has(imap, IMAP_CAP_MOVE) && !imap_has(imap, IMAP_CAP_UIDPLUS))
		return refuse_without_uidplus("UID MOVE", err);
	a.dst = xcalloc(n ? n : 1, sizeof(*a.dst));
	if (for_chunks(imap, uids, n, move_cb, &a, err) < 0) {
		free(a.dst);
		return -1;
	}
	*dst_uids_r = a.dst;
	return 0;
}

int imap_move(struct imap *imap, const uint32_t *uids, size_t n, const char *mailbox,
	      uint32_t **dst_uids_r, struct error *err)
{
	return move_or_copy(imap, uids, n, mailbox, dst_uids_r, false, err);
}

int imap_copy(struct imap *imap, const uint32_t *uids, size_t n, const char *mailbox,
	      uint32_t **dst_uids_r, struct error *err)
{
	return move_or_copy(imap, uids, n, mailbox, dst_uids_r, true, err);
}

/* ---------------------------------------------------------------- SEARCH */

static struct mailimap_search_key *msgid_key(const char *message_id, uint32_t min_uid)
{
	struct mailimap_search_key *all = mailimap_search_key_new_multiple_empty();
	struct mailimap_set *range = mailimap_set_new_interval(min_uid ? min_uid : 1, 0);
	struct mailimap_search_key *k_uid, *k_hdr;

	if (!all || !range)
		abort();
	k_uid = mailimap_search_key_new_uid(range);
	k_hdr = mailimap_search_key_new_header(xstrdup("Message-ID"), xstrdup(message_id));
	if (!k_uid || !k_hdr || mailimap_search_key_multiple_add(all, k_uid) ||
	    mailimap_search_key_multiple_add(all, k_hdr))
		abort();
	return all;
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

int imap_search_message_id(struct imap *imap, const char *message_id, uint32_t min_uid,
			   uint32_t **uids_r, size_t *n_r, struct error *err)
{
	struct mailimap_search_key *key;
	clist *result = NULL;
	uint32_t *uids;
	size_t n = 0;
	int r;

	*uids_r = NULL;
	*n_r = 0;
	if (imap_check_alive(imap, err) < 0)
		return -1;
	key = msgid_key(message_id, min_uid);
	r = mailimap_uid_search(imap->mi, is_ascii(message_id) ? NULL : "UTF-8", key, &result);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "UID SEARCH HEADER Message-ID");
	if (imap_check_mailbox(imap, err) < 0) {
		mailimap_search_result_free(result);
		return -1;
	}
	uids = xmalloc(((size_t)clist_count(result) + 1) * sizeof(*uids));
	/* "min_uid:*" also matches the last message when min_uid is above
	 * every UID (RFC 3501 §6.4.4): filter. */
	for (clistiter *it = imap_first(result); it; it = clist_next(it)) {
		uint32_t u = *(uint32_t *)clist_content(it);

		if (u >= min_uid)
			uids[n++] = u;
	}
	mailimap_search_result_free(result);
	*n_r = uidset_normalize(uids, n);
	*uids_r = uids;
	return 0;
}
