#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_cluster_report.sh - tests/bench/cluster_report.py on made-up fio
# results, no cluster: the write-back vs write-through rows come from the
# rounds of each pair (fio-NAME-rN.json), the row's ratio is the median of
# the rounds' ratios (not the ratio of the medians, not round 1), the JSON
# keeps the single-run shape ("fio" NAME = the median round's run, rows
# with case/value/peer/ratio/target/status) and adds every round under
# "pairs"; a round with one run missing does not count; a pair with no
# round gives "no sample". Prints PASS/FAIL lines.
# timeout: 60
set -u
. "$(dirname "$0")/../lib.sh"

need_tools python3 jq
tmpdir clreport
rep=$ROOT/tests/bench/cluster_report.py

# run NAME MODE_BEFORE MODE_AFTER IOPS MEAN_US P50_US: one fio result as
# fio writes it (a warning line before the JSON, as the nbd engine may)
run() {
	cat >"$T/d/fio-$1.json" <<EOF
note: a line fio printed before its JSON
{"jobs": [{"write": {"io_bytes": 4096000, "iops": $4, "lat_ns": {"mean": $(($5 * 1000))},
 "clat_ns": {"percentile": {"50.000000": $(($6 * 1000)), "99.000000": $(($5 * 4000))}}}}]}
EOF
	echo "$2 $3 250" >"$T/d/mode-$1.txt"
}

meta='{"token_ms": 500, "load_at_start": "1 1 1", "load_at_end": "2 2 2", "runtime_s": 5,
 "rounds": 3, "cut_to_writethrough_ms": [1100, 1200, 1000], "crash_to_membership_ms": [1000],
 "crash_to_promoted_ms": [1400], "crash_to_first_write_ms": [1450], "crash_of_dc": [false]}'

mkdir -p "$T/d"
# QD1 ack = memory: ratios WT/WB mean 3.00, 2.00, 4.00 -> median 3.00 (round 1)
run wb_qd1mem-r1 writeback writeback 800 1000 700
run wt_qd1mem-r1 writethrough writethrough 300 3000 2800
run wt_qd1mem-r2 writethrough writethrough 250 4000 3000
run wb_qd1mem-r2 writeback writeback 500 2000 900
run wb_qd1mem-r3 writeback writeback 1000 900 600
run wt_qd1mem-r3 writethrough writethrough 280 3600 3000
# QD32 ack = log: IOPS ratios 1.50, 1.20, 2.50 and a round 4 with its WT
# run missing -> median of 3 = 1.50 (round 1); round 2's WB run left
# write-back
run wb_qd32-r1 writeback writeback 6000 5000 4000
run wt_qd32-r1 writethrough writethrough 4000 8000 7000
run wt_qd32-r2 writethrough writethrough 5000 6000 5000
run wb_qd32-r2 writeback writethrough 6000 5000 4000
run wb_qd32-r3 writeback writeback 10000 3000 2000
run wt_qd32-r3 writethrough writethrough 4000 8000 7000
run wb_qd32-r4 writeback writeback 9000 3000 2000
# protocol B: no run at all
# one node without peers, QD1: ratios 5.00, 4.00 -> the lower middle 4.00
# (round 2), told in the QD1 row too; its QD32 pair did not run
run solo_wb_qd1mem-r1 writeback writeback 9000 100 60
run solo_wt_qd1mem-r1 writethrough writethrough 2000 500 450
run solo_wt_qd1mem-r2 writethrough writethrough 2000 480 450
run solo_wb_qd1mem-r2 writeback writeback 9000 120 60

rows=$(python3 "$rep" "$T/d" "$T/out.json" <<<"$meta" 2>"$T/err")
rc=$?
j=$T/out.json
if [ $rc != 0 ] || [ ! -s "$j" ]; then
	fail report-runs "rc $rc: $(tail -2 "$T/err")"
	finish
fi
pass report-runs "$(echo "$rows" | wc -l) rows"

qd1=$(echo "$rows" | grep '^4K write QD1 ack=memory, ')
if [ "$(echo "$qd1" | cut -d'|' -f2-5)" = "1000 us|3000 us write-through|3.00x|>= 3x faster" ] &&
	[[ "$(echo "$qd1" | cut -d'|' -f6)" == "met (median of 3 rounds, 2.00-4.00x: 3.00 2.00 4.00;"* ]] &&
	[[ "$qd1" == *"p50 700/2800 900/3000 600/3000 us = 4.00 3.33 5.00x"* ]]; then
	pass qd1-median "$qd1"
else
	fail qd1-median "want the median round (3.00x of 2.00 3.00 4.00), the range and the p50s: $qd1"
fi

qd32=$(echo "$rows" | grep '^4K randwrite QD32')
if [ "$(echo "$qd32" | cut -d'|' -f2-5)" = "6000 IOPS|4000 IOPS write-through|1.50x|>= 2x" ] &&
	[[ "$qd32" == *"missed (median of 3 rounds, 1.20-2.50x: 1.50 1.20 2.50;"* ]] &&
	[[ "$qd32" == *"wb_qd32 round 2 ran in writeback -> writethrough (wanted writeback)"* ]]; then
	pass qd32-median "$qd32"
else
	fail qd32-median "want 1.50x of 1.20 1.50 2.50 (round 4 incomplete), the mode note: $qd32"
fi

solo=$(echo "$rows" | grep '^one node, no peers, same disk: 4K write QD1')
solo32=$(echo "$rows" | grep '^one node, no peers, same disk: 4K randwrite QD32')
if [ "$(echo "$solo" | cut -d'|' -f2-5)" = "120 us|480 us write-through|4.00x|(3x, for reference)" ] &&
	[[ "$solo" == *"|info (median of 2 rounds (of 3 asked), 4.00-5.00x: 5.00 4.00;"* ]] &&
	[[ "$qd1" == *"; one node without peers on the same disk: 4.00x)" ]] &&
	[ "$(echo "$solo32" | cut -d'|' -f2-6)" = "-|-|-|(2x, for reference)|no sample" ] &&
	[[ "$qd32" != *"one node without peers"* ]]; then
	pass solo-rows "$solo"
else
	fail solo-rows "want the one-node QD1 row at 4.00x, its note in the QD1 row, no QD32 sample: $solo / $solo32 / $qd1"
fi

b=$(echo "$rows" | grep '^4K write QD1 ack=memory protocol B')
if [ "$(echo "$b" | cut -d'|' -f2-6)" = "-|-|-|(3x, for reference)|no sample" ]; then
	pass no-pair "$b"
else
	fail no-pair "want a row with no value: $b"
fi

# the JSON: the old shape (fio NAME = the median round's run; rows with
# the old keys) plus the rounds
if jq -e '.fio.wb_qd1mem.lat_mean_us == 1000 and .fio.wt_qd1mem.lat_mean_us == 3000 and
	.fio.wb_qd32.iops == 6000 and .fio.wt_qd32.iops == 4000 and .fio.b_wb_qd1mem == null and
	.fio.wb_qd1mem.prep_ms == 250 and .rounds == 3 and .runtime_s == 5 and
	([.pairs.qd1mem[] | .ratio] == [3, 2, 4]) and
	([.pairs.qd1mem[] | .order] == ["wb,wt", "wt,wb", "wb,wt"]) and
	([.pairs.qd32[] | .round] == [1, 2, 3]) and (.pairs.b_qd1mem == []) and
	(.rows[0] | .ratio == "3.00x" and .ratio_min == 2 and .ratio_max == 4 and
		.median_round == 1 and .rounds == 3 and .ratios == [3, 2, 4]) and
	(.rows[] | select(.case | startswith("link cut")) | .value == "1100")' "$j" >/dev/null; then
	pass json-shape "fio = the median round, pairs and per-row ratios added"
else
	fail json-shape "$(jq -c '{fio: (.fio | map_values(if . then {iops, lat_mean_us} else . end)),
		pairs: (.pairs | map_values([.[] | {round, ratio}])), row0: .rows[0]}' "$j")"
fi

# an even count: the lower middle round, as the failover medians
rm -f "$T"/d/fio-*qd1mem-r3.json
rows=$(python3 "$rep" "$T/d" "$T/out2.json" <<<"$meta" 2>"$T/err")
qd1=$(echo "$rows" | grep '^4K write QD1 ack=memory, ')
if [[ "$qd1" == *"|2.00x|"*"median of 2 rounds (of 3 asked), 2.00-3.00x"* ]]; then
	pass qd1-even "$qd1"
else
	fail qd1-even "want the lower middle 2.00x of 2 rounds: $qd1 $(tail -1 "$T/err")"
fi
finish
