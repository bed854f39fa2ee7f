#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 500
#
# test_policy.sh - the mode policy with real corosync (docs/cluster.md,
# "Mode control"), on a 3-node namespaced cluster (deploy/cluster/wbcluster:
# corosync + wbrepd per node, r0 primary on n1, wb-min-peers 2). Cases:
#  - n1 in write-back with the reason in `wbctl mode`;
#  - quorum lost (n2 and n3 cut): n1 suspended (suspend-io, the default);
#    a write sent to n1's NBD export is not admitted (the engine's write
#    counter stays put) and gets no reply; n2 healed: quorum returns, n1
#    goes write-through (1 of 2 peers), the write completes and reads back;
#  - on-no-quorum = io-error (reload): quorum lost again, a write fails
#    with EIO; healed: back to write-back;
#  - corosync SIGKILLed under n1's wbrepd: r0 leaves write-back at once
#    (the time from the kill to the event is printed, not asserted);
#    corosync restarted: write-back again;
#  - n1's wbrepd killed and restarted: r0 comes up not in write-back and
#    returns to write-back once quorate, and only after both peers were
#    caught up (its log's order);
#  - every mode change is in `wbctl events` with its reason.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "cluster/policy: needs root (network namespaces)"
need_tools cluster/policy corosync corosync-quorumtool nft ip unshare openssl python3
need_bins cluster/policy "$WBREPD" "$WBCTL"
tmpdir wbpolicy
export WBCLUSTER_DIR=$T/cluster WBCLUSTER_SIZE=32M WBCLUSTER_LOGSIZE=16M
W=$ROOT/deploy/cluster/wbcluster

on_cleanup "$W down"
if ! "$W" up 3 >"$T/up.log" 2>&1; then
	sed 's/^/    /' "$T/up.log"
	fail policy-up "wbcluster up 3 failed"
	finish
fi
SOCK=$WBCLUSTER_DIR/n1/nbd.sock
js() { "$W" wbctl 1 status --json r0 2>/dev/null; }
jget() { js | python3 -c "import json,sys; r=json.load(sys.stdin)['resources'][0]; print($1)"; }
# mode_is RE: `wbctl mode r0` on n1 matches RE
mode_is() { "$W" wbctl 1 mode r0 >"$T/mode" 2>&1 && grep -qE -- "$1" "$T/mode"; }
ev_has() { grep -qE -- "$1" "$T/events"; }
now_ms() { date +%s%3N; }

# nbdio OUT OP BLOCK BYTE: one request on n1's export in the background
# (OP write: write 4 KiB of BYTE at BLOCK, then flush; OP read: print the
# first byte of BLOCK). OUT gets "connected", then "sent", then the result.
nbdio() {
	: >"$1"
	python3 - "$SOCK" "$@" <<'EOP' &
import os, sys
sys.path.insert(0, os.environ["ROOT"] + "/tests/integration")
import nbdcli as n
sock, out, op, blk, byte = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5], 0)
def say(s):
    with open(out, "a") as f:
        f.write(s + "\n")
c = n.Conn(sock, timeout=None).connect()
say("connected")
if op == "write":
    c.send_req(n.CMD_WRITE, 1, blk * 4096, 4096, payload=bytes([byte]) * 4096)
    say("sent")
    err, _, _ = c.reply()
    ferr = c.io(n.CMD_FLUSH, 0, 0, handle=2)[0] if not err else -1
    say("write %d flush %d" % (err, ferr))
else:
    err, data = c.io(n.CMD_READ, blk * 4096, 4096)
    say("read %d %d" % (err, data[0] if data else -1))
c.close()
EOP
	IOPID=$!
	track_pid "$IOPID"
}
export ROOT

if wait_for 60 mode_is '^r0: writeback: quorate, 2/2 peers UpToDate$'; then
	pass policy-writeback "($(cat "$T/mode"))"
else
	fail policy-writeback "$(cat "$T/mode")"
fi
: >"$T/events"
"$WBCTL" -c "$("$W" conf 1)" events r0 --json >"$T/events" 2>"$T/events.err" &
EVPID=$!
track_pid "$EVPID"
wait_for 30 ev_has '"kind": "state", "mode": "writeback"' ||
	fail policy-events-state "$(cat "$T/events" "$T/events.err")"

# ---- quorum lost: suspend-io
"$W" cut 2
"$W" cut 3
if wait_for 60 mode_is '^r0: suspended: not quorate: on-no-quorum = suspend-io$' &&
	[ "$(jget 'r["suspended"]')" = True ]; then
	pass policy-suspend "($(cat "$T/mode"))"
else
	fail policy-suspend "$(cat "$T/mode")"
fi
w0=$(jget 'r["io"]["writes"]')
nbdio "$T/io1" write 100 0x5a
wait_for 30 grep -q '^sent$' "$T/io1" || fail policy-suspend-blocks "the write was not sent: $(cat "$T/io1")"
# the request reached the daemon's socket; while suspended it must not be
# admitted (the engine's counter stays) nor answered, whatever we wait for
held=1
for _ in 1 2 3 4 5; do
	w=$(jget 'r["io"]["writes"]')
	if [ "$w" != "$w0" ] || grep -q '^write' "$T/io1" || ! mode_is '^r0: suspended'; then
		held=0
		break
	fi
done
if [ $held = 1 ] && is_alive "$IOPID"; then
	pass policy-suspend-blocks "(no write admitted, no reply while suspended)"
else
	fail policy-suspend-blocks "writes $w0 -> $w; client: $(tr '\n' ' ' <"$T/io1"); $(cat "$T/mode")"
fi
"$W" heal 2
if wait_for 60 mode_is '^r0: writethrough: quorate, only 1/2 peers UpToDate$' &&
	wait_exit "$IOPID" 60 && grep -q '^write 0 flush 0$' "$T/io1"; then
	pass policy-suspend-resume "(quorum back: $(cat "$T/mode"); the write completed)"
else
	fail policy-suspend-resume "$(cat "$T/mode"); client: $(tr '\n' ' ' <"$T/io1")"
fi
nbdio "$T/rd1" read 100 0
wait_exit "$IOPID" 60
grep -q '^read 0 90$' "$T/rd1" && pass policy-suspend-data "(block 100 holds the write)" ||
	fail policy-suspend-data "$(cat "$T/rd1")"
if ev_has '"kind": "mode", "mode": "suspended", "reason": "not quorate: on-no-quorum = suspend-io", "message": "mode [a-z-]+ -> suspend-io \(membership\)' &&
	ev_has '"message": "mode suspend-io -> writethrough \(membership\): quorate, only [01]/2 peers UpToDate"'; then
	pass policy-suspend-events
else
	fail policy-suspend-events "$(tail -5 "$T/events" | tr '\n' ' ')"
fi

# ---- on-no-quorum = io-error (reloadable)
C1=$("$W" conf 1)
printf 'on-no-quorum = io-error\n' >>"$C1"
"$W" wbctl 1 reload >/dev/null || fail policy-reload "wbctl reload on n1 failed"
"$W" cut 2
if wait_for 60 mode_is '^r0: suspended: not quorate: on-no-quorum = io-error$'; then
	nbdio "$T/io2" write 101 0x6b
	wait_exit "$IOPID" 60
	if grep -q '^write 5 flush -1$' "$T/io2"; then
		pass policy-io-error "(the write failed with EIO)"
	else
		fail policy-io-error "client: $(tr '\n' ' ' <"$T/io2")"
	fi
else
	fail policy-io-error "$(cat "$T/mode")"
fi
"$W" heal 2
"$W" heal 3
if wait_for 90 mode_is '^r0: writeback: quorate, 2/2 peers UpToDate$'; then
	pass policy-heal-writeback
else
	fail policy-heal-writeback "$(cat "$T/mode")"
fi

# ---- corosync killed under wbrepd: write-back ends at once
t0=$(now_ms)
"$W" kill 1 KILL corosync
if wait_for 30 mode_is '^r0: suspended: corosync connection lost: on-no-quorum = io-error$'; then
	t1=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["kind"] == "mode" and "corosync connection lost" in e["reason"]:
        print(e["time_ms"]); break' "$T/events")
	pass policy-corosync-killed "(event $((t1 - t0)) ms after the kill was started)"
else
	fail policy-corosync-killed "$(cat "$T/mode")"
fi
"$W" start 1 corosync >/dev/null
if wait_for 90 mode_is '^r0: writeback: quorate, 2/2 peers UpToDate$'; then
	pass policy-corosync-back
else
	fail policy-corosync-back "$(cat "$T/mode")"
fi
kill "$EVPID" 2>/dev/null
wait "$EVPID" 2>/dev/null

# ---- n1's wbrepd restarted: it comes up short of write-back (not yet
# quorate or peers not yet caught up) and returns to it
L1=$WBCLUSTER_DIR/n1/wbrepd.log
"$W" kill 1 KILL wbrepd
before=$(wc -l <"$L1")
"$W" start 1 wbrepd >/dev/null
# line LINE-RE: the first line of the restarted daemon's log matching
line_of() { tail -n +"$((before + 1))" "$L1" | grep -n -m1 -E "$1" | cut -d: -f1; }
# write-back only after both peers caught up: its mode line comes after
# both "peer nI is up to date" lines of this run
after_catchup() {
	local wb u2 u3
	wb=$(line_of 'r0: mode [a-z-]+ -> writeback') u2=$(line_of 'r0: peer n2 is up to date')
	u3=$(line_of 'r0: peer n3 is up to date')
	[ -n "$wb" ] && [ -n "$u2" ] && [ -n "$u3" ] && [ "$wb" -gt "$u2" ] && [ "$wb" -gt "$u3" ]
}
if wait_for 90 mode_is '^r0: writeback: quorate, 2/2 peers UpToDate$' &&
	tail -n +"$((before + 1))" "$L1" | grep -m1 -E 'r0: mode [a-z-]+ -> [a-z-]+ \(up\)' |
	grep -qE 'mode writethrough -> (suspend-io|io-error|writethrough) \(up\)' && after_catchup; then
	pass policy-restart "($(tail -n +"$((before + 1))" "$L1" | grep -m1 -oE 'mode writethrough -> [a-z-]+ \(up\): [^,]*'), write-back only after both peers caught up)"
else
	fail policy-restart "$(cat "$T/mode"); $(tail -n +"$((before + 1))" "$L1" | grep -m3 'r0: mode' | tr '\n' ' ')"
fi
for i in 1 2 3; do
	if grep -qE 'AddressSanitizer|runtime error|Segmentation' "$WBCLUSTER_DIR/n$i/wbrepd.log"; then
		fail policy-daemon-n$i "$(grep -m1 -E 'Sanitizer|runtime error|Segmentation' "$WBCLUSTER_DIR/n$i/wbrepd.log")"
	fi
done
[ -n "${WB_KEEP_LOGS:-}" ] && cp -r "$WBCLUSTER_DIR" "$T/events" "$WB_KEEP_LOGS"/
finish
