#!/usr/bin/env bash
# The daemon and Dovecot on the two ends of a veth pair, each in a network
# namespace of its own (tests/lib/netns.sh; root only, skipped otherwise):
#  - the link goes down: the daemon notices at once (rtnetlink), its
#    status says it waits for the network;
#  - meanwhile a message is appended on the server and a flag changed on
#    disk; the link comes back: both are across within 3 s of link-up,
#    measured, and IDLE is back;
#  - a sync hanging on a link that swallows every packet fails at once
#    when the route then goes (not after the 60 s timeout);
#  - a network that swallows every packet (the link stays up): SIGTERM
#    still ends the daemon, status 0, within 2 s;
#  - the server never saw more connections than the budget while the
#    link was up.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

if ! why=$(ns_available 2>&1); then
	ok "skipped: no network namespaces here ($why)"
	tap_done
	exit 0
fi
ns_setup || exit 1
DC_NETNS=$NS_SRV DC_LISTEN=$NS_SRV_IP dc_start || exit 1
trap 'gd_daemon_ns_stop; _gd_cleanup; dc_cleanup; ns_cleanup' EXIT

count_inbox() { find "$GD_MAIL/INBOX/cur" "$GD_MAIL/INBOX/new" -type f 2>/dev/null | wc -l; }
status_has() { ns_exec_cli "$GMAILDIR_BIN" -c "$GD_CONF" status | grep -q "$1"; }
gd_daemon_ns_stop() {
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=
}

gd_setup net "idle: [INBOX]
max_connections: 4"
sed -i "s/^    host: .*/    host: $NS_SRV_IP/" "$GD_CONF"
LOG=$GD_DIR/daemon.log
dc_populate "$DC_USER" INBOX 3 1 1K 2K >/dev/null
check "a first sync from the client's namespace" ns_exec_cli "$GMAILDIR_BIN" -c "$GD_CONF" sync
check_eq "... 3 messages" 3 "$(count_inbox)"

dc_conn_max_start "$DC_USER"
ip netns exec "$NS_CLI" "$GMAILDIR_BIN" -c "$GD_CONF" daemon >>"$LOG" 2>&1 &
DPID=$!
check "the daemon's first sync" wait_for 15 grep -q "first sync done" "$LOG"
check "... IDLE connected" wait_for 10 status_has "IDLE INBOX: connected"

# The budget, counted at the server while the link is up. (Across an
# outage the server keeps counting the sessions it cannot know are dead,
# until its own timeouts: no client can close them over a missing link.)
max=$(dc_conn_max_stop "$DC_USER")
check "the server never saw more than the budget of 4 connections (saw $max)" test "$max" -le 4

# --- link down, changes on both sides, link up --------------------------------
t0=$(date +%s%N)
ns_link_down
check "link down: the daemon drops the IDLE connection at once" \
	wait_for 3 grep -q "IDLE connection lost: the network changed: no route" "$LOG"
diag "noticed after $(ms_since "$t0") ms"
check "... status: waiting for network" wait_for 5 status_has "IDLE INBOX: waiting for network"
dc_populate "$DC_USER" INBOX 1 40 1K 2K >/dev/null
gd_local_mv INBOX 1 cur ":2,FS"
sleep 3 # a few failed retries, with their backoff
check "... the server has not seen the flag yet" \
	test "$(dc_flags "$DC_USER" INBOX 1 | grep -c Flagged)" -eq 0
t_up=$(date +%s%N)
check "link up" ns_link_up
server_flagged() { dc_flags "$DC_USER" INBOX "$1" | grep -q Flagged; }
both_across() {
	[ "$(count_inbox)" -eq 4 ] && dc_flags "$DC_USER" INBOX 1 | grep -q Flagged
}
if wait_for 10 both_across; then
	ms=$(ms_since "$t_up")
	check "the new server message and the local flag are across ${ms} ms after link-up (< 3000)" \
		test "$ms" -lt 3000
else
	not_ok "the new server message and the local flag are across after link-up"
fi
if wait_for 10 status_has "IDLE INBOX: connected"; then
	ms=$(ms_since "$t_up")
	check "IDLE re-established ${ms} ms after link-up (< 3000)" test "$ms" -lt 3000
else
	not_ok "IDLE re-established after link-up"
fi
check "... the log says IDLE is back" grep -q "IDLE is back" "$LOG"
t0=$(date +%s%N)
dc_populate "$DC_USER" INBOX 1 50 1K 2K >/dev/null
if wait_for 5 bash -c "[ \$(find '$GD_MAIL/INBOX/cur' '$GD_MAIL/INBOX/new' -type f | wc -l) -eq 5 ]"; then
	check "pushing again: a new message in $(ms_since "$t0") ms" true
else
	not_ok "pushing again after link-up"
fi
check_eq "the loss is logged once" 1 "$(grep -c "IDLE connection lost" "$LOG")"
check "the account's failure is logged once, with its cause" \
	test "$(grep -c "net: connect to $NS_SRV_IP:.*unreachable" "$LOG")" -le 1

# --- a sync stuck on a dead link, then the route goes -------------------------
# Packets vanish (the link stays up): a local change makes the daemon sync
# on its kept connection, which hangs waiting for an answer. Then the link
# goes down: the check ends that sync's I/O at once (not after the 60 s
# timeout), and the change is across once the network is back.
ns_blackhole_on
mark=$(wc -l <"$LOG")
gd_local_mv INBOX 3 cur ":2,FS"
sleep 1.5
t0=$(date +%s%N)
ns_link_down
stuck_ended() { tail -n +"$((mark + 1))" "$LOG" | grep -q "error: .*the network changed: no route"; }
if wait_for 5 stuck_ended; then
	ms=$(ms_since "$t0")
	check "a sync hanging on a dead link fails ${ms} ms after the route went (< 2000)" \
		test "$ms" -lt 2000
else
	not_ok "a sync hanging on a dead link fails when the route goes"
	tail -n +"$((mark + 1))" "$LOG" | sed 's/^/# /'
fi
ns_link_up
ns_blackhole_off
check "... and its change reaches the server once the network is back" \
	wait_for 10 server_flagged 3

# --- SIGTERM on a network that swallows everything ---------------------------
ns_blackhole_on
gd_local_mv INBOX 2 cur ":2,S"
kill -USR1 "$DPID" # a sync now, on the swallowed link
sleep 1.5
gd_check_term_fast "with a dead link"
ns_blackhole_off
check "a sync after it finishes the work" ns_exec_cli "$GMAILDIR_BIN" -c "$GD_CONF" sync
check "... the flag is on the server" test "$(dc_flags "$DC_USER" INBOX 2 | grep -c Seen)" -eq 1

tap_done
