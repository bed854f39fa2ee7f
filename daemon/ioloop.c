// SPDX-License-Identifier: GPL-2.0-only
/*
 * ioloop.c - io loop threads and the bounded SPSC queues + eventfds that
 * join them to the engine loop (see ioloop.h, docs/daemon.md "Threads").
 *
 * A queue (struct ioq) is a ring of WBD_IOLOOP_QLEN message pointers with
 * one producer thread and one consumer thread. head is written only by the
 * consumer, tail only by the producer. Wake-ups: the producer writes the
 * consumer's eventfd when, after publishing a message, it sees that the
 * consumer had taken everything before it (head == old tail); the consumer
 * stores head and then loads tail. Both pairs (store, then load of the
 * other side's index) are seq_cst, so one of the two always sees the
 * other: either the consumer finds the new message in the same drain, or
 * the producer wakes it. The same argument covers want_space (set by a
 * producer whose message went to the overflow list, read by the consumer
 * after it advanced head).
 *
 * Owns: the io loop threads, their event bases and eventfds, the queues.
 */
#include "daemon/ioloop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/wbd_log.h"
#include "engine/wbengine.h"

#define IOQ_MASK (WBD_IOLOOP_QLEN - 1)
_Static_assert((WBD_IOLOOP_QLEN & IOQ_MASK) == 0, "queue length must be a power of two");
/* messages run per wake-up and queue before the loop looks at other events */
#define IOQ_BATCH (2 * WBD_IOLOOP_QLEN)

struct ioq {
	_Atomic size_t head;		 /* consumer: next slot to take */
	_Atomic size_t tail;		 /* producer: next slot to fill */
	_Atomic int want_space;		 /* producer has an overflow and waits for room */
	struct wbd_ioloop_msg *ovf_head; /* producer only: messages that did not fit */
	struct wbd_ioloop_msg *ovf_tail;
	struct wbd_ioloop_msg *slot[WBD_IOLOOP_QLEN];
};

struct wbd_ioloop {
	pthread_t th;
	struct event_base *base;
	bool et;	  /* ev is edge-triggered: efd is never read */
	int efd;	  /* wakes this loop */
	struct event *ev; /* efd readable */
	struct ioq to_io, to_eng;
	struct wbd_ioloop_msg stop;
	bool started;
	unsigned plugged; /* this loop's thread: posts to the engine wake at the unplug */
	/* this loop's thread: messages posted quietly (unplug_engine_quiet)
	 * may wait in to_eng; quiet_ev wakes the engine for them at the latest */
	bool quiet;
	struct event *quiet_ev;
	bool lazy; /* engine thread: posted lazily, lazy_cb checks for a wake-up */
	/* other io loops -> this one (wbd_ioloop_post_io): a stack every
	 * producer pushes onto with a CAS, the consumer takes it whole */
	_Atomic(struct wbd_ioloop_msg *) remote;
};

static struct {
	struct wbd_ioloop **v;
	unsigned n, next;
	int efd; /* wakes the engine loop */
	bool et; /* ev is edge-triggered: efd is never read */
	struct event *ev;
	struct event *lazy_ev; /* engine loop: wake the loops posted to lazily */
	bool lazy_pending;
	bool running; /* threads run: posts go through the queues */
	struct wbd_ioloop_hooks hooks;
} io = {.efd = -1};

static _Thread_local struct wbd_ioloop *io_self;

static void efd_wake(int fd)
{
	uint64_t one = 1;

	if (fd < 0)
		return; /* plugged: the unplug wakes */
	/* only fails with EAGAIN at a counter of 2^64 - 2: it is readable then */
	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void efd_clear(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/*
 * The eventfds are watched edge-triggered where the event backend can
 * (epoll): every write is a new edge, even while the counter is non-zero,
 * so the consumer never needs the read that clears it (one syscall per
 * wake-up less on each side; the counter cannot reach its 2^64 - 2 limit
 * at one increment per wake-up). Otherwise level-triggered with a read.
 */
static short efd_events(struct event_base *base, bool *et)
{
	*et = (event_base_get_features(base) & EV_FEATURE_ET) != 0;
	return EV_READ | EV_PERSIST | (*et ? EV_ET : 0);
}

static bool ioq_room(struct ioq *q)
{
	return atomic_load_explicit(&q->tail, memory_order_relaxed) - atomic_load(&q->head) <
	       WBD_IOLOOP_QLEN;
}

/* Producer: publish m if there is room; wake the consumer (efd) if it had
 * taken everything before m. */
static bool ioq_try(struct ioq *q, struct wbd_ioloop_msg *m, int efd)
{
	size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (t - atomic_load(&q->head) >= WBD_IOLOOP_QLEN)
		return false;
	q->slot[t & IOQ_MASK] = m;
	atomic_store(&q->tail, t + 1); /* seq_cst: publishes slot, pairs with ioq_pop */
	if (atomic_load(&q->head) == t)
		efd_wake(efd);
	return true;
}

/* Producer: move the overflow into the ring. true = nothing left over.
 * A message is unlinked before it is published: from then on the consumer
 * may run and free it. */
static bool ioq_flush(struct ioq *q, int efd)
{
	while (q->ovf_head) {
		struct wbd_ioloop_msg *m = q->ovf_head;

		if (!ioq_room(q)) {
			atomic_store(&q->want_space, 1);
			/* the consumer may have made room before it saw the flag */
			if (ioq_room(q))
				continue;
			return false;
		}
		q->ovf_head = m->next;
		if (!q->ovf_head)
			q->ovf_tail = NULL;
		m->next = NULL;
		ioq_try(q, m, efd); /* only this thread fills: the room is still there */
	}
	return true;
}

static void ioq_push(struct ioq *q, struct wbd_ioloop_msg *m, int efd)
{
	m->next = NULL;
	if (!q->ovf_head && ioq_try(q, m, efd))
		return;
	if (q->ovf_tail)
		q->ovf_tail->next = m;
	else
		q->ovf_head = m;
	q->ovf_tail = m;
	ioq_flush(q, efd);
}

static struct wbd_ioloop_msg *ioq_pop(struct ioq *q)
{
	size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	struct wbd_ioloop_msg *m;

	if (h == atomic_load(&q->tail))
		return NULL;
	m = q->slot[h & IOQ_MASK];
	atomic_store(&q->head, h + 1); /* seq_cst: pairs with ioq_try */
	return m;
}

/* Consumer: run what is queued (at most IOQ_BATCH), then wake a producer
 * waiting for room (prod_efd). Returns true if messages are left. */
static bool ioq_drain(struct ioq *q, int prod_efd)
{
	struct wbd_ioloop_msg *m;
	unsigned n = 0;

	while (n < IOQ_BATCH && (m = ioq_pop(q))) {
		m->fn(m);
		n++;
	}
	if (atomic_load(&q->want_space) && atomic_exchange(&q->want_space, 0))
		efd_wake(prod_efd);
	return n == IOQ_BATCH;
}

/* After the threads are joined: run one message of a queue or overflow on
 * this thread. */
static bool ioq_run_one(struct ioq *q)
{
	struct wbd_ioloop_msg *m = ioq_pop(q);

	if (!m && (m = q->ovf_head)) {
		q->ovf_head = m->next;
		if (!q->ovf_head)
			q->ovf_tail = NULL;
	}
	if (!m)
		return false;
	m->next = NULL;
	m->fn(m);
	return true;
}

/* engine loop: messages from the io loops, room for what it posted */
static void engine_cb(evutil_socket_t fd, short what, void *arg)
{
	bool more = false;

	if (!io.et)
		efd_clear(io.efd);
	for (unsigned i = 0; i < io.n; i++) {
		struct wbd_ioloop *l = io.v[i];

		more |= ioq_drain(&l->to_eng, l->efd);
		ioq_flush(&l->to_io, l->efd);
	}
	if (more)
		efd_wake(io.efd);
}

/* Consumer (l's thread, or any once the threads are joined): run what the
 * other io loops posted, oldest first. true = something ran. */
static bool remote_run(struct wbd_ioloop *l)
{
	struct wbd_ioloop_msg *m, *fifo = NULL, *next;

	/* nearly always empty: no locked exchange on every wake-up for it (a
	 * push before the eventfd write that woke us is seen by this load) */
	if (!atomic_load(&l->remote))
		return false;
	m = atomic_exchange(&l->remote, NULL);
	for (; m; m = next) { /* the stack is newest first */
		next = m->next;
		m->next = fifo;
		fifo = m;
	}
	for (m = fifo; m; m = next) {
		next = m->next;
		m->next = NULL;
		m->fn(m);
	}
	return fifo != NULL;
}

/* io loop: messages from the engine and the other io loops, room for what
 * it posted */
static void io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_ioloop *l = arg;

	if (!l->et)
		efd_clear(l->efd);
	remote_run(l);
	if (ioq_drain(&l->to_io, io.efd))
		efd_wake(l->efd);
	if (l->to_eng.ovf_head && ioq_flush(&l->to_eng, io.efd) && io.hooks.space)
		io.hooks.space();
}

/* engine loop, after the callback that posted lazily: one wake-up per io
 * loop that still has messages queued (it stores head before it loads tail,
 * we stored tail before we load head: if it took everything it also saw
 * everything, else it may be asleep) */
static void lazy_cb(evutil_socket_t fd, short what, void *arg)
{
	io.lazy_pending = false;
	for (unsigned i = 0; i < io.n; i++) {
		struct wbd_ioloop *l = io.v[i];

		if (!l->lazy)
			continue;
		l->lazy = false;
		if (atomic_load(&l->to_io.head) != atomic_load(&l->to_io.tail))
			efd_wake(l->efd);
	}
}

/* io loop: the engine has to see what waits in the queue now (it stores
 * head before it loads tail, we stored tail before we load head: if it took
 * everything it also saw everything, else it may be asleep) */
static void eng_wake_owed(struct wbd_ioloop *l)
{
	if (l->quiet) {
		l->quiet = false;
		evtimer_del(l->quiet_ev);
	}
	if (atomic_load(&l->to_eng.head) != atomic_load(&l->to_eng.tail))
		efd_wake(io.efd);
}

/* io loop: quiet messages waited WBD_IOLOOP_QUIET_US */
static void quiet_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_ioloop *l = arg;

	if (l->quiet)
		eng_wake_owed(l);
}

static void io_stop_fn(struct wbd_ioloop_msg *m)
{
	struct wbd_ioloop *l = io_self;

	if (io.hooks.stop)
		io.hooks.stop();
	event_base_loopexit(l->base, NULL);
}

static void *io_main(void *arg)
{
	struct wbd_ioloop *l = arg;

	io_self = l;
	wbd_log_thread_io();
	if (event_base_dispatch(l->base) < 0)
		wbd_err("io loop: event loop failed");
	return NULL;
}

void wbd_ioloop_set_hooks(const struct wbd_ioloop_hooks *h)
{
	io.hooks = *h;
}

unsigned wbd_ioloop_default_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static void loop_free(struct wbd_ioloop *l)
{
	if (!l)
		return;
	if (l->ev)
		event_free(l->ev);
	if (l->quiet_ev)
		event_free(l->quiet_ev);
	if (l->base)
		event_base_free(l->base);
	if (l->efd >= 0)
		close(l->efd);
	free(l);
}

static struct wbd_ioloop *loop_new(void)
{
	struct wbd_ioloop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->base = event_base_new();
	if (l->efd < 0 || !l->base)
		goto out_free;
	l->ev = event_new(l->base, l->efd, efd_events(l->base, &l->et), io_cb, l);
	l->quiet_ev = evtimer_new(l->base, quiet_cb, l);
	if (!l->ev || !l->quiet_ev || event_add(l->ev, NULL))
		goto out_free;
	l->stop.fn = io_stop_fn;
	return l;
out_free:
	loop_free(l);
	return NULL;
}

int wbd_ioloop_start(struct event_base *engine, unsigned n)
{
	sigset_t all, old;
	int ret = 0;

	if (io.n || !n)
		return -EINVAL;
	io.v = calloc(n, sizeof(*io.v));
	io.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!io.v || io.efd < 0)
		goto out_nomem;
	io.ev = event_new(engine, io.efd, efd_events(engine, &io.et), engine_cb, NULL);
	io.lazy_ev = event_new(engine, -1, 0, lazy_cb, NULL);
	if (!io.ev || !io.lazy_ev || event_add(io.ev, NULL))
		goto out_nomem;
	for (; io.n < n; io.n++) {
		io.v[io.n] = loop_new();
		if (!io.v[io.n])
			goto out_nomem;
	}
	/* signals stay with the engine loop (libevent's evsignal) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	io.running = true;
	for (unsigned i = 0; i < io.n; i++) {
		ret = -pthread_create(&io.v[i]->th, NULL, io_main, io.v[i]);
		if (ret)
			break;
		pthread_setname_np(io.v[i]->th, "wbrepd-io");
		io.v[i]->started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		wbd_err("io loops: cannot start a thread: %s", strerror(-ret));
		wbd_ioloop_stop();
		return ret;
	}
	wbd_info("io loops: %u threads", io.n);
	return 0;
out_nomem:
	wbd_err("io loops: out of memory or descriptors starting %u loops", n);
	wbd_ioloop_stop();
	return -ENOMEM;
}

/* wb_drain() steps for the stop: one message from each queue per pass,
 * until a pass finds every queue empty (ctx: bool, "a message ran") */
static int queues_empty(void *ctx)
{
	return !*(bool *)ctx;
}

static int queues_run_one(void *ctx)
{
	bool again = false;

	for (unsigned i = 0; i < io.n; i++) {
		again |= ioq_run_one(&io.v[i]->to_eng);
		again |= ioq_run_one(&io.v[i]->to_io);
		again |= remote_run(io.v[i]);
	}
	*(bool *)ctx = again;
	return 0;
}

void wbd_ioloop_stop(void)
{
	bool again = true;

	if (io.running) {
		for (unsigned i = 0; i < io.n; i++)
			if (io.v[i]->started)
				ioq_push(&io.v[i]->to_io, &io.v[i]->stop, io.v[i]->efd);
		/* the engine loop no longer runs: push overflows by hand */
		for (unsigned i = 0; i < io.n; i++) {
			struct wbd_ioloop *l = io.v[i];

			for (unsigned k = 0; l->started && !ioq_flush(&l->to_io, l->efd); k++) {
				if (k > 60000) {
					wbd_err("io loops: loop %u takes no messages, exiting", i);
					_exit(1);
				}
				usleep(1000);
			}
		}
		for (unsigned i = 0; i < io.n; i++)
			if (io.v[i]->started)
				pthread_join(io.v[i]->th, NULL);
		io.running = false;
	}
	/* the threads are gone: what is still queued runs here, and what it
	 * posts runs at once */
	wb_drain(queues_empty, queues_run_one, &again, WB_DRAIN_CLOSE_MS, "io loops",
		 "stop: messages still queued");
	for (unsigned i = 0; i < io.n; i++)
		loop_free(io.v[i]);
	free(io.v);
	io.v = NULL;
	io.n = io.next = 0;
	if (io.ev)
		event_free(io.ev);
	io.ev = NULL;
	if (io.lazy_ev)
		event_free(io.lazy_ev);
	io.lazy_ev = NULL;
	io.lazy_pending = false;
	if (io.efd >= 0)
		close(io.efd);
	io.efd = -1;
}

unsigned wbd_ioloop_count(void)
{
	return io.n;
}

struct wbd_ioloop *wbd_ioloop_pick(void)
{
	if (!io.running)
		return NULL;
	return io.v[io.next++ % io.n];
}

struct wbd_ioloop *wbd_ioloop_nth(unsigned i)
{
	if (!io.running || i >= io.n)
		return NULL;
	return io.v[i];
}

struct wbd_ioloop *wbd_ioloop_self(void)
{
	return io_self;
}

struct event_base *wbd_ioloop_base(struct wbd_ioloop *l)
{
	return l->base;
}

void wbd_ioloop_post(struct wbd_ioloop *l, struct wbd_ioloop_msg *m)
{
	if (!io.running) {
		m->fn(m);
		return;
	}
	ioq_push(&l->to_io, m, l->efd);
}

void wbd_ioloop_post_io(struct wbd_ioloop *l, struct wbd_ioloop_msg *m)
{
	struct wbd_ioloop_msg *old;

	if (!io.running) {
		m->fn(m);
		return;
	}
	old = atomic_load(&l->remote);
	do
		m->next = old;
	while (!atomic_compare_exchange_weak(&l->remote, &old, m));
	/* the consumer takes the whole stack (exchange, seq_cst) before it
	 * runs it: whoever pushes onto an empty stack wakes it */
	if (!old)
		efd_wake(l->efd);
}

void wbd_ioloop_post_engine(struct wbd_ioloop *l, struct wbd_ioloop_msg *m)
{
	if (!io.running) {
		m->fn(m);
		return;
	}
	if (!l->quiet || l->plugged) {
		ioq_push(&l->to_eng, m, l->plugged ? -1 : io.efd);
		return;
	}
	/* quiet messages wait before it: ioq_try's test (the engine took
	 * everything before m) would not wake it */
	ioq_push(&l->to_eng, m, -1);
	eng_wake_owed(l);
}

void wbd_ioloop_post_lazy(struct wbd_ioloop *l, struct wbd_ioloop_msg *m)
{
	if (!io.running) {
		m->fn(m);
		return;
	}
	ioq_push(&l->to_io, m, -1);
	if (l->lazy)
		return;
	l->lazy = true;
	if (!io.lazy_pending) {
		io.lazy_pending = true;
		event_active(io.lazy_ev, EV_TIMEOUT, 0);
	}
}

void wbd_ioloop_plug_engine(struct wbd_ioloop *l)
{
	l->plugged++;
}

/* The engine loop needs a wake-up only if something posted while plugged
 * is still queued: it stores head before it loads tail, we stored tail
 * before we load head (seq_cst), so if it took everything it also saw
 * everything; if not, it may be asleep. Overflows wake it when it makes
 * room (want_space). */
void wbd_ioloop_unplug_engine(struct wbd_ioloop *l)
{
	if (--l->plugged || !io.running)
		return;
	eng_wake_owed(l);
}

void wbd_ioloop_unplug_engine_quiet(struct wbd_ioloop *l)
{
	static const struct timeval tv = {.tv_usec = WBD_IOLOOP_QUIET_US};

	if (--l->plugged || !io.running)
		return; /* an outer unplug decides */
	if (l->quiet || atomic_load(&l->to_eng.head) == atomic_load(&l->to_eng.tail))
		return;
	l->quiet = true;
	evtimer_add(l->quiet_ev, &tv);
}

bool wbd_ioloop_engine_busy(struct wbd_ioloop *l)
{
	return l->to_eng.ovf_head != NULL;
}
