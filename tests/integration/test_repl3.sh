#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
#
# test_repl3.sh - three wbrepd nodes on loopback with TLS (docs/replication.md):
# alpha starts primary, beta and gamma secondary, blank logs over zeroed
# backings. Cases:
#   - every link comes up; wbctl status --json shows both peers Connected,
#     UpToDate, with the CONTRACT.md keys; the metrics carry per-peer gauges
#   - wb-min-peers 2: random data written through alpha's export is
#     byte-identical through beta's and gamma's read path after the flush
#   - roles at run time: `wbctl primary` on beta is refused while alpha is
#     primary; `wbctl secondary` on alpha, then `wbctl primary` on beta: a
#     write on alpha is now refused, data written on beta reaches alpha and
#     gamma (wb-min-peers 1 from here on, through a reload)
#   - failover: the stamped torture writer (nbdtorture.py) runs against beta,
#     beta is killed -9, the secondary with the most records is promoted
#     (the other one's promotion is refused or both are equal), every
#     acknowledged (flushed / FUA) write is there, and the remaining
#     secondary ends identical to the new primary
#   - with [global] cluster = corosync and no quorum, promotion is refused
#     even with --force.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl3 "$WBREPD" "$WBCTL"
need_tools repl3 nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl3 (engine wblog not registered)"
tmpdir repl3
[ -n "${WB_KEEP:-}" ] && on_cleanup "cp -r $T $WB_KEEP"

NODES="alpha beta gamma"
SIZE_MB=64
DEVSZ=$((SIZE_MB * 1048576 - 4096)) # wblog's identity block at the end
TORTURE=$ROOT/tests/integration/nbdtorture.py

(
	cd "$T" || exit 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj '/CN=wbrep CA' -keyout ca.key -out ca.crt
	for n in $NODES; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
			-keyout $n.key -out $n.csr
		printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' $n >$n.ext
		openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
			-extfile $n.ext -out $n.crt
	done
) >"$T/openssl.log" 2>&1 || {
	fail "repl3-certs: openssl: $(tail -3 "$T/openssl.log")"
	finish
}

declare -A PORT MPORT PID
for n in $NODES; do
	PORT[$n]=$(free_port)
	MPORT[$n]=$(free_port)
done

# write_conf NODE ROLE MINPEERS
write_conf() {
	local n=$1 d=$T/$1
	mkdir -p "$d"
	cat >"$d/wbrep.conf" <<EOC
[global]
pid-file = $d/wbrepd.pid
control-socket = $d/ctl.sock
node-name = $n
log-level = debug
tls-cert = $T/$n.crt
tls-key = $T/$n.key
tls-ca = $T/ca.crt
metrics-listen = 127.0.0.1:${MPORT[$n]}

[node alpha]
address = 127.0.0.1:${PORT[alpha]}

[node beta]
address = 127.0.0.1:${PORT[beta]}

[node gamma]
address = 127.0.0.1:${PORT[gamma]}

[resource r0]
backing = $d/backing
log = $d/log
nbd-socket = $d/nbd.sock
role = $2
wb-min-peers = $3
EOC
}

start() {
	local n=$1 d=$T/$1 end=$((SECONDS + 60))
	"$WBREPD" -c "$d/wbrep.conf" -f >>"$d/wbrepd.log" 2>&1 &
	PID[$n]=$!
	track_pid "${PID[$n]}"
	until nbdinfo --size "nbd+unix:///?socket=$d/nbd.sock" >/dev/null 2>&1; do
		if ! is_alive "${PID[$n]}" || [ $SECONDS -ge $end ]; then
			echo "wbrepd $n did not come up; log:"
			tail -5 "$d/wbrepd.log" | sed 's/^/    /'
			return 1
		fi
		sleep 0.1
	done
}
stop() {
	local p=${PID[$1]}
	kill -"${2:-TERM}" "$p" 2>/dev/null
	wait_exit "$p" 60 2>/dev/null || kill -KILL "$p"
	wait "$p" 2>/dev/null
}
URI() { echo "nbd+unix:///?socket=$T/$1/nbd.sock"; }
ctl() {
	local n=$1
	shift
	"$WBCTL" -s "$T/$n/ctl.sock" "$@"
}
# same_as FILE NODE: NODE's export reads back as FILE
same_as() {
	timeout 300 nbdcopy "$(URI "$2")" "$T/out.$2" 2>/dev/null && cmp -s "$1" "$T/out.$2"
}
# json NODE EXPR: evaluate a python expression on NODE's status of r0 (s)
json() {
	ctl "$1" status --json r0 >"$T/st.$1" 2>&1 &&
		python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["resources"][0]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/st.$1" "$2"
}

for n in $NODES; do
	mkdir -p "$T/$n"
	truncate -s ${SIZE_MB}M "$T/$n/backing"
	truncate -s 64M "$T/$n/log"
done
write_conf alpha primary 2
write_conf beta secondary 2
write_conf gamma secondary 2
for n in $NODES; do
	start $n || {
		fail "repl3-start: $n"
		finish
	}
done

# ---- links and per-peer status
PEERS_OK='s["role"] == "primary" and s["disk_state"] == "UpToDate" and len(s["peers"]) == 2 and all(p["connection"] == "Connected" and p["role"] == "secondary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["seq_lag"] is not None and "out_of_sync_bytes" in p for p in s["peers"])'
SEC_OK='s["role"] == "secondary" and s["disk_state"] == "UpToDate" and [p["role"] for p in s["peers"] if p["node"] == "alpha"] == ["primary"] and all(p["connection"] == "Connected" for p in s["peers"])'
if wait_for 60 json alpha "$PEERS_OK" && wait_for 60 json beta "$SEC_OK" &&
	wait_for 60 json gamma "$SEC_OK"; then
	pass "repl3-status-peers"
else
	fail "repl3-status-peers: alpha: $(tr '\n' ' ' <"$T/st.alpha" | grep -o '"disk_state.*' | head -c 600)"
fi
ctl alpha status r0 >"$T/human.alpha" 2>&1
if grep -qE '^  peer beta +Connected role:secondary disk:UpToDate replication:Established lag:' "$T/human.alpha" &&
	grep -qE '^  disk +UpToDate' "$T/human.alpha"; then
	pass "repl3-status-human"
else
	fail "repl3-status-human: $(grep -E 'disk|peer' "$T/human.alpha" | tr '\n' '|')"
fi
if curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" >"$T/metrics" &&
	grep -q '^wbrep_peer_connected{resource="r0",peer="gamma"} 1$' "$T/metrics" &&
	grep -q '^wbrep_primary{resource="r0"} 1$' "$T/metrics" &&
	grep -q '^wbrep_peer_seq_lag{resource="r0",peer="beta"} ' "$T/metrics"; then
	pass "repl3-metrics"
else
	fail "repl3-metrics: $(grep -E 'wbrep_peer|wbrep_primary' "$T/metrics" | tr '\n' '|')"
fi

# ---- wb-min-peers 2: data on every node
head -c $((8 * 1048576)) /dev/urandom >"$T/data1"
python3 - "$T/img" "$T/data1" "$DEVSZ" <<'EOP'
import sys
img, d, size = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3])
b = bytearray(size)
b[0:4 << 20] = d[0:4 << 20]
off = 32 << 20
b[off:off + (4 << 20)] = d[4 << 20:]
open(img, 'wb').write(b)
EOP
if timeout 300 nbdcopy "$T/img" "$(URI alpha)"; then
	pass "repl3-write-minpeers2"
else
	fail "repl3-write-minpeers2: nbdcopy to alpha failed"
fi
for n in beta gamma; do
	if wait_for 120 same_as "$T/img" $n; then
		pass "repl3-identical-$n"
	else
		fail "repl3-identical-$n: $(cmp "$T/img" "$T/out.$n" 2>&1 | head -1)"
	fi
done

# ---- roles at run time
if ctl beta primary r0 >"$T/p.out" 2>&1; then
	fail "repl3-promote-refused: beta was promoted while alpha is primary"
elif grep -q "peer alpha is primary" "$T/p.out"; then
	pass "repl3-promote-refused" "($(head -c 100 "$T/p.out"))"
else
	fail "repl3-promote-refused: wrong message: $(cat "$T/p.out")"
fi
# wb-min-peers 1 from here on (a reload applies it at once)
for n in $NODES; do
	sed -i 's/^wb-min-peers = .*/wb-min-peers = 1/' "$T/$n/wbrep.conf"
	ctl $n reload >/dev/null || fail "repl3-reload: $n"
done
if ctl alpha secondary r0 >"$T/s.out" 2>&1 && wait_for 60 json alpha 's["role"] == "secondary"'; then
	pass "repl3-demote"
else
	fail "repl3-demote: $(cat "$T/s.out")"
fi
if wait_for 60 json beta 'all(p["role"] == "secondary" and p["connection"] == "Connected" for p in s["peers"])' &&
	ctl beta primary r0 >"$T/p.out" 2>&1; then
	pass "repl3-promote"
else
	fail "repl3-promote: $(cat "$T/p.out")"
fi
head -c 65536 /dev/urandom >"$T/small"
if timeout 60 nbdcopy "$T/small" "$(URI alpha)" 2>/dev/null; then
	fail "repl3-old-primary-readonly: a write on demoted alpha succeeded"
else
	pass "repl3-old-primary-readonly"
fi
head -c $((4 * 1048576)) /dev/urandom >"$T/data2"
python3 - "$T/img" "$T/data2" <<'EOP'
import sys
img, d = sys.argv[1], open(sys.argv[2], 'rb').read()
with open(img, 'r+b') as f:
    f.seek(16 << 20)
    f.write(d)
EOP
if wait_for 60 json beta "$PEERS_OK" && timeout 300 nbdcopy "$T/img" "$(URI beta)"; then
	pass "repl3-write-new-primary"
else
	fail "repl3-write-new-primary: $(tr '\n' ' ' <"$T/st.beta" | grep -o '"disk_state.*' | head -c 400)"
fi
for n in alpha gamma; do
	if wait_for 120 same_as "$T/img" $n; then
		pass "repl3-identical-after-switch-$n"
	else
		fail "repl3-identical-after-switch-$n: $(cmp "$T/img" "$T/out.$n" 2>&1 | head -1)"
	fi
done

# ---- failover: beta killed -9 under the stamped writer, a secondary promoted
python3 "$TORTURE" "$T/beta/nbd.sock" write "$T/torture.json" 4096 4 8 >"$T/torture.log" 2>&1 &
TW=$!
track_pid $TW
# let it write for a while: until beta's log shows a few thousand records
wait_for 120 json beta 's["seq"]["head"] > 3000' || true
stop beta KILL
wait_exit $TW 60 || kill -KILL $TW
wait $TW 2>/dev/null
if [ -s "$T/torture.json" ]; then
	pass "repl3-torture-write" "($(tail -1 "$T/torture.log"))"
else
	fail "repl3-torture-write: no state: $(tail -3 "$T/torture.log")"
fi
# the secondaries notice; promote the one with the most records
wait_for 60 json alpha '[p["connection"] for p in s["peers"] if p["node"] == "beta"] != ["Connected"]'
wait_for 60 json gamma '[p["connection"] for p in s["peers"] if p["node"] == "beta"] != ["Connected"]'
# and know each other's final position (DURABLE acks between secondaries):
# each one's lag towards the other is the negative of the other's
lag() { # NODE PEER
	json "$1" 'True' && python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["resources"][0]; print([p["seq_lag"] for p in s["peers"] if p["node"] == sys.argv[2]][0])' "$T/st.$1" "$2"
}
settled() {
	local a g
	a=$(lag alpha gamma) && g=$(lag gamma alpha) && [ "$a" != None ] && [ "$g" != None ] &&
		[ $((a + g)) -eq 0 ]
}
wait_for 60 settled || fail "repl3-positions-settled: alpha $(lag alpha gamma), gamma $(lag gamma alpha)"
NEW=
for n in alpha gamma; do
	if ctl $n primary r0 >"$T/p.$n" 2>&1; then
		NEW=$n
		break
	fi
done
if [ -n "$NEW" ]; then
	pass "repl3-failover-promote" "($NEW; $(cat "$T/p.alpha"))"
else
	fail "repl3-failover-promote: $(cat "$T/p.alpha" "$T/p.gamma")"
	finish
fi
if timeout 600 python3 "$TORTURE" "$T/$NEW/nbd.sock" verify "$T/torture.json" >"$T/verify.log" 2>&1; then
	pass "repl3-failover-acked-writes" "($(tail -1 "$T/verify.log"))"
else
	fail "repl3-failover-acked-writes: $(tail -3 "$T/verify.log")"
fi
OTHER=alpha
[ "$NEW" = alpha ] && OTHER=gamma
ctl $NEW flush r0 >/dev/null && timeout 300 nbdcopy "$(URI $NEW)" "$T/img.new"
if wait_for 120 same_as "$T/img.new" $OTHER; then
	pass "repl3-failover-identical-$OTHER"
else
	fail "repl3-failover-identical-$OTHER: $(cmp "$T/img.new" "$T/out.$OTHER" 2>&1 | head -1)"
fi

# ---- quorum: with [global] cluster = corosync and no quorate corosync
# (this test starts none), a promotion is refused, --force or not
stop $NEW
stop $OTHER
sed -i -e 's/^node-name = .*/&\ncluster = corosync/' -e 's/^role = .*/role = secondary/' \
	"$T/$OTHER/wbrep.conf"
# not start(): without quorum the export suspends I/O (docs/cluster.md),
# so wait for the control socket instead of an NBD answer
"$WBREPD" -c "$T/$OTHER/wbrep.conf" -f >>"$T/$OTHER/wbrepd.log" 2>&1 &
PID[$OTHER]=$!
track_pid "${PID[$OTHER]}"
if wait_for 60 json $OTHER 's["state"] == "up"'; then
	if grep -q '"quorate": true' "$T/st.$OTHER"; then
		skip "repl3-promote-no-quorum (a quorate corosync answers on this host)"
	elif ctl $OTHER primary r0 --force >"$T/q.out" 2>&1; then
		fail "repl3-promote-no-quorum: promoted without quorum"
	elif grep -q "not in a quorate cluster partition" "$T/q.out" &&
		json $OTHER 's["role"] == "secondary"'; then
		pass "repl3-promote-no-quorum" "($(head -c 120 "$T/q.out"))"
	else
		fail "repl3-promote-no-quorum: $(cat "$T/q.out")"
	fi
else
	fail "repl3-promote-no-quorum: $OTHER did not start with cluster = corosync"
fi

for n in alpha gamma; do
	stop $n
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error|Segmentation' "$T/$n/wbrepd.log"; then
		fail "repl3-log-clean-$n: sanitizer report in $n's log"
	fi
done
finish
