#!/usr/bin/env bash
# TLS and login: a certificate from an unknown CA, a certificate for another
# host name, a server that does not offer STARTTLS and a wrong password are
# all refused with a message that says what failed; the good setups work.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup
dc_populate "$DC_USER" INBOX 3 1 1K 2K >/dev/null

run_with() { # run_with SED-EXPR: a copy of the config edited, then a sync
	sed "$1" "$GD_CONF" >"$GD_DIR/alt.yaml"
	chmod 600 "$GD_DIR/alt.yaml"
	timeout -k 5 120 "$GMAILDIR_BIN" -c "$GD_DIR/alt.yaml" sync 2>&1
}

out=$(gd sync 2>&1)
check_eq "implicit TLS with the right CA works" 0 "$?"

out=$(run_with "s|port: $DC_PORT_IMAPS|port: $DC_PORT_IMAP|; s|tls: implicit|tls: starttls|")
check_eq "STARTTLS works" 0 "$?"

# Another CA, unknown to the system store.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$GD_DIR/other.key" -out "$GD_DIR/other.pem" \
	-days 2 -subj "/CN=other test CA" >/dev/null 2>&1
out=$(run_with "s|ca_file: .*|ca_file: $GD_DIR/other.pem|")
rc=$?
check_eq "a server certificate from an unknown CA is refused (exit 1)" 1 "$rc"
check_contains "... saying the verification failed" "certificate verify failed" "$out"
check "... before any mail was written" test ! -e "$GD_MAIL/x"

out=$(run_with "s|password: .*|password: \"wrong\"|")
check_eq "a wrong password fails the account (exit 1)" 1 "$?"
check_contains "... with the server's own text" "AUTHENTICATIONFAILED" "$out"

out=$(run_with "s|tls: implicit|tls: none|")
check_eq "tls: none without allow_insecure is a config error (exit 2)" 2 "$?"
check_contains "... that names the line" "alt.yaml:" "$out"

# A second server whose certificate is for another host name.
dc_stop
DC_CERT_NAME=imap.test dc_start || exit 1
gd_setup
out=$(gd sync 2>&1)
check_eq "a certificate for another host name is refused (exit 1)" 1 "$?"
check_contains "... saying so" "host name mismatch" "$out"

# A server that does not offer STARTTLS: never fall back to plaintext.
dc_stop
DC_NO_STARTTLS=1 dc_start || exit 1
gd_setup
sed -i "s|port: .*|port: $DC_PORT_IMAP|; s|tls: implicit|tls: starttls|" "$GD_CONF"
out=$(gd sync 2>&1)
check_eq "a server without STARTTLS is refused (exit 1)" 1 "$?"
check_contains "... saying so" "STARTTLS" "$out"
check_eq "... and no password was sent" 0 "$(grep -c 'Login: user=' "$DC_LOG")"
tap_done
