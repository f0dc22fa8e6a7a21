#!/usr/bin/env bash
# gmaildir status against the real Dovecot: "never" before the first sync
# (and nothing created), the right counts and "just now" after one, pending
# work, last errors with their time and relative times from the state, a
# --json document that parses with exactly the documented fields and the
# right numbers, and, while `gmaildir daemon` runs, the daemon's pid,
# without disturbing it; a folder error provoked by a real sync (the
# mass-deletion guard) shows with the time it happened, and goes with the
# next good sync.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup test "idle: [INBOX]"
dc_populate "$DC_USER" INBOX 5 81 1K 4K >/dev/null
dc_populate "$DC_USER" Other 3 82 1K 4K >/dev/null
LOG=$GD_DIR/daemon.log
trap 'gd_daemon_stop; _gd_cleanup; dc_cleanup' EXIT

# jq-less checks: json_check PYTHON-EXPR < JSON, with the document as d.
json_check() {
	python3 -c 'import json, sys
d = json.load(sys.stdin)
ok = eval("(" + sys.argv[1].strip() + ")")
sys.exit(0 if ok else 1)' "$1"
}
# row FOLDER: the table line of FOLDER.
row() { grep -E "^  $1 " <<<"$OUT"; }

# --- before any sync -------------------------------------------------------
OUT=$(gd status 2>&1)
check_eq "before any sync: exit 0" 0 "$?"
check_contains "... says never synced" "test: idle, never synced" "$OUT"
check "... and creates no state dir" test ! -e "$GD_STATE"
JSON=$(gd status --json)
check "... --json: no folders, nothing holds the account" json_check \
	'd == {"accounts": [{"name": "test", "locked_by": None, "error": None, "connect_error": None, "connect_error_at": None, "folders": [], "outbox": None, "daemon": None}]}' \
	<<<"$JSON"

gd_write_local Local new 1800000000.M1.status "<status-local-1@test>"
OUT=$(gd status)
check_contains "a local folder not synced yet is listed as never" "never" "$(row Local)"

# --- after a sync -----------------------------------------------------------
gd sync >/dev/null 2>&1
check_eq "the sync succeeds" 0 "$?"
out=$(gd sync test/Nope 2>&1)
check_eq "sync of a misspelled folder: exit 2" 2 "$?"
check_contains "... names it and the command that lists the folders" \
	"test/Nope: no such folder is synced" "$out"
check_contains "... with gmaildir list" "gmaildir list test" "$out"
out=$(gd sync test/Other 2>&1)
check_eq "sync of one folder by its name: exit 0" 0 "$?"
check_contains "... that folder only" "test/Other: unchanged" "$out"
check_contains "-v names the server's capabilities (no hex mask)" "(IDLE CONDSTORE QRESYNC" \
	"$(gd sync -v test/Other 2>&1)"
OUT=$(gd status)
check_eq "after a sync: exit 0" 0 "$?"
check_contains "... header: idle, synced just now" "test: idle, last sync just now" "$OUT"
check "... a table header" grep -qE '^  FOLDER +LOCAL +SYNCED +PENDING +LAST SYNC$' <<<"$OUT"
check "... INBOX: 5 local, 5 synced, 0 pending, just now" \
	grep -qE '^  INBOX +5 +5 +0  just now$' <<<"$OUT"
check "... Other: 3 3 0" grep -qE '^  Other +3 +3 +0  just now$' <<<"$OUT"
check "... Local (uploaded): 1 1 0" grep -qE '^  Local +1 +1 +0  just now$' <<<"$OUT"
check "... columns aligned (LOCAL column ends at the same place)" \
	test "$(grep -E '^  (FOLDER|INBOX|Other|Local|Archive) ' <<<"$OUT" |
		awk '{ print index($0, $2) + length($2) }' | sort -u | wc -l)" -eq 1

JSON=$(gd status --json)
check "--json parses" json_check 'True' <<<"$JSON"
check "--json: the documented fields, no others" json_check '
set(d) == {"accounts"} and
set(d["accounts"][0]) == {"name", "locked_by", "error", "connect_error", "connect_error_at",
                          "folders", "outbox", "daemon"} and
d["accounts"][0]["daemon"] is None and
all(set(f) == {"name", "remote", "local", "synced", "last_sync", "pending", "last_error",
               "last_error_at", "ignored", "held"}
    for f in d["accounts"][0]["folders"])' <<<"$JSON"
now=$(date +%s)
check "--json: INBOX 5/5, pending 0, synced within a minute, no error" json_check "
[(f['local'], f['synced'], f['pending'], f['last_error'], f['last_error_at'], f['remote'],
  $now - f['last_sync'] < 60)
 for f in d['accounts'][0]['folders'] if f['name'] == 'INBOX'] ==
[(5, 5, 0, None, None, 'INBOX', True)]" <<<"$JSON"
check "--json: Other 3/3 and Local 1/1" json_check "
{f['name']: (f['local'], f['synced']) for f in d['accounts'][0]['folders']
 if f['name'] in ('Other', 'Local')} == {'Other': (3, 3), 'Local': (1, 1)}" <<<"$JSON"
check "--json: not held" json_check 'd["accounts"][0]["locked_by"] is None' <<<"$JSON"

# --- what the state records -------------------------------------------------
rm "$(ls -d "$GD_MAIL"/INBOX/cur/* "$GD_MAIL"/INBOX/new/* 2>/dev/null | head -1)"
INBOX_ID=$(gd_state "select id from folders where remote = 'INBOX'")
ERR_AT=$(($(date +%s) - 180))
gd_state "insert into intents(folder_id, kind, uid, key, created)
	values($INBOX_ID, 1, 999, 'status-test', strftime('%s', 'now'));
	update folders set last_error = 'SELECT failed: [UNAVAILABLE] try later',
	last_error_at = $ERR_AT,
	last_sync = strftime('%s', 'now') - 300 where id = $INBOX_ID;
	update folders set last_sync = strftime('%s', 'now') - 7300 where remote = 'Other';
	update folders set last_error = 'an error from before the time was kept'
	where remote = 'Local';"
OUT=$(gd status)
check "a file deleted locally: 4 local, still 5 synced; a pending intent; 5 min ago" \
	grep -qE '^  INBOX +4 +5 +1  5 min ago$' <<<"$OUT"
check_contains "... the last error under its folder, with its local time, 3 min ago" \
	"    last error ($(date -d "@$ERR_AT" '+%Y-%m-%d %H:%M'), 3 min ago): SELECT failed: [UNAVAILABLE] try later" \
	"$OUT"
check_contains "... an error without a time (recorded by schema v1) shows without one" \
	"    last error: an error from before the time was kept" "$OUT"
check "... 2 h ago" grep -qE '^  Other +3 +3 +0  2 h ago$' <<<"$OUT"
check_contains "... the header shows the latest sync" "last sync just now" "$OUT"
check_contains "the error time is in the local time zone (TZ=JST-9)" \
	"    last error ($(TZ=JST-9 date -d "@$ERR_AT" '+%Y-%m-%d %H:%M'), 3 min ago)" \
	"$(TZ=JST-9 gd status)"
JSON=$(gd status --json)
check "--json: the same numbers, the error and its time in UTC" json_check "
[(f['local'], f['synced'], f['pending'], f['last_error'], f['last_error_at'])
 for f in d['accounts'][0]['folders'] if f['name'] == 'INBOX'] ==
[(4, 5, 1, 'SELECT failed: [UNAVAILABLE] try later',
  '$(date -u -d "@$ERR_AT" '+%Y-%m-%dT%H:%M:%SZ')')]" <<<"$JSON"
check "--json: an error without a time has last_error_at null" json_check "
[(f['last_error'], f['last_error_at']) for f in d['accounts'][0]['folders']
 if f['name'] == 'Local'] == [('an error from before the time was kept', None)]" <<<"$JSON"
gd_state "delete from intents where key = 'status-test';
	update folders set last_error = NULL, last_error_at = NULL"

# --- while the daemon runs ---------------------------------------------------
gd_daemon_start
check "the daemon finishes its first sync" wait_for 30 grep -q "first sync done" "$LOG"
t0=$(date +%s%N)
OUT=$(gd status 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "status while the daemon runs: exit 0" 0 "$rc"
check_contains "... names the daemon and its pid" "test: daemon running (pid $DPID)" "$OUT"
check "... answers at once (${ms} ms), never waits for the lock" test "$ms" -lt 5000
check "... INBOX 4/4 once the daemon synced the local deletion" \
	grep -qE '^  INBOX +4 +4 +0 ' <<<"$OUT"
JSON=$(gd status --json test)
check "--json: locked_by is the daemon's pid" json_check \
	"d['accounts'][0]['locked_by'] == $DPID" <<<"$JSON"
check "... the daemon's own view: its pid, a successful sync, no error" json_check "
d['accounts'][0]['daemon']['pid'] == $DPID and
d['accounts'][0]['daemon']['last_sync_ok'] is not None and
d['accounts'][0]['daemon']['last_error'] is None" <<<"$JSON"
check "... its connections: the sync's and INBOX's IDLE, with the documented fields" json_check "
[(c['role'], c['folder']) for c in d['accounts'][0]['daemon']['connections']] ==
[('sync', None), ('idle', 'INBOX')] and
all(set(c) == {'role', 'folder', 'state', 'since', 'last_error', 'last_error_at'}
    for c in d['accounts'][0]['daemon']['connections'])" <<<"$JSON"
check "... the table says IDLE INBOX connected" \
	wait_for 10 bash -c "'$GMAILDIR_BIN' -c '$GD_CONF' status | grep -qE '^  IDLE INBOX: connected since'"
check "the daemon is still running after status" kill -0 "$DPID"
dc_populate "$DC_USER" INBOX 1 83 1K 2K >/dev/null
check "... and still syncs (a new server message arrives)" \
	wait_for 15 bash -c "[ \$(find '$GD_MAIL/INBOX/cur' '$GD_MAIL/INBOX/new' -type f | wc -l) -eq 5 ]"
kill -TERM "$DPID"
wait "$DPID"
check_eq "the daemon exits 0 on SIGTERM" 0 "$?"
DPID=
OUT=$(gd status)
check_contains "after the daemon stopped: idle again" "test: idle" "$OUT"
check "... INBOX 5/5" grep -qE '^  INBOX +5 +5 +0 ' <<<"$OUT"
check "... --json: locked_by null" json_check 'd["accounts"][0]["locked_by"] is None' \
	<<<"$(gd status --json)"

# --- a real folder error, recorded by the sync -------------------------------
# The mass-deletion guard fails the folder (exit 3) without touching
# anything: every file of a 21-message folder (more than 20) is moved away.
dc_populate "$DC_USER" Mass 21 84 1K 2K >/dev/null
gd sync >/dev/null 2>&1
check_eq "a 21-message folder is synced" 21 "$(gd_state "select count(*) from pairs p
	join folders f on f.id = p.folder_id where f.remote = 'Mass'")"
mkdir -p "$GD_DIR/hold/cur" "$GD_DIR/hold/new"
find "$GD_MAIL/Mass/cur" "$GD_MAIL/Mass/new" -type f | while read -r f; do
	mv "$f" "$GD_DIR/hold/$(basename "$(dirname "$f")")/"
done
t0=$(date +%s)
gd sync >/dev/null 2>&1
check_eq "its files moved away: the sync fails the folder (exit 3)" 3 "$?"
t1=$(date +%s)
OUT=$(gd status)
check "... status shows the error with the time it happened" grep -qE \
	'^    last error \([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}, just now\): refusing to delete 21 of 21 messages on the server' \
	<<<"$OUT"
gd status >/dev/null 2>&1
check_eq "... status exits 1 while a folder's last sync failed" 1 "$?"
ERR_AT=$(gd_state "select last_error_at from folders where remote = 'Mass'")
check "... the state has the time of the failed sync ($ERR_AT in $t0..$t1)" \
	test "${ERR_AT:-0}" -ge "$t0" -a "${ERR_AT:-0}" -le "$t1"
check_contains "... the date shown is that time" \
	"    last error ($(date -d "@${ERR_AT:-0}" '+%Y-%m-%d %H:%M'), just now): refusing" "$OUT"
check "... --json: last_error_at is that time in ISO 8601 UTC" json_check "
[((f['last_error'] or '').startswith('refusing to delete 21 of 21'), f['last_error_at'])
 for f in d['accounts'][0]['folders'] if f['name'] == 'Mass'] ==
[(True, '$(date -u -d "@${ERR_AT:-0}" '+%Y-%m-%dT%H:%M:%SZ')')]" <<<"$(gd status --json)"
find "$GD_DIR/hold" -type f | while read -r f; do
	mv "$f" "$GD_MAIL/Mass/$(basename "$(dirname "$f")")/"
done
gd sync >/dev/null 2>&1
check_eq "the files put back: the sync succeeds" 0 "$?"
OUT=$(gd status)
check_eq "... status exits 0 again" 0 "$?"
check "... the error is gone from status" test -z "$(grep 'last error' <<<"$OUT")"
check_eq "... and its time from the state" "" \
	"$(gd_state "select coalesce(last_error, '') || coalesce(last_error_at, '')
	from folders where remote = 'Mass'")"
check "... --json: both null" json_check "
[(f['last_error'], f['last_error_at']) for f in d['accounts'][0]['folders']
 if f['name'] == 'Mass'] == [(None, None)]" <<<"$(gd status --json)"

# --- odd names, a damaged state, usage ---------------------------------------
mkdir -p "$GD_MAIL/$(printf 'Bad\377name')"/{cur,new,tmp} "$GD_MAIL/Früh"/{cur,new,tmp}
check "--json parses with a folder name that is not UTF-8" json_check \
	'any(f["name"] == "Bad\ufffdname" for f in d["accounts"][0]["folders"]) and
	 any(f["name"] == "Früh" for f in d["accounts"][0]["folders"])' <<<"$(gd status --json)"
cp "$GD_STATE/state.db" "$GD_DIR/state.db.good"
printf 'garbage, not a database %.0s' {1..300} >"$GD_STATE/state.db"
OUT=$(gd status 2>&1)
check_eq "a damaged state DB: exit 1" 1 "$?"
check_contains "... says the state is unreadable" "state unreadable" "$OUT"
check_contains "... and why" "file is not a database" "$OUT"
JSON=$(gd status --json 2>/dev/null)
check "... --json still parses, with the error" json_check \
	'"not a database" in d["accounts"][0]["error"]' <<<"$JSON"
cp "$GD_DIR/state.db.good" "$GD_STATE/state.db"
gd status nosuch >/dev/null 2>&1
check_eq "unknown account: exit 2" 2 "$?"
gd status --frobnicate >/dev/null 2>&1
check_eq "unknown option: exit 2" 2 "$?"
tap_done
