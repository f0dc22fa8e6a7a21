# Helpers for running gmaildir against the harness Dovecot: source after
# tests/lib/dovecot.sh and dc_start.
#
#   gd_setup [NAME] [EXTRA_YAML]   writes $GD_CONF for user $DC_USER (implicit
#                                  TLS, harness CA), maildir $GD_MAIL, state
#                                  $GD_STATE; EXTRA_YAML lines go into the
#                                  account (indented by 4 spaces)
#   gd [ARGS...]                   runs gmaildir -c $GD_CONF ARGS
#   gd_compare FOLDER [LOCALPATH]  ok if the server folder and the Maildir
#                                  hold the same messages, byte-identical,
#                                  once each, with the same flags and mtimes
#   gd_setup_gmail [EXTRA_YAML]   the same for the Gmail fixture's account
#   gd_fresh [EXTRA_YAML]          gd_reset_server, then gd_setup test
#                                  EXTRA_YAML: an empty server account, a
#                                  new Maildir and state
#   gd_sync_ok DESC [ARGS...]      gd sync ARGS, checked to exit 0 (a TAP
#                                  line; needs tap.sh); its output in $OUT,
#                                  its status in $RC
#   gd_load_uids FOLDER            the server folder's UIDs into the array
#                                  UIDS (UIDS[1] = first; UIDS[0] is 0)
#   gd_local_mv FOLDER UID SUB SUFFIX   a mail reader's rename of UID's file
#                                  to SUB/<key>SUFFIX (SUFFIX "" or
#                                  ":2,<flags>")
#   gd_local_rm FOLDER UID         a mail reader deletes UID's file
#   gd_has_uid FOLDER UID...       the server folder holds every UID
#   gd_no_uid FOLDER UID...        the server folder holds none of the UIDs
#   gd_msg_files MSGID             every local file of the Gmail message
#                                  MSGID (X-GM-MSGID), one path a line
#   wait_for SECONDS CMD...        runs CMD every 0.1 s until it succeeds;
#                                  fails if it never did within SECONDS
#   gd_daemon_start [ARGS...]      starts gmaildir -c $GD_CONF ARGS daemon in
#                                  the background, output appended to
#                                  $GD_DIR/daemon.log, its pid in $DPID
#   gd_daemon_stop                 SIGTERM to $DPID (if set), waits for it,
#                                  clears DPID; always 0. A test that starts
#                                  the daemon calls it first in its EXIT
#                                  trap: trap 'gd_daemon_stop; _gd_cleanup;
#                                  dc_cleanup' EXIT
#   gd_check_term_fast WHAT        SIGTERM to $DPID; checks exit 0 within 2 s
#   ms_since T0                    ms since T0 (date +%s%N)
# (more helpers, each documented where it is defined, below)

GD_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/trap.sh
source "$GD_LIB_DIR/trap.sh"
GMAILDIR_BIN=${GMAILDIR_BIN:-$GD_LIB_DIR/../../build/gmaildir}
export TZ=UTC

gd_setup() {
	local name=${1:-test} extra=${2:-}
	GD_DIR=$(mktemp -d /tmp/gdt.XXXXXX)
	GD_CONF=$GD_DIR/config.yaml
	GD_MAIL=$GD_DIR/Mail
	GD_STATE=$GD_DIR/state
	GD_ACCOUNT=$name
	{
		echo "accounts:"
		echo "  - name: $name"
		echo "    host: 127.0.0.1"
		echo "    port: $DC_PORT_IMAPS"
		echo "    tls: implicit"
		echo "    ca_file: $DC_CA"
		echo "    user: $DC_USER"
		echo "    password: \"$DC_PASS\""
		echo "    maildir: $GD_MAIL"
		echo "    state_dir: $GD_STATE"
		[ -n "$extra" ] && printf '%s\n' "$extra" | sed 's/^/    /'
	} >"$GD_CONF"
	chmod 600 "$GD_CONF"
	_gd_chain_trap
}

# gd_setup_gmail [EXTRA_YAML]: as gd_setup, for the account of the Gmail
# fixture (tests/gmail/fixture.sh, after gm_start): provider gmail, its
# port and CA; its password unless EXTRA_YAML gives the credentials itself
# (a "password..." or "auth:" line).
gd_setup_gmail() {
	local extra=${1:-}
	GD_DIR=$(mktemp -d /tmp/gdt.XXXXXX)
	GD_CONF=$GD_DIR/config.yaml GD_MAIL=$GD_DIR/Mail GD_STATE=$GD_DIR/state GD_ACCOUNT=gm
	{
		echo "accounts:"
		echo "  - name: gm"
		echo "    provider: gmail"
		echo "    host: 127.0.0.1"
		echo "    port: $GM_PORT"
		echo "    ca_file: $GM_CA"
		echo "    user: $GM_USER"
		echo "    maildir: $GD_MAIL"
		echo "    state_dir: $GD_STATE"
		grep -qE '^(password|auth:)' <<<"$extra" || echo "    password: \"$GM_PASS\""
		[ -n "$extra" ] && printf '%s\n' "$extra" | sed 's/^/    /'
	} >"$GD_CONF"
	chmod 600 "$GD_CONF"
	_gd_chain_trap
}

GD_DIRS=()

_gd_cleanup() {
	local rc=$?
	[ ${#GD_DIRS[@]} -eq 0 ] || rm -rf "${GD_DIRS[@]}"
	return "$rc"
}

# Adds $GD_DIR to the dirs _gd_cleanup removes, and _gd_cleanup to the EXIT
# trap, after whatever is there already (tests/lib/trap.sh).
_gd_chain_trap() {
	GD_DIRS+=("$GD_DIR")
	trap_chain _gd_cleanup
}

gd() {
	timeout -k 5 300 "$GMAILDIR_BIN" -c "$GD_CONF" "$@"
}

# gd_local_path FOLDER: the Maildir of a server folder.
gd_local_path() {
	echo "$GD_MAIL/$1"
}

gd_compare() {
	local folder=$1 path=${2:-$GD_MAIL/$1} dump
	dump=$(mktemp "$GD_DIR/dump.XXXXXX")
	TZ=UTC dc_doveadm -f pager fetch -u "$DC_USER" "uid flags date.received text" \
		mailbox "$folder" all >"$dump" || return 1
	# GD_COMPARE_NO_MTIME=1: files another program wrote keep their own mtimes.
	# GD_COMPARE_TOOL_HEADERS=1: an adopted Maildir of mbsync or OfflineIMAP,
	# whose files carry the tool's own header fields.
	python3 "$GD_LIB_DIR/compare.py" "$dump" "$path" ${GD_COMPARE_NO_MTIME:+--quiet} \
		${GD_COMPARE_NO_MTIME:---mtime} ${GD_COMPARE_TOOL_HEADERS:+--tool-headers}
}

# gd_state SQL: runs a query on the account's state DB.
gd_state() {
	sqlite3 "$GD_STATE/state.db" "$1"
}

# ------------------------------------------------- two-way helpers (additions)

# gd_pairs_dump: the whole pairs table, in a stable order.
gd_pairs_dump() {
	gd_state 'select * from pairs order by folder_id, uid'
}

# gd_snapshot: everything a sync could change, as text: every path under
# $GD_MAIL with its size and mtime, the server's folder list with
# "MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ" of each folder (HIGHESTMODSEQ
# moves on any STORE, APPEND or EXPUNGE), and the pairs table. Equal
# snapshots before and after a sync mean it changed nothing anywhere.
gd_snapshot() {
	local f
	echo "== local"
	if [ -d "$GD_MAIL" ]; then
		(cd "$GD_MAIL" && find . -printf '%p %s %T@\n' | LC_ALL=C sort)
	fi
	echo "== server"
	while IFS= read -r f; do
		[ -n "$f" ] && echo "$f: $(dc_status "$DC_USER" "$f" 2>/dev/null)"
	done < <(dc_folders "$DC_USER")
	echo "== pairs"
	[ -f "$GD_STATE/state.db" ] && gd_pairs_dump
	echo "== local_only"
	[ -f "$GD_STATE/state.db" ] && gd_state 'select * from local_only order by folder_id, key'
	return 0
}

# gd_check_idle DESC: one more sync must change nothing (promise 3): it
# exits 0, reports every folder unchanged, and gd_snapshot is the same
# before and after. Prints TAP lines (needs tap.sh).
gd_check_idle() {
	local desc=$1 before after out rc busy
	before=$(gd_snapshot)
	out=$(gd sync 2>&1)
	rc=$?
	after=$(gd_snapshot)
	check_eq "$desc: the next sync exits 0" 0 "$rc"
	busy=$(printf '%s\n' "$out" | grep -v ': unchanged, ' || true)
	if [ -z "$busy" ]; then
		ok "$desc: the next sync reports every folder unchanged"
	else
		not_ok "$desc: the next sync reports every folder unchanged"
		printf '%s\n' "$busy" | head -10 | sed 's/^/#   /'
	fi
	if [ "$before" = "$after" ]; then
		ok "$desc: the next sync changes no file, no server folder, no pair"
	else
		not_ok "$desc: the next sync changes no file, no server folder, no pair"
		diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -20 | sed 's/^/#   /'
	fi
}

# gd_key FOLDER UID: the local key paired with UID in server folder FOLDER.
gd_key() {
	gd_state "select p.key from pairs p join folders f on f.id = p.folder_id
		where f.remote = '$1' and p.uid = $2"
}

# gd_uid FOLDER KEY: the UID paired with local KEY in server folder FOLDER.
gd_uid() {
	gd_state "select p.uid from pairs p join folders f on f.id = p.folder_id
		where f.remote = '$1' and p.key = '$2'"
}

# gd_file_of_key FOLDER KEY: the path of the message file of KEY in the
# Maildir of FOLDER (new/KEY, cur/KEY or cur/KEY:2,...); fails if none.
# Prints every match, one per line, when there are several.
gd_file_of_key() {
	local d=$GD_MAIL/$1 k=$2 p found=1
	for p in "$d/new/$k" "$d/new/$k:2,"* "$d/cur/$k" "$d/cur/$k:2,"*; do
		[ -f "$p" ] && { echo "$p"; found=0; }
	done
	return "$found"
}

# gd_file FOLDER UID: the path of the file paired with UID.
gd_file() {
	local k
	k=$(gd_key "$1" "$2")
	[ -n "$k" ] || return 1
	gd_file_of_key "$1" "$k"
}

# gd_count_local FOLDER: message files in the Maildir of FOLDER (new + cur).
gd_count_local() {
	find "$GD_MAIL/$1/new" "$GD_MAIL/$1/cur" -maxdepth 1 -type f ! -name '.*' 2>/dev/null |
		wc -l
}

# gd_count_server FOLDER: messages in the server folder.
gd_count_server() {
	dc_status_field "$DC_USER" "$1" messages
}

# gd_same_as_server FOLDER UID FILE: FILE holds exactly the bytes the server
# stores for UID (LF form).
gd_same_as_server() {
	cmp -s <(dc_fetch_stored "$DC_USER" "$1" "$2") "$3"
}

# gd_write_msg PATH SEED [DATE]: writes one generated message (genmail.py,
# 1..3 KB, its own Message-ID) at PATH the way a mail reader delivers: the
# file is made outside the Maildir, given mtime DATE (default 2023-05-06
# 07:08:09 UTC) and renamed into place.
gd_write_msg() {
	local path=$1 seed=$2 date=${3:-2023-05-06 07:08:09} tmp
	tmp=$(mktemp -d "$GD_DIR/msg.XXXXXX") || return 1
	if ! "$DC_PYTHON" "$DC_GENMAIL" --count 1 --seed "$seed" --min-size 1K --max-size 3K \
		--to "$DC_USER@example.test" --to-name "$DC_USER" --out "$tmp" >/dev/null; then
		rm -rf "$tmp"
		return 1
	fi
	chmod 600 "$tmp/000001.eml"
	touch -d "$date" "$tmp/000001.eml"
	mv "$tmp/000001.eml" "$path"
	local rc=$?
	rm -rf "$tmp"
	return "$rc"
}

# gd_reset_server: empties the harness account: every message of the
# auto-created folders (INBOX Sent Drafts Trash Junk Archive) is expunged,
# every other folder deleted. For scripts that run several scenarios on one
# Dovecot, each with a fresh gd_setup.
gd_reset_server() {
	local f
	while IFS= read -r f; do
		case $f in
		'') ;;
		INBOX | Sent | Drafts | Trash | Junk | Archive)
			dc_expunge "$DC_USER" "$f" 1:* >/dev/null 2>&1 || true
			;;
		*) dc_rmfolder "$DC_USER" "$f" >/dev/null 2>&1 || true ;;
		esac
	done < <(dc_folders "$DC_USER" | LC_ALL=C sort -r)
}

# gd_server_ids FOLDER / gd_local_ids FOLDER: sorted Message-IDs, one per
# message ("-" for none), duplicates kept.
gd_server_ids() {
	local dump
	dump=$(mktemp "$GD_DIR/dump.XXXXXX")
	# With one field the pager format has no record separators: ask for two.
	dc_doveadm -f pager fetch -u "$DC_USER" "uid text" mailbox "$1" all >"$dump" || return 1
	python3 "$GD_LIB_DIR/msgids.py" dump "$dump"
}

gd_local_ids() {
	python3 "$GD_LIB_DIR/msgids.py" maildir "$GD_MAIL/$1"
}

# gd_write_local FOLDER SUB NAME MESSAGE-ID [BODY]: a message written into
# FOLDER's SUB (new or cur) as a mail reader would: tmp/ then rename.
gd_write_local() {
	local dir=$GD_MAIL/$1
	mkdir -p "$dir/tmp" "$dir/new" "$dir/cur"
	{
		printf 'From: reader@example.test\nTo: you@example.test\n'
		printf 'Subject: written locally %s\n' "$3"
		[ "$4" = "-" ] || printf 'Message-ID: %s\n' "$4"
		printf 'Date: Mon, 2 Nov 2026 10:00:00 +0000\n\n%s\n' "${5:-local body of $3}"
	} >"$dir/tmp/$3"
	mv "$dir/tmp/$3" "$dir/$2/$3"
}

# ------------------------------------------------- scenario helpers (two-way)

# gd_fresh [EXTRA_YAML]: an empty server account, a new Maildir and state.
gd_fresh() {
	gd_reset_server
	gd_setup test "${1:-}"
}

# gd_sync_ok DESC [ARGS...]: a sync that must exit 0; its output in $OUT, its
# exit status in $RC. Prints a TAP line (needs tap.sh).
gd_sync_ok() {
	local desc=$1
	shift
	OUT=$(gd sync "$@" 2>&1)
	RC=$?
	check_eq "$desc: sync exits 0" 0 "$RC"
	[ "$RC" -eq 0 ] || printf '%s\n' "$OUT" | head -10 | sed 's/^/#   /'
}

# gd_load_uids FOLDER: the server folder's UIDs into the array UIDS
# (UIDS[1] = first).
gd_load_uids() {
	# shellcheck disable=SC2034 # UIDS is for the caller
	mapfile -t UIDS < <(echo 0; dc_uids "$DC_USER" "$1")
}

# gd_local_mv FOLDER UID SUBDIR SUFFIX: a mail reader's rename of UID's file
# to SUBDIR/<key>SUFFIX (SUFFIX "" or ":2,<flags>").
gd_local_mv() {
	local f k
	f=$(gd_file "$1" "$2") || { diag "gd_local_mv: no file for $1 UID $2"; return 1; }
	k=$(gd_key "$1" "$2")
	mv "$f" "$GD_MAIL/$1/$3/$k$4"
}

# gd_local_rm FOLDER UID: a mail reader deletes UID's file.
gd_local_rm() {
	local f
	f=$(gd_file "$1" "$2") || { diag "gd_local_rm: no file for $1 UID $2"; return 1; }
	rm -f "$f"
}

# gd_has_uid FOLDER UID...: the server folder holds every UID; gd_no_uid
# FOLDER UID...: it holds none of them.
gd_has_uid() {
	local all u
	all=$(dc_uids "$DC_USER" "$1") || return 1
	shift
	for u in "$@"; do grep -qx "$u" <<<"$all" || return 1; done
}

gd_no_uid() {
	local all u
	all=$(dc_uids "$DC_USER" "$1") || return 1
	shift
	for u in "$@"; do grep -qx "$u" <<<"$all" && return 1; done
	return 0
}

# gd_msg_files MSGID: every local file of the Gmail message MSGID (its
# X-GM-MSGID in the pairs), one path a line: its copy in each label folder.
gd_msg_files() {
	gd_state "select f.local_path || char(9) || p.key from pairs p
		join folders f on f.id = p.folder_id where p.gm_msgid = $1" |
		while IFS=$'\t' read -r dir key; do
			ls "$GD_MAIL/$dir"/new/"$key" "$GD_MAIL/$dir"/cur/"$key":2,* 2>/dev/null
		done
}

# ------------------------------------------------------------ the daemon

# wait_for SECONDS CMD...: polls CMD every 0.1 s; true if it became true.
wait_for() {
	local limit=$(($1 * 10)) i=0
	shift
	while [ $i -lt $limit ]; do
		"$@" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

DPID=

# gd_daemon_start [ARGS...]: gmaildir -c $GD_CONF ARGS daemon, in the
# background; its pid in DPID (for kill -HUP, kill -0, the lock's owner).
gd_daemon_start() {
	"$GMAILDIR_BIN" -c "$GD_CONF" "$@" daemon >>"$GD_DIR/daemon.log" 2>&1 &
	DPID=$!
}

# ms_since T0: milliseconds since T0 (a `date +%s%N`).
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# gd_check_term_fast WHAT: SIGTERM to the daemon in DPID, then two checks:
# it exits 0, and within 2 s (what a laptop's shutdown waits for).
gd_check_term_fast() {
	local t0 rc ms
	t0=$(date +%s%N)
	kill -TERM "$DPID"
	wait "$DPID"
	rc=$?
	ms=$(ms_since "$t0")
	DPID=
	check_eq "SIGTERM $1: exit 0" 0 "$rc"
	check "... within 2 s (${ms} ms)" test "$ms" -lt 2000
}

# gd_daemon_stop: stops the daemon gd_daemon_start started, if it runs.
# Stopped before _gd_cleanup removes its Maildir and dc_cleanup its server.
gd_daemon_stop() {
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=
}
