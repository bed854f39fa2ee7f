#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_topair.sh - a single node given a replica without a restart
# (docs/configuration.md, "From one node to a pair"): alpha runs alone (no
# [node] sections) under the stamped writer, then its file gets TLS and
# the [node] sections of alpha and beta.
#   bad-tls     the new file's tls-key is not the certificate's: the reload
#               is refused with the reason, alpha stays alone and serving
#   reload      the good file: accepted, "replication started", alpha is
#               primary with peer beta, writes go on (no restart: same pid)
#   sync        beta started with the same file as secondary: a full sync
#               from alpha, then beta UpToDate
#   acked       every acknowledged write is on both nodes
#   identical   the two exports read back byte-identical
#   alone       beta's [node] taken out of alpha's file again (alpha's own
#               stays) with wb-min-peers 0: alpha has no peer, writes back
#               and every acknowledged write of a new writer is there
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-topair "$WBREPD" "$WBCTL"
need_tools repl-topair nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-topair (engine wblog not registered)"
tmpdir repl-topair
REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
P=repl-topair

repl_solo_conf alpha
repl_start alpha || {
	fail "$P-start: $REPL_WHY"
	finish
}
pid0=${PID[alpha]}
if json alpha 's["peers"] == []'; then
	pass "$P-start" "(alpha alone)"
else
	fail "$P-start: alpha has peers: $(jget alpha 's["peers"]')"
fi
ST=$T/stamps
stamp_start alpha "$ST" 4096 2 4 || fail "$P-writer: did not start"
repl_progress alpha 200 || fail "$P-writer: no progress"

# ---- bad-tls: beta's key with alpha's certificate
repl_conf alpha primary wb-min-peers=1
cp "$T/alpha/wbrep.conf" "$T/alpha/wbrep.conf.good"
sed -i "s|tls-key = $T/alpha.key|tls-key = $T/beta.key|" "$T/alpha/wbrep.conf"
if out=$(ctl alpha reload 2>&1); then
	fail "$P-bad-tls: a key that is not the certificate's was accepted"
elif grep -q "replication cannot start: tls: tls-key does not match tls-cert" <<<"$out" && json alpha 's["peers"] == []' &&
	repl_progress alpha 100; then
	pass "$P-bad-tls" "($(cut -c1-160 <<<"$out"))"
else
	fail "$P-bad-tls: $out; peers $(jget alpha 's["peers"]')"
fi
cp "$T/alpha/wbrep.conf.good" "$T/alpha/wbrep.conf"

# ---- reload: the pair's file
if out=$(ctl alpha reload 2>&1) && grep -q "r0: replication started with 1 peer, as primary" "$T/alpha/wbrepd.log" &&
	json alpha '[p["node"] for p in s["peers"]] == ["beta"]' && [ "${PID[alpha]}" = "$pid0" ] &&
	is_alive "$pid0" && repl_progress alpha 100; then
	pass "$P-reload" "($(grep -o "reload: replication started.*" "$T/alpha/wbrepd.log" | head -1))"
else
	fail "$P-reload: ${out:-}; peers $(jget alpha 's["peers"]'); $(grep -E "error|replication" "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi

# ---- sync: beta joins
repl_conf beta secondary wb-min-peers=1
repl_start beta || fail "$P-sync: beta: $REPL_WHY"
if wait_for 240 repl_uptodate alpha && json alpha 'len(s["peers"]) == 1' &&
	grep -q "resync to peer beta started: full sync" "$T/alpha/wbrepd.log"; then
	pass "$P-sync" "($(grep -o "resync to peer beta started.*" "$T/alpha/wbrepd.log" | head -1 | cut -c1-100))"
else
	fail "$P-sync: alpha: $(jget alpha 's["peers"]'); $(grep -o "resync to peer beta started.*" "$T/alpha/wbrepd.log" | tail -1)"
fi

# ---- acked, identical
repl_end_checks "$P" "$ST" alpha beta

# ---- alone again: beta's section out of alpha's file (alpha's own stays),
# wb-min-peers 0: no peer left, write-back, writes go on
repl_conf_with alpha alpha primary wb-min-peers=0
stamp_start alpha "$ST" 4096 2 4 || fail "$P-alone: the writer did not start"
if out=$(ctl alpha reload 2>&1) && grep -q "r0: peer beta removed" "$T/alpha/wbrepd.log" &&
	json alpha 's["peers"] == [] and s["mode"] == "writeback"' && repl_progress alpha 100; then
	pass "$P-alone" "($(grep -o "r0: peer beta removed.*" "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "$P-alone: ${out:-}; alpha: $(jget alpha 's["peers"], s["mode"], s["mode_reason"]')"
fi
stamp_stop || fail "$P-alone: the writer did not stop"
stamp_verify alpha "$ST" --exact || fail "$P-alone: acknowledged writes missing on alpha"
repl_log_clean "$P" alpha beta
finish
