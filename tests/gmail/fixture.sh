# shellcheck shell=bash
# A Gmail-dialect IMAP server (tests/gmail/fixture.py) for the tests.
# Source it from bash:
#
#   source tests/gmail/fixture.sh
#   gm_start [KEY=VALUE...] || exit 1      # exports the GM_* below; chains an EXIT trap
#   msgid=$(gm_add mail.eml '\Inbox,Work' '\Seen')
#   ...                                    # the client on $GM_HOST:$GM_PORT, CA $GM_CA
#   gm_stop                                # optional: the EXIT trap does it too
#
# One instance per shell at a time (gm_stop, then gm_start again is fine).
# Call gm_start in the test's own shell, not in $(...): the server exits
# when that shell is gone. Safe under `set -u` and `set -e`.
#
# Exported by gm_start:
#   GM_DIR    the instance's temp dir (mktemp -d /tmp/gm.XXXXXX)
#   GM_HOST   127.0.0.1 (the only address it listens on)
#   GM_PORT   its implicit-TLS IMAP port (no plain port, no STARTTLS: like Gmail)
#   GM_SMTP_PORT           smtp.gmail.com's implicit-TLS port (465's role)
#   GM_SMTP_PORT_STARTTLS  its STARTTLS one (587's role: AUTH/MAIL before TLS: 530)
#             Both: tests/smtp/server.py's engine, Gmail's texts, SIZE 35882577,
#             AUTH PLAIN/LOGIN (GM_USER, GM_PASS; auth_mode=app-password-required:
#             534 5.7.9) and XOAUTH2 (GM_TOKEN). Each accepted message joins the
#             store once: labels \Sent (+ \Inbox if a recipient is GM_USER),
#             flag \Seen, a Message-ID prepended if it has none, else as received.
#             Counters smtp_messages smtp_connections smtp_logins smtp_auth_failures.
#   GM_SMTP_TRANSCRIPT     what SMTP clients sent ("cN plain> "/"cN tls> " lines,
#             secrets NOT masked; GM_LOG has the commands with AUTH masked)
#   GM_CA     PEM of the instance's own CA (server cert: DNS:localhost, IP:127.0.0.1;
#             made by dovecot.sh's _dc_make_certs)
#   GM_USER GM_PASS   gmaildir.test@gmail.com / an app password (16 letters;
#             accepted with or without spaces, as Gmail does)
#   GM_TOKEN  the OAuth2 access token AUTHENTICATE XOAUTH2 accepts (IMAP and
#             SMTP), unless --oauth-tokens
#   GM_OAUTH_TOKENS  the --oauth-tokens FILE, or empty
#   GM_CTL    the control socket (JSON lines; gm_ctl wraps it)
#   GM_LOG    the server's log: one line per command (secrets masked), tracebacks
#   GM_PID    the server's pid
#
# Options of gm_start: KEY=VALUE (fixture.py serve --set; values are JSON
# when they parse), the same keys as a live `gm_ctl set KEY=VALUE ...`:
#   auth_mode=normal|app-password-required|imap-disabled   LOGIN/PLAIN refused
#                        with Gmail's ALERT texts (imap-disabled: XOAUTH2 too)
#   bare_labels=true     X-GM-LABELS (\Inbox Work): breaks libetpan 1.9.4
#   max_conns=15         then * BYE [UNAVAILABLE] Too many simultaneous connections.
#   quota_bytes=null     body bytes (BODY[]/RFC822/TEXT) served before the
#                        bandwidth block, which lasts until gm_ctl quota_reset
#   quota_mode=overquota|throttled|bye   NO [OVERQUOTA] ..., NO [THROTTLED] ...,
#                        or * BYE [THROTTLED] ... and close
#   prefix='[Gmail]' lang=en|de          localized system folders
#                        ('[Google Mail]', de: Papierkorb, Entw&APw-rfe ...)
#   auto_expunge=true    Gmail's default: \Deleted expunges at once
#   expunge_last=archive|trash|delete    EXPUNGE in All Mail or of the last label
#   append_limit=35651584   APPENDLIMIT; bigger APPENDs: NO [TOOBIG]
#   idle_timeout=1800    seconds without a command (or in IDLE) before BYE
#   compress=true        COMPRESS=DEFLATE (RFC 4978) in the post-login CAPABILITY
#                        (the login's untagged one too); `tag COMPRESS DEFLATE`
#                        (authenticated or selected) -> `tag OK DEFLATE active`,
#                        then raw DEFLATE (wbits -15) both ways from the byte after
#                        that CRLF; every write of the server ends with Z_SYNC_FLUSH
#                        (each response, "+ go ahead", "+ idling" and IDLE's updates
#                        are readable at once); the client's stream may split
#                        anywhere. Again on that connection: NO [COMPRESSIONACTIVE]
#                        DEFLATE active via COMPRESS; another mechanism: BAD; before
#                        login: BAD (not valid in this state). compress=false: not
#                        advertised, COMPRESS DEFLATE is NO [CANNOT].
#                        Counters: compress_sessions (connections that turned it
#                        on); wire_bytes_out/_in (IMAP bytes to/from the TLS layer,
#                        after compression; TLS overhead not counted) and
#                        plain_bytes_out/_in (before compression / after
#                        decompression), every IMAP connection, equal when none is
#                        compressed. body_bytes append_bytes etc. stay plaintext.
#   user= password= token=  the credentials (gm_start also exports them as
#                        GM_USER GM_PASS GM_TOKEN; a live change does not)
# and --max-lifetime S (default 3600): the server exits after S seconds,
# and --oauth-tokens FILE: XOAUTH2 (IMAP and SMTP) accepts only a token listed
# in FILE ("TOKEN EXPIRY_EPOCH" lines, e.g. tests/oauth/provider.sh's
# $OP_TOKENS) while time() < EXPIRY, read at each attempt; GM_TOKEN is then
# refused. Any other token: Gmail's failure (the base64 JSON challenge, the
# client's empty line, NO [AUTHENTICATIONFAILED] Invalid credentials (Failure);
# SMTP: 334 challenge, 535 5.7.8). As on Gmail the check is made at
# AUTHENTICATE only: a session stays usable after its token expires.
#
# Helpers:
#   gm_ctl CMD [KEY=VALUE...]   one control command (see fixture.py Control);
#                               values are JSON when they parse, list keys
#                               (labels flags add remove set) also take a,b,c.
#                               Prints the reply's value, else the reply JSON.
#   gm_json EXPR < JSON         prints the Python EXPR over r = the JSON
#                               (lists one item a line)
#   gm_add FILE [LABELS] [FLAGS]   adds a message (default label \Inbox; ""
#                               = All Mail only); prints its X-GM-MSGID
#   gm_uids FOLDER              the folder's UIDs, one a line
#   gm_counter NAME             one counter (body_bytes appends connections
#                               compress_sessions wire_bytes_out ...)
#   gm_imap [OPENSSL_ARGS] < CMDS   one pipelined session like dc_imap imaps
#
# Cleanup: gm_stop sends SIGTERM to the server, waits up to 5 s, then SIGKILL,
# reaps it and removes GM_DIR. The EXIT trap that gm_start chains (after any
# trap already set; INT/TERM/HUP are made to exit if untrapped) calls
# gm_cleanup. If the shell dies without cleanup (even by SIGKILL), the
# server notices within ~1 s, removes GM_DIR and exits.

_GM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GM_FIXTURE=$_GM_LIB_DIR/fixture.py
if [ -z "${GM_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then GM_PYTHON=/usr/bin/python3; else GM_PYTHON=python3; fi
fi
# shellcheck source=tests/lib/trap.sh
source "$_GM_LIB_DIR/../lib/trap.sh"
# The certificate code is dovecot.sh's (it only defines functions).
if ! declare -F _dc_make_certs >/dev/null; then
	# shellcheck source=tests/lib/dovecot.sh
	source "$_GM_LIB_DIR/../lib/dovecot.sh"
fi

_gm_err() { echo "fixture.sh: $*" >&2; }

_gm_fail_start() {
	_gm_err "$1; server log follows"
	if [ -n "${GM_LOG:-}" ] && [ -f "$GM_LOG" ]; then
		sed 's/^/# fixture.log: /' "$GM_LOG" >&2
	fi
	gm_stop
	return 1
}

# gm_start [KEY=VALUE...] [--max-lifetime S]
gm_start() {
	local waited=0 a args=() prev=''
	if [ -n "${GM_DIR:-}" ] && [ -d "$GM_DIR" ]; then
		_gm_err "an instance is already running in $GM_DIR (gm_stop first)"
		return 1
	fi
	GM_DIR=$(mktemp -d /tmp/gm.XXXXXX) || return 1
	export GM_DIR GM_HOST=127.0.0.1 GM_CA=$GM_DIR/ca.pem GM_CTL=$GM_DIR/ctl.sock
	export GM_LOG=$GM_DIR/fixture.log GM_USER=gmaildir.test@gmail.com
	export GM_PASS=abcdefghijklmnop GM_TOKEN GM_PORT='' GM_PID=''
	export GM_SMTP_PORT='' GM_SMTP_PORT_STARTTLS='' GM_SMTP_TRANSCRIPT=$GM_DIR/smtp-transcript
	export GM_OAUTH_TOKENS=''
	GM_TOKEN=ya29.test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	_gm_install_trap
	if ! _dc_make_certs "$GM_DIR" ""; then
		_gm_fail_start "certificate generation failed"
		return 1
	fi
	chmod 644 "$GM_CA"
	: >"$GM_LOG"
	for a in "$@"; do
		if [ -n "$prev" ]; then # the value of an option
			[ "$prev" != --oauth-tokens ] || GM_OAUTH_TOKENS=$a
			args+=("$prev" "$a")
			prev=''
			continue
		fi
		case $a in
		--oauth-tokens | --max-lifetime) prev=$a ;;
		--*) args+=("$a") ;;
		user=*) GM_USER=${a#user=} ;;
		password=*) GM_PASS=${a#password=} ;;
		token=*) GM_TOKEN=${a#token=} ;;
		*=*) args+=(--set "$a") ;;
		*) args+=("$a") ;;
		esac
	done
	# Its command log and its stderr (tracebacks) share GM_LOG, both appending.
	# shellcheck disable=SC2094
	"$GM_PYTHON" "$GM_FIXTURE" serve --cert "$GM_DIR/server.pem" --key "$GM_DIR/server.key" \
		--ctl "$GM_CTL" --port-file "$GM_DIR/port" --log "$GM_LOG" \
		--parent-pid "$BASHPID" --cleanup-dir "$GM_DIR" \
		--set "user=$GM_USER" --set "password=$GM_PASS" --set "token=$GM_TOKEN" \
		${args[@]+"${args[@]}"} \
		</dev/null >>"$GM_LOG" 2>&1 &
	GM_PID=$!
	# The port file is written once both listeners are up (<= 10 s).
	while [ ! -s "$GM_DIR/port" ] && [ "$waited" -lt 200 ]; do
		if ! kill -0 "$GM_PID" 2>/dev/null; then
			_gm_fail_start "fixture.py exited at start"
			return 1
		fi
		sleep 0.05
		waited=$((waited + 1))
	done
	if [ ! -s "$GM_DIR/port" ]; then
		_gm_fail_start "fixture.py did not start within 10 s"
		return 1
	fi
	GM_PORT=$(cat "$GM_DIR/port")
	GM_SMTP_PORT=$(cat "$GM_DIR/smtp_port")
	GM_SMTP_PORT_STARTTLS=$(cat "$GM_DIR/smtp_port_starttls")
	if [ "$(gm_ctl ping 2>/dev/null)" != pong ]; then
		_gm_fail_start "the control socket does not answer"
		return 1
	fi
	return 0
}

# Chains gm_cleanup into the EXIT trap (after any trap already set) and makes
# HUP/INT/TERM exit (so that the EXIT trap runs) unless already trapped
# (tests/lib/trap.sh).
_gm_install_trap() {
	trap_chain gm_cleanup
	trap_exit_on_signals
}

# gm_cleanup: gm_stop for exit paths (traps); keeps $?.
gm_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	gm_stop >/dev/null 2>&1 || true
	return "$rc"
}

# gm_stop: SIGTERM, <= 5 s, SIGKILL; reaps the server; removes GM_DIR.
gm_stop() {
	local pid=${GM_PID:-} _
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			_gm_err "fixture.py did not stop within 5 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
	if [ -n "${GM_DIR:-}" ]; then rm -rf "$GM_DIR"; fi
	unset GM_DIR GM_PORT GM_CA GM_CTL GM_LOG GM_PID GM_SMTP_PORT GM_SMTP_PORT_STARTTLS
	unset GM_SMTP_TRANSCRIPT GM_OAUTH_TOKENS
	return 0
}

# gm_ctl CMD [KEY=VALUE...]: one control command, bounded (30 s).
gm_ctl() {
	timeout -k 2 30 "$GM_PYTHON" "$GM_FIXTURE" ctl "$GM_CTL" "$@"
}

# gm_json EXPR < JSON: evaluates EXPR with r = the parsed JSON.
gm_json() {
	"$GM_PYTHON" -c '
import json, sys
r = json.load(sys.stdin)
v = eval(sys.argv[1])
print("\n".join(map(str, v)) if isinstance(v, (list, tuple)) else v)' "$1"
}

# gm_add FILE [LABELS] [FLAGS]: prints the new message's X-GM-MSGID.
gm_add() {
	gm_ctl add "file=$1" "labels=${2-\\Inbox}" "flags=${3:-}"
}

# gm_uids FOLDER: the folder's UIDs, ascending, one a line.
gm_uids() {
	gm_ctl list "folder=$1" | gm_json '[m["uid"] for m in r["messages"]]'
}

# gm_counter NAME: one counter's value.
gm_counter() {
	gm_ctl counters | gm_json "r[\"$1\"]"
}

# gm_imap [OPENSSL_ARG...] < CMDS: one IMAP session; CMDS (LF or CRLF) are
# sent at once; end them with a LOGOUT. Prints the server's lines without CR.
gm_imap() {
	local rc
	sed 's/\r$//; s/$/\r/' |
		timeout -k 2 20 openssl s_client -quiet -connect "$GM_HOST:$GM_PORT" \
			-CAfile "$GM_CA" -verify_return_error "$@" 2>/dev/null | tr -d '\r'
	rc=${PIPESTATUS[1]}
	return "$rc"
}
