#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_repl_crashhold.sh - both nodes lose power while a connected peer's
# log flushes lag behind the primary's destage: the primary's log tail on
# disk passed the peer's durable position while the link was up (the hold
# that kept those records was in memory), so after the restart its log no
# longer has them. The primary's bitmap of the peer tracks from that
# position before the tail passes it (docs/replication.md, "Bitmaps"; as
# DRBD's activity log): a bitmap resync of what the peer lost, not a full
# sync of the device. alpha (primary, protocol B, wb-min-peers 1), beta
# (secondary) on the fault-injection backend (WBREPD_FAULT_IO: a volatile
# write cache, its kill -9 a power cut; hold: its flushes wait while a file
# exists). Cases:
#   - beta's flushes held: 4 MiB written and acknowledged (in beta's
#     memory), alpha drained (its tail on disk moves past them; beta
#     still behind 200 ms later: its bitmap tracks)
#   - alpha killed, beta's power cut (the 4 MiB lost there), both started
#     again: alpha resyncs beta with a bitmap resync of about 4 MiB, not a
#     full sync of the 64 MiB device (before 2026-12-03: full)
#   - both end byte-identical with everything acknowledged
#   - the same lag without a crash (beta's flushes held, 2 MiB written,
#     alpha drained): alpha's bitmap of beta tracks while the tail passes
#     it, and is cleared once beta's flushes caught up
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-crashhold "$WBREPD" "$WBCTL"
need_tools repl-crashhold nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-crashhold (engine wblog not registered)"
tmpdir repl-crashhold
[ -n "${WB_KEEP:-}" ] && on_cleanup "cp -r $T $WB_KEEP"

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
FAULT="drop=1000,tear=0,seed=1,hold=$T/hold"
on_cleanup "rm -f $T/hold"
repl_conf alpha primary protocol=B wb-min-peers=1
repl_conf beta secondary protocol=B wb-min-peers=1
repl_start alpha || {
	fail "repl-crashhold-start: alpha: $REPL_WHY"
	finish
}
WBREPD_FAULT_IO=$FAULT repl_start beta || {
	fail "repl-crashhold-start: beta: $REPL_WHY"
	finish
}
truncate -s "$DEVSZ" "$T/img"
if wait_for 60 repl_uptodate alpha && put_img 0 2 alpha && wait_for 60 repl_caught_up alpha beta &&
	wait_for 30 json alpha "s['peers'][0]['acked_seq'] == s['seq']['head']"; then
	pass "repl-crashhold-setup" "(2 MiB written)"
else
	fail "repl-crashhold-setup: $(head -c 300 "$T/st.alpha")"
	finish
fi

# ---- beta's log flushes held: 4 MiB acknowledged from beta's memory;
# alpha drained: its tail on disk passes what beta has durable
touch "$T/hold"
img_rand 8 4
dur0=$(json alpha True && jget alpha "s['peers'][0]['acked_seq']")
if img_write alpha 8 4 65536 noflush && ctl alpha drain r0 --timeout 60 >"$T/drain" 2>&1 &&
	json alpha "s['dirty_bytes'] == 0 and s['seq']['head'] > $dur0 and s['peers'][0]['acked_seq'] == $dur0" &&
	wait_log 30 "$T/alpha/wbrepd.log" "peer beta: the log's tail on disk passes its position"; then
	pass "repl-crashhold-held" "(beta durable at seq $dur0 as alpha knows, alpha's head $(jget alpha "s['seq']['head']"), all destaged)"
else
	fail "repl-crashhold-held: $(cat "$T/drain") $(jget alpha "s['seq'], s['dirty_bytes'], s['peers'][0]['acked_seq']") (beta at $dur0)"
	finish
fi

# ---- both lose power; started again, alpha resyncs what beta lost
repl_stop alpha KILL
repl_stop beta KILL
rm -f "$T/hold"
repl_start alpha || fail "repl-crashhold-restart: alpha: $REPL_WHY"
WBREPD_FAULT_IO=$FAULT repl_start beta || fail "repl-crashhold-restart: beta: $REPL_WHY"
if wait_log 120 "$T/alpha/wbrepd.log" "resync to peer beta: finished" &&
	grep "resync to peer beta started" "$T/alpha/wbrepd.log" | tail -1 | grep -q "started: bitmap"; then
	pass "repl-crashhold-bitmap" "($(grep -o 'resync to peer beta started: [a-z ]*, [0-9]* bytes' "$T/alpha/wbrepd.log" | tail -1); $(grep -o 'peer beta needs a [a-z ]* ([^)]*)' "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "repl-crashhold-bitmap: $(grep -E 'peer beta (needs|up)|resync to peer beta' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
b=$(grep -oE 'resync to peer beta started: bitmap, [0-9]+ bytes' "$T/alpha/wbrepd.log" | tail -1 | grep -oE '[0-9]+ bytes' | cut -d' ' -f1)
[ -n "$b" ] && [ "$b" -ge $((4 << 20)) ] && [ "$b" -lt $((32 << 20)) ] ||
	fail "repl-crashhold-bytes: ${b:-no} bytes resynced (about 4 MiB expected)"
if wait_for 60 repl_uptodate alpha && wait_for 60 same_as "$T/img" alpha && same_as "$T/img" beta; then
	pass "repl-crashhold-identical"
else
	fail "repl-crashhold-identical: alpha: $(img_diff "$T/img" "$T/out.alpha"); beta: $(img_diff "$T/img" "$T/out.beta")"
fi

# ---- the same lag without a crash: the bitmap that tracked beta while
# the tail passed it is cleared once beta's flushes caught up
if wait_for 30 json alpha "s['peers'][0]['acked_seq'] == s['seq']['head'] and s['peers'][0]['out_of_sync_bytes'] == 0"; then
	n_tr=$(grep -c "peer beta: the log's tail on disk passes its position" "$T/alpha/wbrepd.log")
	n_cl=$(grep -c "peer beta in sync at seq" "$T/alpha/wbrepd.log")
	touch "$T/hold"
	img_rand 16 2
	if img_write alpha 16 2 65536 noflush && ctl alpha drain r0 --timeout 60 >"$T/drain" 2>&1 &&
		wait_log_count 30 "$T/alpha/wbrepd.log" "peer beta: the log's tail on disk passes its position" "$n_tr" &&
		json alpha "s['peers'][0]['out_of_sync_bytes'] >= 2 << 20"; then
		oos=$(jget alpha "s['peers'][0]['out_of_sync_bytes']")
		rm -f "$T/hold"
		# a held flush looks at the file again at beta's next submit
		put_img 20 1 alpha || fail "repl-crashhold-lag: writing after the hold"
		if wait_log_count 60 "$T/alpha/wbrepd.log" "peer beta in sync at seq" "$n_cl" &&
			wait_for 30 json alpha "s['peers'][0]['out_of_sync_bytes'] == 0 and s['peers'][0]['disk'] == 'UpToDate'" &&
			same_as "$T/img" beta; then
			pass "repl-crashhold-lag-cleared" "($oos bytes tracked while the tail passed beta, cleared once its flushes caught up)"
		else
			fail "repl-crashhold-lag-cleared: $(jget alpha "s['peers'][0]") $(grep 'peer beta' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
		fi
	else
		fail "repl-crashhold-lag-tracked: $(cat "$T/drain") $(jget alpha "s['peers'][0]") $(grep 'peer beta' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
	fi
	rm -f "$T/hold"
else
	fail "repl-crashhold-lag: beta not in sync before: $(jget alpha "s['peers'][0]")"
fi

repl_log_clean repl-crashhold alpha beta
finish
