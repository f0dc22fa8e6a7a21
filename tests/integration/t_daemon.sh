#!/usr/bin/env bash
# gmaildir daemon against the real Dovecot: changes flow both ways without
# waiting for a poll (IDLE, inotify), an unwatched folder is picked up by the
# poll, cut connections and a restarted server are survived, SIGTERM in the
# middle of a big download exits 0 within 5 s and the next run resumes,
# SIGHUP with a broken config keeps the old one, and once a change settled
# the daemon sends nothing but IDLE (no feedback loop). Every wait bounded.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup test "poll_interval: 300
idle: [INBOX]"
dc_populate "$DC_USER" INBOX 20 61 1K 4K >/dev/null
dc_populate "$DC_USER" Other 5 62 1K 4K >/dev/null
LOG=$GD_DIR/daemon.log
trap 'gd_daemon_stop; _gd_cleanup; dc_cleanup' EXIT

count_files() { find "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" -type f 2>/dev/null | wc -l; }
has_files() { [ "$(count_files "$1")" -eq "$2" ]; }
server_count() { [ "$(dc_status_field "$DC_USER" "$1" messages)" -eq "$2" ]; }
server_flag() { dc_flags "$DC_USER" INBOX "$1" | grep -q -- "$2"; }
no_server_flag() { ! server_flag "$@"; }
ready() { grep -q "first sync done" "$LOG"; }

gd_daemon_start -vv
check "the daemon comes up and finishes its first sync" wait_for 20 ready
both_on_disk() { [ "$(count_files INBOX)" -eq 20 ] && [ "$(count_files Other)" -eq 5 ]; }
# A first sync that left a folder for its retry still counts as done (the
# daemon goes on); say so, with the daemon's own lines, when it happens.
if ! both_on_disk; then
	diag "not all on disk at 'first sync done' (INBOX $(count_files INBOX), Other $(count_files Other)):"
	grep -v 'imap: [<>]' "$LOG" | tail -20 | sed 's/^/#   /'
fi
check "... INBOX and Other are on disk" wait_for 10 both_on_disk

# Server -> local, pushed by IDLE.
python3 tests/lib/genmail.py --count 1 --seed 63 --out "$GD_DIR/gen" >/dev/null
new=$GD_DIR/gen/000001.eml
t0=$(date +%s%N)
dc_doveadm save -u "$DC_USER" -m INBOX <"$new"
check "a message saved on the server appears on disk (IDLE)" wait_for 10 has_files INBOX 21
diag "server -> disk: $((($(date +%s%N) - t0) / 1000000)) ms (Dovecot alone takes ~500 ms to announce it)"
dc_add_flags "$DC_USER" INBOX 3 '\Flagged'
check "a flag set on the server reaches the file" \
	wait_for 10 bash -c "ls '$GD_MAIL/INBOX/cur' | grep -q ':2,.*F'"
dc_expunge "$DC_USER" INBOX 4
check "an expunge on the server removes the file" wait_for 10 has_files INBOX 20

# Local -> server, pushed by inotify.
gd_write_local INBOX new 1800000100.M1.daemon "<daemon-1@test>"
check "a file written into new/ reaches the server" wait_for 10 server_count INBOX 21
f=$(ls "$GD_MAIL/INBOX/new" | head -1)
key=${f%%:2,*}
uid=$(gd_state "select uid from pairs where key = '$key'")
t0=$(date +%s%N)
mv "$GD_MAIL/INBOX/new/$f" "$GD_MAIL/INBOX/cur/$key:2,S"
check "a local flag rename reaches the server" wait_for 10 server_flag "$uid" '\\Seen'
diag "local rename -> server: $((($(date +%s%N) - t0) / 1000000)) ms (debounce 200 ms included)"
rm "$GD_MAIL/INBOX/cur/$key:2,S"
check "a local deletion is expunged on the server" wait_for 10 server_count INBOX 20

# No feedback loop: after things settle, nothing but IDLE goes out.
sleep 2
before=$(grep -c 'imap: >' "$LOG")
sleep 5
sent=$(tail -n +1 "$LOG" | grep 'imap: >' | tail -n +$((before + 1)) | grep -v -E '> ([0-9]+ )?(IDLE|DONE)$' | head -5)
check_eq "once a change settled, 5 s pass with no command but IDLE" "" "$sent"

# An unwatched folder is found by the poll: poll_interval 10 s, by SIGHUP.
sed -i 's/poll_interval: 300/poll_interval: 10/' "$GD_CONF"
kill -HUP "$DPID"
wait_for 10 grep -q "config reloaded" "$LOG"
wait_for 20 grep -q "first sync done" "$LOG"
sleep 1
dc_doveadm save -u "$DC_USER" -m Other <"$new"
check "a change in an unwatched folder arrives with the poll" wait_for 25 has_files Other 6

# Connections cut by the server, then the server restarted.
dc_doveadm kick "$DC_USER" >/dev/null 2>&1
sleep 0.5
dc_doveadm save -u "$DC_USER" -m INBOX <"$new"
check "after the server kicked every connection, new mail still arrives" \
	wait_for 20 has_files INBOX 21
master=$(_dc_master_pid)
kill -TERM "$master"
wait_for 10 bash -c "! kill -0 $master 2>/dev/null"
DC_TIMEOUT=15 _dc_as_user "$DC_DOVECOT_BIN" -c "$DC_CONF" >/dev/null 2>&1
wait_for 10 bash -c "[ -s '$DC_DIR/run/master.pid' ]"
dc_doveadm save -u "$DC_USER" -m INBOX <"$new"
check "after Dovecot was restarted, the daemon reconnects and catches up" \
	wait_for 30 has_files INBOX 22
check "the daemon is still running" kill -0 "$DPID"

# SIGHUP with a broken config: the old one keeps running.
cp "$GD_CONF" "$GD_DIR/good.yaml"
printf 'accounts: [\n' >"$GD_CONF"
kill -HUP "$DPID"
check "a broken config on SIGHUP is refused" wait_for 5 grep -q "reload refused" "$LOG"
check_contains "... naming file:line" "config.yaml:" "$(grep 'reload refused' "$LOG")"
cp "$GD_DIR/good.yaml" "$GD_CONF"
dc_doveadm save -u "$DC_USER" -m INBOX <"$new"
check "... and the daemon goes on syncing with the old one" wait_for 20 has_files INBOX 23
kill -HUP "$DPID"
check "a good config on SIGHUP is taken" wait_for 10 bash -c "[ \$(grep -c 'config reloaded' '$LOG') -ge 2 ]"
gd_daemon_stop

# SIGTERM in the middle of a big download: exit 0 within 5 s, and the next
# run resumes with every message once.
dc_populate "$DC_USER" Big 1500 64 20K 120K >/dev/null
gd_daemon_start -vv
wait_for 30 bash -c "[ \$(find '$GD_MAIL/Big' -type f 2>/dev/null | wc -l) -gt 50 ]"
t0=$(date +%s%N)
kill -TERM "$DPID"
wait "$DPID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
DPID=
check_eq "SIGTERM during a download: exit 0" 0 "$rc"
check "... within 5 s (${ms} ms)" test "$ms" -lt 5000
got=$(count_files Big)
check "... in the middle of it ($got of 1500 on disk)" test "$got" -lt 1500
gd -q sync
check "the next run completes the download: every message once" gd_compare Big
tap_done
