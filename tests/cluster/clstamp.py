#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""clstamp.py - stamped write load and checker for the cluster torture
(tests/cluster/torture.sh), over NBD on the nodes' unix sockets.

  clstamp.py write DIR NBLOCKS SEED [THREADS]
      Writes stamped 4 KiB blocks at QD1 per thread (THREADS connections,
      default 1, thread i writing the blocks i, i + THREADS, ...: no two
      writes of one block are ever in flight) to the node named in DIR/target
      ("NODE SOCKET", re-read before every write: the torture points it at
      the new primary after a failover). Every write gets a new version
      (a global counter); before sending, "S lba version node ms" goes to
      DIR/writes.log, after a successful reply "A lba version node
      sent_ms acked_ms"; an error reply or a request not answered within
      3 s (a suspended minority holds it) ends that connection (the write
      stays "sent": it may or may not be there). While DIR/pause exists no
      request is sent (DIR/paused says so once no thread has one in
      flight). Runs until SIGTERM.
  clstamp.py verify DIR SOCKET
      Reads every block < NBLOCKS through SOCKET (the primary) and checks
      it against the log: a block holds a valid stamp of itself whose
      version is at least the newest acknowledged one for that block and
      at most the newest sent one, or zeros when none was acknowledged.
      Prints "verify: N blocks, A acknowledged writes, L lost, B bad";
      exit 1 if any is lost or bad.
  clstamp.py minority DIR NODE FROM_MS [TO_MS]
      Acknowledgements by NODE of writes sent in [FROM_MS, TO_MS): the
      minority partition must have none. Prints them; exit 1 if any.

Stamp: (lba, version) repeated, crc32 of the rest in the last 4 bytes
(the same layout as tests/integration/nbdtorture.py).
"""
import os
import random
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import nbdcli as n  # noqa: E402
from nbdtorture import BS, stamp, unstamp  # noqa: E402  (one block format)

REQ_TIMEOUT = 3.0


def now_ms():
    return int(time.time() * 1000)


def read_target(d):
    try:
        with open(os.path.join(d, "target")) as f:
            node, sock = f.read().split()
        return node, sock
    except (OSError, ValueError):
        return None, None


class Writer:
    def __init__(self, d, nblocks, seed, threads):
        self.d, self.nblocks, self.threads = d, nblocks, threads
        self.stop = []
        self.lock = threading.Lock()
        self.idle = set()
        self.log = open(os.path.join(d, "writes.log"), "a", buffering=1)
        self.ver = 0
        for line in open(os.path.join(d, "writes.log")):
            if line.startswith("S "):
                self.ver = max(self.ver, int(line.split()[2]))
        self.seed = seed

    def put(self, line):
        with self.lock:
            self.log.write(line)

    def paused(self, i, yes):
        with self.lock:
            if yes:
                self.idle.add(i)
                if len(self.idle) == self.threads:
                    open(os.path.join(self.d, "paused"), "w").close()
            else:
                self.idle.discard(i)

    def run(self, i):
        d = self.d
        rnd = random.Random(self.seed if i == 0 else self.seed * 1000 + i)
        conn, cnode, csock = None, None, None
        while not self.stop:
            if os.path.exists(os.path.join(d, "pause")):
                if conn:
                    conn.close()
                    conn = None
                self.paused(i, True)
                time.sleep(0.05)
                continue
            self.paused(i, False)
            node, sock = read_target(d)
            if not node:
                time.sleep(0.05)
                continue
            if conn and (node, sock) != (cnode, csock):
                conn.close()
                conn = None
            if not conn:
                try:
                    conn = n.Conn(sock, timeout=REQ_TIMEOUT).connect()
                    cnode, csock = node, sock
                except Exception:
                    conn = None
                    time.sleep(0.1)
                    continue
            lba = i + self.threads * rnd.randrange((self.nblocks - i + self.threads - 1) // self.threads)
            with self.lock:
                self.ver += 1
                ver = self.ver
                t0 = now_ms()
                self.log.write("S %d %d %s %d\n" % (lba, ver, node, t0))
            try:
                err, _ = conn.io(n.CMD_WRITE, lba * BS, BS, payload=stamp(lba, ver), handle=ver)
            except Exception:
                err = -1
            if err == 0:
                self.put("A %d %d %s %d %d\n" % (lba, ver, node, t0, now_ms()))
            else:
                conn.close()
                conn = None
                time.sleep(0.05)
        if conn:
            conn.close()


def write(d, nblocks, seed, threads=1):
    w = Writer(d, nblocks, seed, threads)
    signal.signal(signal.SIGTERM, lambda *a: w.stop.append(1))
    ts = [threading.Thread(target=w.run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        while t.is_alive():
            t.join(0.2)
    w.log.close()


def load(d):
    acked, sent, nacks = {}, {}, 0
    acks = []
    for line in open(os.path.join(d, "writes.log")):
        f = line.split()
        if len(f) < 5:
            continue  # a line cut by SIGKILL of the writer
        lba, ver = int(f[1]), int(f[2])
        if f[0] == "S":
            sent[lba] = max(sent.get(lba, 0), ver)
        elif f[0] == "A" and len(f) == 6:
            acked[lba] = max(acked.get(lba, 0), ver)
            nacks += 1
            acks.append((f[3], int(f[4]), int(f[5]), lba, ver))
    return acked, sent, nacks, acks


def verify(d, sock):
    acked, sent, nacks, _ = load(d)
    nblocks = int(open(os.path.join(d, "nblocks")).read())
    c = n.Conn(sock, timeout=30).connect()
    lost = bad = 0
    for lba in range(nblocks):
        err, data = c.io(n.CMD_READ, lba * BS, BS, handle=lba + 1)
        if err:
            print("verify: read of block %d failed: %d" % (lba, err))
            bad += 1
            continue
        s = unstamp(data)
        a, m = acked.get(lba, 0), sent.get(lba, 0)
        if s == "zero":
            if a:
                lost += 1
                if lost <= 5:
                    print("verify: block %d is zero, version %d was acknowledged" % (lba, a))
        elif s is None or s[0] != lba or s[1] > m:
            bad += 1
            if bad <= 5:
                print("verify: block %d holds garbage or a foreign stamp %s" % (lba, s))
        elif s[1] < a:
            lost += 1
            if lost <= 5:
                print("verify: block %d holds version %d, %d was acknowledged" % (lba, s[1], a))
    c.close()
    print("verify: %d blocks, %d acknowledged writes, %d lost, %d bad" % (nblocks, nacks, lost, bad))
    return 1 if lost or bad else 0


def minority(d, node, t_from, t_to):
    _, _, _, acks = load(d)
    hits = [a for a in acks if a[0] == node and t_from <= a[1] < t_to]
    for a in hits[:5]:
        print("minority: %s acknowledged block %d version %d sent at %d, acked at %d" %
              (a[0], a[3], a[4], a[1], a[2]))
    return 1 if hits else 0


def main():
    a = sys.argv[1:]
    if len(a) in (4, 5) and a[0] == "write":
        with open(os.path.join(a[1], "nblocks"), "w") as f:
            f.write(a[2])
        write(a[1], int(a[2]), int(a[3]), int(a[4]) if len(a) == 5 else 1)
        return 0
    if len(a) == 3 and a[0] == "verify":
        return verify(a[1], a[2])
    if len(a) in (4, 5) and a[0] == "minority":
        return minority(a[1], a[2], int(a[3]), int(a[4]) if len(a) == 5 else 1 << 62)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
