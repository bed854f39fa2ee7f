#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_wbengine.sh - the wbengine tool on real files: format (and its
# refusal to overwrite), a fill through the engine (wbefill), info --json
# parsed and cross-checked against dump, dump, check on a good log, check
# after one corrupted data byte and one corrupted header byte (must fail
# naming the record), a foreign file and usage errors (exit codes 1 / 2),
# a log file locked / a block device held O_EXCL by another program refused,
# a backing not bound to the log refused, `wbengine bind` pairing them,
# format version 2 metadata in info, a version 1 log read and upgraded.
# Prints PASS/FAIL/SKIP lines; exits non-zero if any case failed.
set -u
. "$(dirname "$0")/../lib.sh"
W=$B/wbengine
F=$B/wbefill

need_bins wbengine "$ROOT/$W" "$ROOT/$F"
need_tools wbengine python3
tmpdir wbengine
truncate -s 16M "$T/log"
truncate -s 8M "$T/back"

# format, then refuse a second format without --force
if out=$("$W" format --log "$T/log" --backing "$T/back" --segment-size 256K 2>&1) &&
	grep -q '^formatted ' <<<"$out"; then
	pass format
else
	fail format "$out"
fi
out=$("$W" format --log "$T/log" --backing "$T/back" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q 'without --force' <<<"$out"; then
	pass format_refuses_existing
else
	fail format_refuses_existing "rc $rc: $out"
fi
if "$W" format --log "$T/log" --backing "$T/back" --segment-size 256K --force >/dev/null 2>&1; then
	pass format_force
else
	fail format_force "rc $?"
fi

# fill through the engine, reopen: same content
c1=$("$F" --log "$T/log" --backing "$T/back" --writes 400 --seed 3 --min-rate 1 2>/dev/null | awk '/device-crc32c/{print $2}')
# (on copies: the reopen resumes destage, which empties the log we inspect below)
cp "$T/log" "$T/log2"
cp "$T/back" "$T/back2"
c2=$("$F" --log "$T/log2" --backing "$T/back2" --writes 0 2>/dev/null | awk '/device-crc32c/{print $2}')
if [ -n "$c1" ] && [ "$c1" = "$c2" ]; then
	pass fill_reopen_same_content
else
	fail fill_reopen_same_content "crc '$c1' then '$c2'"
fi

# info --json: fields present and consistent with each other and with dump
"$W" info --log "$T/log" --backing "$T/back" --json >"$T/info.json" 2>"$T/info.err"
rc=$?
"$W" dump --log "$T/log" >"$T/dump.txt" 2>"$T/dump.err"
drc=$?
if [ $rc -ne 0 ] || [ $drc -ne 0 ]; then
	fail info_json "info rc $rc, dump rc $drc: $(cat "$T/info.err" "$T/dump.err")"
elif msg=$(python3 - "$T/info.json" "$T/dump.txt" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
need = ["uuid", "format_version", "dev_size", "data_off", "data_size", "seg_size",
        "log_used", "dirty_bytes", "records", "gen_head", "gen_durable", "gen_oldest",
        "gen_destaged", "seq_head", "seq_tail", "destage_min_rate", "destage_eta_ms",
        "epoch", "clean", "superblocks"]
miss = [k for k in need if k not in j]
if miss:
    sys.exit("missing fields %s" % miss)
recs = [l.split() for l in open(sys.argv[2]) if l.startswith("seq ")]
blocks = sum(int(r[r.index("blocks") + 1]) for r in recs if "ZERO" not in r[r.index("flags") + 1])
span = sum(int(r[r.index("span") + 1]) for r in recs)
gens = [int(r[r.index("gen") + 1]) for r in recs]
seqs = [int(r[1]) for r in recs]
err = []
# the backing minus its identity block (docs/ondisk-format.md)
if j["dev_size"] != (8 << 20) - 4096: err.append("dev_size %d" % j["dev_size"])
if j["seg_size"] != 256 << 10: err.append("seg_size %d" % j["seg_size"])
if j["records"] != len(recs) or j["seq_head"] - j["seq_tail"] != j["records"]:
    err.append("records %d, dump %d, seq %d..%d" % (j["records"], len(recs), j["seq_tail"], j["seq_head"]))
if len(recs) < 2: err.append("too few records in the log (%d)" % len(recs))
if seqs != list(range(j["seq_tail"], j["seq_head"])): err.append("dump seqs not consecutive")
if j["dirty_bytes"] != blocks * 4096: err.append("dirty %d != dump %d" % (j["dirty_bytes"], blocks * 4096))
if j["log_used"] != span or not 0 < j["log_used"] <= j["data_size"]: err.append("log_used %d, dump span %d" % (j["log_used"], span))
if gens != sorted(gens) or (gens and (gens[0] != j["gen_oldest"] or gens[-1] > j["gen_durable"])):
    err.append("generations %s vs oldest %d durable %d" % (gens[:3], j["gen_oldest"], j["gen_durable"]))
if not j["gen_oldest"] <= j["gen_durable"] < j["gen_head"]: err.append("gen order")
if j["destage_eta_ms"] != j["dirty_bytes"] * 1000 // j["destage_min_rate"]: err.append("eta")
if not j["clean"]: err.append("not clean after a clean close")
sbs = j["superblocks"]
if len(sbs) != 4 or sum(1 for s in sbs if s.get("newest")) != 1 or not all(s["valid"] for s in sbs):
    err.append("superblocks %s" % sbs)
if err: sys.exit("; ".join(err))
EOF
); then
	pass info_json
else
	fail info_json "$msg"
fi

# dump --from/--count
n=$(grep -c '^seq ' "$T/dump.txt")
first=$(awk '/^seq /{print $2; exit}' "$T/dump.txt")
sel=$("$W" dump --log "$T/log" --from $((first + 1)) --count 2 | awk '/^seq /{print $2}' | tr '\n' ' ')
if [ "$n" -ge 3 ] && [ "$sel" = "$((first + 1)) $((first + 2)) " ] &&
	grep -q '^  ext 0 lba [0-9]* nblocks [0-9]* crc 0x' "$T/dump.txt"; then
	pass dump
else
	fail dump "$n records, --from $((first + 1)) --count 2 gave '$sel'"
fi

# check passes on the good log
if out=$("$W" check --log "$T/log" --backing "$T/back" 2>&1) && grep -q '^ok: ' <<<"$out"; then
	pass check_ok
else
	fail check_ok "$out"
fi

# one data byte flipped in a record of the middle: check names that record
cp "$T/log" "$T/log.good"
mid=$(awk '/^seq / && $12 > 0 {print $2, $10}' "$T/dump.txt" | sed -n "$(( (n + 1) / 2 ))p")
mseq=${mid% *}
moff=${mid#* }
printf '\x5a' | dd of="$T/log" bs=1 seek=$((moff + 4096 + 123)) conv=notrunc status=none
out=$("$W" check --log "$T/log" --backing "$T/back" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "^BAD record seq $mseq .*data checksum mismatch" <<<"$out"; then
	pass check_detects_data_corruption
else
	fail check_detects_data_corruption "rc $rc (record $mseq at $moff): $out"
fi

# one header byte (the gen field) changed: header crc mismatch, named
cp "$T/log.good" "$T/log"
printf '\x7f' | dd of="$T/log" bs=1 seek=$((moff + 40)) conv=notrunc status=none
out=$("$W" check --log "$T/log" --backing "$T/back" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "^BAD record seq $mseq at .*header checksum mismatch" <<<"$out"; then
	pass check_detects_header_corruption
else
	fail check_detects_header_corruption "rc $rc (record $mseq): $out"
fi
cp "$T/log.good" "$T/log"

# a foreign file: refused with a message naming it, nothing written
head -c 1M /dev/urandom >"$T/foreign"
truncate -s 16M "$T/foreign"
sum1=$(md5sum <"$T/foreign")
ok=1
why=""
for cmd in info check; do
	out=$("$W" $cmd --log "$T/foreign" --backing "$T/back" 2>&1)
	rc=$?
	if [ $rc -ne 1 ] || ! grep -q "foreign.*not a wblog log" <<<"$out"; then
		ok=0
		why="$why $cmd rc $rc: $out;"
	fi
done
out=$("$W" dump --log "$T/foreign" 2>&1)
rc=$?
[ $rc -eq 1 ] || { ok=0; why="$why dump rc $rc;"; }
[ "$sum1" = "$(md5sum <"$T/foreign")" ] || { ok=0; why="$why foreign file modified;"; }
if [ $ok -eq 1 ]; then pass foreign_refused; else fail foreign_refused "$why"; fi

# usage errors: exit 2; missing file: exit 1
ok=1
why=""
for args in "" "bogus" "info --log $T/log" "format --log $T/log --backing $T/back --segment-size 12x" \
	"dump --log $T/log --count 0" "info --log $T/log --backing $T/back --count 3" \
	"check --log $T/log --backing $T/back extra"; do
	"$W" $args >/dev/null 2>&1
	rc=$?
	[ $rc -eq 2 ] || { ok=0; why="$why '$args' rc $rc;"; }
done
out=$("$W" info --log "$T/nonexistent" --backing "$T/back" 2>&1)
rc=$?
if [ $rc -ne 1 ] || ! grep -q "nonexistent" <<<"$out"; then
	ok=0
	why="$why missing file rc $rc: $out"
fi
if [ $ok -eq 1 ]; then pass usage_errors; else fail usage_errors "$why"; fi

# a writer that exits without closing (like kill -9 after its last flush):
# the log is not clean, check passes, a reopen sees the same content
truncate -s 16M "$T/klog"
truncate -s 8M "$T/kback"
"$W" format --log "$T/klog" --backing "$T/kback" --segment-size 256K >/dev/null 2>&1
k1=$("$F" --log "$T/klog" --backing "$T/kback" --writes 200 --seed 9 --no-close 2>/dev/null | awk '/device-crc32c/{print $2}')
out=$("$W" check --log "$T/klog" --backing "$T/kback" 2>&1)
rc=$?
clean=$("$W" info --log "$T/klog" --backing "$T/kback" --json 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["clean"])' 2>&1)
k2=$("$F" --log "$T/klog" --backing "$T/kback" --writes 0 2>/dev/null | awk '/device-crc32c/{print $2}')
if [ $rc -eq 0 ] && [ "$clean" = False ] && [ -n "$k1" ] && [ "$k1" = "$k2" ]; then
	pass unclean_log_checks_and_recovers
else
	fail unclean_log_checks_and_recovers "check rc $rc, clean '$clean', crc '$k1' then '$k2': $out"
fi

# format at a base (a new replica starts at its primary's seq/generation):
# info shows it, and the records written next continue from there
truncate -s 16M "$T/blog"
truncate -s 8M "$T/bback"
out=$("$W" format --log "$T/blog" --backing "$T/bback" --segment-size 256K --base-seq 1000 \
	--base-gen 7 2>&1)
b1=$("$W" info --log "$T/blog" --backing "$T/bback" --json 2>/dev/null |
	python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["seq_head"], j["gen_head"], j["seq_tail"])' 2>&1)
"$F" --log "$T/blog" --backing "$T/bback" --writes 20 --seed 4 --no-close >/dev/null 2>&1
# (not `dump`: destage may already have emptied the log of those records
# before the filler stops, which made this case fail on loaded hosts)
first=$("$W" info --log "$T/blog" --backing "$T/bback" --json 2>/dev/null |
	python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["seq_tail"], j["gen_head"])' 2>&1)
b2=$("$W" info --log "$T/blog" --backing "$T/bback" --json 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["seq_head"])' 2>&1)
if grep -q '^first record: seq 1000, generation 7$' <<<"$out" && [ "$b1" = "1000 7 1000" ] &&
	[ -n "$first" ] && [ "${first% *}" -ge 1000 ] && [ "${first#* }" -ge 7 ] &&
	[ "$b2" -gt 1000 ] 2>/dev/null; then
	pass format_base_seq_gen
else
	fail format_base_seq_gen "format: $out; info after format '$b1', first record '$first', seq_head after fill '$b2'"
fi

# a log belonging to a larger backing device is refused
truncate -s 4M "$T/small"
out=$("$W" check --log "$T/log" --backing "$T/small" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "belongs to a 8384512-byte device" <<<"$out"; then
	pass wrong_backing_refused
else
	fail wrong_backing_refused "rc $rc: $out"
fi

# binding: a backing of the same size that is not this log's is refused,
# naming the rebind command; `wbengine bind` pairs them; a backing bound to
# another log is refused naming both UUIDs
truncate -s 16M "$T/plog"
truncate -s 8M "$T/pback" "$T/pother"
"$W" format --log "$T/plog" --backing "$T/pback" --segment-size 256K >/dev/null 2>&1
out=$("$W" check --log "$T/plog" --backing "$T/pother" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "backing $T/pother is not bound to log $T/plog" <<<"$out" &&
	grep -q "wbengine bind --log $T/plog --backing $T/pother" <<<"$out"; then
	pass unbound_backing_refused
else
	fail unbound_backing_refused "rc $rc: $out"
fi
out=$("$W" bind --log "$T/plog" --backing "$T/pother" 2>&1) &&
	out2=$("$W" check --log "$T/plog" --backing "$T/pother" 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q "^bound backing $T/pother to log $T/plog .*it was bound to: none" <<<"$out"; then
	pass bind_pairs
else
	fail bind_pairs "rc $rc: $out ${out2:-}"
fi
"$W" format --log "$T/plog" --backing "$T/pback" --segment-size 256K --force >/dev/null 2>&1
out=$("$W" info --log "$T/plog" --backing "$T/pother" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "backing $T/pother belongs to another log (UUID" <<<"$out"; then
	pass other_log_backing_refused
else
	fail other_log_backing_refused "rc $rc: $out"
fi

# exclusive use: a file locked by another program, a block device held with
# O_EXCL by another program (root + losetup), are refused; free, they work
python3 -c 'import fcntl,os,sys,time; fd=os.open(sys.argv[1],os.O_RDWR); fcntl.flock(fd,fcntl.LOCK_EX); print("held",flush=True); time.sleep(120)' "$T/log" >"$T/holder.out" &
HP=$!
for _ in $(seq 100); do grep -q held "$T/holder.out" && break; sleep 0.1; done
out=$("$W" format --log "$T/log" --backing "$T/back" --force --discard-dirty 2>&1)
rc=$?
kill $HP 2>/dev/null
wait $HP 2>/dev/null
if [ $rc -eq 1 ] && grep -q "in use: locked by another program (pid $HP)" <<<"$out" &&
	"$W" info --log "$T/log" --backing "$T/back" >/dev/null 2>&1; then
	pass file_in_use_refused
else
	fail file_in_use_refused "rc $rc: $out"
fi
if [ "$(id -u)" -ne 0 ] || ! command -v losetup >/dev/null; then
	echo "SKIP blockdev_in_use_refused (needs root and losetup)"
elif ! LOOP=$(losetup -f --show "$T/log" 2>/dev/null); then
	echo "SKIP blockdev_in_use_refused (no loop device available)"
else
	python3 -c 'import os,sys,time; fd=os.open(sys.argv[1],os.O_RDONLY|os.O_EXCL); print("held",flush=True); time.sleep(120)' "$LOOP" >"$T/holder.out" 2>&1 &
	HP=$!
	for _ in $(seq 100); do grep -q held "$T/holder.out" && break; sleep 0.1; done
	out=$("$W" format --log "$LOOP" --backing "$T/back" --force --discard-dirty 2>&1)
	rc=$?
	kill $HP 2>/dev/null
	wait $HP 2>/dev/null
	out2=$("$W" format --log "$LOOP" --backing "$T/back" --force --discard-dirty 2>&1)
	rc2=$?
	losetup -d "$LOOP"
	if [ $rc -eq 1 ] && grep -q "$LOOP: in use: the block device is mounted or opened exclusively" <<<"$out" &&
		[ $rc2 -eq 0 ]; then
		pass blockdev_in_use_refused
	else
		fail blockdev_in_use_refused "held: rc $rc: $out; free: rc $rc2: $out2"
	fi
fi

# replication metadata (format version 2): format --node-id shows in info
# (text and JSON); a version 1 log (every slot rewritten as version 1, crc
# recomputed) reads back with its data, info says "no metadata", `wbengine
# upgrade --node-id` makes it version 2 with a fresh data UUID, the data
# unchanged, and a second upgrade writes nothing
truncate -s 16M "$T/mlog"
truncate -s 8M "$T/mback"
"$W" format --log "$T/mlog" --backing "$T/mback" --segment-size 256K --node-id 4 \
	--bitmap-peers 3 --bitmap-region 128K >/dev/null 2>&1
m1=$("$F" --log "$T/mlog" --backing "$T/mback" --writes 100 --seed 5 --min-rate 1 2>/dev/null | awk '/device-crc32c/{print $2}')
j=$("$W" info --log "$T/mlog" --backing "$T/mback" --json 2>&1)
t=$("$W" info --log "$T/mlog" --backing "$T/mback" 2>&1)
if python3 -c 'import json,sys,re; j=json.loads(sys.argv[1]); sys.exit(not (j["format_version"]==2 and j["node_id"]==4 and re.fullmatch(r"[0-9a-f-]{36}", j["data_uuid"]) and j["uuid_history"]==[] and j["bitmap_region"]==128<<10 and j["bitmap_peers"]==3 and all(b["ok"] and b["dirty_regions"]==0 for b in j["bitmaps"])))' "$j" &&
	grep -q '^format version   2$' <<<"$t" && grep -q '^node id          4$' <<<"$t" &&
	grep -q '^data uuid        [0-9a-f-]\{36\} ' <<<"$t"; then
	pass meta_format_info
else
	fail meta_format_info "$j / $t"
fi
log_as_format1 "$T/mlog"
t=$("$W" info --log "$T/mlog" --backing "$T/mback" 2>&1)
m2=$("$F" --log "$T/mlog" --backing "$T/mback" --writes 0 2>/dev/null | awk '/device-crc32c/{print $2}')
if grep -q '^format version   1$' <<<"$t" && grep -q 'metadata         none' <<<"$t" &&
	[ -n "$m1" ] && [ "$m1" = "$m2" ]; then
	pass meta_v1_opens
else
	fail meta_v1_opens "crc '$m1' then '$m2': $t"
fi
u=$("$W" upgrade --log "$T/mlog" --node-id 6 2>&1)
rc=$?
u2=$("$W" upgrade --log "$T/mlog" 2>&1)
rc2=$?
j=$("$W" info --log "$T/mlog" --backing "$T/mback" --json 2>&1)
m3=$("$F" --log "$T/mlog" --backing "$T/mback" --writes 0 2>/dev/null | awk '/device-crc32c/{print $2}')
if [ $rc -eq 0 ] && grep -q '^upgraded .* to format version 2: data uuid [0-9a-f-]\{36\}, node id 6$' <<<"$u" &&
	[ $rc2 -eq 0 ] && grep -q 'already format version 2' <<<"$u2" &&
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(not (j["format_version"]==2 and j["node_id"]==6 and j["data_uuid"] and j["bitmap_peers"]==4 and j["bitmap_region"]>=65536))' "$j" &&
	[ "$m1" = "$m3" ]; then
	pass meta_upgrade
else
	fail meta_upgrade "rc $rc: $u / rc $rc2: $u2 / $j / crc '$m1' then '$m3'"
fi

finish
