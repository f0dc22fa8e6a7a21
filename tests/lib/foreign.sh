# shellcheck shell=bash
# What the harnesses of the foreign IMAP servers (tests/lib/cyrus.sh,
# tests/lib/courier.sh) share: their packages, unpacked (never installed),
# a process group per instance that a watchdog stops if the test dies, and
# the wait for a TLS greeting. Source it from bash; it only defines
# functions and sources tests/lib/dovecot.sh for its certificate and port
# helpers (sourcing that starts nothing).
#
#   fs_root NAME          the directory the packages of NAME (cyrus or
#                         courier) are unpacked in: $GMAILDIR_INTEROP_ROOT/NAME
#                         (default /var/tmp/gmaildir-interop/NAME), made by
#                         tests/interop/deps.sh; fails if it is not there
#   fs_start DIR LOG CMD...   CMD in its own session and process group
#                         (setsid), stdin closed, output appended to LOG; its
#                         pid in FS_PID; a detached watchdog stops the group
#                         and removes DIR once the calling shell is gone
#   fs_stop PID           SIGTERM to PID's group, <= 10 s, then SIGKILL
#   fs_stop_instance PID DIR  fs_stop, then the watchdog stopped and DIR
#                         removed
#   fs_wait_tls HOST PORT CA SECONDS   until HOST:PORT greets over TLS
#                         ("* OK" verified against CA)
#   fs_export_client HOST PORT CA USER PASS   the variables gd_setup
#                         (tests/lib/gmaildir.sh) and imapctl.py read

_FS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/dovecot.sh
source "$_FS_LIB_DIR/dovecot.sh"

fs_root() {
	local base=${GMAILDIR_INTEROP_ROOT:-/var/tmp/gmaildir-interop}
	if [ ! -d "$base/$1/usr" ]; then
		echo "foreign.sh: $base/$1 has no unpacked $1 (run tests/interop/deps.sh)" >&2
		return 1
	fi
	(cd "$base/$1" && pwd)
}

fs_start() {
	local dir=$1 log=$2 parent=$BASHPID
	shift 2
	setsid "$@" </dev/null >>"$log" 2>&1 &
	FS_PID=$!
	setsid bash -c '
		parent=$1 dir=$2 pid=$3
		while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
		[ -d "$dir" ] || exit 0
		kill -TERM -- "-$pid" 2>/dev/null
		sleep 2
		kill -KILL -- "-$pid" 2>/dev/null
		rm -rf "$dir"
	' fs-watchdog "$parent" "$dir" "$FS_PID" </dev/null >/dev/null 2>&1 &
	FS_WATCHDOG_PID=$!
}

fs_group_alive() {
	ps -eo pgid=,stat= | grep -qE "^ *$1 +[^Z]"
}

fs_stop() {
	local pid=$1 _
	[ -n "$pid" ] || return 0
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		fs_group_alive "$pid" || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

# fs_stop_instance PID DIR: fs_stop PID, the watchdog stopped, DIR removed.
fs_stop_instance() {
	fs_stop "$1"
	if [ -n "${FS_WATCHDOG_PID:-}" ]; then kill -- "-$FS_WATCHDOG_PID" 2>/dev/null || true; fi
	rm -rf "$2"
}

fs_wait_tls() {
	local host=$1 port=$2 ca=$3 secs=$4 i
	for ((i = 0; i < secs * 4; i++)); do
		if printf 'a LOGOUT\r\n' | timeout 5 openssl s_client -quiet \
			-connect "$host:$port" -CAfile "$ca" -verify_return_error 2>/dev/null |
			grep -q '^\* OK'; then
			return 0
		fi
		sleep 0.25
	done
	return 1
}

fs_export_client() {
	export DC_HOST=$1 DC_PORT_IMAPS=$2 DC_CA=$3 DC_USER=$4 DC_PASS=$5
	export IC_HOST=$1 IC_PORT=$2 IC_CA=$3 IC_USER=$4 IC_PASS=$5
}
