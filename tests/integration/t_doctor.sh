#!/usr/bin/env bash
# gmaildir doctor against the real Dovecot: with everything right every step
# is ✓ and the exit status 0; then each failure is provoked in turn (closed
# port, SMTP port, TLS on a plain port, a CA that did not sign the server's
# certificate, a wrong password, a failing password_command, an unknown
# host, a Maildir root that cannot be created, a damaged state database,
# a bad config) and must show ✗ on the right step with a fix, exit 1 (2 for
# the config), and never print the password. doctor itself creates nothing.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup test
dc_populate "$DC_USER" INBOX 4 71 1K 4K >/dev/null

OUT=
RC=
# doctor_with NAME SED-SCRIPT [ARGS...]: doctor on a copy of the config with
# SED-SCRIPT applied; sets OUT (stdout and stderr) and RC.
doctor_with() {
	local conf=$GD_DIR/$1.yaml script=$2
	shift 2
	sed "$script" "$GD_CONF" >"$conf"
	chmod 600 "$conf"
	OUT=$(timeout -k 5 120 "$GMAILDIR_BIN" -c "$conf" doctor "$@" 2>&1)
	RC=$?
}
# step_line MARK STEP: the line of that step if it carries that mark.
step_line() { grep -E "^$1 $2: " <<<"$OUT"; }
has_step() { step_line "$1" "$2" >/dev/null; }
skipped() { grep -q "^- $1: skipped" <<<"$OUT"; }
# tls_line_ok: the ✓ TLS line names the version, the certificate and its days.
tls_line_ok() {
	grep -qE '^✓ TLS: TLSv1\.[23], certificate for .*localhost.* valid [0-9]+ more days' <<<"$OUT"
}
# no_secret DESC SECRET: the secret appears nowhere in OUT.
no_secret() {
	if grep -qF -- "$2" <<<"$OUT"; then not_ok "$1"; else ok "$1"; fi
}
show() { printf '%s\n' "$OUT" | sed 's/^/#   /'; }

# --- all good -------------------------------------------------------------
doctor_with good 's/x/x/'
check_eq "all good: exit 0" 0 "$RC"
[ "$RC" = 0 ] || show
steps=$(grep -cE '^(✓|✗|!|-) ' <<<"$OUT")
good=$(grep -cE '^✓ ' <<<"$OUT")
check_eq "all good: all 9 steps shown, every one ✓" "9 9" "$steps $good"
for s in config password DNS TCP TLS login capabilities Maildir state; do
	check "all good: ✓ $s" has_step ✓ "$s"
done
check_contains "TLS: version, expiry and chain" "chain verified" "$(step_line ✓ TLS)"
check "TLS: the negotiated version, the certificate's names and days left" tls_line_ok
check_contains "capabilities: IDLE means push" "IDLE" "$OUT"
check_contains "... explained" "→ push" "$OUT"
check_contains "capabilities: CONDSTORE means incremental sync" "incremental sync" "$OUT"
check_contains "capabilities: not Gmail said plainly" "no X-GM-EXT-1" "$OUT"
check_contains "state: none yet is fine" "not synced yet" "$(step_line ✓ state)"
no_secret "the password is never printed" "$DC_PASS"
check "doctor creates no Maildir and no state dir" \
	bash -c "[ ! -e '$GD_MAIL' ] && [ ! -e '$GD_STATE' ]"

gd sync >/dev/null 2>&1
doctor_with good-synced 's/x/x/' test
check_eq "after a sync, doctor ACCOUNT: exit 0" 0 "$RC"
check_contains "... state intact, with its counts" "intact: 6 folders, 4 messages paired" \
	"$(step_line ✓ state)"
check_contains "... Maildir writable, free space shown" "is writable" "$(step_line ✓ Maildir)"
check_contains "... and the free space" "free" "$(step_line ✓ Maildir)"

doctor_with starttls "s/tls: implicit/tls: starttls/; s/port: .*/port: $DC_PORT_IMAP/"
check_eq "STARTTLS on the plain port: exit 0" 0 "$RC"
check_contains "... TLS verified via STARTTLS" "via STARTTLS" "$(step_line ✓ TLS)"

printf '#!/bin/sh\necho "%s"\n' "$DC_PASS" >"$GD_DIR/pw.sh"
chmod 700 "$GD_DIR/pw.sh"
doctor_with cmd "s|password: .*|password_command: \"$GD_DIR/pw.sh\"|"
check_eq "password_command that works: exit 0" 0 "$RC"
[ "$RC" = 0 ] || show
check "... ✓ password_command" has_step ✓ password_command
no_secret "... and what it printed is not shown" "$DC_PASS"

# --- network failures ----------------------------------------------------
closed=$(_dc_free_ports 1)
doctor_with closed "s/port: .*/port: $closed/"
check_eq "closed port: exit 1" 1 "$RC"
check_contains "... ✗ TCP: connection refused" "Connection refused" "$(step_line ✗ TCP)"
check_contains "... with a fix naming the IMAP ports" "993" "$(grep -A2 '^✗ TCP' <<<"$OUT")"
check "... TLS is skipped, not failed" skipped TLS
check "... login is skipped, not failed" skipped login
check "... the local steps still run" has_step ✓ Maildir

doctor_with smtp "s/port: .*/port: 587/"
check_eq "SMTP port 587: exit 1" 1 "$RC"
check "... ✗ TCP" has_step ✗ TCP
check_contains "... the fix says it is SMTP, not IMAP" "SMTP" "$(grep -A2 '^✗ TCP' <<<"$OUT")"

doctor_with plain "s/port: .*/port: $DC_PORT_IMAP/"
check_eq "implicit TLS on the STARTTLS port: exit 1" 1 "$RC"
check "... ✗ TLS" has_step ✗ TLS
check_contains "... the fix suggests starttls" "tls: starttls" "$(grep -A3 '^✗ TLS' <<<"$OUT")"

mkdir -p "$GD_DIR/otherca"
_dc_make_certs "$GD_DIR/otherca" ""
doctor_with ca "s|ca_file: .*|ca_file: $GD_DIR/otherca/ca.pem|"
check_eq "a CA that did not sign the server's certificate: exit 1" 1 "$RC"
check_contains "... ✗ TLS: certificate verify failed" "certificate verify failed" \
	"$(step_line ✗ TLS)"
check_contains "... shows who issued the certificate" "issued by:   CN=gmaildir test CA" "$OUT"
check_contains "... the fix names ca_file" "ca_file" "$(grep -A6 '^✗ TLS' <<<"$OUT")"
check "... login skipped" skipped login

doctor_with wrongpw 's|password: .*|password: "not-the-Pa55word"|'
check_eq "wrong password: exit 1" 1 "$RC"
check_contains "... ✗ login with the server's own text" "[AUTHENTICATIONFAILED]" \
	"$(step_line ✗ login)"
check_contains "... and a fix" "check the password" "$(grep -A3 '^✗ login' <<<"$OUT")"
check "... TLS still ✓" has_step ✓ TLS
no_secret "... the wrong password is not printed either" "not-the-Pa55word"

doctor_with badcmd 's|password: .*|password_command: "echo vault locked >\&2; exit 3"|'
check_eq "failing password_command: exit 1" 1 "$RC"
check_contains "... ✗ password_command, quoting its stderr" "vault locked" \
	"$(step_line ✗ password_command)"
check "... login skipped" skipped login

doctor_with dns 's|host: .*|host: no-such-host.invalid|'
check_eq "unknown host: exit 1" 1 "$RC"
check_contains "... ✗ DNS" "cannot resolve no-such-host.invalid" "$(step_line ✗ DNS)"
check_contains "... the fix asks the resolver about that host" \
	"getent hosts no-such-host.invalid" "$(grep -A3 '^✗ DNS' <<<"$OUT")"

# TLS that does not lead to IMAP (an SMTPS port, say): not a password issue.
notimap_port=$(_dc_free_ports 1)
python3 - "$notimap_port" "$DC_DIR/server.pem" "$DC_DIR/server.key" <<'PY' &
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(5)
srv.settimeout(60)
end = time.time() + 60
while time.time() < end:
    try:
        c, _ = srv.accept()
        t = ctx.wrap_socket(c, server_side=True)
        t.sendall(b"220 mail.example ESMTP not IMAP\r\n")
        time.sleep(0.5)
        t.close()
    except (OSError, ssl.SSLError):
        pass
PY
notimap_pid=$!
sleep 0.5
doctor_with notimap "s/port: .*/port: $notimap_port/"
kill "$notimap_pid" 2>/dev/null
wait "$notimap_pid" 2>/dev/null
check_eq "TLS but no IMAP greeting: exit 1" 1 "$RC"
check "... ✗ login" has_step ✗ login
check_contains "... the fix is about port and tls, not the password" "port: and tls:" \
	"$(grep -A3 '^✗ login' <<<"$OUT")"

# --- local failures ------------------------------------------------------
# Tests run as root, for whom chmod stops nothing: use paths that no one can
# create instead.
doctor_with devnull 's|maildir: .*|maildir: /dev/null/x|'
check_eq "maildir under /dev/null: exit 1" 1 "$RC"
check_contains "... ✗ Maildir" "/dev/null is not a directory" "$(step_line ✗ Maildir)"
check_contains "... with a fix" "fix:" "$(grep -A1 '^✗ Maildir' <<<"$OUT")"
touch "$GD_DIR/afile"
doctor_with file "s|maildir: .*|maildir: $GD_DIR/afile|"
check_contains "maildir is a file: ✗ Maildir" "is not a directory" "$(step_line ✗ Maildir)"
mkdir -p "$GD_DIR/ro"
if mount -t tmpfs -o ro,size=1m tmpfs "$GD_DIR/ro" 2>/dev/null; then
	doctor_with ro "s|maildir: .*|maildir: $GD_DIR/ro/Mail|"
	check_contains "read-only file system: ✗ Maildir" "Read-only file system" \
		"$(step_line ✗ Maildir)"
	umount "$GD_DIR/ro"
else
	diag "no tmpfs mount here: read-only file system case not run"
fi

cp "$GD_STATE/state.db" "$GD_DIR/state.db.good"
# Damage a page in use, from its page header on (the pairs table's root,
# which holds this test's pairs), not the file's header: that still reads,
# the check must not. Checkpointed first, so that the page is in the file.
sqlite3 "$GD_STATE/state.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
page=$(sqlite3 "$GD_STATE/state.db" "PRAGMA page_size")
root=$(sqlite3 "$GD_STATE/state.db" "SELECT rootpage FROM sqlite_master WHERE name = 'pairs'")
head -c 2048 /dev/urandom | dd of="$GD_STATE/state.db" bs=1 seek=$(((root - 1) * page)) \
	conv=notrunc status=none
doctor_with damaged 's/x/x/'
check_eq "a damaged state DB: exit 1" 1 "$RC"
check "... ✗ state" has_step ✗ state
diag "damaged: $(step_line ✗ state)"
check_contains "... with a fix that keeps the file" "state.db.broken" "$OUT"
printf 'this is not a database, just garbage %.0s' {1..200} >"$GD_STATE/state.db"
doctor_with garbage 's/x/x/'
check_eq "garbage as state DB: exit 1" 1 "$RC"
check_contains "... ✗ state: not a database" "file is not a database" "$(step_line ✗ state)"
check "... the network steps are still ✓" has_step ✓ login
cp "$GD_DIR/state.db.good" "$GD_STATE/state.db"

# --- config and usage ----------------------------------------------------
printf 'accounts:\n  - name: a\n    hots: x\n' >"$GD_DIR/bad.yaml"
OUT=$("$GMAILDIR_BIN" -c "$GD_DIR/bad.yaml" doctor 2>&1)
check_eq "a bad config: exit 2" 2 "$?"
check_contains "... ✗ config naming the place" "✗ config: $GD_DIR/bad.yaml:3" "$OUT"
gd doctor nosuch >/dev/null 2>&1
check_eq "unknown account: exit 2" 2 "$?"
dc_log_check >/dev/null 2>&1 || diag "dovecot log has errors (expected: failed logins)"
tap_done
