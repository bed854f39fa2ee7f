#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_repl_stophold.sh - a clean stop turns the log's holds for its peers
# into bitmaps (docs/replication.md, "Bitmaps"). alpha (primary,
# protocol A so its writes do not wait for beta, a 16 MiB log) and beta
# (secondary) are connected; beta is stopped (SIGSTOP, well within the
# 60 s ping timeout: the link stays up, alpha keeps its log from beta's
# last durable ack); 2 MiB are written and destaged on alpha, then alpha
# is stopped cleanly and beta killed. Cases:
#   - beta's bitmap tracks from the position alpha's log was held at for
#     it (the hold lives in memory): since the drain moved the log's tail
#     on disk past it (since 2026-12-03), else from alpha's clean stop
#   - beta, back, gets a bitmap resync of the 2 MiB, not a full sync of
#     the 64 MiB device (before 2026-12-03: alpha restarted with the tail
#     past beta's position and tracked beta from there, and the coverage
#     check made it a full sync)
#   - both end byte-identical with everything written
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-stophold "$WBREPD" "$WBCTL"
need_tools repl-stophold nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-stophold (engine wblog not registered)"
tmpdir repl-stophold

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
truncate -s 16M "$T/alpha/log"
repl_conf alpha primary protocol=A wb-min-peers=1 ping-timeout=60s
repl_conf beta secondary protocol=A ping-timeout=60s
repl_start alpha || {
	fail "repl-stophold-start: alpha: $REPL_WHY"
	finish
}
repl_start beta || {
	fail "repl-stophold-start: beta: $REPL_WHY"
	finish
}
truncate -s "$DEVSZ" "$T/img"
if wait_for 60 repl_uptodate alpha && put_img 0 2 alpha && wait_for 60 repl_caught_up alpha beta; then
	pass "repl-stophold-setup" "(2 MiB on both)"
else
	fail "repl-stophold-setup: $(head -c 300 "$T/st.alpha")"
	finish
fi

kill -STOP "${PID[beta]}"
on_cleanup "kill -CONT ${PID[beta]} 2>/dev/null"
if put_img 8 2 alpha && ctl alpha drain r0 >"$T/drain" 2>&1 && json alpha 's["dirty_bytes"] == 0'; then
	pass "repl-stophold-written" "(2 MiB more with beta stopped, destaged on alpha)"
else
	fail "repl-stophold-written: $(cat "$T/drain") $(head -c 300 "$T/st.alpha")"
fi
repl_stop alpha
repl_stop beta KILL
if sed -n '/r0: going down/,$p' "$T/alpha/wbrepd.log" | grep -q "peer beta: bitmap tracks records from seq"; then
	pass "repl-stophold-tracks" "($(sed -n '/r0: going down/,$p' "$T/alpha/wbrepd.log" | grep -o 'peer beta: bitmap tracks records from seq [0-9]*' | tail -1) at the stop)"
elif grep -q "peer beta: the log's tail on disk passes its position" "$T/alpha/wbrepd.log"; then
	pass "repl-stophold-tracks" "($(grep -o "peer beta: the log's tail on disk passes its position (seq [0-9]*)" "$T/alpha/wbrepd.log" | tail -1): tracking since the drain)"
else
	fail "repl-stophold-tracks: alpha's stop did not make beta's bitmap track from its hold"
fi

repl_start alpha || fail "repl-stophold-restart: alpha: $REPL_WHY"
repl_start beta || fail "repl-stophold-restart: beta: $REPL_WHY"
if wait_for 60 repl_uptodate alpha; then
	if grep -q "resync to peer beta started: full" "$T/alpha/wbrepd.log"; then
		fail "repl-stophold-no-full-sync: $(grep -E 'peer beta (needs|up)|resync to peer beta started' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
	else
		pass "repl-stophold-no-full-sync" "($(grep -E 'peer beta up|resync to peer beta started' "$T/alpha/wbrepd.log" | tail -1 | sed 's/.*r0: //'))"
	fi
else
	fail "repl-stophold-uptodate: $(head -c 300 "$T/st.alpha")"
fi
if wait_for 60 same_as "$T/img" beta && same_as "$T/img" alpha; then
	pass "repl-stophold-identical"
else
	fail "repl-stophold-identical: beta: $(img_diff "$T/img" "$T/out.beta"); alpha: $(img_diff "$T/img" "$T/out.alpha")"
fi

repl_log_clean repl-stophold alpha beta
finish
