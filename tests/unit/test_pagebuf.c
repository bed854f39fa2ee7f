// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_pagebuf.c - unit tests of engine/pagebuf.c (refcounted RAM pages and
 * the FIFO waiter queue that throttles writers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "engine/pagebuf.h"

static struct wb_pagebuf *mk(uint32_t n)
{
	struct wb_pagebuf *pb = NULL;

	assert_int_equal(wb_pagebuf_create(n, &pb), 0);
	assert_non_null(pb);
	assert_int_equal(wb_pagebuf_total(pb), n);
	assert_int_equal(wb_pagebuf_free(pb), n);
	return pb;
}

static void test_create(void **state)
{
	struct wb_pagebuf *pb = NULL;

	assert_int_equal(wb_pagebuf_create(0, &pb), -EINVAL);
	pb = mk(16);
	for (uint32_t i = 0; i < 16; i++) {
		struct wb_page *p = wb_page_alloc(pb);

		assert_non_null(p);
		assert_int_equal(((uintptr_t)p->data) % 4096, 0);
		assert_ptr_equal(wb_pagebuf_page_of(pb, (char *)p->data + 100), p);
		memset(p->data, (int)i, 4096); /* whole page writable (ASan checks bounds) */
		wb_page_put(pb, p);
	}
	assert_null(wb_pagebuf_page_of(pb, &pb));
	wb_pagebuf_destroy(pb);
	wb_pagebuf_destroy(NULL);
}

static void test_refcount(void **state)
{
	struct wb_pagebuf *pb = mk(4);
	struct wb_page *p = wb_page_alloc(pb), *q;

	assert_non_null(p);
	assert_int_equal(p->refs, 1);
	assert_null(p->owner_priv);
	assert_int_equal(wb_pagebuf_free(pb), 3);
	/* the log writer and two peer senders take references */
	wb_page_get(p);
	wb_page_get(p);
	wb_page_get(p);
	assert_int_equal(p->refs, 4);
	p->owner_priv = pb;
	wb_page_put(pb, p); /* the allocating writer is done */
	wb_page_put(pb, p);
	wb_page_put(pb, p);
	assert_int_equal(p->refs, 1);
	assert_int_equal(wb_pagebuf_free(pb), 3); /* still held */
	wb_page_put(pb, p);
	assert_int_equal(p->refs, 0);
	assert_int_equal(wb_pagebuf_free(pb), 4);
	/* the freed page is handed out again, clean */
	q = wb_page_alloc(pb);
	assert_ptr_equal(q, p);
	assert_int_equal(q->refs, 1);
	assert_null(q->owner_priv);
	wb_page_put(pb, q);
	wb_pagebuf_destroy(pb);
}

static void test_exhaustion(void **state)
{
	struct wb_pagebuf *pb = mk(8);
	struct wb_page *pg[8];
	int seen[8] = {0};

	for (int i = 0; i < 8; i++) {
		pg[i] = wb_page_alloc(pb);
		assert_non_null(pg[i]);
		assert_true(pg[i]->idx < 8);
		assert_int_equal(seen[pg[i]->idx]++, 0); /* distinct pages */
	}
	assert_int_equal(wb_pagebuf_free(pb), 0);
	assert_null(wb_page_alloc(pb));
	assert_null(wb_page_alloc(pb));
	wb_page_put(pb, pg[3]);
	pg[3] = wb_page_alloc(pb);
	assert_non_null(pg[3]);
	assert_null(wb_page_alloc(pb));
	for (int i = 0; i < 8; i++)
		wb_page_put(pb, pg[i]);
	assert_int_equal(wb_pagebuf_free(pb), 8);
	wb_pagebuf_destroy(pb);
}

/* A waiter that allocates its pages at once and records the order it was served in. */
struct tw {
	struct wb_page_waiter w;
	struct wb_pagebuf *pb;
	struct wb_page *got[16];
	int id, served;
	uint32_t free_at_call;
};

static int order[64], norder;

static void tw_fn(struct wb_page_waiter *w)
{
	struct tw *t = (struct tw *)w;

	t->free_at_call = wb_pagebuf_free(t->pb);
	assert_true(t->free_at_call >= w->n);
	for (uint32_t i = 0; i < w->n; i++) {
		t->got[i] = wb_page_alloc(t->pb);
		assert_non_null(t->got[i]);
	}
	t->served++;
	order[norder++] = t->id;
}

static void tw_init(struct tw *t, struct wb_pagebuf *pb, int id, uint32_t n)
{
	memset(t, 0, sizeof(*t));
	t->w.fn = tw_fn;
	t->w.n = n;
	t->pb = pb;
	t->id = id;
}

static void tw_release(struct tw *t)
{
	for (uint32_t i = 0; i < t->w.n; i++)
		wb_page_put(t->pb, t->got[i]);
}

static void test_waiters_fifo(void **state)
{
	struct wb_pagebuf *pb = mk(8);
	struct wb_page *pg[8];
	struct tw a, b, c;

	norder = 0;
	for (int i = 0; i < 8; i++)
		pg[i] = wb_page_alloc(pb);
	tw_init(&a, pb, 1, 3);
	tw_init(&b, pb, 2, 1);
	tw_init(&c, pb, 3, 2);
	wb_pagebuf_wait(pb, &a.w);
	wb_pagebuf_wait(pb, &b.w);
	wb_pagebuf_wait(pb, &c.w);
	assert_int_equal(wb_pagebuf_nwaiters(pb), 3);
	assert_int_equal(a.served + b.served + c.served, 0); /* never from wait itself */

	/* 2 pages free: a (wants 3) is the head, so b (wants 1) must not jump it */
	wb_page_put(pb, pg[0]);
	wb_page_put(pb, pg[1]);
	assert_int_equal(a.served + b.served + c.served, 0);
	assert_int_equal(wb_pagebuf_free(pb), 2);
	/* and nobody else may take the free pages while waiters are queued */
	assert_null(wb_page_alloc(pb));

	/* third page: a is served with exactly 3, then b waits for 1 more */
	wb_page_put(pb, pg[2]);
	assert_int_equal(a.served, 1);
	assert_int_equal(a.free_at_call, 3);
	assert_int_equal(b.served + c.served, 0);
	assert_int_equal(wb_pagebuf_free(pb), 0);

	/* 3 pages at once: b (1) and then c (2) are served from the same put */
	wb_page_put(pb, pg[3]);
	assert_int_equal(b.served, 1);
	assert_int_equal(c.served, 0);
	wb_page_put(pb, pg[4]);
	assert_int_equal(c.served, 0);
	wb_page_put(pb, pg[5]);
	assert_int_equal(c.served, 1);
	assert_int_equal(wb_pagebuf_nwaiters(pb), 0);
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 3);

	/* queue empty again: plain allocation works */
	wb_page_put(pb, pg[6]);
	pg[6] = wb_page_alloc(pb);
	assert_non_null(pg[6]);
	wb_page_put(pb, pg[6]);
	wb_page_put(pb, pg[7]);
	tw_release(&a);
	tw_release(&b);
	tw_release(&c);
	assert_int_equal(wb_pagebuf_free(pb), 8);
	wb_pagebuf_destroy(pb);
}

static void test_cancel(void **state)
{
	struct wb_pagebuf *pb = mk(4);
	struct wb_page *pg[4];
	struct tw a, b;

	norder = 0;
	for (int i = 0; i < 4; i++)
		pg[i] = wb_page_alloc(pb);
	tw_init(&a, pb, 1, 4);
	tw_init(&b, pb, 2, 1);
	wb_pagebuf_wait(pb, &a.w);
	wb_pagebuf_wait(pb, &b.w);
	wb_page_put(pb, pg[0]);
	assert_int_equal(b.served, 0);
	/* cancelling the head serves b, which fits now */
	assert_int_equal(wb_pagebuf_cancel(pb, &a.w), 0);
	assert_int_equal(a.served, 0);
	assert_int_equal(b.served, 1);
	assert_int_equal(wb_pagebuf_cancel(pb, &a.w), -ENOENT);
	assert_int_equal(wb_pagebuf_nwaiters(pb), 0);
	tw_release(&b);
	for (int i = 1; i < 4; i++)
		wb_page_put(pb, pg[i]);
	wb_pagebuf_destroy(pb);
}

/* A waiter whose fn releases pages and queues again (re-entrant put inside serve). */
struct cyc {
	struct wb_page_waiter w;
	struct wb_pagebuf *pb;
	struct wb_page *held[8];
	uint32_t nheld;
	int served, id;
};

static void cyc_fn(struct wb_page_waiter *w)
{
	struct cyc *c = (struct cyc *)w;

	for (uint32_t i = 0; i < w->n; i++) {
		c->held[c->nheld] = wb_page_alloc(c->pb);
		assert_non_null(c->held[c->nheld]);
		c->nheld++;
	}
	c->served++;
	order[norder++] = c->id;
}

/* Random holders: many writers wanting 1..6 pages compete with puts in random order;
 * every waiter is served in FIFO order and no one starves. */
static void test_no_starvation(void **state)
{
	enum { NPAGES = 16, NW = 40 };
	struct wb_pagebuf *pb = mk(NPAGES);
	struct cyc w[NW];
	uint64_t rng = 12345;
	int rounds = 0, next_q = 0;

	norder = 0;
	memset(w, 0, sizeof(w));
	for (int i = 0; i < NW; i++) {
		w[i].w.fn = cyc_fn;
		w[i].pb = pb;
		w[i].id = i;
	}
	/* queue all 40: the big one (6 pages) first, then mixed */
	while (rounds < 100000 && norder < NW) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		if (next_q < NW && (rng >> 33) % 3 == 0) {
			struct cyc *c = &w[next_q];

			c->w.n = next_q == 0 ? 6 : 1 + (uint32_t)((rng >> 40) % 6);
			/* first try a direct allocation, as an engine would */
			if (!wb_pagebuf_nwaiters(pb) && wb_pagebuf_free(pb) >= c->w.n) {
				for (uint32_t i = 0; i < c->w.n; i++)
					c->held[c->nheld++] = wb_page_alloc(pb);
				c->served++;
				order[norder++] = c->id;
			} else {
				wb_pagebuf_wait(pb, &c->w);
			}
			next_q++;
		} else {
			/* some holder releases one page */
			int h = (int)((rng >> 35) % NW);

			for (int k = 0; k < NW; k++) {
				struct cyc *c = &w[(h + k) % NW];

				if (c->nheld) {
					wb_page_put(pb, c->held[--c->nheld]);
					break;
				}
			}
		}
		rounds++;
	}
	assert_int_equal(norder, NW);
	for (int i = 0; i < NW; i++) {
		assert_int_equal(w[i].served, 1);
		assert_int_equal(order[i], i); /* served strictly in arrival order */
	}
	for (int i = 0; i < NW; i++)
		while (w[i].nheld)
			wb_page_put(pb, w[i].held[--w[i].nheld]);
	assert_int_equal(wb_pagebuf_free(pb), NPAGES);
	wb_pagebuf_destroy(pb);
}

/*
 * Reservations from other threads (an NBD io loop filling pages for the
 * engine, engine ABI 9): two threads reserve, fill and release batches
 * while this one (the engine loop) allocates, queues a waiter and puts.
 * Every page comes back, the waiter is served from this thread only, a
 * failed reservation marks the buffer starved and calls the wake hook,
 * unstarve clears it and calls notify. Run under `make TSAN=1` too.
 */
struct res_thr {
	struct wb_pagebuf *pb;
	unsigned seed, ok, fail;
};

static _Atomic unsigned nwake;
static void count_wake(void *arg)
{
	(void)arg;
	atomic_fetch_add(&nwake, 1);
}

static int nnotify;
static void count_notify(void *arg)
{
	(void)arg;
	nnotify++;
}

/* 20000 tries, and on until one succeeded: a thread the scheduler ran only
 * while the main thread's waiter held the pages back (a loaded machine)
 * failed every try before. At most 20 s of that; then ok stays 0 and the
 * test fails as it should. */
static void *res_main(void *arg)
{
	struct res_thr *t = arg;
	struct wb_page *pg[8];
	time_t until = time(NULL) + 20;

	for (int i = 0; i < 20000 || (!t->ok && (i % 1024 || time(NULL) < until)); i++) {
		uint32_t n = 1 + (uint32_t)(rand_r(&t->seed) % 8);

		if (wb_pagebuf_reserve(t->pb, n, pg)) {
			t->fail++;
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			assert_int_equal(pg[k]->crc_ok, 0);
			memset(pg[k]->data, (int)n, 64); /* the filler owns the data */
			pg[k]->crc_ok = 1;
		}
		t->ok++;
		wb_pagebuf_release(t->pb, pg, n);
	}
	return NULL;
}

struct bigw {
	struct wb_page_waiter w;
	struct wb_pagebuf *pb;
	struct wb_page *held[32];
	uint32_t nheld;
	int served;
};

static void served_fn(struct wb_page_waiter *w)
{
	struct bigw *c = (struct bigw *)w;

	for (uint32_t i = 0; i < w->n; i++) {
		c->held[c->nheld] = wb_page_alloc(c->pb);
		assert_non_null(c->held[c->nheld]);
		c->nheld++;
	}
	c->served++;
}

static void test_threads(void **state)
{
	struct wb_pagebuf *pb = mk(32);
	struct res_thr t[2] = {{.pb = pb, .seed = 1}, {.pb = pb, .seed = 2}};
	pthread_t th[2];
	struct wb_page *mine[32], *pg[32];
	struct bigw c;

	(void)state;
	memset(&c, 0, sizeof(c));
	wb_pagebuf_set_wake(pb, count_wake, NULL);
	wb_pagebuf_set_notify(pb, count_notify, NULL);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, res_main, &t[i]), 0);
	for (int round = 0; round < 2000; round++) {
		uint32_t n = 0;

		/* engine-loop allocations and puts, a waiter now and then */
		while (n < 6 && (mine[n] = wb_page_alloc(pb)))
			n++;
		if (round % 50 == 0 && !wb_pagebuf_nwaiters(pb)) {
			memset(&c, 0, sizeof(c));
			c.pb = pb;
			c.w.fn = served_fn;
			c.w.n = 20;
			wb_pagebuf_wait(pb, &c.w);
		}
		while (n)
			wb_page_put(pb, mine[--n]);
		wb_pagebuf_serve(pb); /* what the threads freed */
		if (!wb_pagebuf_nwaiters(pb) && c.nheld) {
			assert_int_equal(c.served, 1);
			while (c.nheld)
				wb_page_put(pb, c.held[--c.nheld]);
		}
	}
	/* the last waiter served (the threads give their pages back) and its
	 * pages freed before the join: a thread still trying gets pages */
	while (wb_pagebuf_nwaiters(pb))
		wb_pagebuf_serve(pb);
	while (c.nheld)
		wb_page_put(pb, c.held[--c.nheld]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_true(t[0].ok > 0 && t[1].ok > 0);
	assert_int_equal(wb_pagebuf_free(pb), 32);

	/* starved: a reservation that does not fit (the threads' failed
	 * reservations marked it already: the engine loop's unstarve first) */
	wb_pagebuf_unstarve(pb);
	assert_int_equal(wb_pagebuf_starved(pb), 0);
	atomic_store(&nwake, 0);
	assert_int_equal(wb_pagebuf_reserve(pb, 30, pg), 0);
	assert_int_equal(wb_pagebuf_reserve(pb, 4, mine), -EAGAIN);
	assert_int_equal(wb_pagebuf_starved(pb), 4);
	assert_true(atomic_load(&nwake) >= 1);
	assert_int_equal(wb_pagebuf_reserve(pb, 3, mine), -EAGAIN);
	assert_int_equal(wb_pagebuf_starved(pb), 4); /* the largest */
	wb_pagebuf_release(pb, pg, 30);
	nnotify = 0;
	wb_pagebuf_unstarve(pb);
	assert_int_equal(wb_pagebuf_starved(pb), 0);
	assert_int_equal(nnotify, 1);
	assert_int_equal(wb_pagebuf_reserve(pb, 4, mine), 0);

	/* the buffer outlives its creator for another holder */
	wb_pagebuf_ref(pb);
	wb_pagebuf_destroy(pb);
	wb_pagebuf_release(pb, mine, 4);
	wb_pagebuf_unref(pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create),     cmocka_unit_test(test_refcount),
	    cmocka_unit_test(test_exhaustion), cmocka_unit_test(test_waiters_fifo),
	    cmocka_unit_test(test_cancel),     cmocka_unit_test(test_no_starvation),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
