/* `gmaildir doctor [ACCOUNT...]`: checks, one step at a time, everything a
 * sync needs, and says in plain words what to do about a failure:
 *
 *   config, password (or token) command, DNS, TCP, TLS (version, chain,
 *   host name, expiry), login, capabilities, Maildir root (writable, free
 *   space), state database (integrity), and the outgoing server (DNS,
 *   TCP, TLS and AUTH, what it takes).
 *
 * Each step prints one line starting with ✓ (passed), ! (passed with a
 * warning), ✗ (failed, followed by "fix:" lines) or - (skipped because an
 * earlier step failed). The secret is never printed. Exit status: 0 when no
 * step failed (warnings allowed), 1 when one did, 2 for a config error. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "cli/cli.h"
#include "store/state.h"
#include "sync/engine.h"
#include "imap/imap.h"
#include "imap/probe.h"
#include "oauth/credentials.h"
#include "oauth/oauth.h"
#include "smtp/submit.h"
#include "util/xalloc.h"

/* The longest doctor waits for one connect or handshake, whatever the
 * account's timeout: a firewall that drops packets should not hold it for
 * minutes. */
#define DOCTOR_TIMEOUT_MAX 15
#define EXPIRY_WARN_DAYS 14
#define LOW_DISK_BYTES 1000000000ull

struct doctor {
	const struct account_conf *acct; /* borrowed */
	unsigned timeout;		 /* seconds for network steps */
	int failed;			 /* steps that failed */
	bool net_ok;			 /* every network step so far passed */
	char *secret;			 /* owned, wiped: NULL when not obtained */
	struct imap *imap;		 /* owned: after a good login */
};

/* --------------------------------------------------------------- output */

static void line(const char *mark, const char *step, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void line(const char *mark, const char *step, const char *fmt, va_list ap)
{
	printf("%s %s: ", mark, step);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

static void pass(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct doctor *d, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void pass(const char *step, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line("✓", step, fmt, ap);
	va_end(ap);
}

static void warn(const char *step, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line("!", step, fmt, ap);
	va_end(ap);
}

static void fail(struct doctor *d, const char *step, const char *fmt, ...)
{
	va_list ap;

	d->failed++;
	va_start(ap, fmt);
	line("✗", step, fmt, ap);
	va_end(ap);
}

/* An indented line under a step: facts, not verdicts. */
static void detail(const char *fmt, ...)
{
	va_list ap;

	printf("    ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* What to do, under a failed step. Hint texts indent their later lines by
 * two spaces; under "fix:" they line up with the first line instead. */
static void fix(const char *text)
{
	printf("    fix: ");
	for (const char *p = text; *p; p++) {
		putchar(*p);
		if (*p != '\n')
			continue;
		printf("         ");
		while (p[1] == ' ')
			p++;
	}
	putchar('\n');
	fflush(stdout);
}

static void skip(const char *step, const char *why)
{
	printf("- %s: skipped (%s)\n", step, why);
}

/* --------------------------------------------------------------- config */

static const char *port_service(unsigned port)
{
	switch (port) {
	case 25:
		return "SMTP (mail between servers; Gmail blocks it for clients)";
	case 465:
		return "SMTP over TLS (sending mail)";
	case 587:
		return "SMTP submission (sending mail)";
	case 110:
		return "POP3";
	case 995:
		return "POP3 over TLS";
	case 80:
	case 443:
		return "HTTP";
	default:
		return NULL;
	}
}

static const char ports_text[] = "IMAP is port 993 with tls: implicit (IMAP over TLS), or 143 with "
				 "tls: starttls";

/* The config loaded (or doctor would not be here); a TLS mode that does
 * not fit a well-known port is worth a word before the TLS step fails. */
static void step_config(struct doctor *d, const char *path)
{
	const struct account_conf *a = d->acct;

	if (a->tls == TLS_IMPLICIT && a->port == 143) {
		warn("config", "port 143 is normally IMAP with STARTTLS, but tls is implicit");
		detail("if the TLS step fails, use tls: starttls, or port 993");
	} else if (a->tls == TLS_STARTTLS && a->port == 993) {
		warn("config", "port 993 is IMAP over TLS, but tls is starttls");
		detail("if the TLS step fails, use tls: implicit");
	} else {
		pass("config", "%s, account %s (%s@%s:%u, tls: %s)", path, a->name, a->user,
		     a->host, a->port, config_tls_name(a->tls));
	}
}

/* ------------------------------------------------------------ the secret */

/* The built-in OAuth 2.0 source: a kept sign-in, and a real refresh. */
static void step_oauth(struct doctor *d)
{
	const struct account_conf *a = d->acct;
	struct oauth_check c;
	struct error err = {0};
	int r = oauth_check(a, &c, &err);

	char *text = NULL;

	if (!c.have_token) {
		fail(d, "oauth2", "%s", err.msg);
		text = xasprintf("run: gmaildir login %s", a->name);
	} else if (r < 0) {
		pass("oauth2 sign-in", "kept in %s", c.where);
		fail(d, "oauth2 refresh", "%s", err.msg);
		if (oauth_signin_needed(&err))
			text =
			    xasprintf("run: gmaildir login %s (a Google Cloud project left in\n"
				      "  \"Testing\" loses its sign-ins after 7 days: publish it)",
				      a->name);
		else
			text = xasprintf("check that %s is reachable and that client_id and\n"
					 "  client_secret are those of your \"Desktop app\" client",
					 a->oauth2.token_url);
	}
	if (text) {
		fix(text);
		free(text);
		return;
	}
	pass("oauth2 sign-in", "kept in %s", c.where);
	pass("oauth2 refresh", "an access token for %ld s, scope %s", c.expires_in, c.scope);
	if (oauth_access_token(a, NULL, &d->secret, &err) < 0)
		fail(d, "oauth2", "%s", err.msg);
}

static void step_secret(struct doctor *d)
{
	const struct account_conf *a = d->acct;
	const char *what = a->auth == AUTH_XOAUTH2 ? "oauth2_token_command"
			   : a->password_command   ? "password_command"
						   : "password";
	struct error err = {0};

	if (config_get_secret(a, &d->secret, &err) < 0) {
		fail(d, what, "%s", err.msg);
		if (a->auth == AUTH_XOAUTH2 || a->password_command)
			fix("run the command yourself in a shell: it must exit 0 and print the\n"
			    "  secret on its first line (nothing before it)");
		else
			fix("set password: in the config, or better password_command:");
		return;
	}
	if (a->auth == AUTH_XOAUTH2)
		pass(what, "ran, printed a token");
	else if (a->password_command)
		pass(what, "ran, printed a password");
	else
		pass(what, "set in the config file (password_command keeps it out of the file)");
}

/* ------------------------------------------------------------ DNS, TCP */

static bool is_address(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void step_dns(struct doctor *d)
{
	struct probe_dns r;
	struct error err = {0};
	const char *host = d->acct->host;

	if (probe_dns(host, &r, &err) < 0) {
		char text[1024];

		fail(d, "DNS", "%s", err.msg);
		snprintf(text, sizeof(text),
			 "check the spelling of host: %s (for Gmail: imap.gmail.com, or\n"
			 "  provider: gmail). `getent hosts %s` asks this machine's resolver;\n"
			 "  if `getent hosts debian.org` fails too, the network or its DNS is down",
			 host, host);
		fix(text);
		d->net_ok = false;
		return;
	}
	if (is_address(host)) {
		pass("DNS", "%s is an address, nothing to resolve", host);
		return;
	}
	printf("✓ DNS: %s is", host);
	for (size_t i = 0; i < r.n; i++)
		printf("%s %s", i ? "," : "", r.addrs[i]);
	if (r.total > r.n)
		printf(" (and %zu more)", r.total - r.n);
	putchar('\n');
}

static void tcp_fix(const struct doctor *d, int e)
{
	const char *svc = port_service(d->acct->port);
	char text[512];

	if (svc)
		snprintf(text, sizeof(text), "port %u is %s, not IMAP:\n  %s", d->acct->port, svc,
			 ports_text);
	else if (e == ECONNREFUSED)
		snprintf(text, sizeof(text),
			 "nothing listens on port %u of %s: check host and port.\n  %s",
			 d->acct->port, d->acct->host, ports_text);
	else if (e == ETIMEDOUT)
		snprintf(text, sizeof(text),
			 "no answer at all: a firewall may be dropping port %u (some networks\n"
			 "  block 993; try another network), or the host is down",
			 d->acct->port);
	else if (e == ENETUNREACH || e == EHOSTUNREACH)
		snprintf(text, sizeof(text),
			 "no route to %s: check the network connection (and IPv6 routing\n"
			 "  when the name has only IPv6 addresses)",
			 d->acct->host);
	else
		snprintf(text, sizeof(text), "check host and port. %s", ports_text);
	fix(text);
}

static void step_tcp(struct doctor *d)
{
	struct probe_tcp r;
	struct error err = {0};

	if (!d->net_ok) {
		skip("TCP", "no address");
		return;
	}
	if (probe_tcp(d->acct->host, d->acct->port, d->timeout, &r, &err) < 0) {
		fail(d, "TCP", "%s", err.msg);
		tcp_fix(d, r.sys_errno);
		d->net_ok = false;
		return;
	}
	if (port_service(d->acct->port)) {
		fail(d, "TCP", "connected to %s port %u, but this is not an IMAP port", r.addr,
		     d->acct->port);
		tcp_fix(d, 0);
		return;
	}
	pass("TCP", "connected to %s port %u in %u ms", r.addr, d->acct->port, r.ms);
}

/* ------------------------------------------------------------------ TLS */

static void print_cert(const struct tls_peer_info *t, time_t now)
{
	char until[32] = "?";
	struct tm tm;

	if (!t->have_cert)
		return;
	if (t->not_after && gmtime_r(&t->not_after, &tm))
		strftime(until, sizeof(until), "%Y-%m-%d", &tm);
	detail("certificate: %s", t->subject);
	detail("issued by:   %s", t->issuer);
	detail("valid for:   %s, until %s%s", t->names, until,
	       t->not_after && t->not_after < now ? " (expired)" : "");
}

static void tls_fix(const struct doctor *d, const char *msg)
{
	const char *hint = cli_hint_text(msg);

	if (hint)
		fix(hint);
	else if (strstr(msg, "TLS 1.2"))
		fix("the server speaks only TLS older than 1.2, which is not safe any more:\n"
		    "  the server needs an upgrade");
	else if (strstr(msg, "ca_file"))
		fix("ca_file: must name a readable PEM file holding the CA certificate");
	else if (d->acct->tls == TLS_IMPLICIT)
		fix("the port did not answer with TLS: use port 993 with tls: implicit, or\n"
		    "  port 143 with tls: starttls");
	else
		fix("check that host and port are an IMAP server's (143 for STARTTLS)");
}

static void tls_verdict(const struct doctor *d, const struct tls_peer_info *t, time_t now)
{
	long days = (long)((t->not_after - now) / 86400);
	const char *via = d->acct->tls == TLS_STARTTLS ? " via STARTTLS" : "";
	char chain[32] = "";

	if (t->chain_len > 0)
		snprintf(chain, sizeof(chain), " (%d certificates)", t->chain_len);
	if (!t->not_after) {
		pass("TLS", "%s%s, certificate for %s, chain verified%s", t->version, via, t->names,
		     chain);
	} else if (days < EXPIRY_WARN_DAYS) {
		warn("TLS", "%s%s, certificate for %s expires in %ld day%s, chain verified%s",
		     t->version, via, t->names, days, days == 1 ? "" : "s", chain);
		detail("the server's certificate must be renewed soon, or syncs will fail");
	} else {
		pass("TLS", "%s%s, certificate for %s valid %ld more day%s, chain verified%s",
		     t->version, via, t->names, days, days == 1 ? "" : "s", chain);
	}
	if (t->cipher[0])
		detail("cipher: %s; issued by: %s", t->cipher, t->issuer);
}

static void step_tls(struct doctor *d)
{
	struct tls_peer_info t;
	struct error err = {0};
	time_t now = time(NULL);

	if (!d->net_ok) {
		skip("TLS", "no connection");
		return;
	}
	if (d->acct->tls == TLS_NONE) {
		warn("TLS",
		     "off (tls: none): the password and all mail cross the network in clear");
		return;
	}
	if (probe_tls(d->acct, d->timeout, &t, &err) < 0) {
		fail(d, "TLS", "%s", err.msg);
		print_cert(&t, now);
		tls_fix(d, err.msg);
		d->net_ok = false;
		return;
	}
	tls_verdict(d, &t, now);
}

/* --------------------------------------------------- login, capabilities */

static void step_login(struct doctor *d)
{
	struct error err = {0};
	const char *hint;

	if (!d->net_ok) {
		skip("login", "no connection");
		return;
	}
	if (!d->secret) {
		skip("login", "no password");
		return;
	}
	if (imap_connect(d->acct, d->secret, &d->imap, &err) < 0) {
		fail(d, "login", "%s", err.msg);
		hint = cli_hint_text(err.msg);
		if (!hint && strstr(err.msg, "no IMAP greeting"))
			hint =
			    "the port took the connection but no IMAP server answered: check\n"
			    "  port: and tls: (993 with tls: implicit, 143 with tls: starttls); a\n"
			    "  proxy or firewall may also be holding the connection";
		else if (!hint && !strcasestr(err.msg, "LOGIN") && !strcasestr(err.msg, "AUTH"))
			hint = "the connection failed before the sign-in; `gmaildir -vv doctor`\n"
			       "  shows the IMAP conversation (passwords hidden)";
		fix(hint ? hint : "check user: and the password");
		return;
	}
	pass("login", "as %s (%s)", d->acct->user,
	     d->acct->auth == AUTH_XOAUTH2 ? "XOAUTH2" : "LOGIN");
}

struct cap_use {
	unsigned cap;
	const char *name;
	const char *with;    /* what gmaildir does with it */
	const char *without; /* what happens without it; NULL: nothing to say */
};

static const struct cap_use cap_uses[] = {
    {IMAP_CAP_IDLE, "IDLE", "push: the daemon hears of new mail at once",
     "the daemon polls every poll_interval seconds"},
    {IMAP_CAP_CONDSTORE, "CONDSTORE", "incremental sync: only changed flags are fetched",
     "each sync reads the flags of every message (slower on big folders)"},
    {IMAP_CAP_QRESYNC, "QRESYNC",
     "the SELECT of a changed folder brings its changed flags and expunged UIDs",
     "changed flags take one more command, expunges a UID SEARCH when the count says some"},
    {IMAP_CAP_UIDPLUS, "UIDPLUS", "uploads learn their UID, deletions use UID EXPUNGE",
     "uploads are found again by Message-ID; no UID EXPUNGE"},
    {IMAP_CAP_MOVE, "MOVE", "a move is one command", "a move is a COPY and a delete"},
    {IMAP_CAP_XGM, "X-GM-EXT-1", "Gmail mode: labels, each message downloaded once",
     "plain IMAP mode (not Gmail)"},
};

/* Servers whose IDLE is a poll in their default setup: the push the
 * daemon promises then lags by that poll, and the server's setting fixes
 * it. They are known by their greeting. */
static void idle_hint(const char *greeting, bool idle)
{
	if (!idle)
		return;
	if (strstr(greeting, "Courier-IMAP"))
		detail("Courier: its IDLE looks for new mail every IMAP_IDLE_TIMEOUT seconds (60)\n"
		       "      unless /etc/courier/imapd sets IMAP_ENHANCEDIDLE=1 (with gamin "
		       "running):\n"
		       "      push may lag by up to that");
	else if (strstr(greeting, "Cyrus IMAP"))
		detail("Cyrus: unless cyrus.conf runs idled, its IDLE looks for new mail every\n"
		       "      imapidlepoll seconds (60): push may lag by up to that");
}

static void step_caps(struct doctor *d)
{
	unsigned caps;
	size_t n = sizeof(cap_uses) / sizeof(cap_uses[0]);

	if (!d->imap) {
		skip("capabilities", "not logged in");
		return;
	}
	caps = imap_caps(d->imap);
	printf("✓ capabilities:");
	for (size_t i = 0; i < n; i++)
		if (caps & cap_uses[i].cap)
			printf(" %s", cap_uses[i].name);
	putchar('\n');
	for (size_t i = 0; i < n; i++) {
		char name[32];
		bool has = caps & cap_uses[i].cap;

		if (!has && !cap_uses[i].without)
			continue;
		snprintf(name, sizeof(name), "%s%s", has ? "" : "no ", cap_uses[i].name);
		detail("%-13s → %s", name, has ? cap_uses[i].with : cap_uses[i].without);
	}
	idle_hint(imap_greeting(d->imap), caps & IMAP_CAP_IDLE);
}

/* ------------------------------------------------------ Maildir, state */

static void size_text(uint64_t bytes, char *buf, size_t cap)
{
	if (bytes >= 1000000000ull)
		snprintf(buf, cap, "%.1f GB", (double)bytes / 1e9);
	else
		snprintf(buf, cap, "%.0f MB", (double)bytes / 1e6);
}

/* The check sync and the daemon make before they connect, with its own
 * words: the problem on the step's line, the fix under it. */
static bool local_failed(struct doctor *d, const char *step, bool state)
{
	struct error err = {0};
	char *cut;

	if (engine_check_local_path(d->acct, state, &err) == 0)
		return false;
	cut = strstr(err.msg, "; ");
	if (cut)
		*cut = '\0';
	fail(d, step, "%s", err.msg);
	if (cut)
		fix(cut + 2);
	return true;
}

static void step_maildir(struct doctor *d)
{
	struct probe_dir r;
	struct error err = {0};
	char room[32], where[1024];
	const char *root = d->acct->maildir;

	if (local_failed(d, "Maildir", false))
		return;
	if (probe_maildir_root(root, &r, &err) < 0) {
		fail(d, "Maildir", "%s", err.msg);
		fix("set maildir: to a directory this user can write (it is created when\n"
		    "  missing), or fix the directory's owner and mode (chmod 700)");
		probe_dir_clear(&r);
		return;
	}
	size_text(r.free_bytes, room, sizeof(room));
	if (r.exists)
		snprintf(where, sizeof(where), "%s is writable", root);
	else
		snprintf(where, sizeof(where),
			 "%s does not exist yet; %s is writable (a sync creates it)", root,
			 r.checked);
	if (r.free_bytes < LOW_DISK_BYTES) {
		warn("Maildir", "%s, only %s free", where, room);
		detail("when the disk is full, downloads stop until there is room again");
	} else {
		pass("Maildir", "%s, %s free", where, room);
	}
	probe_dir_clear(&r);
}

static void state_counts(const char *dir, size_t *folders_r, size_t *pairs_r)
{
	struct state *st = NULL;
	struct state_folder_report *rep = NULL;
	struct error err = {0};
	size_t n = 0;

	*folders_r = *pairs_r = 0;
	if (state_open_readonly(dir, &st, &err) <= 0)
		return;
	if (state_report_load(st, &rep, &n, &err) == 0) {
		*folders_r = n;
		for (size_t i = 0; i < n; i++)
			*pairs_r += rep[i].pairs;
	}
	state_reports_free(rep, n);
	state_free(&st);
}

static void state_fix(const char *dir)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "stop gmaildir, keep the damaged file and let sqlite3 save what it can:\n"
		 "  cd %s && mv state.db state.db.broken &&\n"
		 "  sqlite3 state.db.broken .recover | sqlite3 state.db\n"
		 "  If nothing can be saved, remove state.db: the next sync pairs the\n"
		 "  messages again by Message-ID and size (no duplicates), but what was\n"
		 "  deleted on one side since the last sync comes back.",
		 dir);
	fix(text);
}

/* A Maildir another state owns is refused by every sync: said here, with
 * the sync's own words (they say what to do). Only a problem is shown. */
static void check_identity(struct doctor *d)
{
	struct error err = {0};

	if (engine_check_maildir(d->acct, &err) < 0)
		fail(d, "Maildir identity", "%s", err.msg);
}

static void step_state(struct doctor *d)
{
	const char *dir = d->acct->state_dir;
	struct error err = {0};
	size_t folders, pairs;
	long pid = 0;
	int rc;

	if (local_failed(d, "state", true))
		return;
	rc = state_integrity_check(dir, &err);
	if (rc < 0) {
		fail(d, "state", "%s", err.msg);
		state_fix(dir);
		return;
	}
	if (rc == 0) {
		pass("state", "not synced yet (no state.db in %s)", dir);
		check_identity(d);
		return;
	}
	state_counts(dir, &folders, &pairs);
	pass("state", "%s/state.db intact: %zu folder%s, %zu message%s paired", dir, folders,
	     folders == 1 ? "" : "s", pairs, pairs == 1 ? "" : "s");
	if (state_lock_holder(dir, &pid, &err) == 1)
		detail("the account is being synced right now (pid %ld)", pid);
	check_identity(d);
}

/* ----------------------------------------------------------------- SMTP */

/* What to do about a failed SMTP connect. */
static void smtp_tcp_fix(const struct smtp_conf *m, int e)
{
	unsigned other = m->port == 465 ? 587 : 465;
	const char *other_tls = other == 465 ? "implicit" : "starttls";
	char text[600];

	if (e == ETIMEDOUT || e == ECONNREFUSED)
		snprintf(text, sizeof(text),
			 "%s on port %u: this network may block it (hotels, campus and\n"
			 "  company networks often block outgoing mail ports). Try port %u with\n"
			 "  tls: %s in the smtp: block, or another network",
			 e == ETIMEDOUT ? "no answer" : "refused", (unsigned)m->port, other,
			 other_tls);
	else
		snprintf(text, sizeof(text),
			 "check smtp: host and port (for Gmail: smtp.gmail.com, 465 with tls:\n"
			 "  implicit, or 587 with tls: starttls)");
	fix(text);
}

static void smtp_login_fix(const char *msg)
{
	const char *hint = cli_hint_text(msg);

	if (strstr(msg, "STARTTLS"))
		fix("something between you and the server removed or refused STARTTLS, so\n"
		    "  gmaildir will not send your password. Use port 465 with tls: implicit,\n"
		    "  or another network");
	else if (strstr(msg, "login failed"))
		fix("the server refused user and password. For Gmail: an App Password\n"
		    "  (https://myaccount.google.com/apppasswords), or auth: xoauth2");
	else
		fix(hint ? hint : "check the smtp: block (gmaildir check-config shows it)");
}

static void step_smtp(struct doctor *d)
{
	const struct smtp_conf *m = &d->acct->smtp;
	struct probe_dns dns;
	struct probe_tcp tcp;
	struct error err = {0};
	struct smtp *s = NULL;
	struct smtp_info info;
	char *secret = NULL;

	if (!m->configured) /* gmaildir send is not set up: nothing to check */
		return;
	if (probe_dns(m->host, &dns, &err) < 0) {
		fail(d, "smtp DNS", "%s", err.msg);
		fix("check the spelling of smtp: host (for Gmail: smtp.gmail.com)");
		return;
	}
	if (probe_tcp(m->host, m->port, d->timeout, &tcp, &err) < 0) {
		fail(d, "smtp TCP", "%s", err.msg);
		smtp_tcp_fix(m, tcp.sys_errno);
		return;
	}
	pass("smtp TCP", "connected to %s port %u in %u ms", tcp.addr, (unsigned)m->port, tcp.ms);
	if (credentials_smtp(d->acct, NULL, &secret, &err) < 0) {
		fail(d, "smtp password", "%s", err.msg);
		fix("run the smtp password command yourself: it must print the secret");
		return;
	}
	if (smtp_open(d->acct, secret, &s, &err) < 0) {
		fail(d, "smtp login", "%s", err.msg);
		smtp_login_fix(err.msg);
	} else {
		smtp_get_info(s, &info);
		pass("smtp login", "%s over TLS (%s), AUTH %s as %s",
		     m->tls == TLS_STARTTLS ? "STARTTLS" : "implicit TLS", m->host, info.auth_used,
		     m->user);
		if (info.size_limit)
			detail("messages up to %zu MB (SIZE)%s%s", info.size_limit >> 20,
			       info.eight_bit_mime ? ", 8BITMIME" : "",
			       info.smtputf8 ? ", SMTPUTF8" : "");
	}
	smtp_close(&s);
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

/* ------------------------------------------------------------- command */

static int doctor_account(const struct account_conf *acct, const char *path)
{
	struct doctor d = {.acct = acct, .net_ok = true};

	d.timeout = acct->timeout < DOCTOR_TIMEOUT_MAX ? acct->timeout : DOCTOR_TIMEOUT_MAX;
	printf("account %s\n", acct->name);
	step_config(&d, path);
	if (credentials_refreshable(d.acct, false))
		step_oauth(&d);
	else
		step_secret(&d);
	step_dns(&d);
	step_tcp(&d);
	step_tls(&d);
	step_login(&d);
	step_caps(&d);
	step_maildir(&d);
	step_state(&d);
	step_smtp(&d);
	imap_free(&d.imap);
	if (d.secret) {
		explicit_bzero(d.secret, strlen(d.secret));
		free(d.secret);
	}
	return d.failed ? EXIT_FAILED : EXIT_OK;
}

/* The config step's failure: the loader's message and what to do. */
static int config_failed(const char *msg)
{
	printf("✗ config: %s\n", msg);
	if (strstr(msg, "port 25"))
		fix("Google blocks port 25 for mail programs: in the smtp: block use\n"
		    "  port: 465 with tls: implicit, or port: 587 with tls: starttls");
	else if (strstr(msg, "No such file"))
		fix("write one: gmaildir init gmail you@gmail.com, or for another server\n"
		    "  gmaildir init imap you@example.org (or see the README)");
	else if (strstr(msg, "not a regular file"))
		fix("-c must name the YAML config file");
	else
		fix("correct the place named above; gmaildir check-config shows what is "
		    "understood");
	return EXIT_USAGE;
}

static int load_config(struct cli *cli, char **def_r, const char **path_r)
{
	struct error err = {0};

	*path_r = cli->config_path;
	if (!*path_r)
		*path_r = *def_r = config_default_path();
	if (cli->config)
		return EXIT_OK;
	if (config_load(*path_r, &cli->config, &err) < 0)
		return config_failed(err.msg);
	return EXIT_OK;
}

int cli_cmd_doctor(struct cli *cli, int argc, char **argv)
{
	const char *path = NULL;
	char *def = NULL;
	int ret = EXIT_OK, worst = EXIT_OK;

	if (argc > 1 && argv[1][0] == '-') {
		fprintf(stderr, "usage: gmaildir doctor [ACCOUNT...]\n");
		return EXIT_USAGE;
	}
	ret = load_config(cli, &def, &path);
	for (int i = 1; ret == EXIT_OK && i < argc; i++)
		if (!cli_find_account(cli, argv[i], NULL))
			ret = EXIT_USAGE;
	for (size_t i = 0; ret == EXIT_OK && argc <= 1 && i < config_account_count(cli->config);
	     i++) {
		if (i)
			putchar('\n');
		if (doctor_account(config_account(cli->config, i), path) != EXIT_OK)
			worst = EXIT_FAILED;
	}
	for (int i = 1; ret == EXIT_OK && i < argc; i++) {
		if (i > 1)
			putchar('\n');
		if (doctor_account(cli_find_account(cli, argv[i], NULL), path) != EXIT_OK)
			worst = EXIT_FAILED;
	}
	free(def);
	return ret != EXIT_OK ? ret : worst;
}
