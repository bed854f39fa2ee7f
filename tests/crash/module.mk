# SPDX-License-Identifier: GPL-2.0-only
# tests/crash/: the crash torture tool (wbtorture) over the fault-injection
# backend and the kill -9 writer/checker (wbkillw) over io_uring on files.
# Both share the durability model tests/crash/ttmodel.c.
TT_MODEL_OBJ := $(B)/tests/crash/ttmodel.o
TEST_BINS += $(B)/wbtorture $(B)/wbkillw
$(B)/wbtorture: $(B)/tests/crash/wbtorture.o $(TT_MODEL_OBJ) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS_ENGINE)
$(B)/wbkillw: $(B)/tests/crash/wbkillw.o $(TT_MODEL_OBJ) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS_ENGINE)
