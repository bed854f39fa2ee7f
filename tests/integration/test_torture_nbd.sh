#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_torture_nbd.sh - the engine torture checker driven over NBD
# (tests/integration/nbdtorture.py): 4 connections with pipelined stamped
# writes of 1..8 blocks, FUA and flushes, while wbrepd is killed with
# SIGKILL; after each restart every write acknowledged by a FUA or before a
# completed flush must be intact (and no block torn, misplaced or holding a
# version never sent). WB_TORTURE_CYCLES kill/restart cycles per engine
# (default 3), then a clean stop (writer stopped, SIGTERM) after which every
# acknowledged write must be there exactly.
# Engines: wblog and passthrough must pass; ram (volatile, loses everything)
# must FAIL the check - it shows the checker detects lost writes.
set -u
. "$(dirname "$0")/../lib.sh"
TORT="python3 $ROOT/tests/integration/nbdtorture.py"
CYCLES=${WB_TORTURE_CYCLES:-3}
NBLOCKS=16384

need_bins torture-nbd "$WBREPD"
need_tools torture-nbd python3
tmpdir torture
WPID=""
on_cleanup '[ -n "$WPID" ] && kill "$WPID"'

# the export answers an NBD handshake
nbd_ready() {
	[ -S "$T/nbd.sock" ] && python3 -c "
import sys; sys.path.insert(0, '$ROOT/tests/integration'); import nbdcli
nbdcli.Conn('$T/nbd.sock').connect().close()" 2>/dev/null
}

# run_writer SECONDS: writer in the background for about SECONDS of work
start_writer() {
	rm -f "$T/state.started"
	$TORT "$T/nbd.sock" write "$T/state" $NBLOCKS 4 8 >>"$T/writer.log" 2>&1 &
	WPID=$!
	for _ in $(seq 100); do [ -e "$T/state.started" ] && break; sleep 0.1; done
}

for VAR in wblog wblog-ackmem passthrough ram; do
	ENG=${VAR%-ackmem}
	ACK=log
	[ "$VAR" = wblog-ackmem ] && ACK=memory
	P="torture-nbd-$VAR"
	rm -f "$T"/backing "$T"/log "$T"/state* "$T"/*.log
	truncate -s 128M "$T/backing"
	truncate -s 64M "$T/log"
	{
		conf_global tnode
		conf_resource r0 engine="$ENG" ack=$ACK backing="$T/backing" log="$T/log" \
			nbd-socket="$T/nbd.sock"
	} >"$WB_CONF"
	if ! start_daemon nbd_ready; then
		fail "$P: wbrepd did not start: $(tail -2 "$WB_DLOG" | tr '\n' ' ')"
		continue
	fi
	ok=1
	for c in $(seq "$CYCLES"); do
		start_writer
		sleep $((1 + c % 2)).$((RANDOM % 10))
		kill9_daemon
		wait "$WPID"
		WPID=""
		if ! start_daemon nbd_ready; then
			fail "$P-cycle$c: wbrepd did not come back after kill -9: $(tail -2 "$WB_DLOG" | tr '\n' ' ')"
			ok=0
			break
		fi
		out=$(timeout 300 $TORT "$T/nbd.sock" verify "$T/state" 2>&1)
		rc=$?
		w=$(tail -1 "$T/writer.log")
		if [ "$ENG" = ram ]; then
			# volatile engine: the check must catch the loss
			if [ $rc -ne 0 ] && grep -q 'bad' <<<"$out"; then
				pass "$P-cycle$c-loss-detected ($(tail -1 <<<"$out" | sed 's/^verify: //'))"
			else
				fail "$P-cycle$c-loss-detected: the checker passed a volatile engine: $out"
			fi
			ok=0
			break
		fi
		if [ $rc -eq 0 ]; then
			pass "$P-cycle$c-kill9 (${w#write: }; $(tail -1 <<<"$out" | sed 's/^verify: //'))"
		else
			fail "$P-cycle$c-kill9: $(tr '\n' ' ' <<<"$out") [writer: $w]"
			ok=0
		fi
	done
	if [ $ok = 1 ]; then
		# clean stop: writer drains and stops, SIGTERM flushes, all acked writes exact
		start_writer
		sleep 1
		kill -USR1 "$WPID"
		wait "$WPID"
		WPID=""
		stop_daemon
		rc=$?
		if [ $rc -ne 0 ]; then
			fail "$P-clean-stop: wbrepd exited $rc on SIGTERM"
		elif ! start_daemon nbd_ready; then
			fail "$P-clean-stop: wbrepd did not restart"
		elif out=$(timeout 300 $TORT "$T/nbd.sock" verify "$T/state" --exact 2>&1); then
			pass "$P-clean-stop-exact ($(tail -1 <<<"$out" | sed 's/^verify: //'))"
		else
			fail "$P-clean-stop-exact: $(tr '\n' ' ' <<<"$out")"
		fi
	fi
	stop_daemon
	daemon_log_clean "$P-log-clean"
done
finish
