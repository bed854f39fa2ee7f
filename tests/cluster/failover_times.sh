#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# failover_times.sh - measures pacemaker failovers on fresh 3-node
# namespaced clusters (deploy/cluster/wbcluster up 3 --pacemaker), one
# crash of the primary node per cluster, and prints one line per run: the
# steps from the crash (tests/cluster/timeline.sh), the first write a client
# running since before the crash got acknowledged (tests/cluster/fowatch.py),
# whether the crashed node was pacemaker's DC, how often the DC's controller
# slept its second in do_pe_invoke_callback ("Re-asking for the CIB"; the
# controller runs with PCMK_debug=pacemaker-controld here) and the load.
# Not a test: nothing here asserts a time (docs/pacemaker.md, "Failover
# time", has the results).
#
#   tests/cluster/failover_times.sh RUNS [DIR]
#
# Runs alternate: odd runs crash the primary where pacemaker put it (so far
# never the DC in practice), even runs first move the promoted role to the
# DC (crm_resource --move --promoted, then --clear) and crash that node.
# FO_DC=always|never overrides. Before the crash FO_PREWRITE MiB (default
# 4) are written through the primary (qemu-io). The cluster options come from wbcluster's
# environment (WBCLUSTER_TOKEN, WBCLUSTER_TRANSITION_DELAY ...). Needs root
# and what wbcluster --pacemaker needs; DIR (default /tmp/fotimes.PID)
# keeps every run's logs in DIR/runN.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
W=$ROOT/deploy/cluster/wbcluster
RUNS=${1:?usage: failover_times.sh RUNS [DIR]}
BASE=${2:-/tmp/fotimes.$$}
. "$HERE/timeline.sh"
mkdir -p "$BASE"

# wait_until SECONDS CMD...
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}
in_wb() { [ "$("$W" field "$1" mode)" = writeback ]; }
is_primary() { [ "$("$W" primary)" = "$1" ]; }
dc_of() { "$W" pcmk 1 crm_mon -1 2>/dev/null | sed -n 's/.*Current DC: n\([0-9]*\).*/\1/p'; }

for r in $(seq 1 "$RUNS"); do
	d=$BASE/run$r
	rm -rf "$d"
	mkdir -p "$d"
	export WBCLUSTER_DIR=$d WBCLUSTER_SIZE=64M WBCLUSTER_LOGSIZE=32M WBCLUSTER_WAIT=240
	export WBCLUSTER_PCMK_DEBUG=${WBCLUSTER_PCMK_DEBUG:-pacemaker-controld}
	if ! "$W" up 3 --pacemaker >"$d/up.log" 2>&1; then
		echo "run $r: wbcluster up failed: $(tail -1 "$d/up.log")"
		"$W" down >/dev/null 2>&1
		continue
	fi
	p=$("$W" primary)
	wait_until 120 in_wb "$p"
	dc=$(dc_of)
	want=${FO_DC:-$([ $((r % 2)) = 0 ] && echo always || echo never)}
	if [ "$want" = always ] && [ -n "$dc" ] && [ "$p" != "$dc" ]; then
		"$W" pcmk 1 crm_resource -r r0-clone --move --promoted -N "n$dc" >/dev/null 2>&1
		wait_until 90 is_primary "$dc"
		"$W" pcmk 1 crm_resource -r r0-clone --clear >/dev/null 2>&1
		p=$("$W" primary)
		wait_until 120 in_wb "$p"
		sleep 3 # the clear's transition is over
	fi
	# a cluster in use (FO_PREWRITE MiB, default 4, through the
	# primary), as the bench section's crashes come after its fio runs
	if [ "${FO_PREWRITE:-4}" != 0 ]; then
		qemu-io -f raw "$("$W" uri "$p")" -c "write -P 7 0 ${FO_PREWRITE:-4}M" >/dev/null 2>&1 ||
			echo "run $r: pre-write through n$p failed"
		wait_until 60 in_wb "$p"
	fi
	socks=()
	for i in 1 2 3; do [ "$i" = "$p" ] || socks+=("$d/n$i/nbd.sock"); done
	rm -f "$d/fowatch.out" "$d/fowatch.out.ready"
	python3 "$HERE/fowatch.py" "$d/fowatch.out" "${socks[@]}" &
	fw=$!
	# the client runs and both survivors answered it (refused: secondaries)
	wait_until 60 test -e "$d/fowatch.out.ready" || echo "run $r: the client was not ready in 60 s"
	load=$(cut -d' ' -f1 /proc/loadavg)
	"$W" kill "$p"
	t0=$(cat "$d/n$p/crash-ms")
	wait "$fw"
	if read -r tio idx <"$d/fowatch.out" 2>/dev/null; then
		new=${socks[idx - 1]%/nbd.sock}
		new=${new##*/n}
		# the controller that slept: every surviving node's log after t0
		sl=0
		for i in 1 2 3; do
			[ "$i" = "$p" ] && continue
			n=$(grep 'Re-asking for the CIB' "$d/n$i/pcmk-log/pacemaker.log" 2>/dev/null |
				while IFS= read -r line; do
					ms=$(date -d "$(echo "$line" | cut -d' ' -f1-3)" +%s%3N)
					[ "$ms" -ge "$t0" ] && echo x
				done | wc -l)
			sl=$((sl + n))
		done
		echo "run $r: crash n$p (DC n$dc$([ "$p" = "$dc" ] && echo ', crashed')) -> n$new: $(tl_failover "$d" "$p" "$new"), first write +$((tio - t0)) ms, re-asks $sl, load $load"
	else
		echo "run $r: crash n$p: no write acknowledged"
	fi
	"$W" down >/dev/null 2>&1
	# keep the logs, not the devices
	rm -f "$d"/n*/backing "$d"/n*/log
done
