#!/usr/bin/env bash
# One big folder's download shared by several connections: batches of the
# same folder run side by side, each on its own login, and the result is
# exactly the server's folder (every message once, byte-identical, flags
# and mtimes right). Then kill -9 at random moments of such a download:
# after each kill the next run resumes, and at the end nothing is missing
# or doubled. Small batches (GMAILDIR_BATCH_MESSAGES) make a few hundred
# messages many batches.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
dc_populate "$DC_USER" INBOX 900 21 1K 30K >/dev/null
dc_populate "$DC_USER" Other 12 22 1K 4K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:300 '\Seen'
dc_add_flags "$DC_USER" INBOX 250:260 '\Flagged'

gd_setup split "connections: 4"
out=$(GMAILDIR_BATCH_MESSAGES=40 gd -vv sync 2>&1)
rc=$?
check_eq "a split download exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || diag "$(printf '%s\n' "$out" | grep -v 'imap: ' | tail -20)"
helpers=$(printf '%s\n' "$out" | grep -c "helps with the download")
check "other connections helped with INBOX ($helpers)" test "$helpers" -ge 1
logins=$(printf '%s\n' "$out" | grep -c 'imap: > <secret hidden>')
check "one login per connection, at most 4 ($logins)" test "$logins" -ge 2 -a "$logins" -le 4
check "INBOX: every message once, byte-identical, flags and mtimes right" gd_compare INBOX
check "Other: the same" gd_compare Other
out=$(gd -v sync 2>&1)
check "a second run downloads nothing" test "$(gd_count_local INBOX)" -eq 900
check_contains "... and says nothing changed" "unchanged" "$out"

# kill -9 at random moments of split downloads, then a run to the end.
gd_setup crash "connections: 4"
RANDOM=7
kills=0
for i in 1 2 3 4 5 6; do
	GMAILDIR_BATCH_MESSAGES=30 "$GMAILDIR_BIN" -c "$GD_CONF" -q sync >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '0.%02d' $((RANDOM % 30 + 3)))"
	if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
	wait "$pid" 2>/dev/null
done
diag "$kills kills, $(gd_count_local INBOX) of 900 on disk before the last run"
out=$(GMAILDIR_BATCH_MESSAGES=30 gd sync 2>&1)
rc=$?
check_eq "after the kills a run completes" 0 "$rc"
[ "$rc" -eq 0 ] || diag "$out"
check "INBOX after kills: every message once, byte-identical" gd_compare INBOX
check "Other after kills: the same" gd_compare Other
tap_done
