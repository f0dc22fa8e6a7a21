#!/usr/bin/env bash
# Gmail: a message that leaves a label folder on the server (its label was
# removed: UID STORE -X-GM-LABELS, or \Deleted + EXPUNGE in that folder,
# which Gmail treats the same) but is still in All Mail is a label removal,
# not a deletion, and never a reason to APPEND. A local flag change on the
# copy that left reaches the message (flags are per message): the server and
# every local copy get it. Under conflicts: keep the label is put back (UID
# COPY from All Mail), under deletion-wins the label folder's copy goes but
# the flag stays on the message. Either way: one message on the server, one
# file (inode) per message across the Maildir's folders, and the next sync
# changes nothing.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/gmail/fixture.sh
source tests/lib/gmaildir.sh

gm_start || exit 1

# set_local_flags MSGID FOLDER FLAGS: a mail reader's flag change on the
# message's copy in FOLDER (a rename into cur/ with those Maildir flags).
set_local_flags() {
	local f
	f=$(gd_msg_files "$1" | grep "/Mail/$2/" | head -1)
	[ -n "$f" ] || { diag "no local copy of $1 in $2"; return 1; }
	mv "$f" "$(dirname "$(dirname "$f")")/cur/$(basename "${f%%:2,*}"):2,$3"
}

all_mail_count() { gm_ctl list 'folder=[Gmail]/All Mail' | gm_json 'len(r["messages"])'; }
msg_field() { gm_ctl message "msgid=$1" | gm_json "r[\"$2\"]"; }
writes() { gm_ctl counters | gm_json 'r["commands"].get("UID STORE", 0) + r["commands"].get("APPEND", 0)'; }
labels_of() { gm_ctl message "msgid=$1" | gm_json 'r["labels"]'; }
# changed_lines < SYNC_OUTPUT: how many folder lines report some work.
changed_lines() { sed 's/;.*//; s/unchanged, [0-9]* messages$//; s/^[^:]*://' | grep -c '[1-9]'; }
# The messages' inodes (the Maildir root's .gmaildir.lock and .gmaildir.id
# are no messages).
inodes() { find "$GD_MAIL" -type f ! -name '.gmaildir.*' -printf '%i\n' | sort -u | wc -l; }
files_in() { find "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" -type f 2>/dev/null | wc -l; }

# Every local copy of MSGID has Maildir flags FLAGS and they are one inode.
check_copies() { # DESC MSGID FLAGS N_COPIES
	local files
	files=$(gd_msg_files "$2")
	check_eq "$1: $4 local copies" "$4" "$(printf '%s' "$files" | grep -c .)"
	check_eq "$1: every local copy carries :2,$3" "$4" \
		"$(printf '%s\n' "$files" | grep -c ":2,$3\$")"
	check_eq "$1: the copies are one file (hard links, one inode)" 1 \
		"$(printf '%s\n' "$files" | xargs -r -d '\n' stat -c %i | sort -u | wc -l)"
}

# remove_inbox_by_expunge MSGID: another client deletes the message in
# INBOX (\Deleted + EXPUNGE), which Gmail treats as removing \Inbox.
remove_inbox_by_expunge() {
	local uid
	uid=$(gm_ctl message "msgid=$1" | gm_json 'r["uids"]["INBOX"]')
	gm_imap >/dev/null <<EOF
a LOGIN $GM_USER $GM_PASS
b SELECT INBOX
c UID STORE $uid +FLAGS (\\Deleted)
d UID EXPUNGE $uid
e LOGOUT
EOF
}

# remove_inbox_by_store MSGID: another client removes the label itself.
remove_inbox_by_store() {
	local uid
	uid=$(gm_ctl message "msgid=$1" | gm_json 'r["uids"]["INBOX"]')
	gm_imap >/dev/null <<EOF
a LOGIN $GM_USER $GM_PASS
b SELECT INBOX
c UID STORE $uid -X-GM-LABELS (\\Inbox)
d LOGOUT
EOF
}

# sync_labels_removed PREFIX: the sync that finds the labels removed on
# the server: it exits 0, sends no APPEND, and the server keeps $total.
sync_labels_removed() {
	local out rc
	out=$(gd sync 2>&1)
	rc=$?
	check_eq "$1: the sync exits 0" 0 "$rc"
	[ -z "$out" ] || diag "$(printf '%s\n' "$out" | head -12)"
	check_eq "$1: no APPEND was sent" 0 "$(gm_counter appends)"
	check_eq "$1: still $total messages on the server" "$total" "$(all_mail_count)"
}

# check_next_sync_quiet PREFIX: the sync after that reports every folder
# unchanged and sends no STORE or APPEND.
check_next_sync_quiet() {
	local before out
	before=$(writes)
	out=$(gd sync 2>&1)
	check_contains "$1: the next sync changes nothing" "unchanged" "$out"
	check_eq "$1: ... in no folder" 0 "$(changed_lines <<<"$out")"
	check_eq "$1: ... and sends no STORE or APPEND" "$before" "$(writes)"
}

mk() { # mk NAME: a message file
	printf 'From: a@b.test\nTo: c@d.test\nSubject: %s\nMessage-ID: <%s@labels.test>\n\nbody %s\n' \
		"$1" "$1" "$1" >"$GM_DIR/$1.eml"
	echo "$GM_DIR/$1.eml"
}

for n in k1 k2 k3 k4 d1 d2 c1 c2; do
	printf -v "$n" '%s' "$(gm_add "$(mk "$n")" '\Inbox' '\Seen')"
done
total=$(all_mail_count)

# ---- conflicts: keep
gd_setup_gmail "conflicts: keep"
gd -q sync
check_eq "keep: first sync exits 0" 0 "$?"
check_eq "keep: INBOX holds the $total messages" "$total" "$(files_in INBOX)"
check_eq "keep: Archive holds the $total messages" "$total" "$(files_in Archive)"
check_eq "keep: $total inodes in the Maildir" "$total" "$(inodes)"
gm_ctl reset_counters >/dev/null

# k1: \Inbox removed on the server, \Flagged set locally on its INBOX copy.
gm_ctl labels "msgid=$k1" 'remove=\Inbox' >/dev/null
set_local_flags "$k1" INBOX FS
# k2: the same, the label removed by an EXPUNGE in INBOX.
remove_inbox_by_expunge "$k2"
check_eq "keep: the EXPUNGE in INBOX removed the label only" "[Gmail]/All Mail" \
	"$(gm_ctl message "msgid=$k2" | gm_json 'list(r["uids"])')"
set_local_flags "$k2" INBOX FS
# k3: the label removed, no local change.
gm_ctl labels "msgid=$k3" 'remove=\Inbox' >/dev/null
sync_labels_removed keep
for m in k1 k2; do
	x=${!m}
	check_contains "keep: $m is \\Flagged on the server" '\Flagged' "$(msg_field "$x" flags)"
	check_contains "keep: $m is back in INBOX (the label restored)" 'INBOX' \
		"$(gm_ctl message "msgid=$x" | gm_json 'list(r["uids"])')"
	check_copies "keep: $m" "$x" FS 2
done
check_eq "keep: k3 (no local change) left INBOX here too" 0 \
	"$(gd_msg_files "$k3" | grep -c '/INBOX/')"
check_eq "keep: ... and Archive kept it" 1 "$(gd_msg_files "$k3" | grep -c '/Archive/')"
check_eq "keep: ... and the server did not get \\Inbox back" 0 "$(labels_of "$k3" | grep -c Inbox)"
check_eq "keep: INBOX holds $((total - 1)) files" $((total - 1)) "$(files_in INBOX)"
check_eq "keep: Archive still holds $total files (no second copy)" "$total" "$(files_in Archive)"
check_eq "keep: still $total inodes in the Maildir" "$total" "$(inodes)"
check_next_sync_quiet keep

# ---- conflicts: deletion-wins (the default), on a new Maildir
gd_setup_gmail "conflicts: deletion-wins"
gd -q sync
check_eq "deletion-wins: first sync exits 0" 0 "$?"
n_inbox=$(files_in INBOX)
gm_ctl reset_counters >/dev/null
remove_inbox_by_store "$d1"
check_eq "deletion-wins: UID STORE -X-GM-LABELS (\\Inbox) took d1 out of INBOX" \
	"[Gmail]/All Mail" "$(gm_ctl message "msgid=$d1" | gm_json 'list(r["uids"])')"
set_local_flags "$d1" INBOX FS
remove_inbox_by_expunge "$d2"
set_local_flags "$d2" INBOX FRS
gm_ctl labels "msgid=$k4" 'remove=\Inbox' >/dev/null
sync_labels_removed deletion-wins
check_contains "deletion-wins: d1's local \\Flagged reached the server" '\Flagged' \
	"$(msg_field "$d1" flags)"
check_contains "deletion-wins: d2's local \\Answered reached the server" '\Answered' \
	"$(msg_field "$d2" flags)"
check_copies "deletion-wins: d1" "$d1" FS 1
check_copies "deletion-wins: d2" "$d2" FRS 1
for m in d1 d2 k4; do
	x=${!m}
	check_eq "deletion-wins: $m's INBOX copy went (the label was removed)" 0 \
		"$(gd_msg_files "$x" | grep -c '/INBOX/')"
	check_eq "deletion-wins: ... and the server did not get \\Inbox back" 0 \
		"$(labels_of "$x" | grep -c Inbox)"
done
check_eq "deletion-wins: INBOX lost exactly those 3" $((n_inbox - 3)) "$(files_in INBOX)"
check_eq "deletion-wins: Archive holds all $total, once each" "$total" "$(files_in Archive)"
check_eq "deletion-wins: $total inodes in the Maildir" "$total" "$(inodes)"
check_next_sync_quiet deletion-wins

# ---- keep, interrupted right after the UID COPY that puts the label back:
# the next run pairs the key with the copy (its intent), copies nothing
# again, downloads nothing and uploads nothing.
gd_setup_gmail "conflicts: keep
connections: 1"
gd -q sync
check_eq "crash: first sync exits 0" 0 "$?"
gm_ctl labels "msgid=$c1" 'remove=\Inbox' >/dev/null
set_local_flags "$c1" INBOX FS
GMAILDIR_CRASH_LOG=$GD_DIR/steps.log gd -q sync
k=$(awk '$2 == "UID" && $3 == "COPY" {print $1; exit}' "$GD_DIR/steps.log")
check "crash: a label put back is a UID COPY step (step ${k:-none})" test -n "$k"
gm_ctl reset_counters >/dev/null
gm_ctl labels "msgid=$c2" 'remove=\Inbox' >/dev/null
set_local_flags "$c2" INBOX FS
GMAILDIR_CRASH_AT=${k:-1} "$GMAILDIR_BIN" -c "$GD_CONF" -q sync >/dev/null 2>&1
check_eq "crash: the run was killed at that step" 137 "$?"
check_eq "crash: ... after one UID COPY" 1 \
	"$(gm_ctl counters | gm_json 'r["commands"].get("UID COPY", 0)')"
out=$(gd sync 2>&1)
check_eq "crash: the next run exits 0" 0 "$?"
[ -z "$out" ] || diag "$(printf '%s\n' "$out" | head -12)"
check_eq "crash: ... sends no second UID COPY" 1 \
	"$(gm_ctl counters | gm_json 'r["commands"].get("UID COPY", 0)')"
check_eq "crash: ... and no APPEND" 0 "$(gm_counter appends)"
check_eq "crash: still $total messages on the server" "$total" "$(all_mail_count)"
check_contains "crash: c2 is \\Flagged on the server" '\Flagged' "$(msg_field "$c2" flags)"
check_contains "crash: c2 is back in INBOX" 'INBOX' \
	"$(gm_ctl message "msgid=$c2" | gm_json 'list(r["uids"])')"
check_copies "crash: c2" "$c2" FS 2
check_eq "crash: $total inodes in the Maildir" "$total" "$(inodes)"
before=$(writes)
out=$(gd sync 2>&1)
check_eq "crash: the next sync changes nothing" 0 "$(changed_lines <<<"$out")"
check_eq "crash: ... and sends no STORE or APPEND" "$before" "$(writes)"
tap_done
