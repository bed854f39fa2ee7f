#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_resync_hook.sh - before-resync-target (DRBD's): a program the sync
# target runs and waits for before the resync changes anything
# (docs/replication.md, "Resync"). Two wbrepd over TLS, alpha's log 16 MiB
# so that what beta misses while it is away takes a bitmap resync. beta's
# hook (a script of this test) records how it was called, copies beta's
# backing file (the "snapshot"), and waits for the test's go:
#   - while it waits, beta's resync moved no byte, and the copy holds
#     exactly beta's data from before (8 MiB written while both were up,
#     all of it still in beta's log, checked: beta destages nothing by
#     itself here; away by wbctl disconnect, not a restart, whose moment
#     of write-through would destage it): the log was drained into the
#     backing device first; released, the resync ends, beta equals alpha
#   - a hook that exits 3: the resync does not start, beta goes
#     StandAlone with the reason in its status, its disk not Inconsistent;
#     `wbctl connect` with a hook that exits 0: resynced, identical
# timeout: 300
. "$(dirname "$0")/../lib.sh"

need_bins resync-hook "$WBREPD" "$WBCTL"
need_tools resync-hook nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resync-hook (engine wblog not registered)"
tmpdir rshook

NODES="alpha beta"
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
truncate -s 16M "$T/alpha/log"

cat >"$T/hook.sh" <<EOF
#!/bin/sh
# before-resync-target of test_resync_hook.sh
echo "\$* \$WB_RESOURCE \$WB_PEER \$WB_BACKING \$WB_NODE \$WB_EVENT_KIND" >>"$T/hook.args"
cp "\$WB_BACKING" "$T/snap.img"
n=0
while [ ! -e "$T/hook.go" ] && [ \$n -lt 600 ]; do sleep 0.1; n=\$((n + 1)); done
exit "\$(cat "$T/hook.rc" 2>/dev/null || echo 0)"
EOF
chmod +x "$T/hook.sh"

repl_conf alpha primary
# beta destages nothing by itself (below destage-low, no minimum rate):
# what it holds stays in its log until something drains it
repl_conf beta secondary "before-resync-target=$T/hook.sh" destage-min-rate=0 destage-low=50%
repl_start alpha || { fail "resync-hook-start: alpha"; finish; }
repl_start beta || { fail "resync-hook-start: beta"; finish; }
truncate -s "$DEVSZ" "$T/img"
put_img 0 8 alpha || fail "resync-hook: write to alpha"
if wait_for 120 same_as "$T/img" beta; then
	pass "resync-hook-setup" "(8 MiB replicated)"
else
	fail "resync-hook-setup: beta differs"
	finish
fi
cp "$T/img" "$T/img.before" # beta's data before it goes away
# the 8 MiB are in beta's log only (its backing file holds none of it): a
# copy of the backing device taken without draining the log would miss it
nz=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(8<<20); print(sum(1 for b in d[::4096] if b))' "$T/beta/backing")
if [ "$nz" = 0 ]; then
	pass "resync-hook-in-log" "(beta's backing holds none of the 8 MiB yet)"
else
	fail "resync-hook-in-log: $nz of 2048 blocks already on beta's backing: the test cannot tell a drained log"
fi
# away without a restart (a start runs write-through a moment: destage)
ctl beta disconnect r0 >/dev/null 2>&1 || fail "resync-hook: wbctl disconnect on beta failed"
put_img 16 24 alpha || fail "resync-hook: write while beta is away"
ctl beta connect r0 >/dev/null 2>&1 || fail "resync-hook: wbctl connect on beta failed"
if wait_for 60 test -s "$T/hook.args" && sleep 1 &&
	json beta 's["peers"][0].get("replication") == "SyncTarget" and s["peers"][0]["resync_done_bytes"] == 0 and s["peers"][0]["resync_hook"] is True and s["peers"][0]["resync_eta_ms"] is None' &&
	ctl beta status r0 2>&1 | grep -q "waiting for before-resync-target (the log drains first)" &&
	grep -q "^r0 alpha r0 alpha $T/beta/backing beta before-resync-target\$" "$T/hook.args" &&
	cmp -s -n "$DEVSZ" "$T/img.before" "$T/snap.img" &&
	grep -q "resync from alpha: waiting for before-resync-target" "$T/beta/wbrepd.log"; then
	pass "resync-hook-waits" "(0 bytes moved; the copy is beta's data before the resync)"
else
	fail "resync-hook-waits: $(cat "$T/hook.args" 2>/dev/null); $(cmp -n "$DEVSZ" "$T/img.before" "$T/snap.img" 2>&1 | head -1); beta $(grep -oE '"(replication|resync_done_bytes)": [^,]*' "$T/st.beta" | tr '\n' ' ')"
fi
touch "$T/hook.go"
if wait_for 120 json beta 's["disk_state"] == "UpToDate"' && wait_for 60 same_as "$T/img" beta &&
	grep -q "before-resync-target exited 0" "$T/beta/wbrepd.log"; then
	pass "resync-hook-end" "(released: resynced, identical)"
else
	fail "resync-hook-end: $(grep -E 'resync' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi

# a hook that fails: no resync, StandAlone, the data as it was
repl_stop beta KILL
put_img 40 20 alpha || fail "resync-hook: second write while beta is away"
echo 3 >"$T/hook.rc"
: >"$T/hook.args"
repl_start beta || fail "resync-hook: beta restart (2)"
if wait_for 60 json beta 's["peers"][0]["connection"] == "StandAlone"' &&
	json beta '"before-resync-target exited with status 3: the resync did not start" in (s["peers"][0]["problem"] or "") and s["disk_state"] != "Inconsistent"' &&
	test -s "$T/hook.args"; then
	pass "resync-hook-fails" "(StandAlone, disk $(jget beta 's["disk_state"]'))"
else
	fail "resync-hook-fails: beta $(grep -oE '"(connection|problem|disk_state)": [^,]*' "$T/st.beta" | tr '\n' ' ')"
fi
echo 0 >"$T/hook.rc"
ctl beta connect r0 >/dev/null 2>&1 || fail "resync-hook: wbctl connect on beta failed"
if wait_for 120 json beta 's["disk_state"] == "UpToDate"' && wait_for 60 same_as "$T/img" beta; then
	pass "resync-hook-connect" "(hook exits 0: resynced, identical)"
else
	fail "resync-hook-connect: $(grep -E 'resync' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
repl_log_clean resync-hook-log-clean alpha beta
finish
