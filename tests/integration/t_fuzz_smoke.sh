#!/usr/bin/env bash
# A short libFuzzer run of every harness in tests/fuzz/ (STYLE.md rule 19):
# builds them into build-fuzz/ (make fuzz-build: clang, ASan+UBSan, only the
# pure sources each needs; build/ and build-asan/ are not touched), then
# runs each for 15 s with a fixed seed over its committed corpus. Each
# prints "ok - fuzz NAME: N runs, no crash"; a crash, leak, UB or broken
# property is "not ok" with the saved input's path. `make fuzz` and
# `make fuzz-long` run longer.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh

SECS=${GMAILDIR_FUZZ_SECONDS:-15}

# -fsanitize=fuzzer needs clang and its runtime (libclang-rt-14-dev on
# Debian 12; tests/deps.sh installs both).
probe=$(mktemp -d /tmp/gmaildir-fuzzprobe.XXXXXX)
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >"$probe/log" 2>&1; then
	not_ok "fuzz: clang with libFuzzer works (install clang libclang-rt-14-dev: tests/deps.sh)"
	sed 's/^/#   /' "$probe/log" | head -5
	exit 1
fi

if ! out=$(make --no-print-directory -s fuzz-build 2>&1); then
	not_ok "fuzz: make fuzz-build"
	printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
	exit 1
fi
ok "fuzz: make fuzz-build"

tests/fuzz/run.sh --smoke build-fuzz "$SECS"
