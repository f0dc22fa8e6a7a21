/* imap_probe: connects with imap/imap.c and shows what it sees, for manual
 * and scripted checks of the IMAP layer against a real server.
 *
 *   imap_probe HOST PORT implicit|starttls|none CAFILE USER PASS [MAILBOX]
 *
 * CAFILE "-" means the system store only. Prints the capabilities and the
 * LIST; with MAILBOX, the SELECT answer, every message's metadata
 * ("uid flags size date") and the sizes of the first 3 bodies. On error it
 * prints the error message and exits 1 (2 for usage).
 *
 * Environment: IMAP_PROBE_TRACE=1 shows the wire trace; IMAP_PROBE_BODIES=N
 * fetches N bodies instead of 3 (0: none, "all": every message);
 * IMAP_PROBE_SAVE=DIR writes each fetched body to DIR/<uid>;
 * IMAP_PROBE_QUIET=1 prints counts instead of one line per message;
 * IMAP_PROBE_MASK=hex masks capabilities (imap_mask_caps);
 * IMAP_PROBE_XOAUTH2=1 sends PASS as an OAuth2 token (AUTHENTICATE XOAUTH2);
 * IMAP_PROBE_TIMEOUT=N sets the network timeout (default 30 s). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/msgflags.h"
#include "imap/imap.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "tests/tools/probe_args.h"

struct probe {
	uint32_t *uids;
	size_t n, cap;
	bool quiet;
	const char *save_dir;
	size_t bodies, body_bytes;
};

static const struct {
	unsigned bit;
	const char *name;
} caps[] = {
    {IMAP_CAP_IDLE, "IDLE"},
    {IMAP_CAP_CONDSTORE, "CONDSTORE"},
    {IMAP_CAP_QRESYNC, "QRESYNC"},
    {IMAP_CAP_UIDPLUS, "UIDPLUS"},
    {IMAP_CAP_MOVE, "MOVE"},
    {IMAP_CAP_SPECIAL_USE, "SPECIAL-USE"},
    {IMAP_CAP_XGM, "X-GM-EXT-1"},
    {IMAP_CAP_ESEARCH, "ESEARCH"},
    {IMAP_CAP_LIST_STATUS, "LIST-STATUS"},
    {IMAP_CAP_LITERAL_PLUS, "LITERAL+"},
    {IMAP_CAP_ENABLE, "ENABLE"},
    {IMAP_CAP_ID, "ID"},
    {IMAP_CAP_XLIST, "XLIST"},
};

static const struct {
	unsigned bit;
	const char *name;
} attrs[] = {
    {IMAP_MBX_NOSELECT, "\\Noselect"},	 {IMAP_MBX_ALL, "\\All"},
    {IMAP_MBX_ARCHIVE, "\\Archive"},	 {IMAP_MBX_DRAFTS, "\\Drafts"},
    {IMAP_MBX_FLAGGED, "\\Flagged"},	 {IMAP_MBX_JUNK, "\\Junk"},
    {IMAP_MBX_SENT, "\\Sent"},		 {IMAP_MBX_TRASH, "\\Trash"},
    {IMAP_MBX_IMPORTANT, "\\Important"}, {IMAP_MBX_INBOX, "INBOX"},
};

static void print_caps(unsigned c)
{
	printf("capabilities:");
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (c & caps[i].bit)
			printf(" %s", caps[i].name);
	printf("\n");
}

static void print_list(const struct imap_mailbox *mbx, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		printf("list: %s delim=%c attrs=", mbx[i].name, mbx[i].delim ? mbx[i].delim : '-');
		for (size_t k = 0; k < sizeof(attrs) / sizeof(attrs[0]); k++)
			if (mbx[i].attrs & attrs[k].bit)
				printf("%s,", attrs[k].name);
		printf("\n");
	}
}

static void flags_text(unsigned f, char *buf)
{
	static const char letters[] = "DFPRST";
	size_t n = 0;

	for (unsigned i = 0; i < 6; i++)
		if (f & (1u << i))
			buf[n++] = letters[i];
	if (n == 0)
		buf[n++] = '-';
	buf[n] = '\0';
}

static void on_meta(const struct imap_meta *m, void *ctx)
{
	struct probe *p = ctx;
	char fl[8];

	p->uids = xgrow(p->uids, &p->cap, p->n + 1, sizeof(*p->uids));
	p->uids[p->n++] = m->uid;
	if (p->quiet)
		return;
	flags_text(m->flags, fl);
	printf("msg: uid=%" PRIu32 " flags=%s%s%s size=%" PRIu32 " date=%lld modseq=%" PRIu64
	       " gm_msgid=%" PRIu64 "\n",
	       m->uid, fl, m->keywords ? " kw=" : "", m->keywords ? m->keywords : "", m->size,
	       (long long)m->internaldate, m->modseq, m->gm_msgid);
}

static int save_body(const char *dir, uint32_t uid, const char *data, size_t len)
{
	char name[32];
	char *path;
	int fd, ret = -1;

	snprintf(name, sizeof(name), "%" PRIu32, uid);
	path = fs_join(dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && fs_write_all(fd, data, len) == 0)
		ret = 0;
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

static int on_body(uint32_t uid, const char *data, size_t len, void *ctx)
{
	struct probe *p = ctx;

	p->bodies++;
	p->body_bytes += len;
	if (!p->quiet)
		printf("body: uid=%" PRIu32 " size=%zu\n", uid, len);
	if (p->save_dir && save_body(p->save_dir, uid, data, len) < 0)
		return -1;
	return 0;
}

static size_t bodies_wanted(size_t n)
{
	const char *e = getenv("IMAP_PROBE_BODIES");

	if (!e)
		return n < 3 ? n : 3;
	if (strcmp(e, "all") == 0)
		return n;
	return (size_t)strtoul(e, NULL, 10) < n ? (size_t)strtoul(e, NULL, 10) : n;
}

/* SELECT, all metadata, then some bodies. */
static int probe_mailbox(struct imap *imap, const char *mailbox, struct error *err)
{
	struct probe p = {.quiet = getenv("IMAP_PROBE_QUIET") != NULL,
			  .save_dir = getenv("IMAP_PROBE_SAVE")};
	struct imap_mailbox_info info;
	int ret = -1, r;

	if (imap_select(imap, mailbox, &info, err) < 0)
		goto out;
	printf("select: %s uidvalidity=%" PRIu32 " uidnext=%" PRIu32 " exists=%" PRIu32
	       " highestmodseq=%" PRIu64 "\n",
	       mailbox, info.uidvalidity, info.uidnext, info.exists, info.highestmodseq);
	if (imap_fetch_meta(imap, 1, 0, 0, on_meta, &p, err) < 0)
		goto out;
	printf("meta: %zu messages\n", p.n);
	r = imap_fetch_bodies(imap, p.uids, bodies_wanted(p.n), on_body, &p, err);
	if (r < 0)
		goto out;
	if (r > 0)
		printf("bodies: partial: %s\n", err->msg);
	printf("bodies: %zu fetched, %zu bytes\n", p.bodies, p.body_bytes);
	ret = 0;
out:
	free(p.uids);
	return ret;
}

static int probe(const struct account_conf *acct, const char *pass, const char *mailbox)
{
	struct imap *imap = NULL;
	struct imap_mailbox *mbx = NULL;
	struct error err = {0};
	const char *mask = getenv("IMAP_PROBE_MASK");
	size_t n = 0;
	int ret = 1;

	if (imap_connect(acct, pass, &imap, &err) < 0)
		goto out;
	if (mask)
		imap_mask_caps(imap, (unsigned)strtoul(mask, NULL, 16));
	print_caps(imap_caps(imap));
	if (imap_list(imap, &mbx, &n, &err) < 0)
		goto out;
	print_list(mbx, n);
	if (mailbox && probe_mailbox(imap, mailbox, &err) < 0)
		goto out;
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "imap_probe: error: %s\n", err.msg);
	imap_mailboxes_free(mbx, n);
	imap_free(&imap);
	return ret;
}

int main(int argc, char **argv)
{
	struct account_conf acct;

	if (argc < 7 || argc > 8 || probe_account(argv, &acct) < 0) {
		fprintf(stderr, "usage: imap_probe HOST PORT implicit|starttls|none CAFILE USER "
				"PASS [MAILBOX]\n");
		return 2;
	}
	if (getenv("IMAP_PROBE_XOAUTH2"))
		acct.auth = AUTH_XOAUTH2;
	if (getenv("IMAP_PROBE_TIMEOUT"))
		acct.timeout = (unsigned)strtoul(getenv("IMAP_PROBE_TIMEOUT"), NULL, 10);
	return probe(&acct, argv[6], argc == 8 ? argv[7] : NULL);
}
