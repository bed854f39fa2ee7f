#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_repl_adopt.sh - a secondary that joined a new cluster and went away
# before it got a record is not a new log (docs/replication.md, "Resync").
# alpha (primary) and beta (secondary) start on new logs: beta adopts
# alpha's data generation at seq 1 (two new logs are the same data). beta
# is killed -9 before anything is written, so alpha, having lost its last
# up-to-date peer, begins a new generation (history: the one beta holds)
# and writes 4 MiB alone. beta restarts with that generation, no history,
# seq 1: the shape of a new log, but a generation alpha had. Cases:
#   - beta catches up from alpha's log: no resync (the bug: "its log is
#     new", a full sync of the whole device; the cluster torture's
#     degraded-cut-primary cycle did that after a promotion)
#   - both exports end byte-identical with the data written
#   - a really new log (wiped, random data on its backing) still gets a
#     full sync and ends identical
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl_adopt "$WBREPD" "$WBCTL"
need_tools repl_adopt nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl_adopt (engine wblog not registered)"
tmpdir repl_adopt

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
repl_conf alpha primary
repl_conf beta secondary
repl_start alpha || { fail "repl-adopt-start: alpha"; finish; }
repl_start beta || { fail "repl-adopt-start: beta"; finish; }

if wait_log 60 "$T/beta/wbrepd.log" "r0: adopting alpha's data generation" &&
	wait_for 60 repl_uptodate alpha; then
	pass "repl-adopt-joined" "($(grep -o "adopting alpha's data generation [0-9a-f]*" "$T/beta/wbrepd.log"))"
else
	fail "repl-adopt-joined: beta: $(tail -2 "$T/beta/wbrepd.log" | tr '\n' ' ')"
	finish
fi

# beta goes before any record; alpha writes 4 MiB alone
repl_stop beta KILL
truncate -s "$DEVSZ" "$T/img"
head -c 4194304 /dev/urandom >"$T/data"
mkimg "$T/img" "$T/data" 1
if timeout 120 nbdcopy "$T/img" "$(URI alpha)" && ctl alpha flush r0 >/dev/null 2>&1; then
	pass "repl-adopt-written-alone"
else
	fail "repl-adopt-written-alone: nbdcopy or flush failed"
	finish
fi
s0=$(nstart alpha)
u0=$(grep -c "r0: peer beta is up to date at seq" "$T/alpha/wbrepd.log")
repl_start beta || fail "repl-adopt-restart: beta"
if wait_log_count 60 "$T/alpha/wbrepd.log" "r0: peer beta is up to date at seq" "$u0" &&
	[ "$(nstart alpha)" = "$s0" ]; then
	pass "repl-adopt-catch-up" "($(grep -o "peer beta is up to date at seq [0-9]*" "$T/alpha/wbrepd.log" | tail -1), no resync)"
else
	fail "repl-adopt-catch-up: alpha: $(grep -E "peer beta (needs|is up)|resync to peer beta" "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
if wait_for 60 same_as "$T/img" beta && same_as "$T/img" alpha; then
	pass "repl-adopt-identical"
else
	fail "repl-adopt-identical: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

# a new log: wiped, garbage on its backing: a full sync as before
repl_stop beta
repl_wipe beta
head -c $((4 << 20)) /dev/urandom | dd of="$T/beta/backing" conv=notrunc status=none
n0=$(grep -c "resync to peer beta: finished" "$T/alpha/wbrepd.log")
repl_start beta || fail "repl-adopt-new-start: beta"
if wait_log_count 120 "$T/alpha/wbrepd.log" "resync to peer beta: finished" "$n0" &&
	grep "resync to peer beta started" "$T/alpha/wbrepd.log" | tail -1 | grep -q "full sync" &&
	wait_for 60 same_as "$T/img" beta; then
	pass "repl-adopt-new-log-full-sync"
else
	fail "repl-adopt-new-log-full-sync: $(grep -E "peer beta needs|resync to peer beta" "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' '); $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

repl_log_clean repl-adopt alpha beta
finish
