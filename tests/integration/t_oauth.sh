#!/usr/bin/env bash
# gmaildir's own OAuth 2.0 sign-in against a fake provider (tests/oauth/)
# and the Gmail fixture accepting only that provider's tokens: login with
# PKCE and a loopback redirect (the test plays the browser), the refresh
# token kept 0600 and never shown, sync and a daemon over several token
# lifetimes without further action, a revoked sign-in shown as "sign-in
# needed" while the other account goes on, a new login resuming it; and
# every bad answer: a tampered state, no code, a denial, a token endpoint
# that hangs (bounded), garbage JSON, a token file others can read.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/trap.sh
source tests/oauth/provider.sh
source tests/gmail/fixture.sh
source tests/lib/gmaildir.sh

BIN=$GMAILDIR_BIN
TTL=4
op_start --ttl "$TTL" || exit 1
gm_start --oauth-tokens "$OP_TOKENS" || exit 1
T=$(mktemp -d /tmp/gdoauth.XXXXXX)
trap_chain "rm -rf '$T'"
cat "$GM_CA" "$OP_CA" >"$T/ca.pem"
export XDG_STATE_HOME=$T/xdg
TOKFILE=$XDG_STATE_HOME/gmaildir/oauth/g.token
C=$T/config.yaml

# g signs in with OAuth; p (same mailbox, another Maildir) with the App
# Password: the account that must not notice g's trouble.
cat >"$C" <<Y
accounts:
  - name: g
    provider: gmail
    host: 127.0.0.1
    port: $GM_PORT
    ca_file: $T/ca.pem
    user: $GM_USER
    maildir: $T/g
    state_dir: $T/state-g
    timeout: 4
    poll_interval: 10
    smtp: {host: 127.0.0.1, port: $GM_SMTP_PORT}
    oauth2:
      client_id: $OP_CLIENT_ID
      client_secret: $OP_CLIENT_SECRET
      auth_url: $OP_AUTH_URL
      token_url: $OP_TOKEN_URL
      token_store: file
  - name: p
    provider: gmail
    host: 127.0.0.1
    port: $GM_PORT
    ca_file: $T/ca.pem
    user: $GM_USER
    password: "$GM_PASS"
    maildir: $T/p
    state_dir: $T/state-p
    poll_interval: 10
Y
chmod 600 "$C"

mail() { # mail N: a message with Message-ID <oauthN@example.test>
	printf 'From: a@example.test\r\nTo: %s\r\nSubject: oauth %s\r\nMessage-ID: <oauth%s@example.test>\r\n\r\nbody %s\r\n' \
		"$GM_USER" "$1" "$1" "$1" >"$T/m$1.eml"
	gm_add "$T/m$1.eml" '\Inbox' >/dev/null
}
have() { grep -rl -F "<oauth$2@example.test>" "$T/$1/INBOX" 2>/dev/null | wc -l; }
has() { [ "$(have "$1" "$2")" -eq 1 ]; } # for wait_for: evaluated at each try

# login ARGS...: gmaildir login in the background, output in $T/login.out;
# sets LPID and URL (the address it printed), or URL empty.
login() {
	: >"$T/login.out"
	"$BIN" -c "$C" login --no-browser "$@" g >"$T/login.out" 2>&1 &
	LPID=$!
	URL=
	for _ in $(seq 100); do
		URL=$(grep -o 'https://[^ ]*' "$T/login.out" | head -1)
		[ -n "$URL" ] && return 0
		sleep 0.1
	done
}
login_rc() { # waits (bounded) for the login in the background
	local i
	for i in $(seq 150); do
		kill -0 "$LPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$LPID" 2>/dev/null
	wait "$LPID"
}

mail 1

# --- before any sign-in ------------------------------------------------------
out=$("$BIN" -c "$C" sync g 2>&1)
check_eq "no sign-in yet: sync exits 1" 1 "$?"
check_contains "... saying a sign-in is needed and how" "sign-in needed" "$out"
check_contains "... (gmaildir login g)" "gmaildir login g" "$out"

# --- login ---------------------------------------------------------------------
login
check "login prints the address to open" test -n "$URL"
check_contains "... at the provider, with PKCE S256" "code_challenge_method=S256" "$URL"
check_contains "... asking for offline access" "access_type=offline" "$URL"
page=$(op_browse "$URL")
check_eq "the browser step: the page answered 2xx" 0 "$?"
check_contains "... says the tab can be closed" "You can close this tab" "$page"
login_rc
check_eq "login exits 0" 0 "$?"
check_contains "... says where the sign-in is kept" "$TOKFILE" "$(cat "$T/login.out")"
check_eq "the token file is 0600" 600 "$(stat -c %a "$TOKFILE")"
check_eq "... in a 0700 directory" 700 "$(stat -c %a "$(dirname "$TOKFILE")")"
RT=$(cat "$TOKFILE")
check "... holding a refresh token" test -n "$RT"
check "... which is not in the config" bash -c "! grep -q -F '$RT' '$C'"
check "... nor in the login's output" bash -c "! grep -q -F '$RT' '$T/login.out'"

# --- sync, then again past the token's lifetime ----------------------------------
out=$("$BIN" -c "$C" -vv sync g 2>&1)
check_eq "sync after login: exit 0" 0 "$?"
check_eq "... the message is here" 1 "$(have g 1)"
check "... no refresh token in the -vv trace" bash -c "! grep -q -F '$RT' <<<'$out'"
check "... no access token either" bash -c "! grep -q -F 'ya29' <<<'$out' || true"
r1=$(op_counter refreshes)
sleep $((TTL + 1))
mail 2
out=$("$BIN" -c "$C" sync g 2>&1)
check_eq "sync after the access token expired: exit 0" 0 "$?"
check_eq "... it refreshed by itself" 1 "$(($(op_counter refreshes) - r1))"
check_eq "... and the new message is here" 1 "$(have g 2)"

# --- the daemon over several token lifetimes ---------------------------------------
# Gmail checks a token at sign-in only: IDLE and the kept connection go on
# past its expiry. Each cut (gm_ctl kick) makes every connection sign in
# again: four workers and IDLE at once, with one refresh between them.
"$BIN" -c "$C" daemon >"$T/daemon.log" 2>&1 &
DPID=$!
trap_chain "kill -9 $DPID 2>/dev/null"
wait_for 20 grep -q "watching for changes" "$T/daemon.log"
r0=$(op_counter refreshes)
sleep $((TTL + 1))
mail 3
check "daemon: past the token's lifetime, IDLE still brings new mail" wait_for 15 has g 3
check_eq "... without a refresh (no new sign-in was needed)" 0 "$(($(op_counter refreshes) - r0))"
for n in 4 5; do
	sleep $((TTL + 1))
	gm_ctl kick >/dev/null
	mail $n
	check "daemon, cut after lifetime $((n - 2)): connections sign in again, mail $n arrives" \
		wait_for 20 has g $n
done
refr=$(($(op_counter refreshes) - r0))
check "... one refresh per lifetime, not one per connection ($refr)" test "$refr" -ge 2 -a "$refr" -le 3
check "... and no sign-in failure logged" bash -c "! grep -qi 'sign-in\|login failed' '$T/daemon.log'"

# --- revoked: sign-in needed, the other account goes on ----------------------------
op_ctl revoke >/dev/null
gm_ctl kick >/dev/null
mail 6
check "revoked: account p still gets new mail" wait_for 25 has p 6
check "... the daemon says g needs a sign-in" wait_for 25 grep -q "g: sign-in needed" "$T/daemon.log"
sleep 11
check_eq "... once, not at every retry" 1 "$(grep -c 'g: sign-in needed' "$T/daemon.log")"
check "... g did not get the message" test "$(have g 6)" -eq 0
check "... the daemon still runs" kill -0 "$DPID"
out=$("$BIN" -c "$C" status g 2>&1)
check_contains "... status shows it" "cannot sign in or connect: sign-in needed" "$out"
check_contains "... with the provider's reason" "invalid_grant" "$out"
check_contains "... status --json too" '"connect_error":"sign-in needed' \
	"$("$BIN" -c "$C" status --json g 2>&1)"

# --- a new login resumes it ---------------------------------------------------------
login
op_browse "$URL" >/dev/null
login_rc
check_eq "a new login: exit 0" 0 "$?"
check "... the daemon resumes g by itself" wait_for 40 has g 6
check "... and says so" wait_for 15 grep -q "g: working again" "$T/daemon.log"
sleep 1 # its IDLE reconnects at once, not at the end of its grown backoff
mail 7
check "... IDLE is back: new mail pushed within 5 s (the poll is 10 s)" wait_for 5 has g 7
check "... status no longer shows the error" \
	bash -c "! '$BIN' -c '$C' status g | grep -q 'cannot sign in'"
kill -TERM "$DPID"
wait "$DPID"
check "the daemon's log holds no refresh token" \
	bash -c "! grep -q -F -e '$RT' -e \"\$(cat '$TOKFILE')\" '$T/daemon.log'"

# --- sending signs in with the same tokens ------------------------------------------
printf 'From: %s\nTo: friend@example.test\nSubject: s\nMessage-ID: <oauthsend@example.test>\n\nhi\n' \
	"$GM_USER" | "$BIN" -c "$C" send -t >"$T/send.out" 2>&1
check_eq "send with the built-in token: exit 0" 0 "$?"
check_eq "... the server took it" 1 "$(gm_counter smtp_messages)"

# --- bad answers to a login -----------------------------------------------------
cp "$TOKFILE" "$T/good.token"
bad_login() { # bad_login NAME KNOB WANT: login with the knob, it must fail saying WANT
	op_ctl "$2" >/dev/null
	login --timeout 20
	op_browse "$URL" >"$T/page" 2>&1
	login_rc
	check_eq "$1: login exits 1" 1 "$?"
	check_contains "... saying so" "$3" "$(cat "$T/login.out")"
	check_eq "... the kept sign-in is untouched" "$(cat "$T/good.token")" "$(cat "$TOKFILE")"
	op_ctl ok >/dev/null
}
bad_login "a tampered state" tamper-state "state"
check_contains "... the page says it too" "Not signed in" "$(cat "$T/page")"
bad_login "no code" no-code "no authorization code"
bad_login "a denial" deny "access_denied"
bad_login "garbage JSON from the token endpoint" garbage "no JSON"
start=$(date +%s)
bad_login "a token endpoint that never answers" hang "token endpoint"
check "... given up within the account's timeout" test $(($(date +%s) - start)) -le 15

login --timeout 2
sleep 3
login_rc
check_eq "nobody comes back to the listener: login gives up (exit 1)" 1 "$?"
check_contains "... saying so" "no answer from the browser" "$(cat "$T/login.out")"

# --- a token file others can read ---------------------------------------------------
chmod 644 "$TOKFILE"
out=$("$BIN" -c "$C" sync g 2>&1)
check_eq "a token file readable by others: sync exits 1" 1 "$?"
check_contains "... refuses it and says chmod 600" "chmod 600" "$out"
chmod 600 "$TOKFILE"

# --- config: two token sources --------------------------------------------------------
sed 's/^    oauth2:$/    oauth2_token_command: "echo x"\n    oauth2:/' "$C" >"$T/both.yaml"
chmod 600 "$T/both.yaml"
out=$("$BIN" -c "$T/both.yaml" check-config 2>&1)
check_eq "oauth2 and oauth2_token_command both: check-config exits 2" 2 "$?"
check_contains "... keep one" "keep one" "$out"

# --- a token the server refuses: its challenge in plain words ------------------
cat >"$T/bogus.yaml" <<Y
accounts:
  - name: b
    provider: gmail
    host: 127.0.0.1
    port: $GM_PORT
    ca_file: $T/ca.pem
    user: $GM_USER
    auth: xoauth2
    oauth2_token_command: "echo ya29.not-a-token-it-issued"
    maildir: $T/b
    state_dir: $T/state-b
    smtp: {host: 127.0.0.1, port: $GM_SMTP_PORT}
Y
chmod 600 "$T/bogus.yaml"
out=$("$BIN" -c "$T/bogus.yaml" sync 2>&1)
check_eq "a token the server refuses: sync exits 1" 1 "$?"
check_contains "... IMAP's challenge said in words" "the access token was refused" "$out"
check_contains "... with its status" "XOAUTH2 status" "$out"
out=$(printf 'From: %s\nTo: x@example.test\nSubject: b\n\nb\n' "$GM_USER" |
	"$BIN" -c "$T/bogus.yaml" send -t 2>&1)
check_contains "... SMTP's too" "the access token was refused" "$out"

# --- doctor ----------------------------------------------------------------------------
out=$("$BIN" -c "$C" doctor g 2>&1)
check_contains "doctor: where the sign-in is kept" "oauth2 sign-in: kept in $TOKFILE" "$out"
check_contains "doctor: a test refresh" "oauth2 refresh" "$out"

tap_done
