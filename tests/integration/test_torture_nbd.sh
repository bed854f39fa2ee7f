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
cd "$(dirname "$0")/../.."
ROOT=$PWD
WBREPD=$ROOT/build/wbrepd
TORT="python3 $ROOT/tests/integration/nbdtorture.py"
CYCLES=${WB_TORTURE_CYCLES:-3}
NBLOCKS=16384
fails=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

[ -x "$WBREPD" ] || { echo "SKIP torture-nbd: build/wbrepd not built (make all)"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP torture-nbd: python3 not installed"; exit 0; }

T=$(mktemp -d /tmp/wbrep-torture.XXXXXX)
DPID="" WPID=""
cleanup() {
	[ -n "$WPID" ] && kill "$WPID" 2>/dev/null
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

start_daemon() {
	"$WBREPD" -c "$T/wbrep.conf" -f >>"$T/wbrepd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do
		[ -S "$T/nbd.sock" ] && python3 -c "
import sys; sys.path.insert(0, '$ROOT/tests/integration'); import nbdcli
nbdcli.Conn('$T/nbd.sock').connect().close()" 2>/dev/null && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	DPID=""
	return 1
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
	cat >"$T/wbrep.conf" <<EOF
[global]
pid-file = $T/wbrepd.pid
control-socket = $T/ctl.sock
node-name = tnode

[resource r0]
engine = $ENG
ack = $ACK
backing = $T/backing
log = $T/log
nbd-socket = $T/nbd.sock
EOF
	if ! start_daemon; then
		fail "$P: wbrepd did not start: $(tail -2 "$T/wbrepd.log" | tr '\n' ' ')"
		continue
	fi
	ok=1
	for c in $(seq "$CYCLES"); do
		start_writer
		sleep $((1 + c % 2)).$((RANDOM % 10))
		kill -9 "$DPID"
		wait "$DPID" 2>/dev/null
		DPID=""
		wait "$WPID"
		WPID=""
		if ! start_daemon; then
			fail "$P-cycle$c: wbrepd did not come back after kill -9: $(tail -2 "$T/wbrepd.log" | tr '\n' ' ')"
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
		kill -TERM "$DPID"
		wait "$DPID"
		rc=$?
		DPID=""
		if [ $rc -ne 0 ]; then
			fail "$P-clean-stop: wbrepd exited $rc on SIGTERM"
		elif ! start_daemon; then
			fail "$P-clean-stop: wbrepd did not restart"
		elif out=$(timeout 300 $TORT "$T/nbd.sock" verify "$T/state" --exact 2>&1); then
			pass "$P-clean-stop-exact ($(tail -1 <<<"$out" | sed 's/^verify: //'))"
		else
			fail "$P-clean-stop-exact: $(tr '\n' ' ' <<<"$out")"
		fi
	fi
	[ -n "$DPID" ] && kill -TERM "$DPID" && wait "$DPID"
	DPID=""
	if grep -qE 'AddressSanitizer|runtime error|Segmentation' "$T/wbrepd.log"; then
		fail "$P-log-clean: $(grep -m2 -E 'AddressSanitizer|runtime error' "$T/wbrepd.log")"
	fi
done
exit $((fails > 0))
