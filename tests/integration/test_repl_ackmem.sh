#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_ackmem.sh - protocol C with ack = memory on a 2-node pair
# (alpha primary, beta secondary, TLS on loopback): a plain write is
# acknowledged once beta holds it in RAM, and beta sends the DURABLE acks
# of such records late (docs/replication.md, "Late durable acks"); a flush
# still waits until beta has every record durable in its log (alpha asks
# for it with a barrier frame). beta runs on the fault-injection backend
# (WBREPD_FAULT_IO, a volatile write cache in the process: what its log did
# not flush is lost at its kill -9). Cases:
#   repl-ackmem-durable-late  after a burst of writes and no flush, beta's
#     durable position reaches alpha's head with no further write (the late
#     acks' timer)
#   repl-ackmem-flush-waits   beta's log made unable to flush (a test knob
#     of the fault backend): the writes are acknowledged, the flush after
#     them is not (fails with a primary that releases a flush on IN_MEMORY
#     acks and with a secondary that answers a barrier before its log
#     flushed); then beta's power cut: alpha goes write-through and replies
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-ackmem "$WBREPD"
need_tools repl-ackmem nbdcopy nbdinfo openssl python3
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-ackmem (engine wblog not registered)"
tmpdir repl-ackmem
[ -n "${WB_KEEP:-}" ] && on_cleanup "cp -r $T $WB_KEEP"

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
repl_conf alpha primary protocol=C ack=memory
repl_conf beta secondary protocol=C
repl_start alpha || { fail "repl-ackmem-start: alpha"; finish; }
WBREPD_FAULT_IO="drop=1000,tear=0,seed=1,hold=$T/hold" repl_start beta || { fail "repl-ackmem-start: beta"; finish; }

# head_acked: alpha in write-back, beta's acked (durable) seq is alpha's head
head_acked() {
	st alpha "r['mode'] == 'writeback' and p.get('acked_seq') == r['seq']['head']"
}
if ! wait_for $((60 * WB_SLOW)) repl_uptodate alpha || ! wait_for $((60 * WB_SLOW)) head_acked; then
	fail "repl-ackmem-link-up: $(cat "$T/st.alpha" 2>/dev/null | tr '\n' ' ' | head -c 400)"
	finish
fi

# ---- late DURABLE acks still come without a flush or another write
head -c $((1 * 1048576)) /dev/urandom >"$T/data1"
if timeout 120 nbdcopy --connections=1 --requests=1 "$T/data1" "$(URI alpha)" 2>"$T/cp1.err"; then
	if wait_for $((30 * WB_SLOW)) head_acked; then
		pass "repl-ackmem-durable-late"
	else
		fail "repl-ackmem-durable-late: beta's durable position stays behind: $(head -c 400 "$T/st.alpha")"
	fi
else
	fail "repl-ackmem-durable-late: nbdcopy: $(head -c 300 "$T/cp1.err")"
fi

# ---- with beta's log unable to make anything durable (hold: its flushes
# and FUA writes do not complete while $T/hold exists), alpha acknowledges
# the writes (beta has them in RAM) but not the flush after them. The 2 s
# are a window for a wrong ack to show, not a speed bound: a correct
# alpha never replies to that flush while beta is held.
touch "$T/hold"
head -c $((1 * 1048576)) /dev/urandom >"$T/data2"
w0=$(repl_writes alpha) || w0=0
timeout 300 nbdcopy --connections=1 --requests=1 --request-size=65536 --flush "$T/data2" \
	"$(URI alpha)" 2>"$T/cp2.err" &
CP=$!
track_pid "$CP"
if ! wait_for $((60 * WB_SLOW)) repl_writes_reach alpha $((w0 + 16)); then
	fail "repl-ackmem-flush-waits: the writes were not acknowledged from beta's RAM: $(head -c 400 "$T/st.alpha")"
else
	sleep 2
	if is_alive "$CP"; then
		pass "repl-ackmem-flush-waits"
	else
		wait "$CP"
		fail "repl-ackmem-flush-waits: nbdcopy exited ($?) while beta could make nothing durable: the flush was acknowledged without beta's DURABLE ack"
	fi
fi
# beta's power cut (what it held is lost); alpha goes on in write-through
# and replies to the flush
repl_stop beta KILL
rm -f "$T/hold"
wait "$CP" || fail "repl-ackmem-flush-waits: nbdcopy failed after beta's cut: $(head -c 300 "$T/cp2.err")"
finish
