#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl3_cover.sh - a bitmap resync must cover what the peer lacks
# (docs/replication.md, "Resync", "Bitmaps"). Three wbrepd on loopback
# with TLS, alpha primary, beta and gamma secondaries, the logs of alpha
# and beta 16 MiB (20 MiB written while gamma is away let go of its
# position there). Cases:
#   - secondaries track each other: gamma away for 1 MiB and back: beta's
#     bitmap of gamma is cleared once gamma caught up (from alpha)
#   - ... gamma is killed again while beta is
#     connected to it, beta restarts (the hold its log kept for gamma lived
#     in memory), alpha writes 20 MiB, beta is promoted: beta's bitmap of
#     gamma tracks from gamma's last told position (since it went away,
#     persistent), so gamma gets a bitmap resync of the 20 MiB, not a full
#     sync of 64 MiB (before 2026-12-03: a bitmap resync of nothing, gamma
#     UpToDate without the 20 MiB), byte-identical
#   - restart: alpha (secondary) never saw gamma go (it was down then); it
#     tracks every peer from its log tail when it starts, so once promoted
#     after 20 MiB more its bitmap still covers gamma's position, which its
#     log let go of: a bitmap resync of the 20 MiB, identical (before
#     2026-12-03 a full sync: alpha tracked gamma only from its promotion,
#     and the coverage check found that later than gamma's position;
#     before that check, a bitmap resync of nothing)
#   - an unfinished resync from another node: gamma, killed in the middle
#     of a bitmap resync from alpha, returns to beta promoted meanwhile:
#     only alpha's bitmap knew what was not done yet, so beta gives it a
#     full sync (the bug: a bitmap resync of what beta tracked), identical
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl3cover "$WBREPD" "$WBCTL"
need_tools repl3cover nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl3cover (engine wblog not registered)"
tmpdir repl3cover

NODES="alpha beta gamma"
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
truncate -s 16M "$T/alpha/log" "$T/beta/log"
for n in $NODES; do
	role=secondary
	[ $n = alpha ] && role=primary
	repl_conf $n $role wb-min-peers=1
	repl_start $n || {
		fail "repl3cover-start: $n"
		finish
	}
done

truncate -s "$DEVSZ" "$T/img"
all_up() { repl_uptodate alpha; }
if put_img 0 2 alpha && wait_for 60 all_up && wait_for 60 same_as "$T/img" gamma; then
	pass "repl3cover-setup" "(2 MiB on all three)"
else
	fail "repl3cover-setup: $(grep -o '"peers": .*' "$T/st.alpha" | head -c 300)"
	finish
fi

# uptodate_on PRIMARY NODE: NODE is Connected and UpToDate at PRIMARY
uptodate_on() { json "$1" "any(p['node'] == '$2' and p['disk'] == 'UpToDate' for p in s['peers'])"; }
# promote NODE CASE
promote() {
	if ctl "$1" primary r0 >"$T/p.$1" 2>&1; then
		pass "$2-promote-$1"
	else
		fail "$2-promote-$1: $(cat "$T/p.$1")"
		finish
	fi
}
# gamma_back PRIMARY CASE KIND: gamma started again gets a resync of KIND
# (bitmap or "full sync") from PRIMARY and ends byte-identical
gamma_back() {
	local n0
	n0=$(grep -c "resync to peer gamma: finished" "$T/$1/wbrepd.log")
	repl_start gamma || fail "$2-gamma-start: $REPL_WHY"
	if wait_log_count 120 "$T/$1/wbrepd.log" "resync to peer gamma: finished" "$n0" &&
		grep "resync to peer gamma started" "$T/$1/wbrepd.log" | tail -1 | grep -q "started: $3" &&
		wait_for 60 same_as "$T/img" gamma; then
		pass "$2-gamma-$3" "($(grep -o 'resync to peer gamma started: [a-z ]*, [0-9]* bytes' "$T/$1/wbrepd.log" | tail -1))"
	else
		fail "$2-gamma-$3: $(grep -E 'peer gamma (needs|is up)|resync to peer gamma' "$T/$1/wbrepd.log" | tail -3 | tr '\n' ' '); gamma now: $(same_as "$T/img" gamma && echo identical || img_diff "$T/img" "$T/out.gamma")"
	fi
}

# written CASE PRIMARY SECONDARY OFFSET_MB WHY: 20 MiB through PRIMARY
# at OFFSET_MB (more than a 16 MiB log holds), SECONDARY caught up
written() {
	if put_img "$4" 20 "$2" && wait_for 60 repl_caught_up "$2" "$3"; then
		pass "$1-written" "(20 MiB through $2; $5)"
	else
		fail "$1-written: writes or $3's catch-up failed"
		finish
	fi
}

# ---- secondaries track each other: gamma away for 1 MiB and back, caught
# up from alpha: beta's bitmap of it goes once gamma told beta it has all
# beta held when it came back
repl_stop gamma KILL
if wait_log 30 "$T/beta/wbrepd.log" "peer gamma: bitmap tracks records from seq" &&
	put_img 4 1 alpha && repl_start gamma && wait_log 60 "$T/beta/wbrepd.log" "peer gamma in sync at seq"; then
	pass "repl3cover-fellow-cleared" "($(grep -o 'peer gamma in sync at seq [0-9]*' "$T/beta/wbrepd.log" | tail -1))"
else
	fail "repl3cover-fellow-cleared: beta: $(grep -E 'peer gamma' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
wait_for 60 uptodate_on alpha gamma || fail "repl3cover-fellow: gamma not up to date again"

# ---- ... and a promotion before it is back: a bitmap resync
n_tr=$(grep -c "peer gamma: bitmap tracks records from seq" "$T/beta/wbrepd.log")
repl_stop gamma KILL
wait_log_count 30 "$T/beta/wbrepd.log" "peer gamma: bitmap tracks records from seq" "$n_tr" ||
	fail "repl3cover-fellow-tracks: beta does not track gamma"
repl_stop beta
repl_start beta || fail "repl3cover-fellow-beta-restart: $REPL_WHY"
wait_for 60 uptodate_on alpha beta || fail "repl3cover-fellow: beta not up to date again"
written repl3cover-fellow alpha beta 8 "with gamma away"
repl_stop alpha
promote beta repl3cover-fellow
gamma_back beta repl3cover-fellow bitmap
b=$(grep -oE 'resync to peer gamma started: bitmap, [0-9]+ bytes' "$T/beta/wbrepd.log" | tail -1 | grep -oE '[0-9]+ bytes' | cut -d' ' -f1)
[ -n "$b" ] && [ "$b" -ge $((20 << 20)) ] && [ "$b" -lt $((32 << 20)) ] ||
	fail "repl3cover-fellow-bytes: ${b:-no} bytes resynced (the 20 MiB expected)"
repl_conf alpha secondary wb-min-peers=1
repl_start alpha || fail "repl3cover-alpha-start: $REPL_WHY"
if wait_for 120 same_as "$T/img" alpha && same_as "$T/img" beta; then
	pass "repl3cover-fellow-all-identical"
else
	fail "repl3cover-fellow-all-identical: $(cmp "$T/img" "$T/out.alpha" 2>&1 | head -1)"
fi

# ---- restart: alpha never saw gamma go
wait_for 60 uptodate_on beta alpha && wait_for 60 uptodate_on beta gamma ||
	fail "repl3cover-restart: alpha or gamma not up to date at beta"
# alpha killed (a clean stop would make the hold its log kept for gamma a
# bitmap: test_repl_stophold.sh), so only its start tracks gamma, from its
# log tail
n_tr=$(grep -c "peer gamma: bitmap tracks records from seq" "$T/alpha/wbrepd.log")
repl_stop alpha KILL
repl_stop gamma KILL
repl_start alpha || fail "repl3cover-restart-alpha-start: $REPL_WHY"
wait_log_count 30 "$T/alpha/wbrepd.log" "peer gamma: bitmap tracks records from seq" "$n_tr" ||
	fail "repl3cover-restart-tracks: alpha does not track gamma from its start"
wait_for 60 uptodate_on beta alpha || fail "repl3cover-restart: alpha not up to date again"
written repl3cover-restart beta alpha 30 "alpha started after gamma went"
repl_stop beta
promote alpha repl3cover-restart
gamma_back alpha repl3cover-restart bitmap
b=$(grep -oE 'resync to peer gamma started: bitmap, [0-9]+ bytes' "$T/alpha/wbrepd.log" | tail -1 | grep -oE '[0-9]+ bytes' | cut -d' ' -f1)
[ -n "$b" ] && [ "$b" -ge $((20 << 20)) ] && [ "$b" -lt $((32 << 20)) ] ||
	fail "repl3cover-restart-bytes: ${b:-no} bytes resynced (the 20 MiB expected)"
repl_conf beta secondary wb-min-peers=1
repl_start beta || fail "repl3cover-restart-beta-start: $REPL_WHY"

# ---- an unfinished resync from another node (alpha the source)
wait_for 60 uptodate_on alpha beta && wait_for 60 uptodate_on alpha gamma ||
	fail "repl3cover-other: beta or gamma not up to date at alpha"
repl_stop gamma KILL
written repl3cover-other alpha beta 40 "with gamma away"
repl_conf gamma secondary wb-min-peers=1 resync-rate=256K
repl_start gamma || fail "repl3cover-other-gamma-restart: $REPL_WHY"
gamma_mid() { json gamma 'any(0 < (p.get("resync_done_bytes") or 0) < (p.get("resync_total_bytes") or 0) for p in s["peers"])'; }
if wait_for 60 gamma_mid; then
	pass "repl3cover-other-gamma-midway" "($(grep -o 'resync to peer gamma started: [a-z ]*, [0-9]* bytes' "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "repl3cover-other-gamma-midway: $(grep -E 'resync to peer gamma' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
repl_stop gamma KILL
repl_stop alpha
promote beta repl3cover-other
repl_conf gamma secondary wb-min-peers=1
gamma_back beta repl3cover-other "full sync"
grep "peer gamma needs a" "$T/beta/wbrepd.log" | tail -1 | grep -q "Inconsistent from a resync another node" ||
	fail "repl3cover-other-why: $(grep "peer gamma needs a" "$T/beta/wbrepd.log" | tail -1)"

repl_log_clean repl3cover alpha beta gamma
finish
