#!/usr/bin/env bash
# Sending through Gmail (the fixture's smtp.gmail.com): Gmail files every
# message submitted over its SMTP in [Gmail]/Sent Mail by itself, so
# gmaildir must append no copy; the next sync brings that one copy down
# and it is in the local Sent Mail exactly once, Bcc stripped. Both ports:
# 465 (implicit TLS, the default) and 587 (STARTTLS); XOAUTH2 too; a wrong
# App Password is refused and the message stays queued.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/gmail/fixture.sh
source tests/lib/gmaildir.sh

gm_start || exit 1
gd_setup_gmail "smtp: {host: 127.0.0.1, port: $GM_SMTP_PORT}"
BIN=$GMAILDIR_BIN
Q=$GD_STATE/outbox/new

appends() { gm_ctl counters | gm_json 'r["commands"].get("APPEND", 0)'; }
sent_mail() { # the fixture's [Gmail]/Sent Mail: messages with Message-ID $1
	gm_ctl list 'folder=[Gmail]/Sent Mail' | gm_json "sum(1 for m in r['messages'] if '$1' in (m.get('message_id') or ''))"
}
local_sent() { grep -rl -F "$1" "$GD_MAIL/Sent" 2>/dev/null | wc -l; }
msg() {
	printf 'From: %s\nTo: friend@example.test\nBcc: secret-friend@example.test\nSubject: hello %s\nMessage-ID: <gsend%s@example.test>\n\nHi %s\n' \
		"$GM_USER" "$1" "$1" "$1"
}

gd_sync_ok "first sync"
before=$(appends)
out=$(msg 1 | "$BIN" -c "$GD_CONF" send -t 2>&1)
check_eq "send through smtp.gmail.com:465: exit 0" 0 "$?"
check_eq "... quiet" "" "$out"
check_eq "... the fixture took one message" 1 "$(gm_counter smtp_messages)"
check_eq "... Gmail filed it in Sent Mail itself, once" 1 "$(sent_mail '<gsend1@example.test>')"
check_eq "... nothing queued, no copy waiting" "0 0" \
	"$(find "$Q" -type f | wc -l) $(find "$GD_STATE/sent-copies" -type f 2>/dev/null | wc -l)"
gd_sync_ok "the next sync"
check_eq "... gmaildir appended nothing (no duplicate in Sent Mail)" "$before" "$(appends)"
check_eq "... the local Sent Mail has it once" 1 "$(local_sent '<gsend1@example.test>')"
check "... without its Bcc" bash -c "! grep -rq 'secret-friend' '$GD_MAIL/Sent'"
gd_sync_ok "one more sync"
check_eq "... still once on both sides" "1 1" \
	"$(sent_mail '<gsend1@example.test>') $(local_sent '<gsend1@example.test>')"

# 587 with STARTTLS.
sed -i "s/port: $GM_SMTP_PORT}/port: $GM_SMTP_PORT_STARTTLS, tls: starttls}/" "$GD_CONF"
msg 2 | "$BIN" -c "$GD_CONF" send -t >/dev/null 2>&1
check_eq "port 587 style, STARTTLS: sent, in Sent Mail once" 1 "$(sent_mail '<gsend2@example.test>')"

# A wrong App Password: refused, queued, nothing lost; fixed, it goes.
sed -i "s/^    password: .*/    password: \"wrongwrongwrongw\"/" "$GD_CONF"
out=$(msg 3 | "$BIN" -c "$GD_CONF" send -t 2>&1)
check_eq "a wrong password: exit 0 (queued)" 0 "$?"
check_contains "... says the login failed" "login failed" "$out"
check_eq "... one message queued" 1 "$(find "$Q" -type f | wc -l)"
sed -i "s/^    password: .*/    password: \"$GM_PASS\"/" "$GD_CONF"
out=$("$BIN" -c "$GD_CONF" sync 2>&1)
check_eq "a sync at once with the password fixed: exit 0" 0 "$?"
check_contains "... leaves it until its next try, and says so" "1 queued message waits until" "$out"
check_contains "... and how to send it now" "send --flush" "$out"
check_eq "... so nothing was sent yet" 0 "$(sent_mail '<gsend3@example.test>')"
out=$("$BIN" -c "$GD_CONF" send --flush 2>&1)
check_eq "... send --flush: exit 0" 0 "$?"
check_eq "... sent it now" 1 "$(sent_mail '<gsend3@example.test>')"
gd_sync_ok "and the sync after"
check_eq "... its Sent Mail copy is local, once" 1 "$(local_sent '<gsend3@example.test>')"

# Due at the next sync: a failed login with a 1 s backoff, then sync.
sed -i "s/^    password: .*/    password: \"wrongwrongwrongw\"/" "$GD_CONF"
msg 5 | GMAILDIR_SMTP_BACKOFF=1 "$BIN" -c "$GD_CONF" send -t >/dev/null 2>&1
sed -i "s/^    password: .*/    password: \"$GM_PASS\"/" "$GD_CONF"
sleep 2
gd_sync_ok "a sync once its next try has come"
check_eq "... sent it (sync flushes first)" 1 "$(sent_mail '<gsend5@example.test>')"
check_eq "... the outbox is empty" 0 "$(find "$Q" -type f | wc -l)"

# XOAUTH2 with the account's token command.
sed -i "s/^    password: .*/    auth: xoauth2\n    oauth2_token_command: \"echo $GM_TOKEN\"/" "$GD_CONF"
msg 4 | "$BIN" -c "$GD_CONF" send -t >/dev/null 2>&1
check_eq "XOAUTH2: sent, in Sent Mail once" 1 "$(sent_mail '<gsend4@example.test>')"

tap_done
