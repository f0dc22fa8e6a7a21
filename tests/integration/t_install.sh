#!/usr/bin/env bash
# `make install` and `make uninstall` into a DESTDIR: every file in place with
# its mode, the units' @BINDIR@ filled in, the units accepted by
# `systemd-analyze verify` (when it works here), the man pages rendered by
# man(1) without a warning, the shell completions (those the tree has), the
# example config valid, and uninstall leaving nothing but empty directories. Uses the program
# already built (never rebuilds it, with these flags or others).
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh

# The build tree: GMAILDIR_BUILD, else the one tests/run.sh was given (it
# exports GMAILDIR_BIN=$PWD/BUILD/gmaildir), else build.
if [ -n "${GMAILDIR_BUILD:-}" ]; then
	BUILD=$GMAILDIR_BUILD
elif [ -n "${GMAILDIR_BIN:-}" ]; then
	BUILD=$(dirname "$GMAILDIR_BIN")
	BUILD=${BUILD#"$PWD"/}
else
	BUILD=build
fi
T=$(mktemp -d /tmp/gdinst.XXXXXX)
trap 'rm -rf "$T"' EXIT
D=$T/dest

if [ ! -x "$BUILD/gmaildir" ]; then
	not_ok "the program is built ($BUILD/gmaildir)"
	tap_done
	exit
fi

# make in a clean environment: no MAKEFLAGS from a `make check` around us;
# -o: the program is taken as is, never remade.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -o "$BUILD/gmaildir" \
		BUILD="$BUILD" "$@" >"$T/make.log" 2>&1
	local rc=$?
	[ "$rc" -eq 0 ] || sed 's/^/#   /' "$T/make.log" | tail -20
	return "$rc"
}

mtime_before=$(stat -c %Y "$BUILD/gmaildir")
check "make install DESTDIR PREFIX=/usr exits 0" mk DESTDIR="$D" PREFIX=/usr install
check_eq "the program was not rebuilt" "$mtime_before" "$(stat -c %Y "$BUILD/gmaildir")"

files="usr/bin/gmaildir 755
usr/lib/systemd/user/gmaildir.service 644
usr/lib/systemd/user/gmaildir@.service 644
usr/share/doc/gmaildir/README.md 644
usr/share/doc/gmaildir/config.yaml.example 644
usr/share/man/man1/gmaildir.1 644
usr/share/man/man5/gmaildir.yaml.5 644"
# The completions are installed only when the tree has them.
[ -f packaging/completion/gmaildir.bash ] &&
	files+=$'\n'"usr/share/bash-completion/completions/gmaildir 644"
[ -f packaging/completion/_gmaildir ] && files+=$'\n'"usr/share/zsh/site-functions/_gmaildir 644"
while read -r f mode; do
	check_eq "$f installed, mode $mode" "$mode" "$(stat -c %a "$D/$f" 2>&1)"
done <<<"$files"
check_eq "nothing else installed" "$(cut -d' ' -f1 <<<"$files" | sort)" \
	"$(cd "$D" && find . ! -type d | sed 's|^\./||' | sort)"
check "the installed program is the built one" cmp -s "$BUILD/gmaildir" "$D/usr/bin/gmaildir"
check "README.md installed as is" cmp -s README.md "$D/usr/share/doc/gmaildir/README.md"
check "the example config installed as is" \
	cmp -s packaging/config.yaml.example "$D/usr/share/doc/gmaildir/config.yaml.example"
check_contains "the installed program runs" "gmaildir 0." "$("$D/usr/bin/gmaildir" --version 2>&1)"
for m in man1/gmaildir.1 man5/gmaildir.yaml.5; do
	check "$m installed as is" cmp -s "packaging/man/${m#*/}" "$D/usr/share/man/$m"
done
[ -f packaging/completion/gmaildir.bash ] && check "the bash completion installed as is" \
	cmp -s packaging/completion/gmaildir.bash "$D/usr/share/bash-completion/completions/gmaildir"
[ -f packaging/completion/_gmaildir ] && check "the zsh completion installed as is" \
	cmp -s packaging/completion/_gmaildir "$D/usr/share/zsh/site-functions/_gmaildir"

# Each installed man page renders: man -l exits 0, with no warning from
# groff (--warnings) and a NAME section in the text.
if ! command -v man >/dev/null 2>&1; then
	diag "skipped man -l: no man(1) here"
else
	for m in man1/gmaildir.1 man5/gmaildir.yaml.5; do
		text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$D/usr/share/man/$m" 2>"$T/man.err")
		rc=$?
		check_eq "man -l $m: exit 0, no warning" "0 " "$rc $(head -c 500 "$T/man.err")"
		check_contains "man -l $m: has a NAME section" "NAME" "$text"
	done
fi

U=$D/usr/lib/systemd/user
check_eq "no @PLACEHOLDER@ left in the units" "" \
	"$(grep -Hn '@[A-Z]*@' "$U/gmaildir.service" "$U/gmaildir@.service")"
check_eq "gmaildir.service: ExecStart is /usr/bin/gmaildir daemon" \
	"ExecStart=/usr/bin/gmaildir daemon" "$(grep '^ExecStart=' "$U/gmaildir.service")"
check_eq "gmaildir@.service: ExecStart is /usr/bin/gmaildir daemon %i" \
	"ExecStart=/usr/bin/gmaildir daemon %i" "$(grep '^ExecStart=' "$U/gmaildir@.service")"
check_eq "Documentation= names the manuals and the installed README" \
	"Documentation=man:gmaildir(1) man:gmaildir.yaml(5) file:/usr/share/doc/gmaildir/README.md" \
	"$(grep -h '^Documentation=' "$U/gmaildir.service")"
for u in gmaildir.service gmaildir@.service; do
	got=$(grep -E '^(Type|NotifyAccess|ExecReload|Restart|RestartSec|TimeoutStopSec|WatchdogSec|ProtectSystem|WantedBy)=' \
		"$U/$u" | sort | tr '\n' ' ')
	check_eq "$u: notify, reload, restart, stop, watchdog, sandbox, install" \
		"ExecReload=/bin/kill -HUP \$MAINPID NotifyAccess=main ProtectSystem=strict Restart=on-failure RestartSec=30 TimeoutStopSec=10 Type=notify WantedBy=default.target WatchdogSec=5min " \
		"$got"
done
# The two units differ only where they must.
strip() { sed -n '/^\[Service\]/,$p' "$1" | grep -v '^#' | grep -v '^ExecStart='; }
check_eq "the units' [Service] and [Install] sections agree but for ExecStart" \
	"$(strip "$U/gmaildir.service")" "$(strip "$U/gmaildir@.service")"
check_contains "gmaildir@.service conflicts with gmaildir.service" \
	"Conflicts=gmaildir.service" "$(cat "$U/gmaildir@.service")"

# systemd-analyze verify, on copies whose /usr paths point into DESTDIR (it
# checks that ExecStart= is executable). A container may have no systemd or
# one that cannot even load a trivial unit: skip then.
if ! command -v systemd-analyze >/dev/null 2>&1; then
	diag "skipped systemd-analyze verify: no systemd-analyze here"
else
	V=$T/verify
	mkdir -p "$V" "$T/run"
	chmod 700 "$T/run"
	export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$T/run}
	printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$V/gdprobe.service"
	if ! probe=$(systemd-analyze --user --man=no verify "$V/gdprobe.service" 2>&1) ||
		[ -n "$probe" ]; then
		diag "skipped systemd-analyze verify: it does not work here: $(head -c 200 <<<"$probe")"
	else
		for u in gmaildir.service gmaildir@.service; do
			sed "s|/usr/|$D/usr/|g" "$U/$u" >"$V/$u"
		done
		for u in gmaildir.service gmaildir@.service gmaildir@personal.service; do
			out=$(systemd-analyze --user --man=no verify "$V/$u" 2>&1)
			rc=$?
			check_eq "systemd-analyze --user verify $u: exit 0, no complaint" "0 " "$rc $out"
		done
	fi
fi

# The example config is valid as installed (chmod 600 like a real one).
mkdir -p "$T/home"
cp "$D/usr/share/doc/gmaildir/config.yaml.example" "$T/config.yaml"
chmod 600 "$T/config.yaml"
out=$(HOME=$T/home XDG_STATE_HOME='' XDG_CONFIG_HOME='' \
	"$D/usr/bin/gmaildir" -c "$T/config.yaml" check-config 2>&1)
rc=$?
check_eq "the example config passes check-config" 0 "$rc"
[ "$rc" -eq 0 ] || head -10 <<<"$out" | sed 's/^/#   /'
check_contains "the example has a Gmail account" "provider: gmail" "$out"
check_contains "the example has a generic IMAP account" "host: imap.example.com" "$out"

check "make uninstall exits 0" mk DESTDIR="$D" PREFIX=/usr uninstall
check_eq "uninstall leaves nothing but empty directories" "" \
	"$(cd "$D" && find . ! -type d)"
check "uninstall removes the doc directory" test ! -e "$D/usr/share/doc/gmaildir"
check "a second uninstall is harmless" mk DESTDIR="$D" PREFIX=/usr uninstall

# A home install (PREFIX=~/.local, no DESTDIR): units where systemd --user
# looks in a home, ~/.local/share/systemd/user.
H=$T/home2
mkdir -p "$H"
home_mk() { HOME=$H mk PREFIX="$H/.local" "$@"; }
check "make install PREFIX=\$HOME/.local exits 0" home_mk install
check "home install: units in ~/.local/share/systemd/user" \
	test -f "$H/.local/share/systemd/user/gmaildir.service"
check "home install: man page in ~/.local/share/man/man1" \
	test -f "$H/.local/share/man/man1/gmaildir.1"
check_eq "home install: ExecStart is ~/.local/bin/gmaildir" \
	"ExecStart=$H/.local/bin/gmaildir daemon" \
	"$(grep '^ExecStart=' "$H/.local/share/systemd/user/gmaildir.service" 2>&1)"
check "home uninstall exits 0" home_mk uninstall
check_eq "home uninstall leaves nothing but empty directories" "" \
	"$(cd "$H" && find . ! -type d)"

tap_done
