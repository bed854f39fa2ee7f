#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_resync_after.sh - resync-after (DRBD's): two resources r0 and r1 on
# one pair of wbrepd over TLS (docs/replication.md, "Resync"), r1 with
# resync-after = r0 on both nodes. Full syncs of both to beta
# (--discard-my-data on the secondary): while r0's runs (held slow by its
# resync-rate), r1's asks for nothing and says why (status, JSON, the
# metric, an event); r0's rate raised by a reload, it ends, then r1's goes
# on and ends; both exports of beta read back as alpha's. wbctl config
# check refuses resync-after naming no resource, its own, or a cycle.
# timeout: 300
. "$(dirname "$0")/../lib.sh"

need_bins resync-after "$WBREPD" "$WBCTL"
need_tools resync-after nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resync-after (engine wblog not registered)"
tmpdir rsafter

NODES="alpha beta"
REPL_METRICS=1
REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
for n in $NODES; do
	truncate -s 32M "$T/$n/backing1"
	truncate -s 64M "$T/$n/log1"
done

# conf NODE ROLE R0_RATE: r0 at resync-rate R0_RATE, r1 after r0
conf() {
	repl_conf "$1" "$2" "resync-rate=$3"
	printf '\n[resource r1]\nbacking = %s\nlog = %s\nnbd-socket = %s\nrole = %s\nresync-after = r0\n' \
		"$T/$1/backing1" "$T/$1/log1" "$T/$1/nbd1.sock" "$2" >>"$T/$1/wbrep.conf"
}
URI1() { echo "nbd+unix:///?socket=$T/$1/nbd1.sock"; }
# r1 NODE PYEXPR: PYEXPR true of NODE's r1 (r) and its first peer (p)
r1() {
	ctl "$1" status --json r1 >"$T/st1.$1" 2>&1 &&
		python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["resources"][0]; p=(r["peers"] or [{}])[0]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/st1.$1" "$2"
}

# config check: no such resource, its own, a cycle
conf alpha primary 0
sed 's/^resync-after = r0$/resync-after = nosuch/' "$T/alpha/wbrep.conf" >"$T/bad1.conf"
sed 's/^resync-after = r0$/resync-after = r1/' "$T/alpha/wbrep.conf" >"$T/bad2.conf"
sed 's/^resync-rate = 0$/resync-rate = 0\nresync-after = r1/' "$T/alpha/wbrep.conf" >"$T/bad3.conf"
o1=$("$WBCTL" config check "$T/bad1.conf" 2>&1)
o2=$("$WBCTL" config check "$T/bad2.conf" 2>&1)
o3=$("$WBCTL" config check "$T/bad3.conf" 2>&1)
if [[ "$o1" = *"resync-after: there is no [resource nosuch] in this file"* ]] &&
	[[ "$o2" = *"[resource r1] resync-after: names its own resource"* ]] &&
	[[ "$o3" = *"[resource r0] resync-after: a cycle: r0 waits for itself through r1"* ]] &&
	"$WBCTL" config check "$T/alpha/wbrep.conf" >/dev/null 2>&1; then
	pass "resync-after-check" "($(head -1 <<<"$o3"))"
else
	fail "resync-after-check: '$o1' '$o2' '$o3'"
fi

conf alpha primary 0
conf beta secondary 1M
repl_start alpha || { fail "resync-after-start: alpha"; finish; }
repl_start beta || { fail "resync-after-start: beta"; finish; }
head -c $((8 << 20)) /dev/urandom >"$T/data0"
head -c $((8 << 20)) /dev/urandom >"$T/data1"
if wait_for 60 st alpha 'p.get("disk") == "UpToDate"' && wait_for 60 r1 alpha 'p.get("disk") == "UpToDate"' &&
	timeout 120 nbdcopy "$T/data0" "$(URI alpha)" && timeout 120 nbdcopy "$T/data1" "$(URI1 alpha)"; then
	pass "resync-after-setup" "(r0 and r1 up on both, 8 MiB written to each)"
else
	fail "resync-after-setup: $(tail -3 "$T/beta/wbrepd.log" | tr '\n' ' ')"
	finish
fi

# r0's full sync first (1 MiB/s: 32 s), then r1's: it waits
ctl beta connect r0 --discard-my-data >"$T/conn" 2>&1 || fail "resync-after: $(cat "$T/conn")"
wait_for 60 st beta 'p.get("replication") == "SyncTarget" and (p.get("resync_done_bytes") or 0) > 0' ||
	fail "resync-after: r0's sync to beta did not start: $(head -c 300 "$T/st.beta")"
ctl beta connect r1 --discard-my-data >>"$T/conn" 2>&1 || fail "resync-after: $(cat "$T/conn")"
if wait_for 60 r1 beta 'p.get("replication") == "SyncTarget" and p.get("resync_after") == "r0"' &&
	sleep 2 && r1 beta 'p["resync_after"] == "r0" and p["resync_done_bytes"] == 0 and p["resync_eta_ms"] is None' &&
	st beta 'p.get("replication") == "SyncTarget"' &&
	ctl beta status r1 2>&1 | grep -q "waiting for the resync of r0 (resync-after)" &&
	curl -fsS "http://127.0.0.1:${MPORT[beta]}/metrics" |
	grep -q '^wbrep_peer_resync_paused{resource="r1",peer="alpha"} 1$' &&
	grep -q "r1.*resync from alpha: waiting for the resync of r0 (resync-after)" "$T/beta/wbrepd.log"; then
	pass "resync-after-wait" "(r1 at 0 bytes while r0's sync runs)"
else
	fail "resync-after-wait: r1 $(grep -oE '"(replication|resync_[a-z_]+)": [^,]*' "$T/st1.beta" | tr '\n' ' ')"
fi
# r0 unthrottled: it ends, then r1 goes on and ends
conf beta secondary 0
ctl beta reload >/dev/null 2>&1 || fail "resync-after: wbctl reload on beta failed"
if wait_for 120 st beta 'r["disk_state"] == "UpToDate"' &&
	wait_for 120 r1 beta 'r["disk_state"] == "UpToDate"' &&
	grep -q "r1.*resync from alpha: going on after the resync of r0 (resync-after)" "$T/beta/wbrepd.log" &&
	grep -q "r1.*resync from alpha: finished" "$T/beta/wbrepd.log" &&
	timeout 120 nbdcopy "$(URI alpha)" "$T/a0" && timeout 120 nbdcopy "$(URI1 alpha)" "$T/a1" &&
	same_as "$T/a0" beta && timeout 120 nbdcopy "$(URI1 beta)" "$T/b1" && cmp -s "$T/a1" "$T/b1"; then
	pass "resync-after-end" "(r0 then r1 finished; both exports of beta equal alpha's)"
else
	fail "resync-after-end: $(grep -E 'resync' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
repl_log_clean resync-after-log-clean alpha beta
finish
