#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_nodelist.sh - the [node] list of a node's file changes between
# two runs (docs/replication.md, "Bitmaps": whose each bitmap is). Each
# slot of the log's dirty bitmaps remembers the node it was kept for, and a
# peer takes the slot with its name. Three wbrepd on loopback with TLS,
# alpha primary. One block of gamma's backing is changed behind its back
# and `wbctl verify` on alpha finds it: alpha's bitmap of gamma holds it
# until a resync. alpha restarted with the nodes as alpha, gamma, beta
# (was alpha, beta, gamma): no slot changes hands, gamma gets a bitmap
# resync of its block from its own bitmap and ends byte-identical, beta
# nothing (before 2026-12-04 slots were places: both were marked whole and
# fully synced; before that, gamma took beta's clean bitmap and stayed
# different). beta left out of alpha's list: its slot is marked whole and
# freed; beta back: a full sync into a free slot. Owners on disk checked.
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

# alpha again with the [node] sections in another order: each peer keeps
# the slot the log keeps under its name (before 2026-12-04 a slot was a
# place in the list: both were marked whole and fully synced)
repl_stop alpha
REPL_NODES="alpha gamma beta"
conf alpha
n_warn() { grep -c "bitmap slot [0-9]* was kept for node .*, now it is" "$T/alpha/wbrepd.log"; }
if ! repl_start alpha; then
	fail "$P-restart" "alpha: $REPL_WHY"
	finish
fi
gamma_ok() { all_up && same_as "$T/img" gamma; }
rs_line() { grep -o "resync to peer $1 started: [a-z ]*, [0-9]* bytes" "$T/alpha/wbrepd.log" | tail -1; }
if wait_for 120 gamma_ok && [ "$(n_warn)" = 0 ] &&
	rs_line gamma | grep -q "bitmap, [0-9]* bytes" && [ -z "$(rs_line beta)" ]; then
	pass "$P-reordered" "(no slot changed hands; gamma identical by its own bitmap: $(rs_line gamma); beta nothing)"
else
	fail "$P-reordered" "warnings $(n_warn); gamma: $(img_diff "$T/img" "$T/out.gamma"); $(rs_line gamma) / $(rs_line beta)"
fi
if same_as "$T/img" beta && same_as "$T/img" alpha; then
	pass "$P-beta" "(alpha and beta identical too)"
else
	fail "$P-beta" "alpha or beta differs: beta $(img_diff "$T/img" "$T/out.beta"), alpha $(img_diff "$T/img" "$T/out.alpha")"
fi

# beta left out of alpha's list: its slot is stale (nobody keeps it up to
# date any more): every region marked, its name cleared; gamma unchanged
repl_stop alpha
REPL_NODES="alpha gamma"
conf alpha
repl_start alpha || fail "$P-removed" "alpha: $REPL_WHY"
stale() { grep -q "bitmap slot 0 was kept for node beta, which is no peer now" "$T/alpha/wbrepd.log"; }
g_up() { json alpha 'len(s["peers"]) == 1 and s["peers"][0]["node"] == "gamma" and s["peers"][0]["disk"] == "UpToDate"'; }
if wait_for 60 g_up && stale && [ "$(n_warn)" = 0 ]; then
	pass "$P-removed" "(slot 0 freed and marked whole; gamma kept slot 1)"
else
	fail "$P-removed" "$(grep -i 'bitmap slot' "$T/alpha/wbrepd.log" | tr '\n' ' ')"
fi
# beta back (at the end of the list): a free slot, marked whole: a full
# sync, never what the slot held when it left
repl_stop alpha
REPL_NODES="alpha gamma beta"
conf alpha
repl_start alpha || fail "$P-readded" "alpha: $REPL_WHY"
beta_ok() { all_up && same_as "$T/img" beta; }
if wait_for 60 json alpha 's["peers"][0]["disk"] == "UpToDate"' &&
	put_img 0 1 alpha && # more while beta is away (a new pattern in MiB 0)
	wait_for 120 beta_ok && rs_line beta | grep -qE "full sync|bitmap, $DEVSZ bytes"; then
	pass "$P-readded" "(beta: $(rs_line beta), identical)"
else
	fail "$P-readded" "beta: $(rs_line beta); $(img_diff "$T/img" "$T/out.beta")"
fi

# the same list again: nothing marked
repl_stop alpha
w0=$(grep -c "was kept for node" "$T/alpha/wbrepd.log")
repl_start alpha || fail "$P-again" "alpha: $REPL_WHY"
if [ "$(grep -c 'was kept for node' "$T/alpha/wbrepd.log")" = "$w0" ] && wait_for 60 all_up; then
	pass "$P-again" "(same list: nothing marked, both UpToDate)"
else
	fail "$P-again" "$(grep -i 'bitmap slot' "$T/alpha/wbrepd.log" | tr '\n' ' ')"
fi
for n in $NODES; do repl_stop $n; done
# the owners are on disk, as wbengine shows them: each node its own slot
owners=$("$WBENGINE" info --log "$T/alpha/log" --backing "$T/alpha/backing" --json 2>&1 |
	jq -r '[.bitmaps[].owner] | join(",")')
if [ "$owners" = "beta,gamma,," ]; then
	pass "$P-info" "(wbengine info: slots $owners)"
else
	fail "$P-info" "wbengine info shows owners '$owners', not beta,gamma,,"
fi
repl_log_clean "$P" $NODES
finish
