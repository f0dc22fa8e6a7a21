#!/usr/bin/env bash
# The direction and deletion modes again on a server without QRESYNC (as
# Gmail): unchanged messages then come from their pairs, without the
# server's INTERNALDATE, and one restored under direction pull must still
# get it as its mtime.
export DC_CAP_HIDE="QRESYNC"
exec bash "$(dirname "$0")/t_twoway_modes.sh"
