// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_wbd_log.c - daemon/wbd_log.c: the rate-limited variant lets
 * WBD_LOG_RL_BURST messages through per window, drops the rest, and the
 * first message of the next window is preceded by the count it dropped;
 * the level filter applies before the limiter; the engine's wb_msg goes
 * through the same sink and filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/wbd_log.h"

static char seen[64][256];
static unsigned nseen;

static void hook(int level, const char *msg, void *arg)
{
	(void)arg;
	if (nseen < 64)
		snprintf(seen[nseen], sizeof(seen[0]), "%s: %s", wb_msg_level_name(level), msg);
	nseen++;
}

static int setup(void **state)
{
	(void)state;
	nseen = 0;
	wbd_log_setup(WBD_LOG_STDERR, WB_LOG_INFO);
	wbd_log_set_hook(hook, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	wbd_log_set_hook(NULL, NULL);
	return 0;
}

static void test_ratelimit(void **state)
{
	struct wbd_log_rl rl = {0};

	(void)state;
	for (int i = 0; i < 25; i++)
		wbd_err_rl(&rl, "bad request %d", i);
	assert_int_equal(nseen, WBD_LOG_RL_BURST);
	assert_string_equal(seen[0], "error: bad request 0");
	assert_string_equal(seen[WBD_LOG_RL_BURST - 1], "error: bad request 9");
	assert_int_equal(rl.dropped, 25 - WBD_LOG_RL_BURST);
	/* the window is over (moved back instead of waiting) */
	rl.start_ms -= WBD_LOG_RL_INTERVAL_MS;
	wbd_err_rl(&rl, "bad request %d", 25);
	assert_int_equal(nseen, WBD_LOG_RL_BURST + 2);
	assert_string_equal(seen[WBD_LOG_RL_BURST],
			    "error: (15 similar messages suppressed in 5 s)");
	assert_string_equal(seen[WBD_LOG_RL_BURST + 1], "error: bad request 25");
	assert_int_equal(rl.dropped, 0);
	assert_int_equal(rl.n, 1);
}

static void test_filter_before_limit(void **state)
{
	struct wbd_log_rl rl = {0};

	(void)state;
	for (int i = 0; i < 20; i++)
		wbd_log_rl(&rl, WB_LOG_DEBUG, "noise %d", i); /* above the level */
	assert_int_equal(nseen, 0);
	assert_int_equal(rl.n, 0); /* filtered messages use no budget */
	wbd_warn_rl(&rl, "real");
	assert_int_equal(nseen, 1);
	assert_string_equal(seen[0], "warning: real");
}

static void test_engine_messages_same_sink(void **state)
{
	(void)state;
	wb_msg(WB_LOG_WARN, "from the engine %d", 1);
	wb_msg(WB_LOG_DEBUG, "filtered");
	wbd_info("from the daemon");
	assert_int_equal(nseen, 2);
	assert_string_equal(seen[0], "warning: from the engine 1");
	assert_string_equal(seen[1], "info: from the daemon");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ratelimit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filter_before_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_engine_messages_same_sink, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
