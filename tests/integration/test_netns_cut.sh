#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_netns_cut.sh - a silent link cut (issue 10): alpha (primary) and
# beta (secondary) run in two network namespaces this test makes, joined
# by a veth pair (10.231.N.1 / .2), TLS on (tests/repl_lib.sh). Under the
# stamped writer (at most 80 writes/s) an nftables rule in alpha's
# namespace drops every packet to and from beta (nothing is reset: the
# keepalive has to notice); alpha sees beta gone and the writes go on; the
# rule removed, beta reconnects, catches up and is UpToDate; after the
# writer stopped both exports are byte-identical and the stamped checker
# (--exact) finds the newest acknowledged version of every block on both.
# Needs root, ip and nft.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins netnscut "$WBREPD" "$WBCTL"
need_tools netnscut nbdcopy nbdinfo openssl python3 cmp ip nft
[ "$(id -u)" = 0 ] || skip_all "netnscut: needs root (network namespaces)"
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "netnscut (engine wblog not registered)"
tmpdir netnscut

NA=wbrnc-a-$$
NB=wbrnc-b-$$
NET=10.231.$(($$ % 250 + 1))
ip netns add $NA 2>/dev/null || skip_all "netnscut: cannot make a network namespace"
on_cleanup "ip netns del $NA"
ip netns add $NB || skip_all "netnscut: cannot make a network namespace"
on_cleanup "ip netns del $NB"
ip link add wbrnc$$a netns $NA type veth peer name wbrnc$$b netns $NB ||
	skip_all "netnscut: cannot make a veth pair"
ip -n $NA addr add $NET.1/24 dev wbrnc$$a && ip -n $NB addr add $NET.2/24 dev wbrnc$$b &&
	ip -n $NA link set wbrnc$$a up && ip -n $NB link set wbrnc$$b up &&
	ip -n $NA link set lo up && ip -n $NB link set lo up || skip_all "netnscut: veth setup failed"

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
REPL_NS[alpha]=$NA
REPL_NS[beta]=$NB
for n in alpha beta; do
	REPL_VIA["$n>alpha"]=$NET.1:${PORT[alpha]}
	REPL_VIA["$n>beta"]=$NET.2:${PORT[beta]}
done
repl_conf alpha primary wb-min-peers=1
repl_conf beta secondary wb-min-peers=1
repl_start alpha && repl_start beta || {
	fail "netnscut-start"
	finish
}
if ! wait_for 120 repl_uptodate alpha; then
	fail "netnscut-link-up: $(head -c 300 "$T/st.alpha")"
	finish
fi
pass "netnscut-link-up" "(alpha in $NA, beta in $NB)"


ST=$T/load.json
stamp_start alpha "$ST" 4096 4 8 20 || fail "netnscut-writer: did not start"
repl_progress alpha 50 || fail "netnscut-writer: no writes"
ip netns exec $NA nft -f - <<EOF || fail "netnscut-nft: rule not added"
table inet wbrnc {
	chain in { type filter hook input priority 0; ip saddr $NET.2 drop; }
	chain out { type filter hook output priority 0; ip daddr $NET.2 drop; }
}
EOF
if wait_for 60 repl_peer_gone alpha && repl_progress alpha 50; then
	pass "netnscut-cut" "(the keepalive noticed; writes went on)"
else
	fail "netnscut-cut: $(grep -o '"peers.*' "$T/st.alpha" | head -c 300)"
fi
ip netns exec $NA nft delete table inet wbrnc || fail "netnscut-nft: rule not removed"
if wait_for 180 repl_uptodate alpha && repl_progress alpha 50; then
	pass "netnscut-heal" "(reconnected, UpToDate, writes go on)"
else
	fail "netnscut-heal: $(grep -o '"peers.*' "$T/st.alpha" | head -c 300)"
fi
stamp_stop || fail "netnscut-writer: did not stop"
ctl alpha flush r0 >/dev/null || fail "netnscut-flush"
timeout 300 nbdcopy "$(URI alpha)" "$T/img"
if wait_for 180 same_as "$T/img" beta; then
	pass "netnscut-identical"
else
	fail "netnscut-identical: $(cmp "$T/img" "$T/out.beta" | head -1)"
fi
for n in alpha beta; do
	if stamp_verify $n "$ST" --exact; then
		pass "netnscut-stamps-$n" "($(tail -1 "$ST.log"); $(tail -1 "$ST.verify"))"
	else
		fail "netnscut-stamps-$n: $(tail -3 "$ST.verify")"
	fi
done
for n in alpha beta; do repl_stop $n; done
repl_log_clean netnscut-log-clean alpha beta
finish
