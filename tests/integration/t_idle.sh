#!/usr/bin/env bash
# IDLE against a real Dovecot, through tests/tools/idle_probe (imap/imap_idle.c
# driven by util/loop): a new message, a flag change and an expunge made with
# doveadm each reach the idling client within a bounded time; the latency
# from `doveadm save` to the reported EXISTS is measured; renewal, a clean
# stop, IDLE without a selected mailbox, EXPUNGE without QRESYNC, and the
# server dropping the connection.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/dovecot.sh

probe=${GMAILDIR_TOOLS:-$PWD/build/tools}/idle_probe
# The sanitizer build's probe when there is one: same behaviour, and a
# leak or a memory error fails its exit status.
if [ -n "${GMAILDIR_SAN_BIN:-}" ] && [ -x "$(dirname "$GMAILDIR_SAN_BIN")/tools/idle_probe" ]; then
	probe=$(dirname "$GMAILDIR_SAN_BIN")/tools/idle_probe
fi
if [ ! -x "$probe" ]; then
	not_ok "idle_probe is built ($probe)"
	exit 1
fi
diag "probe: $probe"

work=$(mktemp -d /tmp/gd-idle.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT # dc_start chains its own cleanup after this

now_ms() { date +%s%3N; }

# wait_for FILE EXTENDED_REGEX COUNT SECONDS: until COUNT lines match.
wait_for() {
	local i n
	for ((i = 0; i < $4 * 20; i++)); do
		n=$(grep -cE "$2" "$1" 2>/dev/null)
		[ "${n:-0}" -ge "$3" ] && return 0
		sleep 0.05
	done
	return 1
}

# start_probe OUT SECONDS [MAILBOX]: the probe in the background ($probe_pid),
# idling on MAILBOX (default INBOX) once this returns 0.
start_probe() {
	"$probe" "$DC_HOST" "$DC_PORT_IMAPS" implicit "$DC_CA" "$DC_USER" "$DC_PASS" \
		"${3:-INBOX}" "$2" >"$1" 2>"$1.err" &
	probe_pid=$!
	pids+=("$probe_pid")
	wait_for "$1" '^idle: started' 1 15
}

# stop_probe OUT: SIGTERM, then the exit status (the probe leaves IDLE,
# logs out and prints "done").
stop_probe() {
	kill -TERM "$probe_pid" 2>/dev/null
	wait "$probe_pid"
}

# field LINE NAME: the value of NAME=... in an event line.
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }

dc_start || exit 1
gen=$(dc_populate "$DC_USER" INBOX 8 7 1K 4K)

# ------------------------------------------------------- new, flags, expunge
out=$work/main
check "the probe selects INBOX and enters IDLE" start_probe "$out" 120
check_contains "SELECT saw the 8 messages" "exists=8" "$(cat "$out")"

lat_save=()
lat_after=()
for i in 1 2 3 4 5; do
	t0=$(now_ms)
	dc_doveadm save -u "$DC_USER" -m INBOX <"$gen/00000$i.eml"
	t1=$(now_ms)
	if ! wait_for "$out" '^event: .* exists=1 ' "$i" 10; then
		not_ok "new message $i reported as EXISTS within 10 s"
		break
	fi
	line=$(grep -E '^event: .* exists=1 ' "$out" | sed -n "${i}p")
	ms=$(field "$line" ms)
	lat_save+=($((ms - t0)))
	lat_after+=($((ms - t1)))
done
if [ ${#lat_save[@]} -eq 5 ]; then
	ok "5 new messages each reported as EXISTS within 10 s"
	check_contains "the last EXISTS counts 13 messages" "n_exists=13" \
		"$(grep -E '^event: .* exists=1 ' "$out" | tail -1)"
	diag "IDLE latency, doveadm save start -> EXISTS reported (ms): ${lat_save[*]}"
	diag "IDLE latency, doveadm save return -> EXISTS reported (ms): ${lat_after[*]}"
	max=0
	for l in "${lat_save[@]}"; do [ "$l" -gt "$max" ] && max=$l; done
	check "every EXISTS arrived within 3 s of the save (max ${max} ms)" test "$max" -lt 3000
fi

dc_add_flags "$DC_USER" INBOX 1 '\Flagged'
check "a flag change is reported as a FETCH within 10 s" \
	wait_for "$out" '^event: .* fetches=[1-9]' 1 10

dc_expunge "$DC_USER" INBOX 2
check "an expunge is reported within 10 s (VANISHED: QRESYNC is enabled)" \
	wait_for "$out" '^event: .* vanished=[1-9]' 1 10

# A burst: 20 messages in one doveadm copy, several EXISTS, maybe in one
# TLS record: the final count must be right (buffered data not missed).
dc_populate "$DC_USER" INBOX 20 8 1K 2K >/dev/null
check "a burst of 20 messages ends at n_exists=32" \
	wait_for "$out" '^event: .* n_exists=32 ' 1 10
grep -q '^idle: buffered' "$out" && diag "the burst left data buffered past poll() (handled)"

stop_probe
rc=$?
check_eq "SIGTERM: the probe leaves IDLE, logs out and exits 0" 0 "$rc"
check_eq "it printed done" "done" "$(tail -1 "$out")"
check_eq "nothing on stderr" "" "$(cat "$out.err")"

# ------------------------------------------------------------------ renewal
out=$work/renew
IDLE_PROBE_RENEW_MS=700 start_probe "$out" 3
wait "$probe_pid"
rc=$?
check_eq "renewing IDLE every 0.7 s for 3 s exits 0" 0 "$rc"
renewals=$(grep -c '^idle: renewed' "$out")
check "at least 3 renewals ($renewals)" test "$renewals" -ge 3
check_eq "renewal output ends with done" "done" "$(tail -1 "$out")"

# -------------------------------------------------- IDLE without a selection
out=$work/nosel
"$probe" "$DC_HOST" "$DC_PORT_IMAPS" implicit "$DC_CA" "$DC_USER" "$DC_PASS" - 5 \
	>"$out" 2>"$out.err"
rc=$?
check_eq "IDLE without a selected mailbox is refused (exit 1, no crash)" 1 "$rc"
check_contains "the error says why" "IDLE: no mailbox selected" "$(cat "$out.err")"

check "Dovecot logged no error" dc_log_check

# ------------------------------------------------------- without QRESYNC
dc_stop
DC_CAP_HIDE="QRESYNC" dc_start || exit 1
gen=$(dc_populate "$DC_USER" INBOX 3 9 1K 2K)
out=$work/noqr
check "without QRESYNC: the probe idles" start_probe "$out" 60
dc_expunge "$DC_USER" INBOX 1
check "without QRESYNC: an expunge is reported as EXPUNGE within 10 s" \
	wait_for "$out" '^event: .* expunged=1 ' 1 10

# ------------------------------------------------- the server drops us
# doveadm kick: the server says BYE and closes. The BYE alone must end the
# wait (a server may keep the socket open after it: Dovecot's TLS proxy
# does so for ~10 s when the whole server stops).
t0=$(now_ms)
dc_doveadm kick "$DC_USER" >/dev/null
for ((i = 0; i < 200; i++)); do
	kill -0 "$probe_pid" 2>/dev/null || break
	sleep 0.05
done
t1=$(now_ms)
wait "$probe_pid"
rc=$?
check_eq "kicked by the server: the probe fails (exit 1)" 1 "$rc"
check "it noticed within 3 s ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000
check_contains "the error quotes the BYE" "the server said BYE" "$(cat "$out.err")"
diag "when kicked: $(cat "$out.err")"

tap_done
