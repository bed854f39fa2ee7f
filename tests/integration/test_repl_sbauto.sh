#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_sbauto.sh - automatic split-brain recovery between a primary
# and a secondary (docs/replication.md, "Automatic split-brain recovery";
# DRBD's after-sb-1pri). alpha and beta on loopback with TLS, both with
# after-sb-1pri = consensus; each split brain made as test_repl_sb.sh does
# (both disconnected, beta promoted, alpha writes alone, beta demoted).
#   consensus       beta wrote nothing as primary: on connect both see the
#                   split brain (alpha: in its own check, or in beta's
#                   refusal that may come first), beta throws its data away by itself and is
#                   resynced from alpha (a bitmap resync, not a full sync),
#                   no StandAlone, both byte-identical
#   consensus-wrote beta wrote as primary too: refused, both StandAlone,
#                   the reason names beta's writes; no export changes
#   differ          beta's after-sb-1pri becomes discard-secondary: refused,
#                   "after-sb-1pri differs"
#   discard-secondary  alpha's too: beta's writes since the fork are thrown
#                   away, beta resynced from alpha, byte-identical to alpha,
#                   alpha unchanged
#   0pri-zero       after-sb-0pri = discard-zero-changes, a split brain
#                   found between two secondaries (alpha demoted too):
#                   beta wrote nothing, so beta throws its data away by
#                   itself (Inconsistent, its disk_reason saying so,
#                   Connected, not StandAlone) and is
#                   resynced from alpha once alpha is promoted again
#   0pri-zero-wrote both wrote (alpha twice as much): refused, both
#                   StandAlone, "both wrote since the fork"
#   0pri-least      after-sb-0pri = discard-least-changes on both (reload),
#                   the same split brain: beta, with fewer records since the
#                   fork, discards; alpha promoted, beta byte-identical
#   0pri-older      after-sb-0pri = discard-older-primary on both, the
#                   same split brain: alpha, primary at the split, discards
#                   though it wrote more (not what discard-least-changes
#                   picks); beta promoted, alpha byte-identical to it
#   0pri-younger    discard-younger-primary: beta, promoted after the split,
#                   discards; alpha promoted, beta byte-identical to it
#   old-primary     not a split brain: beta promoted apart and writes, alpha
#                   stays primary without writing; alpha is refused as an
#                   old primary ("demote it ... nothing to re-create"), not
#                   StandAlone; demoted, with beta promoted, it catches up
#                   (byte-identical to beta)
#   invalidate      `wbctl connect r0 --discard-my-data` on alpha, a healthy
#                   secondary in its primary's generation (DRBD's
#                   invalidate): a full sync of the device from beta,
#                   byte-identical
#   consensus-dialing  roles swapped (beta primary): alpha, the dialing side,
#                   promoted apart without writing, demoted, beta wrote
#                   alone: alpha discards by itself (it gets beta's hello
#                   before beta's refusal), byte-identical to beta
#   events          each of them a "split-brain" event on beta's wbctl events
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins sbauto "$WBREPD" "$WBCTL"
need_tools sbauto nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "sbauto (engine wblog not registered)"
tmpdir sbauto

NODES="alpha beta"
REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
P=sbauto
conf() { # conf NODE ROLE POLICY [0PRI-POLICY]
	repl_conf "$1" "$2" wb-min-peers=1 after-sb-1pri="$3" after-sb-0pri="${4:-disconnect}"
}
# policies CASE 1PRI 0PRI [ALPHA-ROLE BETA-ROLE]: both nodes' configs
# (alpha primary, beta secondary unless given) with these policies,
# reloaded on both
policies() {
	conf alpha "${4:-primary}" "$2" "$3"
	conf beta "${5:-secondary}" "$2" "$3"
	ctl alpha reload >/dev/null && ctl beta reload >/dev/null || fail "$P-$1: reload"
}
conf alpha primary consensus
conf beta secondary consensus
for n in $NODES; do
	repl_start $n || {
		fail "$P-start: $n: $REPL_WHY"
		finish
	}
done
if ! wait_for 60 repl_connected alpha primary || ! wait_for 60 repl_connected beta secondary ||
	! json alpha 's["data_uuid"] is not None'; then
	fail "$P-start: $(head -c 300 "$T/st.alpha")"
	finish
fi
# beta's event stream, the whole run
"$WBCTL" -s "$T/beta/ctl.sock" events r0 --json >"$T/events.beta" 2>&1 &
EVPID=$!
track_pid "$EVPID"
put alpha "$T/img" 1 0 || fail "$P-write: alpha"
wait_for 60 same_as "$T/img" beta || fail "$P-setup: beta does not have alpha's data"

# split SEED BETA_WRITES [0pri]: both disconnected, beta promoted (and
# writes 1 MiB at 16 MiB when BETA_WRITES=1), alpha writes 1 MiB at 24 MiB
# alone (0pri: and 1 MiB at 8 MiB, then alpha is demoted too), beta
# demoted, both connect; $T/img.a and $T/img.b what each should hold
split() {
	local seed=$1
	ctl alpha disconnect r0 >/dev/null && ctl beta disconnect r0 >/dev/null
	ctl beta primary r0 >"$T/p.out" 2>&1 || ctl beta primary r0 --force >"$T/p.out" 2>&1 ||
		fail "$P-promote: beta: $(cat "$T/p.out")"
	cp "$T/img" "$T/img.b"
	if [ "$2" = 1 ]; then
		put_range beta "$T/img.b" "$seed" 16 || fail "$P-write: beta alone"
	fi
	cp "$T/img" "$T/img.a"
	put_range alpha "$T/img.a" $((seed + 1)) 24 || fail "$P-write: alpha alone"
	if [ "${3:-}" = 0pri ]; then
		put_range alpha "$T/img.a" $((seed + 2)) 8 || fail "$P-write: alpha alone"
		ctl alpha secondary r0 >/dev/null || fail "$P-demote: alpha"
	fi
	ctl beta secondary r0 >/dev/null || fail "$P-demote: beta"
	ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
}
resolved() { same_as "$T/img.a" beta && json beta 's["disk_state"] == "UpToDate" and not s["repl_problem"]' && repl_uptodate alpha; }

# ---- consensus: beta wrote nothing since the fork
split 10 0
if wait_for 120 resolved &&
	grep -q "split brain: .*resolved: after-sb-1pri consensus: this node, the secondary, wrote nothing since the fork at seq [0-9]*; this node discards its data" "$T/beta/wbrepd.log" &&
	grep -qE "split brain: .*resolved: after-sb-1pri consensus: (beta|this node), the secondary, wrote nothing since the fork at seq [0-9]*; (waiting for its new hello|this node discards)" "$T/alpha/wbrepd.log" &&
	grep "peer beta needs a" "$T/alpha/wbrepd.log" | tail -1 | grep -q "bitmap resync (it discards its data" &&
	! grep -q "StandAlone" "$T/st.alpha" && same_as "$T/img.a" alpha; then
	pass "$P-consensus" "($(grep -o "after-sb-1pri consensus: this node.*" "$T/beta/wbrepd.log" | tail -1 | cut -c1-120))"
else
	fail "$P-consensus: beta $(grep -o '"repl_problem[^}]*' "$T/st.beta" | head -c 300); $(grep -E "split brain|resync" "$T/beta/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
cp "$T/img.a" "$T/img"

# ---- consensus, but beta wrote: refused
split 20 1
REFUSED='s["peers"][0]["connection"] == "StandAlone" and "split brain" in s["repl_problem"]'
if wait_for 60 json beta "$REFUSED" && grep -q "after-sb-1pri consensus: this node wrote since the fork at seq" "$T/st.beta" &&
	wait_for 60 json alpha "$REFUSED" && grep -q "refused, nothing merged" "$T/st.alpha" &&
	same_as "$T/img.a" alpha && same_as "$T/img.b" beta; then
	pass "$P-consensus-wrote" "(beta: $(grep -o "after-sb-1pri consensus: this node wrote[^:]*" "$T/st.beta" | head -1))"
else
	fail "$P-consensus-wrote: beta $(grep -o '"repl_problem[^}]*' "$T/st.beta" | head -c 400)"
fi

# ---- differ: beta discard-secondary, alpha consensus
conf beta secondary discard-secondary
ctl beta reload >/dev/null || fail "$P-differ: beta's reload"
ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
if wait_for 60 json beta "$REFUSED" && grep -q "after-sb-1pri differs: discard-secondary here, consensus on alpha" "$T/st.beta" &&
	same_as "$T/img.b" beta; then
	pass "$P-differ"
else
	fail "$P-differ: beta $(grep -o '"repl_problem[^}]*' "$T/st.beta" | head -c 400)"
fi

# ---- discard-secondary on both: beta's writes since the fork go
conf alpha primary discard-secondary
ctl alpha reload >/dev/null || fail "$P-discard-secondary: alpha's reload"
ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
if wait_for 120 resolved && same_as "$T/img.a" alpha &&
	grep -q "resolved: after-sb-1pri discard-secondary: what this node, the secondary, wrote since the fork is thrown away" "$T/beta/wbrepd.log"; then
	pass "$P-discard-secondary" "($(grep -o "resync from alpha: finished.*" "$T/beta/wbrepd.log" | tail -1 | cut -c1-100))"
else
	fail "$P-discard-secondary: beta $(grep -o '"repl_problem[^}]*' "$T/st.beta" | head -c 300); $(grep -E "split brain|resync" "$T/beta/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi
cp "$T/img.a" "$T/img"

# ---- after-sb-0pri discard-zero-changes: two secondaries, beta wrote nothing
policies 0pri discard-secondary discard-zero-changes
split 30 0 0pri
WAITING='s["disk_state"] == "Inconsistent" and "discards its data" in s["disk_reason"] and s["peers"][0]["connection"] == "Connected" and s["role"] == "secondary"'
# discards CASE KEEPER LOSER POLICY TEXT: after a split brain between two
# secondaries LOSER throws its data away by itself under after-sb-0pri
# POLICY (TEXT: its log line's reason, a regex), Inconsistent and
# Connected; KEEPER, promoted, resyncs it: both byte-identical to
# KEEPER's image ($T/img.a or $T/img.b)
discards() {
	local c=$1 k=$2 l=$3 pol=$4 text=$5 img=$T/img.${2:0:1}
	if wait_for 60 json "$l" "$WAITING" && json "$k" 's["role"] == "secondary"' &&
		grep -q "resolved: after-sb-0pri $pol: $text; this node discards its data" "$T/$l/wbrepd.log" &&
		same_as "$img" "$k"; then
		ctl "$k" primary r0 >"$T/p.out" 2>&1 || fail "$P-$c: promote $k: $(cat "$T/p.out")"
		if wait_for 120 repl_uptodate "$k" && wait_for 60 same_as "$img" "$l" &&
			json "$l" 's["disk_state"] == "UpToDate"' && same_as "$img" "$k"; then
			pass "$P-$c" "($(grep -o "after-sb-0pri $pol: [^;]*" "$T/$l/wbrepd.log" | tail -1))"
		else
			fail "$P-$c: after $k's promotion: $l $(grep -o '"repl_problem[^}]*' "$T/st.$l" | head -c 300)"
		fi
	else
		fail "$P-$c: $l $(head -c 400 "$T/st.$l"); $(grep -E "split brain" "$T/$l/wbrepd.log" | tail -1)"
	fi
}
if wait_for 60 json beta "$WAITING" && json alpha 's["role"] == "secondary" and s["peers"][0]["connection"] == "Connected"' &&
	grep -q "resolved: after-sb-0pri discard-zero-changes: records since the fork at seq [0-9]*: here 0, alpha [1-9][0-9]*; this node discards its data (Inconsistent until a primary resyncs it)" "$T/beta/wbrepd.log" &&
	same_as "$T/img.a" alpha; then
	ctl alpha primary r0 >"$T/p.out" 2>&1 || fail "$P-0pri-zero: promote alpha: $(cat "$T/p.out")"
	if wait_for 120 resolved && same_as "$T/img.a" alpha &&
		grep "peer beta needs a" "$T/alpha/wbrepd.log" | tail -1 | grep -q "bitmap resync (it discards its data"; then
		pass "$P-0pri-zero" "($(grep -o "after-sb-0pri discard-zero-changes: records[^;]*" "$T/beta/wbrepd.log" | tail -1))"
	else
		fail "$P-0pri-zero: after alpha's promotion: beta $(grep -o '"repl_problem[^}]*' "$T/st.beta" | head -c 300); $(grep -E "resync" "$T/beta/wbrepd.log" | tail -2 | tr '\n' ' ')"
	fi
else
	fail "$P-0pri-zero: beta $(head -c 400 "$T/st.beta"); $(grep -E "split brain" "$T/beta/wbrepd.log" | tail -1)"
fi
cp "$T/img.a" "$T/img"

# ---- discard-zero-changes, both wrote: refused
split 40 1 0pri
if wait_for 60 json beta "$REFUSED" && grep -q "after-sb-0pri discard-zero-changes: both wrote since the fork at seq [0-9]* (records: here [1-9][0-9]*, alpha [1-9][0-9]*)" "$T/st.beta" &&
	wait_for 60 json alpha "$REFUSED" && grep -q "after-sb-0pri discard-zero-changes: both wrote since the fork" "$T/st.alpha" &&
	same_as "$T/img.a" alpha && same_as "$T/img.b" beta; then
	pass "$P-0pri-zero-wrote"
else
	fail "$P-0pri-zero-wrote: beta $(grep -o '"repl_problem[^}]*' "$T/st.beta" | head -c 400)"
fi

# ---- discard-least-changes: the same split brain, beta wrote half as much
policies 0pri-least discard-secondary discard-least-changes
ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
discards 0pri-least alpha beta discard-least-changes "records since the fork at seq [0-9]*: here [1-9][0-9]*, alpha [1-9][0-9]*"

cp "$T/img.a" "$T/img"

# ---- discard-older-primary: alpha was primary at the split and wrote twice
# as much as beta, promoted after it: alpha discards all the same (not what
# discard-least-changes would pick); beta promoted resyncs it
policies 0pri-older discard-secondary discard-older-primary
split 70 1 0pri
discards 0pri-older beta alpha discard-older-primary "this node was primary at the split, beta was promoted after it; records since the fork at seq [0-9]*: here [1-9][0-9]*, beta [1-9][0-9]*"
# alpha primary again, beta its secondary
ctl beta secondary r0 >/dev/null && ctl alpha primary r0 >"$T/p.out" 2>&1 ||
	fail "$P-0pri-older: swap back: $(cat "$T/p.out")"
wait_for 120 repl_uptodate alpha || fail "$P-0pri-older: beta not up to date again"
cp "$T/img.b" "$T/img"

# ---- discard-younger-primary: the same split brain, beta (promoted after
# it) discards
policies 0pri-younger discard-secondary discard-younger-primary
split 80 1 0pri
discards 0pri-younger alpha beta discard-younger-primary "alpha was primary at the split, this node was promoted after it; records since the fork at seq [0-9]*: here [1-9][0-9]*, alpha [1-9][0-9]*"
cp "$T/img.a" "$T/img"

# ---- an old primary that came back as primary (alpha wrote nothing since)
ctl alpha disconnect r0 >/dev/null && ctl beta disconnect r0 >/dev/null
ctl beta primary r0 >"$T/p.out" 2>&1 || ctl beta primary r0 --force >"$T/p.out" 2>&1 ||
	fail "$P-old-primary: promote beta: $(cat "$T/p.out")"
cp "$T/img" "$T/img.b"
put_range beta "$T/img.b" 60 4 || fail "$P-old-primary: beta's write"
ctl beta secondary r0 >/dev/null || fail "$P-old-primary: demote beta"
ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
OLD="s['peers'][0]['connection'] != 'StandAlone' and 'older' in (s['peers'][0].get('problem') or '') and 'nothing to re-create' in s['peers'][0]['problem']"
if wait_for 60 json alpha "$OLD" && same_as "$T/img" alpha; then
	ctl alpha secondary r0 >/dev/null && ctl beta primary r0 >"$T/p.out" 2>&1 ||
		fail "$P-old-primary: swap roles: $(cat "$T/p.out")"
	if wait_for 120 repl_uptodate beta && wait_for 60 same_as "$T/img.b" alpha; then
		pass "$P-old-primary" "($(jget alpha "s['peers'][0]['problem']" | cut -c1-80))"
	else
		fail "$P-old-primary: after the swap: alpha $(grep -o '"peers.*' "$T/st.alpha" | head -c 400)"
	fi
else
	fail "$P-old-primary: alpha $(grep -o '"peers.*' "$T/st.alpha" | head -c 400)"
fi

# ---- invalidate: alpha, now beta's healthy secondary, takes beta's data anew
n0=$(grep -c "resync from beta: finished" "$T/alpha/wbrepd.log")
ctl alpha connect r0 --discard-my-data >"$T/c.out" 2>&1 || fail "$P-invalidate: $(cat "$T/c.out")"
if wait_for 120 eval '[ "$(grep -c "resync from beta: finished" "$T/alpha/wbrepd.log")" -gt "$n0" ]' &&
	full=$(grep "resync from beta started" "$T/alpha/wbrepd.log" | tail -1 | grep -oE "full sync, [0-9]+ bytes" | grep -oE "[0-9]+") &&
	[ "$full" -gt $(((REPL_SIZE_MB - 1) << 20)) ] &&
	grep "resync from beta: finished" "$T/alpha/wbrepd.log" | tail -1 | grep -q "finished, $full of $full bytes" &&
	wait_for 60 repl_uptodate beta && same_as "$T/img.b" alpha; then
	pass "$P-invalidate" "($(grep -o "resync from beta: finished.*" "$T/alpha/wbrepd.log" | tail -1 | cut -c1-80))"
else
	fail "$P-invalidate: $(grep "resync from beta" "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi

# ---- consensus, the dialing node discards: alpha (the active side of the
# link: its name sorts first) is beta's secondary now; promoted apart, it
# wrote nothing and was demoted, beta wrote alone; on connect alpha needs
# beta's hello to decide, which beta (listening) sends before its refusal
policies consensus-dialing consensus disconnect secondary primary
ctl alpha disconnect r0 >/dev/null && ctl beta disconnect r0 >/dev/null
ctl alpha primary r0 >"$T/p.out" 2>&1 || ctl alpha primary r0 --force >"$T/p.out" 2>&1 ||
	fail "$P-consensus-dialing: promote alpha: $(cat "$T/p.out")"
ctl alpha secondary r0 >/dev/null || fail "$P-consensus-dialing: demote alpha"
put_range beta "$T/img.b" 90 20 || fail "$P-consensus-dialing: beta's write"
ctl alpha connect r0 >/dev/null && ctl beta connect r0 >/dev/null
if wait_for 120 same_as "$T/img.b" alpha && wait_for 60 repl_uptodate beta &&
	json alpha 's["disk_state"] == "UpToDate" and s["peers"][0]["connection"] == "Connected"' &&
	grep -q "resolved: after-sb-1pri consensus: this node, the secondary, wrote nothing since the fork at seq [0-9]*; this node discards its data" "$T/alpha/wbrepd.log"; then
	pass "$P-consensus-dialing" "($(grep -o "after-sb-1pri consensus: this node, the secondary, [^;]*" "$T/alpha/wbrepd.log" | tail -1))"
else
	fail "$P-consensus-dialing: alpha $(grep -o '"repl_problem[^}]*' "$T/st.alpha" | head -c 300); $(grep -E "split brain" "$T/alpha/wbrepd.log" | tail -1 | cut -c1-300)"
fi

# ---- events: each split brain on beta's event stream, resolved or not
kill "$EVPID" 2>/dev/null
wait "$EVPID" 2>/dev/null
ev() { python3 -c 'import json,sys
n = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    n += e.get("kind") == "split-brain" and sys.argv[2] in e.get("message", "")
print(n)' "$T/events.beta" "$1"; }
if [ "$(ev "resolved: after-sb-1pri consensus")" -ge 1 ] && [ "$(ev "refused, nothing merged")" -ge 2 ] &&
	[ "$(ev "resolved: after-sb-1pri discard-secondary")" -ge 1 ] &&
	[ "$(ev "resolved: after-sb-0pri discard-zero-changes")" -ge 1 ] &&
	[ "$(ev "resolved: after-sb-0pri discard-least-changes")" -ge 1 ]; then
	pass "$P-events" "(split-brain events: $(ev "split brain"))"
else
	fail "$P-events: $(grep -c split-brain "$T/events.beta") split-brain events; $(head -c 300 "$T/events.beta")"
fi
repl_log_clean "$P" alpha beta
finish
