/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * clock.h - the monotonic clock every part of wbrep times with (engine,
 * daemon, wbctl): milliseconds and nanoseconds since an arbitrary start,
 * never going back. One copy instead of a private helper per file.
 */
#ifndef WB_ENGINE_CLOCK_H
#define WB_ENGINE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t wb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t wb_now_ms(void)
{
	return wb_now_ns() / 1000000u;
}

#endif
