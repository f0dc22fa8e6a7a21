#!/usr/bin/env bash
# Folder renames with children in the Maildir++ layout, where a child's
# Maildir (".A.c") sits beside its parent's (".A"), not inside it: renamed
# here, the server's RENAME takes the child along and so must the child's
# directory and state row here; renamed on the server, both directories
# move. Nothing is transferred, and each message stays once on each side.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
dc_mkfolder "$DC_USER" Proj
dc_mkfolder "$DC_USER" Proj/sub
dc_populate "$DC_USER" Proj 4 141 1K 3K >/dev/null
dc_populate "$DC_USER" Proj/sub 3 142 1K 3K >/dev/null
gd_setup test "layout: maildir++"
trap '_gd_cleanup; dc_cleanup' EXIT
count() { find "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" -type f 2>/dev/null | wc -l; }
inodes() { find "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" -type f -printf '%i %f\n' 2>/dev/null | sort; }
no_transfer() { ! grep -qE ': [1-9][0-9]* down|, [1-9][0-9]* up' <<<"$1"; }

gd_sync_ok "the first sync"
check_eq "... .Proj has 4" 4 "$(count .Proj)"
check_eq "... .Proj.sub has 3" 3 "$(count .Proj.sub)"
parent=$(inodes .Proj) child=$(inodes .Proj.sub)

mv "$GD_MAIL/.Proj" "$GD_MAIL/.Work"
gd_sync_ok "the parent renamed here (its child's directory stays)"
check_contains "... a rename" "renamed here to 'Work': renamed on the server too" "$OUT"
check "... nothing transferred" no_transfer "$OUT"
check_eq "... the server has Work and Work/sub, not Proj" "Work Work/sub" \
	"$(dc_folders "$DC_USER" | grep -E '^(Proj|Work)' | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "... the child's directory followed: .Work.sub, same files" "$child" "$(inodes .Work.sub)"
check "... no .Proj.sub left" test ! -e "$GD_MAIL/.Proj.sub"
check_eq "... the parent's files" "$parent" "$(inodes .Work)"
gd_sync_ok "the next run"
check_eq "... changes nothing" "" "$(grep -v ': unchanged, ' <<<"$OUT")"

dc_rename "$DC_USER" Work Jobs
gd_sync_ok "the parent renamed on the server"
check "... nothing transferred" no_transfer "$OUT"
check_eq "... .Jobs has the parent's files" "$parent" "$(inodes .Jobs)"
check_eq "... .Jobs.sub the child's" "$child" "$(inodes .Jobs.sub)"
check "... neither old directory is left" test ! -e "$GD_MAIL/.Work" -a ! -e "$GD_MAIL/.Work.sub"
gd_sync_ok "the next run"
check_eq "... changes nothing" "" "$(grep -v ': unchanged, ' <<<"$OUT")"
check "the server's Jobs is the Maildir's" gd_compare Jobs "$GD_MAIL/.Jobs"
check "... and Jobs/sub" gd_compare Jobs/sub "$GD_MAIL/.Jobs.sub"
tap_done
