#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_resize.sh - growing a device online (`wbctl resize`, docs/wbctl.md;
# docs/replication.md "Growing a replicated device"), on real files over
# TLS: three nodes, protocol C, alpha primary, 64 MiB backings.
#   refused: the backings not grown ("already", as large as they allow);
#   a size one peer's backing cannot hold (named); shrinking; on a
#   secondary; a peer not connected (unless --assume-peer-has-space);
#   grow: with every backing at 96 MiB and other data in beta's and
#   gamma's new range (their backings held something else there), the
#   primary grows while a writer writes, the secondaries follow, the new
#   range is resynced (the writer's blocks and the new range identical on
#   all three, read through each node's export, whose size new clients
#   see), data written across the old end reads back everywhere; every
#   node keeps the size over a restart; a node that was down during a
#   grow (--assume-peer-has-space) grows and resyncs when it connects; a
#   node whose backing is too small is refused with what to do, and comes
#   in once its backing grew; a single node grows (nothing to resync) and
#   sends the resize event.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins resize "$WBREPD" "$WBCTL"
need_tools resize nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resize (engine wblog not registered)"
tmpdir resize

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta gamma || finish
repl_conf alpha primary wb-min-peers=1
repl_conf beta secondary wb-min-peers=1
repl_conf gamma secondary wb-min-peers=1
for n in alpha beta gamma; do
	repl_start $n || {
		fail "resize-start: $n: $REPL_WHY"
		finish
	}
done
wait_for 60 repl_uptodate alpha || fail "resize-link: $(head -c 300 "$T/st.alpha")"

M=1048576
D0=$DEVSZ                  # 64 MiB - 4 KiB
D1=$((96 * M - 4096))      # after the backings grew to 96 MiB
D2=$((128 * M - 4096))

# size NODE: the device size NODE's status says
size() { json "$1" True && jget "$1" 's["size"]'; }
size_is() { [ "$(size "$1")" = "$2" ]; }
# nbd_size NODE: the size a new NBD client of NODE is told
nbd_size() { nbdinfo --size "$(URI "$1")" 2>/dev/null; }
nbd_size_is() { [ "$(nbd_size "$1")" = "$2" ]; }
# resize NODE ARGS...: wbctl resize r0 ARGS on NODE, output in $T/rs.out
resize() {
	local n=$1
	shift
	ctl "$n" resize r0 "$@" >"$T/rs.out" 2>&1
}
rsout() { tr '\n' ' ' <"$T/rs.out"; }

truncate -s "$D0" "$T/img"
put_img 0 16 alpha || fail "resize-write: 16 MiB to alpha"

# ---- refusals: nothing to grow into, too large, shrink, on a secondary
if resize alpha && grep -q "already 67104768 bytes" "$T/rs.out" &&
	grep -q "grow it first" "$T/rs.out"; then
	pass "resize-already ($(rsout))"
else
	fail "resize-already: $(rsout)"
fi
truncate -s 96M "$T/alpha/backing" "$T/beta/backing"
if ! resize alpha --size $D1 && grep -q "peer gamma allows at most 67104768" "$T/rs.out"; then
	pass "resize-peer-small ($(rsout))"
else
	fail "resize-peer-small: $(rsout)"
fi
if ! resize alpha --size 32M && grep -q "shrinking is not supported" "$T/rs.out"; then
	pass "resize-shrink ($(rsout))"
else
	fail "resize-shrink: $(rsout)"
fi
if ! resize beta && grep -q "this node is a secondary" "$T/rs.out"; then
	pass "resize-secondary ($(rsout))"
else
	fail "resize-secondary: $(rsout)"
fi
if ! resize alpha --size 1000 && grep -qi "size" "$T/rs.out"; then
	pass "resize-unaligned ($(rsout))"
else
	fail "resize-unaligned: $(rsout)"
fi
size_is alpha "$D0" || fail "resize-refused-kept: alpha's size is $(size alpha)"

# ---- grow: every backing 96 MiB, the secondaries' new range holds other
# data, a writer runs meanwhile
truncate -s 96M "$T/gamma/backing"
for n in beta gamma; do
	head -c $((32 * M)) /dev/urandom | dd of="$T/$n/backing" bs=1M seek=64 conv=notrunc status=none
done
img_write alpha 0 16 65536 noflush &
WPID=$!
if resize alpha && grep -q "grown from 67104768 bytes (64.0 MiB) to 100659200 bytes (96.0 MiB); the secondaries grow and resync" "$T/rs.out"; then
	pass "resize-grow ($(rsout))"
else
	fail "resize-grow: $(rsout) / $(grep -i 'grow\|resize' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
wait "$WPID" || fail "resize-writer: a write failed during the grow"
for n in beta gamma; do
	wait_for 60 size_is $n "$D1" || fail "resize-follow-$n: size $(size $n), log: $(grep -i 'grow' "$T/$n/wbrepd.log" | tail -2 | tr '\n' ' ')"
done
wait_for 120 repl_uptodate alpha || fail "resize-resync: $(head -c 400 "$T/st.alpha")"
nbd_size_is alpha "$D1" || fail "resize-nbd-size: a new client of alpha is told $(nbd_size alpha)"
# data across the old end, then the whole device must read the same on
# every node (the new range: alpha's backing there, zeroes)
truncate -s "$D1" "$T/img"
put_img 60 8 alpha || fail "resize-write-across: alpha"
put_img 90 5 alpha || fail "resize-write-end: alpha"
for n in alpha beta gamma; do
	if wait_for 60 nbd_size_is $n "$D1" && wait_for 120 same_as "$T/img" $n; then
		pass "resize-data-$n (the device reads back on $n, $D1 bytes)"
	else
		fail "resize-data-$n: size $(nbd_size $n): $(img_diff "$T/img" "$T/out.$n")"
	fi
done
grep -q "resync to peer beta" "$T/alpha/wbrepd.log" || fail "resize-resynced: no resync to beta in alpha's log"

# ---- every node keeps its size across a restart
for n in gamma beta alpha; do repl_stop $n; done
for n in alpha beta gamma; do
	repl_start $n || fail "resize-restart-$n: $REPL_WHY"
done
wait_for 60 repl_uptodate alpha || fail "resize-restart-link: $(head -c 300 "$T/st.alpha")"
if size_is alpha "$D1" && size_is beta "$D1" && size_is gamma "$D1" && same_as "$T/img" gamma; then
	pass "resize-restart (every node $D1 bytes, gamma's data intact)"
else
	fail "resize-restart: sizes $(size alpha) $(size beta) $(size gamma): $(img_diff "$T/img" "$T/out.gamma")"
fi

# ---- a node down during a grow: refused, then --assume-peer-has-space;
# it grows and resyncs when it connects
repl_stop gamma
wait_for 30 json alpha 'any(p["node"] == "gamma" and p["connection"] != "Connected" for p in s["peers"])' ||
	fail "resize-down: alpha still sees gamma connected"
truncate -s 128M "$T/alpha/backing" "$T/beta/backing"
if ! resize alpha && grep -q "peer gamma is not connected" "$T/rs.out"; then
	pass "resize-peer-down-refused ($(rsout))"
else
	fail "resize-peer-down-refused: $(rsout)"
fi
if resize alpha --assume-peer-has-space && grep -q "to 134213632 bytes" "$T/rs.out"; then
	pass "resize-peer-space ($(rsout))"
else
	fail "resize-peer-space: $(rsout)"
fi
wait_for 60 size_is beta "$D2" || fail "resize-peer-space-beta: beta's size $(size beta)"
truncate -s "$D2" "$T/img"
put_img 120 7 alpha || fail "resize-write-2: alpha"
# gamma's backing is still 96 MiB: refused with what to do, until it grew
repl_start gamma || fail "resize-gamma-start: $REPL_WHY"
if wait_for 30 grep -q "this node's backing allows at most" "$T/gamma/wbrepd.log"; then
	pass "resize-small-backing-refused ($(grep -o "the primary alpha's device is [^:]*: grow the backing" "$T/gamma/wbrepd.log" | head -1))"
else
	fail "resize-small-backing-refused: $(grep -i grow "$T/gamma/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
size_is gamma "$D1" || fail "resize-small-kept: gamma's size $(size gamma)"
truncate -s 128M "$T/gamma/backing"
if wait_for 120 size_is gamma "$D2" && wait_for 120 repl_uptodate alpha &&
	wait_for 60 nbd_size_is gamma "$D2" && wait_for 120 same_as "$T/img" gamma; then
	pass "resize-late-peer (gamma grew to $D2 when its backing allowed it, resynced, data identical)"
else
	fail "resize-late-peer: gamma $(size gamma): $(img_diff "$T/img" "$T/out.gamma")"
fi
for n in alpha beta; do
	same_as "$T/img" $n || fail "resize-final-$n: $(img_diff "$T/img" "$T/out.$n")"
done

# ---- a single node (no [node] sections): grows, nothing to resync; the
# event is sent
for n in gamma beta alpha; do repl_stop $n; done
mkdir -p "$T/solo"
truncate -s 64M "$T/solo/backing"
truncate -s 64M "$T/solo/log"
repl_solo_conf solo
repl_start solo || fail "resize-solo-start: $REPL_WHY"
rm -f "$T/img"
truncate -s "$D0" "$T/img"
put_img 56 7 solo || fail "resize-solo-write"
ctl solo events r0 >"$T/solo.events" 2>&1 &
EPID=$!
track_pid $EPID
sleep 0.5
truncate -s 96M "$T/solo/backing"
truncate -s "$D1" "$T/img"
if resize solo && grep -q "grown from 67104768 bytes (64.0 MiB) to 100659200 bytes (96.0 MiB)$" "$T/rs.out" &&
	nbd_size_is solo "$D1" && put_img 62 4 solo && same_as "$T/img" solo &&
	wait_for 10 grep -q " r0 resize: grown from" "$T/solo.events"; then
	pass "resize-solo ($(rsout))"
else
	fail "resize-solo: $(rsout), size $(nbd_size solo), events: $(tail -2 "$T/solo.events" | tr '\n' ' ')"
fi
kill "$EPID" 2>/dev/null
finish
