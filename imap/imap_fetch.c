/* UID FETCH of metadata and of bodies, one message at a time.
 *
 * libetpan parses a whole response before a command returns; only a
 * per-message handler (called only while a progress callback is set,
 * LIBETPAN.md §12) lets us see each message as it is parsed and forget it.
 * The handler is installed for the duration of one command and removed
 * after it, so that unsolicited FETCH responses of other commands keep
 * libetpan's default behaviour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/msgflags.h"
#include "imap/imap_p.h"
#include "imap/message.h"
#include "util/log.h"
#include "util/uidset.h"
#include "util/xalloc.h"

/* Messages per metadata chunk: the raw response text of a whole chunk
 * accumulates in libetpan's stream buffer (~125 bytes a message). */
#define META_CHUNK 2000
/* Mailboxes up to this size get their CHANGEDSINCE in one command. */
#define CHANGEDSINCE_WHOLE 200000u

static void progress_noop(size_t current, size_t maximum, void *ctx)
{
	(void)current;
	(void)maximum;
	(void)ctx;
}

void imap_handler_set(struct imap *imap, mailimap_msg_att_handler *fn, void *ctx)
{
	mailimap_set_msg_att_handler(imap->mi, fn, ctx);
	mailimap_set_progress_callback(imap->mi, fn ? progress_noop : NULL,
				       fn ? progress_noop : NULL, NULL);
}

static uint32_t msg_uid(const struct mailimap_msg_att *att)
{
	for (clistiter *it = imap_first(att->att_list); it; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC && item->att_data.att_static &&
		    item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
			return item->att_data.att_static->att_data.att_uid;
	}
	return 0;
}

/* -------------------------------------------------------------- metadata */

struct meta_run {
	struct imap *imap;
	imap_meta_fn *fn;
	void *ctx;
	uint32_t lo, hi;     /* the chunk's range, within UIDNEXT (imap_uid_bound) */
	bool star;	     /* it was asked as lo:* */
	size_t n_unasked;    /* responses for UIDs outside it, ignored */
	uint32_t unasked_eg; /* one of them, for the log */
	size_t seen;	     /* messages of the chunk reported so far */
	uint32_t first_seen; /* the lowest UID among them */
	struct imap_kw kw;   /* keyword buffer, reused */
	bool full;	     /* a listing of the whole mailbox: UIDs are kept */
	uint32_t *all;	     /* then every UID reported, for the count */
	size_t n_all, cap_all;
};

static void kw_add(struct imap_kw *kw, const char *prefix, const char *word)
{
	size_t need = kw->len + strlen(prefix) + strlen(word) + 2;

	kw->s = xgrow(kw->s, &kw->cap, need, 1);
	kw->len += (size_t)snprintf(kw->s + kw->len, kw->cap - kw->len, "%s%s%s",
				    kw->len ? " " : "", prefix, word);
}

static void parse_flag(struct imap_kw *kw, const struct mailimap_flag *f, unsigned *flags)
{
	switch (f->fl_type) {
	case MAILIMAP_FLAG_ANSWERED:
		*flags |= MF_ANSWERED;
		break;
	case MAILIMAP_FLAG_FLAGGED:
		*flags |= MF_FLAGGED;
		break;
	case MAILIMAP_FLAG_DELETED:
		*flags |= MF_DELETED;
		break;
	case MAILIMAP_FLAG_SEEN:
		*flags |= MF_SEEN;
		break;
	case MAILIMAP_FLAG_DRAFT:
		*flags |= MF_DRAFT;
		break;
	case MAILIMAP_FLAG_KEYWORD:
		/* Keywords are case-insensitive (RFC 3501 §2.3.2). */
		if (strcasecmp(f->fl_data.fl_keyword, "$Forwarded") == 0)
			*flags |= MF_FORWARDED;
		else
			kw_add(kw, "", f->fl_data.fl_keyword);
		break;
	case MAILIMAP_FLAG_EXTENSION:
		/* An unknown system flag: kept, with its backslash. */
		kw_add(kw, "\\", f->fl_data.fl_extension);
		break;
	}
}

static void parse_flags(struct imap_kw *kw, const struct mailimap_msg_att_dynamic *dyn,
			struct imap_meta *m)
{
	for (clistiter *it = dyn ? imap_first(dyn->att_list) : NULL; it; it = clist_next(it)) {
		const struct mailimap_flag_fetch *ff = clist_content(it);

		/* \Recent belongs to one session and is not synced. */
		if (ff->fl_type == MAILIMAP_FLAG_FETCH_OTHER && ff->fl_flag)
			parse_flag(kw, ff->fl_flag, &m->flags);
	}
}

/* INTERNALDATE with its zone (+hhmm as an integer) to a time_t. */
static time_t date_to_time(const struct mailimap_date_time *dt)
{
	struct tm tm = {.tm_year = dt->dt_year - 1900,
			.tm_mon = dt->dt_month - 1,
			.tm_mday = dt->dt_day,
			.tm_hour = dt->dt_hour,
			.tm_min = dt->dt_min,
			.tm_sec = dt->dt_sec};
	int z = dt->dt_zone < 0 ? -dt->dt_zone : dt->dt_zone;
	long off = (z / 100) * 3600L + (z % 100) * 60L;

	return timegm(&tm) - (dt->dt_zone < 0 ? -off : off);
}

/* Returns true when the item was RFC822.SIZE. */
static bool parse_static(const struct mailimap_msg_att_static *st, struct imap_meta *m)
{
	switch (st->att_type) {
	case MAILIMAP_MSG_ATT_UID:
		m->uid = st->att_data.att_uid;
		break;
	case MAILIMAP_MSG_ATT_RFC822_SIZE:
		m->size = st->att_data.att_rfc822_size;
		return true;
	case MAILIMAP_MSG_ATT_INTERNALDATE:
		if (st->att_data.att_internal_date)
			m->internaldate = date_to_time(st->att_data.att_internal_date);
		break;
	default:
		break;
	}
	return false;
}

static void parse_ext(const struct mailimap_extension_data *ext, struct imap_meta *m)
{
	if (!ext || !ext->ext_data)
		return;
	if (ext->ext_extension->ext_id == MAILIMAP_EXTENSION_CONDSTORE &&
	    ext->ext_type == MAILIMAP_CONDSTORE_TYPE_FETCH_DATA)
		m->modseq =
		    ((struct mailimap_condstore_fetch_mod_resp *)ext->ext_data)->cs_modseq_value;
	else if (ext->ext_extension->ext_id == MAILIMAP_EXTENSION_XGMMSGID)
		m->gm_msgid = *(uint64_t *)ext->ext_data;
}

bool imap_meta_parse(const struct mailimap_msg_att *att, struct imap_kw *kw, struct imap_meta *m)
{
	bool has_size = false;

	memset(m, 0, sizeof(*m));
	kw->len = 0;
	for (clistiter *it = imap_first(att->att_list); it; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC)
			parse_flags(kw, item->att_data.att_dyn, m);
		else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
			 item->att_data.att_static)
			has_size |= parse_static(item->att_data.att_static, m);
		else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_EXTENSION)
			parse_ext(item->att_data.att_extension_data, m);
	}
	m->keywords = kw->len ? kw->s : NULL;
	return has_size;
}

static void meta_handler(struct mailimap_msg_att *att, void *ctx)
{
	struct meta_run *run = ctx;
	struct imap_meta m;

	/* Without RFC822.SIZE it is an unsolicited flag update, not the
	 * answer to our command. */
	if (!imap_meta_parse(att, &run->kw, &m))
		return;
	/* UID FETCH n:* answers with the last message even when its UID is
	 * below n (RFC 3501 §6.4.8), and unsolicited responses can name any
	 * message, even one beyond UIDNEXT that never was: only the chunk's
	 * own range counts. */
	if (m.uid == 0 || m.uid < run->lo || m.uid > run->hi) {
		if (!(run->star && m.uid < run->lo)) {
			run->n_unasked++;
			run->unasked_eg = m.uid;
		}
		return;
	}
	if (run->seen++ == 0 || m.uid < run->first_seen)
		run->first_seen = m.uid;
	if (run->full) {
		run->all = xgrow(run->all, &run->cap_all, run->n_all + 1, sizeof(*run->all));
		run->all[run->n_all++] = m.uid;
	}
	run->fn(&m, run->ctx);
}

static struct mailimap_fetch_type *meta_fetch_type(struct imap *imap)
{
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();

	if (!ft || mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid()) ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_flags()) ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size()) ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_internaldate()))
		abort();
	if (imap_has(imap, IMAP_CAP_CONDSTORE) &&
	    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_modseq()))
		abort();
	if (imap_has(imap, IMAP_CAP_XGM) &&
	    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_xgmmsgid()))
		abort();
	return ft;
}

/* Messages the server said are gone during the last command: EXPUNGE
 * responses, and the UIDs of VANISHED ones (QRESYNC). */
static size_t gone_in_answer(const struct imap *imap)
{
	const struct mailimap_response_info *ri = imap->mi->imap_response_info;

	if (!ri)
		return 0;
	return (ri->rsp_expunged ? (size_t)clist_count(ri->rsp_expunged) : 0) +
	       imap_vanished_count(ri->rsp_extension_list);
}

/* One UID FETCH lo:hi (hi 0: "*") of the chunk in run; *gone_r gets what
 * the answer expunged. */
static int meta_chunk(struct meta_run *run, uint32_t hi_wire, uint64_t changedsince, size_t *gone_r,
		      struct error *err)
{
	struct imap *imap = run->imap;
	struct mailimap_set *set = mailimap_set_new_interval(run->lo, hi_wire);
	struct mailimap_fetch_type *ft = meta_fetch_type(imap);
	clist *result = NULL;
	int r;

	if (!set)
		abort();
	imap_handler_set(imap, meta_handler, run);
	if (changedsince > 0 && imap_has(imap, IMAP_CAP_CONDSTORE))
		r = mailimap_uid_fetch_changedsince(imap->mi, set, ft, changedsince, &result);
	else
		r = mailimap_uid_fetch(imap->mi, set, ft, &result);
	imap_handler_set(imap, NULL, NULL);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) { /* libetpan freed result itself */
		char hi[16] = "*";

		if (hi_wire)
			snprintf(hi, sizeof(hi), "%u", hi_wire);
		return imap_fail(imap, r, ERR_FOLDER, err, "UID FETCH %u:%s (metadata)", run->lo,
				 hi);
	}
	mailimap_fetch_list_free(result);
	if (run->n_unasked)
		log_debug("imap: UID FETCH %u:%u (metadata): ignored %zu responses for UIDs not "
			  "asked for (UID %u, ...)",
			  run->lo, run->hi, run->n_unasked, run->unasked_eg);
	*gone_r += gone_in_answer(imap);
	return imap_check_mailbox(imap, err);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* A listing of the whole mailbox must name every message EXISTS counts
 * (less those expunged meanwhile): a server that leaves some out (a
 * tagged NO is caught elsewhere, an OK is not) would otherwise have them
 * taken for deleted, and deleted here. New arrivals during the listing
 * may or may not be in it; they only make EXISTS larger afterwards, so
 * the count before is the one that binds. Duplicate UIDs count once. */
static int check_complete(struct meta_run *run, uint32_t exists, size_t gone, struct error *err)
{
	size_t n = 0, need = exists > gone ? exists - gone : 0;

	qsort(run->all, run->n_all, sizeof(*run->all), cmp_u32);
	for (size_t i = 0; i < run->n_all; i++)
		n += i == 0 || run->all[i] != run->all[i - 1];
	if (n >= need)
		return 0;
	error_set(err, ERR_FOLDER, RETRY_BACKOFF,
		  "UID FETCH 1:* (metadata): the server listed %zu messages, but the mailbox "
		  "holds %zu (EXISTS %u%s): an incomplete answer, not acted upon",
		  n, need, exists, gone ? ", less those expunged meanwhile" : "");
	return -1;
}

/* How the UID range is cut into commands. Only whole UID FETCH commands
 * bound libetpan's buffer, and UIDs can be sparse (Gmail's are), so the
 * width of the next chunk follows the density of the last one. Sequence
 * numbers would cut exactly, but an out-of-range one is a BAD (Dovecot),
 * and libetpan does not count VANISHED, so its EXISTS can be too high. */
struct meta_plan {
	uint64_t step;	    /* width of the next chunk in UIDs */
	uint64_t max_width; /* a chunk never spans more UIDs */
	uint64_t growth;    /* nor grows faster than this per chunk */
	size_t seen_total;  /* messages reported so far */
};

/* A full listing spans at most 16 chunks' worth of UIDs per command, so
 * that a dense region after a sparse one cannot make one huge response.
 * A CHANGEDSINCE answer holds only changed messages: its size depends on
 * them, not on the width, and wide chunks save round trips. */
static void plan_init(struct meta_plan *pl, struct imap *imap, uint64_t changedsince)
{
	const struct mailimap_selection_info *si = imap->mi->imap_selection_info;

	memset(pl, 0, sizeof(*pl));
	pl->max_width = changedsince ? UINT32_MAX : 16 * META_CHUNK;
	pl->growth = changedsince ? 8 : 2;
	pl->step = META_CHUNK;
	/* The mailbox's mean density, from SELECT's EXISTS and UIDNEXT. */
	if (si && si->sel_exists > 0 && si->sel_uidnext > si->sel_exists)
		pl->step = (uint64_t)META_CHUNK * si->sel_uidnext / si->sel_exists;
	if (pl->step > pl->max_width)
		pl->step = pl->max_width;
	/* Even if every message changed, this many fit in tens of MB: then
	 * one command, one round trip. */
	if (changedsince && si && si->sel_exists <= CHANGEDSINCE_WHOLE)
		pl->step = UINT32_MAX;
}

/* span: the UIDs from the first message seen to the end of the chunk. The
 * density next to the end predicts the next chunk better than the whole
 * chunk's (a sparse start would make it look too thin). */
static void plan_next(struct meta_plan *pl, size_t seen, uint64_t span)
{
	uint64_t want = seen ? span * META_CHUNK / seen : pl->step * pl->growth;

	pl->seen_total += seen;
	if (want > pl->step * pl->growth)
		want = pl->step * pl->growth;
	if (want < pl->step / 4)
		want = pl->step / 4;
	if (want < 1)
		want = 1;
	if (want > pl->max_width)
		want = pl->max_width;
	pl->step = want;
}

/* True when what is left of the mailbox fits in one chunk: the messages
 * not yet reported number at most EXISTS - seen (EXISTS follows new mail;
 * without VANISHED counted it can only be too high, which is safe). */
static bool plan_rest_fits(const struct meta_plan *pl, struct imap *imap, uint64_t changedsince)
{
	const struct mailimap_selection_info *si = imap->mi->imap_selection_info;

	return !changedsince && si && si->sel_exists <= pl->seen_total + META_CHUNK;
}

/* The highest UID worth asking for without "*": UIDNEXT - 1 of SELECT. */
static uint32_t known_last_uid(struct imap *imap)
{
	const struct mailimap_selection_info *si = imap->mi->imap_selection_info;

	return si && si->sel_uidnext > 1 ? si->sel_uidnext - 1 : UINT32_MAX;
}

int imap_fetch_meta(struct imap *imap, uint32_t uid_lo, uint32_t uid_hi, uint64_t changedsince,
		    imap_meta_fn *fn, void *ctx, struct error *err)
{
	struct meta_run run = {.imap = imap, .fn = fn, .ctx = ctx, .lo = uid_lo ? uid_lo : 1};
	uint32_t end = uid_hi ? uid_hi : known_last_uid(imap), exists;
	const struct mailimap_selection_info *si = imap->mi->imap_selection_info;
	struct meta_plan pl;
	size_t gone = 0;
	int ret = 0;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	if (uid_hi && uid_hi < run.lo)
		return 0;
	exists = si ? si->sel_exists : 0;
	run.full = run.lo == 1 && uid_hi == 0 &&
		   (changedsince == 0 || !imap_has(imap, IMAP_CAP_CONDSTORE));
	plan_init(&pl, imap, changedsince);
	for (;;) {
		bool last = plan_rest_fits(&pl, imap, changedsince) ||
			    (uint64_t)run.lo + pl.step - 1 >= end;
		uint32_t hi_wire = last ? uid_hi : (uint32_t)(run.lo + pl.step - 1);

		imap_uid_bound(imap, hi_wire, &run.hi);
		run.star = hi_wire == 0;
		run.n_unasked = 0;
		run.seen = 0;
		run.first_seen = 0;
		ret = meta_chunk(&run, hi_wire, changedsince, &gone, err);
		if (ret < 0 || last)
			break;
		plan_next(&pl, run.seen, (uint64_t)hi_wire - run.first_seen + 1);
		run.lo = hi_wire + 1;
	}
	if (ret == 0 && run.full)
		ret = check_complete(&run, exists, gone, err);
	free(run.kw.s);
	free(run.all);
	return ret;
}

/* ---------------------------------------------------------------- bodies */

/* How a batch of bodies is fetched. A server that offers BINARY (RFC
 * 3516) can send the NUL bytes of a message, which its BODY[] turns into
 * 0x80 (Dovecot) without a word; but its BINARY[] of a message whose own
 * Content-Transfer-Encoding is base64 or quoted-printable comes back
 * decoded, with another header (Dovecot): not the message either. So
 * BODY[] is fetched first, and a message holding a 0x80 byte outside a
 * well-formed UTF-8 sequence (message_has_stray_0x80) is fetched again
 * with both sections: BINARY[] is kept when it is BODY[] with some 0x80
 * bytes made NUL, else BODY[] is. When the server refuses the second
 * fetch (NO [UNKNOWN-CTE]), a third one asks for BODY[] alone. */
enum body_pass {
	PASS_BODY,  /* BODY.PEEK[]; 0x80 marks the message for PASS_BOTH */
	PASS_BOTH,  /* BODY.PEEK[] BINARY.PEEK[] */
	PASS_PLAIN, /* BODY.PEEK[], taken as it comes */
};

struct body_run {
	imap_body_fn *fn;
	void *ctx;
	uint32_t piece_at, piece_len; /* piece_len 0: whole messages */
	const uint32_t *uids;	      /* sorted, unique */
	size_t n;
	bool *got;   /* per uid: delivered and accepted */
	bool *again; /* per uid: to be fetched with BINARY[] */
	size_t n_got, n_refused, n_again;
	size_t n_other;	  /* answers with another section than BODY[] */
	size_t n_unasked; /* bodies of UIDs not asked for, ignored */
	uint32_t unasked_eg;
	enum body_pass pass;
	bool binary;	   /* the server offers BINARY */
	bool said_no;	   /* a command ended with a tagged NO */
	char no_text[600]; /* its text */
};

/* The BODY[] of a response: the whole message. A server that answers
 * with another section (BODY[HEADER], BODY[TEXT], BODY[1]) sends part of
 * it, which must never be stored as the message. (A partial BODY[]<0> is
 * not told apart: libetpan keeps no trace of the "<0>".) */
static const struct mailimap_msg_att_body_section *msg_body(const struct mailimap_msg_att *att,
							    bool *other_r)
{
	*other_r = false;
	for (clistiter *it = imap_first(att->att_list); it; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_msg_att_static *st = item->att_data.att_static;
		const struct mailimap_msg_att_body_section *sec;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !st ||
		    st->att_type != MAILIMAP_MSG_ATT_BODY_SECTION || !st->att_data.att_body_section)
			continue;
		sec = st->att_data.att_body_section;
		if (!sec->sec_section || !sec->sec_section->sec_spec)
			return sec;
		*other_r = true;
	}
	return NULL;
}

/* Whether bin is body with some of its 0x80 bytes NUL: the bytes a server
 * that offers BINARY keeps, and not a decoded copy. */
static bool binary_restores(const char *body, size_t len, const char *bin, size_t bin_len)
{
	if (bin_len != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (bin[i] != body[i] && !(bin[i] == '\0' && (unsigned char)body[i] == 0x80))
			return false;
	return true;
}

static void body_handler(struct mailimap_msg_att *att, void *ctx)
{
	struct body_run *run = ctx;
	bool other;
	const struct mailimap_msg_att_body_section *sec = msg_body(att, &other);
	uint32_t uid = msg_uid(att);
	const uint32_t *hit;
	const char *data, *bin;
	size_t i, len, bin_len;

	run->n_other += other && !sec;
	if (!sec || !sec->sec_body_part || uid == 0)
		return; /* a flag update, or a body the server could not give */
	hit = bsearch(&uid, run->uids, run->n, sizeof(*run->uids), cmp_u32);
	if (!hit) {
		run->n_unasked++;
		run->unasked_eg = uid;
		return;
	}
	i = (size_t)(hit - run->uids);
	if (run->got[i])
		return;
	data = sec->sec_body_part;
	len = sec->sec_length;
	/* UTF-8 text has 0x80 bytes too: only a stray one may be a NUL. */
	if (run->pass == PASS_BODY && run->binary && message_has_stray_0x80(data, len)) {
		run->n_again += !run->again[i];
		run->again[i] = true;
		return;
	}
	if (run->pass == PASS_BOTH && imap_binary_whole(att, &bin, &bin_len) &&
	    binary_restores(data, len, bin, bin_len) && memcmp(data, bin, len) != 0) {
		log_debug("imap: UID %u: BINARY[] gives back NUL bytes that BODY[] shows as 0x80",
			  uid);
		data = bin;
	}
	if (run->fn(uid, data, len, run->ctx) == 0) {
		run->got[i] = true;
		run->n_got++;
	} else {
		run->n_refused++;
	}
}

static void fetch_type_add(struct mailimap_fetch_type *ft, struct mailimap_fetch_att *att)
{
	if (!att || mailimap_fetch_type_new_fetch_att_list_add(ft, att))
		abort();
}

/* UID and BODY.PEEK[] (or BODY.PEEK[]<at.len> for a piece), and in
 * PASS_BOTH the same BINARY.PEEK[] (libetpan sends an extension's text as
 * it is; imap/imap_binary.c parses the answer). */
static struct mailimap_fetch_type *body_fetch_type(const struct body_run *run)
{
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	struct mailimap_section *sec = mailimap_section_new(NULL);
	char bin[64] = "BINARY.PEEK[]";

	if (!ft || !sec)
		abort();
	fetch_type_add(ft, mailimap_fetch_att_new_uid());
	fetch_type_add(ft, run->piece_len ? mailimap_fetch_att_new_body_peek_section_partial(
						sec, run->piece_at, run->piece_len)
					  : mailimap_fetch_att_new_body_peek_section(sec));
	if (run->pass != PASS_BOTH)
		return ft;
	if (run->piece_len)
		snprintf(bin, sizeof(bin), "BINARY.PEEK[]<%u.%u>", run->piece_at, run->piece_len);
	fetch_type_add(ft, mailimap_fetch_att_new_extension(xstrdup(bin)));
	return ft;
}

/* Up to five of the UIDs that did not come back, for the message. */
static void missing_list(const struct body_run *run, char *buf, size_t cap)
{
	size_t len = 0, shown = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < run->n && len + 1 < cap; i++) {
		if (run->got[i])
			continue;
		if (shown == 5) {
			snprintf(buf + len, cap - len, ", ...");
			break;
		}
		len +=
		    (size_t)snprintf(buf + len, cap - len, "%s%u", shown ? ", " : "", run->uids[i]);
		shown++;
	}
}

/* The outcome once every command is over: 0, 1 with the UIDs missing, or
 * -1 when the server refused everything. */
static int body_outcome(const struct body_run *run, struct error *err)
{
	char missing[128];

	if (run->said_no && run->n_got + run->n_refused == 0) {
		error_set(err, ERR_FOLDER, RETRY_BACKOFF, "UID FETCH (%zu bodies): %s", run->n,
			  run->no_text);
		return -1;
	}
	if (run->n_got == run->n)
		return 0;
	missing_list(run, missing, sizeof(missing));
	error_set(err, ERR_MESSAGE, RETRY_BACKOFF,
		  "UID FETCH: %zu of %zu messages not received (UID %s)%s%s%s%s",
		  run->n - run->n_got, run->n, missing,
		  run->n_refused ? "; some refused by the caller" : "",
		  run->n_other ? "; the server sent a part (another section than BODY[]) "
				 "instead of a whole message, not stored"
			       : "",
		  run->said_no ? ": " : "", run->said_no ? run->no_text : "");
	return 1;
}

/* One UID FETCH of the n sorted UIDs at uids. 0 when the command completed,
 * even with a NO (noted in run), -1 when it failed as a whole. */
static int body_chunk(struct imap *imap, struct body_run *run, const uint32_t *uids, size_t n,
		      struct error *err)
{
	struct mailimap_set *set = imap_set_new(uids, n);
	struct mailimap_fetch_type *ft = body_fetch_type(run);
	clist *result = NULL;
	int r;

	run->n_unasked = 0;
	imap_handler_set(imap, body_handler, run);
	r = mailimap_uid_fetch(imap->mi, set, ft, &result);
	imap_handler_set(imap, NULL, NULL);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (run->n_unasked)
		log_debug("imap: UID FETCH (%zu bodies): ignored %zu bodies of UIDs not asked for "
			  "(UID %u, ...)",
			  n, run->n_unasked, run->unasked_eg);
	if (r == MAILIMAP_NO_ERROR) {
		mailimap_fetch_list_free(result);
		return imap_check_mailbox(imap, err);
	}
	/* With the handler a tagged NO is an error even when part of the
	 * data came (Gmail: "Some messages could not be FETCHed"): it is
	 * judged per message, with the server's text. */
	if (r == MAILIMAP_ERROR_UID_FETCH) {
		run->said_no = true;
		imap_server_text(imap, run->no_text, sizeof(run->no_text));
		return imap_check_mailbox(imap, err);
	}
	return imap_fail(imap, r, ERR_FOLDER, err, "UID FETCH (%zu bodies)", n);
}

/* The commands of one pass over the n sorted UIDs at uids: one unless the
 * set is too fragmented for one line. */
static int body_pass_run(struct imap *imap, struct body_run *run, const uint32_t *uids, size_t n,
			 struct error *err)
{
	size_t len;
	int ret = 0;

	for (size_t pos = 0; pos < n && ret == 0; pos += len) {
		len = uidset_prefix_len(uids + pos, n - pos, IMAP_MAX_RUNS);
		ret = body_chunk(imap, run, uids + pos, len, err);
	}
	return ret;
}

/* Fetches again, in pass, the messages PASS_BODY marked and no pass has
 * delivered yet. A NO to PASS_BOTH is not the message's fault (the server
 * may refuse BINARY[] of some content): PASS_PLAIN follows. */
static int body_again(struct imap *imap, struct body_run *run, enum body_pass pass,
		      struct error *err)
{
	uint32_t *todo = xmalloc(run->n * sizeof(*todo));
	bool said_no = run->said_no;
	size_t k = 0;
	int ret;

	for (size_t i = 0; i < run->n; i++)
		if (run->again[i] && !run->got[i])
			todo[k++] = run->uids[i];
	run->pass = pass;
	ret = k ? body_pass_run(imap, run, todo, k, err) : 0;
	if (pass == PASS_BOTH)
		run->said_no = said_no;
	free(todo);
	return ret;
}

/* All passes of a run whose uids, n, got and again are set. */
static int body_run_all(struct imap *imap, struct body_run *run, struct error *err)
{
	int ret;

	run->binary = imap_has(imap, IMAP_CAP_BINARY);
	run->pass = PASS_BODY;
	ret = body_pass_run(imap, run, run->uids, run->n, err);
	if (ret == 0 && run->n_again)
		ret = body_again(imap, run, PASS_BOTH, err);
	if (ret == 0 && run->n_again)
		ret = body_again(imap, run, PASS_PLAIN, err);
	if (ret == 0 && run->n > 0)
		ret = body_outcome(run, err);
	return ret;
}

int imap_fetch_bodies(struct imap *imap, const uint32_t *uids, size_t n, imap_body_fn *fn,
		      void *ctx, struct error *err)
{
	struct body_run run = {.fn = fn, .ctx = ctx};
	uint32_t *sorted;
	int ret;

	if (imap_check_alive(imap, err) < 0)
		return -1;
	sorted = imap_uids_sorted(uids, n, &run.n);
	run.uids = sorted;
	run.got = xcalloc(run.n ? run.n : 1, sizeof(*run.got));
	run.again = xcalloc(run.n ? run.n : 1, sizeof(*run.again));
	ret = body_run_all(imap, &run, err);
	free(run.again);
	free(run.got);
	free(sorted);
	return ret;
}

int imap_fetch_body_piece(struct imap *imap, uint32_t uid, uint32_t at, uint32_t len,
			  imap_body_fn *fn, void *ctx, struct error *err)
{
	bool got = false, again = false;
	struct body_run run = {.fn = fn,
			       .ctx = ctx,
			       .piece_at = at,
			       .piece_len = len,
			       .uids = &uid,
			       .n = 1,
			       .got = &got,
			       .again = &again};

	if (len == 0 || imap_check_alive(imap, err) < 0)
		return len == 0 ? 0 : -1;
	return body_run_all(imap, &run, err);
}
