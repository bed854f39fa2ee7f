// SPDX-License-Identifier: GPL-2.0-only
/*
 * msg.c - the engine library's message sink (wb_msg).
 *
 * Every message of the engine library goes through wb_msg(). By default it is
 * written to stderr with a level prefix ("wbrep: error: ..."); the owner
 * (daemon, tool, test) may install its own sink and a maximum level. Messages
 * with a level above the maximum are dropped before formatting.
 *
 * Owns: the process-wide sink pointer, its context and the level filter.
 * Not thread safe by design: the engine is single-threaded; set the sink
 * before starting other threads.
 */
#include <stdarg.h>
#include <stdio.h>

#include "engine/wbengine.h"

static wb_msg_fn msg_sink;
static void *msg_ctx;
static int msg_max_level = WB_LOG_INFO;

const char *wb_msg_level_name(int level)
{
	switch (level) {
	case WB_LOG_ERR:
		return "error";
	case WB_LOG_WARN:
		return "warning";
	case WB_LOG_INFO:
		return "info";
	case WB_LOG_DEBUG:
		return "debug";
	default:
		return level < WB_LOG_ERR ? "error" : "debug";
	}
}

static void msg_stderr(int level, const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "wbrep: %s: %s\n", wb_msg_level_name(level), msg);
}

/* fn NULL restores the default stderr sink; max_level filters in both cases. */
void wb_msg_set_sink(wb_msg_fn fn, void *ctx, int max_level)
{
	msg_sink = fn;
	msg_ctx = ctx;
	msg_max_level = max_level;
}

void wb_msg(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > msg_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (msg_sink)
		msg_sink(level, buf, msg_ctx);
	else
		msg_stderr(level, buf, NULL);
}
