// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_grow.c - online grow of the wblog engine (engine/wblog_grow.c, ABI
 * 14 ops size_max and grow): size_max follows the backing; refusals (not
 * larger, unaligned, past the backing, one at a time, version 1 would be
 * -EPROTO: covered by the wbengine tool test); requests past the old end
 * fail until the grow is durable and pass after, data on both sides kept,
 * the size kept across a reopen; the identity block follows the new end
 * (the old place reads as zeroes); bitmaps keep their marks and get the new range
 * marked (WB_GROW_F_MARK); a bitmap area too small for the new size at the
 * old region gets a coarser one with every mark kept; a power cut at every
 * point of a grow leaves the old size with the old bitmaps or the new size
 * with the new ones, never a failed open or a lost mark; snapshots are
 * dropped and older generations are no longer readable.
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

#include "engine/io.h"
#include "engine/wbengine.h"
#include "tests/unit/engine_fixture.h"

extern const struct wb_engine_ops wb_wblog_ops;

static int bad_copy;

static void sink(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (strstr(msg, "fails its checksum") || strstr(msg, "every region marked"))
		bad_copy++;
	if (level <= WB_LOG_WARN)
		fprintf(stderr, "%s\n", msg);
}

static int grow_sync(struct efx *f, uint64_t size, unsigned flags)
{
	struct efx_done d = {0};
	int ret = wb_engine_grow(f->e, size, flags, efx_done_cb, &d);

	return ret ? ret : efx_wait(f, &d);
}

static int flush_sync(struct efx *f)
{
	struct efx_done d = {0};
	int ret = wb_engine_bm_flush(f->e, efx_done_cb, &d);

	return ret ? ret : efx_wait(f, &d);
}

static uint64_t size_of(struct efx *f)
{
	struct wb_engine_stats st;

	assert_int_equal(wb_engine_stats(f->e, &st), 0);
	return st.size;
}

static void write_blk(struct efx *f, uint64_t off, int fill)
{
	uint8_t buf[EFX_BS];

	memset(buf, fill, sizeof(buf));
	assert_int_equal(wb_engine_write(f->e, buf, EFX_BS, off, 0), 0);
}

static int read_fill(struct efx *f, uint64_t off)
{
	uint8_t buf[EFX_BS];

	assert_int_equal(wb_engine_read(f->e, buf, EFX_BS, off), 0);
	for (unsigned i = 1; i < EFX_BS; i++)
		if (buf[i] != buf[0])
			return -1;
	return buf[0];
}

static struct wb_bm_info bm(struct efx *f, unsigned peer)
{
	struct wb_bm_info bi;

	assert_int_equal(wb_engine_bm_info(f->e, peer, &bi), 0);
	return bi;
}

static void test_grow(void **state)
{
	const uint64_t D = EFX_DEVSZ, N = 3 * EFX_DEVSZ;
	uint8_t buf[EFX_BS] = {0};
	uint64_t max;
	struct efx f;
	struct efx_done d = {0};

	(void)state;
	efx_devices(&f, "grow", 8u << 20, NULL, NULL);
	f.p.bitmap_region = 64u << 10;
	f.p.bitmap_peers = 2;
	efx_format_open(&f);
	assert_int_equal(size_of(&f), D);
	write_blk(&f, 0, 1);
	write_blk(&f, D - EFX_BS, 2);
	assert_int_equal(wb_engine_bm_mark(f.e, 1, 5 * 65536, 1), 0);
	assert_int_equal(flush_sync(&f), 0);
	/* the backing has not grown: nothing to grow into */
	assert_int_equal(wb_engine_size_max(f.e, &max), 0);
	assert_int_equal(max, D);
	assert_int_equal(wb_engine_grow(f.e, 0, 0, efx_done_cb, &d), -EINVAL);
	assert_int_equal(wb_engine_grow(f.e, D + EFX_BS, 0, efx_done_cb, &d), -ENOSPC);
	assert_int_equal(wb_io_fault_grow(f.bak, N + 4096 + 512), 0);
	assert_int_equal(wb_engine_size_max(f.e, &max), 0);
	assert_int_equal(max, N); /* rounded down to 4 KiB, the identity block after it */
	assert_int_equal(wb_engine_grow(f.e, D, 0, efx_done_cb, &d), -EINVAL);
	assert_int_equal(wb_engine_grow(f.e, D + 512, 0, efx_done_cb, &d), -EINVAL);
	assert_int_equal(wb_engine_grow(f.e, N + EFX_BS, 0, efx_done_cb, &d), -ENOSPC);
	assert_int_equal(wb_engine_grow(f.e, 2 * D, 9, efx_done_cb, &d), -EINVAL);
	/* past the old end: refused until the grow is durable */
	assert_int_equal(wb_engine_grow(f.e, 2 * D, WB_GROW_F_MARK, efx_done_cb, &d), 0);
	assert_int_equal(wb_engine_grow(f.e, N, 0, efx_done_cb, &d), -EBUSY);
	assert_int_equal(wb_engine_write(f.e, buf, EFX_BS, D, 0), -EINVAL);
	assert_int_equal(efx_wait(&f, &d), 0);
	assert_int_equal(size_of(&f), 2 * D);
	/* the old identity block is the first new block: zeroes */
	assert_int_equal(read_fill(&f, D), 0);
	write_blk(&f, D, 3);
	write_blk(&f, 2 * D - EFX_BS, 4);
	assert_int_equal(wb_engine_write(f.e, buf, EFX_BS, 2 * D, 0), -EINVAL);
	assert_int_equal(read_fill(&f, 0), 1);
	assert_int_equal(read_fill(&f, D - EFX_BS), 2);
	/* marks kept; the new range marked on every peer, flagged as found */
	assert_int_equal(wb_engine_bm_test(f.e, 1, 5 * 65536, 1), 1);
	assert_int_equal(bm(&f, 0).dirty, D / 65536);
	assert_int_equal(bm(&f, 1).dirty, D / 65536 + 1);
	assert_int_equal(bm(&f, 1).marked, 1);
	assert_int_equal(wb_engine_bm_test(f.e, 0, D - EFX_BS, EFX_BS), 0);
	assert_int_equal(wb_engine_bm_test(f.e, 0, D, EFX_BS), 1);
	/* again, without marking, to size_max */
	assert_int_equal(grow_sync(&f, 0, 0), 0);
	assert_int_equal(size_of(&f), N);
	assert_int_equal(bm(&f, 0).dirty, D / 65536);
	efx_drain(&f);
	efx_reopen(&f);
	assert_int_equal(size_of(&f), N);
	assert_int_equal(read_fill(&f, 0), 1);
	assert_int_equal(read_fill(&f, D - EFX_BS), 2);
	assert_int_equal(read_fill(&f, D), 3);
	assert_int_equal(read_fill(&f, 2 * D - EFX_BS), 4);
	assert_int_equal(bm(&f, 1).dirty, D / 65536 + 1);
	write_blk(&f, N - EFX_BS, 5);
	efx_drain(&f);
	assert_int_equal(read_fill(&f, N - EFX_BS), 5);
	assert_int_equal(bad_copy, 0);
	efx_fini(&f);
}

/* A 4 KiB bitmap page at 4 KiB per bit covers 128 MiB: growing past that
 * doubles the region; a mark in region r is in region r / 2 after. */
static void test_coarsen(void **state)
{
	const uint64_t N = 136u << 20;
	struct efx f;

	(void)state;
	efx_devices(&f, "grow", 8u << 20, NULL, NULL);
	f.p.bitmap_region = 4096;
	f.p.bitmap_peers = 2;
	efx_format_open(&f);
	assert_int_equal(wb_engine_bm_mark(f.e, 0, 7 * 4096, 1), 0);
	assert_int_equal(wb_engine_bm_mark(f.e, 0, 8 * 4096, 1), 0);
	assert_int_equal(wb_engine_bm_mark(f.e, 1, 1023 * 4096, 1), 0);
	assert_int_equal(flush_sync(&f), 0);
	assert_int_equal(wb_io_fault_grow(f.bak, N + 4096), 0);
	assert_int_equal(grow_sync(&f, N, 0), 0);
	assert_int_equal(bm(&f, 0).region_size, 8192);
	assert_int_equal(bm(&f, 0).nbits, N / 8192);
	assert_int_equal(bm(&f, 0).dirty, 2); /* regions 3 and 4 */
	assert_int_equal(wb_engine_bm_test(f.e, 0, 6 * 4096, 4096), 1);
	assert_int_equal(wb_engine_bm_test(f.e, 0, 9 * 4096, 4096), 1);
	assert_int_equal(wb_engine_bm_test(f.e, 0, 10 * 4096, 4096), 0);
	assert_int_equal(bm(&f, 1).dirty, 1);
	assert_int_equal(wb_engine_bm_test(f.e, 1, 1022 * 4096, 4096), 1);
	efx_crash(&f);
	assert_int_equal(size_of(&f), N);
	assert_int_equal(bm(&f, 0).region_size, 8192);
	assert_int_equal(bm(&f, 0).dirty, 2);
	assert_int_equal(bm(&f, 1).dirty, 1);
	assert_int_equal(wb_engine_bm_test(f.e, 1, 1022 * 4096, 4096), 1);
	assert_int_equal(bad_copy, 0);
	efx_fini(&f);
}

/* Power cuts at every point of a grow that coarsens and marks: the open
 * after sees the old size with the old marks, or the new size with the
 * old marks folded and the new range marked; data written before the last
 * flush is there either way. */
static void test_power_cuts(void **state)
{
	const uint64_t D = EFX_DEVSZ, N = 136u << 20;
	struct wb_fault_cfg lc = {
	    .seed = 1, .drop_permille = 400, .tear_permille = 400, .reorder = 1};
	struct wb_fault_cfg bc = {.seed = 2, .drop_permille = 400, .tear_permille = 400};
	unsigned cut, olds = 0, news = 0;

	(void)state;
	for (cut = 0; cut < 14; cut++) {
		struct efx f;
		struct efx_done d = {0};
		uint64_t base;

		lc.seed = 100 + cut;
		efx_devices(&f, "grow", 2u << 20, &lc, &bc);
		f.p.log_segment_size = 64u << 10;
		f.p.bitmap_region = 4096;
		f.p.bitmap_peers = 2;
		efx_format_open(&f);
		write_blk(&f, 0, 7);
		write_blk(&f, D - EFX_BS, 8);
		assert_int_equal(wb_engine_flush(f.e), 0);
		assert_int_equal(wb_engine_bm_mark(f.e, 1, 9 * 4096, 1), 0);
		assert_int_equal(flush_sync(&f), 0);
		assert_int_equal(wb_io_fault_grow(f.bak, N + 4096), 0);
		base = wb_io_fault_nsubmitted(f.log) + wb_io_fault_nsubmitted(f.bak);
		assert_int_equal(wb_engine_grow(f.e, N, WB_GROW_F_MARK, efx_done_cb, &d), 0);
		while (!d.called &&
		       wb_io_fault_nsubmitted(f.log) + wb_io_fault_nsubmitted(f.bak) < base + cut)
			assert_true(wb_engine_run(f.e, 1) >= 0);
		efx_crash(&f);
		assert_int_equal(bad_copy, 0);
		assert_int_equal(read_fill(&f, 0), 7);
		assert_int_equal(read_fill(&f, D - EFX_BS), 8);
		if (size_of(&f) == D) {
			olds++;
			assert_int_equal(bm(&f, 1).region_size, 4096);
			assert_int_equal(bm(&f, 1).dirty, 1);
			assert_int_equal(wb_engine_bm_test(f.e, 1, 9 * 4096, 1), 1);
			assert_int_equal(bm(&f, 0).dirty, 0);
			/* and the grow can be done again */
			assert_int_equal(grow_sync(&f, N, WB_GROW_F_MARK), 0);
		} else {
			news++;
			assert_int_equal(size_of(&f), N);
		}
		assert_int_equal(bm(&f, 1).region_size, 8192);
		assert_int_equal(wb_engine_bm_test(f.e, 1, 8 * 4096, 1), 1);
		assert_int_equal(wb_engine_bm_test(f.e, 1, 10 * 4096, 1), 0);
		assert_int_equal(bm(&f, 0).dirty, (N - D) / 8192);
		assert_int_equal(bm(&f, 1).dirty, (N - D) / 8192 + 1);
		assert_int_equal(bm(&f, 0).marked, 1);
		efx_fini(&f);
	}
	print_message("%u cuts before the new size was durable, %u after\n", olds, news);
	/* the cuts fell on both sides of the superblock write */
	assert_true(olds > 0);
	assert_true(news > 0);
}

/* Snapshots: dropped by a grow; generations that ended before it are not
 * readable after it. */
static void test_snapshots(void **state)
{
	struct wb_gen_span sp;
	struct wb_snap_info si;
	struct efx f;

	(void)state;
	efx_devices(&f, "grow", 8u << 20, NULL, NULL);
	efx_format_open(&f);
	write_blk(&f, 0, 1);
	assert_int_equal(wb_engine_flush(f.e), 0);
	write_blk(&f, 4096, 2);
	assert_int_equal(wb_engine_flush(f.e), 0);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_true(sp.oldest <= sp.newest);
	assert_int_equal(wb_engine_snap_create(f.e, sp.newest, &si), 0);
	assert_int_equal(wb_io_fault_grow(f.bak, 2 * EFX_DEVSZ + 4096), 0);
	assert_int_equal(grow_sync(&f, 2 * EFX_DEVSZ, 0), 0);
	assert_int_equal(wb_engine_snap_list(f.e, &si, 1), 0);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_true(sp.oldest > sp.newest);
	write_blk(&f, EFX_DEVSZ, 3);
	assert_int_equal(wb_engine_flush(f.e), 0);
	write_blk(&f, EFX_DEVSZ, 4);
	assert_int_equal(wb_engine_flush(f.e), 0);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_true(sp.oldest <= sp.newest);
	efx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow),
	    cmocka_unit_test(test_coarsen),
	    cmocka_unit_test(test_power_cuts),
	    cmocka_unit_test(test_snapshots),
	};

	wb_msg_set_sink(sink, NULL, WB_LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
