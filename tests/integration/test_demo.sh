#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_demo.sh - runs `make demo`'s script (deploy/demo.sh) and checks that
# it exits 0 and printed its success line ("demo: PASS ..."). The demo itself
# checks the data (checksums across a daemon restart, fio verify, fsck).
# SKIP when the demo cannot run here (not root, no /dev/fuse, no nbdfuse).
set -u
. "$(dirname "$0")/../lib.sh"
need_bins demo "$WBREPD" "$WBCTL"
if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
	skip_all "demo: needs root and /dev/fuse"
fi
need_tools demo nbdfuse fusermount3 losetup mkfs.ext4 fio
log=$(mktemp /tmp/wbrep-demo-log.XXXXXX)
WB_DEMO_FIO_SECONDS=${WB_DEMO_FIO_SECONDS:-5} timeout 600 bash deploy/demo.sh >"$log" 2>&1
rc=$?
steps=$(grep -c '^==> \[' "$log")
if [ $rc -eq 0 ] && [ "$(grep -c '^demo: PASS' "$log")" -eq 1 ] && ! grep -q '^demo: FAIL' "$log"; then
	pass "demo ($steps steps; $(grep '^demo: PASS' "$log" | sed 's/^demo: PASS //'))"
	rm -f "$log"
	finish
fi
fail "demo: exit $rc, $(grep -m1 '^demo: FAIL' "$log" || echo "no success line") (log: $log)"
tail -25 "$log"
finish
