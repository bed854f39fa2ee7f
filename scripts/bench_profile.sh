#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench_profile.sh - profile one `make bench` case (issue 8: "a missed
# target goes into the note with the profile that explains it").
#
#   scripts/bench_profile.sh nbd CASE SERVER OUTDIR
#       CASE   = randwrite_qd1 | randwrite_qd32 | writeflush_qd1 | seqwrite
#       SERVER = wbrepd | wbrepd-ackmem | nbdkit-file
#     Starts the server exactly as tests/bench/section_nbd.sh does (its
#     functions are sourced), runs the case's fio job for PROF_RT seconds
#     (default 15) and records the server with `perf record -F 999 -g -p`
#     for the middle PROF_RT-5 seconds, and, in a second perf, its io_uring
#     submissions/completions and bios (inflight.md: scripts/uring_inflight.py);
#     the server's CPU time over the whole job (/proc/PID/stat, per thread
#     too) goes with fio's op count, /proc/PID/io, fio's MiB/s per second
#     and (wbrepd) `wbctl status --json` after the job.
#   scripts/bench_profile.sh nbd-strace SERVER OUTDIR
#     strace -c -f over 2000 QD1 4K writes (what section_nbd.sh counts)
#     plus `strace -f -tt` of 20 writes: which thread makes which call.
#   scripts/bench_profile.sh nbd-timeline SERVER OUTDIR
#     2000 4K write+flush pairs at QD1 (the writeflush_qd1 case) with the
#     server's syscall and io_uring tracepoints: the steps of one cycle
#     and their durations (scripts/qd1_timeline.py).
#   scripts/bench_profile.sh engine sustained|destage OUTDIR
#     wbbench_engine's sustained case (PROF_RT seconds, default 25; perf
#     from second 8 to PROF_RT-2, tracepoints over 4 s of it) or its replay
#     case (destage = the drain after the reopen; perf from the start, cut
#     to the drain by time) with run.sh's sizes; /proc/PID/io (all threads,
#     io-wq included) and vda's /proc/diskstats sampled every 50 ms, and
#     the io_uring requests in flight (inflight.md).
# Every OUTDIR gets perf.data, groups.md (scripts/perf_groups.py), and
# facts.txt (load average, CPU ticks, ops, bytes). Sizes: WB_BENCH_SIZE_MB
# and WB_BENCH_LOG_MB (default 1024, as make bench). Scratch files go to a
# $TMPDIR/wbprof.* directory, removed at exit; processes started here are
# killed by PID. Run it niced on a shared machine; it is one case at a time.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
B=${B:-build}
PERF=${PERF:-/usr/bin/perf}
RT=${PROF_RT:-15}
[ "${1:-}" = engine ] && RT=${PROF_RT:-25}
SIZE=${WB_BENCH_SIZE_MB:-1024} LOG=${WB_BENCH_LOG_MB:-1024}
BENCH_PIDS=()
bench_log() { echo "profile: $*" >&2; }
bench_forget() {
	local p keep=()
	for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	BENCH_PIDS=("${keep[@]}")
}
bench_prewrite() { dd if=/dev/zero of="$1" bs=1M count="$2" oflag=direct conv=fsync status=none; }
# shellcheck source=tests/bench/section_nbd.sh
. "$ROOT/tests/bench/section_nbd.sh"
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/wbprof.XXXXXX") || exit 1
cleanup() {
	local p
	for p in "${BENCH_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load() { cut -d' ' -f1-3 /proc/loadavg; }
# per-thread CPU ticks: "tid comm ticks" lines
thread_ticks() {
	local t f
	for t in /proc/"$1"/task/*; do
		read -ra f <"$t/stat" 2>/dev/null || continue
		echo "${t##*/} ${f[1]} $((f[13] + f[14]))"
	done
}
# perf record of PID for $2 seconds into $3/perf.data (+ tracepoints $4...)
prof() {
	local pid=$1 secs=$2 out=$3
	shift 3
	"$PERF" record -q -F 999 -g -p "$pid" -o "$out/perf.data" "$@" -- sleep "$secs" \
		>/dev/null 2>"$out/perf.err"
}

case_opts() {
	case $1 in
	randwrite_qd1) echo "--rw=randwrite --bs=4k --iodepth=1" ;;
	randwrite_qd32) echo "--rw=randwrite --bs=4k --iodepth=32" ;;
	writeflush_qd1) echo "--rw=randwrite --bs=4k --iodepth=1 --fsync=1" ;;
	seqwrite) echo "--rw=write --bs=1M --iodepth=8" ;;
	*) return 1 ;;
	esac
}

# the server of section_nbd.sh: sets PID and SOCK
start_server() {
	local d=$1 srv=$2
	case $srv in
	wbrepd | wbrepd-ackmem)
		[ -e "$d/wb-backing.img" ] || {
			bench_prewrite "$d/wb-backing.img" "$SIZE" &&
				truncate -s $(((SIZE << 20) + 4096)) "$d/wb-backing.img" &&
				bench_prewrite "$d/wb-log.img" "$LOG"
		} || return 1
		if [ "$srv" = wbrepd ]; then nbd_start_wbrepd "$d"; else nbd_start_wbrepd "$d" memory; fi ||
			return 1
		PID=$NBD_WBREPD_PID SOCK=$d/wb.sock
		;;
	nbdkit-file)
		[ -e "$d/file.img" ] || bench_prewrite "$d/file.img" "$SIZE" || return 1
		nbd_spawn NBD_FILE_PID "$d/nbdkit-file.log" nbdkit -f -U "$d/file.sock" file \
			file="$d/file.img"
		nbd_wait "$d/file.sock" "$NBD_FILE_PID" || return 1
		PID=$NBD_FILE_PID SOCK=$d/file.sock
		;;
	*) return 1 ;;
	esac
}

mode_nbd() {
	local kase=$1 srv=$2 out=$3 d=$TMPD/nbd opts t0 t1 fp
	read -ra opts <<<"$(case_opts "$kase")" || { bench_log "unknown case $kase"; return 1; }
	opts+=(--name="$kase" --size="${SIZE}M" --time_based --runtime="$RT")
	mkdir -p "$d" "$out" || return 1
	start_server "$d" "$srv" || { bench_log "$srv did not start"; return 1; }
	sync
	{ echo "case $kase server $srv pid $PID commit $(git rev-parse --short HEAD)"
	  echo "start $(date -u +%H:%M:%SZ) load $(load)"; } >"$out/facts.txt"
	thread_ticks "$PID" >"$out/threads0.txt"
	t0=$(nbd_cpu_ticks "$PID")
	local io0 io1
	io0=$(tr '\n' ' ' <"/proc/$PID/io")
	# MiB/s per second (the 1M case: log filling, then destage's pace)
	nbd_fio "$out/fio.json" "$SOCK" "${opts[@]}" --write_bw_log="$out/bw" --log_avg_msec=1000 &
	fp=$!
	sleep 2
	# + what the server submits: io_uring ops and bios (flags: W write,
	# S sync, F FUA, FF preflush), counted per client op in facts.txt
	"$PERF" record -q -c 1 -p "$PID" -o "$out/trace.data" -e io_uring:io_uring_submit_req \
		-e io_uring:io_uring_complete -e block:block_bio_queue -- sleep $((RT - 5)) \
		>/dev/null 2>"$out/trace.err" &
	prof "$PID" $((RT - 5)) "$out"
	wait $!
	wait "$fp" || return 1
	t1=$(nbd_cpu_ticks "$PID")
	io1=$(tr '\n' ' ' <"/proc/$PID/io")
	thread_ticks "$PID" >"$out/threads1.txt"
	[ "$PID" = "$NBD_FILE_PID" ] || nbd_wbstat "$d" x && cp "$d/wbstat-x.json" "$out/wbstat.json" 2>/dev/null
	local ops
	# fio's nbd engine prints a line before the JSON
	ops=$(python3 -c 'import json,sys; t=open(sys.argv[1]).read(); j=json.loads(t[t.index("{"):])
j=j["jobs"][0]; print(j["write"]["total_ios"] + j["read"]["total_ios"])' "$out/fio.json")
	{ echo "end $(date -u +%H:%M:%SZ) load $(load)"
	  echo "ops $ops cpu_ticks $((t1 - t0)) hz $(getconf CLK_TCK)" \
		"cpu_us_per_op $(python3 -c "print(round($((t1 - t0))*1e6/$(getconf CLK_TCK)/$ops, 1))")"
	  echo "io0 $io0"; echo "io1 $io1"
	  echo "threads (tid comm ticks during the job; threads gone meanwhile are not listed):"
	  join <(sort "$out/threads0.txt") <(sort "$out/threads1.txt") | awk '{print $1, $2, $5 - $3}'
	  join -v2 <(sort "$out/threads0.txt") <(sort "$out/threads1.txt") | awk '{print $1, $2, $3, "(new)"}'
	  echo "MiB/s per second: $(awk -F, '{printf "%d ", $2/1024}' "$out"/bw_bw*.log)"
	  echo "in the perf window ($((RT - 5)) s): io_uring ops / bios by opcode / rwbs:"
	  "$PERF" script -i "$out/trace.data" -F event,trace 2>/dev/null | awk '
		/io_uring_submit_req/ { for (i = 1; i <= NF; i++) if ($i == "opcode") o[$(i + 1)]++ }
		/block_bio_queue/ { b[$3]++ }
		END { for (k in o) printf "uring %s %d\n", k, o[k]; for (k in b) printf "bio %s %d\n", k, b[k] }'
	} >>"$out/facts.txt"
	"$PERF" script -i "$out/trace.data" -F time,event,trace 2>/dev/null |
		python3 "$ROOT/scripts/uring_inflight.py" >"$out/inflight.md"
	"$PERF" script -i "$out/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null |
		python3 "$ROOT/scripts/perf_groups.py" --bin "$(readlink -f "/proc/$PID/exe")" \
		"nbd $kase $srv" >"$out/groups.md"
	nbd_stop "$NBD_WBREPD_PID"
	nbd_stop "$NBD_FILE_PID"
	NBD_WBREPD_PID="" NBD_FILE_PID=""
}

mode_strace() {
	local srv=$1 out=$2 d=$TMPD/nbd sp
	mkdir -p "$d" "$out" || return 1
	start_server "$d" "$srv" || return 1
	echo "strace $srv commit $(git rev-parse --short HEAD) start $(date -u +%H:%M:%SZ) load $(load)" \
		>"$out/facts.txt"
	nbd_syscalls "$srv" "$PID" "$SOCK" "$d" || return 1
	cp "$d/strace-$srv.txt" "$out/strace-c.txt"
	# the sequence per write: 20 writes, timestamps, every thread
	strace -f -tt -p "$PID" -o "$out/strace-seq.txt" 2>/dev/null &
	sp=$!
	sleep 1
	nbd_fio "$out/fio-seq.json" "$SOCK" --name=seq --rw=randwrite --bs=4k --iodepth=1 \
		--size=256M --number_ios=20
	kill -INT "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	echo "end $(date -u +%H:%M:%SZ) load $(load)" >>"$out/facts.txt"
	nbd_stop "$NBD_WBREPD_PID"
	nbd_stop "$NBD_FILE_PID"
	NBD_WBREPD_PID="" NBD_FILE_PID=""
}

mode_timeline() {
	local srv=$1 out=$2 d=$TMPD/nbd tp ev=()
	mkdir -p "$d" "$out" || return 1
	start_server "$d" "$srv" || return 1
	for e in read readv sendmsg sendto pwrite64 fdatasync; do
		ev+=(-e "syscalls:sys_enter_$e" -e "syscalls:sys_exit_$e")
	done
	echo "timeline $srv commit $(git rev-parse --short HEAD) start $(date -u +%H:%M:%SZ) load $(load)" \
		>"$out/facts.txt"
	"$PERF" record -q -c 1 -p "$PID" -o "$out/trace.data" "${ev[@]}" \
		-e io_uring:io_uring_submit_req -e io_uring:io_uring_complete -- sleep 9 \
		>/dev/null 2>"$out/trace.err" &
	tp=$!
	sleep 1
	nbd_fio "$out/fio.json" "$SOCK" --name=wf --rw=randwrite --bs=4k --iodepth=1 --fsync=1 \
		--size="${SIZE}M" --number_ios=2000 || return 1
	wait "$tp"
	echo "end $(date -u +%H:%M:%SZ) load $(load)" >>"$out/facts.txt"
	# 2000 writes + 2000 flushes: a cycle is one write and its flush
	"$PERF" script -i "$out/trace.data" -F tid,time,event,trace 2>/dev/null |
		python3 "$ROOT/scripts/qd1_timeline.py" 2000 >"$out/timeline.md"
	nbd_stop "$NBD_WBREPD_PID"
	nbd_stop "$NBD_FILE_PID"
	NBD_WBREPD_PID="" NBD_FILE_PID=""
}

mode_engine() {
	local kase=$1 out=$2 d=$TMPD/engine pid t0 args
	mkdir -p "$d" "$out" || return 1
	make -s "$B/tests/bench/wbbench_engine" || return 1
	bench_prewrite "$d/backing.img" "$SIZE" && bench_prewrite "$d/log.img" "$LOG" || return 1
	sync
	case $kase in
	sustained) args=(--case sustained --bs 4096 --qd 32 --runtime "$RT" --destage default) ;;
	destage) args=(--case replay) ;;
	*) return 1 ;;
	esac
	echo "engine $kase commit $(git rev-parse --short HEAD) start $(date -u +%H:%M:%SZ) load $(load)" \
		>"$out/facts.txt"
	"$ROOT/$B/tests/bench/wbbench_engine" --dir "$d" --size "${SIZE}M" --log-size "${LOG}M" \
		--engine auto "${args[@]}" >"$out/wbbench.jsonl" 2>"$out/wbbench.err" &
	pid=$!
	BENCH_PIDS+=("$pid")
	# time, process read/write bytes (/proc/PID/io: every thread, io-wq
	# included) and vda sectors read/written, every 50 ms until it exits
	python3 - "$pid" >"$out/io.txt" <<'PY' &
import sys, time
pid = sys.argv[1]
while True:
    try:
        io = dict(l.split(": ") for l in open(f"/proc/{pid}/io").read().splitlines())
    except OSError:
        break
    for l in open("/proc/diskstats"):
        f = l.split()
        if f[2] == "vda":
            rs, ws = f[5], f[9]
    print(time.monotonic(), io["read_bytes"], io["write_bytes"], rs, ws, flush=True)
    time.sleep(0.05)
PY
	local smp=$! pp tp secs tsecs
	mono() { python3 -c 'import time; print(time.monotonic())'; }
	# perf with CLOCK_MONOTONIC timestamps: the window is cut by time
	if [ "$kase" = sustained ]; then
		# the CPU profile over seconds 8 .. RT-2, the tracepoints (400K
		# events in 15 s) over 4 s of it
		secs=$((RT - 10)) tsecs=4
		sleep 8
	else # from the start: perf needs ~0.5 s to attach, the drain ~1.5 s
		secs=600 tsecs=600
	fi
	"$PERF" record -q -k CLOCK_MONOTONIC -F 999 -g -p "$pid" -o "$out/perf.data" \
		-- sleep "$secs" >/dev/null 2>"$out/perf.err" &
	pp=$!
	"$PERF" record -q -k CLOCK_MONOTONIC -c 1 -p "$pid" -o "$out/trace.data" \
		-e io_uring:io_uring_submit_req -e io_uring:io_uring_complete \
		-e io_uring:io_uring_queue_async_work -- sleep "$tsecs" >/dev/null 2>"$out/trace.err" &
	tp=$!
	if [ "$kase" = sustained ]; then
		t0=$(mono)
	else # the drain starts when the replay line is out
		until grep -q '"case":"replay"' "$out/wbbench.jsonl" 2>/dev/null; do
			kill -0 "$pid" 2>/dev/null || return 1
			sleep 0.02
		done
		t0=$(mono)
	fi
	wait "$pid"
	wait "$smp"
	kill -INT "$pp" "$tp" 2>/dev/null
	wait "$pp" "$tp"
	bench_forget "$pid"
	if [ "$kase" = destage ]; then
		# the replay line reaches us late (up to 1 s on the loaded VM):
		# the drain is the destage case's secs before the last sample
		# that wrote (the close after it writes nothing)
		t0=$(python3 - "$out/io.txt" "$out/wbbench.jsonl" <<'PY'
import json, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
secs = [json.loads(l) for l in open(sys.argv[2]) if '"destage"' in l][0]["secs"]
last = max(r[0] for a, r in zip(rows, rows[1:]) if r[2] > a[2])
print(last - secs)
PY
) || return 1
		secs=$(python3 -c "import json; print([json.loads(l) for l in open('$out/wbbench.jsonl') if '\"destage\"' in l][0]['secs'])")
	fi
	# the window: from t0 to the end of perf (sustained) or to the last
	# sample before the process exited (destage: the drain)
	{ echo "end $(date -u +%H:%M:%SZ) load $(load)"
	  python3 - "$out/io.txt" "$t0" "$secs" <<'PY'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
t0, secs = float(sys.argv[2]), float(sys.argv[3])
w = [r for r in rows if t0 <= r[0] <= t0 + secs]
for name, (a, b) in (("whole run", (rows[0], rows[-1])), ("perf window", (w[0], w[-1]))):
    d = [y - x for x, y in zip(a, b)]
    print(f"{name}: {d[0]:.2f} s, process read {d[1] / 2**20:.0f} MiB write {d[2] / 2**20:.0f} MiB,"
          f" vda read {d[3] / 2048:.0f} MiB write {d[4] / 2048:.0f} MiB (all processes)")
PY
	} >>"$out/facts.txt"
	local win
	win=$(python3 -c "print(f'{$t0:.6f},{$t0 + $secs:.6f}')")
	"$PERF" script -i "$out/perf.data" --time "$win" -F comm,tid,ip,sym,dso 2>/dev/null |
		python3 "$ROOT/scripts/perf_groups.py" --bin "$ROOT/$B/tests/bench/wbbench_engine" \
		"engine $kase" >"$out/groups.md"
	"$PERF" script -i "$out/trace.data" --time "$win" -F time,event,trace 2>/dev/null |
		python3 "$ROOT/scripts/uring_inflight.py" >"$out/inflight.md"
}

case ${1:-} in
nbd) mode_nbd "$2" "$3" "$4" ;;
nbd-strace) mode_strace "$2" "$3" ;;
nbd-timeline) mode_timeline "$2" "$3" ;;
engine) mode_engine "$2" "$3" ;;
*) sed -n "4,/^set -uo/p" "$0" | sed "\$d"; exit 2 ;;
esac
