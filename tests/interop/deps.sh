#!/usr/bin/env bash
# What `make interop` needs beyond `make check` (tests/deps.sh): Cyrus IMAP
# and Courier-IMAP, whose Debian packages conflict with dovecot-imapd and
# with each other. So they are never installed: `apt-get download` fetches
# them and `dpkg-deb -x` unpacks each server into its own directory,
# /var/tmp/gmaildir-interop/cyrus and .../courier (GMAILDIR_INTEROP_ROOT
# to put them elsewhere); tests/lib/cyrus.sh and courier.sh run them from
# there with their own config. Not under the checkout: the servers run as
# nobody, who must be able to read their programs, and a checkout may sit
# in a directory only its owner can enter (mktemp -d). So every directory
# up to the root is made 755. The shared libraries they link that Debian
# ships on their own (libical, libidn, libltdl) and saslpasswd2 are
# installed: none conflicts with anything, none starts a service.
# As root: installs and unpacks what is missing. Otherwise: prints the apt
# line and exits 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${GMAILDIR_INTEROP_ROOT:-/var/tmp/gmaildir-interop}

libs=(libical3 libidn12 libltdl7 sasl2-bin)
declare -A unpack=(
	[cyrus]="cyrus-common cyrus-imapd"
	[courier]="courier-imap courier-base courier-authlib courier-authdaemon courier-authlib-userdb libcourier-unicode4 libgamin0 gamin"
)

missing=()
for p in "${libs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "make interop needs these Debian packages; run as root:" >&2
		echo "  apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >/dev/null || {
		apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${missing[@]}" >/dev/null
	}
fi

for name in "${!unpack[@]}"; do
	# shellcheck disable=SC2086 # a list of package names
	want=$(printf '%s\n' ${unpack[$name]} | sort | tr '\n' ' ')
	if [ -f "$root/$name/.unpacked" ] && [ "$(cat "$root/$name/.unpacked")" = "$want" ]; then
		continue
	fi
	debs=$(mktemp -d)
	chmod 777 "$debs" # apt's download runs as _apt where it can
	# shellcheck disable=SC2086
	(cd "$debs" && apt-get download -q ${unpack[$name]} >/dev/null 2>&1) || {
		apt-get update -q >/dev/null 2>&1 || true
		# shellcheck disable=SC2086
		(cd "$debs" && apt-get download -q ${unpack[$name]} >/dev/null)
	}
	rm -rf "$root/$name"
	mkdir -p -m 755 "$root" "$root/$name"
	chmod 755 "$root"
	for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root/$name"; done
	chmod -R a+rX "$root/$name"
	rm -rf "$debs"
	printf '%s' "$want" >"$root/$name/.unpacked"
	echo "unpacked $name into $root/$name"
done
