# SPDX-License-Identifier: GPL-2.0-only
# tests/engine/: shell tests of the wbengine tool (test_wbengine.sh) and
# wbefill, a small writer that fills a wblog log on files through the engine.
TEST_BINS += $(B)/wbefill
$(B)/wbefill: $(B)/tests/engine/wbefill.o $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS_ENGINE)
