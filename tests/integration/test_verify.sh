#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_verify.sh - online verify (`wbctl verify`, docs/replication.md
# "Online verify") between two wbrepd on loopback with TLS: alpha primary,
# beta secondary (tests/repl_lib.sh), verify-rate 32M. Cases:
#   - identical replicas: the verify runs to its end, 0 blocks out of sync,
#     the whole device compared; status (human, JSON) and metrics show it
#   - refused on the secondary
#   - one block of beta's backing file overwritten behind its back (after
#     beta destaged it: its log is clean, so the backing file is what it
#     reads): the verify reports exactly that block (log line, JSON, the
#     verify event, the per-peer metric); beta restarted (the link goes
#     down, a catch-up after): a bitmap resync rewrites the block, the
#     next verify finds nothing; the same with `wbctl disconnect` and
#     `connect` on alpha; written again through the primary, the next
#     verify finds nothing
#   - a verify while the stamped writer keeps writing to alpha: no block
#     reported out of sync (the writer ran during the whole verify); after
#     the writer stopped the replicas are byte-identical
set -u
. "$(dirname "$0")/../lib.sh"

need_bins verify "$WBREPD" "$WBCTL"
need_tools verify nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "verify (engine wblog not registered)"
tmpdir verify

REPL_METRICS=1
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
repl_conf alpha primary verify-rate=32M
repl_conf beta secondary verify-rate=32M
for n in alpha beta; do
	repl_start $n || {
		fail "verify-start: $n"
		finish
	}
done
if ! wait_for 60 repl_uptodate alpha; then
	fail "verify-link-up: $(head -c 300 "$T/st.alpha")"
	finish
fi

# verify_json NODE: `wbctl verify r0 --json` on NODE into $T/v.json
verify_json() { ctl "$1" verify r0 --json >"$T/v.json" 2>"$T/v.err"; }
# vget EXPR: python expression on the last verify result (v) and its
# first peer (p)
vget() {
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); p=v["peers"][0]; print(eval(sys.argv[2]))' "$T/v.json" "$1" 2>/dev/null
}
metric() { curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" | grep "^$1" ; }

# ---- identical replicas
head -c $((8 * 1048576)) /dev/urandom >"$T/d1"
mkimg "$T/img" "$T/d1" 32
timeout 300 nbdcopy "$T/img" "$(URI alpha)" || fail "verify-write: nbdcopy to alpha"
wait_for 120 same_as "$T/img" beta || fail "verify-write: beta differs before the verify"
DEV=$(jget alpha 's["size"]')
if verify_json alpha && [ "$(vget 'v["state"], p["node"], p["state"], p["oos_blocks"], p["compared_bytes"] == v["total_bytes"] == '"$DEV")" = "('done', 'beta', 'done', 0, True)" ]; then
	pass "verify-identical" "($(vget 'p["compared_bytes"]') bytes compared, 0 out of sync)"
else
	fail "verify-identical: $(cat "$T/v.json" "$T/v.err")"
fi
ctl alpha status r0 >"$T/human" 2>&1
if json alpha 's["verify_state"] == "done" and s["verify_done_bytes"] == s["verify_total_bytes"] == s["size"] and s["peers"][0]["verify_state"] == "done" and s["peers"][0]["verify_oos_bytes"] == 0' &&
	grep -qE '^    verify: done, 0 blocks \(0 B\) out of sync, 64.0 MiB compared' "$T/human" &&
	grep -qE '^  verify     done 100%' "$T/human" &&
	metric 'wbrep_verify_running{resource="r0"} 0$' >/dev/null &&
	metric 'wbrep_peer_verify_oos_bytes{resource="r0",peer="beta"} 0$' >/dev/null; then
	pass "verify-status"
else
	fail "verify-status: $(grep -i verify "$T/human" | tr '\n' '|') $(grep -o '"verify[^,]*' "$T/st.alpha" | tr '\n' ' ')"
fi

# ---- refused on a secondary
if ctl beta verify r0 >"$T/sec.out" 2>&1; then
	fail "verify-secondary-refused: accepted"
elif grep -q "verify runs on the primary" "$T/sec.out"; then
	pass "verify-secondary-refused"
else
	fail "verify-secondary-refused: $(cat "$T/sec.out")"
fi

# ---- one block of beta's backing changed behind its back
BAD=8800 # inside the data written above (MiB 32..40; the load writes MiB 0..16)
wait_for 120 json beta 's["dirty_bytes"] == 0' || fail "verify-corrupt: beta's log is not clean: $(jget beta 's["dirty_bytes"]')"
head -c 4096 /dev/urandom >"$T/junk"
dd if="$T/junk" of="$T/beta/backing" bs=4096 seek=$BAD conv=notrunc,fsync status=none
"$WBCTL" -s "$T/alpha/ctl.sock" events r0 --json >"$T/events" 2>&1 &
EVPID=$!
track_pid $EVPID
wait_log 30 "$T/events" '"kind": "state"' || true
if verify_json alpha && [ "$(vget 'p["state"], p["oos_blocks"], p["oos_bytes"]')" = "('done', 1, 4096)" ] &&
	grep -q "r0: verify: block $BAD (offset $((BAD * 4096))) differs on peer beta" "$T/alpha/wbrepd.log" &&
	[ "$(grep -c 'r0: verify: block .* differs on peer' "$T/alpha/wbrepd.log")" = 1 ]; then
	pass "verify-corrupt-block" "($(grep -o 'block [0-9]* (offset [0-9]*) differs on peer beta' "$T/alpha/wbrepd.log"))"
else
	fail "verify-corrupt-block: $(cat "$T/v.json" "$T/v.err"; grep 'r0: verify' "$T/alpha/wbrepd.log" | tail -3)"
fi
if wait_log 30 "$T/events" '"kind": "verify", .*"message": "verify of peer beta done: 1 blocks \(4096 bytes\) out of sync' &&
	metric 'wbrep_peer_verify_oos_bytes{resource="r0",peer="beta"} 4096$' >/dev/null; then
	pass "verify-corrupt-event-metric"
else
	fail "verify-corrupt-event-metric: $(grep verify "$T/events" | tail -2) $(metric wbrep_peer_verify_oos_bytes)"
fi
kill $EVPID 2>/dev/null
# the bitmap holds it when the engine reports bytes out of sync at all
if json alpha 's["peers"][0]["out_of_sync_bytes"] is None'; then
	skip "verify-corrupt-marked (out_of_sync_bytes not reported by this build)"
elif json alpha 's["peers"][0]["out_of_sync_bytes"] >= 4096'; then
	pass "verify-corrupt-marked" "($(jget alpha 's["peers"][0]["out_of_sync_bytes"]') bytes out of sync)"
else
	fail "verify-corrupt-marked: out_of_sync_bytes $(jget alpha 's["peers"][0]["out_of_sync_bytes"]')"
fi
# beta away and back (a restart: the link goes down, alpha's bitmap of it
# tracks, beta catches up from the log): the marked block is resynced
# after the catch-up, beta reads the primary's data there, and a verify
# finds nothing. Before 2026-12-03 the catch-up cleared the whole bitmap,
# the verify's mark with it: the block stayed different.
repl_stop beta
put_img 2 1 alpha || fail "verify-reconnect: writing MiB 2 to alpha"
if ! repl_start beta; then
	fail "verify-reconnect: beta did not start again"
elif wait_for 120 repl_uptodate alpha && wait_for 120 same_as "$T/img" beta &&
	wait_for 60 json alpha 's["peers"][0]["out_of_sync_bytes"] == 0' && verify_json alpha &&
	[ "$(vget 'p["state"], p["oos_blocks"]')" = "('done', 0)" ]; then
	pass "verify-reconnect-resynced" "($(grep -o 'peer beta needs a [a-z ]* ([^)]*)' "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "verify-reconnect-resynced: $(img_diff "$T/img" "$T/out.beta"); $(jget alpha 's["peers"][0]') $(cat "$T/v.json" "$T/v.err" 2>/dev/null)"
fi
# the same through `wbctl disconnect` and `connect` on the primary (the
# operator's way, as with DRBD): another block changed behind beta's back,
# found, resynced at the reconnect
BAD2=9000
wait_for 120 json beta 's["dirty_bytes"] == 0' || fail "verify-disconnect: beta's log is not clean"
dd if="$T/junk" of="$T/beta/backing" bs=4096 seek=$BAD2 conv=notrunc,fsync status=none
if verify_json alpha && [ "$(vget 'p["oos_blocks"]')" = 1 ] &&
	ctl alpha disconnect r0 >"$T/dc" 2>&1 && ctl alpha connect r0 >>"$T/dc" 2>&1 &&
	wait_for 120 repl_uptodate alpha && wait_for 60 json alpha 's["peers"][0]["out_of_sync_bytes"] == 0' &&
	wait_for 120 same_as "$T/img" beta; then
	pass "verify-disconnect-resynced" "(block $BAD2: $(grep -o 'peer beta needs a [a-z ]* ([^)]*)' "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "verify-disconnect-resynced: $(cat "$T/dc") $(img_diff "$T/img" "$T/out.beta"); $(cat "$T/v.json" 2>/dev/null)"
fi
# the same with `wbctl verify --resync` (human output): it reconnects
# the peers itself when it found something
BAD3=9100
wait_for 120 json beta 's["dirty_bytes"] == 0' || fail "verify-resync: beta's log is not clean"
dd if="$T/junk" of="$T/beta/backing" bs=4096 seek=$BAD3 conv=notrunc,fsync status=none
if ctl alpha verify r0 --resync >"$T/vr.out" 2>&1 &&
	grep -q "^r0: peer beta: verify done: 1 block (4.0 KiB) out of sync, " "$T/vr.out" &&
	grep -q "^r0: 1 block out of sync: reconnecting the peers, a bitmap resync writes it$" "$T/vr.out" &&
	wait_for 120 repl_uptodate alpha && wait_for 60 json alpha 's["peers"][0]["out_of_sync_bytes"] == 0' &&
	wait_for 120 same_as "$T/img" beta; then
	pass "verify-resync-option" "(block $BAD3 resynced after 'verify --resync')"
else
	fail "verify-resync-option: $(cat "$T/vr.out") $(img_diff "$T/img" "$T/out.beta")"
fi
ctl alpha verify r0 --no-wait --resync >"$T/vr.out" 2>&1
rc=$?
if [ $rc != 2 ] || ! grep -q "not with --no-wait" "$T/vr.out"; then
	fail "verify-resync-no-wait: exit $rc: $(cat "$T/vr.out")"
elif json alpha 's.get("verify_state") == "running"'; then
	fail "verify-resync-no-wait: refused, but a verify was started"
else
	pass "verify-resync-no-wait" "(refused: $(cat "$T/vr.out"))"
fi
# written again through the primary: in sync again
head -c 4096 /dev/urandom >"$T/fix"
dd if="$T/fix" of="$T/img" bs=4096 seek=$BAD conv=notrunc status=none
timeout 300 nbdcopy "$T/img" "$(URI alpha)" || fail "verify-rewrite: nbdcopy"
if wait_for 120 same_as "$T/img" beta && verify_json alpha &&
	[ "$(vget 'p["state"], p["oos_blocks"]')" = "('done', 0)" ]; then
	pass "verify-rewritten-in-sync"
else
	fail "verify-rewritten-in-sync: $(cat "$T/v.json" "$T/v.err")"
fi

# ---- verify under a stamped write load: no false positives
stamp_start alpha "$T/load.json" 4096 4 8 || fail "verify-load: the writer did not start"
W0=$(json alpha True && jget alpha 's["io"]["writes"]')
if verify_json alpha; then
	W1=$(json alpha True && jget alpha 's["io"]["writes"]')
	if ! is_alive "$TWPID" || [ "$W1" -le "$W0" ]; then
		fail "verify-under-load: the writer did not write during the whole verify ($W0 -> $W1 writes)"
	elif [ "$(vget 'v["state"], p["state"], p["oos_blocks"]')" = "('done', 'done', 0)" ]; then
		pass "verify-under-load" "($((W1 - W0)) writes meanwhile; $(vget 'p["compared_bytes"]') bytes compared, $(vget 'p["skipped_bytes"]') skipped, 0 out of sync)"
	else
		fail "verify-under-load: $(cat "$T/v.json"); $(grep 'r0: verify' "$T/alpha/wbrepd.log" | tail -3)"
	fi
else
	fail "verify-under-load: $(cat "$T/v.json" "$T/v.err")"
fi
stamp_stop || fail "verify-load: the writer did not stop"
ctl alpha flush r0 >/dev/null
timeout 300 nbdcopy "$(URI alpha)" "$T/img.load"
if wait_for 120 same_as "$T/img.load" beta && stamp_verify beta "$T/load.json" --exact; then
	pass "verify-load-identical" "($(tail -1 "$T/load.json.log"); $(tail -1 "$T/load.json.verify"))"
else
	fail "verify-load-identical: $(cmp "$T/img.load" "$T/out.beta" | head -1) $(tail -2 "$T/load.json.verify")"
fi

for n in alpha beta; do repl_stop $n; done
repl_log_clean verify-log-clean alpha beta
finish
