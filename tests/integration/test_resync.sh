#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_resync.sh - resync between two wbrepd on loopback with TLS
# (also: no snapshot on a resync target, also right after its restart)
# (docs/replication.md, "Resync"; the 2-node setup of tests/repl_lib.sh):
# a secondary kept away while the primary wrote more than its log holds
# gets a bitmap resync (progress in status; throttled with resync-rate);
# what the target has durably leaves the source's bitmap while it runs, so
# a kill -9 of the target, then of the source, in the middle resumes it
# (each later resync has fewer bytes to move than the one before) and it
# ends identical; a primary restarted while its secondary was connected
# gives it a bitmap resync once its log let go of the secondary's position
# (the restart puts the whole log into the peer's bitmap); a new secondary
# (empty log, garbage on its backing) gets
# a full sync, then again with resync-checksum (identical blocks skipped);
# an old primary that wrote alone returns with `wbctl connect
# --discard-my-data`, is killed -9 in the middle of that full sync, resumes
# and ends with the new primary's data; c-min-rate holds a resync (a full
# sync to alpha) down while its primary takes writes (status says so), the
# resync ends once they stop, every acknowledged write on both; wbctl
# pause-sync on the target, then on the source, holds a full sync (also
# across a reconnect) until resume-sync. Every case
# compares the exports (each node's read path) byte for byte.
# timeout: 900
. "$(dirname "$0")/../lib.sh"

need_bins resync "$WBREPD" "$WBCTL"
need_tools resync nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resync (engine wblog not registered)"
tmpdir resync

NODES="alpha beta"
REPL_METRICS=1 # metrics-listen in every config (resync-throttled)
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
SIZE_MB=$REPL_SIZE_MB
truncate -s 16M "$T/alpha/log" # smaller than what beta misses below

# put_img: tests/repl_lib.sh
# same_on NODE: NODE's export (its read path: log and backing) equals $T/img
same_on() { same_as "$T/img" "$1"; }
# writes NODE: $T/img onto NODE's export (nbdcopy flushes at the end)
writes() { timeout 300 nbdcopy "$T/img" "$(URI "$1")"; }
# st, other, started, nstart: tests/repl_lib.sh
finished() { wait_log_count 180 "$T/$1/wbrepd.log" "resync (to peer|from) [a-z]+: finished" "$2"; }
nfin() { grep -cE "resync (to peer|from) [a-z]+: finished" "$T/$1/wbrepd.log"; }

truncate -s "$DEVSZ" "$T/img"
repl_conf alpha primary
repl_conf beta secondary
repl_start alpha || { fail "resync-start: alpha"; finish; }
repl_start beta || { fail "resync-start: beta"; finish; }
put_img 0 8
if writes alpha && wait_for 120 same_on beta; then
	pass "resync-setup" "(both new: no sync, 8 MiB replicated)"
else
	fail "resync-setup: beta differs: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

# ---- beta away while alpha writes more than its 16 MiB log: bitmap resync
repl_stop beta KILL
put_img 16 36 alpha || fail "resync-write-away: writing to alpha failed"
if grep -q "peer beta: bitmap tracks records from seq" "$T/alpha/wbrepd.log" &&
	grep -q "peer beta fell behind past the log's retention" "$T/alpha/wbrepd.log"; then
	pass "resync-tracking"
else
	fail "resync-tracking: alpha's log does not say it tracks beta"
fi
# the bitmap marks what beta lacks: the 36 MiB, not the whole device
if st alpha 'p["out_of_sync_bytes"] >= 36 << 20 and p["out_of_sync_bytes"] < 48 << 20'; then
	pass "resync-oos" "($(grep -o '"out_of_sync_bytes": [^,]*' "$T/st.alpha"))"
else
	fail "resync-oos: $(grep -o '"out_of_sync_bytes": [^,]*' "$T/st.alpha")"
fi
# throttled (512 KiB/s: about 75 s for the 36 MiB) so that its middle can be
# seen and interrupted. Under load the test's own steps (writes, restarts,
# polls) took longer than the whole resync, which then ended before the
# kills below: once the progress a step needs is there, the resync is held
# (hold: resync-rate 1K, a request of 1 MiB every 17 min; what is asked
# already, at most 8 MiB in flight and 1 MiB of tokens, still completes).
# A kill -9 of either node ends the held resync; the next one runs at the
# rate in beta's configuration then.
# rate RATE: beta's configuration with resync-rate RATE, reloaded
rate() { repl_conf beta secondary resync-rate="$1" && ctl beta reload >"$T/reload" 2>&1 ||
	fail "resync-rate-$1: wbctl reload on beta failed: $(cat "$T/reload")"; }
# midway: beta is still a resync target, Inconsistent (else: why not)
midway() {
	st beta 'r["disk_state"] == "Inconsistent" and p.get("replication") == "SyncTarget"' ||
		{ fail "resync-$1: the resync ended before the kill: beta $(grep -oE '"(disk_state|replication|resync_done_bytes|resync_total_bytes)": [^,]*' "$T/st.beta" | tr '\n' ' ')"; return 1; }
}
repl_conf beta secondary resync-rate=512K
n0=$(nfin alpha)
s0=$(nstart alpha)
repl_start beta || fail "resync-restart: beta"
if wait_log 60 "$T/alpha/wbrepd.log" "resync to peer beta started: bitmap"; then
	pass "resync-bitmap-start" "($(started alpha "$s0") bytes)"
else
	fail "resync-bitmap-start: $(grep -E 'peer beta' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
t1=$(started alpha "$s0")
# progress in status: the target Inconsistent, SyncTarget, bytes done moving
if wait_for 60 st beta 'r["disk_state"] == "Inconsistent" and p["replication"] == "SyncTarget" and 0 < (p.get("resync_done_bytes") or 0) < p["resync_total_bytes"] and p["resync_eta_ms"] is not None' &&
	st alpha 'p["replication"] == "SyncSource" and p["disk"] == "Inconsistent"'; then
	pass "resync-progress" "($(grep -o '"resync_[a-z_]*": [0-9]*' "$T/st.beta" | tr '\n' ' '))"
else
	fail "resync-progress: beta: $(tr '\n' ' ' <"$T/st.beta" | grep -o '"disk_state[^]]*' | head -c 400)"
fi
# a resync target takes no snapshot while resync data goes to its backing
# (docs/snapshots.md): nothing readable, refused with the reason
fenced() {
	ctl beta snapshots r0 --json >"$T/snap.beta" 2>&1 && grep -q '"readable": null' "$T/snap.beta" &&
		! ctl beta snapshot r0 --gen 1 >"$T/snap1.beta" 2>&1 &&
		grep -q "a resync writes this node's backing device" "$T/snap1.beta"
}
if fenced; then
	pass "resync-snapshots-fenced"
else
	fail "resync-snapshots-fenced: $(cat "$T/snap.beta" "$T/snap1.beta" | tr '\n' ' ')"
fi
# what beta has durably is dropped from alpha's bitmap while it runs: 4
# MiB of it before the writes below mark 2 MiB of clean regions again, so
# that the resume after the target's kill has at least 2 MiB less than
# the first (waiting for 2 MiB here left that to how far the resync got
# meanwhile, too little twice under load on 2026-12-03)
if wait_for 60 st beta '(p.get("resync_done_bytes") or 0) >= 8 << 20' &&
	wait_for 60 st alpha "p['out_of_sync_bytes'] + (4 << 20) <= ${t1:-0}"; then
	pass "resync-progress-kept" "(alpha: $(grep -o '"out_of_sync_bytes": [^,]*' "$T/st.alpha") of ${t1:-?})"
else
	fail "resync-progress-kept: beta $(grep -o '"resync_done_bytes": [0-9]*' "$T/st.beta"), alpha $(grep -o '"out_of_sync_bytes": [^,]*' "$T/st.alpha") of ${t1:-?}"
fi
rate 1K
# new writes while it runs, into regions still to resync (22 MiB: about
# where it is, 44 MiB: ahead of it) and into clean ones: records flow as
# usual and no older resync data overwrites them (the final compare)
if put_img 22 2 alpha && put_img 44 2 alpha && put_img 58 2 alpha; then
	pass "resync-writes-during"
else
	fail "resync-writes-during: writing to alpha failed"
fi
# kill -9 of the target in the middle: it resumes, it does not start over
midway target-kill
repl_stop beta KILL
repl_conf beta secondary resync-rate=512K
s0=$(nstart alpha)
repl_start beta || fail "resync-restart2: beta"
if wait_for 60 st beta 'r["disk_state"] == "Inconsistent"'; then
	pass "resync-target-restart-inconsistent"
	# fenced from the start, before its resync resumes
	fenced && pass "resync-snapshots-fenced-restart" ||
		fail "resync-snapshots-fenced-restart: $(cat "$T/snap.beta" "$T/snap1.beta" | tr '\n' ' ')"
else
	fail "resync-target-restart-inconsistent: $(grep -o '"disk_state": "[A-Za-z]*"' "$T/st.beta")"
fi
wait_log_count 60 "$T/alpha/wbrepd.log" "resync to peer beta started" "$s0"
t2=$(started alpha "$s0")
if [ -n "$t2" ] && [ -n "$t1" ] && [ "$t2" -le $((t1 - (2 << 20))) ]; then
	pass "resync-target-resume" "($t2 of $t1 bytes left after the target's kill -9)"
else
	fail "resync-target-resume: the resync after the target's restart: ${t2:-?} bytes, the first ${t1:-?}"
fi
# kill -9 of the source in the middle
# (and alpha has taken some of that progress off beta's bitmap: it commits
# the bitmap right after, so its kill -9 keeps it; the target's counter
# alone runs up to a checkpoint, ~1 s, ahead of what alpha may clear)
if wait_for 60 st beta 'p.get("replication") == "SyncTarget" and (p.get("resync_done_bytes") or 0) >= 4 << 20' &&
	wait_for 30 st alpha "p['out_of_sync_bytes'] < ${t2:-0}"; then
	rate 1K
	midway source-kill
	repl_stop alpha KILL
	# without its primary an Inconsistent node is not promoted (unless --force)
	if ctl beta primary r0 >"$T/prom" 2>&1; then
		fail "resync-no-promote: an Inconsistent secondary was promoted: $(head -c 200 "$T/prom"); beta before the kill: $(grep -oE '"(disk_state|replication|resync_done_bytes|resync_total_bytes)": [^,]*' "$T/st.beta" | tr '\n' ' ')"
	elif grep -q Inconsistent "$T/prom"; then
		pass "resync-no-promote" "($(head -c 100 "$T/prom"))"
	else
		fail "resync-no-promote: the refusal does not say Inconsistent: $(cat "$T/prom")"
	fi
	rate 512K
	s0=$(nstart alpha)
	repl_start alpha || fail "resync-restart: alpha"
	wait_log_count 60 "$T/alpha/wbrepd.log" "resync to peer beta started" "$s0"
	t3=$(started alpha "$s0")
	if [ -n "$t3" ] && [ "$t3" -lt "$t2" ]; then
		pass "resync-source-resume" "($t3 of $t2 bytes left after the source's kill -9)"
	else
		fail "resync-source-resume: the resync after the source's restart: ${t3:-?} bytes, before ${t2:-?}"
	fi
else
	fail "resync-source-kill: no resync progress after beta's restart: beta $(grep -o '"resync_done_bytes": [0-9]*' "$T/st.beta"), alpha $(grep -o '"out_of_sync_bytes": [^,]*' "$T/st.alpha") of ${t2:-?}"
fi
# hold the resync again (1K: beta's next request waits ~17 min), then
# lift the limit: the reload must apply at once, not when that wait ends
rate 1K
d0=-1
for _ in $(seq 60); do
	st beta True
	d1=$(grep -o '"resync_done_bytes": [0-9]*' "$T/st.beta" | grep -o '[0-9]*$')
	[ "${d1:-x}" = "$d0" ] && break
	d0=${d1:-x}
	sleep 1
done
# no rate limit from now on
repl_conf beta secondary
ctl beta reload >/dev/null 2>&1 || fail "resync-reload: wbctl reload on beta failed"
if ! finished alpha "$n0"; then
	fail "resync-rate-reload: the resync did not finish within 180 s of lifting resync-rate 1K (done ${d0:-?} bytes when held; beta: $(grep -oE '"(replication|resync_done_bytes|resync_total_bytes)": [^,]*' "$T/st.beta" | tr '\n' ' '))"
else
	pass "resync-rate-reload" "(held at ${d0:-?} bytes done; finished after the reload)"
fi
if finished alpha "$n0" && wait_for 120 same_on beta && same_on alpha &&
	wait_for 60 st beta 'r["disk_state"] == "UpToDate"' && st alpha 'p["out_of_sync_bytes"] == 0'; then
	pass "resync-bitmap-identical" "($(grep -E 'resync to peer beta: finished' "$T/alpha/wbrepd.log" | tail -1 | sed 's/.*finished, //'))"
else
	fail "resync-bitmap-identical: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1); $(cmp "$T/img" "$T/out.alpha" 2>&1 | head -1); $(grep -E 'resync' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
# both nodes' data UUIDs are the same again
ua=$(grep -o '"data_uuid": "[0-9a-f]*"' "$T/st.alpha")
ub=$(grep -o '"data_uuid": "[0-9a-f]*"' "$T/st.beta")
if [ -n "$ua" ] && [ "$ua" = "$ub" ]; then
	pass "resync-uuid-adopted"
else
	fail "resync-uuid-adopted: alpha $ua, beta $ub"
fi

# ---- peer-retention: alpha keeps at most 4 MiB of destaged log for beta
nfb() { grep -c "peer beta fell behind past the log's retention" "$T/alpha/wbrepd.log"; }
nup() { grep -c "peer beta is up to date at seq" "$T/alpha/wbrepd.log"; }
repl_stop beta
repl_stop alpha
repl_conf alpha primary peer-retention=4M
repl_start alpha || fail "resync-retention: alpha start"
repl_start beta || fail "resync-retention: beta start"
wait_for 60 repl_uptodate alpha || fail "resync-retention: beta not up to date"
# within it (1 MiB while beta is away): catch-up from the log
repl_stop beta KILL
fb0=$(nfb)
s0=$(nstart alpha)
u0=$(nup)
put_img 8 1 alpha || fail "resync-retention-within: writing to alpha failed"
# destage runs (alpha clean): the records beta needs are held, not dropped
wait_for 60 st alpha 'r["dirty_bytes"] == 0' || fail "resync-retention-within: alpha not destaged: $(grep -o '"dirty_bytes": [0-9]*' "$T/st.alpha")"
repl_start beta || fail "resync-retention-within: beta start"
if wait_log_count 60 "$T/alpha/wbrepd.log" "peer beta is up to date at seq" "$u0" &&
	[ "$(nfb)" = "$fb0" ] && [ "$(nstart alpha)" = "$s0" ] && wait_for 60 same_on beta; then
	pass "resync-retention-within" "(1 MiB behind: caught up from the log, no resync)"
else
	fail "resync-retention-within: $(grep -E 'peer beta' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
# past it (8 MiB away, the 16 MiB log would hold it): dropped, bitmap resync
repl_stop beta KILL
fb0=$(nfb)
s0=$(nstart alpha)
n0=$(nfin alpha)
put_img 40 8 alpha || fail "resync-retention-past: writing to alpha failed"
if wait_log_count 60 "$T/alpha/wbrepd.log" "peer beta fell behind past the log's retention" "$fb0" &&
	! grep -E "peer [0-9]+ dropped at seq" "$T/alpha/wbrepd.log" | tail -1 | grep -q "which is full"; then
	pass "resync-retention-drop" "($(grep -oE 'peer [0-9]+ dropped at seq [0-9]+: it held [^;]*' "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "resync-retention-drop: $(grep -E 'dropped|fell behind' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
repl_start beta || fail "resync-retention-past: beta start"
if finished alpha "$n0" && [ "$(started alpha "$s0" 2>/dev/null)" -le $((12 << 20)) ] &&
	grep "resync to peer beta started" "$T/alpha/wbrepd.log" | tail -1 | grep -q "started: bitmap" &&
	wait_for 120 same_on beta && same_on alpha; then
	pass "resync-retention-past" "(bitmap resync of $(started alpha "$s0") bytes, identical)"
else
	fail "resync-retention-past: $(grep -E 'resync to peer beta' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' '); $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

# ---- the primary restarts: it does not know how far beta got (the hold
# on its log lived in memory). beta away while alpha writes more than its
# 16 MiB log holds: a bitmap resync of what the log had at the restart and
# everything since, not a full sync (before 2026-12-03: "its position is no
# longer in the log", every region)
wait_for 60 repl_uptodate alpha || fail "resync-primary-restart: beta not up to date"
repl_stop alpha KILL
repl_stop beta
repl_start alpha || fail "resync-primary-restart: alpha start"
s0=$(nstart alpha)
n0=$(nfin alpha)
put_img 0 20 alpha || fail "resync-primary-restart: writing to alpha failed"
repl_start beta || fail "resync-primary-restart: beta start"
if finished alpha "$n0" &&
	grep "resync to peer beta started" "$T/alpha/wbrepd.log" | tail -1 | grep -q "started: bitmap" &&
	[ "$(started alpha "$s0")" -lt $((40 << 20)) ] && wait_for 120 same_on beta && same_on alpha; then
	pass "resync-primary-restart" "(bitmap resync of $(started alpha "$s0") bytes, identical)"
else
	fail "resync-primary-restart: $(grep -E 'peer beta needs|resync to peer beta started' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' '); $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

# ---- a new secondary: empty log, garbage on its backing: full sync
repl_stop beta
rm -f "$T/beta/log"
truncate -s 64M "$T/beta/log"
head -c $((SIZE_MB * 1048576 - 4096)) /dev/urandom >"$T/beta/backing"
truncate -s ${SIZE_MB}M "$T/beta/backing"
n0=$(nfin alpha)
repl_start beta || fail "resync-full-start: beta"
if finished alpha "$n0" && grep -q "resync to peer beta started: full sync" "$T/alpha/wbrepd.log" &&
	wait_for 120 same_on beta; then
	pass "resync-full-identical"
else
	fail "resync-full-identical: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1); $(grep -E 'resync|refus' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi

# ---- the same with checksums: the backing already holds the data
repl_stop beta
rm -f "$T/beta/log"
truncate -s 64M "$T/beta/log"
repl_conf beta secondary resync-checksum=yes
n0=$(nfin alpha)
repl_start beta || fail "resync-csum-start: beta"
if finished alpha "$n0" && wait_for 120 same_on beta &&
	grep -E "peer beta: [0-9]+ regions resynced, [0-9]+ bytes written, [1-9][0-9]* bytes were identical" "$T/alpha/wbrepd.log" >"$T/csum"; then
	pass "resync-checksum-identical" "($(tail -1 "$T/csum" | sed 's/.*resynced, //'))"
else
	fail "resync-checksum-identical: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1); $(grep -E 'regions resynced' "$T/alpha/wbrepd.log" | tail -1)"
fi
repl_conf beta secondary

# ---- old primary returns: alpha wrote alone, beta was promoted and wrote
repl_stop beta
cp "$T/img" "$T/img.common"
put_img 4 2 alpha || fail "resync-discard: alpha write"
repl_stop alpha KILL
repl_start beta || fail "resync-discard: beta start"
ctl beta primary r0 --force >"$T/prom" 2>&1 || fail "resync-discard: promote beta: $(cat "$T/prom")"
# beta's data: what both had, and its own write at 40 MiB (not alpha's at 4)
cp "$T/img.common" "$T/img"
put_img 40 4 beta || fail "resync-discard: beta write"
# throttled (512 KiB/s: about 12 s for the 6 MiB both wrote apart: alpha's
# 2 MiB at 4 MiB first, then beta's 4 MiB at 40 MiB) so that it can be
# killed in the middle of beta's part
repl_conf alpha secondary resync-rate=512K
repl_start alpha || fail "resync-discard: alpha start"
if wait_log 60 "$T/alpha/wbrepd.log" "never had|split brain"; then
	pass "resync-discard-refused" "(without --discard-my-data)"
else
	fail "resync-discard-refused: $(grep -E 'peer beta' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
n0=$(nfin beta)
s0=$(nstart beta)
# both went StandAlone: alpha throws its data away, beta connects again:
# a bitmap resync of the blocks both wrote since the fork (not a full
# sync); alpha killed -9 in the middle of it: once its log was rebased it
# no longer discards, so the next resync resumes (bitmap, fewer bytes)
if ctl alpha connect r0 --discard-my-data >"$T/conn" 2>&1 && ctl beta connect r0 >>"$T/conn" 2>&1 &&
	wait_for 60 st alpha '(p.get("resync_done_bytes") or 0) >= 4 << 20'; then
	if grep "resync to peer alpha started" "$T/beta/wbrepd.log" | tail -1 | grep -q "started: bitmap" &&
		grep -q "discarding its data: the blocks of this node's records from seq" "$T/alpha/wbrepd.log" &&
		[ "$(jget alpha '(s["peers"] or [{}])[0].get("resync_total_bytes") or 0')" -le $((8 << 20)) ]; then
		pass "resync-discard-bitmap" "($(grep -o 'peer alpha needs a bitmap resync ([^,]*' "$T/beta/wbrepd.log" | tail -1); $(grep "resync from beta started" "$T/alpha/wbrepd.log" | tail -1 | grep -oE '[0-9]+ bytes') + alpha's own)"
	else
		fail "resync-discard-bitmap: $(grep 'peer alpha needs a' "$T/beta/wbrepd.log" | tail -1)"
	fi
	t1=$(started beta "$s0")
	repl_stop alpha KILL
	s1=$(nstart beta)
	repl_start alpha || fail "resync-discard-resume: alpha start"
	wait_log_count 60 "$T/beta/wbrepd.log" "resync to peer alpha started" "$s1"
	t2=$(started beta "$s1")
	if [ -n "$t2" ] && [ -n "$t1" ] && [ "$t2" -lt "$t1" ] &&
		grep "resync to peer alpha started" "$T/beta/wbrepd.log" | tail -1 | grep -q "started: bitmap"; then
		pass "resync-discard-resume" "($t2 of $t1 bytes left after a kill -9 of the discarding node)"
	else
		fail "resync-discard-resume: ${t2:-no} resync after alpha's restart, ${t1:-?} before: $(grep 'resync to peer alpha started' "$T/beta/wbrepd.log" | tail -1)"
	fi
else
	fail "resync-discard-resume: $(cat "$T/conn"); no progress: $(head -c 300 "$T/st.alpha")"
fi
repl_conf alpha secondary
ctl alpha reload >/dev/null 2>&1 || fail "resync-discard: wbctl reload on alpha failed"
if finished beta "$n0" &&
	wait_for 120 same_on alpha && wait_for 60 st alpha 'r["disk_state"] == "UpToDate"'; then
	pass "resync-discard-identical"
else
	fail "resync-discard-identical: $(cat "$T/conn"); $(cmp "$T/img" "$T/out.alpha" 2>&1 | head -1); $(grep -E 'resync' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
# ---- c-min-rate: alpha resynced (a full sync: --discard-my-data on a
# healthy secondary) while its primary beta takes writes: the resync runs
# at c-min-rate and says so; once the writes stop it goes at resync-rate
# and ends; every acknowledged write on both
repl_conf alpha secondary resync-rate=4M c-min-rate=256K
ctl alpha reload >/dev/null 2>&1 || fail "resync-throttled: wbctl reload on alpha failed"
ST=$T/stamps
# the stamped blocks start zeroed (the checker takes nothing else for
# "never written"): 8 MiB of zeros through beta
head -c $((2048 * 4096)) /dev/zero >"$T/zero"
timeout 120 nbdcopy "$T/zero" "$(URI beta)" || fail "resync-throttled: zeroing through beta failed"
stamp_start beta "$ST" 2048 1 2 200 || fail "resync-throttled: the writer did not start"
n0=$(nfin beta)
ctl alpha connect r0 --discard-my-data >"$T/conn" 2>&1 || fail "resync-throttled: $(cat "$T/conn")"
# held down, not stopped: bytes move while it is throttled
if wait_for 60 st alpha 'p.get("replication") == "SyncTarget" and p.get("resync_throttled") is True' &&
	ctl alpha status r0 2>&1 | grep -q "throttled to c-min-rate (application writes)" &&
	curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" |
	grep -q '^wbrep_peer_resync_throttled{resource="r0",peer="beta"} 1$' &&
	wait_for 60 st alpha 'p.get("resync_throttled") is True and (p.get("resync_done_bytes") or 0) > 0'; then
	pass "resync-throttled" "($(grep -oE '"resync_(done_bytes|rate)": [0-9]+' "$T/st.alpha" | tr '\n' ' '))"
else
	fail "resync-throttled: alpha $(grep -oE '"(replication|resync_[a-z_]+)": [^,]*' "$T/st.alpha" | tr '\n' ' ')"
fi
stamp_stop || fail "resync-throttled: the writer did not stop"
if finished beta "$n0" && wait_for 60 st alpha 'r["disk_state"] == "UpToDate"' &&
	grep "resync from beta: finished" "$T/alpha/wbrepd.log" | tail -1 | grep -q "finished" &&
	stamp_verify beta "$ST" --exact && stamp_verify alpha "$ST" --exact; then
	pass "resync-throttled-end" "($(tail -1 "$ST.verify"))"
else
	fail "resync-throttled-end: $(grep -E 'resync' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' '); $(tail -1 "$ST.verify" 2>/dev/null)"
fi
# ---- wbctl pause-sync / resume-sync (DRBD's): a full sync to alpha
# (--discard-my-data) that starts paused there (nothing asked for, no
# ETA, status / JSON / metric / events say so), resumed there (bytes
# move); paused on the source beta: the target stops asking, and a
# reconnect keeps it paused (beta's hello says so); resumed on beta it
# ends, both exports identical
repl_conf alpha secondary resync-rate=2M
ctl alpha reload >/dev/null 2>&1 || fail "resync-pause: wbctl reload on alpha failed"
timeout 300 nbdcopy "$(URI beta)" "$T/img.beta" || fail "resync-pause: reading beta failed"
done_b() { jget alpha '(s["peers"] or [{}])[0].get("resync_done_bytes")'; }
# resync_done_bytes of alpha's sync unchanged for 2 s (what was in flight
# at the pause has landed), then for 2 s more
held() {
	local a b
	st alpha 'p.get("resync_paused") is True' || return 1
	a=$(done_b)
	sleep 2
	st alpha 'p.get("resync_paused") is True' && b=$(done_b) && [ "$a" = "$b" ]
}
p1=$(ctl alpha pause-sync r0 2>&1)
p2=$(ctl alpha pause-sync r0 2>&1)
n0=$(nfin beta)
if [[ "$p1" = *"resyncs of r0 paused: 0 running"*"1 peer(s) told"* ]] &&
	[[ "$p2" = *"already paused"* ]] && st alpha 'r["sync_paused"] is True' &&
	ctl alpha connect r0 --discard-my-data >"$T/conn" 2>&1 &&
	wait_for 60 st alpha 'p.get("replication") == "SyncTarget" and p.get("resync_paused") is True' &&
	st alpha 'p["resync_eta_ms"] is None and p["resync_done_bytes"] == 0 and p["peer_sync_paused"] is False' &&
	ctl alpha status r0 2>&1 | grep -q "paused by wbctl pause-sync on this node" &&
	curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" |
	grep -q '^wbrep_peer_resync_paused{resource="r0",peer="beta"} 1$' &&
	held && st alpha 'p["resync_done_bytes"] == 0' &&
	wait_for 30 st beta 'p.get("replication") == "SyncSource" and p["resync_paused"] is True and p["peer_sync_paused"] is True'; then
	pass "resync-pause-target" "(started paused: $p1; again: $p2)"
else
	fail "resync-pause-target: '$p1' '$p2' $(cat "$T/conn"); alpha $(grep -oE '"(replication|sync_paused|peer_sync_paused|resync_[a-z_]+)": [^,]*' "$T/st.alpha" | tr '\n' ' ')"
fi
r1=$(ctl alpha resume-sync r0 2>&1)
if [[ "$r1" = *"resyncs of r0 resumed: 1 running"* ]] &&
	wait_for 60 st alpha 'p.get("resync_paused") is False and (p.get("resync_done_bytes") or 0) > 0 and p["resync_eta_ms"] is not None' &&
	st alpha 'r["sync_paused"] is False' &&
	grep -q "resync from beta: paused by wbctl pause-sync on this node" "$T/alpha/wbrepd.log" &&
	grep -q "resync from beta: resumed by wbctl resume-sync on this node" "$T/alpha/wbrepd.log"; then
	pass "resync-pause-resume" "($r1; $(done_b) bytes done)"
else
	fail "resync-pause-resume: '$r1'; alpha $(grep -oE '"(replication|resync_[a-z_]+)": [^,]*' "$T/st.alpha" | tr '\n' ' ')"
fi
b1=$(ctl beta pause-sync r0 2>&1)
if [[ "$b1" = *"resyncs of r0 paused: 1 running"* ]] &&
	wait_for 30 st alpha 'p.get("resync_paused") is True and p["peer_sync_paused"] is True' &&
	ctl alpha status r0 2>&1 | grep -q "paused by wbctl pause-sync on beta" && wait_for 30 held &&
	grep -q "peer beta paused its resyncs" "$T/alpha/wbrepd.log"; then
	pass "resync-pause-source" "($b1; alpha held at $(done_b) bytes)"
else
	fail "resync-pause-source: '$b1'; alpha $(grep -oE '"(replication|peer_sync_paused|resync_[a-z_]+)": [^,]*' "$T/st.alpha" | tr '\n' ' ')"
fi
# a new connection: beta's hello says it paused, the resync that starts
# again waits
s0=$(nstart beta)
ctl alpha disconnect r0 >/dev/null 2>&1 && ctl alpha connect r0 >/dev/null 2>&1 ||
	fail "resync-pause-reconnect: disconnect/connect failed"
if wait_log_count 60 "$T/beta/wbrepd.log" "resync to peer alpha started" "$s0" &&
	wait_for 60 st alpha 'p.get("replication") == "SyncTarget" and p.get("resync_paused") is True and p["peer_sync_paused"] is True' &&
	wait_for 30 held; then
	pass "resync-pause-reconnect" "(held at $(done_b) bytes after the reconnect)"
else
	fail "resync-pause-reconnect: alpha $(grep -oE '"(replication|peer_sync_paused|resync_[a-z_]+)": [^,]*' "$T/st.alpha" | tr '\n' ' ')"
fi
b2=$(ctl beta resume-sync r0 2>&1)
b3=$(ctl beta resume-sync r0 2>&1)
if [[ "$b2" = *"resumed"* ]] && [[ "$b3" = *"are not paused"* ]] && finished beta "$n0" &&
	wait_for 60 st alpha 'r["disk_state"] == "UpToDate"' && wait_for 120 same_as "$T/img.beta" alpha; then
	pass "resync-pause-end" "($b2; again: $b3; alpha identical to beta)"
else
	fail "resync-pause-end: '$b2' '$b3'; $(grep -E 'resync' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' '); $(cmp "$T/img.beta" "$T/out.alpha" 2>&1 | head -1)"
fi
repl_log_clean resync-log-clean alpha beta
finish
