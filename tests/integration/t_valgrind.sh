#!/usr/bin/env bash
# Memory errors and leaks under valgrind memcheck, in the main scenarios
# against a real Dovecot: a first download (100 messages in 2 folders), then
# a two-way sync with a flag change each way, a new local message and a
# deletion each way, an idle sync, the daemon (IDLE and inotify push, then
# SIGTERM); also --help and check-config on a good and a bad file.
# Each run must have zero errors and zero definite or indirect leaks; the
# only suppressions (tests/valgrind.supp) are for libetpan/OpenSSL/libc
# internals. A second pass runs a two-way scenario on the ASan+UBSan binary
# ($GMAILDIR_SAN_BIN, from tests/run.sh) with LeakSanitizer on.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

if ! command -v valgrind >/dev/null 2>&1; then
	not_ok "valgrind is installed (tests/deps.sh)"
	exit 1
fi
SUPP=$PWD/tests/valgrind.supp
VG_LOGS=$(mktemp -d /tmp/gmaildir-vg.XXXXXX)
VG_N=0

VG_OPTS=(--tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect --error-exitcode=99 --suppressions="$SUPP"
	--num-callers=40 -s)

# vg_check DESC EXPECTED_EXIT RC: ok when the run whose log is $VG_LOG
# exited EXPECTED_EXIT with no error and no definite or indirect leak.
vg_check() {
	local desc=$1 want=$2 rc=$3 errs def ind
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$VG_LOG" | tail -1)
	def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$VG_LOG" | tail -1)
	ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$VG_LOG" | tail -1)
	if [ "$rc" -eq "$want" ] && [ "${errs:-x}" = 0 ]; then
		ok "valgrind $desc: exit $rc, 0 errors, leaks ${def:-0}/${ind:-0} bytes definite/indirect"
	else
		not_ok "valgrind $desc: exit $rc (want $want), ${errs:-?} errors"
		printf '%s\n' "$VG_OUT" | tail -5 | sed 's/^/#   out: /'
		grep -v '^==[0-9]*== *$' "$VG_LOG" |
			grep -A30 -E 'Invalid|uninitialised|definitely|indirectly|Mismatched|overlap|Syscall' |
			head -80 | sed 's/^/#   /'
	fi
	# For the record: the leaks that do not fail (possibly lost, still
	# reachable) and which suppressions were used.
	sed -n 's/^==[0-9]*== *\(in use at exit\|possibly lost\|still reachable\): /\1: /p' "$VG_LOG" |
		paste -sd';' | sed 's/^/# /'
	grep -E '^--[0-9]+-- +used_suppression' "$VG_LOG" | sed 's/^--[0-9]*-- */# /'
}

# vg DESC EXPECTED_EXIT ARGS...: runs $GMAILDIR_BIN ARGS under memcheck,
# then vg_check. Its output is in $VG_OUT.
vg() {
	local desc=$1 want=$2 rc
	shift 2
	VG_N=$((VG_N + 1))
	VG_LOG=$VG_LOGS/$VG_N.log
	VG_OUT=$(timeout -k 5 600 valgrind "${VG_OPTS[@]}" --log-file="$VG_LOG" \
		"$GMAILDIR_BIN" "$@" 2>&1)
	rc=$?
	vg_check "$desc" "$want" "$rc"
}

# ---- no server needed

vg "--help" 0 --help
BAD=$VG_LOGS/bad.yaml
printf 'accounts:\n  - name: x\n    host: h\n    user: u\n    password: p\n    maildir: relative\n    tls: none\n    bogus: 1\n' >"$BAD"
chmod 600 "$BAD"
vg "check-config on a bad file" 2 -c "$BAD" check-config
check_contains "the bad file's error names a line" "bad.yaml:" "$VG_OUT"

# ---- the main scenarios against Dovecot

dc_start || exit 1
U=$DC_USER
dc_populate "$U" Alpha 60 41 1K 16K >/dev/null || not_ok "populate Alpha"
dc_populate "$U" Beta 40 42 1K 16K >/dev/null || not_ok "populate Beta"
gd_setup vg 'folders: { include: ["Alpha", "Beta"] }'

vg "check-config on a good file" 0 -c "$GD_CONF" check-config
vg "first download (100 messages, 2 folders)" 0 -c "$GD_CONF" sync
check_eq "Alpha downloaded" 60 "$(gd_count_local Alpha)"
check_eq "Beta downloaded" 40 "$(gd_count_local Beta)"

# Two-way: a flag set on the server, a flag set locally, a new local
# message, a deletion on each side.
mapfile -t A < <(dc_uids "$U" Alpha)
mapfile -t B < <(dc_uids "$U" Beta)
dc_add_flags "$U" Alpha "${A[0]}" '\Flagged' >/dev/null
f=$(gd_file Alpha "${A[1]}") && k=$(gd_key Alpha "${A[1]}") && mv "$f" "$GD_MAIL/Alpha/cur/$k:2,S"
gd_write_local Beta new vg-new-1 '<vg-new-1@example.test>'
dc_expunge "$U" Alpha "${A[2]}" >/dev/null
f=$(gd_file Beta "${B[0]}") && rm -f "$f"
vg "two-way sync" 0 -c "$GD_CONF" sync
check "the server flag reached the file" bash -c "ls '$GD_MAIL/Alpha/cur/' | grep -q '^$(gd_key Alpha "${A[0]}"):2,F'"
check_contains "the local flag reached the server" 'Seen' "$(dc_flags "$U" Alpha "${A[1]}")"
check_eq "the new local message was uploaded" 40 "$(gd_count_server Beta)"
check_eq "the server deletion removed the file" 59 "$(gd_count_local Alpha)"
no_uid() { ! dc_uids "$U" "$1" | grep -qx "$2"; }
check "the local deletion expunged the message" no_uid Beta "${B[0]}"
check "Alpha is the same on both sides" gd_compare Alpha
check "Beta is the same on both sides" gd_compare Beta
vg "an idle sync" 0 -c "$GD_CONF" sync

# ---- the daemon: IDLE and inotify push, then SIGTERM

# wait_for SECONDS CMD...: polls CMD every 0.2 s; true if it became true.
wait_for() {
	local limit=$(($1 * 5)) i=0
	shift
	while [ $i -lt $limit ]; do
		"$@" && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}
gd_setup vgd 'folders: { include: ["Alpha"] }
idle: [Alpha]'
DLOG=$GD_DIR/daemon.log
VG_N=$((VG_N + 1))
VG_LOG=$VG_LOGS/$VG_N.log
valgrind "${VG_OPTS[@]}" --log-file="$VG_LOG" "$GMAILDIR_BIN" -c "$GD_CONF" -v daemon \
	>>"$DLOG" 2>&1 &
DPID=$!
# Never leave the daemon behind, whatever ends the script.
stop_daemon() { kill -KILL "$DPID" 2>/dev/null; return 0; }
eval "set -- $(trap -p EXIT)"
trap "stop_daemon; ${3:-}" EXIT
check "daemon: the first sync is done" wait_for 120 grep -q "first sync done" "$DLOG"
mapfile -t A < <(dc_uids "$U" Alpha)
dc_add_flags "$U" Alpha "${A[5]}" '\Flagged' >/dev/null
flagged() { ls "$GD_MAIL/Alpha/cur/" | grep -q "^$(gd_key Alpha "${A[5]}"):2,.*F"; }
check "daemon: a server flag reaches the file (IDLE)" wait_for 60 flagged
n=$(gd_count_server Alpha)
gd_write_local Alpha new vg-daemon-1 '<vg-daemon-1@example.test>'
server_has() { [ "$(gd_count_server Alpha)" -eq "$1" ]; }
check "daemon: a new local file reaches the server (inotify)" wait_for 60 server_has $((n + 1))
kill -TERM "$DPID"
if wait_for 60 bash -c "! kill -0 $DPID 2>/dev/null"; then
	wait "$DPID"
	rc=$?
else
	kill -KILL "$DPID" 2>/dev/null
	rc=137
fi
VG_OUT=$(tail -5 "$DLOG")
vg_check "daemon, stopped by SIGTERM" 0 "$rc"

# ---- the same scenario on the ASan+UBSan build, LeakSanitizer on

if [ -n "${GMAILDIR_SAN_BIN:-}" ] && [ -x "$GMAILDIR_SAN_BIN" ]; then
	san() { # san DESC: one sync with the ASan binary
		local out rc
		out=$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=98 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			timeout -k 5 300 "$GMAILDIR_SAN_BIN" -c "$GD_CONF" sync 2>&1)
		rc=$?
		if [ "$rc" -eq 0 ]; then
			ok "asan $1: exit 0, no error, no leak"
		else
			not_ok "asan $1: exit $rc"
			printf '%s\n' "$out" | grep -A25 -E 'ERROR|runtime error' | head -40 | sed 's/^/#   /'
		fi
	}
	gd_setup asan 'folders: { include: ["Alpha", "Beta"] }'
	san "first download"
	mapfile -t A < <(dc_uids "$U" Alpha)
	dc_add_flags "$U" Alpha "${A[0]}" '\Answered' >/dev/null
	f=$(gd_file Alpha "${A[1]}") && k=$(gd_key Alpha "${A[1]}") && mv "$f" "$GD_MAIL/Alpha/cur/$k:2,FS"
	gd_write_local Alpha new asan-new-1 '<asan-new-1@example.test>'
	dc_expunge "$U" Alpha "${A[3]}" >/dev/null
	f=$(gd_file Alpha "${A[4]}") && rm -f "$f"
	san "two-way sync"
	check "asan: Alpha is the same on both sides" gd_compare Alpha
else
	diag "GMAILDIR_SAN_BIN not set: ASan pass skipped"
fi

rm -rf "$VG_LOGS"
tap_done
