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
# unknown resource (exit 1 + message), no daemon (exit 3), usage errors
# (exit 2), --help of every subcommand, control socket mode 0600 and non-root
# clients refused (by the mode, and by the uid check with the mode opened),
# `config check` on a good file and on
# bad files (golden messages with file:line, exit 4), bad requests on the
# control socket (tests/cli/ctlraw.py: error reply or clean close, daemon
# alive). WB_GOLDEN_UPDATE=1 rewrites the golden files instead of diffing.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
WBREPD=$ROOT/build/wbrepd
WBCTL=$ROOT/build/wbctl
G=$ROOT/tests/cli/golden
fails=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

if [ ! -x "$WBREPD" ] || [ ! -x "$WBCTL" ]; then
	echo "SKIP wbctl: build/wbrepd or build/wbctl not built (make all)"
	exit 0
fi
command -v python3 >/dev/null || { echo "SKIP wbctl: python3 not installed"; exit 0; }

T=$(mktemp -d /tmp/wbrep-clitest.XXXXXX)
DPID=""
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

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

# Timing-dependent JSON values -> "N".
norm_json() {
	python3 -c '
import json, sys
VOL = {"dirty_bytes": None, "log": ["used"], "generation": ["head", "durable", "oldest"],
       "seq": ["head", "tail"], "destage": ["rate", "eta_ms", "total_bytes"],
       "ram_pages": ["used"], "extents": ["count", "mem_bytes"], "nbd_clients": None}
d = json.load(sys.stdin)
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
expect_rc "wbctl-no-daemon-exit3" 3 "$WBCTL" -s "$T/nosuch.sock" status &&
	grep -q "cannot connect to wbrepd at $T/nosuch.sock" "$T/out" || true
grep -q "cannot connect to wbrepd at $T/nosuch.sock" "$T/out" ||
	fail "wbctl-no-daemon-message: $(cat "$T/out")"
expect_rc "wbctl-no-daemon-flush-exit3" 3 "$WBCTL" -s "$T/nosuch.sock" flush r0

# ---------------------------------------------------------------- usage, help
expect_rc "wbctl-no-args-exit2" 2 "$WBCTL"
expect_rc "wbctl-unknown-command-exit2" 2 "$WBCTL" frobnicate
grep -q "unknown command 'frobnicate'" "$T/out" || fail "wbctl-unknown-command-message"
expect_rc "wbctl-help" 0 "$WBCTL" --help && golden help "$T/out"
for c in status up down flush mode reload config help; do
	if "$WBCTL" $c --help >"$T/out" 2>&1 && head -1 "$T/out" | grep -q "^usage: wbctl $c" &&
		[ "$(wc -l <"$T/out")" -ge 2 ]; then
		pass "wbctl-help-$c"
	else
		fail "wbctl-help-$c: $(head -2 "$T/out" | tr '\n' ' ')"
	fi
done
expect_rc "wbctl-help-cmd" 0 "$WBCTL" help flush
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
	expect_rc "config-missing-file-exit4" 4 "$WBCTL" config check conf/nosuch.conf &&
		grep -q "conf/nosuch.conf" "$T/out" || fail "config-missing-file-message"
	# the daemon's own check agrees with wbctl on a bad file
	expect_rc "config-wbrepd-check-refuses" 1 "$WBREPD" --check -c conf/bad-values.conf
	exit $fails
) || fails=$((fails + $?))

# ---------------------------------------------------------------- with a daemon
truncate -s 64M "$T/backing0" "$T/backing1"
truncate -s 32M "$T/log0"
cat >"$T/wbrep.conf" <<EOF
[global]
control-socket = $T/ctl.sock
pid-file = $T/wbrepd.pid
node-name = clitest

[resource r0]
engine = wblog
backing = $T/backing0
log = $T/log0
nbd-socket = $T/nbd0.sock

[resource r1]
engine = passthrough
backing = $T/backing1
nbd-socket = $T/nbd1.sock
auto-up = no
EOF
"$WBREPD" -c "$T/wbrep.conf" -f >"$T/wbrepd.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do
	[ -S "$T/ctl.sock" ] && [ -S "$T/nbd0.sock" ] && break
	sleep 0.1
done
if ! wbctl status >/dev/null 2>&1; then
	fail "wbctl-daemon-start: wbrepd did not come up: $(tail -3 "$T/wbrepd.log")"
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

expect_rc "wbctl-status-unknown-exit1" 1 wbctl status nosuch
grep -qx "wbctl: nosuch: no such resource" "$T/out" || fail "wbctl-status-unknown-message: $(cat "$T/out")"
expect_rc "wbctl-flush-unknown-exit1" 1 wbctl flush nosuch
grep -qx "wbctl: nosuch: no such resource" "$T/out" || fail "wbctl-flush-unknown-message: $(cat "$T/out")"
expect_rc "wbctl-flush-exit0" 0 wbctl flush r0
expect_rc "wbctl-flush-down-exit1" 1 wbctl flush r1
grep -q "r1: .*not up" "$T/out" || fail "wbctl-flush-down-message: $(cat "$T/out")"

expect_rc "wbctl-up-exit0" 0 wbctl up r1
wbctl status --json r1 | grep -q '"name": "r1", "engine": "passthrough", "state": "up"' &&
	pass "wbctl-up-state" || fail "wbctl-up-state: r1 not up after wbctl up"
[ -S "$T/nbd1.sock" ] && pass "wbctl-up-nbd-socket" || fail "wbctl-up-nbd-socket: no $T/nbd1.sock"
expect_rc "wbctl-flush-r1-exit0" 0 wbctl flush r1
expect_rc "wbctl-mode-writethrough-exit0" 0 wbctl mode r0 writethrough
wbctl status r0 | head -1 | grep -q '^r0: up, standalone, writethrough' &&
	pass "wbctl-mode-state" || fail "wbctl-mode-state: $(wbctl status r0 | head -1)"
expect_rc "wbctl-mode-writeback-exit0" 0 wbctl mode r0 writeback
expect_rc "wbctl-down-exit0" 0 wbctl down r1
wbctl status r1 | head -1 | grep -q '^r1: down' && [ ! -e "$T/nbd1.sock" ] &&
	pass "wbctl-down-state" || fail "wbctl-down-state: $(wbctl status r1 | head -1)"
expect_rc "wbctl-reload-exit0" 0 wbctl reload
grep -q 'reload: configuration applied' "$T/wbrepd.log" && pass "wbctl-reload-applied" ||
	fail "wbctl-reload-applied: no 'reload: configuration applied' in the log"
expect_rc "wbctl-socket-option" 0 "$WBCTL" -s "$T/ctl.sock" status r0
n=$(wbctl status --watch --interval 1 --count 2 --json | grep -c '^{"version": 1')
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
	[ $rc -ne 0 ] && ! grep -q '^r0' <<<"$out" && grep -q 'refusing client uid 65534' "$T/wbrepd.log" &&
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
kill -0 "$DPID" 2>/dev/null && wbctl status r0 >/dev/null && pass "ctl-bad-daemon-alive" ||
	fail "ctl-bad-daemon-alive: wbrepd died or stopped answering"

kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=""
[ $rc -eq 0 ] && pass "wbctl-daemon-exit-clean" || fail "wbctl-daemon-exit-clean: exit $rc"
if grep -qE 'AddressSanitizer|runtime error|Segmentation' "$T/wbrepd.log"; then
	fail "wbctl-daemon-log-clean: $(grep -m2 -E 'AddressSanitizer|runtime error' "$T/wbrepd.log")"
fi
exit $((fails > 0))
