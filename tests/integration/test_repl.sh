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
# wbrepd (its log recovered), hold every byte written.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl "$WBREPD"
need_tools repl nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl (engine wblog not registered)"
tmpdir repl
[ -n "${WB_KEEP:-}" ] && on_cleanup "cp -r $T $WB_KEEP"

SIZE_MB=64
DEVSZ=$((SIZE_MB * 1048576 - 4096)) # wblog's identity block at the end

# ---- certificates (docs/configuration.md, "Replication links")
(
	cd "$T" || exit 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj '/CN=wbrep CA' -keyout ca.key -out ca.crt
	for n in alpha beta; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
			-keyout $n.key -out $n.csr
		printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' $n >$n.ext
		openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
			-extfile $n.ext -out $n.crt
	done
) >"$T/openssl.log" 2>&1 || {
	fail "repl-certs: openssl: $(tail -3 "$T/openssl.log")"
	finish
}

PA=$(free_port)
PB=$(free_port)
while [ "$PB" = "$PA" ]; do PB=$(free_port); done

# write_conf NODE ROLE: $T/NODE/wbrep.conf
write_conf() {
	local n=$1 role=$2 d=$T/$1
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

[node alpha]
address = 127.0.0.1:$PA

[node beta]
address = 127.0.0.1:$PB

[resource r0]
backing = $d/backing
log = $d/log
nbd-socket = $d/nbd.sock
role = $role
EOC
}

declare -A PID
# start NODE: wbrepd for NODE in the background, its export answering
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
# stop NODE [SIGNAL]
stop() {
	local p=${PID[$1]}
	kill -"${2:-TERM}" "$p" 2>/dev/null
	wait_exit "$p" 60 2>/dev/null || kill -KILL "$p"
	wait "$p" 2>/dev/null
}
URI() { echo "nbd+unix:///?socket=$T/$1/nbd.sock"; }

for n in alpha beta; do
	mkdir -p "$T/$n"
	truncate -s ${SIZE_MB}M "$T/$n/backing"
	truncate -s 64M "$T/$n/log"
done
write_conf alpha primary
write_conf beta secondary
start alpha || { fail "repl-start: alpha"; finish; }
start beta || { fail "repl-start: beta"; finish; }

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
python3 - "$T/img" "$T/data1" "$DEVSZ" <<'EOP'
import sys
img, d, size = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3])
b = bytearray(size)
# two ranges: the start of the device and one in the middle
b[0:8 << 20] = d[0:8 << 20]
off = 24 << 20
b[off:off + (8 << 20)] = d[8 << 20:]
open(img, 'wb').write(b)
EOP
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
# compare the secondary's export with the image (reads on a secondary work)
same_on_beta() {
	timeout 300 nbdcopy "$(URI beta)" "$T/out.beta" 2>/dev/null && cmp -s "$T/img" "$T/out.beta"
}
if wait_for 120 same_on_beta; then
	pass "repl-secondary-identical"
else
	fail "repl-secondary-identical: beta's export differs: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

# ---- a write on the secondary is refused
head -c 65536 /dev/urandom >"$T/small"
if timeout 60 nbdcopy "$T/small" "$(URI beta)" 2>"$T/wr.err"; then
	fail "repl-secondary-readonly: a write on the secondary succeeded"
elif same_on_beta; then
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
stop beta KILL
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
python3 - "$T/img" "$T/data2" <<'EOP'
import sys
img, d = sys.argv[1], open(sys.argv[2], 'rb').read()
with open(img, 'r+b') as f:
    f.seek(4 << 20)
    f.write(d)
EOP
if timeout 300 nbdcopy "$T/img" "$(URI alpha)"; then
	pass "repl-write-secondary-down"
else
	fail "repl-write-secondary-down: nbdcopy to alpha failed"
fi
start beta || fail "repl-restart: beta"
if wait_for 180 same_on_beta; then
	pass "repl-catch-up"
else
	fail "repl-catch-up: beta's export differs after restart: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

if wait_for 60 mode_is '^r0: writeback: quorate, 1/1 peers UpToDate$' &&
	wait_log 30 "$T/events.alpha" '"kind": "mode", "mode": "writeback", .*"message": "mode writethrough -> writeback \(peer change\)'; then
	pass "repl-writeback-again"
else
	fail "repl-writeback-again: mode: $(cat "$T/mode.alpha"); events: $(tail -3 "$T/events.alpha")"
fi
kill "$EVPID" 2>/dev/null
wait "$EVPID" 2>/dev/null

# ---- protocol C: once the primary replied to the flush (nbdcopy ends
# with one), the secondary's log has every record: kill -9 both right
# after, then read the secondary's devices stand-alone
head -c $((4 * 1048576)) /dev/urandom >"$T/data3"
python3 - "$T/img" "$T/data3" <<'EOP'
import sys
img, d = sys.argv[1], open(sys.argv[2], 'rb').read()
with open(img, 'r+b') as f:
    f.seek(40 << 20)
    f.write(d)
EOP
if timeout 300 nbdcopy "$T/img" "$(URI alpha)"; then
	stop alpha KILL
	stop beta KILL
	pass "repl-protocol-c-write"
else
	fail "repl-protocol-c-write: nbdcopy to alpha failed"
	stop alpha KILL
	stop beta KILL
fi
for n in alpha beta; do
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error|Segmentation' "$T/$n/wbrepd.log"; then
		fail "repl-log-clean-$n: sanitizer report in $n's log"
	fi
done
# beta alone (no [node] sections: single node, primary) over its own
# devices: recovery of its log after the kill -9
d=$T/beta
cat >"$d/solo.conf" <<EOC
[global]
pid-file = $d/wbrepd.pid
control-socket = $d/ctl.sock
node-name = beta

[resource r0]
backing = $d/backing
log = $d/log
nbd-socket = $d/nbd.sock
EOC
cp "$d/solo.conf" "$d/wbrep.conf"
if start beta && timeout 300 nbdcopy "$(URI beta)" "$T/out.solo" && cmp -s "$T/img" "$T/out.solo"; then
	pass "repl-secondary-after-restart"
else
	fail "repl-secondary-after-restart: beta's devices differ from what was written"
fi
stop beta
finish
