# shellcheck shell=bash
# Throwaway Cyrus IMAP 3.6 for the interop tests, run from Debian's
# cyrus-imapd and cyrus-common packages unpacked by tests/interop/deps.sh
# (installing them would remove dovecot-imapd). Source it from bash:
#
#   source tests/lib/cyrus.sh
#   cy_start || exit 1     # exports CY_* and the client variables below
#   ...
#   cy_stop                # the EXIT trap does it too
#
# The instance: its own configdirectory, partition, sockets and SASL
# database under CY_DIR (mktemp -d), run as nobody when started as root;
# one imaps listener on 127.0.0.1:CY_PORT with a certificate of the test
# CA (DNS:localhost, IP:127.0.0.1); user alice / alice-secret, checked by
# SASL's sasldb; altnamespace and unixhierarchysep, so folders are "Work"
# and "Work/Sub" beside INBOX, as Debian's default; INBOX and Sent Drafts
# Trash Junk (with their special-use) made at the first login. IDLE
# looks for changes every CY_IDLE_SECONDS (imapidlepoll, 60 by default as
# on Debian, whose cyrus.conf runs no idled either). Cyrus logs only to
# syslog, which the tests do not read.
#   cy_restart          stops the master and starts it again on the same
#                       port and data (a server restart under a client)
# Exported: CY_DIR, CY_PORT and, by fs_export_client, DC_HOST DC_PORT_IMAPS
# DC_CA DC_USER DC_PASS (for gd_setup) and IC_* (for imapctl.py).

_CY_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/foreign.sh
source "$_CY_LIB_DIR/foreign.sh"

_cy_write_conf() {
	local d=$CY_DIR bin=$CY_ROOT/usr/lib/cyrus/bin
	cat >"$d/imapd.conf" <<EOF
configdirectory: $d/lib
partition-default: $d/spool
proc_path: $d/proc
mboxname_lockpath: $d/lock
lmtpsocket: $d/socket/lmtp
notifysocket: $d/socket/notify
sievedir: $d/sieve
cyrus_user: $CY_RUN_USER
admins: cyrusadm
altnamespace: yes
unixhierarchysep: yes
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $d/sasldb2
sasl_mech_list: PLAIN LOGIN
tls_server_cert: $d/server.pem
tls_server_key: $d/server.key
tls_client_ca_file: $d/ca.pem
autocreate_quota: 0
autocreate_post: 1
autocreate_inbox_folders: Sent|Drafts|Trash|Junk
xlist-sent: Sent
xlist-drafts: Drafts
xlist-trash: Trash
xlist-junk: Junk
syslog_prefix: gmaildir-cyrus
imapidlepoll: ${CY_IDLE_SECONDS:-60}
EOF
	cat >"$d/cyrus.conf" <<EOF
START {
  recover cmd="$bin/ctl_cyrusdb -C $d/imapd.conf -r"
}
SERVICES {
  imaps cmd="$bin/imapd -C $d/imapd.conf -s" listen="127.0.0.1:$CY_PORT" prefork=0
}
EOF
}

_cy_master() {
	local run=()
	if [ "$(id -u)" -eq 0 ]; then run=(setpriv --reuid="$CY_RUN_USER" --regid=nogroup --clear-groups --); fi
	fs_start "$CY_DIR" "$CY_DIR/master.log" env LD_LIBRARY_PATH="$CY_ROOT/usr/lib/x86_64-linux-gnu" \
		"${run[@]}" "$CY_ROOT/usr/lib/cyrus/bin/master" -C "$CY_DIR/imapd.conf" \
		-M "$CY_DIR/cyrus.conf" -p "$CY_DIR/master.pid" -D
	CY_PID=$FS_PID
	if ! fs_wait_tls 127.0.0.1 "$CY_PORT" "$CY_DIR/ca.pem" 15; then
		echo "cyrus.sh: no TLS greeting on port $CY_PORT within 15 s" >&2
		sed 's/^/# cyrus: /' "$CY_DIR/master.log" >&2
		return 1
	fi
}

cy_start() {
	CY_ROOT=$(fs_root cyrus) || return 1
	CY_RUN_USER=nobody
	[ "$(id -u)" -eq 0 ] || CY_RUN_USER=$(id -un)
	CY_DIR=$(mktemp -d /tmp/gd-cyrus.XXXXXX) || return 1
	export CY_DIR
	chmod 755 "$CY_DIR"
	trap_chain cy_cleanup
	trap_exit_on_signals
	mkdir -p "$CY_DIR"/{lib,spool,proc,lock,socket,sieve}
	_dc_make_certs "$CY_DIR" "" 127.0.0.1 || return 1
	chmod 644 "$CY_DIR/ca.pem" "$CY_DIR/server.key"
	CY_PORT=$(_dc_free_ports 1) || return 1
	export CY_PORT
	_cy_write_conf
	echo alice-secret | LD_LIBRARY_PATH="$CY_ROOT/usr/lib/x86_64-linux-gnu" \
		saslpasswd2 -p -f "$CY_DIR/sasldb2" -c alice || return 1
	chmod 644 "$CY_DIR/sasldb2"
	[ "$(id -u)" -ne 0 ] || chown -R "$CY_RUN_USER" "$CY_DIR"
	_cy_master || return 1
	fs_export_client 127.0.0.1 "$CY_PORT" "$CY_DIR/ca.pem" alice alice-secret
}

cy_restart() {
	fs_stop "$CY_PID"
	_cy_master
}

cy_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	cy_stop >/dev/null 2>&1 || true
	return "$rc"
}

cy_stop() {
	[ -n "${CY_DIR:-}" ] || return 0
	fs_stop_instance "${CY_PID:-}" "$CY_DIR"
	unset CY_DIR CY_PID CY_PORT
}
