// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbd_log.c - wbrepd logging (see wbd_log.h): stderr lines
 * "2026-01-01T12:00:00.123 wbrepd[PID] LEVEL: message" or syslog(3).
 */
#include "daemon/wbd_log.h"
#include "engine/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_target = WBD_LOG_STDERR;
/* read by every thread, set by the engine loop's (reload): seq_cst */
static _Atomic int log_max = WB_LOG_INFO;
static _Thread_local int log_io_thread;
static int log_syslog_open;
static void (*log_err_hook)(const char *msg, void *ctx);
static void *log_err_ctx;
static void (*log_hook)(int level, const char *msg, void *arg);
static void *log_hook_arg;

static void log_emit(int level, const char *msg)
{
	struct timeval tv;
	struct tm tm;
	char ts[32];

	if (level <= WB_LOG_ERR && log_err_hook && !log_io_thread)
		log_err_hook(msg, log_err_ctx);
	if (level > log_max)
		return;
	if (log_hook)
		log_hook(level, msg, log_hook_arg);
	if (log_target == WBD_LOG_SYSLOG) {
		syslog(level < LOG_EMERG ? LOG_ERR : level, "%s", msg);
		return;
	}
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld wbrepd[%d] %s: %s\n", ts, (long)(tv.tv_usec / 1000), getpid(),
		wb_msg_level_name(level), msg);
}

static void log_engine_sink(int level, const char *msg, void *ctx)
{
	log_emit(level, msg);
}

void wbd_log_setup(int target, int max_level)
{
	if (target >= 0)
		log_target = target;
	log_max = max_level;
	if (log_target == WBD_LOG_SYSLOG && !log_syslog_open) {
		openlog("wbrepd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog_open = 1;
	}
	wb_msg_set_sink(log_engine_sink, NULL, max_level);
}

void wbd_log_set_error_hook(void (*fn)(const char *msg, void *ctx), void *ctx)
{
	log_err_hook = fn;
	log_err_ctx = ctx;
}

void wbd_log_thread_io(void)
{
	log_io_thread = 1;
}

void wbd_log_set_hook(void (*fn)(int level, const char *msg, void *arg), void *arg)
{
	log_hook = fn;
	log_hook_arg = arg;
}

void wbd_log(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_emit(level, buf);
}

void wbd_log_rl(struct wbd_log_rl *rl, int level, const char *fmt, ...)
{
	uint64_t now;
	char buf[1024];
	va_list ap;

	if (level > log_max)
		return;
	now = wb_now_ms();
	if (!rl->start_ms || now - rl->start_ms >= WBD_LOG_RL_INTERVAL_MS) {
		if (rl->dropped)
			wbd_log(level, "(%u similar messages suppressed in %u s)", rl->dropped,
				WBD_LOG_RL_INTERVAL_MS / 1000);
		rl->start_ms = now ? now : 1;
		rl->n = rl->dropped = 0;
	}
	if (rl->n >= WBD_LOG_RL_BURST) {
		rl->dropped++;
		return;
	}
	rl->n++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_emit(level, buf);
}
