#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_peer_bounds.sh - hostile clients on the replication port of a 2-node
# pair (tests/repl_lib.sh; alpha connects, beta accepts: docs/configuration.md,
# "Who connects"), tests/integration/hostile_peer.py against beta's port:
#   - 64 idle connections held open from another address (127.0.0.2) take
#     every slot for connections waiting for their hello: alpha, killed -9
#     and restarted meanwhile, still gets in (its address holds fewer
#     slots: it takes one from the flooding address); while it runs beta
#     answers wbctl status and replicates alpha's writes; its CPU share and
#     RSS stay bounded and the refusals are logged with their reason within
#     the rate limits (not one line per connection);
#   - 64 idle connections from 64 addresses (127.0.0.2-65, one slot each:
#     no address holds two more than alpha's, the rule above hands none
#     over): alpha, killed and restarted, still gets in, because its
#     address is a configured node's (docs/replication.md, "Hostile
#     clients"), and replicates;
#   - the same with random bytes and with half TLS handshakes;
#   - beta under `ulimit -n 48`: accept() fails with EMFILE, the listener
#     pauses (a few lines, no busy loop logging each failure);
#   - a TLS-authenticated peer (alpha's certificate) sends hellos with
#     absurd geometry: an odd size, a 4 GiB record size, a 2 GiB block size
#     are refused with the reason logged; a 16 EiB size and a primary at
#     seq 2^64-2 are taken as alpha's connection (it has alpha's
#     certificate) without harm: beta stays up, its RSS does not grow, the
#     real alpha takes the link back.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
# timeout: 600
set -u
. "$(dirname "$0")/../lib.sh"

need_bins peer-bounds "$WBREPD" "$WBCTL"
need_tools peer-bounds nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "peer-bounds (engine wblog not registered)"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
	skip_all "peer-bounds: cannot bind 127.0.0.2 (a second loopback address)"
tmpdir peerbounds

REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
HP="python3 $ROOT/tests/integration/hostile_peer.py"
repl_init alpha beta || finish
repl_conf alpha primary
repl_conf beta secondary
repl_start alpha || { fail "peer-bounds-start: alpha: $REPL_WHY"; finish; }
repl_start beta || { fail "peer-bounds-start: beta: $REPL_WHY"; finish; }
wait_for 60 repl_uptodate alpha || { fail "peer-bounds-link: alpha: $(tail -3 "$T/alpha/wbrepd.log")"; finish; }
BL=$T/beta/wbrepd.log
nups() { grep -c 'r0: peer alpha up' "$BL"; }

# stats_check NAME STATSLINE [norss]: CPU share, RSS growth (unless norss:
# the flood ran while beta took writes) and log lines of a flood
stats_check() {
	local name=$1 line=$2 cpu grow lines bound
	cpu=$(grep -o 'cpu=[0-9.]*' <<<"$line" | cut -d= -f2)
	grow=$(grep -o 'rss_grow_kib=-*[0-9]*' <<<"$line" | cut -d= -f2)
	lines=$(grep -o ' lines=[0-9]*' <<<"$line" | cut -d= -f2)
	bound=$(grep -o 'bound=[0-9]*' <<<"$line" | cut -d= -f2)
	if [ -z "$cpu" ]; then
		fail "$name: the flood printed no stats: $(tail -2 "$T/flood.out")"
		return
	fi
	# a busy loop shows as a whole CPU; 32 TLS handshakes at a time
	# as a few percent (deadline-free: CPU seconds over wall seconds)
	awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }' &&
		pass "$name-cpu (beta's CPU share $cpu)" || fail "$name-cpu: beta's CPU share $cpu"
	# 32 pending connections (TLS state, bufferevents) + allocator slack
	if [ "${3:-}" != norss ]; then
		[ "$grow" -le $((16 << 10)) ] && pass "$name-rss (+$grow KiB)" ||
			fail "$name-rss: beta's RSS grew by $grow KiB"
	fi
	if [ "$lines" -le "$bound" ] && grep -qE 'peer connection from [0-9.:]+ refused: .+' "$BL"; then
		pass "$name-log ($lines refusal lines, bound $bound; $(grep -o 'opened=[0-9]*' <<<"$line") connections)"
	else
		fail "$name-log: $lines refusal lines, bound $bound: $(grep 'refused' "$BL" | tail -2 | tr '\n' ' ')"
	fi
}

# replicates NAME MIB: 4 MiB of random data written to alpha at MIB MiB
# reach beta (the whole export compared)
replicates() {
	head -c $((4 << 20)) /dev/urandom >"$T/d"
	mkimg "$T/img" "$T/d" "$2"
	if timeout 120 nbdcopy "$T/img" "$(URI alpha)" && wait_for 120 same_as "$T/img" beta; then
		pass "$1-replicates"
	else
		fail "$1-replicates: $(img_diff "$T/img" "$T/out.beta")"
	fi
}

# ---- idle connections hold every slot; alpha still gets in
export HOSTILE_STOP=$T/stop
rm -f "$HOSTILE_STOP"
$HP flood "127.0.0.1:${PORT[beta]}" "${PID[beta]}" "$BL" idle 64 60 127.0.0.2 >"$T/flood.out" 2>&1 &
FP=$!
track_pid "$FP"
if ! wait_log 30 "$BL" 'already wait for their hello \([0-9]+ from'; then
	fail "peer-flood-idle: beta's slots never filled: $(tail -2 "$BL" | tr '\n' ' ')"
fi
n0=$(nups)
repl_stop alpha KILL
repl_start alpha || fail "peer-flood-idle: alpha restart: $REPL_WHY"
if wait_log_count 40 "$BL" 'r0: peer alpha up' "$n0" && is_alive "$FP"; then
	pass "peer-flood-idle-peer-gets-in ($(grep -c 'its slot goes to' "$BL") slots handed over)"
else
	fail "peer-flood-idle-peer-gets-in: alpha not up on beta while the flood ran: $(grep -E 'refused' "$BL" | tail -2 | tr '\n' ' ')"
fi
if ctl beta status >/dev/null 2>&1; then
	pass "peer-flood-idle-status"
else
	fail "peer-flood-idle-status: wbctl status on beta failed"
fi
replicates peer-flood-idle 1
touch "$HOSTILE_STOP"
wait "$FP"
stats_check peer-flood-idle "$(grep STATS "$T/flood.out")" norss

# ---- one slot per address from 64 addresses: only the configured node's
# address lets alpha in
rm -f "$HOSTILE_STOP"
w0=$(grep -c 'already wait for their hello (0 from' "$BL")
$HP flood "127.0.0.1:${PORT[beta]}" "${PID[beta]}" "$BL" idle 64 60 127.0.0.2-65 >"$T/flood.out" 2>&1 &
FP=$!
track_pid "$FP"
if ! wait_log_count 30 "$BL" 'already wait for their hello \(0 from' "$w0"; then
	fail "peer-flood-many: beta's slots never filled: $(tail -2 "$BL" | tr '\n' ' ')"
fi
n0=$(nups)
h0=$(grep -c "its slot goes to 127.0.0.1:[0-9]* (a configured node's address)" "$BL")
repl_stop alpha KILL
repl_start alpha || fail "peer-flood-many: alpha restart: $REPL_WHY"
if wait_log_count 40 "$BL" 'r0: peer alpha up' "$n0" && is_alive "$FP"; then
	pass "peer-flood-many-peer-gets-in ($(($(grep -c "(a configured node's address)" "$BL") - h0)) slots handed to alpha's address)"
else
	fail "peer-flood-many-peer-gets-in: alpha not up on beta while 64 addresses flooded: $(grep -E 'refused' "$BL" | tail -2 | tr '\n' ' ')"
fi
replicates peer-flood-many 2
touch "$HOSTILE_STOP"
wait "$FP"

# ---- idle (beta not writing meanwhile: its RSS), random bytes, half TLS
# handshakes (3 s each)
for kind in idle garbage tls-half; do
	rm -f "$HOSTILE_STOP"
	$HP flood "127.0.0.1:${PORT[beta]}" "${PID[beta]}" "$BL" $kind 64 3 127.0.0.2 >"$T/flood.out" 2>&1
	stats_check "peer-flood-$kind-3s" "$(grep STATS "$T/flood.out")"
	is_alive "${PID[beta]}" && ctl beta status >/dev/null 2>&1 ||
		fail "peer-flood-$kind-3s-alive: beta died or does not answer"
done
wait_for 60 repl_uptodate alpha || fail "peer-flood-link: alpha does not see beta up to date"

# ---- beta out of file descriptors: the listener pauses
repl_stop beta
printf '#!/bin/sh\nulimit -n 48 || exit 1\nexec "%s" "$@"\n' "$WBREPD" >"$T/wbrepd48"
chmod +x "$T/wbrepd48"
REAL=$WBREPD
WBREPD=$T/wbrepd48
repl_start beta || fail "peer-emfile: beta start under ulimit -n 48: $REPL_WHY"
WBREPD=$REAL
a0=$(grep -c 'accept' "$BL")
rm -f "$HOSTILE_STOP"
$HP flood "127.0.0.1:${PORT[beta]}" "${PID[beta]}" "$BL" idle 64 5 127.0.0.2 >"$T/flood.out" 2>&1
a1=$(($(grep -c 'accept' "$BL") - a0))
if grep -q 'accept failed: Too many open files; pausing' "$BL" && [ "$a1" -le 40 ]; then
	pass "peer-emfile-pause ($a1 lines about accept in 5 s)"
elif [ "$a1" -le 40 ]; then
	skip "peer-emfile-pause: beta never ran out of descriptors ($(ls "/proc/${PID[beta]}/fd" | wc -l) open)"
else
	fail "peer-emfile-pause: $a1 lines about accept in 5 s: $(grep accept "$BL" | tail -1)"
fi
if ctl beta status >/dev/null 2>&1 && wait_for 60 repl_uptodate alpha; then
	pass "peer-emfile-link (beta answers, alpha sees it up to date)"
else
	fail "peer-emfile-link: $(tail -3 "$BL" | tr '\n' ' ')"
fi

# ---- an authenticated peer with absurd geometry
for w in size-odd max-record block-size; do
	timeout 30 $HP hello "127.0.0.1:${PORT[beta]}" "$T/ca.crt" "$T/alpha.crt" "$T/alpha.key" \
		alpha r0 "$w" >"$T/hello.out" 2>&1
	if wait_log 10 "$BL" 'refused: invalid hello: hello: '"$(
		case $w in size-odd) echo size ;; max-record) echo max record ;; *) echo block size ;; esac)"; then
		pass "peer-hello-$w-refused ($(grep 'invalid hello' "$BL" | tail -1 | sed 's/.*refused: //'))"
	else
		fail "peer-hello-$w-refused: $(tail -2 "$BL" | tr '\n' ' '); client: $(head -c 200 "$T/hello.out")"
	fi
done
for w in size primary-huge; do
	r0=$(awk '/VmRSS/ { print $2 }' "/proc/${PID[beta]}/status")
	n0=$(nups)
	timeout 30 $HP hello "127.0.0.1:${PORT[beta]}" "$T/ca.crt" "$T/alpha.crt" "$T/alpha.key" \
		alpha r0 "$w" >"$T/hello.out" 2>&1
	r1=$(awk '/VmRSS/ { print $2 }' "/proc/${PID[beta]}/status" 2>/dev/null)
	if is_alive "${PID[beta]}" && [ $((r1 - r0)) -le $((8 << 10)) ] &&
		wait_for 60 repl_uptodate alpha; then
		pass "peer-hello-$w-harmless (RSS $r0 -> $r1 KiB, the real alpha back)"
	else
		fail "peer-hello-$w-harmless: beta alive: $(is_alive "${PID[beta]}" && echo yes || echo no), RSS $r0 -> ${r1:-?} KiB; $(tail -3 "$BL" | tr '\n' ' ')"
	fi
done
if wait_for 120 same_as "$T/img" beta; then
	pass "peer-bounds-data (beta's export is alpha's data)"
else
	fail "peer-bounds-data: $(img_diff "$T/img" "$T/out.beta")"
fi
repl_stop alpha
repl_stop beta
repl_log_clean peer-bounds-log-clean alpha beta
finish
