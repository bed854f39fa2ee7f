#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_vm.sh - boot the installed Debian kernel under qemu TCG with
# dm-wbrep.ko and run tests/vm/guest_init.sh inside: dm target create/remove,
# stamped writes + reads (flush, FUA, discard, write-zeroes), daemon killed
# and restarted during writes, netlink permissions, concurrent I/O, hostile
# ring clients, queue timeout, unload.
# Prints one PASS/FAIL line per guest check (from the guest's "WBVM" lines)
# plus "vm-boot". The guest must exit through isa-debug-exit with code 85
# and print "WBVM RESULT PASS"; a panic, a timeout or a missing line fails.
# SKIP (exit 0) when qemu, the kernel image or the headers are missing.
# WB_VM_TIMEOUT (seconds, default 600: TCG at load 8 needed more than 240) bounds the qemu run.
set -u
. "$(dirname "$0")/../lib.sh"
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || skip_all "vm: qemu-system-x86_64 not installed"
command -v busybox >/dev/null || skip_all "vm: busybox-static not installed"
need_tools vm dmsetup cpio
KVER=${KVER:-$(ls -d /lib/modules/*/build 2>/dev/null | sort -V | tail -1 | cut -d/ -f4)}
[ -n "$KVER" ] || skip_all "vm: no kernel headers (linux-headers-amd64)"
KIMG=/boot/vmlinuz-$KVER
[ -r "$KIMG" ] || skip_all "vm: $KIMG missing (linux-image-amd64)"
[ -f /lib/modules/$KVER/modules.dep ] || skip_all "vm: no modules for $KVER"

W=$ROOT/build/vm
mkdir -p "$W"
if ! KVER=$KVER bash kmod/build.sh >"$W/kmod.log" 2>&1; then
	fail "vm-kmod-build: see $W/kmod.log"; tail -20 "$W/kmod.log"; finish
fi
pass "vm-kmod-build"
if ! make -s -j2 build/tests/vm/wbringd build/tests/vm/wbvmtool \
	>"$W/make.log" 2>&1; then
	fail "vm-progs-build: see $W/make.log"; tail -20 "$W/make.log"; finish
fi
# wbrepd (the production daemon) serves the main ring when it builds; the
# test daemon wbringd always goes in (scratch rings, fallback).
progs="build/tests/vm/wbringd build/tests/vm/wbvmtool"
if make -s -j2 build/wbrepd >>"$W/make.log" 2>&1; then
	progs="$progs build/wbrepd"
else
	skip "vm-wbrepd: build/wbrepd does not build (see $W/make.log); the guest uses wbringd"
fi
if ! bash tests/vm/mkinitramfs.sh "$W/initramfs.cpio.gz" "$KVER" kmod/dm-wbrep.ko \
	$progs >"$W/initramfs.log" 2>&1; then
	fail "vm-initramfs: see $W/initramfs.log"; tail -20 "$W/initramfs.log"; finish
fi
rm -f "$W/data.img" "$W/log.img" "$W/back.img"
truncate -s 64M "$W/data.img"
# wbrepd with the wblog engine behind a second ring: log and backing
truncate -s 64M "$W/log.img"
truncate -s 64M "$W/back.img"

timeout --kill-after=10 "${WB_VM_TIMEOUT:-600}" "$qemu" -accel tcg -cpu max -smp 2 -m 256 \
	-nographic -no-reboot -nodefaults -serial stdio -kernel "$KIMG" \
	-initrd "$W/initramfs.cpio.gz" -append "console=ttyS0 panic=-1 quiet oops=panic" \
	-drive file="$W/data.img",format=raw,if=none,id=d0,cache=unsafe \
	-device virtio-blk-pci,drive=d0,serial=data \
	-drive file="$W/log.img",format=raw,if=none,id=d1,cache=unsafe \
	-device virtio-blk-pci,drive=d1,serial=log \
	-drive file="$W/back.img",format=raw,if=none,id=d2,cache=unsafe \
	-device virtio-blk-pci,drive=d2,serial=back \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null >"$W/console.log" 2>&1
rc=$?
# the guest's checks, counted as this script's cases
while read -r verdict text; do
	if [ "$verdict" = PASS ]; then pass "vm-$text"; else fail "vm-$text"; fi
done < <(tr -d '\r' <"$W/console.log" | sed -n 's/^WBVM \(PASS\|FAIL\) /\1 /p')
if [ "$rc" -eq 85 ] && grep -q '^WBVM RESULT PASS' <(tr -d '\r' <"$W/console.log"); then
	pass "vm-boot (guest reported PASS)"
	finish
fi
case $rc in
124|137) why="qemu timed out" ;;
85) why="exit code PASS but no result line" ;;
*) why="qemu exit $rc" ;;
esac
fail "vm-boot: $why, no explicit guest PASS (console: $W/console.log)"
tail -30 "$W/console.log" | tr -d '\r'
finish
