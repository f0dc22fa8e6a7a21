#!/usr/bin/env bash
# A first sync over a Maildir that already holds the mail (moving from
# another tool, or a lost state directory) copies nothing twice: local files
# are matched to the server's messages by Message-ID + size; what only one
# side has is transferred; flags set on either side are kept.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup
dc_populate "$DC_USER" INBOX 40 81 1K 20K >/dev/null
dc_populate "$DC_USER" Archive 15 82 1K 20K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:10 '\Seen'
gd -q sync

# The state directory is lost; the Maildir stays.
rm -rf "$GD_STATE"
files_before=$(find "$GD_MAIL" -type f | wc -l)
out=$(gd sync 2>&1)
check_eq "a sync without state over a synced Maildir exits 0" 0 "$?"
check_contains "... and says it matched what was there" "matched the server's" "$out"
check_eq "... it downloaded nothing: same files" "$files_before" "$(find "$GD_MAIL" -type f | wc -l)"
check_eq "... it uploaded nothing: INBOX still holds 40" 40 "$(dc_status_field "$DC_USER" INBOX messages)"
check "INBOX: both sides equal" gd_compare INBOX
check "Archive: both sides equal" gd_compare Archive
out=$(gd sync 2>&1)
check_eq "the next sync finds nothing to do" 0 "$(grep -vc unchanged <<<"$out")"

# A Maildir written by another tool: the same messages with other names,
# some flags only here, one message only here, one only on the server.
rm -rf "$GD_STATE" "$GD_MAIL"
mkdir -p "$GD_MAIL/INBOX"/{cur,new,tmp}
for uid in $(dc_uids "$DC_USER" INBOX | head -39); do
	flags=
	[ "$uid" -eq 20 ] && flags=F
	dc_fetch_stored "$DC_USER" INBOX "$uid" >"$GD_MAIL/INBOX/cur/othertool.$uid:2,$flags"
done
gd_write_local INBOX cur 1800000500.only.here "<only-here@test>"
out=$(gd sync 2>&1)
check_eq "a first sync over another tool's Maildir exits 0" 0 "$?"
check_eq "... the server gained only the local-only message" 41 \
	"$(dc_status_field "$DC_USER" INBOX messages)"
check_eq "... the Maildir gained only the message it lacked" 41 \
	"$(find "$GD_MAIL/INBOX/cur" "$GD_MAIL/INBOX/new" -type f | wc -l)"
# Files another tool wrote keep their own mtimes: compare contents and flags.
compare_no_mtime() { GD_COMPARE_NO_MTIME=1 gd_compare "$1"; }
check "... both sides equal, flags merged" compare_no_mtime INBOX
check_contains "... a flag set only here reached the server" '\Flagged' \
	"$(dc_flags "$DC_USER" INBOX 20)"
tap_done
