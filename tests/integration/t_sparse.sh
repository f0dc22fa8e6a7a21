#!/usr/bin/env bash
# A folder where only a few messages changed on the server, the Maildir as
# the last sync left it: only those messages' pairs and files are read
# (the "sparse" plan, sync/changes.c gather_sparse), and the result is what
# the full plan would give. Every case that needs the whole folder takes
# the full path, and still ends right:
#  - flags changed on the server: sparse, the files renamed, base updated;
#  - flags changed there and a file renamed here: full (the stamp moved);
#  - a message expunged there: full, the file goes;
#  - a new message there: full, it comes down;
#  - a mail reader's flag on a message whose server flags also changed,
#    in two runs: the second (sparse) run keeps both;
#  - max_size keeps one away (unpaired): never sparse, nothing deleted.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
trap '_gd_cleanup; dc_cleanup' EXIT

dc_populate "$DC_USER" INBOX 200 71 1K 3K >/dev/null
gd_setup sp
gd_sync_ok "the first sync"
check_eq "... 200 messages here" 200 "$(gd_count_local INBOX)"
settle() { sleep 3.1; } # a Maildir stamp 2 s old or younger is not trusted
settle
gd_sync_ok "a settling sync"
settle
gd_load_uids INBOX

sparse_line() { grep -c 'changed on the server, none here: only those are read' <<<"$1"; }
flags_of() { # UID: the flag letters of its file
	local f
	f=$(gd_file INBOX "$1") || { echo missing; return; }
	case $f in *:2,*) echo "${f##*:2,}" ;; *) echo "" ;; esac
}

# 1. Server-side flags on 3 messages.
dc_add_flags "$DC_USER" INBOX "${UIDS[5]},${UIDS[50]},${UIDS[150]}" '\Flagged'
dc_add_flags "$DC_USER" INBOX "${UIDS[7]}" '\Seen'
out=$(gd -v sync 2>&1)
check_eq "server flags on 4 messages: sync exits 0" 0 "$?"
check_contains "... the sparse plan read only those 4" "4 of 200 messages changed on the server" "$out"
check_contains "... and said so in the summary" "flags 4 down 0 up" "$out"
for u in 5 50 150; do
	check_contains "... UID ${UIDS[$u]} is flagged here" F "$(flags_of "${UIDS[$u]}")"
done
check_contains "... UID ${UIDS[7]} is seen here" S "$(flags_of "${UIDS[7]}")"
check_eq "... 200 messages, none lost" 200 "$(gd_count_local INBOX)"
check_eq "... the base follows" 3 "$(gd_state "select count(*) from pairs where flags & 2")"
check_eq "... also for the seen one" 16 "$(gd_state "select flags & 16 from pairs where uid = ${UIDS[7]}")"
settle
out=$(gd -v sync 2>&1)
check_contains "the next sync finds nothing" "INBOX: unchanged, 200 messages" "$out"
settle

# 2. A server change and a local rename at once: the full path.
dc_add_flags "$DC_USER" INBOX "${UIDS[10]}" '\Flagged'
gd_local_mv INBOX "${UIDS[20]}" cur ":2,RS"
out=$(gd -v sync 2>&1)
check_eq "server flag + local rename: exit 0" 0 "$?"
check_eq "... not sparse (the Maildir changed)" 0 "$(sparse_line "$out")"
check_contains "... the server flag came down" F "$(flags_of "${UIDS[10]}")"
check_eq "... the local flag went up" 1 \
	"$(dc_doveadm search -u "$DC_USER" mailbox INBOX uid "${UIDS[20]}" ANSWERED | wc -l)"
settle
gd_sync_ok "a settling sync"
settle

# 3. An expunge there: the full path; the file goes.
k30=$(gd_key INBOX "${UIDS[30]}")
dc_expunge "$DC_USER" INBOX "${UIDS[30]}"
out=$(gd -v sync 2>&1)
check_eq "an expunge there: exit 0" 0 "$?"
check_eq "... not sparse" 0 "$(sparse_line "$out")"
check_eq "... 199 here" 199 "$(gd_count_local INBOX)"
check "... UID ${UIDS[30]}'s file is gone" test -z "$(gd_file_of_key INBOX "$k30")"
settle
gd_sync_ok "a settling sync"
settle

# 4. A new message there with a flag change: full; it comes down.
gd_write_msg "$GD_DIR/new.eml" 7177
dc_add "$DC_USER" INBOX "$GD_DIR/new.eml" >/dev/null
dc_add_flags "$DC_USER" INBOX "${UIDS[40]}" '\Flagged'
out=$(gd -v sync 2>&1)
check_eq "a new message and a flag there: exit 0" 0 "$?"
check_eq "... not sparse" 0 "$(sparse_line "$out")"
check_eq "... 200 here again" 200 "$(gd_count_local INBOX)"
check_contains "... the flag came down" F "$(flags_of "${UIDS[40]}")"
settle
gd_sync_ok "a settling sync"
settle

# 5. Both sides on one message, one after the other: here first (full,
# pushed), then there (sparse): both flags kept.
gd_local_mv INBOX "${UIDS[60]}" cur ":2,D"
gd_sync_ok "a local Draft flag"
settle
gd_sync_ok "a settling sync"
settle
dc_add_flags "$DC_USER" INBOX "${UIDS[60]}" '\Flagged'
out=$(gd -v sync 2>&1)
check_contains "then a server flag on it: sparse" "1 of 200 messages changed on the server" "$out"
check_eq "... the file has both flags" DF "$(flags_of "${UIDS[60]}")"
settle

# 6. The limits keep one away: never sparse, nothing deleted either side.
cat >>"$GD_CONF" <<Y
    max_size: 2500
Y
gd_sync_ok "max_size 2500 set (some messages now stay on the server)"
settle
gd_sync_ok "a settling sync"
settle
n_here=$(gd_count_local INBOX)
big=$(gd_state "select min(uid) from pairs p join folders f on f.id = p.folder_id where f.remote = 'INBOX' and p.size > 2500")
dc_add_flags "$DC_USER" INBOX "${UIDS[70]}" '\Flagged'
out=$(gd -v sync 2>&1)
check_eq "a flag there under max_size: exit 0" 0 "$?"
check_eq "... nothing deleted here" "$n_here" "$(gd_count_local INBOX)"
check_eq "... nothing deleted there" 200 "$(gd_count_server INBOX)"
diag "the first big paired UID: ${big:-none}; here $n_here"
tap_done
