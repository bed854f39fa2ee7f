#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1200
#
# test_demo_cluster.sh - runs `make demo`'s script (deploy/demo-cluster.sh:
# 3-node cluster, ext4 on r0, cut/heal, failover) without pacemaker
# (WB_DEMO_PACEMAKER=0: failover by wbctl primary; tests/cluster/
# test_pacemaker.sh covers pacemaker, and its start-up is slow) and checks that it exits 0
# with exactly one "demo: PASS" line and no FAIL. The demo itself checks
# the data (checksums on the promoted node or a secondary's replica, fsck).
# SKIP when the demo cannot run here (not root, no /dev/fuse, tools missing).
set -u
. "$(dirname "$0")/../lib.sh"
need_bins demo-cluster "$WBREPD" "$WBCTL"
if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ]; then
	skip_all "demo-cluster: needs root and /dev/fuse"
fi
need_tools demo-cluster corosync nft openssl nbdfuse fusermount3 losetup mkfs.ext4 python3
tmpdir demo-cluster
WB_DEMO_PACEMAKER=0 timeout 1140 bash deploy/demo-cluster.sh >"$T/demo.log" 2>&1
rc=$?
steps=$(grep -c '^==> \[' "$T/demo.log")
if [ $rc -eq 0 ] && [ "$(grep -c '^demo: PASS' "$T/demo.log")" -eq 1 ] && ! grep -q '^demo: FAIL' "$T/demo.log"; then
	pass "demo_cluster ($steps steps; $(grep '^demo: PASS' "$T/demo.log" | sed 's/^demo: PASS //'))"
	grep 'NOT DONE' "$T/demo.log" | sort -u | sed 's/^ */    /'
	finish
fi
tail -30 "$T/demo.log"
fail demo_cluster "exit $rc, $(grep -m1 '^demo: FAIL' "$T/demo.log" || echo "no success line")"
finish
