// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_superblock.c - the superblock ring (engine/superblock.c): format geometry, the
 * superblock ring (all copies written, the newest valid copy wins, a torn or
 * corrupted newest copy falls back to the previous one, a copy in the wrong
 * slot is ignored, no magic -> "not a wblog log", magic but nothing valid ->
 * "no valid superblock", each naming the device), superblock validation of
 * geometry/tail/size. The space allocator is test_logspace.c.
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

#include "engine/wbengine.h"
#include "engine/superblock.h"

#define MiB (1ull << 20)

static char last_err[1024];

static void sink(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= WB_LOG_ERR)
		snprintf(last_err, sizeof(last_err), "%s", msg);
}

static struct wb_io *dev(uint64_t size)
{
	struct wb_fault_cfg c = {0};
	struct wb_io *io = NULL;

	assert_int_equal(wb_io_fault_open("logdev", size, &c, &io), 0);
	return io;
}

static void test_format_geometry(void **state)
{
	struct wb_io *io = dev(8 * MiB + 12800);
	struct wb_sb sb, ld;
	uint8_t buf[4096], zero[4096] = {0};
	char err[256];
	uint32_t i;

	(void)state;
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(wb_io_pwrite(io, buf, 4096, 1 * MiB, 0), 0); /* old junk */
	assert_int_equal(wb_sb_format(io, 4 * MiB, 0, &sb), 0);
	assert_int_equal(sb.seg_size, 2 * MiB); /* the default */
	assert_int_equal(sb.data_off, 2 * MiB); /* 4 slots rounded up to a segment */
	assert_int_equal(sb.data_size, 6 * MiB);
	assert_int_equal(sb.log_size, 8 * MiB + 12288);
	assert_int_equal(sb.max_rec_blocks, 256); /* min(511, 256): a 1 MiB write is one record */
	assert_int_equal(sb.nslots, WB_SB_SLOTS);
	assert_int_equal(sb.tail_off, sb.data_off);
	assert_int_equal(sb.tail_seq, 1);
	assert_int_equal(sb.epoch, 0);
	assert_int_equal(sb.dev_size, 4 * MiB);
	/* the first record position was cleared */
	assert_int_equal(wb_io_pread(io, buf, 4096, sb.data_off), 0);
	assert_memory_equal(buf, zero, 4096);
	/* every slot holds a valid copy of the same log */
	for (i = 0; i < WB_SB_SLOTS; i++) {
		assert_int_equal(wb_io_pread(io, buf, 4096, i * 4096ull), 0);
		assert_int_equal(wb_sb_decode(buf, io->size, &ld, err, sizeof(err)), 0);
		assert_int_equal(ld.sb_seq % WB_SB_SLOTS, i);
		assert_memory_equal(ld.uuid, sb.uuid, WB_UUID_LEN);
	}
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.sb_seq, 2 * WB_SB_SLOTS - 1);

	/* small segments: data area starts right after the slots */
	assert_int_equal(wb_sb_format(io, 4 * MiB, 16384, &sb), 0);
	assert_int_equal(sb.data_off, 16384);
	assert_int_equal(sb.max_rec_blocks, 3);
	/* a new format gets a new UUID */
	assert_memory_not_equal(sb.uuid, ld.uuid, WB_UUID_LEN);
	wb_io_close(io);
}

static void test_format_refuses(void **state)
{
	struct wb_io *io = dev(3 * MiB - 4096);
	struct wb_sb sb;

	(void)state;
	wb_msg_set_sink(sink, NULL, WB_LOG_DEBUG);
	assert_int_equal(wb_sb_format(io, 4 * MiB, 1 * MiB, &sb), -ENOSPC);
	assert_non_null(strstr(last_err, "logdev"));
	assert_non_null(strstr(last_err, "too small"));
	assert_int_equal(wb_sb_format(io, 4 * MiB, 6000, &sb), -EINVAL);
	assert_int_equal(wb_sb_format(io, 4 * MiB, 4096, &sb), -EINVAL);
	assert_int_equal(wb_sb_format(io, 4 * MiB + 1, 8192, &sb), -EINVAL);
	assert_int_equal(wb_sb_format(io, 0, 8192, &sb), -EINVAL);
	wb_msg_set_sink(NULL, NULL, WB_LOG_INFO);
	wb_io_close(io);
}

/* Write sb (with a given sb_seq) to its slot. */
static void put_slot(struct wb_io *io, struct wb_sb *sb, uint64_t sb_seq)
{
	uint8_t buf[4096];

	sb->sb_seq = sb_seq;
	wb_sb_encode(sb, buf);
	assert_int_equal(wb_io_pwrite(io, buf, 4096, wb_sb_slot_off(sb, sb_seq), 0), 0);
}

static void test_ring_newest_and_fallback(void **state)
{
	struct wb_io *io = dev(4 * MiB);
	struct wb_sb sb, ld;
	uint8_t buf[4096];
	char err[256];

	(void)state;
	assert_int_equal(wb_sb_format(io, 1 * MiB, 64 * 1024, &sb), 0);
	sb.epoch = 5;
	put_slot(io, &sb, 8); /* slot 0 */
	sb.epoch = 6;
	put_slot(io, &sb, 9); /* slot 1 */
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.sb_seq, 9);
	assert_int_equal(ld.epoch, 6);

	/* a torn newest copy (one sector of garbage): the previous copy wins */
	memset(buf, 0x5a, 512);
	assert_int_equal(wb_io_pwrite(io, buf, 512, 4096 + 1024, 0), 0);
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.sb_seq, 8);
	assert_int_equal(ld.epoch, 5);

	/* a valid copy in the wrong slot is ignored (sb_seq 13 belongs to slot 1) */
	sb.sb_seq = 13;
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_io_pwrite(io, buf, 4096, 2 * 4096, 0), 0);
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.sb_seq, 8);
	wb_io_close(io);
}

/*
 * A ring declared wider than WB_SB_SLOTS (the decoder accepts up to
 * WB_SB_MAX_SLOTS): the loader reads every slot of it, so load -> write
 * (sb_seq + 1 at its slot, as the engine does) -> load always returns what
 * was just written and the epoch never goes back. Before, the loader read 4
 * slots only: the copies in slots 4..7 were invisible and an older epoch won.
 */
static void test_ring_wider_than_four(void **state)
{
	struct wb_io *io = dev(4 * MiB);
	struct wb_sb sb, ld, stray;
	char err[256];
	uint64_t s, last_epoch = 0;

	(void)state;
	assert_int_equal(wb_sb_format(io, 1 * MiB, 64 * 1024, &sb), 0); /* data_off 64 KiB */
	sb.nslots = 8;
	for (s = 8; s <= 13; s++) { /* slots 0..5; slots 6, 7 still blank */
		sb.epoch = s;
		put_slot(io, &sb, s);
	}
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.sb_seq, 13); /* slot 5 */
	assert_int_equal(ld.epoch, 13);
	for (s = 0; s < 12; s++) { /* twelve load -> write -> load rounds: slots 6,7,0,1,... */
		uint64_t want = ld.sb_seq + 1;

		ld.epoch++;
		assert_true(ld.epoch > last_epoch);
		last_epoch = ld.epoch;
		put_slot(io, &ld, want);
		assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), 0);
		assert_int_equal(ld.sb_seq, want);
		assert_int_equal(ld.epoch, last_epoch);
	}

	/* slots 4.. never widen the ring or join it from another log: a newer
	 * copy claiming a 16-slot ring in slot 6, one of another log in slot 4 */
	assert_true(ld.sb_seq % 8 < 4);
	stray = ld;
	stray.nslots = 16;
	stray.epoch = 1000;
	put_slot(io, &stray, 16 * 100 + 6);
	stray = ld;
	stray.uuid[0] ^= 1;
	stray.epoch = 1001;
	put_slot(io, &stray, ld.sb_seq - ld.sb_seq % 8 + 8 + 4);
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.epoch, last_epoch);
	assert_int_equal(ld.nslots, 8);

	/* a 4-slot ring never reads slot 4 (it may be data with small segments) */
	assert_int_equal(wb_sb_format(io, 1 * MiB, 64 * 1024, &sb), 0);
	stray = sb;
	stray.nslots = 8;
	stray.epoch = 77;
	put_slot(io, &stray, 8 * 10 + 4);
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.nslots, 4);
	assert_int_equal(ld.epoch, 0);
	wb_io_close(io);
}

static void test_ring_refusals(void **state)
{
	struct wb_io *io = dev(4 * MiB);
	struct wb_sb sb, ld;
	uint8_t buf[4096];
	char err[256];
	uint32_t i;

	(void)state;
	/* nothing there */
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "logdev"));
	assert_non_null(strstr(err, "not a wblog log"));

	/* every copy damaged (crc) */
	assert_int_equal(wb_sb_format(io, 1 * MiB, 64 * 1024, &sb), 0);
	for (i = 0; i < WB_SB_SLOTS; i++) {
		assert_int_equal(wb_io_pread(io, buf, 4096, i * 4096ull), 0);
		buf[200] ^= 1;
		assert_int_equal(wb_io_pwrite(io, buf, 4096, i * 4096ull, 0), 0);
	}
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), -EUCLEAN);
	assert_non_null(strstr(err, "logdev"));
	assert_non_null(strstr(err, "no valid superblock"));
	assert_non_null(strstr(err, "checksum mismatch"));
	wb_io_close(io);

	/* too small to hold even the slots */
	io = dev(8192);
	assert_int_equal(wb_sb_load(io, &ld, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "too small"));
	wb_io_close(io);
}

static void test_sb_validation(void **state)
{
	struct wb_io *io = dev(4 * MiB);
	struct wb_sb sb, bad, out;
	uint8_t buf[4096];
	char why[256];

	(void)state;
	assert_int_equal(wb_sb_format(io, 1 * MiB, 64 * 1024, &sb), 0);
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_sb_decode(buf, 4 * MiB, &out, why, sizeof(why)), 0);
	assert_memory_equal(&out, &sb, sizeof(sb));
	/* the device shrank below what the superblock says */
	assert_int_equal(wb_sb_decode(buf, 2 * MiB, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "device has"));

#define BAD(field, val, text)                                                                      \
	do {                                                                                       \
		bad = sb;                                                                          \
		bad.field = (val);                                                                 \
		wb_sb_encode(&bad, buf);                                                           \
		assert_int_equal(wb_sb_decode(buf, 0, &out, why, sizeof(why)), -EINVAL);           \
		assert_non_null(strstr(why, text));                                                \
	} while (0)
	BAD(nslots, 2, "geometry");
	BAD(seg_size, 5000, "geometry");
	BAD(data_off, 4096, "geometry");
	BAD(data_size, sb.data_size + 4096, "geometry");
	BAD(data_size, 8 * MiB, "geometry");
	BAD(max_rec_blocks, 0, "geometry");
	BAD(max_rec_blocks, 16, "geometry"); /* 17 blocks do not fit a 64 KiB segment */
	BAD(dev_size, 0, "geometry");
	BAD(tail_off, sb.data_off + sb.data_size, "tail");
	BAD(tail_off, sb.data_off + 100, "tail");
	BAD(tail_seq, 0, "tail");
#undef BAD
	/* version: the crc is checked first, then the version */
	wb_sb_encode(&sb, buf);
	buf[8] = 9;
	assert_int_equal(wb_sb_decode(buf, 0, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "checksum"));
	{
		struct wb_sb_disk *d = (struct wb_sb_disk *)buf;

		d->crc = 0;
		d->crc = wb_le32_put(wb_crc32c(0, buf, 4096));
	}
	assert_int_equal(wb_sb_decode(buf, 0, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "version 9"));
	memset(buf, 0, 8);
	assert_int_equal(wb_sb_decode(buf, 0, &out, why, sizeof(why)), -EPROTO);
	/* a bitmap owner (2.3) is a printable name without spaces, NUL-padded,
	 * and only of a slot the log has (peers 0..3 here, slot 4 is past) */
	assert_int_equal(wb_sb_format_bm(io, 1 * MiB, 64 * 1024, 4, 65536, &sb), 0);
	wb_sb_encode(&sb, buf);
	memcpy(((struct wb_sb_disk *)buf)->bm_owner[3], "node-3.x", 8);
	((struct wb_sb_disk *)buf)->crc = 0;
	((struct wb_sb_disk *)buf)->crc = wb_le32_put(wb_crc32c(0, buf, 4096));
	assert_int_equal(wb_sb_decode(buf, 0, &out, why, sizeof(why)), 0);
	assert_string_equal(out.bm_owner[3], "node-3.x");
	{
		static const struct {
			const char *o;
			size_t len;
			unsigned slot;
		} owners[] = {{"x", 1, 4},		  /* a slot past the log's */
			      {NULL, WB_BM_OWNER_LEN, 0}, /* no NUL: 64 'a' */
			      {"ab\0c", 4, 1},		  /* a byte after the NUL */
			      {"a b", 3, 2},
			      {"\x01", 1, 3}};
		struct wb_sb_disk *d = (struct wb_sb_disk *)buf;
		char full[WB_BM_OWNER_LEN];

		memset(full, 'a', sizeof(full));
		for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
			wb_sb_encode(&sb, buf);
			memcpy(d->bm_owner[owners[i].slot], owners[i].o ? owners[i].o : full,
			       owners[i].len);
			d->crc = 0;
			d->crc = wb_le32_put(wb_crc32c(0, buf, 4096));
			assert_int_equal(wb_sb_decode(buf, 0, &out, why, sizeof(why)), -EINVAL);
			assert_non_null(strstr(why, "owner is not a node name"));
		}
	}
	wb_io_close(io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_geometry),
	    cmocka_unit_test(test_format_refuses),
	    cmocka_unit_test(test_ring_newest_and_fallback),
	    cmocka_unit_test(test_ring_wider_than_four),
	    cmocka_unit_test(test_ring_refusals),
	    cmocka_unit_test(test_sb_validation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
