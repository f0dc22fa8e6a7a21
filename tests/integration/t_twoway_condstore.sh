#!/usr/bin/env bash
# The two-way scenarios again on a server that announces CONDSTORE but not
# QRESYNC (as Gmail does), so every changed folder is read with UID FETCH
# ... (CHANGEDSINCE) and expunges are found by counting or UID SEARCH,
# instead of from the QRESYNC SELECT: every path must give the same results.
export DC_CAP_HIDE="QRESYNC"
exec bash "$(dirname "$0")/t_twoway.sh"
