#!/usr/bin/env bash
# First full download: 500 messages over 4 folders (a nested one and one with a
# non-ASCII name), sizes 1 KB .. 2 MB, mixed flags. Every file must be
# byte-identical to what the server stores, once, with its flags and its
# INTERNALDATE as mtime; a second run downloads nothing.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup

dc_populate "$DC_USER" INBOX 290 11 1K 40K >/dev/null
dc_populate "$DC_USER" INBOX 6 12 1M 2M >/dev/null
dc_populate "$DC_USER" Archive 120 13 1K 60K >/dev/null
dc_populate "$DC_USER" "Lists/dev" 54 14 1K 8K >/dev/null
dc_populate "$DC_USER" "Entwürfe" 30 15 1K 20K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:100 '\Seen'
dc_add_flags "$DC_USER" INBOX 20:40 '\Flagged'
dc_add_flags "$DC_USER" INBOX 30:35 '\Answered' '$Forwarded'
dc_add_flags "$DC_USER" INBOX 50:52 '\Deleted'
dc_add_flags "$DC_USER" Archive 1:120 '\Seen'
dc_add_flags "$DC_USER" "Lists/dev" 5:9 '\Draft' 'customkeyword'

out=$(gd sync 2>&1)
rc=$?
check_eq "first sync exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || diag "$out"

for f in INBOX Archive Lists/dev Entwürfe Sent Drafts Trash Junk; do
	check "folder $f: every message present once, byte-identical, flags and mtime right" \
		gd_compare "$f"
done
check "nested folder is a nested Maildir" test -d "$GD_MAIL/Lists/dev/cur"
check "UTF-8 folder name decoded" test -d "$GD_MAIL/Entwürfe/new"
check_eq "unseen messages land in new/" 196 "$(ls "$GD_MAIL/INBOX/new" | wc -l)"
check_eq "500 pairs recorded" 500 "$(gd_state 'select count(*) from pairs')"
check_eq "no intent left behind" 0 "$(gd_state 'select count(*) from intents')"

modes=$(find "$GD_MAIL" "$GD_STATE" -type f ! -perm 600 | grep -v -- '-shm$\|-wal$' | head -3)
check_eq "mail and state files are 0600" "" "$modes"
check_eq "directories are 0700" "" "$(find "$GD_MAIL" "$GD_STATE" -type d ! -perm 700 | head -3)"

before=$(cd "$GD_MAIL" && find . -type f -printf '%p %s %T@\n' | sort | md5sum)
out=$(gd sync 2>&1)
check_eq "second sync exits 0" 0 "$?"
check_contains "second sync downloads nothing" "INBOX: unchanged" "$out"
after=$(cd "$GD_MAIL" && find . -type f -printf '%p %s %T@\n' | sort | md5sum)
check_eq "second sync touches no file" "$before" "$after"

# A new message on the server arrives by itself on the next run.
uid=$(dc_add "$DC_USER" INBOX "$(dc_populate "$DC_USER" Junk 1 99 1K 2K)/000001.eml")
gd sync >/dev/null 2>&1
check "a new server message is downloaded by the next sync" gd_compare INBOX
check_eq "only the new one was fetched" 502 "$(gd_state 'select count(*) from pairs')"

# One folder named on the command line.
out=$(gd sync "$GD_ACCOUNT/Lists/dev" 2>&1)
check_contains "ACCOUNT/FOLDER syncs just that folder" "Lists/dev" "$out"
check_eq "... and no other" 1 "$(printf '%s\n' "$out" | grep -c unchanged)"

# Messages bigger than a piece come in pieces (BODY.PEEK[]<at.len>), one
# round trip each (by default above 512 KB: the six 1-2 MB ones above).
# With 1000-byte pieces nearly every message goes that way, many pieces
# end in the middle of a CRLF, and the files must still be the same bytes.
gd_setup pieces
GMAILDIR_PIECE_BYTES=1000 gd -vv sync >"$GD_DIR/log" 2>&1
rc=$?
check_eq "a download in 1000-byte pieces exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || grep -v 'imap: [<>]' "$GD_DIR/log" | tail -20 | while IFS= read -r l; do diag "$l"; done
check "... asks for pieces" grep -q -F 'BODY.PEEK[]<1000.1000>' "$GD_DIR/log"
for f in INBOX Archive Lists/dev Entwürfe Junk; do
	check "pieces: folder $f byte-identical, once, flags and mtime right" gd_compare "$f"
done
check_eq "pieces: every pair recorded" 502 "$(gd_state 'select count(*) from pairs')"
check_eq "pieces: no intent left behind" 0 "$(gd_state 'select count(*) from intents')"
check_eq "pieces: no file left in tmp/" "" "$(find "$GD_MAIL" -type f -path "$GD_MAIL/*/tmp/*" | head -3)"
# Newest first: a first sync brings the latest mail before the old. With
# batches of 50 messages, INBOX's first body FETCH asks for its newest
# UIDs (the highest is in it, UID 1 is not), and the last for its oldest.
# One connection: with several, a helper's FETCH of a batch it took
# earlier can reach the wire after the owner's later one.
gd_setup newest "connections: 1"
GMAILDIR_BATCH_MESSAGES=50 gd -vv sync newest/INBOX >"$GD_DIR/log" 2>&1
check "newest first: the sync exits 0" test $? -eq 0
sets=$(grep -oE '> [0-9]+ UID FETCH [0-9:,]+ \(UID BODY\.PEEK\[\]\)' "$GD_DIR/log" | awk '{print $5}')
top=$(dc_uids "$DC_USER" INBOX | sort -n | tail -1)
in_set() { python3 -c '
import sys
uid, spec = int(sys.argv[1]), sys.argv[2]
for r in spec.split(","):
    lo, _, hi = r.partition(":")
    if int(lo) <= uid <= int(hi or lo): sys.exit(0)
sys.exit(1)' "$1" "$2"; }
check "... several batches" test "$(wc -l <<<"$sets")" -ge 3
check "... the first has the newest message (UID $top)" in_set "$top" "$(head -1 <<<"$sets")"
not_in_set() { ! in_set "$@"; }
check "... and not the oldest" not_in_set 1 "$(head -1 <<<"$sets")"
check "... the last one has the oldest" in_set 1 "$(tail -1 <<<"$sets")"
check "... INBOX byte-identical, once, flags and mtime right" gd_compare INBOX
# Round trips: the STATUS of every folder goes out before the first answer
# is read (one round trip, not one per folder), an empty folder is never
# SELECTed, and a run with nothing to do SELECTs nothing at all.
gd_setup rtt
gd -vv sync >"$GD_DIR/log" 2>&1
first_answer=$(grep -n 'imap: < \* STATUS' "$GD_DIR/log" | head -1 | cut -d: -f1)
last_ask=$(grep -n 'imap: > [0-9]* STATUS' "$GD_DIR/log" | tail -1 | cut -d: -f1)
check "round trips: every STATUS is sent before the first answer" \
	test -n "$first_answer" -a -n "$last_ask" -a "$last_ask" -lt "$first_answer"
check_eq "... Sent (empty on the server) is never SELECTed" 0 \
	"$(grep -c 'imap: > [0-9]* SELECT "\?Sent' "$GD_DIR/log")"
# The Maildir settles (a stamp taken within 2 s of a change is not
# trusted): the second run still looks, the third knows.
sleep 3
gd sync >/dev/null 2>&1
sleep 3
gd -vv sync >"$GD_DIR/log2" 2>&1
check_eq "... a run with nothing to do SELECTs nothing" 0 "$(grep -c 'imap: > [0-9]* SELECT' "$GD_DIR/log2")"
tap_done
