#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_repl_destage_err.sh - a log block destage cannot read on the
# primary is read from a peer and handed to destage, which goes on
# (engine ABI 17: hook log_unreadable, op destage_fill;
# docs/replication.md "A read error",
# docs/engine.md "A log block destage cannot read"). Before, that read
# failed the primary's engine: every later write failed with EIO until
# the node was repaired or pacemaker moved the primary. Two wbrepd on
# loopback with TLS (tests/repl_lib.sh), protocol C; alpha's log and
# backing files on a wbbadfs (build/wbbadfs: a FUSE passthrough whose
# files get unreadable ranges, the kernel's read path failing with EIO
# through io_uring, as a disk's medium error does; "remap on": a write
# heals the bad range it covers, as a disk remaps a pending sector).
#   peer      4 MiB written on alpha, left in its log (a 1 MiB RAM buffer:
#             destage must read them from the log device); the log blocks
#             they are in made unreadable; wbctl drain: destage asks beta
#             for them (event, log lines) and writes beta's copy to the
#             backing device, the drain ends; alpha's engine did not
#             fail, its backing file holds the 4 MiB (read directly),
#             the device reads back right, beta is UpToDate and the same
#   secondary the same on beta (also on a wbbadfs, the same small RAM
#             buffer and late destage), the secondary: its destage asks its
#             primary alpha for the blocks, takes alpha's copy once it has
#             every record below the seq it is as of, goes on; drained,
#             its backing file right, both devices right
#   nopeer    the same with beta stopped: no peer can serve them, alpha's
#             engine fails as before (the error in its log and status)
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

BADFS=$ROOT/$B/wbbadfs
WBENGINE=$ROOT/$B/wbengine
need_bins repl-destage-err "$WBREPD" "$WBCTL" "$BADFS" "$WBENGINE"
need_tools repl-destage-err nbdinfo openssl python3 cmp jq fusermount3
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-destage-err (engine wblog not registered)"
[ -c /dev/fuse ] || skip_all "repl-destage-err: no /dev/fuse"
tmpdir repl-destage-err
REPL_SIZE_MB=16
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
P=repl-destage-err
MB=1048576

# badfs NODE: NODE's backing and log move to a wbbadfs ($T/NODE.bad); the
# paths of repl_conf become symlinks into it
badfs() {
	mkdir -p "$T/$1.src" "$T/$1.bad"
	mv "$T/$1/backing" "$T/$1/log" "$T/$1.src/"
	"$BADFS" "$T/$1.src" "$T/$1.bad" -f 2>"$T/$1.badfs.log" &
	track_pid $!
	on_cleanup "fusermount3 -uz '$T/$1.bad' 2>/dev/null"
	wait_for 10 test -e "$T/$1.bad/.bad" || {
		fail "$P-fuse" "wbbadfs did not mount: $(cat "$T/$1.badfs.log")"
		finish
	}
	ln -s "$T/$1.bad/backing" "$T/$1/backing"
	ln -s "$T/$1.bad/log" "$T/$1/log"
}
badfs alpha
badfs beta
nfailed() { sed -n 's/^failed //p' "$T/${1:-alpha}.bad/.bad"; }
jqget() { ctl "$1" status --json r0 2>/dev/null | jq -r ".resources[0] | $2"; }
# loginfo EXPR [NODE]: where NODE's (alpha's) records are in its log file
# (wbengine info reads the file below the FUSE mount, read-only, beside
# the running daemon)
loginfo() {
	local n=${2:-alpha}
	"$WBENGINE" info --log "$T/$n.src/log" --backing "$T/$n.src/backing" --json 2>"$T/info.err" |
		jq -r "$1"
}
whole() {
	[ "$(jqget alpha '[.role, ([.peers[] | select(.disk == "UpToDate")] | length)] | join(" ")')" = "primary 1" ]
}
# write_bad OFF_MB [NODE]: 4 MiB at OFF_MB written on alpha, left in NODE's
# (alpha's) log, the log blocks they are in there made unreadable (F0:
# wbbadfs's failed reads then)
write_bad() {
	local t h n=${2:-alpha}
	img_rand "$1" 4 && img_write alpha "$1" 4 || { WHY="writing 4 MiB through alpha failed"; return 1; }
	if ! wait_for 10 test "$(jqget "$n" '.dirty_bytes')" -ge $((4 * MB)); then
		WHY="$n's log holds $(jqget "$n" '.dirty_bytes') dirty bytes, not the 4 MiB"
		return 1
	fi
	t=$(loginfo .tail_off "$n")
	h=$(loginfo .head_off "$n")
	if ! [ "$t" -gt 0 ] 2>/dev/null || ! [ "$h" -gt "$t" ] 2>/dev/null; then
		WHY="wbengine info: tail_off '$t' head_off '$h' ($(cat "$T/info.err"))"
		return 1
	fi
	echo "add log $t $((h - t))" >"$T/$n.bad/.bad"
	F0=$(nfailed "$n")
}
drain() {
	ctl "${1:-alpha}" drain r0 --timeout 60 >"$T/drain" 2>&1
	DRAIN_RC=$?
}

# alpha: a 1 MiB RAM buffer (records leave RAM soon) and no destage until
# the drain (no minimum rate, destage-low above what the case writes)
repl_conf alpha primary wb-min-peers=1 ram-buffer=1M destage-min-rate=0 destage-low=90% destage-high=95%
repl_conf beta secondary wb-min-peers=1 ram-buffer=1M destage-min-rate=0 destage-low=90% destage-high=95%
if ! repl_start alpha || ! repl_start beta; then
	fail "$P-start" "$REPL_WHY"
	finish
fi
if ! wait_for 60 whole; then
	fail "$P-start" "beta not UpToDate: $(jqget alpha '.mode_reason')"
	finish
fi
truncate -s "$DEVSZ" "$T/img"
echo "remap on" >"$T/alpha.bad/.bad"
echo "remap on" >"$T/beta.bad/.bad"

# ---------------------------------------------------------------- peer
if ! write_bad 2 || ! drain; then
	fail "$P-peer" "$WHY"
elif [ "$DRAIN_RC" != 0 ]; then
	fail "$P-peer" "drain failed: $(cat "$T/drain"); $(grep -i "destage" "$T/alpha/wbrepd.log" | tail -3)"
elif [ "$(nfailed)" -le "$F0" ]; then
	fail "$P-peer" "no read reached the bad log blocks (wbbadfs failed $F0 -> $(nfailed))"
elif [ "$(jqget alpha '.state')" = failed ]; then
	fail "$P-peer" "alpha's engine failed: $(grep -i "destage" "$T/alpha/wbrepd.log" | tail -3)"
elif ! grep -q "destage could not read [0-9]* bytes at offset [0-9]* from this node's log: asking a peer for them" "$T/alpha/wbrepd.log"; then
	fail "$P-peer" "no event for destage's read in alpha's log"
elif ! grep -q "blocks could not be read from the log (Input/output error): waiting up to 10000 ms for a good copy" "$T/alpha/wbrepd.log" ||
	! grep -q "goes on after [0-9]* ms: of the blocks it could not read from the log, [1-9][0-9]* came from the host (a peer)" "$T/alpha/wbrepd.log"; then
	fail "$P-peer" "no engine lines: $(grep -i "destage" "$T/alpha/wbrepd.log" | tail -3)"
elif grep -q "read repair: .* written back here" "$T/alpha/wbrepd.log"; then
	fail "$P-peer" "destage's blocks were written back through the log (read repair)"
elif [ "$(jqget alpha '.dirty_bytes')" != 0 ]; then
	fail "$P-peer" "alpha not drained: $(jqget alpha '.dirty_bytes') dirty bytes"
elif ! cmp -s <(tail -c +$((2 * MB + 1)) "$T/img" | head -c $((4 * MB))) \
	<(tail -c +$((2 * MB + 1)) "$T/alpha.src/backing" | head -c $((4 * MB))); then
	fail "$P-peer" "alpha's backing file does not hold the 4 MiB"
elif ! wait_for 30 whole; then
	fail "$P-peer" "beta not UpToDate after it"
elif ! same_as "$T/img" alpha; then
	fail "$P-peer" "alpha's device differs from what was written: $(img_diff "$T/img" "$T/out.alpha")"
elif ! same_as "$T/img" beta; then
	fail "$P-peer" "beta's device differs: $(img_diff "$T/img" "$T/out.beta")"
else
	pass "$P-peer" "($(($(nfailed) - F0)) log reads failed on alpha; $(grep -c "came from the host (a peer)" "$T/alpha/wbrepd.log") batches went on with beta's copy; drained, backing right, beta the same)"
fi

# ---------------------------------------------------------------- secondary
# the same on beta, the secondary: its destage asks its primary, alpha,
# for the blocks (as of alpha's next seq, taken once beta has every record
# below it) and goes on
if ! write_bad 11 beta || ! drain beta; then
	fail "$P-secondary" "${WHY:-}"
elif [ "$DRAIN_RC" != 0 ]; then
	fail "$P-secondary" "drain failed: $(cat "$T/drain"); $(grep -i "destage" "$T/beta/wbrepd.log" | tail -3)"
elif [ "$(nfailed beta)" -le "$F0" ]; then
	fail "$P-secondary" "no read reached the bad log blocks (wbbadfs failed $F0 -> $(nfailed beta))"
elif [ "$(jqget beta '.state')" = failed ]; then
	fail "$P-secondary" "beta's engine failed: $(grep -i "destage" "$T/beta/wbrepd.log" | tail -3)"
elif ! grep -q "destage could not read [0-9]* bytes at offset [0-9]* from this node's log: asking a peer for them" "$T/beta/wbrepd.log" ||
	! grep -q "goes on after [0-9]* ms: of the blocks it could not read from the log, [1-9][0-9]* came from the host (a peer)" "$T/beta/wbrepd.log"; then
	fail "$P-secondary" "no event or engine lines: $(grep -i "destage" "$T/beta/wbrepd.log" | tail -3)"
elif [ "$(jqget beta '.dirty_bytes')" != 0 ]; then
	fail "$P-secondary" "beta not drained: $(jqget beta '.dirty_bytes') dirty bytes"
elif ! cmp -s <(tail -c +$((11 * MB + 1)) "$T/img" | head -c $((4 * MB))) \
	<(tail -c +$((11 * MB + 1)) "$T/beta.src/backing" | head -c $((4 * MB))); then
	fail "$P-secondary" "beta's backing file does not hold the 4 MiB"
elif ! whole; then
	fail "$P-secondary" "beta not UpToDate after it: $(jqget alpha '.mode_reason')"
elif ! same_as "$T/img" beta || ! same_as "$T/img" alpha; then
	fail "$P-secondary" "a device differs from what was written: $(img_diff "$T/img" "$T/out.beta")"
else
	pass "$P-secondary" "($(($(nfailed beta) - F0)) log reads failed on beta; $(grep -c "came from the host (a peer)" "$T/beta/wbrepd.log") batches went on with alpha's copy; drained, backing right)"
fi

# ---------------------------------------------------------------- nopeer
# written with beta up (kept in the log), beta stopped: write-through,
# destage runs at once and finds no peer to ask
if ! write_bad 8 || ! repl_stop beta || ! drain; then
	fail "$P-nopeer" "${WHY:-stopping beta failed}"
elif [ "$DRAIN_RC" = 0 ]; then
	fail "$P-nopeer" "the drain succeeded without a peer to read from"
elif ! wait_for 10 grep -q "destage of seq [0-9]*\.\.[0-9]*: log read (no good copy to be had here): Input/output error" "$T/alpha/wbrepd.log"; then
	fail "$P-nopeer" "no failure line: $(grep -i "destage" "$T/alpha/wbrepd.log" | tail -3)"
elif ! wait_for 10 test "$(jqget alpha '.state')" = failed; then
	fail "$P-nopeer" "status does not show the failed engine: $(jqget alpha '.state')"
else
	pass "$P-nopeer" "(no peer: alpha's engine failed, as before)"
fi
finish
