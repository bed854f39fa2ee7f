#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_repl_addnode.sh - a third replica added without a restart
# (docs/configuration.md, "Adding a node"): alpha (primary) and beta over
# TLS on loopback, a stamped writer on alpha the whole time.
#   inserted-first gamma's [node] inserted before beta's on alpha: the
#                  reload is accepted (slots go by name, not place: refused
#                  until 2026-12-05), "peer gamma added (bitmap slot 1)",
#                  the link to beta stays up
#   reload         gamma appended on alpha (moved after beta) and beta,
#                  wbctl reload on both: accepted, "peer gamma added
#                  (bitmap slot 1)" on beta, the link to beta stays up (no
#                  reconnect), writes go on
#   sync           gamma started with the same file: a full sync from alpha,
#                  then alpha sees both peers UpToDate
#   no-slot        three more nodes at once on alpha: 5 peers for the log's 4
#                  bitmap slots: refused with the reason, nothing changes
#   acked          every acknowledged write is on all three nodes
#   identical      the three exports read back byte-identical
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins repl-addnode "$WBREPD" "$WBCTL"
need_tools repl-addnode nbdcopy nbdinfo openssl python3 cmp jq
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "repl-addnode (engine wblog not registered)"
tmpdir repl-addnode
REPL_SIZE_MB=32
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta gamma || finish
P=repl-addnode

# conf2 NODE ROLE: NODE's file with alpha and beta only (gamma unknown)
conf2() { repl_conf_with "alpha beta" "$1" "$2" wb-min-peers=1; }
conf2 alpha primary
conf2 beta secondary
repl_start_pair "$P" alpha beta
ST=$T/stamps
stamp_start alpha "$ST" 4096 2 4 || fail "$P-writer: did not start"
ups() { grep -c "r0: peer beta up" "$T/alpha/wbrepd.log"; }
u0=$(ups)

# ---- inserted-first: gamma before beta on alpha
python3 - "$T/alpha/wbrep.conf" "${PORT[gamma]}" <<'PY'
import sys
p, port = sys.argv[1], sys.argv[2]
s = open(p).read()
s = s.replace("[node beta]", "[node gamma]\naddress = 127.0.0.1:%s\n\n[node beta]" % port, 1)
open(p, "w").write(s)
PY
if out=$(ctl alpha reload 2>&1) && grep -q "r0: peer gamma added (bitmap slot 1)" "$T/alpha/wbrepd.log" &&
	json alpha 'len(s["peers"]) == 2' && [ "$(ups)" = "$u0" ]; then
	pass "$P-inserted-first" "($(grep -o "r0: peer gamma added.*" "$T/alpha/wbrepd.log" | head -1))"
else
	fail "$P-inserted-first: ${out:-}; peers $(jget alpha 's["peers"]')"
fi

# ---- reload: gamma appended on both
repl_conf alpha primary wb-min-peers=1
repl_conf beta secondary wb-min-peers=1
repl_conf gamma secondary wb-min-peers=1
ok=0
reload_on "$P-reload" alpha beta && ok=1
if [ "$ok" = 1 ] && grep -q "r0: peer gamma added (bitmap slot 1)" "$T/alpha/wbrepd.log" &&
	grep -q "r0: peer gamma added (bitmap slot 1)" "$T/beta/wbrepd.log" &&
	json alpha 'len(s["peers"]) == 2' && [ "$(ups)" = "$u0" ] && repl_writes_reach alpha 1; then
	pass "$P-reload" "(alpha: $(grep -o "r0: peer gamma added.*" "$T/alpha/wbrepd.log" | head -1))"
else
	fail "$P-reload: peers $(jget alpha 's["peers"]'); beta ups $u0 -> $(ups)"
fi
w0=$(repl_writes alpha)

# ---- sync: gamma comes
repl_start gamma || fail "$P-sync: gamma did not start"
both_uptodate() { repl_uptodate alpha && json alpha 'len(s["peers"]) == 2'; }
if wait_for 240 both_uptodate && grep -q "resync to peer gamma started" "$T/alpha/wbrepd.log"; then
	pass "$P-sync" "($(grep -o "resync to peer gamma started.*" "$T/alpha/wbrepd.log" | head -1 | cut -c1-100); writes meanwhile: $(($(repl_writes alpha) - w0)))"
else
	fail "$P-sync: alpha: $(jget alpha 's["peers"]'); gamma: $(tail -2 "$T/gamma/wbrepd.log" | tr '\n' ' ')"
fi

# ---- no-slot: the log has 4 bitmap slots (wbengine format's default)
repl_no_slot "$P" alpha 2 "dirty bitmaps for 4 peers, 5 with the new nodes: re-create"

# ---- acked, identical
repl_end_checks "$P" "$ST" alpha beta gamma
repl_log_clean "$P" alpha beta gamma
finish
