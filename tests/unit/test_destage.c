// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_destage.c - destage of the wblog engine (engine/wblog_destage.c), observed
 * from outside: a spy wraps the submit op of both fault devices and records
 * every I/O in submission order, reading the generation stamped into each
 * data block the backing device receives.
 *
 *   - order: the versions of each block reach the backing device in order;
 *     a superblock (tail) write never calls a generation destaged whose
 *     data is in a backing write no backing flush covered yet; the backing
 *     device ends up with the newest data of every block;
 *   - pipelining: with the records' pages gone, the next batch reads from
 *     the log while the one before writes, and one tail (backing flush +
 *     superblock) is persisted for several batches;
 *   - watermarks, minimum rate and counters: below the low watermark nothing
 *     more is destaged once the rate allowance is spent; above it destage
 *     runs down below it; dirty bytes, destaged bytes, rate and ETA agree;
 *   - a full log throttles writers: every write completes without error,
 *     log use never exceeds the high watermark, data reads back;
 *   - power cut after the destage writes but before the backing flush,
 *     after the backing flush but before the tail (superblock) write, and
 *     between two batches whose tail is not persisted yet: the data is
 *     recovered from the log (the backing device did not keep it);
 *   - destage writes from the records' RAM pages: while its backing writes
 *     are held back, newer writes evict those records' pages and want
 *     pages of their own; the data the held writes carry does not change
 *     (the batch holds page references) and ends on backing;
 *   - blocks no longer in RAM are read from the log by few large reads
 *     (neighbours in the log share one), not one read per piece.
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/io.h"
#include "engine/superblock.h"
#include "engine/wbengine.h"
#include "tests/unit/engine_fixture.h"

extern const struct wb_engine_ops wb_wblog_ops;
extern uint32_t wbl_ds_batch_blocks; /* engine/wblog_int.h: blocks per destage batch */

#define BS    EFX_BS
#define DEVSZ EFX_DEVSZ
#define NBLK  EFX_NBLK

/* ---- spy on both devices ---------------------------------------------- */

enum { D_LOG = 0, D_BAK = 1 };

struct ev {
	int dev;
	uint8_t op, flags;
	uint64_t off, len;
	uint64_t gmin, gmax; /* generations stamped in the data (backing writes) */
	uint64_t sb_dgen;    /* superblock write: its destaged_gen */
};

static struct ev *evs;
static unsigned nev, cap_ev;
static struct wb_io *spy_dev[2];
static struct wb_io_ops spy_ops[2];
static int (*orig_submit[2])(struct wb_io *io, struct wb_io_req *r);
static enum { CUT_NONE, CUT_AT_BAK_FLUSH, CUT_AT_SB_WRITE, CUT_BETWEEN_BATCHES } cut_mode;
static int cut_done, bak_writes_seen;
/* the version of each block the backing device got last: destage writes
 * the versions of a block in order (off after a power cut: recovery may
 * write a version again that a lost write had already passed) */
static uint32_t bak_ver[NBLK];
static int ver_check;
/* backing writes since the last backing flush, where the last one ended */
static int bak_unflushed;
static uint64_t bak_last_end;

/* hold_bak: backing writes are kept here (with a copy of their data at
 * submission) until hold_release() submits them */
static int hold_bak;
struct held {
	struct wb_io *io;
	struct wb_io_req *r;
	uint8_t *copy;
	uint64_t len;
};
static struct held held_w[256];
static unsigned nheld_w;

static uint64_t req_copy(const struct wb_io_req *r, uint8_t *dst)
{
	uint64_t len = 0, k;

	if (!r->niov) {
		if (dst)
			memcpy(dst, r->buf, r->len);
		return r->len;
	}
	for (k = 0; k < r->niov; k++) {
		if (dst)
			memcpy(dst + len, r->iov[k].iov_base, r->iov[k].iov_len);
		len += r->iov[k].iov_len;
	}
	return len;
}

static void blk_gen(const uint8_t *b, struct ev *e)
{
	uint64_t w[3];

	memcpy(w, b, sizeof(w));
	if (!w[0] && !w[1])
		return; /* zero block */
	if (w[0] >= 1 && w[0] <= NBLK) {
		if (ver_check && w[2] < bak_ver[w[0] - 1])
			fail_msg("backing write of block %llu version %llu after version %u",
				 (unsigned long long)w[0] - 1, (unsigned long long)w[2],
				 bak_ver[w[0] - 1]);
		bak_ver[w[0] - 1] = (uint32_t)w[2];
	}
	if (w[1] < e->gmin)
		e->gmin = w[1];
	if (w[1] > e->gmax)
		e->gmax = w[1];
}

/* Backing writes in flight (submitted, done() not called yet): no two
 * may share a block (their order on the device would be undefined). */
struct infl {
	struct wb_io_req *r;
	void (*done)(struct wb_io_req *r, int res);
	uint64_t off, len;
};
static struct infl infl[512];
static unsigned ninfl;

static void infl_done(struct wb_io_req *r, int res)
{
	unsigned i;

	for (i = 0; i < ninfl && infl[i].r != r; i++)
		;
	assert_true(i < ninfl);
	r->done = infl[i].done;
	infl[i] = infl[--ninfl];
	r->done(r, res);
}

static void infl_add(struct wb_io_req *r, uint64_t len)
{
	for (unsigned i = 0; i < ninfl; i++)
		if (r->off < infl[i].off + infl[i].len && infl[i].off < r->off + len)
			fail_msg("backing write at 0x%llx+%llu while one at 0x%llx+%llu is in "
				 "flight",
				 (unsigned long long)r->off, (unsigned long long)len,
				 (unsigned long long)infl[i].off, (unsigned long long)infl[i].len);
	assert_true(ninfl < sizeof(infl) / sizeof(infl[0]));
	infl[ninfl++] = (struct infl){.r = r, .done = r->done, .off = r->off, .len = len};
	r->done = infl_done;
}

static void cut_power(void)
{
	wb_io_fault_power_cut(spy_dev[D_LOG]);
	wb_io_fault_power_cut(spy_dev[D_BAK]);
	cut_done = 1;
	ver_check = 0;
}

static int spy_submit(struct wb_io *io, struct wb_io_req *r)
{
	int d = io == spy_dev[D_LOG] ? D_LOG : D_BAK;
	struct ev *e;
	uint64_t k;

	/* format's identity block (engine/bind.h) is the only FUA write to
	 * the backing, and durable at once: not part of destage ordering */
	if (d == D_BAK && r->op == WB_IO_WRITE && (r->flags & WB_IO_FUA))
		return orig_submit[d](io, r);
	if (nev == cap_ev) {
		cap_ev = cap_ev ? cap_ev * 2 : 4096;
		evs = realloc(evs, cap_ev * sizeof(*evs));
		assert_non_null(evs);
	}
	e = &evs[nev++];
	memset(e, 0, sizeof(*e));
	e->dev = d;
	e->op = r->op;
	e->flags = r->flags;
	e->off = r->off;
	e->gmin = UINT64_MAX;
	if (r->niov)
		for (k = 0; k < r->niov; k++)
			e->len += r->iov[k].iov_len;
	else
		e->len = r->len;
	if (d == D_LOG && r->op == WB_IO_WRITE && r->off < 4 * BS && !r->niov) {
		struct wb_sb sb;
		char why[128];

		assert_int_equal(wb_sb_decode(r->buf, 0, &sb, why, sizeof(why)), 0);
		e->sb_dgen = sb.destaged_gen;
	}
	if (d == D_BAK && (r->op == WB_IO_WRITE || r->op == WB_IO_DISCARD))
		infl_add(r, e->len);
	if (d == D_BAK && r->op == WB_IO_WRITE) {
		bak_writes_seen++;
		if (r->niov)
			for (k = 0; k < r->niov; k++)
				blk_gen(r->iov[k].iov_base, e);
		else
			for (k = 0; k < r->len / BS; k++)
				blk_gen((const uint8_t *)r->buf + k * BS, e);
	}
	if (hold_bak && d == D_BAK && r->op == WB_IO_WRITE) {
		struct held *h = &held_w[nheld_w++];

		assert_true(nheld_w <= sizeof(held_w) / sizeof(held_w[0]));
		h->io = io;
		h->r = r;
		h->len = req_copy(r, NULL);
		h->copy = malloc(h->len);
		assert_non_null(h->copy);
		req_copy(r, h->copy);
		return 0;
	}
	/* a batch's first write (its offset goes back) while the batch before
	 * it is written but not flushed */
	if (!cut_done && cut_mode == CUT_BETWEEN_BATCHES && d == D_BAK && r->op == WB_IO_WRITE &&
	    bak_unflushed && r->off < bak_last_end)
		cut_power();
	if (d == D_BAK && r->op == WB_IO_WRITE) {
		bak_unflushed = 1;
		bak_last_end = r->off + e->len;
	} else if (d == D_BAK && r->op == WB_IO_FLUSH) {
		bak_unflushed = 0;
	}
	if (!cut_done && cut_mode == CUT_AT_BAK_FLUSH && d == D_BAK && r->op == WB_IO_FLUSH &&
	    bak_writes_seen)
		cut_power();
	if (!cut_done && cut_mode == CUT_AT_SB_WRITE && d == D_LOG && r->op == WB_IO_WRITE &&
	    r->off < 4 * BS && bak_writes_seen)
		cut_power();
	return orig_submit[d](io, r);
}

/* Submit the held backing writes; each must still carry the data it had
 * when destage submitted it. Returns how many there were. */
static unsigned hold_release(void)
{
	unsigned i, n = nheld_w;

	hold_bak = 0;
	for (i = 0; i < n; i++) {
		struct held *h = &held_w[i];
		uint8_t *now = malloc(h->len);

		assert_non_null(now);
		assert_int_equal(req_copy(h->r, now), h->len);
		if (memcmp(now, h->copy, h->len))
			fail_msg("held backing write at 0x%llx: its data changed while it waited",
				 (unsigned long long)h->r->off);
		free(now);
		free(h->copy);
		assert_int_equal(orig_submit[D_BAK](h->io, h->r), 0);
	}
	nheld_w = 0;
	return n;
}

static void spy_attach(struct wb_io *io, int d)
{
	spy_dev[d] = io;
	spy_ops[d] = *io->ops;
	orig_submit[d] = io->ops->submit;
	spy_ops[d].submit = spy_submit;
	io->ops = &spy_ops[d];
}

/* ---- fake monotonic clock ---------------------------------------------- */

/*
 * Interposes clock_gettime() for this test program (the engine's rate timer
 * reads CLOCK_MONOTONIC): while fake_clock_on, the monotonic clock stands
 * still at fake_ms and moves only when a test advances it, so the minimum
 * destage rate is tested without wall-time thresholds. Everything else goes
 * to the kernel.
 */
static int fake_clock_on;
static uint64_t fake_ms = 1000000;

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	if (fake_clock_on && clk == CLOCK_MONOTONIC) {
		ts->tv_sec = (time_t)(fake_ms / 1000);
		ts->tv_nsec = (long)(fake_ms % 1000) * 1000000;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, clk, ts);
}

/* ---- environment and model -------------------------------------------- */

struct env {
	struct efx f; /* engine + fault devices (engine_fixture.h) */
	uint32_t ver[NBLK];
	uint64_t gen;
};

static void stamp(uint8_t *b, uint64_t lba, uint64_t gen, uint32_t ver)
{
	uint64_t w[3] = {lba + 1, gen, ver};
	uint32_t i;

	for (i = 3; i < BS / 8; i++) {
		uint64_t x = (lba << 32) ^ ver ^ ((uint64_t)i << 20);

		memcpy(b + i * 8, &x, 8);
	}
	memcpy(b, w, sizeof(w));
}

static uint32_t env_ram_pages; /* 0: the default */

static void env_init(struct env *v, uint64_t logsz, uint32_t seg, uint32_t low, uint32_t high,
		     uint64_t min_rate, unsigned bak_drop)
{
	struct wb_fault_cfg lc = {.seed = 1}, bc = {.seed = 2, .drop_permille = bak_drop};

	memset(v, 0, sizeof(*v));
	nev = 0;
	cut_mode = CUT_NONE;
	cut_done = bak_writes_seen = bak_unflushed = 0;
	ninfl = 0;
	ver_check = 1;
	memset(bak_ver, 0, sizeof(bak_ver));
	bak_last_end = 0;
	efx_devices(&v->f, "ds", logsz, &lc, &bc);
	spy_attach(v->f.log, D_LOG);
	spy_attach(v->f.bak, D_BAK);
	v->f.p.log_segment_size = seg;
	v->f.p.destage_low_pct = low;
	v->f.p.destage_high_pct = high;
	v->f.p.destage_min_rate = min_rate;
	v->f.p.ram_pages = env_ram_pages;
	efx_format_open(&v->f);
	v->gen = 1;
}

static void env_fini(struct env *v)
{
	efx_fini(&v->f);
	free(evs);
	evs = NULL;
	nev = cap_ev = 0;
}

static void wr(struct env *v, uint64_t lba, uint32_t n)
{
	uint8_t *b = malloc((size_t)n * BS);
	uint32_t i;

	for (i = 0; i < n; i++)
		stamp(b + (size_t)i * BS, lba + i, v->gen, ++v->ver[lba + i]);
	assert_int_equal(wb_engine_write(v->f.e, b, n * BS, lba * BS, 0), 0);
	free(b);
}

static void flush_gen(struct env *v)
{
	assert_int_equal(wb_engine_flush(v->f.e), 0);
	v->gen++;
}

/* Check every block of buf (the whole device) against the model. */
static void check_image(struct env *v, const uint8_t *img, const char *what)
{
	uint64_t i;

	for (i = 0; i < NBLK; i++) {
		uint64_t w[3];

		memcpy(w, img + i * BS, sizeof(w));
		if (!v->ver[i]) {
			if (w[0] || w[2])
				fail_msg("%s: block %llu holds data, never written", what,
					 (unsigned long long)i);
			continue;
		}
		if (w[0] != i + 1 || w[2] != v->ver[i]) {
			fail_msg("%s: block %llu holds lba %llu version %llu, expected version %u",
				 what, (unsigned long long)i, (unsigned long long)w[0] - 1,
				 (unsigned long long)w[2], v->ver[i]);
		}
		{
			uint8_t chk[BS];

			stamp(chk, i, w[1], v->ver[i]);
			if (memcmp(chk, img + i * BS, BS))
				fail_msg("%s: block %llu content damaged", what,
					 (unsigned long long)i);
		}
	}
}

static void check_engine(struct env *v, const char *what)
{
	uint8_t *b = malloc(DEVSZ);

	assert_int_equal(wb_engine_read(v->f.e, b, DEVSZ, 0), 0);
	check_image(v, b, what);
	free(b);
}

/* Run the engine until nothing changes any more (bounded, no sleeping). */
static void settle(struct env *v, struct wb_engine_stats *st)
{
	struct wb_engine_stats a;
	int i, same = 0;

	assert_int_equal(wb_engine_stats(v->f.e, &a), 0);
	for (i = 0; i < 200000 && same < 2000; i++) {
		assert_true(wb_engine_run(v->f.e, 0) >= 0);
		assert_int_equal(wb_engine_stats(v->f.e, st), 0);
		same = st->destaged_bytes == a.destaged_bytes && st->log_used == a.log_used
			   ? same + 1
			   : 0;
		a = *st;
	}
}

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- tests ------------------------------------------------------------- */

/*
 * The destage order seen by the spy from event `from` on (the spy itself
 * checks that every block's versions reach the backing device in order):
 * a superblock write moves the tail only past data a backing flush covers:
 * no backing write since the last backing flush carries a block of a
 * generation that superblock calls destaged (destaged_gen). Returns the
 * number of runs of backing writes with rising offsets (a batch's writes go
 * out LBA-sorted: at least one run per batch); *overlap = log reads
 * submitted while a backing write was not yet followed by a backing flush
 * (the next batch reading while the one before writes); *sbw = superblock
 * writes.
 */
static uint64_t check_order(unsigned from, unsigned *overlap, unsigned *sbw)
{
	uint64_t i, runs = 0, last_end = 0;
	uint64_t unfl_gmin = UINT64_MAX; /* oldest block written since the last flush */
	int unfl = 0;

	*overlap = *sbw = 0;
	for (i = from; i < nev; i++) {
		struct ev *e = &evs[i];

		if (e->dev == D_BAK && e->op == WB_IO_WRITE) {
			if (!runs || e->off < last_end)
				runs++;
			last_end = e->off + e->len;
			unfl = 1;
			if (e->gmin < unfl_gmin)
				unfl_gmin = e->gmin;
		} else if (e->dev == D_BAK && e->op == WB_IO_FLUSH) {
			unfl = 0;
			unfl_gmin = UINT64_MAX;
		} else if (e->dev == D_LOG && e->op == WB_IO_READ) {
			*overlap += unfl;
		} else if (e->dev == D_LOG && e->op == WB_IO_WRITE && e->off < 4 * BS) {
			(*sbw)++;
			/* the tail moves only past flushed data */
			if (unfl_gmin != UINT64_MAX && unfl_gmin <= e->sb_dgen)
				fail_msg("event %llu: superblock (destaged generation %llu) "
					 "written with an unflushed backing write of "
					 "generation %llu",
					 (unsigned long long)i, (unsigned long long)e->sb_dgen,
					 (unsigned long long)unfl_gmin);
		}
	}
	return runs;
}

static void check_backing(struct env *v, const char *what)
{
	uint8_t *img = malloc(DEVSZ);

	assert_non_null(img);
	assert_int_equal(wb_io_fault_peek(v->f.bak, 0, img, DEVSZ), 0);
	check_image(v, img, what);
	free(img);
}

static void test_order(void **state)
{
	struct env v;
	uint64_t g, i, runs;
	unsigned overlap, sbw;

	(void)state;
	/* 2 MiB log, 64 KiB segments: ~12 MiB of writes wrap it several times */
	env_init(&v, 2u << 20, 64 * 1024, 10, 90, 0, 0);
	for (g = 0; g < 24; g++) {
		for (i = 0; i < 50; i++) {
			uint32_t n = 1 + rnd() % 4;

			wr(&v, rnd() % (NBLK - n + 1), n);
		}
		flush_gen(&v);
	}
	efx_drain(&v.f);
	check_engine(&v, "engine read after destage");
	check_backing(&v, "durable backing image");
	runs = check_order(0, &overlap, &sbw);
	print_message("%llu runs of backing writes, %u superblock writes, %u I/O events\n",
		      (unsigned long long)runs, sbw, nev);
	assert_true(runs >= 4); /* the log wrapped: destage ran during the writes */
	env_fini(&v);
}

/*
 * Records for 3 batches (of 1 MiB here: 3 MiB, 256 KiB of RAM buffer:
 * their pages are gone, destage reads them from the log) in a 5 MiB log
 * (the tail is due every 1.25 MiB of log: a quarter), then destage at
 * full speed (low watermark 1 %, no rate limit; not write-through, which
 * persists the tail after every batch): the next batch reads from the log
 * while the one before writes, the tail (backing flush + superblock) is
 * persisted for several batches at once, the order check holds and the
 * backing device ends with the newest data. The serial code fails it: no
 * log read while a backing write is unflushed, one superblock per batch.
 */
static void test_pipeline(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	unsigned overlap, sbw, from;
	uint64_t i, runs;

	(void)state;
	env_ram_pages = 64;
	wbl_ds_batch_blocks = 256;
	env_init(&v, 5u << 20, 256 * 1024, 99, 100, WB_DESTAGE_RATE_NONE, 0);
	wbl_ds_batch_blocks = 0;
	env_ram_pages = 0;
	fake_clock_on = 1;	   /* the tail's time rule (500 ms) never fires */
	for (i = 0; i < 96; i++) { /* 32 records of 8 blocks per batch, each over blocks 0..255 */
		wr(&v, (i * 8) % 256, 8);
		if (i % 16 == 15)
			flush_gen(&v);
	}
	flush_gen(&v);
	from = nev;
	v.f.p.destage_low_pct = 1;
	v.f.p.destage_min_rate = 64ull << 30;
	assert_int_equal(wb_engine_set_params(v.f.e, &v.f.p), 0);
	settle(&v, &st);
	assert_int_equal(st.dirty_bytes, 0);
	check_engine(&v, "engine read after pipelined destage");
	check_backing(&v, "backing after pipelined destage");
	runs = check_order(from, &overlap, &sbw);
	print_message("%llu batches, %u superblock writes, %u log reads while a backing write "
		      "was unflushed\n",
		      (unsigned long long)runs, sbw, overlap);
	assert_true(runs >= 3);
	assert_true(overlap > 0);
	assert_true(sbw < runs);
	fake_clock_on = 0;
	env_fini(&v);
}

static void test_watermarks_rate_counters(void **state)
{
	struct env v;
	struct wb_engine_stats st, st1;
	uint64_t size, b, lba = 0;

	(void)state;
	/* min rate 1 B/s: after the first (allowance) batch only watermarks drive destage */
	env_init(&v, 4u << 20, 64 * 1024, 30, 90, 1, 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	size = st.log_size;

	/* phase 1: 10% of the log; the rate allowance (tokens start at 0) destages it */
	for (b = 0; b < size / 10 / BS; b += 8, lba += 8)
		wr(&v, lba, 8);
	flush_gen(&v);
	settle(&v, &st1);
	assert_true(st1.destaged_bytes > 0);
	assert_true(st1.destage_rate > 0);

	/* phase 2: another 15% (total < 30% low watermark): nothing more is destaged */
	for (b = 0; b < size * 15 / 100 / BS; b += 8, lba += 8)
		wr(&v, lba, 8);
	flush_gen(&v);
	settle(&v, &st);
	assert_int_equal(st.destaged_bytes, st1.destaged_bytes);
	assert_int_equal(st.dirty_bytes, st1.dirty_bytes + (size * 15 / 100 / BS + 7) / 8 * 8 * BS);
	assert_true(st.log_used * 100 < 30 * size);
	/* ETA = dirty bytes at the measured rate */
	assert_true(st.destage_rate > 0);
	assert_int_equal(st.destage_eta_ms, st.dirty_bytes * 1000 / st.destage_rate);
	assert_true(st.seq_head > st.seq_tail);
	assert_true(st.gen_oldest < st.gen_head);

	/* phase 3: above the low watermark: destage runs until below it */
	for (b = 0; b < size * 20 / 100 / BS; b += 8, lba += 8)
		wr(&v, lba, 8);
	flush_gen(&v);
	settle(&v, &st);
	assert_true(st.destaged_bytes > st1.destaged_bytes);
	assert_true(st.log_used * 100 < 30 * size);
	check_engine(&v, "after watermark destage");

	/* drain: counters go to zero */
	efx_drain(&v.f);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.dirty_bytes, 0);
	assert_int_equal(st.destage_eta_ms, 0);
	assert_int_equal(st.destaged_bytes, lba * BS);
	assert_int_equal(st.seq_head, st.seq_tail);
	env_fini(&v);
}

/*
 * WB_DESTAGE_RATE_NONE (what destage-min-rate = 0 in the config maps to): no
 * batch below the low watermark, not even the first one a rate's allowance
 * would start; above it destage runs, and a drain still empties the log.
 */
static void test_no_min_rate(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	uint64_t size, b, lba = 0;

	(void)state;
	env_init(&v, 4u << 20, 64 * 1024, 30, 90, WB_DESTAGE_RATE_NONE, 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	size = st.log_size;
	assert_int_equal(wb_engine_timeout_ms(v.f.e), -1);

	/* 10% of the log, below the 30% low watermark: nothing is destaged */
	for (b = 0; b < size / 10 / BS; b += 8, lba += 8)
		wr(&v, lba, 8);
	flush_gen(&v);
	settle(&v, &st);
	assert_int_equal(st.destaged_bytes, 0);
	assert_int_equal(st.dirty_bytes, lba * BS);
	assert_int_equal(st.destage_eta_ms, 0);
	assert_int_equal(wb_engine_timeout_ms(v.f.e), -1);

	/* above the low watermark: destage runs down below it */
	for (b = 0; b < size * 30 / 100 / BS; b += 8, lba += 8)
		wr(&v, lba, 8);
	flush_gen(&v);
	settle(&v, &st);
	assert_true(st.destaged_bytes > 0);
	assert_true(st.log_used * 100 < 30 * size);
	assert_true(st.dirty_bytes > 0);
	check_engine(&v, "no min rate");

	efx_drain(&v.f);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.dirty_bytes, 0);
	assert_int_equal(st.destaged_bytes, lba * BS);
	env_fini(&v);
}

/*
 * Destage at full speed (above the low watermark) must not be charged to the
 * minimum-rate budget: after a large watermark destage, what is left below
 * the low watermark goes at the minimum rate, not minutes later. The clock
 * stands still except for one explicit step that pays back exactly the one
 * batch the rate rule started, far less than what the watermarks destaged.
 */
static void test_rate_after_watermark_destage(void **state)
{
	const uint64_t rate = 4u << 20, x = 16 * BS;
	struct env v;
	struct wb_engine_stats st;
	uint64_t size, full, b;
	uint8_t *img;

	(void)state;
	fake_clock_on = 1;
	env_init(&v, 4u << 20, 64 * 1024, 50, 90, rate, 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	size = st.log_size;

	/* 1. below the low watermark, the rate allowance (tokens start at 0)
	 * destages one batch: the rate budget is now x in debt */
	wr(&v, 0, 16);
	flush_gen(&v);
	settle(&v, &st);
	assert_int_equal(st.destaged_bytes, x);
	assert_int_equal(st.dirty_bytes, 0);

	/* 2. 3 MiB: above the low watermark, destage runs at full speed */
	for (b = 0; b < (3u << 20) / BS; b += 8)
		wr(&v, 16 + b, 8);
	flush_gen(&v);
	settle(&v, &st);
	full = st.destaged_bytes - x;
	assert_true(full >= (1u << 20));
	assert_true(st.log_used * 100 < 50 * size);

	/* 3. a little more, below the low watermark: the clock stands still,
	 * so the rate rule must wait */
	wr(&v, 800, 16);
	flush_gen(&v);
	settle(&v, &st);
	assert_true(st.dirty_bytes > 0);
	assert_true(st.log_used * 100 < 50 * size);
	assert_true(st.dirty_bytes <= (8u << 20)); /* fits one batch */

	/* 4. 250 ms (the gathering time of a rate batch, wblog_destage.c
	 * DS_GATHER_MS) at 4 MiB/s pay back x (not x + full): the rest goes */
	fake_ms += 250;
	assert_true(rate * 250 / 1000 >= x && rate * 250 / 1000 < x + full);
	settle(&v, &st);
	print_message("%llu bytes destaged at full speed; %llu dirty after the rate step\n",
		      (unsigned long long)full, (unsigned long long)st.dirty_bytes);
	assert_int_equal(st.dirty_bytes, 0);
	check_engine(&v, "after the rate step");
	img = malloc(DEVSZ);
	assert_int_equal(wb_io_fault_peek(v.f.bak, 0, img, DEVSZ), 0);
	check_image(&v, img, "backing after the rate step");
	free(img);
	env_fini(&v);
	fake_clock_on = 0;
}

/*
 * A client writing slower than the minimum rate (a QD1 write+flush): the
 * rate rule must not start a batch per record (each batch costs a backing
 * flush and a superblock write) but gather 250 ms or 1 MiB of records
 * first. Before: a batch after every write+flush.
 */
static void test_rate_gathers(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	uint64_t first;
	int k;

	(void)state;
	fake_clock_on = 1;
	env_init(&v, 4u << 20, 64 * 1024, 50, 90, 4u << 20, 0);
	wr(&v, 0, 1);
	flush_gen(&v);
	settle(&v, &st);
	first = st.destaged_bytes; /* the first batch goes at once */
	assert_int_equal(first, BS);
	for (k = 1; k <= 20; k++) {
		fake_ms += 5; /* 20 KiB of rate budget: more than one block */
		wr(&v, (uint64_t)k * 3, 1);
		flush_gen(&v);
		settle(&v, &st);
	}
	print_message("20 write+flush, 100 ms: %llu bytes destaged, %llu dirty\n",
		      (unsigned long long)(st.destaged_bytes - first),
		      (unsigned long long)st.dirty_bytes);
	assert_int_equal(st.destaged_bytes, first);
	assert_int_equal(st.dirty_bytes, 20 * BS);
	fake_ms += 150; /* 250 ms after the first batch started */
	settle(&v, &st);
	assert_int_equal(st.dirty_bytes, 0);
	assert_int_equal(st.destaged_bytes, first + 20 * BS);
	check_engine(&v, "after gathering");
	env_fini(&v);
	fake_clock_on = 0;
}

/*
 * Records destaged but held for a peer (a secondary that will catch up from
 * the log, within peer-retention) are not destage's to free: they must not
 * count toward the low watermark. Before: a log held above the watermark
 * destaged a batch per record whatever the rate (a secondary that held its
 * log for the primary: 1.75 log and backing flushes per 4 KiB write).
 */
static void test_held_not_pressure(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	uint64_t first;
	int k, i;

	(void)state;
	fake_clock_on = 1;
	env_init(&v, 4u << 20, 64 * 1024, 50, 90, 4u << 20, 0);
	/* peer 5: beyond the log's 4 bitmap slots, so the tail passing its
	 * hold starts no tracking check (a 200 ms timer the frozen clock would
	 * never reach, and run(wait) would sleep on) */
	assert_int_equal(wb_engine_set_peer_pos(v.f.e, 5, 1), 0);
	/* 80 records of 7 blocks (32 KiB each in the log): 2.5 MiB held */
	for (k = 0; k < 80; k++)
		wr(&v, (uint64_t)k * 7, 7);
	flush_gen(&v);
	assert_int_equal(wb_engine_set_mode(v.f.e, WB_MODE_WRITETHROUGH), 0);
	for (i = 0; i < 100000; i++) {
		assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
		if (!st.dirty_bytes)
			break;
		assert_true(wb_engine_run(v.f.e, 1) >= 0);
	}
	assert_int_equal(wb_engine_set_mode(v.f.e, WB_MODE_WRITEBACK), 0);
	settle(&v, &st);
	assert_int_equal(st.dirty_bytes, 0);
	print_message("held: %llu of %llu log bytes\n", (unsigned long long)st.log_used,
		      (unsigned long long)st.log_size);
	assert_true(st.log_used * 2 > st.log_size); /* above the low watermark */
	first = st.destaged_bytes;
	fake_ms += 1000; /* the rate's budget is full, the next batch goes at once */
	wr(&v, 700, 1);
	flush_gen(&v);
	settle(&v, &st);
	assert_int_equal(st.destaged_bytes, first + BS);
	first = st.destaged_bytes;
	for (k = 1; k <= 20; k++) {
		fake_ms += 5;
		wr(&v, 700 + (uint64_t)k * 3, 1);
		flush_gen(&v);
		settle(&v, &st);
	}
	print_message("held log, 20 write+flush, 100 ms: %llu bytes destaged, %llu dirty\n",
		      (unsigned long long)(st.destaged_bytes - first),
		      (unsigned long long)st.dirty_bytes);
	assert_int_equal(st.destaged_bytes, first);
	assert_int_equal(st.dirty_bytes, 20 * BS);
	fake_ms += 250;
	settle(&v, &st);
	assert_int_equal(st.dirty_bytes, 0);
	check_engine(&v, "held log, after gathering");
	env_fini(&v);
	fake_clock_on = 0;
}

struct aw {
	struct wb_req r;
	int busy, *errs;
	uint8_t *buf;
};

static void aw_done(struct wb_req *r, int err)
{
	struct aw *a = (struct aw *)r;

	a->busy = 0;
	if (err)
		(*a->errs)++;
}

/* Submit a write of n blocks at lba from a->buf, stamped with new versions. */
static void aw_submit(struct env *v, struct aw *a, uint64_t lba, uint32_t n)
{
	uint64_t k;

	for (k = 0; k < n; k++)
		stamp(a->buf + k * BS, lba + k, v->gen, ++v->ver[lba + k]);
	memset(&a->r, 0, sizeof(a->r));
	a->r.op = WB_REQ_WRITE;
	a->r.off = lba * BS;
	a->r.len = n * BS;
	a->r.buf = a->buf;
	a->r.done = aw_done;
	a->busy = 1;
	assert_int_equal(wb_engine_submit(v->f.e, &a->r), 0);
}

static void test_full_log_throttles(void **state)
{
	enum { QD = 32, N = 16 };
	struct env v;
	struct aw *a = calloc(QD, sizeof(*a));
	struct wb_engine_stats st;
	uint64_t size, lim, maxused = 0, submitted = 0, total = 4 * NBLK / N;
	unsigned i, busy;
	int errs = 0;
	long loops;

	(void)state;
	/* 2 MiB log, high watermark 50%, low 10%, min rate 1 B/s; 16 MiB written */
	env_init(&v, 2u << 20, 64 * 1024, 10, 50, 1, 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	size = st.log_size;
	lim = size / 100 * 50;
	for (i = 0; i < QD; i++) {
		a[i].buf = malloc(N * BS);
		a[i].errs = &errs;
	}
	for (loops = 0; loops < 10000000; loops++) {
		busy = 0;
		for (i = 0; i < QD; i++) {
			if (a[i].busy || submitted == total) {
				busy += a[i].busy;
				continue;
			}
			aw_submit(&v, &a[i], (submitted * N * 7) % NBLK, N);
			busy++;
			submitted++;
		}
		if (!busy && submitted == total)
			break;
		assert_true(wb_engine_run(v.f.e, 1) >= 0);
		assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
		if (st.log_used > maxused)
			maxused = st.log_used;
	}
	assert_int_equal(submitted, total);
	assert_int_equal(errs, 0);
	assert_int_equal(st.state, WB_STATE_OK);
	print_message("%llu writes of %u blocks through a %llu-byte log: %llu throttle events, "
		      "max log use %llu (limit %llu)\n",
		      (unsigned long long)total, N, (unsigned long long)size,
		      (unsigned long long)st.throttle_events, (unsigned long long)maxused,
		      (unsigned long long)lim);
	assert_true(st.throttle_events > 0);
	assert_true(maxused <= lim);
	check_engine(&v, "after throttled writes");
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_true(st.destaged_bytes > size); /* the log space was reused */
	for (i = 0; i < QD; i++)
		free(a[i].buf);
	free(a);
	env_fini(&v);
}

/*
 * Destage from RAM pages: 64 blocks (4 records) are durable in the log and
 * still in RAM (96 pages); destage starts and its backing writes are held.
 * Then 4 newer writes of 64 blocks (new versions of the same blocks and of
 * others) need pages: the old records' pages are evicted, but the batch's
 * references keep them from being handed out, so the newer writes wait.
 * Released, the held writes carry exactly what they carried when submitted,
 * the waiting writes complete, and the backing device ends with the newest
 * data.
 */
static void test_pages_held_while_writing(void **state)
{
	enum { N = 16 };
	struct env v;
	struct aw a[4];
	struct wb_engine_stats st;
	uint8_t *img;
	unsigned i, released;
	int errs = 0, busy;
	long loops;

	(void)state;
	env_ram_pages = 96;
	env_init(&v, 4u << 20, 64 * 1024, 90, 95, WB_DESTAGE_RATE_NONE, 0);
	env_ram_pages = 0;
	for (i = 0; i < 4; i++)
		wr(&v, i * N, N);
	flush_gen(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.destaged_bytes, 0);
	assert_int_equal(st.ram_pages_used, 4 * N);
	/* destage (write-through drains) takes the 4 records, its writes are held */
	hold_bak = 1;
	assert_int_equal(wb_engine_set_mode(v.f.e, WB_MODE_WRITETHROUGH), 0);
	for (loops = 0; loops < 100000 && !nheld_w; loops++)
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	assert_true(nheld_w > 0);
	assert_int_equal(wb_engine_set_mode(v.f.e, WB_MODE_WRITEBACK), 0);
	/* newer versions of blocks 0..31 and new blocks 64..95 */
	for (i = 0; i < 4; i++) {
		a[i].buf = malloc(N * BS);
		a[i].errs = &errs;
		aw_submit(&v, &a[i], i < 2 ? i * N : 64 + (i - 2) * N, N);
	}
	for (loops = 0; loops < 20000; loops++)
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	print_message("%u backing writes held; meanwhile RAM pages used %llu of %llu, %d of 4 "
		      "newer writes waiting\n",
		      nheld_w, (unsigned long long)st.ram_pages_used,
		      (unsigned long long)st.ram_pages_total,
		      a[0].busy + a[1].busy + a[2].busy + a[3].busy);
	assert_int_equal(st.destaged_bytes, 0);
	released = hold_release();
	assert_true(released > 0);
	for (loops = 0; loops < 1000000; loops++) {
		for (busy = 0, i = 0; i < 4; i++)
			busy += a[i].busy;
		if (!busy)
			break;
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	}
	assert_int_equal(busy, 0);
	assert_int_equal(errs, 0);
	check_engine(&v, "after the held destage");
	efx_drain(&v.f);
	img = malloc(DEVSZ);
	assert_int_equal(wb_io_fault_peek(v.f.bak, 0, img, DEVSZ), 0);
	check_image(&v, img, "backing after destage from RAM pages");
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.state, WB_STATE_OK);
	free(img);
	for (i = 0; i < 4; i++)
		free(a[i].buf);
	env_fini(&v);
}

/* Random 4 KiB writes whose pages were evicted: the batch reads them from
 * the log in few reads (one per run of neighbours, up to 1 MiB), and the
 * backing still ends with the newest data of every block. */
static void test_log_reads_coalesced(void **state)
{
	struct env v;
	uint64_t i, first_ev, reads = 0, read_bytes = 0, distinct = 0;
	uint8_t *img;

	(void)state;
	env_ram_pages = 32;
	env_init(&v, 4u << 20, 64 * 1024, 90, 95, WB_DESTAGE_RATE_NONE, 0);
	env_ram_pages = 0;
	for (i = 0; i < 300; i++)
		wr(&v, rnd() % NBLK, 1);
	flush_gen(&v);
	for (i = 0; i < NBLK; i++)
		distinct += v.ver[i] != 0;
	first_ev = nev;
	efx_drain(&v.f);
	for (i = first_ev; i < nev; i++)
		if (evs[i].dev == D_LOG && evs[i].op == WB_IO_READ) {
			reads++;
			read_bytes += evs[i].len;
		}
	print_message("%llu distinct blocks destaged with %llu log reads (%llu KiB)\n",
		      (unsigned long long)distinct, (unsigned long long)reads,
		      (unsigned long long)(read_bytes >> 10));
	/* at most 32 blocks were still in RAM; one read per piece would be
	 * >= distinct - 32 reads */
	if (reads * 8 > distinct - 32)
		fail_msg("%llu log reads for %llu blocks: not coalesced", (unsigned long long)reads,
			 (unsigned long long)distinct);
	assert_true(reads > 0);
	img = malloc(DEVSZ);
	assert_int_equal(wb_io_fault_peek(v.f.bak, 0, img, DEVSZ), 0);
	check_image(&v, img, "backing after destage from coalesced log reads");
	free(img);
	check_engine(&v, "engine read after destage");
	env_fini(&v);
}

/*
 * Power cut between two batches: batch N's backing writes completed, the
 * tail was not persisted for it (it waits for more batches), batch N+1
 * starts writing - and the power goes. The backing device drops (all or
 * half of) its unflushed writes. Recovery replays the log from the old
 * tail: every block reads back its newest version, and after destage the
 * backing device holds it. The serial code never reaches this point (it
 * flushes and persists the tail after every batch): the test fails there.
 */
static void cut_between_batches(unsigned drop)
{
	struct env v;
	struct wb_engine_stats st;
	uint64_t i;
	long loops;

	env_ram_pages = 64;
	wbl_ds_batch_blocks = 256; /* 1 MiB batches, the tail every 1.25 MiB of log */
	env_init(&v, 5u << 20, 256 * 1024, 99, 100, WB_DESTAGE_RATE_NONE, drop);
	wbl_ds_batch_blocks = 0;
	env_ram_pages = 0;
	fake_clock_on = 1;	   /* the tail's time rule (500 ms) never fires */
	for (i = 0; i < 48; i++) { /* batch 2 starts below where batch 1 ended */
		wr(&v, (i * 8 + i / 32) % 256, 8);
		if (i % 16 == 15)
			flush_gen(&v);
	}
	flush_gen(&v); /* everything is durable in the log now */
	cut_mode = CUT_BETWEEN_BATCHES;
	v.f.p.destage_low_pct = 1;
	v.f.p.destage_min_rate = 64ull << 30;
	assert_int_equal(wb_engine_set_params(v.f.e, &v.f.p), 0);
	for (loops = 0; loops < 1000000 && !cut_done; loops++)
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	assert_true(cut_done);
	fake_clock_on = 0;
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	wb_io_fault_power_on(v.f.log);
	wb_io_fault_power_on(v.f.bak);
	cut_mode = CUT_NONE;
	assert_int_equal(wb_wblog_ops.open(&v.f.p, &v.f.e), 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	print_message("drop %u/1000: recovered with %llu bytes dirty\n", drop,
		      (unsigned long long)st.dirty_bytes);
	assert_true(st.dirty_bytes > 0); /* replayed from the log */
	check_engine(&v, "after a power cut between batches");
	efx_drain(&v.f);
	check_backing(&v, "backing after the destage that followed recovery");
	env_fini(&v);
}

static void test_cut_between_batches(void **state)
{
	(void)state;
	cut_between_batches(1000);
	cut_between_batches(500);
}

static void power_cut_case(int mode)
{
	struct env v;
	struct wb_engine_stats st;
	uint8_t *img = malloc(DEVSZ);
	uint64_t i, stale = 0;

	/* the backing device drops every unflushed write at a power cut */
	env_init(&v, 4u << 20, 64 * 1024, 10, 90, 0, 1000);
	for (i = 0; i < 300; i++)
		wr(&v, (i * 37) % (NBLK - 3), 1 + i % 3);
	flush_gen(&v); /* everything is durable in the log now */
	cut_mode = mode;
	for (i = 0; i < 100000 && !cut_done; i++) {
		assert_int_equal(v.f.e->ops->set_mode(v.f.e, WB_MODE_WRITETHROUGH), 0);
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	}
	assert_true(cut_done);
	wb_engine_close(v.f.e); /* fails what is in flight; nothing is durable any more */
	v.f.e = NULL;
	wb_io_fault_power_on(v.f.log);
	wb_io_fault_power_on(v.f.bak);
	cut_mode = CUT_NONE;
	/* The window really was hit. Mode 1: the batch's backing writes were
	 * lost (the backing image lacks some of the newest data). Mode 2: they
	 * are durable, but the tail did not move (replay below finds records). */
	assert_int_equal(wb_io_fault_peek(v.f.bak, 0, img, DEVSZ), 0);
	for (i = 0; i < NBLK; i++) {
		uint64_t w[3];

		memcpy(w, img + i * BS, sizeof(w));
		stale += v.ver[i] && w[2] != v.ver[i];
	}
	if (mode == CUT_AT_BAK_FLUSH)
		assert_true(stale > 0);
	else
		check_image(&v, img, "backing flushed before the tail write");
	assert_int_equal(wb_wblog_ops.open(&v.f.p, &v.f.e), 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_true(st.dirty_bytes > 0); /* replayed from the log */
	check_engine(&v, "after the power cut");
	efx_drain(&v.f);
	assert_int_equal(wb_io_fault_peek(v.f.bak, 0, img, DEVSZ), 0);
	check_image(&v, img, "backing after the destage that followed recovery");
	free(img);
	env_fini(&v);
}

static void test_cut_before_backing_flush(void **state)
{
	(void)state;
	power_cut_case(CUT_AT_BAK_FLUSH);
}

static void test_cut_before_tail_write(void **state)
{
	(void)state;
	power_cut_case(CUT_AT_SB_WRITE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_pipeline),
	    cmocka_unit_test(test_watermarks_rate_counters),
	    cmocka_unit_test(test_held_not_pressure),
	    cmocka_unit_test(test_rate_after_watermark_destage),
	    cmocka_unit_test(test_no_min_rate),
	    cmocka_unit_test(test_rate_gathers),
	    cmocka_unit_test(test_full_log_throttles),
	    cmocka_unit_test(test_cut_before_backing_flush),
	    cmocka_unit_test(test_cut_before_tail_write),
	    cmocka_unit_test(test_cut_between_batches),
	    cmocka_unit_test(test_pages_held_while_writing),
	    cmocka_unit_test(test_log_reads_coalesced),
	};

	wb_msg_set_sink(NULL, NULL, WB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
