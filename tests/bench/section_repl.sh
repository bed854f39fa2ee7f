# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# section_repl.sh - `make bench` section "repl" (sourced by tests/bench/run.sh):
# replication cost, measured side by side in one run (issues 10 and 11).
#   single   one wbrepd, no [node] sections (no replication)
#   2 nodes  alpha primary + beta secondary, TLS 1.3 over 127.0.0.1
#   3 nodes  alpha primary + beta + gamma, wb-min-peers 2 (every peer acks)
# Every wbrepd: engine wblog, log + backing files in $REPL_DIR (default,
# as root, a tmpfs of the section's own mounted with huge=always, else a
# directory in /dev/shm (WB_BENCH_REPL_HUGE=0: always /dev/shm), so the
# three "nodes" do not fight over the one virtio disk of this VM: the link
# and the daemons are measured, not the disk; WB_BENCH_REPL_DIR=/some/dir
# for files on a disk), log-level
# warn, restarted on blank logs before every case (SIGKILL, the whole log
# zeroed) and waited for until the primary is in write-back with
# every peer Connected + UpToDate. The client is fio's nbd engine on the
# primary's unix socket, as in section nbd.
# Cases (WB_BENCH_REPL_RUNTIME seconds each, default 5):
#   seq    1M sequential write QD8           single, 2, 3 nodes (protocol C)
#   qd32   4K random write QD32              single, 2, 3 nodes (protocol C)
#   qd1    4K random write QD1 (p50/p99)     single; 2 and 3 nodes x A, B, C
#   wbwt   3 nodes, write-back vs `wbctl mode r0 writethrough --wait`:
#          4K QD1 with ack = memory, 4K QD32 with ack = log
#   resync 2 nodes: full sync of the whole device to a secondary restarted
#          on a blank log, unthrottled (resync-rate 0), timed by the
#          target's own "resync from alpha: finished ... in N ms"
# Link ceiling: a measured TLS 1.3 stream over 127.0.0.1 with the nodes'
# certificates (tests/bench/tls_stream.py: build/tests/bench/wbtlsstream,
# a replication link's TLS work and nothing else, is the ceiling; socat to
# socat and tests/bench/tls_pystream.py's memory-BIO stream are measured
# for scale, never the ceiling; one stream, and two at once from alpha as
# the 3-node primary sends to both peers; a tool missing or failing is
# skipped with the reason, never failing the section), plus, as
# info and the old bound, iperf3 over loopback (one stream) and `openssl
# speed -evp` for aes-128-gcm (issue 10) and aes-256-gcm (what TLS 1.3
# negotiates with OpenSSL's default suite order; daemon/tls.c sets none).
# QD1 floor: wbtlsstream --ping (a 4 KiB record's frame out, an ack back,
# over the same bare TLS link, 3 runs of 20000 round trips): a protocol C
# write at QD1 costs at least the single node's write plus that round trip.
# CPU: utime + stime of every wbrepd from /proc/PID/stat before and after
# each fio run (all threads, io-wq workers included).
# Ratios and targets: tests/bench/repl_report.py; results: $RESULTS/repl.json.
# The whole section: 16 fio cases x (runtime + restart, ~5-10 s on the loaded
# 2-core VM: formatting and recovering a fresh log takes ~1 s per node),
# then the resync case (a few seconds for 256 MiB); before them the link:
# iperf3 4 s, openssl speed, the TLS streams ~1.5 minutes (tls_stream.py).

SECTIONS+=(repl)

REPL_NODES=(alpha beta gamma)
declare -A REPL_PID REPL_PORT

repl_certs() { # $1 = dir: CA + one certificate per node (docs/configuration.md)
	(
		cd "$1" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
			-subj '/CN=wbrep bench CA' -keyout ca.key -out ca.crt || exit 1
		for n in "${REPL_NODES[@]}"; do
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
				-keyout "$n.key" -out "$n.csr" &&
				printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' "$n" >"$n.ext" &&
				openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
					-days 365 -extfile "$n.ext" -out "$n.crt" || exit 1
		done
	) >"$1/openssl.log" 2>&1
}

repl_stop_all() {
	local n
	for n in "${REPL_NODES[@]}"; do
		[ -n "${REPL_PID[$n]:-}" ] || continue
		kill -KILL "${REPL_PID[$n]}" 2>/dev/null
		wait "${REPL_PID[$n]}" 2>/dev/null
		bench_forget "${REPL_PID[$n]}"
		REPL_PID[$n]=""
	done
}

# repl_conf DIR NODE NNODES PROTOCOL ACK: DIR/NODE/wbrep.conf
repl_conf() {
	local d=$1 n=$2 nn=$3 proto=$4 ack=$5 i role=secondary
	[ "$n" = alpha ] && role=primary
	{
		cat <<EOF
[global]
pid-file = $d/$n/wbrepd.pid
control-socket = $d/$n/ctl.sock
node-name = $n
log-level = warn
EOF
		[ -n "${WB_BENCH_REPL_CPU_AFFINITY:-}" ] && echo "cpu-affinity = $WB_BENCH_REPL_CPU_AFFINITY"
		[ -n "${WB_BENCH_REPL_IO_THREADS:-}" ] && echo "io-threads = $WB_BENCH_REPL_IO_THREADS"
		if [ "$nn" -gt 1 ]; then
			printf 'tls-cert = %s\ntls-key = %s\ntls-ca = %s\n' "$d/$n.crt" "$d/$n.key" "$d/ca.crt"
			for ((i = 0; i < nn; i++)); do
				printf '\n[node %s]\naddress = 127.0.0.1:%s\n' "${REPL_NODES[i]}" \
					"${REPL_PORT[${REPL_NODES[i]}]}"
			done
		fi
		cat <<EOF

[resource r0]
engine = wblog
backing = $d/$n/backing.img
log = $d/$n/log.img
nbd-socket = $d/$n/nbd.sock
ack = $ack
EOF
		if [ "$nn" -gt 1 ]; then
			printf 'role = %s\nprotocol = %s\nwb-min-peers = %d\n' "$role" "$proto" $((nn - 1))
		fi
	} >"$d/$n/wbrep.conf"
}

# The primary (alpha) is in write-back with NNODES-1 peers Connected and
# UpToDate; $1 = dir, $2 = nnodes.
repl_ready() {
	timeout 10 "$ROOT/$B/wbctl" -s "$1/alpha/ctl.sock" status --json r0 >"$1/ready.json" \
		2>/dev/null &&
		python3 - "$1/ready.json" "$(($2 - 1))" <<'EOP'
import json, sys
s = json.load(open(sys.argv[1]))["resources"][0]
n = int(sys.argv[2])
peers = s.get("peers") or []
ok = s["mode"] == "writeback" and len(peers) == n and all(
    p["connection"] == "Connected" and p["disk"] == "UpToDate" for p in peers)
sys.exit(0 if ok else 1)
EOP
}

# repl_up DIR NNODES PROTOCOL ACK: every node on a blank log, primary ready
# (bounded: 60 s).
repl_up() {
	local d=$1 nn=$2 proto=$3 ack=$4 i n end=$((SECONDS + 60))
	repl_stop_all
	for ((i = 0; i < nn; i++)); do
		n=${REPL_NODES[i]}
		rm -f "$d/$n/nbd.sock" "$d/$n/ctl.sock" "$d/$n/wbrepd.pid"
		# the whole log: wblog formats only a log without any record header
		bench_prewrite "$d/$n/log.img" "$REPL_LOG_MB" || return 1
		repl_conf "$d" "$n" "$nn" "$proto" "$ack"
		"$REPL_WBREPD" -c "$d/$n/wbrep.conf" -f >>"$d/$n/wbrepd.log" 2>&1 &
		REPL_PID[$n]=$!
		BENCH_PIDS+=("$!")
	done
	for ((i = 0; i < nn; i++)); do
		n=${REPL_NODES[i]}
		until [ -S "$d/$n/nbd.sock" ] &&
			timeout 5 nbdinfo --size "nbd+unix:///?socket=$d/$n/nbd.sock" >/dev/null 2>&1; do
			if ! kill -0 "${REPL_PID[$n]}" 2>/dev/null || [ $SECONDS -ge $end ]; then
				bench_log "repl: wbrepd $n did not come up:"
				tail -5 "$d/$n/wbrepd.log" >&2
				return 1
			fi
			sleep 0.1
		done
	done
	until repl_ready "$d" "$nn"; do
		if [ $SECONDS -ge $end ]; then
			bench_log "repl: $nn nodes, protocol $proto: primary not in write-back with" \
				"$((nn - 1)) peers up to date after 60 s:"
			cat "$d/ready.json" >&2
			return 1
		fi
		sleep 0.1
	done
}

# CPU ticks (utime + stime) of every running node: "alpha 123 beta 456"
repl_ticks() {
	local n s out=""
	for n in "${REPL_NODES[@]}"; do
		[ -n "${REPL_PID[$n]:-}" ] || continue
		# fields after the ")" of comm: state is field 3, utime 14, stime 15
		s=$(sed 's/^.*) //' "/proc/${REPL_PID[$n]}/stat") || return 1
		out+="${out:+ }$n $(awk '{ print $12 + $13 }' <<<"$s")"
	done
	echo "$out"
}

# repl_csw: "alpha N beta N ...", each node's voluntary context switches
# so far (every thread and io-wq worker alive; a thread that exited is not
# counted): each is a sleep that some hand-off had to wake, so at QD1 they
# count the wake-ups a write costs, whatever the load (the involuntary ones,
# preemptions, depend on it and are left out).
repl_csw() {
	local n out=""
	for n in "${REPL_NODES[@]}"; do
		[ -n "${REPL_PID[$n]:-}" ] || continue
		out+="${out:+ }$n $(cat /proc/"${REPL_PID[$n]}"/task/*/status 2>/dev/null |
			awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }')"
	done
	echo "$out"
}

# repl_case DIR NAME NNODES PROTOCOL ACK MODE fio-options...: one measured
# run; writes DIR/case-NAME.json (setup + CPU) and DIR/fio-NAME.json.
repl_case() {
	local d=$1 name=$2 nn=$3 proto=$4 ack=$5 mode=$6 t0 t1 c0 c1
	shift 6
	bench_log "repl: $name ($nn node(s), protocol $proto, ack $ack, $mode)"
	repl_up "$d" "$nn" "$proto" "$ack" || return 1
	if [ "$mode" = writethrough ]; then
		timeout 60 "$ROOT/$B/wbctl" -s "$d/alpha/ctl.sock" mode r0 writethrough --wait \
			>"$d/mode-$name.out" 2>&1 || {
			bench_log "repl: wbctl mode r0 writethrough failed: $(cat "$d/mode-$name.out")"
			return 1
		}
	fi
	timeout 10 "$ROOT/$B/wbctl" -s "$d/alpha/ctl.sock" status --json r0 \
		>"$d/status-before-$name.json" 2>/dev/null
	t0=$(repl_ticks) || return 1
	c0=$(repl_csw)
	fio --ioengine=nbd --uri="nbd+unix:///?socket=$d/alpha/nbd.sock" --output-format=json \
		--randrepeat=0 --norandommap --name="$name" --size="${REPL_SIZE_MB}M" --time_based \
		--runtime="$REPL_RT" "$@" >"$d/fio-$name.json" 2>"$d/fio-$name.err" || {
		bench_log "repl: fio $name failed:"; cat "$d/fio-$name.err" >&2; return 1; }
	t1=$(repl_ticks) || return 1
	c1=$(repl_csw)
	timeout 10 "$ROOT/$B/wbctl" -s "$d/alpha/ctl.sock" status --json r0 \
		>"$d/status-after-$name.json" 2>/dev/null
	printf '{"case": "%s", "nodes": %d, "protocol": "%s", "ack": "%s", "mode": "%s", "clk_tck": %d, "ticks_before": "%s", "ticks_after": "%s", "csw_before": "%s", "csw_after": "%s", "loadavg": "%s"}\n' \
		"$name" "$nn" "$proto" "$ack" "$mode" "$(getconf CLK_TCK)" "$t0" "$t1" "$c0" "$c1" \
		"$(cut -d' ' -f1-3 /proc/loadavg)" >"$d/case-$name.json"
}

# repl_resync DIR: the resync case. Two nodes ready, the primary writes
# (so that a new secondary needs a full sync), the secondary is killed and
# restarted on a blank log (log-level info: its resync events), and the
# target's "resync from alpha: finished, B of B bytes in MS ms" goes to
# DIR/resync.json. The two nodes' devices are REPL_RESYNC_MB for it (the
# last case): a sync of 1 GiB takes about a second, closer to the TLS
# streams' 4 s than a 256 MiB one (a quarter of a second, its start a
# larger share of it).
repl_resync() {
	local d=$1 line t0 t1 end=$((SECONDS + 600)) n
	bench_log "repl: resync_n2 (full sync of ${REPL_RESYNC_MB} MiB, 2 nodes, unthrottled)"
	repl_stop_all
	[ "$REPL_RESYNC_MB" = "$REPL_SIZE_MB" ] || for n in alpha beta; do
		bench_prewrite "$d/$n/backing.img" "$REPL_RESYNC_MB" &&
			truncate -s $(((REPL_RESYNC_MB << 20) + 4096)) "$d/$n/backing.img" || return 1
	done
	repl_up "$d" 2 C log || return 1
	fio --ioengine=nbd --uri="nbd+unix:///?socket=$d/alpha/nbd.sock" --name=prime \
		--rw=write --bs=1M --size=4M >"$d/fio-prime.out" 2>&1 || {
		bench_log "repl: fio prime failed: $(tail -3 "$d/fio-prime.out")"; return 1; }
	kill -KILL "${REPL_PID[beta]}" 2>/dev/null
	wait "${REPL_PID[beta]}" 2>/dev/null
	bench_forget "${REPL_PID[beta]}"
	REPL_PID[beta]=""
	rm -f "$d/beta/nbd.sock" "$d/beta/ctl.sock" "$d/beta/wbrepd.pid"
	bench_prewrite "$d/beta/log.img" "$REPL_LOG_MB" || return 1
	sed -i 's/^log-level = warn$/log-level = info/' "$d/beta/wbrep.conf"
	: >"$d/beta/wbrepd.log"
	t0=$(repl_ticks) || return 1 # alpha only: beta's count starts at 0
	"$REPL_WBREPD" -c "$d/beta/wbrep.conf" -f >>"$d/beta/wbrepd.log" 2>&1 &
	REPL_PID[beta]=$!
	BENCH_PIDS+=("$!")
	until line=$(grep -oE "resync from alpha: finished, [0-9]+ of [0-9]+ bytes in [0-9]+ ms" \
		"$d/beta/wbrepd.log"); do
		if ! kill -0 "${REPL_PID[beta]}" 2>/dev/null || [ $SECONDS -ge $end ]; then
			bench_log "repl: the full sync did not finish:"
			grep -E "resync|refus" "$d/beta/wbrepd.log" | tail -5 >&2
			return 1
		fi
		sleep 0.2
	done
	t1=$(repl_ticks) || return 1
	grep -q "resync from alpha started: full sync" "$d/beta/wbrepd.log" || {
		bench_log "repl: beta's resync was not a full sync"; return 1; }
	read -r bytes ms < <(sed -E 's/.* ([0-9]+) bytes in ([0-9]+) ms/\1 \2/' <<<"$line")
	printf '{"case": "resync_n2", "nodes": 2, "kind": "full sync", "bytes": %d, "ms": %d, "resync_rate": 0, "clk_tck": %d, "ticks_before": "%s", "ticks_after": "%s", "loadavg": "%s"}\n' \
		"$bytes" "$ms" "$(getconf CLK_TCK)" "$t0" "$t1" "$(cut -d' ' -f1-3 /proc/loadavg)" \
		>"$d/resync.json"
}

# Link ceiling: iperf3 (one TCP stream over 127.0.0.1), openssl speed and
# the TLS streams (DIR/tls-stream.json, {"skipped": ...} if none can
# be measured: the report falls back to the iperf3/aes bound).
repl_link() {
	local d=$1 port pid="" i ok=0 secs=${WB_BENCH_REPL_LINK_SECS:-4}
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	iperf3 -s -1 -B 127.0.0.1 -p "$port" >"$d/iperf3-server.log" 2>&1 &
	pid=$!
	BENCH_PIDS+=("$pid")
	for i in $(seq 50); do
		# iperf3 3.12 -J exits 0 with {"error": "unable to connect ..."}
		# when the server is not listening yet: retry that too
		if iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -J >"$d/iperf3.json" 2>"$d/iperf3.err" &&
			! grep -q '^[[:space:]]*"error":' "$d/iperf3.json"; then
			ok=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	bench_forget "$pid"
	[ $ok = 1 ] || { bench_log "repl: iperf3 failed: $(cat "$d/iperf3.err")"; return 1; }
	for c in aes-128-gcm aes-256-gcm; do
		openssl speed -mr -seconds 2 -bytes 16384 -evp "$c" >"$d/speed-$c.txt" 2>&1 || {
			bench_log "repl: openssl speed -evp $c failed: $(tail -3 "$d/speed-$c.txt")"
			return 1
		}
	done
	# a tool that is missing (socat) or fails is skipped in the JSON, with
	# the reason; the section goes on even if the whole script fails
	if python3 tests/bench/tls_stream.py "$d" "$d/tls-stream.json" --secs "$secs" \
		--buf "${WB_BENCH_REPL_TLS_BUF:-1048576}" --runs "${WB_BENCH_REPL_TLS_RUNS:-3}" \
		--tools "${WB_BENCH_REPL_TLS_TOOLS:-wbtlsstream,socat,python}" 2>"$d/tls-stream.err"; then
		sed 's/^/bench: repl: /' "$d/tls-stream.err" >&2
	else
		local why
		why="tls_stream.py failed: $(tail -1 "$d/tls-stream.err")"
		bench_log "repl: no measured TLS stream, its rows are skipped: $why"
		python3 -c 'import json, sys; json.dump({"skipped": sys.argv[2]}, open(sys.argv[1], "w"))' \
			"$d/tls-stream.json" "$why"
	fi
	repl_ping "$d"
}

# The QD1 floor's link part: wbtlsstream --ping, a 4 KiB record's frame out
# and an ack frame back over a bare TLS 1.3 link, both ends blocked in
# read(2) between round trips (DIR/tls-ping-runK.json, 3 runs; a failure
# is logged and the report says so: it never fails the section).
repl_ping() {
	local d=$1 k tool=$ROOT/$B/tests/bench/wbtlsstream
	make -s "$B/tests/bench/wbtlsstream" >/dev/null 2>&1 || {
		bench_log "repl: cannot build wbtlsstream: no TLS round trip measured"; return 0; }
	for k in 1 2 3; do
		timeout 60 "$tool" "$d" "${WB_BENCH_REPL_PING_BYTES:-4160}" \
			--ping "${WB_BENCH_REPL_PING_ROUNDS:-20000}" >"$d/tls-ping-run$k.json" \
			2>"$d/tls-ping-run$k.err" || {
			bench_log "repl: wbtlsstream --ping failed: $(tail -1 "$d/tls-ping-run$k.err")"
			rm -f "$d/tls-ping-run$k.json"
		}
	done
}

section_repl() {
	local t c rows row ok=1 dir n
	REPL_RT=${WB_BENCH_REPL_RUNTIME:-5}
	REPL_WBREPD=${WB_BENCH_REPL_WBREPD:-$ROOT/$B/wbrepd}
	REPL_SIZE_MB=${WB_BENCH_REPL_SIZE_MB:-256}
	REPL_RESYNC_MB=${WB_BENCH_REPL_RESYNC_MB:-1024}
	[ "$REPL_RESYNC_MB" -ge "$REPL_SIZE_MB" ] || REPL_RESYNC_MB=$REPL_SIZE_MB
	REPL_LOG_MB=${WB_BENCH_REPL_LOG_MB:-256}

	for t in fio nbdinfo iperf3 openssl python3; do
		command -v $t >/dev/null || { bench_log "repl: $t not installed (scripts/deps.sh)"; \
			return 1; }
	done
	fio --enghelp=nbd >/dev/null 2>&1 || { bench_log "repl: this fio has no nbd engine"; return 1; }
	make -s "$B/wbrepd" "$B/wbctl" || { bench_log "repl: cannot build $B/wbrepd"; return 1; }
	"$ROOT/$B/wbrepd" --list-engines | grep -q '^wblog ' ||
		{ bench_log "repl: engine wblog is not registered in wbrepd"; return 1; }

	dir=${WB_BENCH_REPL_DIR:-}
	if [ -z "$dir" ] && [ "${WB_BENCH_REPL_HUGE:-1}" = 1 ] && [ "$(id -u)" = 0 ] &&
		mkdir -p "$BENCH_TMP/repl-tmpfs" &&
		mount -t tmpfs -o "size=$((3 * (REPL_SIZE_MB + REPL_LOG_MB) + 256 + 2 * (REPL_RESYNC_MB > REPL_SIZE_MB ? REPL_RESYNC_MB - REPL_SIZE_MB : 0)))M,huge=always" \
			wbbench "$BENCH_TMP/repl-tmpfs" 2>/dev/null; then
		# a tmpfs of its own with huge pages: the daemons' log, backing and
		# resync I/O copies pages in and out of tmpfs (a disk with O_DIRECT
		# does that by DMA); with 4 KiB pages those copies cost ~0.4 ms of
		# CPU per MiB per node, ~0.25 with 2 MiB ones (docs/benchmarks.md,
		# "Resync against the measured ceiling")
		BENCH_UMOUNTS+=("$BENCH_TMP/repl-tmpfs")
		dir=$BENCH_TMP/repl-tmpfs
	fi
	if [ -z "$dir" ]; then
		if [ -d /dev/shm ] && [ -w /dev/shm ]; then dir=/dev/shm; else dir=$BENCH_TMP; fi
	fi
	REPL_DIR=$(mktemp -d "$dir/wbbench-repl.XXXXXX") || return 1
	BENCH_RMDIRS+=("$REPL_DIR")
	local d=$REPL_DIR
	repl_certs "$d" || { bench_log "repl: openssl: $(tail -3 "$d/openssl.log")"; return 1; }
	for n in "${REPL_NODES[@]}"; do
		REPL_PORT[$n]=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		mkdir -p "$d/$n"
	done
	bench_log "repl: files in $d ($(df --output=fstype "$d" | tail -1)):" \
		"${REPL_SIZE_MB} MiB device + ${REPL_LOG_MB} MiB log per node, pre-written"
	for n in "${REPL_NODES[@]}"; do
		# + 4 KiB: wblog's identity block after the exported range
		bench_prewrite "$d/$n/backing.img" "$REPL_SIZE_MB" &&
			truncate -s $(((REPL_SIZE_MB << 20) + 4096)) "$d/$n/backing.img" &&
			bench_prewrite "$d/$n/log.img" "$REPL_LOG_MB" || return 1
	done

	cat >"$d/meta.json" <<EOF
{"dir": "$d", "fstype": "$(df --output=fstype "$d" | tail -1)", "runtime_s": $REPL_RT,
 "device_mib": $REPL_SIZE_MB, "log_mib": $REPL_LOG_MB,
 "loadavg_at_start": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "transport": "TLS 1.3 over 127.0.0.1; client fio ioengine=nbd on the primary's unix socket",
 "wb_min_peers": "nodes - 1 (every peer acks)"}
EOF
	bench_log "repl: link ceiling (iperf3, openssl speed, TLS streams)"
	repl_link "$d" || return 1

	local seq="--rw=write --bs=1M --iodepth=8"
	local q32="--rw=randwrite --bs=4k --iodepth=32"
	local q1="--rw=randwrite --bs=4k --iodepth=1"
	# name|nodes|protocol|ack|mode|fio options (same-kind cases side by side)
	local cases=(
		"seq_n1|1|C|log|writeback|$seq"
		"seq_n2|2|C|log|writeback|$seq"
		"seq_n3|3|C|log|writeback|$seq"
		"qd32_n1|1|C|log|writeback|$q32"
		"qd32_n2|2|C|log|writeback|$q32"
		"qd32_n3|3|C|log|writeback|$q32"
		"qd1_n1|1|C|log|writeback|$q1"
		"qd1_n2_A|2|A|log|writeback|$q1"
		"qd1_n2_B|2|B|log|writeback|$q1"
		"qd1_n2_C|2|C|log|writeback|$q1"
		"qd1_n3_A|3|A|log|writeback|$q1"
		"qd1_n3_B|3|B|log|writeback|$q1"
		"qd1_n3_C|3|C|log|writeback|$q1"
		"wt_qd32_n3|3|C|log|writethrough|$q32"
		"wb_qd1mem_n3|3|C|memory|writeback|$q1"
		"wt_qd1mem_n3|3|C|memory|writethrough|$q1"
	)
	local name nn proto ack mode o opts
	for c in "${cases[@]}"; do
		IFS='|' read -r name nn proto ack mode o <<<"$c"
		read -ra opts <<<"$o"
		if [ -n "${WB_BENCH_REPL_CASES:-}" ] && ! [[ " $WB_BENCH_REPL_CASES " = *" $name "* ]]; then
			continue
		fi
		sync
		repl_case "$d" "$name" "$nn" "$proto" "$ack" "$mode" "${opts[@]}" || { ok=0; break; }
	done
	if [ $ok = 1 ] && { [ -z "${WB_BENCH_REPL_CASES:-}" ] ||
		[[ " $WB_BENCH_REPL_CASES " = *" resync_n2 "* ]]; }; then
		sync
		repl_resync "$d" || ok=0
	fi
	repl_stop_all
	if [ $ok = 1 ] && [ -z "${WB_BENCH_REPL_CASES:-}" ]; then
		rows=$(python3 tests/bench/repl_report.py "$d" "$RESULTS/repl.json") || {
			bench_log "repl_report.py failed"; ok=0; }
	fi
	if [ $ok = 1 ] && [ -n "${WB_BENCH_REPL_CASES:-}" ]; then
		bench_log "repl: WB_BENCH_REPL_CASES set: no report (raw results: WB_BENCH_REPL_KEEP)"
	elif [ $ok = 1 ]; then
		while IFS= read -r row; do
			bench_row "repl|$row"
		done <<<"$rows"
	else
		for n in "${REPL_NODES[@]}"; do
			[ -s "$d/$n/wbrepd.log" ] && { bench_log "repl: $n log:"; tail -5 "$d/$n/wbrepd.log" >&2; }
		done
	fi
	if [ -n "${WB_BENCH_REPL_KEEP:-}" ]; then # raw results for a look by hand
		mkdir -p "$WB_BENCH_REPL_KEEP" &&
			(cd "$d" && find . -name '*.img' -prune -o -type f -print |
				cpio -pdm --quiet "$WB_BENCH_REPL_KEEP")
	fi
	rm -rf "$d"
	[ $ok = 1 ]
}
