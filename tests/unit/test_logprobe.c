// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_logprobe.c - wb_log_probe (engine/logprobe.c), the "is this log
 * certainly new" rule behind formatting at up: blank only with no
 * superblock, no record magic anywhere and a zero first MiB; a record
 * header far past the first MiB (the superblocks zeroed) is DAMAGED, not
 * blank; junk without wblog traces is OTHER; a valid log reports its
 * records and dirty bytes; a log with damaged superblock copies is DAMAGED.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/record.h"
#include "engine/wbengine.h"
#include "engine/superblock.h"

#define MiB (1ull << 20)

static struct wb_io *dev(uint64_t size)
{
	struct wb_fault_cfg c = {0};
	struct wb_io *io = NULL;

	assert_int_equal(wb_io_fault_open("logdev", size, &c, &io), 0);
	return io;
}

/* A record header (seq, 1 data block of `fill`) of log `sb` at off. */
static void put_record(struct wb_io *io, const struct wb_sb *sb, uint64_t off, uint64_t seq,
		       uint8_t fill)
{
	struct wb_rec_info *ri = calloc(1, sizeof(*ri));
	uint8_t hdr[4096], data[4096];

	assert_non_null(ri);
	memset(data, fill, sizeof(data));
	ri->seq = seq;
	ri->gen = 1;
	ri->epoch = sb->epoch;
	ri->self_off = off;
	ri->nextents = 1;
	ri->ext[0].lba = seq;
	ri->ext[0].nblocks = 1;
	ri->ext[0].crc = wb_crc32c(0, data, sizeof(data));
	assert_int_equal(wb_record_encode(hdr, sb->uuid, ri), 0);
	assert_int_equal(wb_io_pwrite(io, hdr, 4096, off, 0), 0);
	assert_int_equal(wb_io_pwrite(io, data, 4096, off + 4096, 0), 0);
	free(ri);
}

static void test_blank_and_other(void **state)
{
	struct wb_io *io = dev(8 * MiB);
	struct wb_log_probe pr;
	uint8_t junk[4096];

	(void)state;
	assert_int_equal(wb_log_probe(io, &pr), 0);
	assert_int_equal(pr.state, WB_LOG_BLANK);
	/* data (a file system, say) in the first MiB: not blank */
	memset(junk, 0x11, sizeof(junk));
	assert_int_equal(wb_io_pwrite(io, junk, 4096, 512 * 1024, 0), 0);
	assert_int_equal(wb_log_probe(io, &pr), 0);
	assert_int_equal(pr.state, WB_LOG_OTHER);
	/* junk past the first MiB without wblog magic does not count */
	memset(junk, 0, sizeof(junk));
	assert_int_equal(wb_io_pwrite(io, junk, 4096, 512 * 1024, 0), 0);
	memset(junk, 0x22, sizeof(junk));
	assert_int_equal(wb_io_pwrite(io, junk, 4096, 5 * MiB, 0), 0);
	assert_int_equal(wb_log_probe(io, &pr), 0);
	assert_int_equal(pr.state, WB_LOG_BLANK);
	wb_io_close(io);
}

static void test_valid_and_zeroed_superblocks(void **state)
{
	struct wb_io *io = dev(16 * MiB);
	struct wb_log_probe pr;
	struct wb_sb sb;
	uint8_t zero[16384] = {0};

	(void)state;
	assert_int_equal(wb_sb_format(io, 4 * MiB, 0, &sb), 0); /* data_off 2 MiB */
	assert_int_equal(wb_log_probe(io, &pr), 0);
	assert_int_equal(pr.state, WB_LOG_VALID);
	assert_int_equal(pr.records, 0);
	/* two records of the run: 2 records, 8 KiB dirty, seq 1..2 */
	put_record(io, &sb, sb.data_off, 1, 0xa1);
	put_record(io, &sb, sb.data_off + 8192, 2, 0xa2);
	assert_int_equal(wb_log_probe(io, &pr), 0);
	assert_int_equal(pr.state, WB_LOG_VALID);
	assert_int_equal(pr.records, 2);
	assert_int_equal(pr.dirty_bytes, 8192);
	assert_int_equal(pr.seq_hi, 2);
	assert_non_null(strstr(pr.what, "2 records"));

	/* the superblocks zeroed: the first MiB is all zero, but the records at
	 * 2 MiB say this is a log: DAMAGED, never BLANK */
	assert_int_equal(wb_io_pwrite(io, zero, sizeof(zero), 0, 0), 0);
	assert_int_equal(wb_log_probe(io, &pr), 0);
	assert_int_equal(pr.state, WB_LOG_DAMAGED);
	assert_int_equal(pr.records, 2);
	assert_int_equal(pr.seq_lo, 1);
	assert_int_equal(pr.seq_hi, 2);
	assert_non_null(strstr(pr.what, "no superblock in any slot"));
	assert_non_null(strstr(pr.what, "2 record headers"));

	/* a record header alone, far into the device, is enough */
	assert_int_equal(wb_sb_format(io, 4 * MiB, 0, &sb), 0);
	assert_int_equal(wb_io_pwrite(io, zero, sizeof(zero), 0, 0), 0);
	assert_int_equal(wb_io_pwrite(io, zero, 4096, sb.data_off + 4096, 0), 0);
	put_record(io, &sb, 12 * MiB, 77, 0xb7);
	assert_int_equal(wb_log_probe(io, &pr), 0);
	assert_int_equal(pr.state, WB_LOG_DAMAGED);
	assert_int_equal(pr.seq_hi, 77);
	wb_io_close(io);
}

static void test_damaged_superblocks(void **state)
{
	struct wb_io *io = dev(8 * MiB);
	struct wb_log_probe pr;
	struct wb_sb sb;
	uint8_t buf[4096];
	uint32_t i;

	(void)state;
	assert_int_equal(wb_sb_format(io, 1 * MiB, 64 * 1024, &sb), 0);
	for (i = 0; i < WB_SB_SLOTS; i++) { /* every copy fails its crc */
		assert_int_equal(wb_io_pread(io, buf, 4096, i * 4096ull), 0);
		buf[300] ^= 1;
		assert_int_equal(wb_io_pwrite(io, buf, 4096, i * 4096ull, 0), 0);
	}
	assert_int_equal(wb_log_probe(io, &pr), 0);
	assert_int_equal(pr.state, WB_LOG_DAMAGED);
	assert_non_null(strstr(pr.what, "no valid superblock"));
	assert_non_null(strstr(pr.what, "no record headers"));
	wb_io_close(io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_blank_and_other),
	    cmocka_unit_test(test_valid_and_zeroed_superblocks),
	    cmocka_unit_test(test_damaged_superblocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
