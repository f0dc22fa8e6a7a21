#!/usr/bin/env bash
# The Gmail-dialect fixture (tests/gmail/fixture.py) behaves as GMAIL.md
# says: checked over raw TLS by tests/gmail/selftest.py, then with the
# libetpan client (tools/imap_probe) when it is built, then its lifecycle:
# nothing survives gm_stop or the death of the shell that started it.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/gmail/fixture.sh

gm_start || exit 1
check "gm_start: a port, a CA, a live server" test -n "$GM_PORT" -a -s "$GM_CA" -a -n "$GM_PID"

# --- the protocol, over raw TLS
out=$(timeout -k 5 300 "$GM_PYTHON" tests/gmail/selftest.py 2>&1)
rc=$?
printf '%s\n' "$out"
TAP_FAILED=$((TAP_FAILED + $(printf '%s\n' "$out" | grep -c '^not ok ')))
check_eq "selftest.py ran to its end" 0 "$rc"

# --- gm_imap and the shell helpers
mail=$GM_DIR/probe.eml
printf 'From: a@example.test\nSubject: probe\nMessage-ID: <probe@example.test>\n\nhello\n' >"$mail"
msgid=$(gm_add "$mail" '\Inbox,Work' '\Seen')
check "gm_add prints the X-GM-MSGID" test -n "$msgid"
out=$(printf 'a LOGIN %s %s\nb SELECT INBOX\nc UID SEARCH X-GM-MSGID %s\nd LOGOUT\n' \
	"$GM_USER" "$GM_PASS" "$msgid" | gm_imap)
uid=$(gm_ctl message "msgid=$msgid" | gm_json 'r["uids"]["INBOX"]')
check_contains "gm_imap: a pipelined session finds it by X-GM-MSGID" "* SEARCH $uid" "$out"
check_contains "gm_uids lists it" "$uid" "$(gm_uids INBOX)"
check "gm_counter reads a counter" test "$(gm_counter connections)" -gt 0

# --- the libetpan client
probe=${GMAILDIR_TOOLS:-build-lead/tools}/imap_probe
[ -x "$probe" ] || probe=build-lead/tools/imap_probe
if [ -x "$probe" ]; then
	gm_ctl add "file=$mail" "labels=\\Inbox,Family Stuff,Entwürfe" >/dev/null
	out=$(IMAP_PROBE_BODIES=all timeout -k 5 60 "$probe" "$GM_HOST" "$GM_PORT" implicit \
		"$GM_CA" "$GM_USER" "$GM_PASS" INBOX 2>&1)
	rc=$?
	check_eq "imap_probe (libetpan) against the fixture exits 0" 0 "$rc"
	check_contains "... it lists [Gmail]/All Mail as \\All" "list: [Gmail]/All Mail delim=/ attrs=\\All," "$out"
	check_contains "... and [Gmail] as \\Noselect" "list: [Gmail] delim=/ attrs=\\Noselect," "$out"
	check_contains "... and the modified UTF-7 label" "list: Entw&APw-rfe delim=/" "$out"
	check_contains "... it reads X-GM-MSGID" "gm_msgid=$msgid" "$out"
	n=$(gm_ctl list folder=INBOX | gm_json 'len(r["messages"])')
	check_contains "... and fetches every body" "bodies: $n fetched" "$out"
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" | sed 's/^/# /' | tail -30
	fi
	out=$(IMAP_PROBE_XOAUTH2=1 timeout -k 5 60 "$probe" "$GM_HOST" "$GM_PORT" implicit \
		"$GM_CA" "$GM_USER" "$GM_TOKEN" '[Gmail]/All Mail' 2>&1)
	check_eq "imap_probe with XOAUTH2 on All Mail exits 0" 0 "$?"
	out=$(IMAP_PROBE_XOAUTH2=1 timeout -k 5 60 "$probe" "$GM_HOST" "$GM_PORT" implicit \
		"$GM_CA" "$GM_USER" wrong-token 2>&1)
	check_eq "imap_probe with a wrong token fails (exit 1)" 1 "$?"
	check_contains "... showing Gmail's text" "Invalid credentials" "$out"
else
	diag "no imap_probe built: libetpan checks skipped"
fi
idle=${GMAILDIR_TOOLS:-build-lead/tools}/idle_probe
if [ -x "$idle" ]; then
	# libetpan in IDLE sees what the control channel changes.
	"$idle" "$GM_HOST" "$GM_PORT" implicit "$GM_CA" "$GM_USER" "$GM_PASS" INBOX 5 \
		>"$GM_DIR/idle.out" 2>&1 &
	ip=$!
	sleep 1.5
	msgid=$(gm_add "$mail" '\Inbox')
	sleep 1
	gm_ctl flags "msgid=$msgid" 'add=\Flagged' >/dev/null
	sleep 1
	gm_ctl labels "msgid=$msgid" 'remove=\Inbox' >/dev/null
	wait "$ip"
	check_eq "idle_probe (libetpan IDLE) exits 0" 0 "$?"
	out=$(cat "$GM_DIR/idle.out")
	check_contains "... it is told of the new message" "exists=1" "$out"
	check_contains "... of the flag change" "fetches=1" "$out"
	check_contains "... and of the removed label" "expunged=1" "$out"
else
	diag "no idle_probe built: the libetpan IDLE check is skipped"
fi
check_eq "no internal error in the fixture" 0 "$(gm_counter internal_errors)"

# --- lifecycle
pid=$GM_PID dir=$GM_DIR
gm_stop
check "gm_stop: the server is gone" bash -c "! kill -0 $pid 2>/dev/null"
check "gm_stop: its directory is gone" test ! -e "$dir"

# A shell that dies by SIGKILL without cleanup: the server follows it.
info=$(mktemp /tmp/gmt.XXXXXX)
(bash -c 'source tests/gmail/fixture.sh; gm_start || exit 1
	echo "$GM_PID $GM_DIR" >"$1"; kill -KILL $$' _ "$info"; true) 2>/dev/null
read -r pid dir <"$info"
rm -f "$info"
gone=0
for _ in $(seq 50); do
	if ! kill -0 "$pid" 2>/dev/null && [ ! -e "$dir" ]; then gone=1; break; fi
	sleep 0.1
done
check_eq "a SIGKILLed shell's server exits and removes its directory within 5 s" 1 "$gone"
tap_done
