#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh - `make bench`: every benchmark section, one table at the end, one
# JSON file per section in tests/bench/results/<section>.json.
#
# A section is a shell function section_<name> listed in SECTIONS. It
# measures wbrep and its peer in the same run, calls
#     bench_row <section> <case> <wbrep value> <peer value> <ratio> <target> <status/note>
# once per table row, writes $RESULTS/<name>.json, and returns non-zero only
# when something failed (an error, not a slow number: targets are reported,
# never enforced). Sections live in this file or in tests/bench/section_*.sh
# (sourced below; such a file defines section_<name> and does SECTIONS+=(<name>)).
# A section that starts background processes appends their PIDs to
# BENCH_PIDS (killed by PID at exit) and stops them itself when it is done.
#
# Environment: WB_BENCH_SECTIONS="engine ..." runs only those sections;
# WB_BENCH_TMP (default $TMPDIR or /tmp) is where the temporary directory
# with the test files goes (removed at the end); WB_BENCH_ENGINE (default
# auto: wblog if registered, else passthrough); WB_BENCH_RUNTIME (seconds
# per time-bounded case, default 8); WB_BENCH_SIZE_MB / WB_BENCH_LOG_MB
# (device and log file sizes, default 1024 / 1024); WB_BENCH_SUSTAINED
# (seconds of the engine's sustained case and its raw peer, default 60, 0 = skip).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. "$ROOT/tests/pypath.sh"
B=${B:-build}
# wait_for SECONDS CMD... (the sections' bounded waits)
. "$ROOT/tests/waits.sh"
RESULTS=$ROOT/tests/bench/results
mkdir -p "$RESULTS"

BENCH_TMP=$(mktemp -d "${WB_BENCH_TMP:-${TMPDIR:-/tmp}}/wbbench.XXXXXX") || exit 1
# Sections append the PID of every background process they start to
# BENCH_PIDS; whatever is still running at exit is killed by PID.
BENCH_PIDS=()
# Directories a section made outside BENCH_TMP (e.g. in /dev/shm): removed
# at exit too.
BENCH_RMDIRS=()
# File systems a section mounted (e.g. a tmpfs of its own): unmounted at
# exit, before the directories go.
BENCH_UMOUNTS=()
cleanup() {
	local p j
	# only PIDs that are still this shell's jobs: a reaped PID may be reused
	for p in "${BENCH_PIDS[@]}"; do
		for j in $(jobs -p); do
			[ "$j" = "$p" ] && kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
		done
	done
	for p in "${BENCH_UMOUNTS[@]}"; do
		umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null
	done
	rm -rf "$BENCH_TMP" "${BENCH_RMDIRS[@]}"
}

# bench_forget PID: the section stopped and reaped it itself.
bench_forget() {
	local p keep=()
	for p in "${BENCH_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	BENCH_PIDS=("${keep[@]}")
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SECTIONS=(engine)
TABLE=()
failed=()

bench_row() { # section case wbrep peer ratio target status
	local IFS='|'
	TABLE+=("$*")
}

bench_log() { echo "bench: $*" >&2; }

# Pre-write a file with zeroes (O_DIRECT) so that no measurement pays for
# block allocation; $1 = path, $2 = MiB.
bench_prewrite() {
	dd if=/dev/zero of="$1" bs=1M count="$2" oflag=direct conv=fsync status=none
}

# fio raw peer: $1 = output json, rest = fio options. ioengine io_uring,
# falling back to libaio where fio lacks io_uring.
FIO_ENGINE=io_uring
fio --enghelp=io_uring >/dev/null 2>&1 || FIO_ENGINE=libaio
bench_fio() {
	local out=$1
	shift
	fio --ioengine="$FIO_ENGINE" --direct=1 --output-format=json --randrepeat=0 \
		--norandommap "$@" >"$out" 2>"$out.err" || {
		bench_log "fio $* failed:"; cat "$out.err" >&2; return 1; }
}

# ---- section: engine ----------------------------------------------------

ENGINE_BIN=$ROOT/$B/tests/bench/wbbench_engine

build_engine_bench() {
	make -s "$B/tests/bench/wbbench_engine"
}

section_engine() {
	local dir=$BENCH_TMP/engine jl=$BENCH_TMP/engine/engine.jsonl rt=${WB_BENCH_RUNTIME:-8}
	local size=${WB_BENCH_SIZE_MB:-1024} log=${WB_BENCH_LOG_MB:-1024}
	local eng=${WB_BENCH_ENGINE:-auto} row

	build_engine_bench || { bench_log "cannot build $ENGINE_BIN"; return 1; }
	mkdir -p "$dir" || return 1
	bench_log "engine: pre-writing ${size} MiB device, ${log} MiB log, ${size} MiB raw file in $dir"
	bench_prewrite "$dir/backing.img" "$size" && bench_prewrite "$dir/log.img" "$log" &&
		bench_prewrite "$dir/raw.img" "$size" || return 1

	e() { # one wbbench_engine case
		bench_log "engine: wbbench_engine $*"
		"$ENGINE_BIN" --dir "$dir" --size "${size}M" --log-size "${log}M" --engine "$eng" \
			"$@" >>"$jl" || { bench_log "wbbench_engine $* failed"; return 1; }
	}
	f() { # one raw fio case on the raw file: name, options
		local name=$1
		shift
		bench_log "engine: fio $name"
		bench_fio "$dir/fio-$name.json" --name="$name" --filename="$dir/raw.img" \
			--size="${size}M" "$@"
	}
	: >"$jl"
	# Write cases: "hold" = a burst the log absorbs (destage held back, at
	# most 3/4 of the log), "default" = the engine's default watermarks
	# (destage starts at 10 % log use and competes with the writers).
	e --case extmap &&
		e --case randwrite --bs 4096 --qd 1 --runtime "$rt" --destage hold &&
		f randwrite_qd1 --rw=randwrite --bs=4k --iodepth=1 --time_based --runtime="$rt" &&
		e --case randwrite --bs 4096 --qd 32 --runtime "$rt" --destage hold &&
		e --case randwrite --bs 4096 --qd 32 --runtime "$rt" --destage default &&
		f randwrite_qd32 --rw=randwrite --bs=4k --iodepth=32 --time_based --runtime="$rt" &&
		e --case seqwrite --bs 1M --qd 8 --runtime "$rt" --destage hold &&
		e --case seqwrite --bs 1M --qd 8 --runtime "$rt" --destage default &&
		f seqwrite --rw=write --bs=1M --iodepth=8 --time_based --runtime="$rt" &&
		e --case randread --bs 4096 --qd 32 --span 128M --runtime "$rt" &&
		f randread --rw=randread --bs=4k --iodepth=32 --io_size=128M --size=128M \
			--time_based --runtime="$rt" &&
		e --case replay &&
		f seqread --rw=read --bs=1M --iodepth=8 --time_based --runtime="$rt" || return 1
	# Destage's peer (issue 8): fio doing what destage does, at once on the
	# same disk: read the log's span sequentially and write as much to
	# another file (the replay case fills 3/4 of the log). log.img is free:
	# the replay case closed its engine, the next case formats it again.
	local dspan=$((log * 3 / 4))
	[ "$dspan" -gt "$size" ] && dspan=$size
	bench_log "engine: fio destage_peer (read ${dspan} MiB of log.img + write raw.img at once)"
	bench_fio "$dir/fio-destage_peer.json" --bs=1M --iodepth=8 --size="${dspan}M" \
		--name=logread --filename="$dir/log.img" --rw=read \
		--name=bakwrite --filename="$dir/raw.img" --rw=write || return 1
	# Sustained (issue 8's headline): 4K random writes at QD32 for
	# WB_BENCH_SUSTAINED seconds (default 60, 0 = skip) with the default
	# watermarks and no byte cap: the log fills and destage sets the pace;
	# the raw peer runs as long. Log and backing on the same disk.
	local srt=${WB_BENCH_SUSTAINED:-60}
	if [ "$srt" -gt 0 ]; then
		e --case sustained --bs 4096 --qd 32 --runtime "$srt" --destage default &&
			f sustained --rw=randwrite --bs=4k --iodepth=32 --time_based --runtime="$srt" ||
			return 1
	fi

	local rows
	rows=$(python3 tests/bench/engine_report.py "$jl" "$dir" "$RESULTS/engine.json") || {
		bench_log "engine_report.py failed"; return 1; }
	while IFS= read -r row; do
		bench_row "engine|$row"
	done <<<"$rows"
	rm -f "$dir"/*.img
}

# ---- more sections ------------------------------------------------------

for f in tests/bench/section_*.sh; do
	[ -e "$f" ] || continue
	# shellcheck source=/dev/null
	. "$f"
done

want=${WB_BENCH_SECTIONS:-${SECTIONS[*]}}
t0=$(date +%s)
# Other work on the machine moves every number here: say how busy it was.
load0=$(cut -d' ' -f1 /proc/loadavg)
for s in $want; do
	if ! declare -F "section_$s" >/dev/null; then
		bench_log "unknown section $s"; failed+=("$s"); continue
	fi
	bench_log "section $s"
	if ! "section_$s"; then
		failed+=("$s")
		bench_row "$s|(section failed, see messages above)|-|-|-|-|FAILED"
	fi
done

echo
echo "wbrep benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus, $(uname -r)," \
	"$(($(date +%s) - t0)) s, load average $load0 at start, $(cut -d' ' -f1 /proc/loadavg) at end)"
echo "peers: engine = fio $FIO_ENGINE direct=1 on a file of the same size on the same" \
	"filesystem; nbd = the server named in the peer column, same fio nbd engine and socket;" \
	"repl = the single node, TLS ceiling or write-through run named in the peer column"
{
	echo "section|case|wbrep|peer|ratio|target|status"
	printf '%s\n' "${TABLE[@]}"
} | awk -F'|' '
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i] && i < NF) w[i] = length($i) } n = NR; nf[NR] = NF }
	END { for (r = 1; r <= n; r++) { line = ""
		for (i = 1; i <= nf[r]; i++) line = line sprintf(i < nf[r] ? "%-" w[i] "s  " : "%s", c[r, i])
		print line } }'
echo "JSON: $(cd "$RESULTS" && ls ./*.json 2>/dev/null | sed 's|^\./|tests/bench/results/|' | tr '\n' ' ')"
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED sections: ${failed[*]}"
	exit 1
fi
