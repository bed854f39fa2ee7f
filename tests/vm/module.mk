# SPDX-License-Identifier: GPL-2.0-only
# tests/vm: guest programs for the qemu + dm-wbrep test (tests/vm/test_vm.sh).
#   wbringd    ring daemon: daemon/ringfe.c + one registry engine, no config
#   wbvmtool   guest checks: stamped pattern write/verify, hostile client
# Linked against ringfe.o and libwbengine.a only, so they build while the
# rest of the daemon is in progress.
VM_BINS := $(B)/tests/vm/wbringd $(B)/tests/vm/wbvmtool
TEST_BINS += $(VM_BINS)
$(B)/tests/vm/wbringd: $(B)/tests/vm/wbringd.o $(B)/daemon/ringfe.o $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
$(B)/tests/vm/wbvmtool: $(B)/tests/vm/wbvmtool.o
	$(CC) $(LDFLAGS) -o $@ $^
