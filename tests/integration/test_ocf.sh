#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
#
# test_ocf.sh - the pacemaker resource agent deploy/ocf/wbrep against a real
# wbrepd (docs/pacemaker.md). One daemon, node alpha of a two-node
# configuration whose peer beta never starts (so r0 is a secondary that
# can be promoted), transport plain. Every action is run as pacemaker-execd
# runs it (OCF_ROOT, OCF_RESKEY_* parameters) and its exit code and its
# effect on the daemon (wbctl status) are checked (a second daemon, beta,
# is the connected peer that makes alpha's disk UpToDate): meta-data (OCF 1.1,
# promotable actions), validate-all (good and bad parameters), monitor
# (0 secondary, 8 primary, 7 down or no daemon), start/stop (idempotent),
# promote/demote (wbctl primary|secondary; skipped until wbctl has them),
# notify; then ocf-tester (resource-agents) on the same daemon.
set -u
. "$(dirname "$0")/../lib.sh"

AGENT=$ROOT/deploy/ocf/wbrep
export OCF_ROOT=/usr/lib/ocf
[ -r "$OCF_ROOT/lib/heartbeat/ocf-shellfuncs" ] ||
	skip_all "ocf: $OCF_ROOT/lib/heartbeat/ocf-shellfuncs missing (resource-agents, scripts/deps.sh)"
need_tools ocf python3
need_bins ocf "$WBREPD" "$WBCTL"
tmpdir ocf
PA=$(free_port)
PB=$(free_port)
while [ "$PB" = "$PA" ]; do PB=$(free_port); done
mkdir -p "$T/beta"
truncate -s 64M "$T/backing" "$T/beta/backing"
truncate -s 32M "$T/log" "$T/beta/log"
nodes() { printf '\n[node alpha]\naddress = 127.0.0.1:%s\n\n[node beta]\naddress = 127.0.0.1:%s\n' "$PA" "$PB"; }
{
	conf_global alpha "transport = plain"
	nodes
	conf_resource r0 "backing=$T/backing" "log=$T/log" "nbd-socket=$T/nbd.sock" role=secondary
	# a resource that lives on beta only: on alpha it does not exist
	printf '\n[resource r7]\nnodes = beta\nbacking = %s\nlog = %s\n' "$T/r7b" "$T/r7l"
} >"$WB_CONF"
{
	printf '[global]\npid-file = %s\ncontrol-socket = %s\nnode-name = beta\ntransport = plain\n' \
		"$T/beta/wbrepd.pid" "$T/beta/ctl.sock"
	nodes
	conf_resource r0 "backing=$T/beta/backing" "log=$T/beta/log" "nbd-socket=$T/beta/nbd.sock" role=secondary
} >"$T/beta/wbrep.conf"
start_daemon || { fail ocf_daemon "wbrepd did not start"; finish; }
# beta: the peer that makes alpha's disk UpToDate (two secondaries over the
# same data, both connected: docs/replication.md "Disk states")
"$WBREPD" -c "$T/beta/wbrep.conf" -f >>"$T/beta/wbrepd.log" 2>&1 &
track_pid $!

export OCF_RESKEY_resource=r0 OCF_RESKEY_config=$WB_CONF OCF_RESKEY_wbctl=$WBCTL OCF_RESKEY_wait=30
# ra ACTION: run the agent, its exit code in $rc, its output in $T/ra.out
ra() {
	__OCF_ACTION=$1 "$AGENT" "$1" >"$T/ra.out" 2>&1
	rc=$?
}
# expect NAME ACTION RC [STATE [ROLE]]: the action exits RC and wbctl shows
# r0 in STATE (and ROLE) afterwards
# r0f KEY: r0's own field in wbctl status --json (peers[] have roles too)
r0f() {
	"$WBCTL" -c "$WB_CONF" status --json r0 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["resources"][0].get(sys.argv[1]) or "")' "$1"
}
expect() {
	local name=$1 act=$2 want=$3 state=${4:-} role=${5:-}
	ra "$act"
	if [ "$rc" != "$want" ]; then
		fail "ocf_$name" "$act exited $rc, not $want: $(tail -2 "$T/ra.out" | tr '\n' ' ')"
	elif [ -n "$state" ] && [ "$(r0f state)" != "$state" ]; then
		fail "ocf_$name" "after $act r0 is $(r0f state), not $state"
	elif [ -n "$role" ] && [ "$(r0f role)" != "$role" ]; then
		fail "ocf_$name" "after $act r0 is $(r0f role), not $role"
	else
		pass "ocf_$name" "($act -> $rc${state:+, r0 $state}${role:+ $role})"
	fi
}

# meta-data: well-formed, OCF 1.1, the promotable actions
ra meta-data
if [ "$rc" = 0 ] && python3 - "$T/ra.out" <<'EOP'; then
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
assert r.tag == "resource-agent" and r.get("name") == "wbrep", r.attrib
assert r.findtext("version") == "1.1"
acts = {a.get("name") for a in r.find("actions")}
need = {"start", "stop", "promote", "demote", "monitor", "notify", "meta-data", "validate-all"}
assert need <= acts, need - acts
roles = {a.get("role") for a in r.find("actions") if a.get("name") == "monitor"}
assert roles == {"Promoted", "Unpromoted"}, roles
params = {p.get("name") for p in r.find("parameters")}
assert {"resource", "config", "wbctl"} <= params, params
EOP
	if command -v xmllint >/dev/null && [ -r /usr/share/resource-agents/ra-api-1.dtd ] &&
		! xmllint --noout --dtdvalid /usr/share/resource-agents/ra-api-1.dtd "$T/ra.out" 2>"$T/xmllint.err"; then
		fail ocf_meta_data "not valid against ra-api-1.dtd: $(head -2 "$T/xmllint.err" | tr '\n' ' ')"
	else
		pass ocf_meta_data
	fi
else
	fail ocf_meta_data "exit $rc or malformed"
fi

expect validate validate-all 0
OCF_RESKEY_resource='r0;x' expect validate_bad_name validate-all 6
OCF_RESKEY_resource=r9 expect validate_no_resource validate-all 6
OCF_RESKEY_wbctl=/nonexistent/wbctl expect validate_no_wbctl validate-all 5

expect monitor_secondary monitor 0 up secondary
expect stop stop 0 down
expect monitor_stopped monitor 7
expect stop_again stop 0 down
expect start start 0 up secondary
expect start_again start 0 up secondary
expect monitor_started monitor 0
expect notify notify 0

if "$WBCTL" help primary >/dev/null 2>&1; then
	expect promote promote 0 up primary
	expect monitor_promoted monitor 8
	expect promote_again promote 0 up primary
	expect demote demote 0 up secondary
	expect demote_again demote 0 up secondary
	expect stop_promoted_setup promote 0 up primary
	expect stop_promoted stop 0 down
	expect start_after start 0 up secondary
	HAVE_ROLES=1
else
	skip "ocf_promote: wbctl has no 'primary' command yet (roles, issue 11)"
	HAVE_ROLES=0
fi

# ocf-tester (resource-agents) runs its own sequence on the same daemon
if ! command -v ocf-tester >/dev/null; then
	skip "ocf_tester: ocf-tester not installed (resource-agents)"
elif [ "$HAVE_ROLES" = 0 ]; then
	skip "ocf_tester: needs wbctl primary/secondary (roles, issue 11)"
elif ocf-tester -n r0 -o resource=r0 -o "config=$WB_CONF" -o "wbctl=$WBCTL" "$AGENT" >"$T/tester.out" 2>&1 &&
	grep -q 'passed all tests' "$T/tester.out"; then
	pass ocf_tester "($(grep -c '^\* ' "$T/tester.out") notes)"
else
	sed 's/^/    /' "$T/tester.out" | tail -15
	fail ocf_tester "ocf-tester failed"
fi

# a failed disk (docs/pacemaker.md, "A failed disk"): the primary's wbrepd
# gets an RLIMIT_FSIZE of 4 KiB (every device write past the first block
# fails), a write through it fails its engine: the monitor says promoted
# (failed), demote and stop work, start fails (the log cannot be written),
# the monitor then says not running (or a generic error when the engine
# failed right after the up) and stop makes it down; mended (the limit
# lifted), it starts again
if [ "$HAVE_ROLES" = 0 ]; then
	skip "ocf_diskfail: needs wbctl primary/secondary (roles, issue 11)"
elif ! command -v prlimit >/dev/null || ! prlimit --pid "$DPID" --fsize=unlimited: 2>/dev/null; then
	skip "ocf_diskfail: prlimit cannot change wbrepd's RLIMIT_FSIZE"
else
	expect diskfail_setup start 0 up secondary
	expect diskfail_promote promote 0 up primary
	prlimit --pid "$DPID" --fsize=4096:
	head -c 1048576 /dev/urandom >"$T/wr"
	nbdcopy "$T/wr" "nbd+unix:///?socket=$T/nbd.sock" 2>/dev/null &&
		fail ocf_diskfail "a write past RLIMIT_FSIZE succeeded"
	wait_for 10 test "$(r0f state)" = failed || fail ocf_diskfail "r0 is $(r0f state), not failed"
	expect diskfail_monitor monitor 9 failed primary
	expect diskfail_demote demote 0 failed secondary
	expect diskfail_stop stop 0 down
	# the log cannot be written: either the up fails (nothing open:
	# standalone, the monitor says not running) or, when the write that
	# fails comes a moment after the up (a loaded host: seen in CI), the
	# engine fails right after it (secondary, a generic error): start
	# fails either way
	expect diskfail_start start 1 failed
	if [ "$(r0f role)" = secondary ]; then
		expect diskfail_monitor_up_failed monitor 1
	else
		expect diskfail_monitor_up_failed monitor 7
	fi
	expect diskfail_stop_up_failed stop 0 down
	prlimit --pid "$DPID" --fsize=unlimited:
	expect diskfail_start_mended start 0 up secondary
fi

# a resource whose nodes leave alpha out: a probe finds it not running,
# stop succeeds, start is a hard error (pacemaker bans the node for it)
for a in monitor:7 stop:0 start:5; do
	OCF_RESKEY_resource=r7 ra "${a%:*}"
	if [ "$rc" != "${a#*:}" ]; then
		fail "ocf_elsewhere_${a%:*}" "${a%:*} of r7 exited $rc, not ${a#*:}: $(tail -1 "$T/ra.out")"
	elif [ "${a%:*}" = start ] && ! grep -q 'r7 does not live on this node' "$T/ra.out"; then
		fail "ocf_elsewhere_start" "no reason: $(tail -1 "$T/ra.out")"
	else
		pass "ocf_elsewhere_${a%:*}" "(r7 lives on beta only: ${a%:*} -> $rc)"
	fi
done

# without a daemon: not running, stop succeeds, start fails with a reason
stop_daemon
expect monitor_no_daemon monitor 7
expect stop_no_daemon stop 0
ra start
if [ "$rc" = 1 ] && grep -q 'wbrepd is not running' "$T/ra.out"; then
	pass ocf_start_no_daemon "(start -> 1: wbrepd is not running)"
else
	fail ocf_start_no_daemon "start exited $rc: $(tail -1 "$T/ra.out")"
fi
daemon_log_clean ocf_daemon
finish
