#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_style.sh - the source tree keeps its own rules (`make style`, which
# CI does not run by itself): every userspace C file is clang-formatted
# (.clang-format; clang-format comes with scripts/deps.sh) and every
# source file carries its SPDX line. checkpatch on kmod/ stays with
# `make style` (it needs a kernel source tree).
# timeout: 300
set -u
. "$(dirname "$0")/../lib.sh"

need_tools cli/style clang-format git
git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 || skip_all "cli/style: $ROOT is not a git checkout"
tmpdir style
if WB_STYLE_NO_CHECKPATCH=1 bash "$ROOT/scripts/style.sh" >"$T/style.out" 2>&1; then
	pass "style-format-spdx" "($(git -C "$ROOT" ls-files '*.c' '*.h' | grep -vc '^kmod/') C files formatted, SPDX lines present)"
else
	fail "style-format-spdx: $(grep -c . "$T/style.out") findings: $(head -5 "$T/style.out" | tr '\n' ' ')"
fi
finish
