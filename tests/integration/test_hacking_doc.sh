#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_hacking_doc.sh - docs/hacking.md names only functions that exist.
# Every function written there as `name()` must have a definition in a *.c
# or *.h file of the tree (a line starting with its return type, or a
# #define of it; prototypes ending in ';' do not count). A self-check first
# runs the same checker on a doc naming a function that does not exist and
# requires it to report that name, so the real case can fail.
# HACKING_DOC=path checks another file. Prints PASS/FAIL lines.
# timeout: 120
set -u
. "$(dirname "$0")/../lib.sh"

tmpdir hackdoc
doc=${HACKING_DOC:-docs/hacking.md}

# names DOC: every `name()` written in DOC, one per line, sorted, unique
names() {
	grep -oE '`[A-Za-z_][A-Za-z0-9_]*\(\)`' "$1" | tr -d '`()' | sort -u
}

# C sources of the tree (not build output)
git ls-files -- '*.c' '*.h' >"$T/src" 2>/dev/null
[ -s "$T/src" ] || find . -path ./build -prune -o -path './build-*' -prune -o \
	\( -name '*.c' -o -name '*.h' \) -print >"$T/src"

# defined NAME: a definition of NAME in one of the sources
defined() {
	xargs -d '\n' grep -hE -- \
		"^([A-Za-z_][A-Za-z0-9_ *]*[ *])?$1\(|^#[[:space:]]*define[[:space:]]+$1\(" \
		<"$T/src" 2>/dev/null | grep -qvE ';[[:space:]]*$'
}

# missing DOC: the names in DOC that have no definition
missing() {
	local n
	for n in $(names "$1"); do
		defined "$n" || echo "$n"
	done
}

# self-check: a misspelled name is reported, a real one is not
printf 'calls `wb_engine_submit()` then `wbl_submit_wrtie()`\n' >"$T/bad.md"
got=$(missing "$T/bad.md" | tr '\n' ' ')
if [ "$got" = "wbl_submit_wrtie " ]; then
	pass hacking-doc-checker "reports a misspelled name only"
else
	fail hacking-doc-checker "expected 'wbl_submit_wrtie', got '$got'"
fi

if [ ! -f "$doc" ]; then
	fail hacking-doc-names "$doc does not exist"
	finish
fi
n=$(names "$doc" | wc -l)
miss=$(missing "$doc" | tr '\n' ' ')
if [ "$n" -eq 0 ]; then
	fail hacking-doc-names "$doc names no function as \`name()\`"
elif [ -n "$miss" ]; then
	fail hacking-doc-names "$doc names functions not defined in the tree: $miss"
else
	pass hacking-doc-names "all $n functions named in $doc are defined"
fi
finish
