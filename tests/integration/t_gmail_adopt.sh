#!/usr/bin/env bash
# First contact on Gmail (the fixture of tests/gmail): a lieer tree, whose
# files are named by the Gmail id of their message, is paired by X-GM-MSGID
# without a header or body fetch, and the label folders then get hard links
# of those files, not downloads; a tree another IMAP tool made (one copy per
# label, an X-TUID header in each) is recognised by its headers: nothing is
# downloaded or uploaded, and the next sync changes nothing.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/gmail/fixture.sh
source tests/lib/gmaildir.sh

gm_start || exit 1

# raw MSGID > FILE: the message's bytes as the fixture stores them.
raw() { gm_ctl message "msgid=$1" raw=1 | gm_json 'r["raw_b64"]' | base64 -d; }

count_files() { find "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" -type f 2>/dev/null | wc -l; }

gen=$(mktemp -d /tmp/gmgen.XXXXXX)
GD_DIRS+=("$gen")
python3 tests/lib/genmail.py --count 24 --seed gmadopt --min-size 1K --max-size 6K \
	--out "$gen" >/dev/null
ids=()
i=0
for f in "$gen"/*.eml; do
	i=$((i + 1))
	labels='\Inbox'
	[ $((i % 3)) -eq 0 ] && labels='\Inbox,Work'
	[ $((i % 4)) -eq 0 ] && labels='Work'
	ids+=("$(gm_add "$f" "$labels" '\Seen')")
done

# --- 1. lieer: one Maildir of every message, named by its Gmail id (hex),
# used as Archive (All Mail).
gd_setup_gmail
mkdir -p "$GD_MAIL/Archive"/{cur,new,tmp}
for id in "${ids[@]}"; do
	raw "$id" | tr -d '\r' >"$GD_MAIL/Archive/cur/$(printf '%016x' "$id"):2,S"
done
gm_ctl reset_counters >/dev/null
out=$(gd -vv sync 2>&1)
check_eq "a first sync over a lieer tree exits 0" 0 "$?"
check_contains "... pairs its files by their Gmail id" "24 messages already here matched the server's (not copied again, some by their Gmail id)" "$out"
check_eq "... without a header fetch" 0 "$(grep -c 'BODY.PEEK\[HEADER\]' <<<"$out")"
check_eq "... and without a body download" 0 "$(gm_counter body_fetches)"
check_eq "... nothing uploaded" 0 "$(gm_counter appends)"
check_eq "Archive still holds the 24 files" 24 "$(count_files Archive)"
n_inbox=$(gm_uids INBOX | wc -l)
check_eq "INBOX got its $n_inbox messages" "$n_inbox" "$(count_files INBOX)"
links=$(find "$GD_MAIL/INBOX/cur" "$GD_MAIL/INBOX/new" -type f -links +1 | wc -l)
check_eq "... all as hard links of lieer's files" "$n_inbox" "$links"
out=$(gd sync 2>&1)
check_eq "the next sync changes nothing" 0 "$(grep -vc unchanged <<<"$out")"

# --- 2. An IMAP tool's tree: a copy per label, each with an X-TUID.
gd_setup_gmail
for folder in INBOX Work; do
	mkdir -p "$GD_MAIL/$folder"/{cur,new,tmp}
	while read -r uid id; do
		{
			printf 'X-TUID: tuid%s\n' "$uid"
			raw "$id" | tr -d '\r'
		} >"$GD_MAIL/$folder/cur/$uid.tool,U=$uid:2,S"
	done < <(gm_ctl list "folder=$folder" |
		gm_json '["%d %d" % (m["uid"], m["msgid"]) for m in r["messages"]]')
done
mkdir -p "$GD_MAIL/Archive"/{cur,new,tmp}
for id in "${ids[@]}"; do
	{
		printf 'X-TUID: all%s\n' "$id"
		raw "$id" | tr -d '\r'
	} >"$GD_MAIL/Archive/cur/a$id.tool:2,S"
done
gm_ctl reset_counters >/dev/null
out=$(gd sync 2>&1)
check_eq "a first sync over an IMAP tool's tree of Gmail exits 0" 0 "$?"
check_eq "... downloads no body" 0 "$(gm_counter body_fetches)"
check_eq "... uploads nothing" 0 "$(gm_counter appends)"
check_eq "... Archive, INBOX, Work keep their files" \
	"24 $(gm_uids INBOX | wc -l) $(gm_uids Work | wc -l)" \
	"$(count_files Archive) $(count_files INBOX) $(count_files Work)"
out=$(gd sync 2>&1)
check_eq "the next sync changes nothing" 0 "$(grep -vc unchanged <<<"$out")"
tap_done
