#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# tls_pystream.py - one end of a bare TLS 1.3 byte stream with few syscalls
# per byte, for tests/bench/tls_stream.py (the repl section's TLS ceiling).
# OpenSSL through Python's ssl module on memory BIOs, as daemon/tls.c puts
# its own buffers between the socket and the SSL: the receiver reads up to
# BUF bytes of records per recv(2) and decrypts them all, the sender seals
# BUF bytes of plaintext (BUF/16 KiB records) and sends them with one
# send(2). socat, the other tool measured there, makes ~8 syscalls per
# 16 KiB record on its receiving side, and a syscall costs ~1-3 us on this
# VM: its stream measures socat, not the link.
#
#   tls_pystream.py recv PORT CERT KEY CA BUF
#   tls_pystream.py send PORT CERT KEY CA BUF BYTES PEER_NAME
# Mutual certificate authentication (the receiver requires the sender's
# certificate, the sender checks the receiver's name), TLS 1.3 only,
# default cipher suites. Logs on stdout, in socat's words where
# tls_stream.py reads them: "listening on", "SSL proto version used: V",
# "SSL connection using C", then "received N bytes" / "sent N bytes".
import socket
import ssl
import sys


def context(server, cert, key, ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def flush(sock, out):
    data = out.read()
    if data:
        sock.sendall(data)


def handshake(sock, so, inc, out, buf):
    while True:
        try:
            so.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush(sock, out)
            data = sock.recv(buf)
            if not data:
                raise OSError("peer closed during the handshake")
            inc.write(data)
    flush(sock, out)
    print("SSL proto version used: %s" % so.version())
    print("SSL connection using %s" % so.cipher()[0], flush=True)


def recv(port, cert, key, ca, buf):
    ctx = context(True, cert, key, ca)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    print("listening on 127.0.0.1:%d" % port, flush=True)
    sock, _ = ls.accept()
    ls.close()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    so = ctx.wrap_bio(inc, out, server_side=True)
    handshake(sock, so, inc, out, buf)
    rbuf, pbuf = bytearray(buf), bytearray(buf)
    rmv = memoryview(rbuf)
    total, done = 0, False
    while not done:
        n = sock.recv_into(rbuf)
        if n == 0:
            raise OSError("EOF without close_notify after %d bytes" % total)
        inc.write(rmv[:n])
        while True:
            try:
                k = so.read(buf, pbuf)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                k = 0
            if k == 0:  # close_notify (Python returns 0 for it)
                done = True
                break
            total += k
    sock.close()
    print("received %d bytes" % total, flush=True)


def send(port, cert, key, ca, buf, nbytes, peer):
    ctx = context(False, cert, key, ca)
    sock = socket.create_connection(("127.0.0.1", port))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    so = ctx.wrap_bio(inc, out, server_side=False, server_hostname=peer)
    handshake(sock, so, inc, out, buf)
    zero = memoryview(bytes(buf))
    left = nbytes
    while left:
        k = min(buf, left)
        so.write(zero[:k])
        flush(sock, out)
        left -= k
    try:
        so.unwrap()  # close_notify; the peer's is not waited for
    except ssl.SSLWantReadError:
        pass
    flush(sock, out)
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):  # until the receiver has read it all and closed
        pass
    sock.close()
    print("sent %d bytes" % nbytes, flush=True)


def main():
    a = sys.argv[1:]
    if len(a) == 6 and a[0] == "recv":
        recv(int(a[1]), a[2], a[3], a[4], int(a[5]))
    elif len(a) == 8 and a[0] == "send":
        send(int(a[1]), a[2], a[3], a[4], int(a[5]), int(a[6]), a[7])
    else:
        sys.exit("usage: tls_pystream.py recv PORT CERT KEY CA BUF | "
                 "send PORT CERT KEY CA BUF BYTES PEER_NAME")


if __name__ == "__main__":
    try:
        main()
    except (OSError, ssl.SSLError, ValueError) as ex:
        sys.exit("tls_pystream.py: %s" % ex)
