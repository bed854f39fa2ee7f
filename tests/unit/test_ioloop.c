// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_ioloop.c - unit tests of daemon/ioloop.c: io loop threads and the
 * bounded SPSC queues between them and the engine loop. Real threads and
 * eventfds; run under `make TSAN=1` too (tests/run.sh, suite tsan).
 *   - messages go both ways in order, past the queue length (the engine
 *     side's overflow);
 *   - an io loop whose queue to the engine is full reports busy and gets
 *     the space hook once the engine took the messages, still in order;
 *   - stop runs the stop hook on every loop and, after the join, what is
 *     still queued, on the caller's thread;
 *   - lazy posts (one deferred wake-up per engine callback) and plugged
 *     posts (one wake-up at the unplug) arrive, in order; so do quiet
 *     posts (no wake-up: the loop's timer, or the next plain post);
 *   - io loop -> io loop posts (wbd_ioloop_post_io) run on the loop they
 *     went to, in each producer's order, both loops posting at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "daemon/ioloop.h"

#define NLOOPS 2

struct tmsg {
	struct wbd_ioloop_msg m;
	unsigned loop; /* index of the io loop it went to */
	unsigned seq;  /* per loop, in posting order */
};

static struct event_base *ebase;
static struct wbd_ioloop *loops[NLOOPS];
static unsigned eng_seen[NLOOPS]; /* engine thread only */
static unsigned eng_total, eng_want;
static int eng_order_bad;
static _Atomic unsigned io_order_bad, n_space, n_stop, io_posted;
static _Atomic int burst_done;

static struct tmsg *tm(struct wbd_ioloop_msg *m)
{
	return (struct tmsg *)((char *)m - offsetof(struct tmsg, m));
}

/* engine thread: a message came back */
static void eng_back(struct wbd_ioloop_msg *m)
{
	struct tmsg *t = tm(m);

	if (t->seq != eng_seen[t->loop])
		eng_order_bad++;
	eng_seen[t->loop] = t->seq + 1;
	free(t);
	if (++eng_total == eng_want && ebase)
		event_base_loopbreak(ebase);
}

/* io thread: check order (each loop keeps its own count), send it back */
static void io_echo(struct wbd_ioloop_msg *m)
{
	static _Thread_local unsigned next;
	struct tmsg *t = tm(m);
	struct wbd_ioloop *self = wbd_ioloop_self();

	if (!self || self != loops[t->loop] || t->seq != next)
		atomic_fetch_add(&io_order_bad, 1);
	next = t->seq + 1;
	t->m.fn = eng_back;
	wbd_ioloop_post_engine(self, &t->m);
}

static void on_space(void)
{
	atomic_fetch_add(&n_space, 1);
}

static void on_stop(void)
{
	atomic_fetch_add(&n_stop, 1);
}

static void start(void)
{
	static const struct wbd_ioloop_hooks h = {.space = on_space, .stop = on_stop};

	ebase = event_base_new();
	assert_non_null(ebase);
	wbd_ioloop_set_hooks(&h);
	assert_int_equal(wbd_ioloop_start(ebase, NLOOPS), 0);
	assert_int_equal(wbd_ioloop_count(), NLOOPS);
	assert_null(wbd_ioloop_self());
	/* round robin: every loop once */
	for (int i = 0; i < NLOOPS; i++)
		loops[i] = wbd_ioloop_pick();
	assert_ptr_not_equal(loops[0], loops[1]);
	memset(eng_seen, 0, sizeof(eng_seen));
	eng_total = eng_want = 0;
	eng_order_bad = 0;
	atomic_store(&io_order_bad, 0);
	atomic_store(&n_space, 0);
	atomic_store(&n_stop, 0);
	atomic_store(&io_posted, 0);
	atomic_store(&burst_done, 0);
}

static void stop(void)
{
	wbd_ioloop_stop();
	assert_int_equal(wbd_ioloop_count(), 0);
	event_base_free(ebase);
	ebase = NULL;
}

/* Poll the engine loop without blocking (a missing wake-up leaves
 * messages queued and fails the caller's counts) until eng_want messages
 * came back or rounds polls ran. */
static void eng_poll(int rounds)
{
	for (int round = 0; round < rounds && eng_total < eng_want; round++)
		if (event_base_loop(ebase, EVLOOP_ONCE | EVLOOP_NONBLOCK) == 1)
			usleep(50);
}

static void test_roundtrip(void **state)
{
	/* more than a queue holds: the engine side overflows while it posts */
	const unsigned n = 5 * WBD_IOLOOP_QLEN;
	unsigned seq[NLOOPS] = {0};

	start();
	eng_want = n;
	for (unsigned i = 0; i < n; i++) {
		struct tmsg *t = calloc(1, sizeof(*t));

		assert_non_null(t);
		t->loop = i % NLOOPS;
		t->seq = seq[t->loop]++;
		t->m.fn = io_echo;
		wbd_ioloop_post(loops[t->loop], &t->m);
	}
	for (int round = 0; round < 100000 && eng_total < n; round++)
		event_base_loop(ebase, EVLOOP_ONCE);
	assert_int_equal(eng_total, n);
	assert_int_equal(eng_order_bad, 0);
	assert_int_equal(atomic_load(&io_order_bad), 0);
	stop();
	assert_int_equal(atomic_load(&n_stop), NLOOPS);
}

/* io thread: post more than the queue holds to the engine, which does not
 * run meanwhile; the queue must say busy */
static void io_burst(struct wbd_ioloop_msg *m)
{
	struct tmsg *t = tm(m);
	struct wbd_ioloop *self = wbd_ioloop_self();
	const unsigned n = WBD_IOLOOP_QLEN + 100;

	free(t);
	for (unsigned i = 0; i < n; i++) {
		struct tmsg *b = calloc(1, sizeof(*b));

		if (!b)
			abort();
		b->loop = 0;
		b->seq = i;
		b->m.fn = eng_back;
		wbd_ioloop_post_engine(self, &b->m);
	}
	atomic_store(&io_posted, n);
	atomic_store(&burst_done, wbd_ioloop_engine_busy(self) ? 1 : -1);
}

static void test_backpressure(void **state)
{
	struct tmsg *t = calloc(1, sizeof(*t));

	start();
	assert_non_null(t);
	t->m.fn = io_burst;
	wbd_ioloop_post(loops[0], &t->m);
	/* the engine loop does not run until the io loop posted everything */
	for (int i = 0; i < 100000 && !atomic_load(&burst_done); i++)
		usleep(100);
	assert_int_equal(atomic_load(&burst_done), 1); /* busy: reading would stop */
	eng_want = atomic_load(&io_posted);
	for (int round = 0; round < 100000 && (eng_total < eng_want || !atomic_load(&n_space));
	     round++)
		event_base_loop(ebase, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(eng_total, eng_want);
	assert_int_equal(eng_order_bad, 0);
	assert_true(atomic_load(&n_space) >= 1); /* the space hook ran */
	stop();
}

static void test_stop_runs_queued(void **state)
{
	struct tmsg *t = calloc(1, sizeof(*t));

	start();
	assert_non_null(t);
	t->m.fn = io_burst;
	wbd_ioloop_post(loops[1], &t->m);
	/* the engine loop never runs: stop joins the loops (which handled the
	 * burst first, the stop message came after it) and runs the rest here */
	eng_want = WBD_IOLOOP_QLEN + 100;
	wbd_ioloop_stop();
	assert_int_equal(atomic_load(&n_stop), NLOOPS);
	assert_int_equal(eng_total, WBD_IOLOOP_QLEN + 100);
	assert_int_equal(eng_order_bad, 0);
	/* stopped: a post runs at once */
	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->seq = eng_seen[0];
	t->m.fn = eng_back;
	eng_want++;
	wbd_ioloop_post(loops[0], &t->m); /* the pointer is stale: not used */
	assert_int_equal(eng_total, eng_want);
	assert_null(wbd_ioloop_pick());
	stop();
}

/* io thread: post 10 messages to the engine under a plug; only the unplug
 * may wake the engine loop */
static void io_plugged(struct wbd_ioloop_msg *m)
{
	struct tmsg *t = tm(m);
	struct wbd_ioloop *self = wbd_ioloop_self();

	free(t);
	wbd_ioloop_plug_engine(self);
	wbd_ioloop_plug_engine(self); /* nested: the outer unplug wakes */
	for (unsigned i = 0; i < 10; i++) {
		struct tmsg *b = calloc(1, sizeof(*b));

		if (!b)
			abort();
		b->loop = 1;
		b->seq = i;
		b->m.fn = eng_back;
		wbd_ioloop_post_engine(self, &b->m);
	}
	wbd_ioloop_unplug_engine(self);
	wbd_ioloop_unplug_engine(self);
}

/* io thread: 5 messages to the engine posted quietly (a plug ended by
 * unplug_engine_quiet), then, for loop 1, one more with a plain post */
static void io_quiet(struct wbd_ioloop_msg *m)
{
	struct tmsg *t = tm(m);
	struct wbd_ioloop *self = wbd_ioloop_self();
	unsigned loop = t->loop;

	free(t);
	wbd_ioloop_plug_engine(self);
	for (unsigned i = 0; i < 5; i++) {
		struct tmsg *b = calloc(1, sizeof(*b));

		if (!b)
			abort();
		b->loop = loop;
		b->seq = i;
		b->m.fn = eng_back;
		wbd_ioloop_post_engine(self, &b->m);
	}
	wbd_ioloop_unplug_engine_quiet(self);
	if (loop == 1) {
		struct tmsg *b = calloc(1, sizeof(*b));

		if (!b)
			abort();
		b->loop = loop;
		b->seq = 5;
		b->m.fn = eng_back;
		wbd_ioloop_post_engine(self, &b->m);
	}
}

/* engine thread, from an event callback: post lazily (more than a queue
 * holds, to both loops); the deferred event must wake them */
static void eng_post_lazy(evutil_socket_t fd, short what, void *arg)
{
	const unsigned n = 3 * WBD_IOLOOP_QLEN;
	unsigned seq[NLOOPS] = {0};

	for (unsigned i = 0; i < n; i++) {
		struct tmsg *t = calloc(1, sizeof(*t));

		if (!t)
			abort();
		t->loop = i % NLOOPS;
		t->seq = seq[t->loop]++;
		t->m.fn = io_echo;
		wbd_ioloop_post_lazy(loops[t->loop], &t->m);
	}
}

/* Lazy posts (engine -> io) and plugged posts (io -> engine) arrive, in
 * order, though neither wakes its consumer per message: the engine loop is
 * polled without blocking, so a missing wake-up leaves messages queued and
 * fails the counts. */
static void test_lazy_and_plug(void **state)
{
	struct event *ev;
	struct tmsg *t;

	start();
	ev = evtimer_new(ebase, eng_post_lazy, NULL);
	assert_non_null(ev);
	event_active(ev, EV_TIMEOUT, 0);
	eng_want = 3 * WBD_IOLOOP_QLEN;
	eng_poll(200000);
	assert_int_equal(eng_total, eng_want);
	assert_int_equal(eng_order_bad, 0);
	assert_int_equal(atomic_load(&io_order_bad), 0);
	event_free(ev);
	stop();

	start();
	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->m.fn = io_plugged;
	wbd_ioloop_post(loops[1], &t->m);
	eng_want = 10;
	eng_poll(200000);
	assert_int_equal(eng_total, 10);
	assert_int_equal(eng_order_bad, 0);
	stop();
}

/* Quiet posts (io -> engine, no wake-up of their own) arrive, in order:
 * on loop 0 by the loop's own timer (WBD_IOLOOP_QUIET_US), on loop 1 with
 * the plain post after them (it must wake the engine although messages
 * wait before it). The engine loop is polled without blocking. */
static void test_quiet(void **state)
{
	start();
	for (unsigned i = 0; i < NLOOPS; i++) {
		struct tmsg *t = calloc(1, sizeof(*t));

		assert_non_null(t);
		t->loop = i;
		t->m.fn = io_quiet;
		wbd_ioloop_post(loops[i], &t->m);
	}
	eng_want = 5 + 6;
	eng_poll(200000);
	assert_int_equal(eng_total, 11);
	assert_int_equal(eng_seen[0], 5);
	assert_int_equal(eng_seen[1], 6);
	assert_int_equal(eng_order_bad, 0);
	stop();
}

/* receiving io loop: a message from the other loop (t->loop = producer) */
static void io_from_io(struct wbd_ioloop_msg *m)
{
	static _Thread_local unsigned next;
	struct tmsg *t = tm(m);
	struct wbd_ioloop *self = wbd_ioloop_self();

	if (!self || self != loops[1 - t->loop] || t->seq != next)
		atomic_fetch_add(&io_order_bad, 1);
	next = t->seq + 1;
	t->m.fn = eng_back;
	wbd_ioloop_post_engine(self, &t->m);
}

#define IO_TO_IO_N (3 * WBD_IOLOOP_QLEN)

/* producing io loop: IO_TO_IO_N messages to the other loop */
static void io_to_io(struct wbd_ioloop_msg *m)
{
	struct tmsg *t = tm(m);
	unsigned p = t->loop;

	free(t);
	for (unsigned i = 0; i < IO_TO_IO_N; i++) {
		struct tmsg *b = calloc(1, sizeof(*b));

		if (!b)
			abort();
		b->loop = p;
		b->seq = i;
		b->m.fn = io_from_io;
		wbd_ioloop_post_io(loops[1 - p], &b->m);
	}
}

/* Both loops post to each other at once (more than a queue holds: the
 * stack is not bounded); every message runs once, on the other loop, in
 * its producer's order, and comes back to the engine. */
static void test_io_to_io(void **state)
{
	start();
	for (unsigned i = 0; i < NLOOPS; i++) {
		struct tmsg *t = calloc(1, sizeof(*t));

		assert_non_null(t);
		t->loop = i;
		t->m.fn = io_to_io;
		wbd_ioloop_post(loops[i], &t->m);
	}
	eng_want = NLOOPS * IO_TO_IO_N;
	eng_poll(400000);
	assert_int_equal(eng_total, eng_want);
	assert_int_equal(eng_seen[0], IO_TO_IO_N);
	assert_int_equal(eng_seen[1], IO_TO_IO_N);
	assert_int_equal(eng_order_bad, 0);
	assert_int_equal(atomic_load(&io_order_bad), 0);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_backpressure),
	    cmocka_unit_test(test_stop_runs_queued),
	    cmocka_unit_test(test_lazy_and_plug),
	    cmocka_unit_test(test_quiet),
	    cmocka_unit_test(test_io_to_io),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
