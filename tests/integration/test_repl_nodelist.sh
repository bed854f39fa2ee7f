#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_nodelist.sh - the [node] list of a node's file changes between
# two runs (docs/replication.md, "Bitmaps": whose each bitmap is). A peer's
# dirty bitmap lives in the log's slot of the peer's place in that list;
# each slot remembers the node it was kept for. Three wbrepd on loopback
# with TLS, alpha primary. One block of gamma's backing is changed behind
# its back and `wbctl verify` on alpha finds it: alpha's bitmap of gamma
# holds it until a resync. alpha is stopped and its file lists the nodes
# as alpha, gamma, beta (was alpha, beta, gamma: the two peers swap slots).
# alpha must notice that each slot was kept for the other node and mark
# every region of both as found different (durably, before naming the new
# owners): gamma and beta get a full sync and gamma ends byte-identical.
# Before 2026-12-04 gamma took beta's clean bitmap, caught up from the log
# and stayed different, UpToDate (and beta got gamma's block resynced). A
# second restart with the same list finds both slots their owners'.
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-nodelist "$WBREPD" "$WBCTL" "$WBENGINE"
need_tools repl-nodelist nbdcopy nbdinfo openssl python3 cmp jq
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-nodelist (engine wblog not registered)"
tmpdir repl-nodelist

NODES="alpha beta gamma"
P=repl-nodelist
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
conf() {
	local role=secondary
	[ "$1" = alpha ] && role=primary
	repl_conf "$1" $role wb-min-peers=1
}
for n in $NODES; do
	conf $n
	repl_start $n || {
		fail "$P-start" "$n: $REPL_WHY"
		finish
	}
done
truncate -s "$DEVSZ" "$T/img"
all_up() { repl_uptodate alpha; }
if put_img 0 2 alpha && wait_for 60 all_up && wait_for 60 same_as "$T/img" gamma; then
	pass "$P-setup" "(2 MiB on all three)"
else
	fail "$P-setup" "not all UpToDate with the data"
	finish
fi

# one block of gamma's backing changed behind its back, found by a verify
BAD=256 # MiB 1, inside what was written
wait_for 120 json gamma 's["dirty_bytes"] == 0' || fail "$P-poke" "gamma's log is not clean"
repl_stop gamma
head -c 4096 /dev/urandom >"$T/junk"
dd if="$T/junk" of="$T/gamma/backing" bs=4096 seek=$BAD conv=notrunc,fsync status=none
repl_start gamma || fail "$P-poke" "gamma did not start again: $REPL_WHY"
if wait_for 60 all_up && ctl alpha verify r0 >"$T/verify" 2>&1 &&
	grep -q "r0: verify: block $BAD (offset $((BAD * 4096))) differs on peer gamma" "$T/alpha/wbrepd.log"; then
	pass "$P-found" "(the verify found gamma's block $BAD)"
else
	fail "$P-found" "$(cat "$T/verify"; grep 'r0: verify' "$T/alpha/wbrepd.log" | tail -2)"
fi

# alpha again with the [node] sections in another order
repl_stop alpha
REPL_NODES="alpha gamma beta"
conf alpha
n_warn() { grep -c "bitmap slot $1 was kept for node $2, the \[node\] list now makes it $3's" "$T/alpha/wbrepd.log"; }
if ! repl_start alpha; then
	fail "$P-restart" "alpha: $REPL_WHY"
	finish
fi
if [ "$(n_warn 0 beta gamma)" = 1 ] && [ "$(n_warn 1 gamma beta)" = 1 ]; then
	pass "$P-noticed" "(both slots were the other peer's: every region marked)"
else
	fail "$P-noticed" "alpha did not say so: $(grep -i 'bitmap slot' "$T/alpha/wbrepd.log" | tr '\n' ' ')"
fi
gamma_ok() { all_up && same_as "$T/img" gamma; }
if wait_for 120 gamma_ok; then
	pass "$P-gamma" "(identical; $(grep -o 'resync to peer gamma started: [a-z ]*, [0-9]* bytes' "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "$P-gamma" "gamma differs from what was written: $(img_diff "$T/img" "$T/out.gamma"); $(grep -E 'resync to peer gamma' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
if same_as "$T/img" beta && same_as "$T/img" alpha; then
	pass "$P-beta" "(alpha and beta identical too)"
else
	fail "$P-beta" "alpha or beta differs: beta $(img_diff "$T/img" "$T/out.beta"), alpha $(img_diff "$T/img" "$T/out.alpha")"
fi

# the same list again: both slots are their owners' now
repl_stop alpha
repl_start alpha || fail "$P-again" "alpha: $REPL_WHY"
if [ "$(grep -c 'bitmap slot [01] was kept for node' "$T/alpha/wbrepd.log")" = 2 ] && wait_for 60 all_up; then
	pass "$P-again" "(same list: nothing marked, both UpToDate)"
else
	fail "$P-again" "$(grep -i 'bitmap slot' "$T/alpha/wbrepd.log" | tr '\n' ' ')"
fi
for n in $NODES; do repl_stop $n; done
# the owners are on disk, as wbengine shows them (alpha's list: gamma, beta)
owners=$("$WBENGINE" info --log "$T/alpha/log" --backing "$T/alpha/backing" --json 2>&1 |
	jq -r '[.bitmaps[].owner] | join(",")')
if [ "$owners" = "gamma,beta,," ]; then
	pass "$P-info" "(wbengine info: slots $owners)"
else
	fail "$P-info" "wbengine info shows owners '$owners', not gamma,beta,,"
fi
repl_log_clean "$P" $NODES
finish
