# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# section_crc.sh - `make bench` section "crc" (sourced by tests/bench/run.sh):
# crc32c throughput on 4 KiB blocks, wbrep's built-in code (three SSE4.2
# lanes per block, engine/crc32c.c) against ISA-L's crc32_iscsi (Debian
# libisal-dev; without it the row says so). Issue 8: compare and keep the
# faster. Program: build/tests/bench/wbbench_crc; results: $RESULTS/crc.json.

SECTIONS+=(crc)

section_crc() {
	local out best="" b i
	make -s "$B/tests/bench/wbbench_crc" || { bench_log "crc: cannot build wbbench_crc"; return 1; }
	# best of 3 runs of 256 MiB (a shared machine: the best is the least disturbed)
	for i in 1 2 3; do
		out=$("$ROOT/$B/tests/bench/wbbench_crc" 256) || { bench_log "crc: wbbench_crc failed"; return 1; }
		b=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["builtin_gbps"])' "$out")
		if [ -z "$best" ] || python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > float(sys.argv[2]))' "$b" "$best"; then
			best=$b
			echo "$out" >"$BENCH_TMP/crc.json"
		fi
	done
	local rows row
	rows=$(python3 - "$BENCH_TMP/crc.json" "$RESULTS/crc.json" <<'PY'
import json, sys, time
r = json.load(open(sys.argv[1]))
b, i = r["builtin_gbps"], r["isal_gbps"]
doc = {"section": "crc", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "block": r["block"], "builtin_hw": r["builtin_hw"], "builtin_gbps": b,
       "sw_gbps": r["sw_gbps"], "isal_gbps": i,
       "ratio": b / i if i else None,
       "note": "best of 3 runs over 256 MiB; built-in = engine/crc32c.c (SSE4.2, 3 lanes "
               "per 4 KiB block); ISA-L = crc32_iscsi, not used by the engine"}
json.dump(doc, open(sys.argv[2], "w"), indent=1)
if i:
    print("crc32c 4K blocks, built-in vs ISA-L|%.2f GB/s|%.2f GB/s ISA-L crc32_iscsi|%.2fx|-|info "
          "(table version %.2f GB/s)" % (b, i, b / i, r["sw_gbps"]))
else:
    print("crc32c 4K blocks, built-in|%.2f GB/s|- (no libisal-dev)|-|-|info (table version %.2f GB/s)"
          % (b, r["sw_gbps"]))
PY
) || { bench_log "crc: report failed"; return 1; }
	while IFS= read -r row; do
		bench_row "crc|$row"
	done <<<"$rows"
}
