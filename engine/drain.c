// SPDX-License-Identifier: GPL-2.0-only
/*
 * drain.c - wb_drain(): run a step until a condition holds or a deadline
 * passes, the one shape of every "let what is in flight finish" loop at a
 * close or a stop (engine and daemon). It replaces loops bounded by
 * arbitrary iteration counts, which ended after a number of events instead
 * of a time and mostly said nothing when they gave up. Stateless.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "engine/clock.h"
#include "engine/wbengine.h"

int wb_drain(int (*until)(void *ctx), int (*step)(void *ctx), void *ctx, unsigned deadline_ms,
	     const char *who, const char *what)
{
	uint64_t t0 = wb_now_ms(), rounds = 0;
	int ret;

	while (!until(ctx)) {
		if (wb_now_ms() - t0 >= deadline_ms) {
			wb_msg(WB_LOG_ERR, "%s: %s: gave up after %u s (%llu rounds)", who, what,
			       deadline_ms / 1000, (unsigned long long)rounds);
			return -ETIMEDOUT;
		}
		ret = step(ctx);
		rounds++;
		if (ret < 0 && ret != -EAGAIN && ret != -EINTR) {
			wb_msg(WB_LOG_ERR, "%s: %s: %s", who, what, strerror(-ret));
			return ret;
		}
	}
	return 0;
}
