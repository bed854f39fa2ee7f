# SPDX-License-Identifier: GPL-2.0-only
#
# repl_lib.sh - 2- and 3-node replication over TLS on loopback, shared by
# the replication scripts (tests/integration/test_repl*.sh, repl_sb.sh, the
# verify and link-fault tests). Sourced after lib.sh, once tmpdir made $T:
#   . "$(dirname "$0")/../lib.sh"; tmpdir NAME
#   . "$ROOT/tests/repl_lib.sh"
#   repl_init alpha beta || finish
# Node NODE lives in $T/NODE (backing, log, nbd.sock, ctl.sock, wbrep.conf,
# wbrepd.log); its wbrepd runs in the foreground, PID in PID[NODE],
# registered with track_pid. Certificates: the openssl CLI recipe of
# docs/configuration.md ("Replication links"), one CA in $T/ca.crt.
# Waits are bounded (lib.sh).

REPL_NODES=""
REPL_SIZE_MB=${REPL_SIZE_MB:-64}
DEVSZ=$((REPL_SIZE_MB * 1048576 - 4096)) # wblog's identity block at the end
TORTURE=$ROOT/tests/integration/nbdtorture.py
# PORT[n]: n's replication listener; MPORT[n]: its metrics listener (only
# in the config with REPL_METRICS=1); PID[n]: its wbrepd
# REPL_VIA["a>b"]=HOST:PORT: node a's config reaches node b there instead
# of at b's own listener (a proxy or another namespace in between; "a>a" is
# a's own listener address); REPL_NS[n]: the network namespace n's wbrepd
# runs in (ip netns exec), none when unset
declare -A PORT MPORT PID REPL_VIA REPL_NS

# repl_certs NODE...: a CA and one certificate per NODE (CN and DNS name =
# the node) in $T; 1 (openssl's output in $T/openssl.log) on failure
repl_certs() {
	(
		cd "$T" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-subj '/CN=wbrep CA' -keyout ca.key -out ca.crt
		for n in "$@"; do
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
				-keyout "$n.key" -out "$n.csr"
			printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' "$n" >"$n.ext"
			openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
				-days 825 -extfile "$n.ext" -out "$n.crt"
		done
	) >"$T/openssl.log" 2>&1
}

# repl_init NODE...: certificates, free ports, $T/NODE with a zeroed
# backing ($REPL_SIZE_MB MiB) and a 64 MiB log for every NODE (the nodes of
# every config written later). On failure: FAIL <script>-certs, return 1.
repl_init() {
	local n
	REPL_NODES="$*"
	if ! repl_certs "$@"; then
		fail "$(basename "$0" .sh)-certs: openssl: $(tail -3 "$T/openssl.log")"
		return 1
	fi
	for n in "$@"; do
		PORT[$n]=$(free_port)
		MPORT[$n]=$(free_port)
		mkdir -p "$T/$n"
		truncate -s "${REPL_SIZE_MB}M" "$T/$n/backing"
		truncate -s 64M "$T/$n/log"
	done
}

# repl_conf NODE ROLE [KEY=VALUE...]: write $T/NODE/wbrep.conf: [global]
# with TLS and debug logging (metrics-listen with REPL_METRICS=1), one
# [node] per node of repl_init, [resource r0] with ROLE and one line per
# KEY=VALUE
repl_conf() {
	local n=$1 role=$2 d=$T/$1 m a
	shift 2
	{
		printf '[global]\npid-file = %s\ncontrol-socket = %s\nnode-name = %s\n' \
			"$d/wbrepd.pid" "$d/ctl.sock" "$n"
		printf 'log-level = debug\ntls-cert = %s\ntls-key = %s\ntls-ca = %s\n' \
			"$T/$n.crt" "$T/$n.key" "$T/ca.crt"
		[ -n "${REPL_METRICS:-}" ] && printf 'metrics-listen = 127.0.0.1:%s\n' "${MPORT[$n]}"
		for m in $REPL_NODES; do
			printf '\n[node %s]\naddress = %s\n' "$m" "${REPL_VIA[$n>$m]:-127.0.0.1:${PORT[$m]}}"
		done
		printf '\n[resource r0]\nbacking = %s\nlog = %s\nnbd-socket = %s\nrole = %s\n' \
			"$d/backing" "$d/log" "$d/nbd.sock" "$role"
		for a in "$@"; do printf '%s = %s\n' "${a%%=*}" "${a#*=}"; done
	} >"$d/wbrep.conf"
}

# repl_conf_with "NODES" NODE ROLE [KEY=VALUE...]: repl_conf with these
# [node] sections only (a file before a node is added or after one is
# removed)
repl_conf_with() {
	local keep=$REPL_NODES
	REPL_NODES=$1
	shift
	repl_conf "$@"
	REPL_NODES=$keep
}

# repl_solo_conf NODE: NODE's wbrep.conf becomes a stand-alone node (no
# [node] sections: single node, primary) over its own devices, e.g. to read
# what a killed secondary's devices hold (its log recovered at the start)
repl_solo_conf() {
	local d=$T/$1
	cat >"$d/wbrep.conf" <<EOC
[global]
pid-file = $d/wbrepd.pid
control-socket = $d/ctl.sock
node-name = $1

[resource r0]
backing = $d/backing
log = $d/log
nbd-socket = $d/nbd.sock
EOC
}

# URI NODE: NODE's NBD export
URI() { echo "nbd+unix:///?socket=$T/$1/nbd.sock"; }

# repl_start NODE: start NODE's wbrepd, wait (60 s times WB_SLOW) until its
# export answers; 1 if it exits or does not answer in time, with which of
# the two it was (and the log's tail) printed and kept in REPL_WHY
REPL_WHY=""
repl_start() {
	local n=$1 d=$T/$1 t0=$SECONDS limit=$((60 * WB_SLOW))
	REPL_WHY=""
	${REPL_NS[$n]:+ip netns exec "${REPL_NS[$n]}"} "$WBREPD" -c "$d/wbrep.conf" -f >>"$d/wbrepd.log" 2>&1 &
	PID[$n]=$!
	track_pid "${PID[$n]}"
	until nbdinfo --size "$(URI "$n")" >/dev/null 2>&1; do
		if ! is_alive "${PID[$n]}"; then
			wait "${PID[$n]}" 2>/dev/null
			REPL_WHY="wbrepd $n exited with status $? after $((SECONDS - t0)) s"
		elif [ $((SECONDS - t0)) -ge "$limit" ]; then
			REPL_WHY="wbrepd $n runs but its export does not answer after $((SECONDS - t0)) s (load $(cut -d' ' -f1-3 /proc/loadavg))"
		else
			sleep 0.1
			continue
		fi
		# the error that ended it may come before the io loops' last lines
		REPL_WHY="$REPL_WHY; errors: $(grep -E ' (error|crit|warning): ' "$d/wbrepd.log" | tail -3 | tr '\n' ' ')"
		REPL_WHY="$REPL_WHY; log: $(tail -3 "$d/wbrepd.log" | tr '\n' ' ')"
		echo "$REPL_WHY"
		return 1
	done
}

# repl_start_pair P PRIMARY SECONDARY: start both (configured already) and
# wait (60 s) until the primary sees the secondary UpToDate: PASS P-start,
# else FAIL P-start and finish
repl_start_pair() {
	local p=$1 n
	for n in "$2" "$3"; do
		repl_start "$n" || {
			fail "$p-start: $n"
			finish
		}
	done
	if ! wait_for 60 repl_uptodate "$2"; then
		fail "$p-start: $3 not up to date: $(jget "$2" 's["peers"]')"
		finish
	fi
	pass "$p-start"
}

# repl_start_bg NODE: start NODE's wbrepd without waiting for its export
# (e.g. without quorum, where the export suspends I/O)
repl_start_bg() {
	${REPL_NS[$1]:+ip netns exec "${REPL_NS[$1]}"} "$WBREPD" -c "$T/$1/wbrep.conf" -f >>"$T/$1/wbrepd.log" 2>&1 &
	PID[$1]=$!
	track_pid "${PID[$1]}"
}

# repl_stop NODE [SIGNAL]: signal NODE's wbrepd (default TERM) and reap it
# (SIGKILL after 60 s)
repl_stop() {
	local p=${PID[$1]}
	kill -"${2:-TERM}" "$p" 2>/dev/null
	wait_exit "$p" 60 2>/dev/null || kill -KILL "$p"
	wait "$p" 2>/dev/null
}

# repl_wipe NODE: blank backing and log again (a node made anew; its
# wbrepd stopped)
repl_wipe() {
	rm -f "$T/$1/backing" "$T/$1/log"
	truncate -s "${REPL_SIZE_MB}M" "$T/$1/backing"
	truncate -s 64M "$T/$1/log"
}

# repl_log_clean NAME NODE...: FAIL NAME-NODE when NODE's log has a
# sanitizer report or a crash
repl_log_clean() {
	local name=$1 n
	shift
	for n in "$@"; do
		if grep -qE 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error|Segmentation' "$T/$n/wbrepd.log"; then
			fail "$name-$n: sanitizer report in $n's log"
		fi
	done
}

# ctl NODE ARGS...: wbctl on NODE's control socket
ctl() {
	local n=$1
	shift
	"$WBCTL" -s "$T/$n/ctl.sock" "$@"
}

# same_as FILE NODE: NODE's export reads back as FILE (copy in $T/out.NODE)
same_as() {
	timeout 300 nbdcopy "$(URI "$2")" "$T/out.$2" 2>/dev/null && cmp -s "$1" "$T/out.$2"
}

# img_diff EXPECTED GOT: one line saying where GOT differs from EXPECTED:
# the MiB ranges that differ and, per range, whether GOT holds zeroes
# there (a write that never arrived) or other data (older or foreign)
img_diff() {
	python3 - "$1" "$2" <<'EOP'
import sys
try:
    a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
except OSError as e:
    sys.exit(print("cannot compare: %s" % e))
M = 1 << 20
if len(a) != len(b):
    print("sizes differ: %d expected, %d read;" % (len(a), len(b)), end=" ")
bad = [m for m in range((min(len(a), len(b)) + M - 1) // M) if a[m * M:(m + 1) * M] != b[m * M:(m + 1) * M]]
if not bad:
    sys.exit(print("no MiB differs"))
first = next(i for i in range(bad[0] * M, len(a)) if a[i] != b[i])
runs, s = [], bad[0]
for x, y in zip(bad, bad[1:] + [None]):
    if y != x + 1:
        z = all(not any(b[m * M:(m + 1) * M]) for m in range(s, x + 1))
        runs.append("%d-%d MiB (%s)" % (s, x + 1, "zeroes" if z else "other data"))
        s = y
print("%d MiB differ, first byte at %d: %s" % (len(bad), first, ", ".join(runs[:8])))
EOP
}

# json NODE EXPR: NODE's `wbctl status --json r0` (kept in $T/st.NODE)
# makes the python expression EXPR true; the resource's object is s
json() {
	ctl "$1" status --json r0 >"$T/st.$1" 2>&1 &&
		python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["resources"][0]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/st.$1" "$2"
}

# jget NODE EXPR: print the python expression EXPR on NODE's last status
# ($T/st.NODE, from json)
jget() {
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["resources"][0]; print(eval(sys.argv[2]))' "$T/st.$1" "$2"
}

# peer_is NODE PEER PYEXPR: PYEXPR true of NODE's peer entry p for PEER
peer_is() {
	json "$1" "[p for p in s['peers'] if p['node'] == '$2' and ($3)] != []"
}

# repl_connected NODE ROLE: NODE has ROLE and every peer is Connected
repl_connected() {
	json "$1" "s[\"role\"] == \"$2\" and all(p[\"connection\"] == \"Connected\" for p in s[\"peers\"])"
}

# repl_uptodate NODE: NODE (a primary) sees every peer Connected, UpToDate
# and replicating
repl_uptodate() {
	json "$1" 'all(p["connection"] == "Connected" and p["disk"] == "UpToDate" and p["replication"] == "Established" for p in s["peers"])'
}

# repl_caught_up PRIMARY NODE: NODE's seq head is the primary's (both
# asked now: a settled pair when nothing is written meanwhile)
repl_caught_up() {
	json "$1" True && json "$2" "s['seq']['head'] == $(jget "$1" "s['seq']['head']")"
}

# repl_end_checks P ST PRIMARY NODE...: stop the stamped writer, flush,
# wait for each other NODE to catch up with PRIMARY: P-acked (every
# acknowledged write of ST on every node, --exact), then P-identical
# (every export reads back byte-identical to PRIMARY's)
repl_end_checks() {
	local p=$1 st=$2 prim=$3 n bad="" same=1
	shift 3
	stamp_stop || fail "$p-writer: did not stop"
	ctl "$prim" flush r0 >/dev/null 2>&1
	for n in "$prim" "$@"; do
		if [ "$n" != "$prim" ] && ! wait_for 60 repl_caught_up "$prim" "$n"; then
			bad="$bad $n(not caught up)"
		elif ! stamp_verify "$n" "$st" --exact; then
			bad="$bad $n"
		fi
	done
	if [ -z "$bad" ]; then
		pass "$p-acked" "(every acknowledged write on $prim $*: $(tail -1 "$st.verify"))"
	else
		fail "$p-acked:$bad: $(tail -2 "$st.verify" | tr '\n' ' ')"
	fi
	timeout 300 nbdcopy "$(URI "$prim")" "$T/img.$prim" || same=0
	for n in "$@"; do
		[ "$same" = 1 ] && same_as "$T/img.$prim" "$n" || same=0
	done
	if [ "$same" = 1 ]; then
		pass "$p-identical"
	else
		fail "$p-identical: the exports differ"
	fi
}

# repl_no_slot P NODE PEERS WHY: three more [node]s appended to NODE's file
# need more bitmap slots than its log has: the reload must be refused
# saying WHY (grep pattern), NODE keep PEERS peers (PASS/FAIL P-no-slot);
# the file restored after
repl_no_slot() {
	local p=$1 n=$2 peers=$3 why=$4 x out
	cp "$T/$n/wbrep.conf" "$T/$n/wbrep.conf.noslot"
	for x in delta epsilon zeta; do
		printf '\n[node %s]\naddress = 127.0.0.1:%s\n' "$x" "$(free_port)" >>"$T/$n/wbrep.conf"
	done
	if out=$(ctl "$n" reload 2>&1); then
		fail "$p-no-slot: more peers than bitmap slots accepted"
	elif grep -q "$why" <<<"$out" && json "$n" "len(s['peers']) == $peers"; then
		pass "$p-no-slot" "($out)"
	else
		fail "$p-no-slot: $out"
	fi
	cp "$T/$n/wbrep.conf.noslot" "$T/$n/wbrep.conf"
}

# reload_on P NODE...: wbctl reload on each NODE; 1 (FAIL P: NODE: why)
# when one is refused
reload_on() {
	local p=$1 n out ok=0
	shift
	for n in "$@"; do
		out=$(ctl "$n" reload 2>&1) || {
			ok=1
			fail "$p: $n: $out"
		}
	done
	return $ok
}

# repl_writes NODE: writes NODE's resource completed so far (from status)
repl_writes() { json "$1" True && jget "$1" 's["io"]["writes"]'; }
repl_writes_reach() { [ "$(repl_writes "$1")" -ge "$2" ]; }

# repl_progress NODE N: N more writes complete on NODE within 120 s (the
# writer is not stuck)
repl_progress() {
	local w0
	w0=$(repl_writes "$1") || return 1
	wait_for 120 repl_writes_reach "$1" $((w0 + $2))
}

# st NODE PYEXPR: NODE's status --json (json), PYEXPR true of its
# resource r and its first peer p (an empty dict when it has none)
st() { json "$1" "(lambda r, p: ($2))(s, (s['peers'] or [{}])[0])"; }

# Resync events of a 2-node alpha/beta pair, from NODE's log.
# other NODE: the other node of the pair
other() { if [ "$1" = alpha ]; then echo beta; else echo alpha; fi; }
# started NODE N: bytes of NODE's (N+1)-th "resync to peer OTHER started"
# event
started() {
	grep -oE "resync to peer $(other "$1") started: [a-z ]+, [0-9]+ bytes" "$T/$1/wbrepd.log" |
		sed -n "$(($2 + 1))p" | grep -oE '[0-9]+ bytes' | cut -d' ' -f1
}
# nstart NODE: how many resyncs to the other node NODE has started
nstart() { grep -c "resync to peer $(other "$1") started" "$T/$1/wbrepd.log"; }

# repl_peer_gone NODE: NODE's (only) peer is not Connected
repl_peer_gone() { json "$1" 's["peers"][0]["connection"] != "Connected"'; }

# mkimg IMG DATA OFFSET_MB [SIZE]: put the file DATA at OFFSET_MB MiB of
# the image IMG (created zeroed with SIZE bytes, default $DEVSZ, if absent)
# repl_reply_waits CASE STOPPED PAT: with node STOPPED stopped (SIGSTOP:
# it acks nothing, well inside the 5 s ping timeout), one 4 KiB write of
# byte PAT at offset 0 to alpha must stay unanswered for 1 s and be
# answered once STOPPED runs again; $T/img gets the write either way (it
# landed), so later comparisons hold. Needs qemu-io.
repl_reply_waits() {
	local c=$1 n=$2 pat=$3 qpid early=0
	kill -STOP "${PID[$n]}"
	on_cleanup "kill -CONT ${PID[$n]} 2>/dev/null"
	timeout 60 qemu-io -f raw -c "write -P $pat 0 4k" "$(URI alpha)" >"$T/qio.out" 2>&1 &
	qpid=$!
	sleep 1
	kill -0 "$qpid" 2>/dev/null || early=1
	kill -CONT "${PID[$n]}"
	if ! wait "$qpid" || ! grep -q '^wrote 4096/4096' "$T/qio.out"; then
		fail "$c: $(tr '\n' ' ' <"$T/qio.out")"
		return
	fi
	python3 -c "open('$T/data4', 'wb').write(bytes([$pat]) * 4096)"
	mkimg "$T/img" "$T/data4" 0
	if [ $early = 1 ]; then
		fail "$c: alpha answered with $n stopped"
	else
		pass "$c"
	fi
}

# put_img OFFSET_MB MB [NODE]: random data into $T/img at OFFSET_MB (the
# expected content); with NODE also written there (1 MiB writes, a flush)
put_img() {
	img_rand "$1" "$2" && { [ -z "${3:-}" ] || img_write "$3" "$1" "$2"; }
}

# img_rand OFFSET_MB MB: random data into $T/img at OFFSET_MB
img_rand() {
	python3 - "$T/img" "$1" "$2" <<'EOP'
import os, sys
img, off, n = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3]) << 20
with open(img, 'r+b') as f:
    f.seek(off)
    f.write(os.urandom(n))
EOP
}

# img_write NODE OFFSET_MB MB [REQ_BYTES [noflush]]: $T/img's MB MiB at
# OFFSET_MB written through NODE's export in REQ_BYTES requests (default
# 1 MiB), then a flush unless noflush; 1 if a request failed
img_write() {
	PYTHONPATH=tests/integration timeout 300 python3 - "$T/img" "$2" "$3" "$T/$1/nbd.sock" "${4:-1048576}" "${5:-}" <<'EOP'
import sys
import nbdcli
img, off, n, sock = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3]) << 20, sys.argv[4]
req, noflush = int(sys.argv[5]), sys.argv[6] == 'noflush'
c = nbdcli.Conn(sock, timeout=120).connect()
with open(img, 'rb') as f:
    f.seek(off)
    for o in range(off, off + n, req):
        err, _ = c.io(nbdcli.CMD_WRITE, o, req, payload=f.read(req))
        assert err == 0, err
if not noflush:
    err, _ = c.io(nbdcli.CMD_FLUSH, 0, 0)
    assert err == 0, err
c.close()
EOP
}

mkimg() {
	python3 - "$1" "$2" "$3" "${4:-$DEVSZ}" <<'EOP'
import os, sys
img, d, off, size = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3]), int(sys.argv[4])
if not os.path.exists(img):
    with open(img, 'wb') as f:
        f.truncate(size)
with open(img, 'r+b') as f:
    f.seek(off << 20)
    f.write(d)
EOP
}

# ---------------------------------------------------------------- stamped
# The stamped writer/checker (tests/integration/nbdtorture.py) against a
# node's export. stamp_start NODE STATE NBLOCKS [THREADS [QD]]: writer in
# the background (TWPID), returns once it has connected (the .started file)
stamp_start() {
	local n=$1 st=$2
	shift 2
	rm -f "$st.started"
	python3 "$TORTURE" "$T/$n/nbd.sock" write "$st" "$@" >>"$st.log" 2>&1 &
	TWPID=$!
	track_pid "$TWPID"
	wait_for 60 test -e "$st.started"
}

# stamp_stop: stop the writer cleanly (SIGUSR1: the replies in flight are
# collected, the state saved); 1 if it did not end in 60 s (then killed)
stamp_stop() {
	kill -USR1 "$TWPID" 2>/dev/null
	if ! wait_exit "$TWPID" 60; then
		kill -KILL "$TWPID" 2>/dev/null
		wait "$TWPID" 2>/dev/null
		return 1
	fi
	wait "$TWPID" 2>/dev/null
	return 0
}

# stamp_wait_gone: wait (60 s) for a writer whose server went away
stamp_wait_gone() {
	wait_exit "$TWPID" 60 || kill -KILL "$TWPID"
	wait "$TWPID" 2>/dev/null
}

# stamp_verify NODE STATE [--exact]: check NODE's export against STATE
# (output appended to STATE.verify; its last line printed on success)
stamp_verify() {
	local n=$1 st=$2
	shift 2
	timeout 600 python3 "$TORTURE" "$T/$n/nbd.sock" verify "$st" "$@" >>"$st.verify" 2>&1
}

# ---------------------------------------------------------------- faults
# proxy_start LISTEN_PORT TARGET_HOST:PORT: the fault-injecting proxy
# (tests/integration/faultproxy.py) in the background, PROXY_PID, control
# socket $T/proxy.sock; 1 if it does not answer in 30 s
proxy_start() {
	python3 "$ROOT/tests/integration/faultproxy.py" serve "$1" "$2" "$T/proxy.sock" \
		>>"$T/proxy.log" 2>&1 &
	PROXY_PID=$!
	track_pid "$PROXY_PID"
	wait_for 30 proxy stats >/dev/null
}

# proxy_link FROM TO: FROM's link to TO goes through the proxy (FROM must
# sort first: it is the one that connects); 1 if the proxy does not start
proxy_link() {
	local pp
	pp=$(free_port)
	REPL_VIA["$1>$2"]=127.0.0.1:$pp
	proxy_start "$pp" "127.0.0.1:${PORT[$2]}"
}

# proxy CMD [ARG]: one proxy command (delay MS, rate BPS, cut, refuse, heal, stats);
# prints the answer, 0 on "ok"
proxy() { python3 "$ROOT/tests/integration/faultproxy.py" ctl "$T/proxy.sock" "$@" 2>/dev/null; }

# ---------------------------------------------------------------- images
# (the split-brain tests: test_repl_sb.sh, test_repl_sbauto.sh)
# img_put IMG SEED OFFSET_MB: 1 MiB of seeded random data at OFFSET_MB
# MiB of the image IMG (made at the device's size if missing)
img_put() {
	python3 - "$1" "$2" "$3" "$DEVSZ" <<'EOP'
import os, random, sys
img, seed, off, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if not os.path.exists(img):
    open(img, 'wb').write(bytes(size))
r = random.Random(seed)
with open(img, 'r+b') as f:
    f.seek(off << 20)
    f.write(bytes(r.getrandbits(8) for _ in range(1 << 20)))
EOP
}
# put NODE IMG SEED OFFSET_MB: img_put, then the whole IMG to NODE
put() { img_put "$2" "$3" "$4" && timeout 300 nbdcopy "$2" "$(URI "$1")"; }
# put_range NODE IMG SEED OFFSET_MB: as put, but only that MiB goes to
# NODE (1 MiB write, a flush): what a resync since then must move
put_range() {
	img_put "$2" "$3" "$4" || return 1
	PYTHONPATH="$ROOT/tests/integration" timeout 120 python3 - "$2" "$4" "$T/$1/nbd.sock" <<'EOP'
import sys
import nbdcli
img, off, sock = sys.argv[1], int(sys.argv[2]) << 20, sys.argv[3]
c = nbdcli.Conn(sock, timeout=60).connect()
with open(img, 'rb') as f:
    f.seek(off)
    err, _ = c.io(nbdcli.CMD_WRITE, off, 1 << 20, payload=f.read(1 << 20))
    assert err == 0, err
err, _ = c.io(nbdcli.CMD_FLUSH, 0, 0)
assert err == 0, err
c.close()
EOP
}
