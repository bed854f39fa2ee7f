#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""perf_groups.py - where the CPU of one process went, from `perf script`.

    perf script -i perf.data -F comm,tid,ip,sym,dso |
        perf_groups.py [--bin PROFILED_BINARY] [TITLE]

Reads the samples of `perf record -g` (cpu-clock on this VM, no PMU) and
prints three small tables (markdown): samples per group (the first rule
below whose leaf or call-chain pattern matches; user-space samples of
the profiled binary by source file), per thread kind, and per
syscall (the __x64_sys_* frame of kernel samples, "-" for none), then the
top leaf symbols. Used by scripts/bench_profile.sh; the groups are the ones
of docs/benchmarks.md, "Issue 8's missed targets, profiled".
"""
import collections
import re
import subprocess
import sys

# (group, leaf regex or None, chain regex or None): first match wins. The
# leaf is "sym (dso)" of the sampled frame, the chain every frame's. On this
# VM (PVM guest, no PMU: cpu-clock) time with interrupts off is sampled at
# pvm_irq_enable, so most groups are found by the chain, not the leaf.
RULES = [
    ("io-wq workers", None, None),  # by thread name, below
    ("page faults", None, r"asm_exc_page_fault"),
    # interrupts enabled right in do_syscall_64: the syscall's entry (a
    # world switch on this PVM guest); samples on the libc wrapper's
    # instruction after the syscall (user mode) are the same cost
    ("syscall entry/exit", r"^(entry_SYSCALL|syscall_|do_syscall|x64_sys_call|"
     r"exit_to_user|arch_exit_to_user)|^(epoll_wait|read|write|readv|writev|__send|send|"
     r"sendto|sendmsg|__sendmsg|recv|recvmsg|__recv|syscall|__GI_syscall|__libc_\w+|"
     r"__GI___libc_\w+|__GI___readv|__GI___writev|fdatasync) \(\S*libc",
     r"^\S+ \(\S+\) (__raw_callee_save_pvm_irq_enable \(\S+\) )?do_syscall_64"),
    ("virtio kick (iowrite16, a trap to the host)", r"^(iowrite16|vp_notify)",
     r"vp_notify|virtqueue_notify"),
    ("sleep/wake: context switch", None, r"finish_task_switch|__schedule"),
    ("O_DIRECT page pin/unpin (GUP)", None, r"gup_fast|iov_iter_extract_pages|"
     r"bio_iov_iter_get_pages|unpin_user|bio_release_pages"),
    ("crc32c", r"crc32|crc_", None),
    ("copies", r"memcpy|memmove|rep_movs|copy_user|_copy_to_iter|_copy_from_iter"
     r"|copy_page_|copyin|copyout|skb_copy_datagram|__copy_", None),
    ("zeroing", r"memset|clear_page|clear_user", None),
    ("libevent", r"libevent", None),
    ("malloc/free", r"malloc|_int_free|cfree|calloc|realloc|tcache|\bfree\b", None),
    # user space of the profiled binary: by source file (nm -l), see srcgroup()
    ("user:", None, None),
    ("liburing", r"liburing", None),
    ("nbdkit (server + plugin code)", r"nbdkit", None),
    ("other user space", r"\((?!\[kernel)", None),
    ("block / virtio / fs", r"^(blk_|__blk|bio_|__bio|submit_bio|virtblk|virtqueue|vring|"
     r"virtio|__virt|ext4_|__ext4|iomap_|__iomap|jbd2|dio_|mpage|blkdev|"
     r"sbitmap|__sbitmap|dd_|bfq|kyber|elv_|rq_qos|wbt_)", r"submit_bio|blk_mq_|virtblk"
     r"|iomap_dio|ext4_file_write|ext4_file_read|vfs_fsync|ext4_sync_file"),
    ("page cache (buffered I/O)", r"^(filemap_|__filemap|folio|__folio|"
     r"generic_perform_write|pagecache|xa_|xas_|shmem)", r"generic_perform_write|"
     r"filemap_read|filemap_write"),
    ("waking another thread (try_to_wake_up)", None, r"try_to_wake_up"),
    ("TCP / unix socket", r"^(unix_|tcp_|__tcp|sock_|__sock|skb_|__skb|sk_|__sk|"
     r"kfree_skb|consume_skb|alloc_skb|__alloc_skb|inet_|ip_|__ip|__dev|net_|"
     r"scm_|__scm)", r"unix_stream_|tcp_sendmsg|tcp_recvmsg|sock_sendmsg|sock_recvmsg|"
     r"sock_read_iter|sock_write_iter"),
    ("epoll / eventfd", r"^(ep_|do_epoll|eventfd|__ep)", r"do_epoll_wait|eventfd_write|"
     r"eventfd_read|ep_poll"),
    ("futex", r"^futex", r"futex_"),
    ("io_uring (submit, complete, task work)", r"^(io_|__io_|tctx_)", r"io_uring_enter|"
     r"io_submit_sqes|io_issue_sqe|tctx_task_work|io_uring_cmd|io_cqring"),
    ("syscall entry/exit", r"^(__x64_sys|fpregs|switch_fpu|restore_fpregs|__fdget|fdget|"
     r"fput|__fput)", None),
    ("irq / softirq", None, r"asm_common_interrupt|asm_sysvec|handle_softirqs|"
     r"__do_softirq|irq_exit"),
    ("other kernel", r".", None),
]
COMPILED = [(g, re.compile(l) if l else None, re.compile(c) if c else None)
            for g, l, c in RULES]
SRC = {}  # symbol -> source file of the profiled binary (nm -l)
BIN = None


def load_bin(path):
    global BIN
    BIN = path
    out = subprocess.run(["nm", "-l", "--defined-only", path], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4:
            SRC[f[2]] = f[3].rsplit(":", 1)[0]


def srcgroup(leaf):
    """user: group of a sample in the profiled binary, by source file"""
    sym, _, dso = leaf.partition(" (")
    if not BIN or not dso.startswith(BIN):
        return None
    f = SRC.get(sym, "")
    if "/engine/extmap" in f:
        return "user: engine extent map"
    if "/engine/io_uring" in f:
        return "user: engine io_uring backend"
    if "/engine/pagebuf" in f:
        return "user: engine RAM buffer pages"
    if "/engine/" in f:
        return "user: engine (records, log, destage)"
    if "/daemon/" in f or "/proto/" in f:
        return "user: daemon (NBD, io loops, queues)"
    if "/tests/" in f:
        return "user: bench driver"
    return "user: other (" + (f.rsplit("/", 1)[-1] or sym) + ")"


SYSCALL = re.compile(r"__(?:x64|ia32)_sys_(\w+)|__do_sys_(\w+)")


def thread_kind(comm):
    if comm.startswith("iou-wrk"):
        return "io-wq workers (iou-wrk)"
    if comm.startswith("iou-sqp"):
        return "SQPOLL thread"
    if comm.endswith("-io"):
        return "io loops (" + comm + ")"
    return "main thread (" + comm + ")"


def classify(comm, frames):
    leaf = frames[0] if frames else "? (?)"
    chain = " ".join(frames)
    for g, lr, cr in COMPILED:
        if g == "io-wq workers":
            if comm.startswith("iou-wrk"):
                return g
            continue
        if g == "user:":
            u = srcgroup(leaf)
            if u:
                return u
            continue
        if lr and lr.search(leaf):
            return g
        if cr and cr.search(chain):
            return g
    return "other kernel"


def main():
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--bin":
        load_bin(args[1])
        args = args[2:]
    title = args[0] if args else "profile"
    groups, threads, sysc, leaves = (collections.Counter() for _ in range(4))
    per_thread = collections.defaultdict(collections.Counter)
    other = collections.Counter()
    n = 0

    def flush(comm, frames):
        nonlocal n
        if comm is None:
            return
        n += 1
        g = classify(comm, frames)
        groups[g] += 1
        threads[thread_kind(comm)] += 1
        per_thread[thread_kind(comm)][g] += 1
        if g == "other kernel":
            other[frames[0] if frames else "?"] += 1
        s = "-"
        for f in frames:
            m = SYSCALL.search(f)
            if m:
                s = m.group(1) or m.group(2)
        if frames and "[kernel" in frames[0]:
            sysc[s] += 1
        leaves[frames[0] if frames else "?"] += 1

    comm, frames = None, []
    for line in sys.stdin:
        if not line.strip():
            continue
        if not line[0].isspace():
            flush(comm, frames)
            parts = line.split()
            comm, frames = " ".join(parts[:-1]) if len(parts) > 1 else parts[0], []
            continue
        f = line.strip().split(None, 1)
        if len(f) == 2:
            frames.append(f[1])
    flush(comm, frames)
    if not n:
        print("no samples")
        return 1

    def table(head, c, limit=None):
        print(f"\n| {head} | samples | % |\n|---|---|---|")
        for k, v in c.most_common(limit):
            print(f"| {k} | {v} | {100.0 * v / n:.1f} |")

    print(f"## {title}: {n} samples")
    table("group", groups)
    table("thread", threads)
    table("syscall (kernel samples only)", sysc, 12)
    print("\nper thread, top groups (% of all samples):")
    for t, c in sorted(per_thread.items(), key=lambda x: -sum(x[1].values())):
        print(f"- {t}: " + ", ".join(f"{g} {100.0 * v / n:.1f}" for g, v in c.most_common(6)))
    table("leaf symbol", leaves, 25)
    table("leaf symbol in 'other kernel'", other, 10)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(0)
