#!/usr/bin/env bash
# gmaildir against a hostile server (tests/hostile/server.py): one scenario a
# run, each a way a broken or malicious IMAP server can misbehave. For each,
# gmaildir must: not crash (exit 0, 1 or 3, never a signal), not hang (done
# within the account timeout of 5 s plus a margin), write nothing outside
# the account's Maildir root and state dir, delete nothing on either side on
# the strength of the bad answer (runs that follow a good sync), and say
# what the server did wrong. Download scenarios end with a good run that
# must complete the mailbox without duplicates. The cheap ones run again
# under ASan+UBSan when tests/run.sh exports GMAILDIR_SAN_BIN.
#
# Mostly implicit TLS with a CA made like dovecot.sh's; some over a plain
# socket (tls: none), where libetpan 1.9.4 would spin on EOF in a literal if
# our stream driver returned 0.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh # for _dc_make_certs and DC_PYTHON only
export TZ=UTC

BIN=${GMAILDIR_BIN:-$PWD/build/gmaildir}
SAN_BIN=${GMAILDIR_SAN_BIN:-}
SERVER=$PWD/tests/hostile/server.py
TIMEOUT=5          # the account's timeout:
LIMIT=$((TIMEOUT + 15)) # a run must be over within this (s)

H_BASE=$(mktemp -d /tmp/gd-hostile.XXXXXX) # certs, server state and logs
H_DIRS=()
H_SPID=
ESCAPE=gd-hostile-escape-$$ # a folder name aimed at /tmp/$ESCAPE

h_cleanup() {
	local rc=$?
	h_stop
	rm -rf "$H_BASE" "${H_DIRS[@]}" "/tmp/$ESCAPE"
	return "$rc"
}
trap h_cleanup EXIT
trap 'exit 130' INT TERM HUP

_dc_make_certs "$H_BASE" "" || { not_ok "test CA"; exit 1; }

# h_setup [plain]: a fresh client dir: $H_DIR/conf.yaml, root $H_DIR/home/Mail,
# state $H_DIR/home/state (so a "../../x" escape lands in $H_DIR, where the
# snapshot sees it), and a fresh server mailbox: INBOX 30, Work 5.
h_setup() {
	H_PLAIN=${1:-}
	H_DIR=$(mktemp -d /tmp/gd-hostile-run.XXXXXX)
	H_DIRS+=("$H_DIR")
	H_MAIL=$H_DIR/home/Mail
	H_STATE_FILE=$H_BASE/state-${#H_DIRS[@]}.json
	H_LOG=$H_BASE/log-${#H_DIRS[@]}
	mkdir -p "$H_DIR/home"
	h_seed --folder INBOX 30 --folder Work 5
}

h_seed() {
	"$DC_PYTHON" "$SERVER" seed --state "$H_STATE_FILE" "$@"
}

h_write_conf() {
	{
		echo "accounts:"
		echo "  - name: h"
		echo "    host: 127.0.0.1"
		echo "    port: $1"
		if [ -n "$H_PLAIN" ]; then
			echo "    tls: none"
			echo "    allow_insecure: true"
		else
			echo "    tls: implicit"
			echo "    ca_file: $H_BASE/ca.pem"
		fi
		echo "    user: alice"
		echo "    password: \"secret\""
		echo "    maildir: $H_MAIL"
		echo "    state_dir: $H_DIR/home/state"
		echo "    timeout: $TIMEOUT"
	} >"$H_DIR/conf.yaml"
	chmod 600 "$H_DIR/conf.yaml"
}

# h_serve SCENARIO [SERVER OPTIONS...]: (re)starts the server on the mailbox.
h_serve() {
	local scn=$1 pf=$H_BASE/port i
	shift
	h_stop
	rm -f "$pf"
	local tls=(--cert "$H_BASE/server.pem" --key "$H_BASE/server.key")
	[ -n "$H_PLAIN" ] && tls=()
	echo "== $scn $*" >>"$H_LOG"
	"$DC_PYTHON" "$SERVER" serve --state "$H_STATE_FILE" --port-file "$pf" \
		--scenario "$scn" --log "$H_LOG" --max-life 120 "${tls[@]}" "$@" \
		</dev/null >>"$H_LOG" 2>&1 &
	H_SPID=$!
	for i in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	[ -s "$pf" ] || { diag "server did not start: $(tail -5 "$H_LOG")"; return 1; }
	h_write_conf "$(cat "$pf")"
}

h_stop() {
	if [ -n "$H_SPID" ]; then
		kill "$H_SPID" 2>/dev/null
		wait "$H_SPID" 2>/dev/null
		H_SPID=
	fi
	return 0
}

# The client's view outside its Maildir and state (and our conf.yaml): must
# not change.
h_outside() {
	find "$H_DIR" -path "$H_MAIL" -prune -o -path "$H_DIR/home/state" -prune -o \
		-path "$H_DIR/conf.yaml" -prune -o -print |
		LC_ALL=C sort
	ls -d "/tmp/$ESCAPE" /tmp/etc 2>/dev/null
}

# Message keys (file name before ":2,") under the root, sorted; the root's
# own lock and identity files are no messages.
h_keys() {
	find "$H_MAIL" -path '*/tmp' -prune -o -type f ! -name '.gmaildir.*' -print 2>/dev/null |
		sed 's|.*/||; s|:2,.*||' | LC_ALL=C sort
}

h_count() { h_keys | wc -l; }

# Folder and message count of each server folder, one a line.
h_server_counts() { "$DC_PYTHON" "$SERVER" show --state "$H_STATE_FILE" | cut -f1,2; }

# Message-IDs that are twice in one local folder.
h_local_dups() {
	local d
	find "$H_MAIL" -type d -name cur 2>/dev/null | while IFS= read -r d; do
		python3 tests/lib/msgids.py maildir "${d%/cur}" | grep -v '^-$' | uniq -d
	done
}

# h_run [BIN]: one sync; sets RC, SECS, OUT, RSS (KB, when /usr/bin/time is there).
h_run() {
	local bin=${1:-$BIN} t0 t1 rssf=$H_BASE/rss
	t0=$(date +%s%N)
	if [ -x /usr/bin/time ]; then
		OUT=$(ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			/usr/bin/time -o "$rssf" -f '%M' timeout -k 2 "$LIMIT" \
			"$bin" -c "$H_DIR/conf.yaml" sync 2>&1)
		RC=$?
		RSS=$(tail -1 "$rssf" 2>/dev/null)
		# /usr/bin/time reports a child killed by a signal as 128+N.
	else
		OUT=$(ASAN_OPTIONS=detect_leaks=0 timeout -k 2 "$LIMIT" \
			"$bin" -c "$H_DIR/conf.yaml" sync 2>&1)
		RC=$?
		RSS=0
	fi
	t1=$(date +%s%N)
	SECS=$(((t1 - t0) / 1000000000))
	[[ $RSS =~ ^[0-9]+$ ]] || RSS=0
}

# h_check_run WHAT ALLOWED_RCS: the run did not crash or hang, exited with
# one of ALLOWED_RCS, and printed no sanitizer report.
h_check_run() {
	local what=$1 allowed=$2
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ] || [ "$SECS" -gt "$LIMIT" ]; then
		not_ok "$what: no hang (took ${SECS}s, exit $RC)"
	else
		ok "$what: no hang (${SECS}s)"
	fi
	if [ "$RC" -gt 128 ] || [[ $OUT == *AddressSanitizer* ]] || [[ $OUT == *"runtime error:"* ]]; then
		not_ok "$what: no crash (exit $RC)"
		printf '%s\n' "$OUT" | tail -15 | sed 's/^/#   /'
	else
		ok "$what: no crash (exit $RC)"
	fi
	case " $allowed " in
	*" $RC "*) ok "$what: exit status $RC" ;;
	*)
		not_ok "$what: exit status $RC, expected one of: $allowed"
		printf '%s\n' "$OUT" | tail -8 | sed 's/^/#   /'
		;;
	esac
}

# h_hostile WHAT SCENARIO PHRASE ALLOWED_RCS [SERVER OPTIONS...]: a run
# against SCENARIO with the checks every scenario shares: no crash, no
# hang, nothing outside the root, no local message (more than H_MAY_LOSE,
# default 0) and no server message lost, and PHRASE (an extended regex;
# "" for none) in what it printed. Sets H_RSS (KB) of the run.
h_hostile() {
	local what=$1 scn=$2 phrase=$3 allowed=$4 before_out before_keys before_srv lost
	shift 4
	before_out=$(h_outside)
	before_keys=$(h_keys)
	h_serve "$scn" "$@" || { not_ok "$what: server start"; return; }
	before_srv=$(h_server_counts) # after what the scenario did between runs
	h_run "${H_USE_BIN:-$BIN}"
	H_RSS=$RSS
	h_stop
	h_check_run "$what" "$allowed"
	check_eq "$what: nothing written outside the Maildir root and state dir" \
		"$before_out" "$(h_outside)"
	lost=$(comm -23 <(printf '%s\n' "$before_keys") <(h_keys) | grep -c .)
	if [ "$lost" -le "${H_MAY_LOSE:-0}" ]; then
		ok "$what: no local message deleted on the strength of it ($lost gone)"
	else
		not_ok "$what: no local message deleted on the strength of it ($lost gone)"
	fi
	if [ -z "${H_UPLOADS:-}" ]; then
		check_eq "$what: nothing deleted or added on the server" "$before_srv" \
			"$(h_server_counts)"
	fi
	if grep -E -q 'EXPUNGE|\\Deleted|MOVE' <(sed -n "/^== $scn/,\$p" "$H_LOG"); then
		not_ok "$what: no EXPUNGE, \\Deleted or MOVE sent to the server"
	else
		ok "$what: no EXPUNGE, \\Deleted or MOVE sent to the server"
	fi
	if [ -n "$phrase" ]; then
		if grep -E -q -- "$phrase" <<<"$OUT"; then
			ok "$what: the message says what went wrong ($phrase)"
		else
			not_ok "$what: the message says what went wrong ($phrase)"
			printf '%s\n' "$OUT" | head -8 | sed 's/^/#   /'
		fi
	fi
	diag "$what: $(printf '%s\n' "$OUT" | grep -m1 -v '^h/' | cut -c1-200)"
}

# h_good WHAT [SERVER OPTIONS]: a run against the well-behaved server that
# must succeed; then the mailbox must be complete, without duplicates.
h_good() {
	local what=$1
	shift
	h_serve normal "$@" || { not_ok "$what: server start"; return 1; }
	h_run
	h_stop
	if [ "$RC" -ne 0 ]; then
		not_ok "$what: a good run exits 0 (exit $RC)"
		printf '%s\n' "$OUT" | tail -5 | sed 's/^/#   /'
		return 1
	fi
}

h_complete() {
	local what=$1 want=$2 d
	check_eq "$what: then a good run completes the mailbox" "$want" "$(h_count)"
	d=$(h_local_dups)
	check_eq "$what: no message twice" "" "$d"
}

# ------------------------------------------------ the download is attacked

dl_scenario() { # dl_scenario WHAT SCENARIO PHRASE ALLOWED [plain]
	local what=$1 scn=$2 phrase=$3 allowed=$4
	h_setup "${5:-}"
	h_hostile "$what" "$scn" "$phrase" "$allowed"
	h_good "$what" && h_complete "$what" 35
}

dl_scenario "literal longer than announced" literal_overrun \
	"could not parse the server's response" 1
dl_scenario "literal of 4 GB announced" literal_huge "announced a literal of 4294967295" 1
check "literal of 4 GB announced: memory stays bounded (${H_RSS} KB)" [ "$H_RSS" -lt 150000 ]
dl_scenario "EOF inside a literal (TLS)" eof_literal "connection closed by server" 1
dl_scenario "EOF inside a literal (plain socket)" eof_literal "connection closed by server" 1 plain
dl_scenario "literal longer than announced (plain socket)" literal_overrun \
	"could not parse the server's response" 1 plain
dl_scenario "BYE in the middle of UID FETCH" bye_mid "BYE hostile server going away" 1
dl_scenario "tagged NO after part of the bodies" no_partial "Some messages could not be FETCHed" 1
dl_scenario "100 MB line without CRLF" long_line "line of more than [0-9]+ bytes" 1
check "100 MB line without CRLF: memory stays bounded (${H_RSS} KB)" [ "$H_RSS" -lt 150000 ]
dl_scenario "endless untagged responses" flood "more than [0-9]+ responses to one command" 1
check "endless untagged responses: memory stays bounded (${H_RSS} KB)" [ "$H_RSS" -lt 150000 ]
dl_scenario "BODY[] answered with BODY[HEADER] or BODY[TEXT]" wrong_section \
	"another section than BODY\[\]" 1
dl_scenario "a greeting that never comes" no_greeting "no IMAP greeting.*timed out" 1
dl_scenario "one byte a second" slowloris "too slow" 1

# ---------------------------------------- answers with what was not asked

for scn in unasked_uid uid_zero dup_uid; do
	h_setup
	h_good "$scn (first sync)"
	h_hostile "$scn" "$scn" "" 0 --add-new 3
	bogus=$(grep -rl -e INJECTED -e DUPLICATE-COPY "$H_MAIL" | head -3)
	check_eq "$scn: nothing stored that was not asked for" "" "$bogus"
	h_complete "$scn" 38
done

# ------------------ unsolicited FETCH responses, from the first contact on

# unsolicited WHAT [SERVER OPTIONS]: every FETCH answer (the 1:* listing
# too) carries a phantom UID beyond UIDNEXT and an existing message that
# was not asked for. The first sync stores exactly the real messages, once
# each; the next one changes nothing; new mail later comes alone.
unsolicited() {
	local what=$1 keys
	shift
	h_setup
	h_hostile "$what: first sync" unsolicited "" 0 "$@"
	check_eq "$what: the Maildir holds exactly the real messages" 35 "$(h_count)"
	check_eq "$what: ... once each" "" "$(h_local_dups)"
	check_eq "$what: ... and nothing that was not asked for" "" \
		"$(grep -rl -e PHANTOM-INJECTED -e UNASKED-INJECTED "$H_MAIL" | head -3)"
	keys=$(h_keys)
	h_hostile "$what: second sync" unsolicited "" 0 "$@"
	check_eq "$what: the second sync changes nothing" "$keys" "$(h_keys)"
	check_eq "$what: ... and says so" "" "$(grep -Ev 'unchanged|^$' <<<"$OUT")"
	H_UPLOADS=1 h_hostile "$what: new mail" unsolicited "" 0 --add-new 3 "$@"
	check_eq "$what: new mail arrives alone" 38 "$(h_count)"
	check_eq "$what: ... once each" "" "$(h_local_dups)"
	check_eq "$what: ... and nothing that was not asked for" "" \
		"$(grep -rl -e PHANTOM-INJECTED -e UNASKED-INJECTED "$H_MAIL" | head -3)"
}

unsolicited "unsolicited FETCH (CONDSTORE)"
unsolicited "unsolicited FETCH (no CONDSTORE)" --no-condstore
unsolicited "unsolicited FETCH (QRESYNC)" --qresync

# ------------------------------------ after a good sync: deletion baits

# bait WHAT SCENARIO PHRASE ALLOWED [SERVER OPTIONS]: a good sync, then the
# hostile run; nothing may be deleted on either side (h_hostile).
bait() {
	local what=$1 scn=$2 phrase=$3 allowed=$4
	shift 4
	h_setup
	h_good "$what (first sync)" "$@"
	h_hostile "$what" "$scn" "$phrase" "$allowed" "$@"
}

bait "UIDVALIDITY changes during UID FETCH" uidvalidity_mid "changed the UIDVALIDITY" "1 3"
bait "UIDVALIDITY changes during UID FETCH (no CONDSTORE)" uidvalidity_mid \
	"changed the UIDVALIDITY" "1 3" --no-condstore
bait "a second SELECT answer during UID FETCH" uidvalidity_reselect "changed the UIDVALIDITY" "1 3"
bait "UID FETCH 1:* leaves messages out" omit_meta "incomplete answer" "1 3" --no-condstore
bait "tagged NO after part of the metadata" no_partial_meta \
	"Some messages could not be FETCHed" "1 3" --no-condstore
bait "UIDNEXT went backwards" uidnext_back "UIDNEXT" "1 3"

# UID SEARCH that leaves out known messages: one message really was
# expunged on the server, the answer hides ten more.
h_setup
h_good "UID SEARCH leaves messages out (first sync)"
H_MAY_LOSE=1 h_hostile "UID SEARCH leaves messages out" omit_search "" "0 1 3" --expunge 1

# QRESYNC SELECT answers that lie (the server offers QRESYNC): VANISHED
# also names five messages that still exist while EXISTS tells the truth,
# or claims every UID there can be. One message really was expunged. The
# count must catch the lie (one UID SEARCH decides), so that only the
# expunged message goes.
for scn in vanished_lie vanished_huge; do
	h_setup
	h_good "$scn (first sync)" --qresync
	H_MAY_LOSE=1 h_hostile "QRESYNC: $scn" "$scn" "" "0" --qresync --expunge 1
	check "QRESYNC: $scn: the SELECT asked for QRESYNC" \
		grep -q -E 'SELECT "?INBOX"? \(QRESYNC \(' "$H_LOG"
	check "QRESYNC: $scn: one UID SEARCH decided" grep -q 'UID SEARCH' "$H_LOG"
	check_eq "QRESYNC: $scn: 29 messages left in INBOX, the expunged one gone" 29 \
		"$(find "$H_MAIL/INBOX/cur" "$H_MAIL/INBOX/new" -type f | wc -l)"
done

# HIGHESTMODSEQ went backwards, and a flag changed meanwhile: the change
# must arrive (or the run must say why it cannot trust the server).
h_setup
h_good "HIGHESTMODSEQ went backwards (first sync)"
h_hostile "HIGHESTMODSEQ went backwards" modseq_back "" "0 1 3"
h_serve modseq_back
h_run
h_stop
flagged=$(find "$H_MAIL/INBOX/cur" -name '*:2,*F*' | wc -l)
if [ "$flagged" -eq 1 ] || grep -q -i 'MODSEQ' <<<"$OUT"; then
	ok "HIGHESTMODSEQ went backwards: the server's flag change arrives, or the run says why not"
else
	not_ok "HIGHESTMODSEQ went backwards: the server's flag change arrives, or the run says why not"
	diag "flagged: $flagged; $(printf '%s\n' "$OUT" | head -3)"
fi

# APPENDUID answers that cannot be right (an old UID, another UIDVALIDITY,
# the previous APPEND's UID): the uploads must still end up once on each
# side, each file paired with its own message.
h_setup
h_good "bogus APPENDUID (first sync)"
for i in 1 2 3 4 5 6; do
	printf 'From: reader@example.test\nSubject: local %s\nMessage-ID: <up-%s@hostile.test>\n\nbody %s\n' \
		"$i" "$i" "$i" >"$H_MAIL/INBOX/new/170000000$i.M$i.hostile"
done
H_UPLOADS=1 h_hostile "bogus APPENDUID" appenduid_bogus "ignoring the server's APPENDUID" "0 1"
h_good "bogus APPENDUID (next run)" && h_good "bogus APPENDUID (one more run)"
check_eq "bogus APPENDUID: every message once here" 41 "$(h_count)"
check_eq "bogus APPENDUID: no message twice here" "" "$(h_local_dups)"
check_eq "bogus APPENDUID: every message once on the server" "$(printf '"INBOX"\t36\n"Work"\t5')" \
	"$(h_server_counts)"
check_contains "bogus APPENDUID: the last run had nothing left to do" "INBOX: unchanged" "$OUT"

# ------------------------------------------------------- folder names

h_setup
h_seed --folder INBOX 30 --folder Work 5 --folder '../../etc' 1 --folder '..' 1 \
	--folder 'a/../../b' 1 --folder cur 1 --folder INBOX/new 1 --folder /abs 1 \
	--folder .hidden 1 --folder tmp/x 1 --folder %2E%2E 1 --folder '"x\u0001y"' 1 \
	--folder '"nul\u0000/../../etc"' 1 --folder ..dot.. 1 . --folder ../../nil 1 NIL \
	--folder 'back\sl/..\..' 1 '\' --folder "../../../$ESCAPE" 1 --folder '"&AAA-/../x"' 1 \
	--folder '"esc\u001b[2J\u001b]0;pwned\u0007"' 1
h_hostile "folder names that try to leave the root" traversal "" "0 1"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$OUT"; then
	not_ok "folder names with control characters: none reaches the terminal"
	printf '%s\n' "$OUT" | LC_ALL=C grep $'[\x01-\x08\x0b-\x1f\x7f]' | cat -v | head -3 |
		sed 's/^/#   /'
else
	ok "folder names with control characters: none reaches the terminal"
fi
check_eq "folder names that try to leave the root: no directory named . or .. or .x" "" \
	"$(find "$H_MAIL" -mindepth 1 -type d -name '.*' | head -3)"
check "folder names that try to leave the root: their mail is there, escaped" \
	[ "$(h_count)" -ge 45 ]

h_setup
h_hostile "names that are not modified UTF-7" bad_mutf7 "not valid modified UTF-7" "0 1"
check_eq "names that are not modified UTF-7: the good folders are synced" 35 "$(h_count)"

h_setup
h_hostile "LIST names each folder twice" list_dup "" 0
check_eq "LIST names each folder twice: each message once" 35 "$(h_count)"
check_eq "LIST names each folder twice: no message twice" "" "$(h_local_dups)"
before=$(h_server_counts)
h_hostile "LIST names each folder twice (second run)" list_dup "" 0
check_eq "LIST names each folder twice: nothing uploaded back" "$before" "$(h_server_counts)"

# ------------------------------------------------------- under ASan

if [ -n "$SAN_BIN" ] && [ -x "$SAN_BIN" ]; then
	for s in literal_overrun literal_huge eof_literal bye_mid no_partial long_line flood \
		dup_uid uid_zero unasked_uid wrong_section; do
		h_setup
		H_USE_BIN=$SAN_BIN h_hostile "ASan: $s" "$s" "" "0 1"
	done
	h_setup plain
	H_USE_BIN=$SAN_BIN h_hostile "ASan: EOF inside a literal (plain socket)" eof_literal "" 1
	h_setup
	h_good "ASan: UIDVALIDITY (first sync)"
	H_USE_BIN=$SAN_BIN h_hostile "ASan: UIDVALIDITY changes during UID FETCH" uidvalidity_mid "" "1 3"
else
	diag "GMAILDIR_SAN_BIN not set: the ASan runs are skipped"
fi

tap_done
