/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ondisk.h - every on-disk structure of the wblog log device.
 *
 * Owns the byte layout (documented byte by byte in docs/ondisk-format.md):
 *   - the superblock ring: WB_SB_SLOTS 4 KiB slots at the start of the log
 *     device, each written with FUA, the newest valid one wins;
 *   - the circular data area (whole segments) holding records: a 4 KiB
 *     record header followed by the data blocks of its extents;
 * and the one block wblog keeps on the backing device: the identity block
 * binding it to its log.
 * All integers are little-endian (the wb_le* typedefs are documentation; use
 * the wb_le*_get/put helpers of engine/byteorder.h to read and write them). Every size is asserted.
 */
#ifndef WB_ONDISK_H
#define WB_ONDISK_H

#include <stddef.h>
#include <stdint.h>

#include "engine/byteorder.h" /* wb_le* types and their get/put */

#define WB_DISK_BLOCK	4096u
#define WB_SB_SLOTS	4u		      /* superblock ring slots written by format */
#define WB_SB_MAX_SLOTS 64u		      /* most slots a valid superblock may declare */
#define WB_SB_MAGIC	0x31425347304c4257ull /* "WBL0GSB1" */
#define WB_REC_MAGIC	0x3143455230424c57ull /* "WLB0REC1" */
/* Superblock format version written (2: metadata area, section 2.1 of
 * docs/ondisk-format.md); version 1 superblocks still open. Record headers
 * kept their layout: they carry WB_REC_VERSION in both formats. */
#define WB_FORMAT_VERSION     2u
#define WB_FORMAT_VERSION_MIN 1u
#define WB_REC_VERSION	      1u
#define WB_UUID_LEN	      16
#define WB_META_HISTORY	      8u  /* previous data UUIDs kept, newest first */
#define WB_BM_MAX_PEERS	      16u /* bitmap slots a log may have (= WB_ENGINE_MAX_PEERS) */
#define WB_BM_OWNER_LEN	      64u /* a slot's owner name with its NUL (= WB_ENGINE_BM_OWNER_LEN) */

/* Superblock slot i lives at byte i * 4096 of the log device. */
struct wb_sb_disk {
	wb_le64 magic;		   /* WB_SB_MAGIC */
	wb_le32 version;	   /* WB_FORMAT_VERSION (1 still read) */
	wb_le32 crc;		   /* crc32c of the 4096-byte slot with this field 0 */
	uint8_t uuid[WB_UUID_LEN]; /* log UUID, in every record header too */
	wb_le64 sb_seq;		   /* write counter; slot = sb_seq % nslots */
	wb_le64 log_size;	   /* bytes of the log device in use */
	wb_le64 dev_size;	   /* exported (backing) size in bytes */
	wb_le64 data_off;	   /* byte offset of the circular data area */
	wb_le64 data_size;	   /* bytes, a multiple of seg_size */
	wb_le32 seg_size;	   /* segment size in bytes */
	wb_le32 nslots;		   /* ring slots, 4..WB_SB_MAX_SLOTS (format: WB_SB_SLOTS) */
	wb_le32 max_rec_blocks;	   /* max data blocks per record */
	wb_le32 flags;		   /* WB_SB_F_* */
	wb_le64 epoch;		   /* open epoch, bumped (FUA) by every open */
	wb_le64 tail_off;	   /* byte offset of the oldest needed record */
	wb_le64 tail_seq;	   /* its seq (= next seq if the log is empty) */
	wb_le64 tail_min_epoch;	   /* epoch of the record before the tail (0: none) */
	wb_le64 tail_gen;	   /* generation of the record at the tail */
	wb_le64 destaged_seq;	   /* every record < tail_seq is durable on backing */
	wb_le64 destaged_gen;	   /* newest generation fully durable on backing */
	wb_le64 create_time;	   /* seconds since the epoch, at format */
	wb_le64 update_time;	   /* seconds since the epoch, at this slot write */
	wb_le64 head_hint_off;	   /* clean close: where the head was (0: unknown) */
	wb_le64 head_hint_seq;
	/* version 2: the metadata area (replication); zero in version 1 */
	wb_le32 node_id;				    /* this node's id, 0 = not set */
	wb_le32 nhistory;				    /* valid entries of uuid_history */
	wb_le64 uuid_time;				    /* seconds since 1970: data_uuid set */
	uint8_t data_uuid[WB_UUID_LEN];			    /* current data generation UUID */
	uint8_t uuid_history[WB_META_HISTORY][WB_UUID_LEN]; /* previous ones, newest first */
	/* version 2: per-peer dirty bitmaps (docs/ondisk-format.md 2.3); all
	 * zero = the log has none */
	wb_le32 bm_region_shift; /* bytes per bit = 1 << shift (12..30), 0 = none */
	wb_le32 bm_npeers;	 /* bitmap slots, 1..WB_BM_MAX_PEERS */
	wb_le64 bm_off;		 /* device offset of the bitmap area */
	wb_le64 bm_bytes;	 /* bytes of one copy of one peer's bitmap */
	struct wb_bm_peer_disk {
		wb_le64 stamp; /* tracking: the copy covers every record < stamp */
		wb_le32 crc;   /* crc32c of the current copy (WB_BM_F_WRITTEN) */
		wb_le32 flags; /* WB_BM_F_* */
	} bm_peer[WB_BM_MAX_PEERS];
	/* per peer, tracking: the copy holds the blocks of every record with
	 * since <= seq < stamp (0: not known, as written before 2026-12-02;
	 * zero when not tracking). Older readers ignore it (pad to them). */
	wb_le64 bm_since[WB_BM_MAX_PEERS];
	/* per peer: the node name the bitmap is kept for, NUL-padded ("":
	 * nobody yet, as written before 2026-12-04). Older readers ignore it
	 * (pad to them). */
	char bm_owner[WB_BM_MAX_PEERS][WB_BM_OWNER_LEN];
	uint8_t pad[4096 - 744 - WB_BM_MAX_PEERS * WB_BM_OWNER_LEN];
};
_Static_assert(sizeof(struct wb_sb_disk) == 4096, "superblock slot is 4 KiB");
_Static_assert(offsetof(struct wb_sb_disk, uuid) == 16, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, epoch) == 88, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, head_hint_seq) == 168, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, node_id) == 176, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, data_uuid) == 192, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, bm_region_shift) == 336, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, bm_peer) == 360, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, bm_since) == 616, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, bm_owner) == 744, "sb layout");
_Static_assert(offsetof(struct wb_sb_disk, pad) == 1768, "sb layout");

#define WB_BM_F_COPY	(1u << 0) /* current copy: 0 or 1 */
#define WB_BM_F_TRACK	(1u << 1) /* every record from stamp on marks this bitmap */
#define WB_BM_F_WRITTEN (1u << 2) /* the current copy was written (else all zero) */
/* bits were set for blocks found different (a verify): they go only by a
 * resync, not with the peer catching up on what tracking folded in */
#define WB_BM_F_MARKED (1u << 3)
#define WB_BM_F_ALL    (WB_BM_F_COPY | WB_BM_F_TRACK | WB_BM_F_WRITTEN | WB_BM_F_MARKED)

#define WB_SB_F_CLEAN (1u << 0) /* closed cleanly (head hint valid) */

/* One extent in a record header: the data of [lba, lba+nblocks) follows the
 * header in extent order; crc = wb_crc32c(0, data, nblocks * 4096), 0 for
 * WB_REC_F_ZERO records. */
struct wb_ext_disk {
	wb_le64 lba;
	wb_le32 nblocks;
	wb_le32 crc;
};
_Static_assert(sizeof(struct wb_ext_disk) == 16, "extent is 16 bytes");

#define WB_REC_HDR_FIXED 128u
#define WB_REC_MAX_EXT	 ((4096u - WB_REC_HDR_FIXED) / 16u) /* 248 */

/* A record header: 4 KiB, followed by sum(nblocks) data blocks (none with
 * WB_REC_F_ZERO). The flags are the WB_REC_F_* of engine/wbengine.h. */
struct wb_rec_disk {
	wb_le64 magic;		   /* WB_REC_MAGIC */
	wb_le32 version;	   /* WB_REC_VERSION */
	wb_le32 hdr_crc;	   /* crc32c of the 4096 bytes with this field 0 */
	uint8_t uuid[WB_UUID_LEN]; /* must equal the superblock's */
	wb_le64 seq;		   /* consecutive, never reused */
	wb_le64 gen;		   /* generation (flush epoch) */
	wb_le64 epoch;		   /* open epoch of the writer */
	wb_le64 self_off;	   /* byte offset of this header on the log device */
	wb_le32 flags;		   /* WB_REC_F_* */
	wb_le32 nextents;	   /* <= WB_REC_MAX_EXT */
	wb_le32 data_blocks;	   /* sum of nblocks unless WB_REC_F_ZERO, else 0 */
	wb_le32 rsvd0;
	wb_le64 time_ns; /* CLOCK_REALTIME at seal, for generation listings */
	/* every record <= durable_seq was durable in the log (a completed
	 * flush covered it) before this one was written; 0 = unknown. Tells
	 * corruption from a torn tail at recovery (docs/ondisk-format.md 5). */
	wb_le64 durable_seq;
	uint8_t rsvd[WB_REC_HDR_FIXED - 96];
	struct wb_ext_disk ext[WB_REC_MAX_EXT];
};
_Static_assert(sizeof(struct wb_rec_disk) == 4096, "record header is 4 KiB");
_Static_assert(offsetof(struct wb_rec_disk, ext) == WB_REC_HDR_FIXED, "rec layout");
_Static_assert(offsetof(struct wb_rec_disk, time_ns) == 80, "rec layout");
_Static_assert(offsetof(struct wb_rec_disk, durable_seq) == 88, "rec layout");

/*
 * The identity block of a backing device (engine/bind.c): the 4 KiB at
 * backing byte dev_size, right after the exported range and never part of
 * it, naming the log the backing belongs to (like DRBD's internal metadata
 * at the end of the lower device). Written by format and `wbengine bind`.
 */
#define WB_BIND_MAGIC	0x31444e4942305257ull /* "WR0BIND1" */
#define WB_BIND_VERSION 1u

struct wb_bind_disk {
	wb_le64 magic;		       /* WB_BIND_MAGIC */
	wb_le32 version;	       /* WB_BIND_VERSION */
	wb_le32 crc;		       /* crc32c of the 4096 bytes with this field 0 */
	uint8_t log_uuid[WB_UUID_LEN]; /* the superblock UUID of the log */
	wb_le64 dev_size;	       /* exported size = this block's byte offset */
	wb_le64 bind_time;	       /* seconds since the epoch, when written */
	uint8_t pad[4096 - 48];
};
_Static_assert(sizeof(struct wb_bind_disk) == 4096, "identity block is 4 KiB");
_Static_assert(offsetof(struct wb_bind_disk, dev_size) == 32, "bind layout");

#endif /* WB_ONDISK_H */
