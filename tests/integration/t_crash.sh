#!/usr/bin/env bash
# kill -9 at 20 random moments of a download: after every kill no file is
# there twice and none is unknown to the server; the final run completes the
# download with every message exactly once, and nothing committed before a
# kill is downloaded again. A second process on the same account is refused.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup
dc_populate "$DC_USER" INBOX 400 21 1K 120K >/dev/null
dc_populate "$DC_USER" Archive 200 22 1K 30K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:150 '\Seen'
# Small batches: many commit points to be killed between.
export GMAILDIR_BATCH_MESSAGES=2

subset_ok() {
	local f dump
	for f in INBOX Archive; do
		[ -d "$GD_MAIL/$f/cur" ] || continue
		dump=$(mktemp "$GD_DIR/dump.XXXXXX")
		TZ=UTC dc_doveadm -f pager fetch -u "$DC_USER" "uid flags date.received text" \
			mailbox "$f" all >"$dump" || return 1
		python3 tests/lib/compare.py "$dump" "$GD_MAIL/$f" --subset --quiet || return 1
	done
}

RANDOM=4242
bad=0
progress=
for i in $(seq 1 20); do
	delay=$(printf '0.%03d' $((RANDOM % 120 + 10)))
	"$GMAILDIR_BIN" -c "$GD_CONF" -q sync >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	progress+=" $(gd_state 'select count(*) from pairs' 2>/dev/null || echo 0)"
	if ! subset_ok; then
		bad=$((bad + 1))
		diag "after kill $i (at ${delay}s): duplicate or unknown file"
	fi
done
diag "pairs after each kill:$progress"
check_eq "after each of 20 kills: no duplicate, no unknown file" 0 "$bad"
check "the kills interrupted the download (not all done after kill 10)" \
	test "$(echo $progress | cut -d' ' -f10)" -lt 600
pairs_before=$(gd_state 'select count(*) from pairs' 2>/dev/null || echo 0)
diag "pairs committed before the final run: $pairs_before"

out=$(gd sync 2>&1)
check_eq "the run after the kills completes" 0 "$?"
check "INBOX complete: every message once, byte-identical" gd_compare INBOX
check "Archive complete: every message once, byte-identical" gd_compare Archive
# The folders' lines (ACCOUNT/FOLDER: ...), not the account's total.
down=$(printf '%s\n' "$out" | sed -n 's|^[^ /]*/[^:]*: \([0-9]*\) down.*|\1|p' | awk '{s+=$1} END {print s+0}')
check "nothing committed before was downloaded again ($down <= $((600 - pairs_before)))" \
	test "$down" -le $((600 - pairs_before))

# Two processes on one account: the second is refused and says who holds it.
dc_populate "$DC_USER" Junk 300 23 1K 2K >/dev/null
GMAILDIR_BATCH_MESSAGES=1 "$GMAILDIR_BIN" -c "$GD_CONF" -q sync >/dev/null 2>&1 &
first=$!
sleep 0.3
out=$(gd sync 2>&1)
rc=$?
wait "$first"
check_eq "a second process on the same account is refused (exit 1)" 1 "$rc"
check_contains "... and says which process holds it" "being synced by pid" "$out"
tap_done
