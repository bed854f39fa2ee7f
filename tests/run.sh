#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh - the one test runner behind `make test`.
#
# Suites, in order:
#   unit      every CMocka binary build/tests/unit/test_*       (normal build)
#   san       the same binaries from build-san/ (ASan + UBSan)
#   tsan      ThreadSanitizer (build-tsan/, `make TSAN=1`): the io loop and
#             page buffer and peer link unit tests and the daemon, NBD, NBD-over-TLS
#             and resource scripts against the TSan wbrepd; a report fails the case (exit status 66,
#             "ThreadSanitizer" in the daemon's log)
#   scripts   every tests/<suite>/test_*.sh (cli, crash, engine, fuzz,
#             integration, mutants, vm, ...). A script prints one line per
#             case starting with "PASS ", "FAIL " or "SKIP " (a SKIP says why)
#             and exits non-zero when a case failed. Each script runs under a
#             time limit: WB_SCRIPT_TIMEOUT seconds (default 900), or N from a
#             "# timeout: N" line in the script; a script that runs over is
#             killed (with its process group) and counted as
#             "FAIL <script> TIMEOUT after N s". Its summary line gives
#             its wall time and the CPU time (user + system) it used: the
#             CPU time is what the machine's load does not change much.
# WB_ONLY=unit|san|tsan|scripts|<suite dir> restricts the run (comma list).
# Arguments name what to run instead of everything: test scripts
# (tests/cli/test_wbctl.sh) and unit binaries or their sources
# (tests/unit/test_ringfe.c runs build/tests/unit/test_ringfe).
# The last line is always "N passed, N failed, N skipped"; exit 1 on failure.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/tests/pypath.sh"
LOGDIR=${WB_TEST_LOGDIR:-$ROOT/build/test-logs}
mkdir -p "$LOGDIR"
pass=0 fail=0 skip=0
failed_names=()
failed_logs=()
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

# script_timeout SCRIPT: its "# timeout: N" line, else the default
script_timeout() {
	local n
	n=$(sed -n 's/^# timeout: *\([0-9][0-9]*\) *$/\1/p' "$1" | head -1)
	echo "${n:-${WB_SCRIPT_TIMEOUT:-900}}"
}

# child_cpu VAR: set VAR to the CPU seconds (user + system) of this shell's
# waited-for children so far (`times` in this shell: in a $(...) subshell it
# would count the subshell's own children)
child_cpu() {
	times >"$LOGDIR/.times"
	printf -v "$1" '%s' "$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); c += a[1] * 60 + a[2] } }
		END { printf "%d", c }' "$LOGDIR/.times")"
}

run_script() { # $1 = script, $2 = label prefix (optional)
	local sc=$1 name log rc p f s limit t0 c0 c1
	name=${2:-}${sc#tests/}
	log="$LOGDIR/${name//\//_}.log"
	limit=$(script_timeout "$sc")
	echo "---- $name (time limit $limit s)"
	t0=$SECONDS
	child_cpu c0
	# timeout(1) runs the script in its own process group and signals the
	# whole group on expiry (the script's EXIT trap cleans up on SIGTERM);
	# what is still alive 20 s later gets SIGKILL.
	timeout --kill-after=20 "$limit" bash "$sc" 2>&1 | tee "$log" |
		grep -E '^(PASS|FAIL|SKIP) ' | sed 's/^/    /'
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		tail -5 "$log" | sed 's/^/      /'
		echo "FAIL $name TIMEOUT after $limit s" | tee -a "$log" | sed 's/^/    /'
	fi
	p=$(grep -c '^PASS ' "$log") f=$(grep -c '^FAIL ' "$log") s=$(grep -c '^SKIP ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1; echo "    FAIL $name exited $rc without naming a failed case (log: $log)"
		tail -5 "$log" | sed 's/^/      /'
	fi
	child_cpu c1
	echo "     ($name: $p PASS, $f FAIL, $s SKIP, $((SECONDS - t0)) s, CPU $((c1 - c0)) s)"
	[ "$f" -eq 0 ] || { failed_names+=("$name"); failed_logs+=("$log"); }
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

if [ $# -gt 0 ]; then
	for t in "$@"; do
		case $t in
		*.sh) run_script "$t" ;;
		tests/unit/*) b=build/${t%.c}; [ -x "$b" ] || b=$t; run_cmocka unit "$b" ;;
		*) run_cmocka unit "$t" ;;
		esac
	done
	only=none # the named tests only
fi
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
if want tsan; then
	echo "==== ThreadSanitizer (build-tsan/)"
	if [ -x build-tsan/wbrepd ] && [ -x build-tsan/tests/unit/test_ioloop ]; then
		export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1"
		run_cmocka tsan build-tsan/tests/unit/test_ioloop
		[ -x build-tsan/tests/unit/test_pagebuf ] && run_cmocka tsan build-tsan/tests/unit/test_pagebuf
		# peer links on two io loops (its second group)
		[ -x build-tsan/tests/unit/test_peerlink ] &&
			run_cmocka tsan build-tsan/tests/unit/test_peerlink
		[ -x build-tsan/tests/unit/test_ringfe ] &&
			run_cmocka tsan build-tsan/tests/unit/test_ringfe
		for sc in tests/integration/test_daemon.sh tests/integration/test_nbd.sh \
			tests/integration/test_nbd_tls.sh tests/integration/test_resources.sh; do
			B=build-tsan run_script "$sc" tsan/
		done
		unset TSAN_OPTIONS
	else
		echo "SKIP tsan: build-tsan/ not built (run: make TSAN=1 bins build-tsan/tests/unit/test_ioloop)"
		skip=$((skip + 1))
	fi
fi
for sc in $(ls tests/*/test_*.sh 2>/dev/null | sort); do
	suite=$(basename "$(dirname "$sc")")
	if want scripts || want "$suite"; then run_script "$sc"; fi
done

if [ ${#failed_names[@]} -gt 0 ]; then
	# what a failed script printed besides its PASS/SKIP lines (the
	# daemons' log lines a test shows on failure): a CI run keeps nothing
	# but this output
	for l in "${failed_logs[@]}"; do
		echo "---- details: $l"
		grep -vE '^(PASS|SKIP) ' "$l" | tail -40 | cut -c1-400 | sed 's/^/    /'
	done
	echo "failed: ${failed_names[*]}"
fi
echo "total time $SECONDS s"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
