/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * handler.h - [global] event-handler: a program run for each event of the
 * kinds in event-handler-kinds (DRBD's handlers: notify-split-brain.sh,
 * local-io-error; docs/configuration.md, "Event handler"). Run with
 * posix_spawn, argv = PROGRAM KIND RESOURCE, the event in WB_EVENT_*
 * variables, stdin /dev/null, stdout/stderr the daemon's, no other file
 * descriptor, in a session of its own; never waited for: reaped on
 * SIGCHLD, its exit status logged when not 0, killed (its process group)
 * after event-handler-timeout. At most WBD_HANDLER_MAX at once: events
 * past that are dropped, with a warning.
 *
 * Single threaded: the daemon's event base (events are emitted there).
 */
#ifndef WB_DAEMON_HANDLER_H
#define WB_DAEMON_HANDLER_H

#include <stdint.h>

#include "daemon/events.h"

#define WBD_HANDLER_MAX 8

struct event_base;
struct wbd_handler;

int wbd_handler_new(struct event_base *base, const char *node, struct wbd_handler **out);
/* The program (NULL: none), the kinds it runs for (WBCONF_EVK_* bits) and
 * its timeout; at start and at each reload. */
int wbd_handler_set(struct wbd_handler *h, const char *path, uint32_t kinds, uint32_t timeout_ms);
void wbd_handler_event(struct wbd_handler *h, const struct wbd_event *ev);
/* A program the caller waits for (DRBD's before-resync-target): PATH
 * with argv (argv[0] = path) and the environment vars ("K=V", NULL-ended;
 * PATH and WB_NODE are added), as an event handler is run, and done(status
 * as from waitpid, arg) once it exited or was killed at the event-handler
 * timeout; what names it in the log. 0; -EAGAIN when WBD_HANDLER_MAX run
 * already; another -errno when it could not start (done is not called).
 * done is never called from inside this call. */
int wbd_handler_run(struct wbd_handler *h, const char *path, char *const argv[], char *const vars[],
		    const char *what, void (*done)(int status, void *arg), void *arg);
/* The programs wbd_handler_run started with arg are no longer waited for:
 * their done is not called (they run on, reaped as events' programs). */
void wbd_handler_forget(struct wbd_handler *h, void *arg);
/* Programs still running are left to finish (and to init). */
void wbd_handler_free(struct wbd_handler *h);

#endif /* WB_DAEMON_HANDLER_H */
