#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_torture_short.sh - the short run of the randomized cluster torture
# (tests/cluster/torture.sh, `make torture-cluster` for the long one) in
# `make test`: four cycles with one fault of each kind that matters most,
# in turn: a secondary cut and healed; a secondary's wbrepd killed and then
# the primary, writing through with one peer, cut off as a minority (it
# must acknowledge nothing; the majority promotes); the primary node
# crashed (promotion); a secondary's wbrepd killed; nodes, durations and
# the write load from a random seed (printed; WB_TORTURE_SEED repeats it).
# After every fault the stamped checker finds every acknowledged write on
# the primary (and on a repaired secondary).
# 512 blocks (2 MiB): every check reads them all back, twice per cycle
export WB_TORTURE_CYCLES=${WB_TORTURE_CYCLES:-4} WB_TORTURE_BLOCKS=${WB_TORTURE_BLOCKS:-512}
export WB_TORTURE_FAULTS=${WB_TORTURE_FAULTS:-"cut-sec degraded-cut-primary crash-primary kill-sec"}
exec bash "$(dirname "$0")/torture.sh"
