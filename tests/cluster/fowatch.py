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
a new process. Gives up after 120 s (exit 1). Nothing here asserts a time.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from nbdcli import CMD_WRITE, BS, Conn  # noqa: E402


def attempt(conns, i, sock):
    """one write through socket i; True when acknowledged"""
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
    end = time.time() + 120
    while time.time() < end:
        for i, s in enumerate(socks):
            if attempt(conns, i, s):
                ms = int(time.time() * 1000)
                with open(out + ".tmp", "w") as f:
                    f.write("%d %d\n" % (ms, i + 1))
                os.rename(out + ".tmp", out)
                return 0
        time.sleep(0.01)
    return 1


if __name__ == "__main__":
    sys.exit(main())
