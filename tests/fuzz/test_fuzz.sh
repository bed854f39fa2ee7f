#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Build every libFuzzer target (make fuzz) and run each briefly from its seed
# corpus (tests/fuzz/corpus/<name>/ if present). A crash, leak or sanitizer
# report fails the case. WB_FUZZ_SECONDS sets the time per target (default 6
# in make test; `make fuzz-long` runs 300 s per target). WB_FUZZ_JOBS
# (default 2) targets run side by side, each for the whole time.
set -u
. "$(dirname "$0")/../lib.sh"
secs=${WB_FUZZ_SECONDS:-6}
command -v clang >/dev/null || skip_all "fuzz: clang not installed"
srcs=$(ls tests/fuzz/fuzz_*.c 2>/dev/null)
[ -n "$srcs" ] || skip_all "fuzz: no fuzz targets yet"
if ! make -s -j2 fuzz >build-fuzz.log 2>&1; then
	fail "fuzz-build: make fuzz failed"; tail -20 build-fuzz.log; finish
fi
jobs=${WB_FUZZ_JOBS:-2}
# fuzz_one NAME: run build-fuzz/NAME for $secs from a copy of its corpus
fuzz_one() {
	local n=$1 corpus rc
	corpus=$(mktemp -d)
	[ -d "tests/fuzz/corpus/${n#fuzz_}" ] && cp -r "tests/fuzz/corpus/${n#fuzz_}/." "$corpus/"
	"build-fuzz/$n" -max_total_time="$secs" -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ \
		-print_final_stats=1 "$corpus" >"build-fuzz/$n.log" 2>&1
	rc=$?
	rm -rf "$corpus"
	return $rc
}
set -- $srcs
while [ $# -gt 0 ]; do
	names=() pids=()
	while [ $# -gt 0 ] && [ ${#names[@]} -lt "$jobs" ]; do
		names+=("$(basename "$1" .c)")
		fuzz_one "${names[-1]}" &
		pids+=($!)
		track_pid $!
		shift
	done
	for i in "${!names[@]}"; do
		n=${names[i]}
		if wait "${pids[i]}"; then
			pass "$n ($(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$n.log" | tail -1 | awk '{print $2}') runs, ${secs}s)"
		else
			fail "$n: see build-fuzz/$n.log"; grep -m5 -E 'ERROR|SUMMARY' "build-fuzz/$n.log"
		fi
	done
done
finish
