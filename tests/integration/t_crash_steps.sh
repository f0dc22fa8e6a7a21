#!/usr/bin/env bash
# Kill at every step (stronger than random kills): a two-way sync with a
# download, uploads (one without Message-ID), flag changes both ways,
# deletions both ways and a move across folders is first run once with
# GMAILDIR_CRASH_LOG to count its K replica-changing steps (state commits,
# renames into new/cur, flag renames, removals, STORE, EXPUNGE, APPEND,
# MOVE); then for k = 1..K the same scenario is rebuilt, the sync SIGKILLs
# itself at step k (GMAILDIR_CRASH_AT, util/crashpoint.c), no message may be
# twice on either side, and a clean run must reach exactly the expected end
# state.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
GEN=$(mktemp -d /tmp/gdsteps.XXXXXX)
python3 tests/lib/genmail.py --count 12 --seed steps1 --min-size 1K --max-size 6K --out "$GEN/a" >/dev/null
python3 tests/lib/genmail.py --count 3 --seed steps2 --min-size 1K --max-size 6K --out "$GEN/b" >/dev/null

key_of() { # key_of UID: the local key paired with an INBOX UID
	gd_state "select key from pairs where uid = $1 and folder_id =
		(select id from folders where remote = 'INBOX')"
}

# scenario: a fresh account, synced once, then changes on both sides.
scenario() {
	[ -n "${GD_DIR:-}" ] && rm -rf "$GD_DIR"
	gd_setup
	gd_reset_server
	dc_mkfolder "$DC_USER" Archive >/dev/null 2>&1 || true
	for i in 01 02 03 04 05 06 07 08; do dc_doveadm save -u "$DC_USER" -m INBOX <"$GEN/a/0000$i.eml"; done
	for i in 09 10 11 12; do dc_doveadm save -u "$DC_USER" -m Archive <"$GEN/a/0000$i.eml"; done
	gd -q sync || return 1
	local u
	u=($(dc_uids "$DC_USER" INBOX))
	for f in "$GEN"/b/*.eml; do dc_doveadm save -u "$DC_USER" -m INBOX <"$f"; done # 3 new
	dc_add_flags "$DC_USER" INBOX "${u[0]}" '\Flagged'                        # server flag
	dc_expunge "$DC_USER" INBOX "${u[1]}"                                       # server expunge
	local k2 k3 k4
	k2=$(key_of "${u[2]}")
	k3=$(key_of "${u[3]}")
	k4=$(key_of "${u[4]}")
	mv "$GD_MAIL/INBOX/new/$k2" "$GD_MAIL/INBOX/cur/$k2:2,S" # local flag
	rm "$GD_MAIL/INBOX/new/$k3"                              # local delete
	mv "$GD_MAIL/INBOX/new/$k4" "$GD_MAIL/Archive/new/$k4"   # move
	gd_write_local INBOX new 1800000700.M1.steps "<steps-1@test>"               # uploads
	gd_write_local INBOX cur 1800000701.M2.steps:2,S - "a body long enough to be its own size"
}

no_dups() {
	local f d
	for f in INBOX Archive; do
		d=$(gd_server_ids "$f" | uniq -d)
		[ -z "$d" ] || { diag "server $f twice: $d"; return 1; }
		d=$(gd_local_ids "$f" | uniq -d)
		[ -z "$d" ] || { diag "local $f twice: $d"; return 1; }
	done
}

end_state() {
	gd_compare INBOX >/dev/null && gd_compare Archive >/dev/null &&
		[ "$(dc_status_field "$DC_USER" INBOX messages)" -eq 10 ] &&
		[ "$(dc_status_field "$DC_USER" Archive messages)" -eq 5 ] && no_dups
}

scenario || { not_ok "the scenario sets up"; exit 1; }
GMAILDIR_CRASH_LOG=$GD_DIR/steps.log gd -q sync
K=$(wc -l <"$GD_DIR/steps.log")
diag "the sync takes $K steps: $(cut -d' ' -f2- "$GD_DIR/steps.log" | sort | uniq -c | sed 's/^ *//' | paste -sd, -)"
check "the scenario without a crash reaches the expected end state" end_state
check "... in at least 12 steps of at least 6 kinds" test "$K" -ge 12 -a \
	"$(cut -d' ' -f2- "$GD_DIR/steps.log" | sort -u | wc -l)" -ge 6

bad_mid=0
bad_end=0
for k in $(seq 1 "$K"); do
	scenario >/dev/null 2>&1 || { bad_end=$((bad_end + 1)); continue; }
	GMAILDIR_CRASH_AT=$k "$GMAILDIR_BIN" -c "$GD_CONF" -q sync >/dev/null 2>&1
	no_dups || { bad_mid=$((bad_mid + 1)); diag "after the kill at step $k"; }
	gd -q sync >/dev/null 2>&1
	end_state || { bad_end=$((bad_end + 1)); diag "end state wrong after the kill at step $k"; }
done
check_eq "killed at each of the $K steps: never a message twice on either side" 0 "$bad_mid"
check_eq "... and every time the next run reaches exactly the expected end state" 0 "$bad_end"
rm -rf "$GEN"
tap_done
