# SPDX-License-Identifier: GPL-2.0-only
# tests/tools/: helpers of the integration tests that are not tests
# themselves. wbbadfs: a FUSE passthrough whose files can be given
# unreadable ranges (a disk's medium errors; test_repl_readerr.sh).
TEST_BINS += $(B)/wbbadfs
$(B)/tests/tools/wbbadfs.o: CPPFLAGS += $(shell pkg-config --cflags fuse3 2>/dev/null)
$(B)/wbbadfs: $(B)/tests/tools/wbbadfs.o
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)
