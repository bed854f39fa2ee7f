# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# section_ring.sh - `make bench` section "ring" (sourced by tests/bench/run.sh):
# round trips per second through the dm-wbrep ring ABI without a kernel.
# Program: build/tests/ringsim/ringbench (tests/ringsim/ringbench.c):
# tests/ringsim plays the kernel target (a write's 4 KiB copied into its slot
# at posting, a read's copied out at completion), daemon/ringfe.c runs in its
# own thread on a libevent loop as in wbrepd, the engine is a null engine
# (completes at once, touches no data), the "application" thread keeps QD
# requests in flight. Cases: 4K write and 4K read at QD1 and QD32, first
# with the frontend and the engine on one thread (ringbench -i 0, the
# issue-5 target), then with the rings on an io loop as wbrepd runs them
# (-i 1: each request crosses two thread hand-offs; info).
# There is no peer for this measurement (nothing else speaks this ABI): the
# peer column says "-" and the ratio is to the target (>= 300K ops/s at
# QD32, issue 5). Numbers from inside a qemu TCG guest mean nothing and are
# never taken here. WB_BENCH_RING_SECS: seconds per case (default 3).
# Results: $RESULTS/ring.json.

SECTIONS+=(ring)

section_ring() {
	local bin=$ROOT/$B/tests/ringsim/ringbench secs=${WB_BENCH_RING_SECS:-3}
	local op qd out v ratio status json="" target=300000 tgt
	make -s "$B/tests/ringsim/ringbench" || { bench_log "cannot build ringbench"; return 1; }
	local io name
	for io in 0 1; do
	for op in write read; do
		for qd in 1 32; do
			out=$("$bin" -o "$op" -q "$qd" -t "$secs" -i "$io" 2>"$BENCH_TMP/ringbench.err") || {
				bench_log "ringbench -o $op -q $qd -i $io failed: $(cat "$BENCH_TMP/ringbench.err")"
				return 1
			}
			v=$(sed -n 's/.*ops_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
			[ -n "$v" ] || { bench_log "ringbench: no result in '$out'"; return 1; }
			if [ "$io" -eq 1 ]; then
				ratio="-" tgt="-" status=info
				name="4K $op QD$qd round trips, rings on an io loop as in wbrepd (ringsim+ringfe+null engine)"
			elif [ "$qd" -eq 32 ]; then
				ratio=$(awk -v a="$v" -v b="$target" 'BEGIN { printf "%.2fx target", a / b }')
				tgt=">= 300K ops/s"
				if [ "$v" -ge "$target" ]; then status=met; else status=missed; fi
			else
				ratio="-" tgt="-" status=info
			fi
			[ "$io" -eq 1 ] || name="4K $op QD$qd round trips, one thread (ringsim+ringfe+null engine)"
			bench_row "ring|$name|$v ops/s|- (no peer)|$ratio|$tgt|$status"
			json+="${json:+,}
    {\"case\": \"4k_${op}_qd${qd}$([ "$io" -eq 1 ] && echo _ioloop)\", \"op\": \"$op\", \"qd\": $qd, \"io_loops\": $io, \"ops_per_sec\": $v, \"seconds\": $secs, \"target_ops_per_sec\": $([ "$qd" -eq 32 ] && [ "$io" -eq 0 ] && echo $target || echo null), \"status\": \"$status\"}"
		done
	done
	done
	cat >"$RESULTS/ring.json" <<JSON
{
  "section": "ring",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "cpus": $(nproc),
  "kernel": "$(uname -r)",
  "program": "build/tests/ringsim/ringbench",
  "peer": null,
  "note": "ringsim (kernel side in userspace) + daemon/ringfe.c thread + null engine; 4 KiB data copied into/out of the slots; no peer exists for this ABI",
  "cases": [$json
  ]
}
JSON
	return 0
}
