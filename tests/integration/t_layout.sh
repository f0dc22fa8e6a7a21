#!/usr/bin/env bash
# layout: maildir++ uses an existing Maildir++ tree (Dovecot's, Courier's,
# OfflineIMAP's "sep = .", mbsync's "SubFolders Maildir++") in place: INBOX
# in the root, folders as dot directories ".Sent", ".Lists.dev". The first
# sync adopts what is there (Message-ID + size), downloads only what is
# missing, into the right dot directories, and makes no verbatim-style
# directory; a dot directory made by the user becomes a server folder; the
# next sync changes nothing. The harness Dovecot's hierarchy separator is
# '/', so ".Lists.dev" is the server's "Lists/dev".
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup test "layout: maildir++"
dc_populate "$DC_USER" INBOX 10 91 1K 8K >/dev/null
dc_populate "$DC_USER" Sent 5 92 1K 8K >/dev/null
dc_populate "$DC_USER" Lists/dev 6 93 1K 8K >/dev/null
dc_populate "$DC_USER" v1.2 2 94 1K 8K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:3 '\Seen'

# The tree another tool left: INBOX 1..8 in the root, all of Sent, Lists/dev
# 1..4, with the server's bytes under the other tool's names; one message
# of Lists/dev exists only here.
# stored FOLDER DIR N: the first N messages of FOLDER into DIR/cur, with
# the server's flags (only \Seen is set here).
stored() {
	local uid flags
	mkdir -p "$2"/{cur,new,tmp}
	for uid in $(dc_uids "$DC_USER" "$1" | head -"$3"); do
		flags=
		case $(dc_flags "$DC_USER" "$1" "$uid") in *'\Seen'*) flags=S ;; esac
		dc_fetch_stored "$DC_USER" "$1" "$uid" >"$2/cur/othertool.$uid:2,$flags"
	done
}
stored INBOX "$GD_MAIL" 8
stored Sent "$GD_MAIL/.Sent" 5
stored Lists/dev "$GD_MAIL/.Lists.dev" 4
mkdir -p "$GD_MAIL/.Lists.dev/tmp"
printf 'From: a@example.test\nSubject: only here\nMessage-ID: <only-here@test>\n\nbody\n' \
	>"$GD_MAIL/.Lists.dev/tmp/onlyhere"
mv "$GD_MAIL/.Lists.dev/tmp/onlyhere" "$GD_MAIL/.Lists.dev/cur/onlyhere:2,S"
# Not folders: a dot directory without cur/ and new/ (notmuch's database)
# and a verbatim-style directory, which Maildir++ does not read.
mkdir -p "$GD_MAIL/.notmuch/xapian"
before=$(cd "$GD_MAIL" && find . -type f | LC_ALL=C sort)

out=$(gd sync 2>&1)
rc=$?
check_eq "first sync over a Maildir++ tree exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || diag "$out"
check_eq "... INBOX: the server has no new message" 10 \
	"$(dc_status_field "$DC_USER" INBOX messages)"
check_eq "... Sent: the server has no new message" 5 "$(dc_status_field "$DC_USER" Sent messages)"
check_eq "... Lists/dev: the server gained only the local-only message" 7 \
	"$(dc_status_field "$DC_USER" Lists/dev messages)"
check_eq "... every file that was there is still there, under its name" "" \
	"$(comm -23 <(printf '%s\n' "$before") <(cd "$GD_MAIL" && find . -type f | LC_ALL=C sort))"
check_eq "... INBOX in the root gained only the 2 it lacked" 10 \
	"$(find "$GD_MAIL/cur" "$GD_MAIL/new" -type f | wc -l)"
check_eq "... .Lists.dev gained only the 2 it lacked" 7 \
	"$(find "$GD_MAIL/.Lists.dev/cur" "$GD_MAIL/.Lists.dev/new" -type f | wc -l)"
compare_no_mtime() { GD_COMPARE_NO_MTIME=1 gd_compare "$@"; }
check "... INBOX equals the root" compare_no_mtime INBOX "$GD_MAIL"
check "... Sent equals .Sent" compare_no_mtime Sent "$GD_MAIL/.Sent"
check "... Lists/dev equals .Lists.dev" compare_no_mtime Lists/dev "$GD_MAIL/.Lists.dev"
check "... a name with a '.' (v1.2) is .v1%2E2" gd_compare v1.2 "$GD_MAIL/.v1%2E2"
check "... the server's empty Drafts is .Drafts" test -d "$GD_MAIL/.Drafts/cur"
check_eq "... no verbatim-style directory was made" "" \
	"$(cd "$GD_MAIL" && find . -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -name cur \
		! -name new ! -name tmp)"
check_eq "... the state records the local paths" \
	".|.Lists.dev|.Sent|.v1%2E2" \
	"$(gd_state "select local_path from folders where remote in
		('INBOX', 'Sent', 'Lists/dev', 'v1.2') order by local_path" | paste -sd'|')"
check "... .notmuch was not taken for a folder" test ! -e "$GD_MAIL/.notmuch/cur"
check_eq "... and no server folder 'notmuch' was made" "" \
	"$(dc_folders "$DC_USER" | grep -i notmuch)"

out=$(gd list 2>&1)
check_contains "list shows INBOX as the root" "$GD_MAIL
" "$(grep -E '^  INBOX ' <<<"$out" | awk '{print $NF}')
"
check_contains "list shows Lists/dev's dot directory" "$GD_MAIL/.Lists.dev" "$out"

gd_check_idle "after adoption"

# A folder made by the user as a dot directory becomes a server folder.
# (Not ".Lists.new": Maildir++ allows it, but the harness Dovecot, storing
# LAYOUT=fs, refuses a folder named "new" with [CANNOT].)
mkdir -p "$GD_MAIL/.Lists.announce"/{cur,new,tmp}
printf 'From: a@example.test\nSubject: new list\nMessage-ID: <new-list@test>\n\nbody\n' \
	>"$GD_MAIL/.Lists.announce/tmp/m1"
mv "$GD_MAIL/.Lists.announce/tmp/m1" "$GD_MAIL/.Lists.announce/new/m1"
out=$(gd sync 2>&1)
check_eq "a sync with a new local .Lists.announce exits 0" 0 "$?"
check_contains "... the server has the folder Lists/announce" "Lists/announce" \
	"$(dc_folders "$DC_USER")"
check_eq "... holding the message" 1 "$(dc_status_field "$DC_USER" Lists/announce messages)"
check "... Lists/announce equals .Lists.announce" compare_no_mtime Lists/announce \
	"$GD_MAIL/.Lists.announce"
check_eq "... no folder was made from the root's cur/new/tmp" "" \
	"$(dc_folders "$DC_USER" | grep -E '^(cur|new|tmp)$')"
gd_check_idle "after the new folder"

# A server folder made meanwhile lands as a dot directory too.
dc_populate "$DC_USER" Lists/ops 2 95 1K 8K >/dev/null
gd -q sync
check "a new server folder Lists/ops lands in .Lists.ops" gd_compare Lists/ops \
	"$GD_MAIL/.Lists.ops"
check "... not in Lists/ops" test ! -e "$GD_MAIL/Lists"

# The daemon sees changes in a Maildir++ tree: a message delivered into
# the root (INBOX), a new dot directory (a folder), within seconds, long
# before its 300 s poll.
LOG=$GD_DIR/daemon.log
trap 'gd_daemon_stop; _gd_cleanup; dc_cleanup' EXIT
ready() { grep -q "first sync done" "$LOG"; }
server_count() { [ "$(dc_status_field "$DC_USER" "$1" messages 2>/dev/null)" = "$2" ]; }
gd_daemon_start -v
check "the daemon comes up on the Maildir++ tree" wait_for 20 ready
printf 'From: a@example.test\nSubject: to INBOX\nMessage-ID: <daemon-inbox@test>\n\nb\n' \
	>"$GD_MAIL/tmp/d1"
mv "$GD_MAIL/tmp/d1" "$GD_MAIL/new/d1"
check "... a message delivered into the root reaches INBOX" wait_for 20 server_count INBOX 11
mkdir -p "$GD_MAIL/.Lists.later"/{cur,new,tmp}
printf 'From: a@example.test\nSubject: later\nMessage-ID: <daemon-later@test>\n\nb\n' \
	>"$GD_MAIL/.Lists.later/tmp/d2"
mv "$GD_MAIL/.Lists.later/tmp/d2" "$GD_MAIL/.Lists.later/cur/d2:2,S"
check "... a new dot directory becomes the server folder Lists/later" \
	wait_for 20 server_count Lists/later 1
gd_daemon_stop
check "... INBOX equals the root" compare_no_mtime INBOX "$GD_MAIL"
check "... Lists/later equals .Lists.later" compare_no_mtime Lists/later "$GD_MAIL/.Lists.later"

# Changing the layout of a synced account is refused, before anything is
# touched: the old paths would look emptied, the new ones unknown.
sed -i 's/^    layout: maildir++$/    layout: verbatim/' "$GD_CONF"
before=$(gd_snapshot)
out=$(gd sync 2>&1)
check_eq "a sync after changing the layout is refused (exit 3)" 3 "$?"
check_contains "... saying why" "but layout: verbatim puts it in $GD_MAIL/INBOX" "$out"
check_eq "... and nothing changed" "$before" "$(gd_snapshot)"
sed -i 's/^    layout: verbatim$/    layout: maildir++/' "$GD_CONF"
gd_check_idle "with the layout set back"

# A tree made by the real mbsync (SubFolders Maildir++): gmaildir finds its
# folders where mbsync put them and adopts its files (their X-TUID header
# left out of the comparison: sync/adopt.c): nothing goes up, nothing
# comes down but what mbsync keeps where gmaildir does not look. mbsync writes INBOX/kids as
# "..kids", not Dovecot's ".INBOX.kids" that gmaildir uses: that directory
# has no server name for gmaildir and is left alone (with direction: both,
# with a notice).
if command -v mbsync >/dev/null; then
	gd_fresh "layout: maildir++"
	dc_populate "$DC_USER" INBOX 4 101 1K 4K >/dev/null
	dc_populate "$DC_USER" Sent 2 102 1K 4K >/dev/null
	dc_populate "$DC_USER" Lists/dev 3 103 1K 4K >/dev/null
	dc_populate "$DC_USER" INBOX/kids 2 104 1K 4K >/dev/null
	# A Maildir++ store has no Path, only an Inbox, which is the root.
	printf '%s\n' "IMAPAccount harness" "Host localhost" "Port $DC_PORT_IMAPS" \
		"User $DC_USER" "Pass $DC_PASS" "SSLType IMAPS" "CertificateFile $DC_CA" \
		"AuthMechs LOGIN" "" "IMAPStore far" "Account harness" "" \
		"MaildirStore near" "Inbox $GD_MAIL" "SubFolders Maildir++" "" \
		"Channel harness" "Far :far:" "Near :near:" "Patterns *" "Create Near" \
		"Sync Pull" "SyncState *" >"$GD_DIR/mbsyncrc"
	mkdir -p "$GD_MAIL"
	timeout -k 5 120 mbsync -q -c "$GD_DIR/mbsyncrc" -a >"$GD_DIR/mbsync.log" 2>&1
	check_eq "mbsync made its Maildir++ tree" 0 "$?"
	dirs() { (cd "$GD_MAIL" && find . -mindepth 1 -maxdepth 1 -type d | LC_ALL=C sort); }
	mbsync_dirs=$(dirs)
	check_contains "... with .Lists.dev" "./.Lists.dev" "$mbsync_dirs"
	kids_before=$(cd "$GD_MAIL/..kids" && find . | LC_ALL=C sort)
	out=$(gd sync 2>&1)
	check_eq "gmaildir syncs over it" 0 "$?"
	check_eq "... adding no directory but .INBOX.kids" "./.INBOX.kids" \
		"$(comm -13 <(printf '%s\n' "$mbsync_dirs") <(dirs))"
	check_eq "... leaving mbsync's ..kids alone" "$kids_before" \
		"$(cd "$GD_MAIL/..kids" && find . | LC_ALL=C sort)"
	check_eq "... it uses mbsync's directories" \
		".|.Archive|.Drafts|.INBOX.kids|.Junk|.Lists.dev|.Sent|.Trash" \
		"$(gd_state "select local_path from folders order by local_path" | paste -sd'|')"
	check "... INBOX's messages are in the root" test -n "$(ls "$GD_MAIL/new" "$GD_MAIL/cur")"
	check_contains "... adopting mbsync's files" "4 messages already here matched" "$out"
	check_eq "... uploading none of them" "4 2 3" "$(dc_status_field "$DC_USER" INBOX messages) \
$(dc_status_field "$DC_USER" Sent messages) $(dc_status_field "$DC_USER" Lists/dev messages)"
	check_eq "... downloading none but INBOX/kids'" "4 2 3 2" \
		"$(find "$GD_MAIL/cur" "$GD_MAIL/new" -type f | wc -l) \
$(find "$GD_MAIL/.Sent/cur" "$GD_MAIL/.Sent/new" -type f | wc -l) \
$(find "$GD_MAIL/.Lists.dev/cur" "$GD_MAIL/.Lists.dev/new" -type f | wc -l) \
$(find "$GD_MAIL/.INBOX.kids/cur" "$GD_MAIL/.INBOX.kids/new" -type f | wc -l)"
else
	ok "# SKIP mbsync is not installed"
fi

dc_log_check
check "the server logged no errors" true
tap_done
