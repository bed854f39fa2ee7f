// SPDX-License-Identifier: GPL-2.0-only
/*
 * pagebuf.c - the engine's bounded RAM buffer of reference-counted 4 KiB
 * pages, with a FIFO of waiters for throttled writers (see pagebuf.h).
 *
 * Owns the slab (one aligned allocation), the page descriptors, the free
 * stack and the waiter queue links while a waiter is queued.
 *
 * Locking: `lock` guards free_stack, excl and the wake hook; nfree and
 * starved are atomics so the engine loop may read them without it. excl is
 * set while waiters are queued or being served: reservations from other
 * threads then fail, so a waiter's fn finds its n pages (serve() checks
 * nfree and the fn allocates with nobody else taking pages in between).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/pagebuf.h"
#include "engine/wbengine.h"

struct wb_pagebuf {
	uint8_t *slab; /* 2 MiB aligned inside map when the buffer is >= 2 MiB */
	void *map;     /* the mmap (munmap) */
	size_t map_len;
	struct wb_page *pages;
	pthread_mutex_t lock;
	uint32_t *free_stack;	/* indices of free pages (lock) */
	_Atomic uint32_t nfree; /* written under lock */
	uint32_t total;
	int excl;		 /* lock: waiters queued or being served */
	void (*wake)(void *arg); /* lock */
	void *wake_arg;
	_Atomic uint32_t starved;  /* largest failed reservation since unstarve */
	_Atomic int users;	   /* references to the buffer itself */
	void (*notify)(void *arg); /* engine loop */
	void *notify_arg;
	/* engine loop */
	struct wb_page_waiter *head, *tail;
	uint32_t nwaiters;
	int serving; /* inside serve(): waiter fns may allocate past the queue */
};

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* <linux/mman.h>, Linux 5.14 */
#endif

/* Fault in len bytes at p for writing: 0, or -ENOMEM when the memory is
 * not there (the range stays allocated; the caller frees it). */
static int wb_pagebuf_populate(void *p, size_t len)
{
	if (!madvise(p, len, MADV_POPULATE_WRITE))
		return 0;
	if (errno == ENOMEM || errno == EFAULT)
		return -ENOMEM;
	memset(p, 0, len); /* EINVAL: a kernel without it */
	return 0;
}

#define WB_PAGEBUF_HUGE (2u << 20)

/*
 * The slab: an anonymous mapping (page aligned and zeroed, whatever the
 * allocator's thresholds; the populate below does not zero), 2 MiB aligned
 * and marked MADV_HUGEPAGE when it is at least 2 MiB, so that it is backed
 * by transparent huge pages where the system allows it (enabled =
 * madvise or always). Why: with 4 KiB pages the first store into each page
 * of the buffer after the populate still cost ~40 us in this
 * paravirtualised guest (the hypervisor's own fault per 4 KiB page; a
 * 64 MiB buffer = 0.7 s of CPU on the io loop in the first pass over the
 * buffer, 18 % of a 4K QD32 run's samples), against ~1 us with huge pages;
 * on bare metal huge pages save TLB misses of the copies, the crc32c and
 * the O_DIRECT page pinning of the log writes. A system without THP gets
 * 4 KiB pages: the same as before.
 */
static void *slab_map(size_t len, void **map, size_t *map_len)
{
	size_t ml = len >= WB_PAGEBUF_HUGE ? len + WB_PAGEBUF_HUGE : len;
	uint8_t *m = mmap(NULL, ml, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *p;

	if (m == MAP_FAILED)
		return NULL;
	*map = m;
	*map_len = ml;
	if (ml == len)
		return m;
	p = (uint8_t *)(((uintptr_t)m + WB_PAGEBUF_HUGE - 1) & ~(uintptr_t)(WB_PAGEBUF_HUGE - 1));
#ifdef MADV_HUGEPAGE
	madvise(p, len, MADV_HUGEPAGE); /* advice only: EINVAL without THP */
#endif
	return p;
}

int wb_pagebuf_create(uint32_t npages, struct wb_pagebuf **out)
{
	struct wb_pagebuf *pb;
	void *slab = NULL;

	if (!npages) {
		wb_msg(WB_LOG_ERR, "pagebuf: 0 pages requested");
		return -EINVAL;
	}
	pb = calloc(1, sizeof(*pb));
	if (!pb)
		goto out_nomem;
	slab = slab_map((size_t)npages * WB_PAGE_SIZE, &pb->map, &pb->map_len);
	if (!slab)
		goto out_nomem;
	pb->slab = slab;
	/* Touch every page now: the buffer is reserved at open (an overcommitted
	 * machine fails here, not in the middle of I/O), and first-touch page
	 * faults are not paid on the write path (perf showed them at ~14 % of a
	 * 1 MiB sequential write run). MADV_POPULATE_WRITE (Linux 5.14) faults
	 * the range in with one call: 22-50 ms per 64 MiB here against 590-810
	 * ms for a memset's 16384 page faults in this paravirtualised guest
	 * (it was 55-60 % of wbtorture's CPU); older kernels take the memset. */
	if (wb_pagebuf_populate(slab, (size_t)npages * WB_PAGE_SIZE))
		goto out_nomem;
	pb->pages = calloc(npages, sizeof(*pb->pages));
	pb->free_stack = calloc(npages, sizeof(*pb->free_stack));
	if (!pb->pages || !pb->free_stack)
		goto out_nomem;
	pb->total = npages;
	for (uint32_t i = 0; i < npages; i++) {
		pb->pages[i].data = pb->slab + (size_t)i * WB_PAGE_SIZE;
		pb->pages[i].idx = i;
		/* hand out low indices first */
		pb->free_stack[i] = npages - 1 - i;
	}
	atomic_init(&pb->nfree, npages);
	atomic_init(&pb->users, 1);
	pthread_mutex_init(&pb->lock, NULL);
	*out = pb;
	return 0;

out_nomem:
	wb_msg(WB_LOG_ERR, "pagebuf: cannot allocate %u pages (%zu MiB)", npages,
	       ((size_t)npages * WB_PAGE_SIZE) >> 20);
	if (pb) {
		free(pb->pages);
		free(pb->free_stack);
		if (pb->map)
			munmap(pb->map, pb->map_len);
		free(pb);
	}
	return -ENOMEM;
}

void wb_pagebuf_ref(struct wb_pagebuf *pb)
{
	atomic_fetch_add_explicit(&pb->users, 1, memory_order_relaxed);
}

void wb_pagebuf_unref(struct wb_pagebuf *pb)
{
	if (!pb)
		return;
	/* acq_rel: every user's last release happens before the free */
	if (atomic_fetch_sub_explicit(&pb->users, 1, memory_order_acq_rel) != 1)
		return;
	assert(atomic_load(&pb->nfree) == pb->total); /* a page is still held */
	assert(!pb->head);			      /* a waiter is still queued */
	pthread_mutex_destroy(&pb->lock);
	free(pb->pages);
	free(pb->free_stack);
	munmap(pb->map, pb->map_len);
	free(pb);
}

void wb_pagebuf_destroy(struct wb_pagebuf *pb)
{
	wb_pagebuf_unref(pb);
}

/* lock held */
static struct wb_page *take(struct wb_pagebuf *pb)
{
	uint32_t n = atomic_load_explicit(&pb->nfree, memory_order_relaxed) - 1;
	struct wb_page *p = &pb->pages[pb->free_stack[n]];

	atomic_store_explicit(&pb->nfree, n, memory_order_relaxed);
	assert(atomic_load_explicit(&p->refs, memory_order_relaxed) == 0);
	atomic_store_explicit(&p->refs, 1, memory_order_relaxed);
	p->owner_priv = NULL;
	p->crc_ok = 0;
	return p;
}

/* lock held */
static void give_back(struct wb_pagebuf *pb, struct wb_page *p)
{
	uint32_t n = atomic_load_explicit(&pb->nfree, memory_order_relaxed);

	p->owner_priv = NULL;
	pb->free_stack[n] = p->idx;
	atomic_store_explicit(&pb->nfree, n + 1, memory_order_relaxed);
}

struct wb_page *wb_page_alloc(struct wb_pagebuf *pb)
{
	struct wb_page *p = NULL;

	if (!atomic_load_explicit(&pb->nfree, memory_order_relaxed) || (pb->head && !pb->serving))
		return NULL;
	pthread_mutex_lock(&pb->lock);
	if (atomic_load_explicit(&pb->nfree, memory_order_relaxed))
		p = take(pb);
	pthread_mutex_unlock(&pb->lock);
	return p;
}

void wb_page_get(struct wb_page *p)
{
	uint32_t old = atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);

	assert(old > 0 && old < UINT32_MAX);
	(void)old;
}

/* Serve waiters in FIFO order while the head one can get its pages. Re-entry (a
 * fn that puts pages) is absorbed by the loop of the outer call. */
static void serve(struct wb_pagebuf *pb)
{
	if (pb->serving || !pb->head)
		return;
	pb->serving = 1;
	while (pb->head && atomic_load_explicit(&pb->nfree, memory_order_relaxed) >= pb->head->n) {
		struct wb_page_waiter *w = pb->head;

		pb->head = w->next;
		if (!pb->head)
			pb->tail = NULL;
		pb->nwaiters--;
		w->next = NULL;
		w->fn(w);
	}
	pb->serving = 0;
	pthread_mutex_lock(&pb->lock);
	pb->excl = pb->head != NULL;
	pthread_mutex_unlock(&pb->lock);
}

void wb_page_put(struct wb_pagebuf *pb, struct wb_page *p)
{
	uint32_t old;

	assert(p >= pb->pages && p < pb->pages + pb->total);
	/* release: the holder's reads of data happen before the page is reused */
	old = atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel);
	assert(old > 0); /* put of a free page */
	if (old > 1)
		return;
	pthread_mutex_lock(&pb->lock);
	give_back(pb, p);
	pthread_mutex_unlock(&pb->lock);
	serve(pb);
}

int wb_pagebuf_reserve(struct wb_pagebuf *pb, uint32_t n, struct wb_page **out)
{
	uint32_t i, want;

	if (!n || n > pb->total)
		return -EINVAL;
	pthread_mutex_lock(&pb->lock);
	if (!pb->excl && atomic_load_explicit(&pb->nfree, memory_order_relaxed) >= n) {
		for (i = 0; i < n; i++)
			out[i] = take(pb);
		pthread_mutex_unlock(&pb->lock);
		return 0;
	}
	want = atomic_load(&pb->starved);
	while (want < n && !atomic_compare_exchange_weak(&pb->starved, &want, n))
		;
	if (pb->wake)
		pb->wake(pb->wake_arg);
	pthread_mutex_unlock(&pb->lock);
	return -EAGAIN;
}

void wb_pagebuf_release(struct wb_pagebuf *pb, struct wb_page *const *pages, uint32_t n)
{
	uint32_t i, freed = 0;

	for (i = 0; i < n; i++) {
		struct wb_page *p = pages[i];

		assert(p >= pb->pages && p < pb->pages + pb->total);
		if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
			continue;
		if (!freed++)
			pthread_mutex_lock(&pb->lock);
		give_back(pb, p);
	}
	if (!freed)
		return;
	/* waiters (or a starved reservation) can take these: have the engine
	 * loop serve them */
	if ((pb->excl || atomic_load(&pb->starved)) && pb->wake)
		pb->wake(pb->wake_arg);
	pthread_mutex_unlock(&pb->lock);
}

void wb_pagebuf_serve(struct wb_pagebuf *pb)
{
	serve(pb);
}

uint32_t wb_pagebuf_starved(const struct wb_pagebuf *pb)
{
	return atomic_load((_Atomic uint32_t *)&pb->starved);
}

void wb_pagebuf_unstarve(struct wb_pagebuf *pb)
{
	/* cleared before the notify: a reservation failing after this marks
	 * it again (and wakes the engine), so none is left waiting unseen */
	atomic_store(&pb->starved, 0);
	if (pb->notify)
		pb->notify(pb->notify_arg);
}

void wb_pagebuf_set_wake(struct wb_pagebuf *pb, void (*wake)(void *arg), void *arg)
{
	pthread_mutex_lock(&pb->lock);
	pb->wake = wake;
	pb->wake_arg = arg;
	pthread_mutex_unlock(&pb->lock);
}

void wb_pagebuf_set_notify(struct wb_pagebuf *pb, void (*notify)(void *arg), void *arg)
{
	pb->notify = notify;
	pb->notify_arg = arg;
}

uint32_t wb_pagebuf_free(const struct wb_pagebuf *pb)
{
	return atomic_load_explicit((_Atomic uint32_t *)&pb->nfree, memory_order_relaxed);
}

uint32_t wb_pagebuf_total(const struct wb_pagebuf *pb)
{
	return pb->total;
}

uint32_t wb_pagebuf_nwaiters(const struct wb_pagebuf *pb)
{
	return pb->nwaiters;
}

struct wb_page *wb_pagebuf_page_of(struct wb_pagebuf *pb, const void *ptr)
{
	const uint8_t *c = ptr;

	if (c < pb->slab || c >= pb->slab + (size_t)pb->total * WB_PAGE_SIZE)
		return NULL;
	return &pb->pages[(size_t)(c - pb->slab) / WB_PAGE_SIZE];
}

void wb_pagebuf_wait(struct wb_pagebuf *pb, struct wb_page_waiter *w)
{
	assert(w->fn && w->n >= 1 && w->n <= pb->total);
	w->next = NULL;
	if (pb->tail)
		pb->tail->next = w;
	else
		pb->head = w;
	pb->tail = w;
	pb->nwaiters++;
	pthread_mutex_lock(&pb->lock);
	pb->excl = 1;
	pthread_mutex_unlock(&pb->lock);
}

int wb_pagebuf_cancel(struct wb_pagebuf *pb, struct wb_page_waiter *w)
{
	struct wb_page_waiter **pp, *prev = NULL;

	for (pp = &pb->head; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != w)
			continue;
		*pp = w->next;
		if (pb->tail == w)
			pb->tail = prev;
		pb->nwaiters--;
		w->next = NULL;
		/* the new head may fit now, and no later put may come to serve it */
		if (!prev)
			serve(pb);
		if (!pb->serving) {
			pthread_mutex_lock(&pb->lock);
			pb->excl = pb->head != NULL;
			pthread_mutex_unlock(&pb->lock);
		}
		return 0;
	}
	return -ENOENT;
}
