#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_bounds.sh - what a hostile client can make wbrepd spend is bounded
# (docs/daemon.md, "Memory bounds"). Each case runs a client from
# hostile.py against one daemon and checks the daemon's memory (VmRSS from
# /proc) against the documented caps, and that the daemon still serves:
#   - control socket: pipelined requests whose replies are never read stop
#     being taken at the output cap; the 65th client is refused;
#   - metrics HTTP: an unterminated 32 MiB header is cut off; a request that
#     never ends is closed by the timeout;
#   - NBD: 32 unread 32 MiB reads, 32 unread NBD_OPT_INFO floods, 32 x 32 MiB
#     writes into ram-buffer 16M stay under the formula;
#   - under `ulimit -n 64`, 100 idle NBD connections: wbctl answers, the
#     daemon does not spin or flood its log, the handshake timeout closes
#     them.
# WBREPD=path runs the cases against another build (e.g. an old one, to see
# them fail); WB_BOUNDS_CASES=REGEX runs only the matching hostile.py cases. Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"
HOSTILE=$ROOT/tests/integration/hostile.py

need_bins bounds "$WBREPD" "$WBCTL"
need_tools bounds python3
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "bounds: engine wblog not built"
tmpdir bounds
wbctl() { "$WBCTL" -s "$T/ctl.sock" "$@"; }

PORT=$(free_port)
MPORT=$(free_port)
# 1 GiB exported (32 x 32 MiB writes) + wblog's 4 KiB identity block
truncate -s $(((1 << 30) + 4096)) "$T/b0"
truncate -s 256M "$T/l0"

# write_conf [EXTRA GLOBAL LINES] [EXTRA RESOURCE LINES]
write_conf() {
	{
		conf_global boundstest "log-level = info" "metrics-listen = 127.0.0.1:$MPORT" "${1:-}"
		conf_resource r0 engine=wblog backing="$T/b0" log="$T/l0" nbd-socket="$T/s0" \
			nbd-listen="127.0.0.1:$PORT" ram-buffer=16M "${2:-}"
	} >"$WB_CONF"
}

daemon_ready() { [ -S "$T/s0" ] && [ -S "$T/ctl.sock" ]; }

# run CASE ARGS...: a hostile.py case; its PASS/FAIL lines are ours.
# WB_BOUNDS_CASES=REGEX runs only the cases whose name matches.
run() {
	[[ $1 =~ ${WB_BOUNDS_CASES:-.} ]] || return 0
	python3 "$HOSTILE" "$@" || fails=$((fails + 1))
}

write_conf
start_daemon daemon_ready || { fail "bounds-start: wbrepd did not start"; exit 1; }

# ------------------------------------------------------------ control socket
run ctl-flood "$T/ctl.sock" "$DPID"
run ctl-clients "$T/ctl.sock" "$WB_DLOG"

# ------------------------------------------------------------ metrics HTTP
run http-header "127.0.0.1:$MPORT" "$DPID"
run http-idle "127.0.0.1:$MPORT"

# ------------------------------------------------------------ NBD
run nbd-read-flood "$T/s0" "$DPID"
run nbd-info-flood "$T/s0" "$DPID" 32
run nbd-write-flood "$T/s0" "$DPID" 16

# ------------------------------------------------------------ still healthy
if is_alive "$DPID" && wbctl status >/dev/null 2>&1; then
	pass "bounds-daemon-alive"
else
	fail "bounds-daemon-alive: wbrepd died or does not answer (log: $(tail -3 "$WB_DLOG"))"
fi
if stop_daemon; then
	pass "bounds-clean-exit"
else
	fail "bounds-clean-exit: wbrepd exited non-zero"
fi
# ------------------------------------------------------------ file limit
# wbrepd under `ulimit -n 64` and 100 idle NBD connections: max-clients is
# lowered to 64 - 32, the rest are closed at accept; no spinning on EMFILE.
if [[ nbd-idle =~ ${WB_BOUNDS_CASES:-.} ]]; then
	write_conf "" "max-clients=2"
	REAL=$WBREPD
	printf '#!/bin/sh\nulimit -n 64 || exit 1\nexec "%s" "$@"\n' "$REAL" >"$T/wbrepd64"
	chmod +x "$T/wbrepd64"
	WBREPD=$T/wbrepd64
	start_daemon daemon_ready || fail "bounds-start-ulimit: wbrepd did not start"
	WBREPD=$REAL
	if [ -n "$DPID" ]; then
		WBCTL=$WBCTL run nbd-idle "127.0.0.1:$PORT" "$DPID" 100 "$T/ctl.sock" "$WB_DLOG" 32
		run nbd-export-max "$T/s0" 2
		stop_daemon || fail "bounds-ulimit-clean-exit: wbrepd exited non-zero"
	fi
fi
finish
