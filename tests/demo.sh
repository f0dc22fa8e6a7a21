#!/usr/bin/env bash
# make demo: a throwaway local Dovecot with ~200 sample messages, a real
# sync into ./demo/Mail, a change on each side, a second sync, and a look at
# what happened. The server is stopped at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/dovecot.sh
# tests/integration/t_demo.sh runs it again and again, elsewhere.
BIN=${GMAILDIR_BIN:-$PWD/build/gmaildir}
DEMO=${GMAILDIR_DEMO_DIR:-$PWD/demo}
export TZ=UTC

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$DEMO"
mkdir -p "$DEMO"
say "starting a throwaway Dovecot on 127.0.0.1 (its own CA, free ports)"
dc_start >/dev/null
echo "IMAPS on 127.0.0.1:$DC_PORT_IMAPS, user $DC_USER"
dc_populate "$DC_USER" INBOX 120 1 1K 60K >/dev/null
dc_populate "$DC_USER" Archive 50 2 1K 30K >/dev/null
dc_populate "$DC_USER" "Lists/dev" 20 3 1K 8K >/dev/null
dc_populate "$DC_USER" "Entwürfe" 10 4 1K 8K >/dev/null
dc_add_flags "$DC_USER" INBOX 1:60 '\Seen'
dc_add_flags "$DC_USER" INBOX 5:9 '\Flagged'
echo "server folders:"
dc_folders "$DC_USER" | sed 's/^/  /'

cat >"$DEMO/config.yaml" <<Y
accounts:
  - name: demo
    host: 127.0.0.1
    port: $DC_PORT_IMAPS
    tls: implicit
    ca_file: $DC_CA
    user: $DC_USER
    password: "$DC_PASS"
    maildir: $DEMO/Mail
    state_dir: $DEMO/state
Y
chmod 600 "$DEMO/config.yaml"
gd() { "$BIN" -c "$DEMO/config.yaml" "$@"; }

say "gmaildir sync (first run: download everything)"
gd sync
echo "on disk:"
for d in "$DEMO"/Mail/*/ "$DEMO"/Mail/Lists/*/; do
	[ -d "$d/cur" ] || continue
	printf '  %-28s %3d messages\n' "${d#"$DEMO"/}" "$(find "$d"/cur "$d"/new -type f | wc -l)"
done

say "changes on both sides"
# No "| head" under pipefail: the writer may die of SIGPIPE (exit 141).
f=$(find "$DEMO/Mail/INBOX/new" -type f -printf '%f\n' -quit)
mv "$DEMO/Mail/INBOX/new/$f" "$DEMO/Mail/INBOX/cur/$f:2,FS"
echo "local: marked one new INBOX message seen+flagged ($f)"
victim=$(find "$DEMO/Mail/Archive/cur" "$DEMO/Mail/Archive/new" -type f -print -quit)
rm "$victim"
echo "local: deleted one Archive message"
printf 'From: you@example.test\nSubject: written locally\nMessage-ID: <local-1@demo>\n\nhello from the Maildir side\n' \
	>"$DEMO/Mail/INBOX/new/$(date +%s).demo1.local"
echo "local: wrote a new message into INBOX/new"
dc_add_flags "$DC_USER" INBOX 1 '\Answered'
echo "server: marked INBOX UID 1 answered"
dc_expunge "$DC_USER" "Lists/dev" 1
echo "server: expunged Lists/dev UID 1"

say "gmaildir sync --dry-run (the plan, nothing changed)"
gd sync --dry-run
say "gmaildir sync (second run: both ways)"
gd sync
say "gmaildir sync (third run: nothing left to do)"
gd sync

say "what the server says now"
printf '  INBOX: %s messages; Archive: %s; Lists/dev: %s\n' \
	"$(dc_status_field "$DC_USER" INBOX messages)" \
	"$(dc_status_field "$DC_USER" Archive messages)" \
	"$(dc_status_field "$DC_USER" Lists/dev messages)"
dc_doveadm search -u "$DC_USER" mailbox INBOX header Message-ID '<local-1@demo>' >/dev/null &&
	echo "  the locally written message is on the server"
dc_stop
echo
echo "Your demo Maildir is in ${DEMO#"$PWD"/}/Mail (state in ${DEMO#"$PWD"/}/state). The server is stopped."
