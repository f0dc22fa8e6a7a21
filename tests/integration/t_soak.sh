#!/usr/bin/env bash
# The bounded soak of `make check` (issue #8): tests/soak/soak.sh for 90 s
# of changes both ways under periodic connection cuts; about 2 minutes in
# all. `make soak` runs the same for longer (SOAK_SECONDS, default 1800).
set -u
cd "$(dirname "$0")/../.." || exit 1
SOAK_SECONDS=90 exec tests/soak/soak.sh
