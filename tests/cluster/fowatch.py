#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""fowatch.py - the client side of a failover measurement.

  fowatch.py OUT SOCK...

Started before a fault, it keeps one NBD connection per socket (the
surviving nodes' exports; reconnecting every 10 ms while a socket refuses)
and writes one 4 KiB block through each of them every 10 ms until one write
is acknowledged (a secondary refuses writes with EPERM). Then it writes
"EPOCH_MS INDEX" (INDEX: 1-based position of that socket in the arguments)
to OUT and exits 0. So the time a client waits for a promoted node is
measured from a client that is already running, not from the start-up of
a new process: once every socket answered a write (connected, its refusal
read back) it creates OUT.ready, and the caller crashes the primary only
after that. Python's start-up alone took 2.7-4.8 s at load 14-16 on this
2-core VM (0.8 s of CPU), so a fixed "sleep 1" before the crash measured
the client's start in some runs (docs/pacemaker.md, "Failover time": the
7.0 s run). Gives up after 120 s (exit 1). Nothing here asserts a time.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from nbdcli import CMD_WRITE, BS, Conn  # noqa: E402


def attempt(conns, i, sock, answered):
    """one write through socket i; True when acknowledged (answered[i]:
    the node answered a write, refused or not)"""
    try:
        if conns[i] is None:
            c = Conn(sock, timeout=2)
            c.greet()
            typ, _ = c.info_go(name=b"r0")
            if typ != 1:
                c.close()
                return False
            conns[i] = c
        err, _ = conns[i].io(CMD_WRITE, 0, BS, payload=b"\x5a" * BS)
        answered[i] = True
        return err == 0
    except Exception:  # noqa: BLE001 - any failure: reconnect
        if conns[i] is not None:
            conns[i].close()
        conns[i] = None
        return False


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: fowatch.py OUT SOCK...")
    out, socks = sys.argv[1], sys.argv[2:]
    conns = [None] * len(socks)
    answered = [False] * len(socks)
    ready = False
    end = time.time() + 120
    while time.time() < end:
        for i, s in enumerate(socks):
            if attempt(conns, i, s, answered):
                ms = int(time.time() * 1000)
                with open(out + ".tmp", "w") as f:
                    f.write("%d %d\n" % (ms, i + 1))
                os.rename(out + ".tmp", out)
                return 0
        if not ready and all(answered):
            ready = True
            with open(out + ".ready", "w") as f:
                f.write("%d\n" % int(time.time() * 1000))
        time.sleep(0.01)
    return 1


if __name__ == "__main__":
    sys.exit(main())
