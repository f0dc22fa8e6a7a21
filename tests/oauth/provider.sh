# shellcheck shell=bash
# A fake OAuth 2.0 provider, Google's dialect (tests/oauth/provider.py), for
# the tests of `gmaildir login` and of token refresh. Source it from bash:
#
#   source tests/oauth/provider.sh
#   op_start [--ttl 5] || exit 1             # exports the OP_* below; chains an EXIT trap
#   gmaildir login ... &                      # told OP_AUTH_URL OP_TOKEN_URL OP_CA ...
#   page=$(op_browse "$url_it_printed")       # the user's browser: consent, redirect
#   op_ctl revoke; op_counter refreshes ...
#   op_stop                                   # optional: the EXIT trap does it too
#
# One instance per shell at a time (op_stop, then op_start again is fine).
# Call op_start in the test's own shell, not in $(...): the server exits
# when that shell is gone. Safe under `set -u` and `set -e`.
#
# Exported by op_start:
#   OP_DIR        the instance's temp dir (mktemp -d /tmp/op.XXXXXX)
#   OP_HOST OP_PORT   127.0.0.1 (the only address it listens on), its port
#   OP_URL        https://127.0.0.1:PORT (HTTPS only; the certificate names
#                 DNS:localhost and IP:127.0.0.1)
#   OP_AUTH_URL   $OP_URL/auth   (GET: Google's o/oauth2/v2/auth)
#   OP_TOKEN_URL  $OP_URL/token  (POST: Google's oauth2.googleapis.com/token)
#   OP_CA         PEM of the CA that signed its certificate
#   OP_CLIENT_ID OP_CLIENT_SECRET   the one client it knows
#                 (op-client.apps.googleusercontent.com / op-secret by default)
#   OP_SCOPE      https://mail.google.com/ (what /auth requires in scope)
#   OP_TTL        the access tokens' lifetime in seconds (expires_in)
#   OP_TOKENS     $OP_DIR/tokens: the access tokens valid now, one
#                 "TOKEN EXPIRY_EPOCH" a line, replaced atomically; give it to
#                 gm_start --oauth-tokens (tests/gmail/fixture.sh)
#   OP_CTL        the control socket $OP_DIR/ctl.sock (JSON lines; op_ctl wraps it)
#   OP_LOG        one line per request (secrets masked), tracebacks
#   OP_PID        the server's pid
#
# Options of op_start:
#   --ttl N            access token lifetime, seconds (3600)
#   --code-ttl N       authorization code lifetime, seconds (600)
#   --client-id ID --client-secret S
#   --ca-dir DIR       sign the certificate with DIR/ca.pem + DIR/ca.key (e.g.
#                      $GM_DIR, so one CA file serves both; OP_CA is a copy);
#                      default: a CA of its own
#   --max-lifetime S   the server exits after S seconds (3600)
#   KNOB...            knobs on from the start (deny tamper-state no-code hang
#                      garbage, see below)
#
# What the endpoints check and answer: provider.py's docstring. In short:
# /auth wants response_type=code client_id redirect_uri=http://127.0.0.1:P/...
# (or localhost, [::1]) code_challenge_method=S256 code_challenge scope
# (with https://mail.google.com/) access_type=offline prompt=consent state,
# and redirects 302 to redirect_uri?state=S&code=C&scope=...; /token takes
# grant_type=authorization_code (code redirect_uri code_verifier) or
# grant_type=refresh_token (refresh_token), client_id/client_secret in the
# form or HTTP Basic, and answers Google's JSON (errors: 400
# {"error","error_description"}, invalid_client 401).
#
# Helpers:
#   op_ctl CMD [KEY=VALUE...]   one control command, prints its value:
#       deny | tamper-state | no-code   /auth: error=access_denied, another
#                          state, no code (until ok)
#       hang               /token never answers (until ok; then the hung
#                          connections are closed without a byte)
#       garbage            /token answers 200 with a body that is not JSON
#       ok                 every knob off
#       revoke             every refresh and access token issued so far dies
#       expire             every access token issued so far expires now
#       set ttl=N          the lifetime of the access tokens issued from now
#       counters | reset_counters | state | last_auth | last_token | ping
#   op_counter NAME        one counter: auth_requests auth_errors token_requests
#                          token_requests_authorization_code
#                          token_requests_refresh_token token_errors logins
#                          refreshes hung garbage
#   op_browse [--no-follow] URL   the scripted browser step: GETs URL (the
#                          authorization URL the program printed) verifying
#                          OP_CA, takes its 302, GETs the Location (the
#                          program's loopback http://127.0.0.1:PORT/?code=..&
#                          state=..) and prints the page the program answered.
#                          --no-follow: prints the Location instead. Exit 0:
#                          the page was 2xx; 1: another status; 2: no redirect
#                          or no connection. Bounded (10 s a request).
#   op_valid TOKEN         exit 0 if TOKEN is in OP_TOKENS and not expired
#   op_json EXPR < JSON    prints the Python EXPR over r = the JSON
#
# Cleanup: op_stop sends SIGTERM, waits up to 5 s, then SIGKILL, reaps the
# server and removes OP_DIR. op_start chains op_cleanup into the EXIT trap
# (tests/lib/trap.sh) and makes HUP/INT/TERM exit if untrapped. If the shell
# dies without cleanup (even by SIGKILL), the server exits within ~1 s and
# removes OP_DIR.

_OP_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OP_SERVER=$_OP_LIB_DIR/provider.py
if [ -z "${OP_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then OP_PYTHON=/usr/bin/python3; else OP_PYTHON=python3; fi
fi
# shellcheck source=tests/lib/trap.sh
source "$_OP_LIB_DIR/../lib/trap.sh"
# The certificate code is dovecot.sh's (it only defines functions).
if ! declare -F _dc_make_certs >/dev/null; then
	# shellcheck source=tests/lib/dovecot.sh
	source "$_OP_LIB_DIR/../lib/dovecot.sh"
fi

_op_err() { echo "provider.sh: $*" >&2; }

_op_fail_start() {
	_op_err "$1; server log follows"
	if [ -n "${OP_LOG:-}" ] && [ -f "$OP_LOG" ]; then
		sed 's/^/# provider.log: /' "$OP_LOG" >&2
	fi
	op_stop
	return 1
}

# _op_certs CADIR: OP_DIR/server.{pem,key} and OP_CA, from CADIR's CA or a new one.
_op_certs() {
	if [ -z "$1" ]; then
		_dc_make_certs "$OP_DIR" "" || return 1
	else
		[ -s "$1/ca.pem" ] && [ -s "$1/ca.key" ] || return 1
		_dc_sign_server_cert "$OP_DIR" "" "$1" || return 1
		cp "$1/ca.pem" "$OP_CA" || return 1
	fi
	chmod 644 "$OP_CA"
}

# op_start [--ttl N] [--code-ttl N] [--client-id ID] [--client-secret S]
#          [--ca-dir DIR] [--max-lifetime S] [KNOB...]
op_start() {
	local waited=0 args=() a prev='' cadir=''
	if [ -n "${OP_DIR:-}" ] && [ -d "$OP_DIR" ]; then
		_op_err "an instance is already running in $OP_DIR (op_stop first)"
		return 1
	fi
	OP_DIR=$(mktemp -d /tmp/op.XXXXXX) || return 1
	export OP_DIR OP_HOST=127.0.0.1 OP_PORT='' OP_URL='' OP_AUTH_URL='' OP_TOKEN_URL=''
	export OP_CA=$OP_DIR/ca.pem OP_CTL=$OP_DIR/ctl.sock OP_LOG=$OP_DIR/log
	export OP_TOKENS=$OP_DIR/tokens OP_PID='' OP_TTL=3600 OP_SCOPE=https://mail.google.com/
	export OP_CLIENT_ID=op-client.apps.googleusercontent.com OP_CLIENT_SECRET=op-secret
	trap_chain op_cleanup
	trap_exit_on_signals
	for a in "$@"; do
		if [ -n "$prev" ]; then # the value of an option
			case $prev in
			--ca-dir) cadir=$a ;;
			--ttl) OP_TTL=$a ;;
			--client-id) OP_CLIENT_ID=$a ;;
			--client-secret) OP_CLIENT_SECRET=$a ;;
			esac
			[ "$prev" = --ca-dir ] || args+=("$prev" "$a")
			prev=''
			continue
		fi
		case $a in
		--ttl | --code-ttl | --client-id | --client-secret | --ca-dir | --max-lifetime) prev=$a ;;
		--*)
			_op_fail_start "unknown option $a"
			return 1
			;;
		*) args+=("$a") ;;
		esac
	done
	if [ -n "$prev" ]; then
		_op_fail_start "$prev needs a value"
		return 1
	fi
	if ! _op_certs "$cadir"; then
		_op_fail_start "certificate generation failed"
		return 1
	fi
	: >"$OP_LOG"
	# shellcheck disable=SC2094
	"$OP_PYTHON" "$OP_SERVER" serve --cert "$OP_DIR/server.pem" --key "$OP_DIR/server.key" \
		--dir "$OP_DIR" --port-file "$OP_DIR/port" --parent-pid "$BASHPID" \
		--cleanup-dir "$OP_DIR" ${args[@]+"${args[@]}"} </dev/null >>"$OP_LOG" 2>&1 &
	OP_PID=$!
	while [ ! -s "$OP_DIR/port" ] && [ "$waited" -lt 200 ]; do
		if ! kill -0 "$OP_PID" 2>/dev/null; then
			_op_fail_start "provider.py exited at start"
			return 1
		fi
		sleep 0.05
		waited=$((waited + 1))
	done
	if [ ! -s "$OP_DIR/port" ]; then
		_op_fail_start "provider.py did not start within 10 s"
		return 1
	fi
	OP_PORT=$(cat "$OP_DIR/port")
	OP_URL=https://127.0.0.1:$OP_PORT
	OP_AUTH_URL=$OP_URL/auth
	OP_TOKEN_URL=$OP_URL/token
	if [ "$(op_ctl ping 2>/dev/null)" != pong ]; then
		_op_fail_start "the control socket does not answer"
		return 1
	fi
	return 0
}

# op_cleanup: op_stop for exit paths (traps); keeps $?.
op_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	op_stop >/dev/null 2>&1 || true
	return "$rc"
}

# op_stop: SIGTERM, <= 5 s, SIGKILL; reaps the server; removes OP_DIR.
op_stop() {
	local pid=${OP_PID:-} _
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			_op_err "provider.py did not stop within 5 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
	if [ -n "${OP_DIR:-}" ]; then rm -rf "$OP_DIR"; fi
	unset OP_DIR OP_PORT OP_URL OP_AUTH_URL OP_TOKEN_URL OP_CA OP_CTL OP_LOG OP_TOKENS OP_PID
	return 0
}

# op_ctl CMD [KEY=VALUE...]: one control command, bounded (30 s).
op_ctl() {
	timeout -k 2 30 "$OP_PYTHON" "$OP_SERVER" ctl "$OP_CTL" "$@"
}

# op_counter NAME: one counter's value.
op_counter() {
	op_ctl counters | op_json "r[\"$1\"]"
}

# op_browse [--no-follow] URL: the user's browser (see the header).
op_browse() {
	timeout -k 2 30 "$OP_PYTHON" "$OP_SERVER" browse --ca "$OP_CA" "$@"
}

# op_valid TOKEN: listed in OP_TOKENS and not expired.
op_valid() {
	local now tok exp
	now=$(date +%s)
	while read -r tok exp; do
		if [ "$tok" = "$1" ] && [ "$now" -lt "$exp" ]; then return 0; fi
	done <"$OP_TOKENS"
	return 1
}

# op_json EXPR < JSON: evaluates EXPR with r = the parsed JSON.
op_json() {
	"$OP_PYTHON" -c '
import json, sys
r = json.load(sys.stdin)
v = eval(sys.argv[1])
print("\n".join(map(str, v)) if isinstance(v, (list, tuple)) else v)' "$1"
}
