/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pagebuf.h - the engine's bounded RAM buffer of reference-counted 4 KiB pages.
 *
 * One 4096-aligned slab of npages pages, allocated at create.
 *
 * References. The count is atomic (get: relaxed increment; put: acq_rel
 * decrement, so a holder's last reads of the data happen before the page
 * is handed out again) so that holders may live on other threads than the
 * engine loop. Who holds one, in wblog:
 *   - the record that the page's block belongs to (from wb_page_alloc in
 *     admission until the record's pages are evicted after its log write,
 *     or the record is freed): wblog_write.c, wblog.c;
 *   - the admission stash (pages handed to a throttled writer, e.g. by a
 *     waiter's fn, not yet filled): wblog_write.c;
 *   - each record reference handed out by the ship hook / read_record
 *     (wb_engine_rec_get, one per reference, for every page of the
 *     record) until wb_engine_rec_put: wblog_repl.c. The peer links
 *     (daemon/peerlink.c) still run on the engine loop; a sender on an io
 *     loop may read the data it holds a reference to, and hands its put
 *     back to the engine loop (wbengine.h, struct wb_rec_ref).
 * The free list, the waiter queue and the last put (which frees the page
 * and serves waiters) belong to the engine loop: wb_page_alloc, the final
 * wb_page_put and everything below run there only.
 *
 * crc/crc_ok: the filler of a page may store the block's crc32c (e.g. from
 * a frontend's per-block crcs, WB_REQ crcs) so that sealing a record does
 * not read the data again; crc_ok is cleared by wb_page_alloc.
 *
 * Throttling without deadlock: a writer that finds no page queues a
 * struct wb_page_waiter asking for n pages. Waiters are served strictly FIFO:
 * when a wb_page_put() makes the free count reach the head waiter's n, the
 * waiter is dequeued and its fn(w) is called (from inside wb_page_put, never
 * from wb_pagebuf_wait); fn must allocate its n pages at once (wb_page_alloc
 * succeeds for it), and may do anything else (put pages, queue again).
 * While waiters are queued, wb_page_alloc() from anyone else returns NULL,
 * so a waiter asking for many pages is never starved by single allocations.
 *
 * Ownership: the caller owns the struct wb_page_waiter until fn is called.
 */
#ifndef WB_PAGEBUF_H
#define WB_PAGEBUF_H

#include <stdint.h>

#define WB_PAGE_SIZE 4096u

struct wb_page {
	void *data;	  /* WB_PAGE_SIZE bytes, 4096-aligned, inside the slab */
	_Atomic uint32_t refs; /* 0 = free; see "References" above */
	uint32_t idx;	  /* index in the slab: data = slab + idx * 4096 */
	void *owner_priv; /* for the current holders; NULL on alloc */
	uint32_t crc;	  /* wb_crc32c(0, data, 4096) when crc_ok */
	uint8_t crc_ok;	  /* set by the filler (0 on alloc) */
};

struct wb_pagebuf;

struct wb_page_waiter {
	void (*fn)(struct wb_page_waiter *w);
	uint32_t n;		     /* pages wanted, 1..total */
	struct wb_page_waiter *next; /* queue link, owned by the pagebuf while queued */
};

/* 0, -EINVAL (npages == 0) or -ENOMEM. */
int wb_pagebuf_create(uint32_t npages, struct wb_pagebuf **out);
/* Asserts that no page is held and no waiter is queued. */
void wb_pagebuf_destroy(struct wb_pagebuf *pb);

/* refs = 1, owner_priv = NULL; NULL when no page is free or waiters are queued
 * (except inside a waiter's fn). Never blocks. */
struct wb_page *wb_page_alloc(struct wb_pagebuf *pb);
void wb_page_get(struct wb_page *p);
/* Drops a reference; frees the page at 0, then serves waiters. */
void wb_page_put(struct wb_pagebuf *pb, struct wb_page *p);
uint32_t wb_pagebuf_free(const struct wb_pagebuf *pb);
uint32_t wb_pagebuf_total(const struct wb_pagebuf *pb);
uint32_t wb_pagebuf_nwaiters(const struct wb_pagebuf *pb);
/* The page whose data contains ptr, or NULL if ptr is not in the slab. */
struct wb_page *wb_pagebuf_page_of(struct wb_pagebuf *pb, const void *ptr);

/* Queue w (1 <= w->n <= total, w->fn set). fn is called from a later
 * wb_page_put() once w is at the head and n pages are free. */
void wb_pagebuf_wait(struct wb_pagebuf *pb, struct wb_page_waiter *w);
/* Remove a queued waiter (e.g. the request was cancelled). 0 or -ENOENT. Removing
 * the head serves the waiters behind it that fit now: their fns are called from here. */
int wb_pagebuf_cancel(struct wb_pagebuf *pb, struct wb_page_waiter *w);

#endif /* WB_PAGEBUF_H */
