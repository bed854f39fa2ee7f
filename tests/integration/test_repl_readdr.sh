#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_readdr.sh - a node's replication address changed by a reload,
# without a restart (docs/configuration.md, "Changing an address"): alpha
# (primary) and beta over TLS on loopback, a stamped writer on alpha the
# whole time. alpha dials beta (the lower name dials).
#   in-use        alpha's own address changed to a port another process
#                 listens on: refused with the reason, alpha still listens
#                 where it did, its link stays up
#   not-here      the same with an address of no interface of this host
#   beta-moves    beta's address changed in both files; beta reloaded
#                 first: it listens on the new port only, its link to alpha
#                 stays up; then alpha: "node beta moved", the link
#                 reconnects to the new port, beta UpToDate again, writes
#                 go on
#   alpha-moves   alpha's own address changed: it listens on the new port
#                 only and its link to beta stays up (alpha dials); beta's
#                 reload moves nothing (it does not dial alpha)
#   while-down    beta stopped, its address changed, alpha reloaded while
#                 its link waits to reconnect: beta started on the new
#                 address, alpha connects there, beta catches up, UpToDate
#   reorder       the [node] sections in another order on both nodes and a
#                 node inserted before the others on alpha, then taken out
#                 again: accepted, beta's link stays up
#   acked         every acknowledged write is on both nodes
#   identical     the two exports read back byte-identical
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-readdr "$WBREPD" "$WBCTL"
need_tools repl-readdr nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-readdr (engine wblog not registered)"
tmpdir repl-readdr
REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
P=repl-readdr

# listening PORT: something accepts TCP connections on 127.0.0.1:PORT
listening() {
	python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()' "$1" 2>/dev/null
}
conf_both() {
	repl_conf alpha primary wb-min-peers=1
	repl_conf beta secondary wb-min-peers=1
}
ups() { grep -c "r0: peer beta up" "$T/alpha/wbrepd.log"; }
settled() { repl_uptodate alpha && json alpha 's["mode"] == "writeback"'; }

conf_both
for n in alpha beta; do
	repl_start "$n" || {
		fail "$P-start: $n: $REPL_WHY"
		finish
	}
done
if wait_for 120 settled; then
	pass "$P-start"
else
	fail "$P-start: $(jget alpha 's["peers"], s["mode"]')"
	finish
fi
ST=$T/stamps
stamp_start alpha "$ST" 4096 2 4 || fail "$P-writer: did not start"
repl_progress alpha 200 || fail "$P-writer: no progress"

# ---- in-use: alpha's own address on a port another process listens on
pa=${PORT[alpha]}
busy=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(300)' "$busy" &
BUSY=$!
track_pid "$BUSY"
wait_for 10 listening "$busy" || fail "$P-in-use: the busy listener did not start"
PORT[alpha]=$busy
repl_conf alpha primary wb-min-peers=1
PORT[alpha]=$pa
u0=$(ups)
if out=$(ctl alpha reload 2>&1); then
	fail "$P-in-use: a port in use was accepted"
elif grep -q "\[node alpha\] address: cannot listen for peers on 127.0.0.1:$busy: Address already in use (this node's listener stays where it is" <<<"$out" &&
	listening "$pa" && [ "$(ups)" = "$u0" ] && repl_progress alpha 100; then
	pass "$P-in-use" "($(cut -c1-200 <<<"$out"))"
else
	fail "$P-in-use: $out; listening on $pa: $(listening "$pa" && echo yes || echo no)"
fi
kill "$BUSY" 2>/dev/null
wait "$BUSY" 2>/dev/null
# not an address of this host (TEST-NET-1)
sed -i "/^\[node alpha\]/,/^address/ s/^address = .*/address = 192.0.2.1:$busy/" "$T/alpha/wbrep.conf"
if out=$(ctl alpha reload 2>&1); then
	fail "$P-not-here: an address of no interface was accepted"
elif grep -q "\[node alpha\] address: cannot listen for peers on 192.0.2.1:$busy: Cannot assign requested address (this node's listener stays where it is)" <<<"$out" &&
	listening "$pa" && [ "$(ups)" = "$u0" ]; then
	pass "$P-not-here" "($(cut -c1-160 <<<"$out"))"
else
	fail "$P-not-here: $out"
fi

# ---- beta-moves: beta first, then alpha
pb=${PORT[beta]}
PORT[beta]=$(free_port)
conf_both
w0=$(repl_writes alpha)
if out=$(ctl beta reload 2>&1) && listening "${PORT[beta]}" && ! listening "$pb" &&
	grep -q "reload: this node (beta) now listens for peers on 127.0.0.1:${PORT[beta]} instead of 127.0.0.1:$pb; links that are up stay up" "$T/beta/wbrepd.log" &&
	[ "$(ups)" = "$u0" ] && repl_uptodate alpha; then
	pass "$P-beta-moves-listen" "(beta listens on ${PORT[beta]}, not $pb; its link to alpha stayed up)"
else
	fail "$P-beta-moves-listen: ${out:-}; new $(listening "${PORT[beta]}" && echo yes || echo no), old $(listening "$pb" && echo yes || echo no); ups $u0 -> $(ups)"
fi
up_again() { [ "$(ups)" -gt "$u0" ] && settled; }
if out=$(ctl alpha reload 2>&1) &&
	grep -q "reload: node beta moved from 127.0.0.1:$pb to 127.0.0.1:${PORT[beta]}" "$T/alpha/wbrepd.log" &&
	grep -q "r0: peer beta now at 127.0.0.1:${PORT[beta]}: its link reconnects there" "$T/alpha/wbrepd.log" &&
	wait_for 60 up_again && repl_progress alpha 100; then
	pass "$P-beta-moves" "($(grep -o "its address changed from.*" "$T/alpha/wbrepd.log" | tail -1); writes since: $(($(repl_writes alpha) - w0)))"
else
	fail "$P-beta-moves: ${out:-}; ups $u0 -> $(ups); alpha $(jget alpha 's["peers"], s["mode"]'); $(grep "beta" "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi

# ---- alpha-moves: alpha's own address; its link (it dials) stays up
u0=$(ups)
PORT[alpha]=$(free_port)
conf_both
if out=$(ctl alpha reload 2>&1) && listening "${PORT[alpha]}" && ! listening "$pa" &&
	out2=$(ctl beta reload 2>&1) &&
	grep -q "reload: node alpha moved from 127.0.0.1:$pa to 127.0.0.1:${PORT[alpha]}" "$T/beta/wbrepd.log" &&
	! grep -q "r0: peer alpha now at" "$T/beta/wbrepd.log" &&
	repl_progress alpha 100 && [ "$(ups)" = "$u0" ] && settled; then
	pass "$P-alpha-moves" "(alpha listens on ${PORT[alpha]}, not $pa; the link stayed up)"
else
	fail "$P-alpha-moves: ${out:-} ${out2:-}; new $(listening "${PORT[alpha]}" && echo yes || echo no), old $(listening "$pa" && echo yes || echo no); ups $u0 -> $(ups)"
fi

# ---- while-down: beta away, moved, alpha reloaded meanwhile
kill -TERM "${PID[beta]}"
wait_exit "${PID[beta]}" 60 || fail "$P-while-down: beta did not stop"
wait "${PID[beta]}" 2>/dev/null
beta_away() { json alpha 'all(p["connection"] != "Connected" for p in s["peers"])'; }
wait_for 30 beta_away || fail "$P-while-down: alpha still sees beta"
u0=$(ups)
pb=${PORT[beta]}
PORT[beta]=$(free_port)
conf_both
sleep 3 # alpha's link backs off (100 ms doubling) while beta is away
out=$(ctl alpha reload 2>&1) || fail "$P-while-down: alpha's reload: $out"
repl_start beta || fail "$P-while-down: beta: $REPL_WHY"
if wait_for 60 up_again && repl_progress alpha 100 &&
	grep -q "peer beta (resource r0): its address changed from 127.0.0.1:$pb to 127.0.0.1:${PORT[beta]}: connecting now" "$T/alpha/wbrepd.log"; then
	pass "$P-while-down" "(alpha: $(grep -o "r0: peer beta up.*" "$T/alpha/wbrepd.log" | tail -1 | cut -c1-100))"
else
	fail "$P-while-down: alpha $(jget alpha 's["peers"], s["mode"]'); $(grep "beta" "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi

# ---- reorder: the [node] sections in another order on both, and a node
# inserted before the others on alpha (then taken out again): accepted,
# nothing reconnects
u0=$(ups)
PORT[delta]=$(free_port)
repl_conf_with "beta delta alpha" alpha primary wb-min-peers=1
repl_conf_with "beta alpha" beta secondary wb-min-peers=1
if reload_on "$P-reorder" alpha beta && grep -q "r0: peer delta added (bitmap slot" "$T/alpha/wbrepd.log" &&
	json alpha '[p["node"] for p in s["peers"]] == ["beta", "delta"]' &&
	repl_conf_with "beta alpha" alpha primary wb-min-peers=1 && reload_on "$P-reorder" alpha &&
	grep -q "r0: peer delta removed" "$T/alpha/wbrepd.log" &&
	repl_progress alpha 100 && [ "$(ups)" = "$u0" ] && settled; then
	pass "$P-reorder" "(delta added before alpha and removed, beta's link stayed up)"
else
	fail "$P-reorder: alpha $(jget alpha 's["peers"], s["mode"]'); ups $u0 -> $(ups)"
fi

# ---- acked, identical
repl_end_checks "$P" "$ST" alpha beta
repl_log_clean "$P" alpha beta
finish
