#!/usr/bin/env bash
# The fake OAuth provider (tests/oauth/provider.py) does what the tests of
# `gmaildir login` and of token refresh rely on: tests/oauth/selftest.py
# plays the client (PKCE right and wrong, code reuse, redirect_uri mismatch,
# refresh, revoke, hang, garbage, Basic auth, the browser step) and checks
# the Gmail fixture's XOAUTH2 under --oauth-tokens (valid, expired, revoked,
# unknown); then the shell helpers and the lifecycle: nothing survives
# op_stop or the death of the shell that started it.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/oauth/provider.sh
source tests/gmail/fixture.sh

# fails CMD...: ok if CMD fails.
fails() { ! "$@"; }

# signed_by CA PEM: PEM verifies against CA.
signed_by() { openssl verify -CAfile "$1" "$2" >/dev/null 2>&1; }

# gone PID DIR: within 5 s the process has exited and DIR is removed.
gone() {
	local _
	for _ in $(seq 50); do
		if ! kill -0 "$1" 2>/dev/null && [ ! -e "$2" ]; then return 0; fi
		sleep 0.1
	done
	return 1
}

check "op_start refuses an unknown option" test "$(op_start --nonsense 2>/dev/null; echo $?)" = 1
check "op_start refuses an unknown knob" test "$(op_start nonsense 2>/dev/null; echo $?)" = 1
op_start --ttl 3 || exit 1
check "op_start: port, CA, live pid, the URLs" test -n "$OP_PORT" -a -s "$OP_CA" -a -n "$OP_PID" \
	-a "$OP_AUTH_URL" = "https://127.0.0.1:$OP_PORT/auth" \
	-a "$OP_TOKEN_URL" = "https://127.0.0.1:$OP_PORT/token"
san=$(openssl x509 -in "$OP_DIR/server.pem" -noout -ext subjectAltName 2>/dev/null)
check_contains "its certificate names IP:127.0.0.1" "IP Address:127.0.0.1" "$san"
check_contains "... and DNS:localhost" "DNS:localhost" "$san"
check "... and verifies against OP_CA" signed_by "$OP_CA" "$OP_DIR/server.pem"
check "OP_TOKENS exists, empty" test -f "$OP_TOKENS" -a ! -s "$OP_TOKENS"
gm_start --oauth-tokens "$OP_TOKENS" || exit 1
check_eq "gm_start --oauth-tokens exports GM_OAUTH_TOKENS" "$OP_TOKENS" "$GM_OAUTH_TOKENS"

# --- the protocol, played by a client
out=$(timeout -k 5 60 "$OP_PYTHON" tests/oauth/selftest.py all 2>&1)
rc=$?
printf '%s\n' "$out"
TAP_FAILED=$((TAP_FAILED + $(printf '%s\n' "$out" | grep -c '^not ok ')))
check_eq "selftest.py ran to its end" 0 "$rc"
if [ "$rc" -ne 0 ]; then sed 's/^/# log: /' "$OP_LOG" | tail -40; fi
check_eq "no internal error in the Gmail fixture" 0 "$(gm_counter internal_errors)"
check "no traceback in the provider's log" fails grep -q Traceback "$OP_LOG"
gm_stop

# --- the shell helpers
check_eq "op_ctl prints the value" pong "$(op_ctl ping)"
check "op_ctl refuses an unknown command (exit 1)" test "$(op_ctl nonsense 2>/dev/null; echo $?)" = 1
check "op_ctl set refuses a bad ttl" test "$(op_ctl set ttl=0 2>/dev/null; echo $?)" = 1
check_eq "op_ctl set ttl=N" 7 "$(op_ctl set ttl=7)"
check_eq "op_ctl state shows it" 7 "$(op_ctl state | op_json 'r["ttl"]')"
op_ctl reset_counters >/dev/null
check_eq "op_counter after reset_counters" 0 "$(op_counter auth_requests)"
v=$("$OP_PYTHON" -c 'import base64, hashlib, sys
print(base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode())')
url="$OP_AUTH_URL?response_type=code&client_id=$OP_CLIENT_ID&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2F&scope=https%3A%2F%2Fmail.google.com%2F&state=s1&code_challenge=$v&code_challenge_method=S256&access_type=offline&prompt=consent"
loc=$(op_browse --no-follow "$url")
check_contains "op_browse --no-follow prints the redirect" "http://127.0.0.1:9/?state=s1&code=" "$loc"
check_eq "op_counter auth_requests" 1 "$(op_counter auth_requests)"
code=$("$OP_PYTHON" -c 'import sys, urllib.parse as u
print(u.parse_qs(u.urlsplit(sys.argv[1]).query)["code"][0])' "$loc")
at=$(curl -sS --max-time 10 --cacert "$OP_CA" -u "$OP_CLIENT_ID:$OP_CLIENT_SECRET" \
	--data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
	--data-urlencode "redirect_uri=http://127.0.0.1:9/" --data-urlencode "code_verifier=$(printf 'v%.0s' $(seq 43))" \
	"$OP_TOKEN_URL" | op_json 'r["access_token"]')
check "curl (Basic auth) exchanges the code; op_valid says its token is valid" op_valid "$at"
check "op_valid: an unknown token is not" fails op_valid nope
op_ctl revoke >/dev/null
check "op_valid: not after revoke" fails op_valid "$at"
check_eq "op_browse: no redirect (port 9 closed) is exit 2" 2 "$(op_browse "$url" 2>/dev/null; echo $?)"
dir=$OP_DIR pid=$OP_PID
op_stop
check "op_stop: the server is gone" fails kill -0 "$pid" 2>/dev/null
check "op_stop: its directory is gone" test ! -e "$dir"

op_start hang --ca-dir tests/integration/.no-such-ca 2>/dev/null
check "op_start --ca-dir without a CA fails" test -z "${OP_PID:-}"
gm_start || exit 1
op_start hang --ca-dir "$GM_DIR" || exit 1
check "op_start --ca-dir GM_DIR: OP_CA is the Gmail fixture's CA" cmp -s "$OP_CA" "$GM_CA"
check "... and signs the certificate" signed_by "$GM_CA" "$OP_DIR/server.pem"
check_eq "op_start KNOB: on from the start" hang "$(op_ctl state | op_json 'r["token_knob"]')"
dirs="$OP_DIR $GM_DIR" pids="$OP_PID $GM_PID"
op_stop
gm_stop

# --- the server dies with its shell
info=$(mktemp /tmp/opt.XXXXXX)
(bash -c 'source tests/oauth/provider.sh; op_start >/dev/null || exit 1
	echo "$OP_PID $OP_DIR" >"$1"; kill -KILL $$' _ "$info"; true) 2>/dev/null
read -r pid dir <"$info"
rm -f "$info"
check "a shell killed by SIGKILL: the server exits and removes its dir within 5 s" gone "$pid" "$dir"
pids="$pids $pid" dirs="$dirs $dir"
left=''
for d in $dirs; do left="$left$(pgrep -f -- "$d" || true)"; done
for p in $pids; do ! kill -0 "$p" 2>/dev/null || left="$left $p"; done
check_eq "no process left behind (pgrep)" "" "$left"
tap_done
