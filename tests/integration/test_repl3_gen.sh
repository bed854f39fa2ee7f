#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_repl3_gen.sh - a secondary up to date with its primary holds the
# primary's data generation, even when the primary began a new one while the
# secondary's link was in its handshake (docs/replication.md, "Disk
# states"; the cluster torture's seed 51897, cycle 11).
# Three nodes on loopback with TLS, protocol C, wb-min-peers 1; beta's link
# to gamma (beta connects) goes through tests/integration/faultproxy.py:
#   - alpha primary on the fault-injection backend, power-cut (kill -9);
#     beta promoted, gamma up to date with it
#   - the beta-gamma link cut with a delay of 1.5 s each way on it: beta
#     loses its last up-to-date peer, and one write is sent after beta built
#     its hello for gamma but before the link is up again: beta begins a
#     "lost" generation that this hello does not tell; gamma must still end
#     in beta's generation once connected and up to date
#   - alpha (the old primary) comes back as secondary, is caught up or
#     rolled back and resynced, power-cut again and restarted: alpha and
#     gamma must not take each other for an old primary ("never had")
#   - beta killed: alpha and gamma are both UpToDate, gamma is promoted
#     without --force, and alpha goes on from it without a roll-back or a
#     full sync.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl3gen "$WBREPD" "$WBCTL"
need_tools repl3gen nbdcopy nbdinfo openssl python3 qemu-io
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl3gen (engine wblog not registered)"
tmpdir repl3gen

NODES="alpha beta gamma"
REPL_SIZE_MB=16
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
PP=$(free_port)
REPL_VIA["beta>gamma"]=127.0.0.1:$PP # beta sorts before gamma: it connects
proxy_start "$PP" "127.0.0.1:${PORT[gamma]}" || {
	fail "repl3gen-proxy: $(cat "$T/proxy.log")"
	finish
}
FIO="drop=1000,tear=0,seed=$$"
conf() { repl_conf "$1" "$2" protocol=C wb-min-peers=1; }
# start_fio NODE: on the fault backend (kill -9 is a power cut)
start_fio() {
	echo "--- start WBREPD_FAULT_IO=$FIO" >>"$T/$1/wbrepd.log"
	WBREPD_FAULT_IO=$FIO repl_start "$1"
}
# wr NODE PAT OFF_KIB: one 4 KiB write of byte PAT at OFF_KIB KiB
wr() { timeout 60 qemu-io -f raw -c "write -P $2 ${3}k 4k" "$(URI "$1")" >"$T/qio.out" 2>&1; }
# note WHAT: with WB_REPL3GEN_VERBOSE=1, the seconds since the start and WHAT
note() { [ -z "${WB_REPL3GEN_VERBOSE:-}" ] || echo "    [${SECONDS}s] $*"; }
uuid() { json "$1" True && jget "$1" 's["data_uuid"]'; }
# lines NODE: lines in NODE's log so far (what a later grep skips)
lines() { wc -l <"$T/$1/wbrepd.log"; }
since() { tail -n +$(($2 + 1)) "$T/$1/wbrepd.log"; }

conf alpha primary
conf beta secondary
conf gamma secondary
echo "--- start WBREPD_FAULT_IO=$FIO" >>"$T/alpha/wbrepd.log"
WBREPD_FAULT_IO=$FIO repl_start_bg alpha
repl_start_bg beta
repl_start_bg gamma
if wait_for 60 repl_uptodate alpha && wr alpha 11 64 && wr alpha 12 128; then
	pass "repl3gen-start"
else
	fail "repl3gen-start: alpha $(tr '\n' ' ' <"$T/st.alpha" | head -c 400)"
	finish
fi

# ---- alpha power-cut, beta promoted, gamma up to date with it
note "started"
wait_for 60 repl_caught_up alpha beta
wait_for 60 repl_caught_up alpha gamma
repl_stop alpha KILL
conf alpha secondary
wait_for 60 peer_is beta alpha 'p["connection"] != "Connected"'
wait_for 60 peer_is gamma alpha 'p["connection"] != "Connected"'
if ctl beta primary r0 >"$T/p.beta" 2>&1 &&
	wait_for 60 peer_is beta gamma 'p["disk"] == "UpToDate" and p["replication"] == "Established"' &&
	wr beta 21 512 && wait_for 60 repl_caught_up beta gamma &&
	wait_for 60 peer_is beta gamma 'p["replication"] == "Established"'; then
	pass "repl3gen-promote"
else
	fail "repl3gen-promote: $(cat "$T/p.beta") $(tr '\n' ' ' <"$T/st.beta" | head -c 400)"
	finish
fi

# ---- the link cut; a write while beta's new hello to gamma is on its way.
# beta reconnects at once; with the proxy's delay of 1.5 s each way, the TLS
# server's flight reaches beta about 3 s after the cut: beta ends the
# handshake and builds its hello then, and the link would be up about 3 s
# later (its hello and gamma's). The write goes when the proxy forwarded
# that flight (its "down" count grows): through a qemu-io that is connected
# already, so it reaches beta well inside the 3 s; then the delay ends.
b0=$(lines beta)
note "promoted"
python3 - "$T/proxy.sock" "$(URI beta)" "$ROOT/tests/integration" >"$T/inhello.out" 2>&1 <<'EOP'
import subprocess, sys, time
sys.path.insert(0, sys.argv[3])
import faultproxy
def ctl(cmd):
    return dict(kv.split("=") for kv in faultproxy.ask(sys.argv[1], [cmd]).split()[1:])
q = subprocess.Popen(["qemu-io", "-f", "raw", sys.argv[2]], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
time.sleep(1)  # connected (a write to it waits otherwise)
ctl("delay 1500")
ctl("cut")
t0 = time.monotonic()
d0 = int(ctl("stats")["down"])
while int(ctl("stats")["down"]) <= d0 and time.monotonic() - t0 < 30:
    time.sleep(0.02)
print("handshake after %.2f s" % (time.monotonic() - t0))
out, _ = q.communicate("write -P 22 516k 4k\nquit\n", timeout=60)
print("write after %.2f s: %s" % (time.monotonic() - t0, " ".join(out.split())[:200]))
ctl("heal")  # the hellos on their way go on at once: the race is run
sys.exit(0 if "wrote 4096/4096" in out else 1)
EOP
[ $? = 0 ] || fail "repl3gen-write-in-hello: $(tr '\n' ' ' <"$T/inhello.out")"
note "$(tr '\n' ' ' <"$T/inhello.out")"
if wait_for 60 peer_is beta gamma 'p["replication"] == "Established"' &&
	since beta "$b0" | grep -q 'new data generation .* (no up-to-date peer)'; then
	pass "repl3gen-lost-generation" "($(since beta "$b0" | grep -o 'new data generation .* (no up-to-date peer)' | head -1))"
else
	fail "repl3gen-lost-generation: beta began no new generation after the cut"
fi
ub=$(uuid beta)
wr beta 23 520
if wait_for 60 repl_caught_up beta gamma && wait_for 30 json gamma "s['data_uuid'] == '$ub'"; then
	pass "repl3gen-secondary-takes-generation" "(beta and gamma ${ub:0:12})"
else
	fail "repl3gen-secondary-takes-generation: beta $ub, gamma $(uuid gamma)"
fi

note "lost generation"
# ---- alpha back as secondary, power-cut again, back again
if start_fio alpha && wait_for 60 json alpha 's["disk_state"] == "UpToDate"' &&
	wait_for 60 repl_caught_up beta alpha; then
	pass "repl3gen-old-primary-back"
else
	fail "repl3gen-old-primary-back: alpha $(jget alpha 's["disk_state"]' 2>&1)"
fi
wr beta 24 524
wait_for 60 repl_caught_up beta alpha
repl_stop alpha KILL
a0=$(lines alpha)
g0=$(lines gamma)
wr beta 25 528
if start_fio alpha && wait_for 60 json alpha 's["disk_state"] == "UpToDate"' &&
	wait_for 60 peer_is alpha gamma 'p["connection"] == "Connected"' &&
	wait_for 60 repl_caught_up beta alpha; then
	pass "repl3gen-power-cut-back"
else
	fail "repl3gen-power-cut-back: alpha $(jget alpha 's["disk_state"]' 2>&1)"
fi
if since alpha "$a0" | grep -q 'gamma.*never had\|never had.*gamma' ||
	since gamma "$g0" | grep -q 'alpha.*never had'; then
	fail "repl3gen-secondaries-related: $(since alpha "$a0" | grep 'never had' | head -1 | cut -c1-300) $(since gamma "$g0" | grep 'never had' | head -1 | cut -c1-300)"
else
	pass "repl3gen-secondaries-related"
fi

note "alpha back twice"
# ---- the primary gone: both secondaries UpToDate, gamma promoted
ctl beta flush r0 >/dev/null
wait_for 60 repl_caught_up beta alpha
wait_for 60 repl_caught_up beta gamma
repl_stop beta KILL
wait_for 60 peer_is alpha beta 'p["connection"] != "Connected"'
wait_for 60 peer_is gamma beta 'p["connection"] != "Connected"'
a0=$(lines alpha)
g0=$(lines gamma)
wait_for 30 json alpha 's["disk_state"] == "UpToDate"'
wait_for 30 json gamma 's["disk_state"] == "UpToDate"'
da=$(jget alpha 's["disk_state"]' 2>&1)
dg=$(jget gamma 's["disk_state"]' 2>&1)
if [ "$da" = UpToDate ] && [ "$dg" = UpToDate ] && ctl gamma primary r0 >"$T/p.gamma" 2>&1; then
	pass "repl3gen-both-promotable" "(alpha and gamma UpToDate, gamma promoted)"
else
	fail "repl3gen-both-promotable: alpha $da, gamma $dg: $(cat "$T/p.gamma" 2>/dev/null)"
fi
note "gamma promoted"
wr gamma 26 532
if wait_for 60 peer_is gamma alpha 'p["disk"] == "UpToDate" and p["replication"] == "Established"' &&
	wait_for 60 repl_caught_up gamma alpha &&
	! since alpha "$a0" | grep -q 'rolled back\|every region' &&
	! since gamma "$g0" | grep -q 'full sync'; then
	pass "repl3gen-no-full-resync"
else
	fail "repl3gen-no-full-resync: $(since alpha "$a0" | grep 'rolled back\|every region' | head -1 | cut -c1-300) $(since gamma "$g0" | grep 'resync to peer alpha started' | head -1 | cut -c1-200)"
fi
timeout 60 nbdcopy "$(URI gamma)" "$T/img.gamma"
if wait_for 60 same_as "$T/img.gamma" alpha; then
	pass "repl3gen-identical"
else
	fail "repl3gen-identical: $(img_diff "$T/img.gamma" "$T/out.alpha")"
fi

for n in alpha gamma; do repl_stop $n; done
kill "$PROXY_PID" 2>/dev/null
repl_log_clean repl3gen-log-clean $NODES
finish
