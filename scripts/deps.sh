#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# deps.sh - install every package wbrep needs to build, test, bench and demo.
# Idempotent: only packages that are missing are installed; a second run is a
# no-op. `make test`, `make demo` and `make bench` call it.
#
#   scripts/deps.sh           build + test + demo dependencies (incl. qemu)
#   scripts/deps.sh --check   exit 1 if anything is missing, install nothing
set -euo pipefail

PKGS=(
	build-essential pkg-config git ca-certificates
	liburing-dev libcmocka-dev fio libisal-dev
	libevent-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev openssl
	libnl-3-dev libnl-genl-3-dev
	corosync libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev
	libcorosync-common-dev
	pacemaker pacemaker-cli-utils resource-agents crmsh libxml2-utils jq
	libnbd-bin nbdkit qemu-utils fuse3 libfuse3-dev
	iproute2 nftables e2fsprogs util-linux kmod procps psmisc
	clang llvm clang-format
	qemu-system-x86 busybox-static cpio dmsetup
	linux-image-amd64 linux-headers-amd64
	iperf3 socat python3
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done

if [ "${1:-}" = "--check" ]; then
	[ ${#missing[@]} -eq 0 ] && exit 0
	echo "missing packages: ${missing[*]}" >&2
	exit 1
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
stamp=/var/lib/apt/periodic/wbrep-update-stamp
if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
	apt-get update -q
	mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"
