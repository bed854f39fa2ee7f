#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_logsafety.sh - wbrepd never formats or silently cuts a log that holds
# data (docs/daemon.md, "Resources: up, down, logs"; docs/engine.md):
#   - a blank log is formatted at up (the control case);
#   - a log holding dirty records whose first 16 KiB were zeroed (no
#     superblock left) is NOT formatted at up: up fails naming what it found
#     and `wbrepd --create-md RES --force`, and the log is unchanged;
#   - --create-md refuses it, --create-md --force refuses it too (it would
#     discard records) and says --discard-dirty; --force --discard-dirty
#     formats it;
#   - --create-md --force on a valid log with dirty data says how many
#     records and bytes it would discard and needs --discard-dirty;
#   - recovery tells corruption from a torn tail: a cleanly closed log with
#     a data crc error in a middle record, and a crashed log with a valid
#     (flushed-after) record past a hole, are refused at up naming the seq
#     and offset and `wbengine repair --accept-data-loss`, the log unchanged;
#     repair needs that flag, then up works and loses only what it said;
#   - a normal start does not log "bad record magic";
#   - a backing not bound to the log: up fails with the `wbengine bind`
#     hint for that pair, never --create-md;
#   - --create-md --upgrade turns a format 1 log into format 2, records kept.
# The logs are written with build/wbefill (the engine on files).
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

W=$ROOT/$B/wbengine
FILL=$ROOT/$B/wbefill
need_bins logsafety "$WBREPD" "$WBCTL" "$W" "$FILL"
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "logsafety: engine wblog not built"

tmpdir logsafety
wbctl() { "$WBCTL" -s "$T/ctl.sock" "$@"; }

write_conf() {
	{
		conf_global logsafety "log-level = info"
		conf_resource r0 engine=wblog backing="${1:-$T/b}" log="$T/l" nbd-socket="$T/s0"
	} >"$WB_CONF"
}

# res_state: r0's state from wbctl status --json
res_state() {
	wbctl status --json | python3 -c 'import json,sys
print([r["state"] for r in json.load(sys.stdin)["resources"] if r["name"] == "r0"][0])'
}

# new_dirty_log: a log (default 2 MiB segments: the first MiB holds only the
# superblocks) with records not yet destaged (wbefill closes it
# cleanly; with --min-rate 1 destage stops at the low watermark, records stay)
new_dirty_log() {
	rm -f "$T/b" "$T/l"
	truncate -s 64M "$T/b"
	truncate -s 32M "$T/l"
	"$W" format --log "$T/l" --backing "$T/b" >/dev/null &&
		"$FILL" --log "$T/l" --backing "$T/b" --writes 300 --seed 7 --min-rate 1 >/dev/null 2>&1
}

dirty_records() {
	"$W" info --log "$T/l" --backing "$T/b" --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])'
}

write_conf

# ---------------------------------------------------------------- blank log
truncate -s 64M "$T/b"
truncate -s 32M "$T/l"
st=down
start_daemon && st=$(res_state)
stop_daemon || fail "stop-1: exit $?"
# (the daemon holds the log exclusively: look at it after the stop)
if [ "$st" = up ] && "$W" info --log "$T/l" --backing "$T/b" >/dev/null 2>&1; then
	pass "blank-log-formatted-at-up"
else
	fail "blank-log-formatted-at-up: state $st: $(tail -3 "$WB_DLOG" | tr '\n' ' ')"
fi

# ------------------------------------------- zeroed superblocks, dirty records
new_dirty_log || fail "fill: wbefill failed"
n=$(dirty_records)
[ "${n:-0}" -gt 0 ] || fail "fill: no dirty records to protect ($n)"
dd if=/dev/zero of="$T/l" bs=16K count=1 conv=notrunc status=none
before=$(sha256sum <"$T/l")
: >"$WB_DLOG"
if ! start_daemon; then
	fail "zeroed-sb-not-formatted: daemon did not start"
else
	st=$(res_state)
	after=$(sha256sum <"$T/l")
	if [ "$st" = failed ] && [ "$before" = "$after" ] &&
		grep -q "neither blank nor a valid log: no superblock in any slot; .* record headers" "$WB_DLOG" &&
		grep -q -- "--create-md r0 --force" "$WB_DLOG"; then
		pass "zeroed-sb-not-formatted (state $st, log unchanged, $n dirty records kept)"
	else
		fail "zeroed-sb-not-formatted: state $st, log $([ "$before" = "$after" ] && echo unchanged || echo CHANGED): $(grep -m1 'up failed' "$WB_DLOG")"
	fi
	out=$(wbctl up r0 2>&1)
	if [ "$(res_state)" != up ] && [ "$before" = "$(sha256sum <"$T/l")" ]; then
		pass "zeroed-sb-wbctl-up-refused"
	else
		fail "zeroed-sb-wbctl-up-refused: $out"
	fi
	stop_daemon || fail "stop-2: exit $?"
fi

out=$("$WBREPD" -c "$WB_CONF" --create-md r0 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "not blank" <<<"$out" && [ "$before" = "$(sha256sum <"$T/l")" ]; then
	pass "create-md-refuses-traces"
else
	fail "create-md-refuses-traces: rc $rc: $out"
fi
out=$("$WBREPD" -c "$WB_CONF" --create-md r0 --force 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q -- "--discard-dirty" <<<"$out" && [ "$before" = "$(sha256sum <"$T/l")" ]; then
	pass "create-md-force-needs-discard-dirty (damaged log)"
else
	fail "create-md-force-needs-discard-dirty: rc $rc: $out"
fi
out=$("$WBREPD" -c "$WB_CONF" --create-md r0 --force --discard-dirty 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$(dirty_records)" = 0 ]; then
	pass "create-md-force-discard-dirty-formats"
else
	fail "create-md-force-discard-dirty-formats: rc $rc: $out"
fi

# ------------------------------------------- valid log with dirty data
new_dirty_log || fail "fill-2: wbefill failed"
n=$(dirty_records)
bytes=$("$W" info --log "$T/l" --backing "$T/b" --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["dirty_bytes"])')
before=$(sha256sum <"$T/l")
out=$("$WBREPD" -c "$WB_CONF" --create-md r0 --force 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "holds $n records with $bytes bytes of data" <<<"$out" &&
	grep -q -- "--discard-dirty" <<<"$out" && [ "$before" = "$(sha256sum <"$T/l")" ]; then
	pass "create-md-force-says-what-it-discards ($n records, $bytes bytes)"
else
	fail "create-md-force-says-what-it-discards: rc $rc: $out"
fi
out=$("$WBREPD" -c "$WB_CONF" --create-md r0 --discard-dirty 2>&1)
rc=$?
[ $rc -eq 2 ] && [ "$before" = "$(sha256sum <"$T/l")" ] && pass "discard-dirty-needs-force" ||
	fail "discard-dirty-needs-force: rc $rc: $out"

# ------------------------------------------- corruption vs torn tail
# mid_record: "seq off" of a record in the middle of the run with data
mid_record() {
	"$W" dump --log "$T/l" | awk '/^seq / && $12 > 0 {print $2, $10}' >"$T/recs"
	sed -n "$((($(wc -l <"$T/recs") + 1) / 2))p" "$T/recs"
}

# refused_at_up NAME SEQ OFF: up fails naming the damage, log unchanged
refused_at_up() {
	local name=$1 seq=$2 off=$3 sum st
	sum=$(sha256sum <"$T/l")
	: >"$WB_DLOG"
	if ! start_daemon; then
		fail "$name: daemon did not start"
		return
	fi
	st=$(res_state)
	stop_daemon || fail "$name: stop: exit $?"
	if [ "$st" = failed ] && [ "$sum" = "$(sha256sum <"$T/l")" ] &&
		grep -q "is damaged: .*seq $seq at $off" "$WB_DLOG" &&
		grep -q "wbengine repair --accept-data-loss" "$WB_DLOG" &&
		! grep -q -- "--create-md" "$WB_DLOG"; then
		pass "$name (seq $seq at $off)"
	else
		fail "$name: state $st: $(grep -m2 -E 'damaged|recovered|up failed' "$WB_DLOG" | tr '\n' ' ')"
	fi
}

# a cleanly closed log, one data byte of a middle record changed
new_dirty_log || fail "fill-3: wbefill failed"
n=$(dirty_records)
read -r mseq moff < <(mid_record)
printf '\x5a' | dd of="$T/l" bs=1 seek=$((moff + 4096 + 123)) conv=notrunc status=none
refused_at_up "clean-close-data-crc-refused" "$mseq" "$moff"
out=$("$W" check --log "$T/l" --backing "$T/b" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "corruption: the log was closed cleanly" <<<"$out" &&
	pass "check-names-corruption" || fail "check-names-corruption: rc $rc: $out"
sum=$(sha256sum <"$T/l")
out=$("$W" repair --log "$T/l" --backing "$T/b" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q -- "--accept-data-loss" <<<"$out" && [ "$sum" = "$(sha256sum <"$T/l")" ]; then
	pass "repair-needs-accept-data-loss"
else
	fail "repair-needs-accept-data-loss: rc $rc: $out"
fi
out=$("$W" repair --log "$T/l" --backing "$T/b" --accept-data-loss 2>&1)
rc=$?
left=$(dirty_records)
: >"$WB_DLOG"
st=failed
start_daemon && st=$(res_state)
stop_daemon || fail "repair: stop: exit $?"
# what is left: the records before the damaged one
want=$(awk -v s="$mseq" '$1 < s' "$T/recs" | wc -l)
if [ $rc -eq 0 ] && [ "$st" = up ] && [ "$left" -lt "$n" ] &&
	grep -q "repaired: the log ends at seq $((mseq - 1))" <<<"$out"; then
	pass "repair-accept-data-loss-then-up ($n -> $left records, $want data records before seq $mseq)"
else
	fail "repair-accept-data-loss-then-up: rc $rc, state $st, records $n -> $left: $out"
fi

# a crashed log (no clean close) with a hole: a middle record's header
# zeroed; the records after it were written after it was flushed (wbefill
# flushes every 8th request), so they are no torn tail
rm -f "$T/b" "$T/l"
truncate -s 64M "$T/b"
truncate -s 32M "$T/l"
"$W" format --log "$T/l" --backing "$T/b" >/dev/null
"$FILL" --log "$T/l" --backing "$T/b" --writes 300 --seed 11 --min-rate 1 --no-close >/dev/null 2>&1 ||
	fail "fill-4: wbefill failed"
read -r mseq moff < <(mid_record)
dd if=/dev/zero of="$T/l" bs=4096 seek=$((moff / 4096)) count=1 conv=notrunc status=none
refused_at_up "hole-before-flushed-record-refused" "$mseq" "$moff"

# a normal start: nothing alarming in the log
new_dirty_log || fail "fill-5: wbefill failed"
: >"$WB_DLOG"
st=failed
start_daemon && st=$(res_state)
stop_daemon || fail "normal: stop: exit $?"
if [ "$st" = up ] && grep -q "recovered .* records" "$WB_DLOG" &&
	! grep -qiE "bad record magic|torn|damaged" "$WB_DLOG"; then
	pass "normal-start-quiet"
else
	fail "normal-start-quiet: state $st: $(grep -iE 'magic|torn|damaged|recovered' "$WB_DLOG" | head -3 | tr '\n' ' ')"
fi

# a valid log with dirty records and a backing of the same size that is not
# bound to it (a swapped path): up refuses, the hint is `wbengine bind` for
# that pair, never --create-md (which would destroy the log)
new_dirty_log || fail "fill-6: wbefill failed"
rm -f "$T/b2"
truncate -s 64M "$T/b2"
write_conf "$T/b2"
sum=$(sha256sum <"$T/l")
: >"$WB_DLOG"
st=up
start_daemon && st=$(res_state)
stop_daemon || fail "unbound: stop: exit $?"
if [ "$st" = failed ] && [ "$sum" = "$(sha256sum <"$T/l")" ] &&
	grep "up failed" "$WB_DLOG" | grep -q "wbengine bind --log $T/l --backing $T/b2" &&
	! grep -q -- "--create-md" "$WB_DLOG"; then
	pass "unbound-backing-hint-is-bind"
else
	fail "unbound-backing-hint-is-bind: state $st: $(grep -m1 'up failed' "$WB_DLOG")"
fi
write_conf

# --create-md --upgrade: a format 1 log (its slots rewritten as version 1)
# becomes version 2 in place with its records; a second run writes nothing
new_dirty_log || fail "fill-7: wbefill failed"
r1=$(dirty_records)
log_as_format1 "$T/l"
v1=$("$W" info --log "$T/l" --backing "$T/b" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["format_version"])')
out=$("$WBREPD" -c "$WB_CONF" --create-md r0 --upgrade 2>&1)
rc=$?
j=$("$W" info --log "$T/l" --backing "$T/b" --json 2>&1)
sum=$(sha256sum <"$T/l")
out2=$("$WBREPD" -c "$WB_CONF" --create-md r0 --upgrade 2>&1)
rc2=$?
if [ "$v1" = 1 ] && [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && grep -q "already current" <<<"$out2" &&
	[ "$sum" = "$(sha256sum <"$T/l")" ] &&
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(not (j["format_version"]==2 and j["data_uuid"] and j["records"]==int(sys.argv[2])))' "$j" "$r1"; then
	pass "create-md-upgrade ($r1 records kept)"
else
	fail "create-md-upgrade: v$v1, rc $rc: $out / rc $rc2: $out2 / $j"
fi

daemon_log_clean logsafety
finish
