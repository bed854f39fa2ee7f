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
	assert_int_equal(wb_logspace_next_pos(&sp, E - B), E - B);
	assert_int_equal(wb_logspace_next_pos(&sp, E), S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
