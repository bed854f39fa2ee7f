#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""qd1_timeline.py - where the time of a QD1 NBD request cycle goes.

    perf script -i trace.data -F tid,time,event,trace | qd1_timeline.py OPS

Input: the tracepoints scripts/bench_profile.sh (mode nbd-timeline) records
on the server: syscalls (request reads, replies, pwrite/fdatasync of nbdkit)
and io_uring submit/complete of wbrepd's engine. At QD1 these events form a
repeating sequence; every step (previous event -> event) is listed with
its count per client op and its median and mean duration, sorted by the
time it takes per op. io_uring requests are named by ring (the ring with
the most submissions is called "log", the next "backing") and opcode;
events of the backing ring are counted but left out of the sequence (at
QD1 they run beside it: destage). Gaps over 50 ms (before and after the
job) are left out.
"""
import collections
import re
import statistics
import sys

EV = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$")


def main():
    ops = float(sys.argv[1]) if len(sys.argv) > 1 else 0
    rows = []
    for line in sys.stdin:
        m = EV.match(line)
        if m:
            rows.append((float(m.group(2)), m.group(1), m.group(3), m.group(4)))
    rows.sort()
    rings = collections.Counter()
    for t, tid, ev, tr in rows:
        if ev.endswith("io_uring_submit_req"):
            rings[re.search(r"ring (\w+)", tr).group(1)] += 1
    rname = {r: n for r, n in zip([r for r, _ in rings.most_common()], ["log", "backing", "ring3"])}
    last_op = {}
    seq, side = [], collections.Counter()
    for t, tid, ev, tr in rows:
        lab = None
        if ev.endswith("io_uring_submit_req"):
            r = rname[re.search(r"ring (\w+)", tr).group(1)]
            op = re.search(r"opcode (\w+)", tr).group(1)
            last_op[(r, re.search(r"user_data (\w+)", tr).group(1))] = op
            lab = f"{r} {op} submitted"
        elif ev.endswith("io_uring_complete"):
            r = rname.get(re.search(r"ring (\w+)", tr).group(1), "?")
            ud = re.search(r"user_data (\w+)", tr).group(1)
            lab = f"{r} {last_op.get((r, ud), '?')} completed"
        elif "sys_exit_" in ev:
            name = ev.split("sys_exit_")[1]
            ret = int(re.search(r"0x([0-9a-f]+)", tr).group(1), 16)
            if ret >= 1 << 63:
                continue  # an error (EAGAIN)
            if name in ("read", "readv", "recvfrom"):
                if ret == 0 or ret == 8:
                    continue  # EOF, eventfd
                lab = f"{name} returned {ret} B (request)"
            else:
                lab = f"{name} returned"
        elif "sys_enter_" in ev:
            name = ev.split("sys_enter_")[1]
            if name in ("read", "readv", "recvfrom"):
                continue  # the exit says what came
            lab = name + " called"
        if lab is None:
            continue
        if lab.startswith("backing") or lab.startswith("ring3"):
            side[lab] += 1
            continue
        seq.append((t, lab))
    if len(seq) < 3:
        print("no events")
        return 1
    steps = collections.defaultdict(list)
    span = 0.0
    for (t0, a), (t1, b) in zip(seq, seq[1:]):
        d = (t1 - t0) * 1e6
        if d > 50000:
            continue  # idle (before and after the job)
        steps[(a, b)].append(d)
        span += d
    n = ops or 1
    print(f"{len(seq)} events in {span / 1e3:.1f} ms; per op {span / n:.1f} us ({n:.0f} ops)")
    print("\n| step | per op | median us | mean us | us per op |\n|---|---|---|---|---|")
    tot = sorted(steps.items(), key=lambda kv: -sum(kv[1]))
    for (a, b), d in tot[:16]:
        print(f"| {a} -> {b} | {len(d) / n:.2f} | {statistics.median(d):.1f} |"
              f" {statistics.mean(d):.1f} | {sum(d) / n:.1f} |")
    if side:
        print("\nbeside the sequence (per op): " +
              ", ".join(f"{k} {v / n:.2f}" for k, v in side.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
