/* Pure parsers of other tools' sync state; see peer_state.h. The formats
 * were read from isync 1.4 and offlineimap3 8.0 and checked against files
 * those programs wrote (tests/unit/test_peer_state.c). */
#include "store/peer_state.h"

#include <stdlib.h>
#include <string.h>

#include "util/msgflags.h"
#include "util/xalloc.h"

const char *peer_tool_name(enum peer_tool tool)
{
	switch (tool) {
	case PEER_MBSYNC:
		return "mbsync";
	case PEER_OFFLINEIMAP:
		return "offlineimap";
	case PEER_NONE:
		break;
	}
	return "none";
}

unsigned peer_state_flags_from_letters(const char *s, size_t len)
{
	unsigned flags = 0;

	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case 'D':
			flags |= MF_DRAFT;
			break;
		case 'F':
			flags |= MF_FLAGGED;
			break;
		case 'P':
			flags |= MF_FORWARDED;
			break;
		case 'R':
			flags |= MF_ANSWERED;
			break;
		case 'S':
			flags |= MF_SEEN;
			break;
		case 'T':
			flags |= MF_DELETED;
			break;
		}
	}
	return flags;
}

/* A line cursor over a buffer that need not be NUL-terminated. */
struct lines {
	const char *p, *end;
	unsigned no; /* number of the line last returned, from 1 */
};

/* The next line without its '\n' in *s, *n. A last line without '\n' is
 * returned too; the caller decides whether that is acceptable via *nl. */
static bool lines_next(struct lines *l, const char **s, size_t *n, bool *nl)
{
	if (l->p >= l->end)
		return false;
	const char *e = memchr(l->p, '\n', (size_t)(l->end - l->p));
	*s = l->p;
	*nl = e != NULL;
	if (!e)
		e = l->end;
	*n = (size_t)(e - l->p);
	l->p = e < l->end ? e + 1 : e;
	l->no++;
	return true;
}

/* Decimal digits at s[*i..len) into a 32-bit value; advances *i. */
static bool parse_u32(const char *s, size_t len, size_t *i, uint32_t *r)
{
	uint64_t v = 0;
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (uint64_t)(s[*i] - '0');
		if (v > UINT32_MAX)
			return false;
		(*i)++;
	}
	*r = (uint32_t)v;
	return *i > start;
}

static void skip_spaces(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\t'))
		(*i)++;
}

/* One header line "Key value" of an mbsync state. */
static int mbsync_header(const char *s, size_t n, struct peer_mbsync_state *r)
{
	size_t k = 0, i;
	uint32_t v;

	while (k < n && s[k] != ' ')
		k++;
	i = k;
	skip_spaces(s, n, &i);
	if (!parse_u32(s, n, &i, &v) || i != n)
		return -1;
#define KEY(lit) (k == sizeof(lit) - 1 && memcmp(s, lit, k) == 0)
	/* Master/Slave are the names before isync 1.4. */
	if (KEY("FarUidValidity") || KEY("MasterUidValidity"))
		r->far_uidvalidity = v;
	else if (KEY("NearUidValidity") || KEY("SlaveUidValidity"))
		r->near_uidvalidity = v;
	else if (!KEY("MaxPulledUid") && !KEY("MaxPushedUid") && !KEY("MaxExpiredFarUid") &&
		 !KEY("MaxExpiredMasterUid") && !KEY("MaxExpiredSlaveUid"))
		return -1;
#undef KEY
	return 0;
}

/* One entry "far near [<>][^~X]letters". Returns 1 kept, 0 left out, -1
 * malformed. */
static int mbsync_entry(const char *s, size_t n, struct peer_mbsync_pair *p)
{
	size_t i = 0;
	bool placeholder = false;

	if (!parse_u32(s, n, &i, &p->far_uid) || i >= n || s[i] != ' ')
		return -1;
	skip_spaces(s, n, &i);
	if (!parse_u32(s, n, &i, &p->near_uid))
		return -1;
	skip_spaces(s, n, &i);
	if (i < n && (s[i] == '<' || s[i] == '>')) {
		placeholder = true;
		i++;
	}
	if (i < n && (s[i] == '^' || s[i] == '~' || s[i] == 'X'))
		i++;
	for (size_t j = i; j < n; j++)
		if (s[j] < 'A' || s[j] > 'Z')
			return -1;
	p->flags = peer_state_flags_from_letters(s + i, n - i);
	/* (uint32_t)-1 marked a skipped side before isync 1.3. */
	if (p->near_uid == UINT32_MAX)
		p->near_uid = 0;
	if (placeholder || p->far_uid == 0 || p->far_uid == UINT32_MAX)
		return 0;
	return 1;
}

int peer_state_parse_mbsync(const char *buf, size_t len, struct peer_mbsync_state *r,
			    struct error *err)
{
	struct lines l = {buf, buf + len, 0};
	const char *s;
	size_t n, cap = 0;
	bool nl, in_header = true;

	memset(r, 0, sizeof(*r));
	while (lines_next(&l, &s, &n, &nl)) {
		if (!nl)
			goto bad; /* mbsync writes whole lines; this one was cut */
		if (in_header) {
			if (n == 0)
				in_header = false;
			else if (l.no == 1 && n > 0 && s[0] >= '0' && s[0] <= '9')
				goto bad; /* the pre-1.1 one-line header: not read */
			else if (mbsync_header(s, n, r) < 0)
				goto bad;
			continue;
		}
		struct peer_mbsync_pair p;
		int rc = mbsync_entry(s, n, &p);
		if (rc < 0)
			goto bad;
		if (rc == 0)
			continue;
		if (r->n == cap) {
			cap = cap ? cap * 2 : 64;
			r->pairs = xrealloc(r->pairs, cap * sizeof(*r->pairs));
		}
		r->pairs[r->n++] = p;
	}
	if (in_header || !r->far_uidvalidity || !r->near_uidvalidity) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "mbsync state: no complete header");
		return -1;
	}
	return 0;
bad:
	error_set(err, ERR_FOLDER, RETRY_NEVER, "mbsync state: line %u: not understood", l.no);
	return -1;
}

void peer_state_mbsync_deinit(struct peer_mbsync_state *st)
{
	free(st->pairs);
	memset(st, 0, sizeof(*st));
}

int peer_state_parse_uidvalidity(const char *buf, size_t len, uint32_t *r)
{
	size_t i = 0;

	if (!parse_u32(buf, len, &i, r) || *r == 0)
		return -1;
	if (i < len && buf[i] != '\n')
		return -1;
	return 0;
}

#define OI_MAGIC "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT "

/* One status line: "uid:flags" (format 1) or "uid|flags|mtime|labels". */
static int oi_line(const char *s, size_t n, int format, struct peer_uid_flags *p)
{
	size_t i = 0;
	char sep = format == 1 ? ':' : '|';

	if (!parse_u32(s, n, &i, &p->uid) || p->uid == 0 || i >= n || s[i] != sep)
		return -1;
	size_t f = ++i;
	while (i < n && s[i] != sep)
		i++;
	if (format == 2 && i == n)
		return -1; /* mtime and labels are missing */
	if (format == 1 && i != n)
		return -1;
	p->flags = peer_state_flags_from_letters(s + f, i - f);
	return 0;
}

int peer_state_parse_offlineimap(const char *buf, size_t len, struct peer_uid_flags **recs_r,
				 size_t *n_r, struct error *err)
{
	struct lines l = {buf, buf + len, 0};
	struct peer_uid_flags *recs = NULL;
	size_t n = 0, cap = 0, ln;
	const char *s;
	bool nl;
	int format = 0;

	*recs_r = NULL;
	*n_r = 0;
	if (lines_next(&l, &s, &ln, &nl) && ln == sizeof(OI_MAGIC) &&
	    memcmp(s, OI_MAGIC, sizeof(OI_MAGIC) - 1) == 0)
		format = s[ln - 1] == '1' ? 1 : s[ln - 1] == '2' ? 2 : 0;
	if (!format) {
		error_set(err, ERR_FOLDER, RETRY_NEVER, "offlineimap status: no known magic line");
		return -1;
	}
	while (lines_next(&l, &s, &ln, &nl)) {
		while (ln > 0 && (s[ln - 1] == ' ' || s[ln - 1] == '\r'))
			ln--;
		if (ln == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			recs = xrealloc(recs, cap * sizeof(*recs));
		}
		if (oi_line(s, ln, format, &recs[n]) < 0) {
			free(recs);
			error_set(err, ERR_FOLDER, RETRY_NEVER,
				  "offlineimap status: line %u: not understood", l.no);
			return -1;
		}
		n++;
	}
	*recs_r = recs;
	*n_r = n;
	return 0;
}

/* The value of field ",<key>=" in unique: its start and length. */
static bool name_field(const char *unique, const char *key, const char **v, size_t *n)
{
	size_t klen = strlen(key);

	for (const char *p = strchr(unique, ','); p; p = strchr(p + 1, ',')) {
		if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '=') {
			*v = p + 2 + klen;
			*n = strcspn(*v, ",:");
			return true;
		}
	}
	return false;
}

bool peer_state_name_uid(const char *unique, const char *fmd5, uint32_t *uid_r)
{
	const char *v, *m;
	size_t n, mn, i = 0;

	if (!name_field(unique, "U", &v, &n))
		return false;
	if (!parse_u32(v, n, &i, uid_r) || i != n || *uid_r == 0)
		return false;
	bool has_md5 = name_field(unique, "FMD5", &m, &mn);
	if (!fmd5)
		return !has_md5;
	return has_md5 && mn == strlen(fmd5) && memcmp(m, fmd5, mn) == 0;
}

bool peer_state_lieer_gm_msgid(const char *unique, uint64_t *gm_r)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; unique[i] && unique[i] != '.'; i++) {
		char c = unique[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	/* Gmail's ids have 15 or 16 digits; 12 keeps room and still refuses
	 * short names that are hex by chance. A leading zero is never written. */
	if (i < 12 || i > 16 || unique[0] == '0')
		return false;
	if (unique[i] == '.') {
		const char *ext = unique + i + 1;
		if (!*ext)
			return false;
		for (; *ext; ext++)
			if (!((*ext >= 'a' && *ext <= 'z') || (*ext >= 'A' && *ext <= 'Z') ||
			      (*ext >= '0' && *ext <= '9')))
				return false;
	}
	*gm_r = v;
	return true;
}
