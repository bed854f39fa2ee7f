#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_daemon.sh - wbrepd as a daemon: without -f it forks, the parent
# exits 0 only once startup finished, the pid file holds the daemon's pid,
# messages go to syslog (facility daemon, ident wbrepd, with levels),
# SIGHUP reload and SIGTERM clean shutdown are logged there, the pid file
# and sockets are removed. syslog is captured without touching the host:
# wbrepd runs in a private mount namespace whose /dev is a tmpfs holding the
# few device nodes it needs and /dev/log -> a datagram socket of this test.
# Also: --check and a bad configuration (exit 1, file:line on stderr), a
# daemon that cannot start (parent exits non-zero), a second daemon with
# its own pid file on the same devices (refused, nothing of the first one
# touched), `wbengine format --force` on the live log (refused).
set -u
. "$(dirname "$0")/../lib.sh"

need_bins daemon "$WBREPD"
tmpdir daemon
# the forked daemon is not our child: stop it through its pid file
on_cleanup 'p=$(cat "$T/wbrepd.pid") && is_alive "$p" && kill -TERM "$p" && wait_exit "$p" 10'

truncate -s 64M "$T/backing"
truncate -s 32M "$T/log"
cat >"$T/wbrep.conf" <<EOF
[global]
pid-file = $T/wbrepd.pid
control-socket = $T/ctl.sock
node-name = dnode
log-level = info

[resource r0]
engine = wblog
backing = $T/backing
log = $T/log
nbd-socket = $T/nbd.sock
EOF

# ---- configuration errors
out=$("$WBREPD" -c "$T/wbrep.conf" --check 2>&1)
[ $? -eq 0 ] && grep -q 'OK' <<<"$out" && pass "daemon-check-ok" || fail "daemon-check-ok: $out"
printf '[global]\nlog-level = loud\n[resource r0]\nbackin = /x\n' >"$T/bad.conf"
out=$("$WBREPD" -c "$T/bad.conf" -f 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "$T/bad.conf:2: \[global\] log-level: invalid value 'loud'" <<<"$out" &&
	grep -q "$T/bad.conf:4: \[resource r0\] backin: unknown key" <<<"$out"; then
	pass "daemon-bad-config"
else
	fail "daemon-bad-config: exit $rc: $out"
fi
out=$("$WBREPD" -c "$T/nosuch.conf" -f 2>&1)
[ $? -eq 1 ] && grep -q "nosuch.conf" <<<"$out" && pass "daemon-missing-config" ||
	fail "daemon-missing-config: $out"
out=$("$WBREPD" --bogus 2>&1)
[ $? -eq 2 ] && grep -q '^usage: wbrepd' <<<"$out" && pass "daemon-usage" || fail "daemon-usage: $out"

# ---- daemon mode + syslog in a private mount namespace
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! command -v python3 >/dev/null; then
	echo "SKIP daemon-syslog: needs root, unshare and python3"
	finish
fi
python3 - "$T/syslog.sock" "$T/syslog.txt" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    for _ in range(100000):  # bounded
        f.write(s.recv(8192).decode(errors="replace") + "\n")
        f.flush()
EOF
track_pid $!
wait_for 30 test -S "$T/syslog.sock"

# run_ns CMD...: CMD in a mount namespace with /dev/log -> our socket
run_ns() {
	unshare -m --propagation private bash -c '
		T=$1; shift
		mkdir -p "$T/realdev" && mount --rbind /dev "$T/realdev" &&
		mount -t tmpfs -o mode=0755 wbrep-dev /dev || exit 97
		for n in null zero urandom random; do
			touch "/dev/$n" && mount --bind "$T/realdev/$n" "/dev/$n" || exit 97
		done
		ln -s "$T/syslog.sock" /dev/log
		exec "$@"' ns "$T" "$@"
}

run_ns "$WBREPD" -c "$T/wbrep.conf" >"$T/parent.out" 2>&1
rc=$?
if [ $rc -eq 97 ]; then
	echo "SKIP daemon-syslog: cannot set up a mount namespace here"
	finish
fi
DP=$(cat "$T/wbrepd.pid" 2>/dev/null)
if [ $rc -eq 0 ] && [ -n "$DP" ] && is_alive "$DP" && [ -S "$T/ctl.sock" ]; then
	pass "daemon-forks-ready (parent exit 0, pid $DP)"
else
	fail "daemon-forks-ready: parent exit $rc, pid file '$DP': $(cat "$T/parent.out")"
	exit 1
fi
[ "$(awk '{print $1}' /proc/"$DP"/stat 2>/dev/null)" = "$DP" ] &&
	grep -q "wbrepd" /proc/"$DP"/comm && pass "daemon-pidfile-pid" || fail "daemon-pidfile-pid"
[ "$(ps -o sid= -p "$DP" | tr -d ' ')" = "$DP" ] && pass "daemon-setsid" ||
	fail "daemon-setsid: not a session leader"
[ ! -s "$T/parent.out" ] && pass "daemon-quiet-parent" ||
	fail "daemon-quiet-parent: $(cat "$T/parent.out")"
"$WBCTL" -s "$T/ctl.sock" status r0 | grep -q '^r0: up' && pass "daemon-serves" ||
	fail "daemon-serves: wbctl status r0 not up"
# second instance refused (the lock is held by the daemon, not the parent)
out=$("$WBREPD" -c "$T/wbrep.conf" -f 2>&1)
[ $? -ne 0 ] && grep -q "another wbrepd (pid $DP)" <<<"$out" && pass "daemon-lock-held" ||
	fail "daemon-lock-held: $out"
# a second daemon with its own pid file and control socket on the same
# devices fails and changes nothing: log, backing, NBD socket of the first
sed -e "s|^pid-file = .*|pid-file = $T/two.pid|" -e "s|^control-socket = .*|control-socket = $T/two.sock|" \
	"$T/wbrep.conf" >"$T/two.conf"
sum_before=$(cat "$T/log" "$T/backing" | sha256sum)
sock_before=$(stat -c %i "$T/nbd.sock")
out=$(timeout 60 "$WBREPD" -c "$T/two.conf" -f 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "$T/backing: in use: locked by another program (pid $DP)" <<<"$out" &&
	grep -q "devices in use by another program; not starting" <<<"$out" &&
	[ "$(cat "$T/log" "$T/backing" | sha256sum)" = "$sum_before" ] &&
	[ "$(stat -c %i "$T/nbd.sock" 2>/dev/null)" = "$sock_before" ] &&
	[ ! -e "$T/two.pid" ] && [ ! -e "$T/two.sock" ] &&
	"$WBCTL" -s "$T/ctl.sock" status r0 | grep -q '^r0: up' &&
	nbd_ok=$(python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(8)==b"NBDMAGIC")' "$T/nbd.sock") &&
	[ "$nbd_ok" = True ]; then
	pass "daemon-second-instance-refused"
else
	fail "daemon-second-instance-refused: exit $rc: $(tr '\n' ' ' <<<"$out")"
fi
# the offline tool cannot format a live log either
out=$("$ROOT/build/wbengine" format --log "$T/log" --backing "$T/backing" --force 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "in use: locked by another program (pid $DP)" <<<"$out" &&
	[ "$(cat "$T/log" "$T/backing" | sha256sum)" = "$sum_before" ]; then
	pass "daemon-wbengine-format-refused"
else
	fail "daemon-wbengine-format-refused: exit $rc: $(tr '\n' ' ' <<<"$out")"
fi
kill -HUP "$DP"
wait_log 30 "$T/syslog.txt" 'reload: configuration applied'
kill -TERM "$DP"
wait_exit "$DP" 60 || fail "daemon-sigterm: still running 60 s after SIGTERM"
wait_log 30 "$T/syslog.txt" 'exiting \(clean\)'
# <30> = facility daemon (3) * 8 + info (6)
if grep -qE "^<30>.*wbrepd\[$DP\]: .*started: 1 resources configured, 1 up" "$T/syslog.txt"; then
	pass "daemon-syslog-info"
else
	fail "daemon-syslog-info: $(head -3 "$T/syslog.txt" | tr '\n' ' ')"
fi
grep -qE "^<30>.*wbrepd\[$DP\]: .*reload: configuration applied" "$T/syslog.txt" &&
	pass "daemon-syslog-sighup" || fail "daemon-syslog-sighup"
grep -qE "^<30>.*wbrepd\[$DP\]: .*exiting \(clean\)" "$T/syslog.txt" &&
	[ ! -e "$T/wbrepd.pid" ] && [ ! -e "$T/ctl.sock" ] && [ ! -e "$T/nbd.sock" ] &&
	pass "daemon-sigterm-clean" || fail "daemon-sigterm-clean: $(tail -2 "$T/syslog.txt")"

# a daemon that cannot start: parent exits non-zero, reason in syslog
cat >"$T/broken.conf" <<EOF
[global]
pid-file = $T/wbrepd.pid
control-socket = $T/nodir/deeper/ctl.sock
node-name = dnode

[resource r0]
engine = passthrough
backing = $T/backing
EOF
run_ns "$WBREPD" -c "$T/broken.conf" >"$T/parent.out" 2>&1
rc=$?
wait_log 30 "$T/syslog.txt" '^<27>.*wbrepd.*control socket'
if [ $rc -ne 0 ] && grep -qE '^<27>.*wbrepd.*control socket' "$T/syslog.txt"; then
	pass "daemon-start-failure (parent exit $rc)"
else
	fail "daemon-start-failure: parent exit $rc; syslog: $(tail -2 "$T/syslog.txt" | tr '\n' ' ')"
fi
finish
