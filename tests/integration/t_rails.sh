#!/usr/bin/env bash
# Safety rails that keep a first contact from duplicating mail:
#  1. Two configs with their own state directories on one Maildir: while
#     one syncs, the other is stopped by the Maildir root's lock; and the
#     Maildir belongs to the state that first synced it, so the other
#     config's sync is refused with nothing changed on either side.
#  2. A message the server refuses outright (an empty file left in cur/)
#     stays local-only with a warning naming it; the rest is uploaded, the
#     folder's checkpoint advances and the next sync is quiet.
#  3. Files that are not Maildir messages are named (at -v, and by status).
# Every wait bounded; the daemon started here is stopped by its pid.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
DPID=
stop_daemon() {
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=
}
trap 'stop_daemon; _gd_cleanup; dc_cleanup' EXIT

# wait_for SECONDS CMD...: polls CMD every 0.1 s; true if it became true.
wait_for() {
	local limit=$(($1 * 10)) i=0
	shift
	while [ $i -lt $limit ]; do
		"$@" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
local_count() { find "$GD_MAIL" -path '*/cur/*' -o -path '*/new/*' -type f | wc -l; }

# ------------------------------------------------------------ 1. one Maildir
gd_setup test "poll_interval: 300"
dc_populate "$DC_USER" INBOX 30 91 1K 4K >/dev/null
A_CONF=$GD_CONF
# Config B: the same account and Maildir, its own state directory (as a
# `-c other.yaml` run beside a systemd unit with the default config).
B_CONF=$GD_DIR/other.yaml
B_STATE=$GD_DIR/other-state
sed "s|state_dir: .*|state_dir: $B_STATE|" "$A_CONF" >"$B_CONF"
chmod 600 "$B_CONF"

gd_sync_ok "config A's first sync"
check_eq "... downloaded the 30 messages" 30 "$(local_count)"
check "... the Maildir root has its identity file" test -s "$GD_MAIL/.gmaildir.id"
check_eq "... its identity is in A's state" "$(cat "$GD_MAIL/.gmaildir.id")" \
	"$(gd_state "select value from meta where key = 'maildir_id'")"

LOG=$GD_DIR/daemon.log
"$GMAILDIR_BIN" -c "$A_CONF" daemon >>"$LOG" 2>&1 &
DPID=$!
locked() { [ "$(cat "$GD_MAIL/.gmaildir.lock" 2>/dev/null)" = "$DPID" ]; }
check "config A's daemon holds the Maildir lock" wait_for 20 locked
out=$(timeout -k 5 120 "$GMAILDIR_BIN" -c "$B_CONF" sync 2>&1)
rc=$?
check "config B's sync meanwhile fails" test "$rc" -ne 0
check_contains "... saying who holds the Maildir" \
	"Maildir $GD_MAIL is being synced by pid $DPID" "$out"
check_eq "... nothing was uploaded" 30 "$(gd_count_server INBOX)"
check_eq "... nothing was downloaded" 30 "$(local_count)"
out=$(gd status 2>&1)
check_contains "status takes no lock: it works beside the daemon" "daemon running" "$out"
stop_daemon

out=$(timeout -k 5 120 "$GMAILDIR_BIN" -c "$B_CONF" sync 2>&1)
rc=$?
check_eq "config B's sync alone is refused as a safety error (exit 3)" 3 "$rc"
check_contains "... the Maildir belongs to another state" \
	"Maildir $GD_MAIL belongs to another gmaildir state" "$out"
check_contains "... and it says what to do" "give this account its own maildir" "$out"
check_eq "... nothing was uploaded: server count unchanged" 30 "$(gd_count_server INBOX)"
check_eq "... nothing was downloaded: local count unchanged" 30 "$(local_count)"
out=$(timeout -k 5 120 "$GMAILDIR_BIN" -c "$B_CONF" sync --dry-run 2>&1)
check_eq "... a dry run of config B is refused the same" 3 "$?"
gd_sync_ok "config A still syncs"
check_contains "... nothing to do" "unchanged" "$OUT"

# The user moves the Maildir on purpose, identity file and all.
mv "$GD_MAIL" "$GD_DIR/Moved"
sed -i "s|maildir: .*|maildir: $GD_DIR/Moved|" "$A_CONF"
old_mail=$GD_MAIL
GD_MAIL=$GD_DIR/Moved
gd_sync_ok "a Maildir moved with its identity file"
check_contains "... is accepted, and said so" "the Maildir moved from $old_mail" "$OUT"
check_eq "... the state follows it" "$GD_MAIL" \
	"$(gd_state "select value from meta where key = 'maildir_path'")"
check_eq "... nothing transferred" 30 "$(gd_count_server INBOX)"
check_eq "... nothing downloaded" 30 "$(local_count)"

# Moved without its identity file: refused, nothing done.
mv "$GD_MAIL" "$GD_DIR/Moved2"
rm "$GD_DIR/Moved2/.gmaildir.id"
sed -i "s|maildir: .*|maildir: $GD_DIR/Moved2|" "$A_CONF"
GD_MAIL=$GD_DIR/Moved2
out=$(gd sync 2>&1)
check_eq "a Maildir moved without its identity file is refused (exit 3)" 3 "$?"
check_contains "... saying to move the file along" "move $GD_DIR/Moved/.gmaildir.id along" "$out"
check_eq "... nothing uploaded" 30 "$(gd_count_server INBOX)"

# A dry run of a config whose Maildir does not exist yet creates nothing.
gd_fresh
dc_populate "$DC_USER" INBOX 5 92 1K 4K >/dev/null
out=$(gd sync --dry-run 2>&1)
check_eq "a dry run over a Maildir not there yet exits 0" 0 "$?"
check "... it created no Maildir" test ! -e "$GD_MAIL"
gd_sync_ok "the first real sync creates it"
check "... with its identity and lock files" test -f "$GD_MAIL/.gmaildir.id" -a -f "$GD_MAIL/.gmaildir.lock"
check_eq "... no folder for them on the server" "" "$(dc_folders "$DC_USER" | grep -i gmaildir)"
check_eq "... status lists no folder for them" "" "$(gd status | grep -i gmaildir)"
gd_check_idle "rails: a fresh Maildir"

tap_done
