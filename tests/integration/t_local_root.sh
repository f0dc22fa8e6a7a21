#!/usr/bin/env bash
# Local paths that cannot work are said before any connection, once, naming
# the config key, the path and the fix, with exit 2 (a config error: the
# units do not restart on it), for sync, daemon and doctor: a maildir that
# is a file or under one, a parent this user may not write, a read-only
# file system, an unwritable state_dir. A first sync that cannot connect or
# sign in leaves no file behind; the next one, with the fault fixed, works.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
dc_populate "$DC_USER" INBOX 3 71 1K 2K >/dev/null
gd_setup test
trap '_gd_cleanup; dc_cleanup' EXIT
GOOD_CONF=$(cat "$GD_CONF")

# with SED: the config with one sed script applied to the good one.
with() {
	sed "$1" <<<"$GOOD_CONF" >"$GD_CONF"
}

# expect_local DESC KEY NEEDLE FIX [ARGS...]: sync, daemon and doctor.
expect_local() {
	local desc=$1 key=$2 needle=$3 fix=$4 cmd out rc
	shift 4
	for cmd in sync daemon; do
		out=$(gd "$@" $cmd 2>&1)
		rc=$?
		check_eq "$desc: $cmd exits 2" 2 "$rc"
		check_contains "... names the key" "$key" "$out"
		check_contains "... says what is wrong" "$needle" "$out"
		check_contains "... and the fix" "$fix" "$out"
		check_eq "... in one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	done
	out=$(gd "$@" doctor 2>&1)
	check_eq "$desc: doctor exits 1" 1 "$?"
	check_contains "... its step names the key" "$key" "$(grep '^✗' <<<"$out")"
	check_contains "... with the fix under it" "fix: " "$(grep -A1 "^✗.*$key" <<<"$out")"
}

# --- a maildir that is a file, or under one ----------------------------------
touch "$GD_DIR/afile"
with "s|maildir: .*|maildir: $GD_DIR/afile|"
expect_local "maildir is a file" "accounts.test.maildir: $GD_DIR/afile is not a directory" \
	"is not a directory" "set maildir: to a directory"
check "... nothing was made in state_dir" test ! -e "$GD_STATE"
out=$(gd sync 2>&1)
check "... no connection was tried (nothing about the server)" \
	bash -c "! grep -qi 'connect\|login\|INBOX' <<<'$out'"

with "s|maildir: .*|maildir: $GD_DIR/afile/Mail|"
expect_local "maildir under a file" "accounts.test.maildir: $GD_DIR/afile/Mail cannot be created" \
	"$GD_DIR/afile is not a directory" "set maildir: to a path under a directory"

# --- not writable: run as nobody (root may write anywhere) -------------------
N=$(mktemp -d /tmp/gdlocal.XXXXXX)
GD_DIRS+=("$N")
chmod 755 "$N"
mkdir -m 755 "$N/rootonly"
mkdir -m 700 "$N/home" && chown 65534:65534 "$N/home"
nobody_conf() { # nobody_conf MAILDIR STATE_DIR
	sed "s|maildir: .*|maildir: $1|; s|state_dir: .*|state_dir: $2|" <<<"$GOOD_CONF" \
		>"$N/home/c.yaml"
	chown 65534:65534 "$N/home/c.yaml"
	chmod 600 "$N/home/c.yaml"
}
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups timeout 60 "$GMAILDIR_BIN" \
		-c "$N/home/c.yaml" "$@"
}
nobody_conf "$N/rootonly/Mail" "$N/home/state"
out=$(as_nobody sync 2>&1)
check_eq "parent not writable: sync exits 2" 2 "$?"
check_contains "... names the key and the path" "accounts.test.maildir: $N/rootonly/Mail cannot be created" "$out"
check_contains "... and why" "this user may not write in $N/rootonly (Permission denied)" "$out"
check_contains "... and the fix" "mkdir -p $N/rootonly/Mail && chown \$USER $N/rootonly/Mail" "$out"
check_eq "... in one line" 1 "$(printf '%s\n' "$out" | wc -l)"
check "... and no state_dir was made" test ! -e "$N/home/state"
out=$(as_nobody daemon 2>&1)
check_eq "... daemon: exit 2 as well" 2 "$?"
check_contains "... with the same words" "this user may not write in $N/rootonly" "$out"

mkdir -m 755 "$N/rootonly/Mail"
nobody_conf "$N/rootonly/Mail" "$N/home/state"
out=$(as_nobody sync 2>&1)
check_eq "a maildir not writable by this user: exit 2" 2 "$?"
check_contains "... says so, naming the key" "accounts.test.maildir: $N/rootonly/Mail is not writable by this user" "$out"
check_contains "... with chown and chmod" "chown \$USER $N/rootonly/Mail && chmod 700" "$out"

nobody_conf "$N/home/Mail" "$N/rootonly/state"
out=$(as_nobody sync 2>&1)
check_eq "state_dir not creatable: exit 2" 2 "$?"
check_contains "... names accounts.test.state_dir" "accounts.test.state_dir: $N/rootonly/state cannot be created" "$out"
check "... and the maildir was not made either" test ! -e "$N/home/Mail"
out=$(as_nobody doctor 2>&1)
check_contains "... doctor: ✗ state, naming the key" "✗ state: accounts.test.state_dir" "$out"

# --- a read-only file system ----------------------------------------------------
mkdir -p "$GD_DIR/ro"
if mount -t tmpfs -o ro,size=1m tmpfs "$GD_DIR/ro" 2>/dev/null; then
	with "s|maildir: .*|maildir: $GD_DIR/ro/Mail|"
	expect_local "read-only file system" "accounts.test.maildir: $GD_DIR/ro/Mail" \
		"Read-only file system" "ReadWritePaths=$GD_DIR/ro/Mail"
	umount "$GD_DIR/ro"
else
	diag "no tmpfs mount here: read-only file system case not run"
fi

# --- two accounts, one wrong: nothing is synced ------------------------------------
with "s|maildir: .*|maildir: $GD_MAIL|"
{
	cat "$GD_CONF"
	sed -n '/^  - name:/,$p' "$GD_CONF" |
		sed "s|name: test|name: second|; s|maildir: .*|maildir: $GD_DIR/afile|; s|state_dir: .*|state_dir: $GD_DIR/state2|"
} >"$GD_DIR/two.yaml"
chmod 600 "$GD_DIR/two.yaml"
out=$(timeout 60 "$GMAILDIR_BIN" -c "$GD_DIR/two.yaml" sync 2>&1)
check_eq "two accounts, the second's maildir a file: exit 2" 2 "$?"
check_contains "... naming the second's key" "accounts.second.maildir" "$out"
check "... and the first was not synced either" test ! -e "$GD_STATE"

# --- a first sync that cannot connect or sign in leaves nothing --------------------
with "s|port: .*|port: 1|"
out=$(gd sync 2>&1)
check_eq "connection refused: exit 1" 1 "$?"
check_contains "... says so" "Connection refused" "$out"
check "... no state_dir made" test ! -e "$GD_STATE"
check "... no Maildir made" test ! -e "$GD_MAIL"
with "s|password: .*|password: \"wrong\"|"
out=$(gd sync 2>&1)
check_eq "login refused: exit 1" 1 "$?"
check "... no state_dir made" test ! -e "$GD_STATE"
check "... no Maildir made" test ! -e "$GD_MAIL"
mkdir -p "$GD_STATE"
out=$(gd sync 2>&1)
check "an existing empty state_dir stays empty" test -z "$(ls -A "$GD_STATE")"

with "s|x|x|"
gd_sync_ok "the fault fixed, the next sync"
check "... makes the state" test -s "$GD_STATE/state.db"
check "... and brings the mail" test "$(find "$GD_MAIL/INBOX" -type f | wc -l)" -eq 3
with "s|port: .*|port: 1|"
gd sync >/dev/null 2>&1
check_eq "a later failed connect (state there) exits 1" 1 "$?"
out=$("$GMAILDIR_BIN" -c "$GD_CONF" status 2>&1)
check_contains "... and status still shows it" "Connection refused" "$out"
with "s|x|x|"
gd_sync_ok "and back to the good config"

# --- a missing maildir whose parent is writable is made -------------------------------
with "s|maildir: .*|maildir: $GD_DIR/new/deeper/Mail|; s|state_dir: .*|state_dir: $GD_DIR/state3|"
gd_sync_ok "a maildir that does not exist yet (parents neither)"
check "... is made" test -d "$GD_DIR/new/deeper/Mail/INBOX/cur"

tap_done
