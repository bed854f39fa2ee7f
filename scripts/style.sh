#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# style.sh - `make style`: clang-format check of userspace C against
# .clang-format, SPDX header check of every source file, and checkpatch.pl on
# kmod/ when a kernel source tree provides it (linux-source-6.1 ships it in
# its tarball; set CHECKPATCH=/path/to/checkpatch.pl; WB_STYLE_NO_CHECKPATCH=1
# skips it: tests/cli/test_style.sh). Exit 1 on findings.
set -u
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files '*.c' '*.h' | grep -v '^kmod/' )
for f in $(git ls-files '*.c' '*.h' '*.sh' 'Makefile' '*.mk'); do
	head -3 "$f" | grep -q 'SPDX-License-Identifier' || { echo "$f: missing SPDX line"; rc=1; }
done
if command -v clang-format >/dev/null; then
	n=0
	for f in $files; do
		if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
			echo "$f: not clang-formatted (clang-format -i $f)"; n=$((n + 1))
		fi
	done
	[ "$n" -eq 0 ] || rc=1
else
	echo "style: clang-format not installed, skipped"
fi
[ -n "${WB_STYLE_NO_CHECKPATCH:-}" ] && exit $rc
cp=${CHECKPATCH:-}
if [ -z "$cp" ]; then
	cp=$(ls /usr/src/linux-source-*/scripts/checkpatch.pl 2>/dev/null | head -1)
fi
if [ -z "$cp" ]; then
	# linux-source-6.1 ships the tree as a tarball: take the three files
	# checkpatch needs into build/checkpatch/ (once).
	tb=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1)
	if [ -n "$tb" ]; then
		d=build/checkpatch
		if [ ! -x "$d/scripts/checkpatch.pl" ]; then
			mkdir -p "$d"
			top=$(basename "$tb" .tar.xz)
			tar -xJf "$tb" -C "$d" --strip-components=1 "$top/scripts/checkpatch.pl" \
				"$top/scripts/spelling.txt" "$top/scripts/const_structs.checkpatch" \
				2>/dev/null || echo "style: cannot extract checkpatch from $tb"
		fi
		[ -x "$d/scripts/checkpatch.pl" ] && cp=$d/scripts/checkpatch.pl
	fi
fi
if [ -n "$cp" ] && [ -x "$cp" ]; then
	for f in $(git ls-files 'kmod/*.c' 'kmod/*.h'); do
		"$cp" --no-tree --terse --file "$f" | grep -E 'ERROR' && rc=1
	done
else
	echo "style: checkpatch.pl not found (apt-get install linux-source-6.1 and unpack, or CHECKPATCH=...), kmod check skipped"
fi
exit $rc
