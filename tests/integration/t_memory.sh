#!/usr/bin/env bash
# Memory does not grow with the mailbox: downloading 5,000 messages peaks at
# most a few MB above downloading 500 (bodies are streamed to disk one
# message at a time, metadata is fetched in chunks). Nor with the size of
# a message: messages of 8-10 MB come in pieces of 512 KB.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
source tests/lib/dovecot.sh
source tests/lib/gmaildir.sh

dc_start || exit 1
dc_populate "$DC_USER" Small 500 31 1K 8K >/dev/null
dc_populate "$DC_USER" Big 5000 32 1K 8K >/dev/null
dc_populate "$DC_USER" Huge 6 33 8M 10M >/dev/null

# peak_kb FOLDER: "PEAK_RSS_KB FILES" of a fresh download of FOLDER.
peak_kb() {
	gd_setup "m$1" "folders: { include: [\"$1\"] }"
	/usr/bin/time -f '%M' -o "$GD_DIR/rss" "$GMAILDIR_BIN" -c "$GD_CONF" -q sync >/dev/null 2>&1 ||
		return 1
	echo "$(cat "$GD_DIR/rss") $(find "$GD_MAIL/$1" -type f | wc -l)"
	rm -rf "$GD_DIR"
}

read -r small n_small <<<"$(peak_kb Small)"
check_eq "500 messages downloaded" 500 "$n_small"
read -r big n_big <<<"$(peak_kb Big)"
check_eq "5,000 messages downloaded" 5000 "$n_big"
diag "peak RSS: 500 messages ${small} KB, 5000 messages ${big} KB"
check "peak RSS for 5,000 is within 8 MB of 500 (${small} KB vs ${big} KB)" \
	test "$((big - small))" -le 8192
read -r huge n_huge <<<"$(peak_kb Huge)"
check_eq "6 messages of 8-10 MB downloaded" 6 "$n_huge"
diag "peak RSS: 6 messages of 8-10 MB ${huge} KB"
check "peak RSS for 8-10 MB messages is within 4 MB of 500 small ones (${small} KB vs ${huge} KB)" \
	test "$((huge - small))" -le 4096
tap_done
