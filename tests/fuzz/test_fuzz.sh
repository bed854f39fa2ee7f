#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Build every libFuzzer target (make fuzz) and run each briefly from its seed
# corpus (tests/fuzz/corpus/<name>/ if present). A crash, leak or sanitizer
# report fails the case. WB_FUZZ_SECONDS sets the time per target (default 10
# in make test; `make fuzz-long` runs 300 s per target).
set -u
. "$(dirname "$0")/../lib.sh"
secs=${WB_FUZZ_SECONDS:-10}
command -v clang >/dev/null || skip_all "fuzz: clang not installed"
srcs=$(ls tests/fuzz/fuzz_*.c 2>/dev/null)
[ -n "$srcs" ] || skip_all "fuzz: no fuzz targets yet"
if ! make -s fuzz >build-fuzz.log 2>&1; then
	fail "fuzz-build: make fuzz failed"; tail -20 build-fuzz.log; finish
fi
for s in $srcs; do
	n=$(basename "$s" .c)
	corpus=$(mktemp -d)
	on_cleanup "rm -rf '$corpus'"
	[ -d "tests/fuzz/corpus/${n#fuzz_}" ] && cp -r "tests/fuzz/corpus/${n#fuzz_}/." "$corpus/"
	if "build-fuzz/$n" -max_total_time="$secs" -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ -print_final_stats=1 \
		"$corpus" >"build-fuzz/$n.log" 2>&1; then
		pass "$n ($(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$n.log" | tail -1 | awk '{print $2}') runs, ${secs}s)"
	else
		fail "$n: see build-fuzz/$n.log"; grep -m5 -E 'ERROR|SUMMARY' "build-fuzz/$n.log"
	fi
	rm -rf "$corpus"
done
finish
