#!/usr/bin/env bash
# Installs the Debian packages that the build and the tests need.
#
#   tests/deps.sh [--check] [build|demo|deb|lintian|all]
#
# build: what `make` needs; demo: that and what `make demo` runs (Dovecot,
# openssl, python3); deb: what `make deb` needs (debhelper and the
# Build-Depends of debian/control, the unit tests' cmocka included);
# lintian: that and lintian, for `make lintian`; all (the default):
# everything `make check` uses.
# As root: apt-get update + install of what is missing, without letting the
# system's Dovecot service start (the tests run their own throwaway instance),
# waiting for another apt's lock up to 5 minutes.
# As anyone else, or with --check: prints the exact apt-get line and exits 1.
# Without dpkg (not Debian) it says nothing and exits 0: the compiler will
# name what is missing.
set -euo pipefail
check_only=
if [ "${1:-}" = --check ]; then
	check_only=1
	shift
fi
profile=${1:-all}
command -v dpkg-query >/dev/null 2>&1 || exit 0

build_pkgs=(
	gcc make pkg-config libetpan-dev libssl-dev libyaml-dev libsqlite3-dev zlib1g-dev
	libcurl4-gnutls-dev libcurl4 libjansson-dev libsecret-1-dev
)
demo_pkgs=("${build_pkgs[@]}" dovecot-core dovecot-imapd openssl python3 procps psmisc sqlite3)
# dpkg-buildpackage checks the Build-Depends itself; this list only lets
# `make deb` install them first (dh_auto_test runs the cmocka tests).
deb_pkgs=("${build_pkgs[@]}" dpkg-dev debhelper libcmocka-dev)

pkgs=(
	gcc make pkg-config            # build
	clang-format git               # make fmt-check (the layout of every C file)
	libetpan-dev libssl-dev        # IMAP, TLS
	libyaml-dev libsqlite3-dev     # config, state
	zlib1g-dev                     # COMPRESS=DEFLATE (libetpan's own is built without zlib)
	libcmocka-dev                  # unit tests
	# Built-in OAuth 2.0 (oauth/): the token endpoint over HTTPS with
	# libcurl's OpenSSL flavour (the same CA handling as IMAP), its JSON
	# read by jansson, the refresh token kept by the Secret Service.
	# libetpan-dev needs libcurl4-gnutls-dev, which conflicts with
	# libcurl4-openssl-dev; the headers are the same, so the build takes
	# them from the former and links the OpenSSL library (libcurl4,
	# libcurl.so.4) by name (see CURL_LIBS in the Makefile).
	libcurl4-gnutls-dev libcurl4 libjansson-dev libsecret-1-dev
	dovecot-core dovecot-imapd     # the real IMAP server of the integration tests
	openssl                        # test CA and certificates
	python3                        # test tools: free ports, proxies, fixture servers
	sqlite3                        # tests inspect the state DB
	procps psmisc                  # pgrep/pkill/fuser in the test harness
	time                           # /usr/bin/time -v for peak RSS
	# The fuzz harnesses (tests/fuzz/, make fuzz): clang for
	# -fsanitize=fuzzer; libFuzzer itself (libclang_rt.fuzzer) is in
	# libclang-rt-14-dev, only a Recommends of clang-14 on Debian 12, so
	# --no-install-recommends would leave it out.
	clang libclang-rt-14-dev
	valgrind                       # leak and memory-error checks (t_valgrind.sh)
	notmuch                        # the notmuch integration test
	# Real foreign Maildirs for the first-contact tests (t_adopt_peers,
	# t_peer_state): the folders and state files mbsync and OfflineIMAP
	# really write.
	isync offlineimap3
	# The submission tests (tests/lib/mta.sh): a real Postfix that delivers
	# into the test Dovecot over LMTP (dovecot-lmtpd) or dovecot-lda.
	postfix dovecot-lmtpd
)

case $profile in
build) pkgs=("${build_pkgs[@]}") ;;
demo) pkgs=("${demo_pkgs[@]}") ;;
deb) pkgs=("${deb_pkgs[@]}") ;;
lintian) pkgs=("${deb_pkgs[@]}" lintian) ;;
all) ;;
*) echo "usage: tests/deps.sh [--check] [build|demo|deb|lintian|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ -n "$check_only" ] || [ "$(id -u)" -ne 0 ]; then
	echo "gmaildir needs these Debian packages; install them as root with" >&2
	echo "  apt-get install -y ${missing[*]}" >&2
	[ "$(id -u)" -ne 0 ] || echo "(or run: make deps)" >&2
	exit 1
fi

echo "installing: ${missing[*]}"
# policy-rc.d exit 101 tells invoke-rc.d not to start services: the system
# Dovecot must never listen on 143/993 because of us.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	made_policy=1
fi
cleanup() { [ -n "$made_policy" ] && rm -f "$policy"; return 0; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Postfix: no system configuration at all (no /etc/postfix/main.cf); the
# tests run their own instance with its own config dir (tests/lib/mta.sh).
if [[ " ${missing[*]} " == *" postfix "* ]]; then
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
fi
# Another apt (unattended-upgrades, a desktop updater) may hold the lock:
# wait for it rather than fail at once.
lock=(-o DPkg::Lock::Timeout=300)
apt-get "${lock[@]}" update -qq
apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Belt and braces: if a system Dovecot runs anyway, stop and disable it.
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now dovecot.service >/dev/null 2>&1 || true
	systemctl disable --now postfix.service >/dev/null 2>&1 || true
fi
if pgrep -x dovecot >/dev/null 2>&1 && [ -f /run/dovecot/master.pid ]; then
	kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi
echo "installed: ${missing[*]}"
