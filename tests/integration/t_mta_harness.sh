#!/usr/bin/env bash
# Proves the MTA test harness (tests/lib/mta.sh): a real Postfix takes a
# submission over STARTTLS and over implicit TLS (AUTH checked by the test
# Dovecot) and delivers over LMTP into the test Dovecot's INBOX.
# shellcheck disable=SC2016 # single-quoted bash -c scripts are intended
# shellcheck source-path=SCRIPTDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/../lib
# shellcheck source=../lib/tap.sh
source "$lib/tap.sh"
# shellcheck source=../lib/mta.sh
source "$lib/mta.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x "$MTA_POSTFIX_DIR/master" ] ||
	[ ! -x /usr/lib/dovecot/lmtp ]; then
	echo "ok - # SKIP needs root, postfix and dovecot-lmtpd (tests/deps.sh)"
	exit 0
fi

work=$(mktemp -d /tmp/gm-t.XXXXXX)
trap 'rm -rf "$work"' EXIT # mta_prepare and dc_start chain their cleanups

# smtp MODE [ARGS]: one python3 smtplib session (see the modes below);
# prints "OK" or "ERR CODE MESSAGE"; exits 0 either way unless it crashed.
smtp() {
	"$DC_PYTHON" - "$@" <<'EOF'
import os, smtplib, ssl, sys
mode = sys.argv[1]
host, ca = os.environ["MTA_HOST"], os.environ["DC_CA"]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = True
def out(s):
    print(s)
    sys.exit(0)
try:
    if mode in ("send-starttls", "send-tls", "auth-no-tls", "mail-no-tls",
                "bad-pass", "ehlo"):
        if mode == "send-tls":
            s = smtplib.SMTP_SSL("localhost", int(os.environ["MTA_PORT_TLS"]),
                                 context=ctx, timeout=15)
        else:
            s = smtplib.SMTP("localhost", int(os.environ["MTA_PORT_STARTTLS"]),
                             timeout=15)
        s.ehlo("client.test")
        if mode == "ehlo":
            out(" ".join(sorted(k.upper() + ("=" + v if v else "")
                                for k, v in s.esmtp_features.items())))
        if mode == "auth-no-tls":
            code, msg = s.docmd("AUTH", "PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==")
            out(f"ERR {code} {msg.decode()}" if code >= 400 else f"OK {code}")
        if mode == "mail-no-tls":
            code, msg = s.docmd("MAIL", "FROM:<alice@example.test>")
            out(f"ERR {code} {msg.decode()}" if code >= 400 else f"OK {code}")
        if mode != "send-tls":
            s.starttls(context=ctx)
            s.ehlo("client.test")
        if mode == "bad-pass":
            try:
                s.login("alice", "wrong-password")
            except smtplib.SMTPAuthenticationError as e:
                out(f"ERR {e.smtp_code} {e.smtp_error.decode()}")
            out("OK")
        mech = sys.argv[3]
        s.user, s.password = "alice", "alice-secret"
        code, msg = s.auth(mech, getattr(s, "auth_" + mech.lower()))
        with open(sys.argv[2], "rb") as f:
            data = f.read()
        opts = ["SMTPUTF8", "BODY=8BITMIME"] if sys.argv[4:] == ["utf8"] else []
        s.sendmail("alice@example.test", ["alice@example.test"], data, opts)
        s.quit()
        out("OK")
except smtplib.SMTPResponseException as e:
    out(f"ERR {e.smtp_code} {e.smtp_error.decode(errors='replace')}")
except (OSError, smtplib.SMTPException) as e:
    out(f"ERR 0 {type(e).__name__}: {e}")
EOF
}

# body_of FILE: the bytes after the first empty line (LF line ends).
body_of() { "$DC_PYTHON" -c '
import sys
d = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
sys.stdout.buffer.write(d.split(b"\n\n", 1)[1])' "$1"; }

# make_msg FILE TAG: a message with 8-bit text and a long line.
make_msg() {
	local long
	long=$(head -c 1500 /dev/zero | tr '\0' 'x')
	printf '%s\r\n' "From: Alice <alice@example.test>" \
		"To: alice@example.test" "Subject: harness $2" \
		"Message-ID: <$2@gmaildir.test>" "Date: Mon, 1 Jan 2024 00:00:00 +0000" \
		"MIME-Version: 1.0" "Content-Type: text/plain; charset=utf-8" \
		"Content-Transfer-Encoding: 8bit" "" "body of $2: caf$(printf '\xc3\xa9')" \
		".leading dot" "$long" "" "end" >"$1"
}

# ---------------------------------------------------------------- start
if ! mta_prepare || ! dc_start --conf "$MTA_DOVECOT_CONF"; then
	not_ok "mta_prepare + dc_start"
	tap_done
	exit 1
fi
t0=$(date +%s%N)
if ! mta_start; then
	not_ok "mta_start"
	tap_done
	exit 1
fi
ms=$((($(date +%s%N) - t0) / 1000000))
ok "mta_start (${ms} ms)"
check "mta_start takes under 5 s" test "$ms" -lt 5000
check "MTA_* set" test "$MTA_HOST" = 127.0.0.1 -a -n "$MTA_PORT_STARTTLS" \
	-a -n "$MTA_PORT_TLS" -a -f "$MTA_LOG" -a -d "$MTA_DIR" -a -n "$MTA_PID"
check "config reads nothing from /etc/postfix" \
	bash -c '! grep -q /etc/postfix "$1"/conf/*.cf' _ "$MTA_DIR"
port_st=$MTA_PORT_STARTTLS port_tls=$MTA_PORT_TLS

ehlo=$(smtp ehlo)
check_contains "EHLO announces STARTTLS" "STARTTLS" "$ehlo"
check_contains "EHLO announces SIZE 10485760" "SIZE=10485760" "$ehlo"
check_contains "EHLO announces 8BITMIME" "8BITMIME" "$ehlo"
check_contains "EHLO announces SMTPUTF8" "SMTPUTF8" "$ehlo"
check "no AUTH before STARTTLS" bash -c '[[ $1 != *AUTH* ]]' _ "$ehlo"
r=$(smtp auth-no-tls)
check_contains "AUTH without TLS is refused (5xx)" "ERR 5" "$r"
r=$(smtp mail-no-tls)
check_contains "MAIL without TLS is refused (530)" "ERR 530" "$r"
r=$(smtp bad-pass)
check_contains "a wrong password is refused (535)" "ERR 535" "$r"

# ---------------------------------------------------------------- deliveries
make_msg "$work/m1.eml" one
t0=$(date +%s%N)
r=$(smtp send-starttls "$work/m1.eml" PLAIN)
check_eq "submit over STARTTLS, AUTH PLAIN, certificate verified" "OK" "$r"
check "delivered to alice's INBOX" mta_wait_delivered alice 1 5
ms=$((($(date +%s%N) - t0) / 1000000))
check "... within 3 s (${ms} ms)" test "$ms" -lt 3000
dc_fetch_raw alice INBOX 1 >"$work/got1.eml"
check "body arrived byte for byte" cmp -s <(body_of "$work/m1.eml") \
	<(body_of "$work/got1.eml")
check "headers kept as sent (Message-ID)" grep -q '^Message-ID: <one@gmaildir.test>' "$work/got1.eml"

make_msg "$work/m2.eml" two
r=$(smtp send-tls "$work/m2.eml" LOGIN)
check_eq "submit over implicit TLS, AUTH LOGIN, certificate verified" "OK" "$r"
check "delivered: alice's INBOX holds 2" mta_wait_delivered alice 2 5
uid=$(dc_uids alice INBOX | tail -1)
dc_fetch_raw alice INBOX "$uid" >"$work/got2.eml"
check "second body arrived byte for byte" cmp -s <(body_of "$work/m2.eml") \
	<(body_of "$work/got2.eml")
check "each message arrived once" test "$(grep -l 'Subject: harness' \
	"$work"/got*.eml | wc -l)" -eq 2
check_eq "bob's INBOX is untouched" 0 "$(dc_status_field bob INBOX messages)"
check_eq "the queue is empty" 0 "$(mta_queue_count)"

# ---------------------------------------------------------------- stop/start
old_pid=$MTA_PID
mta_stop
check "mta_stop: no process left" test -z "$(ps -eo pgid=,stat= |
	awk -v g="$old_pid" '$1 == g && $2 !~ /^Z/')"
r=$(smtp send-tls "$work/m2.eml" PLAIN)
check_contains "stopped: connection refused" "ERR 0" "$r"
t0=$(date +%s%N)
check "mta_start again" mta_start
ms=$((($(date +%s%N) - t0) / 1000000))
diag "restart took ${ms} ms"
check_eq "same STARTTLS port" "$port_st" "$MTA_PORT_STARTTLS"
check_eq "same TLS port" "$port_tls" "$MTA_PORT_TLS"
make_msg "$work/m3.eml" three
r=$(smtp send-starttls "$work/m3.eml" LOGIN)
check_eq "submit after the restart" "OK" "$r"
check "delivered: alice's INBOX holds 3" mta_wait_delivered alice 3 5

# ---------------------------------------------------------------- options
mta_stop
MTA_DELIVERY=lda MTA_SIZE_LIMIT=200000 mta_start
check "restart with MTA_DELIVERY=lda MTA_SIZE_LIMIT=200000" test -n "${MTA_PID:-}"
check_contains "EHLO announces SIZE 200000" "SIZE=200000" "$(smtp ehlo)"
head -c 300000 /dev/zero | tr '\0' 'y' | fold -w 70 >"$work/big.txt"
cat "$work/m3.eml" "$work/big.txt" >"$work/big.eml"
r=$(smtp send-tls "$work/big.eml" PLAIN)
check_contains "a message over the size limit is refused (552)" "ERR 552" "$r"
printf '%s\r\n' "From: Älice <alice@example.test>" "To: alice@example.test" \
	"Subject: héllo ünicode" "" "body ü" >"$work/u.eml"
r=$(smtp send-tls "$work/u.eml" PLAIN utf8)
check_eq "submit with SMTPUTF8 and UTF-8 headers" "OK" "$r"
check "lda mode delivers it: alice's INBOX holds 4" mta_wait_delivered alice 4 5
uid=$(dc_uids alice INBOX | tail -1)
dc_fetch_raw alice INBOX "$uid" >"$work/got4.eml"
check "UTF-8 header kept" grep -q '^Subject: héllo ünicode' "$work/got4.eml"
check "its body arrived byte for byte" cmp -s <(body_of "$work/u.eml") \
	<(body_of "$work/got4.eml")

check "no Postfix errors in the log" bash -c '! grep -E "(fatal|panic|error):" "$1"' _ "$MTA_LOG"
check "no Dovecot errors in the log" dc_log_check
t0=$(date +%s%N)
dc_stop
ms=$((($(date +%s%N) - t0) / 1000000))
check "dc_stop with the MTA still up is quick (${ms} ms)" test "$ms" -lt 5000

tap_done
