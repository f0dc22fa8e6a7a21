# shellcheck shell=bash
# Real Maildirs made by other tools, for tests of adoption: source after
# tests/lib/dovecot.sh and dc_start.
#
#   peer_mbsync_sync MAILDIR [EXTRA]      one `mbsync -a` of every folder of
#                                         $DC_USER into MAILDIR (INBOX is
#                                         MAILDIR/INBOX, "A/B" MAILDIR/A/B)
#   peer_offlineimap_sync MAILDIR [EXTRA] one offlineimap run, same layout
#
# EXTRA is lines appended to the tool's config: for mbsync to the Channel
# section (e.g. "SyncState *", "Sync Pull"), for offlineimap to the
# [Account] section (e.g. "maxage = 30"; offlineimap3 8 keeps its status in
# SQLite only, it refuses status_backend); a line "[Repository local]" or
# "MaildirStore ..." starts a section of its own, as the tool reads it.
#
# Each tool runs with HOME set to a directory of its own (PEER_MBSYNC_HOME,
# PEER_OFFLINEIMAP_HOME, kept across calls so that a second sync finds the
# tool's state like a user's), never the real home; its config is written
# there afresh on each call. A run is bounded by PEER_TIMEOUT (60 s) and a
# failure prints the tool's output and returns 1. Names the tools write:
#   mbsync: channel "gm", stores "far" (IMAP) and "near" (Maildir), so the
#     default state of folder F is $PEER_MBSYNC_HOME/.mbsync/:far:F_:near:F
#     ("/" in F written "!").
#   offlineimap: account "gm", repositories "remote" and "local".
# The directories are removed by the EXIT trap (trap.sh).

_PEER_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/trap.sh
source "$_PEER_LIB_DIR/trap.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-60}
PEER_MBSYNC_HOME=
PEER_OFFLINEIMAP_HOME=

_peer_err() { echo "peers.sh: $*" >&2; }

_peer_cleanup() {
	local rc=$?
	[ -n "$PEER_MBSYNC_HOME" ] && rm -rf "$PEER_MBSYNC_HOME"
	[ -n "$PEER_OFFLINEIMAP_HOME" ] && rm -rf "$PEER_OFFLINEIMAP_HOME"
	return "$rc"
}

_peer_home() {
	local var=$1
	if [ -z "${!var}" ]; then
		printf -v "$var" '%s' "$(mktemp -d /tmp/peerhome.XXXXXX)"
		if [ -z "${_PEER_TRAP_SET:-}" ]; then
			_PEER_TRAP_SET=1
			trap_chain _peer_cleanup
		fi
	fi
}

# _peer_run LOG CMD...: CMD bounded, with its output in LOG; on failure the
# output is shown.
_peer_run() {
	local log=$1 rc
	shift
	timeout -k 5 "$PEER_TIMEOUT" "$@" >"$log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		_peer_err "$1 failed (exit $rc):"
		sed 's/^/    /' "$log" >&2
		return 1
	fi
}

peer_mbsync_sync() {
	local maildir=$1 extra=${2:-} rc
	[ -n "${DC_PORT_IMAPS:-}" ] || { _peer_err "no DC_PORT_IMAPS: dc_start first"; return 1; }
	_peer_home PEER_MBSYNC_HOME
	mkdir -p "$maildir"
	cat >"$PEER_MBSYNC_HOME/.mbsyncrc" <<EOF
IMAPAccount gm
Host localhost
Port $DC_PORT_IMAPS
User $DC_USER
Pass $DC_PASS
SSLType IMAPS
CertificateFile $DC_CA
AuthMechs LOGIN

IMAPStore far
Account gm

MaildirStore near
Path $maildir/
Inbox $maildir/INBOX
SubFolders Verbatim

Channel gm
Far :far:
Near :near:
Patterns *
Create Near
Expunge Both
$extra
EOF
	HOME=$PEER_MBSYNC_HOME _peer_run "$PEER_MBSYNC_HOME/last.log" \
		mbsync -c "$PEER_MBSYNC_HOME/.mbsyncrc" -a
	rc=$?
	return $rc
}

peer_offlineimap_sync() {
	local maildir=$1 extra=${2:-}
	[ -n "${DC_PORT_IMAPS:-}" ] || { _peer_err "no DC_PORT_IMAPS: dc_start first"; return 1; }
	_peer_home PEER_OFFLINEIMAP_HOME
	mkdir -p "$maildir"
	cat >"$PEER_OFFLINEIMAP_HOME/.offlineimaprc" <<EOF
[general]
accounts = gm
metadata = $PEER_OFFLINEIMAP_HOME/.offlineimap
ui = basic

[Repository local]
type = Maildir
localfolders = $maildir
sep = /

# offlineimap checks the certificate's DNS names only, never an IP
# address: the harness certificate names localhost.
[Repository remote]
type = IMAP
remotehost = localhost
remoteport = $DC_PORT_IMAPS
ssl = yes
sslcacertfile = $DC_CA
remoteuser = $DC_USER
remotepass = $DC_PASS

[Account gm]
localrepository = local
remoterepository = remote
$extra
EOF
	HOME=$PEER_OFFLINEIMAP_HOME _peer_run "$PEER_OFFLINEIMAP_HOME/last.log" \
		offlineimap -c "$PEER_OFFLINEIMAP_HOME/.offlineimaprc" -o -u basic
}
