#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# mkinitramfs.sh OUT.cpio.gz KVER KO PROG... - build the VM test's initramfs:
# busybox-static (as /bin/sh and every applet), dmsetup, the given programs
# with the shared libraries ldd lists (and the ELF loader), the kernel
# modules the guest needs (virtio-pci, virtio_blk, dm-mod, with their
# dependencies from /lib/modules/KVER/modules.dep, listed in load order in
# /modules.load), dm-wbrep.ko (KO) and tests/vm/guest_init.sh as /init.
set -eu
out=$1 kver=$2 ko=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mdir=/lib/modules/$kver
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,lib/modules,lib64,mnt}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"

copy_prog() { # $1 = program path, copied to /bin with its libraries
	local lib
	cp "$1" "$root/bin/"
	for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
copy_prog "$(command -v dmsetup)"
for p in "$@"; do copy_prog "$p"; done

# modules in dependency order
declare -A seen=()
order=()
add_mod() { # $1 = path relative to $mdir, e.g. kernel/drivers/md/dm-mod.ko
	local m=$1 d
	[ -n "${seen[$m]:-}" ] && return 0
	seen[$m]=1
	for d in $(grep "^$m:" "$mdir/modules.dep" | cut -d: -f2); do add_mod "$d"; done
	order+=("$m")
}
for name in virtio_pci virtio_blk dm-mod; do
	m=$(grep -E "^kernel/.*/$name\.ko(\.xz|\.zst|\.gz)?:" "$mdir/modules.dep" | head -1 | cut -d: -f1)
	if [ -z "$m" ]; then
		grep -qE "/$name\.ko" "$mdir/modules.builtin" && continue
		echo "mkinitramfs: module $name not found for $kver" >&2; exit 1
	fi
	add_mod "$m"
done
: >"$root/modules.load"
for m in "${order[@]}"; do
	b=$(basename "$m")
	case "$b" in
	*.xz) xz -dc "$mdir/$m" >"$root/lib/modules/${b%.xz}"; b=${b%.xz} ;;
	*.zst) zstd -qdc "$mdir/$m" >"$root/lib/modules/${b%.zst}"; b=${b%.zst} ;;
	*.gz) gzip -dc "$mdir/$m" >"$root/lib/modules/${b%.gz}"; b=${b%.gz} ;;
	*) cp "$mdir/$m" "$root/lib/modules/$b" ;;
	esac
	echo "$b" >>"$root/modules.load"
done
cp "$ko" "$root/lib/modules/dm-wbrep.ko"
cp "$here/guest_init.sh" "$root/init"
chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
