#!/usr/bin/env bash
# A local folder the server refuses to create (here a name too long for
# Dovecot's filesystem layout; on Courier one outside INBOX.) is not
# synced: the run says which and why, exits 1 as the man page promises for
# a folder that could not be synced, and syncs every other folder; once the
# user renames it, the next run creates it and exits 0.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup test
trap '_gd_cleanup; dc_cleanup' EXIT
dc_populate "$DC_USER" INBOX 3 81 1K 4K >/dev/null
gd_sync_ok "the first sync"
long=$(printf 'ü%.0s' $(seq 120)) # 240 bytes here, 322 in modified UTF-7
for f in "$long" Fine; do
	mkdir -p "$GD_MAIL/$f/cur" "$GD_MAIL/$f/new" "$GD_MAIL/$f/tmp"
done
gd_write_local Fine new 1800000200.M1.refused "<fine-1@test>"
dc_populate "$DC_USER" INBOX 1 82 1K 4K >/dev/null
out=$(gd sync 2>&1)
rc=$?
check_eq "a folder the server refuses to create: exit 1" 1 "$rc"
check_contains "... the run names it and says it is not synced" "is not synced" "$out"
check_eq "... the other new folder is created and its message uploaded" 1 \
	"$(dc_status_field "$DC_USER" Fine messages 2>/dev/null)"
check_eq "... and the server's new message came down" 4 "$(gd_count_local INBOX)"
mv "$GD_MAIL/$long" "$GD_MAIL/Renamed"
gd sync >/dev/null 2>&1
check_eq "renamed by the user: the next run exits 0" 0 "$?"
check_eq "... and the server has the folder" 0 "$(dc_status_field "$DC_USER" Renamed messages 2>/dev/null)"
tap_done
