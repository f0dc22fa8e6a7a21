#!/usr/bin/env bash
# The sync modes of DESIGN.md §10 against a real Dovecot:
#   direction: pull   local flag changes, new files and deletions never reach
#                     the server (a deleted file is downloaded again); server
#                     changes still come down;
#   direction: push   server changes never reach the disk; local changes go
#                     up (a message the server expunged is uploaded again);
#   remote_deletions: keep   a server expunge leaves the file, drops the
#                     pair, and the file is never uploaded again.
# Each scenario ends with one more sync that must change nothing anywhere.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
U=$DC_USER
T0=$SECONDS

part() { # part NAME SNAPSHOT: one section (local, server, pairs) of gd_snapshot
	sed -n "/^== $1\$/,/^== /p" <<<"$2" | sed '$d'
}

# ------------------------------------------------------------------- pull
diag "direction: pull"
gd_fresh "direction: pull"
dc_populate "$U" INBOX 5 201 1K 8K >/dev/null
gd_load_uids INBOX
gd_sync_ok "pull: first sync"
check "pull: the first sync downloads everything" gd_compare INBOX
for i in 1 2 3 4 5; do K[i]=$(gd_key INBOX "${UIDS[i]}"); done
C=$GD_MAIL/INBOX/cur
NEWKEY=1700000200.M1P1.host
gd_local_mv INBOX "${UIDS[1]}" cur ":2,F"           # local flag change
gd_local_rm INBOX "${UIDS[2]}"                      # local delete
gd_write_msg "$C/$NEWKEY:2,S" 501                   # local new message
gd_local_mv INBOX "${UIDS[5]}" cur ":2,F"           # local +F ...
dc_add_flags "$U" INBOX "${UIDS[5]}" '\Answered'    # ... server +R
dc_add_flags "$U" INBOX "${UIDS[3]}" '\Seen'        # server flag change
dc_expunge "$U" INBOX "${UIDS[4]}"                  # server expunge
gd_write_msg "$GD_DIR/srv.eml" 502
nu=$(dc_add "$U" INBOX "$GD_DIR/srv.eml")           # server new message
before=$(gd_snapshot)
gd_sync_ok "pull"
after=$(gd_snapshot)
check_eq "pull: nothing was sent to the server (MESSAGES UIDNEXT HIGHESTMODSEQ unchanged)" \
	"$(part server "$before")" "$(part server "$after")"
check_eq "pull: a local flag change stays local (server unchanged)" '' \
	"$(dc_flags "$U" INBOX "${UIDS[1]}")"
check "... and the file keeps it" test -f "$C/${K[1]}:2,F"
check "pull: a new local file is not uploaded" test -z "$(gd_uid INBOX "$NEWKEY")"
check "... and stays on disk" test -f "$C/$NEWKEY:2,S"
check "pull: a locally deleted message stays on the server" gd_has_uid INBOX "${UIDS[2]}"
f=$(gd_file INBOX "${UIDS[2]}")
check "... and is downloaded again" test -n "$f"
check "... byte-identical" gd_same_as_server INBOX "${UIDS[2]}" "${f:-/nonexistent}"
srv_date=$(TZ=UTC dc_doveadm -f flow fetch -u "$U" date.received mailbox INBOX uid "${UIDS[2]}" |
	sed -n 's/^date.received=//p')
check_eq "... with the server's INTERNALDATE as mtime (not the time of the download)" \
	"$(TZ=UTC date -d "$srv_date" +%s 2>/dev/null)" "$(stat -c %Y "${f:-/nonexistent}" 2>/dev/null)"
check "pull: a server flag change comes down (:2,S)" test -f "$C/${K[3]}:2,S"
check "pull: a server expunge comes down (file removed)" test -z "$(gd_file_of_key INBOX "${K[4]}")"
f=$(gd_file INBOX "$nu")
check "pull: a new server message comes down" test -n "$f"
check "... byte-identical" gd_same_as_server INBOX "$nu" "${f:-/nonexistent}"
check "pull: local +F, server +R: the file gets R and keeps F (:2,FR)" test -f "$C/${K[5]}:2,FR"
check_eq "... the server keeps only \\Answered" '\Answered' "$(dc_flags "$U" INBOX "${UIDS[5]}")"
check_eq "pull: the server still has 5 messages" 5 "$(gd_count_server INBOX)"
check_eq "pull: 6 files (5 paired + the local-only new one)" 6 "$(gd_count_local INBOX)"
gd_check_idle "pull"

# ------------------------------------------------------------------- push
diag "direction: push"
gd_fresh
dc_populate "$U" INBOX 6 202 1K 8K >/dev/null
gd_load_uids INBOX
gd_sync_ok "push: first sync (direction both)"
echo "    direction: push" >>"$GD_CONF"
for i in 1 2 3 4 5 6; do K[i]=$(gd_key INBOX "${UIDS[i]}"); done
C=$GD_MAIL/INBOX/cur
NEWKEY=1700000201.M1P1.host
gd_local_mv INBOX "${UIDS[1]}" cur ":2,F"           # local flag change
gd_local_rm INBOX "${UIDS[2]}"                      # local delete
gd_write_msg "$C/$NEWKEY:2,S" 503                   # local new message
gd_local_mv INBOX "${UIDS[5]}" cur ":2,F"           # local +F ...
dc_add_flags "$U" INBOX "${UIDS[5]}" '\Answered'    # ... server +R
dc_add_flags "$U" INBOX "${UIDS[3]}" '\Seen'        # server flag change
dc_expunge "$U" INBOX "${UIDS[4]}"                  # server expunge
gd_write_msg "$GD_DIR/srv.eml" 504
nu=$(dc_add "$U" INBOX "$GD_DIR/srv.eml")           # server new message
next=$(dc_status_field "$U" INBOX uidnext)
before=$(gd_snapshot)
gd_sync_ok "push"
after=$(gd_snapshot)
check_eq "push: no local file added, removed or renamed" \
	"$(part local "$before")" "$(part local "$after")"
check_eq "push: a local flag change goes up" '\Flagged' "$(dc_flags "$U" INBOX "${UIDS[1]}")"
check "push: a local delete goes up (expunged)" gd_no_uid INBOX "${UIDS[2]}"
uu=$(gd_uid INBOX "$NEWKEY")
check "push: a new local file is uploaded" test -n "$uu"
check_eq "... with its flags" '\Seen' "$(dc_flags "$U" INBOX "${uu:-0}" 2>/dev/null)"
check_eq "push: local +F, server +R: the server has both" '\Answered \Flagged' \
	"$(dc_flags "$U" INBOX "${UIDS[5]}")"
check "... the file keeps only F" test -f "$C/${K[5]}:2,F"
check_eq "push: a server flag change stays on the server" '\Seen' "$(dc_flags "$U" INBOX "${UIDS[3]}")"
check "... and does not come down" test -f "$GD_MAIL/INBOX/new/${K[3]}"
check "push: the new server message is not downloaded" test -z "$(gd_key INBOX "$nu")"
ru=$(gd_uid INBOX "${K[4]}")
check "push: a message the server expunged is uploaded again (new UID)" \
	test -n "$ru" -a "${ru:-0}" -ge "$next"
check "... byte-identical" gd_same_as_server INBOX "${ru:-0}" "$GD_MAIL/INBOX/new/${K[4]}"
check_eq "push: the server has 7 messages" 7 "$(gd_count_server INBOX)"
gd_check_idle "push"

# ------------------------------------------------ remote_deletions: keep
diag "remote_deletions: keep"
gd_fresh "remote_deletions: keep"
dc_populate "$U" INBOX 4 203 1K 8K >/dev/null
dc_add_flags "$U" INBOX 1:* '\Seen'
gd_load_uids INBOX
gd_sync_ok "keep-remote: first sync"
for i in 1 2 3 4; do K[i]=$(gd_key INBOX "${UIDS[i]}"); done
kf=$(gd_file INBOX "${UIDS[2]}")
dc_expunge "$U" INBOX "${UIDS[2]}"                  # server expunge
gd_local_rm INBOX "${UIDS[3]}"                      # local delete
gd_sync_ok "keep-remote"
check "remote_deletions keep: the file of the expunged message stays" test -f "$kf"
check_eq "... its pair is dropped" "" "$(gd_key INBOX "${UIDS[2]}")$(gd_uid INBOX "${K[2]}")"
check_eq "... its key is remembered as local-only" 1 \
	"$(gd_state "select count(*) from local_only where key = '${K[2]}'")"
check_eq "... and it is not uploaded again" 2 "$(gd_count_server INBOX)"
check "a local delete still goes up" gd_no_uid INBOX "${UIDS[3]}"
gd_check_idle "remote_deletions keep"
gd_sync_ok "keep-remote: a third sync"
check_eq "... the kept file is still not uploaded" 2 "$(gd_count_server INBOX)"
check "... and is still there" test -f "$kf"

# The backup combination: pull + remote_deletions keep.
diag "direction: pull + remote_deletions: keep"
gd_fresh "direction: pull
remote_deletions: keep"
dc_populate "$U" INBOX 3 204 1K 8K >/dev/null
gd_load_uids INBOX
gd_sync_ok "backup: first sync"
kf=$(gd_file INBOX "${UIDS[1]}")
dc_expunge "$U" INBOX "${UIDS[1]}"
gd_sync_ok "backup"
check "backup: the file of the expunged message stays" test -f "$kf"
check_eq "backup: nothing uploaded" 2 "$(gd_count_server INBOX)"
gd_check_idle "backup"

dc_log_check >/dev/null 2>&1 || diag "dovecot log has errors: $(grep -E ': (Panic|Fatal|Error):' "$DC_LOG" | head -3)"
diag "t_twoway_modes.sh ran in $((SECONDS - T0)) s"
tap_done
