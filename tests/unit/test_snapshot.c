// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_snapshot.c - snapshots of older generations (engine/wblog_snap.c),
 * against a model that knows every block's version at the end of every
 * generation (blocks are stamped with their lba and version):
 *
 *   - every generation gen_span offers reads back exactly as it ended,
 *     with records still in RAM, read from the log, and after destage
 *     moved older generations to the backing device under the snapshot;
 *   - destage stops at the oldest snapshot and goes on once it is dropped;
 *     the log space of what it destaged is written again by newer records
 *     while the snapshot reads those blocks from backing;
 *   - generations outside the span are refused (-ERANGE), one not yet
 *     ended too, write-through (-EBUSY), a write to a snapshot (-EROFS);
 *   - a snapshot never holds writers back: with the log filling it is
 *     dropped (counted), every write completes, its reads fail -ESTALE;
 *     write-through drops them all;
 *   - a snapshot's reads after a power cut and recovery: gone with the
 *     restart, the generations still in the log can be taken again;
 *   - a resync writing the backing behind the engine (snap_fence): no
 *     snapshot meanwhile, afterwards only generations that end later.
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

#define BS   EFX_BS
#define NBLK EFX_NBLK
#define NGEN 24

/* ver[g][b]: the version of block b at the end of generation g (0: never
 * written: zeroes); gen_of[i]: the engine's number of the i-th generation */
static uint32_t ver[NGEN + 1][NBLK];
static uint64_t gen_of[NGEN + 1];
static uint32_t next_ver;

static void stamp(uint8_t *b, uint64_t lba, uint32_t v)
{
	memset(b, 0, BS);
	if (!v)
		return;
	for (unsigned i = 0; i < BS / 16; i++) {
		uint64_t w[2] = {lba + 1, ((uint64_t)v << 16) | i};

		memcpy(b + i * 16, w, 16);
	}
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* Generation i of the model: k writes of 1-4 blocks, then a flush (which
 * ends the engine's generation). */
static void write_gen(struct efx *f, unsigned i, unsigned k)
{
	struct wb_engine_stats st;
	uint8_t *buf = malloc(4 * BS);

	assert_non_null(buf);
	assert_int_equal(wb_engine_stats(f->e, &st), 0);
	gen_of[i] = st.gen_head;
	memcpy(ver[i], ver[i - 1], sizeof(ver[i]));
	for (unsigned w = 0; w < k; w++) {
		uint32_t n = 1 + rnd() % 4, lba = rnd() % (NBLK - n);

		for (uint32_t j = 0; j < n; j++) {
			ver[i][lba + j] = ++next_ver;
			stamp(buf + j * BS, lba + j, next_ver);
		}
		assert_int_equal(wb_engine_write(f->e, buf, n * BS, (uint64_t)lba * BS, 0), 0);
	}
	assert_int_equal(wb_engine_flush(f->e), 0);
	free(buf);
}

static int snap_read(struct efx *f, uint32_t id, void *buf, uint32_t len, uint64_t off)
{
	struct wb_req r = {.op = WB_REQ_READ, .len = len, .off = off, .buf = buf, .snap = id};

	return wb_engine_sync(f->e, &r);
}

/* The whole device through snapshot id equals generation i of the model. */
static void check_snap(struct efx *f, uint32_t id, unsigned i)
{
	uint8_t *dev = malloc((size_t)NBLK * BS), *want = malloc(BS);

	assert_non_null(dev);
	assert_non_null(want);
	/* in pieces of different sizes: reads that start and end mid-extent */
	for (uint64_t b = 0; b < NBLK;) {
		uint32_t n = 1 + (uint32_t)(b % 37);

		if (b + n > NBLK)
			n = (uint32_t)(NBLK - b);
		assert_int_equal(snap_read(f, id, dev + b * BS, n * BS, b * BS), 0);
		b += n;
	}
	for (uint64_t b = 0; b < NBLK; b++) {
		stamp(want, b, ver[i][b]);
		if (memcmp(dev + b * BS, want, BS))
			fail_msg("snapshot %u (generation %llu): block %llu is not version %u", id,
				 (unsigned long long)gen_of[i], (unsigned long long)b, ver[i][b]);
	}
	free(dev);
	free(want);
}

static unsigned model_of(uint64_t gen)
{
	for (unsigned i = 1; i <= NGEN; i++)
		if (gen_of[i] == gen)
			return i;
	fail_msg("generation %llu is not in the model", (unsigned long long)gen);
	return 0;
}

static void reset_model(void)
{
	memset(ver, 0, sizeof(ver));
	memset(gen_of, 0, sizeof(gen_of));
	next_ver = 0;
	rnd_state = 12345;
}

/* destage off (until the log is at 90 %) or at full speed */
static void destage(struct efx *f, int on)
{
	struct wb_engine_params p = f->p;

	p.destage_low_pct = on ? 1 : 90;
	p.destage_min_rate = on ? 64ull << 30 : WB_DESTAGE_RATE_NONE;
	assert_int_equal(wb_engine_set_params(f->e, &p), 0);
}

static void run_until_destaged(struct efx *f, uint64_t seq)
{
	struct wb_engine_stats st;

	for (int i = 0; i < 20000; i++) {
		assert_int_equal(wb_engine_stats(f->e, &st), 0);
		if (st.seq_destaged >= seq)
			return;
		assert_true(wb_engine_run(f->e, 0) >= 0);
	}
	fail_msg("destage did not reach seq %llu (at %llu)", (unsigned long long)seq,
		 (unsigned long long)st.seq_destaged);
}

/* A log of logsz bytes in segments of segsz (0: the default), destage off. */
static void setup_log(struct efx *f, uint64_t logsz, uint32_t segsz)
{
	efx_devices(f, "snap", logsz, NULL, NULL);
	f->p.log_segment_size = segsz;
	f->p.ram_pages = 64; /* records lose their pages: reads go to the log */
	f->p.destage_low_pct = 90;
	f->p.destage_min_rate = WB_DESTAGE_RATE_NONE;
	efx_format_open(f);
	reset_model();
}

static void setup_engine(struct efx *f, uint64_t logsz)
{
	setup_log(f, logsz, 0);
}

static void test_every_generation(void **state)
{
	struct efx f;
	struct wb_gen_span sp;
	struct wb_snap_info si;

	(void)state;
	setup_engine(&f, 16u << 20);
	for (unsigned i = 1; i <= 12; i++)
		write_gen(&f, i, 20 + i);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_int_equal(sp.oldest, gen_of[1]);
	assert_int_equal(sp.newest, gen_of[12]);
	assert_true(sp.oldest_time_ns && sp.oldest_time_ns <= sp.newest_time_ns);
	for (uint64_t g = sp.oldest; g <= sp.newest; g++) {
		assert_int_equal(wb_engine_snap_create(f.e, g, &si), 0);
		assert_int_equal(si.gen, g);
		check_snap(&f, si.id, model_of(g));
		{ /* by time: the newest that ended by then */
			uint64_t at;

			assert_int_equal(wb_engine_gen_at(f.e, si.time_ns, &at), 0);
			assert_true(at >= g);
			if (g > sp.oldest) {
				assert_int_equal(wb_engine_gen_at(f.e, si.time_ns - 1, &at), 0);
				assert_true(at < g);
			} else {
				assert_int_equal(wb_engine_gen_at(f.e, si.time_ns - 1, &at),
						 -ERANGE);
			}
		}
		assert_int_equal(wb_engine_snap_drop(f.e, si.id), 0);
		assert_int_equal(snap_read(&f, si.id, (uint8_t[BS]){0}, BS, 0), -ESTALE);
	}

	/* destage moves generations 1..6 to backing under a snapshot of 8 */
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[8], &si), 0);
	destage(&f, 1);
	for (unsigned i = 13; i <= 16; i++)
		write_gen(&f, i, 30);
	run_until_destaged(&f, si.seq + 1);
	for (int k = 0; k < 200; k++)
		assert_true(wb_engine_run(f.e, 0) >= 0);
	{
		struct wb_engine_stats st;

		assert_int_equal(wb_engine_stats(f.e, &st), 0);
		/* pinned: nothing past the snapshot's last record on backing */
		assert_int_equal(st.seq_destaged, si.seq + 1);
		assert_int_equal(st.snapshots, 1);
		assert_true(st.seq_tail > 1); /* the log let go of destaged records */
	}
	check_snap(&f, si.id, 8);
	/* generations destaged past are gone from the span; the pinned one is
	 * the oldest left */
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_int_equal(sp.oldest, gen_of[8]);
	assert_int_equal(sp.newest, gen_of[16]);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[7], NULL), -ERANGE);
	{
		struct wb_snap_info s2;

		assert_int_equal(wb_engine_snap_create(f.e, gen_of[15], &s2), 0);
		check_snap(&f, s2.id, 15);
		check_snap(&f, si.id, 8);
		assert_int_equal(wb_engine_snap_drop(f.e, si.id), 0);
		/* destage goes on to the next pin, 15 stays exact */
		run_until_destaged(&f, s2.seq + 1);
		check_snap(&f, s2.id, 15);
		assert_int_equal(wb_engine_snap_drop(f.e, s2.id), 0);
	}
	/* no snapshot: destage writes everything; the device itself is the
	 * newest generation */
	{
		struct wb_engine_stats st;

		assert_int_equal(wb_engine_stats(f.e, &st), 0);
		run_until_destaged(&f, st.seq_head);
	}
	{
		uint8_t *b = malloc(BS), *want = malloc(BS);

		for (uint64_t k = 0; k < NBLK; k += 7) {
			assert_int_equal(wb_engine_read(f.e, b, BS, k * BS), 0);
			stamp(want, k, ver[16][k]);
			assert_memory_equal(b, want, BS);
		}
		free(b);
		free(want);
	}
	efx_fini(&f);
}

static void test_refused(void **state)
{
	struct efx f;
	struct wb_gen_span sp;
	struct wb_snap_info si, list[4];
	uint8_t *b = calloc(1, BS);

	(void)state;
	setup_engine(&f, 16u << 20);
	/* nothing written: no generation to take */
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_true(sp.oldest > sp.newest);
	assert_int_equal(wb_engine_snap_create(f.e, 1, NULL), -ERANGE);
	write_gen(&f, 1, 5);
	write_gen(&f, 2, 5);
	/* the generation being filled has not ended */
	assert_int_equal(wb_engine_write(f.e, b, BS, 0, 0), 0);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_int_equal(sp.newest, gen_of[2]);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[2] + 1, NULL), -ERANGE);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[2] + 5, NULL), -ERANGE);
	assert_int_equal(wb_engine_snap_create(f.e, 0, NULL), -ERANGE);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[1], &si), 0);
	/* read-only */
	{
		struct wb_req r = {
		    .op = WB_REQ_WRITE, .len = BS, .off = 0, .buf = b, .snap = si.id};

		assert_int_equal(wb_engine_sync(f.e, &r), -EROFS);
	}
	assert_int_equal(wb_engine_snap_list(f.e, list, 4), 1);
	assert_int_equal(list[0].id, si.id);
	assert_int_equal(list[0].gen, gen_of[1]);
	assert_int_equal(wb_engine_snap_drop(f.e, si.id + 100), -ENOENT);
	/* write-through drops every snapshot and refuses new ones */
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[2], NULL), 0);
	assert_int_equal(wb_engine_set_mode(f.e, WB_MODE_WRITETHROUGH), 0);
	assert_int_equal(wb_engine_snap_list(f.e, list, 4), 0);
	{
		struct wb_engine_stats st;

		assert_int_equal(wb_engine_stats(f.e, &st), 0);
		assert_int_equal(st.snapshots, 0);
		assert_int_equal(st.snapshots_dropped, 2);
	}
	assert_int_equal(snap_read(&f, si.id, b, BS, 0), -ESTALE);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[2], NULL), -EBUSY);
	free(b);
	efx_fini(&f);
}

/* 768 blocks of log for 1024 of device */
static void setup_small(struct efx *f)
{
	setup_log(f, 3u << 20, 1u << 20);
}

/* The log space of the records a snapshot read from is released once
 * destage moved them to backing and written again by newer records: the
 * snapshot reads those blocks from backing, not the newer records. */
static void test_log_reused(void **state)
{
	struct efx f;
	struct wb_snap_info si;
	struct wb_engine_stats st, st2;

	(void)state;
	setup_small(&f);
	for (unsigned i = 1; i <= 4; i++) /* 180 records, ~630 blocks of 768 */
		write_gen(&f, i, 45);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[4], &si), 0);
	destage(&f, 1);
	run_until_destaged(&f, si.seq + 1);
	for (int k = 0; k < 100; k++)
		assert_true(wb_engine_run(f.e, 0) >= 0);
	assert_int_equal(wb_engine_stats(f.e, &st), 0);
	assert_int_equal(st.seq_tail, si.seq + 1); /* released */
	for (unsigned i = 5; i <= 8; i++)	   /* ~420 blocks: the head wraps */
		write_gen(&f, i, 30);
	assert_int_equal(wb_engine_stats(f.e, &st2), 0);
	assert_int_equal(st2.snapshots, 1);
	assert_int_equal(st2.seq_destaged, si.seq + 1); /* still pinned */
	check_snap(&f, si.id, 4);
	efx_fini(&f);
}

/* A pinned log filling up: the snapshot goes, the writers do not wait. */
static void test_log_full_drops(void **state)
{
	struct efx f;
	struct wb_snap_info si;
	struct wb_engine_stats st;
	unsigned i;

	(void)state;
	setup_small(&f);
	write_gen(&f, 1, 10);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[1], &si), 0);
	check_snap(&f, si.id, 1);
	for (i = 2; i <= NGEN; i++) /* ~1900 blocks: the log fills several times */
		write_gen(&f, i, 40);
	assert_int_equal(wb_engine_stats(f.e, &st), 0);
	assert_int_equal(st.snapshots, 0);
	assert_int_equal(st.snapshots_dropped, 1);
	assert_int_equal(snap_read(&f, si.id, (uint8_t[BS]){0}, BS, 0), -ESTALE);
	assert_int_equal(st.state, WB_STATE_OK);
	/* the newest generation still reads back right through a new one */
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[NGEN], &si), 0);
	check_snap(&f, si.id, NGEN);
	efx_fini(&f);
}

/* A resync writes the backing device behind the engine (newer data than
 * the log's older generations): fenced, no snapshot; after it only the
 * generations that end later, and those exact. */
static void test_fence(void **state)
{
	struct efx f;
	struct wb_snap_info si;
	struct wb_gen_span sp;
	uint8_t *b = malloc(BS);

	(void)state;
	setup_engine(&f, 16u << 20);
	for (unsigned i = 1; i <= 3; i++)
		write_gen(&f, i, 20);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[1], &si), 0);
	assert_int_equal(wb_engine_snap_fence(f.e, 1), 0);
	assert_int_equal(snap_read(&f, si.id, b, BS, 0), -ESTALE);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_true(sp.oldest > sp.newest);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[3], NULL), -EBUSY);
	/* the "resync": block 5 gets version 999 on backing, outside the
	 * log, and the device (model generation 4) has it from now on; no
	 * record in the log covers block 5 (the model says whether one does) */
	memcpy(ver[4], ver[3], sizeof(ver[4]));
	for (uint64_t k = 0; k < NBLK; k++)
		if (!ver[3][k]) {
			stamp(b, k, 999);
			assert_int_equal(wb_io_pwrite(f.bak, b, BS, k * BS, 0), 0);
			ver[4][k] = 999;
			break;
		}
	assert_int_equal(wb_engine_snap_fence(f.e, 0), 0);
	/* generations 1..3 ended before: the backing holds newer data */
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[3], NULL), -ERANGE);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_true(sp.oldest > sp.newest);
	/* generation 5 ends after the fence: exact */
	write_gen(&f, 5, 10);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_int_equal(sp.oldest, gen_of[5]);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[5], &si), 0);
	check_snap(&f, si.id, 5);
	free(b);
	efx_fini(&f);
}

/* After a restart the snapshots are gone; destage may have written
 * records past the tail on disk before it (not here, but the engine
 * cannot know), so the generation of the last record recovered is the
 * oldest that may be taken, and it and the later ones read back exact. */
static void test_after_reopen(void **state)
{
	struct efx f;
	struct wb_snap_info si;
	struct wb_gen_span sp;

	(void)state;
	setup_engine(&f, 16u << 20);
	for (unsigned i = 1; i <= 6; i++)
		write_gen(&f, i, 25);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[3], &si), 0);
	efx_reopen(&f);
	assert_int_equal(wb_engine_snap_list(f.e, NULL, 0), 0);
	assert_int_equal(snap_read(&f, si.id, (uint8_t[BS]){0}, BS, 0), -ESTALE);
	assert_int_equal(wb_engine_gen_span(f.e, &sp), 0);
	assert_int_equal(sp.oldest, gen_of[6]);
	assert_int_equal(sp.newest, gen_of[6]);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[5], NULL), -ERANGE);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[6], &si), 0);
	check_snap(&f, si.id, 6);
	assert_int_equal(wb_engine_snap_drop(f.e, si.id), 0);
	write_gen(&f, 7, 10);
	assert_int_equal(wb_engine_snap_create(f.e, gen_of[7], &si), 0);
	check_snap(&f, si.id, 7);
	efx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_generation),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_log_reused),
	    cmocka_unit_test(test_log_full_drops),
	    cmocka_unit_test(test_fence),
	    cmocka_unit_test(test_after_reopen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
