#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# engine_report.py - turns the engine section's raw results into table rows
# and tests/bench/results/engine.json.
#
#   engine_report.py ENGINE_JSONL FIO_DIR OUT_JSON
# ENGINE_JSONL: the lines printed by wbbench_engine (one JSON object each);
# FIO_DIR: fio-<case>.json files (fio --output-format=json) of the raw peer.
# Prints one row per case on stdout: case|engine|raw|ratio|target|status
# (status: met, missed, info = no target, n/a = not measurable with this
# engine). Exit 1 if an expected input is missing or unreadable.
import json
import os
import platform
import sys
import time


def load_engine(path):
    res = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            o = json.loads(line)
            key = o["case"]
            if key in ("randwrite", "seqwrite", "randread", "randwrite_stats",
                       "seqwrite_stats", "sustained", "sustained_stats"):
                key = "%s_qd%d" % (key, o["qd"])
            if "destage" in o and key != "destage":
                key += "_" + o["destage"]
            res[key] = o
    return res


def load_fio(d, name):
    path = os.path.join(d, "fio-%s.json" % name)
    with open(path) as f:
        text = f.read()
    # fio may print warnings before the JSON document
    o = json.loads(text[text.index("{"):])
    job = o["jobs"][0]
    rw = job["write"] if job["write"]["io_bytes"] else job["read"]
    return {
        "iops": rw["iops"],
        "mbps": rw["bw_bytes"] / 1048576.0,
        "lat_us": rw["lat_ns"]["mean"] / 1000.0,
        "bytes": rw["io_bytes"],
        "secs": job["job_runtime"] / 1000.0,
    }


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: engine_report.py ENGINE_JSONL FIO_DIR OUT_JSON")
    eng = load_engine(sys.argv[1])
    fio_dir, out_json = sys.argv[2], sys.argv[3]
    raw = {n: load_fio(fio_dir, n)
           for n in ("randwrite_qd1", "randwrite_qd32", "seqwrite", "randread", "seqread")}
    # destage's peer: two jobs at once (read the log span + write as much);
    # rate = bytes written / the longer job's runtime
    dp = os.path.join(fio_dir, "fio-destage_peer.json")
    if os.path.exists(dp):
        with open(dp) as f:
            text = f.read()
        jobs = json.loads(text[text.index("{"):])["jobs"]
        wbytes = sum(j["write"]["io_bytes"] for j in jobs)
        secs = max(j["job_runtime"] for j in jobs) / 1000.0
        raw["destage_peer"] = {"mbps": wbytes / 1048576.0 / secs if secs else 0.0,
                               "bytes": wbytes, "secs": secs}
    if os.path.exists(os.path.join(fio_dir, "fio-sustained.json")):
        raw["sustained"] = load_fio(fio_dir, "sustained")
    engine_name = next((v["engine"] for v in eng.values() if "engine" in v), "?")
    cases = []

    def add(name, unit, e, r, target=None, higher=True, note=""):
        c = {"case": name, "unit": unit, "engine": e, "raw": r, "ratio": None,
             "target": target, "status": "info", "note": note}
        if e is None:
            c["status"] = "n/a"
        elif r:
            c["ratio"] = e / r
        if e is not None and target is not None:
            v = c["ratio"] if r is not None else e
            if v is None:
                c["status"] = "n/a"
            else:
                c["status"] = "met" if (v >= target if higher else v <= target) else "missed"
        cases.append(c)

    def absorbed(k):
        st = eng.get(k.replace("write_", "write_stats_"))
        if not st:
            return ""
        return "%d MiB destaged meanwhile, %d throttle events" % (
            st["destaged_bytes"] >> 20, st["throttle_events"])

    e = eng["randwrite_qd1_hold"]
    add("4K randwrite QD1 (burst, destage held)", "IOPS", e["iops"],
        raw["randwrite_qd1"]["iops"],
        note="mean latency %.0f us vs raw %.0f us" % (e["lat_us"], raw["randwrite_qd1"]["lat_us"]))
    e = eng["randwrite_qd32_hold"]
    add("4K randwrite QD32 (burst, destage held)", "IOPS", e["iops"],
        raw["randwrite_qd32"]["iops"], 1.5,
        note="%d MiB in %.1f s" % (e["bytes"] >> 20, e["secs"]))
    e = eng["randwrite_qd32_default"]
    add("4K randwrite QD32 (default watermarks)", "IOPS", e["iops"],
        raw["randwrite_qd32"]["iops"], note=absorbed("randwrite_qd32_default"))
    e = eng.get("sustained_qd32_default")
    if e and "sustained" in raw:
        st = eng.get("sustained_stats_qd32_default", {})
        add("4K randwrite QD32 sustained (%.0f s, default watermarks)" % e["secs"], "IOPS",
            e["iops"], raw["sustained"]["iops"], 0.7,
            note="%d MiB written, %d MiB destaged, %d throttle events, %d MiB dirty at the end;"
            " raw fio %.0f s" % (e["bytes"] >> 20, st.get("destaged_bytes", 0) >> 20,
                                 st.get("throttle_events", 0), st.get("dirty_bytes", 0) >> 20,
                                 raw["sustained"]["secs"]))
    e = eng["seqwrite_qd8_hold"]
    add("1M seq write QD8 (burst, destage held)", "MiB/s", e["mbps"], raw["seqwrite"]["mbps"],
        0.8, note="%d MiB in %.1f s" % (e["bytes"] >> 20, e["secs"]))
    e = eng["seqwrite_qd8_default"]
    add("1M seq write QD8 (default watermarks)", "MiB/s", e["mbps"], raw["seqwrite"]["mbps"],
        note=absorbed("seqwrite_qd8_default"))
    e = eng["randread_qd32_hold"]
    add("4K randread cached QD32", "IOPS", e["iops"], raw["randread"]["iops"],
        note="128 MiB in the log/RAM, every block's stamp checked")

    rp, ds = eng.get("replay"), eng.get("destage")
    peer = raw.get("destage_peer")
    if rp and rp["log_used"] > 0 and ds and ds["bytes"] > 0:
        add("destage vs raw seq write", "MiB/s", ds["mbps"], raw["seqwrite"]["mbps"],
            None if peer else 0.8,
            note="%d MiB dirty after reopen drained in %.2f s" %
            (ds["bytes"] >> 20, ds["secs"]))
        if peer:
            add("destage vs fio log read + write", "MiB/s", ds["mbps"], peer["mbps"], 0.8,
                note="fio read %d MiB of the log file and wrote as much at once in %.2f s"
                % (peer["bytes"] >> 20, peer["secs"]))
    else:
        add("destage vs raw seq write", "MiB/s", None, raw["seqwrite"]["mbps"], 0.8,
            note="engine %s has no log to destage" % engine_name)
    if rp and rp["log_used"] > 0:
        gib = rp["log_used"] / float(1 << 30)
        add("replay vs raw seq read", "MiB/s", rp["mbps"], raw["seqread"]["mbps"], 0.5,
            note="%.2f s for %.2f GiB of log = %.2f s/GiB (raw read: %.2f s/GiB)" %
            (rp["secs"], gib, rp["secs"] / gib, 1024.0 / raw["seqread"]["mbps"]))
    else:
        add("replay vs raw seq read", "MiB/s", None, raw["seqread"]["mbps"], 0.5,
            note="engine %s has no log to replay" % engine_name)
    x = eng["extmap"]
    add("bytes/extent (1M random extents)", "B", x["bytes_per_extent"], None, 32.0,
        higher=False, note="%d extents, %d bytes" % (x["extents"], x["mem_bytes"]))
    em = eng.get("randwrite_stats_qd32_hold")
    if em and em["extents"]:
        add("bytes/extent (engine map after QD32 burst)", "B",
            em["extent_mem_bytes"] / float(em["extents"]), None, 32.0, higher=False,
            note="%d extents" % em["extents"])

    doc = {
        "section": "engine",
        "engine": engine_name,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"node": platform.node(), "kernel": platform.release(),
                 "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "cases": cases,
        "engine_raw": eng,
        "fio_raw": raw,
    }
    with open(out_json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    def fmt(v):
        if v is None:
            return "-"
        return "%.0f" % v if v >= 100 else "%.2f" % v

    for c in cases:
        tgt = "-" if c["target"] is None else ("%s %g%s" % (
            ">=" if c["unit"] != "B" else "<=", c["target"], "x" if c["raw"] else ""))
        ratio = "-" if c["ratio"] is None else "%.2fx" % c["ratio"]
        print("%s|%s %s|%s|%s|%s|%s%s" % (
            c["case"], fmt(c["engine"]), c["unit"] if c["engine"] is not None else "",
            "-" if c["raw"] is None else "%s %s" % (fmt(c["raw"]), c["unit"]),
            ratio, tgt, c["status"], (" (" + c["note"] + ")") if c["note"] else ""))


if __name__ == "__main__":
    main()
