#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""ctlraw.py - raw client of wbrepd's control socket for the wbctl tests.

  ctlraw.py SOCK bad     every bad-request case (garbage, unknown frame
                         type, oversized length, wrong frame type, payload
                         that is not a CtlRequest, unknown op, bad version,
                         bad resource name, bad mode, client vanishing
                         mid-frame); prints PASS/FAIL lines, exits 1 on FAIL
  ctlraw.py SOCK status  one valid status request; prints code and names

Frames (proto/wbproto.h, docs/control-protocol.md): le32 payload length,
le16 type, le16 flags, then a protobuf payload. Protobuf is encoded and
decoded by hand here (a few varint and string fields) so the test needs no
protobuf module and can also send what a real encoder never would.
"""
import socket
import struct
import sys

T_REQ, T_RESP, T_PING = 1, 2, 20
OP_STATUS, OP_UP, OP_MODE = 1, 2, 5
EPROTO, EBADMSG, EMSGSIZE, EINVAL, EOPNOTSUPP, EPROTONOSUPPORT = 71, 74, 90, 22, 95, 93


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_str(num, s):
    b = s.encode() if isinstance(s, str) else s
    return varint(num << 3 | 2) + varint(len(b)) + b


def request(op, version=1, rid=1, resource=None, mode=None):
    p = f_varint(1, version) + f_varint(2, op) + f_varint(3, rid)
    if resource is not None:
        p += f_str(4, resource)
    if mode is not None:
        p += f_str(5, mode)
    return p


def frame(ftype, payload, flags=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack("<IHH", n, ftype, flags) + payload


def parse_pb(b):
    """Top-level fields of a protobuf message: {num: [values]}."""
    out, i = {}, 0

    def rd_varint():
        nonlocal i
        v = s = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << s
            s += 7
            if not c & 0x80:
                return v

    while i < len(b):
        key = rd_varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            val = rd_varint()
        elif wt == 2:
            n = rd_varint()
            val = b[i:i + n]
            i += n
        elif wt == 1:
            val = b[i:i + 8]
            i += 8
        elif wt == 5:
            val = b[i:i + 4]
            i += 4
        else:
            raise ValueError("bad wire type %d" % wt)
        out.setdefault(num, []).append(val)
    return out


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)

    def recvn(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                return None
            b += c
        return b

    def response(self):
        """(code, message, fields) of the next response, or None on EOF."""
        h = self.recvn(8)
        if h is None:
            return None
        n, t, fl = struct.unpack("<IHH", h)
        assert t == T_RESP, "reply frame type %d" % t
        p = self.recvn(n)
        assert p is not None, "EOF inside a reply"
        f = parse_pb(p)
        code = f.get(2, [0])[0]
        if code >= 1 << 63:
            code -= 1 << 64
        msg = f.get(3, [b""])[0].decode()
        return code, msg, f

    def closed(self):
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def status_ok(path):
    """A fresh connection still gets a good status reply."""
    c = Conn(path)
    c.s.sendall(frame(T_REQ, request(OP_STATUS, rid=99)))
    r = c.response()
    c.close()
    return r is not None and r[0] == 0 and 4 in r[2]


def check(name, fn, path):
    try:
        why = fn(path)
    except (AssertionError, OSError, ValueError) as e:
        why = "%s: %s" % (type(e).__name__, e)
    if not why:
        try:
            if not status_ok(path):
                why = "daemon does not answer a good status request afterwards"
        except OSError as e:
            why = "daemon gone afterwards: %s" % e
    if why:
        print("FAIL ctl-bad-%s: %s" % (name, why), flush=True)
        return False
    print("PASS ctl-bad-%s" % name, flush=True)
    return True


def expect_close(path, data, code, name_err):
    """data breaks the framing: an error reply with `code`, then EOF."""
    c = Conn(path)
    c.s.sendall(data)
    r = c.response()
    if r is None:
        return None  # clean close without a reply is allowed too
    if r[0] != code:
        return "reply code %d (%s), expected %d (%s)" % (r[0], r[1], code, name_err)
    if not c.closed():
        return "connection not closed after a framing error"
    c.close()
    return None


def expect_reply(path, data, code, msg_part):
    """A well-framed bad request: an error reply, connection stays usable."""
    c = Conn(path)
    c.s.sendall(data)
    r = c.response()
    if r is None:
        return "connection closed, expected an error reply"
    if r[0] != code or msg_part not in r[1]:
        return "reply (%d, %r), expected (%d, ...%r...)" % (r[0], r[1], code, msg_part)
    c.s.sendall(frame(T_REQ, request(OP_STATUS, rid=5)))
    r = c.response()
    c.close()
    if r is None or r[0] != 0:
        return "the same connection did not serve a good request afterwards"
    return None


def bad(path):
    cases = [
        ("garbage", lambda p: expect_close(p, b"GET / HTTP/1.0\r\n\r\n" * 4, EMSGSIZE,
                                           "EMSGSIZE")),
        ("unknown-frame-type", lambda p: expect_close(p, frame(9, b""), EPROTO, "EPROTO")),
        ("unknown-flags", lambda p: expect_close(p, frame(T_REQ, request(OP_STATUS), flags=0x80),
                                                 EPROTO, "EPROTO")),
        ("oversized-length", lambda p: expect_close(p, frame(T_REQ, b"", length=(1 << 20) + 1),
                                                    EMSGSIZE, "EMSGSIZE")),
        ("huge-length", lambda p: expect_close(p, frame(T_REQ, b"", length=0xFFFFFFFF),
                                               EMSGSIZE, "EMSGSIZE")),
        ("wrong-frame-type", lambda p: expect_reply(p, frame(T_PING, b""), EPROTO,
                                                    "expected a control request")),
        ("undecodable-payload", lambda p: expect_reply(p, frame(T_REQ, b"\xff\xff\xff\x07junk"),
                                                       EBADMSG, "undecodable")),
        ("missing-required", lambda p: expect_reply(p, frame(T_REQ, f_varint(1, 1)), EBADMSG,
                                                    "undecodable")),
        ("unknown-op", lambda p: expect_reply(p, frame(T_REQ, request(42)), EOPNOTSUPP,
                                              "unknown operation")),
        ("bad-version", lambda p: expect_reply(p, frame(T_REQ, request(OP_STATUS, version=7)),
                                               EPROTONOSUPPORT, "version")),
        ("no-resource", lambda p: expect_reply(p, frame(T_REQ, request(OP_UP)), EINVAL,
                                               "needs a resource")),
        ("bad-resource-name", lambda p: expect_reply(
            p, frame(T_REQ, request(OP_UP, resource="../etc")), EINVAL, "invalid resource")),
        ("long-resource-name", lambda p: expect_reply(
            p, frame(T_REQ, request(OP_STATUS, resource="r" * 64)), EINVAL, "invalid resource")),
        ("bad-mode", lambda p: expect_reply(
            p, frame(T_REQ, request(OP_MODE, resource="r0", mode="fast")), EINVAL, "mode must")),
    ]

    def vanish(p):
        c = Conn(p)
        c.s.sendall(frame(T_REQ, request(OP_STATUS))[:11])
        c.close()
        return None

    def split(p):  # one request in 1-byte pieces, then two in one write
        c = Conn(p)
        for b in frame(T_REQ, request(OP_STATUS, rid=3)):
            c.s.sendall(bytes([b]))
        r1 = c.response()
        c.s.sendall(frame(T_REQ, request(OP_STATUS, rid=4)) * 2)
        r2, r3 = c.response(), c.response()
        c.close()
        ids = [r[2].get(1, [None])[0] if r else None for r in (r1, r2, r3)]
        if ids != [3, 4, 4] or any(r[0] for r in (r1, r2, r3)):
            return "replies to split/batched requests: ids %s" % ids
        return None

    cases += [("vanish-mid-frame", vanish), ("split-and-batched", split)]
    ok = True
    for name, fn in cases:
        ok &= check(name, fn, path)
    return 0 if ok else 1


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    path, cmd = sys.argv[1], sys.argv[2]
    if cmd == "bad":
        return bad(path)
    if cmd == "status":
        return 0 if status_ok(path) else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
