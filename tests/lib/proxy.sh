# shellcheck shell=bash
# The fault proxy (tests/proxy/faultproxy.py) between gmaildir and the
# harness Dovecot, for the fault test and the soak: source after
# tests/lib/dovecot.sh.
#
#   proxy_start PORT CONF_IN CONF_OUT LOG [PROXY ARGS...]
#       starts a proxy to 127.0.0.1:PORT (its output and log to LOG), waits
#       (at most 5 s) until it listens, and writes CONF_OUT: CONF_IN with
#       the account's port made the proxy's. PROXY_PID is its pid. Give
#       --max-life in the ARGS: every proxy must end by itself.
#   proxy_stop
#       stops it (TERM, then KILL after 5 s) and waits for it.

PROXY_PID=
_PROXY_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

proxy_start() {
	local port=$1 conf_in=$2 conf_out=$3 log=$4 pf i
	shift 4
	proxy_stop
	pf=$(mktemp -u "${conf_out}.port.XXXXXX")
	"$DC_PYTHON" "$_PROXY_LIB_DIR/../proxy/faultproxy.py" --target "127.0.0.1:$port" \
		--port-file "$pf" --log "$log" "$@" </dev/null >>"$log" 2>&1 &
	PROXY_PID=$!
	for i in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	[ -s "$pf" ] || return 1
	sed "s/^    port: .*/    port: $(cat "$pf")/" "$conf_in" >"$conf_out"
	chmod 600 "$conf_out"
	rm -f "$pf"
}

proxy_stop() {
	local i
	[ -n "$PROXY_PID" ] || return 0
	kill "$PROXY_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
	PROXY_PID=
	return 0
}
