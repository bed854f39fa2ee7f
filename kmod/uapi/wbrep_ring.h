/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * wbrep_ring.h - the ring ABI between the dm-wbrep kernel target and wbrepd.
 *
 * This is the one header shared by the kernel module (kmod/), the daemon's
 * ring consumer (daemon/ringfe.c) and the userspace ring simulator
 * (tests/ringsim/). docs/ring-abi.md describes the protocol in prose.
 *
 * A session: the daemon opens /dev/wbrep-ctl, WBREP_IOC_ATTACH names a ring
 * (the <ring_name> of a "wbrep" dm table line) and returns the geometry. The
 * daemon then mmaps three regions of that file, each selected by a fixed
 * mmap offset (userspace never supplies an address or an offset inside
 * kernel memory):
 *
 *   WBREP_MMAP_SQ    read-only:  struct wbrep_ring_hdr + the SQE array at
 *                                WBREP_SQE_OFF (sq_entries entries)
 *   WBREP_MMAP_CQ    read-write: struct wbrep_cq_ctl + the CQE array at
 *                                WBREP_CQE_OFF (cq_entries entries)
 *   WBREP_MMAP_DATA  read-write: nslots data slots of slot_size bytes
 *
 * Every request owns one data slot for its whole life; its tag carries the
 * slot index (low 32 bits) and the slot's generation (high 32 bits). So at
 * most nslots requests are in flight and neither ring can overflow.
 *
 * Producer/consumer indices are free-running __u32 counters; the entry of
 * index i is at i & (entries - 1). Writers publish with release semantics
 * (smp_store_release / __atomic_store_n(..., __ATOMIC_RELEASE)), readers load
 * with acquire semantics. The kernel reads each value userspace can write
 * exactly once (READ_ONCE) and validates it; a bad completion fences the
 * session (see docs/ring-abi.md), the request goes to the next session.
 *
 * SQ: kernel produces (hdr.sq_tail), daemon consumes (cq_ctl.sq_head, a
 *     hint only: poll() reports POLLIN while sq_head != sq_tail).
 * CQ: daemon produces (cq_ctl.cq_tail), kernel consumes (hdr.cq_head) when
 *     the daemon calls WBREP_IOC_KICK.
 *
 * Data: a WRITE's data is in its slot when the SQE is visible; a READ's data
 * must be in its slot before its CQE is published. Sizes and offsets are in
 * bytes except sqe.sector (512-byte units).
 */
#ifndef _UAPI_WBREP_RING_H
#define _UAPI_WBREP_RING_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define WBREP_RING_MAGIC	0x57425247u	/* "WBRG" */
#define WBREP_RING_VERSION	1u
#define WBREP_CTL_DEVICE	"/dev/wbrep-ctl"
#define WBREP_NAME_MAX		32		/* ring name incl. NUL */

/* mmap offsets selecting a region (like IORING_OFF_*) */
#define WBREP_MMAP_SQ		0x00000000ULL
#define WBREP_MMAP_CQ		0x10000000ULL
#define WBREP_MMAP_DATA		0x20000000ULL

#define WBREP_SQE_OFF		4096u	/* SQE array inside the SQ region */
#define WBREP_CQE_OFF		128u	/* CQE array inside the CQ region */

/* Limits the kernel enforces on the target's options. */
#define WBREP_MAX_SLOTS		1024u
#define WBREP_MAX_SLOT_SIZE	(1024u * 1024u)
#define WBREP_MIN_SLOT_SIZE	4096u

enum wbrep_op {
	WBREP_OP_READ		= 1,
	WBREP_OP_WRITE		= 2,
	WBREP_OP_FLUSH		= 3,	/* len 0 */
	WBREP_OP_DISCARD	= 4,	/* no data in the slot */
	WBREP_OP_WRITE_ZEROES	= 5,	/* no data in the slot */
};

#define WBREP_F_FUA		(1u << 0)	/* write: durable on completion */
#define WBREP_F_PREFLUSH	(1u << 1)	/* flush before the write */
#define WBREP_F_REISSUE		(1u << 2)	/* posted before to an earlier session */

/* Submission queue entry, written by the kernel. 64 bytes. */
struct wbrep_sqe {
	__u64 tag;		/* (generation << 32) | slot index */
	__u64 seq;		/* ring-wide submission sequence, from 1 */
	__u64 sector;		/* start, 512-byte sectors */
	__u32 len;		/* bytes; 0 for FLUSH */
	__u8  op;		/* enum wbrep_op */
	__u8  rsvd0;
	__u16 flags;		/* WBREP_F_* */
	__u64 timestamp_ns;	/* CLOCK_MONOTONIC when the bio reached the target */
	__u64 data_off;		/* slot index * slot_size, inside WBREP_MMAP_DATA */
	__u64 rsvd[2];
};

/* Completion queue entry, written by the daemon. 16 bytes. */
struct wbrep_cqe {
	__u64 tag;		/* tag of the SQE being completed */
	__s32 result;		/* 0 or -errno (-EIO, -ENOSPC, -EOPNOTSUPP...) */
	__u32 rsvd;		/* must be 0 */
};

/* Start of the SQ region (read-only for userspace). */
struct wbrep_ring_hdr {
	__u32 magic;		/* WBREP_RING_MAGIC */
	__u32 version;		/* WBREP_RING_VERSION */
	__u32 nslots;
	__u32 slot_size;	/* bytes, multiple of 4096 */
	__u32 sq_entries;	/* == nslots, power of two */
	__u32 cq_entries;	/* == nslots, power of two */
	__u32 session;		/* session id, unique per ring */
	__u32 flags;		/* WBREP_HDR_F_* */
	__u64 dev_sectors;	/* length of the dm target */
	__u8  pad0[24];
	/* kernel-written indices, each on its own cache line */
	/* (uapi: no __aligned() macro in userspace) */
	__u32 sq_tail __attribute__((aligned(64)));	/* offset 64 */
	__u8  pad1[60];

	__u32 cq_head __attribute__((aligned(64)));	/* offset 128 */
	__u8  pad2[60];
};

#define WBREP_HDR_F_FENCED	(1u << 0)	/* session fenced: stop using the ring */

/* Start of the CQ region (written by userspace). */
struct wbrep_cq_ctl {
	__u32 cq_tail;		/* daemon: next CQE index to produce */
	__u8  pad0[60];
	__u32 sq_head;		/* daemon: next SQE index to consume (hint) */
	__u8  pad1[60];
};

/* WBREP_IOC_ATTACH argument. */
struct wbrep_attach {
	/* in */
	__u32 version;			/* WBREP_RING_VERSION */
	__u32 flags;			/* 0 */
	char  name[WBREP_NAME_MAX];	/* NUL-terminated ring name */
	/* out */
	__u32 nslots;
	__u32 slot_size;
	__u32 sq_entries;
	__u32 cq_entries;
	__u64 sq_map_size;		/* bytes to mmap at WBREP_MMAP_SQ */
	__u64 cq_map_size;		/* bytes to mmap at WBREP_MMAP_CQ */
	__u64 data_map_size;		/* bytes to mmap at WBREP_MMAP_DATA */
	__u64 dev_sectors;
	__u32 session;
	__u32 reissued;			/* requests re-posted with WBREP_F_REISSUE */
	__u64 rsvd[4];
};

#define WBREP_IOC_MAGIC		0xB7
/* Attach this file to a ring: -ENOENT no such ring, -EBUSY already served. */
#define WBREP_IOC_ATTACH	_IOWR(WBREP_IOC_MAGIC, 1, struct wbrep_attach)
/* Reap the CQ. Returns the number of completions, -ESHUTDOWN once fenced. */
#define WBREP_IOC_KICK		_IO(WBREP_IOC_MAGIC, 2)
/* Leave the ring cleanly; in-flight requests go to the next session. */
#define WBREP_IOC_DETACH	_IO(WBREP_IOC_MAGIC, 3)

#ifndef __KERNEL__
#define WBREP_STATIC_ASSERT(c, m) _Static_assert(c, m)
#else
#define WBREP_STATIC_ASSERT(c, m) static_assert(c, m)
#endif
WBREP_STATIC_ASSERT(sizeof(struct wbrep_sqe) == 64, "SQE is 64 bytes");
WBREP_STATIC_ASSERT(sizeof(struct wbrep_cqe) == 16, "CQE is 16 bytes");
WBREP_STATIC_ASSERT(sizeof(struct wbrep_ring_hdr) == 192, "ring header is 192 bytes");
WBREP_STATIC_ASSERT(sizeof(struct wbrep_cq_ctl) == 128, "CQ control is 128 bytes");
WBREP_STATIC_ASSERT(sizeof(struct wbrep_attach) == 128, "attach is 128 bytes");

/* Region sizes for a geometry; the kernel and ringsim both use these. */
#define WBREP_PAGE_ALIGN(x)	(((x) + 4095ULL) & ~4095ULL)
#define WBREP_SQ_MAP_SIZE(n)	WBREP_PAGE_ALIGN(WBREP_SQE_OFF + \
					(__u64)(n) * sizeof(struct wbrep_sqe))
#define WBREP_CQ_MAP_SIZE(n)	WBREP_PAGE_ALIGN(WBREP_CQE_OFF + \
					(__u64)(n) * sizeof(struct wbrep_cqe))
#define WBREP_DATA_MAP_SIZE(n, s) ((__u64)(n) * (s))

static inline __u64 wbrep_tag(__u32 slot, __u32 gen)
{
	return ((__u64)gen << 32) | slot;
}

static inline __u32 wbrep_tag_slot(__u64 tag)
{
	return (__u32)tag;
}

static inline __u32 wbrep_tag_gen(__u64 tag)
{
	return (__u32)(tag >> 32);
}

#endif /* _UAPI_WBREP_RING_H */
