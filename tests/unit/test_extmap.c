// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_extmap.c - unit tests of engine/extmap.c (the LBA -> log extent map).
 *
 * Hand-written edge cases (overlaps, splits, punch, drop_upto, clipping,
 * merging, limits) plus a seeded 1M-operation random run checked against a
 * naive per-block model, and the measured memory per extent on 1M random
 * extents (printed, and asserted <= 32 bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "engine/extmap.h"

static struct wb_extmap *mk(void)
{
	struct wb_extmap *m = NULL;

	assert_int_equal(wb_extmap_create(&m), 0);
	assert_non_null(m);
	return m;
}

/* Expect exactly the given extents (lba, n, log, seq quadruples) in the map. */
struct expect {
	const uint64_t *v;
	int n, i;
};

static int expect_cb(const struct wb_extmap_ent *e, void *arg)
{
	struct expect *x = arg;

	assert_true(x->i < x->n);
	assert_int_equal(e->lba, x->v[4 * x->i]);
	assert_int_equal(e->nblocks, x->v[4 * x->i + 1]);
	assert_int_equal(e->log_blk, x->v[4 * x->i + 2]);
	assert_int_equal(e->seq, x->v[4 * x->i + 3]);
	x->i++;
	return 0;
}

#define EXPECT(m, ...)                                                                             \
	do {                                                                                       \
		static const uint64_t v_[] = {__VA_ARGS__};                                        \
		struct expect x_ = {v_, (int)(sizeof(v_) / sizeof(v_[0]) / 4), 0};                 \
		assert_int_equal(wb_extmap_iterate(m, expect_cb, &x_), 0);                         \
		assert_int_equal(x_.i, x_.n);                                                      \
		assert_int_equal(wb_extmap_count(m), x_.n);                                        \
	} while (0)

static void test_empty(void **state)
{
	struct wb_extmap *m = mk();
	struct wb_extmap_ent out[4];

	assert_int_equal(wb_extmap_count(m), 0);
	assert_int_equal(wb_extmap_lookup(m, 0, 100, out, 4), 0);
	assert_int_equal(wb_extmap_punch(m, 0, 100), 0);
	assert_int_equal(wb_extmap_drop_upto(m, 0, 100, 5), 0);
	assert_true(wb_extmap_mem_bytes(m) > 0);
	wb_extmap_destroy(m);
	wb_extmap_destroy(NULL);
}

static void test_overlaps(void **state)
{
	struct wb_extmap *m = mk();

	/* new extent covering an old one fully (and more) */
	assert_int_equal(wb_extmap_insert(m, 10, 10, 1000, 1), 0);
	assert_int_equal(wb_extmap_insert(m, 5, 20, 2000, 2), 0);
	EXPECT(m, 5, 20, 2000, 2);
	/* new extent inside an old one: split into three */
	assert_int_equal(wb_extmap_insert(m, 10, 5, 3000, 3), 0);
	EXPECT(m, 5, 5, 2000, 2, 10, 5, 3000, 3, 15, 10, 2010, 2);
	/* straddling the start of one and the end of another, covering one in between */
	assert_int_equal(wb_extmap_insert(m, 8, 10, 4000, 4), 0);
	EXPECT(m, 5, 3, 2000, 2, 8, 10, 4000, 4, 18, 7, 2013, 2);
	/* covering many */
	assert_int_equal(wb_extmap_insert(m, 30, 2, 5000, 5), 0);
	assert_int_equal(wb_extmap_insert(m, 40, 2, 5100, 6), 0);
	assert_int_equal(wb_extmap_insert(m, 0, 100, 6000, 7), 0);
	EXPECT(m, 0, 100, 6000, 7);
	/* exact replacement */
	assert_int_equal(wb_extmap_insert(m, 0, 100, 7000, 8), 0);
	EXPECT(m, 0, 100, 7000, 8);
	/* straddling the tail end */
	assert_int_equal(wb_extmap_insert(m, 90, 20, 8000, 9), 0);
	EXPECT(m, 0, 90, 7000, 8, 90, 20, 8000, 9);
	wb_extmap_destroy(m);
}

static void test_punch(void **state)
{
	struct wb_extmap *m = mk();

	assert_int_equal(wb_extmap_insert(m, 0, 10, 100, 1), 0);
	assert_int_equal(wb_extmap_insert(m, 20, 10, 200, 2), 0);
	assert_int_equal(wb_extmap_punch(m, 3, 4), 0); /* split */
	EXPECT(m, 0, 3, 100, 1, 7, 3, 107, 1, 20, 10, 200, 2);
	assert_int_equal(wb_extmap_punch(m, 8, 14), 0); /* tail of one, head of other */
	EXPECT(m, 0, 3, 100, 1, 7, 1, 107, 1, 22, 8, 202, 2);
	assert_int_equal(wb_extmap_punch(m, 10, 5), 0); /* hole: nothing */
	EXPECT(m, 0, 3, 100, 1, 7, 1, 107, 1, 22, 8, 202, 2);
	assert_int_equal(wb_extmap_punch(m, 0, 1000), 0);
	assert_int_equal(wb_extmap_count(m), 0);
	wb_extmap_destroy(m);
}

static void test_drop_upto(void **state)
{
	struct wb_extmap *m = mk();

	assert_int_equal(wb_extmap_insert(m, 0, 10, 100, 1), 0);
	assert_int_equal(wb_extmap_insert(m, 10, 10, 200, 5), 0);
	assert_int_equal(wb_extmap_insert(m, 20, 10, 300, 3), 0);
	assert_int_equal(wb_extmap_insert(m, 30, 10, 400, 7), 0);
	/* range cuts into the first and the last; seq 5 and 7 stay */
	assert_int_equal(wb_extmap_drop_upto(m, 5, 30, 4), 0);
	EXPECT(m, 0, 5, 100, 1, 10, 10, 200, 5, 30, 10, 400, 7);
	/* middle of one old extent: split */
	assert_int_equal(wb_extmap_drop_upto(m, 12, 3, 5), 0);
	EXPECT(m, 0, 5, 100, 1, 10, 2, 200, 5, 15, 5, 205, 5, 30, 10, 400, 7);
	/* max_seq below everything: no change */
	assert_int_equal(wb_extmap_drop_upto(m, 0, 100, 0), 0);
	assert_int_equal(wb_extmap_count(m), 4);
	assert_int_equal(wb_extmap_drop_upto(m, 0, 100, 6), 0);
	EXPECT(m, 30, 10, 400, 7);
	wb_extmap_destroy(m);
}

static void test_lookup_clip(void **state)
{
	struct wb_extmap *m = mk();
	struct wb_extmap_ent out[8];
	int i;

	for (i = 0; i < 8; i++)
		assert_int_equal(wb_extmap_insert(m, i * 10, 5, 1000 + i * 100, i + 1), 0);
	assert_int_equal(wb_extmap_lookup(m, 2, 30, out, 8), 4);
	assert_int_equal(out[0].lba, 2);
	assert_int_equal(out[0].nblocks, 3);
	assert_int_equal(out[0].log_blk, 1002);
	assert_int_equal(out[0].seq, 1);
	assert_int_equal(out[1].lba, 10);
	assert_int_equal(out[3].lba, 30);
	assert_int_equal(out[3].nblocks, 2); /* clipped at 32 */
	assert_int_equal(out[3].log_blk, 1300);
	/* more pieces than room */
	assert_int_equal(wb_extmap_lookup(m, 0, 80, out, 3), 8);
	assert_int_equal(out[2].lba, 20);
	assert_int_equal(wb_extmap_lookup(m, 25, 5, out, 8), 0);
	assert_int_equal(wb_extmap_lookup(m, 44, 1, out, 8), 1);
	assert_int_equal(out[0].log_blk, 1404);
	wb_extmap_destroy(m);
}

static void test_merge(void **state)
{
	struct wb_extmap *m = mk();

	assert_int_equal(wb_extmap_insert(m, 0, 4, 100, 5), 0);
	assert_int_equal(wb_extmap_insert(m, 8, 4, 108, 5), 0);
	assert_int_equal(wb_extmap_insert(m, 4, 4, 104, 5), 0);
	EXPECT(m, 0, 12, 100, 5);
	/* different seq or non-contiguous log: no merge */
	assert_int_equal(wb_extmap_insert(m, 12, 4, 112, 6), 0);
	assert_int_equal(wb_extmap_insert(m, 16, 4, 999, 6), 0);
	EXPECT(m, 0, 12, 100, 5, 12, 4, 112, 6, 16, 4, 999, 6);
	wb_extmap_destroy(m);
}

static void test_limits(void **state)
{
	struct wb_extmap *m = mk();
	struct wb_extmap_ent out[4];
	uint64_t big = (1u << 24) + 100;

	assert_int_equal(wb_extmap_insert(m, WB_EXTMAP_LBA_LIMIT - 1, 2, 0, 1), -ERANGE);
	assert_int_equal(wb_extmap_insert(m, 0, 2, WB_EXTMAP_LOG_LIMIT - 1, 1), -ERANGE);
	assert_int_equal(wb_extmap_insert(m, 0, 2, 0, WB_EXTMAP_SEQ_LIMIT), -ERANGE);
	assert_int_equal(wb_extmap_insert(m, WB_EXTMAP_LBA_LIMIT - 2, 2, 5, 1), 0);
	assert_int_equal(wb_extmap_insert(m, 0, 0, 0, 1), 0);
	/* longer than one packed entry: stored as pieces, looked up contiguous */
	assert_int_equal(wb_extmap_insert(m, 1000, (uint32_t)big, 7, 9), 0);
	assert_int_equal(wb_extmap_count(m), 3);
	assert_int_equal(wb_extmap_lookup(m, 1000, (uint32_t)big, out, 4), 2);
	assert_int_equal(out[0].nblocks + out[1].nblocks, big);
	assert_int_equal(out[1].lba, out[0].lba + out[0].nblocks);
	assert_int_equal(out[1].log_blk, out[0].log_blk + out[0].nblocks);
	wb_extmap_clear(m);
	assert_int_equal(wb_extmap_count(m), 0);
	assert_int_equal(wb_extmap_lookup(m, 0, 100, out, 4), 0);
	assert_int_equal(wb_extmap_insert(m, 1, 1, 1, 1), 0);
	EXPECT(m, 1, 1, 1, 1);
	wb_extmap_destroy(m);
}

/* ---- random operations against a per-block model ---- */

#define MODEL_BLOCKS 6000

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

struct model {
	uint64_t log[MODEL_BLOCKS];
	uint64_t seq[MODEL_BLOCKS]; /* 0 = unmapped */
};

struct fullcheck {
	const struct model *md;
	uint64_t next; /* first block not yet verified */
	uint64_t n;
};

static int full_cb(const struct wb_extmap_ent *e, void *arg)
{
	struct fullcheck *c = arg;

	assert_true(e->nblocks >= 1);
	assert_true(e->lba >= c->next); /* sorted, disjoint */
	assert_true(e->lba + e->nblocks <= MODEL_BLOCKS);
	for (uint64_t b = c->next; b < e->lba; b++)
		assert_int_equal(c->md->seq[b], 0);
	for (uint32_t i = 0; i < e->nblocks; i++) {
		assert_int_equal(c->md->seq[e->lba + i], e->seq);
		assert_int_equal(c->md->log[e->lba + i], e->log_blk + i);
	}
	c->next = e->lba + e->nblocks;
	c->n++;
	return 0;
}

static void check_full(struct wb_extmap *m, const struct model *md)
{
	struct fullcheck c = {md, 0, 0};

	assert_int_equal(wb_extmap_iterate(m, full_cb, &c), 0);
	for (uint64_t b = c.next; b < MODEL_BLOCKS; b++)
		assert_int_equal(md->seq[b], 0);
	assert_int_equal(c.n, wb_extmap_count(m));
}

static void check_range(struct wb_extmap *m, const struct model *md, uint64_t a, uint32_t n)
{
	struct wb_extmap_ent out[16];
	uint64_t cur = a, end = a + n;

	while (cur < end) {
		int k = wb_extmap_lookup(m, cur, (uint32_t)(end - cur), out, 16);
		int got = k < 16 ? k : 16;
		uint64_t b = cur;

		for (int i = 0; i < got; i++) {
			assert_true(out[i].lba >= b);
			for (; b < out[i].lba; b++)
				assert_int_equal(md->seq[b], 0);
			for (uint32_t j = 0; j < out[i].nblocks; j++, b++) {
				assert_true(b < end);
				assert_int_equal(md->seq[b], out[i].seq);
				assert_int_equal(md->log[b], out[i].log_blk + j);
			}
		}
		if (k <= 16) {
			for (; b < end; b++)
				assert_int_equal(md->seq[b], 0);
		}
		cur = b;
	}
}

static void run_model(int leaf_cap, int inode_cap, int ops, uint64_t seed)
{
	struct wb_extmap *m = mk();
	struct model *md = calloc(1, sizeof(*md));
	uint64_t seq = 1, log = 0, last_end = 0;

	assert_non_null(md);
	if (leaf_cap)
		assert_int_equal(wb_extmap_test_set_caps(m, leaf_cap, inode_cap), 0);
	rng_state = seed;
	for (int op = 0; op < ops; op++) {
		uint64_t r = rnd();
		uint32_t n = (r >> 8) % 8 == 0 ? 1 + (uint32_t)((r >> 16) % 400)
					       : 1 + (uint32_t)((r >> 16) % 24);
		uint64_t a = rnd() % MODEL_BLOCKS;
		unsigned kind = r % 16;

		if (a + n > MODEL_BLOCKS)
			n = (uint32_t)(MODEL_BLOCKS - a);
		if (kind < 11) { /* insert; kind 0: continues the previous one (merge case) */
			if (kind == 0 && last_end + n <= MODEL_BLOCKS)
				a = last_end;
			else
				seq++;
			assert_int_equal(wb_extmap_insert(m, a, n, log, seq), 0);
			for (uint32_t i = 0; i < n; i++) {
				md->seq[a + i] = seq;
				md->log[a + i] = log + i;
			}
			log += n;
			last_end = a + n;
			if (kind > 5) /* not contiguous in the log */
				log += 1 + rnd() % 1000;
			if (log > (1ull << 39))
				log = 0;
		} else if (kind < 13) {
			assert_int_equal(wb_extmap_punch(m, a, n), 0);
			for (uint32_t i = 0; i < n; i++)
				md->seq[a + i] = 0;
		} else {
			uint64_t maxs =
			    seq > 1 ? seq - 1 - rnd() % (seq < 2000 ? seq - 1 : 2000) : 0;

			assert_int_equal(wb_extmap_drop_upto(m, a, n, maxs), 0);
			for (uint32_t i = 0; i < n; i++)
				if (md->seq[a + i] <= maxs)
					md->seq[a + i] = 0;
		}
		check_range(m, md, rnd() % (MODEL_BLOCKS - 100), 1 + (uint32_t)(rnd() % 100));
		if (op % 20000 == 0 || op == ops - 1)
			check_full(m, md);
	}
	wb_extmap_clear(m);
	memset(md, 0, sizeof(*md));
	check_full(m, md);
	free(md);
	wb_extmap_destroy(m);
}

/* 1M random inserts/punches/drops with the real node sizes (2-level tree)... */
static void test_random_vs_model(void **state)
{
	run_model(0, 0, 1000000, 0x5eed0001ull);
}

/* ...and with tiny nodes, so that inner splits, merges and root changes happen. */
static void test_random_vs_model_deep(void **state)
{
	struct wb_extmap *m = mk();

	assert_int_equal(wb_extmap_test_set_caps(m, 3, 8), -EINVAL);
	assert_int_equal(wb_extmap_insert(m, 1, 1, 1, 1), 0);
	assert_int_equal(wb_extmap_test_set_caps(m, 8, 8), -EINVAL); /* not empty */
	wb_extmap_destroy(m);
	run_model(8, 8, 300000, 0x5eed0003ull);
	run_model(5, 4, 200000, 0x5eed0004ull);
}

/* Many extents spread over a large range: exercises deep trees and merges. */
static void test_grow_shrink(void **state)
{
	struct wb_extmap *m = mk();
	const uint64_t n = 200000;
	struct wb_extmap_ent out[2];

	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(wb_extmap_insert(m, i * 4, 2, i * 4, i + 1), 0);
	assert_int_equal(wb_extmap_count(m), n);
	for (uint64_t i = 0; i < n; i += 997)
		assert_int_equal(wb_extmap_lookup(m, i * 4 + 1, 2, out, 2), 1);
	/* remove every other one, then the rest by drop_upto */
	for (uint64_t i = 0; i < n; i += 2)
		assert_int_equal(wb_extmap_punch(m, i * 4, 4), 0);
	assert_int_equal(wb_extmap_count(m), n / 2);
	assert_int_equal(wb_extmap_drop_upto(m, 0, (uint32_t)(n * 4), n), 0);
	assert_int_equal(wb_extmap_count(m), 0);
	wb_extmap_destroy(m);
}

static void test_bytes_per_extent(void **state)
{
	struct wb_extmap *m = mk();
	const int n = 1000000;
	double bpe;

	rng_state = 0x5eed0002ull;
	for (int i = 0; i < n; i++) {
		uint64_t lba = rnd() % (1ull << 34);
		uint32_t len = 1 + (uint32_t)(rnd() % 8);

		assert_int_equal(wb_extmap_insert(m, lba, len, rnd() % (1ull << 36), i + 1), 0);
	}
	bpe = (double)wb_extmap_mem_bytes(m) / (double)wb_extmap_count(m);
	printf("extmap: %llu extents, %llu bytes, %.2f bytes/extent\n",
	       (unsigned long long)wb_extmap_count(m), (unsigned long long)wb_extmap_mem_bytes(m),
	       bpe);
	assert_true(wb_extmap_count(m) > n * 9 / 10);
	assert_true(bpe <= 32.0);
	wb_extmap_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_overlaps),
	    cmocka_unit_test(test_punch),
	    cmocka_unit_test(test_drop_upto),
	    cmocka_unit_test(test_lookup_clip),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_random_vs_model),
	    cmocka_unit_test(test_random_vs_model_deep),
	    cmocka_unit_test(test_grow_shrink),
	    cmocka_unit_test(test_bytes_per_extent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
