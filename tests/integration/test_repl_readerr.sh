#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_readerr.sh - a read that fails on the primary's disk is served
# by an UpToDate peer (docs/replication.md, "A read error"). Three wbrepd
# on loopback with TLS (tests/repl_lib.sh), protocol A (a write is
# acknowledged before the peers have it: the read from a peer must still
# see it, by the order of the link); each node's backing
# and log files live on its own wbbadfs (build/wbbadfs: a FUSE passthrough
# whose files get unreadable ranges, the kernel's read path failing with
# EIO through io_uring, as a disk's medium error does).
#   backing   8 MiB written on alpha and destaged; 64 KiB of alpha's
#             backing file unreadable: the whole device reads back right
#             through NBD (the bad blocks from beta, the first peer), wbbadfs
#             counted the
#             failed reads, status shows read_errors and reads_from_peers,
#             the event names beta
#   repair    the chunk of that read that fails here again is written back
#             (read repair: 256 KiB, status and metric count it, the event
#             says so), its destage rewrites the bad range (wbbadfs "remap
#             on" heals it), a read then needs no peer; the other chunks
#             of the failed 4 MiB request read fine here, none written back
#   large     one 4 MiB NBD read over two bad ranges (several chunks of the
#             peer protocol): the right bytes
#   writes    the writer goes on over the bad range: written blocks come
#             from the log, the rest still from beta
#   next      the same range bad on beta too: gamma serves it, beta's
#             bitmap marks the range (resynced when it reconnects, in
#             case back) (alpha
#             drained before this case and the next ones: what the
#             repairs put in its log leaves it, the bad ranges fail again)
#   all       and on gamma: the read fails with EIO (no replica can serve
#             it), logged as such
#   nopeer    beta and gamma stopped: a read of the bad range fails with
#             EIO, the others work; both back: served again
#   stalled   beta stopped (SIGSTOP) holding the read: its link times out,
#             gamma serves it
#   log       4 MiB left in alpha's log (out of its 1 MiB RAM buffer), the
#             whole log file unreadable: read back right from beta
#   race      a writer and a reader at once on 256 blocks unreadable on
#             alpha: no read returns a version older than one acknowledged
#             before it was issued
#   verify    wbctl verify with bad blocks on alpha (its reads served by
#             the peers and repaired) and on beta (beta cannot read a
#             range: marked for resync, the verify goes on, not aborted);
#             a reconnect resyncs the range to beta, whose disk remaps it
#             (remap on), and the next verify finds nothing
#   resync    gamma made anew: alpha's full sync to it reads the bad
#             ranges from beta; gamma's copy (read alone) is right
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

BADFS=$ROOT/$B/wbbadfs
need_bins repl-readerr "$WBREPD" "$WBCTL" "$BADFS"
need_tools repl-readerr nbdcopy nbdinfo openssl python3 cmp jq fusermount3 curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-readerr (engine wblog not registered)"
[ -c /dev/fuse ] || skip_all "repl-readerr: no /dev/fuse"
tmpdir repl-readerr
REPL_SIZE_MB=16
REPL_METRICS=1
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta gamma || finish
P=repl-readerr
MB=1048576

# NODE's backing and log move to a wbbadfs of its own ($T/NODE.bad); the
# paths of repl_conf become symlinks into it
declare -A FPID
for n in alpha beta gamma; do
	mkdir -p "$T/$n.src" "$T/$n.bad"
	mv "$T/$n/backing" "$T/$n/log" "$T/$n.src/"
	"$BADFS" "$T/$n.src" "$T/$n.bad" -f 2>"$T/$n.badfs.log" &
	FPID[$n]=$!
	track_pid "${FPID[$n]}"
	on_cleanup "fusermount3 -uz '$T/$n.bad' 2>/dev/null"
	wait_for 10 test -e "$T/$n.bad/.bad" || {
		fail "$P-fuse" "wbbadfs on $n did not mount: $(cat "$T/$n.badfs.log")"
		finish
	}
	ln -s "$T/$n.bad/backing" "$T/$n/backing"
	ln -s "$T/$n.bad/log" "$T/$n/log"
done
# bad NODE FILE OFF LEN / healed NODE / nfailed NODE
bad() { echo "add $2 $3 $4" >"$T/$1.bad/.bad"; }
healed() { echo clear >"$T/$1.bad/.bad"; }
# alpha's standing bad ranges (cases backing and large) again after a
# case cleared every range of alpha's
alpha_bad_again() {
	healed alpha
	bad alpha backing $((2 * MB)) 65536
	bad alpha backing $((5 * MB + 4096)) 8192
}
nfailed() { sed -n 's/^failed //p' "$T/$1.bad/.bad"; }

jqget() { ctl "$1" status --json r0 2>/dev/null | jq -r ".resources[0] | $2"; }
metric() { curl -fsS "http://127.0.0.1:${MPORT[$1]}/metrics" | grep "^$2"; }
whole() {
	[ "$(jqget "$1" '[.role, .mode, ([.peers[] | select(.disk == "UpToDate")] | length)] | join(" ")')" = "primary writeback 2" ]
}
# readback NODE OFF LEN OUT: NBD read(s) of LEN bytes at OFF (in requests
# of at most 4 MiB) into OUT; prints the error numbers of failed requests
readback() {
	PYTHONPATH=$ROOT/tests/integration timeout 120 python3 - "$T/$1/nbd.sock" "$2" "$3" "$4" <<'EOP'
import sys
import nbdcli
sock, off, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = nbdcli.Conn(sock, timeout=60).connect()
errs = []
with open(out, 'wb') as f:
    for o in range(off, off + n, 4 << 20):
        ln = min(4 << 20, off + n - o)
        err, data = c.io(nbdcli.CMD_READ, o, ln)
        if err:
            errs.append(str(err))
            data = b'\0' * ln
        f.write(data)
c.close()
print(' '.join(errs))
EOP
}
# expect OFF LEN FILE: FILE holds $T/img's LEN bytes at OFF
expect() { cmp -s <(tail -c +$(($1 + 1)) "$T/img" | head -c "$2") "$3"; }

# alpha: a 1 MiB RAM buffer (records leave RAM soon: reads of them go to
# the log device) and no destage below destage-low, 32 MiB of its log
# (they stay there, and destage never reads the log while it is bad: a
# record it cannot read fails the engine, "A failed disk")
repl_conf alpha primary protocol=A wb-min-peers=1 ram-buffer=1M destage-min-rate=0 destage-low=50% ping-timeout=2s
repl_conf beta secondary protocol=A wb-min-peers=1
repl_conf gamma secondary protocol=A wb-min-peers=1
if ! repl_start alpha || ! repl_start beta || ! repl_start gamma; then
	fail "$P-start" "$REPL_WHY"
	finish
fi
if ! wait_for 60 whole alpha; then
	fail "$P-start" "alpha not primary/writeback with beta and gamma UpToDate: $(jqget alpha '.mode_reason')"
	finish
fi

# ---------------------------------------------------------------- backing
truncate -s "$DEVSZ" "$T/img"
put_img 0 8 alpha || fail "$P-write" "writing 8 MiB through alpha failed"
ctl alpha drain r0 --timeout 60 >"$T/drain" 2>&1 || fail "$P-drain" "$(cat "$T/drain")"
bad alpha backing $((2 * MB)) 65536
f0=$(nfailed alpha)
errs=$(readback alpha 0 $((8 * MB)) "$T/rb1")
f1=$(nfailed alpha)
re=$(jqget alpha '.io.read_errors')
rp=$(jqget alpha '.io.reads_from_peers')
if [ -n "$errs" ]; then
	fail "$P-backing" "reads failed with errors $errs"
elif [ "$f1" -le "$f0" ]; then
	fail "$P-backing" "no read reached the bad range (wbbadfs failed $f0 -> $f1)"
elif ! expect 0 $((8 * MB)) "$T/rb1"; then
	fail "$P-backing" "8 MiB read back differ from what was written"
elif [ "$re" -lt 1 ] || [ "$rp" != "$re" ]; then
	fail "$P-backing" "status: read_errors $re, reads_from_peers $rp"
elif ! grep -q "failed here (Input/output error): served by peer beta" "$T/alpha/wbrepd.log"; then
	fail "$P-backing" "no event naming beta in alpha's log"
elif ! ctl alpha status r0 2>&1 | grep -q "^  READ ERRORS $re on this node's disks, $rp served by peers, .* written back$"; then
	fail "$P-backing" "the human status has no READ ERRORS line: $(ctl alpha status r0 2>&1 | grep -i read)"
elif ! metric alpha "wbrep_read_errors_total{resource=\"r0\"} $re\$" >/dev/null ||
	! metric alpha "wbrep_reads_from_peers_total{resource=\"r0\"} $rp\$" >/dev/null; then
	fail "$P-backing" "metrics: $(metric alpha 'wbrep_read' | tr '\n' ' ')"
else
	pass "$P-backing" "(8 MiB right, $((f1 - f0)) reads failed on alpha's disk, $rp served by beta)"
fi

# ---------------------------------------------------------------- repair
# the failed 4 MiB request came from beta in 16 chunks of 256 KiB; each is
# read here again and only the one over the bad range fails: written back
# (into the log), destaged over the bad range, which heals (remap on)
rb=262144
if ! wait_for 30 test "$(jqget alpha '.io.read_repaired_bytes')" -ge $rb; then
	fail "$P-repair" "read_repaired_bytes $(jqget alpha '.io.read_repaired_bytes'), not $rb"
else
	sleep 0.5 # no more than the one chunk comes
	echo "remap on" >"$T/alpha.bad/.bad"
	ctl alpha drain r0 --timeout 60 >"$T/drain" 2>&1 || fail "$P-repair" "drain: $(cat "$T/drain")"
	f0=$(nfailed alpha)
	rp0=$(jqget alpha '.io.reads_from_peers')
	errs=$(readback alpha $((2 * MB)) 65536 "$T/rb11")
	rr=$(jqget alpha '.io.read_repaired_bytes')
	if [ "$rr" != $rb ]; then
		fail "$P-repair" "read_repaired_bytes $rr: more than the one bad chunk written back"
	elif ! grep -q "read repair: 262144 of 262144 bytes at offset 2097152 written back here from a peer's copy" "$T/alpha/wbrepd.log"; then
		fail "$P-repair" "no read repair event: $(grep 'read repair' "$T/alpha/wbrepd.log" | tail -2)"
	elif ! metric alpha "wbrep_read_repaired_bytes_total{resource=\"r0\"} $rb\$" >/dev/null; then
		fail "$P-repair" "metric: $(metric alpha 'wbrep_read_repaired')"
	elif grep -q "^backing 2097152 " "$T/alpha.bad/.bad" || [ "$(sed -n 's/^remapped //p' "$T/alpha.bad/.bad")" -lt 1 ]; then
		fail "$P-repair" "the destage did not write over the bad range: $(cat "$T/alpha.bad/.bad" | tr '\n' ' ')"
	elif [ -n "$errs" ] || ! expect $((2 * MB)) 65536 "$T/rb11"; then
		fail "$P-repair" "the repaired range did not read back right ($errs)"
	elif [ "$(nfailed alpha)" != "$f0" ] || [ "$(jqget alpha '.io.reads_from_peers')" != "$rp0" ]; then
		fail "$P-repair" "the repaired range still failed here or needed a peer"
	else
		pass "$P-repair" "(256 KiB written back, destaged over the bad range, read here alone after)"
	fi
	echo "remap off" >"$T/alpha.bad/.bad"
fi
alpha_bad_again

# ---------------------------------------------------------------- large
# two bad ranges 1.5 MiB apart inside one 4 MiB request: the peer reads
# of 256 KiB each cover 16 chunks
bad alpha backing $((5 * MB + 4096)) 8192
f0=$(nfailed alpha)
errs=$(readback alpha $((4 * MB)) $((4 * MB)) "$T/rb2")
if [ -n "$errs" ]; then
	fail "$P-large" "the read failed with $errs"
elif [ "$(nfailed alpha)" -le "$f0" ]; then
	fail "$P-large" "no read reached the bad ranges"
elif ! expect $((4 * MB)) $((4 * MB)) "$T/rb2"; then
	fail "$P-large" "the 4 MiB read back differ"
else
	pass "$P-large" "(4 MiB in one request, $(jqget alpha '.io.reads_from_peers') served by beta so far)"
fi

# ---------------------------------------------------------------- writes
# new data over half the bad range stays in alpha's log (no drain): reads
# of it come from there, the other half still from beta
python3 - "$T/img" $((2 * MB)) <<'EOP'
import os, sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    f.write(os.urandom(32768))
EOP
PYTHONPATH=$ROOT/tests/integration python3 - "$T/img" $((2 * MB)) "$T/alpha/nbd.sock" <<'EOP' || fail "$P-writes" "the write failed"
import sys
import nbdcli
img, off, sock = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(img, 'rb') as f:
    f.seek(off)
    d = f.read(32768)
c = nbdcli.Conn(sock, timeout=60).connect()
err, _ = c.io(nbdcli.CMD_WRITE, off, 32768, payload=d)
assert err == 0, err
c.close()
EOP
errs=$(readback alpha $((2 * MB)) 65536 "$T/rb3")
if [ -n "$errs" ]; then
	fail "$P-writes" "the read failed with $errs"
elif ! expect $((2 * MB)) 65536 "$T/rb3"; then
	fail "$P-writes" "the 64 KiB read back differ (new half from the log, old half from beta)"
else
	pass "$P-writes" "(written half and old half of the bad range right)"
fi

# ---------------------------------------------------------------- next
bad beta backing $((5 * MB + 4096)) 8192
ctl alpha drain r0 --timeout 60 >/dev/null 2>&1
ctl beta drain r0 --timeout 60 >/dev/null 2>&1
ctl gamma drain r0 --timeout 60 >/dev/null 2>&1
sleep 1.1 # the served event of the cases above: at most one a second
errs=$(readback alpha $((5 * MB)) 65536 "$T/rb4")
if [ -n "$errs" ]; then
	fail "$P-next" "the read failed with $errs though gamma has the blocks"
elif ! expect $((5 * MB)) 65536 "$T/rb4"; then
	fail "$P-next" "the 64 KiB read back differ"
elif ! grep -q "peer beta could not serve a read" "$T/alpha/wbrepd.log"; then
	fail "$P-next" "beta's failure not logged"
elif ! grep -q "served by peer gamma" "$T/alpha/wbrepd.log"; then
	fail "$P-next" "no event naming gamma"
elif ! grep -q "peer beta could not read 65536 bytes at offset 5242880 (its disk): marked for resync at its next connect" "$T/alpha/wbrepd.log"; then
	fail "$P-next" "beta's range not marked for resync"
else
	pass "$P-next" "(beta could not read it either, gamma served it, beta's range marked)"
fi

# ---------------------------------------------------------------- all
bad gamma backing $((5 * MB + 4096)) 8192
ctl alpha drain r0 --timeout 60 >/dev/null 2>&1
errs=$(readback alpha $((5 * MB)) 65536 "$T/rb4")
if [ "$errs" != 5 ]; then
	fail "$P-all" "expected EIO (5) when no replica can read the blocks, got '${errs:-success}'"
elif ! grep -q "no UpToDate peer could serve it" "$T/alpha/wbrepd.log"; then
	fail "$P-all" "not logged"
elif ! grep -q "peer gamma could not serve a read" "$T/alpha/wbrepd.log"; then
	fail "$P-all" "gamma's failure not logged"
else
	pass "$P-all" "(EIO to the client, logged)"
fi
healed beta
healed gamma

# ---------------------------------------------------------------- nopeer
ctl alpha drain r0 --timeout 60 >/dev/null 2>&1
repl_stop beta
repl_stop gamma
wait_for 30 test "$(jqget alpha '[.peers[] | select(.connection == "Connected")] | length')" = 0
errs=$(readback alpha $((2 * MB)) 65536 "$T/rb5")
errs2=$(readback alpha $((3 * MB)) 65536 "$T/rb6")
if [ "$errs" != 5 ]; then
	fail "$P-nopeer" "a read of the bad range without peers: expected EIO (5), got '${errs:-success}'"
elif [ -n "$errs2" ] || ! expect $((3 * MB)) 65536 "$T/rb6"; then
	fail "$P-nopeer" "a good range did not read back right without peers ($errs2)"
else
	pass "$P-nopeer" "(EIO without a peer, good blocks served)"
fi
repl_start beta || fail "$P-nopeer" "beta did not start again: $REPL_WHY"
repl_start gamma || fail "$P-nopeer" "gamma did not start again: $REPL_WHY"
if ! wait_for 60 whole alpha; then
	fail "$P-back" "beta and gamma not UpToDate again: $(jqget alpha '.mode_reason')"
else
	errs=$(readback alpha 0 $((8 * MB)) "$T/rb7")
	if [ -n "$errs" ] || ! expect 0 $((8 * MB)) "$T/rb7"; then
		fail "$P-back" "with the peers back the device did not read back right ($errs)"
	else
		pass "$P-back" "(8 MiB right again, $(jqget alpha '.io.reads_from_peers') reads served by peers)"
	fi
fi

# ---------------------------------------------------------------- stalled
# beta stopped (SIGSTOP) while it holds a read: alpha gives up on it after
# half the ping timeout (1 s; the link itself goes after 2 s) and gamma
# serves the read
ctl alpha drain r0 --timeout 60 >/dev/null 2>&1
wait_for 60 whole alpha
ng=$(grep -c "served by peer gamma" "$T/alpha/wbrepd.log")
sleep 1.1 # the event of the last served read: at most one a second
kill -STOP "${PID[beta]}"
t0=$SECONDS
errs=$(readback alpha $((2 * MB)) 65536 "$T/rb10")
dt=$((SECONDS - t0))
kill -CONT "${PID[beta]}"
if [ -n "$errs" ]; then
	fail "$P-stalled" "the read failed with $errs"
elif ! expect $((2 * MB)) 65536 "$T/rb10"; then
	fail "$P-stalled" "the 64 KiB read back differ"
elif [ "$(grep -c "served by peer gamma" "$T/alpha/wbrepd.log")" -le "$ng" ]; then
	fail "$P-stalled" "gamma did not serve it"
elif ! grep -q "peer beta did not answer a read of 65536 bytes at offset 2097152 within 1000 ms" "$T/alpha/wbrepd.log"; then
	fail "$P-stalled" "alpha did not give up on beta's read by itself"
elif ! wait_for 60 whole alpha; then
	fail "$P-stalled" "beta not UpToDate again after SIGCONT"
else
	pass "$P-stalled" "(served by gamma in ${dt} s with beta stopped)"
fi

# ---------------------------------------------------------------- log
# 4 MiB written and left in alpha's log (not in RAM any more: 1 MiB
# buffer), then the whole log file unreadable: reads of them fail on the
# log device and come from beta
img_rand 10 4 && img_write alpha 10 4 || fail "$P-log" "writing 4 MiB through alpha failed"
if [ "$(jqget alpha '.dirty_bytes')" -lt $((4 * MB)) ]; then
	fail "$P-log" "alpha's log holds $(jqget alpha '.dirty_bytes') dirty bytes, not the 4 MiB"
else
	bad alpha log 0 $((64 * MB))
	f0=$(nfailed alpha)
	errs=$(readback alpha $((10 * MB)) $((4 * MB)) "$T/rb9")
	alpha_bad_again # the log readable again before destage needs it
	if [ -n "$errs" ]; then
		fail "$P-log" "the read failed with $errs"
	elif [ "$(nfailed alpha)" -le "$f0" ]; then
		fail "$P-log" "no read reached alpha's log device (served from RAM?)"
	elif ! expect $((10 * MB)) $((4 * MB)) "$T/rb9"; then
		fail "$P-log" "the 4 MiB read back differ"
	else
		pass "$P-log" "(4 MiB in alpha's log read back right: $(($(nfailed alpha) - f0)) log reads failed, served by beta)"
	fi
fi

# ---------------------------------------------------------------- race
# a writer and a reader at once on 256 blocks whose every copy on alpha
# (log and backing) is unreadable: a read issued after a write's ack must
# see that version or a newer one (the ordering the peer read relies on:
# the request queued after every shipped record, served once they are
# durable there), whether it came from alpha's RAM or from beta
ctl alpha drain r0 --timeout 60 >"$T/drain" 2>&1 || fail "$P-race" "drain: $(cat "$T/drain")"
wait_for 60 whole alpha
bad alpha log 0 $((64 * MB))
bad alpha backing $((14 * MB)) $((256 * 4096))
f0=$(nfailed alpha)
PYTHONPATH=$ROOT/tests/integration timeout 300 python3 - "$T/alpha/nbd.sock" $((14 * MB / 4096)) >"$T/race" 2>&1 <<'EOP'
import random, struct, sys, threading, zlib
import nbdcli
sock, base = sys.argv[1], int(sys.argv[2])
N, BS = 256, 4096
acked = [0] * N
lock = threading.Lock()
bad = []

def stamp(lba, ver):
    body = (struct.pack("<QQ", lba, ver) * (BS // 16))[: BS - 4]
    return body + struct.pack("<I", zlib.crc32(body))

def writer():
    c = nbdcli.Conn(sock, timeout=60).connect()
    for i in range(1200):
        b = random.randrange(N)
        with lock:
            v = acked[b] + 1
        err, _ = c.io(nbdcli.CMD_WRITE, (base + b) * BS, BS, payload=stamp(base + b, v))
        if err:
            bad.append("write of block %d failed: %d" % (b, err))
            return
        with lock:
            acked[b] = v
    c.close()

def check(b, d, want):
    if d == bytes(BS):
        v = 0
    else:
        body, crc = d[:-4], struct.unpack("<I", d[-4:])[0]
        lba, v = struct.unpack("<QQ", d[:16])
        if zlib.crc32(body) != crc or lba != base + b:
            bad.append("block %d: not its stamp" % b)
            return
    if v < want:
        bad.append("block %d: version %d read after %d was acknowledged" % (b, v, want))

# one block, or 16 (a chunk the read repair writes back whole but for the
# blocks newer writes cover: a block written while it was on its way
# must not go back to its old version)
def reader():
    c = nbdcli.Conn(sock, timeout=60).connect()
    for i in range(1200):
        n = 16 if i % 2 else 1
        b = random.randrange(N // n) * n
        with lock:
            want = acked[b:b + n]
        err, d = c.io(nbdcli.CMD_READ, (base + b) * BS, n * BS)
        if err:
            bad.append("read of blocks %d+%d failed: %d" % (b, n, err))
            continue
        for k in range(n):
            check(b + k, d[k * BS:(k + 1) * BS], want[k])
    c.close()

t = [threading.Thread(target=writer), threading.Thread(target=reader)]
for x in t:
    x.start()
for x in t:
    x.join()
print("\n".join(bad[:10]) if bad else "ok: 1200 writes, 1200 reads, every read at or past the acknowledged version")
sys.exit(1 if bad else 0)
EOP
rc=$?
f1=$(nfailed alpha)
alpha_bad_again
if [ $rc != 0 ]; then
	fail "$P-race" "$(head -5 "$T/race" | tr '\n' ' ')"
elif [ "$f1" -le "$f0" ]; then
	fail "$P-race" "no read reached alpha's bad log or backing"
else
	pass "$P-race" "($(cat "$T/race"); $((f1 - f0)) reads failed on alpha's disks)"
fi

# ---------------------------------------------------------------- verify
# a scrub: `wbctl verify` on a primary with bad blocks of its own (read
# from the peers, written back) and on beta (unreadable there: marked for
# resync instead of ending beta's part); the resync at the reconnect
# rewrites beta's blocks (its disk remaps them) and a second verify finds
# every replica whole
ctl alpha drain r0 --timeout 60 >/dev/null 2>&1
ctl beta drain r0 --timeout 60 >/dev/null 2>&1
wait_for 60 whole alpha
bad beta backing $((7 * MB + 8192)) 8192
rp0=$(jqget alpha '.io.reads_from_peers')
rr0=$(jqget alpha '.io.read_repaired_bytes')
vjson() { ctl alpha verify r0 --json "$@" >"$T/v.json" 2>"$T/v.err"; }
voos() { jq -r --arg n "$1" '.peers[] | select(.node == $n) | "\(.state) \(.oos_blocks)"' "$T/v.json"; }
echo "remap on" >"$T/beta.bad/.bad" # the resync's write heals beta's range
if ! vjson --resync; then
	fail "$P-verify" "the verify failed: $(cat "$T/v.err" "$T/v.json" | tr '\n' ' ')"
elif [ "$(voos beta)" != "done 64" ] || [ "$(voos gamma)" != "done 0" ]; then
	fail "$P-verify" "beta: $(voos beta), gamma: $(voos gamma) (want done 64, done 0)"
elif [ "$(jq -r '.peers[] | select(.node == "beta") | .unreadable_blocks' "$T/v.json")" != 64 ] ||
	! ctl alpha status r0 | grep -q "verify: done, 64 blocks (256.0 KiB) out of sync (64 of them unreadable there)"; then
	fail "$P-verify" "unreadable blocks not shown: $(cat "$T/v.json"); $(ctl alpha status r0 | grep verify:)"
elif ! metric alpha 'wbrep_peer_verify_unreadable_bytes{resource="r0",peer="beta"} 262144$' >/dev/null; then
	fail "$P-verify" "metric: $(metric alpha wbrep_peer_verify_unreadable)"
elif ! grep -q "verify: blocks 1792..1855 could not be read on peer beta: marked for resync" "$T/alpha/wbrepd.log"; then
	fail "$P-verify" "no line for beta's unreadable range"
elif ! grep -q "verify of peer beta done: 64 blocks (262144 bytes) out of sync (64 of them unreadable there)" "$T/alpha/wbrepd.log"; then
	fail "$P-verify" "no event for beta: $(grep 'verify of peer beta' "$T/alpha/wbrepd.log" | tail -1)"
elif [ "$(jqget alpha '.io.reads_from_peers')" -le "$rp0" ] || [ "$(jqget alpha '.io.read_repaired_bytes')" -le "$rr0" ]; then
	fail "$P-verify" "alpha's own bad blocks: reads from peers $rp0 -> $(jqget alpha '.io.reads_from_peers'), repaired $rr0 -> $(jqget alpha '.io.read_repaired_bytes')"
else
	# --resync reconnected the peers: the bitmap resync rewrites the range
	if ! wait_for 120 whole alpha ||
		! wait_for 60 test "$(jqget alpha '[.peers[].out_of_sync_bytes] | add')" = 0; then
		fail "$P-verify" "the resync after the verify did not end: $(jqget alpha '.peers')"
	elif grep -q "^backing $((7 * MB + 8192)) " "$T/beta.bad/.bad"; then
		fail "$P-verify" "the resync did not write beta's bad range"
	elif ! vjson || [ "$(voos beta)" != "done 0" ] || [ "$(voos gamma)" != "done 0" ]; then
		fail "$P-verify" "the second verify: beta $(voos beta), gamma $(voos gamma) $(cat "$T/v.err")"
	else
		pass "$P-verify" "(beta's unreadable 256 KiB marked and resynced by --resync, alpha's bad blocks served and written back, then every replica whole)"
	fi
	echo "remap off" >"$T/beta.bad/.bad"
fi
healed beta

# ---------------------------------------------------------------- resync
# gamma made anew (blank files, off wbbadfs): alpha's full sync to it reads
# the bad ranges too; beta serves them (before: the resync failed there,
# gamma reconnected and asked for the same range for ever)
ctl alpha drain r0 --timeout 60 >/dev/null 2>&1 # what the verify repaired leaves the log
repl_stop gamma
repl_wipe gamma
rp0=$(jqget alpha '.io.reads_from_peers')
n0=$(grep -c "resync to peer gamma: finished" "$T/alpha/wbrepd.log")
repl_start gamma || fail "$P-resync" "gamma did not start: $REPL_WHY"
if ! wait_log_count 120 "$T/alpha/wbrepd.log" "resync to peer gamma: finished" "$n0" || ! wait_for 60 whole alpha; then
	fail "$P-resync" "the resync to gamma did not finish: $(grep -E 'resync (to peer|read)' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
elif [ "$(jqget alpha '.io.reads_from_peers')" -le "$rp0" ]; then
	fail "$P-resync" "no resync read was served by a peer"
else
	ctl gamma flush r0 >/dev/null 2>&1
	repl_stop gamma
	repl_solo_conf gamma
	if ! repl_start gamma; then
		fail "$P-resync" "gamma alone did not start: $REPL_WHY"
	else
		errs=$(readback gamma 0 $((14 * MB)) "$T/rb8")
		if [ -n "$errs" ] || ! expect 0 $((14 * MB)) "$T/rb8"; then
			fail "$P-resync" "gamma's copy after the resync differs ($errs)"
		else
			pass "$P-resync" "(full sync to gamma done, $(($(jqget alpha '.io.reads_from_peers') - rp0)) of its reads served by beta, 14 MiB right)"
		fi
	fi
fi

repl_stop alpha
repl_stop beta
repl_stop gamma
repl_log_clean "$P" alpha beta gamma
finish
