/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ioloop.h - wbrepd's io loops: N threads, each running its own libevent
 * loop, joined to the engine loop (the main thread, which owns every engine)
 * by two bounded single-producer/single-consumer queues per io loop, one
 * per direction, each with an eventfd to wake its consumer
 * (docs/daemon.md "Threads"; ../shared/DESIGN.md "Threads and hand-offs").
 *
 * A message is a struct wbd_ioloop_msg embedded in the sender's object (a request,
 * a connection): posting it hands the object to the other thread, which
 * calls m->fn(m) from its loop, in posting order. Nothing is allocated per
 * message. When a queue is full, the producer keeps the message on an
 * intrusive overflow list (still in order) and the consumer wakes it once it
 * made room; an io loop's producer side tells wbd_ioloop_engine_busy() so
 * that a frontend stops reading its sockets meanwhile (backpressure), the
 * engine side never stops (what it posts is bounded by the requests the io
 * loops sent it).
 *
 * Ownership: the engine thread starts and stops the loops; an io loop's
 * event base belongs to its thread while it runs. After wbd_ioloop_stop()
 * (threads joined) the engine thread owns everything and a post runs the
 * message at once on the caller's thread.
 */
#ifndef WB_DAEMON_IOLOOP_H
#define WB_DAEMON_IOLOOP_H

#include <stdbool.h>

struct event_base;
struct wbd_ioloop;

struct wbd_ioloop_msg {
	struct wbd_ioloop_msg *next; /* overflow list, owned by the queue while posted */
	void (*fn)(struct wbd_ioloop_msg *m);
};

/* Queue slots per direction and io loop. */
#define WBD_IOLOOP_QLEN 4096u

/* Hooks of the one frontend on the io loops (NBD), called on the io loop's
 * thread: space = its queue to the engine has room again (resume reading);
 * stop = the loop is about to exit (close what it holds). Set before start. */
struct wbd_ioloop_hooks {
	void (*space)(void);
	void (*stop)(void);
};
void wbd_ioloop_set_hooks(const struct wbd_ioloop_hooks *h);

/* Start n >= 1 io loops; engine = the engine loop's base (main thread).
 * 0 or -errno (logged). */
int wbd_ioloop_start(struct event_base *engine, unsigned n);
/* Stop and join every io loop (each runs the stop hook first), then run
 * what is left in the queues on this thread until both directions are
 * empty. Idempotent. */
void wbd_ioloop_stop(void);
unsigned wbd_ioloop_count(void);
/* Engine thread: the next loop, round robin (NULL when none runs). */
struct wbd_ioloop *wbd_ioloop_pick(void);
/* Loop i (0 <= i < count), NULL when none runs: the replication listener
 * lives on loop 0 (peerlisten.c). */
struct wbd_ioloop *wbd_ioloop_nth(unsigned i);
/* The io loop of the calling thread; NULL on the engine thread. */
struct wbd_ioloop *wbd_ioloop_self(void);
struct event_base *wbd_ioloop_base(struct wbd_ioloop *l);

/* Engine thread -> io loop l. */
void wbd_ioloop_post(struct wbd_ioloop *l, struct wbd_ioloop_msg *m);
/* Engine thread -> io loop l, the wake-up deferred: every message posted
 * lazily during one engine-loop callback (e.g. the completions of one
 * engine run) costs each io loop at most one wake-up, from a deferred
 * event right after that callback. Same order as wbd_ioloop_post. */
void wbd_ioloop_post_lazy(struct wbd_ioloop *l, struct wbd_ioloop_msg *m);
/* Any io loop's thread -> io loop l (rare messages: a reply an ack on
 * another loop released, repl.c "Replies released on the io loop"): a
 * lock-free stack with one wake-up per push onto an empty one; runs on l
 * in posting order per producer, before l's engine messages of that
 * wake-up. Not bounded: the producer owns the bound (one per request). */
void wbd_ioloop_post_io(struct wbd_ioloop *l, struct wbd_ioloop_msg *m);
/* io loop l's thread -> engine thread. */
void wbd_ioloop_post_engine(struct wbd_ioloop *l, struct wbd_ioloop_msg *m);
/* io loop l's thread: between plug and unplug (nested: counted), posts to
 * the engine publish at once but wake the engine loop at most once, at the
 * last unplug (a frontend taking a batch of requests from one read). */
void wbd_ioloop_plug_engine(struct wbd_ioloop *l);
void wbd_ioloop_unplug_engine(struct wbd_ioloop *l);
/* io loop l's thread: as unplug, but the engine is not woken for what was
 * posted while plugged: it waits for the next post or unplug of this loop
 * that wakes it, WBD_IOLOOP_QUIET_US at most. For messages nothing waits
 * for now (the ack behind a reply this loop sent itself: repl.c, "Replies
 * released on the io loop"); at QD1 the client's next request wakes the
 * engine and they go with it. */
#define WBD_IOLOOP_QUIET_US 1000
void wbd_ioloop_unplug_engine_quiet(struct wbd_ioloop *l);
/* io loop l's thread: its queue to the engine overflowed; stop reading
 * sockets until the space hook runs. */
bool wbd_ioloop_engine_busy(struct wbd_ioloop *l);

/* io-threads = 0 in the configuration: the number of CPUs online. */
unsigned wbd_ioloop_default_count(void);

#endif /* WB_DAEMON_IOLOOP_H */
