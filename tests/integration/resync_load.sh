#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# resync_load.sh - a resync under a stamped write load, interrupted and
# resumed (docs/replication.md, "Resync": the ordering of resync data and
# records, and the resume point). Two wbrepd on loopback with TLS
# (tests/repl_lib.sh); alpha primary takes the stamped writer
# (nbdtorture.py, 4 connections of at most 20 writes/s over the first
# 8 MiB) all along; beta comes up on a blank log: a full sync of the
# device (24 MiB + 16 MiB per cycle, so that every interrupted resync still
# has more to do than the writer's area), throttled (resync-rate 1M).
# Each time the resync has done 12 MiB (past the writer's 8 MiB, which its
# records mark again and again: the bitmap tracks every record) beta is
# killed -9 and restarted,
# WB_RESYNC_LOAD_CYCLES times (default 1; make torture-repl: 3), then alpha
# is killed -9 and restarted (the writer with it); every later resync must
# have fewer bytes to move than the one before. Unthrottled to the end; the
# writer stops, alpha flushes: both exports byte-identical and the stamped
# checker (--exact) clean on both. Not in make test (2-5 min on this
# machine; test_resync.sh has the short resume cases): make torture-repl.
# timeout: 900
. "$(dirname "$0")/../lib.sh"

need_bins resyncload "$WBREPD" "$WBCTL"
need_tools resyncload nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resyncload (engine wblog not registered)"
tmpdir resyncload

NODES="alpha beta"
CYCLES=${WB_RESYNC_LOAD_CYCLES:-1}
REPL_SIZE_MB=$((24 + 16 * CYCLES))
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
ST=$T/load.json
P=resyncload

# done_ge BYTES: beta is a sync target with at least BYTES done
done_ge() {
	st beta "p.get('replication') == 'SyncTarget' and (p.get('resync_done_bytes') or 0) >= $1"
}
# next_resync N0: wait for alpha's resync event N0+1, print its bytes
next_resync() {
	wait_log_count 60 "$T/alpha/wbrepd.log" "resync to peer beta started" "$1" && started alpha "$1"
}

repl_conf alpha primary wb-min-peers=1
repl_conf beta secondary wb-min-peers=1 resync-rate=1M
repl_start alpha || {
	fail "$P-start: alpha"
	finish
}
stamp_start alpha "$ST" 2048 4 8 20 || fail "$P-writer: did not start"
repl_progress alpha 50 || fail "$P-writer: no progress on alpha alone"
s0=$(nstart alpha)
repl_start beta || fail "$P-start: beta"
t=$(next_resync "$s0")
if [ -n "$t" ] && grep -q "resync to peer beta started: full sync" "$T/alpha/wbrepd.log"; then
	pass "$P-full-start" "($t bytes, the writer going on)"
else
	fail "$P-full-start: $(grep -E 'peer beta' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
	t=0
fi

# ---- the target killed in the middle, CYCLES times
for ((c = 1; c <= CYCLES; c++)); do
	if ! wait_for 120 done_ge $((12 << 20)); then
		fail "$P-target-kill-$c: beta made no resync progress: $(head -c 300 "$T/st.beta")"
		break
	fi
	repl_stop beta KILL
	repl_progress alpha 20 || fail "$P-target-kill-$c: writes stopped on alpha"
	s0=$(nstart alpha)
	repl_start beta || {
		fail "$P-target-kill-$c: beta did not come back"
		break
	}
	t2=$(next_resync "$s0")
	if [ -n "$t2" ] && [ "$t2" -lt "$t" ]; then
		pass "$P-target-resume-$c" "($t2 of $t bytes left)"
	else
		fail "$P-target-resume-$c: ${t2:-no} resync after the restart, ${t:-?} before"
	fi
	t=${t2:-$t}
done

# ---- the source killed in the middle; its writer dies with it and goes on
if wait_for 120 done_ge $((12 << 20)); then
	repl_stop alpha KILL
	stamp_wait_gone
	s0=$(nstart alpha)
	repl_start alpha || fail "$P-source-kill: alpha did not come back"
	# every acknowledged write survived alpha's kill; a write in flight
	# that reached its log becomes the block's expected version
	if stamp_verify alpha "$ST"; then
		pass "$P-source-kill-stamps" "($(tail -1 "$ST.verify"))"
	else
		fail "$P-source-kill-stamps: $(tail -3 "$ST.verify")"
	fi
	stamp_start alpha "$ST" 2048 4 8 20 || fail "$P-writer: did not start again"
	t2=$(next_resync "$s0")
	if [ -n "$t2" ] && [ "$t2" -lt "$t" ]; then
		pass "$P-source-resume" "($t2 of $t bytes left)"
	else
		fail "$P-source-resume: ${t2:-no} resync after alpha's restart, ${t:-?} before"
	fi
else
	fail "$P-source-kill: beta made no resync progress: $(head -c 300 "$T/st.beta")"
fi

# ---- to the end unthrottled, the writer going on
repl_conf beta secondary wb-min-peers=1
ctl beta reload >/dev/null 2>&1 || fail "$P-reload: wbctl reload on beta failed"
if wait_for 300 repl_uptodate alpha && repl_progress alpha 50; then
	pass "$P-uptodate" "($(grep -E 'resync to peer beta: finished' "$T/alpha/wbrepd.log" | tail -1 | sed 's/.*finished, //'); writes went on)"
else
	fail "$P-uptodate: $(grep -E 'resync' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
stamp_stop || fail "$P-writer: did not stop"
ctl alpha flush r0 >/dev/null || fail "$P-flush"
timeout 300 nbdcopy "$(URI alpha)" "$T/img.alpha"
if wait_for 180 same_as "$T/img.alpha" beta; then
	pass "$P-identical"
else
	fail "$P-identical: $(cmp "$T/img.alpha" "$T/out.beta" | head -1)"
fi
for n in alpha beta; do
	if stamp_verify $n "$ST" --exact; then
		pass "$P-stamps-$n" "($(tail -1 "$ST.log"); $(tail -1 "$ST.verify"))"
	else
		fail "$P-stamps-$n: $(tail -3 "$ST.verify")"
	fi
done
for n in alpha beta; do repl_stop $n; done
repl_log_clean "$P-log-clean" alpha beta
finish
