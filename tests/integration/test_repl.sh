#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_repl.sh - replication between two wbrepd processes on loopback
# (docs/replication.md): nodes alpha (primary) and beta (secondary) of
# resource r0, TLS with certificates made by the openssl CLI recipe of
# docs/configuration.md, both logs blank (formatted at seq 1 / gen 1 over
# zeroed backings: no initial sync yet). Cases: the link comes up; random
# data written through the primary's NBD export and flushed is
# byte-identical on the secondary's export; a write on the secondary's
# export is refused and changes nothing; the secondary killed (-9): the
# primary goes write-through (wb-min-peers 1), writes go on, the restarted
# secondary catches up from the primary's log and the primary returns to
# write-back; protocol C: right after the primary replied to the flush,
# both are killed -9 and the secondary's devices, read by a stand-alone
# wbrepd (its log recovered), hold every byte written; a write's reply
# waits while the secondary is stopped (SIGSTOP), and goes once it runs.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl "$WBREPD"
need_tools repl nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl (engine wblog not registered)"
tmpdir repl

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
repl_conf alpha primary
repl_conf beta secondary
repl_start alpha || { fail "repl-start: alpha"; finish; }
repl_start beta || { fail "repl-start: beta"; finish; }

if wait_log 60 "$T/alpha/wbrepd.log" "r0: peer beta is up to date" &&
	wait_log 60 "$T/beta/wbrepd.log" "r0: peer alpha up"; then
	pass "repl-link-up"
else
	fail "repl-link-up: no link; alpha: $(tail -3 "$T/alpha/wbrepd.log" | tr '\n' ' ')"
fi

# ---- wbctl status: role and healthy peers (docs/wbctl.md)
st_ok() {
	"$WBCTL" -s "$T/$1/ctl.sock" status --json r0 >"$T/st.$1" 2>&1 &&
		grep -q "\"role\": \"$2\"" "$T/st.$1" &&
		grep -q '"peers_connected": 1, "peers_total": 1' "$T/st.$1"
}
if wait_for 60 st_ok alpha primary && wait_for 60 st_ok beta secondary; then
	pass "repl-status"
else
	fail "repl-status: alpha: $(tr '\n' ' ' <"$T/st.alpha" | head -c 300)"
fi

# ---- data written and flushed on the primary reaches the secondary
head -c $((16 * 1048576)) /dev/urandom >"$T/data1"
# two ranges: the start of the device and one in the middle
head -c $((8 * 1048576)) "$T/data1" >"$T/d1a"
tail -c $((8 * 1048576)) "$T/data1" >"$T/d1b"
mkimg "$T/img" "$T/d1a" 0 && mkimg "$T/img" "$T/d1b" 24
if timeout 300 nbdcopy "$T/img" "$(URI alpha)" && timeout 60 nbdinfo "$(URI alpha)" >/dev/null; then
	pass "repl-write-primary"
else
	fail "repl-write-primary: nbdcopy to alpha failed"
fi
# the primary reads back what was written
if timeout 300 nbdcopy "$(URI alpha)" "$T/out.alpha" && cmp -s "$T/img" "$T/out.alpha"; then
	pass "repl-read-primary"
else
	fail "repl-read-primary: alpha's export differs from what was written"
fi

# nbdcopy flushes at the end; the secondary has every record once it
# applied up to the primary's head. Wait for beta to have applied them all:
# compare the secondary's export with the image (reads on a secondary work;
# same_as, tests/repl_lib.sh)
if wait_for 120 same_as "$T/img" beta; then
	pass "repl-secondary-identical"
else
	fail "repl-secondary-identical: beta's export differs: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

# ---- a write on the secondary is refused
head -c 65536 /dev/urandom >"$T/small"
if timeout 60 nbdcopy "$T/small" "$(URI beta)" 2>"$T/wr.err"; then
	fail "repl-secondary-readonly: a write on the secondary succeeded"
elif same_as "$T/img" beta; then
	pass "repl-secondary-readonly" "($(grep -oiE 'operation not permitted|read-only' "$T/wr.err" | head -1))"
else
	fail "repl-secondary-readonly: the refused write changed beta's data"
fi

# ---- secondary killed while the primary writes, restarted: catches up
# mode RE: `wbctl mode r0` on alpha matches RE (docs/cluster.md)
mode_is() {
	"$WBCTL" -s "$T/alpha/ctl.sock" mode r0 >"$T/mode.alpha" 2>&1 && grep -qE -- "$1" "$T/mode.alpha"
}
if wait_for 60 mode_is '^r0: writeback: quorate, 1/1 peers UpToDate$'; then
	pass "repl-mode-writeback"
else
	fail "repl-mode-writeback: $(cat "$T/mode.alpha")"
fi
# the event stream (wbctl events): its first line is the state it starts from
"$WBCTL" -s "$T/alpha/ctl.sock" events r0 --json >"$T/events.alpha" 2>"$T/events.err" &
EVPID=$!
track_pid "$EVPID"
wait_log 30 "$T/events.alpha" '"kind": "state", "mode": "writeback"' ||
	fail "repl-events-state: $(cat "$T/events.alpha" "$T/events.err")"
repl_stop beta KILL
# with fewer than wb-min-peers (1) peers up to date the policy says
# write-through (and replies do not wait for peers), with the reason shown
if wait_for 60 mode_is '^r0: writethrough: quorate, only 0/1 peers UpToDate$' &&
	wait_log 30 "$T/events.alpha" \
		'"kind": "mode", "mode": "writethrough", "reason": "quorate, only 0/1 peers UpToDate", "message": "mode writeback -> writethrough \(peer change\)'; then
	pass "repl-degraded-writethrough"
else
	fail "repl-degraded-writethrough: mode: $(cat "$T/mode.alpha"); events: $(tail -3 "$T/events.alpha")"
fi
head -c $((8 * 1048576)) /dev/urandom >"$T/data2"
mkimg "$T/img" "$T/data2" 4
if timeout 300 nbdcopy "$T/img" "$(URI alpha)"; then
	pass "repl-write-secondary-down"
else
	fail "repl-write-secondary-down: nbdcopy to alpha failed"
fi
# alpha's bitmap of beta (docs/replication.md, "Bitmaps") marks what it wrote
# meanwhile: out_of_sync_bytes in status --json and the metrics
# oos_is OP N: alpha's out_of_sync_bytes for beta compares OP N (-gt, -eq)
oos_is() {
	"$WBCTL" -s "$T/alpha/ctl.sock" status --json r0 >"$T/oos.json" 2>&1 &&
		python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["resources"][0]["peers"][0]
v = p["out_of_sync_bytes"]
sys.exit(0 if v is not None and {"-gt": v > int(sys.argv[3]), "-eq": v == int(sys.argv[3])}[sys.argv[2]] else 1)
' "$T/oos.json" "$1" "$2"
}
if oos_is -gt $((4 * 1048576)); then
	pass "repl-oos-marked"
else
	fail "repl-oos-marked: $(grep -o '"out_of_sync_bytes": [^,]*' "$T/oos.json")"
fi
repl_start beta || fail "repl-restart: beta"
if wait_for 180 same_as "$T/img" beta; then
	pass "repl-catch-up"
else
	fail "repl-catch-up: beta's export differs after restart: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi
if wait_for 60 oos_is -eq 0 && grep -q "r0: peer beta in sync at seq" "$T/alpha/wbrepd.log"; then
	pass "repl-oos-cleared"
else
	fail "repl-oos-cleared: $(grep -o '"out_of_sync_bytes": [^,]*' "$T/oos.json")"
fi

if wait_for 60 mode_is '^r0: writeback: quorate, 1/1 peers UpToDate$' &&
	wait_log 30 "$T/events.alpha" '"kind": "mode", "mode": "writeback", .*"message": "mode writethrough -> writeback \(peer change\)'; then
	pass "repl-writeback-again"
else
	fail "repl-writeback-again: mode: $(cat "$T/mode.alpha"); events: $(tail -3 "$T/events.alpha")"
fi
kill "$EVPID" 2>/dev/null
wait "$EVPID" 2>/dev/null

# ---- a reply waits for the peer's ack: beta stopped (SIGSTOP: it acks
# nothing; the link's ping timeout, 5 s, has not dropped it yet), one 4 KiB
# write to alpha (write-back, protocol C) is not answered; once beta runs
# again, it is. At one request in flight such a reply is held in the fast
# slot that beta's ack releases on the io loop (docs/replication.md,
# "Replies released on the io loop"): nothing else may release it.
if command -v qemu-io >/dev/null; then
	repl_reply_waits repl-reply-waits-ack beta $((0x3c))
else
	skip "repl-reply-waits-ack: no qemu-io"
fi

# ---- protocol C: once the primary replied to a write, the secondary's
# log has it: kill -9 both right after, then read the secondary's devices
# stand-alone. One request at a time (-C 1 -R 1): with many in flight the
# 8 MiB send queue to beta could fill under load, which takes the peer off
# the live path and the primary to write-through, where replies do not
# wait for it (docs/replication.md; seen at load 22: beta lacked all of
# data3, alpha had logged "writeback -> writethrough")
head -c $((4 * 1048576)) /dev/urandom >"$T/data3"
mkimg "$T/img" "$T/data3" 40
n0=$(grep -c 'writeback -> writethrough' "$T/alpha/wbrepd.log")
if timeout 300 nbdcopy --connections=1 --requests=1 "$T/img" "$(URI alpha)"; then
	repl_stop alpha KILL
	repl_stop beta KILL
	pass "repl-protocol-c-write"
else
	fail "repl-protocol-c-write: nbdcopy to alpha failed"
	repl_stop alpha KILL
	repl_stop beta KILL
fi
repl_log_clean repl-log-clean alpha beta
# beta alone (no [node] sections: single node, primary) over its own
# devices: recovery of its log after the kill -9
repl_solo_conf beta
# which step failed, and with what: the start, the read, or the data (which
# MiB differ; and what alpha logged of beta while data3 was written)
if ! repl_start beta >/dev/null; then
	fail "repl-secondary-after-restart: start: $REPL_WHY"
elif ! timeout 300 nbdcopy "$(URI beta)" "$T/out.solo" 2>"$T/solo.err"; then
	fail "repl-secondary-after-restart: nbdcopy from beta exited $?: $(head -c 300 "$T/solo.err")"
elif ! cmp -s "$T/img" "$T/out.solo"; then
	fail "repl-secondary-after-restart: compare: beta's devices differ from what was written (data3 is 40-44 MiB): $(img_diff "$T/img" "$T/out.solo"); alpha went write-through $(($(grep -c 'writeback -> writethrough' "$T/alpha/wbrepd.log") - n0)) times during data3; alpha on beta: $(grep -E 'peer beta|mode ' "$T/alpha/wbrepd.log" | tail -4 | tr '\n' ' '); beta: $(grep -iE 'recover|replay' "$T/beta/wbrepd.log" | tail -2 | tr '\n' ' ')"
else
	pass "repl-secondary-after-restart"
fi
repl_stop beta
finish
