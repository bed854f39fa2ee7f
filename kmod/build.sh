#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build.sh - `make kmod`: build kmod/dm-wbrep.ko against the installed kernel
# headers. KVER selects the kernel (default: the running kernel if its build
# tree exists, else the newest /lib/modules/*/build). Prints the .ko path.
set -eu
cd "$(dirname "$0")"
if [ -z "${KVER:-}" ]; then
	if [ -d "/lib/modules/$(uname -r)/build" ]; then
		KVER=$(uname -r)
	else
		KVER=$(ls -d /lib/modules/*/build 2>/dev/null | sort -V | tail -1 | cut -d/ -f4)
	fi
fi
if [ -z "$KVER" ] || [ ! -d "/lib/modules/$KVER/build" ]; then
	echo "kmod/build.sh: no kernel headers found (apt-get install linux-headers-amd64)" >&2
	exit 2
fi
make -s -C "/lib/modules/$KVER/build" M="$PWD" modules >&2
echo "$PWD/dm-wbrep.ko"
