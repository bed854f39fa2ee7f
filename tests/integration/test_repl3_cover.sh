#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl3_cover.sh - a bitmap resync must cover what the peer lacks
# (docs/replication.md, "Resync"). Three wbrepd on loopback with TLS,
# alpha primary, beta and gamma secondaries, beta's log 16 MiB:
#   - gamma is killed; beta restarts (the hold its log kept for gamma lived
#     in memory); alpha writes 20 MiB, more than beta's log holds, so beta's
#     log lets go of gamma's position; alpha stops and beta is promoted: it
#     tracks gamma from the promotion on, which does not cover the 20 MiB
#   - gamma returns: its position is not in beta's log and beta's bitmap of
#     it starts later, so it must get a full sync (the bug: a bitmap resync
#     of nothing, gamma UpToDate without the 20 MiB) and end byte-identical
#   - alpha returns as a secondary and ends byte-identical too
#   - an unfinished resync from another node: gamma, killed in the middle
#     of a bitmap resync from beta, returns to alpha promoted meanwhile:
#     only beta's bitmap knew what was not done yet, so alpha gives it a
#     full sync (the bug: a bitmap resync of what alpha tracked, gamma
#     UpToDate without the regions beta had not sent) and it ends
#     byte-identical
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl3cover "$WBREPD" "$WBCTL"
need_tools repl3cover nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl3cover (engine wblog not registered)"
tmpdir repl3cover
[ -n "${WB_KEEP:-}" ] && on_cleanup "cp -r $T $WB_KEEP"

NODES="alpha beta gamma"
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
truncate -s 16M "$T/beta/log"
for n in $NODES; do
	role=secondary
	[ $n = alpha ] && role=primary
	repl_conf $n $role wb-min-peers=1
	repl_start $n || {
		fail "repl3cover-start: $n"
		finish
	}
done

# put_range NODE OFFSET_MB MB: random data into $T/img and through NODE's
# export (1 MiB writes, a flush)
put_range() {
	PYTHONPATH=tests/integration timeout 300 python3 - "$T/img" "$2" "$3" "$T/$1/nbd.sock" <<'EOP'
import os, sys
import nbdcli
img, off, n, sock = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3]) << 20, sys.argv[4]
c = nbdcli.Conn(sock, timeout=120).connect()
with open(img, 'r+b') as f:
    for o in range(off, off + n, 1 << 20):
        d = os.urandom(1 << 20)
        f.seek(o)
        f.write(d)
        err, _ = c.io(nbdcli.CMD_WRITE, o, 1 << 20, payload=d)
        assert err == 0, err
err, _ = c.io(nbdcli.CMD_FLUSH, 0, 0)
assert err == 0, err
c.close()
EOP
}
truncate -s "$DEVSZ" "$T/img"
all_up() { repl_uptodate alpha; }
if put_range alpha 0 2 && wait_for 60 all_up && wait_for 60 same_as "$T/img" gamma; then
	pass "repl3cover-setup" "(2 MiB on all three)"
else
	fail "repl3cover-setup: $(grep -o '"peers": .*' "$T/st.alpha" | head -c 300)"
	finish
fi

repl_stop gamma KILL
repl_stop beta
repl_start beta || fail "repl3cover-beta-restart: $REPL_WHY"
wait_for 60 json alpha 'any(p["node"] == "beta" and p["disk"] == "UpToDate" for p in s["peers"])' ||
	fail "repl3cover-beta-restart: beta not up to date again"
if put_range alpha 8 20 && wait_for 60 repl_caught_up alpha beta; then
	pass "repl3cover-written" "(20 MiB through alpha with gamma away; beta's log is 16 MiB)"
else
	fail "repl3cover-written: writes or beta's catch-up failed"
	finish
fi
repl_stop alpha
if ctl beta primary r0 >"$T/p.beta" 2>&1; then
	pass "repl3cover-promote-beta"
else
	fail "repl3cover-promote-beta: $(cat "$T/p.beta")"
	finish
fi

s0=$(grep -c "resync to peer gamma started" "$T/beta/wbrepd.log")
repl_start gamma || fail "repl3cover-gamma-start: $REPL_WHY"
if wait_log_count 120 "$T/beta/wbrepd.log" "resync to peer gamma: finished" 0 &&
	wait_for 60 same_as "$T/img" gamma; then
	pass "repl3cover-gamma-identical" "($(grep -o 'resync to peer gamma started: [a-z ]*, [0-9]* bytes' "$T/beta/wbrepd.log" | tail -1))"
else
	fail "repl3cover-gamma-identical: $(grep -E 'peer gamma (needs|is up)|resync to peer gamma' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' '); $(cmp "$T/img" "$T/out.gamma" 2>&1 | head -1)"
fi
[ "$(grep -c "resync to peer gamma started" "$T/beta/wbrepd.log")" -gt "$s0" ] ||
	fail "repl3cover-gamma-resynced: no resync to gamma started"

repl_conf alpha secondary wb-min-peers=1
repl_start alpha || fail "repl3cover-alpha-start: $REPL_WHY"
if wait_for 120 same_as "$T/img" alpha && same_as "$T/img" beta; then
	pass "repl3cover-all-identical"
else
	fail "repl3cover-all-identical: $(cmp "$T/img" "$T/out.alpha" 2>&1 | head -1)"
fi

# ---- an unfinished resync from another node: beta (primary, 16 MiB log)
# writes 20 MiB while gamma is away, gamma's bitmap resync from beta is
# throttled and gamma killed in its middle (Inconsistent, its marker names
# beta); beta stops and alpha is promoted, tracking gamma from there on.
# Only beta's bitmap knew what the resync had not done: alpha must give
# gamma a full sync (the bug: alpha's bitmap resync of nothing, gamma
# UpToDate with the regions beta never sent)
repl_stop gamma KILL
if put_range beta 30 20 && wait_for 60 repl_caught_up beta alpha; then
	pass "repl3cover-written-2" "(20 MiB through beta with gamma away)"
else
	fail "repl3cover-written-2: writes or alpha's catch-up failed"
	finish
fi
repl_conf gamma secondary wb-min-peers=1 resync-rate=256K
repl_start gamma || fail "repl3cover-gamma-restart: $REPL_WHY"
gamma_mid() { json gamma 'any(0 < (p.get("resync_done_bytes") or 0) < (p.get("resync_total_bytes") or 0) for p in s["peers"])'; }
if wait_for 60 gamma_mid && grep "resync to peer gamma started" "$T/beta/wbrepd.log" | tail -1 | grep -q "started: bitmap"; then
	pass "repl3cover-gamma-midway" "($(grep -o 'resync to peer gamma started: [a-z ]*, [0-9]* bytes' "$T/beta/wbrepd.log" | tail -1))"
else
	fail "repl3cover-gamma-midway: $(grep -E 'resync to peer gamma' "$T/beta/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
repl_stop gamma KILL
repl_stop beta
if ctl alpha primary r0 >"$T/p.alpha" 2>&1; then
	pass "repl3cover-promote-alpha"
else
	fail "repl3cover-promote-alpha: $(cat "$T/p.alpha")"
	finish
fi
repl_conf gamma secondary wb-min-peers=1
n0=$(grep -c "resync to peer gamma: finished" "$T/alpha/wbrepd.log")
repl_start gamma || fail "repl3cover-gamma-start-2: $REPL_WHY"
if wait_log_count 120 "$T/alpha/wbrepd.log" "resync to peer gamma: finished" "$n0" &&
	grep "peer gamma needs a" "$T/alpha/wbrepd.log" | tail -1 | grep -q "full sync (its disk is Inconsistent from a resync another node" &&
	wait_for 60 same_as "$T/img" gamma; then
	pass "repl3cover-other-source-full" "($(grep -o 'resync to peer gamma started: [a-z ]*, [0-9]* bytes' "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "repl3cover-other-source-full: $(grep -E 'peer gamma needs|resync to peer gamma' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' '); $(cmp "$T/img" "$T/out.gamma" 2>&1 | head -1)"
fi

repl_log_clean repl3cover alpha beta gamma
finish
