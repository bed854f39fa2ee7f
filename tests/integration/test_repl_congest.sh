#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_congest.sh - a congested peer as `wbctl status` shows it
# (docs/replication.md, "Catch-up"; docs/wbctl.md): alpha (primary) and
# beta (secondary) with send-queue-max = 64K and ping-timeout = 10min (so
# that a stalled reader is not dropped while the test looks at it). beta
# is stopped (SIGSTOP: it reads nothing), a writer puts 24 MiB through
# alpha; once the kernel's socket buffers and the 64 KiB queue are full,
# alpha's sends to beta fail with EAGAIN: beta is congested. Cases:
#   - status --json on alpha: beta Connected, disk UpToDate, replication
#     Congested, congested true, send_queue_max_bytes 65536 and bytes
#     queued; alpha still in write-back with 1/1 peers connected (the
#     policy counts a congested peer, write-back waits for it);
#   - the human status says the same (replication:Congested, the send
#     queue's fill, "congested"), and the metrics (wbrep_peer_congested 1,
#     wbrep_peer_send_queue_bytes > 0, wbrep_peers_connected 1);
#   - beta continued (SIGCONT): it catches up, replication Established,
#     the writer finishes, beta's export is alpha's data, and no link was
#     dropped meanwhile (no ping timeout);
#   - reload (SIGHUP): a new send-queue-max shows on the live link, a new
#     ping-timeout of 2 s drops a stopped beta, which comes back UpToDate
#   - configuration: send-queue-max and ping-timeout out of range are
#     refused by wbctl check with the key's name.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-congest "$WBREPD" "$WBCTL"
need_tools repl-congest nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-congest (engine wblog not registered)"
tmpdir repl-congest

. "$ROOT/tests/repl_lib.sh"
REPL_METRICS=1
repl_init alpha beta || finish

# ---- the keys are validated: conf_refused CASE KEY VALUE
conf_refused() {
	local out
	repl_conf alpha primary "$2=$3"
	if out=$("$WBCTL" config check "$T/alpha/wbrep.conf" 2>&1); then
		fail "repl-congest-conf-$1: $2 = $3 accepted"
	elif grep -q "$2" <<<"$out"; then
		pass "repl-congest-conf-$1 ($(grep "$2" <<<"$out" | head -1))"
	else
		fail "repl-congest-conf-$1: the error does not name the key: $out"
	fi
}
conf_refused sndq-range send-queue-max 4K
conf_refused sndq-range-high send-queue-max 2G
conf_refused ping-range ping-timeout 1s

repl_conf alpha primary send-queue-max=64K ping-timeout=10min
repl_conf beta secondary send-queue-max=64K ping-timeout=10min
repl_start alpha || { fail "repl-congest-start: alpha"; finish; }
repl_start beta || { fail "repl-congest-start: beta"; finish; }
if ! wait_for 60 repl_uptodate alpha; then
	fail "repl-congest-link: alpha does not see beta up to date: $(tr '\n' ' ' <"$T/st.alpha" | head -c 300)"
	finish
fi

# ---- beta stops reading; a writer fills alpha's queue to it
BETA=${PID[beta]}
on_cleanup "kill -CONT $BETA"
kill -STOP "$BETA"
head -c $((24 << 20)) /dev/urandom >"$T/data"
mkimg "$T/img" "$T/data" 4
# 64 requests of 256 KiB in flight: 16 MiB, more than the socket buffers
# (a few MiB on loopback) and the queue hold while beta reads nothing
timeout 600 nbdcopy --connections=1 --requests=64 --request-size=262144 "$T/img" "$(URI alpha)" \
	>"$T/nbdcopy.out" 2>&1 &
WPID=$!
track_pid "$WPID"

CONGESTED='p["connection"] == "Connected" and p["disk"] == "UpToDate" and p["replication"] == "Congested" and p["congested"] is True and p["send_queue_max_bytes"] == 65536 and p["send_queue_bytes"] > 0'
if wait_for 120 st alpha "$CONGESTED"; then
	pass "repl-congest-json ($(jget alpha '"%d of %d bytes queued, lag %d" % (s["peers"][0]["send_queue_bytes"], s["peers"][0]["send_queue_max_bytes"], s["peers"][0]["seq_lag"])'))"
else
	fail "repl-congest-json: beta on alpha: $(jget alpha 's["peers"]' 2>&1 | head -c 400)"
fi
if st alpha 'r["mode"] == "writeback" and r["peers_connected"] == 1'; then
	pass "repl-congest-policy (alpha writeback, 1/1 peers connected)"
else
	fail "repl-congest-policy: alpha $(jget alpha 's["mode"], s["peers_connected"], s["mode_reason"]' 2>&1)"
fi
ctl alpha status r0 >"$T/human" 2>&1
line=$(grep -A1 "peer beta" "$T/human" | tr '\n' ' ')
if grep -q "peer beta .*Connected.*disk:UpToDate replication:Congested" "$T/human" &&
	grep -qE "send queue .* of 64\.0 KiB \([0-9]+%\), congested: write-back waits for this peer" "$T/human"; then
	pass "repl-congest-human ($line)"
else
	fail "repl-congest-human: $line"
fi
if curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" >"$T/metrics" &&
	grep -q '^wbrep_peer_congested{resource="r0",peer="beta"} 1$' "$T/metrics" &&
	grep -qE '^wbrep_peer_send_queue_bytes\{resource="r0",peer="beta"\} [1-9][0-9]*$' "$T/metrics" &&
	grep -q '^wbrep_peers_connected{resource="r0"} 1$' "$T/metrics"; then
	pass "repl-congest-metrics"
else
	fail "repl-congest-metrics: $(grep -E 'wbrep_peer_(congested|send_queue)|wbrep_peers_connected' "$T/metrics" | tr '\n' '|')"
fi
is_alive "$WPID" && pass "repl-congest-backpressure (the writer waits for beta)" ||
	fail "repl-congest-backpressure: the writer finished while beta was stopped: $(cat "$T/nbdcopy.out")"

# ---- beta reads again: it catches up, the writer finishes
kill -CONT "$BETA"
if wait_exit "$WPID" 300 && wait "$WPID"; then
	pass "repl-congest-writer-done"
else
	fail "repl-congest-writer-done: nbdcopy: $(tail -2 "$T/nbdcopy.out")"
fi
if wait_for 120 repl_uptodate alpha && st alpha 'p["congested"] is False'; then
	pass "repl-congest-recovered (beta Established again)"
else
	fail "repl-congest-recovered: beta on alpha: $(jget alpha 's["peers"]' 2>&1 | head -c 400)"
fi
if wait_for 120 same_as "$T/img" beta; then
	pass "repl-congest-data (beta's export is alpha's data)"
else
	fail "repl-congest-data: $(img_diff "$T/img" "$T/out.beta")"
fi
if grep -qE "ping timeout|peer beta down" "$T/alpha/wbrepd.log"; then
	fail "repl-congest-no-drop: $(grep -E 'ping timeout|down' "$T/alpha/wbrepd.log" | head -2 | tr '\n' ' ')"
else
	pass "repl-congest-no-drop (the link stayed up while beta was stopped)"
fi
# ---- reload: a new send cap and ping timeout apply to the live link
# (no reconnect); a stopped beta is then dropped after 2 s, not 10 min
repl_conf alpha primary send-queue-max=128K ping-timeout=2s
n0=$(grep -c 'reload: configuration applied' "$T/alpha/wbrepd.log")
kill -HUP "${PID[alpha]}"
if wait_log_count 30 "$T/alpha/wbrepd.log" 'reload: configuration applied' "$n0" &&
	grep -q 'replication links: send-queue-max 131072 bytes, ping-timeout 2000 ms' "$T/alpha/wbrepd.log" &&
	wait_for 30 st alpha 'p["connection"] == "Connected" and p["send_queue_max_bytes"] == 131072'; then
	pass "repl-congest-reload-sndq (send_queue_max_bytes 131072 on the live link)"
else
	fail "repl-congest-reload-sndq: $(grep -E 'reload|replication links' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ') $(jget alpha 's["peers"]' 2>&1 | head -c 300)"
fi
kill -STOP "$BETA"
t0=$SECONDS
if wait_for 60 grep -q 'ping timeout' "$T/alpha/wbrepd.log"; then
	pass "repl-congest-reload-ping (beta stopped: dropped after $((SECONDS - t0)) s by the reloaded 2 s ping timeout)"
else
	fail "repl-congest-reload-ping: no ping timeout within 60 s of stopping beta"
fi
kill -CONT "$BETA"
if wait_for 120 repl_uptodate alpha; then
	pass "repl-congest-reload-reconnect (beta UpToDate again)"
else
	fail "repl-congest-reload-reconnect: $(jget alpha 's["peers"]' 2>&1 | head -c 300)"
fi
repl_stop beta
repl_stop alpha
repl_log_clean repl-congest alpha beta
finish
