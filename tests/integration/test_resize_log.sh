#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_resize_log.sh - growing a node's log online (`wbctl resize RES
# --log`, docs/engine.md "Growing the log"), on real files through
# io_uring, two nodes over TLS (protocol C, alpha primary), 8 MiB logs that
# destage only above 80 % (destage-min-rate 0), a stamped writer running:
#   refused: the log file not grown ("already"), --size past the file,
#   --log with --assume-clean (usage);
#   grown: alpha's log file to 40 MiB and `resize --log` on the primary,
#   beta's on the secondary, the writer going on; the logs then hold more
#   than the old size (the new range is used); alpha killed -9 with more
#   in its log than the old data area held, and restarted: every acknowledged write is there, the
#   size kept; beta catches up (or, ahead by a record alpha's kill took
#   before it was acknowledged, is refused and joins with connect
#   --discard-my-data); after a clean stop of both, the stamps
#   exact on both and the two exports identical, the sizes kept again.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins resizelog "$WBREPD" "$WBCTL"
need_tools resizelog nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resizelog (engine wblog not registered)"
tmpdir resizelog

REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
ST=$T/load.json
P=resize-log
M=1048576
for n in alpha beta; do
	rm -f "$T/$n/log"
	truncate -s 8M "$T/$n/log"
done
repl_conf alpha primary wb-min-peers=1 destage-low=80% destage-high=95% destage-min-rate=0
repl_conf beta secondary wb-min-peers=1 destage-low=80% destage-high=95% destage-min-rate=0
for n in alpha beta; do
	repl_start $n || {
		fail "$P-start: $n: $REPL_WHY"
		finish
	}
done
wait_for 60 repl_uptodate alpha || fail "$P-link: $(head -c 300 "$T/st.alpha")"

# logsize NODE / logused NODE: the log's data area and its use (bytes)
logsize() { json "$1" True && jget "$1" 's["log"]["size"]'; }
logused() { json "$1" True && jget "$1" 's["log"]["used"]'; }
used_over() { [ "$(logused "$1")" -gt "$2" ]; }
# resize NODE ARGS...: wbctl resize r0 ARGS on NODE, output in $T/rs.out
resize() {
	local n=$1
	shift
	ctl "$n" resize r0 "$@" >"$T/rs.out" 2>&1
}
rsout() { tr '\n' ' ' <"$T/rs.out"; }

L0=$(logsize alpha)
B0=$(logsize beta)

# ---- refusals
if resize alpha --log && grep -q "log already" "$T/rs.out" && grep -q "grow it first" "$T/rs.out"; then
	pass "$P-already" "($(rsout))"
else
	fail "$P-already: $(rsout)"
fi
if ! resize alpha --log --size 1G && grep -q "is smaller than --size" "$T/rs.out"; then
	pass "$P-too-large" "($(rsout))"
else
	fail "$P-too-large: $(rsout)"
fi
resize alpha --log --assume-clean
rc=$?
if [ $rc = 2 ] && grep -q "\-\-log grows this node's log only" "$T/rs.out"; then
	pass "$P-usage" "(exit $rc)"
else
	fail "$P-usage: exit $rc, $(rsout)"
fi
[ "$(logsize alpha)" = "$L0" ] || fail "$P-refused-kept: alpha's log is $(logsize alpha), was $L0"

# ---- grown under the writer, on the primary and on the secondary
stamp_start alpha "$ST" 4096 4 8 || fail "$P-writer: did not start"
repl_progress alpha 50 || fail "$P-writer: no progress"
truncate -s 40M "$T/alpha/log" "$T/beta/log"
declare -A LG
for n in alpha beta; do
	l0=$L0
	[ $n = beta ] && l0=$B0
	role=primary
	[ $n = beta ] && role=secondary
	if resize $n --log && grep -q "log grown from" "$T/rs.out" && LG[$n]=$(logsize $n) &&
		[ "${LG[$n]}" -ge $((l0 + 31 * M)) ]; then
		pass "$P-$role" "($(rsout); $l0 -> ${LG[$n]} bytes)"
	else
		fail "$P-$role: $(rsout), log $(logsize $n)"
		LG[$n]=$(logsize $n)
	fi
done
L1=${LG[alpha]}
B1=${LG[beta]}
if wait_for 120 used_over alpha "$L0" && wait_for 120 used_over beta "$B0"; then
	pass "$P-used" "(alpha's log holds $(logused alpha) bytes, beta's $(logused beta), the old size $L0)"
else
	fail "$P-used: alpha $(logused alpha), beta $(logused beta) of the old $L0"
fi
repl_progress alpha 50 || fail "$P-writer: no progress after the grows"

# ---- alpha killed with records past the old end; every ack survives
# killed with more records in the log than the old data area held: the
# run recovery reads (from the tail on disk, which lags the live one) then
# lies past the old end in part, whatever its place
wait_for 120 used_over alpha $((L0 + M)) || fail "$P-kill-used: alpha's log holds $(logused alpha) bytes, the old size $L0"
U=$(logused alpha)
repl_stop alpha KILL
stamp_wait_gone
wbrepd_log_lines0=$(wc -l <"$T/alpha/wbrepd.log")
repl_start alpha || fail "$P-kill: alpha did not come back: $REPL_WHY"
rec=$(tail -n +$((wbrepd_log_lines0 + 1)) "$T/alpha/wbrepd.log" | grep -o "recovered [0-9]* records ([^)]*)" | head -1)
if stamp_verify alpha "$ST" && [ "$(logsize alpha)" = "$L1" ]; then
	pass "$P-kill" "($(tail -1 "$ST.verify"); $U bytes of log at the kill, $rec)"
else
	fail "$P-kill: log $(logsize alpha); '$rec'; $(tail -3 "$ST.verify" | tr '\n' ' ')"
fi
# beta may hold a record alpha's kill took from alpha's own log (shipped
# while alpha's write was in flight: never acknowledged under protocol C
# with ack = log); alpha then refuses it as ahead, and the operator's way
# out that drops those records is connect --discard-my-data on beta
ahead() { st alpha "'is ahead of ours' in (p.get('problem') or '')"; }
caught() { repl_uptodate alpha || ahead; }
how="caught up from the log"
if wait_for 120 caught && ahead; then
	how="beta was ahead by what alpha's kill took, dropped with connect --discard-my-data"
	ctl beta connect r0 --discard-my-data >/dev/null 2>&1 || fail "$P-discard: wbctl connect on beta failed"
fi
if wait_for 120 repl_uptodate alpha; then
	pass "$P-catch-up" "($how)"
else
	fail "$P-catch-up: $(jget alpha 's["peers"]'); beta: $(grep -v debug "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
stamp_start alpha "$ST" 4096 4 8 || fail "$P-writer: did not start again"
repl_progress alpha 50 || fail "$P-writer: no progress after the restart"
stamp_stop || fail "$P-writer: did not stop"
wait_for 120 repl_caught_up alpha beta || fail "$P-caught-up: $(head -c 300 "$T/st.alpha")"

# ---- clean stops: sizes kept, stamps exact, the replicas identical
for n in beta alpha; do repl_stop $n; done
for n in alpha beta; do
	repl_start $n || fail "$P-restart: $n: $REPL_WHY"
done
wait_for 60 repl_uptodate alpha || fail "$P-relink: $(head -c 300 "$T/st.alpha")"
if [ "$(logsize alpha)" = "$L1" ] && [ "$(logsize beta)" = "$B1" ]; then
	pass "$P-restart" "(alpha $L1, beta $B1 bytes of log)"
else
	fail "$P-restart: alpha $(logsize alpha) (was $L1), beta $(logsize beta) (was $B1)"
fi
for n in alpha beta; do
	if stamp_verify $n "$ST" --exact; then
		pass "$P-stamps-$n" "($(tail -1 "$ST.verify"))"
	else
		fail "$P-stamps-$n: $(tail -3 "$ST.verify" | tr '\n' ' ')"
	fi
done
timeout 300 nbdcopy "$(URI alpha)" "$T/img.alpha"
if same_as "$T/img.alpha" beta; then
	pass "$P-identical"
else
	fail "$P-identical: $(cmp "$T/img.alpha" "$T/out.beta" | head -1)"
fi
for n in alpha beta; do repl_stop $n; done
repl_log_clean "$P-log-clean" alpha beta
finish
