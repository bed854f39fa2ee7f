#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_install.sh - `make install DESTDIR=... PREFIX=/usr` puts wbrepd,
# wbctl, wbengine and the systemd unit where they belong, executable; the
# unit has the expected Type/ExecStart/ExecReload with the PREFIX's paths
# (make install rewrites /usr/local to PREFIX) and no /usr/local left;
# `systemd-analyze verify` accepts it (on a copy whose paths point into
# DESTDIR) when available; the installed wbctl and wbrepd run (--help,
# --list-engines); the commented example configuration lands in
# DESTDIR/etc/wbrep/wbrep.conf.example and is valid. Also the default
# PREFIX (/usr/local) under a DESTDIR.
set -u
. "$(dirname "$0")/../lib.sh"
tmpdir install
D=$T

if ! make -s install DESTDIR="$D" PREFIX=/usr >"$D.log" 2>&1; then
	fail "install-make: make install failed: $(tail -3 "$D.log" | tr '\n' ' ')"
	rm -f "$D.log"
	exit 1
fi
rm -f "$D.log"
pass "install-make"
for b in wbrepd wbctl wbengine; do
	[ -x "$D/usr/sbin/$b" ] && pass "install-bin-$b" || fail "install-bin-$b: $D/usr/sbin/$b missing"
done
U=$D/usr/lib/systemd/system/wbrepd.service
if [ -f "$U" ]; then
	pass "install-unit"
	grep -qx 'Type=simple' "$U" &&
		grep -qx 'ExecStart=/usr/sbin/wbrepd -c /etc/wbrep/wbrep.conf -f' "$U" &&
		grep -qx 'ExecStartPre=/usr/sbin/wbrepd -c /etc/wbrep/wbrep.conf --check' "$U" &&
		grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$U" && ! grep -q '/usr/local' "$U" &&
		pass "install-unit-content" ||
		fail "install-unit-content: Type/ExecStart(Pre)/ExecReload not as documented for PREFIX=/usr: $(grep -E '^Exec|^Type' "$U" | tr '\n' ' ')"
	if command -v systemd-analyze >/dev/null; then
		sed "s|/usr/sbin/|$D/usr/sbin/|g" "$U" >"$D/wbrepd.service"
		if out=$(systemd-analyze verify "$D/wbrepd.service" 2>&1); then
			pass "install-unit-verify"
		else
			fail "install-unit-verify: $out"
		fi
	else
		echo "SKIP install-unit-verify: systemd-analyze not installed"
	fi
else
	fail "install-unit: $U missing"
fi
"$D/usr/sbin/wbctl" --help | grep -q '^usage: wbctl' && pass "install-wbctl-runs" ||
	fail "install-wbctl-runs"
"$D/usr/sbin/wbrepd" --list-engines | grep -q '^passthrough' && pass "install-wbrepd-runs" ||
	fail "install-wbrepd-runs"
# the commented example config: installed next to where the config goes,
# valid for wbrepd; on this host wbctl finds only its placeholder devices
X=$D/etc/wbrep/wbrep.conf.example
if [ -f "$X" ] && [ "$(stat -c %a "$X")" = 644 ] && cmp -s "$X" conf/wbrep.conf.example; then
	pass "install-conf-example"
else
	fail "install-conf-example: $X missing, not 0644 or not conf/wbrep.conf.example"
fi
out=$("$D/usr/sbin/wbrepd" --check -c "$X" 2>&1) && pass "install-conf-example-valid" ||
	fail "install-conf-example-valid: $out"
out=$("$D/usr/sbin/wbctl" config check "$X" 2>&1)
rc=$?
n=$(grep -c ': \[resource r0\] \(backing\|log\): .*REPLACE-ME.*No such file or directory (on node ' <<<"$out")
[ $rc = 4 ] && [ "$n" = 2 ] && [ "$(wc -l <<<"$out")" = 3 ] &&
	pass "install-conf-example-check (only the placeholder devices are missing)" ||
	fail "install-conf-example-check: exit $rc: $out"
# default PREFIX
D2=$D/default
if make -s install DESTDIR="$D2" >/dev/null 2>&1 && [ -x "$D2/usr/local/sbin/wbrepd" ] &&
	grep -qx 'ExecStart=/usr/local/sbin/wbrepd -c /etc/wbrep/wbrep.conf -f' \
		"$D2/usr/local/lib/systemd/system/wbrepd.service"; then
	pass "install-default-prefix"
else
	fail "install-default-prefix: wbrepd or its unit not under DESTDIR/usr/local"
fi
finish
