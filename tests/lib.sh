# SPDX-License-Identifier: GPL-2.0-only
#
# lib.sh - what every tests/<suite>/test_*.sh shares, sourced first:
#   . "$(dirname "$0")/../lib.sh"
# It owns: the working directory (the repository root, $ROOT) and the
# binaries' paths ($B, $WBREPD, $WBCTL, $WBENGINE); the case lines (pass /
# fail / skip, `skip_all` for a script that cannot run here, `finish` for
# its exit code);
# the script's temporary directory ($T) and everything to undo at exit
# (cleanup hooks, then the processes registered by PID: SIGTERM, SIGKILL
# after a deadline; never by name); bounded waits; a free TCP port; a wbrepd
# in the foreground (start / stop / kill -9, its log $WB_DLOG, the config
# $WB_CONF), a config writer (conf_global, conf_resource) and a wblog log
# made to look like format version 1 (log_as_format1).
# Waits are bounded by generous deadlines (seconds), never by timing
# thresholds: a deadline only turns a hang into a failure.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
. "$ROOT/tests/pypath.sh"
B=${B:-build}
# WBREPD/WBCTL/WBENGINE from the environment run a script against other
# binaries (e.g. an old build, to see a new case fail there)
WBREPD=${WBREPD:-$ROOT/$B/wbrepd}
WBCTL=${WBCTL:-$ROOT/$B/wbctl}
WBENGINE=${WBENGINE:-$ROOT/$B/wbengine}
# WB_SLOW: how many times slower than a plain build the binaries run; the
# daemon's start and stop deadlines (and repl_start's) are multiplied by it.
# ThreadSanitizer (B=build-tsan) runs wbrepd 5-15 times slower (its start,
# a log recovery, took over 30 s at load 13-17), so 5 there, 1 otherwise.
# Deadlines only: no test waits longer when things go well.
case $B in
*tsan*) WB_SLOW=${WB_SLOW:-5} ;;
*) WB_SLOW=${WB_SLOW:-1} ;;
esac
fails=0
passes=0
T=""
DPID=""
WB_CONF=""
WB_DLOG=""
_wb_pids=()
_wb_hooks=()

# ---------------------------------------------------------------- case lines
# pass NAME [TEXT], fail NAME [TEXT]: "PASS NAME TEXT"; two or more words
# after a bare NAME become "NAME: TEXT" (fail format "rc 1: ...")
pass() {
	echo "PASS $*"
	passes=$((passes + 1))
}
fail() {
	if [ $# -ge 2 ] && [[ $1 != *[:\ ]* ]]; then
		echo "FAIL $1: ${*:2}"
	else
		echo "FAIL $*"
	fi
	fails=$((fails + 1))
}
skip() { echo "SKIP $*"; }
# skip_all NAME: REASON - the whole script cannot run here (exit 0)
skip_all() { echo "SKIP $*"; exit 0; }
# finish: print "N passed, N failed", exit 1 if a case failed, else 0
finish() {
	echo "$passes passed, $fails failed"
	exit $((fails > 0))
}

# need_tools SUITE TOOL...: skip the script when a tool is not installed
need_tools() {
	local suite=$1 t
	shift
	for t in "$@"; do
		command -v "$t" >/dev/null || skip_all "$suite: $t not installed (scripts/deps.sh)"
	done
}

# need_bins SUITE PATH...: skip the script when a binary is not built
need_bins() {
	local suite=$1 b
	shift
	for b in "$@"; do
		[ -x "$b" ] || skip_all "$suite: ${b#"$ROOT"/} not built (make all)"
	done
}

# ---------------------------------------------------------------- cleanup
# tmpdir NAME: create $T (/tmp/wbrep-NAME.XXXXXX), removed at exit; the
# daemon's config and log default to $T/wbrep.conf and $T/wbrepd.log.
tmpdir() {
	T=$(mktemp -d "/tmp/wbrep-$1.XXXXXX") || exit 1
	WB_CONF=$T/wbrep.conf
	WB_DLOG=$T/wbrepd.log
	# WB_KEEP=DIR: a copy of the test's directory (logs, configs,
	# status) goes there at exit, after the other cleanup hooks
	[ -z "${WB_KEEP:-}" ] || on_cleanup "cp -r '$T' '$WB_KEEP'"
}

# on_cleanup CMD: run the shell command CMD at exit (last registered first),
# before the registered processes are stopped
on_cleanup() { _wb_hooks+=("$1"); }

# track_pid PID: stop PID at exit if it still runs (SIGTERM, SIGKILL 10 s on)
track_pid() { _wb_pids+=("$1"); }

# is_alive PID: PID runs (a zombie does not count)
is_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# wait_exit PID SECONDS: wait until PID is gone; 1 if it still runs then
wait_exit() {
	local pid=$1 end=$((SECONDS + $2))
	while is_alive "$pid"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
	return 0
}

_wb_cleanup() {
	local i p
	trap - EXIT INT TERM
	for ((i = ${#_wb_hooks[@]} - 1; i >= 0; i--)); do
		eval "${_wb_hooks[i]}" >/dev/null 2>&1
	done
	[ -n "$DPID" ] && _wb_pids+=("$DPID")
	for p in "${_wb_pids[@]}"; do
		is_alive "$p" && kill -TERM "$p" 2>/dev/null
	done
	for p in "${_wb_pids[@]}"; do
		wait_exit "$p" 10 || kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$T" ] && rm -rf "$T"
}
trap _wb_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# ---------------------------------------------------------------- waits
# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 when
# the deadline passes first (tests/waits.sh, shared with the benchmarks)
. "$ROOT/tests/waits.sh"

# wait_log SECONDS FILE PATTERN: wait until FILE has a line matching PATTERN
# (grep -E)
wait_log() { wait_for "$1" grep -qE -- "$3" "$2"; }

# wait_log_count SECONDS FILE PATTERN N: wait until FILE has more than N
# lines matching PATTERN (a message logged again after an action)
wait_log_count() {
	local end=$((SECONDS + $1))
	while [ "$(grep -cE -- "$3" "$2" 2>/dev/null)" -le "$4" ]; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
	return 0
}

# free_port: print a TCP port on 127.0.0.1 that is free right now, below
# the kernel's ephemeral range (net.ipv4.ip_local_port_range) so that no
# outgoing connection's source port (a peer link's, another node's) can
# take it before the daemon binds it, and not handed out before in this
# test ($T/.ports_used when $T is set)
free_port() {
	python3 - "${T:-}" <<'EOP'
import os, random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
used_file = os.path.join(sys.argv[1], ".ports_used") if sys.argv[1] else None
used = set()
if used_file and os.path.exists(used_file):
    used = {int(x) for x in open(used_file).read().split()}
first = max(1024, lo - 12000)
for _ in range(1000):
    port = random.randrange(first, lo)
    if port in used:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    if used_file:
        with open(used_file, "a") as f:
            f.write("%d\n" % port)
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port below %d" % lo)
EOP
}

# ---------------------------------------------------------------- config
# conf_global NODE [LINE...]: print a [global] section with pid-file,
# control socket ($T/ctl.sock) and node name, then each LINE as given
conf_global() {
	local node=$1 l
	shift
	printf '[global]\npid-file = %s\ncontrol-socket = %s\nnode-name = %s\n' \
		"$T/wbrepd.pid" "$T/ctl.sock" "$node"
	for l in "$@"; do printf '%s\n' "$l"; done
}

# conf_resource NAME KEY=VALUE...: print a [resource NAME] section with one
# "KEY = VALUE" line per argument (an argument without '=' is copied as is)
conf_resource() {
	local a
	printf '\n[resource %s]\n' "$1"
	shift
	for a in "$@"; do
		case $a in
		*=*) printf '%s = %s\n' "${a%%=*}" "${a#*=}" ;;
		*) printf '%s\n' "$a" ;;
		esac
	done
}

# ---------------------------------------------------------------- logs
# log_as_format1 LOG: rewrite the four superblock slots of a wblog log as
# format version 1 (version field 1, what follows the version 1 fields
# zeroed, crc32c recomputed): a log as formatted before replication
# metadata
log_as_format1() {
	PYTHONPATH="$ROOT/tests${PYTHONPATH:+:$PYTHONPATH}" python3 - "$1" <<'EOF'
import struct, sys
from wbcrc32c import crc32c
with open(sys.argv[1], "r+b") as f:
    for i in range(4):
        f.seek(i * 4096)
        s = bytearray(f.read(4096))
        s[8:12] = struct.pack("<I", 1)
        s[12:16] = b"\0" * 4
        s[176:4096] = b"\0" * 3920
        s[12:16] = struct.pack("<I", crc32c(bytes(s)))
        f.seek(i * 4096)
        f.write(s)
EOF
}

# ---------------------------------------------------------------- daemon
# start_daemon [READY-CMD...]: start wbrepd -f on $WB_CONF (log appended to
# $WB_DLOG), set DPID, wait (WB_START_TIMEOUT, default 30 s, times WB_SLOW)
# until READY-CMD succeeds (default: the control socket answers `wbctl
# status`). 1 if the daemon exits or is not ready in time: it prints which
# (the exit status, or how long it waited and that READY-CMD still failed)
# and the log's tail; DPID is then empty.
start_daemon() {
	local t0=$SECONDS limit=$((${WB_START_TIMEOUT:-30} * WB_SLOW)) rc
	[ $# -gt 0 ] || set -- "$WBCTL" -s "$T/ctl.sock" status
	"$WBREPD" -c "$WB_CONF" -f >>"$WB_DLOG" 2>&1 &
	DPID=$!
	until "$@" >/dev/null 2>&1; do
		if ! is_alive "$DPID"; then
			wait "$DPID" 2>/dev/null
			rc=$?
			echo "wbrepd (pid $DPID) exited with status $rc after $((SECONDS - t0)) s, before '$*' succeeded; log:"
		elif [ $((SECONDS - t0)) -ge "$limit" ]; then
			echo "wbrepd (pid $DPID) runs but '$*' still fails after $((SECONDS - t0)) s (limit $limit s, B=$B, load $(cut -d' ' -f1-3 /proc/loadavg)); log:"
			kill -KILL "$DPID" 2>/dev/null
			wait "$DPID" 2>/dev/null
		else
			sleep 0.1
			continue
		fi
		tail -5 "$WB_DLOG" | sed 's/^/    /'
		DPID=""
		return 1
	done
	return 0
}

# stop_daemon [SIGNAL]: signal wbrepd (default TERM), wait for it
# (WB_STOP_TIMEOUT, default 60 s, times WB_SLOW; then SIGKILL and status
# 124); returns its exit status; clears DPID
stop_daemon() {
	local rc pid=$DPID limit=$((${WB_STOP_TIMEOUT:-60} * WB_SLOW))
	[ -n "$pid" ] || return 0
	DPID=""
	kill -"${1:-TERM}" "$pid" 2>/dev/null
	# stderr off while the shell reaps it: no "Killed" job message
	if ! wait_exit "$pid" "$limit" 2>/dev/null; then
		echo "wbrepd (pid $pid) still runs $limit s after SIG${1:-TERM}: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	return $rc
}

# kill9_daemon: SIGKILL wbrepd (a crash) and reap it
kill9_daemon() { stop_daemon KILL; return 0; }

# daemon_log_clean NAME: FAIL NAME when $WB_DLOG has a sanitizer report or
# a crash
daemon_log_clean() {
	if grep -qE 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error|Segmentation' "$WB_DLOG" 2>/dev/null; then
		fail "$1: $(grep -m2 -E 'Sanitizer|runtime error|Segmentation' "$WB_DLOG" | tr '\n' ' ')"
	fi
}
