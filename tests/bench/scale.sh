#!/usr/bin/env bash
# gmaildir against mbsync (isync) on one big folder: BENCH_SCALE_MSGS small
# messages (1-2 KB) in INBOX of a throwaway Dovecot on loopback.
#
# A benchmark, not a test: it prints a table (also appended to BENCH_OUT if
# set) and exits 0 whatever the timings; it exits 1 only when the setup or
# a sync broke (a sync fails, a Maildir ends up with the wrong count).
#
#   BENCH_SCALE_MSGS=500000   messages in the folder
#   BENCH_SCALE_ROUNDS=3      rounds of the re-sync rows (median reported;
#                             the download is done once)
#   GMAILDIR_BIN=path         the binary to measure (build/gmaildir)
#   GMAILDIR_TOOLS=dir        where floor_probe is (build/tools)
#
# Rows (time and peak RSS of each tool; ratio = gmaildir / mbsync):
#   initial download       a fresh Maildir and state
#   no-change re-sync
#   1% flags on server     \Flagged added server-side to 1% of the messages,
#                          each round after a quiet spell (an untimed sync)
#   1% flags local         1% of the local files marked read (cur/...:2,S),
#                          in each tool's own Maildir, the same messages
#   floor                  after a fresh 1% server change, floor_probe: TLS,
#                          LOGIN, SELECT and UID FETCH CHANGEDSINCE, nothing
#                          else (what any client must wait for)
#   state size             the tool's own sync state on disk, per message
#                          (gmaildir: STATE/*.db*; mbsync: .mbsyncstate*)
# The tools are configured as in tests/bench/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
export LC_ALL=C TZ=UTC
source tests/lib/dovecot.sh

GMAILDIR_BIN=${GMAILDIR_BIN:-$ROOT/build/gmaildir}
case $GMAILDIR_BIN in /*) ;; *) GMAILDIR_BIN=$ROOT/$GMAILDIR_BIN ;; esac
FLOOR=${GMAILDIR_TOOLS:-$ROOT/build/tools}/floor_probe
UTIL=$ROOT/tests/bench/benchutil.py
SYNC_TIMEOUT=${BENCH_SYNC_TIMEOUT:-3600}
MSGS=${BENCH_SCALE_MSGS:-500000}
ROUNDS=${BENCH_SCALE_ROUNDS:-3}
for v in MSGS ROUNDS; do
	case ${!v} in '' | *[!0-9]*) echo "BENCH_SCALE_$v must be a number" >&2; exit 2 ;; esac
done
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 19 ]; then echo "BENCH_SCALE_ROUNDS: 1..19" >&2; exit 2; fi
[ "$MSGS" -ge 100 ] || { echo "BENCH_SCALE_MSGS: at least 100" >&2; exit 2; }

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

[ -x "$GMAILDIR_BIN" ] || die "no gmaildir binary at $GMAILDIR_BIN (make, or set GMAILDIR_BIN)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install -y time)"
HAVE_MB=1
MB_TLS_KEY=SSLType
if ! command -v mbsync >/dev/null 2>&1; then
	say "mbsync missing: run  sudo apt-get install -y isync  (mbsync columns skipped)"
	HAVE_MB=0
elif grep -q TLSType "$(command -v mbsync)" 2>/dev/null; then
	MB_TLS_KEY=TLSType
fi

# ----------------------------------------------------------------- setup
W=
CHILD=
# shellcheck disable=SC2317 # run by the EXIT trap
scale_cleanup() {
	local rc=$? _
	trap '' INT TERM HUP
	if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM "$CHILD" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -n "$W" ] && [ -d "$W" ]; then rm -rf "$W"; fi
	dc_cleanup
	return "$rc"
}
trap scale_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# bounded OUT CMD...: CMD under timeout, output to OUT (as in run.sh).
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
W=$(mktemp -d /tmp/gdscale.XXXXXX) || die "mktemp"
RAW=$W/raw.tsv
: >"$RAW"

say "starting Dovecot"
# 500,000 messages: with Dovecot's default 256 MB per process the server
# closed the connection at the first SELECT (indexing the folder).
dc_start --conf 'default_vsz_limit = 2G' || die "dc_start failed"
DC_TIMEOUT=3600

say "generating $MSGS messages of 1-2 KB in INBOX ($DC_USER)"
t0=$(now)
# In slices: genmail's staging Maildir and doveadm's copy stay small.
left=$MSGS s=1
while [ "$left" -gt 0 ]; do
	k=$((left > 100000 ? 100000 : left))
	gen=$(dc_populate "$DC_USER" INBOX "$k" "s$s" 1K 2K) || die "dc_populate"
	rm -rf "$gen"
	left=$((left - k)) s=$((s + 1))
done
dc_add_flags "$DC_USER" INBOX "1:$MSGS" '\Seen' || die "flags"
# 20% unread, in slices: one UID list of them all is too long an argument.
for ((lo = 1; lo <= MSGS; lo += 20000)); do
	hi=$((lo + 19999 > MSGS ? MSGS : lo + 19999))
	uids=$("$DC_PYTHON" "$UTIL" uidset "$lo" "$hi" 5 0)
	[ -z "$uids" ] || dc_remove_flags "$DC_USER" INBOX "$uids" '\Seen' || die "flags"
done
SRV=$(dc_status_field "$DC_USER" INBOX messages) || die "status"
[ "$SRV" = "$MSGS" ] || die "the server holds $SRV messages, not $MSGS"
# Every other folder the tools will find is one of the empty auto-created.
say "  done in $(elapsed "$t0" "$(now)") s"

gd_conf() { # DIR
	{
		echo "accounts:"
		echo "  - name: bench"
		echo "    host: 127.0.0.1"
		echo "    port: $DC_PORT_IMAPS"
		echo "    tls: implicit"
		echo "    ca_file: $DC_CA"
		echo "    user: $DC_USER"
		echo "    password: \"$DC_PASS\""
		echo "    maildir: $1/Mail"
		echo "    state_dir: $1/state"
	} >"$1/config.yaml"
	chmod 600 "$1/config.yaml"
}
mb_conf() { # DIR
	cat >"$1/mbsyncrc" <<EOF
IMAPAccount bench
Host localhost
Port $DC_PORT_IMAPS
$MB_TLS_KEY IMAPS
CertificateFile $DC_CA
User $DC_USER
Pass $DC_PASS
Timeout 600

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

TOOLS=(gmaildir)
mkdir -p "$W/gd/Mail" "$W/mb/Mail" "$W/floor"
chmod 700 "$W/gd/Mail" "$W/mb/Mail"
gd_conf "$W/gd"
if [ "$HAVE_MB" = 1 ]; then
	getent ahostsv4 localhost | grep -q '^127\.0\.0\.1 ' ||
		die "localhost does not resolve to 127.0.0.1: mbsync cannot be pointed at the harness"
	mb_conf "$W/mb"
	TOOLS+=(mbsync)
fi
side_of() { case $1 in gmaildir) echo "$W/gd" ;; mbsync) echo "$W/mb" ;; floor) echo "$W/floor" ;; esac; }
tool_cmd() { # TOOL
	case $1 in
	gmaildir) CMD=("$GMAILDIR_BIN" -c "$W/gd/config.yaml" sync) ;;
	mbsync) CMD=(mbsync -c "$W/mb/mbsyncrc" -a) ;;
	floor) CMD=("$FLOOR" 127.0.0.1 "$DC_PORT_IMAPS" implicit "$DC_CA" "$DC_USER" "$DC_PASS" INBOX) ;;
	esac
}

# ----------------------------------------------------------------- running
BROKEN=0
# run_sync SCEN ROUND TOOL: one timed sync, its time and peak RSS into $RAW.
run_sync() {
	local scen=$1 rnd=$2 tool=$3 d t0 t1 rss
	d=$(side_of "$tool")
	sleep 1.1 # mbsync's 1 s Maildir timestamp granularity, as in run.sh
	tool_cmd "$tool"
	t0=$(now)
	if ! bounded "$d/log" /usr/bin/time -f %M -o "$d/rss" "${CMD[@]}"; then
		say "ERROR: $tool failed in $scen round $rnd; its output:"
		tail -20 "$d/log" >&2
		BROKEN=1
		return 1
	fi
	t1=$(now)
	rss=$(tail -1 "$d/rss" 2>/dev/null | tr -dc 0-9)
	printf '%s\t%s\t%s\t%s\t%s\n' "$scen" "$tool" "$rnd" "$(elapsed "$t0" "$t1")" "${rss:-0}" >>"$RAW"
	say "  $scen #$rnd $tool: $(elapsed "$t0" "$t1") s, ${rss:-?} KB"
}
order() { # ROUND: the tools, alternating from round to round
	if [ "${#TOOLS[@]}" -eq 1 ] || [ $(($1 % 2)) -eq 1 ]; then
		echo "${TOOLS[@]}"
	else
		echo "${TOOLS[1]} ${TOOLS[0]}"
	fi
}
sync_all() { # SCEN ROUND
	local t
	for t in $(order "$2"); do run_sync "$1" "$2" "$t" || return 1; done
}
settle() { # an untimed sync of each tool
	local t
	for t in "${TOOLS[@]}"; do
		sleep 1.1
		tool_cmd "$t"
		bounded "$(side_of "$t")/log" "${CMD[@]}" || { say "ERROR: settling $t failed"; BROKEN=1; }
	done
}
check_counts() {
	local t n
	for t in "${TOOLS[@]}"; do
		n=$("$DC_PYTHON" "$UTIL" count "$(side_of "$t")/Mail")
		if [ "$n" != "$SRV" ]; then
			say "ERROR: $t has $n messages in its Maildir, the server $SRV"
			BROKEN=1
		fi
	done
}

# ----------------------------------------------------------------- rows
say "initial download, $SRV messages"
sync
sync_all dl 1 || die "initial download failed"
check_counts
[ "$BROKEN" = 0 ] || die "the download is broken: no point in going on"
settle

say "no-change re-sync, $ROUNDS round(s)"
for r in $(seq "$ROUNDS"); do sync_all noop "$r"; done

# Each round after a quiet spell (an untimed sync, with more than 2 s
# before and after it: gmaildir trusts a Maildir stamp only when the
# Maildir is older than that), as a daemon meets a change
# made on another device: each tool then finds 1% changed on the server
# and its own Maildir as it left it.
say "1% server-side flag changes, $ROUNDS round(s)"
for r in $(seq "$ROUNDS"); do
	sleep 2.1
	settle
	sleep 2.1
	dc_add_flags "$DC_USER" INBOX "$("$DC_PYTHON" "$UTIL" uidset 1 "$SRV" 100 "$r")" '\Flagged' ||
		die "dc_add_flags"
	sync_all srvflags "$r"
done
if [ -x "$FLOOR" ]; then
	for r in $(seq "$ROUNDS"); do
		dc_add_flags "$DC_USER" INBOX "$("$DC_PYTHON" "$UTIL" uidset 1 "$SRV" 100 $((r + 50)))" \
			'\Flagged' || die "dc_add_flags"
		run_sync srvflags "$r" floor
	done
	settle
else
	say "  no $FLOOR (make tests-bin): the floor row is skipped"
fi

say "1% local flag renames (+S) in each Maildir, $ROUNDS round(s)"
for r in $(seq "$ROUNDS"); do
	for t in "${TOOLS[@]}"; do
		"$DC_PYTHON" "$UTIL" seen "$(side_of "$t")/Mail" 20 "$r" >/dev/null || die "renames"
	done
	sync_all locflags "$r"
	settle
done
check_counts

STATE_GD=$(find "$W/gd/state" -maxdepth 1 -type f -name '*.db*' -printf '%s\n' |
	awk '{ s += $1 } END { print s + 0 }')
STATE_MB=0
[ "$HAVE_MB" = 1 ] && STATE_MB=$(find "$W/mb/Mail" -type f -name '.mbsyncstate*' -printf '%s\n' |
	awk '{ s += $1 } END { print s + 0 }')

# ----------------------------------------------------------------- table
TOTAL=$(elapsed "$T_START" "$(now)")
GD_VERSION=$("$GMAILDIR_BIN" --version 2>/dev/null | head -1)
MB_VERSION=$( [ "$HAVE_MB" = 1 ] && mbsync --version 2>/dev/null | head -1 || echo "mbsync: not installed")
TABLE=$W/table.txt
"$DC_PYTHON" - "$RAW" >"$TABLE" <<EOF || BROKEN=1
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    scen, tool, rnd, secs, rss = line.rstrip("\n").split("\t")
    runs.setdefault((scen, tool), []).append((float(secs), int(rss)))

def med(scen, tool, i=0):
    r = runs.get((scen, tool))
    if not r:
        return None
    return statistics.median(x[0] for x in r) if i == 0 else max(x[1] for x in r)

def fs(x):
    return "-" if x is None else "%.3f s" % x if x < 10 else "%.2f s" % x if x < 100 else "%.1f s" % x

def fm(kb):
    return "-" if kb is None else "%.1f MB" % (kb / 1024.0)

def ratio(g, m):
    return "%.2f" % (g / m) if g is not None and m else "-"

print("$GD_VERSION vs $MB_VERSION, one folder of $SRV messages (1-2 KB) on loopback Dovecot")
print("median of $ROUNDS round(s) for re-syncs, 1 download; RSS = peak of any round; "
      "ratio = gmaildir / mbsync")
print()
hdr = "%-28s %9s %9s %6s %9s %9s %9s" % ("scenario", "gd time", "mb time", "ratio", "floor",
                                        "gd RSS", "mb RSS")
print(hdr)
print("-" * len(hdr))
rows = (("dl", "initial download"), ("noop", "no-change re-sync"),
        ("srvflags", "1% flags on server"), ("locflags", "1% flags local"))
for scen, label in rows:
    g, m = med(scen, "gmaildir"), med(scen, "mbsync")
    f = med(scen, "floor")
    print("%-28s %9s %9s %6s %9s %9s %9s" % (label, fs(g), fs(m), ratio(g, m), fs(f),
                                            fm(med(scen, "gmaildir", 1)),
                                            fm(med(scen, "mbsync", 1))))
print()
print("state on disk: gmaildir %.1f MB (%.0f B/message), mbsync %.1f MB (%.0f B/message)"
      % ($STATE_GD / 1e6, $STATE_GD / $SRV, $STATE_MB / 1e6, $STATE_MB / $SRV))
g, f = med("srvflags", "gmaildir"), med("srvflags", "floor")
if g is not None and f:
    print("1%% flags on server: gmaildir at %.2f x the floor (floor_probe: LOGIN, SELECT, "
          "UID FETCH CHANGEDSINCE)" % (g / f))
print("whole benchmark %s" % fs($TOTAL))
EOF
echo
cat "$TABLE"
[ -z "${BENCH_OUT:-}" ] || cat "$TABLE" >>"$BENCH_OUT"
[ "$BROKEN" = 0 ] || { say "something was broken: see the errors above"; exit 1; }
exit 0
