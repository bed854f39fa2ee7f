#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_powercut.sh - failovers of a 2-node pair (alpha, beta; TLS on
# loopback, protocol C, ack = log or memory, wb-min-peers 1) under a stamped write
# load, with power cuts: a node's wbrepd may run with its backing and log
# on the file-backed fault-injection backend (WBREPD_FAULT_IO, a volatile
# write cache inside the process: engine/io_fault.c), so its kill -9 is a
# power cut that loses every device write no flush or FUA covered (or, per
# the drawn probabilities, tears it or lets it land early); otherwise the
# kill -9 is a plain process crash (page cache kept).
#
# Each cycle waits for a whole pair (the primary in write-back, its peer
# UpToDate), then applies one fault:
#   cut-primary  the primary killed -9 (a power cut when on the fault
#                backend) while writes run; the secondary is promoted
#                (wbctl primary) and the writer follows it; the promoted
#                node must hold every acknowledged write; the old primary
#                returns as secondary and is caught up or resynced; if it
#                holds records past the common point (written before the
#                cut, never acknowledged: protocol C) it is rolled back by
#                the daemon (its log restarts at the new primary's head,
#                those blocks resynced: docs/replication.md, "Data
#                generations and split brain"); a refusal is a failure;
#                then it must read back byte-identical to the new primary
#   cut-sec      the secondary killed -9 while writes run, restarted: it
#                catches up (or is resynced) and ends byte-identical
# The writer (tests/cluster/clstamp.py: 4 KiB stamped writes, QD1 on each of
# its connections, every send
# and acknowledgement logged) checks after every fault that each
# acknowledged write is there (0 lost, 0 bad), on the primary and on the
# returned node; byte-identity is checked with the writer paused and both
# nodes flushed (nbdcopy of both exports).
#
# Env: WB_POWERCUT_CYCLES (default 2), WB_POWERCUT_SEED (default random,
# printed: the same seed gives the same faults, backends, probabilities and
# hold times; the write timing follows the machine), WB_POWERCUT_FAULTS (a
# list used in turn; default "cut-primary cut-primary": each node's power
# cut once as primary; set it empty for random faults),
# WB_POWERCUT_FAULTIO (always, the default: every start on the fault
# backend; random: one start in three on the real files, whose kill -9 is
# a plain crash), WB_POWERCUT_BLOCKS (default 1024),
# WB_POWERCUT_THREADS (writer connections, default 8: up to 8 writes in
# flight at a cut), WB_POWERCUT_ACK (split, log, memory, random; at conf()).
# `make test` runs the defaults (about 70 s at load 11); `make torture-repl`
# runs 20 random cycles (WB_POWERCUT_CYCLES=20 WB_POWERCUT_FAULTS=
# WB_POWERCUT_FAULTIO=random).
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-powercut "$WBREPD" "$WBCTL"
need_tools repl-powercut nbdcopy nbdinfo openssl python3 cmp jq
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-powercut (engine wblog not registered)"
CYCLES=${WB_POWERCUT_CYCLES:-2}
SEED=${WB_POWERCUT_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
RANDOM=$SEED
FAULTS=(${WB_POWERCUT_FAULTS-cut-primary cut-primary})
NBLOCKS=${WB_POWERCUT_BLOCKS:-1024}
THREADS=${WB_POWERCUT_THREADS:-8} # writer connections (QD1 each)
echo "repl-powercut: $CYCLES cycles, seed $SEED (WB_POWERCUT_SEED=$SEED to repeat)${FAULTS[*]:+, faults: ${FAULTS[*]}}"
tmpdir repl-powercut
REPL_SIZE_MB=16
. "$ROOT/tests/repl_lib.sh"
CL=$ROOT/tests/cluster/clstamp.py
repl_init alpha beta || finish
declare -A FIO # FIO[n]: WBREPD_FAULT_IO of n's running wbrepd ("" = uring)

declare -A ACK # ACK[n]: the ack of n's configuration
# conf NODE ROLE: ack per WB_POWERCUT_ACK (split, the default: alpha
# ack = log, beta ack = memory, so both promises meet a power cut in the
# two default cycles; log; memory; random: drawn per start). With
# ack = memory a write is acknowledged before it is in the primary's log:
# only the secondary's copy keeps it (a plain write: in its RAM at the
# ack, made durable at once; docs/replication.md "ack = memory and the
# peers").
conf() {
	local a=${WB_POWERCUT_ACK:-split}
	case $a in
	split) a=$([ "$1" = alpha ] && echo log || echo memory) ;;
	random) a=$([ $((RANDOM % 2)) = 0 ] && echo log || echo memory) ;;
	esac
	ACK[$1]=$a
	repl_conf "$1" "$2" protocol=C ack="$a" wb-min-peers=1
}
# start NODE: on the fault backend (random probabilities) or not, per the
# seed; WB_POWERCUT_FAULTIO=always: always on it
start() {
	local n=$1 r=$((RANDOM % 6)) drops=(1000 1000 500 200) tears=(0 0 200 500)
	if [ "${WB_POWERCUT_FAULTIO:-always}" = always ] || [ $r -lt 4 ]; then
		r=$((RANDOM % 4))
		FIO[$n]="drop=${drops[$r]},tear=${tears[$r]},seed=$((SEED * 10 + RANDOM % 10))"
	else
		FIO[$n]=""
	fi
	echo "--- start ${FIO[$n]:+WBREPD_FAULT_IO=${FIO[$n]}}" >>"$T/$n/wbrepd.log"
	WBREPD_FAULT_IO=${FIO[$n]} repl_start "$n"
}
how() { if [ -n "${FIO[$1]}" ]; then echo "power cut ($(echo "${FIO[$1]}" | cut -d, -f1,2), ack ${ACK[$1]})"; else echo "kill -9 (ack ${ACK[$1]})"; fi; }
# note WHAT: with WB_POWERCUT_VERBOSE=1, the seconds since the start and WHAT
note() { [ -z "${WB_POWERCUT_VERBOSE:-}" ] || echo "    [${SECONDS}s] $*"; }

conf alpha primary
conf beta secondary
start alpha || { fail "repl-powercut-start: alpha"; finish; }
start beta || { fail "repl-powercut-start: beta"; finish; }
P=alpha

WD=$T/w
mkdir -p "$WD"
target() { echo "$1 $T/$1/nbd.sock" >"$WD/target.tmp" && mv "$WD/target.tmp" "$WD/target"; }
target $P
python3 "$CL" write "$WD" "$NBLOCKS" "$SEED" "$THREADS" 2>"$WD/writer.err" &
WPID=$!
track_pid "$WPID"
pause() {
	rm -f "$WD/paused"
	: >"$WD/pause"
	wait_for 30 test -e "$WD/paused"
}
resume() { rm -f "$WD/pause"; }
acks() {
	local n
	n=$(grep -c '^A ' "$WD/writes.log" 2>/dev/null)
	echo "${n:-0}"
}
acks_reach() { [ "$(acks)" -ge "$1" ]; }
# more_acks N: N more acknowledged writes within 120 s
more_acks() { wait_for 120 acks_reach $(($(acks) + $1)); }
# check NODE: every acknowledged write is on NODE (writer paused by the caller)
check() { timeout 120 python3 "$CL" verify "$WD" "$T/$1/nbd.sock" >"$WD/verify.$1" 2>&1; }
# identical A B: both flushed, A's export reads back as B's (writer paused)
identical() {
	ctl "$1" flush r0 >/dev/null 2>&1
	timeout 300 nbdcopy "$(URI "$1")" "$T/img.$1" 2>/dev/null && same_as "$T/img.$1" "$2"
}
# jqs NODE FILTER: NODE's status of r0 makes the jq FILTER true (jq, not
# repl_lib's python: a python start costs seconds on a loaded machine)
jqs() { ctl "$1" status --json r0 2>/dev/null | jq -e ".resources[0] | $2" >/dev/null; }
jqget() { ctl "$1" status --json r0 2>/dev/null | jq -r ".resources[0] | $2"; }
WHOLE='.role == "primary" and .mode == "writeback" and all(.peers[]; .connection == "Connected" and .disk == "UpToDate" and .replication == "Established")'
whole() { jqs "$P" "$WHOLE"; }
# caught_up: the secondary's seq head is the primary's (writer paused)
caught_up() { [ "$(jqget "$P" .seq.head)" = "$(jqget "$(other "$P")" .seq.head)" ]; }
# (RANDOM drawn here, not in a $(...) subshell: the seed's sequence stays ours)
hold() {
	local r=$((RANDOM % 20))
	sleep "$(awk -v r=$r 'BEGIN { printf "%.1f", 0.3 + r / 10 }')"
}
back() { # the returning node: up to date, or refused (does not change by waiting)
	whole || jqs "$1" '.repl_problem != ""'
}

declare -A RB_SEEN=()
ROLLBACKS=0
for c in $(seq 1 "$CYCLES"); do
	if ! wait_for 120 whole; then
		fail "repl-powercut-$c" "pair not whole after 120 s: $P $(jqget "$P" '[.mode, .mode_reason, (.peers[] | .connection, .disk, .problem)] | join(" ")')"
		break
	fi
	note "cycle $c: whole"
	more_acks 50 || { fail "repl-powercut-$c" "the writer makes no progress on $P"; break; }
	if [ ${#FAULTS[@]} -gt 0 ]; then
		f=${FAULTS[$(((c - 1) % ${#FAULTS[@]}))]}
	else
		f=$(((RANDOM % 3) == 0 ? 1 : 0))
		f=$([ $f = 1 ] && echo cut-sec || echo cut-primary)
	fi
	hold
	case $f in
	cut-sec)
		s=$(other "$P")
		msg="$f: $s $(how "$s")"
		repl_stop "$s" KILL
		more_acks 30 || fail "repl-powercut-$c" "$msg: no write acknowledged by $P alone"
		conf "$s" secondary
		start "$s" || { fail "repl-powercut-$c" "$msg: $s did not start"; break; }
		;;
	cut-primary)
		o=$P s=$(other "$P")
		msg="$f: $o $(how "$o")"
		repl_stop "$o" KILL
		# beta was UpToDate when its primary went away: promotable
		if ! wait_for 60 ctl "$s" primary r0 >"$T/promote" 2>&1; then
			fail "repl-powercut-$c" "$msg; $s not promoted: $(cat "$T/promote")"
			break
		fi
		P=$s
		target "$P"
		msg="$msg, $s promoted"
		more_acks 30 || fail "repl-powercut-$c" "$msg: no write acknowledged by $P"
		pause
		if check "$P"; then
			msg="$msg ($P: $(tail -1 "$WD/verify.$P" | sed 's/^verify: //'))"
		else
			fail "repl-powercut-$c" "$msg: acknowledged writes lost on $P: $(tr '\n' ' ' <"$WD/verify.$P")"
			resume
			break
		fi
		resume
		conf "$o" secondary
		start "$o" || { fail "repl-powercut-$c" "$msg: $o did not start"; break; }
		s=$o
		;;
	esac
	note "$s restarted"
	# the returned node: rolled back and resynced, or caught up
	wait_for 120 back "$s"
	# records past the common point the new primary never had (never
	# acknowledged: protocol C): rolled back by the daemon, no refusal
	rb=$(grep -c 'rolled back: the blocks of this node' "$T/$s/wbrepd.log")
	if [ "$rb" -gt "${RB_SEEN[$s]:-0}" ]; then
		msg="$msg; $s rolled back ($(grep -o 'records from seq [0-9]* on' "$T/$s/wbrepd.log" | tail -1))"
		ROLLBACKS=$((ROLLBACKS + 1))
	fi
	RB_SEEN[$s]=$rb
	if ! whole; then
		pb=$(jqget "$s" .repl_problem)
		fail "repl-powercut-$c" "$msg; $s not back: ${pb:-$(jqget "$P" '[.peers[] | .connection, .disk, .replication] | join(" ")')}"
		break
	fi
	note "$s back"
	more_acks 20 || fail "repl-powercut-$c" "$msg: no progress after $s returned"
	pause
	note "paused"
	if ! check "$P" || ! check "$s"; then
		fail "repl-powercut-$c" "$msg: lost writes: $P: $(tail -3 "$WD/verify.$P" | tr '\n' ' ') $s: $(tail -3 "$WD/verify.$s" | tr '\n' ' ')"
	elif ! note checked || ! wait_for 60 caught_up || ! note "caught up" ||
		! wait_for 60 identical "$P" "$s"; then
		fail "repl-powercut-$c" "$msg: $s differs from $P: $(cmp "$T/img.$P" "$T/out.$s" 2>&1 | head -1)"
	else
		pass "repl-powercut-$c" "($msg; $s back and byte-identical; $P: $(tail -1 "$WD/verify.$P" | sed 's/^verify: //'))"
	fi
	resume
done
kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
echo "    $c cycles, writes: $(grep -c '^S ' "$WD/writes.log") sent, $(acks) acknowledged, $ROLLBACKS old primaries rolled back"
repl_log_clean repl-powercut-log alpha beta
for n in alpha beta; do repl_stop "$n"; done
finish
