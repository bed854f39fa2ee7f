// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_logspace.c - the circular space allocator of the log's data area
 * (engine/logspace.c): placement at the head, wrap to data_off with the
 * waste charged, never overrunning the tail, release, and where the record
 * after another may be.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/logspace.h"

#define MiB (1ull << 20)

static void test_space(void **state)
{
	struct wb_sb sb = {.data_off = 1 * MiB, .data_size = 64 * 4096, .tail_off = 1 * MiB};
	struct wb_logspace sp;
	const uint64_t S = 1 * MiB, E = S + 64 * 4096, B = 4096;
	uint64_t off, span;
	struct wb_logspace_next nx;

	(void)state;
	wb_logspace_init(&sp, &sb, S, 0);
	/* empty: placed at the head, no waste */
	assert_int_equal(wb_logspace_peek(&sp, 10 * B, &off, &span), 0);
	assert_true(off == S && span == 10 * B);
	wb_logspace_take(&sp, off, 10 * B, span);
	assert_true(sp.head == S + 10 * B && sp.used == 10 * B && sp.tail == S);
	/* fill up to 60 blocks */
	assert_int_equal(wb_logspace_peek(&sp, 50 * B, &off, &span), 0);
	wb_logspace_take(&sp, off, 50 * B, span);
	assert_int_equal(sp.used, 60 * B);
	/* 5 blocks do not fit before the end, and wrapping would hit the tail */
	assert_int_equal(wb_logspace_peek(&sp, 5 * B, &off, &span), -ENOSPC);
	/* release the first record: tail moves to S + 10 blocks */
	wb_logspace_release(&sp, S + 10 * B, 10 * B);
	assert_int_equal(sp.used, 50 * B);
	/* now it wraps to the start; the 4-block gap at the end is waste */
	assert_int_equal(wb_logspace_peek(&sp, 5 * B, &off, &span), 0);
	assert_true(off == S && span == 9 * B);
	wb_logspace_take(&sp, off, 5 * B, span);
	assert_true(sp.head == S + 5 * B && sp.used == 59 * B);
	/* head < tail: a record must end at or before the tail */
	assert_int_equal(wb_logspace_peek(&sp, 5 * B, &off, &span), 0);
	assert_true(off == S + 5 * B && span == 5 * B);
	assert_int_equal(wb_logspace_peek(&sp, 6 * B, &off, &span), -ENOSPC);
	/* bigger than the whole area: never */
	assert_int_equal(wb_logspace_peek(&sp, 65 * B, &off, &span), -ENOSPC);
	/* a record ending exactly at the end leaves the head at data_off */
	wb_logspace_init(&sp, &sb, E - 4 * B, 0);
	assert_int_equal(wb_logspace_peek(&sp, 4 * B, &off, &span), 0);
	wb_logspace_take(&sp, off, 4 * B, span);
	assert_int_equal(sp.head, S);
	/* where can the record after one ending at x be? */
	wb_logspace_next(&sp, E - B, false, &nx);
	assert_true(nx.n == 2 && nx.off[0] == E - B && nx.waste[0] == 0);
	assert_true(nx.off[1] == S && nx.waste[1] == B);
	wb_logspace_next(&sp, E - B, true, &nx); /* first record: no waste */
	assert_true(nx.n == 2 && nx.off[1] == S && nx.waste[1] == 0);
	wb_logspace_next(&sp, E, false, &nx);
	assert_true(nx.n == 1 && nx.off[0] == S && nx.waste[0] == 0);
	wb_logspace_next(&sp, S, false, &nx);
	assert_true(nx.n == 1 && nx.off[0] == S);
}

/* xorshift64*: reproducible from the printed seed */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/*
 * Over random geometries and record sizes, with records released from the
 * tail at random: every place the writer picks (peek + take) is one of the
 * candidates wb_logspace_next gives for the end of the previous record, its
 * span is its bytes plus that candidate's waste, a record never crosses the
 * end of the data area, and the space in use is the sum of the live spans.
 */
static void test_writer_places_at_candidates(void **state)
{
	const uint64_t B = 4096;
	uint64_t seed = 0x9e3779b97f4a7c15ull, placed = 0;

	(void)state;
	print_message("seed %llu\n", (unsigned long long)seed);
	for (int g = 0; g < 200; g++) {
		uint64_t nblk = 2 + rnd(&seed) % 300, S = (1 + rnd(&seed) % 64) * B;
		struct wb_sb sb = {.data_off = S, .data_size = nblk * B, .tail_off = S};
		uint64_t maxb = 1 + rnd(&seed) % (nblk < 40 ? nblk : 40);
		uint64_t live_off[512], live_span[512], prev_end;
		unsigned head = 0, n = 0;
		struct wb_logspace sp;

		wb_logspace_init(&sp, &sb, S + rnd(&seed) % nblk * B, 0);
		prev_end = sp.head;
		for (int i = 0; i < 400; i++) {
			uint64_t bytes = (1 + rnd(&seed) % maxb) * B, off, span, used = 0;
			struct wb_logspace_next nx;
			unsigned k;

			if (n && (n == 512 || rnd(&seed) % 3 == 0)) { /* release the oldest */
				uint64_t sp0 = live_span[head % 512];

				head++;
				n--;
				wb_logspace_release(&sp, n ? live_off[head % 512] : sp.head, sp0);
				continue;
			}
			wb_logspace_next(&sp, prev_end, !sp.used, &nx);
			if (wb_logspace_peek(&sp, bytes, &off, &span))
				continue; /* full for now */
			for (k = 0; k < nx.n && nx.off[k] != off; k++)
				;
			if (k == nx.n)
				fail_msg("geometry %d record %d: placed at 0x%llx, not a candidate "
					 "after 0x%llx",
					 g, i, (unsigned long long)off,
					 (unsigned long long)prev_end);
			assert_int_equal(span, bytes + nx.waste[k]);
			assert_true(off >= sp.start && off + bytes <= sp.end);
			wb_logspace_take(&sp, off, bytes, span);
			live_off[(head + n) % 512] = off;
			live_span[(head + n) % 512] = span;
			n++;
			placed++;
			prev_end = off + bytes;
			for (unsigned j = 0; j < n; j++)
				used += live_span[(head + j) % 512];
			assert_int_equal(sp.used, used);
		}
	}
	assert_true(placed > 10000); /* the loop did place records */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_space),
	    cmocka_unit_test(test_writer_places_at_candidates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
