/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbd_log.h - logging of wbrepd, the one API of daemon/ code: levels
 * (syslog numbers, enum wb_msg_level), to stderr (with a timestamp) or to
 * syslog, rate-limited variants for per-request errors. The engine
 * library's wb_msg() is routed here too (wb_msg_set_sink), so every message
 * of the process goes through one filter; daemon/ code itself calls only
 * wbd_log() and its wrappers. Owns only static state (target, level).
 */
#ifndef WB_DAEMON_WBD_LOG_H
#define WB_DAEMON_WBD_LOG_H

#include <stdint.h>

#include "engine/wbengine.h"

enum wbd_log_target { WBD_LOG_STDERR = 0, WBD_LOG_SYSLOG = 1 };

/* (Re)configure; may be called again at SIGHUP. target < 0: keep. */
void wbd_log_setup(int target, int max_level);
/* Called with every error-level message (daemon and engine), whatever the
 * log level: the daemon keeps the first one about a resource as the reason
 * `wbctl status` shows for a failed engine. NULL: none. Only messages of
 * the engine loop's thread reach it (it touches the resources). */
void wbd_log_set_error_hook(void (*fn)(const char *msg, void *ctx), void *ctx);
/* Also hand every message that passes the level filter to fn (tests check
 * what was logged); NULL removes it. Not thread-safe: set it at start. */
void wbd_log_set_hook(void (*fn)(int level, const char *msg, void *arg), void *arg);
void wbd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread is an io loop (daemon/ioloop.h): its messages are
 * written, but not given to the error hook. */
void wbd_log_thread_io(void);

/*
 * Messages a client, a peer or the kernel can cause once per request (a bad
 * request, a refused op) go through a rate limit: at most WBD_LOG_RL_BURST
 * per WBD_LOG_RL_INTERVAL_MS per struct wbd_log_rl (a static at the call
 * site, zero-initialized); the first message of a later window first says
 * how many were suppressed. A limiter belongs to the thread that logs
 * through it.
 */
#define WBD_LOG_RL_BURST       10u
#define WBD_LOG_RL_INTERVAL_MS 5000u
struct wbd_log_rl {
	uint64_t start_ms; /* CLOCK_MONOTONIC start of the window */
	unsigned n;	   /* messages logged in it */
	unsigned dropped;  /* messages suppressed in it */
};
void wbd_log_rl(struct wbd_log_rl *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define wbd_err(...)	     wbd_log(WB_LOG_ERR, __VA_ARGS__)
#define wbd_warn(...)	     wbd_log(WB_LOG_WARN, __VA_ARGS__)
#define wbd_info(...)	     wbd_log(WB_LOG_INFO, __VA_ARGS__)
#define wbd_debug(...)	     wbd_log(WB_LOG_DEBUG, __VA_ARGS__)
#define wbd_err_rl(rl, ...)  wbd_log_rl(rl, WB_LOG_ERR, __VA_ARGS__)
#define wbd_warn_rl(rl, ...) wbd_log_rl(rl, WB_LOG_WARN, __VA_ARGS__)

#endif /* WB_DAEMON_WBD_LOG_H */
