# shellcheck shell=bash
# The link emulator (tests/proxy/linkem.py) between a client and the harness
# Dovecot, for tests/bench/link.sh: source after tests/lib/dovecot.sh.
# Every connection through it shares one emulated link (a rate and a
# one-way delay per direction).
#
#   linkem_start PORT LOG [LINKEM ARGS...]
#       starts an emulator relaying to 127.0.0.1:PORT (its output and log to
#       LOG), waits (at most 5 s) until it listens. LINKEM_PID is its pid,
#       LINKEM_PORT the port to connect to, LINKEM_COUNTS its count file.
#       Give --max-life in the ARGS: every emulator must end by itself.
#       E.g. linkem_start "$DC_PORT_IMAPS" log --delay-ms 20 --rate-kbit 20000
#       --max-life 900
#   linkem_counts
#       prints "C2S S2C", the bytes delivered so far each way, once what
#       was in flight has landed: it waits LINKEM_SETTLE seconds (default
#       0.3 + the RTT given to linkem_start), then asks (SIGUSR1) for a
#       fresh count file (at most 2 s)
#   linkem_stop
#       stops it (TERM, then KILL after 5 s) and waits for it.

LINKEM_PID=
# shellcheck disable=SC2034 # for the caller
LINKEM_PORT=
LINKEM_COUNTS=
LINKEM_SETTLE=
_LINKEM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

linkem_start() {
	local port=$1 log=$2 pf i a rtt=0 prev=
	shift 2
	linkem_stop
	pf=$(mktemp -u "/tmp/linkem.port.XXXXXX")
	LINKEM_COUNTS=$(mktemp "/tmp/linkem.counts.XXXXXX")
	for a in "$@"; do
		case $prev in
		--delay-ms) rtt=$(awk -v d="$a" 'BEGIN { print 2 * d / 1000 }') ;;
		--delay-c2s-ms | --delay-s2c-ms) rtt=$(awk -v r="$rtt" -v d="$a" 'BEGIN { print r + d / 1000 }') ;;
		esac
		prev=$a
	done
	LINKEM_SETTLE=${LINKEM_SETTLE:-$(awk -v r="$rtt" 'BEGIN { print 0.3 + r }')}
	"${DC_PYTHON:-python3}" "$_LINKEM_LIB_DIR/../proxy/linkem.py" --target "127.0.0.1:$port" \
		--port-file "$pf" --count-file "$LINKEM_COUNTS" --log "$log" "$@" \
		</dev/null >>"$log" 2>&1 &
	LINKEM_PID=$!
	for i in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	[ -s "$pf" ] || return 1
	# shellcheck disable=SC2034 # for the caller
	LINKEM_PORT=$(cat "$pf")
	rm -f "$pf"
}

linkem_counts() {
	local i
	[ -n "$LINKEM_PID" ] || return 1
	sleep "$LINKEM_SETTLE"
	rm -f "$LINKEM_COUNTS"
	kill -USR1 "$LINKEM_PID" 2>/dev/null || return 1
	for i in $(seq 100); do
		[ -s "$LINKEM_COUNTS" ] && break
		sleep 0.02
	done
	[ -s "$LINKEM_COUNTS" ] || return 1
	cat "$LINKEM_COUNTS"
}

linkem_stop() {
	local i
	[ -n "$LINKEM_PID" ] || return 0
	kill "$LINKEM_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$LINKEM_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$LINKEM_PID" 2>/dev/null
	wait "$LINKEM_PID" 2>/dev/null
	LINKEM_PID=
	rm -f "$LINKEM_COUNTS" "$LINKEM_COUNTS.tmp"
	return 0
}
