#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# demo.sh - `make demo-single`: wbrep on one node, end to end, on temporary files.
#
# Makes a temp directory with a file-backed log and backing device and a
# configuration, starts wbrepd (wblog engine), attaches the resource with
# nbdfuse over the unix NBD socket plus a loop device, makes an ext4 file
# system, mounts it, writes files and checksums them, runs a short bounded
# fio job with verify on the file system, shows `wbctl status` (human and
# JSON) and the Prometheus metrics, flushes, then unmounts, restarts the
# daemon (SIGTERM, start again: the log is replayed), mounts again and
# verifies the checksums. Tears down only what it started (trap on exit).
# Ends with a line "demo: PASS ..." or "demo: FAIL ..." (then the teardown);
# exit 0 only on PASS.
#
# Needs root, /dev/fuse, nbdfuse, losetup, mkfs.ext4, fio (scripts/deps.sh).
# Environment: WB_DEMO_FIO_SECONDS (default 10), WB_DEMO_SIZE (default 512M),
# WB_DEMO_KEEP=1 keeps the temp directory.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
WBREPD=${WBREPD:-$ROOT/build/wbrepd}
WBCTL_BIN=${WBCTL:-$ROOT/build/wbctl}
FIO_SECS=${WB_DEMO_FIO_SECONDS:-10}
SIZE=${WB_DEMO_SIZE:-512M}

step_no=0
step() { step_no=$((step_no + 1)); printf '\n==> [%d] %s\n' "$step_no" "$*"; }
run() { printf '    $ %s\n' "$*"; "$@"; }
die() {
	echo "demo: FAIL: $*"
	if [ -n "${T:-}" ] && [ -f "$T/wbrepd.log" ]; then
		echo "---- last lines of the wbrepd log:"
		tail -15 "$T/wbrepd.log"
	fi
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (loop devices, mount)"
[ -x "$WBREPD" ] && [ -x "$WBCTL_BIN" ] || die "build/wbrepd or build/wbctl missing (run: make bins)"
[ -e /dev/fuse ] || die "/dev/fuse is missing (modprobe fuse)"
for t in nbdfuse fusermount3 losetup mkfs.ext4 fsck.ext4 fio sha256sum python3; do
	command -v $t >/dev/null || die "$t not installed (run: bash scripts/deps.sh)"
done

T=$(mktemp -d /tmp/wbrep-demo.XXXXXX)
DPID="" FUSEPID="" LOOP=""
teardown() {
	local rc=$?
	trap - EXIT INT TERM
	echo
	echo "==> teardown"
	mountpoint -q "$T/mnt" 2>/dev/null && umount "$T/mnt"
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	mountpoint -q "$T/fuse" 2>/dev/null && fusermount3 -u "$T/fuse"
	if [ -n "$FUSEPID" ]; then
		kill "$FUSEPID" 2>/dev/null
		wait "$FUSEPID" 2>/dev/null
	fi
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	if [ "${WB_DEMO_KEEP:-0}" = 1 ]; then
		echo "    kept $T"
	else
		rm -rf "$T"
		echo "    removed $T"
	fi
	exit $rc
}
trap teardown EXIT
trap 'exit 130' INT TERM

wbctl() { "$WBCTL_BIN" -c "$T/wbrep.conf" "$@"; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_daemon() {
	printf '    $ wbrepd -c %s -f  (log: %s)\n' "$T/wbrep.conf" "$T/wbrepd.log"
	"$WBREPD" -c "$T/wbrep.conf" -f >>"$T/wbrepd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do
		wbctl status r0 2>/dev/null | grep -q '^r0: up' && [ -S "$T/nbd.sock" ] && {
			echo "    wbrepd running, pid $DPID"
			return 0
		}
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	die "wbrepd did not come up"
}

attach() {
	mkdir -p "$T/fuse" "$T/mnt"
	printf '    $ nbdfuse %s --unix %s &\n' "$T/fuse/disk" "$T/nbd.sock"
	nbdfuse "$T/fuse/disk" --unix "$T/nbd.sock" >>"$T/nbdfuse.log" 2>&1 &
	FUSEPID=$!
	for _ in $(seq 100); do [ -e "$T/fuse/disk" ] && break; sleep 0.1; done
	[ -e "$T/fuse/disk" ] || die "nbdfuse did not expose $T/fuse/disk"
	# -b 4096: the export's minimum block size is 4 KiB (docs/nbd.md)
	LOOP=$(losetup -b 4096 -f --show "$T/fuse/disk") || die "losetup failed"
	echo "    $ losetup -b 4096 -f --show $T/fuse/disk  ->  $LOOP"
}

detach() {
	run umount "$T/mnt" || die "umount failed"
	run losetup -d "$LOOP" || die "losetup -d failed"
	LOOP=""
	# losetup -d only marks the loop device for release: the kernel drops
	# its reference to the FUSE file a moment later (seconds on a loaded
	# host), and fusermount3 -u says "busy" until it has. Wait for that.
	for _ in $(seq 100); do
		[ -z "$(losetup -j "$T/fuse/disk" 2>/dev/null)" ] && break
		sleep 0.1
	done
	local lazy=""
	for i in $(seq 20); do
		fusermount3 -u "$T/fuse" 2>>"$T/nbdfuse.log" && break
		if [ "$i" -eq 20 ]; then
			# still busy after 10 s (a loop device released late on a
			# loaded host: seen once in CI): detach the mount now, the
			# kernel ends it when the last reference goes; everything
			# was flushed already (step before)
			fusermount3 -u -z "$T/fuse" 2>>"$T/nbdfuse.log" ||
				die "fusermount3 -u failed (busy for 10 s, lazy too; see $T/nbdfuse.log)"
			lazy=" -z (busy for 10 s: lazy)"
			break
		fi
		sleep 0.5
	done
	echo "    $ fusermount3 -u$lazy $T/fuse"
	# nbdfuse ends with the mount (bounded: it was told to go)
	for _ in $(seq 300); do kill -0 "$FUSEPID" 2>/dev/null || break; sleep 0.1; done
	kill "$FUSEPID" 2>/dev/null
	wait "$FUSEPID" 2>/dev/null
	FUSEPID=""
}

echo "wbrep demo: one node, wblog write-back engine, NBD export over a unix socket"
echo "working directory: $T"

step "backing device and log device as sparse files ($SIZE backing, 128M log)"
run truncate -s "$SIZE" "$T/backing"
run truncate -s 128M "$T/log"

step "configuration file"
MPORT=$(free_port)
cat >"$T/wbrep.conf" <<EOF
[global]
control-socket = $T/ctl.sock
pid-file = $T/wbrepd.pid
node-name = demo
log-level = info
metrics-listen = 127.0.0.1:$MPORT

[resource r0]
engine = wblog
backing = $T/backing
log = $T/log
nbd-socket = $T/nbd.sock
ram-buffer = 64M
EOF
sed 's/^/    | /' "$T/wbrep.conf"
run "$WBCTL_BIN" config check "$T/wbrep.conf" || die "config check failed"

step "start wbrepd (the empty log is formatted on first start)"
start_daemon

step "attach the export: nbdfuse (NBD over the unix socket) + a loop device"
attach

step "make an ext4 file system and mount it"
run mkfs.ext4 -q -F "$LOOP" || die "mkfs.ext4 failed"
run mount "$LOOP" "$T/mnt" || die "mount failed"
df -h "$T/mnt" | sed 's/^/    /'

step "write files and record their checksums"
mkdir -p "$T/mnt/files"
for i in $(seq 1 16); do
	head -c $((i * 97 * 1024)) /dev/urandom >"$T/mnt/files/random-$i.bin"
done
cp -r "$ROOT/daemon" "$ROOT/conf" "$T/mnt/files/"
(cd "$T/mnt" && find files -type f -print0 | sort -z | xargs -0 sha256sum) >"$T/sums"
echo "    $(wc -l <"$T/sums") files, $(du -sh "$T/mnt/files" | cut -f1) written, checksums in $T/sums"

step "fio: ${FIO_SECS}s random read/write with crc32c verify on the mounted file system"
printf '    $ fio --name=demo --directory=%s --rw=randrw --bs=4k --size=64M --direct=1 '\
'--ioengine=libaio --iodepth=16 --verify=crc32c --runtime=%s\n' "$T/mnt" "$FIO_SECS"
if ! timeout $((FIO_SECS + 120)) fio --name=demo --directory="$T/mnt" --rw=randrw --bs=4k \
	--size=64M --direct=1 --ioengine=libaio --iodepth=16 --verify=crc32c --do_verify=1 \
	--verify_fatal=1 --runtime="$FIO_SECS" --output="$T/fio.out" >/dev/null 2>&1 ||
	! grep -q 'err= 0' "$T/fio.out"; then
	sed 's/^/    /' "$T/fio.out" 2>/dev/null | tail -20
	die "fio reported an error"
fi
grep -E '^ +(read|write):|verify' "$T/fio.out" | sed 's/^ */    fio /'
rm -f "$T/mnt"/demo.*

step "wbctl status (human)"
printf '    $ wbctl status\n'
wbctl status | sed 's/^/    /'
[ "${PIPESTATUS[0]}" -eq 0 ] || die "wbctl status failed"

step "wbctl status --json (stable schema, docs/wbctl.md)"
printf '    $ wbctl status --json\n'
wbctl status --json >"$T/status.json" || die "wbctl status --json failed"
sed 's/^/    /' "$T/status.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["resources"][0];
assert r["name"]=="r0" and r["state"]=="up", r
print("    JSON ok: %s is %s, %d bytes written, %d dirty" % (r["name"], r["state"],
      r["io"]["bytes_written"], r["dirty_bytes"]))' "$T/status.json" || die "status JSON malformed"

step "Prometheus metrics (http://127.0.0.1:$MPORT/metrics, first lines)"
python3 - "$MPORT" <<'EOF' || die "metrics endpoint not reachable"
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read()
lines = [l for l in body.decode().splitlines() if l and not l.startswith("#")]
for l in lines[:8]:
    print("    " + l)
print("    ... %d samples" % len(lines))
EOF

step "sync, then wbctl flush r0 (every completed write is durable in the log)"
run sync
run wbctl flush r0 || die "wbctl flush failed"

step "unmount, detach, stop wbrepd with SIGTERM (clean shutdown)"
detach
printf '    $ kill -TERM %s\n' "$DPID"
kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=""
[ $rc -eq 0 ] || die "wbrepd exited with $rc on SIGTERM"
tail -1 "$T/wbrepd.log" | sed 's/^/    log: /'

step "start wbrepd again (the log is recovered), attach, fsck, mount"
start_daemon
grep 'recovered' "$T/wbrepd.log" | tail -1 | sed 's/^/    log: /'
attach
run fsck.ext4 -fn "$LOOP" >"$T/fsck.log" 2>&1 || {
	cat "$T/fsck.log"
	die "fsck.ext4 found errors"
}
echo "    fsck.ext4: clean"
run mount "$LOOP" "$T/mnt" || die "mount failed"

step "verify the checksums after the restart"
echo 3 >/proc/sys/vm/drop_caches
if ! (cd "$T/mnt" && sha256sum --quiet -c "$T/sums"); then
	die "checksum mismatch after restart"
fi
echo "    $(wc -l <"$T/sums") files: all checksums match"

step "final status"
wbctl status r0 | sed 's/^/    /'
detach

echo
echo "demo: PASS (ext4 on wbrep r0: $(wc -l <"$T/sums") files and fio verify intact across a restart)"
