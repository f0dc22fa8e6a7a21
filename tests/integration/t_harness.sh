#!/usr/bin/env bash
# Proves the Dovecot test harness (tests/lib/dovecot.sh) and the mail
# generator (tests/lib/genmail.py) against a real, throwaway Dovecot.
# shellcheck disable=SC2016 # single quotes around flags and bash -c scripts
# shellcheck source-path=SCRIPTDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/../lib
# shellcheck source=../lib/tap.sh
source "$lib/tap.sh"
# shellcheck source=../lib/dovecot.sh
source "$lib/dovecot.sh"

work=$(mktemp -d /tmp/gd-t.XXXXXX)
trap 'rm -rf "$work"' EXIT # dc_start chains its cleanup after this

# Live (non-zombie) processes of the instance whose master pid is $1.
live_pids() {
	ps -eo pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'
}
# Processes running with config $1.
conf_procs() { pgrep -f -- "-c $1" || true; }
lacks() { [[ $2 != *"$1"* ]]; } # lacks NEEDLE HAYSTACK
no_cr() { ! grep -rq $'\r' "$1"; }
is_num() { [[ $1 =~ ^[0-9]+$ ]]; }
fails() { ! "$@" >/dev/null 2>&1; }

# ---------------------------------------------------------------- start
t0=$(date +%s%N)
if ! dc_start; then
	not_ok "dc_start"
	tap_done
	exit 1
fi
ms=$((($(date +%s%N) - t0) / 1000000))
ok "dc_start (${ms} ms)"
check "dc_start takes under 5 s" test "$ms" -lt 5000
main_dir=$DC_DIR main_conf=$DC_CONF main_pid=$_DC_MASTER_PID
check "DC_* variables set" test -n "$DC_DIR" -a -f "$DC_CONF" -a -f "$DC_CA" \
	-a -f "$DC_LOG" -a "$DC_HOST" = 127.0.0.1 -a -n "$DC_USER" -a -n "$DC_PASS" \
	-a -n "$DC_USER2" -a -n "$DC_PASS2"
check "ports are distinct numbers" is_num "$DC_PORT_IMAP$DC_PORT_IMAPS"
check "ports differ" test "$DC_PORT_IMAP" != "$DC_PORT_IMAPS"
check "temp dir path is short" test "${#DC_DIR}" -lt 30
check "config includes nothing from /etc" lacks /etc/ "$(cat "$DC_CONF")"
if [ "$(id -u)" -eq 0 ]; then
	check "as root, the instance runs unprivileged" \
		lacks root "$(ps -o user= -g "$main_pid")"
fi

# ---------------------------------------------------------------- TLS
login="a LOGIN $DC_USER $DC_PASS"
session=$(printf '%s\n' "$login" 'b CAPABILITY' 'c LIST "" "*"' \
	'z LOGOUT' | dc_imap imaps -verify_hostname localhost 2>"$work/err")
check_contains "imaps: verified TLS (CA, DNS:localhost), LOGIN ok" "a OK" "$session"
s2=$(printf '%s\n' "$login" 'z LOGOUT' | dc_imap imaps -verify_ip 127.0.0.1 2>/dev/null)
check_contains "imaps: certificate also valid for IP 127.0.0.1" "a OK" "$s2"
s3=$(printf '%s\n' "$login" 'z LOGOUT' |
	dc_imap imaps -verify_hostname other.test 2>/dev/null)
check "imaps: a wrong host name fails verification" lacks "a OK" "$s3"
other_ca=$work/other-ca.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$work/other-ca.key" -out "$other_ca" -days 1 -subj "/CN=other" \
	2>/dev/null
s4=$(printf '%s\n' "$login" 'z LOGOUT' | DC_CA=$other_ca dc_imap imaps 2>/dev/null)
check "imaps: an unknown CA fails verification" lacks "a OK" "$s4"

bad=$(printf '%s\n' "a LOGIN $DC_USER wrong-password" 'z LOGOUT' | dc_imap imaps 2>/dev/null)
check_contains "a wrong password: NO [AUTHENTICATIONFAILED]" "a NO [AUTHENTICATIONFAILED]" "$bad"
t0=$(date +%s%N)
s5=$(printf '%s\n' "$login" 'z LOGOUT' | dc_imap imaps 2>/dev/null)
ms=$((($(date +%s%N) - t0) / 1000000))
check_contains "the next good login works" "a OK" "$s5"
check "... without an auth penalty delay (${ms} ms)" test "$ms" -lt 2000

greeting=$(printf '%s\n' 'z LOGOUT' | dc_imap plain)
check_contains "plain port announces STARTTLS" "STARTTLS" "$greeting"
stls=$(printf '%s\n' "$login" 'b CAPABILITY' 'z LOGOUT' |
	dc_imap starttls -verify_hostname localhost 2>/dev/null)
check_contains "STARTTLS on the plain port: verified, LOGIN ok" "a OK" "$stls"

caps=$(grep '^\* CAPABILITY' <<<"$session" | tail -1)
for c in IDLE CONDSTORE QRESYNC SPECIAL-USE UIDPLUS MOVE ESEARCH; do
	check_contains "capability after login has $c" " $c " "$caps "
done

for f in Sent Drafts Trash Junk Archive; do
	check "LIST: $f is \\$f, delimiter /" \
		grep -Eq "^\* LIST \([^)]*\\\\${f}[ )].*\"/\" \"?${f}\"?\$" <<<"$session"
done

# ---------------------------------------------------------------- folders
check "dc_mkfolder A/B" dc_mkfolder "$DC_USER" "A/B"
check_eq "dc_folders" "$(printf '%s\n' A A/B Archive Drafts INBOX Junk Sent Trash)" \
	"$(dc_folders "$DC_USER")"
l=$(printf '%s\n' "$login" 'c LIST "" "A*"' 'z LOGOUT' | dc_imap imaps 2>/dev/null)
check "A/B is nested under A (\\HasChildren)" \
	grep -Eq '^\* LIST \(.*HasChildren.*\) "/" "?A"?$' <<<"$l"

# ---------------------------------------------------------------- genmail
"$DC_PYTHON" "$DC_GENMAIL" --count 30 --seed 42 --out "$work/g1" --list >"$work/g1.list"
"$DC_PYTHON" "$DC_GENMAIL" --count 30 --seed 42 --out "$work/g2" >/dev/null
"$DC_PYTHON" "$DC_GENMAIL" --count 30 --seed 43 --out "$work/g3" >/dev/null
check "genmail: same seed, same bytes" diff -r "$work/g1" "$work/g2"
check_eq "genmail: --list prints one line per message" 30 "$(wc -l <"$work/g1.list")"
check "genmail: other seed, other mail" lacks "$(cat "$work/g1/000001.eml")" \
	"$(cat "$work/g3/000001.eml")"
check_eq "genmail: Message-IDs unique" 60 \
	"$(cat "$work"/g1/*.eml "$work"/g3/*.eml | grep -ci '^Message-ID:' )"
check_eq "genmail: Message-IDs unique (distinct)" 60 \
	"$(cat "$work"/g1/*.eml "$work"/g3/*.eml | grep -i '^Message-ID:' | sort -u | wc -l)"
check "genmail: LF only" no_cr "$work/g1"
"$DC_PYTHON" "$DC_GENMAIL" --count 40 --seed 5 --min-size 1K --max-size 2M \
	--nonascii-share 0.5 --utf8-share 0.5 --out "$work/g4" >/dev/null
check "genmail: messages parse, sizes in range, mix present" "$DC_PYTHON" - "$work/g4" <<'EOF'
import email, glob, sys
from email import policy
files = sorted(glob.glob(sys.argv[1] + "/*.eml"))
assert len(files) == 40
multi = utf8 = enc = 0
years = set()
for f in files:
    raw = open(f, "rb").read()
    assert 900 <= len(raw) <= 2 * 1024 * 1024 * 1.05, (f, len(raw))
    m = email.message_from_bytes(raw, policy=policy.default)
    assert m["Message-ID"] and m["Date"] and m["From"] and m["Subject"]
    years.add(m["Date"].datetime.year)
    if m.is_multipart():
        multi += 1
        att = list(m.iter_attachments())
        assert att and len(att[0].get_content()) > 1000
    if any(b > 127 for b in raw):
        utf8 += 1
    if b"Subject: =?UTF-8?B?" in raw:
        enc += 1
        str(m["Subject"])
assert multi and utf8 and enc and len(years) > 3, (multi, utf8, enc, years)
EOF

# ---------------------------------------------------------------- populate
t0=$(date +%s%N)
gen=$(dc_populate "$DC_USER" INBOX 20 1 1K 300K)
ms=$((($(date +%s%N) - t0) / 1000000))
check "dc_populate 20 messages (${ms} ms)" test -n "$gen" -a -f "$gen/000020.eml"
check_eq "dc_uids counts 20" "$(seq 1 20)" "$(dc_uids "$DC_USER" INBOX)"
read -r n_msgs n_next n_uidv n_modseq < <(dc_status "$DC_USER" INBOX)
check_eq "dc_status messages/uidnext" "20 21" "$n_msgs $n_next"
check "dc_status uidvalidity/highestmodseq are numbers" is_num "$n_uidv$n_modseq"

all_same=1
for i in $(seq 1 20); do
	f=$gen/$(printf '%06d' "$i").eml
	if ! cmp -s <(dc_fetch_raw "$DC_USER" INBOX "$i") <(dc_to_crlf <"$f"); then
		all_same=0
		diag "uid $i differs from $f"
	fi
done
check_eq "dc_fetch_raw = generated file with CRLF, all 20" 1 "$all_same"
check "dc_fetch_stored = generated file (LF)" \
	cmp -s <(dc_fetch_stored "$DC_USER" INBOX 7) "$gen/000007.eml"
check "dc_fetch_raw of a missing UID fails" fails dc_fetch_raw "$DC_USER" INBOX 999

# Edge cases: CRLF and LF mixed, a lone CR, 8-bit bytes, no final newline.
printf 'From: x@example.test\r\nSubject: edge\nMessage-ID: <edge@t>\r\n\r\nCRLF line\r\nLF line\nlone\rCR\n\xff\xfe\x80 8bit \xc3\xa4\xe2\x82\xac\nno final newline' \
	>"$work/edge.eml"
printf 'From: x@example.test\nSubject: edge2\n\nends with blank lines\n\n\n' >"$work/edge2.eml"
uid_e=$(dc_add "$DC_USER" INBOX "$work/edge.eml" '\Seen' '$Label1')
uid_e2=$(dc_add "$DC_USER" INBOX "$work/edge2.eml")
check_eq "dc_add prints the new UIDs" "21 22" "$uid_e $uid_e2"
check_eq "dc_add set the flags" '$Label1 \Seen' "$(dc_flags "$DC_USER" INBOX "$uid_e")"
check "dc_fetch_stored = saved file with CRLF -> LF" \
	cmp -s <(dc_fetch_stored "$DC_USER" INBOX "$uid_e") <(dc_to_lf <"$work/edge.eml")
check "dc_fetch_raw = saved file with LF -> CRLF" \
	cmp -s <(dc_fetch_raw "$DC_USER" INBOX "$uid_e") <(dc_to_crlf <"$work/edge.eml")

# The reference: what IMAP itself serves (BODY.PEEK[] over verified TLS).
mkdir -p "$work/imap"
big=$(find "$gen" -name '*.eml' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
big_uid=$((10#$(basename "$big" .eml)))
check "IMAP BODY[] fetched over TLS" timeout 60 "$DC_PYTHON" - "$work/imap" \
	"$DC_PORT_IMAPS" "$DC_CA" "$DC_USER" "$DC_PASS" \
	"1 7 $big_uid $uid_e $uid_e2" <<'EOF'
import imaplib, ssl, sys
out, port, ca, user, pw, uids = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
m.login(user, pw)
m.select("INBOX", readonly=True)
for u in uids.split():
    typ, data = m.uid("FETCH", u, "(BODY.PEEK[])")
    assert typ == "OK" and isinstance(data[0], tuple), (u, data)
    open("%s/%s" % (out, u), "wb").write(data[0][1])
m.logout()
EOF
same=1
for u in 1 7 "$big_uid" "$uid_e" "$uid_e2"; do
	if ! cmp -s <(dc_fetch_raw "$DC_USER" INBOX "$u") "$work/imap/$u"; then
		same=0
		diag "dc_fetch_raw uid $u differs from IMAP BODY[]"
	fi
done
check_eq "dc_fetch_raw = IMAP BODY[] byte for byte (incl. $(stat -c %s "$big") B message, edge cases)" 1 "$same"

# ---------------------------------------------------------------- flags etc.
dc_set_flags "$DC_USER" INBOX 3 '\Flagged' '\Answered' kw1
check_eq "dc_set_flags replaces" '\Answered \Flagged kw1' "$(dc_flags "$DC_USER" INBOX 3)"
dc_add_flags "$DC_USER" INBOX 3 '\Seen'
dc_remove_flags "$DC_USER" INBOX 3 '\Flagged' kw1
check_eq "dc_add_flags / dc_remove_flags" '\Answered \Seen' "$(dc_flags "$DC_USER" INBOX 3)"
dc_set_flags "$DC_USER" INBOX 3
check_eq "dc_set_flags with no flags clears" '' "$(dc_flags "$DC_USER" INBOX 3)"
read -r _ _ _ modseq2 < <(dc_status "$DC_USER" INBOX)
check "highestmodseq grew with flag changes" test "$modseq2" -gt "$n_modseq"
dc_expunge "$DC_USER" INBOX 2
check_eq "dc_expunge" "1 3" "$(dc_uids "$DC_USER" INBOX | head -2 | paste -sd ' ' -)"
dc_move "$DC_USER" INBOX 4 "A/B"
check_eq "dc_move" "1" "$(dc_uids "$DC_USER" A/B)"

old=$(dc_uidvalidity "$DC_USER" INBOX)
dc_set_uidvalidity "$DC_USER" INBOX $((old + 1000))
check_eq "dc_set_uidvalidity changes it" $((old + 1000)) "$(dc_uidvalidity "$DC_USER" INBOX)"
sel=$(printf '%s\n' "$login" 's EXAMINE INBOX' 'z LOGOUT' | dc_imap imaps 2>/dev/null)
check_contains "IMAP sees the new UIDVALIDITY" "[UIDVALIDITY $((old + 1000))]" "$sel"
check_eq "second user is separate" "" "$(dc_uids "$DC_USER2" INBOX)"
check "dovecot log has no errors" dc_log_check

# ---------------------------------------------------------------- stop
dc_stop
check_eq "dc_stop: no live process of the instance" "" "$(live_pids "$main_pid")"
check_eq "dc_stop: no process with its config" "" "$(conf_procs "$main_conf")"
check "dc_stop: temp dir removed" test ! -e "$main_dir"
check "dc_stop: DC_DIR unset" test -z "${DC_DIR:-}"

# ---------------------------------------------------------------- options
if dc_start --cert-name imap.test --cap-hide "QRESYNC CONDSTORE" --mail-debug; then
	s=$(printf '%s\n' "$login" 'b CAPABILITY' 'z LOGOUT' |
		dc_imap imaps -verify_hostname localhost 2>/dev/null)
	check "--cert-name imap.test: localhost fails verification" lacks "a OK" "$s"
	s=$(printf '%s\n' "$login" 'b CAPABILITY' 'z LOGOUT' |
		dc_imap imaps -verify_hostname imap.test 2>/dev/null)
	check_contains "--cert-name imap.test: imap.test verifies" "a OK" "$s"
	caps=$(grep '^\* CAPABILITY' <<<"$s" | tail -1)
	check "--cap-hide hides QRESYNC" lacks " QRESYNC " "$caps "
	check "--cap-hide hides CONDSTORE" lacks " CONDSTORE " "$caps "
	check_contains "--cap-hide keeps the rest" " IDLE " "$caps "
	check "--mail-debug logs debug lines" grep -q ': Debug: ' "$DC_LOG"
	dc_stop
else
	not_ok "dc_start --cert-name imap.test --cap-hide"
fi

if DC_NO_STARTTLS=1 DC_IMAP_CAPABILITY=+XGDTEST dc_start; then
	s=$(printf '%s\n' 'a STARTTLS' "b LOGIN $DC_USER $DC_PASS" 'c CAPABILITY' \
		'z LOGOUT' | dc_imap plain)
	check_contains "DC_NO_STARTTLS=1: greeting" "* OK" "$(head -1 <<<"$s")"
	check "DC_NO_STARTTLS=1: no STARTTLS announced" lacks STARTTLS "$(head -1 <<<"$s")"
	check "DC_NO_STARTTLS=1: STARTTLS command refused" \
		grep -Eq '^a (BAD|NO)' <<<"$s"
	check_eq "DC_NO_STARTTLS=1: no imaps port" "" "$DC_PORT_IMAPS"
	check_contains "DC_NO_STARTTLS=1: plaintext LOGIN works" "b OK" "$s"
	caps=$(grep '^\* CAPABILITY' <<<"$s" | tail -1)
	check_contains "DC_IMAP_CAPABILITY=+XGDTEST adds to the default" " XGDTEST" "$caps"
	check_contains "... keeping the default" " QRESYNC " "$caps "
	dc_stop
else
	not_ok "DC_NO_STARTTLS=1 dc_start"
fi

# ---------------------------------------------------------------- set -e
out=$(timeout 60 bash -c '
	set -euo pipefail
	source "$0"
	dc_start
	dc_mkfolder "$DC_USER" X
	dc_folders "$DC_USER" >/dev/null
	dc_uids "$DC_USER" X
	dc_status "$DC_USER" X >/dev/null
	dc_stop
	echo done' "$lib/dovecot.sh" 2>&1)
check_eq "works under set -euo pipefail" "done" "$out"

# ---------------------------------------------------------------- cleanup paths
# A test that fails: its own EXIT trap still runs, its exit status is kept,
# and the chained dc_cleanup stops the instance.
out=$(timeout 60 bash -c '
	source "$0"
	trap "echo own-trap-ran" EXIT
	dc_start >/dev/null || exit 9
	echo "$DC_DIR $DC_CONF $_DC_MASTER_PID"
	false
	exit 3' "$lib/dovecot.sh" 2>&1)
rc=$?
read -r d c p <<<"$(head -1 <<<"$out")"
check_eq "failing test: exit status kept" 3 "$rc"
check_contains "failing test: caller's EXIT trap kept" "own-trap-ran" "$out"
check "failing test: temp dir removed" test -n "$d" -a ! -e "$d"
check_eq "failing test: no process left" "" "$(live_pids "${p:-0}")$(conf_procs "${c:-none}")"

# Interrupted test (SIGTERM while a command runs): the EXIT trap cleans up.
timeout 60 bash -c '
	source "$0"
	dc_start >/dev/null || exit 9
	echo "$DC_DIR $DC_CONF $_DC_MASTER_PID" >"$1"
	sleep 30 & wait $!' "$lib/dovecot.sh" "$work/int.info" &
bgpid=$!
for _ in $(seq 100); do [ -s "$work/int.info" ] && break; sleep 0.1; done
read -r d c p <"$work/int.info"
kill -TERM "$bgpid"
wait "$bgpid" 2>/dev/null
check "SIGTERM: temp dir removed" test -n "$d" -a ! -e "$d"
check_eq "SIGTERM: no process left" "" "$(live_pids "${p:-0}")$(conf_procs "${c:-none}")"

# Killed test (SIGKILL): the watchdog stops the instance within seconds.
bash -c '
	source "$0"
	dc_start >/dev/null || exit 9
	echo "$DC_DIR $DC_CONF $_DC_MASTER_PID" >"$1"
	exec sleep 60' "$lib/dovecot.sh" "$work/kill.info" &
bgpid=$!
for _ in $(seq 100); do [ -s "$work/kill.info" ] && break; sleep 0.1; done
read -r d c p <"$work/kill.info"
kill -KILL "$bgpid"
wait "$bgpid" 2>/dev/null
for _ in $(seq 150); do
	[ ! -e "$d" ] && [ -z "$(live_pids "$p")" ] && break
	sleep 0.1
done
check "SIGKILL: watchdog removed the temp dir" test -n "$d" -a ! -e "$d"
check_eq "SIGKILL: no process left" "" "$(live_pids "${p:-0}")$(conf_procs "${c:-none}")"

tap_done
