#!/usr/bin/env bash
# A message the server refuses this time (here Dovecot's quota plugin:
# "NO [LIMIT] Mail size is larger than the maximum"; Cyrus refuses NUL
# bytes) fails its folder, but only after every other new message of the
# folder went up: 120 good ones and a refused one take one run, not three
# (uploads go in batches of 50, and the first refusal used to stop the
# rest). The refused file stays here, nothing is uploaded twice, and the
# next run says the same and exits 1 again.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

# shellcheck disable=SC2016 # $mail_plugins is Dovecot's, not the shell's
dc_start --conf 'mail_plugins = $mail_plugins quota
plugin {
  quota = count:User quota
  quota_vsizes = yes
  quota_max_mail_size = 100k
}' || exit 1
gd_setup test
trap '_gd_cleanup; dc_cleanup' EXIT
gd_sync_ok "an empty account"
python3 tests/lib/genmail.py --count 1 --seed 91 --min-size 200K --max-size 220K \
	--out "$GD_DIR/big" >/dev/null
# The big one sorts first: it is in the first batch of 50.
cp "$GD_DIR/big/000001.eml" "$GD_MAIL/INBOX/new/1700000000.M0.big"
for i in $(seq 1 120); do gd_write_local INBOX new "1800000$i.M1.up" "<up-$i@test>"; done
out=$(gd sync 2>&1)
check_eq "a refused message among 121 new ones: exit 1" 1 "$?"
check_contains "... the run names the refusal" "Mail size is larger" "$out"
check_contains "... and the folder's line says what it did before failing" \
	"test/INBOX: failed after 0 down (0.0 MB), 120 up" "$out"
check_eq "... the 120 others are on the server after this one run" 120 \
	"$(dc_status_field "$DC_USER" INBOX messages)"
check_eq "... the refused file is still here" 1 \
	"$(find "$GD_MAIL/INBOX" -name '1700000000.M0.big*' | wc -l)"
out=$(gd sync 2>&1)
check_eq "the next run: exit 1 again" 1 "$?"
check_eq "... nothing uploaded twice" 120 "$(dc_status_field "$DC_USER" INBOX messages)"
check_eq "... every local file kept" 121 "$(gd_count_local INBOX)"
check_eq "... one copy of each good message on the server" 120 \
	"$(gd_server_ids INBOX | sort -u | grep -c "<up-")"
tap_done
