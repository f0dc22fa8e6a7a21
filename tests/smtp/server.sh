# shellcheck shell=bash
# A scripted SMTP submission server with faults (tests/smtp/server.py).
# Source it from bash:
#
#   source tests/smtp/server.sh
#   sm_start [--tls implicit|starttls|none] [OPTIONS] || exit 1
#   sm_fault dot=451:1 rcpt=550:bob@example.test   # live; replaces the set
#   ...                                # the client on $SM_HOST:$SM_PORT, CA $SM_CA
#   sm_count                           # messages accepted (250 after the dot)
#   sm_stop                            # optional: the EXIT trap does it too
#
# One instance per shell at a time. Call sm_start in the test's own shell,
# not in $(...): the server exits when that shell is gone. Safe under
# `set -u` and `set -e`.
#
# Options of sm_start (server.py serve's):
#   --tls implicit|starttls|none  (default starttls: plain greeting, STARTTLS,
#                        TLS after "220 2.0.0 Ready to start TLS"; AUTH and
#                        MAIL before it get 530 unless --allow-plain)
#   --allow-plain        AUTH (announced) and MAIL allowed before STARTTLS
#   --no-auth            MAIL without AUTH accepted (default: 530)
#   --user U --password P --token T   (alice / alice-secret / tok-alice;
#                        exported as SM_USER SM_PASS SM_TOKEN)
#   --size N             "SIZE N"; MAIL SIZE=m > N and DATA > N: 552
#   --no-8bitmime --no-smtputf8   not announced; BODY=8BITMIME / SMTPUTF8: 555
#   --idle-timeout S (60) --max-life S (1800)
#   and fault specs (any word without a leading --) as the initial sm_fault.
#
# Exported: SM_HOST (127.0.0.1) SM_PORT SM_DIR SM_CA SM_LOG SM_PID SM_SPOOL
#   SM_TRANSCRIPT (every byte the client sent, lines prefixed "cN plain> " /
#   "cN tls> ", secrets NOT masked) SM_FAULTS (the fault file) SM_TLS
#   SM_USER SM_PASS SM_TOKEN.
#
# Helpers:
#   sm_fault [SPEC...]   replaces the active faults (none: clears them); the
#                        server reads them at each new connection and command;
#                        the counts (":K") restart. Exit 1 on a bad SPEC.
#   sm_count [--all]     messages accepted (--all: with the unanswered ones
#                        of drop-after-dot)
#   sm_json N EXPR       the Python EXPR over r = SM_SPOOL/N.json
#
# Cleanup: sm_stop sends SIGTERM, waits up to 5 s, then SIGKILL, reaps the
# server, removes SM_DIR; sm_start chains sm_cleanup into the EXIT trap
# (tests/lib/trap.sh) and makes HUP/INT/TERM exit if untrapped.
# If the shell dies without cleanup, the server exits within ~1 s and removes
# SM_DIR.

_SM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SM_SERVER=$_SM_LIB_DIR/server.py
if [ -z "${SM_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then SM_PYTHON=/usr/bin/python3; else SM_PYTHON=python3; fi
fi
# shellcheck source=tests/lib/trap.sh
source "$_SM_LIB_DIR/../lib/trap.sh"
if ! declare -F _dc_make_certs >/dev/null; then
	# shellcheck source=tests/lib/dovecot.sh
	source "$_SM_LIB_DIR/../lib/dovecot.sh"
fi

_sm_err() { echo "server.sh: $*" >&2; }

_sm_fail_start() {
	_sm_err "$1; server log follows"
	if [ -n "${SM_LOG:-}" ] && [ -f "$SM_LOG" ]; then
		sed 's/^/# smtp.log: /' "$SM_LOG" >&2
	fi
	sm_stop
	return 1
}

sm_start() {
	local waited=0 args=() faults=() a prev=''
	if [ -n "${SM_DIR:-}" ] && [ -d "$SM_DIR" ]; then
		_sm_err "an instance is already running in $SM_DIR (sm_stop first)"
		return 1
	fi
	SM_DIR=$(mktemp -d /tmp/sm.XXXXXX) || return 1
	export SM_DIR SM_HOST=127.0.0.1 SM_CA=$SM_DIR/ca.pem SM_LOG=$SM_DIR/log
	export SM_SPOOL=$SM_DIR/spool SM_TRANSCRIPT=$SM_DIR/transcript SM_FAULTS=$SM_DIR/faults
	export SM_PORT='' SM_PID='' SM_TLS=starttls SM_USER=alice SM_PASS=alice-secret
	export SM_TOKEN=tok-alice
	trap_chain sm_cleanup
	trap_exit_on_signals
	if ! _dc_make_certs "$SM_DIR" ""; then
		_sm_fail_start "certificate generation failed"
		return 1
	fi
	chmod 644 "$SM_CA"
	: >"$SM_LOG"
	: >"$SM_FAULTS"
	for a in "$@"; do
		if [ -n "$prev" ]; then # the value of an option
			args+=("$a")
			case $prev in
			--tls) SM_TLS=$a ;;
			--user) SM_USER=$a ;;
			--password) SM_PASS=$a ;;
			--token) SM_TOKEN=$a ;;
			esac
			prev=''
			continue
		fi
		case $a in
		--tls | --user | --password | --token | --size | --idle-timeout | --max-life)
			args+=("$a")
			prev=$a
			;;
		--*) args+=("$a") ;;
		*) faults+=("$a") ;;
		esac
	done
	if [ "${#faults[@]}" -gt 0 ] && ! sm_fault "${faults[@]}"; then
		_sm_fail_start "bad fault"
		return 1
	fi
	# shellcheck disable=SC2094
	"$SM_PYTHON" "$SM_SERVER" serve --dir "$SM_DIR" --port-file "$SM_DIR/port" \
		--cert "$SM_DIR/server.pem" --key "$SM_DIR/server.key" --faults "$SM_FAULTS" \
		--parent-pid "$BASHPID" --cleanup-dir "$SM_DIR" \
		${args[@]+"${args[@]}"} </dev/null >>"$SM_LOG" 2>&1 &
	SM_PID=$!
	while [ ! -s "$SM_DIR/port" ] && [ "$waited" -lt 200 ]; do
		if ! kill -0 "$SM_PID" 2>/dev/null; then
			_sm_fail_start "server.py exited at start"
			return 1
		fi
		sleep 0.05
		waited=$((waited + 1))
	done
	if [ ! -s "$SM_DIR/port" ]; then
		_sm_fail_start "server.py did not start within 10 s"
		return 1
	fi
	SM_PORT=$(cat "$SM_DIR/port")
	return 0
}

# sm_cleanup: sm_stop for exit paths (traps); keeps $?.
sm_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	sm_stop >/dev/null 2>&1 || true
	return "$rc"
}

sm_stop() {
	local pid=${SM_PID:-} _
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			_sm_err "server.py did not stop within 5 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
	if [ -n "${SM_DIR:-}" ]; then rm -rf "$SM_DIR"; fi
	unset SM_DIR SM_PORT SM_CA SM_LOG SM_PID SM_SPOOL SM_TRANSCRIPT SM_FAULTS
	return 0
}

# sm_fault [SPEC...]: validated, then written at once (rename).
sm_fault() {
	"$SM_PYTHON" "$SM_SERVER" check-fault "$@" || return 1
	printf '%s\n' "$@" >"$SM_FAULTS.tmp" && mv -f "$SM_FAULTS.tmp" "$SM_FAULTS"
}

# sm_count [--all]
sm_count() {
	"$SM_PYTHON" - "$SM_SPOOL" "${1:-}" <<'EOF'
import glob, json, sys
n = 0
for p in glob.glob(sys.argv[1] + '/*.json'):
    with open(p) as fh:
        n += 1 if sys.argv[2] == '--all' or json.load(fh)['answered'] else 0
print(n)
EOF
}

# sm_json N EXPR
sm_json() {
	"$SM_PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print("\n".join(map(str, v)) if isinstance(v, (list, tuple)) else v)' "$SM_SPOOL/$1.json" "$2"
}
