/* Mailbox-level commands: LIST, SELECT (plain, CONDSTORE or QRESYNC),
 * STATUS, CREATE, NOOP. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_p.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Attributes of RFC 6154 (SPECIAL-USE), RFC 5258 and Gmail's XLIST, as
 * libetpan gives them: without the backslash. */
static const struct {
	const char *name;
	unsigned attr;
} mbx_attrs[] = {
    {"All", IMAP_MBX_ALL},
    {"Archive", IMAP_MBX_ARCHIVE},
    {"Drafts", IMAP_MBX_DRAFTS},
    {"Flagged", IMAP_MBX_FLAGGED},
    {"Junk", IMAP_MBX_JUNK},
    {"Sent", IMAP_MBX_SENT},
    {"Trash", IMAP_MBX_TRASH},
    {"Important", IMAP_MBX_IMPORTANT},
    {"Noselect", IMAP_MBX_NOSELECT},
    {"NonExistent", IMAP_MBX_NOSELECT},
    /* XLIST only */
    {"Inbox", IMAP_MBX_INBOX},
    {"AllMail", IMAP_MBX_ALL},
    {"Spam", IMAP_MBX_JUNK},
    {"Starred", IMAP_MBX_FLAGGED},
};

static unsigned attr_of(const char *name)
{
	for (size_t i = 0; i < sizeof(mbx_attrs) / sizeof(mbx_attrs[0]); i++)
		if (strcasecmp(name, mbx_attrs[i].name) == 0)
			return mbx_attrs[i].attr;
	return 0;
}

static unsigned mailbox_attrs(const struct mailimap_mailbox_list *mb)
{
	const struct mailimap_mbx_list_flags *f = mb->mb_flag;
	unsigned attrs = 0;

	if (strcasecmp(mb->mb_name, "INBOX") == 0)
		attrs |= IMAP_MBX_INBOX;
	if (!f)
		return attrs;
	if (f->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG &&
	    f->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
		attrs |= IMAP_MBX_NOSELECT;
	for (clistiter *it = imap_first(f->mbf_oflags); it; it = clist_next(it)) {
		const struct mailimap_mbx_list_oflag *of = clist_content(it);

		if (of->of_type == MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT && of->of_flag_ext)
			attrs |= attr_of(of->of_flag_ext);
	}
	return attrs;
}

/* The name as the server means it: a first component INBOX is
 * case-insensitive (RFC 3501 §5.1), so "inbox/x" is "INBOX/x". */
static char *mailbox_key(const struct imap_mailbox *m)
{
	char *key = xstrdup(m->name);

	if (strncasecmp(key, "INBOX", 5) == 0 && (key[5] == '\0' || key[5] == m->delim))
		memcpy(key, "INBOX", 5);
	return key;
}

struct keyed {
	char *key;
	size_t at;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* A server that names a mailbox twice in one LIST answer would have it
 * synced twice, by two jobs into one Maildir, each taking the other's
 * downloads for new local mail: every name is kept once (the first, with
 * the attributes of all, so a \Noselect on either wins). */
static size_t dedupe(struct imap_mailbox *mbx, size_t n)
{
	struct keyed *k = xcalloc(n ? n : 1, sizeof(*k));
	bool *drop = xcalloc(n ? n : 1, sizeof(*drop));
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		k[i] = (struct keyed){mailbox_key(&mbx[i]), i};
	qsort(k, n, sizeof(*k), cmp_keyed);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(k[i].key, k[i - 1].key) != 0)
			continue;
		/* k[i - 1].at is the first of the run (ties sort by position). */
		drop[k[i].at] = true;
		mbx[k[i - 1].at].attrs |= mbx[k[i].at].attrs;
		k[i].at = k[i - 1].at;
	}
	for (size_t i = 0; i < n; i++) {
		if (drop[i]) {
			free(mbx[i].name);
			continue;
		}
		mbx[w++] = mbx[i];
	}
	for (size_t i = 0; i < n; i++)
		free(k[i].key);
	free(k);
	free(drop);
	return w;
}

/* Copies a libetpan LIST result into our array. */
static void convert_list(clist *list, struct imap_mailbox **mbx_r, size_t *n_r)
{
	size_t n = 0, cap = list ? (size_t)clist_count(list) : 0;
	struct imap_mailbox *mbx = xcalloc(cap ? cap : 1, sizeof(*mbx));

	for (clistiter *it = imap_first(list); it; it = clist_next(it)) {
		const struct mailimap_mailbox_list *mb = clist_content(it);

		if (!mb || !mb->mb_name)
			continue;
		mbx[n].name = xstrdup(mb->mb_name);
		mbx[n].delim = mb->mb_delimiter;
		mbx[n].attrs = mailbox_attrs(mb);
		n++;
	}
	*mbx_r = mbx;
	*n_r = dedupe(mbx, n);
}

/* RETURN (SPECIAL-USE) is a LIST-EXTENDED return option (RFC 6154 §5.1);
 * libetpan cannot build it, hence a raw command, whose untagged LIST lines
 * stay in imap_response_info until the next command. */
static int list_special_use(struct imap *imap, struct imap_mailbox **mbx_r, size_t *n_r,
			    struct error *err)
{
	int r = imap_raw_command(imap, "LIST \"\" \"*\" RETURN (SPECIAL-USE)");

	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "LIST");
	convert_list(imap->mi->imap_response_info->rsp_mailbox_list, mbx_r, n_r);
	return 0;
}

int imap_list(struct imap *imap, struct imap_mailbox **mbx_r, size_t *n_r, struct error *err)
{
	clist *list = NULL;
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	if (imap_has(imap, IMAP_CAP_SPECIAL_USE) &&
	    mailimap_has_extension(imap->mi, "LIST-EXTENDED"))
		return list_special_use(imap, mbx_r, n_r, err);
	/* Without LIST-EXTENDED a SPECIAL-USE server still sends the
	 * attributes with a plain LIST; XLIST is Gmail's older form. */
	if (!imap_has(imap, IMAP_CAP_SPECIAL_USE) && imap_has(imap, IMAP_CAP_XLIST))
		r = mailimap_xlist(imap->mi, "", "*", &list);
	else
		r = mailimap_list(imap->mi, "", "*", &list);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "LIST");
	convert_list(list, mbx_r, n_r);
	mailimap_list_result_free(list);
	return 0;
}

char imap_mailboxes_delim(const struct imap_mailbox *mbx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mbx[i].delim)
			return mbx[i].delim;
	return '/';
}

void imap_mailboxes_free(struct imap_mailbox *mbx, size_t n)
{
	for (size_t i = 0; mbx && i < n; i++)
		free(mbx[i].name);
	free(mbx);
}

static void status_item(const struct mailimap_status_info *st, struct imap_mailbox_info *info)
{
	const struct mailimap_extension_data *ext = st->st_ext_data;

	switch (st->st_att) {
	case MAILIMAP_STATUS_ATT_MESSAGES:
		info->exists = st->st_value;
		break;
	case MAILIMAP_STATUS_ATT_UIDNEXT:
		info->uidnext = st->st_value;
		break;
	case MAILIMAP_STATUS_ATT_UIDVALIDITY:
		info->uidvalidity = st->st_value;
		break;
	case MAILIMAP_STATUS_ATT_EXTENSION:
		/* libetpan parses HIGHESTMODSEQ as CONDSTORE extension data. */
		if (ext && ext->ext_extension->ext_id == MAILIMAP_EXTENSION_CONDSTORE &&
		    ext->ext_type == MAILIMAP_CONDSTORE_TYPE_STATUS_INFO && ext->ext_data)
			info->highestmodseq =
			    ((struct mailimap_condstore_status_info *)ext->ext_data)
				->cs_highestmodseq_value;
		break;
	default:
		break;
	}
}

/* After a successful SELECT: fills info_r and records the mailbox as the
 * selected one. */
static int select_done(struct imap *imap, const char *mailbox, uint64_t modseq,
		       struct imap_mailbox_info *info_r, struct error *err)
{
	const struct mailimap_selection_info *si = imap->mi->imap_selection_info;

	memset(info_r, 0, sizeof(*info_r));
	if (si) {
		info_r->uidvalidity = si->sel_uidvalidity;
		info_r->uidnext = si->sel_uidnext;
		info_r->exists = si->sel_exists;
	}
	info_r->highestmodseq = modseq;
	/* UIDVALIDITY is what makes a UID mean one message: without it (RFC
	 * 3501 requires it) no UID of this mailbox can be trusted. */
	if (info_r->uidvalidity == 0) {
		error_set(err, ERR_FOLDER, RETRY_BACKOFF,
			  "SELECT %s: the server sent no UIDVALIDITY; its UIDs cannot be trusted",
			  mailbox);
		return -1;
	}
	/* Courier leaves UIDNEXT out of its SELECT answer (RFC 3501 requires
	 * it). A missing one is not "0": ask STATUS, which Courier answers. */
	if (info_r->uidnext == 0) {
		struct imap_mailbox_info st;

		if (imap_status(imap, mailbox, &st, err) < 0)
			return -1;
		info_r->uidnext = st.uidnext;
	}
	/* Kept to catch a change later in the session (imap_check_mailbox). */
	imap->selected = true;
	imap->sel_uidvalidity = info_r->uidvalidity;
	imap->sel_uid_floor = info_r->uidnext;
	imap->sel_uidnext = info_r->uidnext;
	free(imap->sel_mailbox);
	imap->sel_mailbox = xstrdup(mailbox);
	snprintf(imap->sel_name, sizeof(imap->sel_name), "%s", mailbox);
	for (char *p = imap->sel_name; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return 0;
}

int imap_select(struct imap *imap, const char *mailbox, struct imap_mailbox_info *info_r,
		struct error *err)
{
	uint64_t modseq = 0;
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	imap->selected = false;
	if (imap_has(imap, IMAP_CAP_CONDSTORE))
		r = mailimap_select_condstore(imap->mi, mailbox, &modseq);
	else
		r = mailimap_select(imap->mi, mailbox);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "SELECT %s", mailbox);
	return select_done(imap, mailbox, modseq, info_r, err);
}

/* The FETCH responses of a QRESYNC SELECT, kept until the answer's
 * UIDVALIDITY says whether they mean anything. */
struct qr_fetch {
	uint32_t uid;
	unsigned flags;
	char *keywords; /* owned or NULL */
	uint64_t modseq;
};

struct qr_run {
	struct imap_kw kw;
	struct qr_fetch *v; /* owned */
	size_t n, cap;
};

static void qr_handler(struct mailimap_msg_att *att, void *ctx)
{
	struct qr_run *run = ctx;
	struct imap_meta m;

	imap_meta_parse(att, &run->kw, &m);
	/* Without its UID a response cannot be placed (RFC 7162 §3.2.5.2
	 * requires one). */
	if (m.uid == 0)
		return;
	run->v = xgrow(run->v, &run->cap, run->n + 1, sizeof(*run->v));
	run->v[run->n++] =
	    (struct qr_fetch){m.uid, m.flags, m.keywords ? xstrdup(m.keywords) : NULL, m.modseq};
}

static void qr_run_free(struct qr_run *run)
{
	for (size_t i = 0; i < run->n; i++)
		free(run->v[i].keywords);
	free(run->v);
	free(run->kw.s);
}

/* Reports the answer's FETCH responses but those beyond the UIDNEXT it
 * gave (imap_uid_bound): no message there was known. */
static void qr_report(const struct imap *imap, const struct qr_run *run, imap_meta_fn *fn,
		      void *ctx)
{
	uint32_t hi;

	imap_uid_bound(imap, 0, &hi);
	for (size_t i = 0; i < run->n; i++) {
		const struct qr_fetch *f = &run->v[i];
		struct imap_meta m = {
		    .uid = f->uid, .flags = f->flags, .keywords = f->keywords, .modseq = f->modseq};

		if (f->uid > hi) {
			log_debug("imap: SELECT (QRESYNC): ignored a FETCH response for UID %u, "
				  "beyond UIDNEXT %u",
				  f->uid, imap->sel_uidnext);
			continue;
		}
		fn(&m, ctx);
	}
}

struct range_list {
	struct imap_uid_range *v; /* owned */
	size_t n, cap;
};

/* Adds the runs of one VANISHED set, cut to 1:hi. */
static void ranges_add(struct range_list *rl, const struct mailimap_set *set, uint32_t hi)
{
	for (clistiter *it = imap_first(set ? set->set_list : NULL); it; it = clist_next(it)) {
		const struct mailimap_set_item *item = clist_content(it);
		uint32_t a = item->set_first, b = item->set_last;
		uint32_t lo = a < b ? a : b, top = a < b ? b : a;

		/* 0 stands for "*", which VANISHED does not allow. */
		if (lo == 0 || lo > hi)
			continue;
		rl->v = xgrow(rl->v, &rl->cap, rl->n + 1, sizeof(*rl->v));
		rl->v[rl->n++] = (struct imap_uid_range){lo, top < hi ? top : hi};
	}
}

static int cmp_range(const void *a, const void *b)
{
	uint32_t x = ((const struct imap_uid_range *)a)->lo;
	uint32_t y = ((const struct imap_uid_range *)b)->lo;

	return (x > y) - (x < y);
}

/* Sorts the ranges and merges those that overlap or touch. */
static size_t ranges_merge(struct imap_uid_range *v, size_t n)
{
	size_t w = 0;

	xqsort(v, n, sizeof(*v), cmp_range);
	for (size_t i = 0; i < n; i++) {
		if (w > 0 && (uint64_t)v[i].lo <= (uint64_t)v[w - 1].hi + 1) {
			if (v[i].hi > v[w - 1].hi)
				v[w - 1].hi = v[i].hi;
			continue;
		}
		v[w++] = v[i];
	}
	return w;
}

/* Every VANISHED response of the answer, in the response's extension list
 * until the next command. */
struct vanished_ctx {
	struct range_list *rl;
	uint32_t hi;
};

static void add_vanished(const struct mailimap_set *set, void *ctx)
{
	struct vanished_ctx *c = ctx;

	ranges_add(c->rl, set, c->hi);
}

static void collect_vanished(struct imap *imap, uint32_t hi, struct range_list *rl)
{
	const struct mailimap_response_info *ri = imap->mi->imap_response_info;
	struct vanished_ctx c = {rl, hi};

	imap_vanished_each(ri ? ri->rsp_extension_list : NULL, add_vanished, &c);
	rl->n = ranges_merge(rl->v, rl->n);
}

/* The HIGHESTMODSEQ (0: NOMODSEQ) of the answer's response codes. */
static uint64_t answer_modseq(const struct imap *imap)
{
	const struct mailimap_response_info *ri = imap->mi->imap_response_info;
	uint64_t modseq = 0;

	for (clistiter *it = imap_first(ri ? ri->rsp_extension_list : NULL); it;
	     it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);
		const struct mailimap_condstore_resptextcode *rc;

		if (!ext || ext->ext_extension->ext_id != MAILIMAP_EXTENSION_CONDSTORE ||
		    ext->ext_type != MAILIMAP_CONDSTORE_TYPE_RESP_TEXT_CODE || !ext->ext_data)
			continue;
		rc = ext->ext_data;
		modseq = rc->cs_type == MAILIMAP_CONDSTORE_RESPTEXTCODE_HIGHESTMODSEQ
			     ? rc->cs_data.cs_modseq_value
			     : 0;
	}
	return modseq;
}

/* libetpan 1.9.4's mailimap_select_qresync sends "SELECT mb QRESYNC (...)",
 * without the parentheses RFC 7162 puts around the SELECT parameters, and
 * Dovecot answers it as a plain SELECT. The command goes out raw, and the
 * session is brought to the state mailimap_select leaves: a fresh
 * selection info for the answer to fill, the SELECTED state after an OK. */
static int select_raw(struct imap *imap, const char *cmd)
{
	mailimap *mi = imap->mi;
	int r;

	if (mi->imap_state != MAILIMAP_STATE_AUTHENTICATED &&
	    mi->imap_state != MAILIMAP_STATE_SELECTED)
		return MAILIMAP_ERROR_BAD_STATE;
	if (mi->imap_selection_info)
		mailimap_selection_info_free(mi->imap_selection_info);
	mi->imap_selection_info = mailimap_selection_info_new();
	if (!mi->imap_selection_info)
		abort();
	r = imap_raw_command(imap, cmd);
	if (r == MAILIMAP_NO_ERROR) {
		mi->imap_state = MAILIMAP_STATE_SELECTED;
		return r;
	}
	if (r == MAILIMAP_ERROR_CUSTOM_COMMAND) {
		mailimap_selection_info_free(mi->imap_selection_info);
		mi->imap_selection_info = NULL;
		mi->imap_state = MAILIMAP_STATE_AUTHENTICATED;
		r = MAILIMAP_ERROR_SELECT;
	}
	return r;
}

int imap_select_qresync(struct imap *imap, const char *mailbox, uint32_t uidvalidity,
			uint64_t modseq, uint32_t known_hi, struct imap_mailbox_info *info_r,
			imap_meta_fn *fn, void *ctx, struct imap_uid_range **vanished_r,
			size_t *n_vanished_r, struct error *err)
{
	struct qr_run run = {0};
	struct range_list rl = {0};
	char mbox[512], cmd[700];
	int r, ret = -1;

	*vanished_r = NULL;
	*n_vanished_r = 0;
	if (!imap_has(imap, IMAP_CAP_QRESYNC) || uidvalidity == 0 || modseq == 0 || known_hi == 0) {
		error_set(err, ERR_FOLDER, RETRY_NEVER,
			  "SELECT %s (QRESYNC): not enabled, or nothing known to resync from",
			  mailbox);
		return -1;
	}
	/* A name that needs a literal: the ordinary SELECT. */
	if (!imap_quote_mailbox(mailbox, mbox, sizeof(mbox)))
		return imap_select(imap, mailbox, info_r, err) < 0 ? -1 : 0;
	if (imap_check_alive(imap, err) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "SELECT %s (QRESYNC (%" PRIu32 " %" PRIu64 " 1:%" PRIu32 "))",
		 mbox, uidvalidity, modseq, known_hi);
	imap->selected = false;
	imap_handler_set(imap, qr_handler, &run);
	r = select_raw(imap, cmd);
	imap_handler_set(imap, NULL, NULL);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(imap, r, ERR_FOLDER, err, "SELECT %s (QRESYNC)", mailbox);
		goto out;
	}
	if (select_done(imap, mailbox, answer_modseq(imap), info_r, err) < 0)
		goto out;
	/* Another UIDVALIDITY: the server ignored the QRESYNC parameters
	 * (RFC 7162 §3.2.5), and nothing it might have sent is about the
	 * messages we know. */
	ret = 0;
	if (info_r->uidvalidity != uidvalidity)
		goto out;
	collect_vanished(imap, known_hi, &rl);
	qr_report(imap, &run, fn, ctx);
	*vanished_r = rl.v;
	*n_vanished_r = rl.n;
	rl.v = NULL;
	ret = 1;
out:
	free(rl.v);
	qr_run_free(&run);
	return ret;
}

bool imap_is_selected(const struct imap *imap, const char *mailbox)
{
	return imap->selected && imap->sel_mailbox && strcmp(imap->sel_mailbox, mailbox) == 0;
}

static struct mailimap_status_att_list *status_atts(bool modseq)
{
	struct mailimap_status_att_list *atts = mailimap_status_att_list_new_empty();

	if (!atts || mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_MESSAGES) ||
	    mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_UIDNEXT) ||
	    mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_UIDVALIDITY) ||
	    (modseq && mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_HIGHESTMODSEQ)))
		abort();
	return atts;
}

int imap_status(struct imap *imap, const char *mailbox, struct imap_mailbox_info *info_r,
		struct error *err)
{
	struct mailimap_status_att_list *atts;
	struct mailimap_mailbox_data_status *st = NULL;
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	atts = status_atts(imap_has(imap, IMAP_CAP_CONDSTORE));
	r = mailimap_status(imap->mi, mailbox, atts, &st);
	mailimap_status_att_list_free(atts);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "STATUS %s", mailbox);
	memset(info_r, 0, sizeof(*info_r));
	for (clistiter *it = imap_first(st->st_info_list); it; it = clist_next(it))
		status_item(clist_content(it), info_r);
	mailimap_mailbox_data_status_free(st);
	return 0;
}

/* Sends "STATUS mailbox (...)" under the next tag, not flushed. */
static int status_send(struct imap *imap, const char *mailbox)
{
	char mbox[1100], *line;
	int r;

	if (!imap_quote_mailbox(mailbox, mbox, sizeof(mbox)))
		return MAILIMAP_ERROR_INVAL;
	r = mailimap_send_current_tag(imap->mi);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	line = xasprintf("STATUS %s (MESSAGES UIDNEXT UIDVALIDITY%s)\r\n", mbox,
			 imap_has(imap, IMAP_CAP_CONDSTORE) ? " HIGHESTMODSEQ" : "");
	r = mailstream_write(imap->mi->imap_stream, line, strlen(line)) < 0 ? MAILIMAP_ERROR_STREAM
									    : MAILIMAP_NO_ERROR;
	free(line);
	return r;
}

/* Reads one STATUS command's answer: 1 OK (info_r filled), 0 NO or BAD,
 * -1 a broken stream (err). */
static int status_read(struct imap *imap, struct imap_mailbox_info *info_r, struct error *err)
{
	struct mailimap_response *response = NULL;
	const struct mailimap_mailbox_data_status *st;
	int r, cond;

	if (!mailimap_read_line(imap->mi))
		return imap_fail(imap, MAILIMAP_ERROR_STREAM, ERR_ACCOUNT, err, "STATUS");
	r = mailimap_parse_response(imap->mi, &response);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_ACCOUNT, err, "STATUS");
	cond = response->rsp_resp_done->rsp_type == MAILIMAP_RESP_DONE_TYPE_TAGGED
		   ? response->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type
		   : MAILIMAP_RESP_COND_STATE_BAD;
	mailimap_response_free(response);
	st = imap->mi->imap_response_info ? imap->mi->imap_response_info->rsp_status : NULL;
	memset(info_r, 0, sizeof(*info_r));
	if (cond != MAILIMAP_RESP_COND_STATE_OK || !st)
		return 0;
	for (clistiter *it = imap_first(st->st_info_list); it; it = clist_next(it))
		status_item(clist_content(it), info_r);
	return 1;
}

int imap_status_many(struct imap *imap, const char *const *mailboxes, size_t n,
		     struct imap_mailbox_info *infos_r, bool *ok_r, struct error *err)
{
	size_t sent = 0;
	int r = MAILIMAP_NO_ERROR, last, *tags;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	tags = xcalloc(n ? n : 1, sizeof(*tags));
	for (size_t i = 0; i < n; i++)
		ok_r[i] = false;
	/* All commands at once (a name that cannot be quoted is left out):
	 * one round trip for every folder instead of one each. */
	while (sent < n && r == MAILIMAP_NO_ERROR) {
		r = status_send(imap, mailboxes[sent]);
		if (r == MAILIMAP_ERROR_INVAL)
			break;
		tags[sent++] = imap->mi->imap_tag;
	}
	if ((r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_INVAL) ||
	    mailstream_flush(imap->mi->imap_stream) < 0) {
		free(tags);
		return imap_fail(imap, r ? r : MAILIMAP_ERROR_STREAM, ERR_ACCOUNT, err, "STATUS");
	}
	/* libetpan checks each tagged answer against the session's tag:
	 * it is set to each command's in turn, and back to the last. */
	last = imap->mi->imap_tag;
	for (size_t i = 0; i < sent && r >= 0; i++) {
		imap->mi->imap_tag = tags[i];
		r = status_read(imap, &infos_r[i], err);
		ok_r[i] = r == 1;
	}
	imap->mi->imap_tag = last;
	free(tags);
	return r < 0 ? -1 : 0;
}

int imap_create(struct imap *imap, const char *mailbox, struct error *err)
{
	const struct mailimap_response_info *ri;
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	r = mailimap_create(imap->mi, mailbox);
	if (r == MAILIMAP_NO_ERROR)
		return 0;
	/* Someone else created it meanwhile: that is what we wanted. */
	ri = imap->mi->imap_response_info;
	if (r == MAILIMAP_ERROR_CREATE && ri && ri->rsp_atom &&
	    strcasecmp(ri->rsp_atom, "ALREADYEXISTS") == 0)
		return 0;
	return imap_fail(imap, r, ERR_FOLDER, err, "CREATE %s", mailbox);
}

int imap_rename(struct imap *imap, const char *from, const char *to, struct error *err)
{
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	r = mailimap_rename(imap->mi, from, to);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "RENAME %s %s", from, to);
	return 0;
}

int imap_delete(struct imap *imap, const char *mailbox, struct error *err)
{
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	r = mailimap_delete(imap->mi, mailbox);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "DELETE %s", mailbox);
	return 0;
}

int imap_noop(struct imap *imap, struct error *err)
{
	int r;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	r = mailimap_noop(imap->mi);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(imap, r, ERR_FOLDER, err, "NOOP");
	return 0;
}
