#!/usr/bin/env bash
# Proves the network-change harness: tests/lib/netns.sh (two namespaces and
# a veth: link down/up, blackhole), Dovecot inside one of them
# (tests/lib/dovecot.sh DC_NETNS/DC_LISTEN), its connection counter
# (dc_conn_*), and the server that never answers (tests/lib/stall.sh).
# Skips (one "ok - skipped: ...", exit 0) where namespaces cannot be made.
# shellcheck disable=SC2016 # single-quoted python and bash -c scripts
# shellcheck disable=SC2119 # dc_start takes its options from the environment
# shellcheck source-path=SCRIPTDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/../lib
# shellcheck source=../lib/tap.sh
source "$lib/tap.sh"
# shellcheck source=../lib/netns.sh
source "$lib/netns.sh"
# shellcheck source=../lib/dovecot.sh
source "$lib/dovecot.sh"
# shellcheck source=../lib/stall.sh
source "$lib/stall.sh"

if ! why=$(ns_available 2>&1); then
	ok "skipped: ${why#netns.sh: }"
	exit 0
fi

work=$(mktemp -d /tmp/gd-t.XXXXXX)
trap 'rm -rf "$work"' EXIT # the libraries chain their cleanups after this
chmod 755 "$work"

# probe.py: one TCP connect (then optionally TLS, verified against a CA,
# host name = the IP). Prints "ok", "errno N" or "timeout", then the ms.
cat >"$work/probe.py" <<'EOF'
import socket, ssl, sys, time
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ca = sys.argv[4] if len(sys.argv) > 4 else None
t = time.monotonic()
try:
    s = socket.create_connection((host, port), timeout=limit)
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
        s = ctx.wrap_socket(s, server_hostname=host)
        s.settimeout(limit)
        line = s.recv(100)
        if not line.startswith(b"* OK"):
            raise SystemExit("no greeting: %r" % line)
    print("ok", end="")
except socket.timeout:
    print("timeout", end="")
except OSError as e:
    print("errno %s" % e.errno, end="")
print(" %d" % ((time.monotonic() - t) * 1000))
EOF
# probe [ARGS...]: probe.py from the client namespace.
probe() { ns_exec_cli "$DC_PYTHON" "$work/probe.py" "$@" 2>&1; }
word() { printf '%s\n' "${1%% *}"; }
ms_of() { printf '%s\n' "${1##* }"; }
lacks() { [[ $2 != *"$1"* ]]; } # lacks NEEDLE HAYSTACK
in_root_ns() { [ -z "$(ip netns identify "$BASHPID" 2>/dev/null)" ]; }
gone_ns() { ! ip netns list | grep -qw -- "$1"; }
stopped() { ! kill -0 "$1" 2>/dev/null; }
fails() { ! "$@" >/dev/null 2>&1; }

# ---------------------------------------------------------------- netns
check "ns_available" ns_available
if ! ns_setup; then
	not_ok "ns_setup"
	tap_done
	exit 1
fi
ok "ns_setup ($NS_SRV, $NS_CLI: $NS_SRV_IP - $NS_CLI_IP)"
srv_ns=$NS_SRV cli_ns=$NS_CLI srv_if=$NS_SRV_IF cli_if=$NS_CLI_IF
check "namespaces exist" ip netns exec "$NS_SRV" true
check "names carry this run's pid" test "${NS_SRV#gd-"$(printf %x $$)"}" != "$NS_SRV"
check "veth ends only inside their namespace" \
	lacks "$NS_CLI_IF" "$(ip -o link show)"
check_eq "server end as named inside" "$NS_SRV_IF" \
	"$(ip -n "$NS_SRV" -o link show dev "$NS_SRV_IF" | awk '{ print $2 }' | cut -d@ -f1)"
check "lo up in both" test "$(ip -n "$NS_SRV" -o link show lo | grep -c LOWER_UP)$(
	ip -n "$NS_CLI" -o link show lo | grep -c LOWER_UP)" = 11
check "the subnet is no host address" lacks "${NS_SRV_IP%.*}." "$(ip -o -4 addr show)"
check "still in the root namespace" in_root_ns

# ---------------------------------------------------------------- dovecot
t0=$(date +%s%N)
if ! DC_NETNS=$NS_SRV DC_LISTEN=$NS_SRV_IP dc_start; then
	not_ok "dc_start in $NS_SRV"
	tap_done
	exit 1
fi
ok "dc_start in $NS_SRV ($((($(date +%s%N) - t0) / 1000000)) ms)"
check_eq "DC_HOST is the listen address" "$NS_SRV_IP" "$DC_HOST"
check_eq "the master runs in $NS_SRV" "$NS_SRV" \
	"$(ip netns identify "$_DC_MASTER_PID" 2>/dev/null)"
check_contains "the certificate carries IP:$NS_SRV_IP" "IP Address:$NS_SRV_IP" \
	"$(openssl x509 -in "$DC_DIR/server.pem" -noout -ext subjectAltName 2>&1)"
check "conf listens on nothing else" lacks 127.0.0.1 "$(grep -E 'listen|address' "$DC_CONF")"

# doveadm from the root namespace: unix sockets and paths.
check "doveadm from the root namespace: mkfolder" dc_mkfolder "$DC_USER" Net/Test
check_contains "... and folders" "Net/Test" "$(dc_folders "$DC_USER")"
printf 'Subject: hi\nFrom: a@b.test\n\nbody\n' >"$work/m.eml"
check_eq "... and save, uids" "1" "$(dc_add "$DC_USER" INBOX "$work/m.eml")"
check_eq "... and who (anvil)" "0" "$(dc_conn_who "$DC_USER")"

r=$(probe "$DC_HOST" "$DC_PORT_IMAPS" 5 "$DC_CA")
check_eq "imaps from $NS_CLI: verified TLS (python ssl, host = IP), greeting" ok "$(word "$r")"
s=$(printf '%s\n' "a LOGIN $DC_USER $DC_PASS" 'z LOGOUT' |
	DC_CLIENT_NETNS=$NS_CLI dc_imap imaps -verify_ip "$NS_SRV_IP" 2>/dev/null)
check_contains "imaps from $NS_CLI: openssl -verify_ip, LOGIN ok" "a OK" "$s"
s=$(printf '%s\n' "a LOGIN $DC_USER $DC_PASS" 'z LOGOUT' |
	DC_CLIENT_NETNS=$NS_CLI dc_imap imaps -verify_ip 10.1.2.3 2>/dev/null)
check "... a wrong IP fails verification" lacks "a OK" "$s"
s=$(printf '%s\n' "a LOGIN $DC_USER $DC_PASS" 'z LOGOUT' | dc_imap imaps 2>/dev/null)
check_contains "dc_imap by default from the server's namespace" "a OK" "$s"
r=$(timeout 5 "$DC_PYTHON" "$work/probe.py" "$DC_HOST" "$DC_PORT_IMAPS" 1 2>&1)
check "unreachable from the root namespace" test "$(word "$r")" != ok

# ---------------------------------------------------------------- link
check "ns_link_down" ns_link_down
r=$(probe "$DC_HOST" "$DC_PORT_IMAPS" 5)
check_eq "link down: connect fails with ENETUNREACH" "errno 101" "${r% *}"
check "... at once (< 500 ms: $(ms_of "$r") ms)" test "$(ms_of "$r")" -lt 500
t0=$(date +%s%N)
check "ns_link_up" ns_link_up
ms=$((($(date +%s%N) - t0) / 1000000))
check "... within its bound ($ms ms)" test "$ms" -lt 5500
r=$(probe "$DC_HOST" "$DC_PORT_IMAPS" 5 "$DC_CA")
check_eq "link up: verified imaps again" ok "$(word "$r")"
check_contains "address kept" "$NS_CLI_IP/" "$(ip -n "$NS_CLI" -o -4 addr show dev "$NS_CLI_IF")"
# The kernel's own cleanup undone by ns_link_up: address flushed while down.
ns_link_down
ip -n "$NS_CLI" addr flush dev "$NS_CLI_IF"
check "ns_link_up after the address was flushed" ns_link_up
check_contains "... address back" "$NS_CLI_IP/" "$(ip -n "$NS_CLI" -o -4 addr show dev "$NS_CLI_IF")"
r=$(probe "$DC_HOST" "$DC_PORT_IMAPS" 5 "$DC_CA")
check_eq "... verified imaps again" ok "$(word "$r")"

# ---------------------------------------------------------------- blackhole
check "ns_blackhole_on" ns_blackhole_on
r=$(probe "$DC_HOST" "$DC_PORT_IMAPS" 2)
check_eq "blackhole: connect hangs (bounded: 2 s timeout)" timeout "$(word "$r")"
check_contains "... link still up" LOWER_UP "$(ip -n "$NS_CLI" -o link show dev "$NS_CLI_IF")"
check_contains "... route still there" "dev $NS_CLI_IF" "$(ip -n "$NS_CLI" route get "$NS_SRV_IP")"
ns_link_down
ns_link_up
r=$(probe "$DC_HOST" "$DC_PORT_IMAPS" 1)
check_eq "... and survives a link down/up" timeout "$(word "$r")"
check "ns_blackhole_off" ns_blackhole_off
r=$(probe "$DC_HOST" "$DC_PORT_IMAPS" 5 "$DC_CA")
check_eq "blackhole off: verified imaps again" ok "$(word "$r")"
# An open session hangs too: after the blackhole, NOOP gets no answer.
ns_exec_cli timeout 20 "$DC_PYTHON" - "$DC_HOST" "$DC_PORT_IMAPS" "$DC_CA" \
	"$DC_USER" "$DC_PASS" "$work" >"$work/session.out" 2>&1 <<'EOF' &
import imaplib, os, socket, ssl, sys, time
host, port, ca, user, pw, work = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
c = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=10)
c.login(user, pw)
print("noop:%s" % c.noop()[0], end=" ")
open(os.path.join(work, "session-ready"), "w").close()
end = time.monotonic() + 10
while not os.path.exists(os.path.join(work, "session-go")) and time.monotonic() < end:
    time.sleep(0.05)
c.sock.settimeout(2)
try:
    c.noop()
    print("answered")
except (socket.timeout, TimeoutError):
    print("hung")
EOF
spid=$!
for _ in $(seq 200); do
	[ -e "$work/session-ready" ] && break
	sleep 0.05
done
ns_blackhole_on
touch "$work/session-go"
wait "$spid"
check_eq "an open session hangs in the blackhole" "noop:OK hung" "$(cat "$work/session.out")"
check "ns_blackhole_off again" ns_blackhole_off
r=$(probe "$DC_HOST" "$DC_PORT_IMAPS" 5 "$DC_CA")
check_eq "... verified imaps again" ok "$(word "$r")"
# The client's FIN, dropped in the blackhole, is retransmitted: the server
# sees the end within seconds.
check "the hung session ends on the server" dc_conn_wait "$DC_USER" 0 20

# ---------------------------------------------------------------- connections
# logins.py N MODE: N logins from the client; MODE "together" holds them
# all open until the file $work/go exists (after writing $work/held),
# "serial" logs each in and out before the next.
cat >"$work/logins.py" <<'EOF'
import imaplib, os, ssl, sys, time
n, mode, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
host, port = os.environ["DC_HOST"], int(os.environ["DC_PORT_IMAPS"])
ctx = ssl.create_default_context(cafile=os.environ["DC_CA"])
def login():
    c = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=10)
    c.login(os.environ["DC_USER"], os.environ["DC_PASS"])
    return c
if mode == "together":
    cs = [login() for _ in range(n)]
    open(os.path.join(work, "held"), "w").close()
    end = time.monotonic() + 20
    while not os.path.exists(os.path.join(work, "go")) and time.monotonic() < end:
        time.sleep(0.05)
    for c in cs:
        c.logout()
else:
    for _ in range(n):
        login().logout()
print("done")
EOF
export DC_HOST DC_PORT_IMAPS DC_CA DC_USER DC_PASS
check "dc_conn_max_start" dc_conn_max_start "$DC_USER"
ns_exec_cli timeout 30 "$DC_PYTHON" "$work/logins.py" 3 together "$work" \
	>"$work/logins.out" 2>&1 &
lpid=$!
for _ in $(seq 200); do
	[ -e "$work/held" ] && break
	sleep 0.05
done
check "three logins held" test -e "$work/held"
check_eq "dc_conn_now while held" 3 "$(dc_conn_now "$DC_USER")"
check_eq "dc_conn_who while held" 3 "$(dc_conn_who "$DC_USER")"
check_eq "dc_conn_now of the other user" 0 "$(dc_conn_now "$DC_USER2")"
touch "$work/go"
wait "$lpid"
check_contains "logins.py done" "done" "$(cat "$work/logins.out")"
check_eq "dc_conn_max_stop: 3 at once" 3 "$(dc_conn_max_stop "$DC_USER")"
check "dc_conn_wait to 0" dc_conn_wait "$DC_USER" 0 5
check_eq "dc_conn_now after" 0 "$(dc_conn_now "$DC_USER")"
check_eq "dc_conn_who after" 0 "$(dc_conn_who "$DC_USER")"
dc_conn_max_start "$DC_USER"
s=$(ns_exec_cli timeout 30 "$DC_PYTHON" "$work/logins.py" 4 serial "$work" 2>&1)
check_eq "four logins one after another: max 1" 1 "$(dc_conn_max_stop "$DC_USER")"
check "dc_conn_max_stop without a start fails" fails dc_conn_max_stop "$DC_USER"

# ---------------------------------------------------------------- stall
if stall_start --netns "$NS_SRV" --listen "$NS_SRV_IP"; then
	ok "stall_start in $NS_SRV (port $STALL_PORT)"
else
	not_ok "stall_start in $NS_SRV"
fi
check_eq "stall server runs in $NS_SRV" "$NS_SRV" "$(ip netns identify "$STALL_PID" 2>/dev/null)"
r=$(probe "$NS_SRV_IP" "$STALL_PORT" 2 "$DC_CA")
check_eq "stall: TCP accepted, TLS never answered (2 s timeout)" timeout "$(word "$r")"
r=$(probe "$NS_SRV_IP" "$STALL_PORT" 2)
check_eq "stall: TCP connect succeeds" ok "$(word "$r")"
check_eq "stall_count" 2 "$(stall_count)"
stall_pid1=$STALL_PID
stall_start --greet-then-stall --netns "$NS_SRV" --listen "$NS_SRV_IP"
check "stall_start again stops the first" stopped "$stall_pid1"
r=$(ns_exec_cli timeout 10 "$DC_PYTHON" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
g = s.recv(100)
s.sendall(b"a NOOP\r\n")
s.settimeout(1.5)
try:
    print(repr(g), repr(s.recv(100)))
except socket.timeout:
    print(repr(g), "stalled")' "$NS_SRV_IP" "$STALL_PORT" 2>&1)
check_eq "greet-then-stall: greeting, then nothing" "b'* OK ready\\r\\n' stalled" "$r"
check_eq "stall_count" 1 "$(stall_count)"
stall_pid2=$STALL_PID
stall_stop
check "stall_stop" stopped "$stall_pid2"
stall_start
check_eq "stall_start in the root namespace" "127.0.0.1" "$STALL_HOST"
r=$(timeout 5 "$DC_PYTHON" "$work/probe.py" 127.0.0.1 "$STALL_PORT" 1 "$DC_CA")
check_eq "... never answers TLS" timeout "$(word "$r")"
stall_stop

check "dovecot log has no errors" dc_log_check

# ---------------------------------------------------------------- cleanup
dc_conf=$DC_CONF dc_dir=$DC_DIR
dc_stop
ns_cleanup
check "ns_cleanup: $srv_ns gone" gone_ns "$srv_ns"
check "ns_cleanup: $cli_ns gone" gone_ns "$cli_ns"
check "no veth in the root namespace" lacks "$srv_if" "$(ip -o link show)"
check "... either end" lacks "$cli_if" "$(ip -o link show)"
check_eq "no dovecot left" "" "$(pgrep -f -- "-c $dc_conf" || true)"
check "DC_DIR removed" test ! -e "$dc_dir"
check "NS_* unset" test -z "${NS_SRV:-}${NS_CLI_IP:-}"
check "ns_cleanup again is harmless" ns_cleanup

# A shell killed by SIGKILL with everything running: the watchdogs clean up.
LIBDIR=$lib bash -c '
	source "$LIBDIR/netns.sh"; source "$LIBDIR/dovecot.sh"; source "$LIBDIR/stall.sh"
	ns_setup || exit 1
	DC_NETNS=$NS_SRV DC_LISTEN=$NS_SRV_IP dc_start || exit 1
	stall_start --netns "$NS_SRV" --listen "$NS_SRV_IP" || exit 1
	ns_exec_cli sleep 300 &
	sleep 300 &
	printf "%s\n" "$NS_SRV" "$NS_CLI" "$DC_DIR" "$DC_CONF" "$STALL_PID" $! >"$0/names"
	wait' "$work" </dev/null >/dev/null 2>&1 &
kpid=$!
for _ in $(seq 300); do
	[ -s "$work/names" ] && [ "$(wc -l <"$work/names")" -eq 6 ] && break
	sleep 0.05
done
if mapfile -t k <"$work/names" 2>/dev/null && [ "${#k[@]}" -eq 6 ]; then
	ok "a child shell set up namespaces, dovecot, a stall server"
else
	not_ok "a child shell set up namespaces, dovecot, a stall server"
	k=(none none /nonexistent none 0 0)
fi
kill -KILL "$kpid"
wait "$kpid" 2>/dev/null
t0=$(date +%s%N)
ns_ms=
for _ in $(seq 80); do
	if [ -z "$ns_ms" ] && gone_ns "${k[0]}" && gone_ns "${k[1]}"; then
		ns_ms=$((($(date +%s%N) - t0) / 1000000))
	fi
	if [ -n "$ns_ms" ] && [ ! -e "${k[2]}" ] &&
		! kill -0 "${k[4]}" 2>/dev/null &&
		[ -z "$(pgrep -f -- "-c ${k[3]}" || true)" ]; then
		break
	fi
	sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
check "SIGKILLed shell: namespaces gone" eval 'gone_ns "${k[0]}" && gone_ns "${k[1]}"'
check "... dovecot gone, DC_DIR removed" eval '[ ! -e "${k[2]}" ] && [ -z "$(pgrep -f -- "-c ${k[3]}")" ]'
check "... stall server gone" stopped "${k[4]}"
check "... namespaces within ~2 s (${ns_ms:-never} ms)" test "${ns_ms:-9999}" -lt 2500
# (Dovecot's own watchdog stops it the usual way: ~1.5 s after it noticed.)
check "... all of it within 5 s ($ms ms)" test "$ms" -lt 5000
# Its `sleep 300` outside any namespace is the test's own orphan: end it.
kill "${k[5]}" 2>/dev/null
check "no netns of this run left" eval '! ip netns list | grep -q "^gd-$(printf %x $$)"'

tap_done
