#!/usr/bin/env bash
# The daemon's log: outside the journal each line starts with the local time
# in ISO 8601, under the journal (JOURNAL_STREAM names stderr) it carries <N>
# priorities and no time; --log-file appends stamped lines to a 0600 file
# that commands run by gmaildir do not inherit, reopened on SIGHUP; -v says
# SIGUSR1, a sync that found nothing, and the capabilities by name.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
dc_populate "$DC_USER" INBOX 3 81 1K 2K >/dev/null
gd_setup test "poll_interval: 300"
trap 'gd_daemon_stop; _gd_cleanup; dc_cleanup' EXIT
STAMP='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} gmaildir: '
ready() { grep -q "first sync done" "$1"; }
stop() { kill -TERM "$DPID"; wait "$DPID"; DPID=; }

# --- stderr, not the journal --------------------------------------------------
LOG=$GD_DIR/daemon.log
gd_daemon_start -v
check "daemon, stderr a file: comes up" wait_for 20 ready "$LOG"
kill -USR1 "$DPID"
check "-v: SIGUSR1 is logged" wait_for 10 grep -q "SIGUSR1: sync requested" "$LOG"
check "-v: a sync that found nothing says so" \
	wait_for 10 grep -q "test: full sync: [0-9]* folder(s) checked, nothing changed" "$LOG"
check "-v: the capabilities by name" grep -qE "imap: connected to .*\((IDLE|UIDPLUS|CONDSTORE)" "$LOG"
stop
check "every line starts with an ISO 8601 local time" bash -c "! grep -vqE '$STAMP' '$LOG'"
check_eq "... the local time (TZ=UTC here)" "$(date -u +%Y-%m-%dT%H)" "$(head -c 13 "$LOG")"

# --- under the journal -------------------------------------------------------
JLOG=$GD_DIR/journal.log
: >"$JLOG"
JOURNAL_STREAM=$(stat -c '%d:%i' "$JLOG") "$GMAILDIR_BIN" -c "$GD_CONF" daemon >>"$JLOG" 2>&1 &
DPID=$!
check "daemon, JOURNAL_STREAM naming stderr: comes up" wait_for 20 ready "$JLOG"
stop
check "... every line has a <N> priority" bash -c "! grep -vqE '^<[0-7]>' '$JLOG'"
check "... and no time (the journal has its own)" bash -c "! grep -qE '^<[0-7]>[0-9]{4}-' '$JLOG'"

# --- --log-file ----------------------------------------------------------------
F=$GD_DIR/gmaildir.log
echo "an older line" >"$F"
"$GMAILDIR_BIN" -c "$GD_CONF" -v --log-file "$F" daemon >"$GD_DIR/stderr" 2>&1 &
DPID=$!
check "--log-file: the daemon comes up, its lines in the file" wait_for 20 ready "$F"
check_eq "... appended: the older line stays first" "an older line" "$(head -1 "$F")"
check "... each new line stamped" bash -c "! tail -n +2 '$F' | grep -vqE '$STAMP'"
check_eq "... nothing on stderr" "" "$(cat "$GD_DIR/stderr")"
check_eq "... the file made 0600 (when new)" 600 "$(
	rm -f "$GD_DIR/new.log"
	"$GMAILDIR_BIN" -c "$GD_CONF" --log-file "$GD_DIR/new.log" status >/dev/null 2>&1
	stat -c %a "$GD_DIR/new.log"
)"
mv "$F" "$F.1"
kill -HUP "$DPID"
check "SIGHUP: a new file at the path" wait_for 10 test -s "$F"
kill -USR1 "$DPID"
check "... which gets the next lines" wait_for 10 grep -q "SIGUSR1: sync requested" "$F"
check "... and the rotated one none of them" bash -c "! grep -q 'SIGUSR1' '$F.1'"
stop

# sync, --log-file after the command; a hook must not inherit the file.
with_hook=$(sed '/state_dir:/a\    post_sync_command: "ls -l /proc/self/fd > '"$GD_DIR"'/fds"' "$GD_CONF")
printf '%s\n' "$with_hook" >"$GD_CONF"
dc_populate "$DC_USER" INBOX 1 82 1K 2K >/dev/null
S=$GD_DIR/sync.log
out=$(gd sync --log-file "$S" 2>&1)
check_eq "sync --log-file (after the command): exit 0" 0 "$?"
check_contains "... the results still on stdout" "test/INBOX: 1 down" "$out"
check "... and in the file, stamped" grep -qE "${STAMP}test/INBOX: 1 down" "$S"
check "... the hook ran" test -s "$GD_DIR/fds"
check "... without the log file open" bash -c "! grep -q '$S' '$GD_DIR/fds'"
out=$(gd --log-file /nonexistent/dir/x.log sync 2>&1)
check_eq "a log file that cannot be opened: exit 2" 2 "$?"
check_contains "... naming it and why" "--log-file /nonexistent/dir/x.log: No such file or directory" "$out"

tap_done
