#!/usr/bin/env bash
# `make demo` as a newcomer runs it (tests/demo.sh), three times in a row
# into a temp dir: each run exits 0 (a pipe into `head` under pipefail
# once failed it at random with status 141), says what the README says it
# shows, leaves every server message in the Maildir once and stops its
# Dovecot.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh

T=$(mktemp -d /tmp/gddemo.XXXXXX)
trap 'rm -rf "$T"' EXIT
export GMAILDIR_DEMO_DIR=$T/demo

for run in 1 2 3; do
	out=$(timeout -k 5 300 bash tests/demo.sh 2>&1)
	rc=$?
	check_eq "demo run $run exits 0" 0 "$rc"
	[ "$rc" = 0 ] || printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
	check_contains "demo run $run: the local message reached the server" \
		"the locally written message is on the server" "$out"
	check_contains "demo run $run: the third sync has nothing left to do" \
		"third run: nothing left to do" "$out"
	# 120 + 50 + 20 + 10 sample messages, one deleted here, one expunged
	# there, one written here: 199, each once.
	n=$(find "$GMAILDIR_DEMO_DIR/Mail" -path '*/cur/*' -type f -o -path '*/new/*' -type f | wc -l)
	check_eq "demo run $run: 199 messages in the Maildir" 199 "$n"
	check_contains "demo run $run: it says where the Maildir is" "Mail (state in" "$out"
	case $out in *"Error 141"* | *"exit 141"*) not_ok "demo run $run: no SIGPIPE" ;; *) ok "demo run $run: no SIGPIPE" ;; esac
done
tap_done
