#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_repl_crashhold.sh - both nodes lose power while a connected peer's
# log flushes lag behind the primary's destage. The hold that keeps the
# records the peer lacks lives in memory; the primary's log tail on disk
# stays at the peer's position (docs/replication.md, "Bitmaps"), so after
# the restart its log still has them, and keeps them until the peer
# connects (a hold from the start): a catch-up from the log, also when the
# peer returns after the restarted primary destaged them again (until the
# eighteenth session: a bitmap resync then; before 2026-12-03 a full
# sync). alpha (primary, protocol B, wb-min-peers 1), beta
# (secondary) on the fault-injection backend (WBREPD_FAULT_IO: a volatile
# write cache, its kill -9 a power cut; hold: its flushes wait while a file
# exists). Cases:
#   - beta's flushes held: 4 MiB written and acknowledged (in beta's
#     memory), alpha drained (all destaged; beta behind)
#   - alpha killed, beta's power cut (the 4 MiB lost there), alpha started
#     again and drained (all it recovered destaged), then beta: it
#     catches up from alpha's log (no resync at all); meanwhile alpha's
#     status (human, --json) and metrics show the 65 records kept for it
#   - both end byte-identical with everything acknowledged
#   - the same lag without a crash (beta's flushes held, 2 MiB written,
#     alpha drained): nothing goes into alpha's bitmap of beta (the log
#     keeps the records), beta catches up once its flushes do
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-crashhold "$WBREPD" "$WBCTL"
need_tools repl-crashhold nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-crashhold (engine wblog not registered)"
tmpdir repl-crashhold

. "$ROOT/tests/repl_lib.sh"
REPL_METRICS=1
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
	json alpha "s['dirty_bytes'] == 0 and s['seq']['head'] > $dur0 and s['peers'][0]['acked_seq'] == $dur0"; then
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
# alpha's log kept what beta lacked: its recovery starts at beta's position
if wait_log 60 "$T/alpha/wbrepd.log" "recovered [0-9]+ records .seq $dur0\\.\\."; then
	pass "repl-crashhold-kept" "($(grep -oE 'recovered [0-9]+ records \(seq [0-9.]+, [0-9]+ bytes dirty\)' "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "repl-crashhold-kept: $(grep -oE 'recovered [0-9]+ records \(seq [0-9.]+' "$T/alpha/wbrepd.log" | tail -1) (from seq $dur0 expected)"
fi
# beta comes back only after alpha destaged all it recovered: the log
# still keeps those records for it (held from the start until it connects)
ctl alpha drain r0 --timeout 60 >"$T/drain2" 2>&1 ||
	fail "repl-crashhold-drain2: $(cat "$T/drain2")"
# status says so: the records kept for beta, in the human line and the
# metrics too
if json alpha "s['dirty_bytes'] == 0 and s['peers'][0]['log_kept_records'] == s['seq']['head'] - $dur0" &&
	ctl alpha status r0 | grep -q "peer beta .*log-kept:$(jget alpha "s['peers'][0]['log_kept_records']")" &&
	curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" >"$T/metrics" &&
	grep -q "^wbrep_peer_log_kept_records{resource=\"r0\",peer=\"beta\"} $(jget alpha "s['peers'][0]['log_kept_records']")\$" "$T/metrics" &&
	grep -qE "the log keeps its [0-9]+ records \(seq $dur0\.\." "$T/alpha/wbrepd.log"; then
	pass "repl-crashhold-kept-status" "(log_kept_records $(jget alpha "s['peers'][0]['log_kept_records']") with everything destaged)"
else
	fail "repl-crashhold-kept-status: $(jget alpha "s['dirty_bytes'], s['seq'], s['peers'][0]") $(ctl alpha status r0 | grep 'peer beta')"
fi
sleep 0.3 # past the held tail's superblock write (50 ms)
WBREPD_FAULT_IO=$FAULT repl_start beta || fail "repl-crashhold-restart: beta: $REPL_WHY"
# beta's hello carries its seq: in alpha's log (catch-up), else a resync
if wait_log 120 "$T/alpha/wbrepd.log" "peer beta up .secondary, its seq" &&
	wait_for 120 json alpha "s['peers'][0]['disk'] == 'UpToDate' and s['peers'][0]['acked_seq'] == s['seq']['head']"; then
	how=$(grep -oE 'peer beta needs a [a-z]+ [a-z]+' "$T/alpha/wbrepd.log" | tail -1)
	b=$(grep -oE 'resync to peer beta started: [a-z]+, [0-9]+ bytes' "$T/alpha/wbrepd.log" | tail -1)
	if [ -z "$how" ] && [ -z "$b" ] && wait_for 30 json alpha "s['peers'][0]['log_kept_records'] == 0"; then
		pass "repl-crashhold-catchup" "(from alpha's log: $(grep -o 'peer beta up ([^)]*)' "$T/alpha/wbrepd.log" | tail -1))"
	else
		fail "repl-crashhold-catchup: $how; $b (a catch-up from alpha's log expected)"
	fi
else
	fail "repl-crashhold-catchup: $(grep -E 'peer beta (needs|up)|resync to peer beta' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
if wait_for 60 repl_uptodate alpha && wait_for 60 same_as "$T/img" alpha && same_as "$T/img" beta; then
	pass "repl-crashhold-identical"
else
	fail "repl-crashhold-identical: alpha: $(img_diff "$T/img" "$T/out.alpha"); beta: $(img_diff "$T/img" "$T/out.beta")"
fi

# ---- the same lag without a crash: nothing goes into the bitmap (the
# log keeps the records), beta catches up once its flushes do
if wait_for 30 json alpha "s['peers'][0]['acked_seq'] == s['seq']['head'] and s['peers'][0]['out_of_sync_bytes'] == 0"; then
	touch "$T/hold"
	img_rand 16 2
	dur1=$(jget alpha "s['peers'][0]['acked_seq']")
	if img_write alpha 16 2 65536 noflush && ctl alpha drain r0 --timeout 60 >"$T/drain" 2>&1 &&
		json alpha "s['dirty_bytes'] == 0 and s['peers'][0]['acked_seq'] == $dur1 and s['seq']['head'] > $dur1 and s['peers'][0]['out_of_sync_bytes'] == 0"; then
		rm -f "$T/hold"
		# a held flush looks at the file again at beta's next submit
		put_img 20 1 alpha || fail "repl-crashhold-lag: writing after the hold"
		if wait_for 60 json alpha "s['peers'][0]['acked_seq'] == s['seq']['head'] and s['peers'][0]['out_of_sync_bytes'] == 0 and s['peers'][0]['disk'] == 'UpToDate'" &&
			same_as "$T/img" beta; then
			pass "repl-crashhold-lag-caughtup" "(beta behind at seq $dur1 with everything destaged: no bitmap, caught up once its flushes did)"
		else
			fail "repl-crashhold-lag-caughtup: $(jget alpha "s['peers'][0]") $(grep 'peer beta' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
		fi
	else
		fail "repl-crashhold-lag: $(cat "$T/drain") $(jget alpha "s['peers'][0]") $(grep 'peer beta' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
	fi
	rm -f "$T/hold"
else
	fail "repl-crashhold-lag: beta not in sync before: $(jget alpha "s['peers'][0]")"
fi

repl_log_clean repl-crashhold alpha beta
finish
