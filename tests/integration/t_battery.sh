#!/usr/bin/env bash
# The two-way scenario battery of `make interop` (tests/interop/battery.sh)
# on the suite's own Dovecot: the same steps, over IMAP only, that Cyrus and
# Courier go through.
exec bash "$(dirname "$0")/../interop/battery.sh" dovecot
