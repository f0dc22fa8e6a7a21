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
# any sanitizer report fails them.
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
# run_script SCRIPT LABEL: one integration script, its TAP lines counted.
# Under the sanitizer pass (SANLOG set) every report the instrumented
# program wrote to its log (leak, overflow, use after free) also fails the
# script, whatever the script concluded from the program's behaviour. UB
# stops the program (-fno-sanitize-recover): the script sees it fail.
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
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$f" -gt 0 ]; then
		failed_names+=("$label")
		echo "FAIL $label ($p passed, $f failed, ${secs}s, exit $rc)"
		sed 's/^/    /' "$out" | tail -60
	else
		echo "ok   $label ($p, ${secs}s)"
	fi
}

for t in tests/integration/t_*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	want integration "$name" || continue
	run_script "$t" "$name"
done

# The main scenarios again with the ASan+UBSan program: download (also
# one folder shared by several connections), two-way in every mode, Gmail,
# the daemon, adoption, no UIDPLUS, status. (The hostile server, the CLI
# and valgrind's scripts run it on their own.)
SAN_SCRIPTS=${GMAILDIR_SAN_SCRIPTS:-t_download t_download_split t_twoway t_twoway_modes t_gmail t_daemon t_adopt t_no_uidplus t_status t_send t_oauth t_daemon_laptop t_netns t_compress t_gmail_budget t_partial t_daemon_sync}
if [ -n "$san" ]; then
	for name in $SAN_SCRIPTS; do
		t=tests/integration/$name.sh
		[ -f "$t" ] || continue
		want integration "asan/$name" || continue
		SANLOG=$logdir/san.$name \
			GMAILDIR_BIN=$GMAILDIR_SAN_BIN \
			ASAN_OPTIONS=detect_leaks=1:log_path=$logdir/san.$name.asan \
			LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
			UBSAN_OPTIONS=print_stacktrace=1:log_path=$logdir/san.$name.ubsan \
			run_script "$t" "asan/$name"
	done
fi

rm -rf "$logdir"
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
