#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""nbdtorture.py - stamped-block torture writer/checker driven over NBD.

  nbdtorture.py SOCK write STATE NBLOCKS [THREADS [QD [RATE]]]
      THREADS connections (default 4), each owning a slice of the first
      NBLOCKS 4 KiB blocks, keep up to QD (default 8) writes of 1..8 stamped
      blocks in flight (no two in flight on the same block), with FUA now and
      then and a flush every few writes; with RATE, each connection starts at
      most RATE writes a second (so a log can hold what a cut-off peer
      misses). Runs until the server goes away
      (kill -9) or SIGUSR1 (stop sending, collect the replies in flight,
      exit). Then writes STATE (JSON). Continues the versions of an existing
      STATE, so several kill/restart cycles use one STATE file.
  nbdtorture.py SOCK verify STATE [--exact]
      Reads the blocks back. Per block: durable = newest version acked by a
      FUA write or acked before a flush that completed (on the same
      connection); sent = newest version ever sent. The block must hold a
      valid stamp of itself with durable <= version <= sent (all zero only
      when nothing was durable). An unacked write found on disk, or an
      older version where an acked, not durable write was lost, becomes
      the block's expected content in STATE. --exact (after a clean stop: writer
      stopped with SIGUSR1, daemon with SIGTERM, which flushes): version ==
      the newest acked (or found) one. Prints a summary, exit 1 on any bad
      block.

Stamp of a block: (lba, version) repeated, crc32 of the rest in the last
4 bytes, so a torn, misplaced or stale block is recognised.
"""
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdcli as n  # noqa: E402

BS = 4096
stop = threading.Event()


def stamp(lba, ver):
    head = struct.pack("<QQ", lba, ver)
    body = (head * (BS // 16))[: BS - 4]
    return body + struct.pack("<I", zlib.crc32(body))


def unstamp(b):
    if b == bytes(BS):
        return "zero"
    body, crc = b[:-4], struct.unpack("<I", b[-4:])[0]
    if zlib.crc32(body) != crc:
        return None
    return struct.unpack("<QQ", b[:16])


class State:
    def __init__(self, path, nblocks):
        self.path = path
        self.durable = [0] * nblocks
        self.acked = [0] * nblocks
        self.sent = [0] * nblocks
        self.lock = threading.Lock()
        if os.path.exists(path):
            with open(path) as f:
                st = json.load(f)
            assert st["nblocks"] == nblocks, "NBLOCKS differs from the state file"
            self.durable, self.acked, self.sent = st["durable"], st["acked"], st["sent"]
        self.stats = {"writes": 0, "flushes": 0, "fua": 0, "stopped": []}

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"nblocks": len(self.sent), "durable": self.durable, "acked": self.acked,
                       "sent": self.sent, "stats": self.stats}, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.path)


def writer_thread(where, st, lo, hi, qd, seed, rate=0):
    rnd = random.Random(seed)
    next_t = time.monotonic()
    try:
        c = n.Conn(where, timeout=30).connect()
    except (OSError, AssertionError, n.Closed) as e:
        st.stats["stopped"].append("connect: %s" % e)
        return
    inflight = {}  # handle -> ("w", lba, nblk, fua, [versions]) | ("f", snapshot)
    busy = set()
    acked_here = {}  # lba -> version acked on this connection since the last flush sent
    handle = 0
    since_flush = 0
    flush_out = False
    try:
        while True:
            # fill the queue
            while not stop.is_set() and len(inflight) < qd:
                if since_flush >= 24 and not flush_out:
                    handle += 1
                    c.send_req(n.CMD_FLUSH, handle, 0, 0)
                    inflight[handle] = ("f", dict(acked_here))
                    acked_here.clear()
                    since_flush = 0
                    flush_out = True
                    continue
                if rate:
                    now = time.monotonic()
                    if now < next_t:
                        if inflight:
                            break  # collect a reply meanwhile
                        time.sleep(min(next_t - now, 0.1))
                        continue
                    next_t = max(next_t, now - 1.0) + 1.0 / rate
                nblk = rnd.choice((1, 1, 1, 2, 4, 8))
                lba = rnd.randrange(lo, hi - nblk + 1)
                if any(b in busy for b in range(lba, lba + nblk)):
                    break
                fua = rnd.random() < 0.05
                with st.lock:
                    vers = []
                    for b in range(lba, lba + nblk):
                        st.sent[b] += 1
                        vers.append(st.sent[b])
                payload = b"".join(stamp(b, v) for b, v in zip(range(lba, lba + nblk), vers))
                handle += 1
                c.send_req(n.CMD_WRITE, handle, lba * BS, nblk * BS, 1 if fua else 0, payload)
                inflight[handle] = ("w", lba, nblk, fua, vers)
                busy.update(range(lba, lba + nblk))
                since_flush += 1
            if not inflight:
                break
            err, h, _ = c.reply()
            ent = inflight.pop(h)
            if err:
                raise n.Closed("request error %d" % err)
            with st.lock:
                if ent[0] == "w":
                    _, lba, nblk, fua, vers = ent
                    for b, v in zip(range(lba, lba + nblk), vers):
                        busy.discard(b)
                        if v > st.acked[b]:
                            st.acked[b] = v
                        acked_here[b] = max(acked_here.get(b, 0), v)
                        if fua and v > st.durable[b]:
                            st.durable[b] = v
                    st.stats["writes"] += 1
                    st.stats["fua"] += int(fua)
                else:
                    for b, v in ent[1].items():
                        if v > st.durable[b]:
                            st.durable[b] = v
                    st.stats["flushes"] += 1
                    flush_out = False
    except (n.Closed, OSError, AssertionError, struct.error) as e:
        st.stats["stopped"].append(type(e).__name__)
    finally:
        c.close()


def write(where, path, nblocks, threads=4, qd=8, rate=0):
    st = State(path, nblocks)
    signal.signal(signal.SIGUSR1, lambda s, f: stop.set())
    per = nblocks // threads
    ts = [threading.Thread(target=writer_thread,
                           args=(where, st, i * per, (i + 1) * per, qd, os.getpid() * 31 + i,
                                 rate))
          for i in range(threads)]
    for t in ts:
        t.start()
    with open(path + ".started", "w") as f:
        f.write("1")
    for t in ts:
        while t.is_alive():
            t.join(0.2)
    st.save()
    why = sorted(set(st.stats["stopped"]))
    print("write: %d writes (%d FUA), %d flushes, %s" % (
        st.stats["writes"], st.stats["fua"], st.stats["flushes"],
        "server gone (%s)" % "/".join(why) if why else "stopped on request"), flush=True)
    return 0


def verify(where, path, exact):
    with open(path) as f:
        st = json.load(f)
    nblocks = st["nblocks"]
    c = n.Conn(where, timeout=60).connect()
    bad = zero = newer = 0
    seen = {}
    chunk = 64
    for base in range(0, nblocks, chunk):
        cnt = min(chunk, nblocks - base)
        err, data = c.io(n.CMD_READ, base * BS, cnt * BS)
        if err:
            print("verify: read error %d at block %d" % (err, base))
            return 1
        for i in range(cnt):
            b = base + i
            dur, ack, sent = st["durable"][b], st["acked"][b], st["sent"][b]
            p = unstamp(data[i * BS:(i + 1) * BS])
            why = None
            if p == "zero":
                zero += 1
                if dur or (exact and ack):
                    why = "all zero"
            elif p is None:
                why = "torn or foreign data (bad crc)"
            elif p[0] != b:
                why = "holds block %d's data" % p[0]
            elif exact and p[1] != ack:
                why = "version %d after a clean stop" % p[1]
            elif p[1] < dur or p[1] > sent:
                why = "version %d" % p[1]
            elif p[1] > ack:
                newer += 1  # sent, never acked, but written: allowed
                seen[b] = p[1]
            elif p[1] < ack:
                # acked, never made durable (no flush or FUA after it), gone
                # in the crash: allowed (ack = memory loses up to
                # log-commit-ms of them to a kill -9); the block holds p[1]
                # now, and a later --exact check must expect that
                seen[b] = p[1]
            if why:
                bad += 1
                if bad <= 8:
                    print("verify: block %d: %s; durable %d, acked %d, sent %d" % (
                        b, why, dur, ack, sent))
    c.close()
    if not bad and seen:
        # an unacked write that landed, or an older version where an acked
        # but not durable write was lost, is now the block's known content:
        # a later --exact check expects it unless a newer write gets acked
        for b, v in seen.items():
            st["acked"][b] = v
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.rename(tmp, path)
    ndur = sum(1 for v in st["durable"] if v)
    print("verify: %d blocks (%d with a durable version, %d zero, %d holding an unacked "
          "write), %d bad%s" % (nblocks, ndur, zero, newer, bad, " [exact]" if exact else ""))
    return 1 if bad or not ndur else 0


def main():
    a = sys.argv
    if len(a) >= 5 and a[2] == "write":
        return write(a[1], a[3], int(a[4]), *(int(x) for x in a[5:8]))
    if len(a) >= 4 and a[2] == "verify":
        return verify(a[1], a[3], "--exact" in a[4:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
