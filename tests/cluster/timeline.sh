# SPDX-License-Identifier: GPL-2.0-only
#
# timeline.sh - sourced by the cluster tests and the bench: where the time
# of a failover or a cut goes, read from the logs wbcluster keeps per node
# ($WBCLUSTER_DIR/nI/: corosync.log, pcmk-log/pacemaker.log, wbrepd.log)
# and the fault's start time wbcluster records (nI/crash-ms, nI/cut-ms).
# Prints numbers only; nothing here asserts a time.

# tl_ms LOG PATTERN AFTER: epoch ms of the first line of LOG matching the
# extended regex PATTERN that is not older than AFTER (ms); empty if none.
# Reads both stamps the logs use: "Dec 01 05:43:39.094 ..." (corosync,
# pacemaker) and "2026-12-01T05:43:43.487 ..." (wbrepd).
tl_ms() {
	local log=$1 pat=$2 after=$3 line ts ms
	[ -r "$log" ] || return 0
	while IFS= read -r line; do
		case $line in
		[0-9][0-9][0-9][0-9]-*) ts=${line%% *} ts=${ts/T/ } ;;
		*) ts=$(echo "$line" | cut -d' ' -f1-3) ;;
		esac
		ms=$(date -d "$ts" +%s%3N 2>/dev/null) || continue
		[ "$ms" -ge "$after" ] && { echo "$ms"; return 0; }
	done < <(grep -E -- "$pat" "$log")
}

# tl_rel T0 MS: "+N ms" relative to T0, or "-" when MS is empty
tl_rel() { [ -n "$2" ] && echo "+$(($2 - $1)) ms" || echo "-"; }

# tl_failover DIR CRASHED NEW: one line, the steps from the crash of node
# CRASHED (its crash-ms) to the promotion of node NEW: corosync's new
# membership on NEW, the pacemaker DC's promote action and its result, and
# NEW's wbrepd promoted
tl_failover() {
	local d=$1 c=$2 n=$3 t0 memb init prom res i dclog=""
	t0=$(cat "$d/n$c/crash-ms") || return 0
	memb=$(tl_ms "$d/n$n/corosync.log" 'A new membership' "$t0")
	for i in "$d"/n*/pcmk-log/pacemaker.log; do
		[ -n "$(tl_ms "$i" 'Initiating promote operation' "$t0")" ] && dclog=$i
	done
	init=$(tl_ms "$dclog" 'Initiating promote operation' "$t0")
	prom=$(tl_ms "$d/n$n/wbrepd.log" 'promoted to primary' "$t0")
	res=$(tl_ms "$dclog" 'r0_promote_0 on n[0-9]+\) confirmed: ok' "$t0")
	echo "corosync membership $(tl_rel "$t0" "$memb"), pacemaker promote started $(tl_rel "$t0" "$init"), wbrepd primary $(tl_rel "$t0" "$prom"), promote done $(tl_rel "$t0" "$res")"
}

# tl_cut DIR CUT PRIMARY: one line, from the cut of node CUT (its cut-ms)
# to corosync's new membership and the primary leaving write-back
tl_cut() {
	local d=$1 c=$2 p=$3 t0 memb wt
	t0=$(cat "$d/n$c/cut-ms") || return 0
	memb=$(tl_ms "$d/n$p/corosync.log" 'A new membership' "$t0")
	wt=$(tl_ms "$d/n$p/wbrepd.log" 'mode writeback -> ' "$t0")
	echo "corosync membership $(tl_rel "$t0" "$memb"), write-back left $(tl_rel "$t0" "$wt")"
}
