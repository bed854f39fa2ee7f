#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1500
#
# test_torture.sh - crash torture of the cache engines (tests/crash/wbtorture).
#   passthrough  ITERS iterations must find no violation;
#   ram-fails    the volatile "ram" engine MUST fail the durability check
#                (proves the checker can fail);
#   wblog        ITERS iterations when the wblog engine is registered,
#                SKIP otherwise (also with --ack memory, and with --ship: a
#                lagging peer holding record references and the log tail,
#                half the iterations).
# ITERS is WB_TORTURE_ITERS: 200 in make test, 800 in `make torture`.
# WB_TORTURE_SEED sets the seed (default: a fixed seed, so CI runs are
# reproducible). A case's iterations are split into WB_TORTURE_JOBS (default
# 2) chunks run side by side (wbtorture --start): every iteration has its own
# PRNG stream, so the iterations run are the same as in one process.
# Time limit 1500 s: about 250 s of CPU in all (~2 min estimated on an idle 2-core
# machine), but 900+ s at load 14-19; a hung engine is caught sooner by
# wbtorture's own 300 s watchdog per iteration (a VIOLATION line).
set -u
. "$(dirname "$0")/../lib.sh"
iters=${WB_TORTURE_ITERS:-200}
jobs=${WB_TORTURE_JOBS:-2}
seed=${WB_TORTURE_SEED:-20240601}
bin=$B/wbtorture
log=$B/test-logs
mkdir -p "$log"

if ! make -s "$bin" >"$log/wbtorture-build.log" 2>&1; then
	fail "torture-build: cannot build $bin (see $log/wbtorture-build.log)"
	finish
fi

# torture NAME ENGINE ITERATIONS [OPTIONS]: wbtorture over ITERATIONS in
# $jobs chunks side by side (logs $log/torture-NAME.K.log, in TT_LOGS); sets
# TT_LAST to the chunks' last lines summed ("iterations: N, violations: V");
# returns the worst chunk's exit status (2 > 1 > 0)
torture() {
	local name=$1 eng=$2 n=$3 j=$jobs k start=0 cnt r rc=0 pids=()
	shift 3
	[ "$n" -ge "$j" ] || j=1
	TT_LOGS=()
	rm -f "$log/torture-$name".*log
	for ((k = 0; k < j; k++)); do
		cnt=$(((n - start) / (j - k)))
		TT_LOGS+=("$log/torture-$name.$k.log")
		"$bin" --engine "$eng" --seed "$seed" --start "$start" --iterations "$cnt" "$@" \
			>"${TT_LOGS[k]}" 2>&1 &
		pids+=($!)
		track_pid $!
		start=$((start + cnt))
	done
	for ((k = 0; k < j; k++)); do
		wait "${pids[k]}"
		r=$?
		[ "$r" -gt "$rc" ] && rc=$r
	done
	TT_LAST=$(tail -q -n1 "${TT_LOGS[@]}" | awk -F'[:,] *' '
		$1 == "iterations" { i += $2; v += $4; next } { bad = 1 }
		END { if (bad) print "a chunk has no summary line"; else printf "iterations: %d, violations: %d", i, v }')
	return "$rc"
}

run_case() { # name engine iterations expect(0|fail) [extra wbtorture options]
	local name=$1 eng=$2 n=$3 expect=$4 r
	shift 4
	torture "$name" "$eng" "$n" "$@"
	r=$?
	if [ "$expect" = 0 ]; then
		if [ "$r" -eq 0 ] && [[ "$TT_LAST" =~ ^iterations:\ $n,\ violations:\ 0$ ]]; then
			pass "torture-$name ($TT_LAST, seed $seed)"
		else
			fail "torture-$name: exit $r, '$TT_LAST' (seed $seed, logs ${TT_LOGS[*]})"
			cat "${TT_LOGS[@]}" | grep -m5 VIOLATION | sed 's/^/    /'
		fi
	else
		if [ "$r" -eq 1 ] && [[ "$TT_LAST" =~ ^iterations:\ [0-9]+,\ violations:\ [1-9][0-9]*$ ]] &&
			cat "${TT_LOGS[@]}" | grep -q "after crash"; then
			pass "torture-$name (checker failed it as it must: $TT_LAST)"
		else
			fail "torture-$name: expected durability violations, got exit $r, '$TT_LAST'"
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
