# Helpers for running gmaildir against the harness Dovecot: source after
# tests/lib/dovecot.sh and dc_start.
#
#   gd_setup [NAME] [EXTRA_YAML]   writes $GD_CONF for user $DC_USER (implicit
#                                  TLS, harness CA), maildir $GD_MAIL, state
#                                  $GD_STATE; EXTRA_YAML lines go into the
#                                  account (indented by 4 spaces)
#   gd [ARGS...]                   runs gmaildir -c $GD_CONF ARGS
#   gd_compare FOLDER [LOCALPATH]  ok if the server folder and the Maildir
#                                  hold the same messages, byte-identical,
#                                  once each, with the same flags and mtimes

GD_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GMAILDIR_BIN=${GMAILDIR_BIN:-$GD_LIB_DIR/../../build/gmaildir}
export TZ=UTC

gd_setup() {
	local name=${1:-test} extra=${2:-}
	GD_DIR=$(mktemp -d /tmp/gdt.XXXXXX)
	GD_CONF=$GD_DIR/config.yaml
	GD_MAIL=$GD_DIR/Mail
	GD_STATE=$GD_DIR/state
	GD_ACCOUNT=$name
	{
		echo "accounts:"
		echo "  - name: $name"
		echo "    host: 127.0.0.1"
		echo "    port: $DC_PORT_IMAPS"
		echo "    tls: implicit"
		echo "    ca_file: $DC_CA"
		echo "    user: $DC_USER"
		echo "    password: \"$DC_PASS\""
		echo "    maildir: $GD_MAIL"
		echo "    state_dir: $GD_STATE"
		[ -n "$extra" ] && printf '%s\n' "$extra" | sed 's/^/    /'
	} >"$GD_CONF"
	chmod 600 "$GD_CONF"
	_gd_chain_trap
}

GD_DIRS=()

_gd_cleanup() {
	local rc=$?
	[ ${#GD_DIRS[@]} -eq 0 ] || rm -rf "${GD_DIRS[@]}"
	return "$rc"
}

# Adds _gd_cleanup to the EXIT trap, after whatever is there already.
_gd_chain_trap() {
	local cur
	GD_DIRS+=("$GD_DIR")
	cur=$(trap -p EXIT)
	case $cur in
	*_gd_cleanup*) ;;
	'') trap _gd_cleanup EXIT ;;
	*)
		eval "set -- $cur"
		# shellcheck disable=SC2064
		trap "{ $3
}; _gd_cleanup" EXIT
		;;
	esac
}

gd() {
	timeout -k 5 300 "$GMAILDIR_BIN" -c "$GD_CONF" "$@"
}

# gd_local_path FOLDER: the Maildir of a server folder.
gd_local_path() {
	echo "$GD_MAIL/$1"
}

gd_compare() {
	local folder=$1 path=${2:-$GD_MAIL/$1} dump
	dump=$(mktemp "$GD_DIR/dump.XXXXXX")
	TZ=UTC dc_doveadm -f pager fetch -u "$DC_USER" "uid flags date.received text" \
		mailbox "$folder" all >"$dump" || return 1
	python3 "$GD_LIB_DIR/compare.py" "$dump" "$path" --mtime
}

# gd_state SQL: runs a query on the account's state DB.
gd_state() {
	sqlite3 "$GD_STATE/state.db" "$1"
}
