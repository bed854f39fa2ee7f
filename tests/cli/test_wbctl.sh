#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_wbctl.sh - wbctl against a running wbrepd and without one.
#
# Golden output (tests/cli/golden/*.txt) for `status` human and --json after
# a fixed NBD workload (4 x 64 KiB writes, a flush, a 4 KiB read) on r0
# (wblog) with r1 (passthrough, auto-up = no) down. Numbers that depend on
# timing (log use, dirty bytes, generations, sequence numbers, RAM pages,
# extents, destage rate/ETA/total) are replaced by N before the diff; names,
# states, keys, structure and the I/O counters of the workload stay exact.
# Also: up/down/flush/mode/reload exit codes and their effect on status,
# flush and mode checked by what they do (a flushed generation is durable in
# status and its data reads back after kill -9 and a restart; the flush reaches a passthrough engine; write-through puts acked
# data on the backing file, write-back keeps it dirty in the log),
# unknown resource (exit 1 + message), no daemon (exit 3), usage errors
# (exit 2), --help of every subcommand, control socket mode 0600 and non-root
# clients refused (by the mode, and by the uid check with the mode opened),
# `config check` on a good file and on
# bad files (golden messages with file:line, exit 4), bad requests on the
# control socket (tests/cli/ctlraw.py: error reply or clean close, daemon
# alive). WB_GOLDEN_UPDATE=1 rewrites the golden files instead of diffing.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"
G=$ROOT/tests/cli/golden

need_bins wbctl "$WBREPD" "$WBCTL"
need_tools wbctl python3
tmpdir clitest

wbctl() { "$WBCTL" -c "$T/wbrep.conf" "$@"; }

# golden NAME FILE: diff FILE against golden/NAME.txt (or update it)
golden() {
	local name=$1 out=$2
	if [ "${WB_GOLDEN_UPDATE:-0}" = 1 ]; then
		mkdir -p "$G"
		cp "$out" "$G/$name.txt"
		pass "$name (golden updated)"
	elif d=$(diff -u "$G/$name.txt" "$out" 2>&1); then
		pass "$name"
	else
		fail "$name: output differs from tests/cli/golden/$name.txt:"
		sed 's/^/    /' <<<"$d" | head -30
	fi
}

# expect_rc NAME WANT CMD...: exit code of CMD (stdout+stderr in $T/out)
expect_rc() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >"$T/out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "$name"
	else
		fail "$name: exit $rc, expected $want: $(head -3 "$T/out" | tr '\n' ' ')"
	fi
	return $((rc != want))
}

# Timing-dependent numbers -> N (human output).
norm_human() {
	sed -E \
		-e 's/^(  log +)\[[#.]+\] +[0-9]+%  [0-9.]+ [KMGT]?i?B of /\1[bar] N% N of /' \
		-e 's/^(  dirty +).*/\1N/' \
		-e 's/^(  generation ).*/\1head N, durable N, oldest N/' \
		-e 's/^(  seq +).*/\1head N, tail N/' \
		-e 's/^(  ram +)[0-9.]+ [KMGT]?i?B of (.*) \([0-9]+\/([0-9]+) pages\)/\1N of \2 (N\/\3 pages)/' \
		-e 's/^(  extents +).*/\1N (N)/' \
		-e 's/^(  destaged +).*( [0-9]+ throttle events)$/\1N total,\2/' \
		-e 's/^(  clients +)[0-9]+ nbd/\1N nbd/'
}

# Timing-dependent JSON values -> "N"; the time -> "T"; paths under $T -> $T.
norm_json() {
	T="$T" python3 -c '
import json, os, sys
VOL = {"dirty_bytes": None, "log": ["used"], "generation": ["head", "durable", "oldest"],
       "seq": ["head", "tail"], "destage": ["rate", "eta_ms", "total_bytes", "state"],
       "ram_pages": ["used"], "extents": ["count", "mem_bytes"], "nbd_clients": None,
       "mode_since_ms": None}
def tmp(v):
    if isinstance(v, dict):
        return {k: tmp(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tmp(x) for x in v]
    return v.replace(os.environ["T"], "$T") if isinstance(v, str) else v
d = tmp(json.load(sys.stdin))
d["time"] = "T"
for r in d["resources"]:
    if r["state"] != "up":
        continue
    for k, sub in VOL.items():
        if sub is None:
            r[k] = "N"
        else:
            for s in sub:
                r[k][s] = "N"
print(json.dumps(d, indent=1, sort_keys=False))'
}

# ---------------------------------------------------------------- no daemon
expect_rc "wbctl-no-daemon-exit3" 3 "$WBCTL" -s "$T/nosuch.sock" status
grep -q "cannot connect to wbrepd at $T/nosuch.sock" "$T/out" && pass "wbctl-no-daemon-message" ||
	fail "wbctl-no-daemon-message: $(cat "$T/out")"
expect_rc "wbctl-no-daemon-flush-exit3" 3 "$WBCTL" -s "$T/nosuch.sock" flush r0

# ---------------------------------------------------------------- usage, help
expect_rc "wbctl-no-args-exit2" 2 "$WBCTL"
expect_rc "wbctl-unknown-command-exit2" 2 "$WBCTL" frobnicate
grep -q "unknown command 'frobnicate'" "$T/out" || fail "wbctl-unknown-command-message"
expect_rc "wbctl-help" 0 "$WBCTL" --help && golden help "$T/out"
for c in status show up down flush drain mode reload config help; do
	if "$WBCTL" $c --help >"$T/out" 2>&1 && head -1 "$T/out" | grep -q "^usage: wbctl $c" &&
		[ "$(wc -l <"$T/out")" -ge 2 ]; then
		pass "wbctl-help-$c"
	else
		fail "wbctl-help-$c: $(head -2 "$T/out" | tr '\n' ' ')"
	fi
done
# `wbctl help CMD` prints exactly what `wbctl CMD --help` prints
"$WBCTL" flush --help >"$T/help.flush" 2>&1
if "$WBCTL" help flush >"$T/out" 2>&1 && head -1 "$T/out" | grep -q '^usage: wbctl flush' &&
	cmp -s "$T/out" "$T/help.flush"; then
	pass "wbctl-help-cmd"
else
	fail "wbctl-help-cmd: $(head -2 "$T/out" | tr '\n' ' ')"
fi
expect_rc "wbctl-up-no-arg-exit2" 2 "$WBCTL" -s "$T/nosuch.sock" up
expect_rc "wbctl-mode-bad-exit2" 2 "$WBCTL" -s "$T/nosuch.sock" mode r0 fast
expect_rc "wbctl-status-extra-arg-exit2" 2 "$WBCTL" -s "$T/nosuch.sock" status r0 r1

# ---------------------------------------------------------------- config check
# Run from tests/cli so the file names in the messages are relative and stable.
(
	cd tests/cli
	for f in conf/good.conf; do
		n=config-$(basename "$f" .conf)
		"$WBCTL" config check "$f" >"$T/out" 2>&1
		rc=$?
		[ $rc -eq 0 ] && pass "$n-exit0" || fail "$n-exit0: exit $rc: $(head -3 "$T/out")"
		golden "$n" "$T/out"
	done
	for f in conf/bad-*.conf; do
		n=config-$(basename "$f" .conf)
		"$WBCTL" config check "$f" >"$T/out" 2>&1
		rc=$?
		[ $rc -eq 4 ] && pass "$n-exit4" || fail "$n-exit4: exit $rc"
		golden "$n" "$T/out"
	done
	expect_rc "config-missing-file-exit4" 4 "$WBCTL" config check conf/nosuch.conf
	grep -q "conf/nosuch.conf" "$T/out" && pass "config-missing-file-message" ||
		fail "config-missing-file-message: $(head -2 "$T/out" | tr '\n' ' ')"
	# the daemon's own check agrees with wbctl on a bad file
	expect_rc "config-wbrepd-check-refuses" 1 "$WBREPD" --check -c conf/bad-values.conf
	exit $fails
) || fails=$((fails + $?))

# ---------------------------------------------------------------- with a daemon
truncate -s 64M "$T/backing0" "$T/backing1"
truncate -s 32M "$T/log0"
{
	conf_global clitest
	conf_resource r0 engine=wblog backing="$T/backing0" log="$T/log0" nbd-socket="$T/nbd0.sock"
	conf_resource r1 engine=passthrough backing="$T/backing1" nbd-socket="$T/nbd1.sock" auto-up=no
} >"$WB_CONF"
if ! start_daemon eval '[ -S "$T/nbd0.sock" ] && wbctl status'; then
	fail "wbctl-daemon-start: wbrepd did not come up"
	exit 1
fi

# fixed workload on r0: 4 x 64 KiB writes, a flush, a 4 KiB read
python3 - "$T/nbd0.sock" <<EOF || fail "wbctl-workload: NBD workload failed"
import sys
sys.path.insert(0, "$ROOT/tests/integration")
import nbdcli as n
c = n.Conn(sys.argv[1]).connect()
for i in range(4):
    err, _ = c.io(n.CMD_WRITE, i * 65536, 65536, payload=bytes([i + 1]) * 65536)
    assert err == 0
assert c.io(n.CMD_FLUSH, 0, 0)[0] == 0
err, data = c.io(n.CMD_READ, 65536, 4096)
assert err == 0 and data == b"\x02" * 4096
c.close()
EOF

wbctl status >"$T/status.txt" 2>&1 && pass "wbctl-status-exit0" || fail "wbctl-status-exit0"
norm_human <"$T/status.txt" >"$T/status.norm"
golden status-human "$T/status.norm"
wbctl status --json >"$T/status.json" 2>&1 && pass "wbctl-status-json-exit0" ||
	fail "wbctl-status-json-exit0"
if norm_json <"$T/status.json" >"$T/status.jnorm" 2>"$T/err"; then
	golden status-json "$T/status.jnorm"
else
	fail "status-json: not valid JSON: $(head -3 "$T/err")"
fi
wbctl status r1 >"$T/out" 2>&1 && golden status-human-down "$T/out" || fail "wbctl-status-r1"
# --shell: the golden lines, and what eval makes of them is what --json says
wbctl status --shell >"$T/status.sh" 2>&1 && golden status-shell "$T/status.sh" ||
	fail "wbctl-status-shell: $(head -3 "$T/status.sh")"
if got=$(eval "$(cat "$T/status.sh")" && for i in $(seq 0 $((wb_resources - 1))); do
	for k in name state role mode engine; do eval "printf '%s ' \"\$wb_res${i}_$k\""; done
done) && want=$(python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["resources"]:
    print(r["name"], r["state"], r["role"] or "", r["mode"] or "", r["engine_state"], end=" ")' "$T/status.json") &&
	[ "$(echo $got)" = "$(echo $want)" ] && [ -n "$got" ]; then
	pass "wbctl-status-shell-eval" "($(echo $got))"
else
	fail "wbctl-status-shell-eval: eval gave '$(echo ${got:-})', --json '$(echo ${want:-})'"
fi
expect_rc "wbctl-status-shell-json-exit2" 2 wbctl status --shell --json

expect_rc "wbctl-status-unknown-exit1" 1 wbctl status nosuch
grep -qx "wbctl: nosuch: no such resource" "$T/out" || fail "wbctl-status-unknown-message: $(cat "$T/out")"
expect_rc "wbctl-flush-unknown-exit1" 1 wbctl flush nosuch
grep -qx "wbctl: nosuch: no such resource" "$T/out" || fail "wbctl-flush-unknown-message: $(cat "$T/out")"
expect_rc "wbctl-flush-down-exit1" 1 wbctl flush r1
grep -q "r1: .*not up" "$T/out" || fail "wbctl-flush-down-message: $(cat "$T/out")"

expect_rc "wbctl-up-exit0" 0 wbctl up r1
wbctl status --json r1 | grep -q '"name": "r1", "engine": "passthrough", "state": "up"' &&
	pass "wbctl-up-state" || fail "wbctl-up-state: r1 not up after wbctl up"
[ -S "$T/nbd1.sock" ] && pass "wbctl-up-nbd-socket" || fail "wbctl-up-nbd-socket: no $T/nbd1.sock"
# the flush reaches r1's (passthrough) engine: its flush count moves by one
f0=$(wbctl status --json r1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["resources"][0]["io"]["flushes"])')
expect_rc "wbctl-flush-r1-exit0" 0 wbctl flush r1
f1=$(wbctl status --json r1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["resources"][0]["io"]["flushes"])')
[ "$f1" = $((f0 + 1)) ] && pass "wbctl-flush-r1-reaches-engine (flushes $f0 -> $f1)" ||
	fail "wbctl-flush-r1-reaches-engine: engine flushes $f0 -> $f1"
wbctl mode r0 writethrough >/dev/null 2>&1
wbctl status r0 | head -1 | grep -q '^r0: up, standalone, writethrough' &&
	pass "wbctl-mode-state" || fail "wbctl-mode-state: $(wbctl status r0 | head -1)"
wbctl mode r0 writeback >/dev/null 2>&1
wbctl status r0 | head -1 | grep -q '^r0: up, standalone, writeback' &&
	pass "wbctl-mode-state-back" || fail "wbctl-mode-state-back: $(wbctl status r0 | head -1)"
expect_rc "wbctl-down-exit0" 0 wbctl down r1
wbctl status r1 | head -1 | grep -q '^r1: down' && [ ! -e "$T/nbd1.sock" ] &&
	pass "wbctl-down-state" || fail "wbctl-down-state: $(wbctl status r1 | head -1)"
expect_rc "wbctl-reload-exit0" 0 wbctl reload
grep -q 'reload: configuration applied' "$WB_DLOG" && pass "wbctl-reload-applied" ||
	fail "wbctl-reload-applied: no 'reload: configuration applied' in the log"
# -s reaches the daemon on that socket: the same report as through -c
if "$WBCTL" -s "$T/ctl.sock" status --json r0 >"$T/out" 2>&1 &&
	grep -q '"name": "r0", "engine": "wblog", "state": "up"' "$T/out" &&
	"$WBCTL" -s "$T/ctl.sock" status r1 | head -1 | grep -q '^r1: down'; then
	pass "wbctl-socket-option"
else
	fail "wbctl-socket-option: $(head -2 "$T/out" | tr '\n' ' ')"
fi
n=$(wbctl status --watch --interval 1 --count 2 --json | grep -c '^{"version": 2')
[ "$n" -eq 2 ] && pass "wbctl-watch-count" || fail "wbctl-watch-count: $n reports, expected 2"

# ---------------------------------------------------------------- root only
m=$(stat -c '%a %u' "$T/ctl.sock")
[ "$m" = "600 $(id -u)" ] && pass "ctl-socket-mode-0600 ($m)" || fail "ctl-socket-mode-0600: $m"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	# as nobody: the file mode refuses the connect
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$WBCTL" -s "$T/ctl.sock" status 2>&1)
	rc=$?
	[ $rc -eq 3 ] && grep -q 'Permission denied' <<<"$out" && pass "ctl-nonroot-refused-by-mode" ||
		fail "ctl-nonroot-refused-by-mode: exit $rc: $out"
	# even with the socket (and its directory) opened up, the daemon checks
	# the peer's uid (SO_PEERCRED) and closes the connection
	chmod 0755 "$T"
	chmod 0666 "$T/ctl.sock"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$WBCTL" -s "$T/ctl.sock" status 2>&1)
	rc=$?
	chmod 0600 "$T/ctl.sock"
	chmod 0700 "$T"
	[ $rc -ne 0 ] && ! grep -q '^r0' <<<"$out" && grep -q 'refusing client uid 65534' "$WB_DLOG" &&
		pass "ctl-nonroot-refused-by-uid" || fail "ctl-nonroot-refused-by-uid: exit $rc: $out"
else
	echo "SKIP ctl-nonroot-refused: needs root and setpriv"
fi

# ---------------------------------------------------------------- bad requests
timeout 120 python3 tests/cli/ctlraw.py "$T/ctl.sock" bad >"$T/bad.out" 2>&1
rc=$?
cat "$T/bad.out"
fails=$((fails + $(grep -c '^FAIL ' "$T/bad.out")))
[ $rc -eq 0 ] || grep -q '^FAIL ' "$T/bad.out" || fail "ctl-bad: ctlraw.py exited $rc"
is_alive "$DPID" && wbctl status r0 >/dev/null && pass "ctl-bad-daemon-alive" ||
	fail "ctl-bad-daemon-alive: wbrepd died or stopped answering"

stop_daemon
rc=$?
[ $rc -eq 0 ] && pass "wbctl-daemon-exit-clean" || fail "wbctl-daemon-exit-clean: exit $rc"
daemon_log_clean "wbctl-daemon-log-clean"

# ---------------------------------------------------------------- flush, mode: effects
# A daemon of its own: r0 with the generation timer off (a generation closes
# only on a flush) and destage only above 50% of the log or when draining,
# so what flush and mode change is visible.
{
	conf_global clitest
	conf_resource r0 engine=wblog backing="$T/eb" log="$T/el" nbd-socket="$T/enbd.sock" \
		gen-max-interval=1h destage-min-rate=0 destage-low=50%
} >"$WB_CONF"
WB_DLOG=$T/effects.log
truncate -s 64M "$T/eb"
truncate -s 32M "$T/el"
S=$T/enbd.sock

# nbd_io SOCK write|read LBA BYTE: write one 4 KiB block of BYTE at LBA, or
# read it back and compare
nbd_io() {
	python3 - "$@" <<'EOF'
import sys
sys.path.insert(0, "tests/integration")
import nbdcli as n
sock, op, lba, byte = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4], 0)
c = n.Conn(sock).connect()
if op == "write":
    sys.exit(c.io(n.CMD_WRITE, lba * 4096, 4096, payload=bytes([byte]) * 4096)[0] != 0)
err, data = c.io(n.CMD_READ, lba * 4096, 4096)
sys.exit(err != 0 or data != bytes([byte]) * 4096)
EOF
}
# ack_vs_backing SOCK BACKING LBA COUNT: write COUNT blocks from LBA one at a
# time; after each ack look at the backing file. Prints "on-backing N of M"
# (all acked blocks were already there) or "dirty at ack after N writes"
# (the first acked block that was not yet on the backing file, then stops).
ack_vs_backing() {
	python3 - "$@" <<'EOF'
import sys
sys.path.insert(0, "tests/integration")
import nbdcli as n
sock, backing, lba0, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = n.Conn(sock).connect()
f = open(backing, "rb")
for i in range(count):
    lba = lba0 + i
    blk = n.block(lba, 1)
    assert c.io(n.CMD_WRITE, lba * 4096, 4096, payload=blk)[0] == 0, "write failed"
    f.seek(lba * 4096)
    if f.read(4096) != blk:
        print("dirty at ack after %d writes" % (i + 1))
        sys.exit(0)
print("on-backing %d of %d" % (count, count))
EOF
}
# jget EXPR: a value of r0 in `wbctl status --json` (EXPR on r)
jget() {
	wbctl status --json r0 | python3 -c 'import json, sys
r = json.load(sys.stdin)["resources"][0]
print(eval(sys.argv[1]))' "$1"
}

if ! start_daemon eval '[ -S "$S" ] && wbctl status'; then
	fail "wbctl-effects-start: wbrepd did not come up"
	finish
fi
# flush: the generation holding an unflushed write becomes durable (status:
# a flush handler that does nothing fails here), and the data reads back
# after kill -9 and a restart
nbd_io "$S" write 100 0x11 || fail "wbctl-flush-write: NBD write failed"
g=$(jget 'r["generation"]["head"]')
d0=$(jget 'r["generation"]["durable"]')
f0=$(jget 'r["io"]["flushes"]')
expect_rc "wbctl-flush-exit0" 0 wbctl flush r0
d1=$(jget 'r["generation"]["durable"]')
f1=$(jget 'r["io"]["flushes"]')
if [ "$d0" -lt "$g" ] && [ "$d1" -ge "$g" ] && [ "$f1" -eq $((f0 + 1)) ]; then
	pass "wbctl-flush-durable (write in generation $g: durable $d0 -> $d1, engine flushes $f0 -> $f1)"
else
	fail "wbctl-flush-durable: write in generation $g: durable $d0 -> $d1, engine flushes $f0 -> $f1"
fi
kill9_daemon
if ! start_daemon eval '[ -S "$S" ] && wbctl status'; then
	fail "wbctl-flush-kill9-restart: wbrepd did not come back after kill -9"
	finish
fi
nbd_io "$S" read 100 0x11 && pass "wbctl-flush-kill9-data-intact" ||
	fail "wbctl-flush-kill9-data-intact: the flushed block does not read back after kill -9"
# destage-min-rate = 0: no minimum rate, so the recovered block (far below
# destage-low = 50%) stays dirty in the log; the engine's old reading of 0
# (its 4 MiB/s default) destaged it at once
dirty=$(jget 'r["dirty_bytes"]')
rate=$(jget 'r["settings"]["destage_min_rate"]')
[ "$rate" = 0 ] && [ "$dirty" -gt 0 ] &&
	pass "wbctl-min-rate-0-no-destage (dirty $dirty bytes)" ||
	fail "wbctl-min-rate-0-no-destage: destage_min_rate $rate, dirty $dirty bytes"

# mode: status follows, and so does the engine: write-through acks a write
# only once it is on the backing file, write-back acks it from the log
expect_rc "wbctl-mode-writethrough-exit0" 0 wbctl mode r0 writethrough
m=$(jget 'r["mode"]')
out=$(ack_vs_backing "$S" "$T/eb" 1000 32 2>&1)
[ "$m" = writethrough ] && [ "$out" = "on-backing 32 of 32" ] &&
	pass "wbctl-mode-writethrough-effect (status $m; $out)" ||
	fail "wbctl-mode-writethrough-effect: status '$m'; $out"
expect_rc "wbctl-mode-writeback-exit0" 0 wbctl mode r0 writeback
m=$(jget 'r["mode"]')
out=$(ack_vs_backing "$S" "$T/eb" 2000 256 2>&1)
[ "$m" = writeback ] && [[ "$out" = "dirty at ack"* ]] &&
	pass "wbctl-mode-writeback-effect (status $m; $out)" ||
	fail "wbctl-mode-writeback-effect: status '$m'; $out"
stop_daemon || fail "wbctl-effects-exit-clean: exit $?"
daemon_log_clean "wbctl-effects-log-clean"
finish
