# shellcheck shell=bash
# Two throwaway network namespaces joined by a veth pair, for tests of how
# the daemon lives through network changes (link down, link up, a network
# that swallows packets). Source it from bash (as root):
#
#   source tests/lib/netns.sh
#   ns_available || { ok "skipped: no netns"; exit 0; }  # reason on stderr
#   ns_setup || exit 1     # exports the NS_* below; chains an EXIT trap
#   DC_NETNS=$NS_SRV DC_LISTEN=$NS_SRV_IP dc_start   # tests/lib/dovecot.sh
#   ns_exec_cli "$GMAILDIR_BIN" ...                   # the client side
#   ns_link_down; ...; ns_link_up
#   ns_cleanup             # optional: the EXIT trap does it too
#
# One pair per shell at a time (ns_cleanup, then ns_setup again is fine).
# Safe under `set -u` and `set -e`. Needs root and iproute2 (`ip`) only.
#
# Exported by ns_setup:
#   NS_SRV NS_CLI        the namespaces' names (gd-<tag>-s, gd-<tag>-c)
#   NS_SRV_IF NS_CLI_IF  the veth ends, as named inside their namespace
#                        (gs<tag>, gc<tag>; each lives only in its namespace)
#   NS_SRV_IP NS_CLI_IP  10.A.B.1 and 10.A.B.2 on 10.A.B.0/24
#   NS_PREFIX            24
# <tag> is the shell's pid and a random number in hex: unique per run, so
# tests may run in parallel. 10.A.B.0/24 is random too (A in 64..191), and
# one that any address of the host or of any other namespace already uses
# is never picked. (The addresses exist only inside the two namespaces, so
# even a clash could not disturb anything else.) Both namespaces have lo up;
# neither has a default route: the two see each other and nothing else.
#
# Functions:
#   ns_available       0 if we are root and a namespace pair with a veth can
#                      be made (it makes one and removes it), else 1 and the
#                      reason on stderr
#   ns_setup           makes the pair (above); waits (<= 5 s) until both
#                      ends are up and the client routes to NS_SRV_IP
#   ns_link_down       the client end down (`ip -n $NS_CLI link set
#                      $NS_CLI_IF down`): the kernel drops the route, so a
#                      connect from the client fails at once (ENETUNREACH)
#                      and the server's side loses carrier. Returns when
#                      the client no longer routes to NS_SRV_IP (<= 5 s).
#   ns_link_up         the client end up again; puts back the address and
#                      the route if the kernel dropped them, and the
#                      blackhole if it was on; returns 0 only when both ends
#                      are up and the client routes to NS_SRV_IP (<= 5 s),
#                      else 1
#   ns_blackhole_on    the link stays up, addresses and routes stay, but
#                      every packet between the two is silently dropped (in
#                      both directions): each side's neighbour (ARP) entry
#                      for the other is made a permanent, unused MAC
#                      address, so frames leave the sender normally and the
#                      receiving veth discards them as not addressed to it.
#                      No error reaches either side: connects and writes
#                      hang until TCP gives up. (No netem, nft or iptables
#                      is needed; none is installed on the CI machines.)
#   ns_blackhole_off   the real neighbour entries again (ARP resolves anew);
#                      returns when the client routes to NS_SRV_IP
#   ns_exec_cli CMD... CMD inside NS_CLI (`ip netns exec`); its status
#   ns_exec_srv CMD... CMD inside NS_SRV
#   ns_pids            pids of the live processes in either namespace
#   ns_cleanup         TERM to every process still in either namespace
#                      (<= 5 s, then KILL), removes the veth and both
#                      namespaces, unsets NS_*; keeps $?; safe to call
#                      again or without ns_setup
#
# Cleanup: ns_setup chains its exit cleanup into the EXIT trap (after any
# trap already set, tests/lib/trap.sh; HUP/INT/TERM are made to exit if
# untrapped); the exit cleanup ignores HUP/INT/TERM and runs ns_cleanup.
# Started before dc_start, it runs before dc_cleanup: it TERMs the Dovecot
# master inside NS_SRV, which is how dc_stop stops it too. A detached
# watchdog (own session, stdio closed) removes everything within ~2 s if
# the shell that ran ns_setup dies without cleanup, even by SIGKILL: it
# KILLs the processes left in the namespaces and deletes them (the veth
# goes with them). It exits by itself once both namespaces are gone.

# shellcheck disable=SC2016 # single-quoted bash -c scripts are intended
_NS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/trap.sh
source "$_NS_LIB_DIR/trap.sh"

# The unused MAC the blackhole points each side's neighbour entry at.
_NS_BLACKHOLE_MAC=02:00:5e:00:de:ad
_NS_BLACKHOLE=0

_ns_err() { echo "netns.sh: $*" >&2; }

# _ns_tag: pid + 16 random bits, hex (<= 10 characters: names fit IFNAMSIZ).
_ns_tag() { printf '%x%04x' "$$" "$((RANDOM ^ (RANDOM << 1) & 0xffff))"; }

# _ns_exists NAME
_ns_exists() { [ -e "/run/netns/$1" ]; }

# _ns_used_addrs: every IPv4 address of the host and of every namespace.
_ns_used_addrs() {
	local n
	ip -o -4 addr show 2>/dev/null | awk '{ print $4 }'
	for n in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		ip -n "$n" -o -4 addr show 2>/dev/null | awk '{ print $4 }'
	done
	return 0
}

# _ns_pick_subnet: "A.B" such that 10.A.B.0/24 is not in use (<= 50 tries).
_ns_pick_subnet() {
	local used a b _
	used=$(_ns_used_addrs)
	for _ in $(seq 50); do
		a=$((64 + RANDOM % 128))
		b=$((RANDOM % 256))
		if ! grep -q "^10\.$a\.$b\." <<<"$used"; then
			echo "$a.$b"
			return 0
		fi
	done
	return 1
}

# _ns_pair SRV CLI SRV_IF CLI_IF: both namespaces and the veth between them.
_ns_pair() {
	ip netns add "$1" || return 1
	if ! ip netns add "$2"; then
		ip netns del "$1" 2>/dev/null || true
		return 1
	fi
	ip link add "$3" netns "$1" type veth peer name "$4" netns "$2"
}

# _ns_remove SRV CLI: KILL/TERM what runs inside, delete the namespaces.
_ns_remove() {
	local n
	for n in "$@"; do
		_ns_exists "$n" || continue
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		ip netns del "$n" 2>/dev/null || true
	done
	return 0
}

ns_available() {
	local tag s c
	if [ "$(id -u)" -ne 0 ]; then
		_ns_err "not root (network namespaces need root)"
		return 1
	fi
	if ! command -v ip >/dev/null 2>&1; then
		_ns_err "no ip (iproute2)"
		return 1
	fi
	tag=$(_ns_tag)
	s=gd-$tag-ts c=gd-$tag-tc
	if ! _ns_pair "$s" "$c" "gs$tag" "gc$tag" 2>/dev/null; then
		_ns_remove "$s" "$c"
		_ns_err "cannot create a network namespace pair with a veth (ip netns add / ip link add type veth failed)"
		return 1
	fi
	if ! ip -n "$s" link set lo up 2>/dev/null; then
		_ns_remove "$s" "$c"
		_ns_err "cannot configure a network namespace"
		return 1
	fi
	_ns_remove "$s" "$c"
	if _ns_exists "$s" || _ns_exists "$c"; then
		_ns_err "cannot remove a network namespace"
		return 1
	fi
	return 0
}

# _ns_routes: 0 if the client routes to NS_SRV_IP (over NS_CLI_IF).
_ns_routes() {
	ip -n "$NS_CLI" route get "$NS_SRV_IP" 2>/dev/null | grep -q " dev $NS_CLI_IF "
}

# _ns_up NS IF: 0 if IF in NS is up with carrier.
_ns_up() {
	local flags
	flags=$(ip -n "$1" -o link show dev "$2" 2>/dev/null) || return 1
	[[ $flags == *"<"*",UP"*">"* || $flags == *"<UP"*">"* ]] &&
		[[ $flags == *LOWER_UP* ]]
}

# _ns_wait_ready SECONDS: until both ends are up and the client routes.
_ns_wait_ready() {
	local i n=$(($1 * 20))
	for ((i = 0; i < n; i++)); do
		if _ns_up "$NS_SRV" "$NS_SRV_IF" && _ns_up "$NS_CLI" "$NS_CLI_IF" &&
			_ns_routes; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

ns_setup() {
	local tag net _
	if [ -n "${NS_SRV:-}" ] && _ns_exists "$NS_SRV"; then
		_ns_err "a namespace pair is already set up ($NS_SRV; ns_cleanup first)"
		return 1
	fi
	for _ in 1 2 3; do
		tag=$(_ns_tag)
		_ns_exists "gd-$tag-s" || _ns_exists "gd-$tag-c" || break
	done
	net=$(_ns_pick_subnet) || { _ns_err "no free 10.x.y.0/24"; return 1; }
	export NS_SRV=gd-$tag-s NS_CLI=gd-$tag-c
	export NS_SRV_IF=gs$tag NS_CLI_IF=gc$tag
	export NS_SRV_IP=10.$net.1 NS_CLI_IP=10.$net.2 NS_PREFIX=24
	_NS_BLACKHOLE=0
	trap_chain _ns_exit_cleanup
	trap_exit_on_signals
	if ! _ns_pair "$NS_SRV" "$NS_CLI" "$NS_SRV_IF" "$NS_CLI_IF"; then
		_ns_err "cannot create $NS_SRV, $NS_CLI and their veth"
		ns_cleanup
		return 1
	fi
	_ns_start_watchdog
	if ! { ip -n "$NS_SRV" link set lo up &&
		ip -n "$NS_CLI" link set lo up &&
		ip -n "$NS_SRV" addr add "$NS_SRV_IP/$NS_PREFIX" dev "$NS_SRV_IF" &&
		ip -n "$NS_CLI" addr add "$NS_CLI_IP/$NS_PREFIX" dev "$NS_CLI_IF" &&
		ip -n "$NS_SRV" link set "$NS_SRV_IF" up &&
		ip -n "$NS_CLI" link set "$NS_CLI_IF" up; }; then
		_ns_err "cannot configure $NS_SRV and $NS_CLI"
		ns_cleanup
		return 1
	fi
	if ! _ns_wait_ready 5; then
		_ns_err "the veth did not come up within 5 s"
		ns_cleanup
		return 1
	fi
	return 0
}

# The detached watchdog: see the top of the file.
_ns_start_watchdog() {
	local parent=$BASHPID # (in the "&" below BASHPID would be the child's)
	setsid bash -c '
		parent=$1
		shift
		alive() { [ -e "/run/netns/$1" ] || [ -e "/run/netns/$2" ]; }
		# The parent runs: not gone, not a zombie (killed, not yet reaped).
		runs() {
			local st
			st=$(cat "/proc/$parent/stat" 2>/dev/null) || return 1
			st=${st##*) }
			[ "${st%% *}" != Z ]
		}
		while runs && alive "$@"; do sleep 1; done
		for n in "$@"; do
			[ -e "/run/netns/$n" ] || continue
			ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
			ip netns del "$n" 2>/dev/null
		done
	' ns-watchdog "$parent" "$NS_SRV" "$NS_CLI" </dev/null >/dev/null 2>&1 &
	_NS_WATCHDOG_PID=$!
}

# ns_pids: live processes in either namespace, one a line.
ns_pids() {
	local n
	for n in ${NS_SRV:-} ${NS_CLI:-}; do
		_ns_exists "$n" && ip netns pids "$n" 2>/dev/null
	done
	return 0
}

ns_cleanup() {
	local rc=$? i p
	if [ -z "${NS_SRV:-}" ]; then return "$rc"; fi
	p=$(ns_pids)
	if [ -n "$p" ]; then
		# shellcheck disable=SC2086 # one pid a word
		kill -TERM $p 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			[ -z "$(ns_pids)" ] && break
			sleep 0.1
		done
		p=$(ns_pids)
		if [ -n "$p" ]; then
			_ns_err "processes left in $NS_SRV/$NS_CLI after 5 s: SIGKILL"
			# shellcheck disable=SC2086
			kill -KILL $p 2>/dev/null || true
		fi
	fi
	if _ns_exists "$NS_SRV"; then
		ip -n "$NS_SRV" link del "$NS_SRV_IF" 2>/dev/null || true
	fi
	_ns_remove "$NS_SRV" "$NS_CLI"
	if [ -n "${_NS_WATCHDOG_PID:-}" ]; then
		kill -- "-$_NS_WATCHDOG_PID" 2>/dev/null ||
			kill "$_NS_WATCHDOG_PID" 2>/dev/null || true
		wait "$_NS_WATCHDOG_PID" 2>/dev/null || true
	fi
	unset NS_SRV NS_CLI NS_SRV_IF NS_CLI_IF NS_SRV_IP NS_CLI_IP NS_PREFIX \
		_NS_WATCHDOG_PID
	_NS_BLACKHOLE=0
	return "$rc"
}

# The EXIT-trap cleanup: leaves HUP/INT/TERM ignored (like dc_cleanup).
_ns_exit_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	ns_cleanup >/dev/null 2>&1
	return "$rc"
}

ns_exec_cli() { ip netns exec "$NS_CLI" "$@"; }
ns_exec_srv() { ip netns exec "$NS_SRV" "$@"; }

ns_link_down() {
	local i
	ip -n "$NS_CLI" link set "$NS_CLI_IF" down || return 1
	for ((i = 0; i < 100; i++)); do
		_ns_routes || return 0
		sleep 0.05
	done
	_ns_err "ns_link_down: the client still routes to $NS_SRV_IP after 5 s"
	return 1
}

ns_link_up() {
	ip -n "$NS_CLI" link set "$NS_CLI_IF" up || return 1
	ip -n "$NS_SRV" link set "$NS_SRV_IF" up || return 1
	if ! ip -n "$NS_CLI" -o -4 addr show dev "$NS_CLI_IF" | grep -q " $NS_CLI_IP/"; then
		ip -n "$NS_CLI" addr add "$NS_CLI_IP/$NS_PREFIX" dev "$NS_CLI_IF" || return 1
	fi
	if ! ip -n "$NS_SRV" -o -4 addr show dev "$NS_SRV_IF" | grep -q " $NS_SRV_IP/"; then
		ip -n "$NS_SRV" addr add "$NS_SRV_IP/$NS_PREFIX" dev "$NS_SRV_IF" || return 1
	fi
	# The kernel puts the prefix route back when the link comes up; if it
	# did not (or had not yet), an explicit one does the same.
	if ! _ns_wait_ready 1; then
		ip -n "$NS_CLI" route replace "${NS_SRV_IP%.*}.0/$NS_PREFIX" \
			dev "$NS_CLI_IF" src "$NS_CLI_IP" 2>/dev/null || true
	fi
	if [ "$_NS_BLACKHOLE" = 1 ]; then _ns_neigh_fake || return 1; fi
	if ! _ns_wait_ready 4; then
		_ns_err "ns_link_up: the client does not route to $NS_SRV_IP after 5 s"
		return 1
	fi
	return 0
}

# _ns_neigh_fake: both neighbour entries point at the unused MAC.
_ns_neigh_fake() {
	ip -n "$NS_CLI" neigh replace "$NS_SRV_IP" lladdr "$_NS_BLACKHOLE_MAC" \
		dev "$NS_CLI_IF" nud permanent &&
		ip -n "$NS_SRV" neigh replace "$NS_CLI_IP" lladdr "$_NS_BLACKHOLE_MAC" \
			dev "$NS_SRV_IF" nud permanent
}

ns_blackhole_on() {
	_NS_BLACKHOLE=1
	_ns_neigh_fake
}

ns_blackhole_off() {
	_NS_BLACKHOLE=0
	ip -n "$NS_CLI" neigh del "$NS_SRV_IP" dev "$NS_CLI_IF" 2>/dev/null || true
	ip -n "$NS_SRV" neigh del "$NS_CLI_IP" dev "$NS_SRV_IF" 2>/dev/null || true
	_ns_wait_ready 5
}
