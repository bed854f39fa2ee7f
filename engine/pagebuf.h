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
 *   - an io loop that reserved pages (wb_pagebuf_reserve) to read a write's
 *     payload into: from the reservation until it hands them to the engine
 *     with the request (wb_req.pages, engine ABI 9: the engine takes that
 *     reference over at submit) or gives them back (wb_pagebuf_release).
 *   - a replication link that reserved pages for a received record's
 *     payload (daemon/peerlink.c, on its io loop), then the received frame,
 *     then the replication glue (daemon/repl.c), until apply_record
 *     returned 0 (wb_record.pages, engine ABI 10: the record keeps them, or
 *     a re-applied one puts them) or they are given back
 *     (wb_pagebuf_release).
 *
 * Threads. The free stack is guarded by a small mutex (the only lock): pages
 * may be reserved and released from any thread. The waiter queue, serving
 * it (wb_page_put, wb_pagebuf_serve) and wb_page_alloc belong to the engine
 * loop. A release from another thread that frees a page while waiters are
 * queued calls the wake hook (the engine's, which makes its loop run and
 * serve them); a reservation that finds too few pages marks the buffer
 * starved and calls the wake hook too, so the engine frees pages (evicts
 * written records) and, once enough are free, calls the notify hook (its
 * owner's: resume the connections that wait) from its loop.
 *
 * Lifetime: the buffer is reference counted (wb_pagebuf_ref/_unref); the
 * engine holds one from create to close, each user of another thread (an
 * NBD connection) one while it may hold pages. The last unref frees it and
 * asserts that every page is free.
 *
 * crc/crc_ok: the filler of a page may store the block's crc32c (e.g. from
 * a frontend's per-block crcs, WB_REQ crcs) so that sealing a record does
 * not read the data again; crc_ok is cleared by wb_page_alloc and
 * wb_pagebuf_reserve.
 *
 * Throttling without deadlock: a writer that finds no page queues a
 * struct wb_page_waiter asking for n pages. Waiters are served strictly FIFO:
 * when a wb_page_put() makes the free count reach the head waiter's n, the
 * waiter is dequeued and its fn(w) is called (from inside wb_page_put, never
 * from wb_pagebuf_wait); fn must allocate its n pages at once (wb_page_alloc
 * succeeds for it), and may do anything else (put pages, queue again).
 * While waiters are queued, wb_page_alloc() from anyone else returns NULL
 * and wb_pagebuf_reserve() fails, so a waiter asking for many pages is never
 * starved by single allocations.
 *
 * Ownership: the caller owns the struct wb_page_waiter until fn is called.
 */
#ifndef WB_PAGEBUF_H
#define WB_PAGEBUF_H

#include <stdint.h>

#define WB_PAGE_SIZE 4096u

struct wb_page {
	void *data;	       /* WB_PAGE_SIZE bytes, 4096-aligned, inside the slab */
	_Atomic uint32_t refs; /* 0 = free; see "References" above */
	uint32_t idx;	       /* index in the slab: data = slab + idx * 4096 */
	void *owner_priv;      /* for the current holders; NULL on alloc */
	uint32_t crc;	       /* wb_crc32c(0, data, 4096) when crc_ok */
	uint8_t crc_ok;	       /* set by the filler (0 on alloc) */
};

struct wb_pagebuf;

struct wb_page_waiter {
	void (*fn)(struct wb_page_waiter *w);
	uint32_t n;		     /* pages wanted, 1..total */
	struct wb_page_waiter *next; /* queue link, owned by the pagebuf while queued */
};

/* 0, -EINVAL (npages == 0) or -ENOMEM. The caller holds the one reference. */
int wb_pagebuf_create(uint32_t npages, struct wb_pagebuf **out);
/* Drops the creator's reference (= wb_pagebuf_unref). */
void wb_pagebuf_destroy(struct wb_pagebuf *pb);
/* Any thread. unref frees at the last reference (asserting that no page is
 * held and no waiter queued). */
void wb_pagebuf_ref(struct wb_pagebuf *pb);
void wb_pagebuf_unref(struct wb_pagebuf *pb);

/* Any thread: n pages (all or none) into out[], each refs = 1, crc_ok = 0,
 * owner_priv = NULL. 0, or -EAGAIN when fewer than n are free or engine
 * waiters are queued (they go first): the buffer is then marked starved
 * (wanting at least n) and the wake hook is called. */
int wb_pagebuf_reserve(struct wb_pagebuf *pb, uint32_t n, struct wb_page **out);
/* Any thread: drop one reference of each of n pages; a page at 0 goes back
 * to the free stack without serving waiters (wakes the engine if some wait). */
void wb_pagebuf_release(struct wb_pagebuf *pb, struct wb_page *const *pages, uint32_t n);
/* Engine loop: serve queued waiters that fit now (after releases from
 * other threads). */
void wb_pagebuf_serve(struct wb_pagebuf *pb);
/* Engine loop: 0 when not starved, else the largest reservation that failed
 * since the last wb_pagebuf_unstarve. */
uint32_t wb_pagebuf_starved(const struct wb_pagebuf *pb);
/* Engine loop: clear the starved mark and call the notify hook. */
void wb_pagebuf_unstarve(struct wb_pagebuf *pb);
/* wake(arg): any thread, called with the buffer's lock held (so it must not
 * call back into the buffer), set by the engine (NULL at its close).
 * notify(arg): engine loop, set by the engine's owner. */
void wb_pagebuf_set_wake(struct wb_pagebuf *pb, void (*wake)(void *arg), void *arg);
void wb_pagebuf_set_notify(struct wb_pagebuf *pb, void (*notify)(void *arg), void *arg);

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
