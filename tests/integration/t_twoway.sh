#!/usr/bin/env bash
# Two-way sync against a real Dovecot (DESIGN.md §4): flags both ways (also
# concurrent changes of one message and T as an ordinary flag), deletions
# both ways, delete/modify conflicts under both policies, new local
# messages, the mass-deletion guard, --dry-run, server expunges and flag
# changes between two syncs on the change-detection path the server's
# capabilities choose (7.: QRESYNC, CONDSTORE or plain); moves across folders
# (tagged [moves]), UIDVALIDITY changes ([uidvalidity]) and folders made
# locally ([local folders]).
# Every scenario ends with one more sync that must change nothing anywhere:
# no file added/removed/renamed/touched, no server write (HIGHESTMODSEQ,
# UIDNEXT, MESSAGES unchanged), no pair changed (gd_check_idle).
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
U=$DC_USER
T0=$SECONDS

# imap_append FOLDER FILE DATE [FLAGS]: an IMAP APPEND (LITERAL+) with an
# explicit INTERNALDATE such as "06-May-2023 07:08:09 +0000" (doveadm save
# would take the current time, with a fraction of a second that Dovecot may
# round differently once its index is rebuilt).
imap_append() {
	local n n0 try out
	[ "$(tail -c1 "$2" | od -An -c | tr -d ' ')" = '\n' ] || { diag "imap_append: $2 lacks a final newline"; return 1; }
	n=$(dc_to_crlf <"$2" | wc -c)
	n0=$(dc_status_field "$U" "$1" messages) || return 1
	# Pipelined after LOGIN; checked by the message count, retried (bounded)
	# only when the message did not arrive.
	for try in 1 2 3; do
		out=$({
			printf 'a LOGIN %s %s\n' "$DC_USER" "$DC_PASS"
			printf 'b APPEND "%s" (%s) "%s" {%d+}\n' "$1" "${4:-}" "$3" "$n"
			cat "$2"
			printf '\nc LOGOUT\n'
		} | dc_imap imaps 2>&1)
		[ "$(dc_status_field "$U" "$1" messages)" -eq $((n0 + 1)) ] && return 0
		diag "imap_append try $try failed: $(grep -v '^\* CAPABILITY\|^a OK' <<<"$out" | tail -3 | tr '\n' '|')"
		sleep 0.5
	done
	return 1
}

# inodes DIR: "inode path" of every file below DIR, on one line.
inodes() { (cd "$1" && find . -type f -printf '%i %p\n' | LC_ALL=C sort | paste -sd ' ' -); }

# sent TRACE: the IMAP commands of a -vv trace ("> TAG COMMAND ..."), one a line.
sent() { sed -n 's/^gmaildir: imap: > [0-9A-Za-z]* //p' <<<"$1"; }

# sent_none CMD TRACE: the trace holds no CMD command (e.g. APPEND).
sent_none() { ! sent "$2" | grep -q "^$1 "; }

# sent_some CMD TRACE: the trace holds a CMD command (e.g. "UID MOVE").
sent_some() { sent "$2" | grep -q "^$1 "; }

# ---------------------------------------------------------------- 1. flags
diag "1. flags both ways"
gd_fresh
dc_populate "$U" INBOX 10 101 1K 8K >/dev/null
gd_load_uids INBOX
dc_add_flags "$U" INBOX "${UIDS[6]}" '\Seen' '\Flagged'
dc_add_flags "$U" INBOX "${UIDS[7]},${UIDS[8]},${UIDS[9]}" '\Seen'
dc_add_flags "$U" INBOX "${UIDS[4]}" project         # a keyword with no letter
gd_sync_ok "first sync"
check "first sync: INBOX equal on both sides" gd_compare INBOX
for i in 1 2 3 4 5 6 7 8 9 10; do K[i]=$(gd_key INBOX "${UIDS[i]}"); done
C=$GD_MAIL/INBOX/cur N=$GD_MAIL/INBOX/new

gd_local_mv INBOX "${UIDS[1]}" cur ":2,FS"         # local +S +F
gd_local_mv INBOX "${UIDS[2]}" cur ""               # new/ -> cur/: no change
gd_local_mv INBOX "${UIDS[3]}" cur ":2,"            # new/ -> cur/ :2,: no change
dc_add_flags "$U" INBOX "${UIDS[4]}" '\Answered'    # server +R
gd_local_mv INBOX "${UIDS[5]}" cur ":2,F"           # local +F ...
dc_add_flags "$U" INBOX "${UIDS[5]}" '\Seen'        # ... server +S
gd_local_mv INBOX "${UIDS[6]}" cur ":2,S"           # local -F
gd_local_mv INBOX "${UIDS[7]}" cur ":2,ST"          # local +T
dc_add_flags "$U" INBOX "${UIDS[8]}" '\Deleted'     # server +T
dc_remove_flags "$U" INBOX "${UIDS[9]}" '\Seen'     # server -S
gd_local_mv INBOX "${UIDS[10]}" cur ":2,Sa"         # local +S, unknown letter a ...
dc_add_flags "$U" INBOX "${UIDS[10]}" '\Flagged'   # ... server +F
gd_sync_ok "flags"
check_eq "local rename to :2,FS: server has \\Flagged \\Seen" '\Flagged \Seen' \
	"$(dc_flags "$U" INBOX "${UIDS[1]}")"
check "... and the file keeps its name" test -f "$C/${K[1]}:2,FS"
check_eq "new/ -> cur/ without flags: no server change" '' "$(dc_flags "$U" INBOX "${UIDS[2]}")"
check "... and the file is not renamed" test -f "$C/${K[2]}"
check_eq "new/ -> cur/ as :2, (no flags): no server change" '' \
	"$(dc_flags "$U" INBOX "${UIDS[3]}")"
check "... and the file is not renamed" test -f "$C/${K[3]}:2,"
check "server +\\Answered: the file is renamed to cur/KEY:2,R" test -f "$C/${K[4]}:2,R"
check_eq "... and the server keeps its keyword" '\Answered project' "$(dc_flags "$U" INBOX "${UIDS[4]}")"
check "... and is no longer in new/" test ! -e "$N/${K[4]}"
check_eq "local +F, server +S on one message: server has both" '\Flagged \Seen' \
	"$(dc_flags "$U" INBOX "${UIDS[5]}")"
check "... and so has the file (cur/KEY:2,FS)" test -f "$C/${K[5]}:2,FS"
check_eq "... and the base has both (F|S = 18)" 18 \
	"$(gd_state "select flags from pairs where key = '${K[5]}'")"
check_eq "local -F: server loses \\Flagged" '\Seen' "$(dc_flags "$U" INBOX "${UIDS[6]}")"
check_eq "local +T: server has \\Deleted" '\Deleted \Seen' "$(dc_flags "$U" INBOX "${UIDS[7]}")"
check "... and the message is not expunged" gd_has_uid INBOX "${UIDS[7]}"
check "server +\\Deleted: the file is renamed to :2,ST, not removed" test -f "$C/${K[8]}:2,ST"
check "server -\\Seen: the file is renamed to :2, (S dropped)" test -f "$C/${K[9]}:2,"
check_eq "local :2,Sa + server +F: server has \\Flagged \\Seen" '\Flagged \Seen' \
	"$(dc_flags "$U" INBOX "${UIDS[10]}")"
check "... and the file is :2,FSa (the unknown letter kept)" test -f "$C/${K[10]}:2,FSa"
check_eq "no message added or removed on the server" 10 "$(gd_count_server INBOX)"
check_eq "... nor locally" 10 "$(gd_count_local INBOX)"
check "INBOX equal on both sides" gd_compare INBOX
gd_check_idle "flags"

# ------------------------------------------------------------- 2. deletions
diag "2. deletions each way (on the state of 1)"
gd_local_rm INBOX "${UIDS[2]}"
dc_expunge "$U" INBOX "${UIDS[3]}"
gd_local_rm INBOX "${UIDS[9]}"                      # deleted on both sides
dc_expunge "$U" INBOX "${UIDS[9]}"
gd_sync_ok "deletions"
check "local rm: the message is expunged on the server" gd_no_uid INBOX "${UIDS[2]}"
check "server expunge: the file is removed" test -z "$(gd_file_of_key INBOX "${K[3]}")"
check "UID EXPUNGE only: the \\Deleted (T) messages are still on the server" \
	gd_has_uid INBOX "${UIDS[7]}" "${UIDS[8]}"
check_eq "the three pairs are dropped (also the one deleted on both sides)" 0 \
	"$(gd_state "select count(*) from pairs where uid in (${UIDS[2]}, ${UIDS[3]}, ${UIDS[9]}) or key in ('${K[2]}', '${K[3]}', '${K[9]}')")"
check_eq "7 messages left on the server" 7 "$(gd_count_server INBOX)"
check "INBOX equal on both sides" gd_compare INBOX
gd_check_idle "deletions"

# ------------------------------------------------ 3. delete/modify conflicts
diag "3a. delete/modify conflicts, conflicts: deletion-wins (default; on the state of 2)"
gd_local_rm INBOX "${UIDS[4]}"                       # local rm ...
dc_add_flags "$U" INBOX "${UIDS[4]}" '\Flagged'      # ... server modified
dc_expunge "$U" INBOX "${UIDS[5]}"                   # server expunge ...
gd_local_mv INBOX "${UIDS[5]}" cur ":2,FRS"          # ... local modified
gd_sync_ok "deletion-wins"
check "local rm vs server flag change: the deletion wins (expunged)" \
	gd_no_uid INBOX "${UIDS[4]}"
check "server expunge vs local flag change: the deletion wins (file removed)" \
	test -z "$(gd_file_of_key INBOX "${K[5]}")"
check_eq "5 messages left on the server" 5 "$(gd_count_server INBOX)"
check "INBOX equal on both sides" gd_compare INBOX
gd_check_idle "deletion-wins"

diag "3b. delete/modify conflicts, conflicts: keep"
gd_fresh "conflicts: keep"
dc_populate "$U" INBOX 4 102 1K 8K >/dev/null
dc_add_flags "$U" INBOX 1:* '\Seen'
gd_load_uids INBOX
gd_sync_ok "keep: first sync"
for i in 1 2 3 4; do K[i]=$(gd_key INBOX "${UIDS[i]}"); done
next=$(dc_status_field "$U" INBOX uidnext)
gd_local_rm INBOX "${UIDS[1]}"                       # local rm ...
dc_add_flags "$U" INBOX "${UIDS[1]}" '\Flagged'      # ... server modified
dc_expunge "$U" INBOX "${UIDS[2]}"                   # server expunge ...
gd_local_mv INBOX "${UIDS[2]}" cur ":2,FS"           # ... local modified
gd_local_rm INBOX "${UIDS[3]}"                       # plain local rm
dc_expunge "$U" INBOX "${UIDS[4]}"                   # plain server expunge
gd_sync_ok "keep"
check "local rm vs server flag change: the message stays on the server" gd_has_uid INBOX "${UIDS[1]}"
f=$(gd_file INBOX "${UIDS[1]}")
check "... and is downloaded again, under a new key" \
	test -n "$f" -a "$(gd_key INBOX "${UIDS[1]}")" != "${K[1]}"
check "... with the server's flags (:2,FS)" test "${f%:2,FS}" != "$f"
check "... byte-identical" gd_same_as_server INBOX "${UIDS[1]}" "$f"
check "server expunge vs local flag change: the file stays" test -f "$GD_MAIL/INBOX/cur/${K[2]}:2,FS"
nu=$(gd_uid INBOX "${K[2]}")
check "... and is uploaded again under a new UID" test -n "$nu" -a "${nu:-0}" -ge "$next"
check_eq "... with the local flags" '\Flagged \Seen' "$(dc_flags "$U" INBOX "${nu:-0}" 2>/dev/null)"
check "... byte-identical" gd_same_as_server INBOX "${nu:-0}" "$GD_MAIL/INBOX/cur/${K[2]}:2,FS"
check "a plain local rm still propagates under keep" \
	gd_no_uid INBOX "${UIDS[3]}"
check "a plain server expunge still propagates under keep" test -z "$(gd_file_of_key INBOX "${K[4]}")"
check_eq "2 messages on the server" 2 "$(gd_count_server INBOX)"
check "INBOX equal on both sides" gd_compare INBOX
gd_check_idle "keep"

# ---------------------------------------------------- 4. new local messages
diag "4. new local messages"
gd_fresh
dc_populate "$U" INBOX 3 103 1K 8K >/dev/null
gd_sync_ok "new local: first sync"
next=$(dc_status_field "$U" INBOX uidnext)
A=1700000000.M1P2.host B=1700000001.M3P4.host
# Dovecot-style unique with size fields: part of the key, kept as is.
D=1700000002.M5P6.host,S=1500,W=1540
gd_write_msg "$GD_MAIL/INBOX/new/$A" 401 "2023-05-06 07:08:09"
gd_write_msg "$GD_MAIL/INBOX/cur/$B:2,SF" 402 "2022-01-02 03:04:05"
gd_write_msg "$GD_MAIL/INBOX/cur/$D:2,RS" 407 "2021-03-04 05:06:07"
gd_sync_ok "new local"
check_contains "three messages uploaded" ", 3 up," "$OUT"
check_eq "server count +3" 6 "$(gd_count_server INBOX)"
ua=$(gd_uid INBOX "$A") ub=$(gd_uid INBOX "$B") ud=$(gd_uid INBOX "$D")
check "a unique with ,S=...,W=... fields is paired as is" test -n "$ud"
check_eq "... with its flags" '\Answered \Seen' "$(dc_flags "$U" INBOX "${ud:-0}" 2>/dev/null)"
check "the file in new/ is paired with a new UID" test -n "$ua" -a "${ua:-0}" -ge "$next"
check "the file in cur/ is paired with a new UID" test -n "$ub" -a "${ub:-0}" -ge "$next"
check_eq "the file in new/ has no flags on the server" '' "$(dc_flags "$U" INBOX "${ua:-0}" 2>/dev/null)"
check_eq "the :2,SF file has \\Flagged \\Seen on the server" '\Flagged \Seen' \
	"$(dc_flags "$U" INBOX "${ub:-0}" 2>/dev/null)"
check "the files keep their names" test -f "$GD_MAIL/INBOX/new/$A" -a -f "$GD_MAIL/INBOX/cur/$B:2,SF" \
	-a -f "$GD_MAIL/INBOX/cur/$D:2,RS"
check "INBOX equal on both sides (bytes, flags, INTERNALDATE = mtime)" gd_compare INBOX
check_eq "no intent left" 0 "$(gd_state 'select count(*) from intents')"
gd_check_idle "new local"
check_eq "nothing downloaded back: still 6 files" 6 "$(gd_count_local INBOX)"

# ------------------------------------------------------ 5. mass deletion
diag "5. mass-deletion guard"
gd_fresh
dc_populate "$U" INBOX 40 104 1K 2K >/dev/null
dc_add_flags "$U" INBOX 1:* '\Seen'
gd_sync_ok "mass: first sync"
check_eq "the 40 messages are in cur/" 40 "$(find "$GD_MAIL/INBOX/cur" -type f | wc -l)"
before=$(gd_snapshot)
mkdir "$GD_DIR/hold"
mv "$GD_MAIL/INBOX/cur/"* "$GD_DIR/hold/"
OUT=$(gd sync 2>&1)
check_eq "INBOX emptied (cur/ and new/ still there): exit 3" 3 "$?"
check_contains "... the message names --allow-mass-delete" "--allow-mass-delete" "$OUT"
check_eq "... the server is untouched" "$(sed -n '/^== server/,/^== pairs/p' <<<"$before")" \
	"$(gd_snapshot | sed -n '/^== server/,/^== pairs/p')"
mv "$GD_DIR/hold/"* "$GD_MAIL/INBOX/cur/"
gd_check_idle "mass: the files put back"
rm -rf "$GD_MAIL/INBOX/cur"
OUT=$(gd sync 2>&1)
check_eq "INBOX/cur removed: exit 3" 3 "$?"
check_contains "... the message names --allow-mass-delete" "--allow-mass-delete" "$OUT"
check "... cur/ is not recreated" test ! -e "$GD_MAIL/INBOX/cur"
check_eq "... the server is untouched" "$(sed -n '/^== server/,/^== pairs/p' <<<"$before")" \
	"$(gd_snapshot | sed -n '/^== server/,/^== pairs/p')"
check_eq "... the pairs are untouched" 40 "$(gd_state 'select count(*) from pairs')"
rm -rf "$GD_MAIL/INBOX"
OUT=$(gd sync 2>&1)
check_eq "INBOX removed entirely: exit 3" 3 "$?"
check_contains "... the message names --allow-mass-delete" "--allow-mass-delete" "$OUT"
check "... INBOX is not recreated" test ! -e "$GD_MAIL/INBOX"
check_eq "... the server is untouched" "$(sed -n '/^== server/,/^== pairs/p' <<<"$before")" \
	"$(gd_snapshot | sed -n '/^== server/,/^== pairs/p')"
gd_sync_ok "--allow-mass-delete" --allow-mass-delete
check_eq "--allow-mass-delete: the server INBOX is emptied" 0 "$(gd_count_server INBOX)"
check_eq "... the pairs are dropped" 0 "$(gd_state 'select count(*) from pairs')"
check "INBOX equal on both sides" gd_compare INBOX
gd_check_idle "mass local deletion"

dc_populate "$U" Archive 40 105 1K 2K >/dev/null
dc_add_flags "$U" Archive 1:* '\Seen'
gd_sync_ok "mass: Archive first sync"
gd_load_uids Archive
before=$(gd_snapshot)
dc_expunge "$U" Archive "${UIDS[1]}:${UIDS[30]}"
OUT=$(gd sync 2>&1)
check_eq "server expunged 30 of 40: exit 3" 3 "$?"
check_contains "... the message names --allow-mass-delete" "--allow-mass-delete" "$OUT"
check_eq "... no local file touched" "$(sed -n '/^== local/,/^== server/p' <<<"$before")" \
	"$(gd_snapshot | sed -n '/^== local/,/^== server/p')"
check_eq "... no pair dropped" 40 "$(gd_state "select count(*) from pairs p join folders f on f.id = p.folder_id where f.remote = 'Archive'")"
gd_sync_ok "--allow-mass-delete (server side)" --allow-mass-delete
check_eq "--allow-mass-delete: 10 files left" 10 "$(gd_count_local Archive)"
check "Archive equal on both sides" gd_compare Archive
gd_check_idle "mass server deletion"

# -------------------------------------------------------------- 6. dry run
diag "6. --dry-run"
gd_fresh
dc_populate "$U" INBOX 6 106 1K 8K >/dev/null
gd_load_uids INBOX
OUT=$(gd sync --dry-run 2>&1)
check_eq "--dry-run before any sync exits 0" 0 "$?"
check_contains "... prints the plan as a table" "↓new" "$OUT"
check "... saying it would download 6 into INBOX" grep -qE '/INBOX +6 +0 +0 +0 +0 +0 +0$' <<<"$OUT"
check "... and creates no Maildir" test ! -e "$GD_MAIL"
check_eq "... and records no pair" 0 "$(gd_state 'select count(*) from pairs' 2>/dev/null || echo 0)"
gd_sync_ok "dry-run: first sync"
gd_local_mv INBOX "${UIDS[1]}" cur ":2,F"            # local flag
gd_local_rm INBOX "${UIDS[2]}"                       # local delete
gd_write_msg "$GD_MAIL/INBOX/cur/1700000002.M5P6.host:2,S" 403   # local new
dc_add_flags "$U" INBOX "${UIDS[3]}" '\Seen'         # server flag
dc_expunge "$U" INBOX "${UIDS[4]}"                   # server expunge
gd_write_msg "$GD_DIR/server-new.eml" 404
dc_add "$U" INBOX "$GD_DIR/server-new.eml" >/dev/null   # server new
before=$(gd_snapshot)
OUT=$(gd sync --dry-run 2>&1)
check_eq "--dry-run exits 0" 0 "$?"
check "--dry-run prints what it would do, every count: ↓new ↑new ↓flags ↑flags ↓del ↑del" \
	grep -qE '/INBOX +1 +1 +1 +1 +1 +1 +0$' <<<"$OUT"
after=$(gd_snapshot)
if [ "$before" = "$after" ]; then
	ok "--dry-run changes no file, no server folder, no pair"
else
	not_ok "--dry-run changes no file, no server folder, no pair"
	diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -20 | sed 's/^/#   /'
fi
gd_sync_ok "after --dry-run, the real sync"
check_contains "... does what --dry-run announced" "1 up, flags 1 down 1 up, deleted 1 here 1 there" "$OUT"
check "INBOX equal on both sides" gd_compare INBOX
gd_check_idle "dry-run"

# ------------------------------------- 7. server expunges and flag changes
# Change detection (DESIGN.md §6) takes one of three paths, by what the
# server offers: QRESYNC (the SELECT answer carries changed flags and
# VANISHED), CONDSTORE only (UID FETCH ... CHANGEDSINCE, expunges by
# count or UID SEARCH), or neither (UID FETCH 1:*). t_twoway_condstore.sh
# and t_twoway_plain.sh run this script with capabilities hidden: all
# three must give the same results; the wire trace shows which path ran.
case " ${DC_CAP_HIDE:-} " in
*" CONDSTORE "*) DETECT=plain ;;
*" QRESYNC "*) DETECT=condstore ;;
*) DETECT=qresync ;;
esac

# stamps UID...: "inode path mtime" of the files of these INBOX UIDs.
stamps() {
	local u f
	for u in "$@"; do
		f=$(gd_file INBOX "$u") || { echo "no file for UID $u"; continue; }
		stat -c '%i %n %Y' "$f"
	done
}

# detect_path DESC TRACE: the commands of TRACE are those of $DETECT's path
# for INBOX.
detect_path() {
	local desc=$1 trace=$2
	case $DETECT in
	qresync)
		check "$desc: SELECT \"INBOX\" (QRESYNC (...)) is sent" \
			sent_some 'SELECT "INBOX" (QRESYNC' "$trace"
		check "$desc: no CHANGEDSINCE UID FETCH" \
			eval '! sent "$trace" | grep -q CHANGEDSINCE'
		check "$desc: no UID SEARCH" sent_none "UID SEARCH" "$trace"
		;;
	condstore)
		check "$desc: no QRESYNC SELECT" eval '! sent "$trace" | grep -q QRESYNC'
		check "$desc: a CHANGEDSINCE UID FETCH" \
			eval 'sent "$trace" | grep -q "^UID FETCH .*(CHANGEDSINCE "'
		;;
	plain)
		check "$desc: neither QRESYNC nor CHANGEDSINCE" \
			eval '! sent "$trace" | grep -q "QRESYNC\|CHANGEDSINCE"'
		;;
	esac
}

diag "7. server expunges and flag changes between two syncs ($DETECT path)"
gd_fresh
dc_populate "$U" INBOX 20 131 1K 4K >/dev/null
gd_load_uids INBOX
dc_add_flags "$U" INBOX "${UIDS[12]},${UIDS[19]}" '\Seen'
gd_sync_ok "7a. first sync"
for i in $(seq 1 20); do K[i]=$(gd_key INBOX "${UIDS[i]}"); done
size10=$(gd_state "select size from pairs where key = '${K[10]}'")
keep=(1 4 5 6 9 11 13 14 17 18 19 20)
before=$(stamps $(for i in "${keep[@]}"; do echo "${UIDS[i]}"; done))
# Server only: four expunges in three runs (3, 7:8, 15; 15 flagged first),
# flags changed on four others, two new messages.
dc_add_flags "$U" INBOX "${UIDS[15]}" '\Flagged'
dc_expunge "$U" INBOX "${UIDS[3]},${UIDS[7]},${UIDS[8]},${UIDS[15]}"
dc_add_flags "$U" INBOX "${UIDS[2]}" '\Seen'
dc_add_flags "$U" INBOX "${UIDS[10]}" '\Flagged' '\Answered'
dc_remove_flags "$U" INBOX "${UIDS[12]}" '\Seen'
dc_add_flags "$U" INBOX "${UIDS[16]}" '\Draft'
dc_populate "$U" INBOX 2 151 1K 2K >/dev/null
OUT=$(gd -vv sync 2>&1)
check_eq "7a. expunges + flags on the server: sync exits 0" 0 "$?"
for i in 3 7 8 15; do
	check "7a. expunged UID ${UIDS[i]}: its file is removed" test -z "$(gd_file_of_key INBOX "${K[i]}")"
done
check_eq "7a. ... and the four pairs are dropped" 0 \
	"$(gd_state "select count(*) from pairs where key in ('${K[3]}', '${K[7]}', '${K[8]}', '${K[15]}')")"
check_eq "7a. server +S: the file is cur/KEY:2,S" "$GD_MAIL/INBOX/cur/${K[2]}:2,S" \
	"$(gd_file INBOX "${UIDS[2]}")"
check_eq "7a. server +F +R: the file is cur/KEY:2,FR" "$GD_MAIL/INBOX/cur/${K[10]}:2,FR" \
	"$(gd_file INBOX "${UIDS[10]}")"
check_eq "7a. ... and its pair keeps its size" "$size10" \
	"$(gd_state "select size from pairs where key = '${K[10]}'")"
check_eq "7a. server -S: the file is cur/KEY:2," "$GD_MAIL/INBOX/cur/${K[12]}:2," \
	"$(gd_file INBOX "${UIDS[12]}")"
check_eq "7a. server +D: the file is cur/KEY:2,D" "$GD_MAIL/INBOX/cur/${K[16]}:2,D" \
	"$(gd_file INBOX "${UIDS[16]}")"
check_eq "7a. the other twelve files are untouched (inode, name, mtime)" "$before" \
	"$(stamps $(for i in "${keep[@]}"; do echo "${UIDS[i]}"; done))"
check_eq "7a. 18 messages on each side (16 left + 2 new)" "18 18" \
	"$(gd_count_server INBOX) $(gd_count_local INBOX)"
check "7a. INBOX equal on both sides" gd_compare INBOX
detect_path "7a" "$OUT"
gd_check_idle "7a. expunges + flags on the server"

# The lowest and the highest known UID expunged, a flag changed between
# them, and a local flag change at the same time: both ways in one sync.
gd_load_uids INBOX
n=${#UIDS[@]}
lo=${UIDS[1]} hi=${UIDS[n - 1]} mid=${UIDS[5]} loc=${UIDS[6]}
klo=$(gd_key INBOX "$lo") khi=$(gd_key INBOX "$hi") kmid=$(gd_key INBOX "$mid")
dc_expunge "$U" INBOX "$lo,$hi"
dc_add_flags "$U" INBOX "$mid" '\Flagged'
gd_local_mv INBOX "$loc" cur ":2,S"
OUT=$(gd -vv sync 2>&1)
check_eq "7b. first and last UID expunged, flags both ways: sync exits 0" 0 "$?"
check "7b. ... both files are removed" \
	test -z "$(gd_file_of_key INBOX "$klo")$(gd_file_of_key INBOX "$khi")"
check_eq "7b. ... the server flag comes down" "$GD_MAIL/INBOX/cur/$kmid:2,F" \
	"$(gd_file INBOX "$mid")"
check_eq "7b. ... the local flag goes up" '\Seen' "$(dc_flags "$U" INBOX "$loc")"
check_eq "7b. ... 16 messages on each side" "16 16" \
	"$(gd_count_server INBOX) $(gd_count_local INBOX)"
check "7b. INBOX equal on both sides" gd_compare INBOX
detect_path "7b" "$OUT"
gd_check_idle "7b. first and last UID expunged"

# VANISHED is a claim, believed only when the count agrees. A message
# below the old UIDNEXT that has no pair (forgotten here: its pair and
# file removed behind gmaildir's back) makes the count disagree with an
# expunge VANISHED reports: the UID SEARCH decides then. (QRESYNC only: the
# CONDSTORE count cannot tell this case from "nothing expunged".)
if [ "$DETECT" = qresync ]; then
	gd_load_uids INBOX
	ufo=${UIDS[3]} uex=${UIDS[8]}
	kfo=$(gd_key INBOX "$ufo") kex=$(gd_key INBOX "$uex")
	rm -f "$(gd_file INBOX "$ufo")"
	gd_state "delete from pairs where key = '$kfo'"
	dc_expunge "$U" INBOX "$uex"
	OUT=$(gd -vv sync 2>&1)
	check_eq "7c. a message without a pair + an expunge: sync exits 0" 0 "$?"
	check "7c. ... the count disagrees with VANISHED: one UID SEARCH" \
		sent_some "UID SEARCH" "$OUT"
	check "7c. ... the expunged message's file is removed" \
		test -z "$(gd_file_of_key INBOX "$kex")"
	check "7c. ... the message without a pair is downloaded again" gd_file INBOX "$ufo"
	check_eq "7c. ... 15 messages on each side" "15 15" \
		"$(gd_count_server INBOX) $(gd_count_local INBOX)"
	check "7c. INBOX equal on both sides" gd_compare INBOX
	gd_check_idle "7c. VANISHED not believed"
fi

# ------------------------------------------- (a) moves across folders
diag "(a) needs: moves (engine 4b8a29b) -- files moved from INBOX/cur to Archive/cur and back"
gd_fresh
dc_populate "$U" INBOX 3 107 1K 8K >/dev/null
dc_add_flags "$U" INBOX 1:* '\Seen'
gd_load_uids INBOX
gd_sync_ok "[moves] first sync"
k=$(gd_key INBOX "${UIDS[2]}") k3=$(gd_key INBOX "${UIDS[3]}")
cp "$(gd_file INBOX "${UIDS[2]}")" "$GD_DIR/moved.copy"
mv "$(gd_file INBOX "${UIDS[2]}")" "$GD_MAIL/Archive/cur/"
# A move with a flag change on the way: MOVE, then STORE +\Flagged.
mv "$(gd_file INBOX "${UIDS[3]}")" "$GD_MAIL/Archive/cur/$k3:2,FS"
OUT=$(gd -vv sync 2>&1)
check_eq "[moves] sync exits 0" 0 "$?"
check "[moves] the client sent UID MOVE" sent_some "UID MOVE" "$OUT"
check "[moves] ... and no APPEND" sent_none APPEND "$OUT"
check "[moves] ... and reports it (2 moved)" grep -q ', 2 moved;' <<<"$OUT"
check "[moves] the messages left the server INBOX" \
	gd_no_uid INBOX "${UIDS[2]}" "${UIDS[3]}"
check_eq "[moves] two messages in the server Archive" 2 "$(gd_count_server Archive)"
au=$(gd_uid Archive "$k") au3=$(gd_uid Archive "$k3")
check "[moves] the keys are paired in Archive" test -n "$au" -a -n "$au3"
check_eq "[moves] ... and no longer in INBOX" "" "$(gd_uid INBOX "$k")$(gd_uid INBOX "$k3")"
check "[moves] the moved message has the same bytes" \
	gd_same_as_server Archive "${au:-0}" "$GD_DIR/moved.copy"
check_eq "[moves] ... still \\Seen" '\Seen' "$(dc_flags "$U" Archive "${au:-0}" 2>/dev/null)"
check_eq "[moves] the one renamed on the way got +\\Flagged" '\Flagged \Seen' \
	"$(dc_flags "$U" Archive "${au3:-0}" 2>/dev/null)"
check "[moves] INBOX equal on both sides (no duplicate)" gd_compare INBOX
check "[moves] Archive equal on both sides (no duplicate)" gd_compare Archive
gd_check_idle "[moves] move INBOX -> Archive"

# And back (the other folder order: the source is synced first).
mv "$GD_MAIL/Archive/cur/$k:2,S" "$GD_MAIL/INBOX/cur/"
OUT=$(gd -vv sync 2>&1)
check_eq "[moves] move back: sync exits 0" 0 "$?"
check "[moves] move back: the client sent UID MOVE" sent_some "UID MOVE" "$OUT"
check "[moves] move back: ... and no APPEND" sent_none APPEND "$OUT"
check_eq "[moves] move back: 2 in INBOX, 1 in Archive" "2 1" \
	"$(gd_count_server INBOX) $(gd_count_server Archive)"
check "[moves] move back: INBOX equal on both sides" gd_compare INBOX
check "[moves] move back: Archive equal on both sides" gd_compare Archive
gd_check_idle "[moves] move back"

# A move while the server changed the same message's flags in the source
# folder: §4 merges per flag against the base, so the server's +\Answered
# must survive (and come down) next to the local +F.
ku=$(gd_key INBOX "${UIDS[1]}")
mv "$(gd_file INBOX "${UIDS[1]}")" "$GD_MAIL/Archive/cur/$ku:2,FS"   # local: move, +F
dc_add_flags "$U" INBOX "${UIDS[1]}" '\Answered'                      # server: +R at the source
gd_sync_ok "[moves] move + server flag change"
au1=$(gd_uid Archive "$ku")
check "[moves] move + server flag change: moved (paired in Archive)" test -n "$au1"
check_eq "[moves] ... the server keeps \\Answered and gets \\Flagged" \
	'\Answered \Flagged \Seen' "$(dc_flags "$U" Archive "${au1:-0}" 2>/dev/null)"
check "[moves] ... and the file gets R (:2,FRS)" test -f "$GD_MAIL/Archive/cur/$ku:2,FRS"
check "[moves] ... Archive equal on both sides" gd_compare Archive
check "[moves] ... INBOX equal on both sides" gd_compare INBOX
gd_check_idle "[moves] move + server flag change"

# Archiving most of a folder is 30 moves, not a mass deletion: no exit 3.
gd_fresh
dc_populate "$U" INBOX 40 111 1K 2K >/dev/null
dc_add_flags "$U" INBOX 1:* '\Seen'
gd_sync_ok "[moves] mass archive: first sync"
find "$GD_MAIL/INBOX/cur" -type f | LC_ALL=C sort | head -30 | xargs mv -t "$GD_MAIL/Archive/cur/"
OUT=$(gd -vv sync 2>&1)
check_eq "[moves] 30 of 40 moved to Archive: not refused as a mass deletion (exit 0)" 0 "$?"
check "[moves] ... all by UID MOVE, no APPEND" sent_none APPEND "$OUT"
diag "mass archive: $(sent "$OUT" | grep -c '^UID MOVE ') UID MOVE commands for 30 messages"
check_eq "[moves] ... 10 left in INBOX, 30 in Archive" "10 30" \
	"$(gd_count_server INBOX) $(gd_count_server Archive)"
check "[moves] ... INBOX equal on both sides" gd_compare INBOX
check "[moves] ... Archive equal on both sides" gd_compare Archive
gd_check_idle "[moves] mass archive"

# ------------------------------------------------ (b) UIDVALIDITY change
diag "(b) needs: uidvalidity (engine 9d216f7) -- the server changes UIDVALIDITY of synced folders"
gd_fresh
dc_populate "$U" INBOX 5 108 1K 8K >/dev/null
dc_add_flags "$U" INBOX 1:2 '\Seen'
# The same message twice (same Message-ID and size): each copy keeps its file.
gd_write_msg "$GD_DIR/twice.eml" 410
check "(harness) IMAP APPEND of a message" \
	imap_append INBOX "$GD_DIR/twice.eml" "06-May-2023 07:08:09 +0000" '\Seen'
check "(harness) IMAP APPEND of the same message again" \
	imap_append INBOX "$GD_DIR/twice.eml" "06-May-2023 07:08:09 +0000" '\Seen'
# Drafts often have no Message-ID: one with, one without.
gd_write_msg "$GD_DIR/draft1.eml" 411
gd_write_msg "$GD_DIR/draft2.eml" 412
grep -iv '^Message-ID:' "$GD_DIR/draft2.eml" >"$GD_DIR/draft2-noid.eml"
check "(harness) IMAP APPEND of a draft" \
	imap_append Drafts "$GD_DIR/draft1.eml" "07-May-2023 07:08:09 +0000" '\Draft'
check "(harness) IMAP APPEND of a draft without Message-ID" \
	imap_append Drafts "$GD_DIR/draft2-noid.eml" "08-May-2023 07:08:09 +0000" '\Draft \Seen'
gd_sync_ok "[uidvalidity] first sync"
check_eq "(harness) 7 messages in INBOX, 2 in Drafts" "7 2" \
	"$(gd_count_server INBOX) $(gd_count_server Drafts)"
ino0=$(inodes "$GD_MAIL/INBOX")
dino0=$(inodes "$GD_MAIL/Drafts")
st0=$(dc_status "$U" INBOX)
uv=$(dc_uidvalidity "$U" INBOX)
dc_set_uidvalidity "$U" INBOX $((uv + 1000))
dc_set_uidvalidity "$U" Drafts $(($(dc_uidvalidity "$U" Drafts) + 1000))
OUT=$(gd sync 2>&1)
check_eq "[uidvalidity] sync after the change exits 0" 0 "$?"
[ -n "$OUT" ] && printf '%s\n' "$OUT" | grep -v unchanged | head -3 | sed 's/^/#   /'
check_eq "[uidvalidity] no file re-downloaded, renamed or removed (same inodes)" \
	"$ino0" "$(inodes "$GD_MAIL/INBOX")"
check_eq "[uidvalidity] nothing uploaded or expunged (MESSAGES UIDNEXT same)" \
	"$(cut -d' ' -f1,2 <<<"$st0")" "$(dc_status "$U" INBOX | cut -d' ' -f1,2)"
check_eq "[uidvalidity] the new UIDVALIDITY is recorded" $((uv + 1000)) \
	"$(gd_state "select uidvalidity from folders where remote = 'INBOX'")"
check_eq "[uidvalidity] 7 pairs in INBOX (both identical copies re-paired)" 7 \
	"$(gd_state "select count(*) from pairs p join folders f on f.id = p.folder_id where f.remote = 'INBOX'")"
check "[uidvalidity] INBOX equal on both sides" gd_compare INBOX
check_eq "[uidvalidity] Drafts: a message without Message-ID is re-paired too (same inodes, no second copy)" \
	"$dino0" "$(inodes "$GD_MAIL/Drafts")"
check "[uidvalidity] Drafts equal on both sides" gd_compare Drafts
gd_check_idle "[uidvalidity] UIDVALIDITY change"

# The real-world case: the folder is recreated with the same messages (new
# UIDVALIDITY and new UIDs); pairs must be rebuilt by Message-ID + size.
gd_fresh
dc_populate "$U" Lists 5 109 1K 8K >/dev/null
dc_add_flags "$U" Lists 2:3 '\Flagged'
gd_sync_ok "[uidvalidity] Lists: first sync"
ino0=$(inodes "$GD_MAIL/Lists")
uv=$(dc_uidvalidity "$U" Lists)
dc_mkfolder "$U" Tmpx && dc_move "$U" Lists 1:* Tmpx && dc_rmfolder "$U" Lists &&
	dc_mkfolder "$U" Lists && dc_move "$U" Tmpx 1:* Lists && dc_rmfolder "$U" Tmpx
diag "Lists recreated: UIDVALIDITY $uv -> $(dc_uidvalidity "$U" Lists), UIDs $(dc_uids "$U" Lists | paste -sd, -)"
check "(harness) the recreated folder has a new UIDVALIDITY" test "$(dc_uidvalidity "$U" Lists)" != "$uv"
OUT=$(gd sync 2>&1)
check_eq "[uidvalidity] recreated folder: sync exits 0" 0 "$?"
check_eq "[uidvalidity] ... no file re-downloaded, renamed or removed (same inodes)" \
	"$ino0" "$(inodes "$GD_MAIL/Lists")"
check_eq "[uidvalidity] ... nothing uploaded (5 messages)" 5 "$(gd_count_server Lists)"
check "[uidvalidity] ... Lists equal on both sides" gd_compare Lists
gd_check_idle "[uidvalidity] recreated folder"

# ------------------------------------------------------ (c) new local folder
diag "(c) needs: local folders (engine 4b8a29b) -- folders made locally are created on the server"
gd_fresh
gd_sync_ok "[local folders] first sync"
mkdir -p "$GD_MAIL/Projects/"{cur,new,tmp} "$GD_MAIL/Clients/Acme/"{cur,new,tmp} \
	"$GD_MAIL/Entwürfe/"{cur,new,tmp}
gd_write_msg "$GD_MAIL/Projects/cur/1700000100.M1P1.host:2,S" 405
gd_write_msg "$GD_MAIL/Clients/Acme/new/1700000101.M1P1.host" 406
gd_write_msg "$GD_MAIL/Entwürfe/cur/1700000102.M1P1.host:2,DS" 408
gd_sync_ok "[local folders] sync"
check "[local folders] Projects exists on the server" grep -qx Projects <<<"$(dc_folders "$U")"
check "[local folders] Clients/Acme exists on the server" \
	grep -qx 'Clients/Acme' <<<"$(dc_folders "$U")"
check_eq "[local folders] Projects holds the message" 1 "$(gd_count_server Projects 2>/dev/null)"
check_eq "[local folders] Clients/Acme holds the message" 1 \
	"$(gd_count_server Clients/Acme 2>/dev/null)"
check "[local folders] Projects equal on both sides" gd_compare Projects
check "[local folders] Clients/Acme equal on both sides" gd_compare Clients/Acme
check "[local folders] a UTF-8 name is created (modified UTF-7 on the wire)" \
	grep -qx 'Entwürfe' <<<"$(dc_folders "$U")"
check "[local folders] Entwürfe equal on both sides" gd_compare Entwürfe
gd_check_idle "[local folders] new local folder"

dc_log_check >/dev/null 2>&1 || diag "dovecot log has errors: $(grep -E ': (Panic|Fatal|Error):' "$DC_LOG" | head -3)"
diag "t_twoway.sh ran in $((SECONDS - T0)) s"
tap_done
