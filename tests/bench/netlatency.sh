#!/usr/bin/env bash
# make bench, the laptop part (a benchmark: it prints, it never fails on a
# timing). The daemon and Dovecot on the two ends of a veth pair in network
# namespaces (tests/lib/netns.sh; root only, else it says so and stops).
# Median and max over BENCH_NET_ROUNDS (default 8) of:
#   link-up -> new message on disk: the link goes down, a message is
#     saved on the server, the link comes back;
#   resume -> catch-up done: every packet is swallowed for a while (the
#     laptop sleeps; its connections die silently), a message is saved,
#     packets flow again and the daemon is told of the resume (SIGUSR2,
#     what a sleep hook sends; the daemon's own clock check does the
#     same after a real suspend).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh
BIN=${GMAILDIR_BIN:-$PWD/build/gmaildir}
ROUNDS=${BENCH_NET_ROUNDS:-8}

if ! why=$(ns_available 2>&1); then
	echo "laptop latency: skipped (no network namespaces: $why)"
	exit 0
fi
ns_setup >/dev/null || exit 1
DC_NETNS=$NS_SRV DC_LISTEN=$NS_SRV_IP dc_start >/dev/null || exit 1
DPID=
trap '[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID"; _gd_cleanup; dc_cleanup; ns_cleanup' EXIT

now_ms() { date +%s%3N; }
stats() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[NR]}'; }
count() { find "$GD_MAIL/INBOX/cur" "$GD_MAIL/INBOX/new" -type f | wc -l; }
wait_count() { # wait_count N: until INBOX holds N files (<= 30 s)
	local i
	for ((i = 0; i < 3000; i++)); do
		[ "$(count)" -ge "$1" ] && return 0
		sleep 0.01
	done
	return 1
}

gd_setup bench "idle: [INBOX]
poll_interval: 3600"
sed -i "s/^    host: .*/    host: $NS_SRV_IP/" "$GD_CONF"
dc_populate "$DC_USER" INBOX 3 1 1K 2K >/dev/null
ip netns exec "$NS_CLI" "$BIN" -c "$GD_CONF" sync >/dev/null 2>&1
ip netns exec "$NS_CLI" "$BIN" -c "$GD_CONF" daemon >>"$GD_DIR/daemon.log" 2>&1 &
DPID=$!
wait_for 20 grep -q "first sync done" "$GD_DIR/daemon.log" || { echo "the daemon did not start"; exit 1; }
sleep 1
n=$(count)
: >"$GD_DIR/up" >"$GD_DIR/resume"
for ((r = 0; r < ROUNDS; r++)); do
	ns_link_down
	dc_populate "$DC_USER" INBOX 1 $((100 + r)) 1K 2K >/dev/null
	sleep 2
	t0=$(now_ms)
	ns_link_up
	n=$((n + 1))
	wait_count "$n" && echo $(($(now_ms) - t0)) >>"$GD_DIR/up"
	sleep 1

	ns_blackhole_on
	sleep 1
	dc_populate "$DC_USER" INBOX 1 $((200 + r)) 1K 2K >/dev/null
	sleep 1
	ns_blackhole_off
	t0=$(now_ms)
	kill -USR2 "$DPID"
	n=$((n + 1))
	wait_count "$n" && echo $(($(now_ms) - t0)) >>"$GD_DIR/resume"
	sleep 1
done
read -r up_med up_max < <(stats <"$GD_DIR/up")
read -r res_med res_max < <(stats <"$GD_DIR/resume")
echo "laptop latency ($ROUNDS rounds each; ms)"
printf '  %-42s median %5s   max %5s\n' "link-up -> new message on disk" "${up_med:--}" "${up_max:--}"
printf '  %-42s median %5s   max %5s\n' "resume -> caught up (message on disk)" "${res_med:--}" "${res_max:--}"
