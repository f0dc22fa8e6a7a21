#!/usr/bin/env bash
# The command line without a server: help, version, exit statuses, and bad
# config files answered with one line naming file:line:column, never a crash
# (also under ASan+UBSan when that build exists).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
BIN=${GMAILDIR_BIN:-build/gmaildir}
SAN=${GMAILDIR_SAN_BIN:-}
T=$(mktemp -d /tmp/gdcli.XXXXXX)
trap 'rm -rf "$T"' EXIT

out=$("$BIN" --help)
check_eq "--help exits 0" 0 "$?"
check_contains "--help lists the commands" "daemon" "$out"
check_contains "--version prints the version" "gmaildir 0." "$("$BIN" --version)"
out=$("$BIN" frobnicate 2>&1)
check_eq "unknown command: exit 2" 2 "$?"
check_eq "... one line with the hint, not the usage" \
	"gmaildir: unknown command 'frobnicate'; gmaildir help lists the commands" "$out"
check_eq "a near miss: the command meant" \
	"gmaildir: unknown command 'snyc'; did you mean 'sync'? (gmaildir help lists the commands)" \
	"$("$BIN" snyc 2>&1)"
# Option errors: "gmaildir" (not argv[0]'s path), the option, where help is.
opt_err() { # opt_err WHAT EXPECTED ARGS...
	local what=$1 want=$2
	shift 2
	out=$("$(realpath "$BIN")" -c "$T/none.yaml" "$@" 2>&1)
	check_eq "$what: exit 2" 2 "$?"
	check_eq "... names gmaildir, the option and the help" "$want" "$out"
}
opt_err "a bad global option" "gmaildir: unknown option '-x'; see gmaildir help" -x
opt_err "a bad long global option" "gmaildir: unknown option '--frob'; see gmaildir help" --frob=1
opt_err "sync -x (before the missing config)" \
	"gmaildir: sync: unknown option '-x'; see gmaildir help sync" sync -nx
opt_err "status --jsn" "gmaildir: status: unknown option '--jsn'; see gmaildir help status" \
	status --jsn
opt_err "sync --dry-run=1" \
	"gmaildir: sync: no value is taken by '--dry-run'; see gmaildir help sync" sync --dry-run=1
opt_err "login --port without its value" \
	"gmaildir: login: a value is needed after '--port'; see gmaildir help login" login --port
"$BIN" >/dev/null 2>&1
check_eq "no command: exit 2" 2 "$?"
for cmd in sync daemon send status doctor login init list check-config; do
	out=$("$BIN" -c "$T/none.yaml" $cmd --help 2>&1)
	check_eq "$cmd --help: exit 0, without a config" 0 "$?"
	check_contains "... its usage" "usage: gmaildir $cmd" "$out"
	check_eq "help $cmd: the same text" "$out" "$("$BIN" help $cmd 2>&1)"
done
check_contains "sync -h works too" "usage: gmaildir sync" "$("$BIN" sync -h 2>&1)"
"$BIN" help nope >/dev/null 2>&1
check_eq "help of an unknown command: exit 2" 2 "$?"
out=$("$BIN" sync -v -c "$T/none.yaml" 2>&1)
check_eq "global options after the command (sync -v -c FILE): taken" 2 "$?"
check_contains "... -c FILE is the file read" "$T/none.yaml" "$out"
check_contains "... --config=FILE too" "$T/none2.yaml" "$("$BIN" status --config="$T/none2.yaml" 2>&1)"
check_contains "... and -cFILE" "$T/none3.yaml" "$("$BIN" list -c"$T/none3.yaml" 2>&1)"
for cmd in sync status list daemon; do
	out=$("$BIN" -c "$T/none.yaml" $cmd 2>&1)
	check_eq "$cmd without a config: exit 2" 2 "$?"
	check_contains "... says how to get one (init gmail)" "gmaildir init gmail" "$out"
	check_contains "... or init imap" "gmaildir init imap you@example.org" "$out"
	check_contains "... and where the example is" "config.yaml.example" "$out"
done

cat >"$T/good.yaml" <<'Y'
accounts:
  - name: work
    host: 127.0.0.1
    port: 10993
    user: alice
    password: "hunter2-secret"
    maildir: ~/Mail/work
  - name: personal
    provider: gmail
    user: me@gmail.com
    password_command: "echo app-password"
    maildir: /tmp/m
Y
chmod 600 "$T/good.yaml"
out=$(HOME=/home/u "$BIN" -c "$T/good.yaml" check-config)
check_eq "check-config on a good file exits 0" 0 "$?"
check_contains "check-config fills the gmail preset" "host: imap.gmail.com" "$out"
check_contains "check-config expands ~" "maildir: /home/u/Mail/work" "$out"
check "check-config masks the password" bash -c "! grep -q hunter2 <<<'$out'"

chmod 644 "$T/good.yaml"
out=$("$BIN" -c "$T/good.yaml" check-config 2>&1)
check_eq "a password in a world-readable config: exit 2" 2 "$?"
check_contains "... telling how to fix it" "chmod 600" "$out"

bad() { # bad NAME EXPECTED-SUBSTRING <<YAML
	cat >"$T/$1.yaml"
	chmod 600 "$T/$1.yaml"
	local b
	for b in "$BIN" $SAN; do
		out=$("$b" -c "$T/$1.yaml" check-config 2>&1)
		rc=$?
		check_eq "bad config $1 ($(basename "$(dirname "$b")")): exit 2" 2 "$rc"
		check_contains "... one line naming the place" "$T/$1.yaml:$2" "$out"
		check_eq "... and only one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	done
}
bad unknown-key "4:5" <<'Y'
accounts:
  - name: a
    host: h
    hots: x
    user: u
    password: p
    maildir: /m
Y
out=$("$BIN" -c "$T/unknown-key.yaml" check-config 2>&1)
check_contains "... and the key meant" 'unknown key "hots" in account; did you mean "host"?' "$out"
bad misspelt-key "5:5" <<'Y'
accounts:
  - name: a
    host: h
    user: u
    conections: 2
    password: p
    maildir: /m
Y
check_contains "... conections: did you mean connections" 'did you mean "connections"?' "$out"
{
	printf 'accounts:\n  - name: a\n    host: '
	head -c 100000 /dev/zero | tr '\0' a
	printf '\n    user: u\n    password: p\n    maildir: /m\n'
} | bad long-host "3:11: host: 100000 characters long; a host name has at most 253"
bad bad-port "4:11" <<'Y'
accounts:
  - name: a
    host: h
    port: 99999
    user: u
    password: p
    maildir: /m
Y
bad syntax "3" <<'Y'
accounts:
  - name: a
   host: [unclosed
Y
bad not-a-list "1:11" <<'Y'
accounts: yes
Y
printf '\x00\xff\xfe garbage' >"$T/binary.yaml"
chmod 600 "$T/binary.yaml"
out=$("$BIN" -c "$T/binary.yaml" check-config 2>&1)
check_eq "binary junk as config: exit 2, no crash" 2 "$?"
out=$("$BIN" -c "$T/missing.yaml" check-config 2>&1)
check_eq "missing config file: exit 2" 2 "$?"
check_contains "... naming the file" "missing.yaml" "$out"
out=$("$BIN" -c "$T/new/config.yaml" init gmail you@gmail.com)
check_eq "init gmail writes a starter config" 0 "$?"
check_eq "... mode 0600" 600 "$(stat -c %a "$T/new/config.yaml")"
check_contains "... and says what to do next" "App Password" "$out"
out=$("$BIN" -c "$T/new/config.yaml" check-config)
check_contains "... which loads, with the Gmail preset" "host: imap.gmail.com" "$out"
"$BIN" -c "$T/new/config.yaml" init gmail you@gmail.com >/dev/null 2>&1
check_eq "init never overwrites a config (exit 2)" 2 "$?"

# init imap: a starter for any other server.
out=$("$BIN" -c "$T/imap/config.yaml" init imap me@example.org </dev/null)
check_eq "init imap without a terminal: exit 0" 0 "$?"
check_eq "... mode 0600" 600 "$(stat -c %a "$T/imap/config.yaml")"
check_contains "... says the host was a guess" "guessed from the address" "$out"
check_contains "... and the next steps" "gmaildir doctor me" "$out"
check_contains "... with the service step of init gmail" "systemctl --user enable --now gmaildir" "$out"
out=$(HOME=/home/u "$BIN" -c "$T/imap/config.yaml" check-config)
check_contains "... which loads: imap.DOMAIN" "host: imap.example.org" "$out"
check_contains "... port 993" "port: 993" "$out"
check_contains "... implicit TLS" "tls: implicit" "$out"
check_contains "... the address as user" "user: me@example.org" "$out"
check_contains "... a password_command" 'password_command: "pass show mail/me@example.org"' "$out"
out=$("$BIN" -c "$T/imap2.yaml" init imap me@example.org --host mail.example.net --port 143 \
	--user me 2>&1)
check_eq "init imap --host --port --user (after ADDRESS too): exit 0" 0 "$?"
out=$("$BIN" -c "$T/imap2.yaml" check-config)
check_contains "... the host given" "host: mail.example.net" "$out"
check_contains "... port 143 is STARTTLS" "tls: starttls" "$out"
check_contains "... the user given" "user: me" "$out"
out=$("$BIN" -c "$T/imap3.yaml" init imap --host "mail example.net" me@example.org 2>&1)
check_eq "init imap with a host that cannot be: exit 2" 2 "$?"
check_contains "... names the key" "host: contains a space (so nothing was written)" "$out"
check "... and leaves no file behind" test ! -e "$T/imap3.yaml"
out=$("$BIN" -c "$T/imap4.yaml" init imap --port 0 me@example.org 2>&1)
check_eq "init imap --port 0: exit 2" 2 "$?"
out=$("$BIN" -c "$T/imap4.yaml" init imap 2>&1)
check_eq "init imap without ADDRESS: exit 2" 2 "$?"
check_contains "... with both forms of usage" "init imap [--host HOST]" "$out"
tap_done
