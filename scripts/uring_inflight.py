#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""uring_inflight.py - what a process kept in flight on its io_uring rings.

    perf script -i trace.data -F time,event,trace | uring_inflight.py

Input: io_uring:io_uring_submit_req and io_uring:io_uring_complete of one
process (scripts/bench_profile.sh, mode engine). Pairs them by request and
prints, per ring and opcode, the requests, bytes (from the completions'
results), mean time in flight and mean number in flight; then the share of
the traced time with reads only, writes only, both, or nothing in flight
(reads: READ/READV; writes: WRITE/WRITEV), i.e. whether the disk was kept
busy with both directions at once as a concurrent fio read + write job is.
"""
import collections
import re
import sys

EV = re.compile(r"^\s*([\d.]+):\s+io_uring:(io_uring_submit_req|io_uring_complete):\s*(.*)$")


def main():
    sub = {}
    spans = []  # (t0, t1, ring, op, bytes)
    for line in sys.stdin:
        m = EV.match(line)
        if not m:
            continue
        t, ev, tr = float(m.group(1)), m.group(2), m.group(3)
        ring = re.search(r"ring (\w+)", tr).group(1)
        req = re.search(r"req (\w+)", tr).group(1)
        if ev == "io_uring_submit_req":
            sub[(ring, req)] = (t, re.search(r"opcode (\w+)", tr).group(1))
        else:
            s = sub.pop((ring, req), None)
            if s:
                res = int(re.search(r"result (-?\d+)", tr).group(1))
                spans.append((s[0], t, ring, s[1], max(res, 0)))
    if not spans:
        print("no paired requests")
        return 1
    t0 = min(s[0] for s in spans)
    t1 = max(s[1] for s in spans)
    T = t1 - t0
    rings = {}
    for s in sorted(spans):
        rings.setdefault(s[2], f"ring{len(rings) + 1}")
    per = collections.defaultdict(lambda: [0, 0, 0.0])
    for a, b, r, op, n in spans:
        p = per[(rings[r], op)]
        p[0] += 1
        p[1] += n
        p[2] += b - a
    print(f"traced {T:.3f} s, {len(spans)} requests")
    print("\n| ring | op | requests | MiB | MiB/s | mean in flight (ms) | mean number in flight |")
    print("|---|---|---|---|---|---|---|")
    for (r, op), (c, n, busy) in sorted(per.items()):
        print(f"| {r} | {op} | {c} | {n / 2**20:.0f} | {n / 2**20 / T:.0f} |"
              f" {busy / c * 1e3:.2f} | {busy / T:.1f} |")
    # time with reads / writes in flight
    ev = []
    for a, b, r, op, n in spans:
        k = "r" if op.startswith("READ") else "w" if op.startswith("WRITE") else None
        if k:
            ev += [(a, k, 1), (b, k, -1)]
    ev.sort()
    cur = {"r": 0, "w": 0}
    share = collections.Counter()
    last = t0
    for t, k, d in ev:
        state = ("reads" if cur["r"] else "") + ("+" if cur["r"] and cur["w"] else "") + \
            ("writes" if cur["w"] else "")
        share[state or "nothing"] += t - last
        last = t
        cur[k] += d
    print("\ntime with in flight: " + ", ".join(f"{k} {100 * v / T:.0f} %"
                                              for k, v in share.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
