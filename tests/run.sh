#!/usr/bin/env bash
# Runs every test and ends with one line: "N passed, N failed".
#
#   tests/run.sh BUILD [SAN_BUILD]
#
# Unit tests: each cmocka binary in BUILD/tests (and again from SAN_BUILD,
# under ASan+UBSan); its test cases count one each.
# Integration tests: each tests/integration/t_*.sh prints TAP lines
# ("ok - ..." / "not ok - ..."); each line counts. A script that fails
# without printing "not ok" counts as one failure. With SAN_BUILD, the
# main scenarios (SAN_SCRIPTS below) run a second time on its program, and
# any sanitizer report fails them. Integration scripts run two at a time
# (GMAILDIR_TEST_JOBS=N to change it), those with network namespaces alone.
# GMAILDIR_TESTS=unit|integration|<substring> narrows the run.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
san=${2:-}
filter=${GMAILDIR_TESTS:-}
pass=0
fail=0
failed_names=()
logdir=$(mktemp -d /tmp/gmaildir-testlog.XXXXXX)

want() { # want KIND NAME
	[ -z "$filter" ] && return 0
	[ "$filter" = "$1" ] && return 0
	[[ "$2" == *"$filter"* ]]
}

run_unit() { # run_unit BINARY LABEL
	local bin=$1 label=$2 out p f
	out="$logdir/${label//\//_}.log"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		timeout 300 "$bin" >"$out" 2>&1
	local rc=$?
	# cmocka writes to stdout and stderr, which may share a line: match
	# anywhere, not at the line start.
	p=$(grep -o '\[  PASSED  \] [0-9]* test' "$out" | awk '{s+=$4} END {print s+0}')
	f=$(grep -o '\[  FAILED  \] [0-9]* test' "$out" | awk '{s+=$4} END {print s+0}')
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$f" -gt 0 ]; then
		failed_names+=("$label")
		echo "FAIL $label ($p passed, $f failed)"
		sed 's/^/    /' "$out" | tail -40
	else
		echo "ok   $label ($p)"
	fi
}

for bin in "$build"/tests/test_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	want unit "$name" || continue
	run_unit "$bin" "$name"
	if [ -n "$san" ] && [ -x "$san/tests/$name" ]; then
		run_unit "$san/tests/$name" "asan/$name"
	fi
done

export GMAILDIR_BIN=$PWD/$build/gmaildir
export GMAILDIR_TOOLS=$PWD/$build/tools
[ -n "$san" ] && export GMAILDIR_SAN_BIN=$PWD/$san/gmaildir
# run_script SCRIPT LABEL: one integration script, run in the background
# slot it was given; its verdict goes to $logdir/LABEL.result ("PASS FAIL
# SECONDS RC") for collect to count and print. Under the sanitizer pass
# (SANLOG set) every report the instrumented program wrote to its log
# (leak, overflow, use after free) also fails the script, whatever the
# script concluded from the program's behaviour. UB stops the program
# (-fno-sanitize-recover): the script sees it fail.
run_script() {
	local t=$1 label=$2 out rc start secs p f reports=
	out="$logdir/${label//\//_}.log"
	start=$(date +%s)
	timeout -k 10 900 bash "$t" >"$out" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ -n "${SANLOG:-}" ]; then
		reports=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SANLOG".* 2>/dev/null)
		if [ -n "$reports" ]; then
			f=$((f + 1))
			for r in $reports; do sed 's/^/    /' "$r" | head -40 >>"$out"; done
		fi
		rm -f "$SANLOG".*
	fi
	echo "$p $f $secs $rc" >"$logdir/${label//\//_}.result"
}

# collect LABEL: counts and prints the verdict of a finished script.
collect() {
	local label=$1 base p f secs rc
	base="$logdir/${label//\//_}"
	read -r p f secs rc <"$base.result" 2>/dev/null || { p=0 f=1 secs=? rc=?; }
	pass=$((pass + p))
	fail=$((fail + f))
	[ "$secs" = "?" ] || echo "$label $secs" >>"$times_new"
	if [ "$f" -gt 0 ]; then
		failed_names+=("$label")
		echo "FAIL $label ($p passed, $f failed, ${secs}s, exit $rc)"
		sed 's/^/    /' "$base.log" | tail -60
	else
		echo "ok   $label ($p, ${secs}s)"
	fi
}

# Scripts run $jobs at a time (GMAILDIR_TEST_JOBS, default: the number of
# cores, at most 2): most of a script's time is spent waiting on servers,
# timeouts and fsync, not on the CPU, and every script has its own
# servers on free ports under its own temp dir. The ones that create
# network namespaces and veth pairs run alone, after the others: a new
# link in the root namespace is news to every daemon under test that
# follows rtnetlink. Longest first (the times of the last run in
# $build/test-times, else the known slow ones), so the slots end together.
jobs=${GMAILDIR_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in '' | *[!0-9]* | 0) jobs=1 ;; esac
[ -n "${GMAILDIR_TEST_JOBS:-}" ] || [ "$jobs" -le 2 ] || jobs=2
times_old=$build/test-times
times_new=$logdir/times
: >"$times_new"
SLOW_FIRST="t_crash_steps asan/t_oauth t_soak t_hostile t_battery t_fuzz_smoke t_faults"

# The ASan+UBSan program runs the main scenarios a second time: download
# (also one folder shared by several connections), two-way in every mode,
# Gmail, the daemon, adoption, no UIDPLUS, status. (The hostile server,
# the CLI and valgrind's scripts run it on their own.)
SAN_SCRIPTS=${GMAILDIR_SAN_SCRIPTS:-t_download t_download_split t_twoway t_twoway_modes t_gmail t_daemon t_adopt t_no_uidplus t_status t_send t_oauth t_daemon_laptop t_netns t_compress t_gmail_budget t_partial t_daemon_sync}

queue=() serial=()
for t in tests/integration/t_*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	want integration "$name" || continue
	if grep -q 'lib/netns.sh' "$t"; then serial+=("$name"); else queue+=("$name"); fi
done
if [ -n "$san" ]; then
	for name in $SAN_SCRIPTS; do
		t=tests/integration/$name.sh
		[ -f "$t" ] || continue
		want integration "asan/$name" || continue
		if grep -q 'lib/netns.sh' "$t"; then serial+=("asan/$name"); else queue+=("asan/$name"); fi
	done
fi
# longest_first LABEL...: the labels, slowest first.
longest_first() {
	local l
	for l in "$@"; do
		local s
		s=$(awk -v l="$l" '$1 == l { s = $2 } END { print s + 0 }' "$times_old" 2>/dev/null)
		if [ "${s:-0}" -eq 0 ] && [[ " $SLOW_FIRST " == *" $l "* ]]; then s=1000; fi
		echo "${s:-0} $l"
	done | sort -s -k1,1nr | cut -d' ' -f2
}
mapfile -t queue < <(longest_first "${queue[@]}")

# start LABEL: runs it in the background, with the sanitizer's settings
# for an asan/ label.
start() {
	local label=$1 name=${1#asan/}
	local t=tests/integration/$name.sh
	if [ "$label" = "$name" ]; then
		run_script "$t" "$label" &
	else
		SANLOG=$logdir/san.$name \
			GMAILDIR_BIN=$GMAILDIR_SAN_BIN \
			ASAN_OPTIONS=detect_leaks=1:log_path=$logdir/san.$name.asan \
			LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
			UBSAN_OPTIONS=print_stacktrace=1:log_path=$logdir/san.$name.ubsan \
			run_script "$t" "$label" &
	fi
	running[$!]=$label
}

declare -A running=()
# reap: waits for one running script and collects it.
reap() {
	local pid
	wait -n -p pid "${!running[@]}"
	collect "${running[$pid]}"
	unset "running[$pid]"
}
for label in "${queue[@]}"; do
	while [ "${#running[@]}" -ge "$jobs" ]; do reap; done
	start "$label"
done
while [ "${#running[@]}" -gt 0 ]; do reap; done
for label in "${serial[@]}"; do
	start "$label"
	reap
done
# Keeps the times for the next run's order (only of a complete run).
[ -n "$filter" ] || cp "$times_new" "$times_old" 2>/dev/null

rm -rf "$logdir"
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
