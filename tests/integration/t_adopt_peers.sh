#!/usr/bin/env bash
# Moving from mbsync or OfflineIMAP: real isync 1.4 and offlineimap3 make a
# Maildir of 1,000 messages from the harness Dovecot; then, as happens
# between a user's last run of the old tool and the first of gmaildir,
# flags are set and cleared on both sides, messages are deleted on both
# sides and new ones arrive on both. gmaildir's first sync over that
# Maildir must transfer no body but the new messages', keep every change
# made on either side (the old tool's state is the three-way base: a flag
# cleared on one side stays cleared), propagate the deletions, and leave a
# next sync with nothing to do.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh
source tests/lib/peers.sh

# ADOPT_PEERS_COUNT (at least 200) for a quicker run by hand.
N=${ADOPT_PEERS_COUNT:-1000}
dc_start || exit 1

# file_of FOLDER UID: the local file holding the server message UID, found
# by its Message-ID (the old tool's names and UIDs are its own).
file_of() {
	file_of_id "$1" "$(msgid_of "$1" "$2")"
}

msgid_of() {
	dc_doveadm fetch -u "$DC_USER" hdr.message-id mailbox "$1" uid "$2" |
		sed -n 's/^hdr.message-id: *//p'
}

# file_of_id FOLDER MESSAGE-ID: the local file with that Message-ID.
file_of_id() {
	[ -n "$2" ] || return 0
	grep -rlF -- "Message-ID: $2" "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" | head -1
}

# set_local FOLDER UID FLAGS: a mail reader's rename to cur/<unique>:2,FLAGS.
set_local() {
	local f base
	f=$(file_of "$1" "$2")
	[ -n "$f" ] || return 1
	base=$(basename "$f")
	mv "$f" "$GD_MAIL/$1/cur/${base%%:2,*}:2,$3"
}

# local_flags FOLDER UID: the flag letters of its local file ("gone": none).
local_flags() {
	local f
	f=$(file_of "$1" "$2")
	if [ -z "$f" ]; then echo gone; else
		case $f in *:2,*) echo "${f##*:2,}" ;; *) echo "" ;; esac
	fi
}

count_local() { find "$GD_MAIL/$1/cur" "$GD_MAIL/$1/new" -type f | wc -l; }

# scenario TOOL: the whole move from TOOL (mbsync | offlineimap).
scenario() {
	local tool=$1 home out
	gd_fresh
	dc_populate "$DC_USER" INBOX "$N" "peers-$tool" 1K 3K >/dev/null
	dc_populate "$DC_USER" Archive 30 "peers-$tool-a" 1K 3K >/dev/null
	mapfile -t U < <(dc_uids "$DC_USER" INBOX)
	dc_add_flags "$DC_USER" INBOX "${U[0]}:${U[$((N / 2 - 1))]}" '\Seen'
	check "$tool makes its Maildir of $N + 30 messages" "peer_${tool}_sync" "$GD_MAIL"
	home=$PEER_MBSYNC_HOME
	[ "$tool" = offlineimap ] && home=$PEER_OFFLINEIMAP_HOME
	check_eq "... all there" "$N 30" "$(count_local INBOX) $(count_local Archive)"

	# What happens after the old tool's last run.
	dc_add_flags "$DC_USER" INBOX "${U[0]}:${U[19]}" '\Flagged'
	for i in $(seq 20 39); do set_local INBOX "${U[$i]}" ""; done
	dc_remove_flags "$DC_USER" INBOX "${U[40]}:${U[59]}" '\Seen'
	for i in $(seq 60 69); do set_local INBOX "${U[$i]}" FS; done
	local expunged_id
	expunged_id=$(msgid_of INBOX "${U[70]}")
	dc_expunge "$DC_USER" INBOX "${U[70]}:${U[74]}"
	for i in $(seq 75 79); do
		f=$(file_of INBOX "${U[$i]}")
		[ -n "$f" ] && rm -f "$f"
	done
	dc_add_flags "$DC_USER" INBOX "${U[80]}" '\Answered'
	set_local INBOX "${U[80]}" FS
	dc_populate "$DC_USER" INBOX 5 "peers-$tool-new" 1K 3K >/dev/null
	gd_write_local INBOX cur "1800000001.new1.here:2,S" "<new1-$tool@example.test>"
	gd_write_local INBOX new "1800000002.new2.here" "<new2-$tool@example.test>"

	out=$(HOME=$home gd sync 2>&1)
	check_eq "$tool: the first sync over its Maildir exits 0" 0 "$?"
	diag "$(grep -v unchanged <<<"$out")"
	check_contains "... merges against $tool's last sync" "merged against $tool's last sync" "$out"
	check_contains "... INBOX: only the 5 new messages came down, the 2 new went up" \
		"test/INBOX: 5 down" "$out"
	check_contains "... (uploads)" ", 2 up," "$out"
	check_contains "... Archive: nothing to transfer" "test/Archive: 0 down (0.0 MB), 0 up" \
		"$(sed 's/unchanged, 30 messages/0 down (0.0 MB), 0 up/' <<<"$out")"
	local want=$((N - 10 + 5 + 2))
	check_eq "... the server holds $want messages in INBOX, once each" "$want" \
		"$(dc_status_field "$DC_USER" INBOX messages)"
	check_eq "... and so does the Maildir" "$want" "$(count_local INBOX)"
	check_contains "a flag set on the server came down" F "$(local_flags INBOX "${U[0]}")"
	check "a \\Seen cleared here was cleared on the server" \
		lacks '\Seen' "$(dc_flags "$DC_USER" INBOX "${U[20]}")"
	check_eq "... and stays cleared here" "" "$(local_flags INBOX "${U[20]}")"
	check_eq "a \\Seen cleared on the server was cleared here" "" "$(local_flags INBOX "${U[40]}")"
	check_contains "a flag set here went up" '\Flagged' "$(dc_flags "$DC_USER" INBOX "${U[60]}")"
	check_eq "both sides' changes to one message merged" "FRS" "$(local_flags INBOX "${U[80]}")"
	check_contains "... on the server too" '\Flagged' "$(dc_flags "$DC_USER" INBOX "${U[80]}")"
	check "a message the server expunged (Message-ID $expunged_id)" test -n "$expunged_id"
	check_eq "... went here" "" "$(file_of_id INBOX "$expunged_id")"
	check "a message deleted here went on the server" gd_no_uid INBOX "${U[75]}" "${U[79]}"
	compare() { GD_COMPARE_NO_MTIME=1 GD_COMPARE_TOOL_HEADERS=1 gd_compare "$1"; }
	check "INBOX: both sides hold the same messages with the same flags" compare INBOX
	check "Archive: likewise" compare Archive
	out=$(HOME=$home gd sync 2>&1)
	check_eq "$tool: the next sync has nothing to do" 0 "$(grep -vc unchanged <<<"$out")"
}

lacks() { [[ "$2" != *"$1"* ]]; }

scenario mbsync
scenario offlineimap
tap_done
