#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_torture.sh - crash torture of the cache engines (tests/crash/wbtorture).
#   passthrough  200 iterations must find no violation;
#   ram-fails    the volatile "ram" engine MUST fail the durability check
#                (proves the checker can fail);
#   wblog        >= 200 iterations when the wblog engine is registered,
#                SKIP otherwise (also with --ack memory, and with --ship: a
#                lagging peer holding record references and the log tail,
#                half the iterations).
# WB_TORTURE_ITERS overrides the iteration count, WB_TORTURE_SEED the seed
# (default: a fixed seed, so CI runs are reproducible).
set -u
. "$(dirname "$0")/../lib.sh"
iters=${WB_TORTURE_ITERS:-200}
seed=${WB_TORTURE_SEED:-20240601}
bin=$B/wbtorture
log=$B/test-logs
mkdir -p "$log"

if ! make -s "$bin" >"$log/wbtorture-build.log" 2>&1; then
	fail "torture-build: cannot build $bin (see $log/wbtorture-build.log)"
	finish
fi

run_case() { # name engine iterations expect(0|fail) [extra wbtorture options]
	local name=$1 eng=$2 n=$3 expect=$4 out last r
	shift 4
	out="$log/torture-$name.log"
	"$bin" --engine "$eng" --seed "$seed" --iterations "$n" "$@" >"$out" 2>&1
	r=$?
	last=$(tail -1 "$out")
	if [ "$expect" = 0 ]; then
		if [ "$r" -eq 0 ] && [[ "$last" =~ ^iterations:\ $n,\ violations:\ 0$ ]]; then
			pass "torture-$name ($last, seed $seed)"
		else
			fail "torture-$name: exit $r, '$last' (seed $seed, log $out)"
			grep -m5 VIOLATION "$out" | sed 's/^/    /'
		fi
	else
		if [ "$r" -eq 1 ] && [[ "$last" =~ ^iterations:\ [0-9]+,\ violations:\ [1-9][0-9]*$ ]] &&
			grep -q "after crash" "$out"; then
			pass "torture-$name (checker failed it as it must: $last)"
		else
			fail "torture-$name: expected durability violations, got exit $r, '$last'"
		fi
	fi
}

run_case passthrough passthrough "$iters" 0
run_case ram-fails ram 20 fail
if "$bin" --list-engines | grep -qx wblog; then
	run_case wblog wblog "$iters" 0
	run_case wblog-ack-memory wblog "$iters" 0 --ack memory
	run_case wblog-ship wblog $(((iters + 1) / 2)) 0 --ship
else
	skip "torture-wblog: engine wblog is not registered in this build (wbtorture --list-engines)"
fi
finish
