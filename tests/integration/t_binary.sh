#!/usr/bin/env bash
# Messages holding NUL bytes are kept byte for byte both ways. A server
# sends them as 0x80 in BODY[] (Dovecot's plain literals), so where it
# offers BINARY (RFC 3516) such a message is fetched again as BINARY[], and
# uploads of NUL bytes go as a literal8. BINARY[] of a base64 message comes
# back decoded: such messages, and real 0x80 bytes, must stay as they are.
# Without BINARY offered the plain path still delivers every message.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

sha() { sha256sum "$1" | cut -d' ' -f1; }

# gen DIR: the server-side messages (LF line ends, as files hold them).
gen() {
	printf 'From: a@example.test\nSubject: nul\nMessage-ID: <nul@t>\n\nhello\000world\nline two\000\n\000\n' >"$1/nul.eml"
	printf 'From: a@example.test\nSubject: b64\nMessage-ID: <b64@t>\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQK\n' >"$1/b64.eml"
	# UTF-8 with real 0x80 bytes ("р" is D1 80), sent as 8bit.
	printf 'From: a@example.test\nSubject: 8bit\nMessage-ID: <8bit@t>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\321\200\321\200 \342\202\254\n' >"$1/8bit.eml"
	# A big one with NUL bytes (fetched in pieces below).
	{
		printf 'From: a@example.test\nSubject: big nul\nMessage-ID: <bignul@t>\n\n'
		for i in $(seq 1 200); do printf 'line %d \000 with a NUL\n' "$i"; done
	} >"$1/bignul.eml"
}

# local_sha FOLDER MESSAGE-ID: sha256 of the local file holding MESSAGE-ID.
local_sha() {
	local f
	f=$(grep -l -a -F "Message-ID: $2" "$GD_MAIL/$1"/cur/* "$GD_MAIL/$1"/new/* 2>/dev/null | head -1)
	[ -n "$f" ] && sha "$f"
}

dc_start || exit 1
gd_setup
gen "$GD_DIR"
for m in nul b64 8bit bignul; do
	dc_add "$DC_USER" INBOX "$GD_DIR/$m.eml" >/dev/null || diag "dc_add $m failed"
done

gd_sync_ok "first sync with BINARY offered"
for m in nul b64 8bit bignul; do
	check_eq "$m: the local file holds the server's bytes (sha256)" \
		"$(sha "$GD_DIR/$m.eml")" "$(local_sha INBOX "<$m@t>")"
done
check_eq "four messages, once each" 4 "$(gd_count_local INBOX)"
check "INBOX: both sides equal" gd_compare INBOX

# The same, the big message (and the others) fetched in small pieces.
rm -rf "$GD_MAIL" "$GD_STATE"
OUT=$(GMAILDIR_PIECE_BYTES=64 gd sync 2>&1)
check_eq "a sync fetching in 64-byte pieces exits 0" 0 "$?"
for m in nul b64 8bit bignul; do
	check_eq "$m in pieces: the local file holds the server's bytes" \
		"$(sha "$GD_DIR/$m.eml")" "$(local_sha INBOX "<$m@t>")"
done

# A local file with NUL bytes reaches the server whole.
printf 'From: me@example.test\nSubject: up\nMessage-ID: <up@t>\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n\nup\000load\n\000\n' >"$GD_DIR/up.eml"
up_sha=$(sha "$GD_DIR/up.eml")
mkdir -p "$GD_MAIL/INBOX/new"
cp "$GD_DIR/up.eml" "$GD_MAIL/INBOX/new/1800000000.up.local"
OUT=$(gd -vv sync 2>&1)
check_eq "a sync uploading a message with NUL bytes exits 0" 0 "$?"
check_contains "... sent as a literal8 (wire trace)" " ~{" "$(grep -a ' APPEND ' <<<"$OUT")"
up_uid=$(dc_doveadm search -u "$DC_USER" mailbox INBOX header Message-ID '<up@t>' | awk '{print $2}')
check_eq "... the server holds it once" 1 "$(wc -w <<<"$up_uid")"
dc_fetch_stored "$DC_USER" INBOX "${up_uid:-0}" >"$GD_DIR/up.server"
check_eq "... the server's copy has the NUL bytes (sha256)" "$up_sha" "$(sha "$GD_DIR/up.server")"
OUT=$(gd sync 2>&1)
check_eq "the next sync changes nothing" 0 "$(grep -vc unchanged <<<"$OUT")"
rm -rf "$GD_MAIL" "$GD_STATE"
gd_sync_ok "a sync into a fresh Maildir"
check_eq "... the round trip local, server, fresh Maildir is byte-identical" \
	"$up_sha" "$(local_sha INBOX "<up@t>")"
check "... INBOX: both sides equal" gd_compare INBOX
check "the server log has no errors" dc_log_check

# Without BINARY offered, the plain path: every message arrives once, the
# NUL bytes as the server's BODY[] shows them (0x80).
dc_stop
DC_CAP_HIDE=BINARY dc_start || exit 1
gd_setup
gen "$GD_DIR"
for m in nul b64 8bit; do
	dc_add "$DC_USER" INBOX "$GD_DIR/$m.eml" >/dev/null || diag "dc_add $m failed"
done
gd_sync_ok "a first sync without BINARY offered"
check_eq "... three messages, once each" 3 "$(gd_count_local INBOX)"
tr '\000' '\200' <"$GD_DIR/nul.eml" >"$GD_DIR/nul.80"
check_eq "... the NUL message as BODY[] serves it" "$(sha "$GD_DIR/nul.80")" \
	"$(local_sha INBOX "<nul@t>")"
for m in b64 8bit; do
	check_eq "... $m byte-identical" "$(sha "$GD_DIR/$m.eml")" "$(local_sha INBOX "<$m@t>")"
done
OUT=$(gd sync 2>&1)
check_eq "... the next sync changes nothing" 0 "$(grep -vc unchanged <<<"$OUT")"
tap_done
