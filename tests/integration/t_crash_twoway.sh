#!/usr/bin/env bash
# kill -9 at 30 random moments of a two-way sync that has downloads, uploads,
# flag changes both ways and deletions both ways in flight. After every kill
# no message is twice on either side; after a final clean run both sides hold
# exactly the expected messages with the same flags, and a further run
# changes nothing.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup
dc_populate "$DC_USER" INBOX 150 41 1K 30K >/dev/null
dc_populate "$DC_USER" Archive 60 42 1K 10K >/dev/null
gd -q sync || { not_ok "initial sync"; exit 1; }

# Changes on both sides, all pending at once.
dc_populate "$DC_USER" INBOX 80 43 1K 30K >/dev/null # 80 new on the server
dc_add_flags "$DC_USER" INBOX 1:40 '\Seen'           # server flag changes
dc_expunge "$DC_USER" INBOX 141:150                  # 10 expunged on the server
n=0
for f in "$GD_MAIL"/INBOX/new/*; do # local flag changes and deletions
	n=$((n + 1))
	b=$(basename "$f")
	if [ $n -le 20 ]; then
		[ $n -gt 10 ] && mv "$f" "$GD_MAIL/INBOX/cur/$b:2,F"
		[ $n -le 10 ] && rm "$f"
	fi
done
for i in $(seq 1 40); do # 40 new local messages, 5 without a Message-ID
	id="<local-$i@crash.test>"
	[ "$i" -le 5 ] && id=-
	sub=new
	[ $((i % 2)) -eq 0 ] && sub=cur
	gd_write_local INBOX "$sub" "1800000$i.M$i.crashtest" "$id" \
		"$(head -c $((i * 37)) /dev/zero | tr '\0' x)"
done
moved=$(ls "$GD_MAIL/Archive/new" | head -1) # a move across folders, by rename
mv "$GD_MAIL/Archive/new/$moved" "$GD_MAIL/INBOX/new/$moved"

expected=$((150 + 80 - 10 - 10 + 40 + 1))
export GMAILDIR_BATCH_MESSAGES=3

no_dups() {
	local d
	for f in INBOX Archive; do
		d=$(gd_server_ids "$f" | grep -v '^-$' | uniq -d)
		[ -z "$d" ] || { diag "server $f twice: $d"; return 1; }
		d=$(gd_local_ids "$f" | grep -v '^-$' | uniq -d)
		[ -z "$d" ] || { diag "local $f twice: $d"; return 1; }
	done
	# Messages without a Message-ID: at most once each by size on the server.
	d=$(dc_doveadm -f tab fetch -u "$DC_USER" "size.physical hdr.subject" mailbox INBOX \
		header subject "written locally" | sort | uniq -d)
	[ -z "$d" ] || { diag "server has a local message twice: $d"; return 1; }
}

RANDOM=777
bad=0
for i in $(seq 1 30); do
	delay=$(printf '0.%03d' $((RANDOM % 400 + 5)))
	"$GMAILDIR_BIN" -c "$GD_CONF" -q sync >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	no_dups || { bad=$((bad + 1)); diag "after kill $i at ${delay}s"; }
done
check_eq "after each of 30 kills: no message twice on either side" 0 "$bad"

out=$(gd sync 2>&1)
check_eq "a clean run after the kills completes" 0 "$?"
[ $? -eq 0 ] || diag "$out"
check "INBOX: both sides hold the same messages with the same flags" gd_compare INBOX
check "Archive: both sides hold the same messages with the same flags" gd_compare Archive
check_eq "INBOX holds exactly the expected number of messages" "$expected" \
	"$(dc_status_field "$DC_USER" INBOX messages)"
check "no duplicates after all" no_dups
ids=$(gd_server_ids INBOX)
for i in 7 23 40; do
	check_contains "local message $i reached the server" "<local-$i@crash.test>" "$ids"
done
check_eq "Archive lost exactly the moved message" 59 "$(dc_status_field "$DC_USER" Archive messages)"

before=$(dc_status "$DC_USER" INBOX; find "$GD_MAIL" -type f -printf '%p %T@\n' | sort | md5sum)
gd -q sync
after=$(dc_status "$DC_USER" INBOX; find "$GD_MAIL" -type f -printf '%p %T@\n' | sort | md5sum)
check_eq "a further run changes nothing on either side" "$before" "$after"
tap_done
