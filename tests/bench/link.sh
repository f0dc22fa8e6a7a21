#!/usr/bin/env bash
# gmaildir against mbsync (isync) through one emulated link
# (tests/proxy/linkem.py: a rate and a one-way delay per direction, shared
# by every connection), on a throwaway Dovecot that offers COMPRESS=DEFLATE
# (its imap_zlib plugin).
#
# A benchmark, not a test: it prints a table (also appended to BENCH_OUT
# if set) and exits 0 whatever the timings; it exits 1 only when the setup
# or a sync broke (a sync fails, a Maildir ends up with the wrong count).
#
#   BENCH_LINK_RTT_MS=40      round-trip time (half of it each way)
#   BENCH_LINK_KBIT=20000     rate of each direction, kbit/s
#   BENCH_LINK_MSGS=1100      text messages of ~20 KB (16-24 KB) in INBOX
#   BENCH_LINK_ROUNDS=3       rounds of each row (median reported), the
#                             download's each from an empty Maildir
#   BENCH_LINK_EVENTS=10      push events (median reported)
#   GMAILDIR_BIN=path         the binary to measure (build/gmaildir)
#
# Rows (time, and bytes on the wire both ways as the emulator counted them,
# TLS records included, for each tool; ratio = gmaildir / mbsync):
#   initial download       a fresh Maildir and state
#   no-change re-sync
#   1% flags changed       \Flagged added server-side to 1% of the messages
#   push latency           gmaildir's daemon (IDLE on INBOX): a doveadm
#                          save until the file is in the Maildir; bytes per
#                          event. mbsync has no daemon or IDLE (a cron job
#                          would wait for its next run): gmaildir only.
# mbsync is configured as in tests/bench/run.sh (full two-way channel,
# implicit TLS verified against the harness CA, its default FSync yes);
# isync 1.4 uses COMPRESS=DEFLATE whenever the server offers it (no option
# turns it on; DisableExtension COMPRESS would turn it off): checked from
# an -Dn trace. gmaildir runs with its defaults (whether it compresses is
# read from its -vv trace and shown).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
export LC_ALL=C TZ=UTC
source tests/lib/dovecot.sh
source tests/lib/linkem.sh

GMAILDIR_BIN=${GMAILDIR_BIN:-$ROOT/build/gmaildir}
case $GMAILDIR_BIN in /*) ;; *) GMAILDIR_BIN=$ROOT/$GMAILDIR_BIN ;; esac
UTIL=$ROOT/tests/bench/benchutil.py
SYNC_TIMEOUT=${BENCH_SYNC_TIMEOUT:-900}
RTT_MS=${BENCH_LINK_RTT_MS:-40}
KBIT=${BENCH_LINK_KBIT:-20000}
MSGS=${BENCH_LINK_MSGS:-1100}
ROUNDS=${BENCH_LINK_ROUNDS:-3}
EVENTS=${BENCH_LINK_EVENTS:-10}
for v in RTT_MS KBIT MSGS ROUNDS EVENTS; do
	case ${!v} in '' | *[!0-9]*) echo "BENCH_LINK_$v must be a number" >&2; exit 2 ;; esac
done
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 50 ]; then echo "BENCH_LINK_ROUNDS: 1..50" >&2; exit 2; fi
[ "$EVENTS" -ge 1 ] || EVENTS=1

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

[ -x "$GMAILDIR_BIN" ] || die "no gmaildir binary at $GMAILDIR_BIN (make, or set GMAILDIR_BIN)"

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
DPID=
# shellcheck disable=SC2317 # run by the EXIT trap
link_cleanup() {
	local rc=$? _
	trap '' INT TERM HUP
	for p in "$CHILD" "$DPID"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null
			for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$p" 2>/dev/null
		fi
	done
	linkem_stop
	if [ -n "$W" ] && [ -d "$W" ]; then rm -rf "$W"; fi
	dc_cleanup
	return "$rc"
}
trap link_cleanup EXIT
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
W=$(mktemp -d /tmp/gdlink.XXXXXX) || die "mktemp"
RAW=$W/raw.tsv
: >"$RAW"

say "starting Dovecot with imap_zlib"
# shellcheck disable=SC2016 # $mail_plugins is Dovecot's, not the shell's
dc_start --conf 'protocol imap {
  mail_plugins = $mail_plugins imap_zlib
}' || die "dc_start failed"
DC_TIMEOUT=300
caps=$(printf 'a LOGIN %s %s\nb CAPABILITY\nc LOGOUT\n' "$DC_USER" "$DC_PASS" | dc_imap imaps 2>/dev/null)
grep -q '^\* CAPABILITY .*COMPRESS=DEFLATE' <<<"$caps" ||
	die "Dovecot does not offer COMPRESS=DEFLATE after login (imap_zlib not loaded?)"

say "generating $MSGS messages of 16-24 KB in INBOX ($DC_USER)"
dc_populate "$DC_USER" INBOX "$MSGS" l1 16K 24K >/dev/null || die "dc_populate"
dc_add_flags "$DC_USER" INBOX "1:$MSGS" '\Seen' || die "flags"
unread=$("$DC_PYTHON" "$UTIL" uidset 1 "$MSGS" 5 0)
[ -z "$unread" ] || dc_remove_flags "$DC_USER" INBOX "$unread" '\Seen' || die "flags"
# Every folder the tools will find (the auto-created ones are empty).
server_count() {
	local f t=0 n
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		n=$(dc_status_field "$DC_USER" "$f" messages 2>/dev/null) || n=0
		t=$((t + n))
	done < <(dc_folders "$DC_USER")
	echo "$t"
}
SRV=$(server_count) || die "server count"
SRV_BYTES=$(find "$DC_DIR/home/$DC_USER/Maildir/cur" "$DC_DIR/home/$DC_USER/Maildir/new" \
	-type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
# The floor of any client's download: the stored messages deflated as one
# stream, at Dovecot's imap_zlib level (6), sent at the link rate.
SRV_ZBYTES=$(find "$DC_DIR/home/$DC_USER/Maildir/cur" "$DC_DIR/home/$DC_USER/Maildir/new" \
	-type f -print0 2>/dev/null | sort -z | "$DC_PYTHON" -c '
import sys, zlib
z = zlib.compressobj(6)
n = 0
for p in sys.stdin.buffer.read().split(b"\0"):
    if p:
        n += len(z.compress(open(p, "rb").read()))
print(n + len(z.flush()))') || SRV_ZBYTES=0

DELAY=$(awk -v r="$RTT_MS" 'BEGIN { print r / 2 }')
linkem_start "$DC_PORT_IMAPS" "$W/linkem.log" --delay-ms "$DELAY" --rate-kbit "$KBIT" \
	--max-life 7200 || die "linkem did not start"
say "link: $RTT_MS ms RTT, $KBIT kbit/s each way, shared (127.0.0.1:$LINKEM_PORT)"

# ----------------------------------------------------------------- configs
# As tests/bench/run.sh, the port made the emulator's. No compress key:
# gmaildir's default applies.
gd_conf() { # DIR [EXTRA YAML LINES...]
	local d=$1 l
	shift
	{
		echo "accounts:"
		echo "  - name: bench"
		echo "    host: 127.0.0.1"
		echo "    port: $LINKEM_PORT"
		echo "    tls: implicit"
		echo "    ca_file: $DC_CA"
		echo "    user: $DC_USER"
		echo "    password: \"$DC_PASS\""
		echo "    maildir: $d/Mail"
		echo "    state_dir: $d/state"
		for l in "$@"; do echo "    $l"; done
	} >"$d/config.yaml"
	chmod 600 "$d/config.yaml"
}
mb_conf() { # DIR
	cat >"$1/mbsyncrc" <<EOF
IMAPAccount bench
Host localhost
Port $LINKEM_PORT
$MB_TLS_KEY IMAPS
CertificateFile $DC_CA
User $DC_USER
Pass $DC_PASS
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
side_reset() {
	rm -rf "$1/Mail" "$1/state"
	mkdir -p "$1/Mail"
	chmod 700 "$1/Mail"
}

TOOLS=(gmaildir)
mkdir -p "$W/gd" "$W/mb"
gd_conf "$W/gd"
if [ "$HAVE_MB" = 1 ]; then
	getent ahostsv4 localhost | grep -q '^127\.0\.0\.1 ' ||
		die "localhost does not resolve to 127.0.0.1: mbsync cannot be pointed at the harness"
	mb_conf "$W/mb"
	TOOLS+=(mbsync)
fi
side_of() { case $1 in gmaildir) echo "$W/gd" ;; mbsync) echo "$W/mb" ;; esac; }
tool_cmd() { # TOOL [TRACE]: CMD
	local d
	d=$(side_of "$1")
	case $1 in
	gmaildir) CMD=("$GMAILDIR_BIN" ${2:+-vv} -c "$d/config.yaml" sync) ;;
	mbsync) CMD=(mbsync ${2:+-Dn} -c "$d/mbsyncrc" -a) ;;
	esac
}

# ----------------------------------------------------------------- running
BROKEN=0
# run_sync SCEN ROUND TOOL: one timed sync, its time and bytes into $RAW.
run_sync() {
	local scen=$1 rnd=$2 tool=$3 d t0 t1 c0 c1
	d=$(side_of "$tool")
	sleep 1.1 # mbsync's 1 s Maildir timestamp granularity, as in run.sh
	c0=$(linkem_counts) || die "no counts from linkem"
	tool_cmd "$tool"
	t0=$(now)
	if ! bounded "$d/log" "${CMD[@]}"; then
		say "ERROR: $tool failed in $scen round $rnd; its output:"
		tail -20 "$d/log" >&2
		BROKEN=1
		return 1
	fi
	t1=$(now)
	c1=$(linkem_counts) || die "no counts from linkem"
	read -r a0 b0 <<<"$c0"
	read -r a1 b1 <<<"$c1"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$tool" "$rnd" "$(elapsed "$t0" "$t1")" \
		$((a1 - a0)) $((b1 - b0)) >>"$RAW"
	say "  $scen #$rnd $tool: $(elapsed "$t0" "$t1") s, up $((a1 - a0)) B, down $((b1 - b0)) B"
}
# order ROUND: the tools, alternating from round to round.
order() {
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
# The download, like the other rows, is a median of ROUNDS rounds, each
# from an empty Maildir and state (one run of either tool varies by a
# few tenths of a second through this link); the last round's Maildirs
# go on to the re-sync rows.
say "initial download, $SRV messages, $ROUNDS round(s)"
for r in $(seq "$ROUNDS"); do
	for t in "${TOOLS[@]}"; do side_reset "$(side_of "$t")"; done
	sync
	sync_all dl "$r" || die "initial download failed"
	check_counts
	[ "$BROKEN" = 0 ] || break
done
[ "$BROKEN" = 0 ] || die "the download is broken: no point in going on"

# An untimed traced re-sync of each tool: settles the first re-sync's
# bookkeeping, and shows whether the tool compressed.
GD_COMPRESS=no MB_COMPRESS=-
for t in "${TOOLS[@]}"; do
	sleep 1.1
	tool_cmd "$t" trace
	bounded "$(side_of "$t")/trace" "${CMD[@]}" || { BROKEN=1; die "traced re-sync of $t failed"; }
done
if grep -q 'COMPRESS DEFLATE' "$W/gd/trace" && ! grep -q 'refused COMPRESS' "$W/gd/trace"; then
	GD_COMPRESS=yes
fi
if [ "$HAVE_MB" = 1 ]; then
	# -Dn shows the commands: ">>> N COMPRESS DEFLATE", then "N OK".
	if grep -q '^>>> [0-9]* COMPRESS DEFLATE' "$W/mb/trace"; then
		MB_COMPRESS=yes
	else
		MB_COMPRESS=no
		say "WARNING: mbsync did not send COMPRESS DEFLATE (see $W/mb/trace)"
	fi
fi
say "COMPRESS=DEFLATE used: gmaildir $GD_COMPRESS, mbsync $MB_COMPRESS"

say "no-change re-sync, $ROUNDS round(s)"
for r in $(seq "$ROUNDS"); do sync_all noop "$r"; done

say "1% server-side flag changes, $ROUNDS round(s)"
NFLAG=0
for r in $(seq "$ROUNDS"); do
	uids=$("$DC_PYTHON" "$UTIL" uidset 1 "$MSGS" 100 "$r")
	[ -n "$uids" ] || uids=$r
	NFLAG=$(tr ',' '\n' <<<"$uids" | wc -l)
	dc_add_flags "$DC_USER" INBOX "$uids" '\Flagged' || die "dc_add_flags"
	sync_all flags "$r"
done
check_counts

# Push: gmaildir's daemon, IDLE on INBOX, through the same link.
say "push latency: gmaildir daemon, $EVENTS event(s)"
count_inbox() { find "$W/gd/Mail/INBOX/cur" "$W/gd/Mail/INBOX/new" -type f 2>/dev/null | wc -l; }
gd_conf "$W/gd" "idle: [INBOX]" "poll_interval: 3600"
"$DC_PYTHON" "$DC_GENMAIL" --count "$EVENTS" --seed l2 --min-size 16K --max-size 24K \
	--out "$W/push" >/dev/null || die "genmail"
"$GMAILDIR_BIN" -c "$W/gd/config.yaml" daemon >"$W/gd/daemon.log" 2>&1 </dev/null &
DPID=$!
for _ in $(seq 600); do grep -q "first sync done" "$W/gd/daemon.log" && break; sleep 0.1; done
if ! grep -q "first sync done" "$W/gd/daemon.log"; then
	say "ERROR: the daemon did not finish its first sync; its log:"
	tail -20 "$W/gd/daemon.log" >&2
	BROKEN=1
else
	sleep 2
	c0=$(linkem_counts) || die "no counts from linkem"
	: >"$W/push.ms"
	for f in "$W"/push/*.eml; do
		n=$(count_inbox)
		t0=$(date +%s%3N)
		dc_doveadm save -u "$DC_USER" -m INBOX <"$f" || die "doveadm save"
		ok=0
		for _ in $(seq 3000); do
			[ "$(count_inbox)" -gt "$n" ] && { ok=1; break; }
			sleep 0.01
		done
		[ "$ok" = 1 ] || { say "ERROR: a pushed message did not arrive within 30 s"; BROKEN=1; break; }
		echo $(($(date +%s%3N) - t0)) >>"$W/push.ms"
		sleep 0.5
	done
	c1=$(linkem_counts) || die "no counts from linkem"
	read -r a0 b0 <<<"$c0"
	read -r a1 b1 <<<"$c1"
	k=$(wc -l <"$W/push.ms")
	if [ "$k" -gt 0 ]; then
		med=$(sort -n "$W/push.ms" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] / 1000 }')
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' push gmaildir 1 "$med" $(((a1 - a0) / k)) \
			$(((b1 - b0) / k)) >>"$RAW"
		say "  push: median $med s over $k event(s)"
	fi
fi
kill -TERM "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
DPID=

# ----------------------------------------------------------------- table
TOTAL=$(elapsed "$T_START" "$(now)")
GD_VERSION=$("$GMAILDIR_BIN" --version 2>/dev/null | head -1)
MB_VERSION=$( [ "$HAVE_MB" = 1 ] && mbsync --version 2>/dev/null | head -1 || echo "mbsync: not installed")
TABLE=$W/table.txt
"$DC_PYTHON" - "$RAW" >"$TABLE" <<EOF || BROKEN=1
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    scen, tool, rnd, secs, up, down = line.rstrip("\n").split("\t")
    runs.setdefault((scen, tool), []).append((float(secs), int(up), int(down)))

def med(scen, tool, i):
    r = runs.get((scen, tool))
    return statistics.median(x[i] for x in r) if r else None

def fs(x):
    return "-" if x is None else "%.3f s" % x if x < 10 else "%.2f s" % x if x < 100 else "%.1f s" % x

def fb(x):
    if x is None:
        return "-"
    for unit, div in (("MB", 1e6), ("KB", 1e3)):
        if x >= div:
            return "%.1f %s" % (x / div, unit) if x < 100 * div else "%.0f %s" % (x / div, unit)
    return "%d B" % x

def ratio(g, m):
    return "%.2f" % (g / m) if g is not None and m else "-"

print("$GD_VERSION vs $MB_VERSION, through linkem: $RTT_MS ms RTT, $KBIT kbit/s each way (shared)")
print("Dovecot with COMPRESS=DEFLATE; COMPRESS used: gmaildir $GD_COMPRESS, mbsync $MB_COMPRESS; "
      "$SRV msgs, %.1f MB in INBOX" % ($SRV_BYTES / 1e6))
print("bytes = both directions on the wire (TLS); median of $ROUNDS round(s), "
      "downloads from empty Maildirs; ratio = gmaildir / mbsync")
print()
hdr = "%-34s %9s %9s %6s %10s %10s %6s" % ("scenario", "gd time", "mb time", "ratio",
                                           "gd bytes", "mb bytes", "ratio")
print(hdr)
print("-" * len(hdr))
rows = (("dl", "initial download, $SRV msgs"), ("noop", "no-change re-sync"),
        ("flags", "1% flags changed on server ($NFLAG)"),
        ("push", "push latency (per event)"))
for scen, label in rows:
    g, m = med(scen, "gmaildir", 0), med(scen, "mbsync", 0)
    if g is None and m is None:
        continue
    gb = [med(scen, "gmaildir", i) for i in (1, 2)]
    mb = [med(scen, "mbsync", i) for i in (1, 2)]
    gt = sum(gb) if gb[0] is not None else None
    mt = sum(mb) if mb[0] is not None else None
    print("%-34s %9s %9s %6s %10s %10s %6s" % (label, fs(g), fs(m), ratio(g, m), fb(gt), fb(mt),
                                               ratio(gt, mt)))
print()
print("bytes up / down:")
for scen, label in rows:
    parts = []
    for tool in ("gmaildir", "mbsync"):
        u, d = med(scen, tool, 1), med(scen, tool, 2)
        if u is not None:
            parts.append("%s %s / %s" % (tool, fb(u), fb(d)))
    if parts:
        print("   %-31s %s" % (label, ", ".join(parts)))
link_s = $SRV_BYTES * 8 / ($KBIT * 1000.0)
print()
print("   the stored INBOX at the link rate, uncompressed: %s; whole benchmark %s" % (fs(link_s), fs($TOTAL)))
if $SRV_ZBYTES:
    floor_s = $SRV_ZBYTES * 8 / ($KBIT * 1000.0)
    g, m = med("dl", "gmaildir", 0), med("dl", "mbsync", 0)
    print("   floor of a download: the INBOX deflated as one stream (zlib level 6, as Dovecot's "
          "imap_zlib) is %s, %s at the link rate;" % (fb($SRV_ZBYTES), fs(floor_s)))
    print("   download time / floor: gmaildir %s, mbsync %s" % (ratio(g, floor_s), ratio(m, floor_s)))
print("   push: mbsync has no daemon or IDLE (it syncs when run): gmaildir only")
EOF
echo
cat "$TABLE"
[ -z "${BENCH_OUT:-}" ] || cat "$TABLE" >>"$BENCH_OUT"
[ "$BROKEN" = 0 ] || { say "something was broken: see the errors above"; exit 1; }
exit 0
