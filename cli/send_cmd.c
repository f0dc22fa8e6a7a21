/* `gmaildir send`: the sendmail-compatible entry point. The message on
 * stdin is queued durably in the account's outbox before anything else
 * (so exit 0 means it will not be lost), then submitted at once when the
 * server can be reached; otherwise the daemon, `sync` or `send --flush`
 * send it later. `send --flush` submits every queued message now. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli/cli.h"
#include "smtp/envelope.h"
#include "smtp/outbox.h"
#include "smtp/sendmail_args.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Gmail takes 25 MB; a client that pipes more is broken. */
#define INPUT_MAX (48u << 20)

/* How long send waits for another flusher (the daemon sending other mail)
 * before it leaves its message to it. */
#define LOCK_WAIT_MS 15000

/* stdin, whole; with dot_ends (sendmail without -i) a line holding only
 * "." ends it, as for sendmail. */
static int read_input(bool dot_ends, char **buf_r, size_t *len_r)
{
	size_t cap = 65536, len = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		size_t r;

		if (len == cap) {
			if (cap >= INPUT_MAX) {
				fprintf(stderr, "gmaildir send: the message is larger than %u MB\n",
					INPUT_MAX >> 20);
				free(buf);
				return -1;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = fread(buf + len, 1, cap - len, stdin);
		len += r;
		if (r == 0) {
			if (ferror(stdin)) {
				fprintf(stderr, "gmaildir send: reading the message: %s\n",
					strerror(errno));
				free(buf);
				return -1;
			}
			break;
		}
	}
	if (dot_ends) {
		for (size_t i = 0; i < len; i++) {
			bool bol = i == 0 || buf[i - 1] == '\n';

			if (bol && buf[i] == '.' &&
			    (i + 1 == len || buf[i + 1] == '\n' ||
			     (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'))) {
				len = i;
				break;
			}
		}
	}
	*buf_r = buf;
	*len_r = len;
	return 0;
}

/* The address part of a From field's first mailbox, for picking the
 * account, or NULL. */
static const struct account_conf *account_for(struct cli *cli, const struct send_args *a,
					      const char *from_addr)
{
	const struct config *cfg = cli->config;
	size_t n = config_account_count(cfg);
	const struct account_conf *first = NULL;

	if (a->account) {
		const struct account_conf *acct = config_find_account(cfg, a->account);

		if (!acct)
			fprintf(stderr, "gmaildir send: no account named '%s' in the config\n",
				a->account);
		return acct;
	}
	for (size_t i = 0; i < n; i++) {
		const struct account_conf *acct = config_account(cfg, i);

		if (!acct->smtp.configured)
			continue;
		if (!first)
			first = acct;
		if (from_addr && (strcasecmp(from_addr, acct->user) == 0 ||
				  strcasecmp(from_addr, acct->smtp.user) == 0))
			return acct;
	}
	if (!first)
		fprintf(stderr, "gmaildir send: no account has an outgoing server: add an smtp: "
				"block (see gmaildir.yaml(5))\n");
	return first;
}

/* The unique part of a Message-ID we add: 16 random bytes in hex. */
static char *unique_tag(void)
{
	unsigned char rnd[16];
	char *tag = xmalloc(2 * sizeof(rnd) + 1);
	struct timespec ts;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(rnd, &ts, sizeof(ts) < sizeof(rnd) ? sizeof(ts) : sizeof(rnd));
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(tag + 2 * i, 3, "%02x", rnd[i]);
	return tag;
}

static const char *when(time_t t, char *buf, size_t size)
{
	struct tm tm;
	time_t now = time(NULL);

	if (t <= now)
		return "now";
	localtime_r(&t, &tm);
	strftime(buf, size, "at %H:%M", &tm);
	return buf;
}

/* The one line send prints when the message could not go at once. */
static int report_queued(const struct account_conf *acct, const struct flush_result *res,
			 const struct error *err)
{
	char at[32];
	char *dir = outbox_dir(acct);

	if (res->rejected) {
		fprintf(stderr, "gmaildir send: the server refused the message: %s\n", res->reason);
		fprintf(stderr, "  it is kept in %s/failed/new\n", acct->state_dir);
		free(dir);
		return EXIT_FAILED;
	}
	if (res->busy)
		fprintf(stderr,
			"gmaildir send: queued in %s; another gmaildir is sending the queue and "
			"takes it\n",
			dir);
	else
		fprintf(stderr,
			"gmaildir send: queued in %s (%s); it will be tried again %s by gmaildir "
			"daemon, sync or send --flush\n",
			dir, error_is_set(err) ? err->msg : res->reason,
			when(res->next_try, at, sizeof(at)));
	free(dir);
	return EXIT_OK;
}

/* Prepares the message, queues it, tries to send it. */
static int queue_and_send(const struct account_conf *acct, const struct send_args *a,
			  const char *raw, size_t len)
{
	struct outgoing out = {0};
	struct error err = {0};
	struct flush_result res;
	struct flush_opts fo = {.lock_wait_ms = LOCK_WAIT_MS};
	char *file = NULL, *name = NULL, *tag = NULL;
	const char *at = strchr(acct->smtp.user, '@');
	struct prepare_opts po = {
	    .from_headers = a->from_headers,
	    .rcpts = a->rcpts,
	    .n_rcpts = a->n_rcpts,
	    .sender = a->sender,
	    .full_name = a->full_name,
	    .default_from = acct->smtp.user,
	    .msgid_domain = at ? at + 1 : "gmaildir.invalid",
	    .now = time(NULL),
	};
	size_t flen = 0;
	int ret = EXIT_FAILED;
	struct tm tm;

	localtime_r(&po.now, &tm);
	po.tz_offset_minutes = tm.tm_gmtoff / 60;
	tag = unique_tag();
	po.random_tag = tag;
	if (envelope_prepare(raw, len, &po, &out, &err) < 0) {
		fprintf(stderr, "gmaildir send: %s\n", err.msg);
		ret = EXIT_USAGE;
		goto out;
	}
	file = envelope_encode(&out, &flen);
	if (outbox_enqueue(acct, file, flen, &name, &err) < 0) {
		fprintf(stderr, "gmaildir send: %s\n", err.msg);
		goto out;
	}
	/* From here the message is safe: whatever happens, exit 0. */
	fo.only = name;
	if (outbox_flush(acct, &fo, &res, &err) == 0 && res.sent == 1) {
		ret = EXIT_OK;
		goto out;
	}
	ret = report_queued(acct, &res, &err);
out:
	outgoing_free(&out);
	free(file);
	free(name);
	free(tag);
	return ret;
}

/* send --flush: every queued message of the account(s), now. */
static int flush_all(struct cli *cli, const struct send_args *a)
{
	size_t n = config_account_count(cli->config);
	int ret = EXIT_OK;

	for (size_t i = 0; i < n; i++) {
		const struct account_conf *acct = config_account(cli->config, i);
		struct flush_opts fo = {.force = true, .lock_wait_ms = LOCK_WAIT_MS};
		struct flush_result res;
		struct error err = {0};

		if (!acct->smtp.configured || (a->account && strcmp(a->account, acct->name) != 0))
			continue;
		if (outbox_flush(acct, &fo, &res, &err) < 0) {
			fprintf(stderr, "gmaildir send: %s: %s\n", acct->name, err.msg);
			cli_hint(err.msg);
			ret = EXIT_FAILED;
		}
		if (res.sent || res.deferred || res.rejected || res.uncertain || cli->verbosity > 0)
			printf("%s: %zu sent, %zu deferred, %zu refused, %zu still queued\n",
			       acct->name, res.sent, res.deferred + res.uncertain, res.rejected,
			       res.waiting);
		if (res.rejected || res.deferred || res.uncertain)
			ret = EXIT_FAILED;
	}
	return ret;
}

int cli_cmd_send(struct cli *cli, int argc, char **argv)
{
	struct send_args a = {0};
	struct error err = {0};
	const struct account_conf *acct;
	struct outgoing peek = {0};
	char *raw = NULL;
	size_t len = 0;
	int ret;

	if (send_args_parse(argc, argv, &a, &err) < 0) {
		fprintf(stderr, "gmaildir send: %s\n", err.msg);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < a.n_warnings; i++)
		fprintf(stderr, "gmaildir send: %s\n", a.warnings[i]);
	/* A mail client shows whatever we print: only what matters. */
	if (cli->verbosity <= 0 && !a.verbose)
		log_set_level(LOG_LVL_WARN);
	ret = cli_load_config(cli);
	if (ret != EXIT_OK)
		goto out;
	if (a.flush) {
		ret = flush_all(cli, &a);
		goto out;
	}
	if (read_input(a.dot_ends, &raw, &len) < 0) {
		ret = EXIT_FAILED;
		goto out;
	}
	/* The From address picks the account, as in most clients' setups. */
	envelope_from_address(raw, len, &peek.from_addr);
	acct = account_for(cli, &a, peek.from_addr);
	if (!acct) {
		ret = EXIT_USAGE;
		goto out;
	}
	if (!acct->smtp.configured) {
		fprintf(stderr,
			"gmaildir send: account %s has no outgoing server: add an smtp: "
			"block (see gmaildir.yaml(5))\n",
			acct->name);
		ret = EXIT_USAGE;
		goto out;
	}
	ret = queue_and_send(acct, &a, raw, len);
out:
	free(peek.from_addr);
	free(raw);
	send_args_free(&a);
	return ret;
}
