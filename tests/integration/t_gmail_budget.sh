#!/usr/bin/env bash
# Gmail's connection limit against the daemon (GMAIL.md, Limits): the
# fixture answers a connection beyond max_conns with "* BYE [UNAVAILABLE]
# Too many simultaneous connections." Four folders to push and a budget
# (8) above what this server allows (3): the daemon does not fail; the
# IDLE connections the server refuses become STATUS polling (the budget
# shrinks to what the server takes), new mail in such a folder still
# arrives, and the server never held more than 3 at once. Then Gmail's
# daily download limit stops the daemon's download: a pause with a time,
# and the rest comes later, nothing twice.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/gmail/fixture.sh
source tests/lib/gmaildir.sh

gm_start max_conns=3 || exit 1
trap 'gd_daemon_stop; _gd_cleanup; gm_cleanup' EXIT

eml() { # eml N LABEL: a small message
	printf 'From: a@example.com\r\nTo: %s\r\nSubject: budget %s\r\nMessage-ID: <budget-%s@test>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nbody %s\r\n' \
		"$GM_USER" "$1" "$1" "$1" >"$GD_DIR/m$1.eml"
	gm_add "$GD_DIR/m$1.eml" "$2" '' >/dev/null
}
count() { find "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" -type f 2>/dev/null | wc -l; }

gd_setup_gmail "idle: [INBOX, Work, Family, Travel]
status_interval: 5"
LOG=$GD_DIR/daemon.log
n=0
for l in '\Inbox' Work Family Travel; do
	n=$((n + 1))
	eml "$n" "$l"
done
out=$(gd sync 2>&1)
check_eq "a one-shot sync within the server's limit exits 0" 0 "$?"
[ -z "$out" ] || diag "$(printf '%s\n' "$out" | head -5)"
gm_ctl reset_counters >/dev/null
gd_daemon_start
check "the daemon's first sync" wait_for 20 grep -q "first sync done" "$LOG"
check "the server refused some of its IDLE connections" \
	wait_for 15 grep -q "the server refuses one more connection" "$LOG"
polled=$("$GMAILDIR_BIN" -c "$GD_CONF" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["accounts"][0]["daemon"]
print("\n".join(c["folder"] for c in d["connections"]
                if c["role"] == "idle" and c["state"].startswith("polled")))')
diag "polled instead of IDLE: $(echo $polled)"
check "... status says which folders are polled instead" test -n "$polled"
check "... and the daemon keeps running" kill -0 "$DPID"
f=$(head -1 <<<"$polled")
case $f in INBOX) label='\Inbox' ;; *) label=$f ;; esac
before=$(count "$f")
n=$((n + 1))
eml "$n" "$label"
check "new mail in a polled folder ($f) still arrives" \
	wait_for 15 bash -c "[ \$(find '$GD_MAIL/$f/cur' '$GD_MAIL/$f/new' -type f | wc -l) -eq $((before + 1)) ]"
check "the server never held more than its 3 connections at once" \
	test "$(gm_counter max_concurrent)" -le 3
gd_daemon_stop
check_eq "the daemon logged no account failure for it" 0 "$(grep -c 'error: gm:' "$LOG")"

# --- the daily download limit, in the daemon ---------------------------------
# A download cut by [OVERQUOTA] keeps what arrived; the daemon says when it
# tries again, status shows the pause, and a sync asked for later (SIGUSR1,
# the limit lifted) brings the rest without fetching anything twice.
gen=$(mktemp -d /tmp/gmq.XXXXXX)
GD_DIRS+=("$gen")
python3 tests/lib/genmail.py --count 40 --seed gq --min-size 8K --max-size 16K --out "$gen" >/dev/null
for f in "$gen"/*.eml; do gm_add "$f" Quota '' >/dev/null; done
total=$(du -cb "$gen"/*.eml | tail -1 | cut -f1)
gm_ctl set max_conns=15 >/dev/null
gm_ctl reset_counters >/dev/null
gm_ctl set "quota_bytes=$((total / 3))" >/dev/null
gd_setup_gmail "idle: [INBOX]"
LOG=$GD_DIR/daemon.log
gd_daemon_start
check "quota: the daemon says the limit paused downloads, and until when" \
	wait_for 30 grep -q "OVERQUOTA.*downloads resume at about [0-9][0-9]:[0-9][0-9]" "$LOG"
check "... status shows the pause" wait_for 10 bash -c \
	"'$GMAILDIR_BIN' -c '$GD_CONF' status | grep -q 'sync: paused by the server.s download limit until about'"
check_eq "... told once" 1 "$(grep -c "downloads resume at about" "$LOG")"
kept=$(sqlite3 "$GD_STATE/state.db" "select count(distinct gm_msgid) from pairs")
check "... what arrived is kept ($kept messages, of 46)" test "$kept" -gt 0 -a "$kept" -lt 46
gm_ctl set quota_bytes=null >/dev/null
gm_ctl quota_reset >/dev/null
kill -USR1 "$DPID"
check "a sync asked for after the limit lifted brings all 40" \
	wait_for 30 bash -c "[ \$(find '$GD_MAIL/Quota' -type f | wc -l) -eq 40 ]"
check_eq "... no message was downloaded twice" 1 \
	"$(gm_ctl counters | gm_json 'max(r["downloads"].values())')"
check "... and the pause is over in status" wait_for 10 bash -c \
	"! '$GMAILDIR_BIN' -c '$GD_CONF' status | grep -q 'paused by'"
gd_daemon_stop

# --- INBOX first --------------------------------------------------------------
# A first sync brings INBOX's mail before the rest of All Mail: the first
# body FETCH is in INBOX, and All Mail then links what INBOX brought
# instead of downloading it again.
gd_setup_gmail
gm_ctl reset_counters >/dev/null
gd -vv sync >"$GD_DIR/log" 2>&1
sel=$(grep -E 'imap: > [0-9]+ (SELECT|UID FETCH [^ ]+ \(UID BODY)' "$GD_DIR/log" |
	grep -B1 -m1 'BODY' | head -1)
check_contains "INBOX first: the first body FETCH follows SELECT INBOX" 'SELECT "INBOX"' \
	"$(sed 's/SELECT INBOX/SELECT "INBOX"/' <<<"$sel")"
check_eq "... and no message was downloaded twice" 1 \
	"$(gm_ctl counters | gm_json 'max(r["downloads"].values())')"

tap_done
