#!/usr/bin/env bash
# Gmail's connection limit against the daemon (GMAIL.md, Limits): the
# fixture answers a connection beyond max_conns with "* BYE [UNAVAILABLE]
# Too many simultaneous connections." Four folders to push and a budget
# (8) above what this server allows (3): the daemon does not fail; the
# IDLE connections the server refuses become STATUS polling (the budget
# shrinks to what the server takes), new mail in such a folder still
# arrives, and the server never held more than 3 at once.
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

tap_done
