#!/usr/bin/env bash
# `make lintian`: the package as a Debian maintainer would check it.
# Builds the binary and the source package (packaging/deb.sh --source, into
# OUT, build/deb by default) and runs lintian on the .changes, which covers
# the .deb, its -dbgsym, the .dsc and the source tarball, with every tag
# shown (info and pedantic too). Fails on any error or warning but one:
#
#   unknown-field Static-Built-Using
#
# Static-Built-Using is the field Debian Policy 4.7.0 (2024) added for
# statically linked libraries (debian/rules explains why libetpan is); the
# lintian of Debian 12 (2.116) predates it and does not know it. Newer
# lintian does, and then does not emit the tag. An override in the package
# cannot cover the -dbgsym package, which debhelper gives the field too.
#
# Also fails when debian/changelog's version is not the program's
# (VERSION, passed by the Makefile): the package would be named after one
# version and `gmaildir --version` say another. lintian itself is installed
# by tests/deps.sh lintian (as root; as anyone else the apt-get line is
# printed).
set -euo pipefail
out=${1:-build/deb}
cd "$(dirname "$0")/.."

tests/deps.sh lintian
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ -n "${VERSION:-}" ] && [ "$version" != "$VERSION" ]; then
	echo "make lintian: debian/changelog is at $version, the Makefile's VERSION at $VERSION" >&2
	exit 1
fi
packaging/deb.sh --source "$out" >/dev/null
changes=$out/gmaildir_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).changes

report=$out/lintian.txt
rc=0
lintian --fail-on error --info --display-info --pedantic --tag-display-limit 0 \
	"$changes" >"$report" 2>&1 || rc=$?
grep -v '^N:' "$report" | grep -v '^running with root privileges' || true
if [ "$rc" -ne 0 ]; then
	echo "make lintian: lintian reports errors (all of it: $report)" >&2
	exit 1
fi
warnings=$(grep '^W: ' "$report" | grep -v ': unknown-field Static-Built-Using$' || true)
if [ -n "$warnings" ]; then
	echo "make lintian: lintian warns (all of it: $report)" >&2
	exit 1
fi
echo "make lintian: no error, no warning but Debian 12's unknown Static-Built-Using"
