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
 *
 * Growing the log's data area (ABI 16 op grow_log, docs/engine.md "Growing
 * the log"): refusals; the new space is used once the superblock is
 * durable; over random log states (wrapped with waste, ending exactly at
 * the old end, empty, unwrapped) and random grows, every flushed write is
 * there after a power cut, again after records went into the new range,
 * and after a clean close (its head hint checked by recovery); power cuts
 * at every I/O of a grow with writes going on.
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
#include "engine/wblog_int.h"
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

/* ---- growing the log ---- */

static int lgrow_sync(struct efx *f, uint64_t bytes)
{
	struct efx_done d = {0};
	int ret = wb_engine_grow_log(f->e, bytes, efx_done_cb, &d);

	return ret ? ret : efx_wait(f, &d);
}

/* A log of logsz bytes in 64 KiB segments that destages only when asked
 * (drain) or above low_pct, then formatted and open. */
static void lg_open(struct efx *f, uint64_t logsz, unsigned low_pct, const struct wb_fault_cfg *lc,
		    const struct wb_fault_cfg *bc)
{
	efx_devices(f, "lgrow", logsz, lc, bc);
	f->p.log_segment_size = 64u << 10;
	f->p.destage_min_rate = WB_DESTAGE_RATE_NONE;
	f->p.destage_low_pct = low_pct;
	f->p.destage_high_pct = 100;
	efx_format_open(f);
}

static struct wb_engine_stats stats_of(struct efx *f)
{
	struct wb_engine_stats st;

	assert_int_equal(wb_engine_stats(f->e, &st), 0);
	return st;
}

static uint64_t lg_rng;

static uint64_t lg_rand(uint64_t n)
{
	uint64_t z = (lg_rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return (z ^ (z >> 31)) % n;
}

/* What the device holds: a fill byte per block (0: never written). */
struct lg_model {
	uint8_t fill[EFX_NBLK];
	uint8_t next;
};

/* One write of nblk blocks at a random place, flushed: one record. */
static void lg_write(struct efx *f, struct lg_model *m, unsigned nblk)
{
	static uint8_t buf[8 * EFX_BS];
	uint64_t b = lg_rand(EFX_NBLK - nblk + 1);

	m->next = m->next == 255 ? 1 : m->next + 1;
	memset(buf, m->next, (size_t)nblk * EFX_BS);
	assert_int_equal(wb_engine_write(f->e, buf, (size_t)nblk * EFX_BS, b * EFX_BS, 0), 0);
	assert_int_equal(wb_engine_flush(f->e), 0);
	memset(m->fill + b, m->next, nblk);
}

static void lg_writes(struct efx *f, struct lg_model *m, unsigned n, int one_block)
{
	while (n--)
		lg_write(f, m, one_block ? 1 : 1 + (unsigned)lg_rand(8));
}

static void lg_check(struct efx *f, const struct lg_model *m, const char *when)
{
	for (unsigned b = 0; b < EFX_NBLK; b++) {
		int got = read_fill(f, (uint64_t)b * EFX_BS);

		if (got != m->fill[b])
			fail_msg("%s: block %u holds %d, expected %d", when, b, got, m->fill[b]);
	}
}

static void test_log_grow(void **state)
{
	struct efx f;
	struct efx_done d = {0};
	struct lg_model *m = calloc(1, sizeof(*m));
	uint64_t l0, l1;

	(void)state;
	lg_rng = 7;
	lg_open(&f, 1u << 20, 100, NULL, NULL);
	l0 = stats_of(&f).log_size;
	assert_true(l0 > 0 && l0 < (1u << 20));
	/* the device has not grown */
	assert_int_equal(wb_engine_grow_log(f.e, 0, efx_done_cb, &d), -EALREADY);
	assert_int_equal(wb_engine_grow_log(f.e, 1u << 20, efx_done_cb, &d), -EINVAL);
	assert_int_equal(wb_engine_grow_log(f.e, 2u << 20, efx_done_cb, &d), -ENOSPC);
	assert_int_equal(wb_engine_grow_log(f.e, 0, NULL, NULL), -EINVAL);
	lg_writes(&f, m, 20, 0);
	assert_int_equal(wb_io_fault_grow(f.log, (3u << 20) + 4096), 0);
	assert_int_equal(wb_engine_grow_log(f.e, (3u << 20) + 512, efx_done_cb, &d), -EINVAL);
	assert_int_equal(wb_engine_grow_log(f.e, (4u << 20), efx_done_cb, &d), -ENOSPC);
	/* a size within the device: the whole segments it holds */
	assert_int_equal(lgrow_sync(&f, 2u << 20), 0);
	l1 = stats_of(&f).log_size;
	assert_int_equal(l1, l0 + (1u << 20));
	/* then the rest: one at a time */
	assert_int_equal(wb_engine_grow_log(f.e, 0, efx_done_cb, &d), 0);
	assert_int_equal(wb_engine_grow_log(f.e, 0, efx_done_cb, &d), -EBUSY);
	assert_int_equal(stats_of(&f).log_size, l1); /* not before it is durable */
	assert_int_equal(efx_wait(&f, &d), 0);
	l1 = stats_of(&f).log_size;
	assert_int_equal(l1, l0 + (2u << 20));
	assert_int_equal(lgrow_sync(&f, 0), -EALREADY);
	/* more than the old log held, nothing destaged: the new space is used */
	while (stats_of(&f).log_used <= l0 + (512u << 10))
		lg_writes(&f, m, 1, 0);
	assert_int_equal(stats_of(&f).dirty_bytes > 0, 1);
	lg_check(&f, m, "after the grow");
	efx_crash(&f);
	assert_int_equal(stats_of(&f).log_size, l1);
	assert_true(stats_of(&f).log_used > l0);
	lg_check(&f, m, "after a power cut");
	efx_drain(&f);
	efx_reopen(&f);
	assert_int_equal(stats_of(&f).log_size, l1);
	lg_check(&f, m, "after a drain and a reopen");
	efx_fini(&f);
	free(m);
}

/*
 * Random log states, random grows: the writer and recovery must agree
 * where every record is with either end. Each round: fill the log to a
 * random point and drain it (the tail moves there), write records that may
 * wrap, maybe end a record exactly at the end (one-block writes tile
 * the 64 KiB segments), grow by 1-8 segments (sometimes twice), write
 * more, power cut, write more into the new range, power cut, clean close.
 */
static void test_log_grow_random(void **state)
{
	unsigned round, wrapped = 0, at_end = 0, rounds = 40;

	(void)state;
	for (round = 0; round < rounds; round++) {
		struct efx f;
		struct lg_model *m = calloc(1, sizeof(*m));
		struct wblog *w;
		int one = round % 3 == 0;
		uint64_t logsz = (256u << 10) + lg_rand(5) * (64u << 10), grow, l0;
		char when[80];

		lg_rng = 1000 + round;
		lg_open(&f, logsz, 90, NULL, NULL); /* a full log must destage */
		l0 = stats_of(&f).log_size;
		lg_writes(&f, m, (unsigned)lg_rand(l0 / (8 * EFX_BS) + 1), one);
		efx_drain(&f);
		/* up to ~90 % of the log: from the tail's random place, often past the end */
		lg_writes(&f, m, (unsigned)lg_rand(l0 * 9 / 10 / ((one ? 2 : 6) * EFX_BS) + 1),
			  one);
		w = (struct wblog *)f.e;
		/* every sixth round: up to a record that ends exactly at the end */
		for (unsigned k = 0; round % 6 == 0 && k < 200 && w->sp.head != w->sp.start; k++)
			lg_writes(&f, m, 1, one);
		if (w->sp.used && w->sp.head <= w->sp.tail)
			wrapped++;
		if (w->sp.used && w->sp.head == w->sp.start)
			at_end++;
		grow = (1 + lg_rand(8)) * (64u << 10);
		assert_int_equal(wb_io_fault_grow(f.log, logsz + grow + lg_rand(16) * 512), 0);
		assert_int_equal(lgrow_sync(&f, 0), 0);
		assert_int_equal(stats_of(&f).log_size, l0 + grow);
		if (lg_rand(4) == 0) { /* a second grow */
			assert_int_equal(wb_io_fault_grow(f.log, logsz + 2 * grow), 0);
			assert_int_equal(lgrow_sync(&f, 0), 0);
			grow *= 2;
		}
		if (round % 6 == 0) { /* a clean close before any record went past the old end */
			snprintf(when, sizeof(when), "round %u, a clean close after the grow",
				 round);
			efx_reopen(&f);
			lg_check(&f, m, when);
		}
		if (lg_rand(3))
			lg_writes(&f, m, (unsigned)lg_rand(6), one);
		snprintf(when, sizeof(when), "round %u, a power cut after the grow", round);
		efx_crash(&f);
		assert_int_equal(stats_of(&f).log_size, l0 + grow);
		lg_check(&f, m, when);
		lg_writes(&f, m, (unsigned)lg_rand(l0 / (16 * EFX_BS) + 1), one);
		snprintf(when, sizeof(when), "round %u, a power cut after more writes", round);
		efx_crash(&f);
		lg_check(&f, m, when);
		lg_writes(&f, m, (unsigned)lg_rand(4), one);
		snprintf(when, sizeof(when), "round %u, a clean close", round);
		efx_reopen(&f);
		lg_check(&f, m, when);
		efx_fini(&f);
		free(m);
	}
	print_message("%u rounds: %u grew a wrapped log, %u a log that ended at the end\n", rounds,
		      wrapped, at_end);
	assert_true(wrapped > 0);
	assert_true(at_end > 0);
}

/* The grow's superblock write held (a slow FUA): records written
 * meanwhile cross the old end by wrapping to the start, never into the new
 * range the superblock on disk does not have yet; a power cut then finds
 * them all with the old size. */
static void test_log_grow_held(void **state)
{
	struct efx f;
	struct efx_done d = {0};
	struct lg_model *m = calloc(1, sizeof(*m));
	struct wblog *w;
	uint64_t l0;
	int wrapped;

	(void)state;
	lg_rng = 99;
	lg_open(&f, 512u << 10, 100, NULL, NULL);
	l0 = stats_of(&f).log_size;
	lg_writes(&f, m, 25, 1); /* 200 KiB of records, then destaged: the tail is there */
	efx_drain(&f);
	w = (struct wblog *)f.e;
	while (w->sp.head < w->sp.end - (40u << 10))
		lg_writes(&f, m, 1, 1);
	assert_true(w->sp.head > w->sp.tail);
	assert_int_equal(wb_io_fault_grow(f.log, 1u << 20), 0);
	assert_int_equal(wb_engine_grow_log(f.e, 0, efx_done_cb, &d), 0);
	wb_io_fault_hold_next(f.log, WB_IO_WRITE);
	for (int i = 0; i < 10 && !w->sb_inflight; i++)
		assert_true(wb_engine_run(f.e, 0) >= 0);
	assert_int_equal(w->sb_inflight, 1);
	lg_writes(&f, m, 10, 1); /* 80 KiB: past the old end */
	assert_int_equal(d.called, 0);
	wrapped = w->sp.head < w->sp.tail;
	efx_crash(&f);
	assert_int_equal(stats_of(&f).log_size, l0);
	lg_check(&f, m, "a power cut with the grow's superblock held");
	assert_true(wrapped);
	assert_int_equal(lgrow_sync(&f, 0), 0);
	assert_int_equal(stats_of(&f).log_size, l0 + (512u << 10));
	efx_fini(&f);
	free(m);
}

/* Power cuts at every I/O of a grow of a wrapped log with flushed writes
 * going on: the open after finds every flushed write and either size. */
static void test_log_grow_power_cuts(void **state)
{
	struct wb_fault_cfg lc = {
	    .seed = 1, .drop_permille = 400, .tear_permille = 400, .reorder = 1};
	struct wb_fault_cfg bc = {.seed = 2, .drop_permille = 400, .tear_permille = 400};
	unsigned cut, olds = 0, news = 0;

	(void)state;
	for (cut = 0; cut < 12; cut++) {
		struct efx f;
		struct efx_done d = {0};
		struct lg_model *m = calloc(1, sizeof(*m));
		uint64_t base, l0;
		char when[80];

		lg_rng = 50 + cut;
		lc.seed = 200 + cut;
		lg_open(&f, 512u << 10, 90, &lc, &bc);
		l0 = stats_of(&f).log_size;
		lg_writes(&f, m, 30, 0);
		efx_drain(&f);
		lg_writes(&f, m, 12, 0);
		assert_int_equal(wb_io_fault_grow(f.log, 1u << 20), 0);
		base = wb_io_fault_nsubmitted(f.log) + wb_io_fault_nsubmitted(f.bak);
		assert_int_equal(wb_engine_grow_log(f.e, 0, efx_done_cb, &d), 0);
		while (!d.called &&
		       wb_io_fault_nsubmitted(f.log) + wb_io_fault_nsubmitted(f.bak) < base + cut)
			lg_writes(&f, m, 1, 0);
		snprintf(when, sizeof(when), "cut %u", cut);
		efx_crash(&f);
		lg_check(&f, m, when);
		if (stats_of(&f).log_size == l0) {
			olds++;
			assert_int_equal(lgrow_sync(&f, 0), 0);
		} else {
			news++;
		}
		assert_int_equal(stats_of(&f).log_size, l0 + (512u << 10));
		while (stats_of(&f).log_used <= l0)
			lg_writes(&f, m, 1, 0);
		efx_crash(&f);
		lg_check(&f, m, when);
		efx_fini(&f);
		free(m);
	}
	print_message("%u cuts before the new size was durable, %u after\n", olds, news);
	assert_true(olds > 0);
	assert_true(news > 0);
}

/* After `passes` engine runs (fewer once answered), close the engine:
 * the grow's answer came exactly once; then open it again. */
static void close_answered(struct efx *f, struct efx_done *d, int passes)
{
	for (int i = 0; i < passes && !d->called; i++)
		wb_engine_run(f->e, 1);
	wb_engine_close(f->e);
	f->e = NULL;
	assert_int_equal(d->called, 1);
	efx_reopen(f);
}

/* A close while a grow is in flight answers it first (before 2026-12-04
 * the device grow's waiter was freed uncalled: a `wbctl resize` racing a
 * `wbctl down` waited until its connection closed); what it answered is
 * what the next open finds. Both grows, closed at once and after each
 * number of engine passes of the device grow's steps. */
static void test_close_in_grow(void **state)
{
	const uint64_t D = EFX_DEVSZ;

	(void)state;
	for (int passes = 0; passes < 4; passes++) {
		struct efx f;
		struct efx_done d = {0};

		efx_devices(&f, "grow", 8u << 20, NULL, NULL);
		f.p.bitmap_region = 64u << 10;
		f.p.bitmap_peers = passes & 1 ? 2 : 0;
		efx_format_open(&f);
		write_blk(&f, 0, 1);
		assert_int_equal(wb_io_fault_grow(f.bak, 2 * D + 4096), 0);
		assert_int_equal(wb_engine_grow(f.e, 2 * D, 0, efx_done_cb, &d), 0);
		close_answered(&f, &d, passes);
		assert_int_equal(size_of(&f), d.err ? D : 2 * D);
		assert_int_equal(read_fill(&f, 0), 1);
		efx_fini(&f);
	}
	for (int passes = 0; passes < 2; passes++) {
		struct efx f;
		struct efx_done d = {0};
		struct wb_engine_stats st;

		lg_open(&f, 1u << 20, 100, NULL, NULL);
		write_blk(&f, 0, 7);
		assert_int_equal(wb_io_fault_grow(f.log, 2u << 20), 0);
		assert_int_equal(wb_engine_grow_log(f.e, 0, efx_done_cb, &d), 0);
		close_answered(&f, &d, passes);
		st = stats_of(&f);
		if (d.err)
			assert_true(st.log_size < (1u << 20));
		else
			assert_true(st.log_size > (1u << 20));
		assert_int_equal(read_fill(&f, 0), 7);
		efx_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow),	  cmocka_unit_test(test_coarsen),
	    cmocka_unit_test(test_power_cuts),	  cmocka_unit_test(test_snapshots),
	    cmocka_unit_test(test_log_grow),	  cmocka_unit_test(test_log_grow_random),
	    cmocka_unit_test(test_log_grow_held), cmocka_unit_test(test_log_grow_power_cuts),
	    cmocka_unit_test(test_close_in_grow),
	};

	wb_msg_set_sink(sink, NULL, WB_LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
