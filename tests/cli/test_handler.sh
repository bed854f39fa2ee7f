#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_handler.sh - [global] event-handler (docs/configuration.md; DRBD's
# handlers): a program wbrepd runs per event of the kinds listed, on a
# single-node wbrepd with two ram resources; mode events made with
# `wbctl mode RES writethrough|writeback`. Cases:
#   up         the resources' first mode events at start run it
#   run        a mode event runs it: argv "mode r0", WB_EVENT_* in the
#              environment (kind, resource, mode, message, node), stdin
#              /dev/null, none of the daemon's sockets or devices open
#   kinds      event-handler-kinds = split-brain (reload): r1's mode event
#              does not run it; back to mode, r0's next one does
#   status     a handler exiting 3: "exited with status 3" logged
#   timeout    event-handler-timeout = 1s, a handler that sleeps with a
#              child: "killed" logged and its child is gone too
#   full       a slow handler and 20 events at once: at most 8 run, the
#              rest logged as not run
#   missing    a path that is not there: a warning at reload and per event
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins cli/handler "$WBREPD" "$WBCTL"
tmpdir handler
truncate -s 4M "$T/b0" "$T/b1"
mkdir "$T/ev"
WB_CONF=$T/wbrep.conf
WB_DLOG=$T/wbrepd.log
cat >"$T/h.sh" <<EOH
#!/bin/sh
# what to do: the file $T/how (ok, exit3, sleep, slow)
how=\$(cat "$T/how" 2>/dev/null)
f="$T/ev/\$WB_EVENT_SEQ"
{
	echo "argv=\$*"
	env | grep -E '^(WB_|PATH=)' | sort
	echo "stdin=\$(readlink /proc/\$\$/fd/0)"
	for fd in /proc/\$\$/fd/*; do echo "fd=\$(readlink "\$fd")"; done
} >"\$f.tmp" && mv "\$f.tmp" "\$f"
case \$how in
exit3) exit 3 ;;
sleep) sleep 300 & echo \$! >"$T/child.pid"; wait ;;
slow) sleep 3 ;;
esac
exit 0
EOH
chmod +x "$T/h.sh"
echo ok >"$T/how"
conf() { # conf HANDLER KINDS [TIMEOUT]
	{
		conf_global htest "event-handler = $1" "event-handler-kinds = $2" \
			"event-handler-timeout = ${3:-60s}"
		conf_resource r0 engine=ram backing="$T/b0"
		conf_resource r1 engine=ram backing="$T/b1"
	} >"$WB_CONF"
}
wbctl() { "$WBCTL" -s "$T/ctl.sock" "$@"; }
conf "$T/h.sh" mode
start_daemon || { fail "handler-start"; finish; }
# flip RES: one mode event on RES (writethrough <-> writeback)
flip() {
	if wbctl mode "$1" | grep -q writethrough; then
		wbctl mode "$1" writeback >/dev/null
	else
		wbctl mode "$1" writethrough >/dev/null
	fi
}
# last_ev: the newest event file's name (its seq)
last_ev() { ls "$T/ev" | grep -v tmp | sort -n | tail -1; }
nev() { ls "$T/ev" | grep -vc tmp; }

# the start: each resource's first mode event (writethrough -> writeback,
# "up") already runs it
if wait_for 30 eval '[ "$(nev)" -ge 2 ]' && grep -lx "argv=mode r0" "$T/ev/"* >/dev/null &&
	grep -lx "argv=mode r1" "$T/ev/"* >/dev/null; then
	pass "handler-up" "($(grep -h "^WB_EVENT_MESSAGE" "$T/ev/"* | head -1 | cut -c1-80))"
else
	fail "handler-up: $(nev) events; $(grep -h argv "$T/ev/"* 2>/dev/null | tr '\n' ' ')"
fi
rm -f "$T/ev/"*
flip r0
if wait_for 30 eval '[ "$(nev)" -ge 1 ]' && f=$T/ev/$(last_ev) &&
	grep -qx "argv=mode r0" "$f" && grep -qx "WB_EVENT_KIND=mode" "$f" &&
	grep -qx "WB_EVENT_RESOURCE=r0" "$f" && grep -qx "WB_EVENT_MODE=writethrough" "$f" &&
	grep -q "^WB_EVENT_MESSAGE=mode writeback -> writethrough (wbctl mode)" "$f" &&
	grep -qx "WB_NODE=htest" "$f" && grep -q "^WB_EVENT_SEQ=[0-9]" "$f" &&
	grep -q "^WB_EVENT_TIME_MS=[0-9]" "$f" && grep -qx "stdin=/dev/null" "$f" &&
	! grep -E "^fd=(socket:|$T/b[01])" "$f" >/dev/null; then
	pass "handler-run" "($(grep -c '^fd=' "$f") fds, $(grep -c '^WB_' "$f") WB_ variables)"
else
	fail "handler-run: $(cat "$T/ev/"* 2>/dev/null | head -20 | tr '\n' ' ')"
fi

# kinds: split-brain only, then mode again
conf "$T/h.sh" split-brain
wbctl reload >/dev/null || fail "handler-kinds: reload"
n0=$(nev)
flip r1
conf "$T/h.sh" "mode,split-brain"
wbctl reload >/dev/null || fail "handler-kinds: reload 2"
flip r0
if wait_for 30 eval '[ "$(nev)" -gt "$n0" ]' && [ "$(nev)" = $((n0 + 1)) ] &&
	grep -qx "argv=mode r0" "$T/ev/$(last_ev)" && ! grep -lx "argv=mode r1" "$T/ev/"* >/dev/null; then
	pass "handler-kinds"
else
	fail "handler-kinds: $n0 -> $(nev) events; $(grep -h argv "$T/ev/"* | tr '\n' ' ')"
fi

# exit status
echo exit3 >"$T/how"
flip r0
if wait_log 30 "$WB_DLOG" "event handler for mode r0 \(event [0-9]+\) exited with status 3"; then
	pass "handler-status"
else
	fail "handler-status: $(grep -i "handler" "$WB_DLOG" | tail -2)"
fi

# timeout: the handler and its child killed
conf "$T/h.sh" mode 1s
wbctl reload >/dev/null || fail "handler-timeout: reload"
echo sleep >"$T/how"
rm -f "$T/child.pid"
flip r0
if wait_log 30 "$WB_DLOG" "event handler for mode r0 \(event [0-9]+\) still runs after 1000 ms: killed" &&
	wait_for 30 eval '[ -s "$T/child.pid" ]' && wait_for 30 eval '! kill -0 "$(cat "$T/child.pid")" 2>/dev/null'; then
	pass "handler-timeout" "(child $(cat "$T/child.pid") gone)"
else
	fail "handler-timeout: $(grep -i "handler" "$WB_DLOG" | tail -2)"
	[ -s "$T/child.pid" ] && kill "$(cat "$T/child.pid")" 2>/dev/null
fi

# full: 20 events while each handler takes 3 s
echo slow >"$T/how"
n0=$(nev)
for i in $(seq 10); do flip r0; flip r1; done
if wait_log 30 "$WB_DLOG" "event handler: 8 still running, not run for mode r[01]" &&
	wait_for 30 eval '[ "$(nev)" -ge $((n0 + 8)) ]' && sleep 4 && [ "$(nev)" -lt $((n0 + 20)) ]; then
	pass "handler-full" "($(($(nev) - n0)) of 20 run)"
else
	fail "handler-full: $(($(nev) - n0)) of 20 run; $(grep -i "handler" "$WB_DLOG" | tail -2)"
fi
echo ok >"$T/how"

# missing program
conf "$T/nosuch.sh" mode
wbctl reload >/dev/null || fail "handler-missing: reload"
flip r0
if wait_log 30 "$WB_DLOG" "event-handler $T/nosuch.sh: No such file or directory" &&
	wait_log 30 "$WB_DLOG" "event handler $T/nosuch.sh for mode r0 \(event [0-9]+\): cannot run it: No such file"; then
	pass "handler-missing"
else
	fail "handler-missing: $(grep -i "handler" "$WB_DLOG" | tail -2)"
fi
stop_daemon
finish
