#!/usr/bin/env bash
# The daemon on a server whose hierarchy separator is '.', not '/' (Courier,
# a Dovecot configured so, many hosted servers): IDLE on a nested folder
# with a non-ASCII name, as the user writes it in `idle:` ("Lists/Entwürfe"),
# selects the server's name ("Lists.Entw&APw-rfe") and pushes; it does not
# retry a name the server does not have with a new login each time.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start --conf 'namespace inbox {
  separator = .
}' || exit 1
sep=$(printf 'a LOGIN %s %s\nb LIST "" ""\nc LOGOUT\n' "$DC_USER" "$DC_PASS" | dc_imap imaps 2>/dev/null |
	sed -n 's/^\* LIST ([^)]*) "\(.\)" .*/\1/p')
check_eq "the harness Dovecot's separator is '.'" "." "$sep"
folder='Lists.Entwürfe' # doveadm takes UTF-8; on the wire Lists.Entw&APw-rfe
dc_populate "$DC_USER" "$folder" 3 71 1K 4K >/dev/null
check_eq "the server has the nested folder with 3 messages" 3 \
	"$(dc_status_field "$DC_USER" "$folder" messages)"
gd_setup test "poll_interval: 3600
idle: [\"Lists/Entwürfe\"]"
LOG=$GD_DIR/daemon.log
trap 'gd_daemon_stop; _gd_cleanup; dc_cleanup' EXIT

local_dir=$GD_MAIL/Lists/Entwürfe
count_files() { find "$local_dir/cur" "$local_dir/new" -type f 2>/dev/null | wc -l; }
has_files() { [ "$(count_files)" -eq "$1" ]; }
ready() { grep -q "first sync done" "$LOG"; }

gd_daemon_start -vv
check "the daemon finishes its first sync" wait_for 20 ready
check "... the nested folder is on disk as Lists/Entwürfe" wait_for 10 has_files 3

python3 tests/lib/genmail.py --count 1 --seed 72 --out "$GD_DIR/gen" >/dev/null
idle_up() { grep -qE '> [0-9]+ IDLE' "$LOG"; }
wait_for 15 idle_up || diag "no IDLE command in the log after 15 s"
t0=$(date +%s%N)
dc_doveadm save -u "$DC_USER" -m "$folder" <"$GD_DIR/gen/000001.eml"
check "a message saved there on the server is pushed to disk (poll_interval is 1 h)" \
	wait_for 15 has_files 4
diag "server -> disk: $(ms_since "$t0") ms"
bad=$(grep -cE '> [0-9]+ SELECT "?Lists/Entw' "$LOG")
check "the guessed name was tried at most once (${bad}x)" test "$bad" -le 1
gd_daemon_stop

# `list` lines the names up by characters ("Lists/Entwürfe" has 2 bytes
# more than characters): the role starts in the same column on each line.
out=$(gd list 2>&1)
roles_at() {
	python3 -c '
import sys
for line in sys.stdin.read().splitlines():
    if line.startswith("  ") and not line.startswith("   ") and "(not selectable)" not in line:
        print(len(line) - len(line[32:].lstrip()) if line[32:33] == " " else -1)' <<<"$out" |
		sort -u
}
check_eq "list: every role column starts at the same character" 33 "$(roles_at)"
tap_done
