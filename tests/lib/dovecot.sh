# Throwaway Dovecot for integration tests: source this file (bash).
#
#   source tests/lib/dovecot.sh
#   dc_start || exit 1          # exports DC_* (see below), installs an EXIT trap
#   ... tests ...
#   dc_stop                     # optional: the EXIT trap does it too
#
# One instance per shell. Everything lives in a short temp dir
# (mktemp -d /tmp/gd.XXXXXX): config, CA + server certificate, base_dir,
# state, log, homes, mail. Nothing from /etc/dovecot is read and the system
# service is never touched.
#
# Listeners (127.0.0.1 only, free ports picked at start):
#   DC_PORT_IMAPS  implicit TLS
#   DC_PORT_IMAP   plain, offers STARTTLS (unless DC_NO_STARTTLS=1)
#
# Mail storage: maildir:~/Maildir:LAYOUT=fs with namespace separator "/",
# so folder "A/B" is the directory Maildir/A/B and folder names may contain
# dots. INBOX is Maildir itself. Special-use folders Sent, Drafts, Trash,
# Junk, Archive are auto-created and subscribed.
#
# Options of dc_start (each also settable as an environment variable):
#   --no-starttls        DC_NO_STARTTLS=1     no TLS at all: the plain port
#                        offers no STARTTLS (and refuses the command), there
#                        is no imaps listener (DC_PORT_IMAPS is empty) and
#                        plaintext LOGIN is allowed
#   --cert-name NAME     DC_CERT_NAME=NAME    server certificate only for
#                        DNS:NAME (default: DNS:localhost + IP:127.0.0.1)
#   --capability STR     DC_IMAP_CAPABILITY=STR  imap_capability setting as is
#                        (full list, or "+EXTRA" to add)
#   --cap-hide "A B"     DC_CAP_HIDE="A B"    post-login capability = the
#                        default list without these words (e.g. "QRESYNC
#                        CONDSTORE"); the server still implements them
#   --mail-debug         DC_MAIL_DEBUG=1      mail_debug/auth_debug/verbose_ssl
#   --conf "LINES"       DC_CONF_EXTRA=LINES  appended to dovecot.conf
#
# Privileges: as root, the whole instance (master and all its processes)
# and every doveadm call run as nobody:nogroup (override: DC_RUN_USER /
# DC_RUN_GROUP); the temp dir is chowned to that user. As any other user,
# everything runs as that user.
#
# Line ends: Dovecot stores LF in Maildir and serves CRLF over IMAP.
# dc_fetch_raw prints the message as IMAP serves it (BODY[]), i.e. the stored
# bytes with every LF that lacks a CR turned into CRLF; dc_fetch_stored prints
# the stored (LF) bytes. Both are byte-exact, 8-bit safe, and keep a missing
# final newline missing.

_DC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DC_GENMAIL=$_DC_LIB_DIR/genmail.py
DC_DOVECOT_BIN=${DC_DOVECOT_BIN:-/usr/sbin/dovecot}
DC_DOVEADM_BIN=${DC_DOVEADM_BIN:-doveadm}
DC_TIMEOUT=${DC_TIMEOUT:-60}      # bound for each doveadm call, seconds

# The capability list Dovecot 2.3.19 announces after login (for --cap-hide).
DC_DEFAULT_CAPS="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"

_dc_err() { echo "dovecot.sh: $*" >&2; }

# DC_PYTHON: the system python3 when there is one (a version-manager shim
# on PATH can cost 200 ms a start), else python3 from PATH.
if [ -z "${DC_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then
		DC_PYTHON=/usr/bin/python3
	else
		DC_PYTHON=python3
	fi
fi
_dc_python() { "$DC_PYTHON" "$@"; }

# _dc_as_user CMD...: runs CMD as the instance's user (as root: setpriv to
# _DC_RUN_UID/_DC_RUN_GID), bounded by DC_TIMEOUT seconds.
_dc_as_user() {
	if [ "$(id -u)" -eq 0 ] && [ "${_DC_RUN_UID:-0}" -ne 0 ]; then
		HOME=$DC_DIR timeout -k 5 "$DC_TIMEOUT" setpriv --reuid="$_DC_RUN_UID" \
			--regid="$_DC_RUN_GID" --clear-groups -- "$@"
	else
		timeout -k 5 "$DC_TIMEOUT" "$@"
	fi
}

# Two distinct free TCP ports on 127.0.0.1, one per line.
_dc_free_ports() {
	_dc_python - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
EOF
}

# _dc_make_certs DIR NAME: CA (ca.key, ca.pem) and server cert (server.key,
# server.pem) signed by it. NAME empty: SAN DNS:localhost, IP:127.0.0.1.
_dc_make_certs() {
	local d=$1 name=$2 san cn
	if [ -n "$name" ]; then
		cn=$name
		san="DNS:$name"
	else
		cn=localhost
		san="DNS:localhost,IP:127.0.0.1"
	fi
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.pem" -days 30 \
		-subj "/O=gmaildir tests/CN=gmaildir test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" \
		-subj "/O=gmaildir tests/CN=$cn" 2>/dev/null || return 1
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth" "subjectAltName=$san" >"$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 30 -extfile "$d/server.ext" \
		-out "$d/server.pem" 2>/dev/null || return 1
	rm -f "$d/server.csr" "$d/server.ext" "$d/ca.srl"
}

# _dc_write_conf PORT_IMAP PORT_IMAPS
_dc_write_conf() {
	local pimap=$1 pimaps=$2 d=$DC_DIR ssl=yes cap=""
	local run_user run_group
	run_user=$(id -nu "$_DC_RUN_UID")
	run_group=$(getent group "$_DC_RUN_GID" | cut -d: -f1)
	[ -n "$run_group" ] || run_group=$_DC_RUN_GID
	[ "$_DC_OPT_NO_STARTTLS" = 1 ] && ssl=no
	if [ -n "$_DC_OPT_CAPABILITY" ]; then
		cap=$_DC_OPT_CAPABILITY
	elif [ -n "$_DC_OPT_CAP_HIDE" ]; then
		local w h keep out=""
		for w in $DC_DEFAULT_CAPS; do
			keep=1
			for h in $_DC_OPT_CAP_HIDE; do
				[ "$w" = "$h" ] && keep=0
			done
			[ "$keep" = 1 ] && out="$out $w"
		done
		cap=${out# }
	fi
	{
		cat <<EOF
# Generated by tests/lib/dovecot.sh: throwaway test instance.
protocols = imap
listen = 127.0.0.1
base_dir = $d/run
state_dir = $d/state
instance_name = $(basename "$d")
log_path = $d/dovecot.log
info_log_path = $d/dovecot.log
debug_log_path = $d/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "

default_login_user = $run_user
default_internal_user = $run_user
default_internal_group = $run_group
first_valid_uid = $_DC_RUN_UID
last_valid_uid = $_DC_RUN_UID
first_valid_gid = $_DC_RUN_GID
last_valid_gid = $_DC_RUN_GID

ssl = $ssl
EOF
		if [ "$ssl" = yes ]; then
			cat <<EOF
ssl_cert = <$d/server.pem
ssl_key = <$d/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
EOF
		else
			echo "disable_plaintext_auth = no"
		fi
		cat <<EOF

auth_mechanisms = plain login
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN $d/users
}
userdb {
  driver = passwd-file
  args = $d/users
}
# gd-stage: no password, no login; dc_populate stages mail in its Maildir.
userdb {
  driver = passwd-file
  args = $d/stage-users
}

mail_location = maildir:~/Maildir:LAYOUT=fs
mail_max_userip_connections = 100
# A throwaway server: no fsync (10x faster bulk loads; crash tests kill the
# client, never this server).
mail_fsync = never
mailbox_idle_check_interval = 1 secs
namespace inbox {
  inbox = yes
  separator = /
  prefix =
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}

service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $pimap
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $pimaps
EOF
		[ "$ssl" = yes ] && echo "    ssl = yes"
		cat <<EOF
  }
}
service anvil {
  chroot =
}
service auth-worker {
  user = \$default_internal_user
}
service stats {
  unix_listener stats-reader {
    user = $run_user
    mode = 0600
  }
  unix_listener stats-writer {
    user = $run_user
    mode = 0600
  }
}
EOF
		[ -n "$cap" ] && printf 'protocol imap {\n  imap_capability = %s\n}\n' "$cap"
		if [ "$_DC_OPT_MAIL_DEBUG" = 1 ]; then
			printf '%s\n' "mail_debug = yes" "auth_debug = yes" \
				"auth_verbose = yes" "verbose_ssl = yes"
		fi
		[ -n "$_DC_OPT_CONF_EXTRA" ] && printf '%s\n' "$_DC_OPT_CONF_EXTRA"
	} >"$DC_CONF"
}

# Waits until PORT answers with an IMAP greeting; ≤ $2 seconds.
_dc_wait_greeting() {
	local port=$1 limit=$2
	timeout "$limit" bash -c '
		while :; do
			if exec 3<>"/dev/tcp/127.0.0.1/$0" 2>/dev/null; then
				if IFS= read -r -t 2 line <&3 && [[ $line == "* OK"* ]]; then
					printf "a LOGOUT\r\n" >&3
					exit 0
				fi
				exec 3<&- 3>&-
			fi
			sleep 0.05
		done' "$port" 2>/dev/null
}

_dc_master_pid() {
	[ -n "${DC_DIR:-}" ] && [ -s "$DC_DIR/run/master.pid" ] &&
		tr -dc 0-9 <"$DC_DIR/run/master.pid"
}

# dc_start [--no-starttls] [--cert-name NAME] [--capability STR]
#          [--cap-hide "CAP ..."] [--mail-debug] [--conf "LINES"]
dc_start() {
	if [ -n "${DC_DIR:-}" ] && [ -d "$DC_DIR" ]; then
		_dc_err "an instance is already running in $DC_DIR"
		return 1
	fi
	_DC_OPT_NO_STARTTLS=${DC_NO_STARTTLS:-0}
	_DC_OPT_CERT_NAME=${DC_CERT_NAME:-}
	_DC_OPT_CAPABILITY=${DC_IMAP_CAPABILITY:-}
	_DC_OPT_CAP_HIDE=${DC_CAP_HIDE:-}
	_DC_OPT_MAIL_DEBUG=${DC_MAIL_DEBUG:-0}
	_DC_OPT_CONF_EXTRA=${DC_CONF_EXTRA:-}
	while [ $# -gt 0 ]; do
		case $1 in
		--no-starttls) _DC_OPT_NO_STARTTLS=1 ;;
		--cert-name) _DC_OPT_CERT_NAME=$2; shift ;;
		--capability) _DC_OPT_CAPABILITY=$2; shift ;;
		--cap-hide) _DC_OPT_CAP_HIDE=$2; shift ;;
		--mail-debug) _DC_OPT_MAIL_DEBUG=1 ;;
		--conf) _DC_OPT_CONF_EXTRA=$2; shift ;;
		*) _dc_err "dc_start: unknown option $1"; return 2 ;;
		esac
		shift
	done

	if [ "$(id -u)" -eq 0 ]; then
		_DC_RUN_UID=$(id -u "${DC_RUN_USER:-nobody}") || return 1
		_DC_RUN_GID=$(getent group "${DC_RUN_GROUP:-nogroup}" | cut -d: -f3)
		[ -n "$_DC_RUN_GID" ] || _DC_RUN_GID=$(id -g "${DC_RUN_USER:-nobody}")
	else
		_DC_RUN_UID=$(id -u)
		_DC_RUN_GID=$(id -g)
	fi

	DC_DIR=$(mktemp -d /tmp/gd.XXXXXX) || return 1
	export DC_DIR
	_dc_install_trap
	chmod 755 "$DC_DIR"
	export DC_CONF=$DC_DIR/dovecot.conf
	export DC_LOG=$DC_DIR/dovecot.log
	export DC_CA=$DC_DIR/ca.pem
	export DC_HOST=127.0.0.1
	export DC_USER=alice DC_PASS=alice-secret
	export DC_USER2=bob DC_PASS2=bob-secret
	mkdir -p "$DC_DIR/run" "$DC_DIR/state" "$DC_DIR/home" "$DC_DIR/tmp"
	: >"$DC_LOG"
	local u
	{
		for u in "$DC_USER:$DC_PASS" "$DC_USER2:$DC_PASS2"; do
			printf '%s:%s:%s:%s::%s::\n' "${u%%:*}" "${u#*:}" \
				"$_DC_RUN_UID" "$_DC_RUN_GID" "$DC_DIR/home/${u%%:*}"
			mkdir -p "$DC_DIR/home/${u%%:*}"
		done
	} >"$DC_DIR/users"
	printf 'gd-stage::%s:%s::%s::\n' "$_DC_RUN_UID" "$_DC_RUN_GID" \
		"$DC_DIR/stage" >"$DC_DIR/stage-users"
	mkdir -p "$DC_DIR/stage/Maildir" "$DC_DIR/gen"
	if ! _dc_make_certs "$DC_DIR" "$_DC_OPT_CERT_NAME"; then
		_dc_err "certificate generation failed"
		dc_stop
		return 1
	fi
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$_DC_RUN_UID:$_DC_RUN_GID" "$DC_DIR"
	fi
	chmod 644 "$DC_CA"

	local try ports pimap pimaps pid waited=0
	for try in 1 2 3; do
		ports=$(_dc_free_ports 2) || { dc_stop; return 1; }
		pimap=$(sed -n 1p <<<"$ports")
		pimaps=$(sed -n 2p <<<"$ports")
		_dc_write_conf "$pimap" "$pimaps"
		[ "$(id -u)" -eq 0 ] && chown "$_DC_RUN_UID:$_DC_RUN_GID" "$DC_CONF"
		# The master binds its listeners, then daemonizes and writes
		# run/master.pid.
		if DC_TIMEOUT=15 _dc_as_user "$DC_DOVECOT_BIN" -c "$DC_CONF" \
			</dev/null >>"$DC_LOG" 2>&1; then
			break
		fi
		if [ "$try" -lt 3 ] && grep -q 'Address already in use' "$DC_LOG"; then
			echo "# dovecot.sh: port taken, retrying" >>"$DC_LOG"
			continue
		fi
		_dc_err "dovecot failed to start; log follows"
		sed 's/^/# dovecot.log: /' "$DC_LOG" >&2
		dc_stop
		return 1
	done
	export DC_PORT_IMAP=$pimap
	if [ "$_DC_OPT_NO_STARTTLS" = 1 ]; then
		export DC_PORT_IMAPS=
	else
		export DC_PORT_IMAPS=$pimaps
	fi
	# Master pid file first (≤ 5 s), then a real IMAP greeting (≤ 10 s).
	while [ -z "$(_dc_master_pid)" ] && [ "$waited" -lt 100 ]; do
		sleep 0.05
		waited=$((waited + 1))
	done
	pid=$(_dc_master_pid)
	if [ -z "$pid" ] || ! _dc_wait_greeting "$DC_PORT_IMAP" 10; then
		_dc_err "dovecot did not come up (master pid '${pid}'); log follows"
		sed 's/^/# dovecot.log: /' "$DC_LOG" >&2
		dc_stop
		return 1
	fi
	_DC_MASTER_PID=$pid
	_dc_start_watchdog
	return 0
}

# A detached guard: if the shell that called dc_start dies without cleaning
# up (even by SIGKILL), it stops the instance and removes DC_DIR within ~1 s.
_dc_start_watchdog() {
	local parent=$BASHPID # (inside the "&" below, BASHPID is the child's)
	setsid bash -c '
		parent=$1 master=$2 dir=$3 conf=$4
		while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
		[ -d "$dir" ] || exit 0
		if grep -qF -- "$conf" "/proc/$master/cmdline" 2>/dev/null; then
			kill -TERM "$master" 2>/dev/null
			for _ in $(seq 100); do
				ps -eo pgid=,stat= | grep -qE "^ *$master +[^Z]" || break
				sleep 0.1
			done
			kill -KILL -- "-$master" 2>/dev/null
		fi
		rm -rf "$dir"
	' dc-watchdog "$parent" "$_DC_MASTER_PID" "$DC_DIR" "$DC_CONF" \
		</dev/null >/dev/null 2>&1 &
	_DC_WATCHDOG_PID=$!
}

# Chains dc_cleanup into the EXIT trap (after any trap already set) and makes
# INT/TERM/HUP exit (so the EXIT trap runs) unless the caller trapped them.
# A caller that sets its own EXIT trap after dc_start should call dc_cleanup
# from it.
_dc_install_trap() {
	local cur sig n
	cur=$(trap -p EXIT)
	case $cur in
	*dc_cleanup*) ;;
	'') trap dc_cleanup EXIT ;;
	*)
		eval "set -- $cur" # trap -- 'CMD' EXIT
		# shellcheck disable=SC2064
		trap "{ $3
}; dc_cleanup" EXIT
		;;
	esac
	for sig in HUP:129 INT:130 TERM:143; do
		n=${sig#*:}
		sig=${sig%:*}
		# shellcheck disable=SC2064
		[ -n "$(trap -p "$sig")" ] || trap "exit $n" "$sig"
	done
}

# dc_cleanup: dc_stop for traps; keeps $?.
# Ignores HUP/INT/TERM meanwhile: `timeout` signals the whole process group,
# often twice, and a second signal must not cut the cleanup short.
dc_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	dc_stop >/dev/null 2>&1
	return "$rc"
}

# Processes of the instance: the master's process group (the master
# daemonizes into its own session, children stay in its group).
# Zombies do not count (PID 1 may reap the daemonized master late).
_dc_pids() {
	[ -n "${_DC_MASTER_PID:-}" ] && ps -eo pid=,pgid=,stat= |
		awk -v g="$_DC_MASTER_PID" '$2 == g && $3 !~ /^Z/ { print $1 }'
}

# dc_stop: SIGTERM to the master, ≤ 10 s for the whole process group to go,
# then SIGKILL the group; removes DC_DIR; unsets the DC_* variables.
dc_stop() {
	local d=${DC_DIR:-} pid i
	[ -n "$d" ] || return 0
	pid=$(_dc_master_pid)
	[ -n "$pid" ] || pid=${_DC_MASTER_PID:-}
	if [ -n "$pid" ] && grep -qF -- "$DC_CONF" "/proc/$pid/cmdline" 2>/dev/null; then
		_DC_MASTER_PID=$pid
		kill -TERM "$pid" 2>/dev/null
		for i in $(seq 100); do
			[ -n "$(_dc_pids)" ] || break
			sleep 0.1
		done
		if [ -n "$(_dc_pids)" ]; then
			_dc_err "dovecot did not stop in 10 s: SIGKILL"
			kill -KILL -- "-$pid" 2>/dev/null
			sleep 0.2
		fi
	fi
	if [ -n "${_DC_WATCHDOG_PID:-}" ]; then
		kill -- "-$_DC_WATCHDOG_PID" 2>/dev/null || kill "$_DC_WATCHDOG_PID" 2>/dev/null
		wait "$_DC_WATCHDOG_PID" 2>/dev/null
	fi
	rm -rf "$d"
	unset DC_DIR DC_CONF DC_LOG DC_CA DC_PORT_IMAP DC_PORT_IMAPS \
		_DC_MASTER_PID _DC_WATCHDOG_PID
	return 0
}

# ---------------------------------------------------------------- doveadm

# dc_doveadm ARGS...: doveadm -c $DC_CONF ARGS as the instance's user.
dc_doveadm() {
	_dc_as_user "$DC_DOVEADM_BIN" -c "$DC_CONF" "$@"
}

# dc_status_field USER FOLDER FIELD: one `doveadm mailbox status` field
# (messages recent uidnext uidvalidity unseen highestmodseq vsize guid ...).
dc_status_field() {
	local out
	out=$(dc_doveadm -f tab mailbox status -u "$1" "$3" "$2") || return 1
	# tab format: a header line, then "MAILBOX<TAB>VALUE".
	out=$(sed -n 2p <<<"$out")
	[ -n "$out" ] || return 1
	printf '%s\n' "${out##*$'\t'}"
}

# dc_status USER FOLDER: prints "MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ".
dc_status() {
	local out
	out=$(dc_doveadm -f tab mailbox status -u "$1" \
		"messages uidnext uidvalidity highestmodseq" "$2") || return 1
	out=$(sed -n 2p <<<"$out" | awk -F '\t' '{ print $(NF-3), $(NF-2), $(NF-1), $NF }')
	[ -n "$out" ] || return 1
	printf '%s\n' "$out"
}

# dc_uidvalidity USER FOLDER
dc_uidvalidity() { dc_status_field "$1" "$2" uidvalidity; }

# dc_set_uidvalidity USER FOLDER N
dc_set_uidvalidity() {
	dc_doveadm mailbox update -u "$1" --uid-validity "$3" "$2"
}

# dc_folders USER: every folder name, one per line, sorted (LC_ALL=C).
dc_folders() {
	local out
	out=$(dc_doveadm mailbox list -u "$1") || return 1
	[ -z "$out" ] || LC_ALL=C sort <<<"$out"
}

# dc_mkfolder USER NAME: creates (and subscribes) NAME; "A/B" is nested.
dc_mkfolder() { dc_doveadm mailbox create -s -u "$1" "$2"; }

# dc_rmfolder USER NAME: deletes NAME with its messages.
dc_rmfolder() { dc_doveadm mailbox delete -s -u "$1" "$2"; }

# dc_rename USER OLD NEW
dc_rename() { dc_doveadm mailbox rename -s -u "$1" "$2" "$3"; }

# dc_uids USER FOLDER: the folder's UIDs, one per line, ascending.
dc_uids() {
	local out
	out=$(dc_doveadm search -u "$1" mailbox "$2" all) || return 1
	[ -z "$out" ] || awk '{ print $2 }' <<<"$out" | sort -n
}

# dc_flags USER FOLDER UID: the message's flags and keywords, sorted (C
# locale), space-separated, without \Recent; empty line for none. Fails if
# there is no such message.
dc_flags() {
	local out f res=()
	out=$(dc_doveadm fetch -u "$1" flags mailbox "$2" uid "$3") || return 1
	case $out in
	flags:*) ;;
	*) _dc_err "dc_flags: no message $2 uid $3"; return 1 ;;
	esac
	out=${out#flags:}
	for f in $out; do
		[ "$f" = '\Recent' ] || res+=("$f")
	done
	if [ ${#res[@]} -gt 0 ]; then
		printf '%s\n' "${res[@]}" | LC_ALL=C sort | paste -sd ' ' -
	else
		echo
	fi
}

# dc_set_flags USER FOLDER UID [FLAG...]: replaces all flags (none: clears).
dc_set_flags() {
	local u=$1 f=$2 uid=$3
	shift 3
	dc_doveadm flags replace -u "$u" "$*" mailbox "$f" uid "$uid"
}

# dc_add_flags USER FOLDER UID FLAG...
dc_add_flags() {
	local u=$1 f=$2 uid=$3
	shift 3
	dc_doveadm flags add -u "$u" "$*" mailbox "$f" uid "$uid"
}

# dc_remove_flags USER FOLDER UID FLAG...
dc_remove_flags() {
	local u=$1 f=$2 uid=$3
	shift 3
	dc_doveadm flags remove -u "$u" "$*" mailbox "$f" uid "$uid"
}

# dc_expunge USER FOLDER UIDSET: expunges the messages (UIDSET: 5, 3,7:9, 1:*).
dc_expunge() { dc_doveadm expunge -u "$1" mailbox "$2" uid "$3"; }

# dc_move USER FOLDER UIDSET DEST: moves the messages to folder DEST.
dc_move() { dc_doveadm move -u "$1" "$4" mailbox "$2" uid "$3"; }

# Byte filters (python3: binary-safe, keeps a missing final newline).
_dc_pyfilter() {
	_dc_python -c '
import re, sys
mode = sys.argv[1]
data = sys.stdin.buffer.read()
if mode in ("fetch-lf", "fetch-crlf"):
    if not data.startswith(b"text:\n"):
        sys.exit(3)
    data = data[6:]
if mode in ("fetch-crlf", "crlf"):
    data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
elif mode == "lf":
    data = data.replace(b"\r\n", b"\n")
sys.stdout.buffer.write(data)
' "$1"
}

# dc_to_crlf < IN > OUT: the bytes as IMAP serves a message stored from IN
# (every LF without CR before it becomes CRLF).
dc_to_crlf() { _dc_pyfilter crlf; }

# dc_to_lf < IN > OUT: the bytes Dovecot stores for IN (CRLF becomes LF).
dc_to_lf() { _dc_pyfilter lf; }

# dc_fetch_stored USER FOLDER UID > FILE: the message as stored (LF ends).
dc_fetch_stored() {
	dc_doveadm fetch -u "$1" text mailbox "$2" uid "$3" | _dc_pyfilter fetch-lf
	local st=("${PIPESTATUS[@]}")
	[ "${st[0]}" -eq 0 ] && [ "${st[1]}" -eq 0 ]
}

# dc_fetch_raw USER FOLDER UID > FILE: the message exactly as IMAP serves it
# in BODY[] (CRLF line ends; the stored LF bytes with LF -> CRLF).
dc_fetch_raw() {
	dc_doveadm fetch -u "$1" text mailbox "$2" uid "$3" | _dc_pyfilter fetch-crlf
	local st=("${PIPESTATUS[@]}")
	[ "${st[0]}" -eq 0 ] && [ "${st[1]}" -eq 0 ]
}

# dc_add USER FOLDER FILE [FLAG...]: saves FILE (doveadm save), sets FLAGs,
# prints the new UID. FILE may have LF or CRLF ends (stored as LF).
dc_add() {
	local u=$1 f=$2 file=$3 next uid cand=() c
	shift 3
	next=$(dc_status_field "$u" "$f" uidnext) || return 1
	dc_doveadm save -u "$u" -m "$f" <"$file" || return 1
	# UIDs >= next: normally just ours; with concurrent appends, compare.
	for c in $(dc_doveadm search -u "$u" mailbox "$f" uid "$next:*" |
		awk '{ print $2 }'); do
		[ "$c" -ge "$next" ] && cand+=("$c")
	done
	if [ ${#cand[@]} -eq 1 ]; then
		uid=${cand[0]}
	else
		uid=
		for c in "${cand[@]}"; do
			if cmp -s <(dc_fetch_stored "$u" "$f" "$c") <(dc_to_lf <"$file"); then
				uid=$c
				break
			fi
		done
	fi
	if [ -z "$uid" ]; then
		_dc_err "dc_add: cannot find the saved message in $f"
		return 1
	fi
	if [ $# -gt 0 ]; then
		dc_add_flags "$u" "$f" "$uid" "$@" || return 1
	fi
	echo "$uid"
}

# dc_populate USER FOLDER COUNT SEED [MINSIZE MAXSIZE]: COUNT generated
# messages (genmail.py; sizes like 1K, 2M; default 1K..2M) appended to
# FOLDER (created if missing) in one `doveadm copy` from a staging Maildir of
# the no-login user gd-stage. Message k (1..COUNT) gets the k-th new UID.
# Prints the directory holding the messages as 000001.eml ... (LF ends,
# read-only: may share inodes with the stored mail).
dc_populate() {
	local u=$1 f=$2 count=$3 seed=$4 min=${5:-1K} max=${6:-2M}
	local gen box
	gen=$(mktemp -d "$DC_DIR/gen/p.XXXXXX") || return 1
	box=$(basename "$gen" | tr -dc 'a-zA-Z0-9')
	if ! _dc_python "$DC_GENMAIL" --count "$count" --seed "$seed" \
		--min-size "$min" --max-size "$max" --to "$u@example.test" \
		--to-name "$u" --out "$gen" --maildir "$DC_DIR/stage/Maildir/$box"; then
		_dc_err "dc_populate: genmail.py failed"
		return 1
	fi
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$_DC_RUN_UID:$_DC_RUN_GID" "$gen" "$DC_DIR/stage/Maildir/$box"
	fi
	if ! dc_status_field "$u" "$f" uidnext >/dev/null 2>&1; then
		dc_mkfolder "$u" "$f" || return 1
	fi
	local rc=0
	dc_doveadm copy -u "$u" "$f" user gd-stage mailbox "$box" all || rc=1
	dc_doveadm mailbox delete -u gd-stage "$box" || rc=1
	[ "$rc" -eq 0 ] || { _dc_err "dc_populate: doveadm copy failed"; return 1; }
	echo "$gen"
}

# dc_log_check: fails (and prints them) if the log has Panic/Fatal/Error lines.
dc_log_check() {
	if grep -E ': (Panic|Fatal|Error):' "$DC_LOG" >&2; then
		return 1
	fi
	return 0
}

# dc_imap [imaps|starttls|plain] [OPENSSL_ARG...] < SCRIPT: one IMAP session.
# SCRIPT holds command lines (LF or CRLF), sent at once (pipelined); end it
# with a LOGOUT so the server closes. Prints the server's lines without CR.
# imaps/starttls go through `openssl s_client -CAfile $DC_CA
# -verify_return_error` (extra args e.g. -verify_hostname NAME); a failed
# verification fails the session before any IMAP line. Bounded: 20 s.
dc_imap() {
	local mode=${1:-imaps} rc
	[ $# -gt 0 ] && shift
	case $mode in
	imaps | starttls)
		local st=()
		[ "$mode" = starttls ] && st=(-starttls imap)
		local port=$DC_PORT_IMAPS
		[ "$mode" = starttls ] && port=$DC_PORT_IMAP
		sed 's/\r$//; s/$/\r/' |
			timeout -k 2 20 openssl s_client -quiet -connect "$DC_HOST:$port" \
				"${st[@]}" -CAfile "$DC_CA" -verify_return_error "$@" |
			tr -d '\r'
		rc=${PIPESTATUS[1]}
		;;
	plain)
		local in
		in=$(sed 's/\r$//; s/$/\r/')
		timeout -k 2 20 bash -c '
			exec 3<>"/dev/tcp/$0/$1" || exit 1
			printf "%s\n" "$2" >&3
			cat <&3' "$DC_HOST" "$DC_PORT_IMAP" "$in" | tr -d '\r'
		rc=${PIPESTATUS[0]}
		;;
	*) _dc_err "dc_imap: mode imaps|starttls|plain"; return 2 ;;
	esac
	return "$rc"
}
