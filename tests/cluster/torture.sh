#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 3600
#
# torture.sh - `make torture-cluster`: randomized faults on a 3-node
# namespaced wbrep cluster (deploy/cluster/wbcluster: corosync + wbrepd per
# node, TLS, r0 protocol C, wb-min-peers 2, primary n1 at the start) under
# a stamped write load with a checker that knows what was acknowledged,
# by which node and when (tests/cluster/clstamp.py: QD1 4 KiB writes to
# the current primary, every send and every acknowledgement logged).
#
# Each cycle waits for a whole cluster (three wbrepd, the primary in
# write-back), then picks a fault at random (seeded):
#   cut-sec      a secondary's link cut (nftables), writes go on, healed
#   kill-sec     a secondary's wbrepd SIGKILLed, writes go on, restarted
#   crash-sec    a secondary node crashed (link down, all SIGKILLed), back
#   cut-primary  the primary's link cut: it is the minority; the majority
#                promotes one of its nodes (wbctl primary; an Outdated one
#                is refused and the other is taken); the writer follows;
#                the old primary is fenced (wbrepd SIGKILL, as STONITH
#                would), healed and restarted as secondary
#   crash-primary the primary node crashed; promotion as above; restarted
#                as secondary
#   kill-primary the primary's wbrepd SIGKILLed (corosync stays); as above
#   degraded-cut-primary a secondary's wbrepd SIGKILLed (the primary writes
#                through with one peer), then the primary cut off; the
#                killed wbrepd restarted; the other secondary promoted;
#                the minority must not have acknowledged anything
#   disk-sec     a secondary's disk dies (its wbrepd gets an RLIMIT_FSIZE
#                of 4 KiB: every device write past the first block fails,
#                its engine fails), writes go on; mended (the limit lifted,
#                wbctl down + up: docs/replication.md, "A failed disk")
#   disk-primary the primary's disk dies; it is demoted (wbctl secondary
#                on the failed engine), another node promoted, the writer
#                follows; mended and back as secondary as above
#                (disk-*: only on a node on the real files, where the
#                limit fails the device writes; a node on the fault
#                backend below takes kill-sec / kill-primary instead, and
#                the cycle's line says so)
# Power cuts: each wbrepd start (the cluster's `up` and every restart)
# puts the node's backing and log on the file-backed fault-injection
# backend (WBREPD_FAULT_IO: a volatile write cache inside wbrepd,
# engine/io_fault.c) with probabilities drawn from the seed, or (one start
# in three) on the real files; a SIGKILL of a wbrepd on the fault backend
# (crash-*, kill-*, and the fencing of a cut primary) is then a power cut
# of its devices: every write no flush or FUA covered is lost (or torn, or
# landed early). The cycle's line says which (`power cut drop=P,tear=P` or
# `kill -9`). WB_TORTURE_FAULTIO=off: never, always: every start.
# Before each fault: the newest generation all nodes' logs cover is opened
# as a snapshot on each and must read back the same (snapcheck).
# Checks: after every fault the primary (and after a repair the repaired
# node) holds every acknowledged write: `clstamp.py verify` reads every
# block (0 lost, 0 torn); after a secondary fault the primary left
# write-back; after cut-primary the cut node acknowledged no write sent
# after the cut (`clstamp.py minority`); no survivor holding as many
# records as the promoted one was refused as not up to date (promote);
# the returning old primary, once
# back, holds every acknowledged write too. An old primary that holds
# records past the common point (written before the fault, never
# acknowledged) must be rolled back by the daemon itself (docs/replication.md,
# "Data generations and split brain"): one refused as diverged instead is
# a failure of the cycle. A node refused (or not back for another reason)
# is reported and left out, and the next cycle starts on a new cluster
# with a new writer log (an "epoch").
#
# Env: WB_TORTURE_CYCLES (default 20), WB_TORTURE_SEED (default random,
# printed: the same seed gives the same faults, nodes, durations and
# device backends),
# WB_TORTURE_FAULTS (a list used in turn instead of random faults; the
# short run in `make test`, tests/cluster/test_torture_short.sh, uses it),
# WB_TORTURE_BLOCKS (4 KiB blocks the writer covers and every check reads
# back, default 2048).
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "cluster/torture: needs root (network namespaces)"
need_tools cluster/torture corosync nft ip unshare openssl jq python3 nbdcopy sha256sum
need_bins cluster/torture "$WBREPD" "$WBCTL"
CYCLES=${WB_TORTURE_CYCLES:-20}
SEED=${WB_TORTURE_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
RANDOM=$SEED
FAULTS=(${WB_TORTURE_FAULTS:-})
echo "torture-cluster: $CYCLES cycles, seed $SEED (WB_TORTURE_SEED=$SEED to repeat)${FAULTS[*]:+, faults: ${FAULTS[*]}}"
tmpdir torture-cluster
export WBCLUSTER_DIR=$T/cluster WBCLUSTER_SIZE=32M WBCLUSTER_LOGSIZE=64M
W=$ROOT/deploy/cluster/wbcluster
CL=$ROOT/tests/cluster/clstamp.py
NBLOCKS=${WB_TORTURE_BLOCKS:-2048} # 4 KiB blocks the writer covers (8 MiB)

on_cleanup "$W down"
declare -A FIO # FIO[i]: WBREPD_FAULT_IO of node i's wbrepd ("": real files)
# fio_pick: a WBREPD_FAULT_IO value drawn from the seed in FIOP ("" = none)
fio_pick() {
	local r=$((RANDOM % 6)) drops=(1000 1000 500 200) tears=(0 0 200 500)
	FIOP=""
	case ${WB_TORTURE_FAULTIO:-random} in
	off) return ;;
	always) ;;
	*) [ $r -lt 4 ] || return ;;
	esac
	r=$((RANDOM % 4))
	FIOP="drop=${drops[$r]},tear=${tears[$r]},seed=$((SEED * 10 + RANDOM % 10))"
}
# up: the cluster's 3 nodes (all on one drawn backend); every other
# cluster (drawn) destages only above half its log, so that its nodes keep
# generations a snapshot can be taken of (snapcheck; with the defaults
# destage stays at the head and there is rarely one)
up() {
	local i
	if [ $((RANDOM % 2)) = 0 ]; then
		export WBCLUSTER_R0_EXTRA=$'destage-low = 50%\ndestage-min-rate = 0'
	else
		unset WBCLUSTER_R0_EXTRA
	fi
	fio_pick
	for i in 1 2 3; do FIO[$i]=$FIOP; done
	WBREPD_FAULT_IO=$FIOP "$W" up 3
}
# start I [WHAT]: wbcluster start, the wbrepd on a drawn backend
start() {
	fio_pick
	FIO[$1]=$FIOP
	WBREPD_FAULT_IO=$FIOP "$W" start "$@"
}
# how I: what a SIGKILL of node I's wbrepd is
how() { if [ -n "${FIO[$1]}" ]; then echo "power cut ${FIO[$1]%,seed=*}"; else echo "kill -9"; fi; }
up >"$T/up.log" 2>&1 || { tail -5 "$T/up.log"; fail torture_up "wbcluster up 3 failed"; finish; }
sock() { echo "$WBCLUSTER_DIR/n$1/nbd.sock"; }
field() { "$W" field "$1" "$2"; }
running() { [ -n "$(cat "/proc/$(cat "$WBCLUSTER_DIR/n$1/wbrepd.pid")/comm" 2>/dev/null)" ]; }
target() { echo "n$1 $(sock "$1")" >"$WD/target.tmp" && mv "$WD/target.tmp" "$WD/target"; }
EPOCH=0 WPID="" NSENT=0 NACKED=0
# epoch: (again) a cluster with r0 primary on n1 and a new writer with its
# own log; a returning old primary refused as diverged cannot be brought
# back without a resync, so the cluster is made anew instead
epoch() {
	if [ -n "$WPID" ]; then
		kill "$WPID"
		wait "$WPID" 2>/dev/null
		NSENT=$((NSENT + $(grep -c '^S ' "$WD/writes.log"))) NACKED=$((NACKED + $(grep -c '^A ' "$WD/writes.log")))
		"$W" down >/dev/null 2>&1
		# the logs of this cluster survive it (up clears the node dirs)
		mkdir -p "$T/logs$EPOCH"
		for i in 1 2 3; do cp "$WBCLUSTER_DIR/n$i/wbrepd.log" "$T/logs$EPOCH/n$i-wbrepd.log"; done
		up >"$T/up.log" 2>&1 || { tail -5 "$T/up.log"; fail torture_up "wbcluster up 3 failed"; finish; }
	fi
	EPOCH=$((EPOCH + 1))
	WD=$T/w$EPOCH
	mkdir -p "$WD"
	P=1
	OUT="" # a node left out (refused as diverged)
	target 1
	python3 "$CL" write "$WD" "$NBLOCKS" "$((SEED + EPOCH))" 2>"$WD/writer.err" &
	WPID=$!
	track_pid "$WPID"
}
epoch

# whole: every node but OUT runs wbrepd and the primary is in write-back
# (with OUT set: write-through is all there is)
whole() {
	local i
	for i in 1 2 3; do [ "$i" = "$OUT" ] || running "$i" || return 1; done
	if [ -z "$OUT" ]; then [ "$(field "$P" mode)" = writeback ]; else [ "$(field "$P" role)" = primary ]; fi
}
pause() {
	rm -f "$WD/paused"
	: >"$WD/pause"
	wait_for 30 test -e "$WD/paused"
}
resume() { rm -f "$WD/pause"; }
# verify NODE WHAT: every acknowledged write is on NODE (writer paused)
verify() {
	local out
	pause
	if out=$(timeout 120 python3 "$CL" verify "$WD" "$(sock "$1")" 2>&1); then
		resume
		echo "$out" | tail -1 | sed 's/^verify: //'
		return 0
	fi
	resume
	echo "n$1: $(echo "$out" | tr '\n' ' ')"
	return 1
}
# the secondaries that can take a fault (running, not OUT)
secondaries() {
	local i
	for i in 1 2 3; do [ "$i" = "$P" ] || [ "$i" = "$OUT" ] || echo "$i"; done
}
# pick WORD...: one of them in PICKED (RANDOM is drawn here, never in a
# $(...) subshell, which bash reseeds: the seed alone decides)
pick() {
	local a=("$@")
	PICKED=${a[RANDOM % ${#a[@]}]}
}
as_secondary() { sed -i 's/^role = primary$/role = secondary/' "$("$W" conf "$1")"; }
# head I: node I's seq head (status), "" when it does not answer
head_of() { "$W" wbctl "$1" status --json r0 2>/dev/null | jq -r '.resources[0].seq.head // ""'; }
# promote: wbctl primary on a surviving node (the one with the newer data:
# the other is refused as Outdated); sets NP. WRONG: a survivor refused
# as not up to date although it holds at least as many records as the
# promoted one (docs/replication.md, "Disk states": every secondary
# caught up with the primary before the fault, so the one with the most
# records must be promotable; each cycle starts with a whole cluster;
# not FRESH: a node restarted just now, not caught up yet)
promote() {
	local i end=$((SECONDS + 60))
	declare -A h0
	NP="" WRONG=""
	rm -f "$T"/promote.*
	for i in $(secondaries); do h0[$i]=$(head_of "$i"); done
	while [ -z "$NP" ] && [ $SECONDS -lt $end ]; do
		for i in $(secondaries); do
			if "$W" wbctl "$i" primary r0 >"$T/promote.$i" 2>&1; then
				NP=$i
				for i in $(secondaries); do
					[ "$i" != "$NP" ] && [ "$i" != "$FRESH" ] && [ -n "${h0[$i]}" ] && [ -n "${h0[$NP]}" ] &&
						[ "${h0[$i]}" -ge "${h0[$NP]}" ] &&
						grep -q "disk is" "$T/promote.$i" 2>/dev/null &&
						WRONG="$WRONG n$i (seq head ${h0[$i]}, n$NP ${h0[$NP]}: $(head -c 120 "$T/promote.$i"))"
				done
				return 0
			fi
		done
		sleep 0.2
	done
	return 1
}
# members I N: node I's corosync view has N quorum members
members() { [ "$("$W" wbctl "$1" status --json r0 2>/dev/null | jq '.cluster.members | length')" = "$2" ]; }
hold() { # the load runs meanwhile
	local r=$((RANDOM % 20))
	sleep "$(awk -v r=$r 'BEGIN { printf "%.1f", 0.5 + r / 10 }')"
}

# rs_count: "FULL BITMAP", the resyncs started so far in this cluster's
# logs (wbcluster up clears them; a restarted node's log is appended to)
rs_count() {
	cat "$WBCLUSTER_DIR"/n[123]/wbrepd.log 2>/dev/null |
		awk '/resync to peer .* started: full sync/ { f++ } /resync to peer .* started: bitmap/ { b++ }
		END { print f + 0, b + 0 }'
}
RS_FULL=0 RS_BITMAP=0

# snapcheck C: before cycle C's fault, the newest generation every node's
# log still covers reads back the same on every node (docs/snapshots.md,
# "the same on every replica"): opened on each (wbctl snapshot), copied out,
# compared; none in common (destage, a restart or a resync moved a node's
# span past the others') is counted, not a failure
SNAP_SAME=0 SNAP_NONE=0
# common: the newest generation every node can open now in SNAPG
common() {
	local i o n lo=0 hi=""
	SNAPG=""
	for i in 1 2 3; do
		[ "$i" = "$OUT" ] && continue
		"$W" wbctl "$i" snapshots r0 --json >"$T/sn.$i" 2>/dev/null || return 1
		o=$(jq -r '.readable.oldest // empty' "$T/sn.$i")
		n=$(jq -r '.readable.newest // empty' "$T/sn.$i")
		[ -n "$o" ] && [ -n "$n" ] || return 1
		[ "$o" -gt "$lo" ] && lo=$o
		if [ -z "$hi" ] || [ "$n" -lt "$hi" ]; then hi=$n; fi
	done
	[ "$lo" -le "$hi" ] && SNAPG=$hi
}
snapcheck() {
	local i g ref="" h msg="" opened=""
	# a node restarted, or resynced, has none before its first generation
	# that ends after it (the generation timer: 5 s)
	if ! wait_for 8 common; then
		SNAP_NONE=$((SNAP_NONE + 1))
		return 0
	fi
	g=$SNAPG
	for i in 1 2 3; do
		[ "$i" = "$OUT" ] && continue
		if ! "$W" wbctl "$i" snapshot r0 --gen "$g" >"$T/so.$i" 2>&1; then
			msg="n$i refused: $(cat "$T/so.$i")" # destage passed it meanwhile
			break
		fi
		opened="$opened $i"
		h=$(timeout 120 nbdcopy "nbd+unix:///r0@$g?socket=$(sock "$i")" - | sha256sum | cut -c1-16)
		if [ -z "$ref" ]; then
			ref=$h
		elif [ "$h" != "$ref" ]; then
			fail "torture_snap_$1" "generation $g reads back differently: n$i $h, the first node $ref"
		fi
	done
	for i in $opened; do "$W" wbctl "$i" snapshot-drop r0 "$g" >/dev/null 2>&1; done
	if [ -n "$msg" ]; then
		SNAP_NONE=$((SNAP_NONE + 1))
	elif [ -z "$ref" ] || [ "$(grep -c . <<<"$opened")" = 0 ]; then
		SNAP_NONE=$((SNAP_NONE + 1))
	else
		SNAP_SAME=$((SNAP_SAME + 1))
		pass "torture_snap_$1" "(generation $g the same on n$(echo $opened | sed 's/ /, n/g'): $ref)"
	fi
}

wait_for 60 whole || fail torture_start "n1 never in write-back"
for c in $(seq 1 "$CYCLES"); do
	if [ -n "$OUT" ]; then
		echo "    cycle $c: a new cluster (epoch $((EPOCH + 1))): n$OUT was left out"
		epoch
	fi
	read -r rf0 rb0 <<<"$(rs_count)"
	if ! wait_for 120 whole; then
		fail "torture_$c" "cluster not whole after 120 s: n$P $(field "$P" mode), $(field "$P" mode_reason)"
		continue
	fi
	snapcheck "$c"
	if [ ${#FAULTS[@]} -gt 0 ]; then
		f=${FAULTS[$(((c - 1) % ${#FAULTS[@]}))]}
	else
		pick cut-sec kill-sec crash-sec cut-primary crash-primary kill-primary degraded-cut-primary \
			disk-sec disk-primary
		f=$PICKED
	fi
	subst=""
	if [ "$f" = disk-primary ] && [ -n "${FIO[$P]}" ]; then
		f=kill-primary subst=" (for disk-primary: n$P is on the fault backend)"
	fi
	case $f in
	*-sec)
		if [ "$f" = disk-sec ]; then
			# a secondary on the real files
			real=$(for i in $(secondaries); do [ -n "${FIO[$i]}" ] || echo "$i"; done)
			if [ -n "$real" ]; then
				pick $real
			else
				f=kill-sec subst=" (for disk-sec: the secondaries are on the fault backend)"
			fi
		fi
		[ "$f" = disk-sec ] || pick $(secondaries)
		s=$PICKED
		case $f in
		cut-sec) "$W" cut "$s" ;;
		kill-sec) "$W" kill "$s" KILL wbrepd ;;
		crash-sec) "$W" kill "$s" ;;
		disk-sec) prlimit --pid "$(cat "$WBCLUSTER_DIR/n$s/wbrepd.pid")" --fsize=4096: ;;
		esac
		hw=""
		[ "$f" = cut-sec ] || hw=" ($(how "$s"))$subst"
		hold
		lw=1
		[ -n "$OUT" ] || wait_for 30 eval '[ "$(field "$P" mode)" != writeback ]' || lw=0
		if [ "$f" = disk-sec ]; then
			wait_for 30 eval '[ "$(field "$s" state)" = failed ]' && hw=" (its disk failed)" ||
				hw=" (its disk failed, but n$s is $(field "$s" state))"
		fi
		case $f in
		cut-sec) "$W" heal "$s" ;;
		disk-sec)
			prlimit --pid "$(cat "$WBCLUSTER_DIR/n$s/wbrepd.pid")" --fsize=unlimited:
			"$W" wbctl "$s" down r0 >/dev/null 2>&1
			"$W" wbctl "$s" up r0 >/dev/null 2>&1
			;;
		*) start "$s" >/dev/null ;;
		esac
		if [ $lw = 0 ]; then
			fail "torture_$c" "$f n$s: n$P stayed in write-back"
		elif ! wait_for 120 whole; then
			fail "torture_$c" "$f n$s: not repaired in 120 s: n$P $(field "$P" mode_reason)"
		elif vp=$(verify "$P") && vs=$(verify "$s"); then
			pass "torture_$c" "($f n$s$hw; n$P: $vp; n$s identical in every acknowledged block)"
		else
			fail "torture_$c" "$f n$s: $vp $vs"
		fi
		;;
	*-primary)
		o=$P
		case $f in
		degraded-cut-primary)
			# a secondary's wbrepd down first (its corosync stays: the
			# majority is the other secondary and it): the primary
			# writes through with one peer, then it is cut off
			pick $(secondaries)
			d=$PICKED
			"$W" kill "$d" KILL wbrepd
			wait_for 30 eval '[ "$(field "$P" mode)" != writeback ]'
			hold
			lc=$(wc -l <"$WBCLUSTER_DIR/n$o/wbrepd.log")
			"$W" cut "$o"
			tcut=$(date +%s%3N)
			;;
		cut-primary)
			lc=$(wc -l <"$WBCLUSTER_DIR/n$o/wbrepd.log")
			"$W" cut "$o"
			tcut=$(date +%s%3N)
			;;
		crash-primary) "$W" kill "$o" ;;
		kill-primary) "$W" kill "$o" KILL wbrepd ;;
		disk-primary)
			# its disk dies: its writes fail; demoted where it stands
			# (no flush can succeed there) so that a peer takes over
			prlimit --pid "$(cat "$WBCLUSTER_DIR/n$o/wbrepd.pid")" --fsize=4096:
			wait_for 30 eval '[ "$(field "$o" state)" = failed ]'
			"$W" wbctl "$o" secondary r0 >"$T/demote" 2>&1 ||
				fail "torture_$c" "disk-primary n$o: the failed primary not demoted: $(cat "$T/demote")"
			;;
		esac
		hold
		# the survivors' membership without the old primary (not for
		# kill-primary and disk-primary: its corosync stays, its CPG
		# process left at once / it is still a member)
		[ "$f" = kill-primary ] || [ "$f" = disk-primary ] ||
			for i in $(secondaries); do wait_for 30 members "$i" 2; done
		FRESH=""
		[ "$f" != degraded-cut-primary ] || { start "$d" wbrepd >/dev/null; FRESH=$d; }
		if ! promote; then
			fail "torture_$c" "$f n$o: no node could be promoted: $(cat "$T"/promote.* | tr '\n' ' ')"
			break
		fi
		P=$NP
		target "$P"
		hold
		msg="$f n$o, n$P promoted"
		case $f in
		crash-primary | kill-primary) msg="$f n$o ($(how "$o"))$subst, n$P promoted" ;;
		disk-primary) msg="$f n$o (its disk failed: $(field "$o" state)), n$P promoted" ;;
		*) msg="$f n$o (fenced: $(how "$o")), n$P promoted" ;;
		esac
		res=0
		if [ -n "$WRONG" ]; then
			res=1
			msg="$msg; REFUSED WITH AS MANY RECORDS:$WRONG"
		fi
		if [ "$f" = cut-primary ] || [ "$f" = degraded-cut-primary ]; then
			if m=$(python3 "$CL" minority "$WD" "n$o" "$tcut" 2>&1); then
				msg="$msg; the cut n$o acknowledged nothing"
			else
				res=1
				msg="$msg; MINORITY ACKED: $m"
			fi
			# the peers gone with the quorum of before (daemon/membership.c:
			# a node down is reported with the quorum after it): the cut
			# node went write-through alone and could release a write
			if m=$(tail -n +$((lc + 1)) "$WBCLUSTER_DIR/n$o/wbrepd.log" |
				grep -m1 '(membership): quorate, only 0/'); then
				res=1
				msg="$msg; THE CUT n$o WROTE THROUGH ALONE: ${m#* info: }"
			fi
			# fenced as STONITH would: its wbrepd dies before the heal
			"$W" kill "$o" KILL wbrepd
			"$W" heal "$o"
		fi
		if v=$(verify "$P"); then msg="$msg; n$P: $v"; else res=1 msg="$msg; $v"; fi
		as_secondary "$o"
		lo=$(wc -l <"$WBCLUSTER_DIR/n$o/wbrepd.log")
		if [ "$f" = disk-primary ]; then
			# mended: the limit lifted, down and up as secondary
			prlimit --pid "$(cat "$WBCLUSTER_DIR/n$o/wbrepd.pid")" --fsize=unlimited:
			"$W" wbctl "$o" down r0 >/dev/null 2>&1
			"$W" wbctl "$o" reload >/dev/null 2>&1
			"$W" wbctl "$o" up r0 >/dev/null 2>&1
		else
			start "$o" >/dev/null
		fi
		# back: whole again, or refused (which does not change by waiting)
		back() { whole || [ -n "$(field "$o" repl_problem)" ]; }
		wait_for 90 back
		pb=$(field "$o" repl_problem)
		if ! whole && [[ "$pb" == *"this node has records from seq"* || "$pb" == *"n$o has records from seq"* ]]; then
			# records past the common point the new primary never had
			# (never acknowledged under protocol C): the daemon rolls
			# such an old primary back by itself (docs/replication.md,
			# "Data generations and split brain"); a refusal is a
			# failure (no --discard-my-data by hand any more); the node
			# is left out and the next cycle starts a new cluster
			res=1
			msg="$msg; OLD PRIMARY n$o REFUSED AS DIVERGED, not rolled back: ${pb%% in generation*}"
		fi
		if whole; then
			# the old primary (caught up, resynced or rolled back) holds
			# every acknowledged write too
			tail -n +$((lo + 1)) "$WBCLUSTER_DIR/n$o/wbrepd.log" | grep -q 'this node has records from seq.*rolled back' &&
				msg="$msg; n$o rolled back by itself"
			if v=$(verify "$o"); then msg="$msg; n$o back: $v"; else res=1 msg="$msg; n$o back, but $v"; fi
		else
			pb=$(field "$o" repl_problem)
			OUT=$o
			msg="$msg; old primary n$o not back: ${pb:-$(field "$P" mode_reason)} (left out)"
		fi
		if [ $res = 0 ]; then pass "torture_$c" "($msg)"; else fail "torture_$c" "$msg"; fi
		;;
	esac
	# what the repair cost: a full sync copies the whole device, a bitmap
	# resync only what changed while a node was away
	read -r rf1 rb1 <<<"$(rs_count)"
	RS_FULL=$((RS_FULL + rf1 - rf0)) RS_BITMAP=$((RS_BITMAP + rb1 - rb0))
	[ $((rf1 - rf0 + rb1 - rb0)) = 0 ] || echo "    cycle $c ($f): resyncs started: $((rf1 - rf0)) full sync, $((rb1 - rb0)) bitmap"
done
for i in 1 2 3; do
	grep -qE 'AddressSanitizer|runtime error|Segmentation' "$WBCLUSTER_DIR/n$i/wbrepd.log" &&
		fail "torture_daemon_n$i" "$(grep -m1 -E 'Sanitizer|runtime error|Segmentation' "$WBCLUSTER_DIR/n$i/wbrepd.log")"
done
kill "$WPID"
wait "$WPID" 2>/dev/null
NSENT=$((NSENT + $(grep -c '^S ' "$WD/writes.log"))) NACKED=$((NACKED + $(grep -c '^A ' "$WD/writes.log")))
echo "    $EPOCH cluster(s), writes: $NSENT sent, $NACKED acknowledged; resyncs: $RS_FULL full sync, $RS_BITMAP bitmap"
echo "    snapshots: the newest common generation identical on every node in $SNAP_SAME cycle(s), none in common in $SNAP_NONE"
[ -n "${WB_KEEP_LOGS:-}" ] && cp -r "$WBCLUSTER_DIR" "$T"/w* $(ls -d "$T"/logs* 2>/dev/null) "$WB_KEEP_LOGS"/
finish
