# Throwaway Dovecot (2.3) for the integration tests. Source it from bash:
#
#   source tests/lib/dovecot.sh
#   dc_start || exit 1      # exports the DC_* below; chains an EXIT trap
#   ...                     # tests: the client on $DC_HOST:$DC_PORT_IMAPS ...
#   dc_stop                 # optional: the EXIT trap does it too
#
# One instance per shell at a time (dc_stop, then dc_start again is fine).
# Safe under `set -u` and `set -e`.
#
# Exported by dc_start:
#   DC_DIR         the instance's temp dir (mktemp -d /tmp/gd.XXXXXX)
#   DC_CONF        its dovecot.conf (nothing from /etc/dovecot is read)
#   DC_LOG         its log file (all of Dovecot's logging goes there)
#   DC_HOST        127.0.0.1 (the only address it listens on), or the
#                  DC_LISTEN address
#   DC_PORT_IMAPS  implicit-TLS port (empty with DC_NO_STARTTLS=1)
#   DC_PORT_IMAP   plain port, offers STARTTLS (unless DC_NO_STARTTLS=1)
#   DC_CA          PEM of the instance's own CA (server cert: DNS:localhost,
#                  IP:127.0.0.1 (+ IP:DC_LISTEN) unless DC_CERT_NAME)
#   DC_USER DC_PASS     alice / alice-secret
#   DC_USER2 DC_PASS2   bob / bob-secret
# Set on sourcing: DC_PYTHON (python3 to use), DC_GENMAIL (genmail.py),
# DC_TIMEOUT (seconds, bound of each doveadm call; default 60).
#
# Options of dc_start, each also settable as an environment variable:
#   --no-starttls    DC_NO_STARTTLS=1   no TLS at all: the plain port neither
#                    announces nor accepts STARTTLS, there is no imaps
#                    listener (DC_PORT_IMAPS empty), plaintext LOGIN works
#   --cert-name N    DC_CERT_NAME=N     server certificate for DNS:N only
#   --capability S   DC_IMAP_CAPABILITY=S  imap_capability after login as is
#                    (a full list, or "+WORDS" to add to the default)
#   --cap-hide "A B" DC_CAP_HIDE="A B"  post-login CAPABILITY = the default
#                    list minus these words (e.g. "QRESYNC CONDSTORE"); the
#                    server still implements them if a client uses them
#   --mail-debug     DC_MAIL_DEBUG=1    mail_debug, auth_debug, verbose_ssl
#   --conf "LINES"   DC_CONF_EXTRA=...  appended to dovecot.conf
#   --netns NAME     DC_NETNS=NAME      (root only) the master, so every
#                    Dovecot process, runs inside network namespace NAME
#                    (tests/lib/netns.sh): free ports are picked and the
#                    greeting is awaited from inside it. doveadm calls stay
#                    outside (unix sockets and paths work across network
#                    namespaces), and so does the pid file, dc_stop and the
#                    watchdog. dc_imap's client runs inside NAME too
#                    (DC_CLIENT_NETNS=OTHER for another one, e.g. $NS_CLI).
#   --listen ADDR    DC_LISTEN=ADDR     listen on IPv4 address ADDR instead
#                    of 127.0.0.1 (DC_HOST=ADDR); the server certificate
#                    then also carries IP:ADDR (with --cert-name it stays
#                    DNS:NAME only). From a client whose IP differs from
#                    ADDR, the plain port refuses LOGIN before STARTTLS.
#
# Storage: maildir:~/Maildir:LAYOUT=fs, namespace separator "/": folder
# "A/B" is the directory Maildir/A/B (nested), names may contain ".", INBOX
# is Maildir itself. Sent Drafts Trash Junk Archive are auto-created and
# subscribed with \Sent \Drafts \Trash \Junk \Archive. After login the
# CAPABILITY has IDLE CONDSTORE QRESYNC SPECIAL-USE UIDPLUS MOVE ESEARCH
# (all built into Dovecot 2.3; no mail plugin needed). TLS >= 1.2.
# mail_fsync = never (a throwaway server), IDLE notices changes in ~1 s.
# Logins: no auth penalty (a failed LOGIN answers NO [AUTHENTICATIONFAILED]
# in ~0.5 s and does not slow later logins). Note: Dovecot counts a
# connection whose remote IP equals its local IP as secured, so on 127.0.0.1
# it never announces LOGINDISABLED and accepts LOGIN on the plain port even
# without STARTTLS: a test that a client never sends its password in clear
# must watch the client, not rely on the server refusing.
#
# Privileges: as root, the whole instance (master and every process) and
# every doveadm call run as nobody:nogroup (DC_RUN_USER / DC_RUN_GROUP to
# change), via setpriv; DC_DIR (0755, under /tmp) is chowned to it. Run as
# any other user, everything runs as that user. Either way first/last_valid
# uid/gid are that user's, and the passwd-file gives alice and bob its uid.
#
# Cleanup: dc_stop sends SIGTERM to the master (pid file), waits up to 10 s
# for its process group, then SIGKILLs the group, and removes DC_DIR. The
# EXIT trap that dc_start chains (after any trap already set; INT/TERM/HUP
# are made to exit if untrapped) calls dc_cleanup; a caller that sets its own
# EXIT trap later must call dc_cleanup from it. A detached watchdog also
# stops the instance and removes DC_DIR within ~2 s if the calling shell dies
# without cleanup (even by SIGKILL). The daemonized master may linger as a
# zombie until PID 1 reaps it: not a live process. dc_cleanup leaves HUP,
# INT and TERM ignored (it is for exit paths; mid-test, use dc_stop).
# dc_stop takes ~1.5 s (Dovecot's log process lingers a moment).
#
# Line ends: Dovecot stores LF in Maildir and IMAP serves CRLF.
#   dc_fetch_raw    = the bytes IMAP serves as BODY[] (CRLF): the stored
#                     bytes with each LF not preceded by CR made CRLF (that
#                     is what Dovecot does; checked against BODY[] in
#                     t_harness.sh, 8-bit, lone CR, no final newline)
#   dc_fetch_stored = the stored bytes (LF)
#   dc_to_crlf / dc_to_lf convert a file the same way for comparisons.
#
# Helpers (USER is alice or bob; FOLDER as IMAP names it, "/" separated;
# UIDSET like 5, 1:10, 3,7,9:*; FLAG like '\Seen' or a keyword):
#   dc_doveadm ARGS...                  doveadm -c $DC_CONF ARGS, right user
#   dc_mkfolder USER NAME               create + subscribe; a parent that
#                                       was never created itself (A of A/B)
#                                       is a \Noselect placeholder
#   dc_rmfolder USER NAME               delete with its messages
#   dc_rename USER OLD NEW              rename
#   dc_folders USER                     all folder names (\Noselect ones
#                                       too), sorted, one a line
#   dc_add USER FOLDER FILE [FLAG...]   doveadm save, then flags; prints UID
#                                       (~0.1 s each: for many, dc_populate)
#   dc_populate USER FOLDER COUNT SEED [MIN MAX]   COUNT genmail.py messages
#                                       (sizes 1K..2M default) appended fast;
#                                       prints the dir of their .eml files
#   dc_uids USER FOLDER                 UIDs, ascending, one a line
#   dc_flags USER FOLDER UID            flags+keywords sorted, no \Recent
#   dc_set_flags USER FOLDER UIDSET [FLAG...]   replace (none: clear)
#   dc_add_flags USER FOLDER UIDSET FLAG...
#   dc_remove_flags USER FOLDER UIDSET FLAG...
#   dc_expunge USER FOLDER UIDSET
#   dc_move USER FOLDER UIDSET DEST
#   dc_fetch_raw USER FOLDER UID > F    exact bytes as IMAP serves (CRLF)
#   dc_fetch_stored USER FOLDER UID > F exact bytes as stored (LF)
#   dc_status USER FOLDER               "MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ"
#   dc_status_field USER FOLDER FIELD   one doveadm status field (unseen ...)
#   dc_uidvalidity USER FOLDER          UIDVALIDITY
#   dc_set_uidvalidity USER FOLDER N    doveadm mailbox update --uid-validity
#   dc_imap [imaps|starttls|plain] [OPENSSL_ARGS] < CMDS   one IMAP session
#   dc_log_check                        fails if the log has Error/Fatal/Panic
#   dc_conn_max_start USER              opens a window on USER's logged-in
#                                       IMAP connections
#   dc_conn_max_stop USER               prints the exact maximum number of
#                                       them open at once in the window
#                                       (those open at its start count)
#   dc_conn_now USER                    prints how many are open now
#   dc_conn_who USER                    the same as anvil sees it (doveadm
#                                       who), no log involved
#   dc_conn_wait USER N [SECONDS]       until dc_conn_now is N (default
#                                       10 s); fails after
#   dc_to_crlf < IN, dc_to_lf < IN      the conversions described above
# Every server-side change goes through doveadm, never through the files.

# shellcheck disable=SC2016 # single-quoted bash -c scripts are intended
_DC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/trap.sh
source "$_DC_LIB_DIR/trap.sh"
DC_GENMAIL=$_DC_LIB_DIR/genmail.py
DC_DOVECOT_BIN=${DC_DOVECOT_BIN:-/usr/sbin/dovecot}
DC_DOVEADM_BIN=${DC_DOVEADM_BIN:-doveadm}
DC_TIMEOUT=${DC_TIMEOUT:-60}

# The CAPABILITY Dovecot 2.3.19 announces after login (base for --cap-hide).
DC_DEFAULT_CAPS="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"

# The system python3 if there is one (a version-manager shim on PATH can cost
# 200 ms per start), else python3 from PATH.
if [ -z "${DC_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then
		DC_PYTHON=/usr/bin/python3
	else
		DC_PYTHON=python3
	fi
fi

_dc_err() { echo "dovecot.sh: $*" >&2; }
_dc_python() { "$DC_PYTHON" "$@"; }
_dc_is_root() { [ "$(id -u)" -eq 0 ]; }

# _dc_as_user CMD...: CMD as the instance's user, bounded by DC_TIMEOUT.
# With _DC_EXEC_NS=NAME (set for one call), inside network namespace NAME.
_dc_as_user() {
	local ns=()
	if [ -n "${_DC_EXEC_NS:-}" ]; then ns=(ip netns exec "$_DC_EXEC_NS"); fi
	if _dc_is_root && [ "${_DC_RUN_UID:-0}" -ne 0 ]; then
		HOME=$DC_DIR timeout -k 5 "$DC_TIMEOUT" "${ns[@]}" setpriv \
			--reuid="$_DC_RUN_UID" --regid="$_DC_RUN_GID" --clear-groups -- "$@"
	else
		timeout -k 5 "$DC_TIMEOUT" "${ns[@]}" "$@"
	fi
}

# _dc_in_ns CMD...: CMD inside the instance's network namespace, if any.
_dc_in_ns() {
	if [ -n "${_DC_NETNS:-}" ]; then
		ip netns exec "$_DC_NETNS" "$@"
	else
		"$@"
	fi
}

# _dc_free_ports N [ADDR [NETNS]]: N distinct free TCP ports on ADDR
# (127.0.0.1) in network namespace NETNS (ours), one a line.
_dc_free_ports() {
	local ns=()
	if [ -n "${3:-}" ]; then ns=(ip netns exec "$3"); fi
	"${ns[@]}" "$DC_PYTHON" - "$1" "${2:-127.0.0.1}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((sys.argv[2], 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# _dc_make_certs DIR NAME [IP]: ca.key/ca.pem and server.key/server.pem
# signed by that CA (EC P-256, 30 days). NAME empty: DNS:localhost +
# IP:127.0.0.1 (+ IP:IP).
_dc_make_certs() {
	local d=$1 name=$2 ip=${3:-}
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.pem" -days 30 \
		-subj "/O=gmaildir tests/CN=gmaildir test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
	_dc_sign_server_cert "$d" "$name" "$d" "$ip"
}

# _dc_sign_server_cert OUTDIR NAME CADIR [IP]: OUTDIR/server.key +
# server.pem signed by CADIR/ca.key (EC P-256, 30 days). NAME empty:
# DNS:localhost + IP:127.0.0.1 (+ IP:IP if given and not 127.0.0.1). Other
# test servers (tests/lib/mta.sh) use it to get a certificate that clients
# verify against the same $DC_CA.
_dc_sign_server_cert() {
	local d=$1 name=$2 ca=$3 ip=${4:-} san cn
	if [ -n "$name" ]; then
		cn=$name
		san="DNS:$name"
	else
		cn=localhost
		san="DNS:localhost,IP:127.0.0.1"
		if [ -n "$ip" ] && [ "$ip" != 127.0.0.1 ]; then san="$san,IP:$ip"; fi
	fi
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" \
		-subj "/O=gmaildir tests/CN=$cn" 2>/dev/null || return 1
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" "subjectAltName=$san" >"$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" \
		-CAcreateserial -CAserial "$d/ca.srl" -days 30 -extfile "$d/server.ext" \
		-out "$d/server.pem" 2>/dev/null || return 1
	rm -f "$d/server.csr" "$d/server.ext" "$d/ca.srl"
}

# _dc_caps: the imap_capability value from the options ("" = default).
_dc_caps() {
	local w h keep out=""
	if [ -n "$_DC_OPT_CAPABILITY" ]; then
		printf '%s\n' "$_DC_OPT_CAPABILITY"
	elif [ -n "$_DC_OPT_CAP_HIDE" ]; then
		for w in $DC_DEFAULT_CAPS; do
			keep=1
			for h in $_DC_OPT_CAP_HIDE; do
				if [ "$w" = "$h" ]; then keep=0; fi
			done
			if [ "$keep" = 1 ]; then out="$out $w"; fi
		done
		printf '%s\n' "${out# }"
	fi
}

# _dc_write_conf PORT_IMAP PORT_IMAPS: writes $DC_CONF.
_dc_write_conf() {
	local pimap=$1 pimaps=$2 d=$DC_DIR ssl=yes cap run_user run_group
	local addr=$DC_HOST
	run_user=$(id -nu "$_DC_RUN_UID")
	run_group=$(getent group "$_DC_RUN_GID" | cut -d: -f1)
	if [ -z "$run_group" ]; then run_group=$_DC_RUN_GID; fi
	if [ "$_DC_OPT_NO_STARTTLS" = 1 ]; then
		ssl=no
		pimaps=0 # no imaps listener
	fi
	cap=$(_dc_caps)
	{
		cat <<EOF
# Generated by tests/lib/dovecot.sh: a throwaway test instance.
protocols = imap
listen = $addr
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
# gd-stage: a userdb-only user (no password, no login) in whose Maildir
# dc_populate stages generated mail for one doveadm copy.
userdb {
  driver = passwd-file
  args = $d/stage-users
}

mail_location = maildir:~/Maildir:LAYOUT=fs
mail_max_userip_connections = 100
# A throwaway server: no fsync (10x faster bulk loads). Crash tests kill the
# client, never this server.
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
    address = $addr
    port = $pimap
  }
  inet_listener imaps {
    address = $addr
    port = $pimaps
    ssl = $ssl
  }
}
service anvil {
  chroot =
  # No auth penalty: failed logins (tests do them on purpose) would delay
  # every later login from 127.0.0.1 by up to 15 s.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
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
		if [ -n "$cap" ]; then
			printf 'protocol imap {\n  imap_capability = %s\n}\n' "$cap"
		fi
		if [ "$_DC_OPT_MAIL_DEBUG" = 1 ]; then
			printf '%s\n' "mail_debug = yes" "auth_debug = yes" \
				"auth_verbose = yes" "verbose_ssl = yes"
		fi
		if [ -n "$_DC_OPT_CONF_EXTRA" ]; then
			printf '%s\n' "$_DC_OPT_CONF_EXTRA"
		fi
	} >"$DC_CONF"
}

# _dc_wait_greeting PORT SECONDS: until DC_HOST:PORT sends an IMAP "* OK"
# greeting (from inside the instance's network namespace, if any).
_dc_wait_greeting() {
	_dc_in_ns timeout "$2" bash -c '
		while :; do
			if exec 3<>"/dev/tcp/$1/$0"; then
				if IFS= read -r -t 2 line <&3 && [[ $line == "* OK"* ]]; then
					printf "a LOGOUT\r\n" >&3
					exit 0
				fi
				exec 3<&- 3>&-
			fi
			sleep 0.05
		done' "$1" "$DC_HOST" 2>/dev/null
}

# _dc_master_pid: the master's pid from its pid file (empty if none).
_dc_master_pid() {
	if [ -n "${DC_DIR:-}" ] && [ -s "$DC_DIR/run/master.pid" ]; then
		tr -dc 0-9 <"$DC_DIR/run/master.pid"
	fi
	return 0
}

_dc_fail_start() {
	_dc_err "$1; dovecot log follows"
	if [ -n "${DC_LOG:-}" ] && [ -f "$DC_LOG" ]; then
		sed 's/^/# dovecot.log: /' "$DC_LOG" >&2
	fi
	dc_stop
	return 1
}

# dc_start [--no-starttls] [--cert-name NAME] [--capability STR]
#          [--cap-hide "CAP ..."] [--mail-debug] [--conf "LINES"]
#          [--netns NAME] [--listen ADDR]
dc_start() {
	if [ -n "${DC_DIR:-}" ] && [ -d "$DC_DIR" ]; then
		_dc_err "an instance is already running in $DC_DIR (dc_stop first)"
		return 1
	fi
	_DC_OPT_NO_STARTTLS=${DC_NO_STARTTLS:-0}
	_DC_OPT_CERT_NAME=${DC_CERT_NAME:-}
	_DC_OPT_CAPABILITY=${DC_IMAP_CAPABILITY:-}
	_DC_OPT_CAP_HIDE=${DC_CAP_HIDE:-}
	_DC_OPT_MAIL_DEBUG=${DC_MAIL_DEBUG:-0}
	_DC_OPT_CONF_EXTRA=${DC_CONF_EXTRA:-}
	_DC_OPT_NETNS=${DC_NETNS:-}
	_DC_OPT_LISTEN=${DC_LISTEN:-}
	while [ $# -gt 0 ]; do
		case $1 in
		--no-starttls) _DC_OPT_NO_STARTTLS=1 ;;
		--cert-name) _DC_OPT_CERT_NAME=${2:?}; shift ;;
		--capability) _DC_OPT_CAPABILITY=${2:?}; shift ;;
		--cap-hide) _DC_OPT_CAP_HIDE=${2:?}; shift ;;
		--mail-debug) _DC_OPT_MAIL_DEBUG=1 ;;
		--conf) _DC_OPT_CONF_EXTRA=${2:?}; shift ;;
		--netns) _DC_OPT_NETNS=${2:?}; shift ;;
		--listen) _DC_OPT_LISTEN=${2:?}; shift ;;
		*) _dc_err "dc_start: unknown option $1"; return 2 ;;
		esac
		shift
	done
	if [ -n "$_DC_OPT_NETNS" ]; then
		if ! _dc_is_root; then
			_dc_err "dc_start: --netns needs root"
			return 1
		fi
		if ! ip netns exec "$_DC_OPT_NETNS" true; then
			_dc_err "dc_start: no network namespace $_DC_OPT_NETNS"
			return 1
		fi
	fi

	if _dc_is_root; then
		_DC_RUN_UID=$(id -u "${DC_RUN_USER:-nobody}") || return 1
		_DC_RUN_GID=$(getent group "${DC_RUN_GROUP:-nogroup}" | cut -d: -f3)
		if [ -z "$_DC_RUN_GID" ]; then
			_DC_RUN_GID=$(id -g "${DC_RUN_USER:-nobody}") || return 1
		fi
	else
		_DC_RUN_UID=$(id -u)
		_DC_RUN_GID=$(id -g)
	fi

	DC_DIR=$(mktemp -d /tmp/gd.XXXXXX) || return 1
	export DC_DIR
	export DC_CONF=$DC_DIR/dovecot.conf
	export DC_LOG=$DC_DIR/dovecot.log
	export DC_CA=$DC_DIR/ca.pem
	export DC_HOST=${_DC_OPT_LISTEN:-127.0.0.1}
	_DC_NETNS=$_DC_OPT_NETNS
	export DC_USER=alice DC_PASS=alice-secret
	export DC_USER2=bob DC_PASS2=bob-secret
	export DC_PORT_IMAP='' DC_PORT_IMAPS=''
	_dc_install_trap
	_dc_start_watchdog
	chmod 755 "$DC_DIR"
	mkdir -p "$DC_DIR/run" "$DC_DIR/state" "$DC_DIR/home/$DC_USER" \
		"$DC_DIR/home/$DC_USER2" "$DC_DIR/stage/Maildir" "$DC_DIR/gen" \
		"$DC_DIR/tmp"
	: >"$DC_LOG"
	printf '%s:%s:%s:%s::%s::\n' \
		"$DC_USER" "$DC_PASS" "$_DC_RUN_UID" "$_DC_RUN_GID" "$DC_DIR/home/$DC_USER" \
		"$DC_USER2" "$DC_PASS2" "$_DC_RUN_UID" "$_DC_RUN_GID" "$DC_DIR/home/$DC_USER2" \
		>"$DC_DIR/users"
	printf 'gd-stage::%s:%s::%s::\n' "$_DC_RUN_UID" "$_DC_RUN_GID" \
		"$DC_DIR/stage" >"$DC_DIR/stage-users"
	if ! _dc_make_certs "$DC_DIR" "$_DC_OPT_CERT_NAME" "$DC_HOST"; then
		_dc_fail_start "certificate generation failed"
		return 1
	fi
	chmod 644 "$DC_CA"

	local try ports pimap pimaps pid waited=0
	for try in 1 2 3; do
		ports=$(_dc_free_ports 2 "$DC_HOST" "$_DC_NETNS") ||
			{ _dc_fail_start "no free ports"; return 1; }
		pimap=${ports%%$'\n'*}
		pimaps=${ports#*$'\n'}
		_dc_write_conf "$pimap" "$pimaps"
		if _dc_is_root; then
			chown -R "$_DC_RUN_UID:$_DC_RUN_GID" "$DC_DIR"
		fi
		# The master binds its listeners, then daemonizes (own session and
		# process group) and writes run/master.pid.
		if DC_TIMEOUT=15 _DC_EXEC_NS=$_DC_NETNS _dc_as_user \
			"$DC_DOVECOT_BIN" -c "$DC_CONF" </dev/null >>"$DC_LOG" 2>&1; then
			break
		fi
		if [ "$try" -lt 3 ] && grep -q 'Address already in use' "$DC_LOG"; then
			# A port was taken meanwhile: keep that log aside, try others.
			mv "$DC_LOG" "$DC_DIR/dovecot.start$try.log"
			: >"$DC_LOG"
			continue
		fi
		_dc_fail_start "dovecot failed to start"
		return 1
	done
	DC_PORT_IMAP=$pimap
	if [ "$_DC_OPT_NO_STARTTLS" != 1 ]; then DC_PORT_IMAPS=$pimaps; fi
	# The pid file (<= 5 s), then a real IMAP greeting (<= 10 s).
	while [ -z "$(_dc_master_pid)" ] && [ "$waited" -lt 100 ]; do
		sleep 0.05
		waited=$((waited + 1))
	done
	pid=$(_dc_master_pid)
	if [ -z "$pid" ]; then
		_dc_fail_start "dovecot wrote no pid file"
		return 1
	fi
	_DC_MASTER_PID=$pid
	if ! _dc_wait_greeting "$DC_PORT_IMAP" 10; then
		_dc_fail_start "no IMAP greeting on port $DC_PORT_IMAP within 10 s"
		return 1
	fi
	return 0
}

# A detached watchdog (own session, stdio closed): once the shell that ran
# dc_start is gone while DC_DIR still exists, it stops the instance (pid from
# the pid file, only if that process runs with this config) and removes
# DC_DIR. It exits by itself as soon as DC_DIR is gone.
_dc_start_watchdog() {
	local parent=$BASHPID # (in the "&" below BASHPID would be the child's)
	setsid bash -c '
		parent=$1 dir=$2 conf=$3
		while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
		[ -d "$dir" ] || exit 0
		master=$(tr -dc 0-9 <"$dir/run/master.pid" 2>/dev/null)
		if [ -n "$master" ] && grep -qF -- "$conf" "/proc/$master/cmdline" 2>/dev/null; then
			kill -TERM "$master" 2>/dev/null
			for _ in $(seq 100); do
				ps -eo pgid=,stat= | grep -qE "^ *$master +[^Z]" || break
				sleep 0.1
			done
			kill -KILL -- "-$master" 2>/dev/null
		fi
		rm -rf "$dir"
	' dc-watchdog "$parent" "$DC_DIR" "$DC_CONF" </dev/null >/dev/null 2>&1 &
	_DC_WATCHDOG_PID=$!
}

# Chains dc_cleanup into the EXIT trap (after any trap already set) and makes
# HUP/INT/TERM exit (so that the EXIT trap runs) unless already trapped: the
# first signal exits, any further one is ignored so that the EXIT trap
# (dc_cleanup) runs to its end (tests/lib/trap.sh).
_dc_install_trap() {
	trap_chain dc_cleanup
	trap_exit_on_signals
}

# dc_cleanup: dc_stop for exit paths (traps); keeps $?. It leaves HUP, INT
# and TERM ignored: `timeout` signals the whole process group, often twice,
# and a second signal must not cut the cleanup short. (Mid-test: dc_stop.)
dc_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	dc_stop >/dev/null 2>&1 || true
	return "$rc"
}

# _dc_pids: live processes of the instance = the master's process group (the
# master daemonizes into its own session; its children stay in its group).
# Zombies do not count (PID 1 reaps the daemonized master when it gets to).
_dc_pids() {
	if [ -n "${_DC_MASTER_PID:-}" ]; then
		ps -eo pid=,pgid=,stat= |
			awk -v g="$_DC_MASTER_PID" '$2 == g && $3 !~ /^Z/ { print $1 }'
	fi
	return 0
}

# dc_stop: SIGTERM to the master, <= 10 s for its process group to go, then
# SIGKILL to the group; removes DC_DIR; unsets DC_DIR and friends.
dc_stop() {
	local d=${DC_DIR:-} pid _
	if [ -z "$d" ]; then return 0; fi
	pid=$(_dc_master_pid)
	if [ -z "$pid" ]; then pid=${_DC_MASTER_PID:-}; fi
	if [ -n "$pid" ] && grep -qF -- "$DC_CONF" "/proc/$pid/cmdline" 2>/dev/null; then
		_DC_MASTER_PID=$pid
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			if [ -z "$(_dc_pids)" ]; then break; fi
			sleep 0.1
		done
		if [ -n "$(_dc_pids)" ]; then
			_dc_err "dovecot did not stop within 10 s: SIGKILL"
			kill -KILL -- "-$pid" 2>/dev/null || true
			sleep 0.2
		fi
	fi
	if [ -n "${_DC_WATCHDOG_PID:-}" ]; then
		kill -- "-$_DC_WATCHDOG_PID" 2>/dev/null ||
			kill "$_DC_WATCHDOG_PID" 2>/dev/null || true
		wait "$_DC_WATCHDOG_PID" 2>/dev/null || true
	fi
	rm -rf "$d"
	unset DC_DIR DC_CONF DC_LOG DC_CA DC_PORT_IMAP DC_PORT_IMAPS \
		_DC_MASTER_PID _DC_WATCHDOG_PID _DC_NETNS
	return 0
}

# ---------------------------------------------------------------- doveadm

# dc_doveadm ARGS...: doveadm -c $DC_CONF ARGS as the instance's user.
dc_doveadm() {
	_dc_as_user "$DC_DOVEADM_BIN" -c "$DC_CONF" "$@"
}

# dc_status_field USER FOLDER FIELD: one `doveadm mailbox status` field
# (messages recent uidnext uidvalidity unseen highestmodseq vsize guid).
dc_status_field() {
	local out
	out=$(dc_doveadm -f tab mailbox status -u "$1" "$3" "$2") || return 1
	out=$(sed -n 2p <<<"$out") # tab format: header line, "MAILBOX<TAB>VALUE"
	if [ -z "$out" ]; then return 1; fi
	printf '%s\n' "${out##*$'\t'}"
}

# dc_status USER FOLDER: "MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ".
#   read -r n next uidv modseq < <(dc_status alice INBOX)
dc_status() {
	local out
	out=$(dc_doveadm -f tab mailbox status -u "$1" \
		"messages uidnext uidvalidity highestmodseq" "$2") || return 1
	out=$(sed -n 2p <<<"$out" | awk -F '\t' '{ print $(NF-3), $(NF-2), $(NF-1), $NF }')
	if [ -z "$out" ]; then return 1; fi
	printf '%s\n' "$out"
}

# dc_uidvalidity USER FOLDER
dc_uidvalidity() { dc_status_field "$1" "$2" uidvalidity; }

# dc_set_uidvalidity USER FOLDER N
dc_set_uidvalidity() { dc_doveadm mailbox update -u "$1" --uid-validity "$3" "$2"; }

# dc_folders USER: every folder name, one per line, sorted (C locale).
dc_folders() {
	local out
	out=$(dc_doveadm mailbox list -u "$1") || return 1
	if [ -n "$out" ]; then LC_ALL=C sort <<<"$out"; fi
}

# dc_mkfolder USER NAME: creates and subscribes NAME ("A/B" is nested).
dc_mkfolder() { dc_doveadm mailbox create -s -u "$1" "$2"; }

# dc_rmfolder USER NAME: deletes NAME and its messages.
dc_rmfolder() { dc_doveadm mailbox delete -s -u "$1" "$2"; }

# dc_rename USER OLD NEW
dc_rename() { dc_doveadm mailbox rename -s -u "$1" "$2" "$3"; }

# dc_uids USER FOLDER: the folder's UIDs, ascending, one per line.
dc_uids() {
	local out
	out=$(dc_doveadm search -u "$1" mailbox "$2" all) || return 1
	if [ -n "$out" ]; then awk '{ print $2 }' <<<"$out" | sort -n; fi
}

# dc_flags USER FOLDER UID: the message's flags and keywords, sorted (C
# locale), space-separated, without \Recent; an empty line for none. Fails
# if there is no such message.
dc_flags() {
	local out f res=()
	out=$(dc_doveadm fetch -u "$1" flags mailbox "$2" uid "$3") || return 1
	case $out in
	flags:*) ;;
	*) _dc_err "dc_flags: no message $2 uid $3"; return 1 ;;
	esac
	for f in ${out#flags:}; do
		if [ "$f" != '\Recent' ]; then res+=("$f"); fi
	done
	if [ ${#res[@]} -gt 0 ]; then
		printf '%s\n' "${res[@]}" | LC_ALL=C sort | paste -sd ' ' -
	else
		echo
	fi
}

# dc_set_flags USER FOLDER UIDSET [FLAG...]: replaces the flags (none: clears).
dc_set_flags() {
	local u=$1 f=$2 uids=$3
	shift 3
	dc_doveadm flags replace -u "$u" "$*" mailbox "$f" uid "$uids"
}

# dc_add_flags USER FOLDER UIDSET FLAG...
dc_add_flags() {
	local u=$1 f=$2 uids=$3
	shift 3
	dc_doveadm flags add -u "$u" "$*" mailbox "$f" uid "$uids"
}

# dc_remove_flags USER FOLDER UIDSET FLAG...
dc_remove_flags() {
	local u=$1 f=$2 uids=$3
	shift 3
	dc_doveadm flags remove -u "$u" "$*" mailbox "$f" uid "$uids"
}

# dc_expunge USER FOLDER UIDSET
dc_expunge() { dc_doveadm expunge -u "$1" mailbox "$2" uid "$3"; }

# dc_move USER FOLDER UIDSET DEST
dc_move() { dc_doveadm move -u "$1" "$4" mailbox "$2" uid "$3"; }

# _dc_pyfilter MODE: binary-safe byte filter, stdin to stdout; keeps a
# missing final newline missing.
#   fetch-lf    strip the "text:\n" that `doveadm fetch text` (pager format,
#               one record) puts before the message; fails without it
#   fetch-crlf  the same, then LF -> CRLF
#   crlf        each LF not preceded by CR -> CRLF (what Dovecot serves)
#   lf          CRLF -> LF (what Dovecot stores; a lone CR stays)
_dc_pyfilter() {
	_dc_python -c '
import re, sys
mode = sys.argv[1]
data = sys.stdin.buffer.read()
if mode.startswith("fetch-"):
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

# dc_to_crlf < IN > OUT: how IMAP serves a message saved from IN.
dc_to_crlf() { _dc_pyfilter crlf; }

# dc_to_lf < IN > OUT: how Dovecot stores a message saved from IN.
dc_to_lf() { _dc_pyfilter lf; }

# dc_fetch_stored USER FOLDER UID > FILE: the message as stored (LF).
dc_fetch_stored() {
	local st
	dc_doveadm fetch -u "$1" text mailbox "$2" uid "$3" | _dc_pyfilter fetch-lf
	st=("${PIPESTATUS[@]}")
	[ "${st[0]}" -eq 0 ] && [ "${st[1]}" -eq 0 ]
}

# dc_fetch_raw USER FOLDER UID > FILE: the message exactly as IMAP serves it
# as BODY[] (CRLF line ends).
dc_fetch_raw() {
	local st
	dc_doveadm fetch -u "$1" text mailbox "$2" uid "$3" | _dc_pyfilter fetch-crlf
	st=("${PIPESTATUS[@]}")
	[ "${st[0]}" -eq 0 ] && [ "${st[1]}" -eq 0 ]
}

# dc_add USER FOLDER FILE [FLAG...]: `doveadm save` of FILE (LF or CRLF;
# stored as LF), then the FLAGs; prints the new UID. INTERNALDATE is now.
dc_add() {
	local u=$1 f=$2 file=$3 next uid="" cand=() c
	shift 3
	next=$(dc_status_field "$u" "$f" uidnext) || return 1
	dc_doveadm save -u "$u" -m "$f" <"$file" || return 1
	# UIDs >= next: normally just ours; with concurrent appends, compare.
	for c in $(dc_doveadm search -u "$u" mailbox "$f" uid "$next:*" |
		awk '{ print $2 }'); do
		if [ "$c" -ge "$next" ]; then cand+=("$c"); fi
	done
	if [ ${#cand[@]} -eq 1 ]; then
		uid=${cand[0]}
	else
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

# dc_populate USER FOLDER COUNT SEED [MINSIZE MAXSIZE]: appends COUNT
# messages made by genmail.py (seeded; sizes like 1K, 300K, 2M; default
# 1K..2M) to FOLDER, creating it if missing. genmail.py writes them into a
# staging Maildir folder of the no-login user gd-stage, and one `doveadm
# copy` appends them all (then the staging folder is deleted through
# doveadm): message k gets the k-th new UID, INTERNALDATE = its Date header.
# Prints the directory of the generated messages 000001.eml... (LF ends;
# read-only: they may share inodes with the stored mail).
dc_populate() {
	local u=$1 f=$2 count=$3 seed=$4 min=${5:-1K} max=${6:-2M} gen box rc=0
	gen=$(mktemp -d "$DC_DIR/gen/p.XXXXXX") || return 1
	chmod 755 "$gen"
	box=$(basename "$gen" | tr -dc 'a-zA-Z0-9')
	if ! _dc_python "$DC_GENMAIL" --count "$count" --seed "$seed" \
		--min-size "$min" --max-size "$max" --to "$u@example.test" \
		--to-name "$u" --out "$gen" --maildir "$DC_DIR/stage/Maildir/$box"; then
		_dc_err "dc_populate: genmail.py failed"
		return 1
	fi
	if _dc_is_root; then
		chown -R "$_DC_RUN_UID:$_DC_RUN_GID" "$gen" "$DC_DIR/stage/Maildir/$box"
	fi
	if ! dc_status_field "$u" "$f" uidnext >/dev/null 2>&1; then
		dc_mkfolder "$u" "$f" || return 1
	fi
	DC_TIMEOUT=$((DC_TIMEOUT > 600 ? DC_TIMEOUT : 600)) \
		dc_doveadm copy -u "$u" "$f" user gd-stage mailbox "$box" all || rc=1
	dc_doveadm mailbox delete -u gd-stage "$box" || rc=1
	if [ "$rc" -ne 0 ]; then
		_dc_err "dc_populate: doveadm copy failed"
		return 1
	fi
	echo "$gen"
}

# dc_log_check: fails, printing them, if the log has Error/Fatal/Panic lines.
dc_log_check() {
	if grep -E ': (Panic|Fatal|Error):' "$DC_LOG" >&2; then
		return 1
	fi
	return 0
}

# dc_imap [imaps|starttls|plain] [OPENSSL_ARG...] < CMDS: one IMAP session.
# CMDS: command lines (LF or CRLF), sent at once (pipelined); end with a
# LOGOUT so that the server closes. Prints the server's lines without CR.
# imaps/starttls use `openssl s_client -quiet -CAfile $DC_CA
# -verify_return_error [OPENSSL_ARG...]` (e.g. -verify_hostname localhost):
# a failed verification ends the session before any IMAP line. plain is a
# bare TCP connection to DC_PORT_IMAP. Bounded: 20 s. With --netns, the
# client runs inside the instance's namespace, or DC_CLIENT_NETNS if set.
dc_imap() {
	local mode=${1:-imaps} rc port in ns=() cns
	if [ $# -gt 0 ]; then shift; fi
	cns=${DC_CLIENT_NETNS:-${_DC_NETNS:-}}
	if [ -n "$cns" ]; then ns=(ip netns exec "$cns"); fi
	case $mode in
	imaps)
		sed 's/\r$//; s/$/\r/' |
			timeout -k 2 20 "${ns[@]}" openssl s_client -quiet \
				-connect "$DC_HOST:$DC_PORT_IMAPS" \
				-CAfile "$DC_CA" -verify_return_error "$@" | tr -d '\r'
		rc=${PIPESTATUS[1]}
		;;
	starttls)
		sed 's/\r$//; s/$/\r/' |
			timeout -k 2 20 "${ns[@]}" openssl s_client -quiet -starttls imap \
				-connect "$DC_HOST:$DC_PORT_IMAP" \
				-CAfile "$DC_CA" -verify_return_error "$@" | tr -d '\r'
		rc=${PIPESTATUS[1]}
		;;
	plain)
		in=$(sed 's/\r$//; s/$/\r/')
		port=$DC_PORT_IMAP
		timeout -k 2 20 "${ns[@]}" bash -c '
			exec 3<>"/dev/tcp/$0/$1" || exit 1
			printf "%s\n" "$2" >&3
			cat <&3' "$DC_HOST" "$port" "$in" | tr -d '\r'
		rc=${PIPESTATUS[0]}
		;;
	*)
		_dc_err "dc_imap: mode is imaps, starttls or plain"
		return 2
		;;
	esac
	return "$rc"
}

# ---------------------------------------------------------------- connections

# Logged-in IMAP connections of a user, exactly, from Dovecot's own log
# (nothing is sampled). A connection is open from its imap-login line
# "Login: user=<USER>, ... session=<ID>" until the line of its imap process
# "imap(USER)<PID><ID>: Disconnected: ..." (logout, closed, shutdown, kick),
# or the master's "service(imap): child PID killed|returned" for its mpid.
# Both come by default (login_log_format_elements has session=<%{session}>,
# mail_log_prefix is "%s(%u)<%{pid}><%{session}>: "); a --conf that changes
# them breaks these helpers. Two processes write those lines: a session
# whose end is logged before its start is taken as never open. The log
# process serializes the lines, so the order they give is the order used:
# events of different sessions less than the log's latency apart may be
# counted in either order. Each helper first lets the log settle (no growth
# for 0.3 s, at most 3 s): Dovecot writes a line a moment after the fact.

# _dc_log_settle: until the log has not grown for 0.3 s (<= 3 s).
_dc_log_settle() {
	local i last="" cur same=0
	for ((i = 0; i < 30; i++)); do
		cur=$(stat -c %s "$DC_LOG" 2>/dev/null) || return 1
		if [ "$cur" = "$last" ]; then
			same=$((same + 1))
			if [ "$same" -ge 3 ]; then return 0; fi
		else
			same=0
		fi
		last=$cur
		sleep 0.1
	done
	return 0
}

# _dc_conn_scan USER OFFSET: "MAX NOW": the most connections of USER open at
# once from byte OFFSET of the log on (those open at OFFSET included), and
# how many are open at its end.
_dc_conn_scan() {
	_dc_python - "$DC_LOG" "$1" "$2" <<'PYEOF'
import re, sys
log, user, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = re.escape(user)
login = re.compile(r" imap-login: Info: Login: user=<" + u +
                   r">, .*\bmpid=(\d+), .*\bsession=<([^>]*)>")
logout = re.compile(r" imap\(" + u + r"\)<(\d+)><([^>]*)>: .*Disconnected")
died = re.compile(r" service\(imap\): child (\d+) (?:killed|returned)")
open_ = {}    # session -> mpid
ended = set()  # sessions whose end came before their start
peak = None
with open(log, "rb") as f:
    data = f.read()
pos = 0
for raw in data.splitlines(keepends=True):
    if pos >= offset and peak is None:
        peak = len(open_)
    pos += len(raw)
    line = raw.decode("utf-8", "replace")
    m = login.search(line)
    if m:
        if m.group(2) in ended:
            ended.discard(m.group(2))
        else:
            open_[m.group(2)] = m.group(1)
            if peak is not None:
                peak = max(peak, len(open_))
        continue
    m = logout.search(line)
    if m:
        if m.group(2) in open_:
            del open_[m.group(2)]
        else:
            ended.add(m.group(2))
        continue
    m = died.search(line)
    if m:
        for s in [s for s, p in open_.items() if p == m.group(1)]:
            del open_[s]
if peak is None:
    peak = len(open_)
print(peak, len(open_))
PYEOF
}

# dc_conn_max_start USER: opens the window (after the log settled).
dc_conn_max_start() {
	_dc_log_settle || return 1
	stat -c %s "$DC_LOG" >"$DC_DIR/conn-mark.$1"
}

# dc_conn_max_stop USER: prints the most logged-in IMAP connections of USER
# open at once since dc_conn_max_start USER (those open at its start count).
dc_conn_max_stop() {
	local mark out
	if [ ! -s "$DC_DIR/conn-mark.$1" ]; then
		_dc_err "dc_conn_max_stop: no dc_conn_max_start $1"
		return 1
	fi
	mark=$(cat "$DC_DIR/conn-mark.$1")
	_dc_log_settle || return 1
	out=$(_dc_conn_scan "$1" "$mark") || return 1
	rm -f "$DC_DIR/conn-mark.$1"
	printf '%s\n' "${out% *}"
}

# dc_conn_now USER: prints how many logged-in IMAP connections USER has now.
dc_conn_now() {
	local out
	_dc_log_settle || return 1
	out=$(_dc_conn_scan "$1" 0) || return 1
	printf '%s\n' "${out#* }"
}

# dc_conn_who USER: the same count as anvil has it (doveadm who).
dc_conn_who() {
	local out
	out=$(dc_doveadm who -1 "$1") || return 1
	awk -v u="$1" 'NR > 1 && $1 == u && $2 == "imap"' <<<"$out" | wc -l
}

# dc_conn_wait USER N [SECONDS]: until dc_conn_now USER is N (default 10 s).
dc_conn_wait() {
	local end=$((SECONDS + ${3:-10}))
	while :; do
		if [ "$(dc_conn_now "$1")" = "$2" ]; then return 0; fi
		if [ "$SECONDS" -ge "$end" ]; then return 1; fi
		sleep 0.1
	done
}
