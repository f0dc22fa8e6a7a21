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
trap 'gd_daemon_stop; _gd_cleanup; dc_cleanup' EXIT

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
check_eq "... its identity is in A's state" "$(head -1 "$GD_MAIL/.gmaildir.id")" \
	"$(gd_state "select value from meta where key = 'maildir_id'")"
check_eq "... and names A's state as its owner" "$GD_STATE" "$(sed -n 2p "$GD_MAIL/.gmaildir.id")"

gd_daemon_start # config A: $GD_CONF is $A_CONF
locked() { [ "$(tr -d " " <"$GD_MAIL/.gmaildir.lock" 2>/dev/null)" = "$DPID" ]; }
check "config A's daemon holds the Maildir lock" wait_for 20 locked
out=$(timeout -k 5 120 "$GMAILDIR_BIN" -c "$B_CONF" sync 2>&1)
rc=$?
check "config B's sync meanwhile fails" test "$rc" -ne 0
# Its Maildir's identity is checked before anything else (before the
# lock and the login): the Maildir is another state's, daemon or not.
check_contains "... saying the Maildir belongs to A's state" \
	"Maildir $GD_MAIL belongs to another gmaildir state" "$out"
check_eq "... nothing was uploaded" 30 "$(gd_count_server INBOX)"
check_eq "... nothing was downloaded" 30 "$(local_count)"
out=$(gd status 2>&1)
check_contains "status takes no lock: it works beside the daemon" "daemon running" "$out"
gd_daemon_stop

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
out=$(timeout -k 5 120 "$GMAILDIR_BIN" -c "$B_CONF" doctor 2>&1)
check_eq "doctor of config B fails (exit 1)" 1 "$?"
check_contains "... saying the Maildir belongs to another state" \
	"$GD_MAIL belongs to another gmaildir state" "$out"
out=$(gd doctor 2>&1)
check_eq "doctor of config A is content (exit 0)" 0 "$?"
gd_sync_ok "config A still syncs"
check_contains "... nothing to do" "unchanged" "$OUT"

# A's state is gone (its state_dir removed): B may take the Maildir over,
# under a new identity, so that A's state, should it come back, is refused.
mv "$GD_STATE" "$GD_DIR/state.away"
out=$(timeout -k 5 120 "$GMAILDIR_BIN" -c "$B_CONF" sync 2>&1)
check_eq "once A's state is gone, config B's sync exits 0" 0 "$?"
check_contains "... it takes the Maildir over, and says so" "this state takes it over" "$out"
check_eq "... nothing was uploaded" 30 "$(gd_count_server INBOX)"
check_eq "... nothing was downloaded" 30 "$(local_count)"
mv "$GD_DIR/state.away" "$GD_STATE"
out=$(gd sync 2>&1)
check_eq "A's state back: config A's sync is refused (exit 3)" 3 "$?"
check_contains "... naming the state that owns the Maildir now" \
	"belongs to another gmaildir state (the one in $B_STATE" "$out"
check_eq "... nothing was uploaded" 30 "$(gd_count_server INBOX)"
# From here on config B owns the Maildir.
GD_CONF=$B_CONF
GD_STATE=$B_STATE

# The user moves the Maildir on purpose, identity file and all.
mv "$GD_MAIL" "$GD_DIR/Moved"
sed -i "s|maildir: .*|maildir: $GD_DIR/Moved|" "$GD_CONF"
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
sed -i "s|maildir: .*|maildir: $GD_DIR/Moved2|" "$GD_CONF"
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

# ------------------------------------------- 2. a message refused outright
gd_fresh
dc_populate "$DC_USER" INBOX 5 93 1K 4K >/dev/null
gd_sync_ok "refused: the first sync"
EMPTY=$GD_MAIL/INBOX/cur/1800000001.crashed.reader:2,S
: >"$EMPTY"
gd_write_local INBOX cur 1800000002.new.one "<new-one@rails.test>"
gd_write_local INBOX new 1800000003.new.two "<new-two@rails.test>"
gd_sync_ok "a zero-byte file in cur/ beside two new messages"
check_contains "... a warning names the file" "warning: $EMPTY is empty" "$OUT"
check_contains "... the two others were uploaded" "2 up" "$OUT"
check_eq "... the server holds 7" 7 "$(gd_count_server INBOX)"
check "... the file is still on disk" test -f "$EMPTY"
check_eq "... it is local-only in the state" 1 \
	"$(gd_state "select count(*) from local_only where key = '1800000001.crashed.reader'")"
check_eq "... the folder recorded no error" "" \
	"$(gd_state "select last_error from folders where remote = 'INBOX'")"
gd_sync_ok "the next sync"
check_eq "... uploads nothing" 7 "$(gd_count_server INBOX)"
case $OUT in
*"$EMPTY"*) not_ok "... does not warn about the file again" ;;
*) ok "... does not warn about the file again" ;;
esac
check_contains "... and finds nothing to do" "INBOX: unchanged" "$OUT"
check "... the file is still on disk" test -f "$EMPTY"
gd_check_idle "rails: a zero-byte file"

# ----------------------------------------------- 3. ignored files are named
gd_fresh
dc_populate "$DC_USER" INBOX 3 94 1K 4K >/dev/null
gd_sync_ok "ignored: the first sync"
: >"$GD_MAIL/INBOX/cur/notes.txt:bad"
mkdir "$GD_MAIL/INBOX/new/a-directory"
ln -s /etc/passwd "$GD_MAIL/INBOX/cur/1800000021.link:2,S"
: >"$GD_MAIL/INBOX/cur/.hidden"
out=$(gd -v sync 2>&1)
check_eq "a sync at -v beside files that are not messages exits 0" 0 "$?"
check_contains "... it counts them" "ignored 3 files that are not Maildir messages" "$out"
for f in cur/notes.txt:bad new/a-directory "cur/1800000021.link:2,S"; do
	check_eq "... it names $f once" 1 "$(grep -c "ignored $GD_MAIL/INBOX/$f: not a Maildir message" <<<"$out")"
done
check_eq "... not the dot file" 0 "$(grep -c '\.hidden' <<<"$out")"
out=$(gd sync 2>&1)
check_eq "... without -v they are not named one by one" 0 "$(grep -c 'not a Maildir message' <<<"$out")"
out=$(gd status 2>&1)
for f in cur/notes.txt:bad new/a-directory "cur/1800000021.link:2,S"; do
	check_contains "status lists $f" "ignored (not a Maildir message): $f" "$out"
done
json=$(gd status --json)
check_eq "status --json lists them" \
	'["cur/1800000021.link:2,S", "cur/notes.txt:bad", "new/a-directory"]' \
	"$(python3 -c 'import json, sys; print(json.dumps([f["ignored"] for f in json.load(sys.stdin)["accounts"][0]["folders"] if f["name"] == "INBOX"][0]))' <<<"$json")"
rm "$GD_MAIL/INBOX/cur/notes.txt:bad" "$GD_MAIL/INBOX/cur/1800000021.link:2,S"
rmdir "$GD_MAIL/INBOX/new/a-directory"
gd_sync_ok "once they are gone"
check_eq "... status lists none" 0 "$(gd status | grep -c 'ignored')"
check_eq "... the server still holds 3 (none was uploaded)" 3 "$(gd_count_server INBOX)"

# The general case, on the scripted server (tests/hostile/server.py): a
# plain NO to one message's APPEND, every time, makes it local-only; a NO
# [OVERQUOTA] is the server's passing condition and stays a failure, retried.
H_DIR=$(mktemp -d /tmp/gd-rails.XXXXXX)
GD_DIRS+=("$H_DIR")
H_SPID=
trap 'gd_daemon_stop; [ -n "$H_SPID" ] && kill "$H_SPID" 2>/dev/null; _gd_cleanup; dc_cleanup' EXIT
"$DC_PYTHON" tests/hostile/server.py seed --state "$H_DIR/server.json" --folder INBOX 3 >/dev/null
"$DC_PYTHON" tests/hostile/server.py serve --state "$H_DIR/server.json" \
	--port-file "$H_DIR/port" --scenario append_refuse --log "$H_DIR/server.log" \
	--max-life 120 </dev/null >>"$H_DIR/server.log" 2>&1 &
H_SPID=$!
port_known() { [ -s "$H_DIR/port" ]; }
check "the scripted server starts" wait_for 10 port_known
GD_MAIL=$H_DIR/Mail
GD_CONF=$H_DIR/config.yaml
cat >"$GD_CONF" <<YAML
accounts:
  - name: h
    host: 127.0.0.1
    port: $(cat "$H_DIR/port")
    tls: none
    allow_insecure: true
    user: alice
    password: "secret"
    maildir: $GD_MAIL
    state_dir: $H_DIR/state
    timeout: 5
YAML
chmod 600 "$GD_CONF"
h_count() { "$DC_PYTHON" tests/hostile/server.py show --state "$H_DIR/server.json" | cut -f2; }
gd_sync_ok "scripted server: the first sync"
write_h() { # NAME HEADER
	mkdir -p "$GD_MAIL/INBOX/tmp"
	printf 'From: a@example.test\nMessage-ID: <%s@rails.test>\n%sSubject: %s\n\nbody\n' \
		"$1" "$2" "$1" >"$GD_MAIL/INBOX/tmp/$1"
	mv "$GD_MAIL/INBOX/tmp/$1" "$GD_MAIL/INBOX/cur/$1:2,S"
}
write_h 1800000011.refused 'X-Refuse: outright\n'
write_h 1800000012.fine ''
gd_sync_ok "a message the server refuses outright"
check_contains "... a warning names the file" \
	"warning: the server refused $GD_MAIL/INBOX/cur/1800000011.refused:2,S" "$OUT"
check_contains "... with the server's reason" "it breaks the policy" "$OUT"
check_eq "... the other message was uploaded: the server holds 4" 4 "$(h_count)"
gd_sync_ok "the next sync"
check_contains "... finds nothing to do" "INBOX: unchanged" "$OUT"
check_eq "... APPEND was tried once only" 1 "$(grep -c 'APPEND refused outright' "$H_DIR/server.log")"
write_h 1800000013.quota 'X-Refuse: quota\n'
out=$(gd sync 2>&1)
check_eq "a NO [OVERQUOTA] fails the folder (exit 1)" 1 "$?"
check_contains "... with the server's text" "OVERQUOTA" "$out"
out=$(gd sync 2>&1)
check_eq "... and is tried again at the next sync" 2 "$(grep -c 'APPEND over quota' "$H_DIR/server.log")"
check_eq "... it is not local-only" 0 \
	"$(sqlite3 "$H_DIR/state/state.db" "select count(*) from local_only where key like '%quota'")"
kill "$H_SPID" 2>/dev/null
wait "$H_SPID" 2>/dev/null
H_SPID=

tap_done
