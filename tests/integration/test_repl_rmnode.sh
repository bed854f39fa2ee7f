#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_rmnode.sh - a replica removed, and added back, without a
# restart (docs/configuration.md, "Removing a node"): alpha (primary), beta
# and gamma over TLS on loopback, a stamped writer on alpha the whole time.
#   refused-primary  beta's file without alpha (beta's connected primary):
#                    the reload is refused with the reason, nothing changes
#   remove           gamma's [node] taken out on alpha and beta, wbctl
#                    reload on both: "peer gamma removed", gamma gone from
#                    their status, the link to beta stays up (no
#                    reconnect), writes go on in write-back
#   gamma-alone      gamma (still running with the old file) has no link
#                    up
#   no-slot          three new nodes on alpha while gamma's slot is kept:
#                    refused, saying a restart frees the removed node's slot
#   moved-back       gamma added back on alpha with another address (where
#                    nobody listens): accepted, alpha's link to gamma dials
#                    that address and stays down
#   back             gamma appended again on alpha and beta: "peer gamma
#                    added back", gamma resynced from its bitmap (not a full
#                    sync: its slot tracked while it was removed), both peers
#                    UpToDate
#   churn            removed and added back on alpha five times in a row
#                    (resyncs cut short): both peers UpToDate again
#   forget           wbctl forget-peer: refused for a peer (beta) and an
#                    unknown node; gamma removed again and forgotten: not
#                    listed as removed any more, its slot marked whole and
#                    freed; added back it gets a slot anew and a resync of
#                    the whole device, both peers UpToDate
#   acked            every acknowledged write is on all three nodes
#   identical        the three exports read back byte-identical
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-rmnode "$WBREPD" "$WBCTL"
need_tools repl-rmnode nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-rmnode (engine wblog not registered)"
tmpdir repl-rmnode
REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta gamma || finish
P=repl-rmnode

# conf NODE ROLE NODES...: NODE's file with these [node] sections only
conf() {
	local n=$1 role=$2
	shift 2
	repl_conf_with "$*" "$n" "$role" wb-min-peers=1
}
conf alpha primary alpha beta gamma
conf beta secondary alpha beta gamma
conf gamma secondary alpha beta gamma
for n in alpha beta gamma; do
	repl_start "$n" || {
		fail "$P-start: $n: $REPL_WHY"
		finish
	}
done
both_uptodate() { repl_uptodate alpha && json alpha 'len(s["peers"]) == 2'; }
if wait_for 120 both_uptodate; then
	pass "$P-start"
else
	fail "$P-start: $(jget alpha 's["peers"]')"
	finish
fi
ST=$T/stamps
stamp_start alpha "$ST" 4096 2 4 || fail "$P-writer: did not start"
ups() { grep -c "r0: peer beta up" "$T/alpha/wbrepd.log"; }
u0=$(ups)

# ---- refused-primary: beta's file without alpha
conf beta secondary beta gamma
if out=$(ctl beta reload 2>&1); then
	fail "$P-refused-primary: removing beta's connected primary was accepted"
elif grep -q "node alpha is its primary (connected)" <<<"$out" && json beta 'len(s["peers"]) == 2'; then
	pass "$P-refused-primary" "($out)"
else
	fail "$P-refused-primary: $out; peers $(jget beta 's["peers"]')"
fi

# ---- remove: gamma out of alpha's and beta's files
conf alpha primary alpha beta
conf beta secondary alpha beta
ok=0
reload_on "$P-remove" alpha beta && ok=1
w0=$(repl_writes alpha)
only_beta() { json alpha '[p["node"] for p in s["peers"]] == ["beta"]' && json beta '[p["node"] for p in s["peers"]] == ["alpha"]'; }
if [ "$ok" = 1 ] && grep -q "r0: peer gamma removed" "$T/alpha/wbrepd.log" &&
	grep -q "r0: peer gamma removed" "$T/beta/wbrepd.log" && only_beta &&
	[ "$(ups)" = "$u0" ] && repl_progress alpha 200 &&
	json alpha 's["mode"] == "writeback" and s["peers_connected"] == 1' &&
	json alpha 's["removed_peers"] == ["gamma"]' &&
	ctl alpha status r0 | grep -q "^  removed gamma  (by a reload; its bitmap slot is kept until the resource's next up)$"; then
	pass "$P-remove" "(alpha: $(grep -o "r0: peer gamma removed.*" "$T/alpha/wbrepd.log" | head -1); writes since: $(($(repl_writes alpha) - w0)))"
else
	fail "$P-remove: alpha peers $(jget alpha 's["peers"]'), removed $(jget alpha 's["removed_peers"]'); mode $(jget alpha 's["mode"], s["peers_connected"], s["mode_reason"]'); beta ups $u0 -> $(ups)"
fi

# ---- gamma-alone: its links stay down, alpha refuses it
gamma_alone() { json gamma 'all(p["connection"] != "Connected" for p in s["peers"])'; }
if wait_for 30 gamma_alone; then
	pass "$P-gamma-alone" "(gamma: $(jget gamma '[(p["node"], p["connection"]) for p in s["peers"]]'))"
else
	fail "$P-gamma-alone: gamma peers $(jget gamma 's["peers"]')"
fi

# ---- no-slot: gamma's slot stays its own until a restart: three new
# nodes need 5 of the log's 4 bitmap slots, and the refusal says why
repl_no_slot "$P" alpha 1 "5 with the new nodes, 1 of them kept for removed nodes until a restart"

# ---- moved-back: gamma with another address (nobody there)
conf alpha primary alpha beta gamma
gone=$(free_port)
sed -i "s/127.0.0.1:${PORT[gamma]}/127.0.0.1:$gone/" "$T/alpha/wbrep.conf"
gamma_down() { json alpha '[p["connection"] != "Connected" for p in s["peers"] if p["node"] == "gamma"] == [True]'; }
if out=$(ctl alpha reload 2>&1) && grep -q "r0: peer gamma added back" "$T/alpha/wbrepd.log" && sleep 2 && gamma_down &&
	grep -q "peer gamma (resource r0, 127.0.0.1:$gone): .*onnection refused" "$T/alpha/wbrepd.log"; then
	pass "$P-moved-back" "($(grep -o "peer gamma (resource r0, 127.0.0.1:$gone): .*" "$T/alpha/wbrepd.log" | tail -1 | cut -c1-120))"
else
	fail "$P-moved-back: ${out:-}; alpha: $(jget alpha 's["peers"]'); $(grep "gamma" "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi

# ---- back: gamma appended again on alpha and beta
repl_progress alpha 200 || true # gamma's bitmap has something to resync
conf alpha primary alpha beta gamma
conf beta secondary alpha beta gamma
ok=0
reload_on "$P-back" alpha beta && ok=1
if [ "$ok" = 1 ] && grep -q "r0: peer gamma added back" "$T/alpha/wbrepd.log" &&
	wait_for 240 both_uptodate && json alpha 's["removed_peers"] == []' &&
	grep -q "resync to peer gamma started: bitmap" "$T/alpha/wbrepd.log"; then
	pass "$P-back" "($(grep -o "resync to peer gamma started.*" "$T/alpha/wbrepd.log" | tail -1 | cut -c1-100))"
else
	fail "$P-back: alpha: $(jget alpha 's["peers"]'); $(grep -o "resync to peer gamma started.*" "$T/alpha/wbrepd.log" | tail -1)"
fi

# ---- churn: removed and added back on alpha 5 times in a row, no wait
# in between (a resync to gamma may be running at each removal)
ok=1
for i in 1 2 3 4 5; do
	conf alpha primary alpha beta
	reload_on "$P-churn" alpha || ok=0
	conf alpha primary alpha beta gamma
	reload_on "$P-churn" alpha || ok=0
done
if [ "$ok" = 1 ] && wait_for 240 both_uptodate && is_alive "${PID[alpha]}" &&
	[ "$(grep -c "r0: peer gamma added back" "$T/alpha/wbrepd.log")" -ge 6 ]; then
	pass "$P-churn" "(5 removals and returns; $(grep -c "resync to peer gamma started" "$T/alpha/wbrepd.log") resyncs started in all)"
else
	fail "$P-churn: alpha: $(jget alpha 's["peers"]')"
fi

# ---- forget: gamma removed again and its slot given up now
f1=$(ctl alpha forget-peer r0 beta 2>&1)
f2=$(ctl alpha forget-peer r0 nosuch 2>&1)
conf alpha primary alpha beta
conf beta secondary alpha beta
ok=0
reload_on "$P-forget" alpha beta && ok=1
out=$(ctl alpha forget-peer r0 gamma 2>&1)
again=$(ctl alpha forget-peer r0 gamma 2>&1)
if [ "$ok" = 1 ] && ! grep -q "r0: node beta is a peer of resource r0: remove it from the resource's nodes first" <<<"$f1"; then
	fail "$P-forget: forgetting beta (a peer): $f1"
elif ! grep -q "resource r0 has no node nosuch" <<<"$f2"; then
	fail "$P-forget: forgetting an unknown node: $f2"
elif ! grep -q "^r0: node gamma forgotten: its bitmap slot [0-9] is marked whole and free for another node" <<<"$out" ||
	! grep -q "was forgotten already" <<<"$again"; then
	fail "$P-forget: $out / $again"
elif ! json alpha 's["removed_peers"] == []' ||
	! wait_for 10 grep -q "bitmap slot [0-9] was kept for node gamma, which is no peer now: every region marked, the slot freed" "$T/alpha/wbrepd.log"; then
	fail "$P-forget: status removed $(jget alpha 's["removed_peers"]'); $(grep "gamma" "$T/alpha/wbrepd.log" | tail -2)"
else
	conf alpha primary alpha beta gamma
	conf beta secondary alpha beta gamma
	ok=0
	reload_on "$P-forget" alpha beta && ok=1
	if [ "$ok" = 1 ] && grep -q "r0: peer gamma added back (bitmap slot [0-9], a new one: it was forgotten)" "$T/alpha/wbrepd.log" &&
		wait_for 240 both_uptodate &&
		grep "resync to peer gamma started" "$T/alpha/wbrepd.log" | tail -1 |
		grep -q "started: [a-z ]*, $(jget alpha 's["size"]') bytes"; then
		pass "$P-forget" "($out; back: $(grep -o "resync to peer gamma started.*" "$T/alpha/wbrepd.log" | tail -1 | cut -c1-80))"
	else
		fail "$P-forget: back: alpha: $(jget alpha 's["peers"]'); $(grep -o "gamma added back.*\|resync to peer gamma started.*" "$T/alpha/wbrepd.log" | tail -2)"
	fi
fi

# ---- acked, identical
repl_end_checks "$P" "$ST" alpha beta gamma
repl_log_clean "$P" alpha beta gamma
finish
