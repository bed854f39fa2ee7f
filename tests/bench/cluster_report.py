#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# cluster_report.py - turns the cluster section's results into table rows
# and tests/bench/results/cluster.json.
#
#   cluster_report.py DIR OUT_JSON < META_JSON
# META_JSON (from tests/bench/section_cluster.sh on stdin): token_ms, load,
# runtime and the failover samples (ms lists: cut_to_writethrough_ms,
# crash_to_membership_ms, crash_to_promoted_ms, crash_to_first_write_ms;
# crash_of_dc: whether each crashed node was pacemaker's DC). DIR holds
# fio-NAME.json and mode-NAME.txt ("MODE_BEFORE MODE_AFTER") for NAME in
# wb_qd1mem, wt_qd1mem, wb_qd32, wt_qd32 and b_wb_qd1mem, b_wt_qd1mem
# (protocol B; a missing pair gives a row with no value). Prints case|wbrep|peer|ratio|target|status rows; targets
# (issue 11) are reported, never enforced.
import json
import os
import platform
import sys
import time


def load_fio(d, name):
    try:
        with open(os.path.join(d, "fio-%s.json" % name)) as f:
            text = f.read()
        w = json.loads(text[text.index("{"):])["jobs"][0]["write"]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    if not w.get("io_bytes"):
        return None
    pct = w.get("clat_ns", {}).get("percentile", {})
    r = {"iops": w["iops"], "lat_mean_us": w["lat_ns"]["mean"] / 1000.0,
         "p50_us": pct.get("50.000000", 0) / 1000.0, "p99_us": pct.get("99.000000", 0) / 1000.0}
    try:
        with open(os.path.join(d, "mode-%s.txt" % name)) as f:
            r["mode_before"], r["mode_after"] = f.read().split()[:2]
    except (OSError, ValueError):
        r["mode_before"] = r["mode_after"] = "?"
    return r


def median(v):
    s = sorted(v)
    return s[(len(s) - 1) // 2] if s else None


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cluster_report.py DIR OUT_JSON < META_JSON")
    d, out = sys.argv[1], sys.argv[2]
    meta = json.load(sys.stdin)
    token = meta["token_ms"]
    tfo = token + 2000
    fio = {n: load_fio(d, n) for n in ("wb_qd1mem", "wt_qd1mem", "wb_qd32", "wt_qd32",
                                       "b_wb_qd1mem", "b_wt_qd1mem")}
    rows = []

    def mode_note(name, want):
        f = fio[name]
        if f["mode_before"] == want and f["mode_after"] == want:
            return ""
        return "; %s ran in %s -> %s (wanted %s)" % (name, f["mode_before"], f["mode_after"], want)

    def row(case, v, peer, ratio, target, status):
        rows.append({"case": case, "value": v, "peer": peer, "ratio": ratio, "target": target,
                     "status": status})

    def qd1_row(prefix, case, target):
        """write-back vs write-through at QD1: ratio of the mean latencies;
        target None: for reference only"""
        wb, wt = fio[prefix + "wb_qd1mem"], fio[prefix + "wt_qd1mem"]
        tg = ">= %gx faster" % target if target else "(3x, for reference)"
        if not (wb and wt):
            row(case, "-", "-", "-", tg, "no sample")
            return
        r = wt["lat_mean_us"] / wb["lat_mean_us"]
        st = "info" if not target else ("met" if r >= target else "missed")
        row(case, "%.0f us" % wb["lat_mean_us"], "%.0f us write-through" % wt["lat_mean_us"],
            "%.2fx" % r, tg, st + " (p50 %.0f vs %.0f us, p99 %.0f vs %.0f us, %.0f vs %.0f IOPS%s%s)" %
            (wb["p50_us"], wt["p50_us"], wb["p99_us"], wt["p99_us"], wb["iops"], wt["iops"],
             mode_note(prefix + "wb_qd1mem", "writeback"),
             mode_note(prefix + "wt_qd1mem", "writethrough")))

    qd1_row("", "4K write QD1 ack=memory, write-back vs write-through (mean latency)", 3)
    qd1_row("b_", "4K write QD1 ack=memory protocol B, write-back vs write-through (mean latency)",
            None)
    wb, wt = fio["wb_qd32"], fio["wt_qd32"]
    case = "4K randwrite QD32 ack=log, write-back vs write-through (IOPS)"
    if wb and wt:
        r = wb["iops"] / wt["iops"]
        row(case, "%.0f IOPS" % wb["iops"], "%.0f IOPS write-through" % wt["iops"], "%.2fx" % r,
            ">= 2x", ("met" if r >= 2 else "missed") +
            " (mean latency %.0f vs %.0f us%s%s)" %
            (wb["lat_mean_us"], wt["lat_mean_us"], mode_note("wb_qd32", "writeback"),
             mode_note("wt_qd32", "writethrough")))
    else:
        row(case, "-", "-", "-", ">= 2x", "no sample")

    def ms_row(case, key, target, extra=""):
        v = meta.get(key) or []
        m = median(v)
        if m is None:
            row(case, "-", "-", "-", "<= %d ms" % target if target else "-", "no sample")
            return
        st = "info"
        if target:
            st = "met" if m <= target else "missed"
        row("%s (ms, median of %d)" % (case, len(v)), "%d" % m, "-", "-",
            "<= %d ms" % target if target else "-",
            "%s (%s)%s" % (st, " ".join(str(x) for x in v), extra))

    tcut = token + token * 12 // 10 + 500
    ms_row("link cut -> write-through", "cut_to_writethrough_ms", tfo,
           "; the tests' bound token + consensus + 0.5 s = %d ms" % tcut)
    dcs = meta.get("crash_of_dc") or []
    ms_row("crash -> promoted node serves a write", "crash_to_first_write_ms", tfo,
           "; crashed node was the DC: %s" % " ".join("yes" if x else "no" for x in dcs))
    ms_row("crash -> corosync membership", "crash_to_membership_ms", None)
    ms_row("crash -> wbrepd primary (log)", "crash_to_promoted_ms", None)

    doc = {"section": "cluster", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "host": {"node": platform.node(), "kernel": platform.release(),
                    "cpus": os.cpu_count()},
           "target_failover_ms": tfo, "target_cut_tests_ms": tcut, "fio": fio, "rows": rows}
    doc.update(meta)
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for r in rows:
        print("|".join((r["case"], r["value"], r["peer"], r["ratio"], r["target"], r["status"])))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as ex:
        sys.exit("cluster_report.py: %s" % ex)
