# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# section_cluster.sh - `make bench` section "cluster" (sourced by
# tests/bench/run.sh): how fast the cluster reacts (issue 11), on a real
# 3-node cluster in network namespaces (deploy/cluster/wbcluster up 3
# --pacemaker: corosync token WBCLUSTER_TOKEN, default 1000 ms; pacemaker
# with the promotable clone of deploy/ocf/wbrep).
#   cut   a secondary's link cut (nftables) -> the primary leaves
#         write-back: from the cut to the primary's mode event in its log.
#         Target: token + consensus (1.2 token) + 0.5 s.
#   crash the primary node crashed (its link down, corosync, pacemaker and
#         wbrepd SIGKILLed at once) -> another node promoted by pacemaker
#         and serving I/O: from the crash to its wbrepd's "promoted to
#         primary" log line (the export takes writes from then on), and to
#         the first 4 KiB write a polling client (qemu-io every ~50 ms) got
#         acknowledged. Target: token + 2 s.
# WB_BENCH_CLUSTER_CUTS (default 3) cuts on one cluster; WB_BENCH_CLUSTER_CRASHES
# (default 2) crashes, each on a fresh cluster (a crashed primary's return
# is not part of this measurement). Medians in the table, every sample in
# $RESULTS/cluster.json. Needs root, corosync, pacemaker, jq, qemu-io.

SECTIONS+=(cluster)

# clu_median N...: the median of integers
clu_median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# clu_poll_primary NOT: the index of a node other than NOT whose r0 is
# primary (polls wbctl status every 20 ms, 120 s at most)
clu_poll_primary() {
	local end=$((SECONDS + 120)) i
	while [ $SECONDS -lt $end ]; do
		for i in 1 2 3; do
			[ "$i" = "$1" ] && continue
			"$CLU_W" wbctl "$i" status r0 2>/dev/null | grep -q '^r0: up, primary' &&
				{ echo "$i"; return 0; }
		done
		sleep 0.02
	done
	return 1
}

section_cluster() {
	local t d p s i n cut_ms=() prom_ms=() io_ms=() memb_ms=() t0 ts token rows
	local cuts=${WB_BENCH_CLUSTER_CUTS:-3} crashes=${WB_BENCH_CLUSTER_CRASHES:-2}

	[ "$(id -u)" = 0 ] || { bench_log "cluster: needs root (network namespaces)"; return 1; }
	for t in corosync pacemakerd cibadmin nft jq qemu-io openssl; do
		command -v $t >/dev/null || { bench_log "cluster: $t not installed (scripts/deps.sh)"; \
			return 1; }
	done
	make -s "$B/wbrepd" "$B/wbctl" || { bench_log "cluster: cannot build wbrepd"; return 1; }
	. "$ROOT/tests/cluster/timeline.sh"
	CLU_W=$ROOT/deploy/cluster/wbcluster
	d=$BENCH_TMP/cluster
	export WBCLUSTER_DIR=$d WBCLUSTER_SIZE=64M WBCLUSTER_LOGSIZE=32M WBCLUSTER_WAIT=240
	mkdir -p "$d"
	clu_up() {
		"$CLU_W" up 3 --pacemaker >"$d/up.log" 2>&1 || {
			bench_log "cluster: wbcluster up failed: $(tail -3 "$d/up.log")"
			"$CLU_W" down >/dev/null 2>&1
			return 1
		}
	}
	clu_mode() { [ "$("$CLU_W" field "$1" mode)" = "$2" ]; }
	clu_wait() { # SECONDS CMD...
		local end=$((SECONDS + $1))
		shift
		until "$@"; do
			[ $SECONDS -lt $end ] || return 1
			sleep 0.1
		done
	}

	clu_up || return 1
	token=$(cat "$d/token")
	p=$("$CLU_W" primary)
	for ((n = 0; n < cuts; n++)); do
		s=$((p % 3 + 1))
		clu_wait 120 clu_mode "$p" writeback || { bench_log "cluster: n$p not in write-back"; break; }
		"$CLU_W" cut "$s"
		t0=$(cat "$d/n$s/cut-ms")
		clu_wait 60 clu_mode "$p" writethrough || bench_log "cluster: n$p still in write-back"
		ts=$(tl_ms "$d/n$p/wbrepd.log" 'mode writeback -> ' "$t0")
		[ -n "$ts" ] && cut_ms+=($((ts - t0)))
		bench_log "cluster: cut n$s: $(tl_cut "$d" "$s" "$p")"
		"$CLU_W" heal "$s"
	done

	# the first crash on the cluster of the cuts, every other on a new one
	for ((n = 0; n < crashes; n++)); do
		[ "$n" = 0 ] || clu_up || break
		p=$("$CLU_W" primary)
		clu_wait 120 clu_mode "$p" writeback || bench_log "cluster: n$p not in write-back"
		"$CLU_W" kill "$p"
		t0=$(cat "$d/n$p/crash-ms")
		if i=$(clu_poll_primary "$p"); then
			clu_wait 60 timeout 10 qemu-io -f raw "$("$CLU_W" uri "$i")" -c "write -P 1 0 4k" \
				>/dev/null 2>&1
			io_ms+=($(($(date +%s%3N) - t0)))
			ts=$(tl_ms "$d/n$i/wbrepd.log" 'promoted to primary' "$t0")
			[ -n "$ts" ] && prom_ms+=($((ts - t0)))
			ts=$(tl_ms "$d/n$i/corosync.log" 'A new membership' "$t0")
			[ -n "$ts" ] && memb_ms+=($((ts - t0)))
			bench_log "cluster: crash n$p -> n$i: $(tl_failover "$d" "$p" "$i")"
		else
			bench_log "cluster: no node promoted after the crash of n$p"
		fi
		"$CLU_W" down >/dev/null 2>&1
	done

	local tcut=$((token + token * 12 / 10 + 500)) tfo=$((token + 2000)) v st
	clu_row() { # case samples target
		local c=$1 tg=$2
		shift 2
		if [ $# = 0 ]; then
			bench_row "cluster" "$c" "-" "-" "-" "<= $tg ms" "no sample"
			return
		fi
		v=$(clu_median "$@")
		st=missed
		[ "$v" -le "$tg" ] && st=met
		bench_row "cluster" "$c (ms, median of $#)" "$v" "-" "-" "<= $tg ms" "$st ($*)"
	}
	clu_row "cut -> write-through" "$tcut" "${cut_ms[@]}"
	clu_row "crash -> corosync membership" "$tfo" "${memb_ms[@]}"
	clu_row "crash -> promoted (wbrepd log)" "$tfo" "${prom_ms[@]}"
	clu_row "crash -> first write acked" "$tfo" "${io_ms[@]}"
	clu_jarr() { local IFS=,; echo "[$*]"; }
	cat >"$RESULTS/cluster.json" <<EOF
{"token_ms": $token, "load": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "cut_to_writethrough_ms": $(clu_jarr "${cut_ms[@]}"), "target_cut_ms": $tcut,
 "crash_to_membership_ms": $(clu_jarr "${memb_ms[@]}"),
 "crash_to_promoted_ms": $(clu_jarr "${prom_ms[@]}"),
 "crash_to_first_write_ms": $(clu_jarr "${io_ms[@]}"), "target_failover_ms": $tfo}
EOF
	[ ${#cut_ms[@]} -gt 0 ] && [ ${#io_ms[@]} -gt 0 ]
}
