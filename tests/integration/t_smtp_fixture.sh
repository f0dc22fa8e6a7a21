#!/usr/bin/env bash
# The scripted SMTP server (tests/smtp/server.py) does what the SMTP tests
# rely on: tests/smtp/selftest.py drives each TLS mode and each fault with
# smtplib; then the shell helpers and the lifecycle (nothing survives
# sm_stop or the death of the shell that started it).
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/smtp/server.sh

selftest() { # MODE SM_START_ARGS...
	local mode=$1 out rc
	shift
	if ! sm_start "$@"; then
		not_ok "sm_start $*"
		return
	fi
	out=$(timeout -k 5 60 "$SM_PYTHON" tests/smtp/selftest.py "$mode" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	TAP_FAILED=$((TAP_FAILED + $(printf '%s\n' "$out" | grep -c '^not ok ')))
	check_eq "selftest.py $mode ran to its end" 0 "$rc"
	if [ "$rc" -ne 0 ]; then sed 's/^/# log: /' "$SM_LOG" | tail -40; fi
	sm_stop
}

selftest starttls --tls starttls
selftest plain --tls starttls --allow-plain
selftest implicit --tls implicit --size 1000 --no-8bitmime --no-smtputf8
selftest none --tls none

# --- the shell helpers
sm_start --tls none dot=554:1 || exit 1
check "sm_start: port, CA, spool, live pid" test -n "$SM_PORT" -a -s "$SM_CA" -a -d "$SM_SPOOL" \
	-a -n "$SM_PID"
check_eq "sm_start FAULT...: the initial faults" "dot=554:1" "$(cat "$SM_FAULTS")"
check "sm_fault refuses a bad spec" test "$(sm_fault dot=200 2>/dev/null; echo $?)" = 1
check "sm_fault refuses an unknown fault" test "$(sm_fault nonsense 2>/dev/null; echo $?)" = 1
send() {
	"$SM_PYTHON" -c '
import os, smtplib, sys
s = smtplib.SMTP(os.environ["SM_HOST"], int(os.environ["SM_PORT"]), timeout=10)
s.login("alice", "alice-secret")
try:
    s.sendmail("a@x.test", ["b@x.test"], b"Subject: s\r\n\r\nbody\r\n")
    print("sent")
except smtplib.SMTPDataError as e:
    print(e.smtp_code)' 2>&1
}
check_eq "the initial fault: 554 after the dot" 554 "$(send)"
check_eq "then sent" sent "$(send)"
sm_fault drop-after-dot
send >/dev/null
check_eq "sm_count: 1 accepted" 1 "$(sm_count)"
check_eq "sm_count --all: 2 with the unanswered one" 2 "$(sm_count --all)"
check_eq "sm_json reads N.json" "b@x.test" "$(sm_json 1 'r["rcpts"]')"
dir=$SM_DIR pid=$SM_PID
sm_stop
check "sm_stop: the server is gone" test ! -e "/proc/$pid"
check "sm_stop: its directory is gone" test ! -e "$dir"

# --- the server dies with its shell
info=$(mktemp)
{ bash -c 'source tests/smtp/server.sh; sm_start --tls none >/dev/null || exit 1
echo "$SM_PID $SM_DIR" >"$1"; kill -KILL $$' _ "$info"; } 2>/dev/null
read -r pid dir <"$info"
rm -f "$info"
for _ in $(seq 50); do
	[ -e "/proc/$pid" ] || [ -e "$dir" ] || break
	sleep 0.1
done
check "a shell killed by SIGKILL: the server exits and removes its dir" \
	test ! -e "/proc/$pid" -a ! -e "$dir"
tap_done
