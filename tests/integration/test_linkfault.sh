#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
#
# test_linkfault.sh - link faults under a stamped write load (issue 10):
# alpha (primary) reaches beta (secondary) through the fault-injecting
# proxy tests/integration/faultproxy.py on loopback, TLS end to end
# (tests/repl_lib.sh). For protocol C, then A (both nodes made anew):
#   - the stamped writer (nbdtorture.py) writes to alpha all along, at
#     most 80 writes/s (a cut must stay within what the log holds)
#   - delay: every byte 20 ms late both ways: the link stays up, writes go
#     on
#   - cut: every connection reset and new ones refused: alpha sees beta
#     gone and the writes go on (write-through, no hang); healed, beta
#     reconnects, catches up and is UpToDate again; writes go on
#     (WB_LINKFAULT_CYCLES cuts, default 1; `make torture-repl` runs more)
#   - the writer stopped and alpha flushed: beta's export is byte-identical
#     to alpha's, and the stamped checker (--exact) finds on both exactly
#     the newest acknowledged version of every block: nothing lost, nothing
#     duplicated (an old record applied again would show an older version)
set -u
. "$(dirname "$0")/../lib.sh"

need_bins linkfault "$WBREPD" "$WBCTL"
need_tools linkfault nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "linkfault (engine wblog not registered)"
tmpdir linkfault

CYCLES=${WB_LINKFAULT_CYCLES:-1}
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
proxy_link alpha beta || { # alpha sorts first: it connects
	fail "linkfault-proxy: $(cat "$T/proxy.log")"
	finish
}


for proto in ${WB_LINKFAULT_PROTOCOLS:-C A}; do
	P=linkfault-$proto
	if [ $proto != C ]; then
		repl_stop alpha
		repl_stop beta
		repl_wipe alpha
		repl_wipe beta
	fi
	repl_conf alpha primary protocol=$proto wb-min-peers=1
	repl_conf beta secondary protocol=$proto wb-min-peers=1
	repl_start alpha && repl_start beta || {
		fail "$P-start"
		finish
	}
	if ! wait_for 120 repl_uptodate alpha; then
		fail "$P-link-up: $(head -c 300 "$T/st.alpha"); proxy: $(proxy stats)"
		continue
	fi
	ST=$T/load.$proto.json
	# 4 connections of at most 20 writes/s: a cut of a few seconds stays
	# well inside the 64 MiB log (beyond it the peer would need a resync)
	stamp_start alpha "$ST" 4096 4 8 20 || fail "$P-writer: did not start"

	# ---- delay: slower, nothing else
	A0=$(proxy stats | grep -o 'accepted=[0-9]*')
	proxy delay 20 >/dev/null
	if repl_progress alpha 100 && json alpha 's["peers"][0]["connection"] == "Connected"' &&
		[ "$(proxy stats | grep -o 'accepted=[0-9]*')" = "$A0" ]; then
		pass "$P-delay" "($(repl_writes alpha) writes so far, the same connection all along)"
	else
		fail "$P-delay: $(proxy stats); $(grep -o '"peers.*' "$T/st.alpha" | head -c 300)"
	fi
	proxy heal >/dev/null

	# ---- cuts under the writer
	for ((c = 1; c <= CYCLES; c++)); do
		proxy refuse >/dev/null
		proxy cut >/dev/null
		if ! wait_for 60 repl_peer_gone alpha; then
			fail "$P-cut-$c: alpha still sees beta connected"
		elif ! repl_progress alpha 50; then
			fail "$P-cut-$c: writes stopped while beta was cut off (hang): $(tail -2 "$ST.log")"
		else
			proxy heal >/dev/null
			if wait_for 180 repl_uptodate alpha && repl_progress alpha 50; then
				pass "$P-cut-$c" "(writes went on; reconnected, UpToDate; $(proxy stats | grep -o 'accepted=[0-9]* refused=[0-9]*'))"
			else
				fail "$P-cut-$c: after heal: $(grep -o '"peers.*' "$T/st.alpha" | head -c 300)"
			fi
		fi
		proxy heal >/dev/null
	done

	# ---- nothing lost, nothing duplicated
	stamp_stop || fail "$P-writer: did not stop"
	ctl alpha flush r0 >/dev/null || fail "$P-flush"
	timeout 300 nbdcopy "$(URI alpha)" "$T/img.$proto"
	if wait_for 180 same_as "$T/img.$proto" beta; then
		pass "$P-identical"
	else
		fail "$P-identical: $(cmp "$T/img.$proto" "$T/out.beta" | head -1)"
	fi
	for n in alpha beta; do
		if stamp_verify $n "$ST" --exact; then
			pass "$P-stamps-$n" "($(tail -1 "$ST.log"); $(tail -1 "$ST.verify"))"
		else
			fail "$P-stamps-$n: $(tail -3 "$ST.verify")"
		fi
	done
done

for n in alpha beta; do repl_stop $n; done
repl_log_clean linkfault-log-clean alpha beta
finish
