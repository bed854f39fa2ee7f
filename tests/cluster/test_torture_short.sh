#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_torture_short.sh - the short run of the randomized cluster torture
# (tests/cluster/torture.sh, `make torture-cluster` for the long one) in
# `make test`: four cycles with one fault of each kind that matters most,
# in turn: a secondary cut and healed; a secondary's wbrepd killed and then
# the primary, writing through with one peer, cut off as a minority (it
# must acknowledge nothing; the majority promotes; the fenced old primary
# power-cut); the primary node crashed with a power cut of its devices
# (promotion; the old primary back, rolled back by hand if it holds
# unacknowledged records); a secondary's wbrepd killed (a power cut too);
# nodes, durations, drop/tear probabilities and the write load from a
# random seed (printed; WB_TORTURE_SEED repeats it). Every wbrepd runs on
# the fault-injection backend (WB_TORTURE_FAULTIO=always): test_wbcluster.sh
# keeps a plain kill -9 of the primary.
# After every fault the stamped checker finds every acknowledged write on
# the primary (and on a repaired secondary).
# 512 blocks (2 MiB): every check reads them all back, twice per cycle
export WB_TORTURE_CYCLES=${WB_TORTURE_CYCLES:-4} WB_TORTURE_BLOCKS=${WB_TORTURE_BLOCKS:-512}
export WB_TORTURE_FAULTS=${WB_TORTURE_FAULTS:-"cut-sec degraded-cut-primary crash-primary kill-sec"}
export WB_TORTURE_FAULTIO=${WB_TORTURE_FAULTIO:-always}
exec bash "$(dirname "$0")/torture.sh"
