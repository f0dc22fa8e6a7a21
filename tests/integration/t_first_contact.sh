#!/usr/bin/env bash
# First contact with a Maildir that already holds mail never duplicates:
# what is the same message on both sides is recognised by its headers (the
# fields tools add left out) and its body size, never by a body transfer;
# messages without a Message-ID are matched too; two different messages
# with one Message-ID and one size are never paired crosswise; and when
# too much would still go up or down as new, the sync stops before
# changing anything (exit 3) and --dry-run shows the plan.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1

# msg FILE SUBJECT MESSAGE-ID BODY: a small message ("-": no Message-ID).
msg() {
	{
		printf 'From: someone@example.test\nTo: %s@example.test\n' "$DC_USER"
		printf 'Subject: %s\n' "$2"
		[ "$3" = "-" ] || printf 'Message-ID: %s\n' "$3"
		printf 'Date: Tue, 3 Nov 2026 10:00:00 +0000\n\n%s\n' "$4"
	} >"$1"
}

# local_copy FOLDER UID NAME [EXTRA_HEADER]: the server message UID stored
# in FOLDER/cur/NAME the way another tool would, with EXTRA_HEADER (e.g.
# "X-TUID: abc") put in front of its header.
local_copy() {
	local dir=$GD_MAIL/$1
	mkdir -p "$dir"/{cur,new,tmp}
	{
		[ -z "${4:-}" ] || printf '%s\n' "$4"
		dc_fetch_stored "$DC_USER" "$1" "$2"
	} >"$dir/tmp/x"
	mv "$dir/tmp/x" "$dir/cur/$3"
}

# lacks NEEDLE HAYSTACK: true when HAYSTACK does not contain NEEDLE.
lacks() { [[ "$2" != *"$1"* ]]; }

count_local() { find "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" -type f | wc -l; }
count_server() { dc_status_field "$DC_USER" "$1" messages; }

# --- 1. Another tool's copies with a header we know of (X-TUID, Status):
# matched without a body transfer, and the next sync does nothing.
gd_fresh
dc_populate "$DC_USER" INBOX 30 fc1 1K 8K >/dev/null
i=0
for uid in $(dc_uids "$DC_USER" INBOX); do
	i=$((i + 1))
	case $((i % 3)) in
	0) local_copy INBOX "$uid" "tool.$uid:2,S" "X-TUID: t$uid" ;;
	1) local_copy INBOX "$uid" "tool.$uid:2,S" "Status: RO" ;;
	*) local_copy INBOX "$uid" "tool.$uid:2,S" ;;
	esac
done
out=$(gd -vv sync 2>&1)
check_eq "a first sync over copies with tool headers exits 0" 0 "$?"
check_contains "... 30 matched the server's" "30 messages already here matched" "$out"
check_contains "... from their headers" "BODY.PEEK[HEADER]" "$out"
check_eq "... no body was fetched" 0 "$(grep -c 'BODY.PEEK\[\]' <<<"$out")"
check_eq "... nothing uploaded: the server still holds 30" 30 "$(count_server INBOX)"
check_eq "... nothing downloaded: 30 files" 30 "$(count_local INBOX)"
gd_sync_ok "the next sync"
check_contains "... finds INBOX unchanged" "INBOX: unchanged" "$OUT"

# --- 2. Messages without a Message-ID, and two different messages sharing
# one Message-ID and one size.
gd_fresh
src=$GD_DIR/src
mkdir -p "$src"
msg "$src/n1" "no id one" - "body one"
msg "$src/n2" "no id two" - "body two"
msg "$src/n3" "no id three" - "body three, only on the server"
msg "$src/d1" "twin alpha" "<twin@example.test>" "the same size"
msg "$src/d2" "twin gamma" "<twin@example.test>" "the same size"
# Server order: gamma before alpha; local order (by name): alpha first.
for f in n1 n2 n3 d2 d1; do dc_add "$DC_USER" INBOX "$src/$f" >/dev/null; done
mapfile -t U < <(dc_uids "$DC_USER" INBOX)
local_copy INBOX "${U[0]}" "a-n1:2,F"
local_copy INBOX "${U[1]}" "a-n2:2,S"
local_copy INBOX "${U[4]}" "a-twin-alpha:2,F"
local_copy INBOX "${U[3]}" "b-twin-gamma:2,S"
gd_write_local INBOX cur "c-no-id-local:2,S" -
gd_sync_ok "a first sync with messages without Message-ID and twins"
check_contains "... 4 matched" "4 messages already here matched" "$OUT"
check_eq "... the server gained only the local-only message" 6 "$(count_server INBOX)"
check_eq "... the Maildir gained only the server-only message" 6 "$(count_local INBOX)"
check_contains "no-id one got the local \\Flagged" '\Flagged' "$(dc_flags "$DC_USER" INBOX "${U[0]}")"
check_contains "no-id two got the local \\Seen" '\Seen' "$(dc_flags "$DC_USER" INBOX "${U[1]}")"
check_contains "twin alpha got its own \\Flagged" '\Flagged' "$(dc_flags "$DC_USER" INBOX "${U[4]}")"
check "... and not its twin's \\Seen" lacks '\Seen' "$(dc_flags "$DC_USER" INBOX "${U[4]}")"
check_contains "twin gamma got its own \\Seen" '\Seen' "$(dc_flags "$DC_USER" INBOX "${U[3]}")"
check "... and not its twin's \\Flagged" lacks '\Flagged' "$(dc_flags "$DC_USER" INBOX "${U[3]}")"
compare_no_mtime() { GD_COMPARE_NO_MTIME=1 gd_compare "$1"; }
check "both sides equal, once each, flags merged" compare_no_mtime INBOX
gd_sync_ok "the next sync"
check_contains "... finds INBOX unchanged" "INBOX: unchanged" "$OUT"

# --- 3. The first-contact guard: copies that a tool changed in a way we
# do not know (a header of its own) match nothing. Going on would put 40
# messages twice on each side: the sync stops, changing nothing.
gd_fresh
dc_populate "$DC_USER" INBOX 40 fc3 1K 4K >/dev/null
for uid in $(dc_uids "$DC_USER" INBOX); do
	local_copy INBOX "$uid" "odd.$uid:2,S" "X-Unknown-Tool-Id: $uid"
done
# The snapshot of INBOX on both sides (other folders' empty Maildirs may
# be made: they change nothing).
inbox_snapshot() { gd_snapshot | grep -E '^(\./INBOX|INBOX:)'; }
before=$(inbox_snapshot)
out=$(gd sync --dry-run 2>&1)
check_eq "--dry-run of such a first contact is refused too (exit 3)" 3 "$?"
check_contains "... and shows the adoption plan" "0 messages already here matched the server's" "$out"
check_contains "... with what would go up and down" "40 new here, 40 new on the server" "$out"
out=$(gd sync 2>&1)
check_eq "a first sync that would duplicate 40 messages exits 3" 3 "$?"
check_contains "... says what it would do" "40 would be uploaded and 40 downloaded" "$out"
check_contains "... and how to go on" "--allow-unmatched" "$out"
check_eq "... nothing changed in INBOX on either side" "$before" "$(inbox_snapshot)"
check_eq "... no pair stored" 0 "$(gd_state 'select count(*) from pairs')"
out=$(gd sync 2>&1)
check_eq "a second try is refused the same way (nothing was half-adopted)" 3 "$?"
gd_sync_ok "--allow-unmatched goes on" --allow-unmatched
check_eq "... both sides now hold both forms" "80 80" "$(count_server INBOX) $(count_local INBOX)"

# A few unmatched messages are normal (mail that came since the other
# tool's last run): below the guard's threshold the sync goes on.
gd_fresh
dc_populate "$DC_USER" INBOX 40 fc4 1K 4K >/dev/null
n=0
for uid in $(dc_uids "$DC_USER" INBOX); do
	n=$((n + 1))
	[ "$n" -le 35 ] && local_copy INBOX "$uid" "t.$uid:2,S"
done
gd_write_local INBOX cur "new-here:2,S" "<new-here@example.test>"
gd_sync_ok "a first sync with 5 new on the server and 1 new here exits 0"
check_eq "... each side gained what it lacked" "41 41" "$(count_server INBOX) $(count_local INBOX)"

tap_done
