#!/usr/bin/env bash
# trash: move on a server that marks no folder \Trash (Courier, Cyrus
# without SPECIAL-USE): a Dovecot laid out as Courier is (separator '.',
# every folder under "INBOX.") and without a Trash folder. A message
# deleted here is moved to a Trash folder gmaildir creates under INBOX.,
# never expunged; the next runs use that folder (found by its name).
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start --conf 'namespace inbox {
  separator = .
  prefix = INBOX.
  mailbox Trash {
    special_use =
    auto = no
  }
}' || exit 1
gd_setup test "trash: move"
trap '_gd_cleanup; dc_cleanup' EXIT
list=$(printf 'a LOGIN %s %s\nb LIST "" "*"\nc LOGOUT\n' "$DC_USER" "$DC_PASS" | dc_imap imaps 2>/dev/null)
check "the server has folders under INBOX. and no Trash" \
	bash -c '! grep -qi trash <<<"$1" && grep -q "INBOX\.Sent" <<<"$1"' _ "$list"
# dc_populate copies from a staging account, which this namespace breaks.
python3 tests/lib/genmail.py --count 5 --seed 95 --out "$GD_DIR/gen" >/dev/null
for f in "$GD_DIR"/gen/*.eml; do dc_add "$DC_USER" INBOX "$f" >/dev/null; done
gd_sync_ok "the first sync"
check_eq "... 5 messages here" 5 "$(gd_count_local INBOX)"
check_contains "... a Trash folder was made for trash: move" "created folder 'INBOX.Trash'" "$OUT"
rm "$(find "$GD_MAIL/INBOX/cur" "$GD_MAIL/INBOX/new" -type f | head -1)"
out=$(gd sync 2>&1)
check_eq "a local deletion with trash: move: exit 0" 0 "$?"
check_eq "... the message left INBOX on the server" 4 "$(dc_status_field "$DC_USER" INBOX messages)"
check_eq "... and is in INBOX.Trash, not expunged" 1 \
	"$(dc_status_field "$DC_USER" INBOX.Trash messages 2>/dev/null)"
rm "$(find "$GD_MAIL/INBOX/cur" "$GD_MAIL/INBOX/new" -type f | head -1)"
out=$(gd sync 2>&1)
check_eq "a second deletion goes to the same folder" 2 \
	"$(dc_status_field "$DC_USER" INBOX.Trash messages 2>/dev/null)"
check_eq "... no second Trash folder made" 0 "$(grep -c 'created folder' <<<"$out")"
check_eq "... and the 3 left in INBOX are the server's and ours" 3 "$(gd_count_local INBOX)"
tap_done
