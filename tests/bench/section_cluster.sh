# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# section_cluster.sh - `make bench` section "cluster" (sourced by
# tests/bench/run.sh): the 3-node cluster of issue 11, in network namespaces
# (deploy/cluster/wbcluster up 3 --pacemaker: corosync token
# WBCLUSTER_TOKEN, default 500 ms;
# pacemaker with the promotable clone of deploy/ocf/wbrep; protocol C,
# wb-min-peers 2, TLS between the nodes, files under WB_BENCH_TMP).
#   wbwt  write-back vs forced write-through (`wbctl mode r0 writethrough
#         --wait`, back with `mode r0 config`) on the primary, fio's nbd
#         engine on its unix socket, WB_BENCH_CLUSTER_RUNTIME s (default 5)
#         each: 4K write QD1 with ack = memory (cluster 1) and 4K random
#         write QD32 with ack = log (cluster 2). Targets: write-back >= 3x
#         faster at QD1 (mean completion latency), >= 2x the IOPS at QD32.
#         Cluster 3 runs the QD1 pair with protocol B (the peers ack from
#         RAM) for reference. Each pair is WB_BENCH_CLUSTER_ROUNDS rounds
#         (default 3) in the same running cluster, the order alternating
#         (WB WT, WT WB, WB WT: a drift of the machine favours neither
#         mode), every node's log drained before each run (`wbctl drain`;
#         the primary's by the switch to write-through before a WT run);
#         the row's ratio is the median of the rounds' ratios.
#   solo  the same pairs on one wbrepd without peers (no [node] sections,
#         no corosync) over files of the same sizes on the same disk, for
#         reference: what write-back against write-through is worth on
#         this machine's CPUs and disk before any peer shares them.
#   cut   a secondary's link cut (nftables) -> the primary leaves
#         write-back: from the cut to the primary's mode event in its log.
#         Target (tests of issue 11): token + consensus (1.2 token) + 0.5 s;
#         the benchmark's: token + 2 s.
#   crash the primary node crashed (its link down, corosync, pacemaker and
#         wbrepd SIGKILLed at once) -> another node promoted by pacemaker
#         and serving I/O: from the crash to the first 4 KiB write that a
#         client running since before the crash (tests/cluster/fowatch.py:
#         one NBD connection per surviving node, a write through each every
#         10 ms) got acknowledged. Target: token + 2 s. The steps
#         (corosync membership, pacemaker's promote, wbrepd primary) come
#         from the nodes' logs (tests/cluster/timeline.sh), and whether the
#         crashed node was pacemaker's DC (then an election and a join come
#         first).
# WB_BENCH_CLUSTER_CUTS (default 3) cuts on cluster 1; WB_BENCH_CLUSTER_CRASHES
# (default 3) crashes, each at the end of a cluster (clusters 1, 2, 3, then
# more with ack = log; a crashed primary's return is not part of this).
# Medians in the table, every sample in $RESULTS/cluster.json. Needs root,
# corosync, pacemaker, jq, fio with the nbd engine.

SECTIONS+=(cluster)

# clu_median N...: the median of integers
clu_median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# clu_mode I MODE: node I's r0 is in MODE
clu_mode() { [ "$("$CLU_W" field "$1" mode)" = "$2" ]; }

# clu_dc: the name of pacemaker's DC (nI), as one of the nodes sees it
clu_dc() {
	local i
	for i in 1 2 3; do
		"$CLU_W" pcmk "$i" crm_mon -1 2>/dev/null | sed -n 's/.*Current DC: \(n[0-9]*\).*/\1/p' |
			grep . && return 0
	done
	echo "?"
}

# clu_drain SKIP: drain the log of every node but node SKIP (0: none), all
# at once; 1 when a drain failed or took over 120 s
clu_drain() {
	local i pids=() rc=0
	for i in 1 2 3; do
		[ "$i" = "$1" ] && continue
		timeout 120 "$CLU_W" wbctl "$i" drain r0 >"$CLU_D/drain-n$i.out" 2>&1 &
		pids+=($!)
		BENCH_PIDS+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || rc=1
		bench_forget "$i"
	done
	[ $rc = 0 ] || bench_log "cluster: a drain failed: $(tail -qn1 "$CLU_D"/drain-n*.out | tr '\n' ' ')"
	return $rc
}

# clu_run NAME URI MODEOF ARG WHERE MODE PREP_MS fio-options...: the fio
# run of clu_fio and solo_fio on the export at URI: $CLU_D/fio-NAME.json,
# $CLU_D/mode-NAME.txt ("MODE_BEFORE MODE_AFTER PREP_MS", each mode as
# `MODEOF ARG` prints it) and a log line naming WHERE the run was
clu_run() {
	local name=$1 uri=$2 modeof=$3 arg=$4 where=$5 mode=$6 t0=$7 m0 m1
	shift 7
	m0=$("$modeof" "$arg")
	fio --ioengine=nbd --uri="$uri" --output-format=json --randrepeat=0 --norandommap \
		--name="$name" --size=128M --time_based --runtime="$CLU_RT" "$@" \
		>"$CLU_D/fio-$name.json" 2>"$CLU_D/fio-$name.err" ||
		{ bench_log "cluster: fio $name failed: $(tail -3 "$CLU_D/fio-$name.err")"; return 1; }
	m1=$("$modeof" "$arg")
	echo "$m0 $m1 $t0" >"$CLU_D/mode-$name.txt"
	bench_log "cluster: fio $name on $where ($mode, drained in $t0 ms):" \
		"$(sed -n '/^{/,$p' "$CLU_D/fio-$name.json" | jq -r '.jobs[0].write |
			"\(.iops | floor) IOPS, mean \(.lat_ns.mean / 1000 | floor) us"' 2>/dev/null)," \
		"load $(cut -d' ' -f1 /proc/loadavg)"
}

# clu_field_mode N: node N's mode as wbcluster reads it
clu_field_mode() { "$CLU_W" field "$1" mode; }

# clu_fio NAME MODE fio-options...: one fio run on the primary ($CLU_P) in
# MODE (writeback: as the policy has it; writethrough: forced first and
# released after), every node's log drained first; $CLU_D/fio-NAME.json,
# the mode before and after and the milliseconds the drains and the mode
# switch took in $CLU_D/mode-NAME.txt
clu_fio() {
	local name=$1 mode=$2 t0 dpid drc=0
	shift 2
	t0=$(date +%s%3N)
	if [ "$mode" = writethrough ]; then
		# the secondaries' drains run while the switch drains the primary
		clu_drain "$CLU_P" &
		dpid=$!
		BENCH_PIDS+=("$dpid")
		timeout 120 "$CLU_W" wbctl "$CLU_P" mode r0 writethrough --wait >"$CLU_D/mode-$name.out" 2>&1 ||
			{ bench_log "cluster: mode writethrough failed: $(tail -1 "$CLU_D/mode-$name.out")"; drc=1; }
		wait "$dpid" || drc=1
		bench_forget "$dpid"
		[ $drc = 0 ] || return 1
	else
		clu_drain 0 || return 1
		wait_for 120 clu_mode "$CLU_P" writeback || { bench_log "cluster: n$CLU_P not in write-back"; return 1; }
	fi
	t0=$(($(date +%s%3N) - t0))
	clu_run "$name" "$("$CLU_W" uri "$CLU_P")" clu_field_mode "$CLU_P" "n$CLU_P" "$mode" "$t0" \
		"$@" || return 1
	[ "$mode" != writethrough ] || "$CLU_W" wbctl "$CLU_P" mode r0 config >/dev/null 2>&1
	return 0
}

# clu_pairs PREFIX TAG fio-options...: CLU_ROUNDS rounds of a write-back
# and a forced write-through run, fio-PREFIXwb_TAG-rN and
# fio-PREFIXwt_TAG-rN, WB first in the odd rounds and WT first in the even
# ones; stops at the first failure
clu_pairs() {
	local pre=$1 tag=$2 r
	shift 2
	for ((r = 1; r <= CLU_ROUNDS; r++)); do
		if ((r % 2)); then
			clu_fio "${pre}wb_$tag-r$r" writeback "$@" &&
				clu_fio "${pre}wt_$tag-r$r" writethrough "$@"
		else
			clu_fio "${pre}wt_$tag-r$r" writethrough "$@" &&
				clu_fio "${pre}wb_$tag-r$r" writeback "$@"
		fi || return 1
	done
}

# solo_fio D NAME MODE fio-options...: one fio run (clu_run) on the
# single node in directory D in MODE (writethrough: forced with `wbctl
# mode`, released after), its log drained first
solo_mode() {
	"$ROOT/$B/wbctl" -s "$1/ctl.sock" status --json r0 2>/dev/null | jq -r '.resources[0].mode'
}
solo_fio() {
	local d=$1 name=$2 mode=$3 t0
	shift 3
	t0=$(date +%s%3N)
	timeout 120 "$ROOT/$B/wbctl" -s "$d/ctl.sock" drain r0 >"$d/drain.out" 2>&1 ||
		{ bench_log "cluster: solo drain failed: $(tail -1 "$d/drain.out")"; return 1; }
	if [ "$mode" = writethrough ]; then
		timeout 120 "$ROOT/$B/wbctl" -s "$d/ctl.sock" mode r0 writethrough --wait \
			>"$d/mode.out" 2>&1 ||
			{ bench_log "cluster: solo mode writethrough failed: $(tail -1 "$d/mode.out")"; return 1; }
	fi
	t0=$(($(date +%s%3N) - t0))
	clu_run "$name" "nbd+unix:///?socket=$d/nbd.sock" solo_mode "$d" "one node" "$mode" "$t0" \
		"$@" || return 1
	[ "$mode" != writethrough ] || "$ROOT/$B/wbctl" -s "$d/ctl.sock" mode r0 config >/dev/null 2>&1
}

# clu_solo ACK TAG fio-options...: the reference without peers: one
# wbrepd with ACK over 256 MiB backing and log files on the cluster's
# disk, CLU_ROUNDS rounds of a write-back and a forced write-through run
# in alternating order as clu_pairs does: fio-solo_wb_TAG-rN and
# fio-solo_wt_TAG-rN
clu_solo() {
	local ack=$1 tag=$2 d=$CLU_D/solo pid r rc=0
	shift 2
	mkdir -p "$d" || return 1
	rm -f "$d/nbd.sock" "$d/ctl.sock" "$d/wbrepd.pid"
	bench_prewrite "$d/backing" 256 && bench_prewrite "$d/log" 256 || return 1
	printf '[global]\npid-file = %s\ncontrol-socket = %s\nnode-name = solo\nlog-level = warn\n' \
		"$d/wbrepd.pid" "$d/ctl.sock" >"$d/wbrep.conf"
	printf '\n[resource r0]\nengine = wblog\nack = %s\nbacking = %s\nlog = %s\nnbd-socket = %s\n' \
		"$ack" "$d/backing" "$d/log" "$d/nbd.sock" >>"$d/wbrep.conf"
	"$ROOT/$B/wbrepd" -c "$d/wbrep.conf" --create-md r0 --force --discard-dirty \
		>"$d/create-md.log" 2>&1 ||
		{ bench_log "cluster: solo --create-md failed: $(tail -1 "$d/create-md.log")"; return 1; }
	"$ROOT/$B/wbrepd" -c "$d/wbrep.conf" -f >"$d/wbrepd.log" 2>&1 &
	pid=$!
	BENCH_PIDS+=("$pid")
	wait_for 60 test -S "$d/nbd.sock" || { bench_log "cluster: solo wbrepd did not start"; rc=1; }
	for ((r = 1; r <= CLU_ROUNDS && rc == 0; r++)); do
		if ((r % 2)); then
			solo_fio "$d" "solo_wb_$tag-r$r" writeback "$@" &&
				solo_fio "$d" "solo_wt_$tag-r$r" writethrough "$@"
		else
			solo_fio "$d" "solo_wt_$tag-r$r" writethrough "$@" &&
				solo_fio "$d" "solo_wb_$tag-r$r" writeback "$@"
		fi || rc=1
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	bench_forget "$pid"
	return $rc
}

# clu_crash: crash the primary of the running cluster, measure, take it down
clu_crash() {
	local p i socks=() fw t0 tio idx new dc ts
	p=$("$CLU_W" primary)
	[ -n "$p" ] || { bench_log "cluster: no primary"; return 1; }
	wait_for 120 clu_mode "$p" writeback || bench_log "cluster: n$p not in write-back"
	dc=$(clu_dc)
	for i in 1 2 3; do [ "$i" = "$p" ] || socks+=("$CLU_D/n$i/nbd.sock"); done
	rm -f "$CLU_D/fowatch.out" "$CLU_D/fowatch.out.ready"
	python3 "$ROOT/tests/cluster/fowatch.py" "$CLU_D/fowatch.out" "${socks[@]}" &
	fw=$!
	BENCH_PIDS+=("$fw")
	# connected to both survivors, refused (secondaries): python's start
	# alone took up to 8 s at load 14 (a fixed sleep 1 measured it)
	wait_for 60 test -e "$CLU_D/fowatch.out.ready" || bench_log "cluster: the client was not ready in 60 s"
	"$CLU_W" kill "$p"
	t0=$(cat "$CLU_D/n$p/crash-ms")
	wait "$fw"
	bench_forget "$fw"
	if read -r tio idx <"$CLU_D/fowatch.out" 2>/dev/null; then
		new=${socks[idx - 1]%/nbd.sock}
		new=${new##*/n}
		io_ms+=($((tio - t0)))
		ts=$(tl_ms "$CLU_D/n$new/wbrepd.log" 'promoted to primary' "$t0")
		[ -n "$ts" ] && prom_ms+=($((ts - t0)))
		ts=$(tl_ms "$CLU_D/n$new/corosync.log" 'A new membership' "$t0")
		[ -n "$ts" ] && memb_ms+=($((ts - t0)))
		crash_dc+=("$([ "$dc" = "n$p" ] && echo true || echo false)")
		bench_log "cluster: crash n$p (DC $dc) -> n$new: $(tl_failover "$CLU_D" "$p" "$new"), first write acked +$((tio - t0)) ms"
	else
		bench_log "cluster: no write acknowledged after the crash of n$p"
	fi
	"$CLU_W" down >/dev/null 2>&1
}

section_cluster() {
	local t s p n cut_ms=() prom_ms=() io_ms=() memb_ms=() crash_dc=() t0 ts token
	local cuts=${WB_BENCH_CLUSTER_CUTS:-3} crashes=${WB_BENCH_CLUSTER_CRASHES:-3} ok=1

	[ "$(id -u)" = 0 ] || { bench_log "cluster: needs root (network namespaces)"; return 1; }
	for t in corosync pacemakerd cibadmin nft jq fio openssl python3; do
		command -v $t >/dev/null || { bench_log "cluster: $t not installed (scripts/deps.sh)"; \
			return 1; }
	done
	fio --enghelp=nbd >/dev/null 2>&1 || { bench_log "cluster: this fio has no nbd engine"; return 1; }
	make -s "$B/wbrepd" "$B/wbctl" || { bench_log "cluster: cannot build wbrepd"; return 1; }
	. "$ROOT/tests/cluster/timeline.sh"
	CLU_W=$ROOT/deploy/cluster/wbcluster
	CLU_D=$BENCH_TMP/cluster
	CLU_RT=${WB_BENCH_CLUSTER_RUNTIME:-5}
	CLU_ROUNDS=${WB_BENCH_CLUSTER_ROUNDS:-3}
	[[ "$CLU_ROUNDS" =~ ^[1-9][0-9]*$ ]] || { bench_log "cluster: WB_BENCH_CLUSTER_ROUNDS: not a count"; \
		return 1; }
	# files written full before the daemons start, as the repl section does:
	# a sparse file on ext4 allocates and converts extents on first writes
	export WBCLUSTER_DIR=$CLU_D WBCLUSTER_SIZE=256M WBCLUSTER_LOGSIZE=256M WBCLUSTER_WAIT=240 \
		WBCLUSTER_PREWRITE=1
	mkdir -p "$CLU_D"
	clu_up() { # ACK
		WBCLUSTER_ACK=$1 "$CLU_W" up 3 --pacemaker >"$CLU_D/up.log" 2>&1 || {
			bench_log "cluster: wbcluster up failed: $(tail -3 "$CLU_D/up.log")"
			"$CLU_W" down >/dev/null 2>&1
			return 1
		}
		CLU_P=$("$CLU_W" primary)
		bench_log "cluster: up, protocol ${WBCLUSTER_PROTOCOL:-C}, ack = $1, primary n$CLU_P," \
			"load $(cut -d' ' -f1 /proc/loadavg)"
	}
	local load0
	load0=$(cut -d' ' -f1-3 /proc/loadavg)

	# cluster 1: ack = memory: QD1 write-back vs write-through, the cuts, a crash
	clu_up memory || return 1
	token=$(cat "$CLU_D/token")
	local q1="--rw=randwrite --bs=4k --iodepth=1" q32="--rw=randwrite --bs=4k --iodepth=32"
	# shellcheck disable=SC2086
	clu_pairs '' qd1mem $q1 || ok=0
	p=$CLU_P
	for ((n = 0; n < cuts; n++)); do
		s=$((p % 3 + 1))
		wait_for 120 clu_mode "$p" writeback || { bench_log "cluster: n$p not in write-back"; break; }
		"$CLU_W" cut "$s"
		t0=$(cat "$CLU_D/n$s/cut-ms")
		wait_for 60 clu_mode "$p" writethrough || bench_log "cluster: n$p still in write-back"
		ts=$(tl_ms "$CLU_D/n$p/wbrepd.log" 'mode writeback -> ' "$t0")
		[ -n "$ts" ] && cut_ms+=($((ts - t0)))
		bench_log "cluster: cut n$s: $(tl_cut "$CLU_D" "$s" "$p")"
		"$CLU_W" heal "$s"
	done
	[ "$crashes" -gt 0 ] && clu_crash
	[ "$crashes" -gt 0 ] || "$CLU_W" down >/dev/null 2>&1

	# cluster 2 (and more for more crashes): ack = log: QD32, a crash
	if clu_up log; then
		# shellcheck disable=SC2086
		clu_pairs '' qd32 $q32 || ok=0
		if [ "$crashes" -gt 1 ]; then clu_crash; else "$CLU_W" down >/dev/null 2>&1; fi
	else
		ok=0
	fi
	# cluster 3: protocol B (the peers ack from RAM), ack = memory: QD1
	# again, for reference (issue 11 names no protocol; with C both modes
	# wait for the secondaries' log flush)
	if WBCLUSTER_PROTOCOL=B clu_up memory; then
		# shellcheck disable=SC2086
		clu_pairs b_ qd1mem $q1 || ok=0
		if [ "$crashes" -gt 2 ]; then clu_crash; else "$CLU_W" down >/dev/null 2>&1; fi
	else
		ok=0
	fi
	for ((n = 3; n < crashes; n++)); do
		clu_up log || break
		clu_crash
	done
	# the same pairs on one node without peers, for reference
	# shellcheck disable=SC2086
	clu_solo memory qd1mem $q1 || ok=0
	# shellcheck disable=SC2086
	clu_solo log qd32 $q32 || ok=0

	local rows row
	rows=$(python3 "$ROOT/tests/bench/cluster_report.py" "$CLU_D" "$RESULTS/cluster.json" <<EOF
{"token_ms": $token, "load_at_start": "$load0", "load_at_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "runtime_s": $CLU_RT, "rounds": $CLU_ROUNDS, "cut_to_writethrough_ms": [$(IFS=,; echo "${cut_ms[*]}")],
 "crash_to_membership_ms": [$(IFS=,; echo "${memb_ms[*]}")],
 "crash_to_promoted_ms": [$(IFS=,; echo "${prom_ms[*]}")],
 "crash_to_first_write_ms": [$(IFS=,; echo "${io_ms[*]}")],
 "crash_of_dc": [$(IFS=,; echo "${crash_dc[*]}")]}
EOF
	) || { bench_log "cluster_report.py failed"; return 1; }
	while IFS= read -r row; do
		bench_row "cluster|$row"
	done <<<"$rows"
	[ $ok = 1 ] && [ ${#cut_ms[@]} -gt 0 ] && [ ${#io_ms[@]} -gt 0 ]
}
