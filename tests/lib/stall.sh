# shellcheck shell=bash
# A server that accepts TCP connections and never answers
# (tests/lib/stall_server.py): what a client meets behind a captive portal
# or a half-dead network, a TLS handshake that never gets a ServerHello.
# Source it from bash; safe under `set -u` and `set -e`.
#
#   stall_start [--greet-then-stall] [--netns NAME] [--listen ADDR]
#       starts one (stopping the one already started), listening on ADDR
#       (default 127.0.0.1) at a free port, inside network namespace NAME
#       if given (root; tests/lib/netns.sh). --greet-then-stall: it sends
#       the IMAP greeting "* OK ready\r\n" on each connection, then
#       nothing. Waits (<= 5 s) until it listens. Exports STALL_PORT,
#       STALL_HOST (ADDR) and STALL_PID (the python process: `ip netns
#       exec` execs it). Chains stall_cleanup into the EXIT trap
#       (tests/lib/trap.sh).
#   stall_count
#       prints how many connections it has accepted so far
#   stall_stop
#       stops it (TERM, KILL after 5 s), waits for it, removes its files;
#       safe to call again or without stall_start
#
# The server also exits by itself within ~1 s once the shell that started
# it is gone (even killed by SIGKILL), removing its temp dir, and after
# 900 s in any case.

_STALL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/trap.sh
source "$_STALL_LIB_DIR/trap.sh"
STALL_PID=
_STALL_DIR=

stall_start() {
	local greet=() ns=() listen=127.0.0.1 py i parent=$BASHPID
	while [ $# -gt 0 ]; do
		case $1 in
		--greet-then-stall) greet=(--greet-then-stall) ;;
		--netns) ns=(ip netns exec "${2:?}"); shift ;;
		--listen) listen=${2:?}; shift ;;
		*) echo "stall.sh: stall_start: unknown option $1" >&2; return 2 ;;
		esac
		shift
	done
	stall_stop
	py=${DC_PYTHON:-python3}
	if [ -z "${DC_PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; fi
	_STALL_DIR=$(mktemp -d /tmp/gd-stall.XXXXXX) || return 1
	trap_chain stall_cleanup
	"${ns[@]}" "$py" "$_STALL_LIB_DIR/stall_server.py" --listen "$listen" \
		--port-file "$_STALL_DIR/port" --count-file "$_STALL_DIR/count" \
		--parent "$parent" --remove-dir "$_STALL_DIR" "${greet[@]}" \
		</dev/null >"$_STALL_DIR/out" 2>"$_STALL_DIR/err" &
	STALL_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -s "$_STALL_DIR/port" ] && break
		kill -0 "$STALL_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$_STALL_DIR/port" ]; then
		echo "stall.sh: the stall server did not start:" >&2
		sed 's/^/# stall: /' "$_STALL_DIR/err" >&2
		stall_stop
		return 1
	fi
	STALL_PORT=$(cat "$_STALL_DIR/port")
	STALL_HOST=$listen
	export STALL_PORT STALL_HOST STALL_PID
}

stall_count() {
	if [ -n "$_STALL_DIR" ] && [ -s "$_STALL_DIR/count" ]; then
		cat "$_STALL_DIR/count"
	else
		echo 0
	fi
}

stall_stop() {
	local i
	if [ -n "$STALL_PID" ]; then
		kill "$STALL_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$STALL_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$STALL_PID" 2>/dev/null || true
		wait "$STALL_PID" 2>/dev/null || true
	fi
	if [ -n "$_STALL_DIR" ]; then rm -rf "$_STALL_DIR"; fi
	STALL_PID='' _STALL_DIR=''
	return 0
}

# stall_cleanup: stall_stop for the EXIT trap; keeps $?.
stall_cleanup() {
	local rc=$?
	stall_stop
	return "$rc"
}
