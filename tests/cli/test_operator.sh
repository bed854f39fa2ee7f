#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_operator.sh - the operator's surface, tried as docs/wbctl.md and
# docs/daemon.md tell a new user to use it; every case asserts the effect:
#   - options after the resource name (status r0 --json, --watch with a
#     timestamp per frame, an unknown option is a usage error);
#   - a resource whose up failed and one whose engine failed (a backing
#     write past the daemon's RLIMIT_FSIZE: EFBIG) show `failed` with the
#     reason (human and JSON), never "destaging at ..."; metrics tell
#     failed from down; the recovery docs/daemon.md gives brings the data
#     to the backing file;
#   - the destage rate is the current one: 0 / "idle" once nothing moves;
#   - wbctl drain: dirty data reaches the backing file, exit 0, the mode in
#     force comes back; progress lines without a tty, a bar on a tty;
#   - mode: writethrough says it drains in the background, --wait waits
#     until clean, a forced mode shows as forced, `mode config` clears it,
#     passthrough refuses writeback; cache-mode in the file is applied by
#     reload and survives down/up and a restart;
#   - status -v / show: the settings in force, and that the file on disk
#     differs after a refused reload;
#   - config check: missing device paths on this node (not on another);
#     its TLS files as its peers will check them (a good chain, a key of
#     another certificate, another node's name, a foreign CA, expired;
#     expiring soon is a warning with exit 0);
#     a daemonized wbrepd started with a relative -c reloads on SIGHUP;
#     errors name the resource once.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins operator "$WBREPD" "$WBCTL"
need_tools operator python3
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "operator: engine wblog not built"

tmpdir oper
wbctl() { "$WBCTL" -s "$T/ctl.sock" "$@"; }
MPORT=$(free_port)

# write_conf [R0-KEY=VALUE...]: the test's configuration; extra keys for r0
# (destage-low: $LOW, default 50%)
write_conf() {
	{
		conf_global optest "metrics-listen = 127.0.0.1:$MPORT"
		conf_resource r0 backing="$T/b0" log="$T/l0" nbd-socket="$T/nbd0.sock" \
			gen-max-interval=1h destage-min-rate=1 destage-low="${LOW:-50%}" "$@"
		conf_resource r1 engine=passthrough backing="$T/b1" nbd-socket="$T/nbd1.sock" \
			auto-up=no
		conf_resource r2 backing="$T/nosuch-backing" log="$T/l2"
		conf_resource r3 backing="$T/b3" log="$T/l3" nbd-socket="$T/nbd3.sock"
	} >"$WB_CONF"
}

# nbd SOCK write|read LBA COUNT BYTE: COUNT 4 KiB blocks of BYTE at LBA
# (write + flush, or read and compare)
nbd() {
	python3 - "$@" <<'EOF'
import sys
sys.path.insert(0, "tests/integration")
import nbdcli as n
sock, op, lba, cnt, byte = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5], 0)
c = n.Conn(sock).connect()
if op == "write":
    for i in range(cnt):
        if c.io(n.CMD_WRITE, (lba + i) * 4096, 4096, payload=bytes([byte]) * 4096)[0]:
            sys.exit(1)
    sys.exit(c.io(n.CMD_FLUSH, 0, 0)[0] != 0)
err, data = c.io(n.CMD_READ, lba * 4096, cnt * 4096)
sys.exit(err != 0 or data != bytes([byte]) * (cnt * 4096))
EOF
}
# on_file FILE LBA COUNT BYTE: the blocks are in FILE
on_file() {
	python3 -c 'import sys
f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2]) * 4096); n = int(sys.argv[3]) * 4096
sys.exit(f.read(n) != bytes([int(sys.argv[4], 0)]) * n)' "$@"
}
# jget RES EXPR: EXPR on the resource r (and d, the whole reply) of status --json RES
jget() {
	wbctl status "$1" --json | python3 -c 'import json, sys
d = json.load(sys.stdin); r = d["resources"][0]
print(eval(sys.argv[1]))' "$2"
}
# metric NAME RES: the sample of NAME for RES
metric() {
	python3 -c 'import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
want = "%s{resource=\"%s\"} " % (sys.argv[2], sys.argv[3])
print([l[len(want):] for l in t.splitlines() if l.startswith(want)][0])' "$MPORT" "$1" "$2"
}

truncate -s 64M "$T/b0" "$T/b1" "$T/b3"
truncate -s 32M "$T/l0" "$T/l2"
truncate -s 16M "$T/l3"
write_conf
start_daemon eval '[ -S "$T/nbd0.sock" ] && [ -S "$T/nbd3.sock" ] && wbctl status' ||
	{ fail "op-start: wbrepd did not come up"; finish; }

# ---------------------------------------------------------------- options anywhere
if wbctl status r0 --json >"$T/out" 2>&1 &&
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
sys.exit([r["name"] for r in d["resources"]] != ["r0"])' "$T/out"; then
	pass "op-status-res-then-json"
else
	fail "op-status-res-then-json: $(head -2 "$T/out" | tr '\n' ' ')"
fi
wbctl status r1 --watch --count 2 --interval 1 >"$T/out" 2>&1
n=$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[-+][0-9]{4}  every 1s, r1$' "$T/out")
f=$(grep -c '^r1: down' "$T/out")
[ "$n" = 2 ] && [ "$f" = 2 ] && pass "op-status-watch-after-res (2 frames, each with a timestamp)" ||
	fail "op-status-watch-after-res: $n timestamps, $f frames: $(head -3 "$T/out" | tr '\n' ' ')"
# Ctrl-C ends a watch, not wbctl: exit 0 after the frames so far (without
# its handler wbctl would die of SIGINT, or, as a background job that
# inherits SIGINT ignored, not stop at all)
"$WBCTL" -s "$T/ctl.sock" status r1 --watch --interval 1 >"$T/out" 2>&1 &
wp=$! # wbctl itself (the wbctl function would run in a subshell)
wait_for 10 grep -q '^r1: down' "$T/out"
kill -INT "$wp"
wait_exit "$wp" 10 || kill -KILL "$wp"
wait "$wp"
rc=$?
f=$(grep -c '^r1: down' "$T/out")
[ "$rc" = 0 ] && [ "$f" -ge 1 ] && pass "op-status-watch-ctrl-c (exit 0 after $f frame(s))" ||
	fail "op-status-watch-ctrl-c: exit $rc, $f frames: $(tail -2 "$T/out" | tr '\n' ' ')"
wbctl status --json --watch --count 2 r1 | python3 -c 'import json, sys, re
text, docs, dec, i = sys.stdin.read(), [], json.JSONDecoder(), 0
while text[i:].strip():
    d, i = dec.raw_decode(text, i + len(text[i:]) - len(text[i:].lstrip()))
    docs.append(d)
assert len(docs) == 2 and all(re.match(r"\d{4}-\d\d-\d\dT", d["time"]) for d in docs), docs' \
	2>"$T/err" && pass "op-status-json-watch-time" || fail "op-status-json-watch-time: $(tail -1 "$T/err")"
wbctl flush r0 --bogus >"$T/out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "^wbctl flush: unknown option '--bogus'" "$T/out" && pass "op-unknown-option-exit2" ||
	fail "op-unknown-option-exit2: exit $rc: $(cat "$T/out")"
wbctl flush r1 >"$T/out" 2>&1
[ "$(cat "$T/out")" = "wbctl: r1: resource is not up" ] && pass "op-error-prefix-once" ||
	fail "op-error-prefix-once: '$(cat "$T/out")'"

# ---------------------------------------------------------------- failed: up failed
wbctl status r2 >"$T/out"
head -1 "$T/out" | grep -q '^r2: failed, ' && grep -q "^  reason     cannot open backing device $T/nosuch-backing" "$T/out" &&
	grep -q '^  recover    fix the cause, then wbctl up r2' "$T/out" &&
	pass "op-failed-up-human" || fail "op-failed-up-human: $(head -3 "$T/out" | tr '\n' '|')"
s=$(jget r2 'r["state"] + "|" + r["engine_state"] + "|" + r["reason"]')
[[ "$s" = "failed|failed|cannot open backing device $T/nosuch-backing"* ]] && pass "op-failed-up-json" ||
	fail "op-failed-up-json: $s"
m="$(metric wbrep_failed r2) $(metric wbrep_up r2) $(metric wbrep_down r2) $(metric wbrep_failed r1) $(metric wbrep_down r1)"
[ "$m" = "1 0 0 0 1" ] && pass "op-metrics-failed-vs-down" ||
	fail "op-metrics-failed-vs-down: r2 failed/up/down, r1 failed/down = $m, want 1 0 0 0 1"

# ---------------------------------------------------------------- failed: engine failed
# r3's backing writes past 32 MiB fail with EFBIG once the daemon's soft
# RLIMIT_FSIZE is 32 MiB: destage fails, the engine refuses writes.
if command -v prlimit >/dev/null && prlimit --pid "$DPID" --fsize=33554432: 2>"$T/err"; then
	nbd "$T/nbd3.sock" write 12288 1 0x33 # at 48 MiB, acked in write-back
	wait_for 30 eval '[ "$(jget r3 r[\"state\"])" = failed ]'
	wbctl status r3 >"$T/out"
	if head -1 "$T/out" | grep -q '^r3: failed, ' &&
		grep -q '^  reason     engine failed: .*File too large' "$T/out" &&
		grep -q '^  dirty      4.0 KiB dirty, destage stopped (engine failed)' "$T/out" &&
		! grep -q 'destaging at' "$T/out"; then
		pass "op-engine-failed-human"
	else
		fail "op-engine-failed-human: $(tr '\n' '|' <"$T/out")"
	fi
	s=$(jget r3 '"%s %s %d %s %s" % (r["state"], r["engine_state"], r["destage"]["rate"], r["destage"]["state"], "File too large" in r["reason"])')
	[ "$s" = "failed failed 0 stopped True" ] && pass "op-engine-failed-json" || fail "op-engine-failed-json: $s"
	m="$(metric wbrep_failed r3) $(metric wbrep_up r3) $(metric wbrep_down r3)"
	[ "$m" = "1 0 0" ] && pass "op-engine-failed-metrics" || fail "op-engine-failed-metrics: $m"
	wbctl drain r3 >"$T/out" 2>&1
	rc=$?
	[ $rc = 1 ] && grep -q '^wbctl: r3: the engine failed' "$T/out" && pass "op-drain-failed-refused" ||
		fail "op-drain-failed-refused: exit $rc: $(cat "$T/out")"
	# docs/daemon.md, "A failed resource": fix the cause, down, up; the log
	# still holds the write, and a drain takes it to the backing file
	prlimit --pid "$DPID" --fsize=unlimited:
	if wbctl down r3 && wbctl up r3 && wbctl drain r3 --timeout 120 >"$T/out" 2>&1 &&
		[ "$(jget r3 'r["state"], r["dirty_bytes"]')" = "('up', 0)" ] &&
		on_file "$T/b3" 12288 1 0x33; then
		pass "op-engine-failed-recovery (down, up, drain: data on backing)"
	else
		fail "op-engine-failed-recovery: $(wbctl status r3 | head -3 | tr '\n' '|') $(tail -2 "$T/out")"
	fi
else
	skip "op-engine-failed (prlimit cannot lower the daemon's RLIMIT_FSIZE: $(cat "$T/err" 2>/dev/null))"
fi

# ---------------------------------------------------------------- drain, rate
# with destage-min-rate = 1 (byte/s) only the first batch runs below destage-low:
# after it, what is written stays dirty until a drain
nbd "$T/nbd0.sock" write 10 1 0x43
wait_for 30 eval '[ "$(jget r0 "r[\"dirty_bytes\"]")" = 0 ]'
nbd "$T/nbd0.sock" write 1000 64 0x44 || fail "op-drain-write: NBD write failed"
d=$(jget r0 'r["dirty_bytes"]')
if [ "$d" -ge 262144 ] && ! on_file "$T/b0" 1000 64 0x44; then
	pass "op-drain-dirty-before ($d bytes dirty, not on backing)"
else
	fail "op-drain-dirty-before: $d bytes dirty (want >= 256 KiB, not on backing)"
fi
wbctl drain r0 --timeout 120 --interval 1 >"$T/out" 2>&1
rc=$?
s=$(jget r0 '"%d %s %s %s" % (r["dirty_bytes"], r["mode"], r["mode_forced"], r["draining"])')
if [ $rc = 0 ] && [ "$s" = "0 writeback False False" ] && on_file "$T/b0" 1000 64 0x44 &&
	grep -q '^r0: clean: .* written back in .*, mode writeback$' "$T/out" &&
	! grep -q $'\r' "$T/out"; then
	pass "op-drain (exit 0, clean, on backing, writeback again; plain lines: $(wc -l <"$T/out"))"
else
	fail "op-drain: exit $rc, status $s: $(tr '\n' '|' <"$T/out")"
fi
# the rate shown is the current one: nothing moves now, so it drops to 0
if wait_for 15 eval '[ "$(jget r0 "(r[\"destage\"][\"rate\"], r[\"destage\"][\"state\"])")" = "(0, '"'idle'"')" ]' &&
	wbctl status r0 | grep -q '^  dirty      clean, destage idle$'; then
	pass "op-rate-idle-when-nothing-moves"
else
	fail "op-rate-idle-when-nothing-moves: $(jget r0 'r["destage"]') $(wbctl status r0 | grep dirty)"
fi
# on a terminal: a progress bar (script(1) gives wbctl a pty)
nbd "$T/nbd0.sock" write 2000 64 0x45
if command -v script >/dev/null; then
	script -qec "$WBCTL -c $WB_CONF drain r0 --timeout 120" /dev/null >"$T/out" 2>&1
	rc=$?
	grep -q $'\r''r0: drain \[[#.]*\] ' "$T/out" && grep -q 'r0: clean: ' "$T/out" && [ $rc = 0 ] &&
		on_file "$T/b0" 2000 64 0x45 && pass "op-drain-tty-bar" ||
		fail "op-drain-tty-bar: exit $rc: $(tr '\r\n' '||' <"$T/out" | head -c 300)"
else
	skip "op-drain-tty-bar (script(1) not installed)"
fi
wbctl drain r1 >"$T/out" 2>&1
rc=$?
[ $rc = 1 ] && [ "$(cat "$T/out")" = "wbctl: r1: resource is not up" ] && pass "op-drain-down-exit1" ||
	fail "op-drain-down-exit1: exit $rc: $(cat "$T/out")"

# ---------------------------------------------------------------- mode
nbd "$T/nbd0.sock" write 3000 32 0x46
wbctl mode r0 writethrough >"$T/out" 2>&1
rc=$?
grep -q '^r0: writethrough \[forced\]: quorate, write-through forced$' "$T/out" &&
	grep -q "^r0: dirty data is written back in the background ([0-9.]* [KMG]*i*B dirty now); 'wbctl drain r0'" "$T/out" &&
	[ $rc = 0 ] && pass "op-mode-writethrough-background" ||
	fail "op-mode-writethrough-background: exit $rc: $(tr '\n' '|' <"$T/out")"
s=$(jget r0 '"%s %s %s" % (r["mode"], r["mode_forced"], r["cache_mode"])')
wbctl status r0 | head -1 | grep -q '^r0: up, standalone, writethrough \[forced\]' &&
	[ "$s" = "writethrough True writeback" ] && pass "op-mode-forced-shown" || fail "op-mode-forced-shown: $s"
wait_for 60 eval '[ "$(jget r0 "r[\"dirty_bytes\"]")" = 0 ]' && on_file "$T/b0" 3000 32 0x46 &&
	pass "op-mode-writethrough-drains" || fail "op-mode-writethrough-drains: $(jget r0 'r["dirty_bytes"]') dirty"
wbctl mode r0 config >/dev/null
s=$(jget r0 '"%s %s" % (r["mode"], r["mode_forced"])')
[ "$s" = "writeback False" ] && pass "op-mode-config-clears-forced" || fail "op-mode-config-clears-forced: $s"
nbd "$T/nbd0.sock" write 4000 32 0x47
wbctl mode r0 writethrough --wait >"$T/out" 2>&1
rc=$?
s=$(jget r0 '"%s %s %d" % (r["mode"], r["mode_forced"], r["dirty_bytes"])')
[ $rc = 0 ] && [ "$s" = "writethrough True 0" ] && on_file "$T/b0" 4000 32 0x47 &&
	grep -q '^r0: clean: ' "$T/out" && pass "op-mode-wait" || fail "op-mode-wait: exit $rc, $s: $(tr '\n' '|' <"$T/out")"
wbctl down r0 && wbctl up r0
s=$(jget r0 '"%s %s" % (r["mode"], r["mode_forced"])')
[ "$s" = "writeback False" ] && pass "op-mode-forced-ends-at-down" || fail "op-mode-forced-ends-at-down: $s"
wbctl up r1 >/dev/null
wbctl mode r1 writeback >"$T/out" 2>&1
rc=$?
[ $rc = 1 ] && [ "$(cat "$T/out")" = "wbctl: r1: engine passthrough caches nothing: it is always writethrough" ] &&
	[ "$(jget r1 'r["mode"]')" = writethrough ] && pass "op-mode-passthrough-refuses-writeback" ||
	fail "op-mode-passthrough-refuses-writeback: exit $rc: $(cat "$T/out"); mode $(jget r1 'r["mode"]')"
# cache-mode in the file: a reload applies it, down/up and a restart keep it
write_conf cache-mode=writethrough
wbctl reload >"$T/out" 2>&1 || fail "op-cache-mode-reload: $(cat "$T/out")"
s=$(jget r0 '"%s %s %s" % (r["mode"], r["mode_forced"], r["cache_mode"])')
[ "$s" = "writethrough False writethrough" ] && pass "op-cache-mode-reload" || fail "op-cache-mode-reload: $s"
nbd "$T/nbd0.sock" write 5000 8 0x48 && on_file "$T/b0" 5000 8 0x48 &&
	pass "op-cache-mode-writethrough-effect (acked writes are on backing)" ||
	fail "op-cache-mode-writethrough-effect"
wbctl down r0 && wbctl up r0
[ "$(jget r0 'r["mode"]')" = writethrough ] && pass "op-cache-mode-survives-down-up" ||
	fail "op-cache-mode-survives-down-up: $(jget r0 'r["mode"]')"
stop_daemon || fail "op-stop: exit $?"
start_daemon eval '[ -S "$T/nbd0.sock" ] && wbctl status' || { fail "op-restart"; finish; }
[ "$(jget r0 'r["mode"]')" = writethrough ] && pass "op-cache-mode-survives-restart" ||
	fail "op-cache-mode-survives-restart: $(jget r0 'r["mode"]')"

# ---------------------------------------------------------------- status -v, show
wbctl show r0 >"$T/out"
if grep -q '^  settings   engine wblog, cache-mode writethrough, ack log$' "$T/out" &&
	grep -q "^  backing    $T/b0\$" "$T/out" &&
	grep -q "^  log-device $T/l0 (log-segment 2.0 MiB, used when it is formatted)\$" "$T/out" &&
	grep -q '^  destage    low 50%, high 90%, min-rate 1 B/s; generation at least every 1h00m$' "$T/out" &&
	grep -q "^config $WB_CONF: in force\$" "$T/out"; then
	pass "op-show-settings"
else
	fail "op-show-settings: $(tr '\n' '|' <"$T/out")"
fi
cmp -s "$T/out" <(wbctl status -v r0) && pass "op-show-is-status-v" || fail "op-show-is-status-v"
write_conf cache-mode=writethrough log-segment=4M
wbctl reload >"$T/out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "^wbctl: reload refused: resource r0: 'log-segment' changed" "$T/out" &&
	pass "op-reload-refused-says-why" || fail "op-reload-refused-says-why: exit $rc: $(cat "$T/out")"
wbctl status -v r0 >"$T/out"
grep -q "^config $WB_CONF: the file on disk differs from the configuration in force; last reload refused: resource r0: 'log-segment' changed" "$T/out" &&
	grep -q 'log-segment 2.0 MiB' "$T/out" && pass "op-status-v-file-differs" ||
	fail "op-status-v-file-differs: $(tail -2 "$T/out" | tr '\n' '|')"
s=$(jget r0 '"%s %s" % (d["config"]["differs"], r["settings"]["log_segment"])')
[ "$s" = "True 2097152" ] && pass "op-json-file-differs" || fail "op-json-file-differs: $s"
write_conf cache-mode=writethrough
[ "$(jget r0 'd["config"]["differs"]')" = False ] && pass "op-file-same-again" ||
	fail "op-file-same-again"
stop_daemon || fail "op-stop2: exit $?"
daemon_log_clean "op-daemon-log-clean"

# ---------------------------------------------------------------- config check on the node
# no node-name: the host name, so this is the node; its paths must exist
{
	printf '[resource r0]\nbacking = %s\nlog = %s\n' "$T/b0" "$T/nolog"
} >"$T/node.conf"
"$WBCTL" config check "$T/node.conf" >"$T/out" 2>&1
rc=$?
[ $rc = 4 ] && grep -q "^$T/node.conf:1: \[resource r0\] log: '$T/nolog': No such file or directory (on node " "$T/out" &&
	pass "op-config-check-missing-device" || fail "op-config-check-missing-device: exit $rc: $(cat "$T/out")"
{
	printf '[global]\nnode-name = elsewhere\n[resource r0]\nbacking = %s\nlog = %s\n' "$T/b0" "$T/nolog"
	printf '[resource r0 on elsewhere]\nbacking = %s\n[node elsewhere]\naddress = 127.0.0.1:7790\n' "$T/b0"
} >"$T/other.conf"
"$WBCTL" config check "$T/other.conf" >"$T/out" 2>&1
rc=$?
if [ "$(hostname)" != elsewhere ]; then
	[ $rc = 0 ] && grep -q 'device paths not checked: this host is not node elsewhere' "$T/out" &&
		pass "op-config-check-other-node" || fail "op-config-check-other-node: exit $rc: $(cat "$T/out")"
fi

# ---------------------------------------------------------------- config check: TLS files
# this host is the node (node-name = hostname), a peer "other"; its
# tls-cert, tls-key and tls-ca checked as a peer will check them
H=$(hostname)
tls_mk() { # NAME CN CA DAYS: $T/NAME.crt and .key for CN signed by CA
	(
		cd "$T" || exit 1
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
			-keyout "$1.key" -out "$1.csr" &&
			printf 'subjectAltName=DNS:%s\n' "$2" >"$1.ext" &&
			openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
				-days "$4" -extfile "$1.ext" -out "$1.crt"
	) >>"$T/openssl.log" 2>&1
}
if command -v openssl >/dev/null 2>&1; then
	(cd "$T" && for ca in ca ca2; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-subj "/CN=$ca" -keyout $ca.key -out $ca.crt || exit 1
	done) >>"$T/openssl.log" 2>&1
	tls_mk good "$H" ca 400
	tls_mk other "other" ca 400
	tls_mk foreign "$H" ca2 400
	tls_mk old "$H" ca -1
	tls_mk soon "$H" ca 10
	truncate -s 64M "$T/l9"
	# tls_check CERT KEY: config check of a file with those, exit code in rc
	tls_check() {
		{
			printf '[global]\nnode-name = %s\ntls-cert = %s\ntls-key = %s\ntls-ca = %s\n' \
				"$H" "$T/$1.crt" "$T/$2.key" "$T/ca.crt"
			printf '[node %s]\naddress = 127.0.0.1:7791\n[node other]\naddress = 127.0.0.1:7792\n' "$H"
			printf '[resource r0]\nbacking = %s\nlog = %s\n' "$T/b0" "$T/l9"
		} >"$T/tls.conf"
		"$WBCTL" config check "$T/tls.conf" >"$T/out" 2>&1
		rc=$?
	}
	tls_check good good
	[ $rc = 0 ] && ! grep -q "tls-" "$T/out" && pass "op-config-check-tls-good" ||
		fail "op-config-check-tls-good: exit $rc: $(cat "$T/out")"
	tls_check good other
	[ $rc = 4 ] && grep -q "\[global\] tls-key: '$T/other.key' is not the key of tls-cert" "$T/out" &&
		pass "op-config-check-tls-key" || fail "op-config-check-tls-key: exit $rc: $(cat "$T/out")"
	tls_check other other
	[ $rc = 4 ] && grep -q "does not name node '$H'" "$T/out" &&
		pass "op-config-check-tls-name" || fail "op-config-check-tls-name: exit $rc: $(cat "$T/out")"
	tls_check foreign foreign
	[ $rc = 4 ] && grep -q "peers will refuse it: unable to get local issuer certificate" "$T/out" &&
		pass "op-config-check-tls-ca" || fail "op-config-check-tls-ca: exit $rc: $(cat "$T/out")"
	tls_check old old
	[ $rc = 4 ] && grep -q "tls-cert: '$T/old.crt' has expired" "$T/out" &&
		pass "op-config-check-tls-expired" || fail "op-config-check-tls-expired: exit $rc: $(cat "$T/out")"
	tls_check soon soon
	[ $rc = 0 ] && grep -q "warning: \[global\] tls-cert: '$T/soon.crt' expires in [0-9]* days" "$T/out" &&
		pass "op-config-check-tls-soon" || fail "op-config-check-tls-soon: exit $rc: $(cat "$T/out")"
else
	skip "op-config-check-tls" "no openssl command"
fi

# ---------------------------------------------------------------- relative -c, SIGHUP
write_conf
(cd "$T" && "$WBREPD" -c "$(basename "$WB_CONF")") >"$T/bg.out" 2>&1 # daemonizes, chdir /
BGPID=$(cat "$T/wbrepd.pid" 2>/dev/null)
if [ -n "$BGPID" ] && is_alive "$BGPID"; then
	track_pid "$BGPID"
	LOW=30% write_conf
	kill -HUP "$BGPID"
	if wait_for 30 eval '[ "$(jget r0 "r[\"settings\"][\"destage_low_pct\"]")" = 30 ]'; then
		pass "op-relative-config-sighup (destage-low 50% -> 30%)"
	else
		fail "op-relative-config-sighup: destage-low $(jget r0 'r["settings"]["destage_low_pct"]') after SIGHUP"
	fi
	kill -TERM "$BGPID"
	wait_exit "$BGPID" 60 || fail "op-relative-config-stop: still running"
else
	fail "op-relative-config-start: $(cat "$T/bg.out")"
fi
finish
