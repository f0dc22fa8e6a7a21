#!/usr/bin/env bash
# The daemon on a laptop, on loopback (t_netns.sh takes real links down):
#  - one account's server accepts TCP and never answers TLS: the other
#    account's local change still reaches its server within push latency,
#    and its server's new mail still arrives;
#  - SIGTERM while those handshakes hang: exit 0 within 2 s;
#  - a "resume" (SIGUSR2) after every connection went silently dead (the
#    fault proxy freezes them, as a NAT that forgot a sleeping laptop):
#    IDLE is replaced within seconds and a catch-up sync brings what
#    changed meanwhile, instead of waiting for the 60 s timeout;
#  - the connection budget: six folders to push with max_connections 4
#    never make the server see more than 4 connections, and a folder
#    beyond the IDLE budget is still pushed by STATUS polling.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh
source tests/lib/proxy.sh
source tests/lib/stall.sh

dc_start || exit 1
trap 'gd_daemon_stop; proxy_stop; stall_stop; _gd_cleanup; dc_cleanup' EXIT

files_in() { find "$1/cur" "$1/new" -type f 2>/dev/null | wc -l; }
# server_has_flag USER FOLDER UID FLAG: the message has FLAG.
server_has_flag() { dc_flags "$1" "$2" "$3" | grep -qF "$4"; }

# --- two accounts, one of them hanging --------------------------------------
stall_start
gd_setup good "idle: [INBOX]"
GOOD_DIR=$GD_DIR GOOD_MAIL=$GD_MAIL
dc_populate "$DC_USER" INBOX 3 1 1K 2K >/dev/null
gd sync >/dev/null 2>&1
check "the good account's first sync" test "$(files_in "$GOOD_MAIL/INBOX")" -eq 3
# The hanging account goes after the good one in the same config.
cat >>"$GD_CONF" <<EOF
  - name: hang
    host: 127.0.0.1
    port: $STALL_PORT
    tls: implicit
    ca_file: $DC_CA
    user: $DC_USER2
    password: "$DC_PASS2"
    maildir: $GD_DIR/MailHang
    state_dir: $GD_DIR/stateHang
    timeout: 60
EOF
LOG=$GD_DIR/daemon.log
gd_daemon_start
check "... its IDLE connects though the other's server hangs" \
	wait_for 15 bash -c "'$GMAILDIR_BIN' -c '$GD_CONF' status good | grep -q 'IDLE INBOX: connected'"
check "the hanging server got connections (they hang in TLS)" test "$(stall_count)" -ge 1
t0=$(date +%s%N)
gd_local_mv INBOX 1 cur ":2,FS"
if wait_for 5 server_has_flag "$DC_USER" INBOX 1 '\Flagged'; then
	ms=$(ms_since "$t0")
	check "a local flag change reaches the server in ${ms} ms (< 3000) meanwhile" test "$ms" -lt 3000
else
	not_ok "a local flag change reaches the server while the other account hangs"
fi
t0=$(date +%s%N)
dc_populate "$DC_USER" INBOX 1 50 1K 2K >/dev/null
if wait_for 5 bash -c "[ \$(find '$GOOD_MAIL/INBOX/cur' '$GOOD_MAIL/INBOX/new' -type f | wc -l) -eq 4 ]"; then
	check "new server mail arrives in $(ms_since "$t0") ms (< 3000) meanwhile" test "$(ms_since "$t0")" -lt 3000
else
	not_ok "new server mail arrives while the other account hangs"
fi
check "the daemon says nothing of a stall it cannot know yet but keeps running" kill -0 "$DPID"

gd_check_term_fast "while TLS handshakes hang"
check "... and the status file is gone" test ! -e "$GD_DIR/state/daemon-status"
stall_stop

# --- a resume after the connections went silently dead ----------------------
gd_setup resume "idle: [INBOX]"
LOG=$GD_DIR/daemon.log
proxy_start "$DC_PORT_IMAPS" "$GD_CONF" "$GD_DIR/proxied.yaml" "$GD_DIR/proxy.log" --max-life 200
cp "$GD_DIR/proxied.yaml" "$GD_CONF"
gd sync >/dev/null 2>&1
gd_daemon_start
check "resume: the daemon's first sync" wait_for 15 grep -q "first sync done" "$LOG"
check "... IDLE connected" \
	wait_for 10 bash -c "'$GMAILDIR_BIN' -c '$GD_CONF' status | grep -q 'IDLE INBOX: connected'"
n0=$(files_in "$GD_MAIL/INBOX")
kill -HUP "$PROXY_PID"
check "the proxy froze the live connections" wait_for 5 grep -q "signal freeze [1-9]" "$GD_DIR/proxy.log"
dc_populate "$DC_USER" INBOX 1 60 1K 2K >/dev/null
sleep 1.5 # the frozen IDLE cannot say it
t0=$(date +%s%N)
kill -USR2 "$DPID"
if wait_for 10 bash -c "[ \$(find '$GD_MAIL/INBOX/cur' '$GD_MAIL/INBOX/new' -type f | wc -l) -eq $((n0 + 1)) ]"; then
	ms=$(ms_since "$t0")
	check "after the resume the new message is here in ${ms} ms (< 6000, not the 60 s timeout)" \
		test "$ms" -lt 6000
else
	not_ok "after the resume the new message arrives"
fi
check "... the dead IDLE was found out by the check" \
	wait_for 5 grep -q "IDLE connection lost: no answer to a check" "$LOG"
check "... and IDLE is back" wait_for 5 grep -q "IDLE is back" "$LOG"
t0=$(date +%s%N)
dc_populate "$DC_USER" INBOX 1 70 1K 2K >/dev/null
if wait_for 5 bash -c "[ \$(find '$GD_MAIL/INBOX/cur' '$GD_MAIL/INBOX/new' -type f | wc -l) -eq $((n0 + 2)) ]"; then
	check "... pushing again: the next message in $(ms_since "$t0") ms" true
else
	not_ok "... pushing again after the resume"
fi
check_eq "... each loss logged once" 1 "$(grep -c "IDLE connection lost" "$LOG")"
gd_daemon_stop
proxy_stop

# --- the connection budget ----------------------------------------------------
for f in A B C D E; do dc_mkfolder "$DC_USER" "$f"; done
for f in A B C D E; do dc_populate "$DC_USER" "$f" 4 1 20K 40K >/dev/null; done
gd_setup budget "idle: [INBOX, A, B, C, D, E]
max_connections: 4
connections: 4
status_interval: 5"
LOG=$GD_DIR/daemon.log
dc_conn_max_start "$DC_USER"
gd_daemon_start
check "budget: the first sync (5 folders to download, 4 wished)" \
	wait_for 30 grep -q "first sync done" "$LOG"
check "... the log says which folders are polled" \
	grep -q "6 folder(s) to push, more than max_connections (4)" "$LOG"
check "... status lists 2 IDLE folders and the poller" \
	wait_for 10 bash -c "'$GMAILDIR_BIN' -c '$GD_CONF' status | grep -q 'polling 4 folder(s): connected'"
t0=$(date +%s%N)
dc_populate "$DC_USER" E 1 90 1K 2K >/dev/null
if wait_for 12 bash -c "[ \$(find '$GD_MAIL/E/cur' '$GD_MAIL/E/new' -type f | wc -l) -eq 5 ]"; then
	check "a message in a polled folder arrives in $(ms_since "$t0") ms (< 9000: 5 s interval)" \
		test "$(ms_since "$t0")" -lt 9000
else
	not_ok "a message in a polled folder arrives"
fi
gd_daemon_stop
max=$(dc_conn_max_stop "$DC_USER")
check "the server never saw more than 4 connections at once (saw $max)" test "$max" -le 4
check "... and saw some" test "$max" -ge 3

tap_done
