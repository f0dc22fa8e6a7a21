#!/usr/bin/env bash
# Gmail: a label renamed is a folder renamed, both ways. Renamed on the
# server (RENAME, as Gmail's web UI does): the label's folder here is
# renamed with its child, the same files (inodes), no body downloaded.
# Renamed here (mv of the folder): the label is RENAMEd on the server, no
# APPEND, and every message keeps its other labels. Each message stays one
# file across the Maildir (hard links).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/gmail/fixture.sh
source tests/lib/gmaildir.sh

gm_start || exit 1
gen=$(mktemp -d /tmp/gdt-gen.XXXXXX)
trap 'rm -rf "$gen"' EXIT
python3 tests/lib/genmail.py --count 8 --seed 131 --out "$gen" >/dev/null
ids=()
i=0
for f in "$gen"/*.eml; do
	i=$((i + 1))
	labels='\Inbox,Work'
	[ "$i" -gt 5 ] && labels='Work/Sub'
	ids+=("$(gm_add "$f" "$labels" '\Seen')")
done
gd_setup_gmail
inodes() { find "$1" -path '*/cur/*' -type f -printf '%i %f\n' | LC_ALL=C sort; }
downloads() { gm_ctl counters | gm_json 'sum(r["downloads"].values())'; }
appends() { gm_ctl counters | gm_json 'r["commands"].get("APPEND", 0)'; }
# quiet_next WHAT: the next sync finds every folder unchanged.
quiet_next() {
	gd_sync_ok "$1: the next run"
	check_eq "... every folder unchanged" "" "$(grep -v ': unchanged, ' <<<"$OUT")"
}
labels_of() { gm_ctl message "msgid=$1" | gm_json '" ".join(sorted(r["labels"]))'; }

gd_sync_ok "the first sync"
check_eq "... Work has its 5 messages" 5 "$(find "$GD_MAIL/Work/cur" -type f | wc -l)"
check_eq "... Work/Sub its 3" 3 "$(find "$GD_MAIL/Work/Sub/cur" -type f | wc -l)"
work=$(inodes "$GD_MAIL/Work")
d0=$(downloads)

gm_imap >/dev/null <<EOF
a LOGIN $GM_USER $GM_PASS
b RENAME Work Jobs
c LOGOUT
EOF
gd_sync_ok "the label renamed on the server"
check_contains "... said" "folder 'Work' was renamed on the server to 'Jobs'" "$OUT"
check_eq "... no message body downloaded" "$d0" "$(downloads)"
check_eq "... the same files, now in Jobs (inodes kept, child too)" "$work" "$(inodes "$GD_MAIL/Jobs")"
check "... Work is gone here" test ! -e "$GD_MAIL/Work"
quiet_next "after the server's rename"

a0=$(appends)
mv "$GD_MAIL/Jobs" "$GD_MAIL/Tasks"
gd_sync_ok "the label's folder renamed here"
check_contains "... said" "folder 'Jobs' was renamed here to 'Tasks'" "$OUT"
check_eq "... nothing appended" "$a0" "$(appends)"
check_eq "... the first message is in INBOX and Tasks on the server" 'Tasks \Inbox' \
	"$(labels_of "${ids[0]}")"
check_eq "... the child's are in Tasks/Sub" 'Tasks/Sub' "$(labels_of "${ids[6]}")"
check_eq "... no body downloaded either" "$d0" "$(downloads)"
quiet_next "after the local rename"
tap_done
