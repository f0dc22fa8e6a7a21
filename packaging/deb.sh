#!/usr/bin/env bash
# `make deb`: builds the Debian binary package of this tree with
# dpkg-buildpackage, in a throwaway copy so that the tree itself gets no
# debian/gmaildir/, stamps or build/ from it. The copy holds what git
# tracks plus what it would add (untracked files .gitignore does not
# ignore), so uncommitted work is packaged too; outside a git checkout it
# is the whole tree less build*/ and demo/.
#
# dpkg-buildpackage writes its results into the parent of the source
# directory: the copy is OUT/gmaildir-VERSION, so the .deb (with its
# .buildinfo and .changes) lands in OUT, and the copy is removed after a
# successful build. Prints the path of the .deb last.
#
#   packaging/deb.sh [--source] [OUT]
#
# --source also builds the source package (.dsc and .tar.xz, listed in the
# .changes with the .deb), for `make lintian` to check both.
#
# Needs dpkg-dev, debhelper and the Build-Depends of debian/control
# (tests/deps.sh deb). As root, missing ones are installed with apt-get;
# as anyone else the exact apt-get line is printed and nothing is built.
set -euo pipefail

what=-b
if [ "${1:-}" = --source ]; then
	what=-F
	shift
fi
out=${1:-build/deb}
cd "$(dirname "$0")/.."
top=$PWD

# dpkg-dev, debhelper and the Build-Depends (tests/deps.sh deb): installed
# as root, else the apt-get line is printed.
tests/deps.sh deb

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
src=$out/gmaildir-$version
rm -rf "$out"
mkdir -p "$src"

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked and addable files that exist (a tracked file deleted in the
	# work tree is left out).
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"
		done |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude='./build' --exclude='./build-*' --exclude='./demo' \
		-cf - . | tar -xf - -C "$src"
fi

echo "building gmaildir $version in $src"
(cd "$src" && dpkg-buildpackage -us -uc "$what") >"$out/build.log" 2>&1 || {
	tail -40 "$out/build.log" >&2
	echo "make deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
}
rm -rf "$src"
deb=$out/gmaildir_${version}_$arch.deb
[ -f "$deb" ] || {
	echo "make deb: $deb was not made (see $out/build.log)" >&2
	exit 1
}
echo "$deb"
