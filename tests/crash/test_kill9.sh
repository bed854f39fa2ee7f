#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_kill9.sh - kill -9 test: tests/crash/wbkillw writes stamped blocks
# through an engine on real files (io_uring backend), journaling what was
# acknowledged and flushed; it is SIGKILLed at a random time, then
# `wbkillw check` reopens the engine (recovery) and checks every block with
# the torture model. Engine: wblog (the product engine); the test FAILS if
# this build has no wblog. After each round `wbengine check` must pass on
# the recovered log. Also the "ram" engine must FAIL the check (proves the
# checker can fail).
# WB_KILL9_ROUNDS sets the number of rounds (default 5). The kill delays and
# the writers' seeds come from one seed, printed first ("kill9 seed: S");
# WB_SEED=S replays the same delays and writes (default: a random seed).
set -u
. "$(dirname "$0")/../lib.sh"
rounds=${WB_KILL9_ROUNDS:-5}
log=$B/test-logs
mkdir -p "$log"
for b in wbkillw wbtorture wbengine; do
	if ! make -s "$B/$b" >"$log/$b-build.log" 2>&1; then
		fail "kill9-build: cannot build $B/$b (see $log/$b-build.log)"
		finish
	fi
done
engine=wblog
if ! "$B/wbtorture" --list-engines | grep -qx wblog; then
	fail "kill9-engine: engine wblog is not registered in this build (wbtorture --list-engines)"
	finish
fi
seed=${WB_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "kill9 seed: $seed (replay: WB_SEED=$seed bash $0)"
RANDOM=$seed # the kill delays below are drawn from bash's RANDOM
dir=$(mktemp -d /var/tmp/wbkill9.XXXXXX)
on_cleanup "rm -rf '$dir'"

round() { # engine round seed ms -> prints the check output, returns its exit code
	local eng=$1 r=$2 seed=$3 ms=$4 pid
	rm -f "$dir"/*
	"$B/wbkillw" write --dir "$dir" --engine "$eng" --seed "$seed" --round "$r" \
		2>"$dir/writer.err" &
	pid=$!
	# wait until the writer runs, then the round's 200..1199 ms more
	for _ in $(seq 100); do grep -q writing "$dir/writer.err" 2>/dev/null && break; sleep 0.05; done
	echo "kill after $ms ms"
	sleep "$(printf '0.%03d' $((ms % 1000)))"; [ $ms -ge 1000 ] && sleep 1
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# the killed writer's log, before recovery: valid run; only a record torn
	# by the kill at the head may be reported (the log is not clean)
	if [ "$eng" = wblog ]; then
		local pre
		pre=$("$B/wbengine" check --log "$dir/log.img" --backing "$dir/backing.img" 2>&1)
		local prc=$?
		echo "$pre"
		if [ $prc -ne 0 ] && ! { [ $prc -eq 1 ] && grep -q 'not closed cleanly' <<<"$pre"; }; then
			echo "wbengine check failed on the killed log"
			return 1
		fi
	fi
	"$B/wbkillw" check --dir "$dir" --engine "$eng" --round "$r" --seed "$seed"
	local res=$?
	# the checker reopened and closed the log: it must now check clean
	if [ "$eng" = wblog ]; then
		"$B/wbengine" check --log "$dir/log.img" --backing "$dir/backing.img" ||
			{ echo "wbengine check failed on the recovered log"; return 1; }
	fi
	return $res
}

for r in $(seq 1 "$rounds"); do
	wseed=$((seed * 1000 + r))
	ms=$((200 + RANDOM % 1000))
	out="$log/kill9-$engine-$r.log"
	round "$engine" "$r" "$wseed" "$ms" >"$out" 2>&1
	res=$?
	summary=$(grep '^round' "$out" | tail -1)
	if [ $res -eq 0 ] && grep -q '^violations: 0$' "$out" && [ -n "$summary" ]; then
		pass "kill9-$engine-round$r (kill after $ms ms; $summary)"
	else
		fail "kill9-$engine-round$r: seed $seed, kill after $ms ms, exit $res (log $out)"
		grep -m5 -E 'VIOLATION|after crash|wbkillw' "$out" | sed 's/^/    /'
	fi
done

out="$log/kill9-ram.log"
round ram 1 77 $((200 + RANDOM % 1000)) >"$out" 2>&1
res=$?
if [ $res -eq 1 ] && grep -q 'after crash' "$out"; then
	pass "kill9-ram-fails (checker failed the volatile engine: $(tail -1 "$out"))"
else
	fail "kill9-ram-fails: the checker did not catch the ram engine (exit $res, log $out)"
fi
finish
