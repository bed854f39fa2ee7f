#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_hold.sh - what a secondary's log keeps for a peer that becomes
# the primary (docs/replication.md, "Catch-up"). alpha and beta start as
# secondaries and connect; each holds its log for the other (a secondary
# may become the new primary's peer behind this node). Then alpha is
# promoted: a primary never reads records back from a secondary, so beta
# lets go of that hold. Cases:
#   - twice the size of beta's log written through alpha (two passes of the
#     whole device, each flushed): beta's log moves on (its tail past the
#     first pass's records, at most half the log in use once drained), no
#     "peer ... dropped" on beta (the bug: the hold of the connection made
#     while alpha was a secondary kept every record until beta's log was
#     full, then alpha was "dropped" into a bitmap and beta's destage ran a
#     batch per record meanwhile)
#   - the data is byte-identical through both read paths after the flush
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl_hold "$WBREPD" "$WBCTL"
need_tools repl_hold nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl_hold (engine wblog not registered)"
tmpdir repl_hold

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
repl_conf alpha secondary
repl_conf beta secondary
repl_start alpha || { fail "repl-hold-start: alpha"; finish; }
repl_start beta || { fail "repl-hold-start: beta"; finish; }

both_up() {
	grep -q "r0: peer beta up (secondary" "$T/alpha/wbrepd.log" &&
		grep -q "r0: peer alpha up (secondary" "$T/beta/wbrepd.log"
}
if wait_for 60 both_up; then
	pass "repl-hold-secondaries-connected"
else
	fail "repl-hold-secondaries-connected: alpha: $(tail -2 "$T/alpha/wbrepd.log" | tr '\n' ' ')"
	finish
fi

if ctl alpha primary r0 >"$T/promote.out" 2>&1 &&
	wait_log 60 "$T/beta/wbrepd.log" "r0: peer alpha up \(primary" &&
	wait_log 60 "$T/alpha/wbrepd.log" "r0: peer beta is up to date"; then
	pass "repl-hold-promoted"
else
	fail "repl-hold-promoted: $(tail -1 "$T/promote.out"); beta: $(tail -2 "$T/beta/wbrepd.log" | tr '\n' ' ')"
	finish
fi

# two passes of the whole device (64 MiB each, the log is 64 MiB too)
for pass_no in 1 2; do
	head -c "$DEVSZ" /dev/urandom >"$T/img"
	if ! timeout 300 nbdcopy "$T/img" "$(URI alpha)" || ! ctl alpha flush r0 >/dev/null 2>&1; then
		fail "repl-hold-write: pass $pass_no: nbdcopy or flush failed"
		finish
	fi
done
json beta True && seq1=$(jget beta 's["seq"]["head"]')

if grep -q "dropped at seq" "$T/beta/wbrepd.log"; then
	fail "repl-hold-no-drop: beta: $(grep "dropped at seq" "$T/beta/wbrepd.log" | head -1)"
else
	pass "repl-hold-no-drop"
fi
# beta drains what it holds; the log in use then is what the primary's
# next records need, not the history since the connection
ctl beta drain r0 --timeout 120 >"$T/drain.out" 2>&1
tail_ok() {
	json beta 's["seq"]["tail"] > 1 and s["log"]["used"] * 2 <= s["log"]["size"]'
}
if wait_for 60 tail_ok; then
	pass "repl-hold-tail-moves"
else
	fail "repl-hold-tail-moves: beta seq $(jget beta 's["seq"]') log $(jget beta 's["log"]') (head after the writes: ${seq1:-?}); $(tail -1 "$T/drain.out")"
fi

if wait_for 60 same_as "$T/img" beta && same_as "$T/img" alpha; then
	pass "repl-hold-identical"
else
	fail "repl-hold-identical: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

finish
