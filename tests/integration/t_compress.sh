#!/usr/bin/env bash
# COMPRESS=DEFLATE (RFC 4978) against Dovecot with its imap_zlib plugin,
# the bytes counted on the wire by the fault proxy in pass mode:
#  - the initial download of text mail moves at most half the message
#    bytes, and every message is byte-identical with the server's;
#  - with `compress: never` the same download moves at least the bytes;
#  - uploads, flag changes and deletions over a compressed session;
#  - the daemon's IDLE over it: new mail within 3 s, a flag pushed back
#    (IDLE's DONE and every command must not sit in the compressor).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh
source tests/lib/proxy.sh

dc_start --conf 'protocol imap {
  mail_plugins = $mail_plugins imap_zlib
}' || exit 1
trap 'gd_daemon_stop; proxy_stop; _gd_cleanup; dc_cleanup' EXIT

caps=$(printf 'a LOGIN %s %s\r\nb CAPABILITY\r\nc LOGOUT\r\n' "$DC_USER" "$DC_PASS" | dc_imap 2>/dev/null)
check_contains "Dovecot offers COMPRESS=DEFLATE after login" "COMPRESS=DEFLATE" "$caps"

# wire_run CONF COUNTFILE ARGS...: gmaildir through a counting proxy.
wire_run() {
	local conf=$1 counts=$2
	shift 2
	proxy_start "$DC_PORT_IMAPS" "$conf" "$conf.proxied" "$GD_DIR/proxy.log" \
		--mode pass --count-file "$counts" --max-life 120 || return 1
	"$GMAILDIR_BIN" -c "$conf.proxied" "$@" >>"$GD_DIR/run.log" 2>&1
	local rc=$?
	proxy_stop
	return $rc
}
s2c() { awk '{print $2}' "$1"; }
has_flag() { dc_flags "$DC_USER" INBOX "$1" | grep -q "$2"; }
c2s() { awk '{print $1}' "$1"; }

# Text mail: genmail writes readable bodies, which compress well.
dc_populate "$DC_USER" INBOX 150 7 8K 24K >/dev/null
bytes=$(dc_doveadm -f tab fetch -u "$DC_USER" size.physical mailbox INBOX all | tail -n +2 |
	awk '{s += $1} END {print s}')

gd_setup z "compress: auto"
check "a compressed first sync" wire_run "$GD_CONF" "$GD_DIR/z.counts" sync
check "... every message byte-identical with the server's" gd_compare INBOX
down=$(s2c "$GD_DIR/z.counts")
diag "compressed: $down bytes from the server for $bytes bytes of messages"
check "... the wire carried at most half the message bytes ($down for $bytes)" \
	test "$((down * 2))" -le "$bytes"
Z_DIR=$GD_DIR

gd_setup plain "compress: never"
check "the same sync with compress: never" wire_run "$GD_CONF" "$GD_DIR/p.counts" sync
check "... byte-identical too" gd_compare INBOX
plain=$(s2c "$GD_DIR/p.counts")
diag "uncompressed: $plain bytes"
check "... and moved at least the message bytes ($plain)" test "$plain" -ge "$bytes"

# Two-way over compression: an upload, a flag, a deletion.
GD_DIR=$Z_DIR GD_CONF=$Z_DIR/config.yaml GD_MAIL=$Z_DIR/Mail GD_STATE=$Z_DIR/state
gd_write_local INBOX new 1800000001.M1.z "<z-up-1@test>"
gd_local_mv INBOX 1 cur ":2,FS"
gd_local_rm INBOX 2
check "a compressed two-way sync" wire_run "$GD_CONF" "$GD_DIR/z2.counts" sync
check "... the upload is on the server" test "$(gd_count_server INBOX)" -eq 150
check "... the flag too" has_flag 1 Flagged
check "... both sides equal" gd_compare INBOX

# The daemon, compressed, through the proxy.
proxy_start "$DC_PORT_IMAPS" "$GD_CONF" "$GD_CONF.proxied" "$GD_DIR/proxy.log" \
	--mode pass --count-file "$GD_DIR/d.counts" --max-life 120
"$GMAILDIR_BIN" -c "$GD_CONF.proxied" daemon >>"$GD_DIR/daemon.log" 2>&1 &
DPID=$!
check "the daemon's first sync" wait_for 20 grep -q "first sync done" "$GD_DIR/daemon.log"
check "... IDLE connected" wait_for 10 bash -c \
	"'$GMAILDIR_BIN' -c '$GD_CONF.proxied' status | grep -q 'IDLE INBOX: connected'"
n=$(gd_count_local INBOX)
t0=$(date +%s%N)
dc_populate "$DC_USER" INBOX 1 77 2K 4K >/dev/null
if wait_for 5 bash -c "[ \$(find '$GD_MAIL/INBOX/cur' '$GD_MAIL/INBOX/new' -type f | wc -l) -eq $((n + 1)) ]"; then
	check "IDLE over COMPRESS: new mail in $(ms_since "$t0") ms (< 3000)" test "$(ms_since "$t0")" -lt 3000
else
	not_ok "IDLE over COMPRESS: new mail arrives"
fi
gd_local_mv INBOX 3 cur ":2,S"
check "... a local flag reaches the server" wait_for 5 has_flag 3 Seen
gd_daemon_stop
proxy_stop
check "... and both sides are equal after it" gd_compare INBOX

# --- the Gmail fixture, which offers COMPRESS=DEFLATE as Gmail does -----------
source tests/gmail/fixture.sh
gm_start || exit 1
trap 'gd_daemon_stop; proxy_stop; _gd_cleanup; gm_cleanup; dc_cleanup' EXIT
gen=$(mktemp -d /tmp/gmz.XXXXXX)
GD_DIRS+=("$gen")
python3 tests/lib/genmail.py --count 60 --seed gz --min-size 8K --max-size 24K --out "$gen" >/dev/null
for f in "$gen"/*.eml; do gm_add "$f" '\Inbox' '' >/dev/null; done
gm_ctl reset_counters >/dev/null
gd_setup_gmail
check "a sync with the Gmail fixture" gd -q sync
check "... every connection compressed" \
	test "$(gm_counter compress_sessions)" -ge 1 -a "$(gm_counter compress_sessions)" -eq "$(gm_counter connections)"
out=$(gm_counter wire_bytes_out) plain_out=$(gm_counter plain_bytes_out)
diag "Gmail fixture: $out bytes on the wire for $plain_out of IMAP"
check "... the server's bytes at most half on the wire" test "$((out * 2))" -le "$plain_out"
check_eq "... all 60 messages" 60 "$(find "$GD_MAIL/INBOX" -type f | wc -l)"

tap_done
