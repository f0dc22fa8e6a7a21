#!/usr/bin/env bash
# Secrets never reach the output: with -vv (the IMAP wire trace) neither the
# password (in the config or from password_command) nor an XOAUTH2 token
# appears, in success or in failure; doctor does not print them either.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
gd_setup
dc_populate "$DC_USER" INBOX 3 101 1K 2K >/dev/null
out=$(gd -vv sync 2>&1)
check_contains "the -vv trace shows the IMAP conversation" "LOGIN" "$out"
check "... but not the password" bash -c "! grep -qF -- '$DC_PASS' <<<\"\$0\"" "$out"
sed -i "s|^    password: .*|    password_command: \"echo $DC_PASS\"|" "$GD_CONF"
out=$(gd -vv sync 2>&1)
check "... nor the password from password_command" bash -c "! grep -qF -- '$DC_PASS' <<<\"\$0\"" "$out"
sed -i "s|^    password_command: .*|    password_command: \"echo wrong-secret-xyz\"|" "$GD_CONF"
out=$(gd -vv sync 2>&1)
check "a failed login's trace and error do not show the secret" \
	bash -c "! grep -qF -- 'wrong-secret-xyz' <<<\"\$0\"" "$out"
out=$(gd doctor 2>&1)
check "doctor does not show the secret" bash -c "! grep -qF -- 'wrong-secret-xyz' <<<\"\$0\"" "$out"
dc_stop

source tests/gmail/fixture.sh
gm_start || exit 1
cat >"$GD_DIR/gm.yaml" <<Y
accounts:
  - name: gm
    provider: gmail
    host: 127.0.0.1
    port: $GM_PORT
    ca_file: $GM_CA
    user: $GM_USER
    auth: xoauth2
    oauth2_token_command: "echo $GM_TOKEN"
    maildir: $GD_DIR/gm-mail
    state_dir: $GD_DIR/gm-state
Y
GD_CONF=$GD_DIR/gm.yaml
out=$(gd -vv sync 2>&1)
check_contains "XOAUTH2: the trace shows the login line, hidden" "secret hidden" "$out"
check "... but not the token" bash -c "! grep -qF -- '$GM_TOKEN' <<<\"\$0\"" "$out"
tok64=$(printf 'user=%s\001auth=Bearer %s\001\001' "$GM_USER" "$GM_TOKEN" | base64 -w0)
check "... nor its base64 form" bash -c "! grep -qF -- '$tok64' <<<\"\$0\"" "$out"
tap_done
