# SPDX-License-Identifier: GPL-2.0-only
# tests/vm: guest programs for the qemu + dm-wbrep test (tests/vm/test_vm.sh).
#   wbringd    ring daemon: daemon/ringfe*.c + one registry engine, no config
#   wbvmtool   guest checks: stamped pattern write/verify, hostile client
# Linked against the ring frontend's objects, the test engine owner and
# libwbengine.a only: no config, no replication.
VM_BINS := $(B)/tests/vm/wbringd $(B)/tests/vm/wbvmtool
TEST_BINS += $(VM_BINS)
WBRINGD_OBJS := $(patsubst %.c,$(B)/%.o,daemon/ringfe.c daemon/ringfe_sqe.c daemon/ringfe_kern.c \
		daemon/ringfe_genl.c daemon/ioloop.c daemon/wbd_log.c \
		tests/ringsim/engdrv.c)
$(B)/tests/vm/wbringd: $(B)/tests/vm/wbringd.o $(WBRINGD_OBJS) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS_RING) $(SYSLIBS_ENGINE)
$(B)/tests/vm/wbvmtool: $(B)/tests/vm/wbvmtool.o
	$(CC) $(LDFLAGS) -o $@ $^
