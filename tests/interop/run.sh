#!/usr/bin/env bash
# `make interop`: the two-way battery (tests/interop/battery.sh) on the
# servers no one here wrote, each run from its unpacked Debian packages
# (tests/interop/deps.sh). Ends with one line: "N passed, N failed".
#
#   tests/interop/run.sh BUILD        (INTEROP_SERVERS="cyrus courier")
#
# Dovecot's run of the same battery is part of `make check`
# (tests/integration/t_battery.sh).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=${1:-build}
export GMAILDIR_BIN=$PWD/$build/gmaildir GMAILDIR_TOOLS=$PWD/$build/tools
pass=0 fail=0 failed=()
logdir=$(mktemp -d /tmp/gmaildir-interop.XXXXXX)
for s in ${INTEROP_SERVERS:-cyrus courier}; do
	out=$logdir/$s.log
	start=$(date +%s)
	timeout -k 10 1200 bash tests/interop/battery.sh "$s" >"$out" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$f" -gt 0 ]; then
		failed+=("$s")
		echo "FAIL $s ($p passed, $f failed, ${secs}s, exit $rc)"
		sed 's/^/    /' "$out" | tail -60
	else
		echo "ok   $s ($p, ${secs}s)"
	fi
done
rm -rf "$logdir"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
