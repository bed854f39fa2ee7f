// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_drain.c - wb_drain() (engine/drain.c): runs the step until the
 * condition holds and returns 0; stops on a step error other than
 * -EAGAIN/-EINTR and returns it; gives up with -ETIMEDOUT at the deadline;
 * and logs (once) whenever it gives up.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "engine/wbengine.h"

struct st {
	int left, steps, err;
};

static char last[512];
static int nlogged;

static void sink(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= WB_LOG_ERR) {
		snprintf(last, sizeof(last), "%s", msg);
		nlogged++;
	}
}

static int until(void *arg)
{
	return ((struct st *)arg)->left == 0;
}

static int step(void *arg)
{
	struct st *s = arg;

	s->steps++;
	if (s->left > 0)
		s->left--;
	return s->err;
}

static int setup(void **state)
{
	(void)state;
	last[0] = 0;
	nlogged = 0;
	wb_msg_set_sink(sink, NULL, WB_LOG_DEBUG);
	return 0;
}

static void test_until(void **state)
{
	struct st s = {.left = 5};

	(void)state;
	assert_int_equal(wb_drain(until, step, &s, 60000, "t", "drain"), 0);
	assert_int_equal(s.steps, 5);
	s.left = 0;
	assert_int_equal(wb_drain(until, step, &s, 60000, "t", "drain"), 0);
	assert_int_equal(s.steps, 5); /* already done: no step */
	assert_int_equal(nlogged, 0);
}

static void test_step_error(void **state)
{
	struct st s = {.left = 100, .err = -EAGAIN};

	(void)state;
	s.left = 3; /* -EAGAIN is not an error: it goes on */
	assert_int_equal(wb_drain(until, step, &s, 60000, "t", "drain"), 0);
	s.left = 100;
	s.err = -EIO;
	assert_int_equal(wb_drain(until, step, &s, 60000, "r0", "stop"), -EIO);
	assert_int_equal(s.steps, 4); /* one step, then it stopped */
	assert_int_equal(nlogged, 1);
	assert_non_null(strstr(last, "r0: stop: "));
}

static void test_deadline(void **state)
{
	struct st s = {.left = -1}; /* never done */

	(void)state;
	assert_int_equal(wb_drain(until, step, &s, 0, "r1", "close: requests in flight"),
			 -ETIMEDOUT);
	assert_int_equal(nlogged, 1);
	assert_non_null(strstr(last, "r1: close: requests in flight: gave up after 0 s"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_until, setup),
	    cmocka_unit_test_setup(test_step_error, setup),
	    cmocka_unit_test_setup(test_deadline, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
