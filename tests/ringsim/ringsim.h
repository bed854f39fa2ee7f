/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ringsim.h - a userspace model of the kernel side of the dm-wbrep ring
 * (kmod/wbrep_ring.c + kmod/wbrep_dev.c) over shared memory, built on the
 * one ABI header kmod/uapi/wbrep_ring.h. It lets daemon/ringfe.c be unit
 * tested (tests/unit/test_ringfe.c) and benchmarked (ringbench.c) without a
 * kernel.
 *
 * Model: a struct ringsim is one dm target's ring (slots, pending list,
 * session pointer). A struct ringsim_io plays a bio: the caller queues it,
 * the ring posts it into a free slot of the attached session (copying a
 * write's data into the slot), and completes it from a validated CQE
 * (copying a read's data out) by calling io->end. Each session has its own
 * memfd holding the three regions; the daemon side gets them mapped like
 * the kernel maps them (SQ read-only), so a write to the SQ from the daemon
 * faults just as it would against the module. A bad CQE fences the session
 * exactly as the kernel does; in-flight requests go back to the pending list
 * and are re-posted with WBREP_F_REISSUE to the next session.
 *
 * Threads: every entry point takes rs->lock, so the "kernel" (queue) and
 * the daemon (kick -> ringsim_reap) may run in different threads. io->end is
 * called with the lock dropped, from the thread that reaped (like bio_endio
 * from the kick ioctl).
 *
 * Ownership: the caller owns each ringsim_io and must keep it alive until
 * end() was called (or ringsim_destroy returned). A session is shared by the
 * ring and the transport handed to ringfe; it is freed when both let go (the
 * ring when the session is cut, the transport in its release()).
 * No queue timeout: with no session attached, I/O waits.
 */
#ifndef WB_RINGSIM_H
#define WB_RINGSIM_H

#include <stdint.h>

#include "daemon/ringfe.h"
#include "wbrep_ring.h"

struct ringsim;

struct ringsim_io {
	uint8_t op;	 /* WBREP_OP_* */
	uint16_t flags;	 /* WBREP_F_FUA / WBREP_F_PREFLUSH */
	uint64_t sector; /* 512-byte sectors, relative to the device */
	uint32_t len;	 /* bytes, 0 for FLUSH */
	void *buf;	 /* write: source (copied when posted); read: destination */
	/* set by ringsim */
	int result; /* 0 or -errno, valid once done */
	int done;
	uint32_t posts;			    /* times posted to a session (> 1: re-issued) */
	uint64_t tag;			    /* tag of the last posting */
	void (*end)(struct ringsim_io *io); /* completion, may be NULL */
	void *priv;
	struct ringsim_io *next; /* ringsim private */
};

struct ringsim_params {
	uint32_t nslots;    /* power of two, <= WBREP_MAX_SLOTS */
	uint32_t slot_size; /* multiple of 4096, <= WBREP_MAX_SLOT_SIZE */
	uint64_t dev_sectors;
};

struct ringsim_stats {
	uint64_t posted, completed, reissued, fences;
	uint32_t inflight, pending, session;
};

int ringsim_create(const struct ringsim_params *p, struct ringsim **out);
/* Target removal: cut the session, fail every held request with -EIO. */
void ringsim_destroy(struct ringsim *rs);

/* WBREP_IOC_ATTACH: start a session and fill in a transport for
 * wbd_ringfe_open() (its kick reaps, its fd is an eventfd readable when SQEs
 * were posted). -EBUSY while a session is attached. */
int ringsim_attach(struct ringsim *rs, struct wbd_ringfe_transport *t);
/* The daemon's file went away (crash, close): cut the session. */
void ringsim_detach(struct ringsim *rs);

/* A new "bio". */
void ringsim_queue(struct ringsim *rs, struct ringsim_io *io);
/* Several at once (one lock, one wake-up, like a plugged batch); the caller
 * checked the slot-size cap. */
void ringsim_queue_many(struct ringsim *rs, struct ringsim_io **ios, unsigned int n);
/* Like ringsim_queue, but the SQE passes through mangle() before its tail is
 * published (a buggy kernel), and the request waits for a session. Returns
 * -EBUSY when no session or no free slot. */
int ringsim_queue_mangled(struct ringsim *rs, struct ringsim_io *io,
			  void (*mangle)(struct wbrep_sqe *sqe, void *arg), void *arg);
/* Publish sq_tail + delta without entries (a kernel gone mad). */
int ringsim_bump_sq_tail(struct ringsim *rs, uint32_t delta);

/* WBREP_IOC_KICK: reap the CQ of the attached session. Returns the number of
 * completions or -ESHUTDOWN (session cut or fenced now). */
int ringsim_reap(struct ringsim *rs);

void ringsim_get_stats(struct ringsim *rs, struct ringsim_stats *st);
/* Why the last fence happened ("" if never). */
const char *ringsim_fence_reason(struct ringsim *rs);
/* The daemon-side CQ region of the attached session (tests writing garbage
 * CQEs), NULL without a session. */
void *ringsim_cq_region(struct ringsim *rs);

#endif /* WB_RINGSIM_H */
