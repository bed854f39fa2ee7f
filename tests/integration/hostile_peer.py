#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""hostile_peer.py - clients of the replication (peer) port that try to make
wbrepd spend CPU, memory or log lines without bound, or keep its real peer
out, for test_peer_bounds.sh. Each case prints PASS/FAIL lines and exits 1
on a failure. PID is the daemon's pid (CPU from /proc/PID/stat, memory from
/proc/PID/status); LOG its log file.

  hostile_peer.py flood HOST:PORT PID LOG KIND N SECS [SRC]
      N connections held open (from address SRC, or A.B.C.D-E: the
      addresses A.B.C.D to A.B.C.E in turn, one per connection, e.g.
      127.0.0.2-65 for a flood that holds one slot per address): each one the daemon
      closes is opened again, for SECS seconds or until the file
      $HOSTILE_STOP exists. KIND: idle (never speaks), garbage (random
      bytes), tls-half (a TLS ClientHello, then nothing). At the end one
      line "STATS ... cpu=.. rss_grow_kib=.. lines=.. bound=..": the
      daemon's CPU share, RSS growth, the log lines it wrote meanwhile and
      what the rate limits allow (3 limiters: full, connection, hello)
  hostile_peer.py hello HOST:PORT CA CERT KEY NODE RESOURCE WHAT
      a TLS-authenticated peer (CERT/KEY signed by CA, named NODE) sends a
      hello for RESOURCE with WHAT absurd: size, max-record, block-size,
      seq, names; prints what the daemon answered (an error frame or EOF)
"""
import os
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from wbcrc32c import crc32c  # noqa: E402 (tests/wbcrc32c.py)

WBP_MAGIC = 0x31504257
T_HELLO, T_ERROR = 1, 12


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_uint(field, v):
    return varint(field << 3) + varint(v)


def pb_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(field << 3 | 2) + varint(len(b)) + b


def frame(typ, msg, data=b""):
    h = struct.pack("<IBBHII", WBP_MAGIC, 1, typ, 0, len(msg), len(data))
    return h + struct.pack("<I", crc32c(h)) + msg + data


def hello(node, resource, **kw):
    """A Hello (proto/wbrep.proto) with sane values unless overridden."""
    f = dict(version=1, size=64 << 20, role=1, max_record_bytes=1 << 20, block_size=4096,
             seq_head=1, seq_tail=1, gen_head=1)
    f.update(kw)
    m = pb_uint(1, f["version"]) + pb_bytes(2, node) + pb_bytes(3, resource)
    m += pb_uint(4, f["seq_head"]) + pb_uint(5, f["seq_tail"]) + pb_uint(6, f["gen_head"])
    m += pb_uint(9, f["size"]) + pb_uint(10, f["role"])
    m += pb_uint(13, f["max_record_bytes"]) + pb_uint(14, f["block_size"])
    return m


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def refusals(log):
    """Lines of the log about refused peer connections (and the listener)."""
    with open(log, errors="replace") as f:
        return sum(1 for line in f if "peer connection from" in line or "peer listener" in line
                   or "similar messages suppressed" in line)


def client_hello_bytes():
    """The bytes of a TLS ClientHello (what a client sends first)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(i, o, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return o.read()


def sources(src):
    """SRC as a list of source addresses: none, one, or A.B.C.D-E"""
    if not src:
        return [None]
    if "-" not in src:
        return [src]
    first, last = src.rsplit("-", 1)
    net, lo = first.rsplit(".", 1)
    return ["%s.%d" % (net, i) for i in range(int(lo), int(last) + 1)]


def flood(where, pid, log, kind, n, secs, src=None):
    host, port = where.rsplit(":", 1)
    srcs, nsrc = sources(src), 0
    ch = client_hello_bytes() if kind == "tls-half" else b""
    stop = os.environ.get("HOSTILE_STOP")
    log0 = refusals(log)
    c0, t0, rss0 = cpu_s(pid), time.monotonic(), rss_kb(pid)
    rss_max, opened, refused = rss0, 0, 0
    end = t0 + secs
    conns = []
    while time.monotonic() < end and not (stop and os.path.exists(stop)):
        alive = []
        for s in conns:
            try:
                if s.recv(65536) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            alive.append(s)
        conns = alive
        for _ in range(n - len(conns)):
            try:
                a = srcs[nsrc % len(srcs)]
                nsrc += 1
                s = socket.create_connection((host, int(port)), timeout=5,
                                             source_address=(a, 0) if a else None)
            except OSError:
                refused += 1
                continue
            opened += 1
            s.setblocking(False)
            try:
                if kind == "garbage":
                    s.send(os.urandom(4096))
                elif kind == "tls-half":
                    s.send(ch)
            except OSError:
                pass
            conns.append(s)
            if time.monotonic() >= end:
                break
        rss_max = max(rss_max, rss_kb(pid))
        time.sleep(0.2)
    el = time.monotonic() - t0
    busy = (cpu_s(pid) - c0) / el
    for s in conns:
        s.close()
    time.sleep(0.5)
    lines = refusals(log) - log0
    bound = 3 * 11 * (int(el / 5) + 2)
    print("STATS kind=%s opened=%d failed=%d secs=%.1f cpu=%.2f rss_kib=%d rss_grow_kib=%d "
          "lines=%d bound=%d" % (kind, opened, refused, el, busy, rss_max, rss_max - rss0,
                                 lines, bound), flush=True)


def hello_case(where, ca, cert, key, node, resource, what):
    host, port = where.rsplit(":", 1)
    kw = {
        "size": dict(size=(1 << 64) - 4096),
        "size-odd": dict(size=12345),
        "max-record": dict(max_record_bytes=(1 << 32) - 4096),
        "block-size": dict(block_size=1 << 31),
        "seq": dict(seq_head=(1 << 64) - 1, seq_tail=1, gen_head=(1 << 64) - 1),
        "primary-huge": dict(role=2, size=(1 << 64) - 4096, seq_head=(1 << 64) - 2,
                             gen_head=(1 << 63)),
    }[what]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    ctx.check_hostname = False
    raw = socket.create_connection((host, int(port)), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=node)
    s.sendall(frame(T_HELLO, hello(node, resource, **kw)))
    got = b""
    try:
        while len(got) < 1 << 16:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except (socket.timeout, ssl.SSLError, OSError) as e:
        got += ("<%s>" % type(e).__name__).encode()
    print("ANSWER %s: %d bytes: %r" % (what, len(got), got[:200]), flush=True)


def main():
    a = sys.argv[1:]
    if a and a[0] == "flood" and len(a) in (7, 8):
        flood(a[1], int(a[2]), a[3], a[4], int(a[5]), float(a[6]), *a[7:])
    elif a and a[0] == "hello" and len(a) == 8:
        hello_case(*a[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
