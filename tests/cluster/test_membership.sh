#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_membership.sh - daemon/membership.c against a real 3-node corosync
# cluster in network namespaces (deploy/cluster/wbcluster, token 1000 ms).
# wbmembtool runs the wbd_memb module in each node and logs every change of
# its facts; the cases assert on those facts: all quorate with 3 members; a
# cut node 3 reports not quorate while nodes 1 and 2 report members [1,2];
# heal -> 3 members again; corosync killed on node 2 -> its client reports
# the connection lost; corosync restarted -> it reconnects (backoff) and is
# quorate again; `down` leaves none of our namespaces or processes. Times
# from each fault to the report are printed (measured, not asserted).
# A wbrepd with `cluster = corosync` runs in node 3: `wbctl status` shows
# it quorate with 3 members, and not quorate alone after the cut.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "cluster/membership: needs root (network namespaces)"
need_tools cluster/membership corosync corosync-quorumtool nft ip unshare
need_bins cluster/membership "$ROOT/$B/wbmembtool" "$WBREPD" "$WBCTL"
tmpdir membership
export WBCLUSTER_DIR=$T/cluster
W=$ROOT/deploy/cluster/wbcluster
TOOL=$ROOT/$B/wbmembtool

on_cleanup "$W down"
if ! "$W" up 3 --no-wbrep >"$T/up.log" 2>&1; then
	cat "$T/up.log"
	fail membership_up "wbcluster up 3 failed"
	finish
fi
PREFIX=$(cat "$WBCLUSTER_DIR/prefix")
CPIDS=$(cat "$WBCLUSTER_DIR"/n*/corosync.pid)

for i in 1 2 3; do
	"$W" exec "$i" "$TOOL" -l "n$i" >"$T/t$i.log" 2>&1 </dev/null &
	track_pid $!
	eval "TPID$i=$!"
done

now() { date +%s.%3N; }
# new_match FILE FROM PATTERN: a line after line FROM of FILE matches
new_match() { tail -n +"$(($2 + 1))" "$1" | grep -qE -- "$3"; }
# first_ts FILE FROM PATTERN: timestamp of the first such line
first_ts() { tail -n +"$(($2 + 1))" "$1" | grep -E -- "$3" | head -1 | cut -d' ' -f1; }
lines() { wc -l <"$1"; }
# expect NAME FILE FROM PATTERN DEADLINE T0: wait, then print the time
expect() {
	local name=$1 f=$2 from=$3 re=$4 dl=$5 t0=$6 ts
	if wait_for "$dl" new_match "$f" "$from" "$re"; then
		ts=$(first_ts "$f" "$from" "$re")
		echo "    $name after $(echo "$ts - $t0" | bc) s"
		return 0
	fi
	echo "    $name: no line matching '$re' within ${dl}s; log:"
	tail -n +"$((from + 1))" "$f" | tail -5 | sed 's/^/      /'
	return 1
}

ALL3='connected=1 quorate=1 local=[0-9]+ ring=[0-9a-f]+\.[0-9a-f]+ members=3 \[1:n1,2:n2,3:n3\]'
TWO='connected=1 quorate=1 .* members=2 \[1:n1,2:n2\] group=\[1,2\]'

# 1: every node quorate with all three members, named from cmap
ok=1 t0=$(now)
for i in 1 2 3; do
	expect "n$i quorate, 3 members" "$T/t$i.log" 0 "$ALL3.*group=\[1,2,3\]" 20 "$t0" || ok=0
	grep -q "local=$i " "$T/t$i.log" || { echo "    n$i: wrong local node id"; ok=0; }
done
[ $ok = 1 ] && pass membership_all_quorate || fail membership_all_quorate "not all 3 quorate"

# wbrepd (cluster = corosync, no resources) in node 3
conf_global n3 "cluster = corosync" >"$WB_CONF"
"$W" exec 3 "$WBREPD" -c "$WB_CONF" -f >>"$WB_DLOG" 2>&1 </dev/null &
DPID=$!
# daemon_shows PATTERN: wbctl status (human) matches PATTERN
daemon_shows() { "$WBCTL" -s "$T/ctl.sock" status 2>/dev/null | grep -qE -- "$1"; }
if wait_for 20 daemon_shows '^cluster +corosync: quorate, 3 members: n1\(1\) n2\(2\) n3\(3\)$' &&
	"$WBCTL" -s "$T/ctl.sock" status --json | grep -q '"cluster": {"type": "corosync", "connected": true, "quorate": true, "members": \[{"id": 1, "name": "n1"}'; then
	pass membership_wbctl_status
else
	"$WBCTL" -s "$T/ctl.sock" status 2>&1 | head -3 | sed 's/^/    /'
	tail -3 "$WB_DLOG" | sed 's/^/    /'
	fail membership_wbctl_status "wbctl status does not show quorum and members"
fi

# 2: cut node 3: it loses quorum, 1 and 2 see members [1,2]
for i in 1 2 3; do eval "L$i=$(lines "$T/t$i.log")"; done
t0=$(now)
"$W" cut 3
ok=1
expect "n3 not quorate" "$T/t3.log" "$L3" 'connected=1 quorate=0 .* members=1 \[3:n3\]' 15 "$t0" || ok=0
expect "n1 members [1,2]" "$T/t1.log" "$L1" "$TWO" 15 "$t0" || ok=0
expect "n2 members [1,2]" "$T/t2.log" "$L2" "$TWO" 15 "$t0" || ok=0
[ $ok = 1 ] && pass membership_cut || fail membership_cut "cut node 3 not seen"
if wait_for 15 daemon_shows '^cluster +corosync: not quorate, 1 members: n3\(3\)$'; then
	pass membership_wbctl_minority
else
	"$WBCTL" -s "$T/ctl.sock" status 2>&1 | head -2 | sed 's/^/    /'
	fail membership_wbctl_minority "wbrepd on the cut node does not show 'not quorate'"
fi

# 3: heal: three members again everywhere
for i in 1 2 3; do eval "L$i=$(lines "$T/t$i.log")"; done
t0=$(now)
"$W" heal 3
ok=1
for i in 1 2 3; do
	eval "from=\$L$i"
	expect "n$i back to 3 members" "$T/t$i.log" "$from" "$ALL3" 15 "$t0" || ok=0
done
[ $ok = 1 ] && pass membership_heal || fail membership_heal "no rejoin after heal"

# 4: corosync of node 2 killed: its client reports the loss, 1 sees [1,3]
L1=$(lines "$T/t1.log") L2=$(lines "$T/t2.log")
t0=$(now)
"$W" kill 2
ok=1
expect "n2 connection lost" "$T/t2.log" "$L2" 'connected=0 quorate=0 local=0 .* members=0' 5 "$t0" || ok=0
expect "n1 members [1,3]" "$T/t1.log" "$L1" 'quorate=1 .* members=2 \[1:n1,3:n3\]' 15 "$t0" || ok=0
is_alive "$TPID2" || { echo "    wbmembtool on n2 died"; ok=0; }
[ $ok = 1 ] && pass membership_conn_lost || fail membership_conn_lost "loss not reported"

# 5: corosync of node 2 back: the client reconnects by itself (backoff)
L2=$(lines "$T/t2.log")
t0=$(now)
"$W" start 2 >/dev/null
if expect "n2 reconnected and quorate" "$T/t2.log" "$L2" "$ALL3" 30 "$t0"; then
	pass membership_reconnect
else
	fail membership_reconnect "n2 did not reconnect"
fi

# 6: down leaves none of our namespaces and none of our processes
for i in 1 2 3; do
	eval "p=\$TPID$i"
	kill -TERM "$p"
	wait_exit "$p" 10 || echo "    wbmembtool n$i did not exit on SIGTERM"
done
CPIDS="$CPIDS $(cat "$WBCLUSTER_DIR/n2/corosync.pid")"
stop_daemon || echo "    wbrepd exit status $?"
daemon_log_clean membership_daemon
"$W" down >/dev/null
left_ns=$(ip netns list | grep -c "^$PREFIX")
left_p=0
for p in $CPIDS; do is_alive "$p" && left_p=$((left_p + 1)); done
if [ "$left_ns" = 0 ] && [ "$left_p" = 0 ]; then
	pass membership_down
else
	fail membership_down "$left_ns namespaces and $left_p corosync processes left"
fi
[ -n "${WB_KEEP_LOGS:-}" ] && cp "$T"/t*.log "$WB_KEEP_LOGS"/
finish
