#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_diskfail.sh - a node's disk dies under a stamped write load
# (docs/replication.md, "A failed disk"). Two wbrepd on loopback with TLS
# (tests/repl_lib.sh), protocol C, wb-min-peers 1, on real files through
# io_uring. A disk dies: the node's wbrepd gets an RLIMIT_FSIZE of 4 KiB
# (prlimit on the running process; SIGXFSZ is ignored), so every write of
# its log and backing device past their first block fails (EFBIG, an I/O
# error to the engine); it is mended by lifting the limit. The writer
# (tests/cluster/clstamp.py, 4 connections at QD1) logs every send and
# acknowledgement; its checker proves that every acknowledged write is
# there.
#   secondary  beta's disk dies: alpha keeps acknowledging in
#              write-through (0/1 peers UpToDate); beta's engine fails and
#              it refuses its peers with the reason (alpha shows it) instead
#              of reconnecting and starting a resync over and over (before:
#              a TLS handshake and a failed full sync every 150 ms);
#              repaired (the file gone, wbctl down + up): resynced, the pair
#              whole, byte-identical, every acknowledged write on both
#   primary    alpha's disk dies: its writes fail (nothing acknowledged
#              that beta lacks), `wbctl secondary` demotes the failed
#              primary (no flush can succeed there), beta is promoted and
#              the writer follows it: every acknowledged write is on beta;
#              alpha repaired and back as secondary: resynced (its records
#              beta never had rolled back), byte-identical
#   again      beta (primary now) loses its disk and comes back as primary
#              without a failover: alpha, which may hold records beta lost
#              (with ack = memory some could have been acknowledged), is
#              refused with the two ways out; the test takes the safe one
#              (alpha promoted, beta rolled back) and checks as above; when
#              beta lost none, alpha simply catches up
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-diskfail "$WBREPD" "$WBCTL"
need_tools repl-diskfail nbdcopy nbdinfo openssl python3 cmp jq prlimit
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-diskfail (engine wblog not registered)"
tmpdir repl-diskfail
REPL_SIZE_MB=16
. "$ROOT/tests/repl_lib.sh"
CL=$ROOT/tests/cluster/clstamp.py
repl_init alpha beta || finish
P=repl-diskfail

jqs() { ctl "$1" status --json r0 2>/dev/null | jq -e ".resources[0] | $2" >/dev/null; }
jqget() { ctl "$1" status --json r0 2>/dev/null | jq -r ".resources[0] | $2"; }
# the disk of NODE dies / comes back: writes past 4 KiB fail / work again
dies() { prlimit --pid "${PID[$1]}" --fsize=4096: ; }
mended() { prlimit --pid "${PID[$1]}" --fsize=unlimited: ; }
start() { repl_start "$1"; }
conf() { repl_conf "$1" "$2" protocol=C wb-min-peers=1; }
# whole PRIMARY: in write-back, its peer Connected, UpToDate, replicating
whole() {
	jqs "$1" '.role == "primary" and .mode == "writeback" and all(.peers[]; .connection == "Connected" and .disk == "UpToDate" and .replication == "Established")'
}
WD=$T/w
mkdir -p "$WD"
target() { echo "$1 $T/$1/nbd.sock" >"$WD/target.tmp" && mv "$WD/target.tmp" "$WD/target"; }
acks() {
	local n
	n=$(grep -c '^A ' "$WD/writes.log" 2>/dev/null)
	echo "${n:-0}"
}
acks_reach() { [ "$(acks)" -ge "$1" ]; }
more_acks() { wait_for 60 acks_reach $(($(acks) + $1)); }
pause() {
	rm -f "$WD/paused"
	: >"$WD/pause"
	wait_for 30 test -e "$WD/paused"
}
resume() { rm -f "$WD/pause"; }
# check NODE: every acknowledged write is on NODE (writer paused)
check() { timeout 120 python3 "$CL" verify "$WD" "$T/$1/nbd.sock" >"$WD/verify.$1" 2>&1; }
# identical A B: both flushed, A's export reads back as B's (writer paused)
identical() {
	ctl "$1" flush r0 >/dev/null 2>&1
	ctl "$2" flush r0 >/dev/null 2>&1
	timeout 300 nbdcopy "$(URI "$1")" "$T/img.$1" 2>/dev/null && same_as "$T/img.$1" "$2"
}
# settled A B NAME: the writer paused, every acknowledged write on A and
# on B, and B byte-identical to A; the writer resumes
settled() {
	if ! pause; then
		fail "$P-$3" "the writer did not pause"
		return
	fi
	if ! check "$1"; then
		fail "$P-$3" "acknowledged writes lost on $1: $(tr '\n' ' ' <"$WD/verify.$1")"
	elif ! check "$2"; then
		fail "$P-$3" "acknowledged writes lost on $2: $(tr '\n' ' ' <"$WD/verify.$2")"
	elif ! identical "$1" "$2"; then
		fail "$P-$3" "$2 differs from $1: $(img_diff "$T/img.$1" "$T/out.$2")"
	else
		pass "$P-$3" "($1 and $2 identical, $(tail -1 "$WD/verify.$2" | sed 's/^verify: //'))"
	fi
	resume
}

conf alpha primary
conf beta secondary
start alpha || {
	fail "$P-start" "alpha: $REPL_WHY"
	finish
}
start beta || {
	fail "$P-start" "beta: $REPL_WHY"
	finish
}
target alpha
python3 "$CL" write "$WD" 1024 7 4 2>"$WD/writer.err" &
WPID=$!
track_pid "$WPID"
if ! wait_for 60 whole alpha || ! more_acks 200; then
	fail "$P-pair" "not whole, or no writes: $(jqget alpha '[.mode, .mode_reason] | join(" ")')"
	finish
fi

# ---- the secondary's disk dies
ctl beta events r0 --json >"$T/events.beta" 2>&1 &
EVPID=$!
track_pid "$EVPID"
lb=$(wc -l <"$T/beta/wbrepd.log")
la=$(wc -l <"$T/alpha/wbrepd.log")
t0=$SECONDS
dies beta
if wait_for 30 jqs beta '.state == "failed"' && wait_for 30 jqs alpha '.mode == "writethrough"'; then
	pass "$P-sec-failed" "(beta: $(jqget beta .reason | cut -c1-100); alpha: $(jqget alpha .mode_reason))"
else
	fail "$P-sec-failed" "beta $(jqget beta .state), alpha $(jqget alpha '[.mode, .mode_reason] | join(" ")')"
fi
# the event a script follows (wbctl events --json, kind engine)
if wait_for 10 grep -q '"kind": *"engine"' "$T/events.beta"; then
	pass "$P-sec-event" "($(grep -m1 '"kind": *"engine"' "$T/events.beta" | jq -r .message | cut -c1-100))"
else
	fail "$P-sec-event" "no engine event on beta: $(tail -2 "$T/events.beta" | tr '\n' ' ')"
fi
kill "$EVPID" 2>/dev/null
if more_acks 200; then
	pass "$P-sec-writes" "(alpha acknowledges alone in write-through)"
else
	fail "$P-sec-writes" "alpha acknowledged no more writes: $(jqget alpha '[.mode, .mode_reason] | join(" ")')"
fi
if wait_for 30 jqs alpha '.peers[0].problem | test("beta.s engine failed")'; then
	pass "$P-sec-refused" "(alpha shows: $(jqget alpha '.peers[0].problem' | cut -c1-120))"
else
	fail "$P-sec-refused" "alpha's peer problem: $(jqget alpha '.peers[0].problem')"
fi
sleep 3
rs=$(tail -n +$((lb + 1)) "$T/beta/wbrepd.log" | grep -c 'resync from alpha started')
rc=$(tail -n +$((la + 1)) "$T/alpha/wbrepd.log" | grep -c 'peer beta (resource r0): reconnecting')
# with the backoff (100 ms doubling to 30 s): 8 in the first 30 s, then
# one per 30 s; a reconnect at every refusal without it is one each
# ~150 ms: 40 and more by now
if [ "$rs" = 0 ] && [ "$rc" -le $((10 + (SECONDS - t0) / 30)) ]; then
	pass "$P-sec-quiet" "(no resync tried, $rc reconnects of alpha since the failure)"
else
	fail "$P-sec-quiet" "$rs resyncs started on the failed beta, $rc reconnects of alpha in $((SECONDS - t0)) s: $(tail -n +$((la + 1)) "$T/alpha/wbrepd.log" | grep -o 'peer beta (resource r0): reconnecting in [0-9]* ms' | grep -o '[0-9]* ms' | tr '\n' ' ')"
fi
mended beta
ctl beta down r0 >/dev/null
if ctl beta up r0 >"$T/up.beta" 2>&1 && wait_for 60 whole alpha; then
	pass "$P-sec-repaired" "(beta down and up: $(grep -m1 -o 'resync from alpha started: [a-z]*' "$T/beta/wbrepd.log" | tail -1 || echo caught up))"
else
	fail "$P-sec-repaired" "$(cat "$T/up.beta") alpha $(jqget alpha '[.mode, .mode_reason, (.peers[] | .connection, .disk, .problem)] | join(" ")')"
fi
more_acks 100 || fail "$P-sec-repaired" "no writes after the repair"
settled alpha beta sec-identical

# ---- the primary's disk dies
a0=$(acks)
dies alpha
if wait_for 30 jqs alpha '.state == "failed"'; then
	pass "$P-prim-failed" "($(jqget alpha .reason | cut -c1-120))"
else
	fail "$P-prim-failed" "alpha $(jqget alpha '[.state, .mode] | join(" ")')"
fi
if ctl alpha secondary r0 >"$T/demote" 2>&1 && jqs alpha '.role == "secondary"'; then
	pass "$P-prim-demote" "(the failed primary demoted: $(tail -1 "$T/demote"))"
else
	fail "$P-prim-demote" "$(cat "$T/demote")"
fi
# the failed node cannot be promoted again, not even with --force
if ctl alpha primary r0 --force >"$T/repromote" 2>&1; then
	fail "$P-prim-no-repromote" "the failed alpha was promoted again: $(cat "$T/repromote")"
elif grep -q "engine failed" "$T/repromote"; then
	pass "$P-prim-no-repromote" "($(cut -c1-100 "$T/repromote"))"
else
	fail "$P-prim-no-repromote" "refused, but not for its engine: $(cat "$T/repromote")"
fi
if wait_for 30 ctl beta primary r0 >"$T/promote" 2>&1; then
	target beta
	if more_acks 200; then
		pass "$P-prim-failover" "(beta promoted and acknowledging; $(($(acks) - a0)) writes acknowledged since alpha's disk died)"
	else
		fail "$P-prim-failover" "beta acknowledges nothing: $(tail -3 "$WD/writer.err" | tr '\n' ' ')"
	fi
else
	fail "$P-prim-failover" "beta not promoted: $(cat "$T/promote")"
fi
if pause && check beta; then
	pass "$P-prim-nothing-lost" "(beta: $(tail -1 "$WD/verify.beta" | sed 's/^verify: //'))"
else
	fail "$P-prim-nothing-lost" "$(tr '\n' ' ' <"$WD/verify.beta")"
fi
resume
mended alpha
la=$(wc -l <"$T/alpha/wbrepd.log")
ctl alpha down r0 >/dev/null
conf alpha secondary
if ctl alpha reload >"$T/up.alpha" 2>&1 && ctl alpha up r0 >>"$T/up.alpha" 2>&1 && wait_for 60 whole beta; then
	pass "$P-prim-repaired" "(alpha back as secondary: $(tail -n +$((la + 1)) "$T/alpha/wbrepd.log" | grep -o 'resync from beta started: [a-z]*\|rolled back\|caught up' | sort -u | tr '\n' ' '))"
else
	fail "$P-prim-repaired" "$(cat "$T/up.alpha") beta $(jqget beta '[.mode, .mode_reason, (.peers[] | .connection, .disk, .problem)] | join(" ")')"
fi
more_acks 100 || fail "$P-prim-repaired" "no writes after the repair"
settled beta alpha prim-identical

# ---- the primary's disk dies, and it comes back as primary (no failover)
target beta
more_acks 100
dies beta
if ! wait_for 30 jqs beta '.state == "failed"'; then
	fail "$P-again-failed" "beta $(jqget beta '[.state, .mode] | join(" ")')"
fi
# the writer waits until the pair is settled: a write beta acknowledged
# alone now (write-through) would make a real split brain with alpha's
# records
pause || fail "$P-again" "the writer did not pause"
mended beta
conf beta primary
ctl beta down r0 >/dev/null
ctl beta reload >/dev/null 2>&1
ctl beta up r0 >"$T/up.beta" 2>&1
# alpha may hold records beta lost (shipped while beta's own write
# failed): refused with the two ways out; or nothing was lost: caught up
again() { whole beta || jqs beta '.peers[0].problem | test("log is ahead of ours")'; }
if ! wait_for 60 again; then
	fail "$P-again" "beta $(jqget beta '[.mode, .mode_reason, (.peers[] | .connection, .disk, .problem)] | join(" ")')"
elif whole beta; then
	pass "$P-again" "(beta back as primary; alpha held nothing beta lost: caught up)"
	resume
	more_acks 100
	settled beta alpha again-identical
else
	pb=$(jqget beta '.peers[0].problem')
	# the safe way out: the node with the records becomes primary
	if ctl beta secondary r0 >"$T/demote" 2>&1 && wait_for 30 ctl alpha primary r0 >"$T/promote" 2>&1 &&
		target alpha && resume && wait_for 60 whole alpha && more_acks 100; then
		pass "$P-again" "(refused: ${pb%%: refused*}; alpha promoted, beta rolled back: whole)"
		settled alpha beta again-identical
	else
		resume
		fail "$P-again" "refused ($pb), then: $(cat "$T/demote" "$T/promote" 2>/dev/null | tr '\n' ' ') alpha $(jqget alpha '[.mode, (.peers[] | .connection, .disk, .problem)] | join(" ")')"
	fi
fi

kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
repl_log_clean "$P" alpha beta
finish
