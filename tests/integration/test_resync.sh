#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_resync.sh - resync between two wbrepd on loopback with TLS
# (docs/replication.md, "Resync"): a secondary kept away while the primary
# wrote more than its log holds gets a bitmap resync (progress in status,
# kill -9 of the target and of the source in the middle: it starts again
# and ends identical); a new secondary (empty log, garbage on its backing)
# gets a full sync, then again with resync-checksum (identical blocks
# skipped); an old primary that wrote alone returns with
# `wbctl connect --discard-my-data` and ends with the new primary's data.
# Every case compares the exports byte for byte.
# timeout: 900
. "$(dirname "$0")/../lib.sh"

need_bins resync "$WBREPD" "$WBCTL"
need_tools resync nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "resync (engine wblog not registered)"
tmpdir resync
[ -n "${WB_KEEP:-}" ] && on_cleanup "cp -r $T $WB_KEEP"

SIZE_MB=64
DEVSZ=$((SIZE_MB * 1048576 - 4096))

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
	fail "resync-certs: openssl: $(tail -3 "$T/openssl.log")"
	finish
}

PA=$(free_port)
PB=$(free_port)
while [ "$PB" = "$PA" ]; do PB=$(free_port); done

# write_conf NODE ROLE [LINE...]: $T/NODE/wbrep.conf
write_conf() {
	local n=$1 role=$2 d=$T/$1 l
	shift 2
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
	for l in "$@"; do echo "$l" >>"$d/wbrep.conf"; done
}

declare -A PID
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
ctl() { local n=$1; shift; "$WBCTL" -s "$T/$n/ctl.sock" "$@"; }

# put_img OFFSET_MB MB [NODE]: random data into $T/img at OFFSET_MB (the
# expected content); with NODE also written there (1 MiB writes, a flush)
put_img() {
	python3 - "$T/img" "$1" "$2" <<'EOP'
import os, sys
img, off, n = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3]) << 20
with open(img, 'r+b') as f:
    f.seek(off)
    f.write(os.urandom(n))
EOP
	[ -z "${3:-}" ] || PYTHONPATH=tests/integration timeout 300 python3 - "$T/img" "$1" "$2" "$T/$3/nbd.sock" <<'EOP'
import sys
import nbdcli
img, off, n, sock = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3]) << 20, sys.argv[4]
c = nbdcli.Conn(sock, timeout=120).connect()
with open(img, 'rb') as f:
    f.seek(off)
    for o in range(off, off + n, 1 << 20):
        err, _ = c.io(nbdcli.CMD_WRITE, o, 1 << 20, payload=f.read(1 << 20))
        assert err == 0, err
err, _ = c.io(nbdcli.CMD_FLUSH, 0, 0)
assert err == 0, err
c.close()
EOP
}
# same_on NODE: NODE's export equals $T/img
same_on() {
	timeout 300 nbdcopy "$(URI "$1")" "$T/out.$1" 2>/dev/null && cmp -s "$T/img" "$T/out.$1"
}
# writes NODE: $T/img onto NODE's export (nbdcopy flushes at the end)
writes() { timeout 300 nbdcopy "$T/img" "$(URI "$1")"; }
# st NODE PYEXPR: NODE's status --json, PYEXPR true of its first resource r
st() {
	ctl "$1" status --json r0 >"$T/st.$1" 2>&1 &&
		python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["resources"][0]
p = r["peers"][0] if r["peers"] else {}
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$T/st.$1" "$2"
}
finished() { wait_log_count 180 "$T/$1/wbrepd.log" "resync (to peer|from) [a-z]+: finished" "$2"; }
nfin() { grep -cE "resync (to peer|from) [a-z]+: finished" "$T/$1/wbrepd.log"; }

for n in alpha beta; do
	mkdir -p "$T/$n"
	truncate -s ${SIZE_MB}M "$T/$n/backing"
done
truncate -s 16M "$T/alpha/log" # smaller than what beta misses below
truncate -s 64M "$T/beta/log"
truncate -s "$DEVSZ" "$T/img"
write_conf alpha primary
write_conf beta secondary
start alpha || { fail "resync-start: alpha"; finish; }
start beta || { fail "resync-start: beta"; finish; }
put_img 0 8
if writes alpha && wait_for 120 same_on beta; then
	pass "resync-setup" "(both new: no sync, 8 MiB replicated)"
else
	fail "resync-setup: beta differs: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1)"
fi

# ---- beta away while alpha writes more than its 16 MiB log: bitmap resync
stop beta KILL
put_img 16 36 alpha || fail "resync-write-away: writing to alpha failed"
if grep -q "peer beta: bitmap tracks records from seq" "$T/alpha/wbrepd.log" &&
	grep -q "peer beta fell behind past the log's retention" "$T/alpha/wbrepd.log"; then
	pass "resync-tracking"
else
	fail "resync-tracking: alpha's log does not say it tracks beta"
fi
# the bitmap marks what beta lacks: the 36 MiB, not the whole device
if st alpha 'p["out_of_sync_bytes"] >= 36 << 20 and p["out_of_sync_bytes"] < 48 << 20'; then
	pass "resync-oos" "($(grep -o '"out_of_sync_bytes": [^,]*' "$T/st.alpha"))"
else
	fail "resync-oos: $(grep -o '"out_of_sync_bytes": [^,]*' "$T/st.alpha")"
fi
# slow (256 KiB/s: minutes; it starts again after each interruption) so
# that its middle can be seen and interrupted
write_conf beta secondary "resync-rate = 256K"
n0=$(nfin alpha)
start beta || fail "resync-restart: beta"
if wait_log 60 "$T/alpha/wbrepd.log" "resync to peer beta started: bitmap"; then
	pass "resync-bitmap-start"
else
	fail "resync-bitmap-start: $(grep -E 'peer beta' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
# progress in status: the target Inconsistent, SyncTarget, bytes done moving
if wait_for 60 st beta 'r["disk_state"] == "Inconsistent" and p["replication"] == "SyncTarget" and 0 < (p.get("resync_done_bytes") or 0) < p["resync_total_bytes"] and p["resync_eta_ms"] is not None' &&
	st alpha 'p["replication"] == "SyncSource" and p["disk"] == "Inconsistent"'; then
	pass "resync-progress" "($(grep -o '"resync_[a-z_]*": [0-9]*' "$T/st.beta" | tr '\n' ' '))"
else
	fail "resync-progress: beta: $(tr '\n' ' ' <"$T/st.beta" | grep -o '"disk_state[^]]*' | head -c 400)"
fi
# new writes while it runs, into regions still to resync and into clean
# ones: records flow as usual and no older resync data overwrites them
if put_img 22 4 alpha && put_img 58 2 alpha; then
	pass "resync-writes-during"
else
	fail "resync-writes-during: writing to alpha failed"
fi
# kill -9 of the target in the middle
stop beta KILL
start beta || fail "resync-restart2: beta"
if wait_for 60 st beta 'r["disk_state"] == "Inconsistent"'; then
	pass "resync-target-restart-inconsistent"
else
	fail "resync-target-restart-inconsistent: $(grep -o '"disk_state": "[A-Za-z]*"' "$T/st.beta")"
fi
# kill -9 of the source in the middle
if wait_for 60 st beta 'p.get("replication") == "SyncTarget" and (p.get("resync_done_bytes") or 0) > 0'; then
	stop alpha KILL
	# without its primary an Inconsistent node is not promoted (unless --force)
	if ctl beta primary r0 >"$T/prom" 2>&1; then
		fail "resync-no-promote: an Inconsistent secondary was promoted"
	elif grep -q Inconsistent "$T/prom"; then
		pass "resync-no-promote" "($(head -c 100 "$T/prom"))"
	else
		fail "resync-no-promote: $(cat "$T/prom")"
	fi
	start alpha || fail "resync-restart: alpha"
else
	fail "resync-source-kill: beta did not resync again after its restart"
fi
# no rate limit from now on (a reload applies it to the next requests)
write_conf beta secondary
ctl beta reload >/dev/null 2>&1 || fail "resync-reload: wbctl reload on beta failed"
if finished alpha "$n0" && wait_for 120 same_on beta &&
	wait_for 60 st beta 'r["disk_state"] == "UpToDate"' && st alpha 'p["out_of_sync_bytes"] == 0'; then
	pass "resync-bitmap-identical" "($(grep -E 'resync to peer beta: finished' "$T/alpha/wbrepd.log" | tail -1 | sed 's/.*finished, //'))"
else
	fail "resync-bitmap-identical: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1); $(grep -E 'resync' "$T/beta/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
# both nodes' data UUIDs are the same again
ua=$(grep -o '"data_uuid": "[0-9a-f]*"' "$T/st.alpha")
ub=$(grep -o '"data_uuid": "[0-9a-f]*"' "$T/st.beta")
if [ -n "$ua" ] && [ "$ua" = "$ub" ]; then
	pass "resync-uuid-adopted"
else
	fail "resync-uuid-adopted: alpha $ua, beta $ub"
fi

# ---- a new secondary: empty log, garbage on its backing: full sync
stop beta
rm -f "$T/beta/log"
truncate -s 64M "$T/beta/log"
head -c $((SIZE_MB * 1048576 - 4096)) /dev/urandom >"$T/beta/backing"
truncate -s ${SIZE_MB}M "$T/beta/backing"
n0=$(nfin alpha)
start beta || fail "resync-full-start: beta"
if finished alpha "$n0" && grep -q "resync to peer beta started: full sync" "$T/alpha/wbrepd.log" &&
	wait_for 120 same_on beta; then
	pass "resync-full-identical"
else
	fail "resync-full-identical: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1); $(grep -E 'resync|refus' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi

# ---- the same with checksums: the backing already holds the data
stop beta
rm -f "$T/beta/log"
truncate -s 64M "$T/beta/log"
write_conf beta secondary "resync-checksum = yes"
n0=$(nfin alpha)
start beta || fail "resync-csum-start: beta"
if finished alpha "$n0" && wait_for 120 same_on beta &&
	grep -E "peer beta: [0-9]+ regions resynced, [0-9]+ bytes written, [1-9][0-9]* bytes were identical" "$T/alpha/wbrepd.log" >"$T/csum"; then
	pass "resync-checksum-identical" "($(tail -1 "$T/csum" | sed 's/.*resynced, //'))"
else
	fail "resync-checksum-identical: $(cmp "$T/img" "$T/out.beta" 2>&1 | head -1); $(grep -E 'regions resynced' "$T/alpha/wbrepd.log" | tail -1)"
fi
write_conf beta secondary

# ---- old primary returns: alpha wrote alone, beta was promoted and wrote
stop beta
cp "$T/img" "$T/img.common"
put_img 4 2 alpha || fail "resync-discard: alpha write"
stop alpha KILL
start beta || fail "resync-discard: beta start"
ctl beta primary r0 --force >"$T/prom" 2>&1 || fail "resync-discard: promote beta: $(cat "$T/prom")"
# beta's data: what both had, and its own write at 40 MiB (not alpha's at 4)
cp "$T/img.common" "$T/img"
put_img 40 4 beta || fail "resync-discard: beta write"
write_conf alpha secondary
start alpha || fail "resync-discard: alpha start"
if wait_log 60 "$T/alpha/wbrepd.log" "never had|split brain"; then
	pass "resync-discard-refused" "(without --discard-my-data)"
else
	fail "resync-discard-refused: $(grep -E 'peer beta' "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
n0=$(nfin beta)
# both went StandAlone: alpha throws its data away, beta connects again
if ctl alpha connect r0 --discard-my-data >"$T/conn" 2>&1 && ctl beta connect r0 >>"$T/conn" 2>&1 &&
	finished beta "$n0" &&
	wait_for 120 same_on alpha && wait_for 60 st alpha 'r["disk_state"] == "UpToDate"'; then
	pass "resync-discard-identical"
else
	fail "resync-discard-identical: $(cat "$T/conn"); $(cmp "$T/img" "$T/out.alpha" 2>&1 | head -1); $(grep -E 'resync' "$T/alpha/wbrepd.log" | tail -3 | tr '\n' ' ')"
fi
for n in alpha beta; do
	grep -qE 'AddressSanitizer|runtime error|Segmentation' "$T/$n/wbrepd.log" &&
		fail "resync-log-clean: $n: $(grep -m1 -E 'Sanitizer|runtime error|Segmentation' "$T/$n/wbrepd.log")"
done
finish
