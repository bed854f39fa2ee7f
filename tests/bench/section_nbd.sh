# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# section_nbd.sh - `make bench` section "nbd" (sourced by tests/bench/run.sh):
# wbrepd's NBD frontend against its peers, all in one run, all driven by
# fio's nbd engine (libnbd) over a unix socket:
#   wbrepd        engine wblog, file-backed log + backing in $BENCH_TMP,
#                 default destage settings; restarted on a blank log before
#                 every case so that no case inherits another's dirty log
#   wbrepd-ackmem the same with `ack = memory` (acked once in RAM, durable
#                 in the log within log-commit-ms or at the next flush)
#   nbdkit-file   `nbdkit file` on a pre-written file of the same size
#                 (writes through the page cache, flush = fdatasync)
#   nbdkit-memory `nbdkit memory`: the NBD protocol ceiling on this machine
#   raw           fio io_uring O_DIRECT on a pre-written file (bench_fio)
# Cases: 4K randwrite QD1 (also QD1 write p50 latency), 4K randwrite QD32,
# 4K randwrite + flush after every write QD1 (fio --fsync=1; checked first
# to really send NBD_CMD_FLUSH), 1M sequential write QD8, 4K randread QD32.
# Per case also the server's CPU time per I/O (/proc/PID/stat, every
# server), and at the end syscalls per 4K write at QD1 (strace -c -f on
# wbrepd with ack = memory and log, and on nbdkit-file; skipped without
# strace).
# Ratios and targets: tests/bench/nbd_report.py; results: $RESULTS/nbd.json.
# Every process started here is recorded in BENCH_PIDS (run.sh kills them
# at exit) and stopped by PID when the section ends.

SECTIONS+=(nbd)

NBD_WBREPD_PID="" NBD_FILE_PID="" NBD_MEM_PID=""

# Start a server in the background, remember its PID; $1 = variable name
# for the PID, $2 = log file, rest = command.
nbd_spawn() {
	local var=$1 logf=$2
	shift 2
	"$@" >>"$logf" 2>&1 &
	printf -v "$var" '%s' "$!"
	BENCH_PIDS+=("$!")
}

# Wait (bounded, 10 s) until an NBD server answers on socket $1; $2 = PID.
nbd_wait() {
	for _ in $(seq 100); do
		[ -S "$1" ] && timeout 5 nbdinfo --size "nbd+unix:///?socket=$1" >/dev/null 2>&1 &&
			return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

nbd_stop() { # $1 = PID (or empty); SIGKILL: the state is thrown away anyway
	[ -n "$1" ] || return 0
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	bench_forget "$1"
	return 0
}

# wbrepd on a freshly formatted log (--create-md --force --discard-dirty:
# the previous case's log holds records, which a start refuses to format
# over); $2 = ack mode (log, the default, or memory).
nbd_start_wbrepd() {
	local d=$1 ack=${2:-log}
	nbd_stop "$NBD_WBREPD_PID"
	NBD_WBREPD_PID=""
	rm -f "$d/wb.sock" "$d/wbctl.sock" "$d/wbrepd.pid"
	cat >"$d/wbrep.conf" <<EOF
[global]
pid-file = $d/wbrepd.pid
control-socket = $d/wbctl.sock
node-name = bench
log-level = warn

[resource bench]
engine = wblog
ack = $ack
backing = $d/wb-backing.img
log = $d/wb-log.img
nbd-socket = $d/wb.sock
EOF
	"$ROOT/$B/wbrepd" -c "$d/wbrep.conf" --create-md bench --force --discard-dirty \
		>"$d/create-md.log" 2>&1 || {
		bench_log "nbd: wbrepd --create-md failed:"; tail -5 "$d/create-md.log" >&2; return 1; }
	nbd_spawn NBD_WBREPD_PID "$d/wbrepd.log" "$ROOT/$B/wbrepd" -c "$d/wbrep.conf" -f
	nbd_wait "$d/wb.sock" "$NBD_WBREPD_PID" || {
		bench_log "nbd: wbrepd did not come up:"; tail -20 "$d/wbrepd.log" >&2; return 1; }
}

# One fio run over the nbd engine: $1 = output json, $2 = socket, rest = options.
nbd_fio() {
	local out=$1 sock=$2
	shift 2
	fio --ioengine=nbd --uri="nbd+unix:///?socket=$sock" --output-format=json \
		--randrepeat=0 --norandommap "$@" >"$out" 2>"$out.err" || {
		bench_log "fio (nbd $sock) $* failed:"; cat "$out.err" >&2; return 1; }
}

# CPU time of a server process so far (utime + stime of every thread, live
# or gone, in clock ticks), from /proc/$1/stat.
nbd_cpu_ticks() {
	local f
	read -ra f <"/proc/$1/stat" || { echo 0; return; }
	# fields 14 and 15 (1-based), after the "(comm)" field, which has no spaces here
	echo $((f[13] + f[14]))
}

# nbd_fio_cpu PID NAME FIO_ARGS...: nbd_fio, and the server's CPU ticks
# during it into cpu-NAME.json (CPU time per I/O in nbd_report.py).
nbd_fio_cpu() {
	local pid=$1 name=$2 t0 t1
	shift 2
	t0=$(nbd_cpu_ticks "$pid")
	nbd_fio "$@" || return 1
	t1=$(nbd_cpu_ticks "$pid")
	echo "{\"ticks\":$((t1 - t0)),\"hz\":$(getconf CLK_TCK)}" >"$(dirname "$1")/cpu-$name.json"
}

# Syscalls per 4K write at QD1: strace -c -f on the server ($2 = PID)
# during 2000 writes; the total number of calls goes to sys-$1.json.
# Optional (no strace: no row).
nbd_syscalls() {
	local name=$1 pid=$2 sock=$3 d=$4 sp
	command -v strace >/dev/null || return 0
	strace -c -f -p "$pid" -o "$d/strace-$name.txt" 2>/dev/null &
	sp=$!
	sleep 1
	nbd_fio "$d/fio-sys-$name.json" "$sock" --name=sys --rw=randwrite --bs=4k --iodepth=1 \
		--size=256M --number_ios=2000
	local rc=$?
	kill -INT "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	[ $rc -eq 0 ] || return 1
	# the total line: % time, seconds, usecs/call, calls, [errors,] "total"
	awk '$NF == "total" {print "{\"calls\":" $4 "}"}' \
		"$d/strace-$name.txt" >"$d/sys-$name.json"
}

# The engine's counters after a wbrepd case (records, writes, flushes,
# destage), from `wbctl status --json`, for nbd_report.py. Optional: a
# missing wbctl or an unanswered status only loses these counters.
nbd_wbstat() {
	local d=$1 name=$2
	timeout 10 "$ROOT/$B/wbctl" -s "$d/wbctl.sock" status --json >"$d/wbstat-$name.json" \
		2>"$d/wbstat-$name.err" || {
		bench_log "nbd: wbctl status after $name failed: $(cat "$d/wbstat-$name.err")"
		rm -f "$d/wbstat-$name.json"
	}
	return 0
}

# fio --fsync=1 over the nbd engine must send NBD_CMD_FLUSH after every
# write: count them with nbdkit's log filter on a small memory disk.
nbd_check_flush() {
	local d=$1 pid="" n w
	nbd_spawn pid "$d/flushcheck.log" nbdkit -f -U "$d/fc.sock" --filter=log memory size=16M \
		logfile="$d/fc.nbdlog"
	nbd_wait "$d/fc.sock" "$pid" || { bench_log "nbd: nbdkit (flush check) did not start"; \
		nbd_stop "$pid"; return 1; }
	nbd_fio "$d/fc.json" "$d/fc.sock" --name=fc --rw=randwrite --bs=4k --iodepth=1 --fsync=1 \
		--number_ios=20 --size=16M
	local rc=$?
	nbd_stop "$pid"
	[ $rc -eq 0 ] || return 1
	n=$(grep -c ' Flush id=[0-9]* \.\.\.$' "$d/fc.nbdlog")
	w=$(grep -c ' Write id=[0-9]* offset=.* \.\.\.$' "$d/fc.nbdlog")
	bench_log "nbd: fio --fsync=1: $w NBD writes, $n NBD flushes"
	if [ "$w" -lt 20 ] || [ "$n" -lt $((w - 1)) ]; then
		bench_log "nbd: fio --fsync=1 does not send a flush per write ($w writes, $n flushes)"
		return 1
	fi
	echo "{\"writes\":$w,\"flushes\":$n}" >"$d/flushcheck.json"
}

section_nbd() {
	local d=$BENCH_TMP/nbd rt=${WB_BENCH_RUNTIME:-8}
	local size=${WB_BENCH_SIZE_MB:-1024} log=${WB_BENCH_LOG_MB:-1024}
	local t c ok=0 rows row

	for t in fio nbdkit nbdinfo python3; do
		command -v $t >/dev/null || { bench_log "nbd: $t not installed (scripts/deps.sh)"; \
			return 1; }
	done
	fio --enghelp=nbd >/dev/null 2>&1 || { bench_log "nbd: this fio has no nbd engine"; return 1; }
	make -s "$B/wbrepd" "$B/wbctl" || { bench_log "nbd: cannot build $B/wbrepd"; return 1; }
	"$ROOT/$B/wbrepd" --list-engines | grep -q '^wblog ' ||
		{ bench_log "nbd: engine wblog is not registered in wbrepd"; return 1; }
	mkdir -p "$d" || return 1

	nbd_check_flush "$d" || return 1
	bench_log "nbd: pre-writing ${size} MiB backing, ${log} MiB log, ${size} MiB nbdkit file," \
		"${size} MiB raw file in $d"
	# + 4 KiB: wblog's identity block after the exported range (docs/ondisk-format.md)
	bench_prewrite "$d/wb-backing.img" "$size" && truncate -s $(((size << 20) + 4096)) "$d/wb-backing.img" &&
		bench_prewrite "$d/wb-log.img" "$log" &&
		bench_prewrite "$d/file.img" "$size" && bench_prewrite "$d/raw.img" "$size" || return 1

	nbd_spawn NBD_FILE_PID "$d/nbdkit-file.log" nbdkit -f -U "$d/file.sock" file \
		file="$d/file.img"
	nbd_spawn NBD_MEM_PID "$d/nbdkit-mem.log" nbdkit -f -U "$d/mem.sock" memory size="${size}M"
	if nbd_wait "$d/file.sock" "$NBD_FILE_PID" && nbd_wait "$d/mem.sock" "$NBD_MEM_PID"; then
		# name|fio options (same for every target)
		local cases=(
			"randwrite_qd1|--rw=randwrite --bs=4k --iodepth=1"
			"randwrite_qd32|--rw=randwrite --bs=4k --iodepth=32"
			"writeflush_qd1|--rw=randwrite --bs=4k --iodepth=1 --fsync=1"
			"seqwrite|--rw=write --bs=1M --iodepth=8"
			"randread|--rw=randread --bs=4k --iodepth=32"
		)
		ok=1
		for c in "${cases[@]}"; do
			local name=${c%%|*} opts
			read -ra opts <<<"${c#*|}"
			opts+=(--name="$name" --size="${size}M" --time_based --runtime="$rt")
			# nothing another case left dirty in the page cache counts here
			sync
			bench_log "nbd: $name: wbrepd"
			nbd_start_wbrepd "$d" &&
				nbd_fio_cpu "$NBD_WBREPD_PID" "wbrepd-$name" \
					"$d/fio-wbrepd-$name.json" "$d/wb.sock" "${opts[@]}" &&
				nbd_wbstat "$d" "$name" &&
				bench_log "nbd: $name: wbrepd ack=memory" &&
				nbd_start_wbrepd "$d" memory &&
				nbd_fio_cpu "$NBD_WBREPD_PID" "wbrepd-ackmem-$name" \
					"$d/fio-wbrepd-ackmem-$name.json" "$d/wb.sock" "${opts[@]}" &&
				bench_log "nbd: $name: nbdkit-file" &&
				nbd_fio_cpu "$NBD_FILE_PID" "nbdkit-file-$name" \
					"$d/fio-nbdkit-file-$name.json" "$d/file.sock" "${opts[@]}" &&
				bench_log "nbd: $name: nbdkit-memory" &&
				nbd_fio_cpu "$NBD_MEM_PID" "nbdkit-memory-$name" \
					"$d/fio-nbdkit-memory-$name.json" "$d/mem.sock" "${opts[@]}" &&
				bench_log "nbd: $name: raw" &&
				bench_fio "$d/fio-raw-$name.json" --filename="$d/raw.img" "${opts[@]}" ||
				{ ok=0; break; }
		done
		if [ $ok = 1 ]; then
			bench_log "nbd: syscalls per 4K write at QD1 (strace -c -f)"
			nbd_start_wbrepd "$d" memory &&
				nbd_syscalls wbrepd-ackmem "$NBD_WBREPD_PID" "$d/wb.sock" "$d" &&
				nbd_start_wbrepd "$d" &&
				nbd_syscalls wbrepd "$NBD_WBREPD_PID" "$d/wb.sock" "$d" &&
				nbd_syscalls nbdkit-file "$NBD_FILE_PID" "$d/file.sock" "$d" || ok=0
		fi
	else
		bench_log "nbd: nbdkit did not start:"
		tail -5 "$d/nbdkit-file.log" "$d/nbdkit-mem.log" >&2
	fi
	nbd_stop "$NBD_WBREPD_PID"
	nbd_stop "$NBD_FILE_PID"
	nbd_stop "$NBD_MEM_PID"
	NBD_WBREPD_PID="" NBD_FILE_PID="" NBD_MEM_PID=""
	[ $ok = 1 ] || return 1

	rows=$(python3 tests/bench/nbd_report.py "$d" "$RESULTS/nbd.json") || {
		bench_log "nbd_report.py failed"; return 1; }
	while IFS= read -r row; do
		bench_row "nbd|$row"
	done <<<"$rows"
	rm -f "$d"/*.img
}
