#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_nodes.sh - a resource lives on the nodes its "nodes" names
# (docs/configuration.md, `nodes`): three wbrepd on loopback with TLS, one
# file layout for all, r0 on alpha and beta (alpha primary), r1 on beta and
# gamma (beta primary). Before, every [node] was a peer of every resource:
# r0 on alpha would have waited for gamma too.
#   only      alpha has only r0 (peer beta), gamma only r1 (peer beta),
#             beta both; `wbctl config check` says what lives elsewhere
#   replicate 8 MiB written to each primary read back the same on its
#             secondary, both in write-back with wb-min-peers = 1 of 1
#   verify    wbctl verify of each finds nothing out of sync
#   outsider  alpha's file wrongly lists alpha for r1: beta and gamma
#             refuse its links (no link for resource r1 with node alpha),
#             r1 unchanged, alpha's r0 whole again
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-nodes "$WBREPD" "$WBCTL"
need_tools repl-nodes nbdcopy nbdinfo openssl python3 cmp jq
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-nodes (engine wblog not registered)"
tmpdir repl-nodes
REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta gamma || finish
P=repl-nodes

# conf NODE R0ROLE R1ROLE [R1NODES]: r0 on alpha and beta, r1 on beta and
# gamma, each node's own files ($T/NODE/backing, log for r0; backing1,
# log1 for r1)
conf() {
	local n=$1 d=$T/$1
	repl_conf "$n" "$2" wb-min-peers=1 "nodes=alpha, beta"
	[ -e "$d/backing1" ] || truncate -s "${REPL_SIZE_MB}M" "$d/backing1"
	[ -e "$d/log1" ] || truncate -s 64M "$d/log1"
	printf '\n[resource r1]\nnodes = %s\nbacking = %s\nlog = %s\nnbd-socket = %s\nrole = %s\nwb-min-peers = 1\n' \
		"${4:-beta gamma}" "$d/backing1" "$d/log1" "$d/nbd1.sock" "$3" >>"$d/wbrep.conf"
}
conf alpha primary secondary
conf beta secondary primary
conf gamma secondary secondary
URI1() { echo "nbd+unix:///?socket=$T/$1/nbd1.sock"; }

ctl alpha config check "$T/alpha/wbrep.conf" >"$T/check" 2>&1
if ! grep -q "wbrep.conf: OK (1 resource, 3 nodes)$" "$T/check" ||
	! grep -q 'wbrep.conf: 1 more resource on other nodes only (their "nodes" leave out alpha)$' "$T/check"; then
	fail "$P-check" "$(cat "$T/check")"
else
	pass "$P-check" "($(grep "more resource" "$T/check" | sed "s|.*: 1 more|1 more|"))"
fi

repl_start alpha || fail "$P-start" "alpha: $REPL_WHY"
repl_start beta || fail "$P-start" "beta: $REPL_WHY"
repl_start_bg gamma
wait_for 60 nbdinfo --size "$(URI1 gamma)" >/dev/null 2>&1 || fail "$P-start" "gamma's r1 does not answer"

# st NODE: NODE's whole status; rq NODE RES JQ: JQ on that resource
st() { ctl "$1" status --json >"$T/st.$1" 2>&1; }
rq() { st "$1" && jq -r --arg r "$2" ".resources[] | select(.name == \$r) | $3" "$T/st.$1"; }
names() { st "$1" && jq -r '[.resources[].name] | join(" ")' "$T/st.$1"; }
whole() { [ "$(rq "$1" "$2" '[.mode, ([.peers[] | select(.disk == "UpToDate")] | length), (.peers | length)] | join(" ")')" = "writeback 1 1" ]; }

# ---------------------------------------------------------------- only
if ! wait_for 60 whole alpha r0 || ! wait_for 60 whole beta r1; then
	fail "$P-only" "alpha r0: $(rq alpha r0 '.mode_reason'), beta r1: $(rq beta r1 '.mode_reason')"
elif [ "$(names alpha)" != r0 ] || [ "$(names gamma)" != r1 ] || [ "$(names beta)" != "r0 r1" ]; then
	fail "$P-only" "resources: alpha '$(names alpha)', beta '$(names beta)', gamma '$(names gamma)'"
elif [ "$(rq alpha r0 '[.peers[].node] | join(" ")')" != beta ] ||
	[ "$(rq gamma r1 '[.peers[].node] | join(" ")')" != beta ] ||
	[ "$(rq beta r0 '[.peers[].node] | join(" ")')" != alpha ] ||
	[ "$(rq beta r1 '[.peers[].node] | join(" ")')" != gamma ]; then
	fail "$P-only" "peers: alpha r0 $(rq alpha r0 '[.peers[].node]'), beta r0 $(rq beta r0 '[.peers[].node]'), beta r1 $(rq beta r1 '[.peers[].node]'), gamma r1 $(rq gamma r1 '[.peers[].node]')"
else
	pass "$P-only" "(alpha: r0 with beta; beta: r0 with alpha, r1 with gamma; gamma: r1 with beta; both primaries in write-back)"
fi

# ---------------------------------------------------------------- replicate
head -c $((8 * 1048576)) /dev/urandom >"$T/d0"
head -c $((8 * 1048576)) /dev/urandom >"$T/d1"
mkimg "$T/img0" "$T/d0" 4
mkimg "$T/img1" "$T/d1" 8
timeout 300 nbdcopy "$T/img0" "$(URI alpha)" || fail "$P-replicate" "nbdcopy to alpha r0"
timeout 300 nbdcopy "$T/img1" "$(URI1 beta)" || fail "$P-replicate" "nbdcopy to beta r1"
ctl alpha flush r0 >/dev/null 2>&1
ctl beta flush r1 >/dev/null 2>&1
if ! wait_for 120 same_as "$T/img0" beta; then
	fail "$P-replicate" "beta's r0 differs: $(img_diff "$T/img0" "$T/out.beta")"
elif ! { timeout 300 nbdcopy "$(URI1 gamma)" "$T/out1.gamma" && cmp -s "$T/img1" "$T/out1.gamma"; }; then
	fail "$P-replicate" "gamma's r1 differs: $(img_diff "$T/img1" "$T/out1.gamma")"
else
	pass "$P-replicate" "(8 MiB each: r0 alpha -> beta, r1 beta -> gamma)"
fi

# ---------------------------------------------------------------- verify
v0=$(ctl alpha verify r0 --json 2>&1)
v1=$(ctl beta verify r1 --json 2>&1)
if [ "$(jq -r '[.peers[] | "\(.node) \(.state) \(.oos_blocks)"] | join(",")' <<<"$v0")" != "beta done 0" ] ||
	[ "$(jq -r '[.peers[] | "\(.node) \(.state) \(.oos_blocks)"] | join(",")' <<<"$v1")" != "gamma done 0" ]; then
	fail "$P-verify" "r0: $v0 r1: $v1"
else
	pass "$P-verify" "(r0 with beta and r1 with gamma: 0 blocks out of sync)"
fi

# ---------------------------------------------------------------- outsider
# alpha's file says r1 lives on alpha too: its r1 (a secondary) connects
# to beta and gamma (alpha's name sorts first: it dials), whose files
# leave alpha out of r1: refused
repl_stop alpha
conf alpha primary secondary "beta, gamma, alpha"
repl_start alpha || fail "$P-outsider" "alpha: $REPL_WHY"
if ! wait_log 30 "$T/beta/wbrepd.log" "refused: no link for resource r1 with node alpha" ||
	! wait_log 30 "$T/gamma/wbrepd.log" "refused: no link for resource r1 with node alpha"; then
	fail "$P-outsider" "beta and gamma did not both refuse alpha's r1 link"
elif [ "$(rq beta r1 '[.peers[].node] | join(" ")')" != gamma ] || ! whole beta r1; then
	fail "$P-outsider" "beta's r1 changed: $(rq beta r1 '.peers')"
elif ! wait_for 60 whole alpha r0; then
	fail "$P-outsider" "alpha's r0 not whole again: $(rq alpha r0 '.mode_reason')"
elif [ "$(rq alpha r1 '[.peers[] | select(.connection == "Connected")] | length')" != 0 ]; then
	fail "$P-outsider" "alpha's r1 has a connected peer: $(rq alpha r1 '.peers')"
else
	pass "$P-outsider" "(beta and gamma refused alpha's r1 link: no link for resource r1 with node alpha; r1 unchanged)"
fi

repl_stop alpha
repl_stop beta
repl_stop gamma
repl_log_clean "$P" alpha beta gamma
finish
