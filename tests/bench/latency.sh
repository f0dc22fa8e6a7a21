#!/usr/bin/env bash
# make bench, the daemon part (a benchmark: it prints, it never fails on a
# timing). Median and p95 over N events (BENCH_EVENTS, default 50) of:
#   server -> disk: doveadm save into INBOX until the file is in the Maildir;
#   local -> server: a flag rename until doveadm shows the flag;
#   the floor: doveadm save until a bare IDLE client (idle_probe) sees EXISTS;
# and the daemon's CPU time over 60 s of idling (BENCH_IDLE_S).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh
BIN=${GMAILDIR_BIN:-$PWD/build/gmaildir}
PROBE=${GMAILDIR_TOOLS:-$PWD/build/tools}/idle_probe
N=${BENCH_EVENTS:-50}
IDLE_S=${BENCH_IDLE_S:-60}

now_ms() { date +%s%3N; }
stats() { # stats < numbers: "median p95" in ms
	sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.95+0.999)]; print m, p}'
}

dc_start >/dev/null || exit 1
gd_setup bench "idle: [INBOX]
poll_interval: 3600"
dc_populate "$DC_USER" INBOX 10 91 1K 2K >/dev/null
python3 tests/lib/genmail.py --count "$N" --seed 92 --min-size 1K --max-size 4K \
	--out "$GD_DIR/gen" >/dev/null

# The floor: Dovecot's own delay in announcing a saved message.
if [ -x "$PROBE" ]; then
	"$PROBE" 127.0.0.1 "$DC_PORT_IMAPS" implicit "$DC_CA" "$DC_USER" "$DC_PASS" INBOX 600 \
		>"$GD_DIR/probe.out" 2>/dev/null &
	probe=$!
	for i in $(seq 1 50); do grep -q started "$GD_DIR/probe.out" && break; sleep 0.1; done
	: >"$GD_DIR/floor"
	for i in $(seq 1 10); do
		before=$(grep -c '^event:' "$GD_DIR/probe.out")
		t0=$(now_ms)
		dc_doveadm save -u "$DC_USER" -m Drafts <"$GD_DIR/gen/000001.eml"
		dc_doveadm save -u "$DC_USER" -m INBOX <"$GD_DIR/gen/000001.eml"
		for k in $(seq 1 300); do
			[ "$(grep -c '^event:' "$GD_DIR/probe.out")" -gt "$before" ] && break
			sleep 0.01
		done
		t1=$(grep '^event:' "$GD_DIR/probe.out" | tail -1 | sed 's/.*ms=\([0-9]*\).*/\1/')
		echo $((t1 - t0)) >>"$GD_DIR/floor"
	done
	kill "$probe" 2>/dev/null
	wait "$probe" 2>/dev/null
	read -r floor_med floor_p95 < <(stats <"$GD_DIR/floor")
fi

"$BIN" -c "$GD_CONF" daemon >"$GD_DIR/daemon.log" 2>&1 &
dpid=$!
for i in $(seq 1 300); do grep -q "first sync done" "$GD_DIR/daemon.log" && break; sleep 0.1; done

: >"$GD_DIR/down"
for f in "$GD_DIR"/gen/*.eml; do
	n=$(find "$GD_MAIL/INBOX" -type f | wc -l)
	t0=$(now_ms)
	dc_doveadm save -u "$DC_USER" -m INBOX <"$f"
	for k in $(seq 1 1000); do
		[ "$(find "$GD_MAIL/INBOX" -type f | wc -l)" -gt "$n" ] && break
		sleep 0.005
	done
	echo $(($(now_ms) - t0)) >>"$GD_DIR/down"
done

: >"$GD_DIR/up"
for f in $(ls "$GD_MAIL/INBOX/new" | head -"$N"); do
	key=${f%%:2,*}
	uid=$(sqlite3 "$GD_STATE/state.db" "select uid from pairs where key = '$key'")
	t0=$(now_ms)
	mv "$GD_MAIL/INBOX/new/$f" "$GD_MAIL/INBOX/cur/$key:2,F"
	for k in $(seq 1 400); do
		dc_flags "$DC_USER" INBOX "$uid" | grep -q Flagged && break
		sleep 0.005
	done
	echo $(($(now_ms) - t0)) >>"$GD_DIR/up"
done

sleep 2
cpu0=$(awk '{print $14 + $15}' "/proc/$dpid/stat")
sleep "$IDLE_S"
cpu1=$(awk '{print $14 + $15}' "/proc/$dpid/stat")
tck=$(getconf CLK_TCK)
kill -TERM "$dpid"
wait "$dpid"

read -r down_med down_p95 < <(stats <"$GD_DIR/down")
read -r up_med up_p95 < <(stats <"$GD_DIR/up")
{
	echo "daemon latency ($N events each; ms; each sample includes the polling of the bench itself)"
	printf '  %-42s median %5s   p95 %5s\n' "Dovecot's own IDLE announcement (floor)" "${floor_med:--}" "${floor_p95:--}"
	printf '  %-42s median %5s   p95 %5s\n' "server save -> file on disk" "$down_med" "$down_p95"
	printf '  %-42s median %5s   p95 %5s\n' "local flag rename -> flag on the server" "$up_med" "$up_p95"
	printf '  %-42s %s s of CPU in %s s\n' "daemon idle" \
		"$(awk -v a="$cpu0" -v b="$cpu1" -v t="$tck" 'BEGIN {printf "%.2f", (b - a) / t}')" "$IDLE_S"
} | tee -a "${BENCH_OUT:-/dev/null}"
