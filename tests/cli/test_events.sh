#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_events.sh - the control socket's event stream (CTL_EVENTS, `wbctl
# events`, docs/control-protocol.md "Events") and `wbctl mode RES` without a
# mode, on a single-node wbrepd with two ram resources. Cases: a follower of
# all resources and one of r1 only start with their `state` lines; a
# `wbctl mode r0 writethrough` is one `mode` event with its reason for the
# first follower and none for the second, and `wbctl mode r0` shows it;
# event sequence numbers have no gap; a client that asks for events and
# never reads is dropped (the daemon logs it) while thousands of events
# flow, and the reading follower keeps every one of them; `wbctl events`
# exits 1 when wbrepd goes away.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins cli/events "$WBREPD" "$WBCTL"
need_tools cli/events python3
tmpdir events
export ROOT
truncate -s 4M "$T/b0" "$T/b1"
WB_CONF=$T/wbrep.conf
WB_DLOG=$T/wbrepd.log
{
	conf_global evtest
	conf_resource r0 engine=ram backing="$T/b0"
	conf_resource r1 engine=ram backing="$T/b1"
} >"$WB_CONF"
wbctl() { "$WBCTL" -s "$T/ctl.sock" "$@"; }
start_daemon || { fail "events-start"; finish; }

: >"$T/all"
: >"$T/r1"
wbctl events --json >"$T/all" 2>"$T/all.err" &
APID=$!
track_pid "$APID"
wbctl events r1 --json >"$T/r1" 2>"$T/r1.err" &
BPID=$!
track_pid "$BPID"
# count FILE RE: lines of FILE matching RE
count() { grep -cE -- "$2" "$1"; }
if wait_for 30 eval '[ "$(count "$T/all" "\"kind\": \"state\"")" = 2 ]' &&
	wait_for 30 eval '[ "$(count "$T/r1" "\"kind\": \"state\"")" = 1 ]' &&
	grep -q '"seq": 0, .*"resource": "r0", "kind": "state", "mode": "writeback", "reason": "quorate, 0/0 peers UpToDate"' "$T/all" &&
	! grep -q '"resource": "r0"' "$T/r1"; then
	pass "events-state"
else
	fail "events-state: all: $(cat "$T/all" "$T/all.err"); r1: $(cat "$T/r1" "$T/r1.err")"
fi

wbctl mode r0 writethrough >/dev/null
if wait_log 30 "$T/all" '"resource": "r0", "kind": "mode", "mode": "writethrough", "reason": "quorate, write-through forced", "message": "mode writeback -> writethrough \(wbctl mode\): quorate, write-through forced"' &&
	[ "$(wbctl mode r0)" = "r0: writethrough [forced]: quorate, write-through forced" ]; then
	pass "events-mode" "($(wbctl mode r0))"
else
	fail "events-mode: $(tail -2 "$T/all"); $(wbctl mode r0 2>&1)"
fi
wbctl mode r1 writethrough >/dev/null
if wait_log 30 "$T/r1" '"resource": "r1", "kind": "mode", "mode": "writethrough"' &&
	! grep -q '"resource": "r0"' "$T/r1"; then
	pass "events-filter" "(the r1 follower sees r1 only)"
else
	fail "events-filter: $(cat "$T/r1")"
fi

# a client that never reads, while 6000 mode changes make events
N=6000
python3 - "$T/ctl.sock" "$N" >"$T/slow.out" 2>&1 <<'EOP'
import os, socket, sys, time
sys.path.insert(0, os.environ["ROOT"] + "/tests/cli")
import ctlraw as c
sock, n = sys.argv[1], int(sys.argv[2])
OP_EVENTS = 30
slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
slow.connect(sock)
slow.sendall(c.frame(c.T_REQ, c.request(OP_EVENTS, rid=1)))
fast = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
fast.connect(sock)
fast.settimeout(60)
got = 0
buf = b""
for i in range(n):
    mode = "writeback" if i % 2 == 0 else "writethrough"
    fast.sendall(c.frame(c.T_REQ, c.request(c.OP_MODE, rid=i + 2, resource="r0", mode=mode)))
    # one request at a time per connection: read its response
    while True:
        if len(buf) >= 8:
            ln = int.from_bytes(buf[0:4], "little")
            if len(buf) >= 8 + ln:
                buf = buf[8 + ln:]
                got += 1
                break
        buf += fast.recv(65536)
print("responses", got)
# the daemon dropped the slow client: after what was queued, EOF
slow.settimeout(60)
total = 0
while True:
    b = slow.recv(65536)
    if not b:
        break
    total += len(b)
print("slow client closed after", total, "bytes")
EOP
if grep -q "^responses $N$" "$T/slow.out" && grep -q "^slow client closed after" "$T/slow.out" &&
	grep -q "ctl: an event client does not read (262144 bytes unread), dropping it" "$WB_DLOG"; then
	pass "events-slow-client-dropped" "($(tail -1 "$T/slow.out"))"
else
	fail "events-slow-client-dropped: $(tr '\n' ' ' <"$T/slow.out"); $(grep -c 'does not read' "$WB_DLOG") drop messages"
fi
# the reading follower got every event: mode events of r0 = N + 1, seq
# without gaps
if wait_for 60 eval '[ "$(count "$T/all" "\"resource\": \"r0\", \"kind\": \"mode\"")" = $((N + 1)) ]' &&
	python3 -c '
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1]) if json.loads(l)["seq"]]
sys.exit(0 if seqs == list(range(seqs[0], seqs[0] + len(seqs))) else 1)' "$T/all" &&
	is_alive "$APID"; then
	pass "events-follower-complete" "($((N + 1)) r0 mode events, seq without gaps)"
else
	fail "events-follower-complete: $(count "$T/all" '"resource": "r0", "kind": "mode"') r0 mode events"
fi

stop_daemon
if wait_exit "$APID" 30 && ! wait "$APID" && grep -q "wbrepd closed the connection" "$T/all.err"; then
	pass "events-daemon-gone" "(wbctl events exits 1)"
else
	fail "events-daemon-gone: $(cat "$T/all.err")"
fi
finish
