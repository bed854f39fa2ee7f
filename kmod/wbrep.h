/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbrep.h - internals of the dm-wbrep module shared by its files:
 *   wbrep_target.c  dm target "wbrep" (table parsing, map, suspend, status)
 *   wbrep_ring.c    ring state machine: slots, posting SQEs, reaping CQEs,
 *                   fencing, re-posting after a session change, queue timeout
 *   wbrep_dev.c     misc device /dev/wbrep-ctl: sessions, mmap, poll, ioctl
 *   wbrep_genl.c    generic netlink family "wbrep": status and events
 *
 * Ownership: a struct wbrep_ring is created by the target's ctr and is
 * reference counted (kref): the target holds one reference until dtr, each
 * session that attached holds one until its file is released. ring->lock
 * (a spinlock taken with interrupts off) protects every mutable field of the
 * ring, the slot table, the pending list, the ring->session pointer and the
 * session's fillers count; nothing copies bio data while holding it.
 *
 * A session's shared memory lives until its file is released (mmaps hold the
 * file). Bio data is copied outside ring->lock while the slot is owned by the
 * copier (slot state FILLING or COMPLETING, see wbrep_ring.c): a FILLING slot
 * pins its session's memory through session->fillers (release waits for it
 * to drop to 0); a COMPLETING slot is copied by WBREP_IOC_KICK, which holds
 * the session's file.
 */
#ifndef WBREP_H
#define WBREP_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/kref.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/blk_types.h>
#include <linux/device-mapper.h>

#include "uapi/wbrep_ring.h"

#define DM_MSG_PREFIX "wbrep"

#define WBREP_DEF_SLOTS		64
#define WBREP_DEF_SLOT_SIZE	(128 * 1024)
#define WBREP_DEF_TIMEOUT_MS	30000

/*
 * Per-bio data (ti->per_io_data_size). Owned by the ring while the bio is
 * held: on ring->pending, or referenced by exactly one slot.
 */
struct wbrep_io {
	struct list_head node;
	struct bio *bio;
	unsigned long queued;	/* jiffies it (re)entered ring->pending */
	u64 start_ns;
	u32 flags;		/* WBREP_F_REISSUE once posted */
	u32 slot;		/* slot index while it owns one */
	blk_status_t status;
};

/*
 * Slot life cycle, every transition under ring->lock:
 *   FREE -> FILLING     reserved for a pending bio (wbrep_reserve_locked);
 *                       the reserver copies a write's data in, unlocked
 *   FILLING -> POSTED   SQE written and published (wbrep_publish_locked),
 *                       or back to FREE if the session went away meanwhile
 *   POSTED -> COMPLETING  a valid CQE (wbrep_ring_reap); the reaper copies a
 *                       read's data out, unlocked
 *   COMPLETING -> FREE  after that copy
 *   POSTED -> FREE      session cut: the bio goes back to pending (REISSUE)
 * Only POSTED slots are visible to the daemon or taken back by a cut.
 */
enum wbrep_slot_state {
	WBREP_SLOT_FREE,
	WBREP_SLOT_FILLING,
	WBREP_SLOT_POSTED,
	WBREP_SLOT_COMPLETING,
};

struct wbrep_slot {
	struct wbrep_io *io;	/* NULL: free */
	u32 gen;
	u32 state;		/* enum wbrep_slot_state */
};

struct wbrep_session {
	struct wbrep_ring *ring;	/* holds a reference once attached */
	struct mutex lock;		/* serialises attach/detach on the file */
	wait_queue_head_t wq;
	u32 id;
	bool gone;			/* fenced, detached or ring removed */
	u32 fillers;			/* FILLING slots copying into data_mem */
	wait_queue_head_t fill_wq;	/* release waits here for fillers == 0 */
	void *sq_mem, *cq_mem, *data_mem;	/* vmalloc_user, freed at release */
	size_t sq_size, cq_size, data_size;
	struct wbrep_ring_hdr *hdr;
	struct wbrep_sqe *sqes;
	struct wbrep_cq_ctl *cqc;
	struct wbrep_cqe *cqes;
	u32 sq_tail;			/* kernel copies of the indices */
	u32 cq_head;
};

struct wbrep_ring_stats {
	u32 session, inflight, pending, fences;
	u64 completed, timeouts, reissued;
};

struct wbrep_ring {
	struct list_head node;		/* wbrep_rings, under wbrep_rings_lock */
	struct kref ref;
	char name[WBREP_NAME_MAX];
	spinlock_t lock;
	bool dead;			/* target destroyed */
	u64 dev_sectors;
	u32 nslots, slot_size, queue_timeout_ms;
	struct wbrep_slot *slots;
	u32 *free_stack;
	u32 nfree;
	struct list_head pending;	/* struct wbrep_io, oldest first */
	struct wbrep_session *session;	/* attached session or NULL */
	u32 next_session;
	u64 seq;
	struct delayed_work timeout_work;
	struct wbrep_ring_stats st;
};

/* wbrep_ring.c */
int wbrep_ring_create(const char *name, u64 dev_sectors, u32 nslots, u32 slot_size,
		      u32 timeout_ms, struct wbrep_ring **out);
void wbrep_ring_destroy(struct wbrep_ring *r);
struct wbrep_ring *wbrep_ring_find(const char *name);	/* takes a reference */
void wbrep_ring_put(struct wbrep_ring *r);
void wbrep_ring_queue(struct wbrep_ring *r, struct wbrep_io *io);
int wbrep_ring_attach(struct wbrep_ring *r, struct wbrep_session *s, u32 *reissued);
void wbrep_ring_detach(struct wbrep_ring *r, struct wbrep_session *s);
void wbrep_ring_wait_fillers(struct wbrep_ring *r, struct wbrep_session *s);
int wbrep_ring_reap(struct wbrep_ring *r, struct wbrep_session *s);
void wbrep_ring_requeue_pending(struct wbrep_ring *r);
void wbrep_ring_get_stats(struct wbrep_ring *r, struct wbrep_ring_stats *st);
int wbrep_ring_for_each(int (*fn)(struct wbrep_ring *r, void *arg), void *arg, int skip);

/* wbrep_dev.c */
int wbrep_dev_init(void);
void wbrep_dev_exit(void);
void wbrep_session_init_shared(struct wbrep_session *s, struct wbrep_ring *r);

/* wbrep_genl.c */
int wbrep_genl_init(void);
void wbrep_genl_exit(void);
void wbrep_genl_event(const char *ring, u32 event, u32 session);

#endif /* WBREP_H */
