#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_snapshot.sh - snapshots of older generations (docs/snapshots.md) on
# a replicated pair over TLS: three rounds of random data written through
# the primary's export, each ended by a flush (a generation each); then the
# device as it was after round 1 and round 2 read back through read-only
# NBD exports r0@GEN on the primary and on the secondary (the same
# generation numbers there: "the same on every replica"), byte-identical to
# what the device held then; a snapshot by time (--at); a write to a
# snapshot's export refused; snapshot-drop closes its export; write-through
# makes the engine drop a snapshot and the daemon close its export (and
# the metrics count it); the
# newest data still reads back. Destage is held off (destage-low 80 %, no
# minimum rate) so the generations stay in the log.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins snapshot "$WBREPD" "$WBCTL"
need_tools snapshot nbdcopy nbdinfo openssl python3 cmp curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "snapshot (engine wblog not registered)"
tmpdir snapshot

. "$ROOT/tests/repl_lib.sh"
REPL_METRICS=1
repl_init alpha beta || finish
HOLD=(destage-low=80% destage-min-rate=0 wb-min-peers=1)
repl_conf alpha primary "${HOLD[@]}"
repl_conf beta secondary "${HOLD[@]}"
repl_start alpha || { fail "snapshot-start: alpha"; finish; }
repl_start beta || { fail "snapshot-start: beta"; finish; }
wait_for 60 repl_uptodate alpha || fail "snapshot-link: $(tail -3 "$T/alpha/wbrepd.log" | tr '\n' ' ')"

SURI() { echo "nbd+unix:///r0@$2?socket=$T/$1/nbd.sock"; }
# newest readable generation on NODE (wbctl snapshots --json)
newest() {
	ctl "$1" snapshots r0 --json >"$T/sn.$1" 2>&1 &&
		python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["readable"]["newest"])' "$T/sn.$1"
}

# three rounds: 8 MiB at 0, 8 MiB at 4 (overlapping), 4 MiB at 16; the
# image after each is what its generation must read back as
truncate -s "$DEVSZ" "$T/img"
GEN=()
for r in 1 2 3; do
	case $r in 1) o=0 n=8 ;; 2) o=4 n=8 ;; 3) o=16 n=4 ;; esac
	put_img "$o" "$n" alpha || fail "snapshot-write-$r: img_write to alpha failed"
	cp "$T/img" "$T/img$r"
	GEN[$r]=$(newest alpha)
	[ $r = 1 ] || [ "${GEN[$r]}" -gt "${GEN[$((r - 1))]}" ] ||
		fail "snapshot-gen-$r: the newest generation did not move (${GEN[*]})"
	sleep 0.05 # the generations' end times differ (for --at)
done
echo "generations: ${GEN[*]}"

# ---- the primary: rounds 1 and 2 as they were
for r in 1 2; do
	g=${GEN[$r]}
	if ctl alpha snapshot r0 --gen "$g" >"$T/open.$r" 2>&1 &&
		grep -q "is the read-only NBD export r0@$g" "$T/open.$r" &&
		timeout 120 nbdcopy "$(SURI alpha "$g")" "$T/snap.alpha.$r" && cmp -s "$T/img$r" "$T/snap.alpha.$r"; then
		pass "snapshot-primary-gen$r"
	else
		fail "snapshot-primary-gen$r: $(cat "$T/open.$r"); $(img_diff "$T/img$r" "$T/snap.alpha.$r")"
	fi
done
# the device itself is round 3
if same_as "$T/img3" alpha; then
	pass "snapshot-device-newest"
else
	fail "snapshot-device-newest: $(img_diff "$T/img3" "$T/out.alpha")"
fi

# ---- the secondary: the same generations, the same data
wait_for 60 repl_caught_up alpha beta || fail "snapshot-caught-up: beta did not catch up"
for r in 1 2; do
	g=${GEN[$r]}
	if ctl beta snapshot r0 --gen "$g" >"$T/openb.$r" 2>&1 &&
		timeout 120 nbdcopy "$(SURI beta "$g")" "$T/snap.beta.$r" && cmp -s "$T/img$r" "$T/snap.beta.$r"; then
		pass "snapshot-secondary-gen$r"
	else
		fail "snapshot-secondary-gen$r: $(cat "$T/openb.$r"); $(img_diff "$T/img$r" "$T/snap.beta.$r")"
	fi
done

# ---- listed, with their exports (human and JSON)
if ctl alpha snapshots r0 >"$T/list" 2>&1 && grep -q "r0@${GEN[1]}  generation ${GEN[1]}" "$T/list" &&
	ctl alpha status r0 >"$T/status" 2>&1 &&
	grep -q "^  snapshots  r0@${GEN[1]} (0 clients), r0@${GEN[2]} (0 clients)$" "$T/status" &&
	ctl alpha snapshots r0 --json >"$T/list.json" 2>&1 &&
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
g = sorted(s["generation"] for s in d["snapshots"])
assert g == [int(sys.argv[2]), int(sys.argv[3])], g
assert d["readable"]["oldest"] <= g[0] and d["readable"]["newest"] >= int(sys.argv[4])
assert all(s["export"] == "r0@%d" % s["generation"] for s in d["snapshots"])
' "$T/list.json" "${GEN[1]}" "${GEN[2]}" "${GEN[3]}" 2>"$T/list.err"; then
	pass "snapshot-list"
else
	fail "snapshot-list: $(cat "$T/list" "$T/list.err" | tr '\n' ' ' | head -c 400)"
fi

# ---- the metrics count them
if curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" >"$T/metrics" &&
	grep -q '^wbrep_snapshots{resource="r0"} 2$' "$T/metrics" &&
	grep -q '^wbrep_snapshots_dropped_total{resource="r0"} 0$' "$T/metrics"; then
	pass "snapshot-metrics"
else
	fail "snapshot-metrics: $(grep snapshots "$T/metrics" | tr '\n' ' ')"
fi

# ---- by time: just after round 2 ended -> round 2's generation
t2=$(python3 -c 'import json,sys; print([s for s in json.load(open(sys.argv[1]))["snapshots"] if s["generation"] == int(sys.argv[2])][0]["time_ms"])' "$T/list.json" "${GEN[2]}")
ctl alpha snapshot-drop r0 "${GEN[2]}" >/dev/null 2>&1
if ctl alpha snapshot r0 --at "@$((t2 / 1000)).$(printf %03d $(((t2 % 1000 + 1) % 1000)))" --json >"$T/at.json" 2>&1 &&
	grep -q "\"generation\": ${GEN[2]}," "$T/at.json"; then
	pass "snapshot-at-time"
elif [ $(((t2 % 1000 + 1) / 1000)) -ne 0 ]; then
	skip "snapshot-at-time (the generation ended on a second's last ms)"
else
	fail "snapshot-at-time: $(cat "$T/at.json")"
fi

# ---- read-only: a write to a snapshot's export is refused, nothing changes
head -c 65536 /dev/urandom >"$T/small"
if timeout 60 nbdcopy "$T/small" "$(SURI alpha "${GEN[1]}")" 2>"$T/wr.err"; then
	fail "snapshot-readonly: a write to r0@${GEN[1]} succeeded"
elif timeout 120 nbdcopy "$(SURI alpha "${GEN[1]}")" "$T/snap.again" && cmp -s "$T/img1" "$T/snap.again" &&
	same_as "$T/img3" alpha; then
	pass "snapshot-readonly"
else
	fail "snapshot-readonly: the refused write changed something"
fi

# ---- refused with the reason: a generation the log does not cover
if ctl alpha snapshot r0 --gen 999999 >"$T/bad" 2>&1; then
	fail "snapshot-range: generation 999999 was opened"
elif grep -q "is not readable: the log covers generations" "$T/bad"; then
	pass "snapshot-range" "($(cat "$T/bad"))"
else
	fail "snapshot-range: $(cat "$T/bad")"
fi

# ---- export names a client makes up: unknown exports, the daemon stays
bad=0
for name in 'r0@' 'r0@x' 'r0@-1' 'r0@%2B1' 'r0@1x' 'r0@99999999999999999999999' \
	"r0@$((GEN[1] + 1000))" '@1' 'r0@1@2' 'r1@1' "r0@0" "r0@0${GEN[1]}0"; do
	if timeout 30 nbdinfo --size "nbd+unix:///$name?socket=$T/alpha/nbd.sock" >/dev/null 2>&1; then
		bad=1
		echo "export '$name' answered"
	fi
done
if [ $bad = 0 ] && timeout 30 nbdinfo --size "$(SURI alpha "${GEN[1]}")" >/dev/null 2>&1; then
	pass "snapshot-bad-names"
else
	fail "snapshot-bad-names: a made-up name was served, or r0@${GEN[1]} no longer answers"
fi

# ---- snapshot-drop closes the export
ctl alpha snapshot-drop r0 "${GEN[1]}" >"$T/drop" 2>&1
if ! timeout 30 nbdinfo --size "$(SURI alpha "${GEN[1]}")" >/dev/null 2>&1 &&
	grep -q "closed" "$T/drop"; then
	pass "snapshot-drop"
else
	fail "snapshot-drop: $(cat "$T/drop"); the export still answers"
fi

# ---- write-through: the engine drops the primary's snapshot; the daemon
# closes the export within a second or two
gone() { ! nbdinfo --size "$(SURI alpha "${GEN[2]}")" >/dev/null 2>&1; }
dropped() { ctl alpha snapshots r0 --json >"$T/d.json" 2>&1 && grep -q '"dropped": 1,' "$T/d.json"; }
if nbdinfo --size "$(SURI alpha "${GEN[2]}")" >/dev/null 2>&1 &&
	ctl alpha mode r0 writethrough --wait >/dev/null 2>&1 &&
	wait_for 10 gone && wait_for 10 dropped &&
	grep -q "dropped: write-through" "$T/alpha/wbrepd.log" &&
	curl -fsS "http://127.0.0.1:${MPORT[alpha]}/metrics" >"$T/metrics" &&
	grep -q '^wbrep_snapshots_dropped_total{resource="r0"} 1$' "$T/metrics"; then
	pass "snapshot-writethrough-drops"
else
	fail "snapshot-writethrough-drops: $(cat "$T/d.json" 2>/dev/null)"
fi
if ctl alpha snapshot r0 --gen "${GEN[3]}" >"$T/wt" 2>&1; then
	fail "snapshot-writethrough-refused: opened in write-through"
elif grep -q "write-through" "$T/wt"; then
	pass "snapshot-writethrough-refused"
else
	fail "snapshot-writethrough-refused: $(cat "$T/wt")"
fi
ctl alpha mode r0 config >/dev/null 2>&1
if same_as "$T/img3" alpha && same_as "$T/img3" beta; then
	pass "snapshot-device-intact"
else
	fail "snapshot-device-intact: $(img_diff "$T/img3" "$T/out.alpha")"
fi

# ---- down with a client reading a snapshot: the client is disconnected,
# the daemon stays, after up the snapshot is gone (in memory only). The
# drained log still covers round 3 (all on backing now).
wbmode() { ctl alpha mode r0 2>/dev/null | grep -q '^r0: writeback'; }
wait_for 30 wbmode || fail "snapshot-down: alpha did not return to write-back"
if ctl alpha snapshot r0 --gen "${GEN[3]}" >"$T/open3" 2>&1 &&
	nbdinfo --list "nbd+unix:///?socket=$T/alpha/nbd.sock" 2>/dev/null | grep -q "export=\"r0@${GEN[3]}\""; then
	PYTHONPATH="$ROOT/tests/integration" timeout 120 python3 - "$T/alpha/nbd.sock" "r0@${GEN[3]}" "$T/img3" "$T/down.go" >"$T/down.out" 2>&1 <<'EOP' &
import os, sys, time
import nbdcli
sock, name, img, go = sys.argv[1:5]
c = nbdcli.Conn(sock, timeout=60)
c.greet()
typ, _ = c.info_go(name=name.encode())
assert typ == 1, hex(typ)
want = open(img, 'rb').read(1 << 20)
err, data = c.io(nbdcli.CMD_READ, 0, 1 << 20)
assert err == 0 and data == want, "snapshot read before down: err %d, same %s" % (err, data == want)
open(go, 'w').close()
print("closed" if c.closed_by_server() else "still open")
EOP
	CPID=$!
	track_pid "$CPID"
	ready() { [ -e "$T/down.go" ]; }
	answers() { nbdinfo --size "$(URI alpha)" >/dev/null 2>&1; }
	wait_for 60 ready
	ctl alpha down r0 >"$T/down" 2>&1
	wait "$CPID"
	if grep -qx closed "$T/down.out" && ctl alpha status r0 >/dev/null 2>&1 &&
		ctl alpha up r0 >>"$T/down" 2>&1 && wait_for 30 answers &&
		ctl alpha snapshots r0 --json >"$T/after.json" 2>&1 &&
		grep -q '"snapshots": \[\]' "$T/after.json" && same_as "$T/img3" alpha; then
		pass "snapshot-down-up"
	else
		fail "snapshot-down-up: client: $(cat "$T/down.out"); $(cat "$T/down" "$T/after.json" 2>/dev/null | tr '\n' ' ')"
	fi
else
	fail "snapshot-down-up: $(cat "$T/open3"); not listed"
fi
finish
