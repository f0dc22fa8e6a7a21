#!/usr/bin/env bash
# `gmaildir sync` beside a running daemon (issue #22 item 9): it asks the
# daemon to sync now through STATE/daemon.sock and shows that run's result
# with the exit status a direct sync would have; --dry-run and
# --allow-mass-delete hold for that one run; the guard's message names the
# command that works; the socket is 0600 and refuses garbage; a run that
# outlasts --wait says so, a named folder too; a post_sync_command's sync of
# its own account is refused at once; a client killed mid-run costs nobody
# else anything; a state_dir longer than sun_path works; SIGTERM while a
# sync waits still stops the daemon within 2 s. Every wait bounded.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
# No IDLE, a long poll: a change on the server arrives only when asked.
gd_setup test "poll_interval: 3600
idle: []"
dc_populate "$DC_USER" INBOX 5 71 1K 4K >/dev/null
dc_populate "$DC_USER" Archive 30 72 1K 4K >/dev/null
dc_populate "$DC_USER" Lists 30 75 1K 4K >/dev/null
LOG=$GD_DIR/daemon.log
SOCK=$GD_STATE/daemon.sock
trap 'gd_daemon_stop; _gd_cleanup; dc_cleanup' EXIT

gd_daemon_start -v
check "the daemon comes up and finishes its first sync" wait_for 30 grep -q "first sync done" "$LOG"
check_eq "... INBOX on disk" 5 "$(gd_count_local INBOX)"

# The socket: ours alone.
check "the daemon listens on STATE/daemon.sock" test -S "$SOCK"
check_eq "... mode 0600" 600 "$(stat -c %a "$SOCK")"
talk() { # talk LINES...: what the daemon answers, within 5 s
	timeout -k 2 5 python3 - "$SOCK" "$@" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(4)
s.connect(sys.argv[1])
s.sendall("".join(l + "\n" for l in sys.argv[2:]).encode())
out = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
sys.stdout.write(out.decode(errors="replace"))
EOF
}
out=$(talk "GET / HTTP/1.0")
check_contains "garbage: the daemon says hello first" "hello 1 $DPID" "$out"
check_contains "... then refuses it and hangs up" "error expected 'hello 1'" "$out"
out=$(talk "hello 1" "option rm-rf" "sync")
check_contains "an unknown option is refused" "error unknown option 'rm-rf'" "$out"
out=$(talk "hello 1" "$(head -c 5000 /dev/zero | tr '\0' x)")
check_contains "an overlong line is refused" "error line too long" "$out"
check "the daemon is still running" kill -0 "$DPID"

# A change on the server, then sync: the daemon does it at once.
python3 tests/lib/genmail.py --count 5 --seed 73 --out "$GD_DIR/gen" >/dev/null
dc_doveadm save -u "$DC_USER" -m INBOX <"$GD_DIR/gen/000001.eml"
t0=$(date +%s%N)
out=$(gd sync test 2>&1)
rc=$?
ms=$(ms_since "$t0")
check_eq "gmaildir sync beside the daemon exits 0" 0 "$rc"
check "... quickly (${ms} ms)" test "$ms" -lt 10000
check_contains "... says the daemon does it" "the daemon (pid $DPID) runs this account" "$out"
check_contains "... shows the daemon's result for the folder" "test/INBOX: 1 down" "$out"
check_eq "... and the message is on disk" 6 "$(gd_count_local INBOX)"
check "... done by the daemon" grep -q "gmaildir sync asks for a sync now" "$LOG"
out=$(gd sync test/INBOX 2>&1)
check_eq "one folder through the daemon: exit 0" 0 "$?"
check_contains "... unchanged" "test/INBOX: unchanged, 6 messages" "$out"
out=$(gd sync test/Nope 2>&1)
check_eq "a misspelled folder through the daemon: exit 2" 2 "$?"
check_contains "... naming it" "test/Nope: no such folder is synced" "$out"

# --dry-run: the daemon plans and changes nothing.
dc_doveadm save -u "$DC_USER" -m INBOX <"$GD_DIR/gen/000002.eml"
out=$(gd sync --dry-run test 2>&1)
check_eq "--dry-run through the daemon: exit 0" 0 "$?"
check_contains "... shows the plan" "would change (dry run)" "$out"
check_eq "... and downloads nothing" 6 "$(gd_count_local INBOX)"
gd_sync_ok "the real sync after it" test
check_eq "... downloads the message" 7 "$(gd_count_local INBOX)"

# The mass-deletion guard under the daemon: the message names the command,
# and that command works beside the daemon, for that folder once.
dc_expunge "$DC_USER" Archive 1:25
out=$(gd sync test/Archive 2>&1)
check_eq "a mass deletion through the daemon is refused (exit 3)" 3 "$?"
check_contains "... naming the exact command" \
	"run \`gmaildir sync --allow-mass-delete test/Archive\`" "$out"
check_eq "... nothing was deleted" 30 "$(gd_count_local Archive)"
check "the daemon's log says the same, and that it does that sync" \
	grep -q "allow-mass-delete test/Archive\`.*while this daemon runs" "$LOG"
gd_sync_ok "gmaildir sync --allow-mass-delete test/Archive beside the daemon" \
	--allow-mass-delete test/Archive
check_contains "... done by the daemon" "the daemon (pid $DPID)" "$OUT"
check_eq "... the 25 are deleted here" 5 "$(gd_count_local Archive)"
check_eq "... the server kept its 5" 5 "$(gd_count_server Archive)"
dc_expunge "$DC_USER" Lists 1:25
out=$(gd sync test 2>&1)
check_eq "the permission was for that run only: the next mass deletion is refused" 3 "$?"
check_contains "... naming that folder" "allow-mass-delete test/Lists" "$out"
check_eq "... Lists kept its files" 30 "$(gd_count_local Lists)"
gd_sync_ok "--allow-mass-delete for the whole account beside the daemon" --allow-mass-delete test
check_eq "... Lists is down to 5" 5 "$(gd_count_local Lists)"

# A run longer than --wait (a slow post_sync_command holds it): said, with
# what to do; the daemon goes on. The command's own gmaildir sync of the
# account would wait for the run that waits for it: refused at once.
printf "    post_sync_command: 'sleep 4; \"%s\" -c \"%s\" sync test >\"%s\" 2>&1; echo \$? >\"%s\"'\n" \
	"$GMAILDIR_BIN" "$GD_CONF" "$GD_DIR/hook.out" "$GD_DIR/hook.rc" >>"$GD_CONF"
kill -HUP "$DPID"
check "the daemon takes a post_sync_command (SIGHUP)" wait_for 10 grep -q "config reloaded" "$LOG"
wait_for 10 test -S "$SOCK"
dc_doveadm save -u "$DC_USER" -m INBOX <"$GD_DIR/gen/000003.eml"
out=$(gd sync --wait=1 test/INBOX 2>&1)
check_eq "a daemon run longer than --wait=1: exit 1" 1 "$?"
check_contains "... says so" "has not finished its sync within 1 s" "$out"
check_contains "... and how to wait longer" "--wait=SECONDS waits longer" "$out"
check "... and does not call the folder unknown" bash -c "! grep -q 'no such folder' <<<\"\$1\"" _ "$out"
check "... the daemon finishes it meanwhile" wait_for 10 bash -c "[ \$(find '$GD_MAIL/INBOX' -type f | wc -l) -eq 8 ]"
check "the post_sync_command's own gmaildir sync is over" wait_for 10 test -s "$GD_DIR/hook.rc"
check_eq "... refused (exit 1)" 1 "$(cat "$GD_DIR/hook.rc")"
check_contains "... saying why" "called from the post_sync_command of the daemon's" "$(cat "$GD_DIR/hook.out")"
out=$(gd sync --wait=x test 2>&1)
check_eq "--wait=x is a usage error" 2 "$?"

gd_sync_ok "a sync queued behind the daemon's run in flight waits for its own run" test
check_contains "... and shows it" "test/INBOX: unchanged, 8 messages" "$OUT"

gd_daemon_stop
check "a stopped daemon removes its socket" test ! -e "$SOCK"
# A daemon killed -9 leaves its socket: nobody answers there.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
gd_sync_ok "with a dead daemon's socket left, gmaildir sync runs itself" test
check "... not through a daemon" bash -c "! grep -q 'the daemon (pid' <<<\"\$1\"" _ "$OUT"
check_contains "... and syncs" "test/INBOX: unchanged" "$OUT"
: >"$LOG"
gd_daemon_start -v
check "a new daemon replaces the dead one's socket" wait_for 30 grep -q "first sync done" "$LOG"
gd_sync_ok "... and answers on it" test
check_contains "... through the daemon" "the daemon (pid $DPID)" "$OUT"

# A state_dir whose socket path is longer than sun_path (108 bytes).
gd_daemon_stop
LONG=$GD_DIR/$(printf 's%.0s' {1..60})/$(printf 't%.0s' {1..60})
mkdir -p "$(dirname "$LONG")"
mv "$GD_STATE" "$LONG"
sed -i "s|state_dir: .*|state_dir: $LONG|" "$GD_CONF"
GD_STATE=$LONG SOCK=$LONG/daemon.sock
: >"$LOG"
gd_daemon_start -v
check "a daemon with a ${#SOCK}-byte socket path comes up" wait_for 30 grep -q "first sync done" "$LOG"
check "... listens there" test -S "$SOCK"
gd_sync_ok "... and gmaildir sync reaches it" test
check_contains "... through the daemon" "the daemon (pid $DPID)" "$OUT"

# A client killed while its run is under way: the next one gets its own.
dc_doveadm save -u "$DC_USER" -m INBOX <"$GD_DIR/gen/000004.eml"
gd sync test >"$GD_DIR/killed.out" 2>&1 &
C=$!
# (The client prints its folders' lines at the end, sorted: the file's
# arrival says the run is under way, its post_sync_command to come.)
inbox_has() { [ "$(find "$GD_MAIL/INBOX" -type f | wc -l)" -eq "$1" ]; }
wait_for 10 inbox_has 9
kill -9 "$C"
wait "$C" 2>/dev/null
gd_sync_ok "after a client killed mid-run, the next sync gets its run" test
check_contains "... and its result" "test/INBOX: unchanged, 9 messages" "$OUT"

# SIGTERM while a sync waits for the daemon (its post_sync_command runs).
dc_doveadm save -u "$DC_USER" -m INBOX <"$GD_DIR/gen/000005.eml"
gd sync test >"$GD_DIR/term.out" 2>&1 &
C=$!
wait_for 10 inbox_has 10
gd_check_term_fast "while a gmaildir sync waits"
wait "$C"
check_eq "... that sync exits 1" 1 "$?"
check_contains "... saying the daemon stopped" "the daemon stopped before its sync was done" \
	"$(cat "$GD_DIR/term.out")"
tap_done
