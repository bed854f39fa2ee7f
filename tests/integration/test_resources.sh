#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_resources.sh - one wbrepd process serving several resources at once,
# and the daemon-wide parts that test_nbd.sh does not cover:
#   - two wblog resources (r0: unix + TCP listener, r1: unix listener) up in
#     one process with one wbrepd thread (io_uring workers aside);
#   - NBD_OPT_LIST shows both; an export is reachable by name through the
#     other resource's listener; an unknown name is refused;
#   - concurrent nbdcopy into both, read back: each holds its own data;
#   - multi-conn: writes completed on one connection, NBD_CMD_FLUSH on
#     another closes the generation that holds them (same engine);
#   - wbctl down r1 while r0 keeps serving, wbctl up r1: r1's data intact;
#   - Prometheus: off unless metrics-listen is set (no listening TCP socket
#     but the NBD one); when set, /metrics has both resources with values
#     matching the workload, other paths 404, POST refused (405/501);
#   - SIGHUP with two resources: a reloadable key accepted, a path change
#     and an added resource refused by name;
#   - SIGTERM during writes to both: exit 0, both logs recovered on restart,
#     every write acknowledged before SIGTERM intact.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins resources "$WBREPD" "$WBCTL"
need_tools resources nbdinfo nbdcopy python3 ss
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resources: engine wblog not built"

tmpdir res
wbctl() { "$WBCTL" -s "$T/ctl.sock" "$@"; }

PORT=$(free_port)
MPORT=$(free_port)
truncate -s 128M "$T/b0" "$T/b1"
truncate -s 64M "$T/l0" "$T/l1"

# write_conf [METRICS_LINE] [EXTRA RESOURCE TEXT]
write_conf() {
	{
		conf_global restest "log-level = info" "io-threads = 2" "$1"
		conf_resource r0 engine=wblog backing="$T/b0" log="$T/l0" nbd-socket="$T/s0" \
			nbd-listen="127.0.0.1:$PORT" gen-max-interval=1h
		conf_resource r1 engine=wblog backing="$T/b1" log="$T/l1" nbd-socket="$T/s1" \
			destage-high=90% "${2:-}"
	} >"$WB_CONF"
}

daemon_ready() { [ -S "$T/s0" ] && [ -S "$T/s1" ] && [ -S "$T/ctl.sock" ]; }

U0="nbd+unix:///?socket=$T/s0"
U1="nbd+unix:///?socket=$T/s1"

# ------------------------------------------------------------ metrics off
write_conf ""
start_daemon daemon_ready || { fail "res-start: wbrepd with two resources did not start"; exit 1; }
n=$(wbctl status --json | python3 -c 'import json,sys
print(sum(r["state"] == "up" for r in json.load(sys.stdin)["resources"]))')
[ "$n" = 2 ] && pass "res-two-up-one-process (pid $DPID)" || fail "res-two-up-one-process: $n up"
# listening TCP sockets of the daemon: only r0's NBD port (metrics are off)
l=$(ss -Hltnp 2>/dev/null | grep "pid=$DPID," | awk '{print $4}' | sort -u | tr '\n' ' ')
[ "$l" = "127.0.0.1:$PORT " ] && pass "res-metrics-off-by-default (listening: $l)" ||
	fail "res-metrics-off-by-default: daemon listens on '$l', expected only 127.0.0.1:$PORT"
# one engine loop (the main thread) and io-threads = 2 io loops, whatever
# the number of resources (docs/daemon.md, "Threads")
thr=$(for t in /proc/"$DPID"/task/*; do cat "$t/comm"; done | grep -v '^iou-wrk' | sort | uniq -c |
	awk '{printf "%s:%s ", $2, $1}')
want="wbrepd:1 wbrepd-io:2 "
[ "$B" = build-tsan ] && want="wbrepd:2 wbrepd-io:2 " # + ThreadSanitizer's own thread
[ "$thr" = "$want" ] && pass "res-threads ($thr)" ||
	fail "res-threads: threads '$thr', expected $want"
stop_daemon || fail "res-stop-1: exit $?"

# ------------------------------------------------------------ cpu-affinity
# set on the main thread before the io loops exist: they inherit it (TSan's
# own thread, made before main, is left out)
write_conf "cpu-affinity = 0"
start_daemon daemon_ready || { fail "res-start-affinity: wbrepd did not start"; exit 1; }
a=$(for t in /proc/"$DPID"/task/*; do
	[ "${t##*/}" = "$DPID" ] || [ "$(cat "$t/comm")" = wbrepd-io ] || continue
	awk '/^Cpus_allowed_list/ { print $2 }' "$t/status"
done | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
[ "$a" = "0:3 " ] && pass "res-cpu-affinity (main thread and 2 io loops on CPU 0)" ||
	fail "res-cpu-affinity: CPUs of the main thread and io loops '$a', expected 0:3"
stop_daemon || fail "res-stop-affinity: exit $?"

# ------------------------------------------------------------ metrics on
write_conf "metrics-listen = 127.0.0.1:$MPORT"
start_daemon daemon_ready || { fail "res-start-metrics: wbrepd did not start"; exit 1; }

list=$(timeout $((30 * WB_SLOW)) nbdinfo --list --json "nbd://127.0.0.1:$PORT" 2>&1)
if grep -q '"export-name": "r0"' <<<"$list" && grep -q '"export-name": "r1"' <<<"$list"; then
	pass "res-list-both"
else
	fail "res-list-both: $(tr '\n' ' ' <<<"$list" | head -c 300)"
fi
s=$(timeout $((30 * WB_SLOW)) nbdinfo --size "nbd+unix:///r1?socket=$T/s0" 2>&1)
# 128 MiB backing minus wblog's 4 KiB identity block (docs/ondisk-format.md)
[ "$s" = 134213632 ] && pass "res-export-by-name-other-listener" ||
	fail "res-export-by-name-other-listener: $s"
timeout $((30 * WB_SLOW)) nbdinfo --size "nbd+unix:///r2?socket=$T/s0" >/dev/null 2>&1 &&
	fail "res-unknown-export: r2 was served" || pass "res-unknown-export"

# concurrent writes into both resources, then read back
head -c 48M /dev/urandom >"$T/d0"
head -c 48M /dev/urandom >"$T/d1"
timeout $((120 * WB_SLOW)) nbdcopy "$T/d0" "$U0" &
c0=$!
timeout $((120 * WB_SLOW)) nbdcopy "$T/d1" "$U1" &
c1=$!
wait $c0; r0=$?
wait $c1; r1=$?
if [ $r0 -eq 0 ] && [ $r1 -eq 0 ] && timeout $((120 * WB_SLOW)) nbdcopy "$U0" "$T/o0" &&
	timeout $((120 * WB_SLOW)) nbdcopy "nbd+unix:///r1?socket=$T/s0" "$T/o1" &&
	cmp -n $((48 << 20)) "$T/d0" "$T/o0" && cmp -n $((48 << 20)) "$T/d1" "$T/o1"; then
	pass "res-concurrent-io-isolated"
else
	fail "res-concurrent-io-isolated: nbdcopy $r0/$r1 or data read back differs"
fi
rm -f "$T/o0" "$T/o1"

# multi-conn: A writes (completed), B flushes, the generation closes
out=$(python3 - "$T/s0" "$T/ctl.sock" "$WBCTL" <<'EOF' 2>&1
import json, subprocess, sys
sys.path.insert(0, "tests/integration")
import nbdcli as n
sock, ctl, wbctl = sys.argv[1:4]
def gen():
    o = subprocess.check_output([wbctl, "-s", ctl, "status", "--json", "r0"])
    return json.loads(o)["resources"][0]["generation"]["head"]
a, b = n.Conn(sock).connect(), n.Conn(sock).connect()
assert a.io(n.CMD_FLUSH, 0, 0)[0] == 0
g0 = gen()
for i in range(8):
    assert a.io(n.CMD_WRITE, (20000 + i) * 4096, 4096, payload=bytes([0x5a]) * 4096)[0] == 0
g1 = gen()
assert g1 == g0, "generation moved without a flush (%d -> %d)" % (g0, g1)
assert b.io(n.CMD_FLUSH, 0, 0)[0] == 0
g2 = gen()
assert g2 == g1 + 1, "flush on B did not close A's generation (%d -> %d)" % (g1, g2)
err, data = b.io(n.CMD_READ, 20000 * 4096, 8 * 4096)
assert err == 0 and data == bytes([0x5a]) * 8 * 4096, "B does not read A's data"
print("generation %d closed by the flush on the other connection" % g1)
EOF
)
[ $? -eq 0 ] && pass "res-multi-conn-flush ($out)" || fail "res-multi-conn-flush: $out"

# metrics endpoint
out=$(python3 - "$MPORT" <<'EOF' 2>&1
import sys, urllib.request, urllib.error
base = "http://127.0.0.1:%s" % sys.argv[1]
r = urllib.request.urlopen(base + "/metrics", timeout=10)
assert r.status == 200, r.status
assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
v = {}
for l in r.read().decode().splitlines():
    if l and not l.startswith("#"):
        k, val = l.rsplit(" ", 1)
        v[k] = int(val)
for res in ("r0", "r1"):
    assert v['wbrep_up{resource="%s"}' % res] == 1, res + " not up"
    assert v['wbrep_writeback{resource="%s"}' % res] == 1
    # 128 MiB backing minus the identity block (docs/ondisk-format.md)
    assert v['wbrep_size_bytes{resource="%s"}' % res] == (128 << 20) - 4096
    assert v['wbrep_written_bytes_total{resource="%s"}' % res] >= 48 << 20
    assert v['wbrep_log_size_bytes{resource="%s"}' % res] > 0
    for m in ("dirty_bytes", "log_used_bytes", "generation_head", "destage_rate_bytes_per_second",
              "destage_eta_seconds"):
        assert 'wbrep_%s{resource="%s"}' % (m, res) in v, m
assert v['wbrep_flushes_total{resource="r0"}'] >= 2
for path, method, want in (("/", "GET", (404,)), ("/metrics", "POST", (405, 501))):
    try:
        urllib.request.urlopen(urllib.request.Request(base + path, data=b"x" if method == "POST" else None,
                                                      method=method), timeout=10)
        raise AssertionError("%s %s succeeded" % (method, path))
    except urllib.error.HTTPError as e:
        assert e.code in want, "%s %s: %d" % (method, path, e.code)
print("%d samples" % len(v))
EOF
)
[ $? -eq 0 ] && pass "res-metrics ($out)" || fail "res-metrics: $out"

# down/up of one resource while the other serves
wbctl down r1 >/dev/null 2>&1 && [ ! -e "$T/s1" ] && pass "res-down-one" ||
	fail "res-down-one: wbctl down r1 failed or its socket remains"
timeout $((60 * WB_SLOW)) nbdcopy "$U0" "$T/o0" && cmp -n $((48 << 20)) "$T/d0" "$T/o0" &&
	pass "res-other-serves-while-down" || fail "res-other-serves-while-down"
rm -f "$T/o0"
timeout $((30 * WB_SLOW)) nbdinfo --size "nbd+unix:///r1?socket=$T/s0" >/dev/null 2>&1 &&
	fail "res-down-not-exported: r1 still served by name" || pass "res-down-not-exported"
if wbctl up r1 >/dev/null 2>&1 && [ -S "$T/s1" ] && timeout $((60 * WB_SLOW)) nbdcopy "$U1" "$T/o1" &&
	cmp -n $((48 << 20)) "$T/d1" "$T/o1"; then
	pass "res-up-again-data-intact"
else
	fail "res-up-again-data-intact"
fi
rm -f "$T/o1"

# SIGHUP with two resources: tunables reach the running engines. The values
# in force are checked, not the "applied" message (printed even when an
# engine refuses its tunables): r1's engine reports its new destage-high,
# and r0's generation, held open for an hour until now, closes by itself.
sed -i 's/^destage-high = 90%/destage-high = 80%/; s/^gen-max-interval = 1h/gen-max-interval = 200ms/' \
	"$WB_CONF"
n0=$(grep -c 'reload: configuration applied' "$WB_DLOG")
kill -HUP "$DPID"
if ! wait_log_count 30 "$WB_DLOG" 'reload: configuration applied' "$n0"; then
	fail "res-reload-tunable: no reload within 30 s: $(grep reload "$WB_DLOG" | tail -2)"
elif ! grep -qE 'r1: tunables: .*destage [0-9]+\.\.80%' "$WB_DLOG"; then
	fail "res-reload-tunable: r1's engine does not report destage-high 80%: $(grep 'tunables:' "$WB_DLOG" | tail -2)"
elif out=$(python3 - "$T/s0" "$T/ctl.sock" "$WBCTL" $((30 * WB_SLOW)) <<'EOF' 2>&1
import json, subprocess, sys, time
sys.path.insert(0, "tests/integration")
import nbdcli as n
sock, ctl, wbctl, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def gen():
    o = subprocess.check_output([wbctl, "-s", ctl, "status", "--json", "r0"])
    return json.loads(o)["resources"][0]["generation"]["head"]
c = n.Conn(sock).connect()
# The open generation is read before the write, after a flush emptied it:
# the write lands in g0, and only its closing moves the head. (Read after
# the write, a status slower than 200 ms saw the next, empty generation,
# which never closes: the TSan flake at load 12.)
assert c.io(n.CMD_FLUSH, 0, 0)[0] == 0, "flush failed"
g0 = gen()
t0 = time.time()
assert c.io(n.CMD_WRITE, 30000 * 4096, 4096, payload=bytes([0xa5]) * 4096)[0] == 0, "write failed"
end = time.time() + limit
while gen() == g0:
    assert time.time() < end, "generation %d (empty before the write, then holding it) still open %d s after the write (gen-max-interval 200ms)" % (g0, limit)
    time.sleep(0.1)
print("generation %d closed without a flush %.1f s after the write" % (g0, time.time() - t0))
EOF
); then
	pass "res-reload-tunable (r1 destage-high 80% in force; r0 $out)"
else
	fail "res-reload-tunable: $(tail -1 <<<"$out")"
fi
sed -i "s|^log = $T/l1|log = $T/l1.new|" "$WB_CONF"
kill -HUP "$DPID"
wait_log 30 "$WB_DLOG" "reload refused.*r1.*'log'" && pass "res-reload-path-refused" ||
	fail "res-reload-path-refused: $(grep reload "$WB_DLOG" | tail -2)"
write_conf "metrics-listen = 127.0.0.1:$MPORT" "
[resource r2]
engine = passthrough
backing = $T/b2"
truncate -s 16M "$T/b2"
n0=$(grep -c 'resources were added or removed' "$WB_DLOG")
kill -HUP "$DPID"
if wait_log_count 30 "$WB_DLOG" 'resources were added or removed' "$n0" &&
	! wbctl status r2 >/dev/null 2>&1; then
	pass "res-reload-added-refused"
else
	fail "res-reload-added-refused"
fi
write_conf "metrics-listen = 127.0.0.1:$MPORT"

# SIGTERM while writing to both: clean exit, all acknowledged writes there
out=$(python3 - "$T/s0" "$T/s1" "$T/state" "$DPID" <<'EOF' 2>&1
import json, os, signal, sys, threading, time
sys.path.insert(0, "tests/integration")
import nbdcli as n
socks, state, dpid = sys.argv[1:3], sys.argv[3], int(sys.argv[4])
acked = [dict(), dict()]
inflight = [None, None] # the write without a reply when the daemon went: may or may not be there
def writer(i):
    c = n.Conn(socks[i]).connect()
    ver = 0
    try:
        for _ in range(100000):
            ver += 1
            lba = 2000 + ver % 512
            inflight[i] = (lba, ver)
            err, _ = c.io(n.CMD_WRITE, lba * 4096, 4096, payload=n.block(lba, ver))
            if err:
                break
            acked[i][lba] = ver
            inflight[i] = None
    except Exception:
        pass
ts = [threading.Thread(target=writer, args=(i,)) for i in (0, 1)]
for t in ts:
    t.start()
end = time.time() + 60
while sum(len(a) for a in acked) < 600:
    if time.time() > end or not any(t.is_alive() for t in ts):
        os.kill(dpid, signal.SIGTERM)
        sys.exit("writers acknowledged only %d + %d blocks in 60 s" % (len(acked[0]), len(acked[1])))
    time.sleep(0.05)
os.kill(dpid, signal.SIGTERM)
for t in ts:
    t.join(60)
json.dump({"acked": acked, "inflight": inflight}, open(state, "w"))
print("%d + %d blocks acknowledged before the shutdown" % (len(acked[0]), len(acked[1])))
EOF
)
echo "    $out"
stop_daemon 0 # the writer script sent the SIGTERM
rc=$?
if [ $rc -eq 0 ] && grep -q 'exiting (clean)' "$WB_DLOG" && [ ! -e "$T/s0" ] &&
	[ ! -e "$T/s1" ] && [ ! -e "$T/ctl.sock" ] && [ ! -e "$T/wbrepd.pid" ]; then
	pass "res-sigterm-under-load"
else
	fail "res-sigterm-under-load: exit $rc: $(tail -3 "$WB_DLOG" | tr '\n' ' ')"
fi
if start_daemon daemon_ready; then
	out=$(python3 - "$T/s0" "$T/s1" "$T/state" <<'EOF' 2>&1
import json, sys
sys.path.insert(0, "tests/integration")
import nbdcli as n
st = json.load(open(sys.argv[3]))
acked, inflight = st["acked"], st["inflight"]
bad = 0
for i, sock in enumerate(sys.argv[1:3]):
    c = n.Conn(sock).connect()
    for lba, ver in acked[i].items():
        err, data = c.io(n.CMD_READ, int(lba) * 4096, 4096)
        p = n.parse_block(data) if not err else None
        # the last acknowledged version, or the unanswered write to the
        # same block that followed it (sent before the shutdown)
        if p != (int(lba), ver) and (not inflight[i] or inflight[i][0] != int(lba) or p != tuple(inflight[i])):
            bad += 1
            if bad <= 3:
                print("r%d lba %s: expected version %d, got %s" % (i, lba, ver, p))
print("%d blocks checked, %d bad" % (sum(len(a) for a in acked), bad))
sys.exit(1 if bad or not all(acked) else 0)
EOF
)
	[ $? -eq 0 ] && pass "res-sigterm-acked-intact ($out)" || fail "res-sigterm-acked-intact: $out"
	stop_daemon || fail "res-final-stop: exit $?"
else
	fail "res-restart: wbrepd did not come back after SIGTERM"
fi
daemon_log_clean res-log-clean
finish
