# SPDX-License-Identifier: GPL-2.0-only
# tests/bench/: benchmark programs run by tests/bench/run.sh (`make bench`).
# wbbench_engine drives an engine through its async API on files; it links
# only libwbengine.a (the engine depends on nothing else of ours).
BENCH_ENGINE := $(B)/tests/bench/wbbench_engine
TEST_BINS += $(BENCH_ENGINE)
$(BENCH_ENGINE): $(B)/tests/bench/wbbench_engine.o $$(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $< \
		$(LIB_ENGINE) $(SYSLIBS_ENGINE)
