#!/usr/bin/env bash
# What sync, status and list print for a person, against the real Dovecot
# with UTF-8 folder names (Entwürfe, double-width 日本語): columns line up
# by screen width, not bytes; folders come INBOX first, then by name, in
# every run; a folder where nothing changed says "unchanged", never a row
# of zeros; each account ends with a total line; `list` has a header.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup test
trap '_gd_cleanup; dc_cleanup' EXIT
for f in INBOX Zed "Entwürfe" "日本語" Archive; do
	dc_populate "$DC_USER" "$f" 2 91 1K 2K >/dev/null || exit 1
done

# width: the screen columns of each line of stdin (East Asian wide = 2).
width() {
	python3 -c '
import sys, unicodedata
for line in sys.stdin.read().splitlines():
    print(sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in line))'
}
# folders_of: the folder of each "test/FOLDER: ..." line, in order.
folders_of() { sed -n 's|^test/\([^:]*\): .*|\1|p' <<<"$1" | tr '\n' ,; }
ORDER="INBOX,Archive,Drafts,Entwürfe,Junk,Sent,Trash,Zed,日本語,"  # Dovecot makes the special-use four

OUT=$(gd sync 2>/dev/null)
check_eq "first sync: exit 0" 0 "$?"
check_eq "... folders INBOX first, then by name" "$ORDER" "$(folders_of "$OUT")"
check_contains "... a total line last" "test (9 folders, 5 changed): 10 down" "$(tail -1 <<<"$OUT")"
check_contains "... counting every message" "; 10 messages" "$(tail -1 <<<"$OUT")"

OUT=$(gd sync 2>/dev/null)
check_eq "second sync: the same order" "$ORDER" "$(folders_of "$OUT")"
check_eq "... each folder 'unchanged', no row of zeros" "" "$(grep -E ' 0 down|0 up' <<<"$OUT")"
check_contains "... Entwürfe's line" "test/Entwürfe: unchanged, 2 messages" "$OUT"
check_eq "... the total says so too" "test (9 folders): unchanged, 10 messages" "$(tail -1 <<<"$OUT")"
OUT=$(gd sync test/Zed 2>/dev/null)
check_eq "one folder: its line only, no total" "test/Zed: unchanged, 2 messages" "$OUT"
OUT=$(gd -q sync 2>&1)
check_eq "-q: nothing at all" "" "$OUT"

# --dry-run's table: arrows in the header, wide names in the rows.
gd_write_local "日本語" new 1800000000.M1.tbl "<tables-1@test>"
OUT=$(gd sync --dry-run 2>/dev/null)
check_contains "dry run: the planned upload" "test/日本語" "$OUT"
check_eq "... header and rows end in the same column" 1 "$(width <<<"$OUT" | sort -u | wc -l)"
check_contains "... with a total row" "total" "$(tail -1 <<<"$OUT")"
gd sync >/dev/null 2>&1

OUT=$(gd status)
check_eq "status: exit 0" 0 "$?"
rows=$(grep -E '^  [^ ].* just now$' <<<"$OUT")
check_eq "... a row per folder" 9 "$(wc -l <<<"$rows")"
check_eq "... every row as wide on screen (日本語, Entwürfe, INBOX)" 1 \
	"$(width <<<"$rows" | sort -u | wc -l)"
check_eq "... rows INBOX first, then by name" "$ORDER" \
	"$(awk '{print $1}' <<<"$rows" | tr '\n' ,)"

# Bash completion of ACCOUNT/FOLDER, from the state (no connection).
# complete WORD...: the candidates for the last word, one a line.
complete_words() {
	bash -c 'source packaging/completion/gmaildir.bash
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gmaildir
		printf "%s\n" "${COMPREPLY[@]}"' _ "$GMAILDIR_BIN" -c "$GD_CONF" "$@"
}
check_eq "bash completion: sync test/E -> the folder" "test/Entwürfe" "$(complete_words sync test/E)"
check_eq "... status test/ -> every folder" 9 "$(complete_words status test/ | wc -l)"
check_eq "... sync te -> the account" "test" "$(complete_words sync te)"
check_eq "... an unknown account: nothing, quietly" "" "$(complete_words sync nope/ 2>&1)"
check_eq "... init -> gmail imap" "gmail imap" "$(complete_words init "" | tr '\n' ' ' | sed 's/ $//')"

OUT=$(gd list)
check_eq "list: exit 0" 0 "$?"
check "... a header line" grep -qE '^  FOLDER +ROLE +SYNC +LOCAL PATH$' <<<"$OUT"
names=$(grep -E '^  [^ ]' <<<"$OUT" | grep -v '^  FOLDER' | awk '{print $1}' | tr '\n' ,)
check_eq "... sorted, INBOX first" "$ORDER" "$names"
# The screen column where "synced" starts is the same on every line.
cols=$(grep -E ' synced ' <<<"$OUT" | sed 's/ synced .*//' | width | sort -u)
check_eq "... the SYNC column starts at one screen column" 1 "$(wc -l <<<"$cols")"

tap_done
