#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh - the one test runner behind `make test`.
#
# Suites, in order:
#   unit      every CMocka binary build/tests/unit/test_*       (normal build)
#   san       the same binaries from build-san/ (ASan + UBSan)
#   scripts   every tests/<suite>/test_*.sh (integration, crash, cluster,
#             vm, fuzz, ...). A script prints one line per case starting with
#             "PASS ", "FAIL " or "SKIP " (a SKIP says why) and exits non-zero
#             when a case failed.
# WB_ONLY=unit|san|scripts|<suite dir> restricts the run (comma list).
# The last line is always "N passed, N failed, N skipped"; exit 1 on failure.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
LOGDIR=${WB_TEST_LOGDIR:-$ROOT/build/test-logs}
mkdir -p "$LOGDIR"
pass=0 fail=0 skip=0
failed_names=()
only=${WB_ONLY:-}

want() { [ -z "$only" ] && return 0; case ",$only," in *",$1,"*) return 0;; esac; return 1; }

run_cmocka() { # $1 = label prefix, $2 = binary
	local bin=$2 name log p f s rc
	name="$1/$(basename "$bin")"
	log="$LOGDIR/${name//\//_}.log"
	timeout 600 "$bin" >"$log" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer report
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	if [ "$f" -ne 0 ]; then
		failed_names+=("$name")
		echo "FAIL $name ($p passed, $f failed) log: $log"
		grep -E '^\[  (FAILED|ERROR) |ERROR: |runtime error|Sanitizer' "$log" | head -20 | sed 's/^/    /'
	else
		echo "ok   $name ($p passed${s:+, $s skipped})"
	fi
}

run_script() { # $1 = script
	local sc=$1 name log rc p f s
	name=${sc#tests/}
	log="$LOGDIR/${name//\//_}.log"
	echo "---- $name"
	bash "$sc" 2>&1 | tee "$log" | grep -E '^(PASS|FAIL|SKIP) ' | sed 's/^/    /'
	rc=${PIPESTATUS[0]}
	p=$(grep -c '^PASS ' "$log") f=$(grep -c '^FAIL ' "$log") s=$(grep -c '^SKIP ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1; echo "    FAIL $name exited $rc without naming a failed case (log: $log)"
		tail -5 "$log" | sed 's/^/      /'
	fi
	[ "$f" -eq 0 ] || failed_names+=("$name")
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

if want unit; then
	echo "==== unit tests (build/)"
	for b in build/tests/unit/test_*; do
		[ -x "$b" ] && [ "${b%.o}" = "$b" ] && [ "${b%.d}" = "$b" ] && run_cmocka unit "$b"
	done
fi
if want san; then
	echo "==== unit tests under ASan+UBSan (build-san/)"
	if ls build-san/tests/unit/test_* >/dev/null 2>&1; then
		for b in build-san/tests/unit/test_*; do
			[ -x "$b" ] && [ "${b%.o}" = "$b" ] && [ "${b%.d}" = "$b" ] && \
				ASAN_OPTIONS=detect_leaks=1 run_cmocka san "$b"
		done
	else
		echo "SKIP san: build-san/ not built (run: make SAN=1 tests)"; skip=$((skip + 1))
	fi
fi
for sc in $(ls tests/*/test_*.sh 2>/dev/null | sort); do
	suite=$(basename "$(dirname "$sc")")
	if want scripts || want "$suite"; then run_script "$sc"; fi
done

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
