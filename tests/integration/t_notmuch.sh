#!/usr/bin/env bash
# gmaildir with notmuch: post_sync_command runs `notmuch new` after a sync
# that changed local mail (with GMAILDIR_ACCOUNT / GMAILDIR_CHANGED_FOLDERS),
# notmuch's maildir.synchronize_flags sees the server's flags, and a tag
# change in notmuch (which renames the file) reaches the server at the next
# sync. A failing hook is a warning, never a failed sync.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

command -v notmuch >/dev/null || { not_ok "notmuch is installed (tests/deps.sh)"; exit 1; }
dc_start || exit 1
gd_setup test "post_sync_command: \"notmuch new --quiet && printf '%s|%s' \\\"\$GMAILDIR_ACCOUNT\\\" \\\"\$GMAILDIR_CHANGED_FOLDERS\\\" > /tmp/gd-hook-$$\""
HOOK_OUT=/tmp/gd-hook-$$
GD_DIRS+=("$HOOK_OUT")
export NOTMUCH_CONFIG=$GD_DIR/notmuch-config
mkdir -p "$GD_MAIL"
cat >"$NOTMUCH_CONFIG" <<N
[database]
path=$GD_MAIL
[new]
tags=unread;inbox;
[maildir]
synchronize_flags=true
N
dc_populate "$DC_USER" INBOX 30 71 1K 4K >/dev/null
dc_populate "$DC_USER" Archive 10 72 1K 4K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:12 '\Seen'
dc_add_flags "$DC_USER" INBOX 5 '\Flagged'
notmuch new --quiet >/dev/null 2>&1 # an empty database first

out=$(gd sync 2>&1)
check_eq "the sync exits 0" 0 "$?"
check_eq "the hook ran notmuch new: it knows all 40 messages" 40 "$(notmuch count '*')"
check_eq "... with the server's \\Seen as notmuch's unread tag" 28 "$(notmuch count tag:unread)"
check_eq "... and \\Flagged as flagged" 1 "$(notmuch count tag:flagged)"
check_contains "the hook saw GMAILDIR_ACCOUNT" "test|" "$(cat "$HOOK_OUT")"
check_contains "... and the changed folders" "INBOX" "$(cat "$HOOK_OUT")"
rm -f "$HOOK_OUT"
gd sync >/dev/null 2>&1
check "a sync that changed nothing locally does not run the hook" test ! -e "$HOOK_OUT"

# Read in notmuch: the file is renamed with S, and the server learns it.
id=$(notmuch search --output=messages --limit=1 tag:unread and folder:INBOX | sed 's/^id://')
notmuch tag -unread -- "id:$id"
uid=$(dc_doveadm search -u "$DC_USER" mailbox INBOX header Message-ID "<$id>" | awk '{print $2}')
gd -q sync
check_contains "notmuch tag -unread reaches the server as \\Seen" '\Seen' \
	"$(dc_flags "$DC_USER" INBOX "$uid")"

# A folder renamed on the server: its files move here, and notmuch new
# (the hook runs: files moved) sees a move, not new copies.
dc_mkfolder "$DC_USER" Projects
dc_populate "$DC_USER" Projects 5 73 1K 4K >/dev/null
gd -q sync
check_eq "a new folder's 5 messages: 45 in notmuch" 45 "$(notmuch count '*')"
dc_rename "$DC_USER" Projects Old
rm -f "$HOOK_OUT"
out=$(gd sync 2>&1)
check_eq "the folder renamed on the server: the sync exits 0" 0 "$?"
check "... the hook ran (files moved)" test -e "$HOOK_OUT"
check_contains "... and was told the folder" "Old" "$(cat "$HOOK_OUT" 2>/dev/null)"
check_eq "... notmuch finds its 5 messages in the new folder" 5 "$(notmuch count folder:Old)"
check_eq "... none left under the old name" 0 "$(notmuch count folder:Projects)"
check_eq "... and still 45 messages, each one file" 45 "$(notmuch count --output=files '*')"

# Renamed away, a special-use folder is made again at once by Dovecot
# (auto = subscribe): the old name stays listed, empty, with a new
# UIDVALIDITY. Still a rename: the 10 files move, none is downloaded.
dc_rename "$DC_USER" Archive Attic
check "the server made Archive again (empty)" test "$(dc_status_field "$DC_USER" Archive messages)" = 0
out=$(gd sync 2>&1)
check_eq "Archive renamed to Attic and made again: the sync exits 0" 0 "$?"
check_contains "... a rename" "folder 'Archive' was renamed on the server to 'Attic'" "$out"
check_eq "... notmuch finds the 10 in Attic" 10 "$(notmuch count folder:Attic)"
check_eq "... none in the new, empty Archive" 0 "$(notmuch count folder:Archive)"
check_eq "... and still 45 messages, each one file" 45 "$(notmuch count --output=files '*')"

# A failing hook is a warning.
sed -i 's|^    post_sync_command:.*|    post_sync_command: "exit 3"|' "$GD_CONF"
dc_add_flags "$DC_USER" INBOX 20 '\Answered'
out=$(gd sync 2>&1)
check_eq "a failing post_sync_command does not fail the sync" 0 "$?"
check_contains "... it is reported" "post_sync_command exited with status 3" "$out"
tap_done
