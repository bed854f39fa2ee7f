#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
#
# test_repl_ackmem.sh - protocol C on a 2-node pair (alpha primary, beta
# secondary, TLS on loopback), twice: with ack = memory (cases repl-ackmem-*)
# a plain write is acknowledged once beta holds it in RAM and beta sends the
# DURABLE acks of such records late (docs/replication.md, "Late durable
# acks"); with ack = log (cases repl-written-*) once beta wrote it to its
# log, made durable by beta's own log flush afterwards ("Protocol C:
# written, then durable"). Either way a flush waits until beta has every
# record durable in its log (alpha asks for it with a barrier frame). beta
# runs on the fault-injection backend (WBREPD_FAULT_IO, a volatile write
# cache in the process: what its log did not flush is lost at its kill -9).
# Cases, per pass:
#   -durable      after a burst of writes and no flush, beta's durable
#     position reaches alpha's head with no further write (the late acks'
#     timer; beta's log flush within its log-commit-ms)
#   -flush-waits  beta's log made unable to flush or write FUA (a test knob
#     of the fault backend; its plain writes still complete): the writes are
#     acknowledged, the flush after them is not (fails with a primary that
#     releases a flush on IN_MEMORY or WRITTEN acks, with a secondary that
#     answers a barrier before its log flushed, and for ack = log when every
#     replica record is a FUA write, as before the tenth session)
#   -cut-resync   beta's power cut while held (what it acked but never
#     flushed is lost), alpha goes write-through and replies to the flush;
#     beta restarted comes back behind what it acked, is caught up and reads
#     back byte-identical to alpha
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-ackmem "$WBREPD"
need_tools repl-ackmem nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-ackmem (engine wblog not registered)"
tmpdir repl-ackmem

. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
FAULT="drop=1000,tear=0,seed=1,hold=$T/hold"

# head_acked: alpha in write-back, beta's acked (durable) seq is alpha's head
head_acked() {
	st alpha "r['mode'] == 'writeback' and p.get('acked_seq') == r['seq']['head']"
}

# pass ACK NAME: the three cases with alpha's ack = ACK, named NAME-*
pass_ack() {
	local ack=$1 n=$2 w0 CP
	repl_conf alpha primary protocol=C ack="$ack"
	repl_conf beta secondary protocol=C
	repl_start alpha || { fail "$n-start: alpha"; return; }
	WBREPD_FAULT_IO=$FAULT repl_start beta || { fail "$n-start: beta"; return; }
	if ! wait_for $((60 * WB_SLOW)) repl_uptodate alpha || ! wait_for $((60 * WB_SLOW)) head_acked; then
		fail "$n-link-up: $(cat "$T/st.alpha" 2>/dev/null | tr '\n' ' ' | head -c 400)"
		return
	fi

	# ---- DURABLE acks still come without a flush or another write
	head -c $((1 * 1048576)) /dev/urandom >"$T/data1"
	if timeout 120 nbdcopy --connections=1 --requests=1 --request-size=65536 "$T/data1" \
		"$(URI alpha)" 2>"$T/cp1.err"; then
		if wait_for $((30 * WB_SLOW)) head_acked; then
			pass "$n-durable"
		else
			fail "$n-durable: beta's durable position stays behind: $(head -c 400 "$T/st.alpha")"
		fi
	else
		fail "$n-durable: nbdcopy: $(head -c 300 "$T/cp1.err")"
	fi

	# ---- with beta's log unable to make anything durable (hold: its
	# flushes and FUA writes do not complete while $T/hold exists), alpha
	# acknowledges the writes (beta has them in RAM, or written) but not
	# the flush after them. The 2 s are a window for a wrong ack to show,
	# not a speed bound: a correct alpha never replies to that flush while
	# beta is held.
	touch "$T/hold"
	head -c $((1 * 1048576)) /dev/urandom >"$T/data2"
	w0=$(repl_writes alpha) || w0=0
	timeout 300 nbdcopy --connections=1 --requests=1 --request-size=65536 --flush "$T/data2" \
		"$(URI alpha)" 2>"$T/cp2.err" &
	CP=$!
	track_pid "$CP"
	if ! wait_for $((60 * WB_SLOW)) repl_writes_reach alpha $((w0 + 16)); then
		fail "$n-flush-waits: the writes were not acknowledged before beta's flush: $(head -c 400 "$T/st.alpha")"
	else
		sleep 2
		if is_alive "$CP"; then
			pass "$n-flush-waits"
		else
			wait "$CP"
			fail "$n-flush-waits: nbdcopy exited ($?) while beta could make nothing durable: the flush was acknowledged without beta's DURABLE ack"
		fi
	fi
	# beta's power cut (what it held is lost); alpha goes on in
	# write-through and replies to the flush
	repl_stop beta KILL
	rm -f "$T/hold"
	if ! wait "$CP"; then
		fail "$n-flush-waits: nbdcopy failed after beta's cut: $(head -c 300 "$T/cp2.err")"
	else
		# beta comes back behind what it acked: caught up, then identical
		WBREPD_FAULT_IO=$FAULT repl_start beta || { fail "$n-cut-resync: beta restart"; return; }
		if ! wait_for $((120 * WB_SLOW)) repl_uptodate alpha; then
			fail "$n-cut-resync: beta not UpToDate again: $(head -c 400 "$T/st.alpha")"
		elif ! timeout 300 nbdcopy "$(URI alpha)" "$T/img" 2>"$T/cp3.err"; then
			fail "$n-cut-resync: reading alpha: $(head -c 300 "$T/cp3.err")"
		elif wait_for $((60 * WB_SLOW)) same_as "$T/img" beta; then
			pass "$n-cut-resync"
		else
			fail "$n-cut-resync: beta differs from alpha: $(img_diff "$T/img" "$T/out.beta"); beta: $(grep -iE 'recover|replay|peer alpha' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
		fi
	fi
	repl_stop beta
	repl_stop alpha
}

pass_ack memory repl-ackmem
pass_ack log repl-written
finish
