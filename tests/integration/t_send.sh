#!/usr/bin/env bash
# gmaildir send against the scripted SMTP server (tests/smtp/server.sh):
# queued at once and never lost, sent exactly once, Bcc stripped, every
# fault answered as the man page says (4xx at each stage: queued and
# retried; 5xx: failed/ with the reply; a cut before the final dot: sent
# once later; a cut after it: the one documented double send), STARTTLS
# never optional, certificates verified, a server that never answers
# bounded, SIZE and 8BITMIME checked before DATA, the password never in a
# log or trace, kill -9 at every step of a submission.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/gmaildir.sh
source tests/smtp/server.sh

BIN=$GMAILDIR_BIN
T=$(mktemp -d /tmp/gdsend.XXXXXX)
trap_chain "rm -rf '$T'"

sm_start --tls starttls --size 200000 || exit 1

# conf FILE [TLS PORT CA]: an account whose IMAP side is never contacted
# here (send only), its SMTP side the scripted server.
conf() {
	local tls=${2:-starttls} port=${3:-$SM_PORT} ca=${4:-$SM_CA}
	cat >"$1" <<Y
accounts:
  - name: t
    host: 127.0.0.1
    port: 9
    user: alice@example.test
    password: "imap-password-unused"
    maildir: $T/Mail
    state_dir: $T/state
    timeout: 3
    smtp:
      host: 127.0.0.1
      port: $port
      tls: $tls
      ca_file: $ca
      user: $SM_USER
      password: "$SM_PASS"
Y
	chmod 600 "$1"
}
conf "$T/c.yaml"
C=$T/c.yaml
Q=$T/state/outbox/new
F=$T/state/failed/new

msg() { # msg N: a message with To, Cc, Bcc; its Message-ID <sendN@example.test>
	printf 'From: Alice <alice@example.test>\nTo: Bob <bob@example.test>\nCc: carol@example.test\nBcc: dave@example.test\nSubject: test %s\nMessage-ID: <send%s@example.test>\n\nbody of %s\n.leading dot\n' "$1" "$1" "$1"
}
queued() { find "$Q" -type f 2>/dev/null | wc -l; }
failed() { find "$F" -type f 2>/dev/null | wc -l; }
spooled_with() { grep -l -F "$1" "$SM_SPOOL"/*.eml 2>/dev/null | wc -l; }

# --- sent at once -------------------------------------------------------
out=$(msg 1 | "$BIN" -c "$C" send -t 2>&1)
check_eq "send -t: exit 0" 0 "$?"
check_eq "... prints nothing when the message went" "" "$out"
check_eq "... the server took it once" 1 "$(spooled_with '<send1@example.test>')"
check_eq "... nothing left queued" 0 "$(queued)"
eml=$(ls "$SM_SPOOL"/*.eml | head -1)
n=$(basename "$eml" .eml)
check "... Bcc is not in what was transmitted" bash -c "! grep -qi '^Bcc:' '$eml' && ! grep -q dave '$eml'"
check_eq "... every recipient, Bcc included, in the envelope" \
	"bob@example.test carol@example.test dave@example.test" \
	"$(sm_json "$n" "' '.join(sorted(r['rcpts']))")"
check_eq "... over TLS" True "$(sm_json "$n" "r['tls']")"
check "... a leading dot arrives as it was (dot-stuffing undone by the server)" \
	grep -q '^\.leading dot' "$eml"
check "... CRLF line ends" grep -q $'^body of 1\r$' "$eml"
check_eq "... recorded in sent.log with its Message-ID" 1 \
	"$(grep -c '<send1@example.test>' "$T/state/outbox/sent.log")"

# --- server unreachable: queued, exit 0, one line ------------------------
conf "$T/down.yaml" starttls 1
out=$(msg 2 | "$BIN" -c "$T/down.yaml" send -t 2>&1)
check_eq "server down: exit 0" 0 "$?"
check_contains "... one line saying it is queued and when it is tried again" "queued in" "$out"
check_eq "... exactly one line" 1 "$(wc -l <<<"$out")"
check_eq "... one file in the outbox" 1 "$(queued)"
check "... the queued file is a message with its envelope in front" \
	grep -q '^X-Gmaildir-Envelope-To: <dave@example.test>' "$Q"/*
status=$("$BIN" -c "$T/down.yaml" status)
check_contains "status: 1 queued" "outbox: 1 queued, 0 failed" "$status"
check_contains "... with the last error" "Connection refused" "$status"
json=$("$BIN" -c "$T/down.yaml" status --json)
check_eq "status --json: queued 1, attempts 1, an error time" "1 1 True" \
	"$(python3 -c 'import json,sys; o=json.load(sys.stdin)["accounts"][0]["outbox"]; m=o["messages"][0]; print(o["queued"], m["attempts"], m["error_at"] is not None)' <<<"$json")"
# The server is back: send --flush ignores the backoff.
out=$("$BIN" -c "$C" send --flush 2>&1)
check_eq "send --flush: exit 0" 0 "$?"
check_eq "... sent once" 1 "$(spooled_with '<send2@example.test>')"
check_eq "... the outbox is empty" 0 "$(queued)"
check_eq "... and its retry note gone" 0 "$(find "$T/state/outbox/.retry" -type f | wc -l)"

# --- 4xx at each stage: queued, retried, sent once ----------------------
i=10
for fault in greeting=421:1 ehlo=451:1 auth=454:1 mail=451:1 rcpt=450:1 data=451:1 dot=451:1; do
	i=$((i + 1))
	sm_fault "$fault"
	out=$(msg $i | "$BIN" -c "$C" send -t 2>&1)
	rc=$?
	check "$fault: exit 0, queued" test "$rc" -eq 0 -a "$(queued)" -eq 1
	check_eq "... not taken" 0 "$(spooled_with "<send$i@example.test>")"
	"$BIN" -c "$C" send --flush >/dev/null 2>&1
	check_eq "... sent once by the next flush" 1 "$(spooled_with "<send$i@example.test>")"
	check_eq "... nothing queued" 0 "$(queued)"
done
sm_fault

# --- 5xx: failed/ with the reply, never retried ---------------------------
sm_fault "rcpt=550:carol@example.test"
out=$(msg 20 | "$BIN" -c "$C" send -t 2>&1)
check_eq "5xx for one recipient: exit 1" 1 "$?"
check_contains "... the server's reply shown" "550" "$out"
check_eq "... nothing sent to anyone" 0 "$(spooled_with '<send20@example.test>')"
check_eq "... moved to failed/" "0 1" "$(queued) $(failed)"
check_contains "... status shows it refused, with the reply" "refused" "$("$BIN" -c "$C" status)"
sm_fault
"$BIN" -c "$C" send --flush >/dev/null 2>&1
check_eq "... a flush never sends a failed message" 0 "$(spooled_with '<send20@example.test>')"
rm -f "$F"/*

sm_fault dot=554:1
msg 21 | "$BIN" -c "$C" send -t >/dev/null 2>&1
check_eq "554 after the dot: failed, not sent" "0 1 0" \
	"$(queued) $(failed) $(spooled_with '<send21@example.test>')"
rm -f "$F"/*

# --- cuts -----------------------------------------------------------------
sm_fault drop-after-data:1
out=$(msg 30 | "$BIN" -c "$C" send -t 2>&1)
check "a cut before the final dot: exit 0, queued" test "$?" -eq 0 -a "$(queued)" -eq 1
"$BIN" -c "$C" send --flush >/dev/null 2>&1
check_eq "... sent exactly once afterwards" 1 "$(spooled_with '<send30@example.test>')"

sm_fault drop-after-dot:1
out=$(msg 31 | "$BIN" -c "$C" send -t 2>&1)
check "a cut after the final dot: exit 0, still queued" test "$?" -eq 0 -a "$(queued)" -eq 1
check_contains "... it says the server may have it" "may have it" "$out"
"$BIN" -c "$C" send --flush >/dev/null 2>&1
check_eq "... sent again: the one documented double (received twice)" 2 \
	"$(spooled_with '<send31@example.test>')"
check_eq "... and no longer queued" 0 "$(queued)"

# --- a server that never answers: bounded -------------------------------
sm_fault silent:1
start=$(date +%s)
msg 40 | "$BIN" -c "$C" send -t >/dev/null 2>&1
rc=$?
secs=$(($(date +%s) - start))
check "a silent server: exit 0 within 3 timeouts (${secs}s)" test "$rc" -eq 0 -a "$secs" -le 12
check_eq "... queued" 1 "$(queued)"
sm_fault
"$BIN" -c "$C" send --flush >/dev/null 2>&1
check_eq "... sent once later" 1 "$(spooled_with '<send40@example.test>')"

# --- STARTTLS never optional -----------------------------------------------
: >"$SM_TRANSCRIPT"
sm_fault strip-starttls
out=$(msg 41 | "$BIN" -c "$C" send -t 2>&1)
check "STARTTLS stripped: exit 0, queued, not sent" \
	test "$?" -eq 0 -a "$(queued)" -eq 1 -a "$(spooled_with '<send41@example.test>')" -eq 0
check_contains "... says why" "does not offer STARTTLS" "$out"
check "... the password never went over the plain connection" \
	bash -c "! grep -q -e '$SM_PASS' -e \"\$(printf '\\0%s\\0%s' '$SM_USER' '$SM_PASS' | base64)\" '$SM_TRANSCRIPT'"
check "... nor AUTH at all" bash -c "! grep -q 'AUTH' '$SM_TRANSCRIPT'"
sm_fault starttls=454
out=$(msg 42 | "$BIN" -c "$C" send -t 2>&1)
check_contains "STARTTLS refused (454): queued, says so" "STARTTLS refused" "$out"
sm_fault
"$BIN" -c "$C" send --flush >/dev/null 2>&1
check_eq "... both sent once STARTTLS works again" "1 1" \
	"$(spooled_with '<send41@example.test>') $(spooled_with '<send42@example.test>')"

# --- a certificate we do not trust ----------------------------------------
other_ca=$T/other-ca
mkdir -p "$other_ca"
_dc_make_certs "$other_ca" "" >/dev/null 2>&1
conf "$T/badca.yaml" starttls "$SM_PORT" "$other_ca/ca.pem"
out=$(msg 43 | "$BIN" -c "$T/badca.yaml" send -t 2>&1)
check_contains "a certificate from another CA: refused" "certificate verify failed" "$out"
check_eq "... not sent, queued" "0 1" "$(spooled_with '<send43@example.test>') $(queued)"
"$BIN" -c "$C" send --flush >/dev/null 2>&1

# --- SIZE and 8BITMIME before DATA ----------------------------------------
big=$T/big.eml
{
	printf 'From: alice@example.test\nTo: bob@example.test\nSubject: big\nMessage-ID: <big@example.test>\n\n'
	head -c 300000 /dev/zero | tr '\0' 'x' | fold -w 76
} >"$big"
: >"$SM_TRANSCRIPT"
out=$("$BIN" -c "$C" send -t <"$big" 2>&1)
check_eq "bigger than SIZE: exit 1" 1 "$?"
check_contains "... says the limit" "SIZE" "$out"
check "... no DATA was sent" bash -c "! grep -q 'DATA' '$SM_TRANSCRIPT'"
check_eq "... in failed/" 1 "$(failed)"
rm -f "$F"/*

sm_stop
sm_start --tls implicit --no-8bitmime || exit 1
conf "$C" implicit
printf 'From: alice@example.test\nTo: bob@example.test\nMessage-ID: <eight@example.test>\n\nGr\xc3\xbc\xc3\x9fe\n' |
	"$BIN" -c "$C" send -t >"$T/out" 2>&1
check_eq "implicit TLS, 8-bit body, no 8BITMIME: exit 1" 1 "$?"
check_contains "... says so" "8BITMIME" "$(cat "$T/out")"
rm -f "$F"/*
msg 50 | "$BIN" -c "$C" send -t >/dev/null 2>&1
check_eq "implicit TLS (port-465 style): sent" 1 "$(spooled_with '<send50@example.test>')"

# --- no secret in logs or traces ------------------------------------------
sm_fault dot=451:1
msg 51 | "$BIN" -c "$C" -vv send -t >"$T/trace" 2>&1
"$BIN" -c "$C" -vv send --flush >>"$T/trace" 2>&1
check_contains "the -vv trace shows the SMTP dialogue" "smtp C: MAIL FROM" "$(cat "$T/trace")"
check_contains "... and marks the secret" "<secret," "$(cat "$T/trace")"
b64=$(printf '\0%s\0%s' "$SM_USER" "$SM_PASS" | base64)
check "... the password appears nowhere: trace, status, notes, logs" bash -c \
	"! grep -r -q -F -e '$SM_PASS' -e '$b64' '$T/trace' '$T/state' &&
	 ! '$BIN' -c '$C' status | grep -q -F '$SM_PASS'"
sm_fault

# --- kill -9 at every step of a submission ----------------------------------
# Count the steps of one send, then kill it at each: afterwards a flush
# must leave the message sent exactly once, except a kill after the final
# dot (or after the 2xx, before the queue is updated), the documented case
# where it may be sent twice.
export GMAILDIR_CRASH_LOG=$T/steps
msg 60 | "$BIN" -c "$C" send -t >/dev/null 2>&1
unset GMAILDIR_CRASH_LOG
steps=$(wc -l <"$T/steps")
check "a submission has its crash steps (${steps})" test "$steps" -ge 4
for k in $(seq 1 "$steps"); do
	id="<kill$k@example.test>"
	what=$(sed -n "${k}p" "$T/steps" | cut -d' ' -f2-)
	printf 'From: alice@example.test\nTo: bob@example.test\nMessage-ID: %s\n\nk\n' "$id" |
		GMAILDIR_CRASH_AT=$k "$BIN" -c "$C" send -t >/dev/null 2>&1
	"$BIN" -c "$C" send --flush >/dev/null 2>&1
	got=$(spooled_with "$id")
	case $what in
	"smtp: final dot sent" | "smtp: accepted")
		check "kill at step $k ($what): sent once or twice (the documented case), not lost" \
			test "$got" -ge 1 -a "$got" -le 2 ;;
	*)
		check_eq "kill at step $k ($what): sent exactly once" 1 "$got" ;;
	esac
	check_eq "... nothing left queued" 0 "$(queued)"
done

# --- kill -9 of the daemon at every step of its flush -------------------------
# A message left queued (send killed right after queueing); the daemon
# flushes before anything else, so its first steps are the submission's.
# Its IMAP side (port 9) never answers: only the outbox matters here.
queue_one() { # queue_one ID: queued, never tried
	printf 'From: alice@example.test\nTo: bob@example.test\nMessage-ID: %s\n\nd\n' "$1" |
		GMAILDIR_CRASH_AT=1 "$BIN" -c "$C" send -t >/dev/null 2>&1
}
queue_one "<dlog@example.test>"
rm -f "$T/dsteps"
GMAILDIR_CRASH_LOG=$T/dsteps "$BIN" -c "$C" daemon >"$T/daemon.log" 2>&1 &
dpid=$!
wait_for 20 grep -q "smtp: out of the queue" "$T/dsteps"
kill -TERM "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null
dsteps=$(grep -n "smtp: out of the queue" "$T/dsteps" | head -1 | cut -d: -f1)
check "the daemon's flush has its crash steps (${dsteps:-none})" test "${dsteps:-0}" -ge 4
for k in $(seq 1 "${dsteps:-0}"); do
	id="<dkill$k@example.test>"
	what=$(sed -n "${k}p" "$T/dsteps" | cut -d' ' -f2-)
	queue_one "$id"
	GMAILDIR_CRASH_AT=$k timeout 30 "$BIN" -c "$C" daemon >>"$T/daemon.log" 2>&1
	rc=$?
	check_eq "daemon killed at step $k ($what): it died of SIGKILL" 137 "$rc"
	"$BIN" -c "$C" send --flush >/dev/null 2>&1
	got=$(spooled_with "$id")
	case $what in
	"smtp: final dot sent" | "smtp: accepted")
		check "... sent once or twice (the documented case), not lost" \
			test "$got" -ge 1 -a "$got" -le 2 ;;
	*)
		check_eq "... sent exactly once" 1 "$got" ;;
	esac
	check_eq "... nothing left queued" 0 "$(queued)"
done
check "... the daemon never logged the password" bash -c "! grep -q -F '$SM_PASS' '$T/daemon.log'"

# --- the config refuses port 25 toward Gmail --------------------------------
cat >"$T/p25.yaml" <<Y
accounts:
  - name: g
    provider: gmail
    user: someone@gmail.com
    password: "x"
    maildir: $T/g
    smtp: {host: smtp.gmail.com, port: 25}
Y
chmod 600 "$T/p25.yaml"
out=$("$BIN" -c "$T/p25.yaml" check-config 2>&1)
check_eq "port 25 toward smtp.gmail.com: check-config exits 2" 2 "$?"
check_contains "... with Google's reason and the ports to use" "use port 465" "$out"
out=$(msg 70 | "$BIN" -c "$T/p25.yaml" send -t 2>&1)
check_eq "... and send refuses before queueing anything" 2 "$?"

tap_done
