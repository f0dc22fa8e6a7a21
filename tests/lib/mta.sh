# shellcheck shell=bash
# Throwaway Postfix (3.7, Debian) submission server for the integration
# tests, delivering over LMTP into the test Dovecot (tests/lib/dovecot.sh).
# Source it from bash (after or instead of dovecot.sh: it sources that):
#
#   source tests/lib/mta.sh
#   mta_prepare || exit 1                  # ports, paths, MTA_DOVECOT_CONF
#   dc_start --conf "$MTA_DOVECOT_CONF" || exit 1   # Dovecot + LMTP + SASL
#   mta_start || exit 1                    # Postfix; exports the MTA_* below
#   ... client submits to $MTA_HOST:$MTA_PORT_STARTTLS or :$MTA_PORT_TLS ...
#   mta_wait_delivered alice 1             # bounded wait for alice's INBOX
#   mta_stop; mta_start                    # "server down", same ports again
#
# Needs root (Postfix's master starts as root and runs its daemons as the
# system user "postfix") and the Debian packages postfix and dovecot-lmtpd
# (tests/deps.sh). Nothing of /etc/postfix is read or written and the system
# service is never involved: /usr/lib/postfix/sbin/master -c $MTA_DIR/conf
# runs the instance (root may point it at any config directory; the
# alternate_config_directories check is for unprivileged callers). All of
# its files are under MTA_DIR: conf/ (main.cf, master.cf), queue/, data/.
# One instance per shell. Safe under `set -u` and `set -e`.
#
# Exported by mta_prepare (mta_start calls it if it was not called):
#   MTA_DIR            temp dir (mktemp -d /tmp/gm.XXXXXX); survives mta_stop
#                      (so does the queue, as on a real server), removed by
#                      mta_cleanup (the EXIT trap)
#   MTA_LMTP_PORT      the port of Dovecot's LMTP listener (127.0.0.1)
#   MTA_SASL_SOCKET    the path of Dovecot's auth-client socket for Postfix
#                      (smtpd_sasl_type = dovecot), in MTA_DIR/sasl (1777)
#   MTA_DOVECOT_CONF   dovecot.conf lines for those two: pass them to
#                      dc_start --conf (or append them to DC_CONF_EXTRA)
#   MTA_PORT_STARTTLS MTA_PORT_TLS   picked now unless already set
# Read by mta_start: MTA_SIZE_LIMIT (default 10485760), MTA_DELIVERY (lmtp,
# the default, or lda: see below).
# Exported by mta_start:
#   MTA_HOST           127.0.0.1 (the only address it listens on, IPv4 only)
#   MTA_PORT_STARTTLS  submission style: plain connect, STARTTLS offered and
#                      required before AUTH (not even offered before it) and
#                      before MAIL (530 5.7.0)
#   MTA_PORT_TLS       implicit TLS from the first byte (like 465)
#   MTA_LOG            Postfix's log (maillog_file, via postlogd)
#   MTA_PID            the master's pid (its own session and process group)
# Both ports: certificate signed by $DC_CA (the running Dovecot's CA), valid
# for DNS:localhost and IP:127.0.0.1, TLS >= 1.2; AUTH PLAIN and LOGIN
# checked by Dovecot (alice/alice-secret, bob/bob-secret; a wrong password:
# 535 5.7.8); EHLO announces SIZE $MTA_SIZE_LIMIT (default 10485760 =
# message_size_limit), 8BITMIME, SMTPUTF8. Only authenticated clients may
# send (MAIL/RCPT otherwise: 530/554). Every recipient user@anydomain goes
# over LMTP to Dovecot user "user" (the domain is stripped by Dovecot's
# LMTP), INBOX; delivery takes ~0.1 s. An unknown user (carol@x) is
# rejected by Dovecot at delivery time and Postfix then sends a bounce to
# the envelope sender, which (being user@domain) lands in that user's INBOX
# too. Postfix leaves the message as sent (no header rewriting, no line
# folding, no Message-ID/Date added) except for its own Received: header on
# top; Dovecot's LMTP adds Return-Path: and Delivered-To: above that. So the
# body arrives byte for byte (stored with LF line ends, as dovecot.sh says).
# With Dovecot down, mail waits in the queue and is retried every ~1-2 s
# (queue_run_delay / backoff times of 1 s).
# If MTA_PORT_STARTTLS / MTA_PORT_TLS are set when mta_start runs, they are
# reused (a restart on the same ports). Set MTA_SIZE_LIMIT before mta_start.
#
# SMTPUTF8 and LMTP: Dovecot 2.3's LMTP does not offer SMTPUTF8, and Postfix
# bounces (5.6.7, "SMTPUTF8 is required, but was not offered") a message
# submitted with MAIL FROM ... SMTPUTF8 whose envelope or headers hold
# non-ASCII (raw UTF-8); ASCII-only mail is delivered even with SMTPUTF8.
# For such tests set MTA_DELIVERY=lda before mta_start: Postfix then delivers
# through its pipe(8) agent running /usr/lib/dovecot/dovecot-lda -c $DC_CONF
# -d USER (as Dovecot's run user; Return-Path: added, no Delivered-To:),
# which takes anything. In lda mode the MTA uses the DC_CONF it saw at
# mta_start: after dc_stop/dc_start, mta_stop/mta_start too. (In LMTP mode
# the LMTP port and the SASL socket stay the same across a Dovecot restart
# with the same MTA_DOVECOT_CONF, but the certificate chains to the old
# DC_CA until mta_start.) With Dovecot down, queued mail waits (retried every
# 1-2 s), and new sessions break off (connection closed, no reply) where
# Postfix's smtpd first needs the SASL socket and exits: on MTA_PORT_TLS
# right after the handshake, on MTA_PORT_STARTTLS after STARTTLS (greeting
# and EHLO still work). ~0.5 s after dc_start they work again.
#
# Functions:
#   mta_prepare            see above; chains mta_cleanup into the EXIT trap
#   mta_start              starts Postfix (~0.3 s); fails (with its log on
#                          stderr) unless both ports answer 220
#   mta_stop               SIGTERM to the master, <= 10 s for its process
#                          group to go, then SIGKILL to the group; keeps
#                          MTA_DIR and the ports (mta_start again reuses them)
#   mta_cleanup            mta_stop + removes MTA_DIR (the EXIT trap; keeps $?)
#   mta_wait_delivered USER N [TIMEOUT]   waits (default 10 s) until USER's
#                          INBOX on the test Dovecot holds exactly N messages;
#                          fails at once if it holds more
#   mta_queue_count        messages in Postfix's queue (all queues; 0 = all
#                          delivered or bounced)
#   mta_postconf ARGS...   postconf -c $MTA_DIR/conf ARGS (e.g. to read a
#                          setting; changes need mta_stop + mta_start)
# A detached watchdog stops the instance and removes MTA_DIR within ~2 s if
# the calling shell dies without cleanup (even by SIGKILL).

# shellcheck disable=SC2016 # single-quoted bash -c scripts are intended
_MTA_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! declare -F dc_start >/dev/null; then
	# shellcheck source=tests/lib/dovecot.sh
	source "$_MTA_LIB_DIR/dovecot.sh"
fi
MTA_POSTFIX_DIR=${MTA_POSTFIX_DIR:-/usr/lib/postfix/sbin}
MTA_SIZE_LIMIT=${MTA_SIZE_LIMIT:-10485760}

_mta_err() { echo "mta.sh: $*" >&2; }

# mta_prepare: MTA_DIR, the LMTP port, the SASL socket path, the two
# submission ports (unless set) and MTA_DOVECOT_CONF. Idempotent.
mta_prepare() {
	local ports
	if [ -n "${MTA_DIR:-}" ] && [ -d "$MTA_DIR" ] &&
		[ -n "${MTA_DOVECOT_CONF:-}" ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		_mta_err "Postfix needs root (its master starts as root)"
		return 1
	fi
	if [ ! -x "$MTA_POSTFIX_DIR/master" ]; then
		_mta_err "no $MTA_POSTFIX_DIR/master: apt-get install postfix (tests/deps.sh)"
		return 1
	fi
	MTA_DIR=$(mktemp -d /tmp/gm.XXXXXX) || return 1
	export MTA_DIR
	trap_chain mta_cleanup
	trap_exit_on_signals
	chmod 755 "$MTA_DIR"
	# Dovecot (running as nobody) creates the socket here; Postfix's smtpd
	# (user postfix) connects to it: hence sticky world-writable, socket 0666.
	mkdir -p "$MTA_DIR/sasl" "$MTA_DIR/conf" "$MTA_DIR/queue" "$MTA_DIR/data"
	chmod 1777 "$MTA_DIR/sasl"
	ports=$(_dc_free_ports 3) || return 1
	export MTA_LMTP_PORT=${ports%%$'\n'*}
	ports=${ports#*$'\n'}
	export MTA_PORT_STARTTLS=${MTA_PORT_STARTTLS:-${ports%%$'\n'*}}
	export MTA_PORT_TLS=${MTA_PORT_TLS:-${ports#*$'\n'}}
	export MTA_SASL_SOCKET=$MTA_DIR/sasl/auth
	export MTA_LOG=$MTA_DIR/maillog
	export MTA_HOST=127.0.0.1
	# auth_username_format in protocol lmtp: Postfix passes the recipient
	# as alice@example.test; the passwd-file knows "alice".
	MTA_DOVECOT_CONF=$(
		cat <<EOF
# Added by tests/lib/mta.sh: LMTP for Postfix's deliveries, SASL for its smtpd.
protocols = imap lmtp
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $MTA_LMTP_PORT
  }
}
service auth {
  unix_listener $MTA_SASL_SOCKET {
    mode = 0666
  }
}
protocol lmtp {
  auth_username_format = %Ln
  postmaster_address = postmaster@example.test
}
EOF
	)
	export MTA_DOVECOT_CONF
	_mta_start_watchdog
	return 0
}

# _mta_write_conf: main.cf and master.cf under $MTA_DIR/conf.
_mta_write_conf() {
	local d=$MTA_DIR transport=lmtp:inet:127.0.0.1:$MTA_LMTP_PORT
	if [ "${MTA_DELIVERY:-lmtp}" = lda ]; then transport=dovecot; fi
	_MTA_LDA_USER=$(id -nu "$(stat -c %u "$DC_CONF")")
	cat >"$d/conf/main.cf" <<EOF
# Generated by tests/lib/mta.sh: a throwaway submission server.
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $MTA_LOG
maillog_file_prefixes = $d
syslog_name = gm-postfix

# Loopback, IPv4, no DNS at all (this machine resolves no outside names).
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.gmaildir.test
mydomain = gmaildir.test
myorigin = \$myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no
disable_vrfy_command = yes
biff = no
append_dot_mydomain = no

# Every domain goes to Dovecot's LMTP.
default_transport = $transport
relay_transport = $transport
lmtp_line_length_limit = 0
# No cached LMTP connections either (same reason as smtpd max_use=1).
lmtp_cache_connection = no
lmtp_connection_cache_on_demand = no

# Submission only: authenticated clients may send anywhere, nobody else.
mynetworks = 127.0.0.1/32
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $MTA_SASL_SOCKET
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_tls_cert_file = $d/server.pem
smtpd_tls_key_file = $d/server.key
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_loglevel = 1

# What EHLO announces and what is kept as sent.
message_size_limit = $MTA_SIZE_LIMIT
mailbox_size_limit = 0
smtputf8_enable = yes
local_header_rewrite_clients =
always_add_missing_headers = no

# Tests: no delays anywhere.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
in_flow_delay = 0
# An smtpd that cannot reach Dovecot's auth socket exits at once; the master
# then throttles the service, 60 s by default: 1 s, for tests that stop and
# start Dovecot.
service_throttle_time = 1s
EOF
	# chroot (5th column) off everywhere: the instance lives in /tmp.
	# smtpd max_use=1: an smtpd keeps its connection to Dovecot's auth
	# socket, and a Dovecot auth process with a client does not exit on
	# dc_stop (10 s, then SIGKILL): each smtpd serves one session and goes.
	cat >"$d/conf/master.cf" <<EOF
# service             type  private unpriv chroot wakeup maxproc command
127.0.0.1:$MTA_PORT_STARTTLS inet n - n - - smtpd -o max_use=1
127.0.0.1:$MTA_PORT_TLS inet n - n - - smtpd -o max_use=1 -o smtpd_tls_wrappermode=yes
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 1 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
dovecot   unix  - n n - - pipe flags=Rhqu user=$_MTA_LDA_USER argv=/usr/lib/dovecot/dovecot-lda -c $DC_CONF -d \${user} -f \${sender}
EOF
	# Postfix waits (0.3 s steps, ~2 s) for a main.cf younger than a second
	# or two to "settle": make them look old.
	touch -d '-1 minute' "$d/conf/main.cf" "$d/conf/master.cf"
}

# _mta_make_queue: the queue and data directories with the owners and modes
# that `postfix check` (post-install) would give them, which takes ~2 s.
_mta_make_queue() {
	local q=$MTA_DIR/queue d
	for d in active bounce corrupt defer deferred flush hold incoming private \
		saved trace; do
		mkdir -p "$q/$d"
		chown postfix:root "$q/$d"
		chmod 700 "$q/$d"
	done
	mkdir -p "$q/maildrop" "$q/public" "$q/pid"
	chown postfix:postdrop "$q/maildrop" "$q/public"
	chmod 730 "$q/maildrop"
	chmod 710 "$q/public"
	chown root:root "$q" "$q/pid"
	chmod 755 "$q" "$q/pid"
	chown postfix: "$MTA_DIR/data"
	chmod 700 "$MTA_DIR/data"
}

# _mta_master_pid: the master's pid from its pid file (empty if none).
_mta_master_pid() {
	local f=${MTA_DIR:-/nonexistent}/queue/pid/master.pid
	if [ -s "$f" ]; then tr -dc 0-9 <"$f"; fi
	return 0
}

# _mta_wait_220 PORT tls|plain SECONDS: until PORT greets with 220.
_mta_wait_220() {
	timeout "$3" "$DC_PYTHON" - "$1" "$2" <<'EOF' 2>/dev/null
import socket, ssl, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        if mode == "tls":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        line = s.makefile("rb").readline()
        s.sendall(b"QUIT\r\n")
        s.close()
        if line.startswith(b"220 "):
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
EOF
}

_mta_fail_start() {
	_mta_err "$1; postfix log follows"
	if [ -f "${MTA_LOG:-}" ]; then sed 's/^/# maillog: /' "$MTA_LOG" >&2; fi
	if [ -f "$MTA_DIR/master.out" ]; then
		sed 's/^/# master: /' "$MTA_DIR/master.out" >&2
	fi
	mta_stop
	return 1
}

# mta_start: (re)starts Postfix on MTA_PORT_STARTTLS / MTA_PORT_TLS.
mta_start() {
	local pid
	mta_prepare || return 1
	if [ -n "$(_mta_pids)" ]; then
		_mta_err "already running (pid ${MTA_PID:-?}): mta_stop first"
		return 1
	fi
	if [ -z "${DC_DIR:-}" ] || [ ! -f "$DC_DIR/ca.key" ]; then
		_mta_err "start the test Dovecot first (dc_start --conf \"\$MTA_DOVECOT_CONF\")"
		return 1
	fi
	# A fresh certificate each time: it must chain to the running Dovecot's CA.
	if ! _dc_sign_server_cert "$MTA_DIR" "" "$DC_DIR"; then
		_mta_err "certificate generation failed"
		return 1
	fi
	chmod 600 "$MTA_DIR/server.key"
	_mta_write_conf
	: >>"$MTA_LOG"
	: >"$MTA_DIR/master.out"
	_mta_make_queue
	rm -f "$MTA_DIR/queue/pid/master.pid"
	# -w: the master daemonizes (own session = its own process group) and
	# this returns once its initialization is done (pid file written).
	if ! timeout 20 "$MTA_POSTFIX_DIR/master" -c "$MTA_DIR/conf" -w \
		</dev/null >>"$MTA_DIR/master.out" 2>&1; then
		_mta_fail_start "postfix master failed to start"
		return 1
	fi
	pid=$(_mta_master_pid)
	if [ -z "$pid" ]; then
		_mta_fail_start "postfix master wrote no pid file"
		return 1
	fi
	export MTA_PID=$pid
	if ! _mta_wait_220 "$MTA_PORT_STARTTLS" plain 10; then
		_mta_fail_start "no 220 greeting on port $MTA_PORT_STARTTLS within 10 s"
		return 1
	fi
	if ! _mta_wait_220 "$MTA_PORT_TLS" tls 10; then
		_mta_fail_start "no 220 greeting over TLS on port $MTA_PORT_TLS within 10 s"
		return 1
	fi
	return 0
}

# _mta_pids: live processes of the master's process group (not zombies).
_mta_pids() {
	if [ -n "${MTA_PID:-}" ]; then
		ps -eo pid=,pgid=,stat= |
			awk -v g="$MTA_PID" '$2 == g && $3 !~ /^Z/ { print $1 }'
	fi
	return 0
}

# mta_stop: SIGTERM to the master, <= 10 s, then SIGKILL to its group.
mta_stop() {
	local pid _
	pid=$(_mta_master_pid)
	if [ -z "$pid" ]; then pid=${MTA_PID:-}; fi
	if [ -n "$pid" ] && grep -qF -- "$MTA_DIR/conf" "/proc/$pid/cmdline" 2>/dev/null; then
		MTA_PID=$pid
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			if [ -z "$(_mta_pids)" ]; then break; fi
			sleep 0.1
		done
		if [ -n "$(_mta_pids)" ]; then
			_mta_err "postfix did not stop within 10 s: SIGKILL"
			kill -KILL -- "-$pid" 2>/dev/null || true
			sleep 0.2
		fi
	fi
	if [ -n "${MTA_DIR:-}" ]; then rm -f "$MTA_DIR/queue/pid/master.pid"; fi
	unset MTA_PID
	return 0
}

# mta_cleanup: mta_stop, then removes MTA_DIR (EXIT trap; keeps $?).
mta_cleanup() {
	local rc=$?
	trap '' HUP INT TERM
	if [ -n "${MTA_DIR:-}" ]; then
		mta_stop >/dev/null 2>&1 || true
		if [ -n "${_MTA_WATCHDOG_PID:-}" ]; then
			kill -- "-$_MTA_WATCHDOG_PID" 2>/dev/null ||
				kill "$_MTA_WATCHDOG_PID" 2>/dev/null || true
			wait "$_MTA_WATCHDOG_PID" 2>/dev/null || true
		fi
		rm -rf "$MTA_DIR"
	fi
	unset MTA_DIR MTA_DOVECOT_CONF MTA_SASL_SOCKET MTA_LMTP_PORT MTA_LOG \
		_MTA_WATCHDOG_PID
	return "$rc"
}

# A detached watchdog: once the shell that called mta_prepare is gone while
# MTA_DIR still exists, it stops the master (only if it runs with this
# config) and removes MTA_DIR; it exits by itself once MTA_DIR is gone.
_mta_start_watchdog() {
	local parent=$BASHPID
	setsid bash -c '
		parent=$1 dir=$2
		while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
		[ -d "$dir" ] || exit 0
		master=$(tr -dc 0-9 <"$dir/queue/pid/master.pid" 2>/dev/null)
		if [ -n "$master" ] && grep -qF -- "$dir/conf" "/proc/$master/cmdline" 2>/dev/null; then
			kill -TERM "$master" 2>/dev/null
			for _ in $(seq 100); do
				ps -eo pgid=,stat= | grep -qE "^ *$master +[^Z]" || break
				sleep 0.1
			done
			kill -KILL -- "-$master" 2>/dev/null
		fi
		rm -rf "$dir"
	' mta-watchdog "$parent" "$MTA_DIR" </dev/null >/dev/null 2>&1 &
	_MTA_WATCHDOG_PID=$!
}

# mta_wait_delivered USER N [TIMEOUT]: until USER's INBOX holds N messages.
mta_wait_delivered() {
	local user=$1 want=$2 secs=${3:-10} n end
	end=$(($(date +%s%N) + secs * 1000000000))
	while :; do
		n=$(dc_status_field "$user" INBOX messages 2>/dev/null) || n=
		if [ -n "$n" ] && [ "$n" -eq "$want" ]; then return 0; fi
		if [ -n "$n" ] && [ "$n" -gt "$want" ]; then
			_mta_err "mta_wait_delivered: $user's INBOX holds $n messages, not $want"
			return 1
		fi
		if [ "$(date +%s%N)" -ge "$end" ]; then
			_mta_err "mta_wait_delivered: $user's INBOX holds ${n:-?} messages after ${secs} s, not $want (queue: $(mta_queue_count))"
			return 1
		fi
		sleep 0.1
	done
}

# mta_queue_count: messages in any of Postfix's queues.
mta_queue_count() {
	local q=$MTA_DIR/queue
	find "$q/maildrop" "$q/incoming" "$q/active" "$q/deferred" "$q/hold" \
		-type f 2>/dev/null | wc -l
}

# mta_postconf ARGS...: postconf for this instance.
mta_postconf() { postconf -c "$MTA_DIR/conf" "$@"; }
