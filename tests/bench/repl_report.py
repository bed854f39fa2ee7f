#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# repl_report.py - turns the repl section's results into table rows and
# tests/bench/results/repl.json.
#
#   repl_report.py DIR OUT_JSON
# DIR (written by tests/bench/section_repl.sh) holds, per case NAME,
# fio-NAME.json (fio --output-format=json), case-NAME.json (nodes, protocol,
# ack, mode, CPU ticks and context switches of every wbrepd before and
# after fio) and
# status-{before,after}-NAME.json (the primary's `wbctl status --json`);
# plus meta.json, iperf3.json (iperf3 -J), speed-aes-{128,256}-gcm.txt
# (openssl speed -mr), tls-ping-run{1,2,3}.json (wbtlsstream --ping: the
# TLS round trip of the QD1 floor; optional) and tls-stream.json
# (tests/bench/tls_stream.py: a
# TLS 1.3 stream per tool, 1 and 2 at once; or {"skipped": "reason"}; a DIR
# without it is an older run: the old bound is used). The TLS ceiling of
# the seq and resync rows is wbtlsstream's stream (a replication link's
# TLS work and nothing else): one stream for 2 nodes and the resync, the
# per-stream rate of two concurrent streams for 3 nodes, never above
# min(iperf3, aes-256-gcm) (/2 for 3 nodes), the old bound, which is the
# ceiling without a wbtlsstream measurement and which the notes keep
# showing. socat's and python's streams are info rows only: off-the-shelf
# tools, slower than wbrepd itself, never a ceiling. Prints one row per table line on stdout:
# case|wbrep|peer|ratio|target|status (status: met, missed, info = no
# target). Targets (issues 10 and 11) are reported, never enforced.
# Exit 1 with a message if an input is missing or malformed.
import json
import os
import platform
import sys
import time

CASES = ("seq_n1", "seq_n2", "seq_n3", "qd32_n1", "qd32_n2", "qd32_n3", "qd1_n1",
         "qd1_n2_A", "qd1_n2_B", "qd1_n2_C", "qd1_n3_A", "qd1_n3_B", "qd1_n3_C",
         "wt_qd32_n3", "wb_qd1mem_n3", "wt_qd1mem_n3")
MIB = 1048576.0


def load_json(path):
    with open(path) as f:
        text = f.read()
    # fio may print warnings before the JSON document
    return json.loads(text[text.index("{"):])


def load_fio(path):
    job = load_json(path)["jobs"][0]
    if job.get("error"):
        raise ValueError("%s: fio job error %d" % (path, job["error"]))
    w = job["write"]
    if not w["io_bytes"]:
        raise ValueError("%s: no write done" % path)
    pct = w.get("clat_ns", {}).get("percentile", {})
    if "50.000000" not in pct or "99.000000" not in pct:
        raise ValueError("%s: no completion latency percentiles" % path)
    return {"iops": w["iops"], "mibps": w["bw_bytes"] / MIB, "bytes": w["io_bytes"],
            "ios": w["total_ios"], "lat_mean_us": w["lat_ns"]["mean"] / 1000.0,
            "p50_us": pct["50.000000"] / 1000.0, "p99_us": pct["99.000000"] / 1000.0,
            "secs": job["job_runtime"] / 1000.0}


def parse_ticks(s):
    """'alpha 12 beta 34' -> {'alpha': 12, 'beta': 34}"""
    f = s.split()
    if not f or len(f) % 2:
        raise ValueError("bad CPU tick list %r" % s)
    return {f[i]: int(f[i + 1]) for i in range(0, len(f), 2)}


def load_status(path):
    """mode and peers of the primary's status, or None if it was not taken."""
    try:
        r = load_json(path)["resources"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    return {"mode": r.get("mode"), "mode_forced": r.get("mode_forced"),
            "seq_head": r.get("seq", {}).get("head"),
            "peers": [{k: p.get(k) for k in ("node", "connection", "disk", "seq_lag",
                                              "acked_seq")} for p in r.get("peers") or []]}


def load_case(d, name):
    c = load_json(os.path.join(d, "case-%s.json" % name))
    t0, t1 = parse_ticks(c["ticks_before"]), parse_ticks(c["ticks_after"])
    if sorted(t0) != sorted(t1) or len(t0) != c["nodes"]:
        raise ValueError("case %s: CPU ticks for %s / %s, %d nodes" %
                         (name, sorted(t0), sorted(t1), c["nodes"]))
    f = load_fio(os.path.join(d, "fio-%s.json" % name))
    cpu = {n: (t1[n] - t0[n]) / float(c["clk_tck"]) for n in t0}
    mib = f["bytes"] / MIB
    # voluntary context switches of every thread alive (older runs: none)
    csw = None
    if c.get("csw_before") and c.get("csw_after"):
        w0, w1 = parse_ticks(c["csw_before"]), parse_ticks(c["csw_after"])
        csw = {n: (w1[n] - w0[n]) / float(f["ios"]) for n in w0 if n in w1}
    c.update({"fio": f, "cpu_s": cpu, "csw_per_write": csw, "cpu_s_total": sum(cpu.values()),
              "cpu_ms_per_mib": 1000.0 * sum(cpu.values()) / mib,
              "cpu_ms_per_mib_node": {n: 1000.0 * v / mib for n, v in cpu.items()},
              "status_before": load_status(os.path.join(d, "status-before-%s.json" % name)),
              "status_after": load_status(os.path.join(d, "status-after-%s.json" % name))})
    return c


def load_speed(path):
    """openssl speed -mr: '+F:N:NAME:BYTES_PER_SEC' for the one -bytes size."""
    with open(path) as f:
        for line in f:
            if line.startswith("+F:"):
                return float(line.strip().split(":")[3]) / MIB
    raise ValueError("%s: no +F: line" % path)


def load_tls_stream(path):
    """tls_stream.py's result: ({tool: summary or {"skipped": reason}}, reason
    why nothing was measured or None)"""
    if not os.path.exists(path):
        return {}, "no tls-stream.json (a run before the measured stream)"
    t = load_json(path)
    if t.get("skipped"):
        return {}, t["skipped"]
    out = {}
    for tool, v in t["tools"].items():
        if v.get("skipped"):
            out[tool] = {"skipped": v["skipped"]}
            continue
        ks = ("1", "2")
        for k in ks:
            if v["streams"][k]["mibps_per_stream"] <= 0:
                raise ValueError("%s: %s stream rate %r" % (path, tool,
                                                            v["streams"][k]["mibps_per_stream"]))
        st = v["streams"]
        out[tool] = {
            "version": v["version"], "how": v["how"], "buf": t["buf"],
            "protocol": st["1"]["protocol"], "cipher": st["1"]["cipher"],
            "mibps_per_stream": {k: st[k]["mibps_per_stream"] for k in ks},
            "mib_per_run": {k: st[k]["mib_per_stream"] for k in ks},
            "runs_mibps_per_stream": {k: [r["mibps_per_stream"] for r in st[k]["runs"]]
                                      for k in ks},
            "cpu_ms_per_mib": {k: {"send": st[k]["cpu_ms_per_mib_send"],
                                   "recv": st[k]["cpu_ms_per_mib_recv"]} for k in ks},
            "loadavg": [r["loadavg"] for k in ks for r in st[k]["runs"]]}
    if not any("skipped" not in v for v in out.values()):
        return out, "; ".join("%s: %s" % (k, v["skipped"]) for k, v in out.items())
    return out, None


def load_ping(d):
    """wbtlsstream --ping runs (tls-ping-runK.json): the median run by p50,
    its p50s, or (None, reason)"""
    runs = []
    for k in (1, 2, 3):
        path = os.path.join(d, "tls-ping-run%d.json" % k)
        if os.path.exists(path):
            r = load_json(path)
            if r.get("mode") != "ping" or not r.get("p50_us") or r["p50_us"] <= 0:
                raise ValueError("%s: not a wbtlsstream --ping result" % path)
            runs.append(r)
    if not runs:
        return None, "no wbtlsstream --ping run (an older run, or it failed: see the log)"
    runs.sort(key=lambda r: r["p50_us"])
    med = dict(runs[(len(runs) - 1) // 2])
    med["runs_p50_us"] = [r["p50_us"] for r in runs]
    return med, None


def fmt(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.2f" % v


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: repl_report.py DIR OUT_JSON")
    d, out_json = sys.argv[1], sys.argv[2]
    meta = load_json(os.path.join(d, "meta.json"))
    cs = {n: load_case(d, n) for n in CASES}
    ip = load_json(os.path.join(d, "iperf3.json"))
    link = {"iperf3_mibps": ip["end"]["sum_received"]["bits_per_second"] / 8 / MIB,
            "aes128gcm_mibps": load_speed(os.path.join(d, "speed-aes-128-gcm.txt")),
            "aes256gcm_mibps": load_speed(os.path.join(d, "speed-aes-256-gcm.txt"))}
    # the old bound: TCP over loopback or the cipher TLS 1.3 negotiates
    # (AES-256-GCM first in OpenSSL's default order), each alone; a real
    # TLS stream pays both on the same two CPUs
    bound = min(link["iperf3_mibps"], link["aes256gcm_mibps"])
    link["iperf3_aes_bound_mibps"] = bound
    # the measured ceiling: wbtlsstream, a replication link's TLS work and
    # nothing else (1 stream: 2 nodes and the resync; per stream of 2 at
    # once: 3 nodes), never above the old bound; socat and python are
    # off-the-shelf tools, slower than wbrepd itself: info rows, never the
    # ceiling
    ts, ts_skip = load_tls_stream(os.path.join(d, "tls-stream.json"))
    link["tls_streams"] = ts
    wb = ts.get("wbtlsstream", {"skipped": ts_skip or "wbtlsstream not run"})
    link["tls_stream_skipped"] = wb.get("skipped")
    if "skipped" not in wb:
        link["tls_stream_mibps"] = wb["mibps_per_stream"]["1"]
        link["tls_stream2_mibps_per_stream"] = wb["mibps_per_stream"]["2"]
        link["tls_ceiling_mibps"] = min(bound, link["tls_stream_mibps"])
        link["tls_ceiling_n3_mibps"] = min(bound / 2, link["tls_stream2_mibps_per_stream"])
        link["tls_ceiling_source"] = (
            "wbtlsstream, 1 stream / per stream of 2 at once, at most the iperf3/aes bound "
            "(/2 for 3 nodes)")
    else:
        link["tls_stream_mibps"] = link["tls_stream2_mibps_per_stream"] = None
        link["tls_ceiling_source"] = "min(iperf3, aes-256-gcm), /2 for 3 nodes (%s)" % (
            wb["skipped"])
        link["tls_ceiling_mibps"] = bound
        link["tls_ceiling_n3_mibps"] = bound / 2
    measured = link["tls_stream_mibps"] is not None
    ceiling = {2: link["tls_ceiling_mibps"], 3: link["tls_ceiling_n3_mibps"]}
    cname = {2: "TLS ceiling",
             3: "TLS ceiling (per stream of 2)" if measured else "TLS ceiling/2"}

    def row_ceiling(v, n):
        """(ceiling, its name, note) of a row of n nodes (resync: 2) with
        wbrepd's rate v: wbtlsstream's stream only if wbrepd did not beat
        it in this run (then it was no upper bound at this load: a rate is
        the CPU share the scheduler gave), else the iperf3/aes bound"""
        ob = bound / (n - 1)
        if not measured or v <= ceiling[n]:
            return ceiling[n], cname[n], ""
        return ob, "iperf3/aes bound" + ("/2" if n > 2 else ""), (
            "wbtlsstream (%.0f MiB/s%s) slower than wbrepd in this run: no upper bound at "
            "this load, the ceiling is the iperf3/aes bound (compare CPU ms/MiB)" %
            (ceiling[n], " per stream of 2" if n > 2 else ""))

    rows = []

    def row(name, v, unit, peer_v, peer, target=None, higher=True, note="", kind="info"):
        r = {"case": name, "kind": kind, "value": v, "unit": unit, "peer_value": peer_v,
             "peer": peer, "ratio": (v / peer_v) if (peer_v and v is not None) else None,
             "target": target, "higher_is_better": higher, "status": "info", "note": note}
        if target is not None and r["ratio"] is not None:
            ok = r["ratio"] >= target if higher else r["ratio"] <= target
            r["status"] = "met" if ok else "missed"
        rows.append(r)

    def mode_note(name, want):
        """say so when a case did not run in the mode it was meant for"""
        s = []
        for when in ("before", "after"):
            st = cs[name]["status_" + when]
            if st is None:
                s.append("no status %s the run" % when)
            elif st["mode"] != want:
                s.append("mode %s the run: %s (wanted %s)" % (when, st["mode"], want))
        return "; ".join(s)

    def note(*parts):
        return "; ".join(p for p in parts if p)

    row("link: iperf3 loopback, 1 TCP stream", link["iperf3_mibps"], "MiB/s", None, "-")
    row("link: openssl speed aes-128-gcm 16 KiB", link["aes128gcm_mibps"], "MiB/s", None, "-")
    row("link: openssl speed aes-256-gcm 16 KiB (TLS 1.3 default)", link["aes256gcm_mibps"],
        "MiB/s", None, "-")
    for tool, t in sorted(ts.items(), key=lambda x: (x[0] != "wbtlsstream", x[0])):
        role = ("the TLS ceiling" if tool == "wbtlsstream"
                else "off-the-shelf, for scale; not a ceiling")
        if "skipped" in t:
            row("link: %s TLS stream (%s)" % (tool, role), None, "MiB/s", None, "-",
                note=t["skipped"] + ("; TLS ceiling = iperf3/aes bound"
                                     if tool == "wbtlsstream" else ""), kind="skipped")
            continue
        for k in ("1", "2"):
            v, c = t["mibps_per_stream"][k], t["cpu_ms_per_mib"][k]
            ob = bound / int(k)
            role_k = role
            if tool == "wbtlsstream":
                role_k = "the TLS ceiling for %s%s" % (
                    "2 nodes and resync" if k == "1" else "3 nodes",
                    "" if v <= ob else ", capped at the iperf3/aes bound")
            row("link: %s %s, %s over 127.0.0.1 (%s)" %
                (tool, t["protocol"], "1 stream" if k == "1" else "2 streams at once, per stream",
                 role_k),
                v, "MiB/s", None, "-",
                note="%s, median of %s MiB/s, %d MiB per stream and run%s; CPU ms/MiB "
                "sender %.2f, receiver %.2f; %.2fx iperf3/aes bound%s (%.0f MiB/s)" %
                (t["cipher"], " ".join("%.0f" % x for x in t["runs_mibps_per_stream"][k]),
                 t["mib_per_run"][k],
                 "" if tool == "wbtlsstream" else ", buffer %d" % t["buf"],
                 c["send"], c["recv"], v / ob, "" if k == "1" else "/2", ob))
    if "wbtlsstream" not in ts:
        row("link: wbtlsstream TLS stream (the TLS ceiling)", None, "MiB/s", None, "-",
            note="%s; TLS ceiling = iperf3/aes bound" % link["tls_stream_skipped"],
            kind="skipped")

    s1 = cs["seq_n1"]["fio"]["mibps"]
    ncpu = os.cpu_count() or 1

    def cpu_bound(n):
        """What this machine's CPUs allow n nodes, estimated from this
        run's CPU per MiB: every node doing the single node's work per MiB
        (the primary does exactly that: NBD receive, log write, destage;
        a secondary its own log write and destage, with the link's
        receive instead of the NBD one) and each of the n-1 links what the
        bare TLS stream's two ends cost (wbtlsstream, per stream of n-1
        at once); fio's own CPU left out. A replicated write that wastes
        nothing on top still needs this much, so on ncpu CPUs shared by
        every node it cannot go faster. None without the stream's CPU
        figures."""
        t = ts.get("wbtlsstream", {})
        c = t.get("cpu_ms_per_mib", {}).get(str(n - 1))
        one = cs["seq_n1"]["cpu_ms_per_mib"]
        if not c or not one:
            return None
        per_mib = n * one + (n - 1) * (c["send"] + c["recv"])
        return {"ncpu": ncpu, "ms_per_mib": per_mib, "mibps": ncpu * 1000.0 / per_mib,
                "single_ms_per_mib": one, "tls_send_ms_per_mib": c["send"],
                "tls_recv_ms_per_mib": c["recv"]}

    link["cpu_bound"] = {}
    row("1M seq write QD8, single node vs TLS ceiling", s1, "MiB/s",
        link["tls_ceiling_mibps"], "TLS ceiling",
        note=note("%.2fx iperf3/aes bound" % (s1 / bound), mode_note("seq_n1", "writeback")))
    for n in (2, 3):
        c = cs["seq_n%d" % n]
        v = c["fio"]["mibps"]
        # the primary encrypts and sends every byte to each of its n-1
        # peers: for 3 nodes, the rate of each of two streams at once
        ob = bound / (n - 1)
        ceil, cn, why = row_ceiling(v, n)
        ref, refname = (s1, "single") if s1 <= ceil else (ceil, cn)
        cb = cpu_bound(n)
        cb_note = ""
        if cb:
            link["cpu_bound"][str(n)] = dict(cb, ceiling_ratio=cb["mibps"] / ceil,
                                             achieved=v / cb["mibps"])
            cb_note = ("what %d CPUs allow (estimate): %d x single node %.2f + %d x bare "
                       "TLS link %.2f + %.2f = %.2f ms/MiB -> at most %.0f MiB/s = %.2fx %s; "
                       "this run %.2fx that" %
                       (ncpu, n, cb["single_ms_per_mib"], n - 1, cb["tls_send_ms_per_mib"],
                        cb["tls_recv_ms_per_mib"], cb["ms_per_mib"], cb["mibps"],
                        cb["mibps"] / ceil, cn, v / cb["mibps"]))
        row("1M seq write QD8, %d nodes (protocol C)" % n, v, "MiB/s", ref, refname, 0.8,
            note=note("%.2fx single node, %.2fx %s (%.0f MiB/s), %.2fx iperf3/aes bound%s "
                      "(%.0f MiB/s)" % (v / s1, v / ceil, cn, ceil, v / ob,
                                        "/2" if n > 2 else "", ob),
                      cb_note, why, mode_note("seq_n%d" % n, "writeback")), kind="seq")
    q1 = cs["qd32_n1"]["fio"]["iops"]
    for n in (2, 3):
        name = "qd32_n%d" % n
        row("4K randwrite QD32, %d nodes (protocol C)" % n, cs[name]["fio"]["iops"], "IOPS", q1,
            "single", note=mode_note(name, "writeback"), kind="qd32")

    def csw_note(name):
        w = cs[name]["csw_per_write"]
        if not w:
            return ""
        return "wake-ups (voluntary context switches) per write %.1f (%s)" % (
            sum(w.values()), ", ".join("%s %.1f" % (k, v) for k, v in sorted(w.items())))

    l1 = cs["qd1_n1"]["fio"]
    # the floor of a protocol C write at QD1: the single node's write plus
    # one bare TLS round trip of a 4 KiB record's frame and its ack
    ping, ping_skip = load_ping(d)
    link["tls_ping"] = ping
    floor_note = {}
    if ping:
        floor = l1["p50_us"] + ping["p50_us"]
        row("link: wbtlsstream TLS round trip, %d B out, %d B back (QD1 floor)" %
            (ping["size"], ping["reply"]), ping["p50_us"], "us", None, "-", higher=False,
            note="p50, median of %s us (%d round trips each); p99 %.1f us; %s %s; "
            "protocol C QD1 floor = single node p50 + this = %.1f us = %.2fx single" %
            (" ".join("%.1f" % x for x in ping["runs_p50_us"]), ping["round_trips"],
             ping["p99_us"], ping["protocol"], ping["cipher"], floor, floor / l1["p50_us"]))
        for n in (2, 3):
            floor_note[n] = ("floor (single + TLS round trip) %.1f us: %.2fx single, this "
                             "case %.2fx the floor" % (floor, floor / l1["p50_us"],
                                                       cs["qd1_n%d_C" % n]["fio"]["p50_us"] /
                                                       floor))
    else:
        row("link: wbtlsstream TLS round trip (QD1 floor)", None, "us", None, "-",
            note=ping_skip, kind="skipped")
    for n in (2, 3):
        for p in "ABC":
            name = "qd1_n%d_%s" % (n, p)
            f = cs[name]["fio"]
            row("4K write QD1 p50 latency, %d nodes, protocol %s" % (n, p), f["p50_us"], "us",
                l1["p50_us"], "single", 2.0 if p == "C" else None, higher=False,
                note=note("p99 %s vs %s us single, %s vs %s IOPS" %
                          (fmt(f["p99_us"]), fmt(l1["p99_us"]), fmt(f["iops"]),
                           fmt(l1["iops"])), floor_note.get(n) if p == "C" else "",
                          ("protocol A (waits for no peer's ack) %.2fx single: the peer's "
                           "work on the same CPUs alone" %
                           (cs["qd1_n%d_A" % n]["fio"]["p50_us"] / l1["p50_us"]))
                          if p == "C" else "",
                          csw_note(name),
                          "single node's %s" % csw_note("qd1_n1") if p == "C" and n == 2 else "",
                          mode_note(name, "writeback")), kind="qd1")
    for kind, label in (("seq", "1M seq write"), ("qd32", "4K randwrite QD32")):
        one = cs["%s_n1" % kind]
        for n in (2, 3):
            c = cs["%s_n%d" % (kind, n)]
            per = ", ".join("%s %.1f" % (k, v) for k, v in sorted(c["cpu_ms_per_mib_node"].items()))
            row("CPU ms per MiB written, %s, %d nodes (all nodes)" % (label, n),
                c["cpu_ms_per_mib"], "ms/MiB", one["cpu_ms_per_mib"], "single",
                note="per node: %s; single %.1f" % (per, one["cpu_ms_per_mib"]), kind="cpu")
    wb, wt = cs["wb_qd1mem_n3"]["fio"], cs["wt_qd1mem_n3"]["fio"]
    row("4K write QD1 ack=memory, 3 nodes: write-back vs write-through", wb["iops"], "IOPS",
        wt["iops"], "write-through", 3.0,
        note=note("p50 %s vs %s us" % (fmt(wb["p50_us"]), fmt(wt["p50_us"])),
                  mode_note("wb_qd1mem_n3", "writeback"),
                  mode_note("wt_qd1mem_n3", "writethrough")), kind="wbwt")
    wb, wt = cs["qd32_n3"]["fio"], cs["wt_qd32_n3"]["fio"]
    row("4K randwrite QD32 ack=log, 3 nodes: write-back vs write-through", wb["iops"], "IOPS",
        wt["iops"], "write-through", 2.0,
        note=note("write-back = the qd32 3-node run above",
                  mode_note("wt_qd32_n3", "writethrough")), kind="wbwt")

    # resync (issue 10: >= 0.8x the link ceiling unthrottled); the target
    # writes what the source reads and encrypts once: one link's ceiling
    rs = None
    if os.path.exists(os.path.join(d, "resync.json")):
        rs = load_json(os.path.join(d, "resync.json"))
        rs["mibps"] = rs["bytes"] / MIB / (rs["ms"] / 1000.0)
        # both daemons' CPU over the resync (beta's from its start: the
        # log format and the hello are in it too)
        b, a = parse_ticks(rs["ticks_before"]), parse_ticks(rs["ticks_after"])
        mib = rs["bytes"] / MIB
        rs["cpu_ms_per_mib_node"] = {
            n: (a[n] - b.get(n, 0)) * 1000.0 / rs["clk_tck"] / mib for n in a}
        rs["cpu_ms_per_mib"] = sum(rs["cpu_ms_per_mib_node"].values())
        ceil, cn, why = row_ceiling(rs["mibps"], 2)
        row("full resync, 2 nodes, unthrottled (%d MiB)" % (rs["bytes"] // MIB), rs["mibps"],
            "MiB/s", ceil, cn, 0.8,
            note=note("%.2fx iperf3/aes bound (%.0f MiB/s), %.2fx iperf3, %.2fx aes-128-gcm; %d ms; "
                      "CPU ms/MiB: source %.1f, target %.1f (from its start)" %
                      (rs["mibps"] / bound, bound, rs["mibps"] / link["iperf3_mibps"],
                       rs["mibps"] / link["aes128gcm_mibps"], rs["ms"],
                       rs["cpu_ms_per_mib_node"]["alpha"], rs["cpu_ms_per_mib_node"]["beta"]),
                      why),
            kind="resync")

    for r in rows:
        if r["value"] is None and r["kind"] != "skipped":
            raise ValueError("row %s has no value" % r["case"])
        if r["kind"] == "skipped":
            r["status"] = "skipped"

    doc = {
        "section": "repl",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"node": platform.node(), "kernel": platform.release(),
                 "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "setup": meta,
        "link": link,
        "rows": rows,
        "cases": cs,
        "resync": rs,
    }
    with open(out_json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for r in rows:
        tgt = "-"
        if r["target"] is not None:
            tgt = "%s %gx %s" % (">=" if r["higher_is_better"] else "<=", r["target"], r["peer"])
        ratio = "-" if r["ratio"] is None else "%.2fx" % r["ratio"]
        peer = "-" if r["peer_value"] is None else "%s %s %s" % (fmt(r["peer_value"]), r["unit"],
                                                                 r["peer"])
        val = "-" if r["value"] is None else "%s %s" % (fmt(r["value"]), r["unit"])
        print("%s|%s|%s|%s|%s|%s%s" % (r["case"], val, peer, ratio,
                                          tgt, r["status"],
                                          (" (" + r["note"] + ")") if r["note"] else ""))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as ex:
        sys.exit("repl_report.py: %s" % ex)
