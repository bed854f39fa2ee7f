// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbrep_ring.c - the ring state machine of dm-wbrep.
 *
 * Owns the ring registry (name -> struct wbrep_ring), the slot table, the
 * list of bios waiting for a slot or a daemon, posting SQEs into the attached
 * session's memory, reaping and validating CQEs, fencing a misbehaving
 * session, re-posting in-flight bios (WBREP_F_REISSUE) to the next session
 * and failing bios that waited longer than queue_timeout_ms without a daemon.
 *
 * Everything shared with userspace is read once (READ_ONCE/smp_load_acquire)
 * into a local and validated before use; indices are masked. A bio is ended
 * and bio data is copied only with ring->lock dropped (slot states in
 * wbrep.h, posting steps above wbrep_reserve_locked).
 */
#include <linux/module.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/timekeeping.h>

#include "wbrep.h"
#include "uapi/wbrep_genl.h"

static LIST_HEAD(wbrep_rings);
static DEFINE_MUTEX(wbrep_rings_lock);

static void wbrep_end_list(struct list_head *done)
{
	struct wbrep_io *io, *tmp;

	list_for_each_entry_safe(io, tmp, done, node) {
		list_del_init(&io->node);
		io->bio->bi_status = io->status;
		bio_endio(io->bio);
	}
}

static void wbrep_arm_timeout_locked(struct wbrep_ring *r)
{
	if (!r->dead && !r->session && !list_empty(&r->pending))
		mod_delayed_work(system_wq, &r->timeout_work,
				 msecs_to_jiffies(min_t(u32, r->queue_timeout_ms, 100)));
}

static void wbrep_copy_from_bio(void *dst, struct bio *bio)
{
	struct bvec_iter iter;
	struct bio_vec bv;
	char *p = dst;

	bio_for_each_segment(bv, bio, iter) {
		memcpy_from_bvec(p, &bv);
		p += bv.bv_len;
	}
}

static void wbrep_copy_to_bio(struct bio *bio, const void *src)
{
	struct bvec_iter iter;
	struct bio_vec bv;
	const char *p = src;

	bio_for_each_segment(bv, bio, iter) {
		memcpy_to_bvec(&bv, p);
		p += bv.bv_len;
	}
}

static u8 wbrep_bio_op(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		return WBREP_OP_READ;
	case REQ_OP_WRITE:
		return bio->bi_iter.bi_size ? WBREP_OP_WRITE : WBREP_OP_FLUSH;
	case REQ_OP_FLUSH:
		return WBREP_OP_FLUSH;
	case REQ_OP_DISCARD:
		return WBREP_OP_DISCARD;
	case REQ_OP_WRITE_ZEROES:
		return WBREP_OP_WRITE_ZEROES;
	default:
		return 0;
	}
}

/*
 * Posting a bio is three steps, so that no bio data is copied with
 * interrupts off under ring->lock:
 *
 *   1. reserve (locked): take up to WBREP_BATCH pending bios, give each a
 *      free slot in state FILLING and pin the session (s->fillers);
 *   2. fill (unlocked): copy each write's data into its slot. The slot is
 *      not visible to the daemon (no SQE points at it, a CQE naming it is
 *      refused) and a session cut leaves FILLING slots to their owner;
 *   3. publish (locked): if the same session is still attached, write each
 *      SQE at the current SQ tail and publish the tail once with
 *      smp_store_release; otherwise give the slots back and put the bios
 *      back at the head of pending for the next session.
 *
 * SQEs are written at publish time, not at reservation, so the SQ never has
 * a gap: the entries below hdr->sq_tail are complete, whatever order
 * concurrent posters finish their copies in, and each SQE's slot data was
 * written before it (by the same thread, or by one whose unlock of
 * ring->lock precedes this lock; release stores are cumulative). SQ order
 * is publish order, which may differ from the order bios reached the
 * target; the block layer orders nothing between bios in flight together.
 */
#define WBREP_BATCH 16

struct wbrep_batch {
	struct wbrep_session *s;
	u32 n;
	u32 idx[WBREP_BATCH];
	struct wbrep_io *io[WBREP_BATCH];
};

static void wbrep_reserve_locked(struct wbrep_ring *r, struct wbrep_batch *b)
{
	struct wbrep_session *s = r->session;
	struct wbrep_io *io;
	u32 idx;

	b->s = s;
	b->n = 0;
	if (!s)
		return;
	while (b->n < WBREP_BATCH && r->nfree && !list_empty(&r->pending)) {
		io = list_first_entry(&r->pending, struct wbrep_io, node);
		list_del_init(&io->node);
		r->st.pending--;
		idx = r->free_stack[--r->nfree];
		r->slots[idx].io = io;
		r->slots[idx].state = WBREP_SLOT_FILLING;
		io->slot = idx;
		r->st.inflight++;
		b->idx[b->n] = idx;
		b->io[b->n] = io;
		b->n++;
	}
	s->fillers += b->n;
}

/* Unlocked: copy the writes' data into their FILLING slots. */
static void wbrep_fill(struct wbrep_ring *r, struct wbrep_batch *b)
{
	u32 i;

	for (i = 0; i < b->n; i++)
		if (wbrep_bio_op(b->io[i]->bio) == WBREP_OP_WRITE)
			wbrep_copy_from_bio(b->s->data_mem + (size_t)b->idx[i] * r->slot_size,
					    b->io[i]->bio);
}

/* Write the SQE of a filled slot at the session's SQ tail (not yet published). */
static void wbrep_write_sqe_locked(struct wbrep_ring *r, struct wbrep_session *s, u32 idx,
				   struct wbrep_io *io)
{
	struct wbrep_slot *slot = &r->slots[idx];
	struct bio *bio = io->bio;
	struct wbrep_sqe *sqe;
	u32 flags = io->flags;
	u8 op = wbrep_bio_op(bio);

	slot->gen++;
	slot->state = WBREP_SLOT_POSTED;
	if (bio->bi_opf & REQ_FUA)
		flags |= WBREP_F_FUA;
	if ((bio->bi_opf & REQ_PREFLUSH) && op != WBREP_OP_FLUSH)
		flags |= WBREP_F_PREFLUSH;

	sqe = &s->sqes[s->sq_tail & (r->nslots - 1)];
	sqe->tag = wbrep_tag(idx, slot->gen);
	sqe->seq = ++r->seq;
	sqe->sector = bio->bi_iter.bi_sector;
	sqe->len = op == WBREP_OP_FLUSH ? 0 : bio->bi_iter.bi_size;
	sqe->op = op;
	sqe->rsvd0 = 0;
	sqe->flags = flags;
	sqe->timestamp_ns = io->start_ns;
	sqe->data_off = (u64)idx * r->slot_size;
	sqe->rsvd[0] = 0;
	sqe->rsvd[1] = 0;
	s->sq_tail++;
	io->flags |= WBREP_F_REISSUE;	/* any later posting is a re-issue */
}

/*
 * Publish a filled batch. Returns how many bios went back to pending because
 * their session was cut while they were being filled; bios of a removed ring
 * go to *done with EIO.
 */
static u32 wbrep_publish_locked(struct wbrep_ring *r, struct wbrep_batch *b,
				struct list_head *done)
{
	struct wbrep_session *s = b->s;
	bool live = !r->dead && r->session == s;
	struct wbrep_slot *slot;
	struct wbrep_io *io;
	LIST_HEAD(back);
	u32 i, nback = 0;

	for (i = 0; i < b->n; i++) {
		io = b->io[i];
		if (live) {
			wbrep_write_sqe_locked(r, s, b->idx[i], io);
			continue;
		}
		slot = &r->slots[b->idx[i]];
		slot->io = NULL;
		slot->state = WBREP_SLOT_FREE;
		r->free_stack[r->nfree++] = b->idx[i];
		r->st.inflight--;
		if (r->dead) {
			io->status = BLK_STS_IOERR;
			list_add_tail(&io->node, done);
		} else {
			io->queued = jiffies;
			list_add_tail(&io->node, &back);
			nback++;
		}
	}
	if (live) {
		/* SQEs and slot data are visible before the new tail. */
		smp_store_release(&s->hdr->sq_tail, s->sq_tail);
		wake_up_interruptible(&s->wq);
	} else {
		/* they were the oldest: back to the head, in order */
		list_splice(&back, &r->pending);
		r->st.pending += nback;
		wbrep_arm_timeout_locked(r);
	}
	/*
	 * Last access to s by this poster. The wake-up happens under the lock,
	 * and wbrep_ring_wait_fillers() reads fillers under the lock, so the
	 * session is not freed before this returns.
	 */
	s->fillers -= b->n;
	if (!s->fillers)
		wake_up(&s->fill_wq);
	return nback;
}

/*
 * Move pending bios into free slots of the attached session until one of
 * them runs out. Called without ring->lock, from any context that may end a
 * bio (the target's map, attach, KICK).
 */
static void wbrep_dispatch(struct wbrep_ring *r)
{
	struct wbrep_batch b;
	unsigned long flags;
	LIST_HEAD(done);
	u32 nback;

	for (;;) {
		spin_lock_irqsave(&r->lock, flags);
		wbrep_reserve_locked(r, &b);
		spin_unlock_irqrestore(&r->lock, flags);
		if (!b.n)
			break;
		wbrep_fill(r, &b);
		spin_lock_irqsave(&r->lock, flags);
		nback = wbrep_publish_locked(r, &b, &done);
		spin_unlock_irqrestore(&r->lock, flags);
		/* a short batch emptied pending or the free slots */
		if (b.n < WBREP_BATCH && !nback)
			break;
	}
	wbrep_end_list(&done);
}

/*
 * Take every posted bio back onto the head of pending, for the next session.
 * FILLING and COMPLETING slots stay with the poster or reaper that owns
 * them (wbrep_publish_locked requeues, wbrep_ring_reap completes).
 */
static u32 wbrep_unpost_all_locked(struct wbrep_ring *r)
{
	LIST_HEAD(back);
	u32 i, n = 0;

	for (i = 0; i < r->nslots; i++) {
		struct wbrep_io *io = r->slots[i].io;

		if (!io || r->slots[i].state != WBREP_SLOT_POSTED)
			continue;
		r->slots[i].io = NULL;
		r->slots[i].state = WBREP_SLOT_FREE;
		r->free_stack[r->nfree++] = i;
		io->queued = jiffies;
		list_add_tail(&io->node, &back);
		n++;
	}
	list_splice(&back, &r->pending);
	r->st.pending += n;
	r->st.inflight -= n;
	return n;
}

/* Cut the session off the ring; in-flight bios wait for the next session. */
static void wbrep_cut_locked(struct wbrep_ring *r, struct wbrep_session *s)
{
	s->gone = true;
	WRITE_ONCE(s->hdr->flags, s->hdr->flags | WBREP_HDR_F_FENCED);
	if (r->session == s) {
		r->session = NULL;
		wbrep_unpost_all_locked(r);
		wbrep_arm_timeout_locked(r);
	}
	wake_up_interruptible_all(&s->wq);
}

static void wbrep_timeout_fn(struct work_struct *w)
{
	struct wbrep_ring *r = container_of(to_delayed_work(w), struct wbrep_ring,
					    timeout_work);
	unsigned long tmo = msecs_to_jiffies(r->queue_timeout_ms);
	struct wbrep_io *io, *tmp;
	LIST_HEAD(done);
	u32 n = 0;

	spin_lock_irq(&r->lock);
	if (!r->session) {
		list_for_each_entry_safe(io, tmp, &r->pending, node) {
			if (time_before(jiffies, io->queued + tmo))
				continue;
			list_move_tail(&io->node, &done);
			io->status = BLK_STS_IOERR;
			r->st.pending--;
			n++;
		}
		r->st.timeouts += n;
		wbrep_arm_timeout_locked(r);
	}
	spin_unlock_irq(&r->lock);
	if (n)
		pr_warn_ratelimited("wbrep: ring %s: no daemon for %u ms, failing %u request(s)\n",
				    r->name, r->queue_timeout_ms, n);
	wbrep_end_list(&done);
}

int wbrep_ring_create(const char *name, u64 dev_sectors, u32 nslots, u32 slot_size,
		      u32 timeout_ms, struct wbrep_ring **out)
{
	struct wbrep_ring *r, *o;
	u32 i;
	int ret;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->slots = kvcalloc(nslots, sizeof(*r->slots), GFP_KERNEL);
	r->free_stack = kvcalloc(nslots, sizeof(*r->free_stack), GFP_KERNEL);
	if (!r->slots || !r->free_stack) {
		ret = -ENOMEM;
		goto out_free;
	}
	kref_init(&r->ref);
	strscpy(r->name, name, sizeof(r->name));
	spin_lock_init(&r->lock);
	INIT_LIST_HEAD(&r->pending);
	INIT_DELAYED_WORK(&r->timeout_work, wbrep_timeout_fn);
	r->dev_sectors = dev_sectors;
	r->nslots = nslots;
	r->slot_size = slot_size;
	r->queue_timeout_ms = timeout_ms;
	for (i = 0; i < nslots; i++)
		r->free_stack[i] = nslots - 1 - i;
	r->nfree = nslots;

	mutex_lock(&wbrep_rings_lock);
	list_for_each_entry(o, &wbrep_rings, node) {
		if (!strcmp(o->name, r->name)) {
			mutex_unlock(&wbrep_rings_lock);
			ret = -EEXIST;
			goto out_free;
		}
	}
	list_add_tail(&r->node, &wbrep_rings);
	mutex_unlock(&wbrep_rings_lock);
	wbrep_genl_event(r->name, WBREP_EV_RING_ADDED, 0);
	*out = r;
	return 0;

out_free:
	kvfree(r->slots);
	kvfree(r->free_stack);
	kfree(r);
	return ret;
}

static void wbrep_ring_release(struct kref *ref)
{
	struct wbrep_ring *r = container_of(ref, struct wbrep_ring, ref);

	kvfree(r->slots);
	kvfree(r->free_stack);
	kfree(r);
}

void wbrep_ring_put(struct wbrep_ring *r)
{
	kref_put(&r->ref, wbrep_ring_release);
}

struct wbrep_ring *wbrep_ring_find(const char *name)
{
	struct wbrep_ring *r, *found = NULL;

	mutex_lock(&wbrep_rings_lock);
	list_for_each_entry(r, &wbrep_rings, node) {
		if (!strcmp(r->name, name)) {
			kref_get(&r->ref);
			found = r;
			break;
		}
	}
	mutex_unlock(&wbrep_rings_lock);
	return found;
}

/* Target removal: fail every bio still held, cut the session, drop the ref. */
void wbrep_ring_destroy(struct wbrep_ring *r)
{
	struct wbrep_session *s;
	LIST_HEAD(done);
	struct wbrep_io *io;
	u32 sid = 0;

	mutex_lock(&wbrep_rings_lock);
	list_del_init(&r->node);
	mutex_unlock(&wbrep_rings_lock);

	spin_lock_irq(&r->lock);
	r->dead = true;
	s = r->session;
	if (s) {
		sid = s->id;
		wbrep_cut_locked(r, s);
	}
	wbrep_unpost_all_locked(r);
	list_splice_init(&r->pending, &done);
	r->st.pending = 0;
	list_for_each_entry(io, &done, node)
		io->status = BLK_STS_IOERR;
	spin_unlock_irq(&r->lock);
	cancel_delayed_work_sync(&r->timeout_work);
	if (!list_empty(&done))
		pr_warn("wbrep: ring %s removed with requests held, failing them\n", r->name);
	wbrep_end_list(&done);
	if (sid)
		wbrep_genl_event(r->name, WBREP_EV_DETACHED, sid);
	wbrep_genl_event(r->name, WBREP_EV_RING_REMOVED, 0);
	wbrep_ring_put(r);
}

/* A new bio from the target's map function. */
void wbrep_ring_queue(struct wbrep_ring *r, struct wbrep_io *io)
{
	unsigned long flags;

	spin_lock_irqsave(&r->lock, flags);
	if (r->dead) {
		spin_unlock_irqrestore(&r->lock, flags);
		io->bio->bi_status = BLK_STS_IOERR;
		bio_endio(io->bio);
		return;
	}
	io->queued = jiffies;
	list_add_tail(&io->node, &r->pending);
	r->st.pending++;
	if (!r->session) {
		wbrep_arm_timeout_locked(r);
		spin_unlock_irqrestore(&r->lock, flags);
		return;
	}
	spin_unlock_irqrestore(&r->lock, flags);
	wbrep_dispatch(r);
}

/* Noflush suspend: hand bios that were never posted back to dm core. */
void wbrep_ring_requeue_pending(struct wbrep_ring *r)
{
	struct wbrep_io *io, *tmp;
	LIST_HEAD(done);

	spin_lock_irq(&r->lock);
	list_for_each_entry_safe(io, tmp, &r->pending, node) {
		if (io->flags & WBREP_F_REISSUE)
			continue;
		list_move_tail(&io->node, &done);
		io->status = BLK_STS_DM_REQUEUE;
		r->st.pending--;
	}
	spin_unlock_irq(&r->lock);
	wbrep_end_list(&done);
}

int wbrep_ring_attach(struct wbrep_ring *r, struct wbrep_session *s, u32 *reissued)
{
	struct wbrep_io *io;
	u32 n = 0;

	spin_lock_irq(&r->lock);
	if (r->dead) {
		spin_unlock_irq(&r->lock);
		return -ENOENT;
	}
	if (r->session) {
		spin_unlock_irq(&r->lock);
		return -EBUSY;
	}
	s->id = ++r->next_session;
	if (!s->id)
		s->id = ++r->next_session;
	s->ring = r;
	wbrep_session_init_shared(s, r);
	r->session = s;
	list_for_each_entry(io, &r->pending, node)
		if (io->flags & WBREP_F_REISSUE)
			n++;
	r->st.reissued += n;
	spin_unlock_irq(&r->lock);
	wbrep_dispatch(r);
	*reissued = n;
	return 0;
}

void wbrep_ring_detach(struct wbrep_ring *r, struct wbrep_session *s)
{
	spin_lock_irq(&r->lock);
	wbrep_cut_locked(r, s);
	spin_unlock_irq(&r->lock);
}

static bool wbrep_fillers_done(struct wbrep_ring *r, struct wbrep_session *s)
{
	bool done;

	spin_lock_irq(&r->lock);
	done = !s->fillers;
	spin_unlock_irq(&r->lock);
	return done;
}

/*
 * After the session is cut (no new reservation can pick it), wait for the
 * posters still copying into its memory; only then may it be freed. A copy
 * is bounded (one batch of at most WBREP_BATCH slots), so this is short.
 */
void wbrep_ring_wait_fillers(struct wbrep_ring *r, struct wbrep_session *s)
{
	wait_event(s->fill_wq, wbrep_fillers_done(r, s));
}

static bool wbrep_fence_locked(struct wbrep_ring *r, struct wbrep_session *s,
			       const char *why, u64 v1, u64 v2)
{
	pr_warn_ratelimited("wbrep: ring %s: session %u fenced: %s (0x%llx 0x%llx)\n",
			    r->name, s->id, why, v1, v2);
	r->st.fences++;
	wbrep_cut_locked(r, s);
	return true;
}

/*
 * Reap the CQ of session s. Returns the number of completions, or
 * -ESHUTDOWN if the session is (now) cut off. Completions validated before a
 * bad entry stand; the bad entry and everything after it are ignored.
 *
 * Validation happens under ring->lock and moves each completed slot to
 * COMPLETING; a read's data is copied to its bio after the lock is dropped
 * (the slot cannot be reused or taken back meanwhile, and s's memory lives
 * while the caller's ioctl holds the file), then the slots are freed.
 */
int wbrep_ring_reap(struct wbrep_ring *r, struct wbrep_session *s)
{
	u32 mask = r->nslots - 1, tail, n, i;
	struct wbrep_slot *slot;
	struct wbrep_io *io;
	bool fenced = false;
	LIST_HEAD(done);
	int ret = 0;

	spin_lock_irq(&r->lock);
	if (r->session != s || s->gone) {
		spin_unlock_irq(&r->lock);
		return -ESHUTDOWN;
	}
	/* pairs with the daemon's release store of cq_tail: CQEs are visible */
	tail = smp_load_acquire(&s->cqc->cq_tail);
	n = tail - s->cq_head;
	if (n > r->nslots) {
		fenced = wbrep_fence_locked(r, s, "CQ tail out of range", tail, s->cq_head);
		goto out_unlock;
	}
	for (i = 0; i < n; i++) {
		const struct wbrep_cqe *cqe = &s->cqes[s->cq_head & mask];
		u64 tag = READ_ONCE(cqe->tag);
		s32 res = READ_ONCE(cqe->result);
		u32 rsvd = READ_ONCE(cqe->rsvd);
		u32 idx = wbrep_tag_slot(tag);

		if (idx >= r->nslots) {
			fenced = wbrep_fence_locked(r, s, "tag with bad slot", tag, 0);
			goto out_unlock;
		}
		idx = array_index_nospec(idx, r->nslots);
		slot = &r->slots[idx];
		io = slot->io;
		/* only a POSTED slot can complete: not FILLING, not twice */
		if (!io || slot->state != WBREP_SLOT_POSTED || slot->gen != wbrep_tag_gen(tag)) {
			fenced = wbrep_fence_locked(r, s, "unknown or stale tag", tag,
						    io ? slot->gen : 0);
			goto out_unlock;
		}
		if (rsvd || res > 0 || res < -MAX_ERRNO) {
			fenced = wbrep_fence_locked(r, s, "malformed CQE", tag, (u32)res);
			goto out_unlock;
		}
		io->status = res ? errno_to_blk_status(res) : BLK_STS_OK;
		slot->state = WBREP_SLOT_COMPLETING;
		r->st.inflight--;
		r->st.completed++;
		list_add_tail(&io->node, &done);
		s->cq_head++;
		ret++;
	}
	/* CQEs are consumed before the daemon may reuse their entries */
	smp_store_release(&s->hdr->cq_head, s->cq_head);
out_unlock:
	spin_unlock_irq(&r->lock);
	if (list_empty(&done))
		goto out_fenced;
	list_for_each_entry(io, &done, node)
		if (io->status == BLK_STS_OK && bio_op(io->bio) == REQ_OP_READ)
			wbrep_copy_to_bio(io->bio, s->data_mem + (size_t)io->slot * r->slot_size);
	spin_lock_irq(&r->lock);
	list_for_each_entry(io, &done, node) {
		slot = &r->slots[io->slot];
		slot->io = NULL;
		slot->state = WBREP_SLOT_FREE;
		r->free_stack[r->nfree++] = io->slot;
	}
	spin_unlock_irq(&r->lock);
	wbrep_end_list(&done);
	wbrep_dispatch(r);
out_fenced:
	if (fenced) {
		wbrep_genl_event(r->name, WBREP_EV_FENCED, s->id);
		return -ESHUTDOWN;
	}
	return ret;
}

void wbrep_ring_get_stats(struct wbrep_ring *r, struct wbrep_ring_stats *st)
{
	spin_lock_irq(&r->lock);
	*st = r->st;
	st->session = r->session ? r->session->id : 0;
	spin_unlock_irq(&r->lock);
}

/*
 * Call fn for every ring after the first `skip`; stops at the first non-zero
 * return of fn and returns it (0 when every ring was visited).
 */
int wbrep_ring_for_each(int (*fn)(struct wbrep_ring *r, void *arg), void *arg, int skip)
{
	struct wbrep_ring *r;
	int i = 0, ret = 0;

	mutex_lock(&wbrep_rings_lock);
	list_for_each_entry(r, &wbrep_rings, node) {
		if (i++ < skip)
			continue;
		ret = fn(r, arg);
		if (ret)
			break;
	}
	mutex_unlock(&wbrep_rings_lock);
	return ret;
}
