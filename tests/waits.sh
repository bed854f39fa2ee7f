# SPDX-License-Identifier: GPL-2.0-only
#
# waits.sh - the bounded poll that the test scripts (through tests/lib.sh)
# and the benchmarks (tests/bench/run.sh, which cannot source lib.sh: that
# installs its own EXIT cleanup) share. Sourced; defines functions only.

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 when
# the deadline passes first
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
	return 0
}
