#!/usr/bin/env bash
# Real mbsync and OfflineIMAP Maildirs over the harness Dovecot, flags changed
# on both sides and synced again by the tools; store/peer_state must then
# report exactly what each tool last agreed: every server message of the
# folder once, with its UID, the file that holds it and its flags. A
# UIDVALIDITY that changed, or an mbsync run that never committed, gives
# nothing.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/peers.sh

PROBE=${GMAILDIR_TOOLS:-build/tools}/peer_probe
dc_start || exit 1
dc_populate "$DC_USER" INBOX 12 91 1K 8K >/dev/null
dc_populate "$DC_USER" "A/B" 4 92 1K 8K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:4 '\Seen'
dc_add_flags "$DC_USER" INBOX 3 '\Flagged'
dc_add_flags "$DC_USER" "A/B" 2 '\Answered'
WORK=$(mktemp -d /tmp/t_peer.XXXXXX)
MB=$WORK/mbsync OI=$WORK/offlineimap

check "mbsync makes a Maildir" peer_mbsync_sync "$MB"
check "offlineimap makes a Maildir" peer_offlineimap_sync "$OI"
check_eq "... mbsync's INBOX holds the 12 messages" 12 \
	"$(find "$MB/INBOX/cur" "$MB/INBOX/new" -type f | wc -l)"
check_eq "... each with mbsync's X-TUID header" 12 \
	"$(grep -l '^X-TUID: ' "$MB"/INBOX/{cur,new}/* | wc -l)"
check_eq "... offlineimap's A/B holds the 4, named U=<uid>,FMD5=<md5 of A/B>" 4 \
	"$(find "$OI/A/B" -type f -name "*,U=[0-9]*,FMD5=$(printf A/B | md5sum | cut -c1-32):2,*" | wc -l)"

# A mail reader's flag change in a Maildir: rename to cur/<unique>:2,<flags>.
local_flags() {
	local dir=$1 uidpat=$2 flags=$3 f
	f=$(find "$dir/cur" "$dir/new" -type f -name "*,U=${uidpat}[,:]*" | head -1)
	[ -n "$f" ] || return 1
	mv "$f" "$dir/cur/$(basename "${f%%:2,*}"):2,$flags"
}
# Local changes, each file found by the UID in its name (mbsync's near UIDs
# equal the server's on a first sync of an empty Maildir).
local_flags "$MB/INBOX" 5 FS
local_flags "$MB/INBOX" 1 ""
local_flags "$OI/INBOX" 6 RS
local_flags "$OI/A/B" 2 ""
# Server changes.
dc_add_flags "$DC_USER" INBOX 7 '\Flagged'
dc_add_flags "$DC_USER" INBOX 8 '$Forwarded'
dc_remove_flags "$DC_USER" INBOX 4 '\Seen'
dc_add_flags "$DC_USER" "A/B" 4 '\Draft'

# The server's view of a folder as "UID LETTERS" lines, the probe's format;
# with "noP", without $Forwarded, a keyword offlineimap does not map to P.
server_view() {
	local folder=$1 opt=${2:-} uid fl letters
	for uid in $(dc_uids "$DC_USER" "$folder"); do
		fl=$(dc_flags "$DC_USER" "$folder" "$uid")
		letters=
		[[ " $fl " == *' \Draft '* ]] && letters+=D
		[[ " $fl " == *' \Flagged '* ]] && letters+=F
		[[ " $fl " == *' $Forwarded '* && $opt != noP ]] && letters+=P
		[[ " $fl " == *' \Answered '* ]] && letters+=R
		[[ " $fl " == *' \Seen '* ]] && letters+=S
		[[ " $fl " == *' \Deleted '* ]] && letters+=T
		echo "$uid ${letters:--}"
	done
}

# Both tools sync the same account, so each one's view is the server's right
# after its own run (the other's run may change flags after that).
check "mbsync syncs the changes" peer_mbsync_sync "$MB"
MB_INBOX=$(server_view INBOX) MB_AB=$(server_view A/B)
check "offlineimap syncs the changes" peer_offlineimap_sync "$OI"
OI_INBOX=$(server_view INBOX noP) OI_AB=$(server_view A/B noP)

# check_peer DESC TOOL DIR FOLDER HOME WANT: the probe's records equal the
# server's UIDs and flags WANT (server_view), each names a file of
# DIR/FOLDER that holds that very message (same Message-ID) with those flags.
check_peer() {
	local desc=$1 tool=$2 root=$3 folder=$4 home=$5 want=$6 out uv got bad=0
	local uid unique letters file sid lid
	uv=$(dc_uidvalidity "$DC_USER" "$folder")
	out=$("$PROBE" "$root/$folder" "$folder" "$folder" "$uv" "$home") || {
		not_ok "$desc: peer_probe failed"
		return
	}
	check_contains "$desc: read from $tool's state" "$tool " "$(head -1 <<<"$out")"
	got=$(tail -n +2 <<<"$out" | awk '{print $1, $3}')
	check_eq "$desc: every server UID once, with its flags as synced" "$want" "$got"
	while read -r uid unique letters; do
		[ "$letters" = - ] && letters=
		file=$(find "$root/$folder/cur" "$root/$folder/new" -type f \
			-name "$unique:2,$letters" | head -1)
		if [ -z "$file" ]; then
			diag "UID $uid: no file $unique:2,$letters"
			bad=1
			continue
		fi
		sid=$(dc_fetch_stored "$DC_USER" "$folder" "$uid" | grep -im1 '^Message-ID:')
		lid=$(grep -im1 '^Message-ID:' "$file")
		if [ "$sid" != "$lid" ]; then
			diag "UID $uid: $file holds $lid, the server $sid"
			bad=1
		fi
	done < <(tail -n +2 <<<"$out")
	check_eq "$desc: each record names the file of that message, flags in its name" 0 "$bad"
}

check_peer "mbsync INBOX" mbsync "$MB" INBOX "$PEER_MBSYNC_HOME" "$MB_INBOX"
check_peer "mbsync A/B" mbsync "$MB" A/B "$PEER_MBSYNC_HOME" "$MB_AB"
check_peer "offlineimap INBOX" offlineimap "$OI" INBOX "$PEER_OFFLINEIMAP_HOME" "$OI_INBOX"
check_peer "offlineimap A/B" offlineimap "$OI" A/B "$PEER_OFFLINEIMAP_HOME" "$OI_AB"
check_contains "the local change reached the server through mbsync" '\Flagged' \
	"$(dc_flags "$DC_USER" INBOX 5)"
check_contains "... and through offlineimap" '\Answered' "$(dc_flags "$DC_USER" INBOX 6)"

# The tools' state is of the old folder once the server's UIDVALIDITY
# changes: no record may be trusted.
uv=$(dc_uidvalidity "$DC_USER" A/B)
dc_set_uidvalidity "$DC_USER" A/B $((uv + 1000))
out=$("$PROBE" "$MB/A/B" A/B A/B $((uv + 1000)) "$PEER_MBSYNC_HOME")
check_contains "a new server UIDVALIDITY: nothing from mbsync" "none: " "$out"
check_contains "... saying why" "server UIDVALIDITY was $uv" "$out"
out=$("$PROBE" "$OI/A/B" A/B A/B $((uv + 1000)) "$PEER_OFFLINEIMAP_HOME")
check_contains "... nothing from offlineimap" "none: " "$out"

# An mbsync run that stopped before committing leaves <state>.new beside
# the state (and a journal that is not replayed).
uv=$(dc_uidvalidity "$DC_USER" INBOX)
touch "$PEER_MBSYNC_HOME/.mbsync/:far:INBOX_:near:INBOX.new"
out=$("$PROBE" "$MB/INBOX" INBOX INBOX "$uv" "$PEER_MBSYNC_HOME")
check_contains "an interrupted mbsync run: its state is not used" "interrupted" "$out"
rm -f "$PEER_MBSYNC_HOME/.mbsync/:far:INBOX_:near:INBOX.new"
check_contains "... and is again once a run committed" "mbsync " \
	"$("$PROBE" "$MB/INBOX" INBOX INBOX "$uv" "$PEER_MBSYNC_HOME" | head -1)"
rm -rf "$WORK"
check "the server logged no error" dc_log_check
tap_done
