#!/usr/bin/env bash
# gmaildir against mbsync (isync), side by side on one throwaway Dovecot.
#
# A benchmark, not a test: it prints a table (also saved to
# build/bench-results.txt, raw timings in build/bench-raw.tsv) and exits 0
# whatever the timings; it exits 1 only when something is broken (a sync
# fails, the two tools end up with different message counts).
#
#   tests/bench/run.sh                 full: ~10,000 msgs / ~250 MB, 100,000 small
#   BENCH_QUICK=1 tests/bench/run.sh   2,000 / 20,000 messages, 1 round
#   BENCH_ROUNDS=N                     rounds of every timed scenario
#   GMAILDIR_BIN=path                  the binary to measure (build/gmaildir)
#   BENCH_OUT=file                     where the table goes
#
# Scenarios (each tool syncs into its own Maildir and state; the order of the
# two alternates from round to round; medians are reported):
#   A  initial download of the 10k corpus of alice (4 folders + the empty
#      auto-created ones), a fresh Maildir each round
#   B  no-change re-sync at 10k (alice) and at 100k small messages (bob)
#   C  re-sync after \Flagged was added server-side to 1% of alice's messages
#   D  re-sync after 1% of the local files were marked read (renamed to
#      cur/NAME:2,...S), in each tool's own Maildir, the same messages
#   E  peak RSS (/usr/bin/time %M) of every run; and one more download of
#      each tool, sampled, to split its peak into own memory (RssAnon) and
#      shared library pages (RssFile)
#   F  reference: cp -a of the server's own Maildir directory, plain, with one
#      syncfs, and with an fsync of every file
#   C's floor: after a fresh 1% change, tests/tools/floor_probe (gmaildir's
#      TLS and IMAP layer, nothing else: LOGIN, LIST, SELECT + UID FETCH
#      CHANGEDSINCE per folder), what any client must wait for
# mbsync gets a full two-way channel (Patterns *, Create/Expunge Both, Sync
# All, SyncState *, CopyArrivalDate yes since gmaildir keeps INTERNALDATE as
# mtime too), trusts the system store plus the harness CA as gmaildir does
# with ca_file (a foreign CA is checked to make it fail), and runs with its
# default FSync yes; gmaildir runs with its defaults.
#
#   BENCH_PROFILE=1   afterwards, one no-change re-sync of each tool at each
#                     size under strace -f -c, perf stat (if installed) and
#                     with its IMAP trace (gmaildir -vv, mbsync -Dn): files in
#                     build/bench-profile/, a summary after the table
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
export LC_ALL=C TZ=UTC
source tests/lib/dovecot.sh

GMAILDIR_BIN=${GMAILDIR_BIN:-$ROOT/build/gmaildir}
case $GMAILDIR_BIN in /*) ;; *) GMAILDIR_BIN=$ROOT/$GMAILDIR_BIN ;; esac
BENCH_OUT=${BENCH_OUT:-$ROOT/build/bench-results.txt}
BENCH_RAW=${BENCH_OUT%.txt}
BENCH_RAW=${BENCH_RAW%-results}-raw.tsv
UTIL=$ROOT/tests/bench/benchutil.py
SYNC_TIMEOUT=${BENCH_SYNC_TIMEOUT:-900}

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	N10=2000 N100=20000 ROUNDS_DL=1 ROUNDS=1
else
	N10=10000 N100=100000 ROUNDS_DL=3 ROUNDS=5
fi
if [ -n "${BENCH_ROUNDS:-}" ]; then
	case $BENCH_ROUNDS in
	'' | *[!0-9]* | 0) echo "BENCH_ROUNDS must be a positive number" >&2; exit 2 ;;
	esac
	ROUNDS=$BENCH_ROUNDS ROUNDS_DL=$BENCH_ROUNDS
fi
[ "$ROUNDS" -le 19 ] || ROUNDS=19 # the 1% selections below stay disjoint

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

[ -x "$GMAILDIR_BIN" ] || die "no gmaildir binary at $GMAILDIR_BIN (make, or set GMAILDIR_BIN)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install -y time)"

# ----------------------------------------------------------------- mbsync
HAVE_MB=1
if ! command -v mbsync >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ]; then
		say "installing isync (mbsync)"
		if ! DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q isync >/dev/null 2>&1; then
			timeout 300 apt-get update -q >/dev/null 2>&1
			DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q isync >/dev/null 2>&1
		fi
	fi
	if ! command -v mbsync >/dev/null 2>&1; then
		say "mbsync missing: run  sudo apt-get install -y isync  (mbsync columns skipped)"
		HAVE_MB=0
	fi
fi
# isync 1.4 spells it SSLType, 1.5 renamed it TLSType (the old name stays
# accepted with a warning).
MB_TLS_KEY=SSLType
MB_VERSION="mbsync: not installed"
if [ "$HAVE_MB" = 1 ]; then
	MB_VERSION=$(mbsync --version 2>/dev/null | head -1)
	if grep -q TLSType "$(command -v mbsync)" 2>/dev/null; then MB_TLS_KEY=TLSType; fi
fi

# ----------------------------------------------------------------- setup
W=
CHILD=
# shellcheck disable=SC2317 # run by the EXIT trap
bench_cleanup() {
	local rc=$? _
	trap '' INT TERM HUP
	if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM "$CHILD" 2>/dev/null # timeout: passes it to its process group
		for _ in $(seq 100); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -n "$W" ] && [ -d "$W" ]; then rm -rf "$W"; fi
	dc_cleanup
	return "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# bounded OUT CMD...: CMD under timeout, stdout+stderr to OUT. It runs in the
# background and is waited for, so that Ctrl-C or a TERM gets to the trap at
# once, which stops it: timeout runs CMD in a process group of its own and
# passes the signal on to all of it.
bounded() {
	local out=$1 rc
	shift
	timeout -k 5 "$SYNC_TIMEOUT" "$@" >"$out" 2>&1 </dev/null &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	CHILD=
	return "$rc"
}

T_START=$(now)
W=$(mktemp -d /tmp/gdbench.XXXXXX) || die "mktemp"
META=$W/meta
RAW=$W/raw.tsv
printf 'scenario\ttool\tround\tseconds\trss_kb\n' >"$RAW"
: >"$META"
meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }

say "starting Dovecot"
# shellcheck disable=SC2119 # no options: the default harness
dc_start || die "dc_start failed"
DC_TIMEOUT=300

meta gd_version "$("$GMAILDIR_BIN" --version 2>/dev/null | head -1)"
meta mb_version "$MB_VERSION"
meta dovecot "$(dovecot --version 2>/dev/null | cut -d' ' -f1)"
meta cpus "$(nproc)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
meta quick "${BENCH_QUICK:-0}"
meta rounds "$ROUNDS"
meta rounds_dl "$ROUNDS_DL"

# scaled N: COUNT * TOTAL / FULL, at least 1.
sc() { local n=$(($1 * $2 / $3)); [ "$n" -ge 1 ] || n=1; echo "$n"; }

# populate USER FOLDER COUNT SEED MIN MAX
populate() {
	dc_populate "$@" >/dev/null || die "dc_populate $*"
}

# Flags of a freshly populated folder (UIDs 1..N): 80% read, 1% flagged,
# 4% answered. The 1% server changes of scenario C use UIDs = round (mod 100),
# which never overlaps the initial \Flagged (UIDs = 0 mod 100).
initial_flags() {
	local u=$1 f=$2 n=$3 unread
	dc_add_flags "$u" "$f" "1:$n" '\Seen' || die "flags $f"
	unread=$("$DC_PYTHON" "$UTIL" uidset 1 "$n" 5 0)
	[ -z "$unread" ] || dc_remove_flags "$u" "$f" "$unread" '\Seen' || die "flags $f"
	set -- "$u" "$f" "$n" "$("$DC_PYTHON" "$UTIL" uidset 1 "$n" 100 0)" \
		"$("$DC_PYTHON" "$UTIL" uidset 1 "$n" 25 3)"
	[ -z "$4" ] || dc_add_flags "$1" "$2" "$4" '\Flagged' || die "flags $f"
	[ -z "$5" ] || dc_add_flags "$1" "$2" "$5" '\Answered' || die "flags $f"
}

# The 10k corpus: mostly 2-20 KB, some 20-100 KB, a few 100 KB - 2 MB.
A_FOLDERS=(INBOX Archive Sent Lists/dev)
say "generating the $N10-message corpus (alice)"
t0=$(now)
s=1
for spec in "INBOX 3600 2K 20K" "INBOX 300 20K 100K" "INBOX 100 100K 2M" \
	"Archive 2700 2K 20K" "Archive 200 20K 100K" "Archive 100 100K 2M" \
	"Sent 1200 2K 20K" "Sent 70 20K 100K" "Sent 30 100K 2M" \
	"Lists/dev 1700 1K 8K"; do
	read -r f n min max <<<"$spec"
	populate "$DC_USER" "$f" "$(sc "$n" "$N10" 10000)" "a$s" "$min" "$max"
	s=$((s + 1))
done
for f in "${A_FOLDERS[@]}"; do
	initial_flags "$DC_USER" "$f" "$(dc_status_field "$DC_USER" "$f" messages)"
done
meta gen10 "$(elapsed "$t0" "$(now)")"
say "  done in $(elapsed "$t0" "$(now)") s"

# The 100k corpus: small messages, 1-2 KB, in bob's account.
B_FOLDERS=(INBOX Archive Lists/dev)
say "generating the $N100-message corpus (bob)"
t0=$(now)
s=1
for spec in "INBOX 30000" "Archive 50000" "Lists/dev 20000"; do
	read -r f n <<<"$spec"
	populate "$DC_USER2" "$f" "$(sc "$n" "$N100" 100000)" "b$s" 1K 2K
	s=$((s + 1))
done
for f in "${B_FOLDERS[@]}"; do
	n=$(dc_status_field "$DC_USER2" "$f" messages)
	dc_add_flags "$DC_USER2" "$f" "1:$n" '\Seen' || die "flags $f"
	dc_remove_flags "$DC_USER2" "$f" "$("$DC_PYTHON" "$UTIL" uidset 1 "$n" 10 0)" '\Seen' ||
		die "flags $f"
done
meta gen100 "$(elapsed "$t0" "$(now)")"
say "  done in $(elapsed "$t0" "$(now)") s"

# server_count USER: messages in every folder of USER.
server_count() {
	local f t=0 n
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		# a \Noselect parent (Lists of Lists/dev) has no status
		n=$(dc_status_field "$1" "$f" messages 2>/dev/null) || n=0
		t=$((t + n))
	done < <(dc_folders "$1")
	echo "$t"
}
SRV10=$(server_count "$DC_USER") || die "server count"
SRV100=$(server_count "$DC_USER2") || die "server count"
say "server: $DC_USER $SRV10 messages, $DC_USER2 $SRV100 messages"
meta n10 "$SRV10"
meta n100 "$SRV100"

# ----------------------------------------------------------------- configs
# Each "side" (tool + account) has a directory holding its config, Maildir
# and state: $W/<tool>-<user>/{Mail,state,...}.
gd_conf() { # DIR USER PASS
	{
		echo "accounts:"
		echo "  - name: bench"
		echo "    host: 127.0.0.1"
		echo "    port: $DC_PORT_IMAPS"
		echo "    tls: implicit"
		echo "    ca_file: $DC_CA"
		echo "    user: $2"
		echo "    password: \"$3\""
		echo "    maildir: $1/Mail"
		echo "    state_dir: $1/state"
	} >"$1/config.yaml"
	chmod 600 "$1/config.yaml"
}

# mbsync 1.4 checks only DNS names of the certificate (the harness one has
# DNS:localhost and IP:127.0.0.1), so it connects to "localhost", which must
# resolve to 127.0.0.1 (checked below). Like gmaildir's ca_file, the harness
# CA is trusted besides the system store (SystemCertificates, default yes):
# both tools load the same trust anchors.
mb_conf() { # DIR USER PASS [CAFILE]
	cat >"$1/mbsyncrc" <<EOF
IMAPAccount bench
Host localhost
Port $DC_PORT_IMAPS
$MB_TLS_KEY IMAPS
CertificateFile ${4:-$DC_CA}
User $2
Pass $3
Timeout 120

IMAPStore far
Account bench

MaildirStore near
Path $1/Mail/
Inbox $1/Mail/INBOX
SubFolders Verbatim

Channel bench
Far :far:
Near :near:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
CopyArrivalDate yes
EOF
	chmod 600 "$1/mbsyncrc"
}

# side_reset DIR: an empty Maildir and state.
side_reset() {
	rm -rf "$1/Mail" "$1/state"
	mkdir -p "$1/Mail"
	chmod 700 "$1/Mail"
}

mkdir -p "$W/gd-a" "$W/mb-a" "$W/gd-b" "$W/mb-b"
gd_conf "$W/gd-a" "$DC_USER" "$DC_PASS"
gd_conf "$W/gd-b" "$DC_USER2" "$DC_PASS2"
TOOLS=(gmaildir)
if [ "$HAVE_MB" = 1 ]; then
	mb_conf "$W/mb-a" "$DC_USER" "$DC_PASS"
	mb_conf "$W/mb-b" "$DC_USER2" "$DC_PASS2"
	TOOLS+=(mbsync)
	if ! getent ahostsv4 localhost | grep -q '^127\.0\.0\.1 '; then
		die "localhost does not resolve to 127.0.0.1: mbsync cannot be pointed at the harness"
	fi
	# mbsync must refuse the server without the harness CA (TLS is verified).
	mkdir -p "$W/mb-x"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$W/mb-x/k" -out "$W/mb-x/other-ca.pem" -days 1 -subj "/CN=other" 2>/dev/null
	mb_conf "$W/mb-x" "$DC_USER" "$DC_PASS" "$W/mb-x/other-ca.pem"
	side_reset "$W/mb-x"
	if SYNC_TIMEOUT=30 bounded "$W/mb-x/log" mbsync -c "$W/mb-x/mbsyncrc" -a; then
		die "mbsync accepted the server with a foreign CA: its TLS check is off"
	fi
	rm -rf "$W/mb-x"
fi

# ----------------------------------------------------------------- running
# run_sync SCEN ROUND TOOL SIDE: one timed sync; appends to $RAW.
BROKEN=0
run_sync() {
	local scen=$1 rnd=$2 tool=$3 dir=$4 t0 t1 rc rss
	# mbsync waits a second when a Maildir directory changed within the last
	# second (timestamp granularity): every timed run, of either tool, starts
	# at least 1.1 s after the last change, as a real periodic sync would.
	sleep 1.1
	t0=$(now)
	tool_cmd "$tool" "$dir"
	bounded "$dir/log" /usr/bin/time -f %M -o "$dir/rss" "${CMD[@]}"
	rc=$?
	t1=$(now)
	rss=$(tail -1 "$dir/rss" 2>/dev/null | tr -dc 0-9)
	if [ "$rc" -ne 0 ]; then
		say "ERROR: $tool failed in $scen round $rnd (exit $rc); its output:"
		tail -20 "$dir/log" >&2
		BROKEN=1
		return 1
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$scen" "$tool" "$rnd" "$(elapsed "$t0" "$t1")" "${rss:-0}" >>"$RAW"
	say "  $scen #$rnd $tool: $(elapsed "$t0" "$t1") s, ${rss:-?} KB"
	return 0
}

# tool_cmd TOOL SIDE: sets CMD to the sync command.
tool_cmd() {
	case $1 in
	gmaildir) CMD=("$GMAILDIR_BIN" -c "$2/config.yaml" sync) ;;
	mbsync) CMD=(mbsync -c "$2/mbsyncrc" -a) ;;
	floor) CMD=("$FLOOR" 127.0.0.1 "$DC_PORT_IMAPS" implicit "$DC_CA" "$DC_USER" "$DC_PASS"
		"${A_FOLDERS[@]}") ;;
	esac
}

side_of() { # TOOL USER-TAG
	case $1 in gmaildir) echo "$W/gd-$2" ;; mbsync) echo "$W/mb-$2" ;; esac
}

# order ROUND: the tools in this round's order (alternating).
order() {
	if [ "${#TOOLS[@]}" -eq 1 ] || [ $(($1 % 2)) -eq 1 ]; then
		echo "${TOOLS[@]}"
	else
		echo "${TOOLS[1]} ${TOOLS[0]}"
	fi
}

local_count() { "$DC_PYTHON" "$UTIL" count "$1/Mail"; }

# check_counts TAG EXPECTED: each tool's Maildir holds EXPECTED messages.
check_counts() {
	local t n
	for t in "${TOOLS[@]}"; do
		n=$(local_count "$(side_of "$t" "$1")")
		if [ "$n" != "$2" ]; then
			say "ERROR: $t has $n messages in its Maildir, the server $2"
			BROKEN=1
		fi
	done
}

# sync_all SCEN ROUND TAG: every tool once, in the round's order.
sync_all() {
	local t
	for t in $(order "$2"); do
		run_sync "$1" "$2" "$t" "$(side_of "$t" "$3")" || return 1
	done
}

# settle TAG: an untimed sync of each tool, so that what one tool pushed to
# the server is known to the other before the next round.
settle() {
	local t d
	for t in "${TOOLS[@]}"; do
		d=$(side_of "$t" "$1")
		sleep 1.1
		tool_cmd "$t" "$d"
		if ! bounded "$d/log" "${CMD[@]}"; then
			say "ERROR: settling sync of $t failed"
			tail -20 "$d/log" >&2
			BROKEN=1
		fi
	done
}

# ----------------------------------------------------------------- F: cp -a
SRV_MAILDIR=$DC_DIR/home/$DC_USER/Maildir
[ -d "$SRV_MAILDIR" ] || die "no server Maildir at $SRV_MAILDIR"
meta ref_files "$(find "$SRV_MAILDIR" -type f | wc -l)"
meta ref_bytes "$(find "$SRV_MAILDIR" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')"
say "F: cp -a of the server Maildir ($SRV_MAILDIR)"
tar -cf - -C "$SRV_MAILDIR" . | cat >/dev/null # warm the page cache for everyone
ref_run() { # NAME ROUND CMD...
	local name=$1 rnd=$2 t0 t1
	shift 2
	rm -rf "$W/ref"
	sync
	t0=$(now)
	bounded "$W/ref.log" "$@" || { say "ERROR: reference $name failed"; BROKEN=1; return 1; }
	t1=$(now)
	printf '%s\tref\t%s\t%s\t0\n' "$name" "$rnd" "$(elapsed "$t0" "$t1")" >>"$RAW"
	say "  $name #$rnd: $(elapsed "$t0" "$t1") s"
}
# shellcheck disable=SC2016 # bash -c scripts with their own arguments
for r in $(seq "$ROUNDS_DL"); do
	ref_run ref_cp "$r" cp -a "$SRV_MAILDIR" "$W/ref"
	ref_run ref_cp_syncfs "$r" bash -c 'cp -a "$0" "$1" && sync -f "$1"' "$SRV_MAILDIR" "$W/ref"
	ref_run ref_cp_fsync "$r" bash -c 'cp -a "$0" "$1" && "$2" "$3" fsync-tree "$1"' \
		"$SRV_MAILDIR" "$W/ref" "$DC_PYTHON" "$UTIL"
done
rm -rf "$W/ref"
sync

# ----------------------------------------------------------------- A
say "A: initial download, $SRV10 messages, $ROUNDS_DL round(s)"
for r in $(seq "$ROUNDS_DL"); do
	for t in "${TOOLS[@]}"; do side_reset "$(side_of "$t" a)"; done
	sync
	sync_all dl10 "$r" a || die "initial download failed"
	check_counts a "$SRV10"
done
meta bytes10 "$(find "$W/gd-a/Mail" -type f \( -path '*/cur/*' -o -path '*/new/*' \) -printf '%s\n' |
	awk '{ s += $1 } END { print s + 0 }')"
[ "$BROKEN" = 0 ] || die "the download is broken: no point in going on"
# E: one more download of each tool, sampled, for where its memory goes.
# memory_split TAG: for side TAG (a or b), into meta mem_TAG_TOOL.
memory_split() {
	local t m
	for t in "${TOOLS[@]}"; do
		side_reset "$(side_of "$t" "$1")"
		sync
		sleep 1.1
		tool_cmd "$t" "$(side_of "$t" "$1")"
		m=$(timeout -k 5 "$SYNC_TIMEOUT" "$DC_PYTHON" "$UTIL" memory "${CMD[@]}") ||
			die "memory run of $t"
		[ "${m##* }" = 0 ] || die "$t failed in its sampled download"
		meta "mem_$1_$t" "$m"
		say "  memory of $t: $m (peak KB: VmRSS RssAnon RssFile, exit)"
	done
}
memory_split a
check_counts a "$SRV10"

# ----------------------------------------------------------------- B 10k
say "B: no-change re-sync at $SRV10, $ROUNDS round(s)"
settle a # first re-sync after a download may still do bookkeeping
for r in $(seq "$ROUNDS"); do sync_all noop10 "$r" a; done

# ----------------------------------------------------------------- C
say "C: 1% server-side flag changes, $ROUNDS round(s)"
nflag=0
for r in $(seq "$ROUNDS"); do
	nflag=0
	for f in "${A_FOLDERS[@]}"; do
		n=$(dc_status_field "$DC_USER" "$f" uidnext)
		uids=$("$DC_PYTHON" "$UTIL" uidset 1 $((n - 1)) 100 "$r")
		[ -n "$uids" ] || continue
		nflag=$((nflag + $(tr ',' '\n' <<<"$uids" | wc -l)))
		dc_add_flags "$DC_USER" "$f" "$uids" '\Flagged' || die "dc_add_flags"
	done
	sync_all srvflags "$r" a
done
meta srvflags_n "$nflag msgs"
# The floor: the same change (other UIDs), then only the protocol.
FLOOR=${GMAILDIR_TOOLS:-$ROOT/build/tools}/floor_probe
if [ -x "$FLOOR" ]; then
	mkdir -p "$W/floor"
	for r in $(seq "$ROUNDS"); do
		for f in "${A_FOLDERS[@]}"; do
			n=$(dc_status_field "$DC_USER" "$f" uidnext)
			uids=$("$DC_PYTHON" "$UTIL" uidset 1 $((n - 1)) 100 $((r + 50)))
			[ -z "$uids" ] || dc_add_flags "$DC_USER" "$f" "$uids" '\Flagged' || die "dc_add_flags"
		done
		run_sync srvflags "$r" floor "$W/floor"
	done
	settle a
else
	say "  no $FLOOR (make tests-bin): C's floor skipped"
fi

# ----------------------------------------------------------------- D
say "D: 1% local flag renames (+S) in each Maildir, $ROUNDS round(s)"
settle a
for r in $(seq "$ROUNDS"); do
	msg=""
	for t in "${TOOLS[@]}"; do
		k=$("$DC_PYTHON" "$UTIL" seen "$(side_of "$t" a)/Mail" 20 "$r") || die "renames"
		msg="$msg/$k"
	done
	say "  renamed (${TOOLS[*]}): ${msg#/}"
	sync_all locflags "$r" a
	settle a
done
meta locflags_n "${msg#/} msgs"
check_counts a "$SRV10"

# ----------------------------------------------------------------- B 100k
say "B: $SRV100 small messages (bob): initial download, then $ROUNDS no-change re-sync(s)"
for t in "${TOOLS[@]}"; do side_reset "$(side_of "$t" b)"; done
sync
sync_all dl100 1 b || die "initial download of the 100k corpus failed"
check_counts b "$SRV100"
memory_split b
check_counts b "$SRV100"
meta bytes100 "$(find "$W/gd-b/Mail" -type f \( -path '*/cur/*' -o -path '*/new/*' \) -printf '%s\n' |
	awk '{ s += $1 } END { print s + 0 }')"
settle b
for r in $(seq "$ROUNDS"); do sync_all noop100 "$r" b; done

# ----------------------------------------------------------------- profile
# BENCH_PROFILE=1: where a no-change re-sync spends its time (not timed).
PROF_DIR=$(dirname "$BENCH_OUT")/bench-profile
if [ "${BENCH_PROFILE:-0}" = 1 ] && [ "$BROKEN" = 0 ]; then
	say "profile: one no-change re-sync of each tool under strace / perf / IMAP trace"
	rm -rf "$PROF_DIR"
	mkdir -p "$PROF_DIR"
	have_strace=0 have_perf=0
	command -v strace >/dev/null 2>&1 && have_strace=1
	command -v perf >/dev/null 2>&1 && perf stat -o /dev/null true >/dev/null 2>&1 && have_perf=1
	[ "$have_strace" = 1 ] || say "  strace missing (apt-get install -y strace): no syscall counts"
	[ "$have_perf" = 1 ] || say "  perf missing or not allowed (apt-get install -y linux-perf): no perf stat"
	for tag in a b; do
		for t in "${TOOLS[@]}"; do
			d=$(side_of "$t" "$tag")
			tool_cmd "$t" "$d"
			cmd=("${CMD[@]}")
			case $t in gmaildir) trace=-vv ;; mbsync) trace=-Dn ;; esac
			p=$PROF_DIR/$t-$([ "$tag" = a ] && echo "$N10" || echo "$N100")
			if [ "$have_strace" = 1 ]; then
				sleep 1.1
				bounded /dev/null strace -f -c -o "$p.strace" "${cmd[@]}"
			fi
			if [ "$have_perf" = 1 ]; then
				sleep 1.1
				bounded /dev/null perf stat -o "$p.perf" "${cmd[@]}"
			fi
			sleep 1.1
			# The trace option goes before the command word for both tools.
			bounded "$p.wire" "${cmd[0]}" "$trace" "${cmd[@]:1}"
		done
	done
	# The traces hold no secret (both tools hide the login), but mail
	# headers may show up: keep them next to the table only.
	chmod -R go-rwx "$PROF_DIR"
	meta profile "$PROF_DIR"
fi

# ----------------------------------------------------------------- table
dc_log_check >/dev/null 2>&1 || meta note1 "the Dovecot log has errors (see a rerun with DC_MAIL_DEBUG)"
meta note2 "C/D share one server account: in D the second tool of a round also sees the first one's +S on the server"
meta total "$(elapsed "$T_START" "$(now)")"
meta note3 "load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews timings)"
mkdir -p "$(dirname "$BENCH_OUT")"
cp "$RAW" "$BENCH_RAW"
echo
"$DC_PYTHON" "$UTIL" table "$RAW" "$META" "$BENCH_OUT" || BROKEN=1
echo
echo "(saved to $BENCH_OUT; raw timings in $BENCH_RAW)"
[ "$BROKEN" = 0 ] || { say "something was broken: see the errors above"; exit 1; }
exit 0
