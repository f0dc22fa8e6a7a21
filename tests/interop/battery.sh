#!/usr/bin/env bash
# The two-way scenario battery, the same steps on every real server:
#
#   tests/interop/battery.sh dovecot|cyrus|courier
#
# One account synced through every scenario in turn: first download,
# no-change run, flags both ways (one side, then both at once), deletions
# both ways, uploads, moves both ways, folders created and deleted on each
# side, folders renamed on each side, a UIDVALIDITY reset, kill -9 in the
# middle of a download, and the daemon: push both ways and a server restart
# under it. Server-side changes go over IMAP (tests/lib/imapctl.py), never
# into the server's files, so the steps are the same for each server.
# After each scenario every server folder is compared with its Maildir:
# every message there once, byte-identical, flags equal
# (tests/lib/compare.py); and nothing is anywhere twice.
set -u
cd "$(dirname "$0")/../.." || exit 1
SERVER=${1:?usage: battery.sh dovecot|cyrus|courier}
source tests/lib/tap.sh
case $SERVER in
dovecot)
	source tests/lib/dovecot.sh
	source tests/lib/foreign.sh
	dc_start || exit 1
	fs_export_client "$DC_HOST" "$DC_PORT_IMAPS" "$DC_CA" "$DC_USER" "$DC_PASS"
	srv_restart() {
		local pid
		pid=$(_dc_master_pid)
		kill -TERM "$pid"
		for _ in $(seq 100); do [ -z "$(_dc_pids)" ] && break; sleep 0.1; done
		_dc_as_user "$DC_DOVECOT_BIN" -c "$DC_CONF" </dev/null >>"$DC_LOG" 2>&1 || return 1
		for _ in $(seq 100); do [ -n "$(_dc_master_pid)" ] && break; sleep 0.05; done
		_DC_MASTER_PID=$(_dc_master_pid)
	}
	;;
cyrus)
	source tests/lib/cyrus.sh
	# IDLE polls (Debian runs no idled): every 2 s here instead of 60.
	CY_IDLE_SECONDS=2 cy_start || exit 1
	srv_restart() { cy_restart; }
	;;
courier)
	source tests/lib/courier.sh
	# IDLE polls (no FAM daemon): every 2 s here instead of Debian's 60.
	CO_IDLE_SECONDS=2 co_start || exit 1
	srv_restart() { co_restart; }
	;;
*)
	echo "battery.sh: unknown server $SERVER" >&2
	exit 2
	;;
esac
source tests/lib/gmaildir.sh

ic() { timeout -k 5 120 "$DC_PYTHON" tests/lib/imapctl.py "$@"; }
read -r SEP PREFIX <<<"$(ic sep)"
SEP=${SEP:-/}
# sf NAME...: the server's name of the folder NAME1/NAME2/... under the
# personal namespace (its prefix and separator); INBOX is INBOX.
sf() {
	local IFS=/ parts
	read -ra parts <<<"$1"
	local out=${parts[0]} i
	for ((i = 1; i < ${#parts[@]}; i++)); do out+=$SEP${parts[i]}; done
	[ "$out" = INBOX ] && echo INBOX || echo "$PREFIX$out"
}
check "$SERVER: the server answers over TLS (separator '$SEP', prefix '$PREFIX')" test -n "$SEP"

gd_setup interop "folders:
  propagate_deletes: true"

# lp WIRE: the Maildir of a server folder, from `gmaildir list` (its
# output is kept until the next sync_ok or refresh_list).
LIST_CACHE=
refresh_list() { LIST_CACHE=$(gd list 2>/dev/null); }
lp() {
	local display=${1//$SEP//}
	display=${display//&APw-/ü}
	[ -n "$LIST_CACHE" ] || refresh_list
	awk -v n="$display" '$1 == n { print $NF }' <<<"$LIST_CACHE"
}

# compare_all: every server folder against its Maildir; one TAP line.
compare_all() {
	local what=$1 f path bad=0 dir i=0
	dir=$(mktemp -d "$GD_DIR/dump.XXXXXX")
	ic dumpall "$dir" || bad=1
	while IFS= read -r f; do
		path=$(lp "$f")
		if [ -z "$path" ]; then
			echo "#   no local path for '$f'"
			bad=1
		elif ! out=$("$DC_PYTHON" tests/lib/compare.py "$dir/$i.dump" "$path" --quiet); then
			echo "#   $f:"
			printf '%s\n' "$out"
			bad=1
		fi
		i=$((i + 1))
	done <"$dir/list"
	rm -rf "$dir"
	check_eq "$what: every folder equal on both sides (bodies, flags, once)" 0 "$bad"
}

# all_ids: every Message-ID on the server, all folders; all_local_ids: in
# the Maildir tree.
all_ids() { ic allids | LC_ALL=C sort; }
all_local_ids() {
	local f
	while IFS= read -r f; do
		"$DC_PYTHON" tests/lib/msgids.py maildir "$(lp "$f")"
	done < <(ic list) | LC_ALL=C sort
}

# same_ids WHAT: the Message-IDs of every local folder are those of the
# server's, each as many times.
same_ids() {
	local d
	d=$(diff <(all_ids) <(all_local_ids) | grep '^[<>]' | head -5)
	check_eq "$1" "" "$d"
}

sync_ok() {
	OUT=$(gd sync 2>&1)
	RC=$?
	refresh_list
	check_eq "$1: sync exits 0" 0 "$RC"
	[ "$RC" -eq 0 ] || printf '%s\n' "$OUT" | head -15 | sed 's/^/#   /'
}

gen() { # gen COUNT SEED DIR
	mkdir -p "$3"
	python3 tests/lib/genmail.py --count "$1" --seed "$2" --min-size 1K --max-size 6K \
		--to alice@example.test --out "$3" >/dev/null
}

# local_file FOLDER N: the Nth file (sorted) of a server folder's Maildir.
local_file() {
	find "$(lp "$1")/cur" "$(lp "$1")/new" -type f | LC_ALL=C sort | sed -n "${2}p"
}

# reset_uidvalidity FOLDER: the server folder deleted and made again with
# the same messages (its own copies, flags and INTERNALDATEs): a new
# UIDVALIDITY, as after a server's rebuild.
reset_uidvalidity() {
	rm -rf "$GD_DIR/reset"
	ic dump "$1" >"$GD_DIR/reset.dump"
	python3 - "$GD_DIR/reset.dump" "$GD_DIR/reset" <<'PY'
import os, sys
data = open(sys.argv[1], "rb").read()
os.makedirs(sys.argv[2], exist_ok=True)
for n, rec in enumerate(data.split(b"\x0c\n") if data.strip() else []):
    head, _, text = rec.partition(b"\ntext:\n")
    fields = dict(l.split(": ", 1) for l in head.decode().split("\n") if ": " in l)
    flags = " ".join(f for f in fields.get("flags", "").split() if f != "\\Recent")
    open(os.path.join(sys.argv[2], "%03d.eml" % n), "wb").write(text)
    open(os.path.join(sys.argv[2], "%03d.meta" % n), "w").write(
        flags + "\n" + fields["date.received"] + "\n")
PY
	ic delete "$1"
	sleep 1.1
	ic create "$1"
	for f in "$GD_DIR"/reset/*.eml; do
		{ read -r flags; read -r date; } <"${f%.eml}.meta"
		ic append "$1" "$f" "$flags" "$date"
	done
}

# -------------------------------------------------------------- download
INBOX=INBOX WORK=$(sf Work) SUB=$(sf Work/Sub) UML=$(sf 'Entw&APw-rfe')
ic create "$WORK" && ic create "$SUB" && ic create "$UML"
gen 12 101 "$GD_DIR/g1"
gen 6 102 "$GD_DIR/g2"
gen 4 103 "$GD_DIR/g3"
gen 3 104 "$GD_DIR/g4"
i=0
for f in "$GD_DIR"/g1/*.eml; do
	i=$((i + 1))
	flags=""
	[ $((i % 2)) -eq 0 ] && flags='\Seen'
	[ $((i % 5)) -eq 0 ] && flags='\Seen \Flagged'
	ic append INBOX "$f" "$flags"
done
for f in "$GD_DIR"/g2/*.eml; do ic append "$WORK" "$f" '\Seen'; done
for f in "$GD_DIR"/g3/*.eml; do ic append "$SUB" "$f"; done
for f in "$GD_DIR"/g4/*.eml; do ic append "$UML" "$f" '\Answered'; done
sync_ok "first download"
check_eq "... INBOX has its 12 messages" 12 "$(find "$(lp INBOX)"/cur "$(lp INBOX)"/new -type f | wc -l)"
compare_all "first download"

doc=$(gd doctor 2>&1)
case $SERVER in
courier) check_contains "doctor: Courier's IDLE poll and its setting are named" IMAP_ENHANCEDIDLE "$doc" ;;
cyrus) check_contains "doctor: Cyrus' IDLE poll and its setting are named" imapidlepoll "$doc" ;;
*) check_eq "doctor: no IDLE hint for Dovecot" "" "$(grep -E 'ENHANCEDIDLE|imapidlepoll' <<<"$doc")" ;;
esac

sync_ok "no-change run"
check_eq "... downloads and uploads nothing" "" "$(grep -iE 'downloaded [1-9]|uploaded [1-9]' <<<"$OUT")"
compare_all "no-change run"

# -------------------------------------------------------------- odd messages
# What users' Maildirs hold: NUL bytes, no Message-ID, two messages with
# one Message-ID, a bare CR, raw 8-bit header bytes, a zero-byte file. A
# server may refuse one (then it stays here, said once, never retried) or
# store it rewritten (Courier turns a bare CR into CRLF); either way each
# message is once on each side, also after a UIDVALIDITY reset.
ODD=$(sf Odd)
odd_path=$(lp INBOX)
odd_path=${odd_path%/INBOX}/${ODD//$SEP//}
[ "$(lp INBOX)" = "$GD_MAIL" ] && odd_path=$GD_MAIL/.${ODD//$SEP/.}
mkdir -p "$odd_path"/{cur,new,tmp}
"$DC_PYTHON" - "$odd_path/cur" <<'PY'
import os, sys
d = sys.argv[1]
hdr = b"From: odd@example.test\nTo: alice@example.test\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n"
msgs = {
    "nul": hdr + b"Subject: nul bytes\nMessage-ID: <nul@odd>\n\nbefore\x00after\n",
    "noid": hdr + b"Subject: no message-id\n\nnothing to pair by\n",
    "twin1": hdr + b"Subject: twin one\nMessage-ID: <twin@odd>\n\nfirst body\n",
    "twin2": hdr + b"Subject: twin two\nMessage-ID: <twin@odd>\n\nsecond, longer body\n",
    "cr": hdr + b"Subject: bare cr\nMessage-ID: <cr@odd>\n\nline one\rstill one\n",
    "eight": hdr + b"Subject: caf\xc3\xa9 8-bit\nMessage-ID: <eight@odd>\n\nbody\n",
    "empty": b"",
}
for i, (name, data) in enumerate(msgs.items()):
    p = os.path.join(d, "17000000%02d.%s.odd:2,S" % (i, name))
    with open(p, "wb") as f:
        f.write(data)
    os.utime(p, (1700000000 + i, 1700000000 + i))
PY
local_odd() { find "$odd_path/cur" "$odd_path/new" -type f | wc -l; }
sync_ok "odd messages written here"
check_eq "... all 7 files still here" 7 "$(local_odd)"
n_odd=$(ic count "$ODD")
check "... the server took at least the 5 ordinary ones (took $n_odd)" test "$n_odd" -ge 5
printf '%s\n' "$OUT" | grep -i 'refused\|warning' | sed 's/^/#   /'
if [ "$SERVER" = cyrus ]; then
	# Cyrus' default munge8bit turns raw 8-bit header bytes into 'X'.
	check_contains "... the rewritten 8-bit header is said, with the setting" \
		"munge8bit: no" "$OUT"
else
	check_eq "... no header said rewritten" "" "$(grep 'rewrote the 8-bit' <<<"$OUT")"
fi
sync_ok "the next run"
check_eq "... retries nothing the server refused" "" "$(grep -i 'refused' <<<"$OUT")"
check_eq "... uploads nothing twice" "$n_odd" "$(ic count "$ODD")"
reset_uidvalidity "$ODD"
sync_ok "odd messages after a UIDVALIDITY reset"
check_eq "... no local duplicate" 7 "$(local_odd)"
check_eq "... none on the server either" "$n_odd" "$(ic count "$ODD")"
sync_ok "the next run"
check_eq "... still 7 here" 7 "$(local_odd)"
rm -rf "$odd_path"
ic delete "$ODD"
sync_ok "the odd folder deleted on both sides"

# -------------------------------------------------------------- flags
mapfile -t U < <(ic uids INBOX)
ic store INBOX "${U[0]}" '+\Flagged'
ic store INBOX "${U[1]}" '-\Seen'
ic store INBOX "${U[2]}" '+\Seen \Answered'
sync_ok "flags changed on the server"
compare_all "flags changed on the server"

f=$(local_file INBOX 4)
base=${f##*/}
mv "$f" "$(lp INBOX)/cur/${base%%:2,*}:2,FS"
sync_ok "a flag changed here"
compare_all "a flag changed here"

mapfile -t W < <(ic uids "$WORK")
ic store "$WORK" "${W[0]}" '+\Answered'
f=$(local_file "$WORK" 3)
base=${f##*/}
mv "$f" "$(lp "$WORK")/cur/${base%%:2,*}:2,FS"
sync_ok "flags changed on both sides"
compare_all "flags changed on both sides"

# -------------------------------------------------------------- deletions
ic expunge INBOX "${U[5]}"
sync_ok "a deletion on the server"
check_eq "... the message is gone here" 11 "$(find "$(lp INBOX)"/cur "$(lp INBOX)"/new -type f | wc -l)"
compare_all "a deletion on the server"

rm "$(local_file "$WORK" 1)"
sync_ok "a deletion here"
check_eq "... the server folder lost it" 5 "$(ic count "$WORK")"
compare_all "a deletion here"

# -------------------------------------------------------------- uploads
gen 3 105 "$GD_DIR/g5"
n=0
for f in "$GD_DIR"/g5/*.eml; do
	n=$((n + 1))
	touch -d '2024-03-0'"$n"' 10:00:00' "$f"
	cp -p "$f" "$(lp INBOX)/tmp/up$n"
	mv "$(lp INBOX)/tmp/up$n" "$(lp INBOX)/new/up$n"
done
sync_ok "three messages written here"
check_eq "... the server has them" 14 "$(ic count INBOX)"
compare_all "uploads"

gen 2 106 "$GD_DIR/g6"
for f in "$GD_DIR"/g6/*.eml; do ic append "$SUB" "$f" '\Flagged'; done
sync_ok "new mail on the server"
compare_all "new mail on the server"

# -------------------------------------------------------------- moves
before=$(all_ids)
f=$(local_file INBOX 2)
mv "$f" "$(lp "$WORK")/cur/"
sync_ok "a message moved here"
check_eq "... it left INBOX on the server" 13 "$(ic count INBOX)"
check_eq "... and is in Work" 6 "$(ic count "$WORK")"
compare_all "a move here"
d=$(diff <(printf '%s\n' "$before") <(all_ids) | grep '^[<>]' | head -5)
check_eq "... every message still once on the server" "" "$d"

mapfile -t U < <(ic uids INBOX)
ic move INBOX "${U[0]}" "$SUB"
sync_ok "a message moved on the server"
compare_all "a move on the server"
same_ids "... every message once here, as on the server"

# -------------------------------------------------------------- folders
# A folder made here: next to the others (under the server's prefix).
NEWL=$(sf Projects)
newl_display=${NEWL//$SEP//}
inbox_path=$(lp INBOX)
if [ "$inbox_path" = "$GD_MAIL" ]; then
	newl_path=$GD_MAIL/.${newl_display//\//.}
else
	newl_path=$GD_MAIL/$newl_display
fi
mkdir -p "$newl_path"/{cur,new,tmp}
cp -p "$GD_DIR/g6/000001.eml" "$newl_path/cur/p1:2,S"
sync_ok "a folder made here"
check_eq "... the server has it, with its message" 1 "$(ic count "$NEWL" 2>/dev/null)"
compare_all "a folder made here"

NEWS=$(sf Archive2)
ic create "$NEWS"
ic append "$NEWS" "$GD_DIR/g6/000002.eml" '\Seen'
sync_ok "a folder made on the server"
compare_all "a folder made on the server"

news_path=$(lp "$NEWS")
ic delete "$NEWS"
sync_ok "a folder deleted on the server"
check "... its directory here is gone" test -n "$news_path" -a ! -d "$news_path"

rm -rf "$newl_path"
sync_ok "a folder deleted here"
check "... deleted on the server too" bash -c '! grep -qxF "$1" <<<"$2"' _ "$NEWL" "$(ic list)"
compare_all "folder deletions"

# -------------------------------------------------------------- UIDVALIDITY
uv=$(ic uidvalidity "$SUB")
reset_uidvalidity "$SUB"
check "the folder has a new UIDVALIDITY" test "$uv" != "$(ic uidvalidity "$SUB")"
sync_ok "after a UIDVALIDITY reset"
compare_all "after a UIDVALIDITY reset"
same_ids "... every message once here, as on the server"

# -------------------------------------------------------------- kill -9
BULK=$(sf Bulk)
ic create "$BULK"
gen 150 107 "$GD_DIR/g7"
for f in "$GD_DIR"/g7/*.eml; do ic append "$BULK" "$f"; done
"$GMAILDIR_BIN" -c "$GD_CONF" sync >/dev/null 2>&1 &
pid=$!
sleep 0.4
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
refresh_list
sync_ok "the sync after kill -9"
compare_all "after kill -9 mid-download"
same_ids "... every message once here, as on the server"

# -------------------------------------------------------------- daemon
trap_chain gd_daemon_stop
gd_daemon_start -vv
check "daemon: its first sync is done" wait_for 30 grep -qs "first sync done" "$GD_DIR/daemon.log"
sleep 1
n0=$(find "$(lp INBOX)"/cur "$(lp INBOX)"/new -type f | wc -l)
ic append INBOX "$GD_DIR/g7/000001.eml"
check "daemon: new mail on the server arrives here (<= 20 s)" wait_for 20 bash -c \
	'[ "$(find "$1"/cur "$1"/new -type f | wc -l)" -gt "$2" ]' _ "$(lp INBOX)" "$n0"
s0=$(ic count "$WORK")
cp -p "$GD_DIR/g7/000002.eml" "$(lp "$WORK")/tmp/d1"
mv "$(lp "$WORK")/tmp/d1" "$(lp "$WORK")/new/d1"
check "daemon: a message written here reaches the server (<= 20 s)" wait_for 20 bash -c \
	'[ "$(python3 tests/lib/imapctl.py count "$1")" -gt "$2" ]' _ "$WORK" "$s0"
srv_restart
check "the server restarted" bash -c '"$1" tests/lib/imapctl.py count INBOX >/dev/null' _ "$DC_PYTHON"
n0=$(find "$(lp INBOX)"/cur "$(lp INBOX)"/new -type f | wc -l)
ic append INBOX "$GD_DIR/g7/000003.eml"
check "daemon: after the server's restart, new mail still arrives (<= 60 s)" wait_for 60 bash -c \
	'[ "$(find "$1"/cur "$1"/new -type f | wc -l)" -gt "$2" ]' _ "$(lp INBOX)" "$n0"
gd_daemon_stop
sync_ok "a sync after the daemon"
compare_all "after the daemon"
same_ids "... every message once here, as on the server"

# -------------------------------------------------------------- renames
# inodes DIR: "inode name" of every message file below DIR (children too).
inodes() { find "$1" -path '*/cur/*' -type f -printf '%i %f\n' -o -path '*/new/*' -type f -printf '%i %f\n' | LC_ALL=C sort; }
# no_transfer OUT FOLDER: the summary line of FOLDER shows no transfer.
no_transfer() {
	! grep -E "/$2: [1-9][0-9]* down|/$2: .* [1-9][0-9]* up" <<<"$1" >/dev/null
}
BIG=$(sf Big)
ic create "$BIG"
gen 500 108 "$GD_DIR/g8"
ic appendmany "$BIG" "$GD_DIR/g8"
sync_ok "a 500-message folder"
check_eq "... downloaded" 500 "$(find "$(lp "$BIG")"/cur "$(lp "$BIG")"/new -type f | wc -l)"

# On the server: Work (with its child Work/Sub) becomes Jobs, Big Huge.
JOBS=$(sf Jobs) HUGE=$(sf Huge)
before_work=$(inodes "$(lp "$WORK")")
before_sub=$(inodes "$(lp "$SUB")")
before_big=$(inodes "$(lp "$BIG")")
ic rename "$WORK" "$JOBS"
ic rename "$BIG" "$HUGE"
sync_ok "folders renamed on the server"
check_contains "... said" "renamed on the server to '${JOBS//$SEP//}'" "$OUT"
check "... no message body downloaded" no_transfer "$OUT" "${JOBS//$SEP//}"
check "... none for the 500-message folder" no_transfer "$OUT" "${HUGE//$SEP//}"
check_eq "... the same files, moved (inodes kept)" "$before_work" "$(inodes "$(lp "$JOBS")")"
check_eq "... the child moved with it" "$before_sub" "$(inodes "$(lp "$JOBS$SEP"Sub)")"
check_eq "... the 500 moved" "$before_big" "$(inodes "$(lp "$HUGE")")"
check "... the old directories are gone" test ! -e "$GD_MAIL/${WORK//$SEP//}" -a ! -e "$GD_MAIL/${BIG//$SEP//}"
compare_all "after renames on the server"
same_ids "... every message once here, as on the server"

# Here: Jobs becomes Tasks (its child with it), Huge becomes Vast.
TASKS=$(sf Tasks) VAST=$(sf Vast)
before_n=$(ic count "$HUGE")
jobs_path=$(lp "$JOBS") huge_path=$(lp "$HUGE")
mv "$jobs_path" "${jobs_path%/*}/Tasks"
mv "$huge_path" "${huge_path%/*}/Vast"
sync_ok "folders renamed here"
check_contains "... said" "renamed here to '${TASKS//$SEP//}': renamed on the server too" "$OUT"
check "... the server has Tasks and its child, not Jobs" bash -c \
	'l=$("$1" tests/lib/imapctl.py list); grep -qxF "$2" <<<"$l" && grep -qxF "$2$4Sub" <<<"$l" && ! grep -qxF "$3" <<<"$l"' \
	_ "$DC_PYTHON" "$TASKS" "$JOBS" "$SEP"
check_eq "... the 500 are in Vast on the server, not uploaded again" "$before_n" "$(ic count "$VAST")"
check "... nothing uploaded" no_transfer "$OUT" "${VAST//$SEP//}"
sync_ok "the next run"
compare_all "after renames here"
same_ids "... every message once here, as on the server"
tap_done
