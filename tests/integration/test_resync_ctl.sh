#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_resync_ctl.sh - c-delay-target, the sync target's delay controller
# (docs/replication.md, "Resync"): alpha (primary) reaches beta through
# the fault-injecting proxy tests/integration/faultproxy.py on loopback,
# TLS end to end (tests/repl_lib.sh).
#   - a full sync of beta (--discard-my-data) over a link capped at
#     4 MB/s: what the resync queues on the slow link (every application
#     record waits behind it) shrinks beta's window below the 2 requests
#     it starts with; status, JSON and the metric show it
#   - the cap lifted (resync-rate 8M by a reload, so that the sync lasts
#     long enough to look at): the window grows back to the full 8 MiB, it
#     does not stick at its floor
#   - the sync ends: beta's export reads back as alpha's
#   - another full sync (link capped at 16 MB/s) begun with
#     c-delay-target = 0 (the fixed 8 MiB) and the controller turned on by
#     a reload in its middle: it goes on with the controller's window and
#     ends identical
set -u
. "$(dirname "$0")/../lib.sh"

need_bins resync-ctl "$WBREPD" "$WBCTL"
need_tools resync-ctl nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resync-ctl (engine wblog not registered)"
tmpdir rsctl

REPL_SIZE_MB=128
REPL_METRICS=1
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
proxy_link alpha beta || { # alpha sorts first: it connects
	fail "resync-ctl-proxy: $(cat "$T/proxy.log")"
	finish
}
MIB=1048576

repl_conf alpha primary wb-min-peers=1
repl_conf beta secondary wb-min-peers=1 c-delay-target=20
repl_start alpha && repl_start beta || {
	fail "resync-ctl-start"
	finish
}
wait_for 120 repl_uptodate alpha || {
	fail "resync-ctl-up: $(head -c 300 "$T/st.alpha")"
	finish
}
# 16 MiB of random data through alpha: what beta must end with
head -c $((16 * MIB)) /dev/urandom >"$T/data"
timeout 120 nbdcopy "$T/data" "$(URI alpha)" || fail "resync-ctl: writing to alpha failed"
ctl alpha flush r0 >/dev/null 2>&1
timeout 300 nbdcopy "$(URI alpha)" "$T/img" || fail "resync-ctl: reading alpha failed"
nfin() { grep -cE "resync from [a-z]+: finished" "$T/beta/wbrepd.log"; }
n0=$(nfin)

# ---- a slow link: the window shrinks
proxy rate 4000000 >/dev/null || fail "resync-ctl: the proxy took no rate"
ctl beta connect r0 --discard-my-data >"$T/conn" 2>&1 || fail "resync-ctl: $(cat "$T/conn")"
if wait_for 60 st beta "p.get('replication') == 'SyncTarget' and p.get('resync_window_bytes') is not None and p['resync_window_bytes'] < 2 * $MIB" &&
	ctl beta status r0 >"$T/human" 2>&1 && grep -qE "window [0-9.]+ ?[KM]i?B, queue [0-9]+\.[0-9] ms" "$T/human" &&
	curl -fsS "http://127.0.0.1:${MPORT[beta]}/metrics" >"$T/metrics" &&
	grep -qE '^wbrep_peer_resync_window_bytes\{resource="r0",peer="alpha"\} [0-9]+$' "$T/metrics"; then
	pass "resync-ctl-shrinks" "($(grep -oE '"resync_(window_bytes|queue_us|done_bytes)": [0-9]+' "$T/st.beta" | tr '\n' ' '); $(grep -oE 'window [^,]*, queue [0-9.]+ ms' "$T/human"))"
else
	fail "resync-ctl-shrinks: beta $(grep -oE '"(replication|resync_[a-z_]+)": [^,]*' "$T/st.beta" | tr '\n' ' '); $(grep -i window "$T/human")"
fi

# ---- the cap lifted: back to the full window
proxy rate 0 >/dev/null
repl_conf beta secondary wb-min-peers=1 c-delay-target=20 resync-rate=8M
ctl beta reload >/dev/null 2>&1 || fail "resync-ctl: wbctl reload on beta failed"
if wait_for 60 st beta "p.get('replication') == 'SyncTarget' and p.get('resync_window_bytes') == 8 * $MIB"; then
	pass "resync-ctl-grows" "($(grep -oE '"resync_(window_bytes|queue_us|done_bytes)": [0-9]+' "$T/st.beta" | tr '\n' ' '))"
else
	fail "resync-ctl-grows: beta $(grep -oE '"(replication|resync_[a-z_]+)": [^,]*' "$T/st.beta" | tr '\n' ' ')"
fi

# ---- it ends, beta holds alpha's data
if wait_log_count 180 "$T/beta/wbrepd.log" "resync from [a-z]+: finished" "$n0" &&
	wait_for 60 st beta 'r["disk_state"] == "UpToDate"' && wait_for 60 same_as "$T/img" beta; then
	pass "resync-ctl-identical" "($(grep -E 'resync from alpha: finished' "$T/beta/wbrepd.log" | tail -1 | grep -oE 'finished.*'))"
else
	fail "resync-ctl-identical: $(grep -E 'resync' "$T/beta/wbrepd.log" | tail -2 | tr '\n' ' '); $(img_diff "$T/img" "$T/out.beta")"
fi

# ---- turned on by a reload in the middle of a sync that began without
# it: the fixed 8 MiB, then the controller's window from the next answer
# on (it starts from its 2 requests); the sync ends, identical
# unpaced (8 requests in flight, answers close behind each other) over a
# link capped at 16 MB/s so that it lasts: answers may come before the
# next request is asked for
repl_conf beta secondary wb-min-peers=1 c-delay-target=0
ctl beta reload >/dev/null 2>&1 || fail "resync-ctl-on: wbctl reload on beta failed"
proxy rate 16000000 >/dev/null || fail "resync-ctl-on: the proxy took no rate"
n1=$(nfin)
ctl beta connect r0 --discard-my-data >"$T/conn" 2>&1 || fail "resync-ctl-on: $(cat "$T/conn")"
if wait_for 60 st beta "p.get('replication') == 'SyncTarget' and p.get('resync_window_bytes') == 8 * $MIB and (p.get('resync_done_bytes') or 0) > 0"; then
	w0=$(jget beta '(s["peers"] or [{}])[0].get("resync_window_bytes")')
	repl_conf beta secondary wb-min-peers=1 c-delay-target=20
	ctl beta reload >/dev/null 2>&1 || fail "resync-ctl-on: wbctl reload on beta failed"
	proxy rate 0 >/dev/null
	if wait_log_count 180 "$T/beta/wbrepd.log" "resync from [a-z]+: finished" "$n1" &&
		grep -q "resync from alpha: c-delay-target 20 ms" "$T/beta/wbrepd.log" &&
		kill -0 "${PID[beta]}" 2>/dev/null && wait_for 60 same_as "$T/img" beta; then
		pass "resync-ctl-on" "(window $w0 before the reload; $(grep -o 'c-delay-target 20 ms: .*' "$T/beta/wbrepd.log" | tail -1))"
	else
		fail "resync-ctl-on: beta $(kill -0 "${PID[beta]}" 2>/dev/null && echo running || echo GONE); $(tail -3 "$T/beta/wbrepd.log" | tr '\n' ' ')"
	fi
else
	fail "resync-ctl-on: beta $(grep -oE '"(replication|resync_[a-z_]+)": [^,]*' "$T/st.beta" | tr '\n' ' ')"
fi
finish
