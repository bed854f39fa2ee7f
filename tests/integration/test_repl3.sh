#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
#
# test_repl3.sh - three wbrepd nodes on loopback with TLS (docs/replication.md):
# alpha starts primary, beta and gamma secondary, blank logs over zeroed
# backings. Cases:
#   - every link comes up; wbctl status --json shows both peers Connected,
#     UpToDate, with the CONTRACT.md keys; the metrics carry per-peer gauges
#   - wb-min-peers 2: random data written through alpha's export is
#     byte-identical through beta's and gamma's read path after the flush;
#     with either secondary stopped a write is not answered until it runs
#   - roles at run time: `wbctl primary` on beta is refused while alpha is
#     primary; `wbctl secondary` on alpha, then `wbctl primary` on beta: a
#     write on alpha is now refused, data written on beta reaches alpha and
#     gamma (wb-min-peers 1 from here on, through a reload)
#   - failover: the stamped torture writer (nbdtorture.py) runs against beta,
#     beta is killed -9, the secondary with the most records is promoted
#     (the other one's promotion is refused or both are equal), every
#     acknowledged (flushed / FUA) write is there, and the remaining
#     secondary ends identical to the new primary
#   - the old primary back while the new one is StandAlone meets the other
#     secondary first (a newer generation: Outdated), then catches up from
#     the primary and adopts its generation: once the primary is gone it is
#     UpToDate beside the other (same records) and can be promoted
#   - with [global] cluster = corosync and no quorum, promotion is refused
#     even with --force.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl3 "$WBREPD" "$WBCTL"
need_tools repl3 nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl3 (engine wblog not registered)"
tmpdir repl3

NODES="alpha beta gamma"
REPL_METRICS=1
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
for n in $NODES; do
	role=secondary
	[ $n = alpha ] && role=primary
	repl_conf $n $role wb-min-peers=2
	repl_start $n || {
		fail "repl3-start: $n"
		finish
	}
done

# identical_on CASE SECS NODE...: $T/img through each node's read path
identical_on() {
	local c=$1 secs=$2 n
	shift 2
	for n in "$@"; do
		if wait_for "$secs" same_as "$T/img" "$n"; then
			pass "$c-$n"
		else
			fail "$c-$n: $(cmp "$T/img" "$T/out.$n" 2>&1 | head -1)"
		fi
	done
}

# ---- links and per-peer status
PEERS_OK='s["role"] == "primary" and s["disk_state"] == "UpToDate" and len(s["peers"]) == 2 and all(p["connection"] == "Connected" and p["role"] == "secondary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["seq_lag"] is not None and "out_of_sync_bytes" in p for p in s["peers"])'
SEC_OK='s["role"] == "secondary" and s["disk_state"] == "UpToDate" and [p["role"] for p in s["peers"] if p["node"] == "alpha"] == ["primary"] and all(p["connection"] == "Connected" for p in s["peers"])'
if wait_for 60 json alpha "$PEERS_OK" && wait_for 60 json beta "$SEC_OK" &&
	wait_for 60 json gamma "$SEC_OK"; then
	pass "repl3-status-peers"
else
	fail "repl3-status-peers: alpha: $(tr '\n' ' ' <"$T/st.alpha" | grep -o '"disk_state.*' | head -c 600)"
fi
ctl alpha status r0 >"$T/human.alpha" 2>&1
if grep -qE '^  peer beta +Connected role:secondary disk:UpToDate replication:Established lag:' "$T/human.alpha" &&
	grep -qE '^  disk +UpToDate' "$T/human.alpha"; then
	pass "repl3-status-human"
else
	fail "repl3-status-human: $(grep -E 'disk|peer' "$T/human.alpha" | tr '\n' '|')"
fi
if curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" >"$T/metrics" &&
	grep -q '^wbrep_peer_connected{resource="r0",peer="gamma"} 1$' "$T/metrics" &&
	grep -q '^wbrep_primary{resource="r0"} 1$' "$T/metrics" &&
	grep -q '^wbrep_peer_seq_lag{resource="r0",peer="beta"} ' "$T/metrics"; then
	pass "repl3-metrics"
else
	fail "repl3-metrics: $(grep -E 'wbrep_peer|wbrep_primary' "$T/metrics" | tr '\n' '|')"
fi

# ---- wb-min-peers 2: data on every node
head -c $((8 * 1048576)) /dev/urandom >"$T/data1"
head -c $((4 * 1048576)) "$T/data1" >"$T/d1a"
tail -c $((4 * 1048576)) "$T/data1" >"$T/d1b"
mkimg "$T/img" "$T/d1a" 0 && mkimg "$T/img" "$T/d1b" 32
if timeout 300 nbdcopy "$T/img" "$(URI alpha)"; then
	pass "repl3-write-minpeers2"
else
	fail "repl3-write-minpeers2: nbdcopy to alpha failed"
fi
identical_on repl3-identical 120 beta gamma

# ---- wb-min-peers 2: a reply waits for both peers' acks. One secondary
# stopped (SIGSTOP, well inside the 5 s ping timeout), one 4 KiB write to
# alpha is not answered while the other secondary acks it; answered once
# the stopped one runs again. Each secondary in turn: the NBD connection
# shares an io loop with one link only, where a peer's ack may release a
# reply held alone (docs/replication.md, "Replies released on the io
# loop"); that must count both peers, whichever one acks there.
if command -v qemu-io >/dev/null; then
	repl_reply_waits repl3-reply-waits-both-beta beta 61
	repl_reply_waits repl3-reply-waits-both-gamma gamma 62
	identical_on repl3-identical-after-stop 60 beta gamma
else
	skip "repl3-reply-waits-both: no qemu-io"
fi

# ---- roles at run time
if ctl beta primary r0 >"$T/p.out" 2>&1; then
	fail "repl3-promote-refused: beta was promoted while alpha is primary"
elif grep -q "peer alpha is primary" "$T/p.out"; then
	pass "repl3-promote-refused" "($(head -c 100 "$T/p.out"))"
else
	fail "repl3-promote-refused: wrong message: $(cat "$T/p.out")"
fi
# wb-min-peers 1 from here on (a reload applies it at once)
for n in $NODES; do
	sed -i 's/^wb-min-peers = .*/wb-min-peers = 1/' "$T/$n/wbrep.conf"
	ctl $n reload >/dev/null || fail "repl3-reload: $n"
done
if ctl alpha secondary r0 >"$T/s.out" 2>&1 && wait_for 60 json alpha 's["role"] == "secondary"'; then
	pass "repl3-demote"
else
	fail "repl3-demote: $(cat "$T/s.out")"
fi
if wait_for 60 json beta 'all(p["role"] == "secondary" and p["connection"] == "Connected" for p in s["peers"])' &&
	ctl beta primary r0 >"$T/p.out" 2>&1; then
	pass "repl3-promote"
else
	fail "repl3-promote: $(cat "$T/p.out")"
fi
head -c 65536 /dev/urandom >"$T/small"
if timeout 60 nbdcopy "$T/small" "$(URI alpha)" 2>/dev/null; then
	fail "repl3-old-primary-readonly: a write on demoted alpha succeeded"
else
	pass "repl3-old-primary-readonly"
fi
head -c $((4 * 1048576)) /dev/urandom >"$T/data2"
mkimg "$T/img" "$T/data2" 16
if wait_for 60 json beta "$PEERS_OK" && timeout 300 nbdcopy "$T/img" "$(URI beta)"; then
	pass "repl3-write-new-primary"
else
	fail "repl3-write-new-primary: $(tr '\n' ' ' <"$T/st.beta" | grep -o '"disk_state.*' | head -c 400)"
fi
identical_on repl3-identical-after-switch 120 alpha gamma

# ---- failover: beta killed -9 under the stamped writer, a secondary promoted
# The checker takes a block that was never durably written to be all zero,
# but the first 4 MiB still hold data1's random bytes: zero the writer's
# 16 MiB first, on every node (else a block the writer happened not to
# reach reads as "bad crc"; seen once at load 20)
head -c $((4096 * 4096)) /dev/zero >"$T/zero16"
mkimg "$T/img" "$T/zero16" 0
if timeout 300 nbdcopy "$T/zero16" "$(URI beta)" && ctl beta flush r0 >/dev/null &&
	wait_for 120 same_as "$T/img" alpha && wait_for 120 same_as "$T/img" gamma; then
	pass "repl3-torture-zeroed"
else
	fail "repl3-torture-zeroed: $(cmp "$T/img" "$T/out.alpha" 2>&1 | head -1)"
fi
stamp_start beta "$T/torture.json" 4096 4 8
# let it write for a while: until beta's log shows a few thousand records
wait_for 120 json beta 's["seq"]["head"] > 3000' || true
repl_stop beta KILL
stamp_wait_gone
if [ -s "$T/torture.json" ]; then
	pass "repl3-torture-write" "($(tail -1 "$T/torture.json.log"))"
else
	fail "repl3-torture-write: no state: $(tail -3 "$T/torture.json.log")"
fi
# the secondaries notice; promote the one with the most records
wait_for 60 json alpha '[p["connection"] for p in s["peers"] if p["node"] == "beta"] != ["Connected"]'
wait_for 60 json gamma '[p["connection"] for p in s["peers"] if p["node"] == "beta"] != ["Connected"]'
# and know each other's final position (DURABLE acks between secondaries):
# each one's lag towards the other is the negative of the other's
lag() { # NODE PEER
	json "$1" 'True' && python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["resources"][0]; print([p["seq_lag"] for p in s["peers"] if p["node"] == sys.argv[2]][0])' "$T/st.$1" "$2"
}
settled() {
	local a g
	a=$(lag alpha gamma) && g=$(lag gamma alpha) && [ "$a" != None ] && [ "$g" != None ] &&
		[ $((a + g)) -eq 0 ]
}
wait_for 60 settled || fail "repl3-positions-settled: alpha $(lag alpha gamma), gamma $(lag gamma alpha)"
NEW=
for n in alpha gamma; do
	if ctl $n primary r0 >"$T/p.$n" 2>&1; then
		NEW=$n
		break
	fi
done
if [ -n "$NEW" ]; then
	pass "repl3-failover-promote" "($NEW; $(cat "$T/p.alpha"))"
else
	fail "repl3-failover-promote: $(cat "$T/p.alpha" "$T/p.gamma")"
	finish
fi
if stamp_verify $NEW "$T/torture.json"; then
	pass "repl3-failover-acked-writes" "($(tail -1 "$T/torture.json.verify"))"
else
	fail "repl3-failover-acked-writes: $(tail -3 "$T/torture.json.verify")"
fi
OTHER=alpha
[ "$NEW" = alpha ] && OTHER=gamma
ctl $NEW flush r0 >/dev/null && timeout 300 nbdcopy "$(URI $NEW)" "$T/img.new"
if wait_for 120 same_as "$T/img.new" $OTHER; then
	pass "repl3-failover-identical-$OTHER"
else
	fail "repl3-failover-identical-$OTHER: $(cmp "$T/img.new" "$T/out.$OTHER" 2>&1 | head -1)"
fi

# ---- a generation adopted after the hello (the randomized cluster
# torture's "Outdated, has not caught up" state): beta, the old primary of
# the generation before, comes back while the primary is StandAlone, so it
# meets the other secondary first, whose generation is newer (beta is
# Outdated beside it); then the primary's links come back, beta catches up
# (or is rolled back) and adopts the primary's generation. Once the
# primary is gone, beta and the other secondary hold the same records:
# beta must be UpToDate and promotable (the relation "the other one is
# newer" must not outlive the adoption)
peer_conn() { # NODE PEER: NODE sees PEER Connected
	json "$1" "[p['connection'] for p in s['peers'] if p['node'] == '$2'] == ['Connected']"
}
ctl $NEW disconnect r0 >/dev/null
if repl_start beta && wait_for 60 peer_conn beta $OTHER &&
	wait_for 60 json beta 's["disk_state"] == "Outdated"'; then
	pass "repl3-old-primary-meets-newer" "(beta Outdated beside $OTHER, $NEW StandAlone)"
else
	fail "repl3-old-primary-meets-newer: beta $(jget beta 's["disk_state"]' 2>&1)"
fi
ctl $NEW connect r0 >/dev/null
both_in() { peer_conn beta $NEW && peer_conn beta $OTHER && json beta 's["disk_state"] == "UpToDate"'; }
if wait_for 120 both_in && wait_for 120 repl_uptodate $NEW && ctl $NEW flush r0 >/dev/null &&
	wait_for 60 repl_caught_up $NEW beta && wait_for 60 repl_caught_up $NEW $OTHER; then
	pass "repl3-old-primary-adopts" "(beta $(jget beta 's["data_uuid"]' 2>&1 | head -c 12))"
else
	fail "repl3-old-primary-adopts: beta $(jget beta 's["disk_state"]' 2>&1)"
fi
repl_stop $NEW KILL
wait_for 60 json beta "[p['connection'] for p in s['peers'] if p['node'] == '$NEW'] != ['Connected']"
wait_for 60 json $OTHER "[p['connection'] for p in s['peers'] if p['node'] == '$NEW'] != ['Connected']"
wait_for 30 json beta 's["disk_state"] == "UpToDate"'
d=$(jget beta 's["disk_state"]' 2>&1)
if ctl beta primary r0 >"$T/p.beta" 2>&1 && [ "$d" = UpToDate ]; then
	pass "repl3-adopted-promotable" "(beta UpToDate beside $OTHER and promoted)"
else
	fail "repl3-adopted-promotable: beta $d: $(cat "$T/p.beta")"
fi
repl_stop beta

# ---- quorum: with [global] cluster = corosync and no quorate corosync
# (this test starts none), a promotion is refused, --force or not
repl_stop $NEW
repl_stop $OTHER
sed -i -e 's/^node-name = .*/&\ncluster = corosync/' -e 's/^role = .*/role = secondary/' \
	"$T/$OTHER/wbrep.conf"
# not repl_start: without quorum the export suspends I/O (docs/cluster.md),
# so wait for the control socket instead of an NBD answer
repl_start_bg $OTHER
if wait_for 60 json $OTHER 's["state"] == "up"'; then
	if grep -q '"quorate": true' "$T/st.$OTHER"; then
		skip "repl3-promote-no-quorum (a quorate corosync answers on this host)"
	elif ctl $OTHER primary r0 --force >"$T/q.out" 2>&1; then
		fail "repl3-promote-no-quorum: promoted without quorum"
	elif grep -q "not in a quorate cluster partition" "$T/q.out" &&
		json $OTHER 's["role"] == "secondary"'; then
		pass "repl3-promote-no-quorum" "($(head -c 120 "$T/q.out"))"
	else
		fail "repl3-promote-no-quorum: $(cat "$T/q.out")"
	fi
else
	fail "repl3-promote-no-quorum: $OTHER did not start with cluster = corosync"
fi

for n in alpha gamma; do
	repl_stop $n
done
repl_log_clean repl3-log-clean alpha beta gamma
finish
