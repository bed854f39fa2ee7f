# SPDX-License-Identifier: GPL-2.0-only
# tests/cluster/: namespaced corosync cluster tests (test_*.sh) and
# wbmembtool, which runs the daemon's membership module and prints each
# change of the facts.
TEST_BINS += $(B)/wbmembtool
$(B)/wbmembtool: $(B)/tests/cluster/wbmembtool.o $$(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(SYSLIBS)
