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
#     records and bytes it would discard and needs --discard-dirty.
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
		conf_resource r0 engine=wblog backing="$T/b" log="$T/l" nbd-socket="$T/s0"
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

daemon_log_clean logsafety
finish
