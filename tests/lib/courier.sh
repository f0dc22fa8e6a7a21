# shellcheck shell=bash
# Throwaway Courier-IMAP 5 for the interop tests, run from Debian's
# courier-imap, courier-base and courier-authlib packages unpacked by
# tests/interop/deps.sh (courier-imap and cyrus-imapd exclude each other,
# and both conflict with dovecot-imapd). Needs root. Source it from bash:
#
#   source tests/lib/courier.sh
#   co_start || exit 1     # exports CO_* and the client variables below
#   ...
#   co_stop                # the EXIT trap does it too
#
# Courier's paths are compiled in (/etc/courier, /usr/lib/courier,
# /usr/lib/courier-authlib, /usr/libexec/gam_server, /run/courier). So the
# instance runs in a mount namespace of its own (unshare -m) where /etc,
# /usr/lib and /usr/libexec are overlays whose upper layer (under CO_DIR)
# adds what the packages put there, and /run is a fresh tmpfs: nothing
# outside the namespace sees a file of it, and no file of the system
# changes. Inside: authdaemond with the userdb module (user alice /
# alice-secret, uid nobody, Maildir under CO_DIR), and couriertcpd on
# 127.0.0.1:CO_PORT running couriertls (implicit TLS, the test CA's
# certificate) and imaplogin -> imapd, configured as Debian's
# /etc/courier/imapd and imapd-ssl are, except: IMAP_EMPTYTRASH is off (it
# would purge Trash of messages older than 7 days, the tests' dates), and
# IDLE polls every CO_IDLE_SECONDS (IMAP_IDLE_TIMEOUT, 60 as in Debian,
# where IMAP_ENHANCEDIDLE is off). Folders: separator ".", all under
# "INBOX." (INBOX.Sent ...), no CONDSTORE, QRESYNC, MOVE, LITERAL+ or
# SPECIAL-USE. INBOX.Sent, INBOX.Drafts and INBOX.Trash exist from the
# start (Courier makes none by itself).
#   co_restart         stops the server and starts it again on the same
#                      port and data
# Exported: CO_DIR, CO_PORT, CO_MAILDIR and, by fs_export_client, DC_HOST
# DC_PORT_IMAPS DC_CA DC_USER DC_PASS (gd_setup) and IC_* (imapctl.py).

_CO_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/foreign.sh
source "$_CO_LIB_DIR/foreign.sh"

_co_write_conf() {
	local d=$CO_DIR e=$CO_DIR/etc-up/courier
	mkdir -p "$e" "$d/lib-up" "$d/etc-work" "$d/lib-work" "$d/libexec-up" "$d/libexec-work"
	# imapd watches folders through FAM: libgamin starts gam_server from
	# /usr/libexec (without it, each command waits 2 s for it).
	ln -s "$CO_ROOT/usr/libexec/gam_server" "$d/libexec-up/gam_server"
	ln -s "$CO_ROOT/usr/lib/courier" "$d/lib-up/courier"
	ln -s "$CO_ROOT/usr/lib/courier-authlib" "$d/lib-up/courier-authlib"
	printf '%s\n' 'authmodulelist="authuserdb"' 'daemons=3' \
		'authdaemonvar=/run/courier/authdaemon' 'DEBUG_LOGIN=${CO_DEBUG_LOGIN:-0}' \
		'DEFAULTOPTIONS=""' >"$e/authdaemonrc"
	printf 'alice\tuid=%s|gid=%s|home=%s|mail=%s|systempw=%s\n' \
		"$CO_UID" "$CO_GID" "$d/home" "$CO_MAILDIR" \
		"$(openssl passwd -6 alice-secret)" >"$e/userdb"
	chmod 600 "$e/userdb"
	cat "$d/server.key" "$d/server.pem" >"$e/imapd.pem"
	chmod 600 "$e/imapd.pem"
	openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 \
		-out "$e/dhparams.pem" 2>/dev/null
	# What the server reads from its environment (Debian's imapd and
	# imapd-ssl, minus the init script's own variables).
	# imapd checks that /etc/courier/imapd and imapd-ssl exist.
	cat >"$e/imapd" <<EOF
IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"
IMAP_CAPABILITY_TLS="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE AUTH=PLAIN"
IMAP_KEYWORDS=1
IMAP_ACL=1
IMAP_PROXY=0
IMAP_IDLE_TIMEOUT=${CO_IDLE_SECONDS:-60}
IMAP_MAILBOX_SANITY_CHECK=1
IMAP_DISABLETHREADSORT=0
IMAP_CHECK_ALL_FOLDERS=0
IMAP_OBSOLETE_CLIENT=0
IMAP_UMASK=022
IMAP_ULIMITD=131072
IMAP_USELOCKS=1
IMAP_ENHANCEDIDLE=0
IMAP_TRASHFOLDERNAME=Trash
IMAP_EMPTYTRASH=
IMAP_MOVE_EXPUNGE_TO_TRASH=0
MAILDIRPATH=Maildir
LD_LIBRARY_PATH=$CO_ROOT/usr/lib:$CO_ROOT/usr/lib/x86_64-linux-gnu
PATH=$CO_ROOT/usr/bin:$CO_ROOT/usr/sbin:/usr/bin:/bin
EOF
	cat >"$e/imapd-ssl" <<EOF
IMAP_TLS=1
IMAP_TLS_REQUIRED=0
TLS_CERTFILE=/etc/courier/imapd.pem
TLS_DHPARAMS=/etc/courier/dhparams.pem
TLS_TRUSTCERTS=$d/ca.pem
TLS_VERIFYPEER=NONE
TLS_PROTOCOL=TLS1_2
MAILDIRPATH=Maildir
LD_LIBRARY_PATH=$CO_ROOT/usr/lib:$CO_ROOT/usr/lib/x86_64-linux-gnu
PATH=$CO_ROOT/usr/bin:$CO_ROOT/usr/sbin:/usr/bin:/bin
EOF
}

# _co_inside: the script the namespace runs: its mounts, authdaemond, then
# couriertcpd in the foreground.
_co_inside() {
	cat <<'EOF'
set -e
d=$1 root=$2 port=$3
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$d/etc-up,workdir=$d/etc-work" /etc
mount -t overlay overlay -o "lowerdir=/usr/lib,upperdir=$d/lib-up,workdir=$d/lib-work" /usr/lib
mount -t overlay overlay -o "lowerdir=/usr/libexec,upperdir=$d/libexec-up,workdir=$d/libexec-work" /usr/libexec
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/courier/authdaemon
set -a
. /etc/courier/imapd
. /etc/courier/imapd-ssl
set +a
cd /etc/courier
perl "$root/usr/sbin/makeuserdb"
/usr/lib/courier/courier-authlib/authdaemond &
for _ in $(seq 50); do [ -S /run/courier/authdaemon/socket ] && break; sleep 0.1; done
exec "$root/usr/sbin/couriertcpd" -address=127.0.0.1 -maxprocs=40 -maxperip=40 \
	-nodnslookup -noidentlookup "$port" "$root/usr/bin/couriertls" -server -tcpd \
	/usr/lib/courier/courier/imaplogin "$root/usr/bin/imapd" Maildir
EOF
}

_co_server() {
	fs_start "$CO_DIR" "$CO_DIR/server.log" unshare -m --propagation private \
		bash -c "$(_co_inside)" courier-ns "$CO_DIR" "$CO_ROOT" "$CO_PORT"
	CO_PID=$FS_PID
	if ! fs_wait_tls 127.0.0.1 "$CO_PORT" "$CO_DIR/ca.pem" 15; then
		echo "courier.sh: no TLS greeting on port $CO_PORT within 15 s" >&2
		sed 's/^/# courier: /' "$CO_DIR/server.log" >&2
		return 1
	fi
}

co_start() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "courier.sh: needs root (a mount namespace for its compiled-in paths)" >&2
		return 1
	fi
	CO_ROOT=$(fs_root courier) || return 1
	CO_UID=$(id -u nobody) CO_GID=$(getent group nogroup | cut -d: -f3)
	CO_DIR=$(mktemp -d /tmp/gd-courier.XXXXXX) || return 1
	export CO_DIR CO_MAILDIR=$CO_DIR/home/Maildir
	chmod 755 "$CO_DIR"
	trap_chain co_cleanup
	trap_exit_on_signals
	_dc_make_certs "$CO_DIR" "" 127.0.0.1 || return 1
	chmod 644 "$CO_DIR/ca.pem"
	CO_PORT=$(_dc_free_ports 1) || return 1
	export CO_PORT
	_co_write_conf
	mkdir -p "$CO_DIR/home"
	LD_LIBRARY_PATH=$CO_ROOT/usr/lib:$CO_ROOT/usr/lib/x86_64-linux-gnu \
		"$CO_ROOT/usr/bin/maildirmake.courier" "$CO_MAILDIR" || return 1
	chown -R "$CO_UID:$CO_GID" "$CO_DIR/home"
	_co_server || return 1
	fs_export_client 127.0.0.1 "$CO_PORT" "$CO_DIR/ca.pem" alice alice-secret
	local f
	for f in Sent Drafts Trash; do
		python3 "$_CO_LIB_DIR/imapctl.py" create "INBOX.$f" || return 1
		python3 "$_CO_LIB_DIR/imapctl.py" subscribe "INBOX.$f" || return 1
	done
}

co_restart() {
	fs_stop "$CO_PID"
	_co_server
}

co_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	co_stop >/dev/null 2>&1 || true
	return "$rc"
}

co_stop() {
	[ -n "${CO_DIR:-}" ] || return 0
	fs_stop_instance "${CO_PID:-}" "$CO_DIR"
	unset CO_DIR CO_PID CO_PORT CO_MAILDIR
}
