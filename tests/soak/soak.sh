#!/usr/bin/env bash
# The soak test (issue #8): `gmaildir daemon` under a steady stream of
# changes on both sides and periodic connection cuts; at the end both sides
# must equal each other and the test's own model of where every message
# should be, and the daemon's memory and open file descriptors must be flat.
#
#   SOAK_SECONDS=120 [SOAK_SEED=1] [SOAK_REPORT=FILE] [SOAK_KEEP=DIR] \
#       tests/soak/soak.sh
#
# SOAK_KEEP=DIR keeps the daemon's log, the proxy's log and the samples
# ("SECONDS RSS_KB FDS") in DIR; everything else goes with the run.
#
# A throwaway Dovecot (tests/lib/dovecot.sh) with INBOX, Archive and Work;
# the daemon reaches it only through tests/proxy/faultproxy.py, which is
# told (SIGUSR1 / SIGUSR2) every 15-20 s to reset or close every live
# connection, within the next 20000 bytes it relays (so mid-exchange).
# For SOAK_SECONDS, one change every SOAK_TICK_MS (700 ms),
# chosen by a RANDOM seeded with SOAK_SEED:
#   server (doveadm only): a new message, a flag added or removed, an
#     expunge, a move to another folder;
#   local (as a mail reader): a new message written in tmp/ and renamed into
#     new/, a flag toggled by a rename into cur/, a deletion.
# The daemon's VmRSS and open fds are sampled every 2 s. Then: changes stop,
# the daemon must converge (<= 60 s) and exit 0 on SIGTERM (<= 10 s), one
# `gmaildir sync` runs, and every folder is compared (gd_compare: same
# bytes, once each, same flags) and checked against the model: no expected
# Message-ID missing, none twice, none extra. Figures go to stdout as TAP
# comments and, with SOAK_REPORT, into that file. Prints TAP lines.
#
# The model is exact only if no outcome depends on which of two racing
# changes the daemon saw first, so the changes are partitioned:
#   - flags change anywhere, any time (they never decide membership: a flag
#     change against a deletion loses, conflicts: deletion-wins);
#   - the server moves only server-made messages of class "m" (every other
#     one), which are never deleted locally: a local deletion racing a
#     move would leave the outcome to timing;
#   - local deletions take only class "d" messages (the other server-made
#     ones, and every locally made one), which are never moved;
#   - the server expunges server-made messages at any time, locally made
#     ones only 20 s after they were first seen on the server: an upload
#     whose answer a cut swallowed is retried (found by Message-ID, or
#     appended again), and an expunge inside that window would make
#     re-appending the right, unmodelled, outcome.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh
source tests/lib/proxy.sh

SOAK_SECONDS=${SOAK_SECONDS:-120}
SOAK_SEED=${SOAK_SEED:-1}
SOAK_REPORT=${SOAK_REPORT:-}
SOAK_KEEP=${SOAK_KEEP:-}
SOAK_TICK_MS=${SOAK_TICK_MS:-700}
FOLDERS=(INBOX Archive Work)
SAMPLE_EVERY=2        # seconds between RSS / fd samples
CUT_MIN=15 CUT_SPAN=6 # a cut every 15..20 s
ARM_BYTES=20000       # each fired within this many relayed bytes (TLS records)
CONVERGE_LIMIT=60     # seconds the daemon gets to catch up at the end
STOP_LIMIT=10         # seconds from SIGTERM to exit
UPLOAD_SETTLE=20      # seconds before a locally made message may be expunged
# The message count is kept in a band so that a long soak is a steady
# state, not a growing mailbox: above HI additions turn into deletions,
# below LO deletions into additions.
BAND_LO=50 BAND_HI=110

T_START=$SECONDS
DPID=''
dc_start || exit 1
gd_setup soak "idle: [INBOX, Archive]
poll_interval: 10
timeout: 10"
S_DIR=$GD_DIR/soak
S_LOG=$S_DIR/daemon.log
S_PLOG=$S_DIR/proxy.log
S_SAMPLES=$S_DIR/samples
S_CONF=$S_DIR/proxied.yaml
mkdir -p "$S_DIR"
: >"$S_SAMPLES"
: >"$S_LOG"
: >"$S_PLOG"

# ------------------------------------------------------------ processes

# soak_cleanup: stops what this script started (the daemon, the proxy);
# runs from the EXIT trap before the gd and Dovecot cleanups.
soak_cleanup() {
	local rc=$?
	daemon_stop
	proxy_stop
	if [ -n "$SOAK_KEEP" ]; then
		mkdir -p "$SOAK_KEEP" &&
			cp "$S_LOG" "$S_PLOG" "$S_SAMPLES" "$SOAK_KEEP/" 2>/dev/null
	fi
	return "$rc"
}
trap 'soak_cleanup; _gd_cleanup; dc_cleanup' EXIT

# soak_proxy_start: a pass-through fault proxy to Dovecot's implicit-TLS
# port, alive a good while longer than the soak; S_CONF is GD_CONF through
# it (tests/lib/proxy.sh; proxy_stop stops it).
soak_proxy_start() {
	proxy_start "$DC_PORT_IMAPS" "$GD_CONF" "$S_CONF" "$S_PLOG" --mode pass \
		--max-life $((SOAK_SECONDS + 900)) --arm-bytes "$ARM_BYTES" --seed "$SOAK_SEED"
}

daemon_start() {
	"$GMAILDIR_BIN" -c "$S_CONF" daemon >>"$S_LOG" 2>&1 &
	DPID=$!
}

# daemon_stop: SIGTERM, up to STOP_LIMIT s, then SIGKILL. Sets STOP_RC
# (the exit status, or "killed") and STOP_MS (how long it took).
daemon_stop() {
	local t0 i rc
	[ -n "$DPID" ] || return 0
	STOP_RC=
	now_ms
	t0=$NOW_MS
	kill -TERM "$DPID" 2>/dev/null
	for ((i = 0; i < STOP_LIMIT * 20; i++)); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$DPID" 2>/dev/null; then
		kill -KILL "$DPID" 2>/dev/null
		STOP_RC=killed
	fi
	wait "$DPID"
	rc=$?
	[ "$STOP_RC" = killed ] || STOP_RC=$rc
	now_ms
	STOP_MS=$((NOW_MS - t0))
	DPID=
}

# ------------------------------------------------------------ small tools

# now_ms: NOW_MS = wall clock in ms (no fork).
now_ms() { NOW_MS=$((${EPOCHREALTIME//[!0-9]/} / 1000)); }

sleep_ms() { sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"; }

# rnd N: R = a seeded random number in 0..N-1 (no subshell, so that the
# sequence stays SOAK_SEED's).
rnd() { R=$((RANDOM % $1)); }

# pick_folder: F = one of FOLDERS; other_folder: G = one of the others.
pick_folder() {
	rnd ${#FOLDERS[@]}
	F=${FOLDERS[$R]}
}
other_folder() {
	rnd $((${#FOLDERS[@]} - 1))
	G=${FOLDERS[$R]}
	[ "$G" != "$F" ] || G=${FOLDERS[${#FOLDERS[@]} - 1]}
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print 0 }'; }

# ------------------------------------------------------------ the model

# M_FOLDER[ID]: the folder where Message-ID ID must end up (unset: gone).
# M_CLASS[ID]: m (may be moved on the server) or d (may be deleted locally).
# M_LOCAL[ID]: set for messages made locally; M_SEEN[ID]: when such a
# message was first seen on the server (s). M_GONE[ID]: set once deleted
# (the other side may still show it until the daemon gets there).
declare -A M_FOLDER=() M_CLASS=() M_LOCAL=() M_SEEN=() M_GONE=()
M_SERVER_MADE=0

model_add_server() {
	M_FOLDER[$1]=$2
	if [ $((M_SERVER_MADE % 2)) -eq 0 ]; then M_CLASS[$1]=m; else M_CLASS[$1]=d; fi
	M_SERVER_MADE=$((M_SERVER_MADE + 1))
}

model_add_local() {
	M_FOLDER[$1]=$2
	M_CLASS[$1]=d
	M_LOCAL[$1]=1
}

model_del() {
	unset "M_FOLDER[$1]"
	M_GONE[$1]=1
}

# model_ids FOLDER: the Message-IDs expected in FOLDER, sorted.
model_ids() {
	local id
	for id in "${!M_FOLDER[@]}"; do
		[ "${M_FOLDER[$id]}" = "$1" ] && printf '%s\n' "$id"
	done | LC_ALL=C sort
}

# ------------------------------------------------------------ message pools

# pool_make NAME SEED COUNT: COUNT genmail.py messages (1K..64K, a few
# multipart, some 8-bit) in S_DIR/NAME, listed in S_DIR/NAME.list as
# "FILE SIZE MESSAGE-ID". Made up front: one python start per change
# would cost more than the change.
pool_make() {
	"$DC_PYTHON" "$DC_GENMAIL" --count "$3" --seed "$2" --min-size 1K --max-size 64K \
		--to "$DC_USER@example.test" --to-name "$DC_USER" --out "$S_DIR/$1" \
		--list >"$S_DIR/$1.list"
}

# The pools, as arrays of files and Message-IDs, and the next unused one.
P_SRV_FILE=() P_SRV_ID=() P_SRV_NEXT=0
P_LOC_FILE=() P_LOC_ID=() P_LOC_NEXT=0

pools_load() {
	local f s id
	while read -r f s id; do
		P_SRV_FILE+=("$S_DIR/srv/$f")
		P_SRV_ID+=("$id")
	done <"$S_DIR/srv.list"
	while read -r f s id; do
		P_LOC_FILE+=("$S_DIR/loc/$f")
		P_LOC_ID+=("$id")
	done <"$S_DIR/loc.list"
}

# ------------------------------------------------------------ server side

# server_list FOLDER: L_UID[] and L_ID[] of the folder's messages (doveadm);
# notes when locally made messages are first seen there.
server_list() {
	local uid id
	L_UID=() L_ID=()
	now_ms
	while IFS=$'\t' read -r uid id; do
		[ -n "$uid" ] || continue
		id=${id//[[:space:]]/}
		L_UID+=("$uid")
		L_ID+=("$id")
		if [ -n "${M_LOCAL[$id]:-}" ] && [ -z "${M_SEEN[$id]:-}" ]; then
			M_SEEN[$id]=$((NOW_MS / 1000))
		fi
	done < <(dc_doveadm -f tab fetch -u "$DC_USER" "uid hdr.message-id" mailbox "$1" all |
		tail -n +2)
}

# server_pick FOLDER TEST: K = the index in L_* of a random message of
# FOLDER for which TEST ID passes (up to 8 tries); false if none.
server_pick() {
	local try
	server_list "$1"
	[ ${#L_UID[@]} -gt 0 ] || return 1
	for ((try = 0; try < 8; try++)); do
		rnd ${#L_UID[@]}
		K=$R
		if [ "${M_FOLDER[${L_ID[$K]}]:-}" != "$1" ]; then
			anomaly "$1" "${L_ID[$K]}"
			continue
		fi
		"$2" "${L_ID[$K]}" && return 0
	done
	return 1
}

# anomaly FOLDER ID: ID is in the server's FOLDER, the model has it
# elsewhere. A message deleted locally the daemon has not expunged yet is
# normal; anything else (a message that came back, a copy in a folder it
# was never in) would be a bug: never build on it, count and name it.
anomaly() {
	[ -z "${M_GONE[$2]:-}" ] || return 0
	ANOMALIES=$((ANOMALIES + 1))
	[ "$ANOMALIES" -gt 5 ] ||
		diag "while it ran: $2 in $1 on the server, expected in ${M_FOLDER[$2]:-no folder}"
}

any_msg() { return 0; }
movable() { [ "${M_CLASS[$1]}" = m ] && [ -z "${M_LOCAL[$1]:-}" ]; }
expungeable() {
	now_ms
	[ -z "${M_LOCAL[$1]:-}" ] ||
		{ [ -n "${M_SEEN[$1]:-}" ] && [ $((NOW_MS / 1000 - M_SEEN[$1])) -ge "$UPLOAD_SETTLE" ]; }
}

srv_new() {
	local i=$P_SRV_NEXT
	[ "$i" -lt ${#P_SRV_FILE[@]} ] || return 1
	P_SRV_NEXT=$((i + 1))
	pick_folder
	dc_doveadm save -u "$DC_USER" -m "$F" <"${P_SRV_FILE[$i]}" || return 1
	model_add_server "${P_SRV_ID[$i]}" "$F"
}

srv_flag() {
	local flags=('\Seen' '\Flagged' '\Answered') op=add
	pick_folder
	server_pick "$F" any_msg || return 1
	rnd 3
	local flag=${flags[$R]}
	rnd 2
	[ "$R" -eq 0 ] || op=remove
	dc_doveadm flags "$op" -u "$DC_USER" "$flag" mailbox "$F" uid "${L_UID[$K]}"
}

srv_expunge() {
	pick_folder
	server_pick "$F" expungeable || return 1
	dc_expunge "$DC_USER" "$F" "${L_UID[$K]}" || return 1
	model_del "${L_ID[$K]}"
}

srv_move() {
	pick_folder
	server_pick "$F" movable || return 1
	other_folder
	dc_move "$DC_USER" "$F" "${L_UID[$K]}" "$G" || return 1
	M_FOLDER[${L_ID[$K]}]=$G
}

# ------------------------------------------------------------ local side

# local_files FOLDER SUBDIRS...: FILES[] = the message files there.
local_files() {
	local d=$GD_MAIL/$1 s f
	shift
	FILES=()
	for s in "$@"; do
		for f in "$d/$s"/*; do
			[ -f "$f" ] && FILES+=("$f")
		done
	done
}

# msgid FILE: MID = the file's Message-ID (whitespace removed), or "".
msgid() {
	MID=$(grep -m1 -i '^message-id:' "$1" 2>/dev/null)
	MID=${MID#*:}
	MID=${MID//[[:space:]]/}
}

# A reader's delivery: written in tmp/, then renamed into new/.
loc_new() {
	local i=$P_LOC_NEXT name
	[ "$i" -lt ${#P_LOC_FILE[@]} ] || return 1
	P_LOC_NEXT=$((i + 1))
	pick_folder
	name="$((1800000000 + i)).M${i}P$$.soak"
	cp "${P_LOC_FILE[$i]}" "$GD_MAIL/$F/tmp/$name" || return 1
	mv "$GD_MAIL/$F/tmp/$name" "$GD_MAIL/$F/new/$name" || return 1
	model_add_local "${P_LOC_ID[$i]}" "$F"
}

# A reader marking a message: a file of new/ or cur/ renamed into cur/
# with one flag toggled. The daemon may rename or delete the same file at
# the same moment: if the file is gone, the change did not happen.
loc_flag() {
	local letters=(S F R) path base key flags c new
	pick_folder
	local_files "$F" new cur
	[ ${#FILES[@]} -gt 0 ] || return 1
	rnd ${#FILES[@]}
	path=${FILES[$R]}
	base=${path##*/}
	key=${base%%:2,*}
	flags=${base#"$key"}
	flags=${flags#:2,}
	rnd 3
	c=${letters[$R]}
	if [[ $flags == *"$c"* ]]; then flags=${flags//$c/}; else flags+=$c; fi
	new=$(printf '%s' "$flags" | fold -w1 | LC_ALL=C sort | tr -d '\n')
	mv "$path" "$GD_MAIL/$F/cur/$key:2,$new" 2>/dev/null
}

loc_delete() {
	local try path
	pick_folder
	local_files "$F" cur new
	[ ${#FILES[@]} -gt 0 ] || return 1
	for ((try = 0; try < 8; try++)); do
		rnd ${#FILES[@]}
		path=${FILES[$R]}
		msgid "$path"
		if [ -z "$MID" ] || [ "${M_FOLDER[$MID]:-}" != "$F" ] ||
			[ "${M_CLASS[$MID]}" != d ]; then
			continue
		fi
		rm "$path" 2>/dev/null || return 1
		model_del "$MID"
		return 0
	done
	return 1
}

# ------------------------------------------------------------ the stream

declare -A N_DONE=() N_SKIPPED=()
N_SRV=0 N_LOC=0 N_CUTS=0 ANOMALIES=0

# run KIND: one change; counts it done or skipped (nothing to act on, or
# the daemon got there first).
run() {
	if "$1"; then
		N_DONE[$1]=$((${N_DONE[$1]:-0} + 1))
		case $1 in srv_*) N_SRV=$((N_SRV + 1)) ;; *) N_LOC=$((N_LOC + 1)) ;; esac
	else
		N_SKIPPED[$1]=$((${N_SKIPPED[$1]:-0} + 1))
	fi
}

# one_change: a server change or a local one, weighted; in the band.
one_change() {
	local n=${#M_FOLDER[@]} side kind
	rnd 2
	side=$R
	rnd 100
	if [ "$side" -eq 0 ]; then
		if [ "$R" -lt 25 ]; then kind=srv_new
		elif [ "$R" -lt 60 ]; then kind=srv_flag
		elif [ "$R" -lt 80 ]; then kind=srv_expunge
		else kind=srv_move; fi
		if [ "$kind" = srv_new ] && [ "$n" -gt "$BAND_HI" ]; then kind=srv_expunge; fi
		if [ "$kind" = srv_expunge ] && [ "$n" -lt "$BAND_LO" ]; then kind=srv_new; fi
	else
		if [ "$R" -lt 30 ]; then kind=loc_new
		elif [ "$R" -lt 75 ]; then kind=loc_flag
		else kind=loc_delete; fi
		if [ "$kind" = loc_new ] && [ "$n" -gt "$BAND_HI" ]; then kind=loc_delete; fi
		if [ "$kind" = loc_delete ] && [ "$n" -lt "$BAND_LO" ]; then kind=loc_new; fi
	fi
	run "$kind"
}

# sample: "SECONDS RSS_KB FDS" of the daemon into S_SAMPLES.
sample() {
	local rss fds
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status" 2>/dev/null)
	fds=$(find "/proc/$DPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	[ -n "$rss" ] && echo "$((SECONDS - T_SOAK)) $rss $fds" >>"$S_SAMPLES"
}

# cut_links: every live connection through the proxy reset (odd cuts) or
# closed (even cuts). The proxy fires the cut after a random 1..ARM_BYTES
# more bytes: as it comes right after a change, it lands in whatever the
# daemon does about it (an IDLE exchange, a sync, a transfer), and the
# connections idle at that moment go with it.
cut_links() {
	N_CUTS=$((N_CUTS + 1))
	if [ $((N_CUTS % 2)) -eq 1 ]; then
		kill -USR1 "$PROXY_PID"
	else
		kill -USR2 "$PROXY_PID"
	fi
}

soak_loop() {
	local end=$((SECONDS + SOAK_SECONDS)) next_sample=$SECONDS next_cut t0 left
	rnd "$CUT_SPAN"
	next_cut=$((SECONDS + CUT_MIN + R))
	while [ "$SECONDS" -lt "$end" ] && kill -0 "$DPID" 2>/dev/null; do
		now_ms
		t0=$NOW_MS
		one_change
		if [ "$SECONDS" -ge "$next_sample" ]; then
			sample
			next_sample=$((SECONDS + SAMPLE_EVERY))
		fi
		if [ "$SECONDS" -ge "$next_cut" ]; then
			cut_links
			rnd "$CUT_SPAN"
			next_cut=$((SECONDS + CUT_MIN + R))
		fi
		now_ms
		left=$((SOAK_TICK_MS - (NOW_MS - t0)))
		[ "$left" -le 0 ] || sleep_ms "$left"
	done
}

# ------------------------------------------------------------ the end

# in_step FOLDER: the server, the Maildir and the model agree on FOLDER's
# Message-IDs, and gd_compare agrees on bytes and flags.
in_step() {
	local want
	want=$(model_ids "$1")
	[ "$(gd_server_ids "$1" | LC_ALL=C sort)" = "$want" ] &&
		[ "$(gd_local_ids "$1" | LC_ALL=C sort)" = "$want" ] &&
		gd_compare "$1" >/dev/null 2>&1
}

all_in_step() {
	local f
	for f in "${FOLDERS[@]}"; do
		in_step "$f" || return 1
	done
}

# converge: until all_in_step, at most CONVERGE_LIMIT s; CONVERGED_S = the
# seconds it took (or empty).
converge() {
	local t0=$SECONDS
	CONVERGED_S=
	while [ $((SECONDS - t0)) -lt "$CONVERGE_LIMIT" ]; do
		if all_in_step; then
			CONVERGED_S=$((SECONDS - t0))
			return 0
		fi
		sleep 1
	done
	return 1
}

# check_ids FOLDER: the folder on both sides holds exactly the model's
# Message-IDs, each once; prints what is missing, extra or doubled.
check_ids() {
	local f=$1 want srv loc side got
	want=$(model_ids "$f")
	srv=$(gd_server_ids "$f" | LC_ALL=C sort)
	loc=$(gd_local_ids "$f" | LC_ALL=C sort)
	if [ "$srv" = "$want" ] && [ "$loc" = "$want" ]; then
		ok "$f: server and Maildir hold exactly the expected messages, each once ($(grep -c . <<<"$want"))"
		return
	fi
	not_ok "$f: server and Maildir hold exactly the expected messages, each once"
	for side in server local; do
		if [ "$side" = server ]; then got=$srv; else got=$loc; fi
		diag "  $side missing: $(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$got" | uniq) | head -5 | paste -sd ' ')"
		diag "  $side extra:   $(comm -13 <(printf '%s\n' "$want") <(printf '%s\n' "$got" | uniq) | head -5 | paste -sd ' ')"
		diag "  $side twice:   $(printf '%s\n' "$got" | uniq -d | head -5 | paste -sd ' ')"
	done
}

# quarter_medians: Q1_RSS Q4_RSS Q1_FD Q4_FD (medians of the first and last
# quarter of the samples), RSS_MAX, N_SAMPLES.
quarter_medians() {
	local q
	N_SAMPLES=$(grep -c . "$S_SAMPLES")
	q=$(((N_SAMPLES + 3) / 4))
	Q1_RSS=$(head -n "$q" "$S_SAMPLES" | awk '{ print $2 }' | median)
	Q4_RSS=$(tail -n "$q" "$S_SAMPLES" | awk '{ print $2 }' | median)
	Q1_FD=$(head -n "$q" "$S_SAMPLES" | awk '{ print $3 }' | median)
	Q4_FD=$(tail -n "$q" "$S_SAMPLES" | awk '{ print $3 }' | median)
	RSS_MAX=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$S_SAMPLES")
	FD_MIN=$(awk 'NR == 1 || $3 < m { m = $3 } END { print m + 0 }' "$S_SAMPLES")
	FD_MAX=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$S_SAMPLES")
}

# report LINE...: TAP comment lines, and into SOAK_REPORT if set.
report() {
	local l
	for l in "$@"; do
		diag "$l"
		[ -z "$SOAK_REPORT" ] || printf '%s\n' "$l" >>"$SOAK_REPORT"
	done
}

# log_kinds: the daemon's warnings and errors by kind (the text up to the
# system's reason, which varies: reset, EOF), most frequent first.
log_kinds() {
	local l
	while IFS= read -r l; do
		report "  $l"
	done < <(grep -i -E 'error|warn' "$S_LOG" |
		sed -E 's/^([0-9T:.+-]+ )?gmaildir: //; s/reconnecting in [0-9]+ s/reconnecting/;
			s/(connection lost|timed out)[:;].*$/\1/' |
		sort | uniq -c | sort -rn | head -8)
}

kinds_line() { # kinds_line ARRAY_NAME: "srv_new=N srv_flag=N ..."
	local -n arr=$1
	local k out=""
	for k in srv_new srv_flag srv_expunge srv_move loc_new loc_flag loc_delete; do
		out+="$k=${arr[$k]:-0} "
	done
	printf '%s\n' "${out% }"
}

# ------------------------------------------------------------ the run

RANDOM=$SOAK_SEED
if ! dc_populate "$DC_USER" INBOX 40 "soak$SOAK_SEED.1" 1K 64K >/dev/null ||
	! dc_populate "$DC_USER" Archive 20 "soak$SOAK_SEED.2" 1K 64K >/dev/null ||
	! dc_populate "$DC_USER" Work 20 "soak$SOAK_SEED.3" 1K 64K >/dev/null; then
	not_ok "the server is populated"
	exit 1
fi
# Enough for a change every tick, plus the deletions' replacements.
pool_n=$((SOAK_SECONDS * 1000 / SOAK_TICK_MS + 20))
if ! pool_make srv "soak$SOAK_SEED.srv" "$pool_n" ||
	! pool_make loc "soak$SOAK_SEED.loc" "$pool_n"; then
	not_ok "the message pools are generated"
	exit 1
fi
pools_load
for f in "${FOLDERS[@]}"; do
	while IFS= read -r id; do model_add_server "$id" "$f"; done < <(gd_server_ids "$f")
done

soak_proxy_start || { not_ok "the fault proxy starts"; exit 1; }
daemon_start
ready() { grep -q "first sync done" "$S_LOG"; }
for ((i = 0; i < 600; i++)); do
	ready && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.1
done
if ! ready; then
	not_ok "the daemon comes up through the proxy and finishes its first sync"
	sed 's/^/#   daemon: /' "$S_LOG" | tail -20
	exit 1
fi
ok "the daemon comes up through the proxy and finishes its first sync ($((SECONDS - T_START)) s after start)"

T_SOAK=$SECONDS
soak_loop
soak_s=$((SECONDS - T_SOAK))
sample
check "changes went both ways and the connections were cut ($N_SRV server, $N_LOC local, $N_CUTS cuts)" \
	test "$N_SRV" -gt 0 -a "$N_LOC" -gt 0 -a "$N_CUTS" -gt 0
check "the daemon ran through the whole soak" kill -0 "$DPID"

if kill -0 "$DPID" 2>/dev/null; then
	converge
else
	CONVERGED_S=
fi
check "the daemon converges once the changes stop (${CONVERGED_S:-not within $CONVERGE_LIMIT} s)" \
	test -n "$CONVERGED_S"

STOP_RC='' STOP_MS=''
daemon_stop
check_eq "SIGTERM: the daemon exits 0 within $STOP_LIMIT s (${STOP_MS} ms)" 0 "$STOP_RC"
proxy_stop

out=$(gd sync 2>&1)
rc=$?
check_eq "the final sync exits 0" 0 "$rc"
busy=$(printf '%s\n' "$out" | grep -v ': unchanged, ' || true)
if [ -z "$busy" ]; then
	ok "the final sync finds nothing left to do"
else
	not_ok "the final sync finds nothing left to do"
	printf '%s\n' "$busy" | head -10 | sed 's/^/#   /'
fi
for f in "${FOLDERS[@]}"; do
	check "$f: server and Maildir identical (bytes, once each, flags, mtimes)" gd_compare "$f"
	check_ids "$f"
done
check_eq "no message turned up in a folder the model did not expect, while it ran" 0 "$ANOMALIES"

# Flatness. The first and last quarter of the samples, each by its median
# (one sample can land mid-sync or mid-reconnect: a connection or two more
# or less, a transient buffer).
#   fds: a leaked descriptor per reconnect or per sync would add dozens
#   over even a short soak; +-2 leaves room for one IDLE connection being
#   re-established and one extra transfer connection at sampling time.
#   RSS: glibc keeps freed memory and per-thread arenas, and SQLite's page
#   cache grows with the state file, so some growth is not a leak. 2 MB or
#   10 % of the start, whichever is larger, stays well clear of that noise
#   (measured on a 2-core VM: 14.4 MB at the start, +0.05..0.2 MB after
#   90 s and after 600 s alike), while a leak of 7 KB per reconnect (some
#   320 in 30 min) or of 1 KB per change (some 2500) exceeds it in a
#   30-min `make soak`.
quarter_medians
rss_allow=$((Q1_RSS / 10 > 2048 ? Q1_RSS / 10 : 2048))
fd_diff=$((Q4_FD - Q1_FD))
check "open fds flat: first-quarter median $Q1_FD, last-quarter median $Q4_FD (+-2)" \
	test "${fd_diff#-}" -le 2
check "RSS flat: first-quarter median $Q1_RSS kB, last-quarter median $Q4_RSS kB (growth <= $rss_allow kB)" \
	test $((Q4_RSS - Q1_RSS)) -le "$rss_allow"

errors=$(grep -c -i -E 'error|warn' "$S_LOG")
if [ -n "$SOAK_REPORT" ]; then : >"$SOAK_REPORT"; fi
if [ -n "$CONVERGED_S" ]; then
	converged="converged $CONVERGED_S s after the last change"
else
	converged="did not converge within $CONVERGE_LIMIT s"
fi
report "soak: ${soak_s} s of changes (seed $SOAK_SEED), wall time of the whole run $((SECONDS - T_START)) s" \
	"changes: $N_SRV server, $N_LOC local, one per ${SOAK_TICK_MS} ms" \
	"  done:    $(kinds_line N_DONE)" \
	"  skipped: $(kinds_line N_SKIPPED)" \
	"cuts: $N_CUTS asked, $(grep -c -E 'signal reset [0-9]+ conn' "$S_PLOG") resets and $(grep -c -E 'signal cut [0-9]+ conn' "$S_PLOG") closes fired, $(awk '/signal (reset|cut) [0-9]+ conn/ { n += $4 } END { print n + 0 }' "$S_PLOG") connections cut" \
	"messages at the end: $(for f in "${FOLDERS[@]}"; do printf '%s=%s ' "$f" "$(model_ids "$f" | grep -c .)"; done)" \
	"$converged; SIGTERM: exit $STOP_RC in $STOP_MS ms" \
	"RSS kB: first-quarter median $Q1_RSS, last-quarter median $Q4_RSS, max $RSS_MAX, first sample $(head -1 "$S_SAMPLES" | cut -d' ' -f2), last $(tail -1 "$S_SAMPLES" | cut -d' ' -f2)" \
	"fds: first-quarter median $Q1_FD, last-quarter median $Q4_FD, min $FD_MIN, max $FD_MAX ($N_SAMPLES samples every $SAMPLE_EVERY s)" \
	"daemon log: $(wc -l <"$S_LOG") lines, $errors warnings/errors:"
log_kinds
if [ "$TAP_FAILED" -gt 0 ]; then
	diag "daemon log, last warnings/errors:"
	grep -i -E 'error|warn' "$S_LOG" | tail -15 | sed 's/^/#   /'
fi
tap_done
