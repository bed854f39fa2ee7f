#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# cluster_report.py - turns the cluster section's results into table rows
# and tests/bench/results/cluster.json.
#
#   cluster_report.py DIR OUT_JSON < META_JSON
# META_JSON (from tests/bench/section_cluster.sh on stdin): token_ms, load,
# runtime, rounds and the failover samples (ms lists: cut_to_writethrough_ms,
# crash_to_membership_ms, crash_to_promoted_ms, crash_to_first_write_ms;
# crash_of_dc: whether each crashed node was pacemaker's DC). DIR holds
# fio-NAME-rN.json and mode-NAME-rN.txt ("MODE_BEFORE MODE_AFTER
# PREP_MS": the drains and mode switch before the run) of round N = 1, 2,
# ... for NAME in wb_qd1mem, wt_qd1mem, wb_qd32, wt_qd32 and b_wb_qd1mem,
# b_wt_qd1mem (protocol B). A round counts when both runs of its pair are
# there; a pair with no round gives a row with no value. Each write-back vs
# write-through row shows the median round: the one whose ratio is the
# median of the rounds' ratios (the lower middle one for an even count),
# its runs under "fio" in the JSON as NAME (the shape of the single-run
# days), every round under "pairs" and in the row's note. Prints
# case|wbrep|peer|ratio|target|status rows; targets (issue 11) are
# reported, never enforced.
import json
import os
import platform
import sys
import time


def load_fio(d, name):
    """one run's results, or None when it is missing or did no I/O"""
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
            m = f.read().split()
        r["mode_before"], r["mode_after"] = m[:2]
        if len(m) > 2:
            r["prep_ms"] = int(m[2])
    except (OSError, ValueError):
        r["mode_before"] = r["mode_after"] = "?"
    return r


def load_pairs(d, wb, wt, ratio):
    """the rounds of the pair wb / wt (run names without -rN) as a list of
    {round, order, wb, wt, ratio}, ratio(wb_run, wt_run) = how much faster
    write-back was; rounds 1, 2, ... until the first with neither run"""
    rounds = []
    n = 1
    while True:
        a, b = load_fio(d, "%s-r%d" % (wb, n)), load_fio(d, "%s-r%d" % (wt, n))
        if a is None and b is None and not any(
                os.path.exists(os.path.join(d, "fio-%s-r%d.json" % (x, n))) for x in (wb, wt)):
            return rounds
        if a and b:
            rounds.append({"round": n, "order": "wb,wt" if n % 2 else "wt,wb", "wb": a, "wt": b,
                           "ratio": round(ratio(a, b), 3)})
        n += 1


def median_round(rounds):
    """the round whose ratio is the median (lower middle for an even count)"""
    return sorted(rounds, key=lambda x: x["ratio"])[(len(rounds) - 1) // 2] if rounds else None


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
    rounds = meta.get("rounds")
    pairs = {
        "qd1mem": load_pairs(d, "wb_qd1mem", "wt_qd1mem",
                             lambda wb, wt: wt["lat_mean_us"] / wb["lat_mean_us"]),
        "qd32": load_pairs(d, "wb_qd32", "wt_qd32", lambda wb, wt: wb["iops"] / wt["iops"]),
        "b_qd1mem": load_pairs(d, "b_wb_qd1mem", "b_wt_qd1mem",
                               lambda wb, wt: wt["lat_mean_us"] / wb["lat_mean_us"]),
        # the same pairs on one node without peers (section "solo")
        "solo_qd1mem": load_pairs(d, "solo_wb_qd1mem", "solo_wt_qd1mem",
                                  lambda wb, wt: wt["lat_mean_us"] / wb["lat_mean_us"]),
        "solo_qd32": load_pairs(d, "solo_wb_qd32", "solo_wt_qd32",
                                lambda wb, wt: wb["iops"] / wt["iops"]),
    }
    # "fio": the median round's runs under the names of the single-run days
    fio = {}
    for key, pre in (("qd1mem", ""), ("qd32", ""), ("b_qd1mem", "b_"), ("solo_qd1mem", "solo_"),
                     ("solo_qd32", "solo_")):
        tag = key[len(pre):]
        m = median_round(pairs[key])
        fio[pre + "wb_" + tag] = m["wb"] if m else None
        fio[pre + "wt_" + tag] = m["wt"] if m else None
    rows = []

    def mode_notes(key, wbname, wtname):
        notes = []
        for rd in pairs[key]:
            for run, name, want in ((rd["wb"], wbname, "writeback"),
                                    (rd["wt"], wtname, "writethrough")):
                if run["mode_before"] != want or run["mode_after"] != want:
                    notes.append("; %s round %d ran in %s -> %s (wanted %s)" %
                                 (name, rd["round"], run["mode_before"], run["mode_after"], want))
        return "".join(notes)

    def row(case, v, peer, ratio, target, status, extra=None):
        r = {"case": case, "value": v, "peer": peer, "ratio": ratio, "target": target,
             "status": status}
        r.update(extra or {})
        rows.append(r)

    def solo_note(tag):
        """the same pair on one node without peers, when it ran"""
        m = median_round(pairs["solo_" + tag])
        return "; one node without peers on the same disk: %.2fx" % m["ratio"] if m else ""

    def rounds_note(key):
        """how many rounds, the ratios per round and their range"""
        rs = pairs[key]
        v = [x["ratio"] for x in rs]
        short = "" if rounds is None or len(rs) == rounds else " (of %d asked)" % rounds
        return "median of %d round%s%s, %.2f-%.2fx: %s" % (
            len(rs), "s" if len(rs) != 1 else "", short, min(v), max(v),
            " ".join("%.2f" % x for x in v))

    def rounds_fields(key):
        v = [x["ratio"] for x in pairs[key]]
        return {"rounds": len(v), "ratios": v, "ratio_min": min(v), "ratio_max": max(v),
                "median_round": median_round(pairs[key])["round"]}

    def pair_head(key, case, target, tg):
        """the median round of a pair and its status, or None after a "no
        sample" row; target None: for reference only"""
        m = median_round(pairs[key])
        if not m:
            row(case, "-", "-", "-", tg, "no sample")
            return None, None
        return m, "info" if not target else ("met" if m["ratio"] >= target else "missed")

    def qd1_row(prefix, case, target):
        """write-back vs write-through at QD1: the median of the rounds'
        ratios of the mean latencies"""
        key = prefix + "qd1mem"
        tg = ">= %gx faster" % target if target else "(3x, for reference)"
        m, st = pair_head(key, case, target, tg)
        if not m:
            return
        wb, wt, r = m["wb"], m["wt"], m["ratio"]
        per = " ".join("%.0f/%.0f" % (x["wb"]["lat_mean_us"], x["wt"]["lat_mean_us"])
                       for x in pairs[key])
        p50 = " ".join("%.0f/%.0f" % (x["wb"]["p50_us"], x["wt"]["p50_us"]) for x in pairs[key])
        p50r = " ".join("%.2f" % (x["wt"]["p50_us"] / x["wb"]["p50_us"]) if x["wb"]["p50_us"]
                        else "-" for x in pairs[key])
        row(case, "%.0f us" % wb["lat_mean_us"], "%.0f us write-through" % wt["lat_mean_us"],
            "%.2fx" % r, tg,
            st + " (%s; mean WB/WT us per round %s; p50 %s us = %sx; median round %d: "
            "p99 %.0f vs %.0f us, %.0f vs %.0f IOPS%s)" %
            (rounds_note(key), per, p50, p50r, m["round"], wb["p99_us"], wt["p99_us"],
             wb["iops"], wt["iops"], mode_notes(key, prefix + "wb_qd1mem", prefix + "wt_qd1mem") +
             (solo_note("qd1mem") if not prefix else "")),
            rounds_fields(key))

    def qd32_row(prefix, case, target):
        """write-back vs write-through at QD32: the median of the rounds'
        IOPS ratios"""
        key = prefix + "qd32"
        tg = ">= %gx" % target if target else "(2x, for reference)"
        m, st = pair_head(key, case, target, tg)
        if not m:
            return
        wb, wt, r = m["wb"], m["wt"], m["ratio"]
        per = " ".join("%.0f/%.0f" % (x["wb"]["iops"], x["wt"]["iops"]) for x in pairs[key])
        row(case, "%.0f IOPS" % wb["iops"], "%.0f IOPS write-through" % wt["iops"], "%.2fx" % r,
            tg, st + " (%s; WB/WT IOPS per round %s; median round %d: mean latency %.0f vs "
            "%.0f us%s)" %
            (rounds_note(key), per, m["round"], wb["lat_mean_us"], wt["lat_mean_us"],
             mode_notes(key, prefix + "wb_qd32", prefix + "wt_qd32") +
             (solo_note("qd32") if not prefix else "")),
            rounds_fields(key))

    qd1_row("", "4K write QD1 ack=memory, write-back vs write-through (mean latency)", 3)
    qd1_row("b_", "4K write QD1 ack=memory protocol B, write-back vs write-through (mean latency)",
            None)
    qd32_row("", "4K randwrite QD32 ack=log, write-back vs write-through (IOPS)", 2)
    qd1_row("solo_", "one node, no peers, same disk: 4K write QD1 ack=memory, write-back vs "
            "write-through (mean latency)", None)
    qd32_row("solo_", "one node, no peers, same disk: 4K randwrite QD32 ack=log, write-back vs "
             "write-through (IOPS)", None)

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
           "target_failover_ms": tfo, "target_cut_tests_ms": tcut, "fio": fio,
           "pairs": pairs, "rows": rows}
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
