#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# guest_init.sh - /init of the VM test's initramfs (tests/vm/test_vm.sh).
# Loads the modules, runs every check against dm-wbrep with wbrepd (or, if
# it is not in the initramfs, the test daemon wbringd) serving the ring, prints "WBVM PASS|FAIL <check>" per check and "WBVM RESULT PASS"
# only when all passed, then leaves qemu through isa-debug-exit (port 0xf4,
# value 0x2a -> qemu exit code 85). Anything else is a failure on the host.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /dev/mapper
export DM_DISABLE_UDEV=1
FAILED=0
pass() { echo "WBVM PASS $1"; }
fail() { echo "WBVM FAIL $1: $2"; FAILED=1; }
check() { # name cmd...
	n=$1; shift
	if "$@" >/tmp/out 2>&1; then pass "$n"; else fail "$n" "$(tail -3 /tmp/out | tr '\n' ' ')"; fi
}
wait_ready() { # log file: wbringd prints "ready", wbrepd logs the attach
	i=0
	while [ $i -lt 100 ]; do
		grep -qE '^ready|session [0-9]+ attached' "$1" 2>/dev/null && return 0
		usleep 100000; i=$((i + 1))
	done
	return 1
}
alive() { # pid: running and not a zombie
	[ -r /proc/$1/status ] && ! grep -q '^State:.*Z' /proc/$1/status
}
wait_pid() { # pid [tenths of a second, default 300]: bounded wait, status of pid
	i=0
	while alive $1 && [ $i -lt ${2:-300} ]; do usleep 100000; i=$((i + 1)); done
	if alive $1; then
		echo "pid $1 still running, killing it" >&2
		kill -9 $1
		wait $1 2>/dev/null
		return 124
	fi
	wait $1
}
stat_of() { # device key -> value from dmsetup status
	dmsetup status "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
finish() {
	dmesg >/tmp/dmesg.txt
	if grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace|list_del corruption' \
		/tmp/dmesg.txt >/tmp/bad; then
		fail dmesg-clean "$(head -3 /tmp/bad | tr '\n' ' ')"
		tail -40 /tmp/dmesg.txt
	else
		pass dmesg-clean
	fi
	# the debug-exit port ends qemu at once: give the serial console time
	# to send the result line first (a run lost it: exit code PASS, no
	# "dmesg-clean" nor "RESULT" line on the host's console log)
	if [ $FAILED -eq 0 ]; then
		echo "WBVM RESULT PASS"
		usleep 500000
		printf '\052' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	else
		echo "WBVM RESULT FAIL"
		usleep 500000
		printf '\001' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	fi
	poweroff -f
}

for m in $(cat /modules.load); do insmod /lib/modules/$m || fail insmod "$m"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
check load-module insmod /lib/modules/dm-wbrep.ko
[ -c /dev/wbrep-ctl ] || fail ctl-device "/dev/wbrep-ctl missing"
DEV=/dev/vda
SZ=$(blockdev --getsz $DEV)
check create dmsetup create wb0 --table "0 $SZ wbrep $DEV r0 queue_timeout_ms=20000"
check bad-table sh -c "! dmsetup create bad --table '0 $SZ wbrep $DEV r0' 2>/dev/null"
check bad-option sh -c "! dmsetup create bad --table '0 $SZ wbrep $DEV r9 nslots=3' 2>/dev/null"
# The production daemon wbrepd serves r0 when it is in the initramfs, the
# test daemon wbringd otherwise (test_vm.sh says which).
if command -v wbrepd >/dev/null; then
	mkdir -p /etc
	cat >/etc/wbrep.conf <<EOF
[global]
control-socket = /tmp/wbrepd.sock
pid-file = /tmp/wbrepd.pid
node-name = vm
log-level = info

[resource r0]
engine = passthrough
backing = $DEV
ring = r0
EOF
	start_daemon() { wbrepd -c /etc/wbrep.conf -f >"$1" 2>&1 & }
	echo "WBVM INFO daemon: wbrepd"
else
	start_daemon() { wbringd -r r0 -e passthrough -b $DEV >"$1" 2>&1 & }
	echo "WBVM INFO daemon: wbringd"
fi
start_daemon /tmp/d1.log
D1=$!
check daemon-start wait_ready /tmp/d1.log
check attach-busy wbvmtool busy r0
M=/dev/mapper/wb0
check write wbvmtool write $M 0 256 1
check flush wbvmtool flush $M
check write-fua wbvmtool write $M 256 16 2 fua
check verify wbvmtool verify $M 0 256 1
check verify-fua wbvmtool verify $M 256 16 2
check verify-lower wbvmtool verify $DEV 0 256 1
check discard sh -c "wbvmtool write $M 300 16 3 && wbvmtool discard $M 300 8 && wbvmtool verify $M 308 8 3"
check zeroout sh -c "wbvmtool zeroout $M 308 8 && wbvmtool zero $M 308 8 && wbvmtool verify $M 0 256 1"
check suspend-resume sh -c "dmsetup suspend wb0 && dmsetup resume wb0 && wbvmtool verify $M 0 16 1"
check status-table sh -c "dmsetup table wb0 | grep -q 'wbrep .* r0 queue_timeout_ms=20000'"
check slot-cap sh -c "d=\$(grep -l '^wb0\$' /sys/block/dm-*/dm/name | cut -d/ -f4) &&
	[ \$(cat /sys/block/\$d/queue/max_sectors_kb) -le 128 ] &&
	[ \$(cat /sys/block/\$d/queue/logical_block_size) -eq 4096 ]"
# 2 MiB through the page cache: dm splits it to the 128 KiB slot size
check big-io sh -c "dd if=/dev/urandom of=/tmp/big bs=1M count=2 2>/dev/null &&
	dd if=/tmp/big of=$M bs=1M seek=16 conv=fsync 2>/dev/null &&
	echo 3 >/proc/sys/vm/drop_caches &&
	dd if=$M bs=1M skip=16 count=2 2>/dev/null | cmp - /tmp/big &&
	dd if=$DEV bs=1M skip=16 count=2 2>/dev/null | cmp - /tmp/big"

# daemon restart during writes: no application error, data intact
# The daemon is stopped first, so the writer's bio is certainly in flight
# (held in the ring) when it dies, whatever the speed of this machine.
wbvmtool write $M 1024 3000 4 >/tmp/w.log 2>&1 &
W=$!
usleep 300000
kill -STOP $D1
usleep 200000
if kill -0 $W 2>/dev/null; then pass restart-writer-blocked; else fail restart-writer-blocked "writer finished before the daemon was stopped"; fi
kill -9 $D1
wait $D1 2>/dev/null
usleep 500000
start_daemon /tmp/d2.log
D2=$!
check daemon-restart wait_ready /tmp/d2.log
if wait_pid $W; then pass restart-no-app-error; else fail restart-no-app-error "$(cat /tmp/w.log)"; fi
check restart-data-intact wbvmtool verify $M 1024 3000 4
R=$(stat_of wb0 reissued)
if [ "${R:-0}" -ge 1 ]; then pass restart-reissued; else fail restart-reissued "reissued=$R"; fi
# generic netlink status agrees with dmsetup status
G=$(wbringd -S r0 2>&1)
if echo "$G" | grep -q "reissued=$R\$" && echo "$G" | grep -q 'session=[1-9]' &&
	echo "$G" | grep -q "dev_sectors=$SZ "; then
	pass genl-status
else
	fail genl-status "$G (dmsetup: reissued=$R)"
fi
check genl-status-unknown sh -c "! wbringd -S nosuch 2>/dev/null"
# generic netlink needs CAP_NET_ADMIN: status (doit and dump) and joining
# "events" work with it and fail with EPERM for uid 0 without it
check genl-admin wbvmtool genl r0 admin
check genl-nocap-eperm wbvmtool genl r0 nocap

# concurrent posters and reapers (slots filled and drained outside the ring
# lock): four writers and two readers at once, then every block verified
P=""
for k in 0 1 2 3; do
	wbvmtool write $M $((4096 + k * 512)) 512 $((10 + k)) >/tmp/pw$k.log 2>&1 &
	P="$P $!"
done
for k in 0 1; do
	wbvmtool verify $M 1024 3000 4 >/tmp/pr$k.log 2>&1 &
	P="$P $!"
done
PF=0
for p in $P; do wait_pid $p 600 || PF=1; done
if [ $PF -eq 0 ]; then pass parallel-io; else fail parallel-io "$(cat /tmp/pw*.log /tmp/pr*.log | head -3 | tr '\n' ' ')"; fi
check parallel-verify sh -c "for k in 0 1 2 3; do wbvmtool verify $M \$((4096 + k * 512)) 512 \$((10 + k)) || exit 1; done"

# hostile clients on a scratch target: each is fenced, the kernel survives,
# the held read goes to the next session
check create-scratch dmsetup create hx --table "0 4096 wbrep $DEV hx"
for mode in badslot free toofar backwards sqwrite; do
	check hostile-$mode wbvmtool hostile hx $mode
done
wbvmtool zero /dev/mapper/hx 0 1 >/tmp/z.log 2>&1 &
Z=$!
check hostile-stale wbvmtool hostile hx stale
check hostile-rsvd wbvmtool hostile hx rsvd reissue
check hostile-reuse wbvmtool hostile hx reuse reissue
if wait_pid $Z; then pass hostile-app-ok; else fail hostile-app-ok "$(cat /tmp/z.log)"; fi
F=$(stat_of hx fences)
if [ "${F:-0}" -eq 7 ]; then pass hostile-fence-count; else fail hostile-fence-count "fences=$F"; fi
N=$(dmesg | grep -c 'fenced')
if [ "$N" -ge 1 ]; then pass fence-logged; else fail fence-logged "no fence message"; fi
check hostile-then-good sh -c "wbringd -r hx -e ram -s 2097152 >/tmp/d3.log 2>&1 & P=\$!; \
	wbvmtool write /dev/mapper/hx 0 8 5 && wbvmtool verify /dev/mapper/hx 0 8 5; r=\$?; \
	kill \$P; wait \$P; exit \$r"

# noflush suspend with a bio held and no daemon: the bio goes back to dm,
# suspend returns at once; after resume a daemon serves it
wbvmtool zero /dev/mapper/hx 0 1 >/tmp/z2.log 2>&1 &
Z2=$!
usleep 300000
check suspend-noflush-nodaemon sh -c "dmsetup suspend --noflush hx && dmsetup resume hx"
wbringd -r hx -e ram -s 2097152 >/tmp/d4.log 2>&1 &
D4=$!
if wait_pid $Z2 100; then pass held-io-after-suspend; else fail held-io-after-suspend "$(cat /tmp/z2.log)"; fi
kill $D4
wait_pid $D4 50

# no daemon: I/O fails after queue_timeout_ms
check create-timeout dmsetup create to --table "0 4096 wbrep $DEV t0 queue_timeout_ms=300"
check timeout-eio sh -c "! wbvmtool zero /dev/mapper/to 0 1"
T=$(stat_of to timeouts)
if [ "${T:-0}" -ge 1 ]; then pass timeout-count; else fail timeout-count "timeouts=$T"; fi

# removal with and without a daemon attached, then unload
check remove-attached dmsetup remove wb0
if command -v wbrepd >/dev/null; then
	# wbrepd stays up, waiting for the ring to come back; SIGTERM is clean
	i=0
	while ! grep -q 'session [0-9]* ended' /tmp/d2.log && [ $i -lt 50 ]; do
		usleep 100000; i=$((i + 1))
	done
	if alive $D2 && grep -q 'session [0-9]* ended' /tmp/d2.log; then
		pass daemon-saw-removal
	else
		fail daemon-saw-removal "$(tail -3 /tmp/d2.log | tr '\n' ' ')"
	fi
	# the target comes back: wbrepd attaches again (netlink event or retry)
	check recreate dmsetup create wb0 --table "0 $SZ wbrep $DEV r0 queue_timeout_ms=20000"
	i=0
	while [ "$(grep -c 'session [0-9]* attached' /tmp/d2.log)" -lt 2 ] && [ $i -lt 50 ]; do
		usleep 100000; i=$((i + 1))
	done
	check reattach-recreated wbvmtool verify $M 0 256 1
	if grep -q 'target created (netlink event)' /tmp/d2.log; then
		pass reattach-by-event
	else
		fail reattach-by-event "$(tail -3 /tmp/d2.log | tr '\n' ' ')"
	fi
	check remove-again dmsetup remove wb0
	kill -TERM $D2
	wait_pid $D2 100
	RC=$?
	if [ $RC -eq 0 ]; then pass daemon-clean-exit; else fail daemon-clean-exit "exit $RC"; fi
else
	wait_pid $D2 100
	RC=$?
	if [ $RC -eq 3 ]; then pass daemon-saw-removal; else fail daemon-saw-removal "exit $RC"; fi
fi
# wblog behind a ring (wbrepd's second instance, ring r1, log /dev/vdb,
# backing /dev/vdc): the io loop puts each write's payload into the RAM
# buffer's pages; stamped data survives a kill -9 (recovery from the log)
if command -v wbrepd >/dev/null && [ -b /dev/vdb ] && [ -b /dev/vdc ]; then
	cat >/etc/wbrep-log.conf <<EOF
[global]
control-socket = /tmp/wbrepd-log.sock
pid-file = /tmp/wbrepd-log.pid
node-name = vm
log-level = info

[resource r1]
engine = wblog
backing = /dev/vdc
log = /dev/vdb
ram-buffer = 16M
ring = r1
EOF
	M1=/dev/mapper/wb1
	check log-create dmsetup create wb1 --table "0 65536 wbrep $DEV r1 queue_timeout_ms=20000"
	wbrepd -c /etc/wbrep-log.conf -f >/tmp/d5.log 2>&1 &
	D5=$!
	check log-daemon-start wait_ready /tmp/d5.log
	check log-write wbvmtool write $M1 0 256 5
	check log-big-write sh -c "dd if=/dev/urandom of=/tmp/big1 bs=1M count=2 2>/dev/null &&
		dd if=/tmp/big1 of=$M1 bs=1M seek=4 oflag=direct 2>/dev/null"
	check log-flush wbvmtool flush $M1
	check log-verify wbvmtool verify $M1 0 256 5
	kill -9 $D5
	wait $D5 2>/dev/null
	wbrepd -c /etc/wbrep-log.conf -f >/tmp/d6.log 2>&1 &
	D6=$!
	check log-daemon-restart wait_ready /tmp/d6.log
	check log-verify-after-kill wbvmtool verify $M1 0 256 5
	check log-big-after-kill sh -c "dd if=$M1 bs=1M skip=4 count=2 iflag=direct 2>/dev/null |
		cmp - /tmp/big1"
	check log-write-again wbvmtool write $M1 512 64 6
	check log-remove dmsetup remove wb1
	kill -TERM $D6
	wait_pid $D6 100
	RC=$?
	if [ $RC -eq 0 ]; then pass log-daemon-clean-exit; else fail log-daemon-clean-exit "exit $RC: $(tail -3 /tmp/d6.log | tr '\n' ' ')"; fi
	# the close logs how many writes the io loop put into pages
	if grep -qE 'writes \([1-9][0-9]* copied into RAM-buffer pages by an io loop\)' /tmp/d6.log; then
		pass log-paged-on-io-loop
	else
		fail log-paged-on-io-loop "$(grep 'closing:' /tmp/d6.log | tr '\n' ' ')"
	fi
fi
check remove-scratch dmsetup remove hx
check remove-timeout dmsetup remove to
check unload rmmod dm_wbrep
finish
