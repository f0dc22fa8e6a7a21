#!/usr/bin/env bash
# The two-way scenarios again on a server that announces neither CONDSTORE
# nor QRESYNC, so every sync takes the plain path (UID FETCH 1:* of UIDs and
# flags) instead of CHANGEDSINCE and the quiet-folder skip: both paths must
# give the same results.
export DC_CAP_HIDE="CONDSTORE QRESYNC"
exec bash "$(dirname "$0")/t_twoway.sh"
