# shellcheck shell=bash
# EXIT-trap chaining for the test libraries (tests/lib/dovecot.sh,
# tests/lib/gmaildir.sh, tests/gmail/fixture.sh): each one adds its cleanup
# to whatever EXIT trap the test (or another library) has set already, so
# that every server a test started is stopped however the test ends. Source
# it from bash; it only defines functions. Safe under `set -u` and `set -e`.
#
#   trap_chain FUNC       appends FUNC to the EXIT trap: the trap already
#                         set runs first (in braces), then FUNC; with no
#                         trap set, FUNC alone. Does nothing if the EXIT trap
#                         already calls FUNC (a word of its command): calling
#                         it again is harmless, and so is a test's own trap
#                         that calls FUNC itself. FUNC should start with
#                         `local rc=$?` and end with `return "$rc"`, so that
#                         what runs after it still sees the exit status
#                         (bash exits with the status it had before the trap,
#                         whatever the trap returns, unless the trap calls
#                         exit).
#   trap_exit_on_signals  each of HUP, INT and TERM that has no trap yet is
#                         made to exit with 128+N (129, 130, 143), so that the
#                         EXIT trap runs; its handler first ignores all three,
#                         so that a second signal (`timeout` often signals the
#                         whole process group twice) does not cut the EXIT
#                         trap short. Signals the caller already trapped are
#                         left as they are.

trap_chain() {
	local func=$1 cur parts
	cur=$(trap -p EXIT)
	if [ -z "$cur" ]; then
		# shellcheck disable=SC2064 # the trap command is built now, on purpose
		trap "$func" EXIT
		return 0
	fi
	eval "parts=($cur)" # trap -- 'CMD' EXIT
	# FUNC as a word of CMD (anything but letters, digits and _ separates).
	if [[ " ${parts[2]//[^A-Za-z0-9_]/ } " == *" $func "* ]]; then
		return 0
	fi
	# shellcheck disable=SC2064
	trap "{ ${parts[2]}
}; $func" EXIT
}

trap_exit_on_signals() {
	local sig n
	for sig in HUP:129 INT:130 TERM:143; do
		n=${sig#*:}
		sig=${sig%:*}
		if [ -z "$(trap -p "$sig")" ]; then
			# shellcheck disable=SC2064
			trap "trap '' HUP INT TERM; exit $n" "$sig"
		fi
	done
}
