#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_repl_oldprim.sh - an old primary that lost records in a power cut
# gets a bitmap resync from the node promoted in its place, not a full
# sync (docs/replication.md, "Bitmaps": the primary tells its durable
# position). alpha (primary, ack = memory, protocol C, wb-min-peers 1) runs
# on the fault-injection backend (WBREPD_FAULT_IO: a volatile write cache
# in the process, its kill -9 a power cut; hold: its flushes wait while a
# file exists); beta (secondary) has a 16 MiB log. Cases:
#   - told: with nothing written for a while, beta knows alpha's durable
#     position: alpha's head (the tells of an idle primary)
#   - alpha's log flushes held, 1 MiB written and acknowledged (beta has
#     it), alpha's power cut loses it; beta tracks alpha's bitmap from
#     the position alpha told last, is promoted and writes 20 MiB (more
#     than its log holds: the records alpha lacks leave beta's log);
#     alpha returns as secondary behind beta: a bitmap resync (the lost
#     1 MiB and the 20 MiB), not a full sync of the 64 MiB device (before
#     2026-12-03: full, beta tracked alpha only from its promotion on)
#   - both end byte-identical with everything acknowledged
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-oldprim "$WBREPD" "$WBCTL"
need_tools repl-oldprim nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-oldprim (engine wblog not registered)"
tmpdir repl-oldprim

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
truncate -s 16M "$T/beta/log"
FAULT="drop=1000,tear=0,seed=1,hold=$T/hold"
on_cleanup "rm -f $T/hold"
repl_conf alpha primary protocol=C ack=memory wb-min-peers=1
repl_conf beta secondary protocol=C wb-min-peers=1
WBREPD_FAULT_IO=$FAULT repl_start alpha || {
	fail "repl-oldprim-start: alpha: $REPL_WHY"
	finish
}
repl_start beta || {
	fail "repl-oldprim-start: beta: $REPL_WHY"
	finish
}
truncate -s "$DEVSZ" "$T/img"
if wait_for 60 repl_uptodate alpha && put_img 0 2 alpha; then
	pass "repl-oldprim-setup" "(2 MiB written)"
else
	fail "repl-oldprim-setup: $(head -c 300 "$T/st.alpha")"
	finish
fi

# ---- told: beta's view of alpha's durable position reaches alpha's head
# with nothing written (alpha's log flush, then its tell)
told() {
	json alpha True && st beta "p.get('acked_seq') == $(jget alpha "s['seq']['head']")"
}
if wait_for 30 told; then
	pass "repl-oldprim-told" "(alpha durable at seq $(jget beta "s['peers'][0]['acked_seq']") as beta knows)"
else
	fail "repl-oldprim-told: beta knows $(jget beta "s['peers'][0].get('acked_seq')"), alpha's head $(jget alpha "s['seq']['head']")"
fi

# ---- alpha's log flushes held: 1 MiB acknowledged (beta wrote it), never
# durable on alpha; alpha's power cut loses it
touch "$T/hold"
img_rand 4 1
if img_write alpha 4 1 65536 noflush; then
	pass "repl-oldprim-held-writes" "(1 MiB acknowledged, alpha's flushes held)"
else
	fail "repl-oldprim-held-writes: the writes were not acknowledged"
	finish
fi
head_a=$(json alpha True && jget alpha "s['seq']['head']")
n_tr=$(grep -c "peer alpha: bitmap tracks records from seq" "$T/beta/wbrepd.log")
repl_stop alpha KILL
rm -f "$T/hold"
if wait_log_count 30 "$T/beta/wbrepd.log" "peer alpha: bitmap tracks records from seq" "$n_tr"; then
	pass "repl-oldprim-tracks" "(alpha's head was $head_a; beta: $(grep -o 'peer alpha: bitmap tracks records from seq [0-9]*' "$T/beta/wbrepd.log" | tail -1))"
else
	fail "repl-oldprim-tracks: beta does not track alpha from its told position"
fi

# ---- beta promoted writes 20 MiB (its 16 MiB log lets go of alpha's
# position); alpha returns as secondary
if ctl beta primary r0 >"$T/p.beta" 2>&1 && put_img 8 20 beta; then
	pass "repl-oldprim-promoted" "(20 MiB through beta)"
else
	fail "repl-oldprim-promoted: $(cat "$T/p.beta")"
	finish
fi
repl_conf alpha secondary protocol=C wb-min-peers=1
repl_start alpha || fail "repl-oldprim-restart: alpha: $REPL_WHY"
head_r=$(grep -o 'peer beta up (primary, its seq [0-9]*, ours [0-9]*' "$T/alpha/wbrepd.log" | tail -1)
if wait_log 120 "$T/beta/wbrepd.log" "resync to peer alpha: finished" &&
	grep "resync to peer alpha started" "$T/beta/wbrepd.log" | tail -1 | grep -q "started: bitmap"; then
	pass "repl-oldprim-bitmap" "($(grep -o 'resync to peer alpha started: [a-z ]*, [0-9]* bytes' "$T/beta/wbrepd.log" | tail -1); alpha: $head_r)"
else
	fail "repl-oldprim-bitmap: $(grep -E 'peer alpha (needs|up)|resync to peer alpha|alpha: this node' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
b=$(grep -oE 'resync to peer alpha started: bitmap, [0-9]+ bytes' "$T/beta/wbrepd.log" | tail -1 | grep -oE '[0-9]+ bytes' | cut -d' ' -f1)
[ -n "$b" ] && [ "$b" -ge $((21 << 20)) ] && [ "$b" -lt $((48 << 20)) ] ||
	fail "repl-oldprim-bytes: ${b:-no} bytes resynced (the 21 MiB expected)"
if wait_for 60 same_as "$T/img" alpha && same_as "$T/img" beta; then
	pass "repl-oldprim-identical"
else
	fail "repl-oldprim-identical: alpha: $(img_diff "$T/img" "$T/out.alpha"); beta: $(img_diff "$T/img" "$T/out.beta")"
fi

repl_log_clean repl-oldprim alpha beta
finish
