# SPDX-License-Identifier: GPL-2.0-only
# tests/crash/: the crash torture tool (wbtorture) over the fault-injection
# backend and the kill -9 writer/checker (wbkillw) over io_uring on files.
# Both share the durability model tests/crash/ttmodel.c.
#
# The registry refers to the wblog engine through a weak symbol, which does
# not pull its object out of libwbengine.a: force it with -u when some
# engine/wblog*.c defines wb_wblog_ops.
TT_MODEL_OBJ := $(B)/tests/crash/ttmodel.o
TT_COMMA     := ,
TT_WBLOG_LD  := $(if $(shell grep -l "wb_engine_ops wb_wblog_ops" engine/wblog*.c 2>/dev/null),-Wl$(TT_COMMA)-u$(TT_COMMA)wb_wblog_ops)
TEST_BINS += $(B)/wbtorture $(B)/wbkillw
$(B)/wbtorture: $(B)/tests/crash/wbtorture.o $(TT_MODEL_OBJ) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) $(TT_WBLOG_LD) -o $@ $^ $(SYSLIBS)
$(B)/wbkillw: $(B)/tests/crash/wbkillw.o $(TT_MODEL_OBJ) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) $(TT_WBLOG_LD) -o $@ $^ $(SYSLIBS)
