#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1200
#
# test_mutants.sh - `make mutants` (also run by `make test`): proves that the
# crash tests can fail. Each tests/mutants/*.patch is a known-bad change to
# a crash invariant (an ack before its promise holds, a checksum not
# checked, a flush skipped). For each one: copy the tree (sources, and
# build/ so only the patched file recompiles) into a scratch directory,
# apply the patch (patch -p1 --fuzz=0: a patch that no longer applies FAILS,
# so a refactor cannot silently disable a mutant: update the patch), build
# the patch's "# build:" targets, run its "# kill:" commands in order. The
# mutant is killed when one of them fails (non-zero exit, or a hang cut by
# the 300 s limit per command). First every kill command must pass on the
# unmutated tree, or a kill would prove nothing.
#
# A patch file starts with comment lines, then the diff:
#   # mutant: what invariant the change breaks
#   # build: make targets, relative to the tree (e.g. build/wbtorture)
#   # kill: a command run in the tree (one per line, tried in order)
# Prints PASS/FAIL per mutant and, last, "mutants: N, killed: K"; exits 1
# unless K = N. WB_MUTANTS=name,name runs only those patches.
set -u
. "$(dirname "$0")/../lib.sh"

need_tools mutants patch make
tmpdir mutants
patches=()
for p in tests/mutants/*.patch; do
	n=$(basename "$p" .patch)
	if [ -n "${WB_MUTANTS:-}" ] && [[ ",$WB_MUTANTS," != *",$n,"* ]]; then
		continue
	fi
	patches+=("$p")
done
[ ${#patches[@]} -gt 0 ] || { fail "mutants: no tests/mutants/*.patch"; echo "mutants: 0, killed: 0"; finish; }

# header VALUE-KIND PATCH: the values of its "# KIND:" lines, one a line
header() { sed -n "s/^# $1: *//p" "$2"; }

# run_kill DIR LOG CMD: run CMD (a command line, words split on blanks) in
# DIR with a 300 s limit; its exit code
run_kill() {
	local dir=$1 log=$2 cmd=$3
	# shellcheck disable=SC2086 # the command line is split on purpose
	(cd "$dir" && exec timeout --kill-after=10 300 $cmd) >"$log" 2>&1
}

# ---- baseline: every kill command passes on the unmutated tree
targets=$(for p in "${patches[@]}"; do header build "$p"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')
if ! make -s -j2 $targets >"$T/base-build.log" 2>&1; then
	fail "mutants-baseline: cannot build $targets: $(tail -3 "$T/base-build.log" | tr '\n' ' ')"
	echo "mutants: ${#patches[@]}, killed: 0"
	finish
fi
base_ok=1
while IFS= read -r cmd; do
	[ -n "$cmd" ] || continue
	if ! run_kill "$ROOT" "$T/base.log" "$cmd"; then
		fail "mutants-baseline: '$cmd' fails on the unmutated tree: $(tail -2 "$T/base.log" | tr '\n' ' ')"
		base_ok=0
	fi
done < <(for p in "${patches[@]}"; do header kill "$p"; done | sort -u)
if [ $base_ok = 1 ]; then
	pass "mutants-baseline (every kill command passes on the unmutated tree)"
else
	echo "mutants: ${#patches[@]}, killed: 0"
	finish
fi

# ---- the mutants
N=0 K=0
for p in "${patches[@]}"; do
	n=$(basename "$p" .patch)
	N=$((N + 1))
	W=$T/$n
	mkdir -p "$W"
	tar -C "$ROOT" --exclude=./build --exclude=./build-san --exclude=./build-fuzz \
		--exclude=./.git -cf - . | tar -C "$W" -xf -
	[ -d "$ROOT/build" ] && cp -a "$ROOT/build" "$W/build" && rm -rf "$W/build/test-logs"
	if ! (cd "$W" && patch -p1 --fuzz=0 --dry-run -s) <"$p" >"$T/$n.patch.log" 2>&1; then
		fail "mutant-$n: $p no longer applies to the tree (update the patch): $(head -3 "$T/$n.patch.log" | tr '\n' ' ')"
		rm -rf "$W"
		continue
	fi
	(cd "$W" && patch -p1 --fuzz=0 -s) <"$p" >>"$T/$n.patch.log" 2>&1
	# shellcheck disable=SC2046 # targets are words
	if ! (cd "$W" && make -s -j2 $(header build "$p")) >"$T/$n.build.log" 2>&1; then
		fail "mutant-$n: does not build (update the patch): $(grep -m2 error "$T/$n.build.log" | tr '\n' ' ')"
		rm -rf "$W"
		continue
	fi
	killer=""
	while IFS= read -r cmd; do
		[ -n "$cmd" ] || continue
		if ! run_kill "$W" "$T/$n.kill.log" "$cmd"; then
			killer=$cmd
			break
		fi
	done < <(header kill "$p")
	if [ -n "$killer" ]; then
		K=$((K + 1))
		why=$(grep -m1 -E 'VIOLATION|\[  FAILED  \]|after crash|violations: [1-9]|ERROR' \
			"$T/$n.kill.log" | cut -c1-120)
		pass "mutant-$n killed by '$killer' (${why:-exit non-zero})"
	else
		fail "mutant-$n survived: $(header mutant "$p" | head -1) - no kill command failed"
	fi
	rm -rf "$W"
done
echo "mutants: $N, killed: $K"
[ "$K" -eq "$N" ] || fails=$((fails + 1))
finish
