#!/usr/bin/env bash
# The whole round trip through a real MTA (Postfix, tests/lib/mta.sh) that
# authenticates against the test Dovecot and delivers into it over LMTP:
# a message piped to `gmaildir send -t` while the server is down exits 0,
# is delivered exactly once after the server comes back (by sync, then by
# the daemon), Bcc stripped, appears once in INBOX on the next sync, and
# (not Gmail: save_sent auto) once in Sent, on the server and locally.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/mta.sh
source tests/lib/gmaildir.sh

mta_prepare || exit 1
dc_start --conf "$MTA_DOVECOT_CONF" || exit 1
mta_start || exit 1
gd_setup test "poll_interval: 10
smtp:
  host: 127.0.0.1
  port: $MTA_PORT_STARTTLS
  tls: starttls"
BIN=$GMAILDIR_BIN
Q=$GD_STATE/outbox/new
# The first retry after 1 s instead of 60, so that a sync finds it due.
export GMAILDIR_SMTP_BACKOFF=1

# count USER FOLDER MESSAGE-ID: copies on the server.
count() { dc_doveadm search -u "$1" mailbox "$2" header message-id "$3" 2>/dev/null | wc -l; }
local_count() { grep -rl -F "$2" "$GD_MAIL/$1"/cur "$GD_MAIL/$1"/new 2>/dev/null | wc -l; }
msg() {
	printf 'From: Alice <%s@example.test>\nTo: Bob <%s@example.test>\nBcc: %s@example.test\nSubject: round trip %s\nMessage-ID: <mta%s@example.test>\n\nHello Bob, %s.\n' \
		"$DC_USER" "$DC_USER2" "$DC_USER" "$1" "$1" "$1"
}

gd_sync_ok "first sync"

# --- down, then back: sync sends it -----------------------------------------
mta_stop
out=$(msg 1 | "$BIN" -c "$GD_CONF" send -t 2>&1)
check_eq "server down: send -t exits 0" 0 "$?"
check_contains "... says it is queued" "queued in" "$out"
check_eq "... one message in the outbox" 1 "$(find "$Q" -type f | wc -l)"
mta_start || exit 1
sleep 1.1 # past the (test) backoff
gd_sync_ok "server back: a sync"
check_eq "... the outbox is empty" 0 "$(find "$Q" -type f | wc -l)"
check "... delivered to Bob once" mta_wait_delivered "$DC_USER2" 1
check "... and to the Bcc recipient once" mta_wait_delivered "$DC_USER" 1
check_eq "... Bob's copy has no Bcc field" 0 \
	"$(dc_doveadm fetch -u "$DC_USER2" text mailbox INBOX all 2>/dev/null | grep -ci '^Bcc:')"
check_eq "... the copy for the Sent folder went up once (server Sent)" 1 \
	"$(count "$DC_USER" Sent '<mta1@example.test>')"
gd_sync_ok "the next sync"
check_eq "... INBOX has the delivered message once, locally" 1 \
	"$(local_count INBOX '<mta1@example.test>')"
check_eq "... Sent has it once, locally" 1 "$(local_count Sent '<mta1@example.test>')"
check_eq "... and still once on the server" 1 "$(count "$DC_USER" Sent '<mta1@example.test>')"
check_eq "... the local Sent copy is marked seen" 1 \
	"$(find "$GD_MAIL/Sent/cur" -name '*:2,*S*' -type f | xargs grep -l -F '<mta1@example.test>' | wc -l)"
gd_sync_ok "one more sync"
check_eq "... nothing doubled anywhere" "1 1 1 1" \
	"$(count "$DC_USER2" INBOX '<mta1@example.test>') $(count "$DC_USER" Sent '<mta1@example.test>') $(local_count INBOX '<mta1@example.test>') $(local_count Sent '<mta1@example.test>')"

# --- implicit TLS (465 style) -------------------------------------------------
sed -i "s/port: $MTA_PORT_STARTTLS/port: $MTA_PORT_TLS/; s/tls: starttls/tls: implicit/" "$GD_CONF"
msg 2 | "$BIN" -c "$GD_CONF" send -t >/dev/null 2>&1
check_eq "implicit TLS: sent at once" 0 "$(find "$Q" -type f | wc -l)"
check "... delivered to Bob" mta_wait_delivered "$DC_USER2" 2

# --- the daemon ----------------------------------------------------------------
queue_empty() { [ "$(find "$Q" -type f | wc -l)" -eq 0 ]; }
gd_daemon_start
sleep 2 # the daemon's first sync
mta_stop
msg 3 | "$BIN" -c "$GD_CONF" send -t >/dev/null 2>&1
check_eq "daemon running, server down: queued" 1 "$(find "$Q" -type f | wc -l)"
mta_start || exit 1
check "... the daemon sends it once the server is back (poll + backoff)" \
	wait_for 40 queue_empty
check "... delivered to Bob once" mta_wait_delivered "$DC_USER2" 3
# A message put in the queue by a send killed right after queueing: the
# daemon notices it at once (inotify) and sends it.
msg 4 | GMAILDIR_CRASH_AT=1 "$BIN" -c "$GD_CONF" send -t >/dev/null 2>&1
check "a message left in the queue: the daemon sends it within seconds" \
	wait_for 15 queue_empty
check "... delivered to Bob once" mta_wait_delivered "$DC_USER2" 4
gd_daemon_stop
check "... no password in the daemon's log" bash -c "! grep -q -F '$DC_PASS' '$GD_DIR/daemon.log'"

tap_done
