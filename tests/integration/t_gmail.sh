#!/usr/bin/env bash
# Gmail's dialect, against the fixture of tests/gmail (GMAIL.md): labels are
# folders but each message is downloaded once and hard-linked into every
# label's folder; a deletion in a label folder removes that label only, one
# in Archive (All Mail) sends the message to Trash; flags are per message;
# quota answers pause and the next run resumes; App Password and XOAUTH2
# logins; localized system folders found by attribute.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/gmail/fixture.sh
source tests/lib/gmaildir.sh

gm_start || exit 1

gen=$(mktemp -d /tmp/gmgen.XXXXXX)
GD_DIRS+=("$gen")
python3 tests/lib/genmail.py --count 300 --seed gm1 --min-size 1K --max-size 30K --out "$gen" >/dev/null
python3 tests/gmail/populate.py "$GM_CTL" "$gen" gm1 >"$gen/index.tsv"
labelled=$(awk -F'\t' '$2 != ""' "$gen/index.tsv" | wc -l)
diag "300 messages, $labelled with labels, $(tr ',' '\n' <"$gen/index.tsv" | grep -c .) label uses"
gm_ctl reset_counters >/dev/null

gd_setup_gmail
out=$(gd sync 2>&1)
check_eq "first sync of a labelled account exits 0" 0 "$?"
[ -z "$out" ] || diag "$(printf '%s\n' "$out" | head -12)"
downloads=$(gm_ctl counters | gm_json 'sorted(set(r["downloads"].values()))')
check_eq "each X-GM-MSGID was downloaded exactly once" "1" "$downloads"
check_eq "... all 300 of them" 300 "$(gm_ctl counters | gm_json 'len(r["downloads"])')"
total=$(du -cb "$gen"/*.eml | tail -1 | cut -f1)
bytes=$(gm_counter body_bytes)
diag "bytes downloaded: $bytes for $total bytes of unique messages (LF; CRLF on the wire)"
check "bytes downloaded ~ the unique messages, not one copy per label" \
	test "$bytes" -lt $((total * 12 / 10))
check_eq "Archive (All Mail) holds all 300" 300 "$(find "$GD_MAIL/Archive" -type f | wc -l)"
check_eq "the whole Maildir holds 300 distinct files (inodes)" 300 \
	"$(find "$GD_MAIL" -type f ! -name '.gmaildir.*' -printf '%i\n' | sort -u | wc -l)"
for l in Work Family Lists/dev "Muy Importante" "Reisen/Überblick" INBOX; do
	want=$(gm_ctl list "folder=$l" | gm_json 'len(r["messages"])')
	got=$(find "$GD_MAIL/$l/cur" "$GD_MAIL/$l/new" -type f 2>/dev/null | wc -l)
	check_eq "label folder $l holds its $want messages" "$want" "$got"
done
check "Spam, Trash, Starred, Important are not synced by default" \
	test ! -e "$GD_MAIL/Trash" -a ! -e "$GD_MAIL/Spam" -a ! -e "$GD_MAIL/Starred"
check "[Gmail] itself (\\Noselect) is not a folder here" test ! -e "$GD_MAIL/[Gmail]"

# A flag set on one copy reaches the message (and so every label) and every
# local copy, in the same sync.
x=$(awk -F'\t' '$2 ~ /Work/ && $2 ~ /Family/ {print $1; exit}' "$gen/index.tsv")
f=$(gd_msg_files "$x" | grep '/Work/' | head -1)
mv "$f" "${f%%:2,*}:2,FS"
[ -e "${f%%:2,*}:2,FS" ] || mv "$f" "$(dirname "$f")/../cur/$(basename "${f%%:2,*}"):2,FS" 2>/dev/null
gd -q sync
check_contains "a flag set locally in Work reaches the message on the server" '\Flagged' \
	"$(gm_ctl message "msgid=$x" | gm_json 'r["flags"]')"
check_eq "... and every local copy of it carries F" 0 \
	"$(gd_msg_files "$x" | grep -vc ':2,F')"

# Deleting one copy in a label folder removes that label only.
y=$(awk -F'\t' '$2 ~ /Family/ && $2 !~ /Work/ {print $1; exit}' "$gen/index.tsv")
rm "$(gd_msg_files "$y" | grep '/Family/' | head -1)"
gd -q sync
labels=$(gm_ctl message "msgid=$y" | gm_json 'r["labels"]')
check "a local deletion in Family removes the Family label" bash -c "! grep -qx Family <<<'$labels'"
check_eq "... and the message stays in All Mail" 1 \
	"$(gm_ctl list 'folder=[Gmail]/All Mail' | gm_json "[m for m in r['messages'] if m['msgid'] == $y]" | wc -l)"

# Deleting it in Archive (All Mail) sends it to Trash, off every label.
z=$(awk -F'\t' '$2 ~ /Work/ {n++} $2 ~ /Work/ && n == 3 {print $1; exit}' "$gen/index.tsv")
rm "$(gd_msg_files "$z" | grep '/Archive/' | head -1)"
gd -q sync
check_contains "a local deletion in Archive moves the message to Trash" '\Trash' \
	"$(gm_ctl message "msgid=$z" | gm_json 'r["labels"]')"
gd -q sync
check_eq "... and after the next sync no local copy is left" "" "$(gd_msg_files "$z")"
check_eq "no APPEND was ever sent" 0 "$(gm_counter appends)"

# A copy into another label's folder (a hard link, as a mail reader or a
# script might make) adds the label; it never creates a second message.
c=$(awk -F'\t' '$2 !~ /Travel/ && $2 !~ /Work/ {n++} $2 !~ /Work/ && n == 5 {print $1; exit}' "$gen/index.tsv")
src=$(gd_msg_files "$c" | grep '/Archive/' | head -1)
mkdir -p "$GD_MAIL/Work/cur"
ln "$src" "$GD_MAIL/Work/cur/1800000000.copy.test:2,S"
msgs_before=$(gm_ctl list 'folder=[Gmail]/All Mail' | gm_json 'len(r["messages"])')
gd -q sync
check_contains "a file linked into Work adds the Work label to that message" "Work" \
	"$(gm_ctl message "msgid=$c" | gm_json 'r["labels"]')"
check_eq "... no new message on the server" "$msgs_before" \
	"$(gm_ctl list 'folder=[Gmail]/All Mail' | gm_json 'len(r["messages"])')"
check_eq "... no APPEND sent" 0 "$(gm_counter appends)"

before=$(gm_ctl counters | gm_json 'r["commands"].get("UID STORE", 0) + r["commands"].get("APPEND", 0)')
out=$(gd sync 2>&1)
check_contains "a sync after all that changes nothing" "unchanged" "$out"
check_eq "... and sends no STORE or APPEND" "$before" \
	"$(gm_ctl counters | gm_json 'r["commands"].get("UID STORE", 0) + r["commands"].get("APPEND", 0)')"

# Quota: a download cut by [OVERQUOTA] keeps what arrived; the next run
# resumes without downloading anything twice.
gm_ctl reset_counters >/dev/null
gm_ctl set "quota_bytes=$((total / 3))" >/dev/null
gd_setup_gmail
out=$(gd sync 2>&1)
check_eq "a sync stopped by OVERQUOTA exits 1" 1 "$?"
check_contains "... saying what happened" "OVERQUOTA" "$out"
check_contains "... and that the next run resumes" "run again later" "$out"
kept=$(sqlite3 "$GD_STATE/state.db" "select count(distinct gm_msgid) from pairs")
check "... keeping what arrived ($kept messages)" test "$kept" -gt 0
gm_ctl set quota_bytes=null >/dev/null
gm_ctl quota_reset >/dev/null
gd -q sync
check_eq "the next run completes" 0 "$?"
check_eq "no message was downloaded twice across the two runs" 1 \
	"$(gm_ctl counters | gm_json 'max(r["downloads"].values())')"

# Logins.
gd_setup_gmail "auth: xoauth2
oauth2_token_command: \"echo $GM_TOKEN\""
gd -q sync --dry-run
check_eq "XOAUTH2 with a good token logs in" 0 "$?"
gd_setup_gmail "auth: xoauth2
oauth2_token_command: \"echo not-a-token\""
out=$(gd sync 2>&1)
check_eq "XOAUTH2 with a bad token fails (exit 1)" 1 "$?"
check_contains "... with Gmail's text and a hint to refresh the token" "fresh access token" "$out"
gd_setup_gmail "password: \"wrong wrong wrong\""
out=$(gd sync 2>&1)
check_contains "a wrong App Password shows Gmail's text" "Invalid credentials" "$out"
gm_ctl set auth_mode=app-password-required >/dev/null
gd_setup_gmail
out=$(gd sync 2>&1)
check_contains "an account that needs an App Password is told how to make one" \
	"myaccount.google.com/apppasswords" "$out"
gm_ctl set auth_mode=normal >/dev/null

# The daemon idling on a Gmail system folder by its server name syncs it
# under its local name (Archive) as soon as mail arrives.
gd_setup_gmail "password: \"$GM_PASS\"
idle: [\"[Gmail]/All Mail\"]
poll_interval: 3600"
"$GMAILDIR_BIN" -c "$GD_CONF" daemon >"$GD_DIR/daemon.log" 2>&1 &
dpid=$!
for i in $(seq 1 200); do grep -q "first sync done" "$GD_DIR/daemon.log" && break; sleep 0.1; done
n0=$(find "$GD_MAIL/Archive" -type f | wc -l)
printf 'From: a@b.test\nSubject: idle\nMessage-ID: <idle-archive@test>\n\nhi\n' >"$GD_DIR/idle.eml"
gm_ctl add "file=$GD_DIR/idle.eml" "labels=" >/dev/null
for i in $(seq 1 100); do [ "$(find "$GD_MAIL/Archive" -type f | wc -l)" -gt "$n0" ] && break; sleep 0.1; done
check_eq "IDLE on [Gmail]/All Mail brings new mail into Archive at once" $((n0 + 1)) \
	"$(find "$GD_MAIL/Archive" -type f | wc -l)"
kill -TERM "$dpid"
wait "$dpid"

# Localized names: found by attribute, mapped to the plain local names.
gm_stop
gm_start "prefix=[Google Mail]" lang=de || exit 1
python3 tests/gmail/populate.py "$GM_CTL" "$gen" gm2 >/dev/null
gd_setup_gmail
gd -q sync
check_eq "with German names the sync exits 0" 0 "$?"
find "$GD_MAIL/Archive" -type f | sed 's/^/# /' | sort | tail -3
check_eq "All Mail ([Google Mail]/Alle Nachrichten) is Archive here" 300 \
	"$(find "$GD_MAIL/Archive/cur" "$GD_MAIL/Archive/new" -type f | wc -l)"
check "no localized system folder name appears locally" \
	bash -c "! ls '$GD_MAIL' | grep -q 'Google Mail'"
tap_done
