#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_sb.sh - data generations and split brain between two wbrepd on
# loopback with TLS (docs/replication.md, "Data generations and split
# brain"). alpha primary, beta secondary, blank logs over zeroed backings.
#   - the secondary adopts the primary's data generation UUID once caught up
#   - failover and return: both disconnect, beta is promoted (new UUID) and
#     writes, alpha (no write since) is demoted and reconnects: accepted,
#     alpha catches up and is byte-identical to beta
#   - an old primary that went on writing: both disconnect, beta (primary)
#     writes, alpha is promoted and writes, beta is demoted: on connect the
#     link is refused on both sides (StandAlone, the reason in status), no
#     record merged (each export unchanged); --discard-my-data is refused
#   - split brain: beta is promoted again while apart: "split brain" on both
#     sides, nothing merged
set -u
. "$(dirname "$0")/../lib.sh"

need_bins replsb "$WBREPD" "$WBCTL"
need_tools replsb nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "replsb (engine wblog not registered)"
tmpdir replsb
[ -n "${WB_KEEP:-}" ] && on_cleanup "cp -r $T $WB_KEEP"

NODES="alpha beta"
SIZE_MB=64
DEVSZ=$((SIZE_MB * 1048576 - 4096)) # wblog's identity block at the end

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
	fail "replsb-certs: openssl: $(tail -3 "$T/openssl.log")"
	finish
}

declare -A PORT PID
for n in $NODES; do
	PORT[$n]=$(free_port)
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

[node alpha]
address = 127.0.0.1:${PORT[alpha]}

[node beta]
address = 127.0.0.1:${PORT[beta]}

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
write_conf alpha primary 1
write_conf beta secondary 1
for n in $NODES; do
	start $n || {
		fail "replsb-start: $n"
		finish
	}
done
UP='s["role"] == "%s" and all(p["connection"] == "Connected" for p in s["peers"])'
if ! wait_for 60 json alpha "$(printf "$UP" primary)" || ! wait_for 60 json beta "$(printf "$UP" secondary)"; then
	fail "replsb-link-up: $(cat "$T/st.alpha" | head -c 300)"
	finish
fi
if ! json alpha 's["data_uuid"] is not None'; then
	skip_all "replsb (no data generation UUIDs: log format 1)"
fi

# put DATA (file) at OFFSET MiB of the image IMG and write IMG to NODE
put() { # NODE IMG SEED OFFSET_MB
	python3 - "$2" "$3" "$4" "$DEVSZ" <<'EOP'
import os, random, sys
img, seed, off, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if not os.path.exists(img):
    open(img, 'wb').write(bytes(size))
r = random.Random(seed)
with open(img, 'r+b') as f:
    f.seek(off << 20)
    f.write(bytes(r.getrandbits(8) for _ in range(1 << 20)))
EOP
	timeout 300 nbdcopy "$2" "$(URI "$1")"
}

# ---- the secondary takes the primary's generation
put alpha "$T/img" 1 0 || fail "replsb-write: alpha"
if wait_for 60 same_as "$T/img" beta &&
	wait_for 60 json beta "s[\"data_uuid\"] == \"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resources"][0]["data_uuid"])' "$T/st.alpha")\""; then
	pass "replsb-adopt-uuid" "($(grep -o 'adopting.*' "$T/beta/wbrepd.log" | head -1))"
else
	fail "replsb-adopt-uuid: beta: $(grep -o '"data_uuid[^,]*' "$T/st.beta")"
fi

# ---- failover and return of a primary that did not write since
ctl alpha disconnect r0 >/dev/null && ctl beta disconnect r0 >/dev/null
OLD_UUID=$(grep -o '"data_uuid": "[0-9a-f]*"' "$T/st.beta")
if ctl beta primary r0 >"$T/p.out" 2>&1 && wait_for 30 json beta 's["role"] == "primary"' &&
	! grep -q "$OLD_UUID" "$T/st.beta"; then
	pass "replsb-promote-new-uuid"
else
	fail "replsb-promote-new-uuid: $(cat "$T/p.out") $(grep -o '"data_uuid[^,]*' "$T/st.beta")"
fi
cp "$T/img" "$T/img.b"
put beta "$T/img.b" 2 8 || fail "replsb-write: beta"
ctl alpha secondary r0 >/dev/null || fail "replsb-demote: alpha"
ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
if wait_for 120 same_as "$T/img.b" alpha; then
	pass "replsb-old-primary-returns"
else
	fail "replsb-old-primary-returns: $(json alpha 'True'; grep -o '"repl_problem[^,]*' "$T/st.alpha")"
fi

# ---- an old primary that went on writing: never merged
ctl alpha disconnect r0 >/dev/null && ctl beta disconnect r0 >/dev/null
cp "$T/img.b" "$T/img.beta"
put beta "$T/img.beta" 3 16 || fail "replsb-write: beta alone"
ctl alpha primary r0 >"$T/p.out" 2>&1 || fail "replsb-promote: alpha: $(cat "$T/p.out")"
cp "$T/img.b" "$T/img.alpha"
put alpha "$T/img.alpha" 4 24 || fail "replsb-write: alpha alone"
ctl beta secondary r0 >/dev/null || fail "replsb-demote: beta"
ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
REFUSED='s["peers"][0]["connection"] == "StandAlone" and "never had" in s["repl_problem"]'
if wait_for 60 json alpha "$REFUSED" && wait_for 60 json beta "$REFUSED"; then
	pass "replsb-diverged-refused" "(alpha: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resources"][0]["repl_problem"][:150])' "$T/st.alpha"))"
else
	fail "replsb-diverged-refused: alpha: $(grep -o '"repl_problem[^}]*' "$T/st.alpha" | head -c 300); beta: $(grep -o '"repl_problem[^}]*' "$T/st.beta" | head -c 300)"
fi
if same_as "$T/img.alpha" alpha && same_as "$T/img.beta" beta; then
	pass "replsb-diverged-not-merged"
else
	fail "replsb-diverged-not-merged: an export changed"
fi
if ctl beta connect r0 --discard-my-data >"$T/d.out" 2>&1; then
	fail "replsb-discard-refused: accepted"
elif grep -q "not implemented" "$T/d.out"; then
	pass "replsb-discard-refused"
else
	fail "replsb-discard-refused: $(cat "$T/d.out")"
fi

# ---- split brain: both promoted while apart
ctl beta primary r0 --force >"$T/p.out" 2>&1 || fail "replsb-promote: beta again: $(cat "$T/p.out")"
ctl alpha secondary r0 >/dev/null || fail "replsb-demote: alpha"
ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
SPLIT='s["peers"][0]["connection"] == "StandAlone" and "split brain" in s["repl_problem"]'
if wait_for 60 json alpha "$SPLIT" && wait_for 60 json beta "$SPLIT" &&
	grep -q "split brain" "$T/alpha/wbrepd.log" && grep -q "split brain" "$T/beta/wbrepd.log"; then
	pass "replsb-split-brain"
else
	fail "replsb-split-brain: alpha: $(grep -o '"repl_problem[^}]*' "$T/st.alpha" | head -c 300)"
fi
if same_as "$T/img.alpha" alpha && same_as "$T/img.beta" beta; then
	pass "replsb-split-not-merged"
else
	fail "replsb-split-not-merged: an export changed"
fi
for n in $NODES; do
	stop $n
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error|Segmentation' "$T/$n/wbrepd.log"; then
		fail "replsb-log-clean-$n: sanitizer report in $n's log"
	fi
done
finish
