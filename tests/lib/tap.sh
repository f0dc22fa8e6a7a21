# TAP helpers for integration tests: source this file.
# Each check prints "ok - DESC" or "not ok - DESC"; tests/run.sh counts them.
# A test script should end with `tap_done`, which exits non-zero on failure.

TAP_FAILED=0

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; TAP_FAILED=$((TAP_FAILED + 1)); }

# check DESC CMD...: runs CMD, ok if it exits 0.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		echo "#   expected: $2"
		echo "#   actual:   $3"
	fi
}

# check_contains DESC NEEDLE HAYSTACK
check_contains() {
	case "$3" in
	*"$2"*) ok "$1" ;;
	*)
		not_ok "$1"
		echo "#   expected to contain: $2"
		echo "#   actual: $(printf '%s' "$3" | head -c 2000)"
		;;
	esac
}

diag() { echo "# $*"; }

tap_done() {
	[ "$TAP_FAILED" -eq 0 ]
}
