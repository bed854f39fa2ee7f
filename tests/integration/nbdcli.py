#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""nbdcli.py - a small raw NBD client for wbrepd's integration tests.

  nbdcli.py SOCK malformed        every protocol-abuse case; prints PASS/FAIL
  nbdcli.py SOCK stamp STATE N    write stamped blocks (random LBAs < N) and
                                  flush now and then until the server goes
                                  away; after every completed flush STATE
                                  (JSON, atomically replaced) holds the
                                  version of every block that flush covers
  nbdcli.py SOCK verify STATE     every flushed block holds that version or a
                                  newer one we wrote (never older, never torn)

SOCK is a unix socket path or HOST:PORT. The export is the default one.
"""
import json
import os
import socket
import struct
import sys
import zlib

IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
REPLY_MAGIC = 0x67446698
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 1, 2, 3, 6, 7
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM = 0, 1, 2, 3, 4
ERR_UNSUP, ERR_INVALID, ERR_UNKNOWN = 0x80000001, 0x80000003, 0x80000006
EINVAL, ENOSPC = 22, 28
BS = 4096


class Closed(Exception):
    pass


class Conn:
    def __init__(self, where, timeout=10):
        if ":" in where and not where.startswith("/"):
            host, port = where.rsplit(":", 1)
            self.s = socket.create_connection((host, int(port)), timeout=timeout)
        else:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(timeout)
            self.s.connect(where)
        self.size = None

    def recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise Closed("server closed the connection")
            b += c
        return b

    def closed_by_server(self):
        """True if the server closes (EOF or reset) without sending more."""
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def greet(self, cflags=3):
        g = self.recv(18)
        assert g[:16] == b"NBDMAGICIHAVEOPT", g
        self.s.sendall(struct.pack(">I", cflags))

    def opt(self, o, data=b""):
        self.s.sendall(struct.pack(">QII", IHAVEOPT, o, len(data)) + data)

    def opt_reply(self):
        magic, o, typ, ln = struct.unpack(">QIII", self.recv(20))
        assert magic == REP_MAGIC, hex(magic)
        return o, typ, self.recv(ln)

    def info_go(self, o=OPT_GO, name=b""):
        self.opt(o, struct.pack(">I", len(name)) + name + struct.pack(">HH", 1, 3))
        infos = {}
        while True:
            _, typ, data = self.opt_reply()
            if typ == 1:
                break
            if typ & 0x80000000:
                return typ, infos
            t = struct.unpack(">H", data[:2])[0]
            infos[t] = data[2:]
            if t == 0:
                self.size = struct.unpack(">Q", data[2:10])[0]
        return 1, infos

    def connect(self):
        self.greet()
        typ, _ = self.info_go()
        assert typ == 1, hex(typ)
        return self

    def send_req(self, cmd, handle, off, ln, flags=0, payload=b""):
        self.s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, handle, off, ln) + payload)

    def reply(self, readlen=0):
        magic, err, handle = struct.unpack(">IIQ", self.recv(16))
        assert magic == REPLY_MAGIC, hex(magic)
        data = self.recv(readlen) if (readlen and not err) else b""
        return err, handle, data

    def io(self, cmd, off, ln, flags=0, payload=b"", handle=7):
        self.send_req(cmd, handle, off, ln, flags, payload)
        err, h, data = self.reply(ln if cmd == CMD_READ else 0)
        assert h == handle
        return err, data

    def close(self):
        self.s.close()


# ---------------------------------------------------------------- malformed
def case(name, fn, where):
    try:
        why = fn(where)
    except Exception as e:  # noqa: BLE001 - report any failure as FAIL
        why = "%s: %s" % (type(e).__name__, e)
    # the daemon must still serve a normal client after every case
    if not why:
        try:
            c = Conn(where).connect()
            err, data = c.io(CMD_READ, 0, BS)
            c.send_req(CMD_DISC, 1, 0, 0)
            c.close()
            if err:
                why = "read after the case failed with %d" % err
        except Exception as e:  # noqa: BLE001
            why = "daemon no longer serves: %s" % e
    print(("PASS nbd-%s" % name) if not why else ("FAIL nbd-%s: %s" % (name, why)), flush=True)
    return not why


def m_bad_cflags(w):
    c = Conn(w)
    c.greet(cflags=0x80000001)
    return None if c.closed_by_server() else "unknown client flags not refused"


def m_no_fixed(w):
    c = Conn(w)
    c.greet(cflags=0)
    return None if c.closed_by_server() else "client without FIXED_NEWSTYLE not refused"


def m_bad_opt_magic(w):
    c = Conn(w)
    c.greet()
    c.s.sendall(struct.pack(">QII", 0x1122334455667788, OPT_GO, 0))
    return None if c.closed_by_server() else "bad option magic not refused"


def m_huge_opt(w):
    c = Conn(w)
    c.greet()
    c.s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 1 << 30))
    return None if c.closed_by_server() else "1 GiB option length not refused"


def m_unknown_opt(w):
    c = Conn(w)
    c.greet()
    c.opt(4242, b"garbage")
    o, typ, _ = c.opt_reply()
    if o != 4242 or typ != ERR_UNSUP:
        return "unknown option got type %#x" % typ
    c.opt(8)  # STRUCTURED_REPLY: we answer unsupported
    if c.opt_reply()[1] != ERR_UNSUP:
        return "STRUCTURED_REPLY not answered with ERR_UNSUP"
    typ, _ = c.info_go()
    return None if typ == 1 else "GO after an unknown option failed"


def m_unknown_export(w):
    c = Conn(w)
    c.greet()
    typ, _ = c.info_go(OPT_INFO, b"no-such-export")
    if typ != ERR_UNKNOWN:
        return "INFO for an unknown export got %#x" % typ
    typ, _ = c.info_go(OPT_GO, b"no-such-export")
    return None if typ == ERR_UNKNOWN else "GO for an unknown export got %#x" % typ


def m_bad_info(w):
    c = Conn(w)
    c.greet()
    c.opt(OPT_INFO, struct.pack(">I", 1000) + b"x")  # name length beyond the data
    typ = c.opt_reply()[1]
    if typ != ERR_INVALID:
        return "malformed INFO got %#x" % typ
    c.opt(OPT_LIST, b"junk")
    typ = c.opt_reply()[1]
    return None if typ == ERR_INVALID else "LIST with data got %#x" % typ


def m_list_abort(w):
    c = Conn(w)
    c.greet()
    c.opt(OPT_LIST)
    names = []
    while True:
        _, typ, data = c.opt_reply()
        if typ == 1:
            break
        names.append(data[4:4 + struct.unpack(">I", data[:4])[0]].decode())
    if not names:
        return "LIST returned no export"
    c.opt(OPT_ABORT)
    if c.opt_reply()[1] != 1:
        return "ABORT not acknowledged"
    return None if c.closed_by_server() else "no close after ABORT"


def m_export_name_unknown(w):
    c = Conn(w)
    c.greet()
    c.opt(OPT_EXPORT_NAME, b"nope")
    return None if c.closed_by_server() else "EXPORT_NAME of an unknown export not closed"


TFLAGS_WANT = 0x1 | 0x4 | 0x8 | 0x20 | 0x40 | 0x100  # HAS_FLAGS FLUSH FUA TRIM ZEROES MULTI_CONN


def m_export_name_ok(w):
    """EXPORT_NAME (old-style end of the handshake) with and without
    NO_ZEROES: size + flags (+ 124 zero bytes without NO_ZEROES), then a
    write/read round trip right after it (no stray bytes)."""
    for cflags, tail in ((1, 124), (3, 0)):
        c = Conn(w)
        c.greet(cflags=cflags)
        c.opt(OPT_EXPORT_NAME, b"")
        size, tflags = struct.unpack(">QH", c.recv(10))
        if tail and c.recv(tail) != bytes(tail):
            return "EXPORT_NAME reply padding is not 124 zero bytes"
        if size < 2 * BS or size % BS:
            return "EXPORT_NAME reported size %d" % size
        if tflags & TFLAGS_WANT != TFLAGS_WANT or tflags & 0x2:
            return "EXPORT_NAME transmission flags %#x" % tflags
        pat = bytes([0x40 + cflags]) * BS
        err, _ = c.io(CMD_WRITE, size - BS, BS, payload=pat)
        if err:
            return "write after EXPORT_NAME failed: %d" % err
        err, data = c.io(CMD_READ, size - BS, BS)
        if err or data != pat:
            return "read after EXPORT_NAME (cflags %d) returned other data" % cflags
        c.close()
    return None


def m_info_then_go(w):
    """INFO (size, flags, block sizes), then GO on the same connection."""
    c = Conn(w)
    c.greet()
    typ, infos = c.info_go(OPT_INFO)
    if typ != 1 or 0 not in infos or 3 not in infos:
        return "INFO: reply %#x with infos %s" % (typ, sorted(infos))
    size, tflags = struct.unpack(">QH", infos[0])
    if tflags & TFLAGS_WANT != TFLAGS_WANT:
        return "INFO transmission flags %#x" % tflags
    bmin, bpref, bmax = struct.unpack(">III", infos[3])
    if (bmin, bpref, bmax) != (BS, BS, 32 << 20):
        return "INFO block sizes %d/%d/%d" % (bmin, bpref, bmax)
    typ, infos = c.info_go(OPT_GO)
    if typ != 1 or struct.unpack(">Q", infos[0][:8])[0] != size:
        return "GO after INFO failed (%#x)" % typ
    err, _ = c.io(CMD_READ, 0, BS)
    return None if not err else "read after INFO+GO failed: %d" % err


def m_vanish_handshake(w):
    """Half an option header, then gone; and one that never sends flags."""
    c = Conn(w)
    c.greet()
    c.s.sendall(struct.pack(">Q", IHAVEOPT) + b"\0\0")
    c.close()
    c = Conn(w)
    c.recv(18)
    c.close()
    return None


def m_unknown_cmd(w):
    c = Conn(w).connect()
    err, _ = c.io(99, 0, BS)
    if err != EINVAL:
        return "unknown command got %d" % err
    err, _ = c.io(CMD_READ, 0, BS)
    return None if err == 0 else "read after unknown command got %d" % err


def m_beyond_end(w):
    c = Conn(w).connect()
    err, _ = c.io(CMD_READ, c.size, BS)
    if err != EINVAL:
        return "read beyond the end got %d" % err
    err, _ = c.io(CMD_WRITE, c.size - BS, 2 * BS, payload=b"\1" * 2 * BS)
    if err != ENOSPC:
        return "write beyond the end got %d" % err
    err, _ = c.io(CMD_READ, (1 << 64) - BS, 2 * BS)
    if err != EINVAL:
        return "read with wrapping offset got %d" % err
    err, _ = c.io(CMD_TRIM, c.size - BS, 2 * BS)
    if err != EINVAL:
        return "trim beyond the end got %d" % err
    err, _ = c.io(CMD_READ, c.size - BS, BS)
    return None if err == 0 else "last block read got %d" % err


def m_unaligned(w):
    c = Conn(w).connect()
    err, _ = c.io(CMD_READ, 512, BS)
    if err != EINVAL:
        return "unaligned read got %d" % err
    err, _ = c.io(CMD_WRITE, 0, 1000, payload=b"\2" * 1000)
    return None if err == EINVAL else "unaligned write got %d" % err


def m_bad_flags(w):
    c = Conn(w).connect()
    err, _ = c.io(CMD_READ, 0, BS, flags=1 << 9)
    return None if err == EINVAL else "unknown command flag got %d" % err


def m_oversize(w):
    c = Conn(w).connect()
    err, _ = c.io(CMD_READ, 0, 64 << 20)
    if err != EINVAL:
        return "64 MiB read got %d" % err
    c.send_req(CMD_WRITE, 9, 0, 64 << 20)  # header only; the payload never comes
    err, h, _ = c.reply()
    if err != EINVAL or h != 9:
        return "64 MiB write got %d" % err
    return None if c.closed_by_server() else "no disconnect after an oversized write"


def m_bad_req_magic(w):
    c = Conn(w).connect()
    c.s.sendall(struct.pack(">IHHQQI", 0xdeadbeef, 0, CMD_READ, 1, 0, BS))
    return None if c.closed_by_server() else "bad request magic not refused"


def m_vanish_payload(w):
    c = Conn(w).connect()
    c.send_req(CMD_WRITE, 1, 0, 1 << 20, payload=b"\3" * (1 << 19))  # half the payload
    c.close()
    return None


def m_vanish_inflight(w):
    c = Conn(w).connect()
    # 16 MiB of reads in flight (under the 32 MiB reply cap, past which the
    # server would stop reading us), then gone without reading
    for i in range(16):
        c.send_req(CMD_READ, i, (i % 16) << 20, 1 << 20)
    for i in range(16):
        c.send_req(CMD_WRITE, 100 + i, i * BS, BS, payload=b"\4" * BS)
    c.send_req(CMD_FLUSH, 200, 0, 0)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # reset
    return None


def m_pipeline(w):
    c = Conn(w).connect()
    n = 64
    for i in range(n):
        data = bytes([i]) * BS
        c.send_req(CMD_WRITE, 1000 + i, (64 + i) * BS, BS, payload=data)
    got = set()
    for _ in range(n):
        err, h, _ = c.reply()
        if err:
            return "pipelined write %d failed with %d" % (h, err)
        got.add(h)
    if got != set(range(1000, 1000 + n)):
        return "replies do not match the requests"
    for i in range(n):
        c.send_req(CMD_READ, 2000 + i, (64 + i) * BS, BS)
    for _ in range(n):
        err, h, data = c.reply(BS)
        if err or data != bytes([h - 2000]) * BS:
            return "pipelined read %d returned wrong data" % h
    c.send_req(CMD_DISC, 1, 0, 0)
    return None if c.closed_by_server() else "no close after NBD_CMD_DISC"


def malformed(where):
    ok = True
    for name, fn in [("bad-client-flags", m_bad_cflags), ("no-fixed-newstyle", m_no_fixed),
                     ("bad-option-magic", m_bad_opt_magic), ("huge-option", m_huge_opt),
                     ("unknown-option", m_unknown_opt), ("unknown-export", m_unknown_export),
                     ("malformed-info", m_bad_info), ("list-abort", m_list_abort),
                     ("export-name-unknown", m_export_name_unknown),
                     ("export-name-ok", m_export_name_ok), ("info-then-go", m_info_then_go),
                     ("vanish-in-handshake", m_vanish_handshake),
                     ("unknown-command", m_unknown_cmd), ("beyond-end", m_beyond_end),
                     ("unaligned", m_unaligned), ("bad-command-flags", m_bad_flags),
                     ("oversize", m_oversize), ("bad-request-magic", m_bad_req_magic),
                     ("vanish-mid-payload", m_vanish_payload),
                     ("vanish-with-inflight", m_vanish_inflight),
                     ("pipelined-out-of-order", m_pipeline)]:
        ok &= case(name, fn, where)
    return 0 if ok else 1


# ---------------------------------------------------------------- stamps
def block(lba, ver):
    head = struct.pack("<QQ", lba, ver)
    body = (head * (BS // 16))[: BS - 4]
    return body + struct.pack("<I", zlib.crc32(body))


def parse_block(b):
    body, crc = b[:-4], struct.unpack("<I", b[-4:])[0]
    if zlib.crc32(body) != crc:
        return None
    return struct.unpack("<QQ", b[:16])


def stamp(where, state, nblocks):
    import random
    rnd = random.Random(os.getpid())
    c = Conn(where).connect()
    ver = {}  # lba -> newest version whose write completed
    flushed = {}
    handle = 0
    try:
        while True:
            for _ in range(16):
                lba = rnd.randrange(nblocks)
                v = ver.get(lba, 0) + 1
                handle += 1
                fua = 1 if rnd.random() < 0.05 else 0
                err, _ = c.io(CMD_WRITE, lba * BS, BS, flags=fua, payload=block(lba, v),
                              handle=handle)
                if err:
                    raise Closed("write error %d" % err)
                ver[lba] = v
                if fua:
                    flushed[lba] = v
            snap = dict(ver)  # writes completed before the flush was sent
            handle += 1
            err, _ = c.io(CMD_FLUSH, 0, 0, handle=handle)
            if err:
                raise Closed("flush error %d" % err)
            flushed.update(snap)
            tmp = state + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"flushed": flushed, "written": ver}, f)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, state)
    except (Closed, OSError, AssertionError) as e:
        print("stamp: stopped after %d requests: %s" % (handle, e), flush=True)
    return 0


def verify(where, state):
    with open(state) as f:
        st = json.load(f)
    flushed = {int(k): v for k, v in st["flushed"].items()}
    c = Conn(where).connect()
    bad = 0
    for lba, v in sorted(flushed.items()):
        err, data = c.io(CMD_READ, lba * BS, BS)
        p = parse_block(data) if not err else None
        if not p or p[0] != lba or p[1] < v:
            bad += 1
            if bad <= 5:
                print("verify: lba %d: expected version >= %d, got %s" % (lba, v, p))
    print("verify: %d flushed blocks checked, %d bad" % (len(flushed), bad))
    return 1 if bad or not flushed else 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    where, cmd = sys.argv[1], sys.argv[2]
    if cmd == "malformed":
        return malformed(where)
    if cmd == "stamp":
        return stamp(where, sys.argv[3], int(sys.argv[4]))
    if cmd == "verify":
        return verify(where, sys.argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
