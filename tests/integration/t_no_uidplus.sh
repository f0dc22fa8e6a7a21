#!/usr/bin/env bash
# A server without UIDPLUS (no APPENDUID, no COPYUID, no UID EXPUNGE): new
# local messages are uploaded once and paired through a Message-ID search,
# deletions use a plain EXPUNGE only when no other message is \Deleted, and a
# move across folders falls back to upload + delete without a duplicate.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start --cap-hide "UIDPLUS" || exit 1
gd_setup
dc_populate "$DC_USER" INBOX 10 51 1K 4K >/dev/null
dc_populate "$DC_USER" Archive 5 52 1K 4K >/dev/null
gd -q sync
check "first sync" gd_compare INBOX

gd_write_local INBOX new 1800000001.M1.nouidplus "<np-1@test>"
gd_write_local INBOX cur 1800000002.M2.nouidplus:2,S "<np-2@test>"
rm "$GD_MAIL/INBOX/new/$(ls "$GD_MAIL/INBOX/new" | head -1)"
moved=$(ls "$GD_MAIL/Archive/new" | head -1)
mv "$GD_MAIL/Archive/new/$moved" "$GD_MAIL/INBOX/new/$moved"
out=$(gd sync 2>&1)
check_eq "a two-way sync without UIDPLUS exits 0" 0 "$?"
[ $? -eq 0 ] || diag "$out"
check "INBOX: same messages and flags on both sides" gd_compare INBOX
check "Archive: same messages and flags on both sides" gd_compare Archive
check_eq "INBOX on the server: 10 - 1 deleted + 2 new + 1 moved" 12 \
	"$(dc_status_field "$DC_USER" INBOX messages)"
check_eq "the uploads are paired (found by Message-ID)" 0 \
	"$(gd_state "select count(*) from intents")"
before=$(dc_status "$DC_USER" INBOX)
out=$(gd sync 2>&1)
check_eq "the next sync changes nothing on the server" "$before" "$(dc_status "$DC_USER" INBOX)"
check_eq "... and downloads nothing" 0 "$(grep -c ' [1-9][0-9]* down' <<<"$out")"

# Another message carries \Deleted: a plain EXPUNGE would take it too.
dc_add_flags "$DC_USER" INBOX 2 '\Deleted'
gd -q sync
rm "$GD_MAIL/INBOX/new/$(ls "$GD_MAIL/INBOX/new" | head -1)"
out=$(gd sync 2>&1)
check_eq "a deletion with another \\Deleted message present fails the folder (exit 1)" 1 "$?"
check_contains "... saying why" "no UIDPLUS" "$out"
check "... and the other \\Deleted message is still on the server" dc_flags "$DC_USER" INBOX 2
tap_done
