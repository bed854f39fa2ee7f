/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * superblock.h - the wblog log device's superblock ring: geometry, encode and
 * decode of a slot, format, load and upgrade. The space of the data area is
 * engine/logspace.h.
 *
 * Layout (docs/ondisk-format.md): superblock slots 0..nslots-1 at the start
 * of the device (4 KiB each, written with FUA, newest valid sb_seq wins),
 * then the data area [data_off, data_off + data_size) in whole segments.
 * Records never cross the end of the data area: a record that does not fit
 * before the end is placed at data_off, the gap is "waste" charged to it.
 *
 * Owns: struct wb_sb (host copy of a slot) and the space bookkeeping. The
 * engine (wblog.c) owns the wb_io and issues the asynchronous slot writes;
 * format and load are synchronous (used by open and the tool).
 */
#ifndef WB_SUPERBLOCK_H
#define WB_SUPERBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "engine/io.h"
#include "engine/ondisk.h"

struct wb_sb {
	uint8_t uuid[WB_UUID_LEN];
	uint64_t sb_seq, log_size, dev_size, data_off, data_size;
	uint32_t seg_size, nslots, max_rec_blocks, flags;
	uint64_t epoch, tail_off, tail_seq, tail_min_epoch, tail_gen;
	uint64_t destaged_seq, destaged_gen, create_time, update_time;
	uint64_t head_hint_off, head_hint_seq;
	/* format version of this copy (1 or 2) and the version 2 metadata
	 * (all zero in version 1) */
	uint32_t version, node_id, nhistory;
	uint64_t uuid_time;
	uint8_t data_uuid[WB_UUID_LEN];
	uint8_t uuid_history[WB_META_HISTORY][WB_UUID_LEN];
	/* version 2 bitmaps (bm_region_shift 0: none) */
	uint32_t bm_region_shift, bm_npeers;
	uint64_t bm_off, bm_bytes;
	struct wb_sb_bm_peer {
		uint64_t stamp;
		uint32_t crc, flags;
		uint64_t since; /* tracking: covered from this seq on (0: not known) */
	} bm_peer[WB_BM_MAX_PEERS];
	/* whose each bitmap is (a node name, "" = nobody yet): outside
	 * bm_peer, which a bitmap commit rewrites from its snapshot */
	char bm_owner[WB_BM_MAX_PEERS][WB_BM_OWNER_LEN];
};

/* A bitmap owner as stored: "" or printable ASCII without spaces, then
 * NULs to the end (one way to write each name) */
static inline int wb_sb_owner_ok(const char o[WB_BM_OWNER_LEN])
{
	unsigned i = 0;

	while (i < WB_BM_OWNER_LEN && o[i] > ' ' && o[i] < 127)
		i++;
	if (i == WB_BM_OWNER_LEN)
		return 0;
	for (; i < WB_BM_OWNER_LEN; i++)
		if (o[i])
			return 0;
	return 1;
}

/* Bytes of one copy of one peer's bitmap for a device of dev_size bytes at
 * 1 << shift bytes per bit (whole 4 KiB blocks). */
static inline uint64_t wb_sb_bm_bytes(uint64_t dev_size, uint32_t shift)
{
	uint64_t bits = (dev_size + (1ull << shift) - 1) >> shift;

	return ((bits + 7) / 8 + 4095) / 4096 * 4096;
}
/* The data area (bytes, whole segments from sb's data_off, 0 if not one)
 * that a log device of log_bytes bytes holds: format's, and a grown
 * log's (engine op grow_log). */
static inline uint64_t wb_sb_data_size(const struct wb_sb *sb, uint64_t log_bytes)
{
	log_bytes &= ~(uint64_t)(WB_DISK_BLOCK - 1);
	return log_bytes > sb->data_off ? (log_bytes - sb->data_off) / sb->seg_size * sb->seg_size
					: 0;
}
/* Device offset of copy `copy` of peer `peer`'s bitmap. */
static inline uint64_t wb_sb_bm_copy_off(const struct wb_sb *sb, unsigned peer, unsigned copy)
{
	return sb->bm_off + (2ull * peer + copy) * sb->bm_bytes;
}
#define WB_BM_DEFAULT_PEERS  4u
#define WB_BM_DEFAULT_REGION (64u << 10)

#define WB_REC_MAX_DATA_BLOCKS 256u /* 1 MiB of data per record at most */

/* Encode sb into a 4096-byte slot image (crc included), in sb->version's
 * layout (a version 1 copy has no metadata). */
void wb_sb_encode(const struct wb_sb *sb, void *slot);
/* Decode and validate one slot image against a device of dev_bytes bytes
 * (0 = do not check). Returns 0, or -EINVAL / -EPROTO (bad magic) with a
 * reason in why. */
int wb_sb_decode(const void *slot, uint64_t dev_bytes, struct wb_sb *sb, char *why, size_t whylen);
/* Byte offset of the slot that sb_seq goes to. */
static inline uint64_t wb_sb_slot_off(const struct wb_sb *sb, uint64_t sb_seq)
{
	return (sb_seq % sb->nslots) * (uint64_t)WB_DISK_BLOCK;
}

/* Create a fresh log on io: format version 2, new random log and data UUIDs,
 * node id 0, every slot written (FUA), the
 * first record position cleared, then a device flush. seg_size 0 = 2 MiB.
 * dev_size = the exported size the log belongs to. Synchronous. */
int wb_sb_format(struct wb_io *io, uint64_t dev_size, uint32_t seg_size, struct wb_sb *out);
/* The same with a bitmap area for bm_npeers peers (0: none) at bm_region
 * bytes per bit (a power of two, 4 KiB..1 GiB): the area follows the
 * superblock slots, the data area starts at the next segment boundary. */
int wb_sb_format_bm(struct wb_io *io, uint64_t dev_size, uint32_t seg_size, uint32_t bm_npeers,
		    uint32_t bm_region, struct wb_sb *out);
/* Read every slot and return the newest valid one. Writes nothing. On
 * failure err says, naming the device, what is wrong (-EPROTO: not a wblog
 * log, -EUCLEAN: no valid superblock, -EINVAL: geometry mismatch). */
int wb_sb_load(struct wb_io *io, struct wb_sb *out, char *err, size_t errlen);
/* Upgrade a version 1 log to version 2 in place: the newest copy gets a new
 * random data UUID, no history, node id `node_id`, a bitmap area in the
 * unused bytes before the data area if WB_BM_DEFAULT_PEERS bitmaps fit
 * there (the region size doubled from the default until they do, at most
 * 1 GiB; else none), and is written (FUA)
 * into every slot of the ring in turn, then flushed; a crash in between
 * leaves the newest copy either the old version 1 one or an upgraded one,
 * with the same log state. Returns 0 (out = the new copy), 1 if the log
 * already is version 2 (nothing written), or -errno with err filled.
 * Offline only: nobody else may have the log open. */
int wb_sb_upgrade(struct wb_io *io, uint32_t node_id, struct wb_sb *out, char *err, size_t errlen);
/* A new random data UUID (never all zero). 0 or -EIO. */
int wb_sb_new_uuid(uint8_t uuid[WB_UUID_LEN]);

#endif /* WB_SUPERBLOCK_H */
