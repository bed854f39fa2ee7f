#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""hostile.py - clients that try to make wbrepd spend memory or CPU without
bound, for test_bounds.sh. Each case prints PASS/FAIL lines and exits 1 on
a failure. PID is the daemon's pid: memory is read from /proc/PID/status
(VmRSS, VmHWM) before and after, and compared with the growth the daemon's
documented caps allow (docs/daemon.md, "Memory bounds") plus SLACK_MIB
(allocator and libevent bookkeeping).

  hostile.py ctl-flood CTLSOCK PID       pipeline status requests, never read
  hostile.py ctl-clients CTLSOCK [LOG]   the 65th control client is refused;
                                         with LOG: 300 more refusals add
                                         only rate-limited log lines
  hostile.py http-header HOST:PORT PID   an unterminated 32 MiB header line
  hostile.py http-idle HOST:PORT         a request that never ends is timed out
  hostile.py nbd-read-flood SOCK PID     32 reads of 32 MiB, replies not read
  hostile.py nbd-info-flood SOCK PID N   N connections flooding NBD_OPT_INFO,
                                         replies not read
  hostile.py nbd-idle HOST:PORT PID N CTLSOCK LOG MAXC
                                         N idle connections (past the file
                                         limit): wbctl status answers, CPU
                                         stays idle, log bounded, at most MAXC
                                         kept, handshake timeout closes them
  hostile.py nbd-export-max SOCK N        an export with max-clients N takes N
                                         clients, refuses one more, takes one
                                         again after a client left
  hostile.py nbd-write-flood SOCK PID RAM_MIB
                                         32 pipelined writes of 32 MiB into a
                                         RAM buffer of RAM_MIB, read back
"""
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import ctlraw  # noqa: E402
import nbdcli  # noqa: E402

MiB = 1 << 20
SLACK_MIB = int(os.environ.get("WB_BOUNDS_SLACK_MIB", "8"))

# the daemon's caps (daemon/ctl.c, daemon/metrics.c), see docs/daemon.md
CTL_IN_CAP = 8 + (1 << 20)
CTL_OUT_CAP = 256 << 10
HTTP_HDR_CAP = 16 << 10
# daemon/nbd.h, nbd_int.h
NBD_IBUF = 256 << 10
NBD_MAX_LEN = 32 << 20
NBD_REPLY_CAP = 32 << 20
NBD_OPT_REPLY_CAP = 64 << 10
# docs/daemon.md "NBD cap": input + one write payload + replies + the
# engine's bounce buffers for reads in flight (as large as their replies)
NBD_CONN_CAP = NBD_IBUF + NBD_MAX_LEN + 2 * (NBD_REPLY_CAP + 16) + 256 * 256
# engine/wblog_destage.c: the destage batch buffer of a wblog resource
DESTAGE_BUF = 32 << 20

fails = 0


def report(name, why):
    global fails
    if why:
        fails += 1
        print("FAIL %s: %s" % (name, why), flush=True)
    else:
        print("PASS %s" % name, flush=True)


def mem_kb(pid):
    """(VmRSS, VmHWM) of pid in KiB."""
    v = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                v[k] = int(rest.split()[0])
    return v["VmRSS"], v["VmHWM"]


def send_until_blocked(s, data, stall=2.0, deadline=60.0):
    """Send data on a non-blocking socket until all is sent, the peer stops
    reading for `stall` seconds, or it closes. Returns (sent, how) with how
    in "all", "blocked", "closed", "deadline"."""
    s.setblocking(False)
    sent, t_end = 0, time.monotonic() + deadline
    view = memoryview(data)
    while sent < len(data):
        if time.monotonic() > t_end:
            return sent, "deadline"
        try:
            n = s.send(view[sent:sent + 4 * MiB])
            sent += n
            continue
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            return sent, "closed"
        _, w, _ = select.select([], [s], [], stall)
        if not w:
            return sent, "blocked"
    return sent, "all"


# wbd_log_rl (daemon/wbd_log.h): at most 10 lines per 5 s per limiter, plus
# one "(N similar messages suppressed)" line
RL_BURST, RL_SECS = 10, 5.0


def log_lines(log):
    with open(log, errors="replace") as f:
        return sum(1 for _ in f)


def rl_bound(secs, limiters=1):
    """Most lines `limiters` rate limiters may log in secs seconds."""
    return limiters * (RL_BURST + 1) * (int(secs / RL_SECS) + 2)


# ------------------------------------------------------------ control socket
def ctl_flood(path, pid):
    """Pipeline many status requests and read none of the replies: the daemon
    must stop taking requests (and reading) once CTL_OUT_CAP bytes of replies
    are queued, then answer every request it took once we read."""
    n = 400000
    req = b"".join(ctlraw.frame(ctlraw.T_REQ, ctlraw.request(ctlraw.OP_STATUS, rid=i + 1))
                   for i in range(n))
    rss0, _ = mem_kb(pid)
    c = ctlraw.Conn(path)
    sent, how = send_until_blocked(c.s, req)
    time.sleep(1)
    rss1, _ = mem_kb(pid)
    grow = (rss1 - rss0) / 1024.0
    # one status reply for a handful of resources is a few hundred bytes
    cap = (CTL_IN_CAP + CTL_OUT_CAP + 64 * 1024) / MiB + SLACK_MIB
    why = None
    if how == "all":
        why = "the daemon took all %d requests (%d bytes) without its client reading" % (
            n, len(req))
    elif how != "blocked":
        why = "sending stopped: %s after %d bytes" % (how, sent)
    elif grow > cap:
        why = "RSS grew by %.1f MiB, bound %.1f MiB" % (grow, cap)
    report("ctl-output-cap (sent %d of %d bytes, RSS +%.1f MiB, bound %.1f MiB)" % (
        sent, len(req), grow, cap), why)
    # every complete request that was sent gets its reply, in order
    c.s.setblocking(True)
    c.s.settimeout(30)
    nreq = 0
    off = 0
    while off + 8 <= sent:
        ln = struct.unpack("<I", req[off:off + 4])[0]
        if off + 8 + ln > sent:
            break
        off += 8 + ln
        nreq += 1
    got, bad = 0, 0
    try:
        for _ in range(nreq):
            r = c.response()
            if r is None:
                break
            got += 1
            if r[0] != 0:
                bad += 1
    except Exception as e:  # noqa: BLE001
        report("ctl-output-cap-resume", "%s after %d replies" % (e, got))
        return
    c.s.close()
    report("ctl-output-cap-resume (%d replies)" % got,
           None if got == nreq and not bad else "%d of %d replies, %d errors" % (got, nreq, bad))


def ctl_conn(path):
    """A control connection; connect() blocks while the listen backlog is
    full instead of failing with EAGAIN."""
    c = ctlraw.Conn.__new__(ctlraw.Conn)
    c.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.s.connect(path)
    c.s.settimeout(10)
    return c


def ctl_clients(path, log=None):
    """At most 64 control clients: the 65th is closed at once, and once the
    others are gone a normal request is answered. With log: 300 more
    refused clients add no more lines than the rate limit allows."""
    held = []
    why = None
    refusals = None
    try:
        for _ in range(64):
            held.append(ctl_conn(path))
        # make sure the daemon accepted all 64 (each answers a status)
        for c in held:
            c.s.sendall(ctlraw.frame(ctlraw.T_REQ, ctlraw.request(ctlraw.OP_STATUS)))
        for c in held:
            r = c.response()
            if r is None or r[0] != 0:
                why = "a held client got no status reply: %r" % (r,)
                break
        if not why:
            x = ctl_conn(path)
            x.s.settimeout(10)
            try:
                d = x.s.recv(1)
            except ConnectionResetError:
                d = b""
            if d != b"":
                why = "the 65th client was not closed"
            x.s.close()
        if not why and log:
            n0, t0 = log_lines(log), time.monotonic()
            for _ in range(300):
                x = ctl_conn(path)
                try:
                    x.s.recv(1)
                except OSError:
                    pass
                x.s.close()
            time.sleep(0.5)
            secs = time.monotonic() - t0
            refusals = (log_lines(log) - n0, rl_bound(secs), secs)
    finally:
        for c in held:
            c.s.close()
    if not why:
        time.sleep(0.5)
        c = ctl_conn(path)
        c.s.sendall(ctlraw.frame(ctlraw.T_REQ, ctlraw.request(ctlraw.OP_STATUS)))
        r = c.response()
        if r is None or r[0] != 0:
            why = "no status reply after the clients left: %r" % (r,)
        c.s.close()
    report("ctl-max-clients", why)
    if refusals:
        n, bound, secs = refusals
        report("ctl-refusals-rate-limited (300 refused clients in %.1f s: %d log lines, "
               "bound %d)" % (secs, n, bound),
               None if n <= bound else "%d log lines for 300 refusals" % n)


# ------------------------------------------------------------ metrics HTTP
def http_conn(where):
    host, port = where.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def http_get_ok(where):
    s = http_conn(where)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    b = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        b += d
    s.close()
    return b.startswith(b"HTTP/1.") and b" 200 " in b.split(b"\r\n", 1)[0] and b"wbrep_up" in b


def http_header(where, pid):
    """An unterminated 32 MiB header line is cut off after the header cap."""
    total = 32 * MiB
    data = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * total
    rss0, _ = mem_kb(pid)
    s = http_conn(where)
    sent, how = send_until_blocked(s, data, stall=10.0, deadline=60.0)
    rss1, hwm = mem_kb(pid)
    s.close()
    grow = (rss1 - rss0) / 1024.0
    cap = HTTP_HDR_CAP / MiB + SLACK_MIB
    why = None
    if how not in ("closed", "blocked"):
        why = "not cut off: %s after %d of %d bytes" % (how, sent, len(data))
    elif sent >= len(data):
        why = "all %d bytes were taken" % sent
    elif grow > cap:
        why = "RSS grew by %.1f MiB, bound %.1f MiB" % (grow, cap)
    report("metrics-header-cap (%s after %d bytes, RSS +%.1f MiB)" % (how, sent, grow), why)
    report("metrics-serves-after-header-flood",
           None if http_get_ok(where) else "a normal scrape failed afterwards")


def http_idle(where):
    """A request that never completes is closed by the server's timeout."""
    s = http_conn(where)
    s.sendall(b"GET /metr")
    s.settimeout(40)
    t0 = time.monotonic()
    try:
        d = s.recv(4096)
        while d:
            d = s.recv(4096)
        why = None
    except socket.timeout:
        why = "still open after 40 s"
    except ConnectionResetError:
        why = None
    s.close()
    report("metrics-idle-timeout (closed after %.0f s)" % (time.monotonic() - t0), why)


# ------------------------------------------------------------ NBD
def rss_peak(pid, secs):
    """Highest VmRSS (KiB) seen over `secs` seconds."""
    peak, t_end = 0, time.monotonic() + secs
    while time.monotonic() < t_end:
        peak = max(peak, mem_kb(pid)[0])
        time.sleep(0.1)
    return peak


def nbd_read_flood(where, pid):
    """32 reads of 32 MiB on one connection whose replies are not read: the
    replies of requests in flight count against the connection's reply cap,
    so at most one 32 MiB read is held; once we read, all 32 are answered."""
    n, ln = 32, NBD_MAX_LEN
    rss0, _ = mem_kb(pid)
    c = nbdcli.Conn(where, timeout=60).connect()
    if c.size < ln:
        report("nbd-read-reply-cap", "export too small (%d bytes)" % c.size)
        return
    for i in range(n):
        c.send_req(nbdcli.CMD_READ, 1000 + i, 0, ln)
    peak = rss_peak(pid, 5)
    grow = (peak - rss0) / 1024.0
    cap = NBD_CONN_CAP / MiB + SLACK_MIB
    report("nbd-read-reply-cap (%d x %d MiB reads, RSS +%.1f MiB, bound %.1f MiB)" % (
        n, ln >> 20, grow, cap), None if grow <= cap else "RSS grew by %.1f MiB" % grow)
    why = None
    try:
        for i in range(n):
            err, h, data = c.reply(ln)
            if err or not 1000 <= h < 1000 + n or len(data) != ln:
                why = "reply %d: err %d handle %d len %d" % (i, err, h, len(data))
                break
        c.send_req(nbdcli.CMD_DISC, 1, 0, 0)
    except Exception as e:  # noqa: BLE001
        why = "%s: %s" % (type(e).__name__, e)
    c.close()
    report("nbd-read-reply-cap-resume", why)


def nbd_info_flood(where, pid, nconn):
    """nconn connections each send NBD_OPT_INFO options and read no reply:
    a connection in the handshake stops being read at NBD_OPT_REPLY_CAP."""
    opt = struct.pack(">QII", nbdcli.IHAVEOPT, nbdcli.OPT_INFO, 6) + struct.pack(">IH", 0, 0)
    data = opt * ((2 * MiB) // len(opt))
    rss0, _ = mem_kb(pid)
    conns, hows = [], {}
    for _ in range(nconn):
        c = nbdcli.Conn(where, timeout=10)
        c.greet()
        conns.append(c)
    # all connections in rounds (sequentially, 32 stalls would run into the
    # 10 s handshake timeout): after 3 s no connection may have got its
    # whole flood taken (the old server took everything at once)
    sent = [0] * nconn
    for c in conns:
        c.s.setblocking(False)
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        for i, c in enumerate(conns):
            if sent[i] < 0:
                continue
            try:
                while sent[i] < len(data):
                    sent[i] += c.s.send(data[sent[i]:sent[i] + 65536])
            except BlockingIOError:
                pass
            except OSError:
                sent[i] = -1
        time.sleep(0.05)
    for i in range(nconn):
        how = "all" if sent[i] >= len(data) else "closed" if sent[i] < 0 else "blocked"
        hows[how] = hows.get(how, 0) + 1
    peak = rss_peak(pid, 2)
    grow = (peak - rss0) / 1024.0
    cap = nconn * (NBD_IBUF + NBD_OPT_REPLY_CAP + 4096) / MiB + SLACK_MIB
    why = None
    if hows.get("blocked", 0) != nconn:
        why = "connections not throttled: %r" % hows
    elif grow > cap:
        why = "RSS grew by %.1f MiB" % grow
    report("nbd-handshake-reply-cap (%d connections, RSS +%.1f MiB, bound %.1f MiB)" % (
        nconn, grow, cap), why)
    for c in conns:
        c.close()


def cpu_s(pid):
    """utime + stime of pid in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def nbd_idle(where, pid, n, ctlsock, log, maxc):
    """n connections that send nothing, more than the daemon has file
    descriptors for: the daemon keeps at most maxc (closes the rest at
    accept), does not spin, logs a bounded number of lines, still answers
    wbctl, and closes the idle ones when the handshake timeout expires."""
    wbctl = os.environ.get("WBCTL", "build/wbctl")
    host, port = where.rsplit(":", 1)
    log0 = sum(1 for _ in open(log))
    conns = []
    for _ in range(n):
        try:
            s = socket.create_connection((host, int(port)), timeout=10)
            conns.append(s)
        except OSError:
            pass
    time.sleep(1)
    c0 = cpu_s(pid)
    t0 = time.monotonic()
    time.sleep(3)
    busy = (cpu_s(pid) - c0) / (time.monotonic() - t0)
    try:
        r = subprocess.run([wbctl, "-s", ctlsock, "status"], capture_output=True, timeout=20)
        st_ok = r.returncode == 0 and b"r0" in r.stdout
    except subprocess.TimeoutExpired:
        st_ok = False
    nlog = sum(1 for _ in open(log)) - log0
    # which connections did the daemon keep? those not closed at once
    kept = 0
    for s in conns:
        s.setblocking(False)
        try:
            d = s.recv(64)
            kept += 1 if d else 0  # greeting = kept; b"" = closed at accept
        except BlockingIOError:
            kept += 1  # greeting already consumed? no: nothing yet, still open
        except OSError:
            pass
    report("nbd-idle-status (%d connections, wbctl status answered)" % len(conns),
           None if st_ok else "wbctl status failed or timed out")
    report("nbd-idle-cpu (daemon busy %.0f%% of 3 s)" % (busy * 100),
           None if busy < 0.2 else "daemon spins: %.0f%% CPU" % (busy * 100))
    report("nbd-idle-log (%d new lines)" % nlog, None if nlog < 100 else "%d log lines" % nlog)
    report("nbd-idle-max-clients (%d kept, max %d)" % (kept, maxc),
           None if 0 < kept <= maxc else "daemon kept %d connections" % kept)
    # the handshake timeout (10 s) closes every kept connection
    t_end = time.monotonic() + 40
    still = 0
    for s in conns:
        s.setblocking(True)
        s.settimeout(max(0.1, t_end - time.monotonic()))
        try:
            while s.recv(4096):
                pass
        except socket.timeout:
            still += 1
        except OSError:
            pass
        s.close()
    report("nbd-handshake-timeout", None if not still else "%d connections still open" % still)


def nbd_export_max(where, n):
    held, why = [], None
    try:
        for i in range(n):
            held.append(nbdcli.Conn(where).connect())
        x = nbdcli.Conn(where)
        x.greet()
        typ, _ = x.info_go()
        if typ != 0x80000002:  # NBD_REP_ERR_POLICY
            why = "client %d got 0x%x, expected NBD_REP_ERR_POLICY" % (n + 1, typ)
        x.close()
        if not why:
            held.pop().close()
            time.sleep(0.5)
            c = nbdcli.Conn(where).connect()
            err, _ = c.io(nbdcli.CMD_READ, 0, 4096)
            if err:
                why = "read after a client left failed: %d" % err
            held.append(c)
    except Exception as e:  # noqa: BLE001
        why = "%s: %s" % (type(e).__name__, e)
    for c in held:
        c.close()
    report("nbd-export-max-clients (%d)" % n, why)


def nbd_write_flood(where, pid, ram_mib):
    """32 pipelined writes of 32 MiB into a small RAM buffer: the engine
    keeps no private copy of a throttled write and the connection reads no
    payload it cannot place, so memory stays at ram-buffer + one payload."""
    n, ln = 32, NBD_MAX_LEN
    rss0, _ = mem_kb(pid)
    c = nbdcli.Conn(where, timeout=120).connect()
    if c.size < n * ln:
        report("nbd-write-ram-hard-limit", "export too small (%d bytes)" % c.size)
        return
    pat = [bytes([i + 1]) * 4096 * 8 for i in range(n)]
    err = []

    def sender():
        try:
            for i in range(n):
                c.send_req(nbdcli.CMD_WRITE, 3000 + i, i * ln, ln,
                           payload=pat[i] * (ln // len(pat[i])))
        except Exception as e:  # noqa: BLE001
            err.append(e)

    th = threading.Thread(target=sender)
    th.start()
    peak, bad, got = 0, [], 0
    c.s.settimeout(120)
    try:
        for _ in range(n):
            e, h, _ = c.reply()
            got += 1
            if e:
                bad.append((h, e))
            peak = max(peak, mem_kb(pid)[0])
    except Exception as e:  # noqa: BLE001
        bad.append(str(e))
    th.join()
    peak = max(peak, mem_kb(pid)[0])
    grow = (peak - rss0) / 1024.0
    cap = ram_mib + (DESTAGE_BUF + NBD_IBUF + NBD_MAX_LEN) / MiB + SLACK_MIB
    why = None
    if err or bad:
        why = "send %r, replies %r" % (err, bad[:3])
    elif grow > cap:
        why = "RSS grew by %.1f MiB" % grow
    report("nbd-write-ram-hard-limit (%d x %d MiB writes, ram-buffer %d MiB, RSS +%.1f MiB, "
           "bound %.1f MiB)" % (n, ln >> 20, ram_mib, grow, cap), why)
    # every region holds its write
    why = None
    try:
        for r in range(n):
            for off in (0, ln // 2, ln - 4096 * 8):
                e, d = c.io(nbdcli.CMD_READ, r * ln + off, 4096 * 8)
                if e or d != pat[r]:
                    why = "region %d off %d: err %d, wrong data" % (r, off, e)
                    break
        c.send_req(nbdcli.CMD_DISC, 1, 0, 0)
    except Exception as e:  # noqa: BLE001
        why = "%s: %s" % (type(e).__name__, e)
    c.close()
    report("nbd-write-ram-hard-limit-data", why)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "ctl-flood":
        ctl_flood(a[0], int(a[1]))
    elif cmd == "ctl-clients":
        ctl_clients(*a[:2])
    elif cmd == "http-header":
        http_header(a[0], int(a[1]))
    elif cmd == "http-idle":
        http_idle(a[0])
    elif cmd == "nbd-read-flood":
        nbd_read_flood(a[0], int(a[1]))
    elif cmd == "nbd-idle":
        nbd_idle(a[0], int(a[1]), int(a[2]), a[3], a[4], int(a[5]))
    elif cmd == "nbd-export-max":
        nbd_export_max(a[0], int(a[1]))
    elif cmd == "nbd-write-flood":
        nbd_write_flood(a[0], int(a[1]), int(a[2]))
    elif cmd == "nbd-info-flood":
        nbd_info_flood(a[0], int(a[1]), int(a[2]))
    else:
        sys.exit(__doc__)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
