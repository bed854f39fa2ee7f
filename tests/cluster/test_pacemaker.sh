#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
#
# test_pacemaker.sh - pacemaker manages r0 on a real 3-node namespaced
# cluster (wbcluster up 3 --pacemaker: pacemakerd per node, the promotable
# clone r0-clone of ocf:wbrep:wbrep, no fencing; docs/pacemaker.md).
# Cases: the clone runs on all three nodes and each carries the promotion
# score the agent derives from wbctl status (1000 for a healthy secondary,
# 10000 for the primary); exactly one node is primary; `down` leaves none
# of our namespaces or processes. With WB_PCMK_FAILOVER=1 (`make
# torture-cluster`; left out of `make test` for its time budget) also: 8
# MiB written through the primary replicate, its node crashes (link down,
# corosync, pacemaker, wbrepd SIGKILLed at once) and pacemaker promotes
# another node that holds every acknowledged byte and serves writes; the
# steps from the crash to the promotion are printed (tests/cluster/
# timeline.sh); then the promoted node's disk fails (diskfail below) and
# pacemaker promotes the third node.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/timeline.sh"

[ "$(id -u)" = 0 ] || skip_all "cluster/pacemaker: needs root (network namespaces)"
need_tools cluster/pacemaker corosync nft ip unshare openssl nbdcopy qemu-io jq cmp pacemakerd cibadmin crm_mon
[ -r /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs ] ||
	skip_all "cluster/pacemaker: resource-agents not installed (scripts/deps.sh)"
need_bins cluster/pacemaker "$WBREPD" "$WBCTL"
tmpdir pacemaker
export WBCLUSTER_DIR=$T/cluster WBCLUSTER_SIZE=64M WBCLUSTER_LOGSIZE=32M WBCLUSTER_WAIT=240
W=$ROOT/deploy/cluster/wbcluster
DEVSZ=$((64 * 1048576 - 4096))
HAVE_ROLES=0
"$WBCTL" help primary >/dev/null 2>&1 && HAVE_ROLES=1

on_cleanup "$W down"
if ! "$W" up 3 --pacemaker >"$T/up.log" 2>&1; then
	sed 's/^/    /' "$T/up.log" | tail -20
	fail pacemaker_up "wbcluster up 3 --pacemaker failed"
	finish
fi
PREFIX=$(cat "$WBCLUSTER_DIR/prefix")
PIDS=$(cat "$WBCLUSTER_DIR"/n*/corosync.pid "$WBCLUSTER_DIR"/n*/wbrepd.pid "$WBCLUSTER_DIR"/n*/pacemakerd.pid)
mon() { "$W" pcmk "${1:-1}" crm_mon -1 -A 2>/dev/null; }
# score_of I: the promotion score node I carries (crm_mon -A)
score_of() { mon | sed -n "/Node: n$1:/,/Node: /p" | sed -n 's/.*master-r0[[:space:]]*:[[:space:]]*\([0-9-]*\).*/\1/p' | head -1; }
# all_scored: every node carries a score, 10000 on the primary, 1000 elsewhere
all_scored() {
	local i p s
	p=$("$W" primary)
	for i in 1 2 3; do
		s=$(score_of "$i")
		if [ "$i" = "$p" ]; then [ "$s" = 10000 ] || return 1; else [ "$s" = 1000 ] || return 1; fi
	done
}
# running_on_all: the clone is Promoted or Unpromoted on all three nodes
running_on_all() {
	[ "$(mon | grep -E '\* (Promoted|Unpromoted): \[' | grep -o 'n[1-3]' | sort -u | wc -l)" = 3 ]
}

# without wbctl primary wbcluster configures promoted-max=0 (nothing to promote)
if wait_for 120 running_on_all && wait_for 60 all_scored; then
	pass pacemaker_clone "(r0-clone on n1 n2 n3, promotion scores $(score_of 1)/$(score_of 2)/$(score_of 3))"
else
	mon | sed -n '/Node List/,$p' | sed 's/^/    /'
	fail pacemaker_clone "clone not running everywhere or scores not as the agent sets them"
fi

head -c "$DEVSZ" /dev/zero >"$T/img"
# diskfail I: node I (the primary) loses its disk: its wbrepd gets an
# RLIMIT_FSIZE of 4 KiB (prlimit; every device write past the first block
# fails), a write through it fails and its engine with it; the agent's
# monitor says "promoted (failed)", pacemaker demotes it (wbctl secondary
# works on a failed engine), stops it, its start fails (the log cannot be
# written) and the last node is promoted: it holds every acknowledged byte
# and serves writes (docs/pacemaker.md, "A failed disk")
diskfail() {
	local p=$1 np t0
	t0=$(date +%s%3N)
	if ! prlimit --pid "$(cat "$WBCLUSTER_DIR/n$p/wbrepd.pid")" --fsize=4096: 2>"$T/prlimit"; then
		skip "pacemaker_diskfail (prlimit cannot lower wbrepd's RLIMIT_FSIZE: $(cat "$T/prlimit"))"
		return
	fi
	timeout 10 qemu-io -f raw "$("$W" uri "$p")" -c "write -P 1 0 64k" >/dev/null 2>&1
	other_than() { local q; q=$("$W" primary); [ -n "$q" ] && [ "$q" != "$1" ]; }
	if ! wait_for 120 other_than "$p"; then
		mon | sed -n '/Node List/,$p' | sed 's/^/    /'
		fail pacemaker_diskfail "no other node promoted 120 s after n$p's disk failed"
		return
	fi
	np=$("$W" primary)
	# the write that failed on n$p may have reached the others or not
	# (an error is no acknowledgement): its range written again, as the
	# image has it
	wait_for 60 timeout 10 qemu-io -f raw "$("$W" uri "$np")" -c "write -P 0 0 64k" >/dev/null 2>&1
	if ! same_on "$np"; then
		fail pacemaker_diskfail "n$np lacks acknowledged data: $(cmp "$T/img" "$T/out.$np" 2>&1 | head -1)"
		return
	fi
	head -c $((2 * 1048576)) /dev/urandom | dd of="$T/img" bs=1M seek=30 conv=notrunc status=none
	if timeout 120 nbdcopy "$T/img" "$("$W" uri "$np")" && same_on "$np"; then
		pass pacemaker_diskfail "(n$p's disk failed; n$np promoted by +$(($(date +%s%3N) - t0)) ms, holds every acknowledged byte and serves writes; n$p: $("$W" field "$p" state))"
	else
		fail pacemaker_diskfail "writes through the promoted n$np failed"
	fi
}
same_on() { timeout 120 nbdcopy "$("$W" uri "$1")" "$T/out.$1" 2>/dev/null && cmp -s "$T/img" "$T/out.$1"; }
if [ "$HAVE_ROLES" = 0 ]; then
	skip "pacemaker_failover: wbctl has no 'primary' command yet, pacemaker cannot promote (roles, issue 11)"
else
	P=$("$W" primary)
	if [ -z "$P" ] || ! mon | grep -q "Promoted: \[ n$P \]"; then
		fail pacemaker_promoted "no node promoted: $(mon | grep -E 'Promoted|Failed|error' | tr '\n' ' ')"
	elif [ "${WB_PCMK_FAILOVER:-0}" != 1 ]; then
		pass pacemaker_promoted "(n$P)"
		skip "pacemaker_failover: WB_PCMK_FAILOVER=1 (make torture-cluster) runs it"
	else
		pass pacemaker_promoted "(n$P)"
		head -c $((8 * 1048576)) /dev/urandom | dd of="$T/img" bs=1M seek=4 conv=notrunc status=none
		timeout 120 nbdcopy "$T/img" "$("$W" uri "$P")" || fail pacemaker_failover "write through n$P failed"
		"$W" kill "$P"
		other() { local p; p=$("$W" primary); [ -n "$p" ] && [ "$p" != "$P" ]; }
		if ! wait_for 240 other; then
			mon | sed -n '/Node List/,$p' | sed 's/^/    /'
			fail pacemaker_failover "no other node promoted 240 s after n$P crashed"
		else
			NP=$("$W" primary)
			# the first 4 KiB write the promoted node acknowledges
			wait_for 60 timeout 10 qemu-io -f raw "$("$W" uri "$NP")" -c "write -P 0 0 4k" >/dev/null 2>&1
			t_io=$(date +%s%3N)
			echo "    n$P crashed (token $(cat "$WBCLUSTER_DIR/token" 2>/dev/null || echo 1000) ms): $(tl_failover "$WBCLUSTER_DIR" "$P" "$NP"); a write acknowledged by n$NP by +$((t_io - $(cat "$WBCLUSTER_DIR/n$P/crash-ms"))) ms (polled)"
			if ! same_on "$NP"; then
				fail pacemaker_failover "n$NP lacks acknowledged data: $(cmp "$T/img" "$T/out.$NP" 2>&1 | head -1)"
			else
				head -c $((2 * 1048576)) /dev/urandom | dd of="$T/img" bs=1M seek=20 conv=notrunc status=none
				if timeout 120 nbdcopy "$T/img" "$("$W" uri "$NP")" && same_on "$NP"; then
					pass pacemaker_failover "(n$NP holds every acknowledged byte and serves writes)"
					diskfail "$NP"
				else
					fail pacemaker_failover "writes through the promoted n$NP failed"
				fi
			fi
		fi
	fi
fi

"$W" down >/dev/null
left_ns=$(ip netns list | grep -c "^$PREFIX")
left_p=0
for p in $PIDS; do is_alive "$p" && left_p=$((left_p + 1)); done
if [ "$left_ns" = 0 ] && [ "$left_p" = 0 ]; then
	pass pacemaker_down
else
	fail pacemaker_down "$left_ns namespaces and $left_p processes left"
fi
finish
