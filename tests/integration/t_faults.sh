#!/usr/bin/env bash
# A mixed two-way sync (downloads, uploads, flag changes both ways,
# deletions both ways, a move across folders by rename) through
# tests/proxy/faultproxy.py, with the connection cut at 100 byte offsets
# spread over the session (measured first by a clean run through the
# proxy): half client-to-server, half server-to-client, some as a reset
# (RST) rather than a close. Each cut run starts from the same state (both
# sides restored from a snapshot) and is followed by a clean run, which
# must complete; then both sides must hold exactly the messages, flags and
# folders of an uninterrupted sync, each once. Also: a reset inside a
# literal (plain socket, where the proxy can see literals), a stall longer
# than the timeout, and a session delivered one byte at a time.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh
source tests/lib/proxy.sh

N_CUTS=${GMAILDIR_FAULT_CUTS:-100}
TIMEOUT=5
LIMIT=$((TIMEOUT * 4 + 10)) # bound of one cut run (it may wait out a timeout)

dc_start || exit 1
gd_setup test "timeout: $TIMEOUT
connections: 1"
F_DIR=$(mktemp -d /tmp/gd-faults.XXXXXX)
f_cleanup() {
	local rc=$?
	f_proxy_stop
	rm -rf "$F_DIR"
	return "$rc"
}
trap 'f_cleanup; dc_cleanup; _gd_cleanup' EXIT
SERVER_MAILDIR=$DC_DIR/home/$DC_USER/Maildir

# ---------------------------------------------------------------- helpers

# f_proxy_start CONF_OUT TARGET_PORT [PROXY ARGS...]: a proxy, and a copy of
# the config that goes through it (same Maildir and state).
f_proxy_start() {
	local conf=$1 port=$2
	shift 2
	proxy_start "$port" "$F_CONF_BASE" "$conf" "$F_DIR/proxy.log" --max-life 120 "$@"
}

f_proxy_stop() { proxy_stop; }

# f_sync CONF: one sync, bounded; sets RC and SECS.
f_sync() {
	local t0=$SECONDS
	OUT=$(timeout -k 2 "$LIMIT" "$GMAILDIR_BIN" -c "$1" -q sync 2>&1)
	RC=$?
	SECS=$((SECONDS - t0))
}

# Both sides as "side<TAB>folder<TAB>Message-ID<TAB>flags" lines, sorted:
# what must be identical on the two sides and to the uninterrupted run.
f_listing() {
	local dump=$F_DIR/listing.dump
	dc_doveadm -f tab fetch -u "$DC_USER" "mailbox flags hdr.message-id" all >"$dump" ||
		return 1
	"$DC_PYTHON" - "$dump" "$GD_MAIL" <<'EOF'
import os, re, sys
LET = {"\\Seen": "S", "\\Answered": "R", "\\Flagged": "F", "\\Deleted": "T",
       "\\Draft": "D", "$Forwarded": "P"}
out = []
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
for line in lines[1:]:
    if not line.strip():
        continue
    box, flags, mid = (line.split("\t") + ["", "", ""])[:3]
    fl = "".join(sorted(LET.get(f, "") for f in flags.split()))
    out.append("server\t%s\t%s\t%s" % (box, "".join(mid.split()), fl))
root = sys.argv[2]
ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)
for d, subs, files in os.walk(root):
    if os.path.basename(d) not in ("cur", "new"):
        continue
    box = os.path.relpath(os.path.dirname(d), root)
    for name in files:
        head = open(os.path.join(d, name), "rb").read().split(b"\n\n", 1)[0]
        m = ID.search(head)
        mid = b"".join(m.group(1).split()).decode("utf-8", "replace") if m else "-"
        fl = name.split(":2,", 1)[1] if ":2," in name else ""
        out.append("local\t%s\t%s\t%s" % (box, mid, "".join(sorted(fl))))
for line in sorted(out):
    print(line)
EOF
}

# Waits (<= 5 s) until no imap process of the instance is left: the
# server's files may then be replaced.
f_server_idle() {
	local i
	for i in $(seq 100); do
		ps -eo pgid=,args= | awk -v g="$_DC_MASTER_PID" '$1 == g' |
			grep -q 'dovecot/imap\( \|$\)' || return 0
		sleep 0.05
	done
	return 1
}

f_snapshot() {
	f_server_idle || diag "imap processes still running at snapshot"
	mkdir -p "$F_DIR/snap"
	cp -a "$SERVER_MAILDIR" "$F_DIR/snap/server"
	cp -a "$GD_MAIL" "$F_DIR/snap/mail"
	cp -a "$GD_STATE" "$F_DIR/snap/state"
}

f_restore() {
	f_server_idle || diag "imap processes still running at restore"
	rm -rf "$SERVER_MAILDIR" "$GD_MAIL" "$GD_STATE"
	cp -a "$F_DIR/snap/server" "$SERVER_MAILDIR"
	cp -a "$F_DIR/snap/mail" "$GD_MAIL"
	cp -a "$F_DIR/snap/state" "$GD_STATE"
}

# ---------------------------------------------------------------- scenario

dc_populate "$DC_USER" INBOX 20 51 1K 12K >/dev/null
dc_populate "$DC_USER" Archive 10 52 1K 6K >/dev/null
gd -q sync || { not_ok "initial sync"; exit 1; }
F_CONF_BASE=$GD_CONF

# Server side: 6 new, 4 marked \Seen, 3 expunged in INBOX; 2 flagged in Archive.
dc_populate "$DC_USER" INBOX 6 53 1K 20K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:4 '\Seen'
dc_expunge "$DC_USER" INBOX 18:20
dc_add_flags "$DC_USER" Archive 1:2 '\Flagged'
# Local side: 2 deleted and 2 flagged in INBOX, 5 new in INBOX, 2 new in
# Archive, one moved from Archive to INBOX by rename.
n=0
for f in $(ls "$GD_MAIL/INBOX/new" | LC_ALL=C sort | head -8 | tail -4); do
	n=$((n + 1))
	if [ $n -le 2 ]; then
		rm "$GD_MAIL/INBOX/new/$f"
	else
		mv "$GD_MAIL/INBOX/new/$f" "$GD_MAIL/INBOX/cur/$f:2,F"
	fi
done
for i in 1 2 3 4 5; do
	gd_write_local INBOX new "1900000$i.M$i.faulttest" "<local-$i@faults.test>" \
		"$(head -c $((i * 700)) /dev/zero | tr '\0' y)"
done
for i in 6 7; do
	gd_write_local Archive cur "1900000$i.M$i.faulttest:2,S" "<local-$i@faults.test>"
done
moved=$(ls "$GD_MAIL/Archive/new" | LC_ALL=C sort | head -1)
mv "$GD_MAIL/Archive/new/$moved" "$GD_MAIL/INBOX/new/$moved"
f_snapshot

# The reference: an uninterrupted sync through the proxy, which measures it.
f_proxy_start "$F_DIR/proxied.yaml" "$DC_PORT_IMAPS" --mode pass --count-file "$F_DIR/counts" ||
	{ not_ok "proxy start"; exit 1; }
f_sync "$F_DIR/proxied.yaml"
f_proxy_stop
check_eq "an uninterrupted sync through the proxy exits 0" 0 "$RC"
[ "$RC" -eq 0 ] || diag "$OUT"
read -r C2S S2C <"$F_DIR/counts"
diag "the session moves $C2S bytes to the server and $S2C back (TLS records)"
REF=$(f_listing)
check_eq "the reference: both sides hold the same messages and flags" \
	"$(grep '^server' <<<"$REF" | cut -f2-)" "$(grep '^local' <<<"$REF" | cut -f2-)"
check_eq "the reference: INBOX holds 27 messages (20 + 6 - 3 - 2 + 5 + 1)" 27 \
	"$(grep -c $'^server\tINBOX\t' <<<"$REF")"
check_eq "the reference: Archive holds 11 messages (10 + 2 - 1)" 11 \
	"$(grep -c $'^server\tArchive\t' <<<"$REF")"
check_eq "the reference: no Message-ID twice in a folder" "" \
	"$(cut -f1-3 <<<"$REF" | uniq -d)"
[ "$C2S" -gt 1000 ] && [ "$S2C" -gt 1000 ] || { not_ok "a measurable session"; exit 1; }

# f_fault_round WHAT PROXY_ARGS...: restore, a run through a faulty proxy
# (must not crash or hang), then a clean run (must exit 0); then both
# sides must equal the reference. Prints nothing; counts failures in
# F_BAD (with a diag line).
F_BAD=0
F_CUT_OK=0
f_fault_round() {
	local what=$1 conf=$F_DIR/proxied.yaml port=$DC_PORT_IMAPS got
	shift
	if [ "${F_PLAIN:-}" = 1 ]; then
		port=$DC_PORT_IMAP
	fi
	f_restore
	f_proxy_start "$conf" "$port" "$@" || { F_BAD=$((F_BAD + 1)); diag "$what: proxy"; return; }
	f_sync "$conf"
	f_proxy_stop
	if [ "$RC" -gt 3 ] || [ "$SECS" -gt "$LIMIT" ]; then
		F_BAD=$((F_BAD + 1))
		diag "$what: the faulty run crashed or hung (exit $RC, ${SECS}s): $(head -c 300 <<<"$OUT")"
	fi
	[ "$RC" -ne 0 ] && F_CUT_OK=$((F_CUT_OK + 1))
	F_FAULT_RC=$RC F_FAULT_OUT=$OUT F_FAULT_SECS=$SECS
	f_sync "$F_CONF_BASE"
	if [ "$RC" -ne 0 ]; then
		F_BAD=$((F_BAD + 1))
		diag "$what: the next run exits $RC: $(head -c 300 <<<"$OUT")"
		return
	fi
	got=$(f_listing)
	if [ "$got" != "$REF" ]; then
		F_BAD=$((F_BAD + 1))
		diag "$what: the result differs from the uninterrupted sync:"
		diff <(printf '%s\n' "$REF") <(printf '%s\n' "$got") | head -8 | sed 's/^/#   /'
	fi
}

# The cuts: half in each direction, spread evenly; every fifth a reset.
t0=$SECONDS
half=$((N_CUTS / 2))
for k in $(seq 0 $((N_CUTS - 1))); do
	j=$((k / 2))
	if [ $((k % 2)) -eq 0 ]; then
		dir=s2c at=$(((2 * j + 1) * S2C / (2 * half)))
	else
		dir=c2s at=$(((2 * j + 1) * C2S / (2 * half)))
	fi
	mode=cut
	[ $((k % 5)) -eq 4 ] && mode=reset
	f_fault_round "$mode $dir at $at" --mode "$mode" --dir "$dir" --at "$at"
done
check_eq "$N_CUTS cuts: each next run completes, both sides as without the cut" 0 "$F_BAD"
diag "$F_CUT_OK of the $N_CUTS cut runs failed as they should; $((SECONDS - t0)) s"
check "most cut runs were really cut (failed)" [ "$F_CUT_OK" -ge $((N_CUTS * 3 / 4)) ]

# A reset inside a literal: plaintext, so that the proxy can find one.
sed -i "s/^    tls: implicit/    tls: none\n    allow_insecure: true/" "$F_CONF_BASE"
sed -i "s/^    port: .*/    port: $DC_PORT_IMAP/" "$F_CONF_BASE"
F_BAD=0
resets=$(grep -c 'reset fired in s2c' "$F_DIR/proxy.log")
for at in 0 $((S2C / 3)) $((S2C * 2 / 3)); do
	F_PLAIN=1 f_fault_round "reset in a literal after $at" --mode reset-literal --dir s2c --at "$at"
done
check_eq "a reset inside a literal (plain socket, 3 places): the next run completes, same result" \
	0 "$F_BAD"
check "a reset inside a literal: the proxy did reset the connection mid-literal" \
	[ "$(grep -c 'reset fired in s2c' "$F_DIR/proxy.log")" -ge $((resets + 2)) ]
sed -i "s/^    tls: none/    tls: implicit/; /^    allow_insecure: true/d" "$F_CONF_BASE"
sed -i "s/^    port: .*/    port: $DC_PORT_IMAPS/" "$F_CONF_BASE"

# A stall longer than the timeout: the run must give up within its bounds.
# The transport lets an answer that already brought data wait longer (one
# more timeout per 16 KB: tls.c's pacing), and the middle of the session
# may fall in a large answer (a download of messages with 8-bit bytes
# fetches them twice: BODY[] and BINARY[]), so the stall outlasts any
# answer's budget at that point: 4 timeouts.
F_BAD=0
STALL=$((TIMEOUT * 4))
f_fault_round "stall" --mode stall --dir s2c --at $((S2C / 2)) --stall "$STALL"
check_eq "a stall of $STALL s mid-session: no hang, then a clean run completes" 0 "$F_BAD"
check_eq "a stall of $STALL s mid-session: the stalled run gives up (${F_FAULT_SECS}s)" 1 \
	"$F_FAULT_RC"
check "a stall of $STALL s mid-session: it says it timed out, or that the server is too slow" \
	grep -qE 'timed out|too slow' <<<"$F_FAULT_OUT"

# One byte at a time, the whole way: slow but correct.
F_BAD=0
f_restore
f_proxy_start "$F_DIR/proxied.yaml" "$DC_PORT_IMAPS" --mode trickle --dir s2c
f_sync "$F_DIR/proxied.yaml"
f_proxy_stop
check_eq "server replies in 1-byte pieces: the sync completes" 0 "$RC"
[ "$RC" -eq 0 ] || diag "$OUT"
check_eq "server replies in 1-byte pieces: same result as the uninterrupted sync" "$REF" \
	"$(f_listing)"

# And the end state is a fixed point: one more run changes nothing.
gd_check_idle "after all faults"
tap_done
