#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# tls_stream.py - the measured TLS link ceiling of the repl section: a bare
# TLS 1.3 byte stream over 127.0.0.1 between two processes, mutual
# certificate authentication, default cipher suites (as daemon/tls.c).
#
#   tls_stream.py DIR OUT_JSON [--secs S] [--buf BYTES] [--runs N]
#                 [--streams 1,2] [--tools wbtlsstream,socat,python] [--warmup-mib M]
#                 [--mib M] [--wbtlsstream PATH]
# DIR holds ca.crt and alpha/beta/gamma.{crt,key} (section_repl.sh's
# repl_certs). Three tools, each measured alone:
#   wbtlsstream  build/tests/bench/wbtlsstream DIR N --streams K (the
#           ceiling: a replication link's TLS work and nothing else, its
#           buffers and options as daemon/tls.c and peerlink.c; --buf does
#           not apply, it writes and reads 1 MiB at a time). It forks the
#           receivers and senders itself, checks the bytes, protocol and
#           cipher, times each stream and reports each end's CPU (wait4) as
#           JSON; this script checks the bytes again from that JSON.
#   socat   receiver socat -d -d -u -b BUF OPENSSL-LISTEN:P,bind=127.0.0.1,
#             cert=beta.crt,key=beta.key,cafile=ca.crt,verify=1 OPEN:/dev/null
#           sender socat -d -d -u -b BUF OPEN:/dev/zero,readbytes=N
#             OPENSSL:127.0.0.1:P,cert=alpha.crt,key=alpha.key,cafile=ca.crt,
#             verify=1,commonname=beta
#   python  tests/bench/tls_pystream.py recv / send: OpenSSL on memory BIOs,
#           BUF bytes of records per recv(2) / send(2) (socat reads one
#           record per loop with ~8 syscalls, which this VM makes costly)
# For each stream count K: K receivers (beta, then gamma) and K senders
# started together, all from alpha, as the 3-node primary sends every byte
# to both of its peers. One warm-up run of 256 MiB per stream sizes N so
# that a run lasts about S seconds; then N runs, the median is kept. A run's
# per-stream rate is N bytes over the time from the senders' start to the
# last receiver's exit (so with K = 2 both streams share the CPUs the whole
# time). Checks, or the tool is skipped with the reason in the JSON: every
# process exits 0; every receiver got exactly N bytes (python: it counts
# them; socat: its /proc/PID/io wchar, read after it exited and before it
# is reaped, minus its own log and at most 8 KiB of its own socket writes,
# the handshake flight, tickets and closing alert, 2.6 KB here: no pipe or
# extra copy on the receiving side to count them); both ends log the same
# protocol and cipher. CPU: utime + stime of each process (wait4's rusage,
# process start and handshake included), in ms per MiB. Exit 1 only on a
# bad argument or when the JSON cannot be written.
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import sys
import threading
import time

MIB = 1 << 20
WBTLSSTREAM_PATH = None
WARMUP_MIB = 256
OTHER_WRITES_MAX = 8192
RECEIVERS = ("beta", "gamma")
HERE = os.path.dirname(os.path.abspath(__file__))
PYSTREAM = os.path.join(HERE, "tls_pystream.py")
WBTLSSTREAM = os.path.join(HERE, "..", "..", "build", "tests", "bench", "wbtlsstream")
CHILDREN = set()  # PIDs started and not yet reaped: killed on error/SIGTERM


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spawn(argv, log):
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
          (os.POSIX_SPAWN_DUP2, 1, 2)]
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=fa)
    CHILDREN.add(pid)
    return pid


def kill_children():
    for pid in list(CHILDREN):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        CHILDREN.discard(pid)


def proc_io(pid):
    io = {}
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            k, v = line.split(":")
            io[k] = int(v)
    return io


def waiter(pid, out):
    """wait for PID's exit, read its I/O counts before reaping it"""
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        out["t_exit"] = time.monotonic()
        try:
            out["io"] = proc_io(pid)
        except OSError as ex:
            out["io_error"] = str(ex)
        _, status, ru = os.wait4(pid, 0)
        CHILDREN.discard(pid)
        out["exit"] = os.waitstatus_to_exitcode(status)
        out["cpu_s"] = ru.ru_utime + ru.ru_stime
    except OSError as ex:
        out["wait_error"] = str(ex)


def log_tls(path):
    """(protocol, cipher) from socat's -d -d notices"""
    proto = cipher = None
    with open(path) as f:
        for line in f:
            if "SSL proto version used: " in line:
                proto = line.split("SSL proto version used: ")[1].strip()
            elif "SSL connection using " in line:
                cipher = line.split("SSL connection using ")[1].strip()
    return proto, cipher


def recv_argv(tool, d, port, r, buf):
    if tool == "socat":
        return ["socat", "-d", "-d", "-u", "-b", str(buf),
                "OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,cert=%s/%s.crt,key=%s/%s.key,"
                "cafile=%s/ca.crt,verify=1" % (port, d, r, d, r, d), "OPEN:/dev/null"]
    return [sys.executable, PYSTREAM, "recv", str(port), "%s/%s.crt" % (d, r),
            "%s/%s.key" % (d, r), "%s/ca.crt" % d, str(buf)]


def send_argv(tool, d, port, r, buf, nbytes):
    if tool == "socat":
        return ["socat", "-d", "-d", "-u", "-b", str(buf), "OPEN:/dev/zero,readbytes=%d" % nbytes,
                "OPENSSL:127.0.0.1:%d,cert=%s/alpha.crt,key=%s/alpha.key,cafile=%s/ca.crt,"
                "verify=1,commonname=%s" % (port, d, d, d, r)]
    return [sys.executable, PYSTREAM, "send", str(port), "%s/alpha.crt" % d, "%s/alpha.key" % d,
            "%s/ca.crt" % d, str(buf), str(nbytes), r]


def received(tool, r, nbytes):
    """bytes the receiver got beyond N (socat: its other writes), or raise"""
    if tool == "socat":
        # wchar: /dev/null + its log + its own socket writes (handshake
        # flight, session tickets, closing alert: a few KiB, less than one
        # 16 KiB record)
        if "io" not in r:
            raise RuntimeError("receiver pid %d: no /proc io: %s" % (r["pid"], r.get("io_error")))
        other = r["io"]["wchar"] - os.path.getsize(r["log"]) - nbytes
        if not 0 <= other <= OTHER_WRITES_MAX:
            raise RuntimeError("receiver %d: %d bytes written besides %d to /dev/null, "
                               "want 0..%d (see %s)" % (r["port"], other, nbytes,
                                                        OTHER_WRITES_MAX, r["log"]))
        return other
    with open(r["log"]) as f:
        got = [int(x.split()[1]) for x in f if x.startswith("received ")]
    if got != [nbytes]:
        raise RuntimeError("receiver %d: received %s bytes, %d sent (see %s)" %
                           (r["port"], got, nbytes, r["log"]))
    return 0


def one_run_wbts(d, k, mib, tag, timeout):
    """one run of wbtlsstream: it forks both ends of the K streams itself"""
    nbytes = mib * MIB
    log = os.path.join(d, "tls-%s.log" % tag)
    out = os.path.join(d, "tls-%s.json" % tag)
    argv = [WBTLSSTREAM_PATH, d, str(nbytes), "--streams", str(k)]
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
          (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
    CHILDREN.add(pid)
    res = {"pid": pid}
    t = threading.Thread(target=waiter, args=(pid, res))
    t.start()
    t.join(timeout)
    if t.is_alive():
        kill_children()  # its children die with it (PR_SET_PDEATHSIG)
        raise RuntimeError("wbtlsstream: %d stream(s) of %d MiB not done in %d s" %
                           (k, mib, timeout))
    if res.get("exit") != 0:
        with open(log) as f:
            why = f.read().strip().replace("\n", "; ")
        raise RuntimeError("wbtlsstream exit %s: %s" % (res.get("exit", res.get("wait_error")),
                                                        why or "no message"))
    with open(out) as f:
        w = json.load(f)
    if w["streams"] != k or len(w["per_stream"]) != k or w["bytes_per_stream"] != nbytes:
        raise RuntimeError("wbtlsstream: %s does not describe %d stream(s) of %d bytes"
                           % (out, k, nbytes))
    for s in w["per_stream"]:
        if s["bytes_received"] != nbytes:
            raise RuntimeError("wbtlsstream: %s received %s bytes, %d sent (see %s)" %
                               (s["peer"], s["bytes_received"], nbytes, out))
    secs = max(s["secs"] for s in w["per_stream"])
    return {"streams": k, "mib_per_stream": mib, "secs": secs,
            "mibps_per_stream": mib / secs, "mibps_total": k * mib / secs,
            "stream_secs": [s["secs"] for s in w["per_stream"]],
            "recv_other_writes": [0] * k,
            "protocol": w["protocol"], "cipher": w["cipher"],
            "cpu_ms_per_mib_send": [s["cpu_ms_per_mib_send"] for s in w["per_stream"]],
            "cpu_ms_per_mib_recv": [s["cpu_ms_per_mib_recv"] for s in w["per_stream"]],
            "loadavg": " ".join(open("/proc/loadavg").read().split()[:3])}


def one_run(d, tool, k, mib, buf, tag, timeout):
    if tool == "wbtlsstream":
        return one_run_wbts(d, k, mib, tag, timeout)
    nbytes = mib * MIB
    recv, send = [], []
    for i in range(k):
        r = RECEIVERS[i]
        port = free_port()
        log = os.path.join(d, "tls-%s-recv%d.log" % (tag, i))
        pid = spawn(recv_argv(tool, d, port, r, buf), log)
        recv.append({"pid": pid, "log": log, "port": port, "peer": r})
    end = time.monotonic() + 10
    for r in recv:
        while True:
            with open(r["log"]) as f:
                if "listening on" in f.read():
                    break
            if time.monotonic() > end:
                raise RuntimeError("%s receiver on port %d not listening after 10 s: see %s"
                                   % (tool, r["port"], r["log"]))
            time.sleep(0.01)
    threads = []
    for r in recv:
        threads.append(threading.Thread(target=waiter, args=(r["pid"], r)))
    t0 = time.monotonic()
    for i, r in enumerate(recv):
        log = os.path.join(d, "tls-%s-send%d.log" % (tag, i))
        pid = spawn(send_argv(tool, d, r["port"], r["peer"], buf, nbytes), log)
        s = {"pid": pid, "log": log}
        send.append(s)
        threads.append(threading.Thread(target=waiter, args=(pid, s)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, t0 + timeout - time.monotonic()))
        if t.is_alive():
            kill_children()
            raise RuntimeError("%d TLS stream(s) of %d MiB not done in %d s" % (k, mib, timeout))
    tls = set()
    for p in recv + send:
        if "wait_error" in p or p.get("exit") != 0:
            raise RuntimeError("%s pid %d: %s (see %s)" %
                               (tool, p["pid"], p.get("wait_error", "exit %s" % p.get("exit")),
                                p["log"]))
        tls.add(log_tls(p["log"]))
    for r in recv:
        r["other_writes"] = received(tool, r, nbytes)
    if len(tls) != 1 or None in next(iter(tls)):
        raise RuntimeError("TLS protocol/cipher not logged the same by every end: %s" % tls)
    secs = max(r["t_exit"] for r in recv) - t0
    return {"streams": k, "mib_per_stream": mib, "secs": secs,
            "mibps_per_stream": mib / secs, "mibps_total": k * mib / secs,
            "stream_secs": [r["t_exit"] - t0 for r in recv],
            "recv_other_writes": [r["other_writes"] for r in recv],
            "protocol": next(iter(tls))[0], "cipher": next(iter(tls))[1],
            "cpu_ms_per_mib_send": [1000.0 * s["cpu_s"] / mib for s in send],
            "cpu_ms_per_mib_recv": [1000.0 * r["cpu_s"] / mib for r in recv],
            "loadavg": " ".join(open("/proc/loadavg").read().split()[:3])}


def measure(d, tool, k, secs, buf, runs, warmup_mib, fixed_mib):
    w = one_run(d, tool, k, warmup_mib, buf, "%s-k%d-warmup" % (tool, k), 120)
    mib = fixed_mib or max(warmup_mib, int(w["mibps_per_stream"] * secs) // 64 * 64)
    rs = [one_run(d, tool, k, mib, buf, "%s-k%d-run%d" % (tool, k, i), max(120, 20 * secs))
          for i in range(runs)]
    med = statistics.median(r["mibps_per_stream"] for r in rs)
    return {"streams": k, "mib_per_stream": mib, "warmup": w, "runs": rs,
            "mibps_per_stream": med, "mibps_total": k * med,
            "protocol": rs[0]["protocol"], "cipher": rs[0]["cipher"],
            "cpu_ms_per_mib_send": statistics.median(
                x for r in rs for x in r["cpu_ms_per_mib_send"]),
            "cpu_ms_per_mib_recv": statistics.median(
                x for r in rs for x in r["cpu_ms_per_mib_recv"])}


def socat_version():
    out = os.popen("socat -V 2>/dev/null").read()
    for line in out.splitlines():
        if line.startswith("socat version"):
            return line.split()[2]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("out_json")
    ap.add_argument("--secs", type=float, default=4)
    ap.add_argument("--buf", type=int, default=1048576)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--streams", default="1,2")
    ap.add_argument("--tools", default="wbtlsstream,socat,python")
    ap.add_argument("--wbtlsstream", default=WBTLSSTREAM)
    # for tests: a smaller warm-up, a fixed size instead of --secs
    ap.add_argument("--warmup-mib", type=int, default=WARMUP_MIB)
    ap.add_argument("--mib", type=int, default=0)
    a = ap.parse_args()
    global WBTLSSTREAM_PATH
    WBTLSSTREAM_PATH = os.path.abspath(a.wbtlsstream)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("tls_stream.py: terminated"))
    doc = {"buf": a.buf, "runs_each": a.runs, "secs_target": a.secs,
           "ends": "sender (zeroes) -> TLS 1.3 -> receiver (discards), 127.0.0.1", "tools": {}}
    for tool in a.tools.split(","):
        if tool == "wbtlsstream":
            t = {"version": ssl.OPENSSL_VERSION + " (Python's; wbtlsstream prints its own)",
                 "how": "tests/bench/wbtlsstream.c: forked ends, SSL_write/SSL_read of 1 MiB, "
                 "BIO_f_buffer 1 MiB read / 256 KiB write as daemon/tls.c"}
        elif tool == "socat":
            t = {"version": "socat %s" % socat_version(), "how": "socat -u -b BUF, "
                 "OPEN:/dev/zero,readbytes=N -> OPENSSL / OPENSSL-LISTEN -> OPEN:/dev/null"}
        elif tool == "python":
            t = {"version": "Python %s, %s" % (platform.python_version(), ssl.OPENSSL_VERSION),
                 "how": "tests/bench/tls_pystream.py: memory BIOs, BUF per recv/send"}
        else:
            sys.exit("tls_stream.py: unknown tool %s" % tool)
        t["streams"] = {}
        try:
            if tool == "wbtlsstream" and not os.access(WBTLSSTREAM_PATH, os.X_OK):
                raise RuntimeError("%s not built (make all)" % WBTLSSTREAM_PATH)
            if tool == "socat" and not shutil.which("socat"):
                raise RuntimeError("socat not installed (scripts/deps.sh)")
            for k in (int(x) for x in a.streams.split(",")):
                m = measure(a.dir, tool, k, a.secs, a.buf, a.runs, a.warmup_mib, a.mib)
                t["streams"][str(k)] = m
                print("tls_stream: %s, %d stream(s): %.0f MiB/s per stream (%s, %s), runs %s, "
                      "CPU ms/MiB send %.2f recv %.2f" %
                      (tool, k, m["mibps_per_stream"], m["protocol"], m["cipher"],
                       " ".join("%.0f" % r["mibps_per_stream"] for r in m["runs"]),
                       m["cpu_ms_per_mib_send"], m["cpu_ms_per_mib_recv"]), file=sys.stderr)
        except (OSError, RuntimeError) as ex:
            t["skipped"] = str(ex)
            print("tls_stream: %s skipped: %s" % (tool, ex), file=sys.stderr)
        finally:
            kill_children()
        doc["tools"][tool] = t
    with open(a.out_json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    try:
        main()
    except (OSError, RuntimeError, ValueError) as ex:
        kill_children()
        sys.exit("tls_stream.py: %s" % ex)
