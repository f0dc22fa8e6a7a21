#!/usr/bin/env bash
# Runs the libFuzzer harnesses built by `make fuzz-build`.
#
#   tests/fuzz/run.sh [--smoke] BUILD SECONDS [NAME...]
#
# Each harness BUILD/fuzz_NAME runs for SECONDS over a working corpus
# (first directory: libFuzzer adds new inputs there) and the committed
# seeds tests/fuzz/corpus/NAME (read only), with tests/fuzz/NAME.dict when
# there is one. Harnesses run in parallel, one per CPU. A crash, a leak,
# undefined behaviour, a broken property or a hang (one input over 10 s)
# fails: the input is saved as BUILD/artifacts/NAME-crash-... and the
# script exits 1.
#
# Default: the working corpus is BUILD/corpus/NAME (kept between runs), the
# seed is random. --smoke (for make check): a throwaway working corpus, a
# fixed seed, and TAP lines "ok - fuzz NAME: N runs, no crash".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

smoke=
if [ "${1:-}" = --smoke ]; then
	smoke=1
	shift
fi
build=${1:?usage: run.sh [--smoke] BUILD SECONDS [NAME...]}
secs=${2:?usage: run.sh [--smoke] BUILD SECONDS [NAME...]}
shift 2
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		n=${f#tests/fuzz/fuzz_}
		names+=("${n%.c}")
	done
fi
jobs=$(nproc 2>/dev/null || echo 1)
logdir=$(mktemp -d /tmp/gmaildir-fuzz.XXXXXX)
trap 'rm -rf "$logdir"' EXIT
mkdir -p "$build/artifacts"

# run_one NAME: one harness, its output in $logdir/NAME.log, its exit
# status in $logdir/NAME.rc.
run_one() {
	local name=$1 work args=()
	if [ -n "$smoke" ]; then
		work=$logdir/corpus-$name
		args+=(-seed=1)
	else
		work=$build/corpus/$name
	fi
	mkdir -p "$work"
	[ -f "tests/fuzz/$name.dict" ] && args+=("-dict=tests/fuzz/$name.dict")
	# No plan input is longer than 1 + 4 * 48 bytes.
	[ "$name" = plan ] && args+=(-max_len=200)
	"$build/fuzz_$name" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$name-" "${args[@]}" \
		"$work" "tests/fuzz/corpus/$name" >"$logdir/$name.log" 2>&1
	echo $? >"$logdir/$name.rc"
}

# stat LOG KEY: a value of libFuzzer's -print_final_stats.
stat() {
	sed -n "s/^stat::$2: *//p" "$1" | tail -1
}

for name in "${names[@]}"; do
	if [ ! -x "$build/fuzz_$name" ]; then
		echo "$build/fuzz_$name: not built (make fuzz-build)" >"$logdir/$name.log"
		echo 127 >"$logdir/$name.rc"
		continue
	fi
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	run_one "$name" &
done
wait

failed=0
for name in "${names[@]}"; do
	log=$logdir/$name.log
	rc=$(cat "$logdir/$name.rc" 2>/dev/null || echo 1)
	runs=$(stat "$log" number_of_executed_units)
	rate=$(stat "$log" average_exec_per_sec)
	if [ "$rc" -eq 0 ]; then
		msg="fuzz $name: ${runs:-?} runs, no crash (${secs} s, ${rate:-?} exec/s)"
		if [ -n "$smoke" ]; then echo "ok - $msg"; else echo "$msg"; fi
	else
		failed=1
		msg="fuzz $name: failed (exit $rc) after ${runs:-?} runs"
		if [ -n "$smoke" ]; then echo "not ok - $msg"; else echo "$msg"; fi
		grep -E 'property broken|ERROR:|runtime error|SUMMARY|Test unit written|not built' \
			"$log" | head -15 | sed 's/^/#   /'
	fi
done
exit "$failed"
