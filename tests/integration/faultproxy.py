#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""faultproxy.py - a fault-injecting TCP proxy for link tests on loopback.

  faultproxy.py serve LISTEN_PORT TARGET_HOST:TARGET_PORT CTL_SOCKET
      Accepts on 127.0.0.1:LISTEN_PORT and forwards each connection to the
      target, bytes unchanged (TLS passes through). Takes commands, one line
      each, on the unix socket CTL_SOCKET and answers one line ("ok ..." or
      "error ..."). Runs until killed.
  faultproxy.py ctl CTL_SOCKET COMMAND [ARG]
      Sends one command, prints the answer, exit 0 on "ok".

Commands:
  delay MS   every byte is forwarded MS milliseconds after it arrived (in
             both directions, order kept, no throughput cap)
  rate BPS   at most BPS bytes per second each way on each connection (a
             slow link: what arrives faster queues in the proxy); 0: no cap
  cut        drop every connection now (reset, whatever is in flight is
             lost)
  refuse     new connections are accepted and reset at once (a peer that
             is down); "cut" + "refuse" = a link cut until "heal"
  heal       delay 0, rate 0, connections accepted again
  stats      "ok accepted=N refused=N active=N cuts=N up=BYTES down=BYTES"

Reordering frames is impossible on TCP; a cut and the reconnect that
follows is what a lossy link looks like to the peers.
"""
import asyncio
import os
import socket
import sys
import time


class Proxy:
    def __init__(self, target):
        self.host, port = target.rsplit(":", 1)
        self.port = int(port)
        self.delay = 0.0
        self.rate = 0  # bytes/s each way per connection, 0: no cap
        self.refusing = False
        self.conns = set()  # (reader-side transport, upstream transport)
        self.st = {"accepted": 0, "refused": 0, "cuts": 0, "up": 0, "down": 0}

    async def pump(self, reader, writer, key, pair):
        """Read from reader; forward each chunk `delay` after it arrived."""
        q = asyncio.Queue()

        async def forward():
            nxt = 0.0  # with a rate: when the link is free again
            while True:
                t, data = await q.get()
                if data is None:
                    break
                wait = t + self.delay - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self.rate:
                    now = time.monotonic()
                    start = max(now, nxt)
                    nxt = start + len(data) / self.rate
                    # the chunk goes when the link has carried it
                    if nxt > now:
                        await asyncio.sleep(nxt - now)
                writer.write(data)
                self.st[key] += len(data)
                await writer.drain()

        fw = asyncio.ensure_future(forward())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                q.put_nowait((time.monotonic(), data))
            q.put_nowait((0, None))
            await fw
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            fw.cancel()
            self.drop(pair)

    def drop(self, pair):
        for w in pair:
            w.transport.abort()
        self.conns.discard(pair)

    async def client(self, cr, cw):
        if self.refusing:
            self.st["refused"] += 1
            cw.transport.abort()
            return
        try:
            ur, uw = await asyncio.open_connection(self.host, self.port)
        except OSError:
            cw.transport.abort()
            return
        for w in (cw, uw):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.st["accepted"] += 1
        pair = (cw, uw)
        self.conns.add(pair)
        await asyncio.gather(self.pump(cr, uw, "up", pair), self.pump(ur, cw, "down", pair))

    def command(self, line):
        w = line.split()
        if not w:
            return "error empty command"
        if w[0] == "delay" and len(w) == 2 and w[1].isdigit():
            self.delay = int(w[1]) / 1000.0
        elif w[0] == "rate" and len(w) == 2 and w[1].isdigit():
            self.rate = int(w[1])
        elif w[0] == "cut" and len(w) == 1:
            self.st["cuts"] += 1
            for pair in list(self.conns):
                self.drop(pair)
        elif w[0] == "refuse" and len(w) == 1:
            self.refusing = True
        elif w[0] == "heal" and len(w) == 1:
            self.refusing = False
            self.delay = 0.0
            self.rate = 0
        elif w[0] == "stats" and len(w) == 1:
            pass
        else:
            return "error unknown command: %s" % line.strip()
        return "ok " + " ".join("%s=%d" % (k, v) for k, v in (
            ("accepted", self.st["accepted"]), ("refused", self.st["refused"]),
            ("active", len(self.conns)), ("cuts", self.st["cuts"]),
            ("up", self.st["up"]), ("down", self.st["down"])))

    async def ctl(self, r, w):
        try:
            line = await r.readline()
            w.write((self.command(line.decode(errors="replace")) + "\n").encode())
            await w.drain()
        finally:
            w.close()


async def serve(listen_port, target, ctl_path):
    p = Proxy(target)
    srv = await asyncio.start_server(p.client, "127.0.0.1", listen_port)
    if os.path.exists(ctl_path):
        os.unlink(ctl_path)
    csrv = await asyncio.start_unix_server(p.ctl, ctl_path)
    async with srv, csrv:
        await asyncio.gather(srv.serve_forever(), csrv.serve_forever())


def ask(path, words):
    """One command on the control socket path: the answer line."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall((" ".join(words) + "\n").encode())
    out = b""
    while not out.endswith(b"\n"):
        b = s.recv(4096)
        if not b:
            break
        out += b
    s.close()
    return out.decode().strip()


def ctl(path, words):
    out = ask(path, words)
    print(out)
    return 0 if out.startswith("ok") else 1


def main():
    a = sys.argv
    if len(a) == 5 and a[1] == "serve":
        asyncio.run(serve(int(a[2]), a[3], a[4]))
        return 0
    if len(a) >= 4 and a[1] == "ctl":
        return ctl(a[2], a[3:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
