#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 400
#
# test_repl_sb3.sh - split brains with three nodes (docs/replication.md,
# "Data generations and split brain", "Automatic split-brain recovery"):
# gamma is disconnected, promoted alone and writes, while the primary alpha
# goes on writing. All three with after-sb-1pri = discard-secondary,
# after-sb-0pri disconnect; the alpha-gamma link (alpha dials) goes through
# tests/integration/faultproxy.py, refused while gamma connects again, so
# that gamma meets beta, the other secondary, first.
#   desc-follows   alpha kept beta (no "lost" generation): gamma's
#                  generation descends from alpha's current one. beta,
#                  which follows alpha, refuses gamma as a split brain "for
#                  that link to resolve" and retries, never StandAlone and
#                  never rolling back alpha's acknowledged writes (before:
#                  beta rolled them back as an old primary's)
#   desc-resolved  the proxy heals: alpha, a primary with records past the
#                  common point, calls it a split brain (before: gamma
#                  refused alpha as "an old primary ... re-create its
#                  data"); after-sb-1pri resolves it, every link up, all
#                  three byte-identical to alpha
#   sib-follows    beta disconnected too while alpha writes (alpha begins a
#                  "lost" generation, beta catches up with it): gamma's and
#                  beta's generations are siblings; gamma, following
#                  nobody, refuses beta (StandAlone); beta, following
#                  alpha, does not go StandAlone for that refusal: retries
#   sib-resolved   healed: gamma discards its data for alpha and starts its
#                  StandAlone link to beta again by itself; all connected,
#                  byte-identical
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins sb3 "$WBREPD" "$WBCTL"
need_tools sb3 nbdcopy nbdinfo openssl python3 cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "sb3 (engine wblog not registered)"
tmpdir sb3

NODES="alpha beta gamma"
REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
P=sb3
PP=$(free_port)
REPL_VIA["alpha>gamma"]=127.0.0.1:$PP # alpha sorts before gamma: it dials
proxy_start "$PP" "127.0.0.1:${PORT[gamma]}" || {
	fail "$P-proxy: $(cat "$T/proxy.log")"
	finish
}
conf() { repl_conf "$1" "$2" wb-min-peers=1 after-sb-1pri=discard-secondary; }
conf alpha primary
conf beta secondary
conf gamma secondary
for n in $NODES; do
	repl_start $n || {
		fail "$P-start: $n: $REPL_WHY"
		finish
	}
done
if ! wait_for 60 repl_connected alpha primary || ! wait_for 60 repl_connected beta secondary ||
	! wait_for 60 repl_connected gamma secondary; then
	fail "$P-start: $(head -c 300 "$T/st.alpha")"
	finish
fi
put alpha "$T/img" 1 0 || fail "$P-write: alpha"
wait_for 60 same_as "$T/img" beta && wait_for 60 same_as "$T/img" gamma ||
	fail "$P-setup: beta or gamma does not have alpha's data"
problem() { jget "$1" "[p['problem'] for p in s['peers'] if p['node'] == '$2'][0]"; }
all_same() { same_as "$T/img.a" alpha && same_as "$T/img.a" beta && same_as "$T/img.a" gamma; }
all_up() {
	repl_connected gamma secondary && json gamma 's["disk_state"] == "UpToDate"' &&
		repl_connected beta secondary && repl_uptodate alpha
}

# split SEED [beta-too]: gamma alone promoted, 1 MiB written at 16 MiB,
# demoted; alpha writes 1 MiB at 24 MiB meanwhile (beta-too: with beta
# disconnected, which connects and catches up afterwards); then alpha's
# link to gamma is refused and gamma connects again
split() {
	ctl gamma disconnect r0 >/dev/null || fail "$P-split: gamma's disconnect"
	ctl gamma primary r0 >"$T/p.out" 2>&1 || ctl gamma primary r0 --force >"$T/p.out" 2>&1 ||
		fail "$P-split: promote gamma: $(cat "$T/p.out")"
	cp "$T/img" "$T/img.g"
	put_range gamma "$T/img.g" "$1" 16 || fail "$P-split: gamma's write"
	ctl gamma secondary r0 >/dev/null || fail "$P-split: demote gamma"
	[ "${2:-}" != beta-too ] || ctl beta disconnect r0 >/dev/null || fail "$P-split: beta's disconnect"
	cp "$T/img" "$T/img.a"
	put_range alpha "$T/img.a" $(($1 + 1)) 24 || fail "$P-split: alpha's write"
	if [ "${2:-}" = beta-too ]; then
		ctl beta connect r0 >/dev/null || fail "$P-split: beta's connect"
		wait_for 60 peer_is beta alpha "p['connection'] == 'Connected' and p['replication'] == 'Established'" ||
			fail "$P-split: beta does not reconnect to alpha"
	fi
	wait_for 60 same_as "$T/img.a" beta || fail "$P-split: beta does not have alpha's write"
	# refuse first, then cut: alpha redials within 100 ms, and a
	# connection it made between a cut and a refuse would stay up
	proxy refuse >/dev/null && proxy cut >/dev/null || fail "$P-proxy: refuse"
	ctl gamma connect r0 >/dev/null || fail "$P-connect: gamma"
}

# ---- gamma's generation descends from alpha's current one
split 10
FOLLOWS="p['connection'] != 'StandAlone' and 'follows primary alpha' in (p.get('problem') or '')"
if wait_for 60 peer_is beta gamma "$FOLLOWS" && peer_is gamma beta "p['connection'] != 'StandAlone'" &&
	same_as "$T/img.g" gamma && same_as "$T/img.a" beta && ! grep -q "rolled back" "$T/beta/wbrepd.log"; then
	pass "$P-desc-follows" "($(problem beta gamma | grep -o "refused.*" | cut -c1-100))"
else
	fail "$P-desc-follows: beta $(grep -o '"peers.*' "$T/st.beta" | head -c 600)"
fi
proxy heal >/dev/null || fail "$P-proxy: heal"
# alpha's link to gamma waits out a grown backoff: wbctl connect tries now
ctl alpha connect r0 >/dev/null || fail "$P-connect: alpha"
if wait_for 120 all_up && all_same &&
	grep -q "split brain: .*resolved: after-sb-1pri discard-secondary" "$T/gamma/wbrepd.log" &&
	! grep -q "older data generation\|rolled back" "$T/alpha/wbrepd.log" "$T/beta/wbrepd.log"; then
	pass "$P-desc-resolved" "($(grep -o "resync from alpha: finished.*" "$T/gamma/wbrepd.log" | tail -1 | cut -c1-90))"
else
	fail "$P-desc-resolved: gamma $(grep -o '"peers.*' "$T/st.gamma" | head -c 500); $(grep -h "older data generation\|rolled back" "$T/alpha/wbrepd.log" "$T/beta/wbrepd.log" | head -2)"
fi
cp "$T/img.a" "$T/img"

# ---- siblings: alpha wrote without an up-to-date peer (a "lost" generation)
split 20 beta-too
# both sides at once: beta's link retries, so its problem is looked at
# until it shows the refusal, not once
sib_state() {
	peer_is gamma beta "p['connection'] == 'StandAlone'" &&
		peer_is beta gamma "p['connection'] != 'StandAlone' and 'split brain' in (p.get('problem') or '')"
}
# on a failure: each side's view of the other and its last log lines
# about it (the status JSON spans lines: grep shows only the first)
sib_why() {
	local a b
	for a in beta:gamma gamma:beta; do
		b=${a#*:}
		a=${a%:*}
		printf '%s about %s: %s [%s]; ' "$a" "$b" \
			"$(jget "$a" "[(p['connection'], p['disk'], p.get('problem')) for p in s['peers'] if p['node'] == '$b'][0]" 2>&1 | cut -c1-300)" \
			"$(grep "peer $b" "$T/$a/wbrepd.log" | tail -3 | cut -c1-200 | tr '\n' '|')"
	done
}
if wait_for 60 sib_state && same_as "$T/img.g" gamma && same_as "$T/img.a" beta; then
	pass "$P-sib-follows" "(gamma: $(problem gamma beta | cut -c1-90))"
else
	fail "$P-sib-follows: $(sib_why)"
fi
proxy heal >/dev/null || fail "$P-proxy: heal"
# alpha's link to gamma waits out a grown backoff: wbctl connect tries now
ctl alpha connect r0 >/dev/null || fail "$P-connect: alpha"
if wait_for 120 all_up && all_same &&
	grep -q "peer beta: connecting again: the split brain with it is gone" "$T/gamma/wbrepd.log" &&
	grep -q "peer gamma (resource r0): connecting now" "$T/alpha/wbrepd.log"; then
	pass "$P-sib-resolved"
else
	fail "$P-sib-resolved: $(sib_why) all_same: $(all_same && echo yes || echo no)"
fi
repl_log_clean "$P" alpha beta gamma
finish
