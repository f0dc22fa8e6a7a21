#!/usr/bin/env bash
# Partial sync (max_age, max_size) against the real Dovecot. The safety
# rule: a message the limits keep on the server is never treated as
# deleted, on either side, including when the limits change between runs.
#  - max_age 30 + max_size 100K: only recent small messages come down;
#    the server keeps everything; the run says how many were left there;
#  - a message downloaded under a looser limit whose file goes once the
#    limit is lowered ("aged out" locally) stays on the server;
#  - a raised limit brings what it lets in, in a folder where nothing
#    else changed; nothing is deleted or downloaded twice;
#  - the limits off again: a full mirror, byte-identical.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
trap '_gd_cleanup; dc_cleanup' EXIT

# Old (genmail's dates are years back) and small, old and big, new and
# small (INTERNALDATE now), new and big.
dc_populate "$DC_USER" INBOX 8 31 2K 6K >/dev/null
dc_populate "$DC_USER" INBOX 3 32 150K 200K >/dev/null
gen=$(mktemp -d /tmp/gdp.XXXXXX)
GD_DIRS=("$gen")
python3 tests/lib/genmail.py --count 5 --seed 33 --min-size 2K --max-size 6K --out "$gen/s" >/dev/null
python3 tests/lib/genmail.py --count 2 --seed 34 --min-size 150K --max-size 200K --out "$gen/b" >/dev/null
for f in "$gen"/s/*.eml "$gen"/b/*.eml; do dc_add "$DC_USER" INBOX "$f" >/dev/null; done
total=$(gd_count_server INBOX)
check_eq "the server has 18 messages" 18 "$total"
server_ids() { dc_doveadm fetch -u "$DC_USER" hdr.message-id mailbox INBOX all | sort; }
ids0=$(server_ids)

gd_setup part "max_age: 30
max_size: 100K"
out=$(gd sync 2>&1)
check_eq "a sync with max_age 30 and max_size 100K exits 0" 0 "$?"
check_eq "... downloads only the 5 recent small messages" 5 "$(gd_count_local INBOX)"
check_contains "... and says 13 were left on the server" "13 left on the server by max_age/max_size" "$out"
check_eq "... the server still has all 18" 18 "$(gd_count_server INBOX)"
out=$(gd status 2>&1)
check_contains "status lists what max_size left on the server" \
	"left on the server by max_size: 5 messages" "$out"
check_eq "... one line per message, with its UID" 5 "$(grep -c '^      UID [0-9]*, ' <<<"$out")"
json=$(gd status --json 2>/dev/null)
check_eq "... and status --json has the 5 with their sizes" 5 \
	"$(python3 -c 'import json, sys
d = json.loads(sys.stdin.read())
print(sum(len(f["held"]) for a in d["accounts"] for f in a["folders"] if all(h["size"] > 102400 for h in f["held"])))' <<<"$json")"
out=$(gd sync 2>&1)
check_eq "a second run: nothing deleted on the server" 18 "$(gd_count_server INBOX)"
check_eq "... nothing more here" 5 "$(gd_count_local INBOX)"

# The size limit goes up: the 2 recent big ones come (the folder changed
# nowhere else); then it comes down again and their files are removed,
# as a user cleaning up what the limit no longer covers.
sed -i 's/^    max_size: .*/    max_size: 1M/' "$GD_CONF"
gd sync >/dev/null 2>&1
check_eq "max_size raised to 1M: the 2 recent big ones come down too" 7 "$(gd_count_local INBOX)"
check_eq "... and status lists none as left by max_size" 0 "$(gd status 2>&1 | grep -c "by max_size")"
sed -i 's/^    max_size: .*/    max_size: 100K/' "$GD_CONF"
for f in $(find "$GD_MAIL/INBOX" -type f -size +100k); do rm "$f"; done
check_eq "... lowered again, their files removed here" 5 "$(gd_count_local INBOX)"
out=$(gd sync 2>&1)
check_eq "... the sync exits 0" 0 "$?"
check_eq "... and deletes neither of them on the server" 18 "$(gd_count_server INBOX)"
check_eq "... nor brings them back" 5 "$(gd_count_local INBOX)"
check_eq "... their pairs are forgotten" 5 "$(gd_state 'select count(*) from pairs')"

# A flag change on a message the limits allow still goes both ways.
uid=$(dc_uids "$DC_USER" INBOX | sed -n 12p) # the first recent small one
dc_add_flags "$DC_USER" INBOX "$uid" '\Flagged'
gd sync >/dev/null 2>&1
check "a server flag on an allowed message reaches the file" \
	bash -c "find '$GD_MAIL/INBOX' -type f -name '*:2,*F*' | grep -q ."

# Per folder: folders.limits lifts both limits for Lists/*, and the
# account's stay for the rest.
dc_mkfolder "$DC_USER" Lists/big
dc_populate "$DC_USER" Lists/big 3 35 150K 200K >/dev/null
gd_setup perfolder "max_age: 30
max_size: 100K
folders:
  limits:
    \"Lists/*\": {max_age: 0, max_size: 0}"
out=$(gd sync 2>&1)
check_eq "folders.limits: the sync exits 0" 0 "$?"
check_eq "... Lists/big (old and big) comes whole" 3 "$(gd_count_local Lists/big)"
check_eq "... INBOX keeps the account's limits" 5 "$(gd_count_local INBOX)"
check "... Lists/big byte-identical" gd_compare Lists/big

# No limits: everything comes, once, byte-identical; nothing was lost.
sed -i '/^    max_age: /d; /^    max_size: /d' "$GD_CONF"
out=$(gd sync 2>&1)
check_eq "the limits removed: the sync exits 0" 0 "$?"
check_eq "... all 18 here" 18 "$(gd_count_local INBOX)"
check "... byte-identical, once, flags right" gd_compare INBOX
check_eq "... the server's messages are the same ones as at the start" "$ids0" "$(server_ids)"

tap_done
