# SPDX-License-Identifier: GPL-2.0-only
# tests/bench/: benchmark programs run by tests/bench/run.sh (`make bench`).
# wbbench_engine drives an engine through its async API on files; it links
# only libwbengine.a (the engine depends on nothing else of ours).
#
# The registry references the wblog engine weakly, which does not pull
# wblog.o out of the static libwbengine.a; -u makes the linker take it.
BENCH_ENGINE := $(B)/tests/bench/wbbench_engine
BENCH_FORCE_WBLOG := -Wl,-u,wb_wblog_ops
TEST_BINS += $(BENCH_ENGINE)
$(BENCH_ENGINE): $(B)/tests/bench/wbbench_engine.o $$(LIB_ENGINE)
	$(CC) $(LDFLAGS) $(if $(wildcard engine/wblog.c),$(BENCH_FORCE_WBLOG)) -o $@ $< \
		$(LIB_ENGINE) $(SYSLIBS)
