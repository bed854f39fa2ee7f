/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * extmap.h - the in-memory extent map of the wblog engine: LBA -> newest
 * location of that block in the log (log block + record seq).
 *
 * An in-memory B+tree whose leaves hold packed 20-byte entries (see
 * extmap.c), so the whole map costs <= 32 bytes per extent including the
 * tree overhead and partially filled leaves. All operations are O(log n)
 * per touched extent. Single-threaded, like the rest of the engine.
 *
 * Ownership: the map owns all its memory; wb_extmap_destroy() frees it.
 * Entries handed out (lookup, iterate) are copies.
 *
 * Limits of the packed encoding (an argument beyond them gives -ERANGE):
 *   lba + n      <= WB_EXTMAP_LBA_LIMIT (2^48 blocks = 1 EiB device)
 *   log_blk + n  <= WB_EXTMAP_LOG_LIMIT (2^40 blocks = 4 PiB log)
 *   seq          <  WB_EXTMAP_SEQ_LIMIT (2^48)
 * Extents longer than 2^24-1 blocks are stored as several entries, so
 * lookup/iterate may return adjacent pieces that a caller could merge.
 */
#ifndef WB_EXTMAP_H
#define WB_EXTMAP_H

#include <stdint.h>

#define WB_EXTMAP_LBA_LIMIT (1ull << 48)
#define WB_EXTMAP_LOG_LIMIT (1ull << 40)
#define WB_EXTMAP_SEQ_LIMIT (1ull << 48)

struct wb_extmap;

struct wb_extmap_ent {
	uint64_t lba; /* first 4 KiB block */
	uint32_t nblocks;
	uint64_t log_blk; /* log location (4 KiB blocks from the start of the log device) of
			   * block `lba`; block lba+i is at log_blk+i */
	uint64_t seq;	  /* record seq that wrote it */
};

/* 0 or -ENOMEM. */
int wb_extmap_create(struct wb_extmap **out);
void wb_extmap_destroy(struct wb_extmap *m);

/* Map [lba, lba+n) to log_blk.. with seq, replacing (splitting/trimming) whatever
 * overlaps. Adjacent pieces contiguous in LBA and in the log with the same seq are
 * merged. 0, -ENOMEM (the map is then unchanged) or -ERANGE (limits above). */
int wb_extmap_insert(struct wb_extmap *m, uint64_t lba, uint32_t n, uint64_t log_blk, uint64_t seq);
/* Unmap [lba, lba+n). 0 or -ENOMEM (splitting an extent needs a node; map unchanged). */
int wb_extmap_punch(struct wb_extmap *m, uint64_t lba, uint32_t n);
/* After destage: unmap the parts of [lba, lba+n) whose seq <= max_seq; newer data stays
 * mapped. 0 or -ENOMEM (map unchanged). */
int wb_extmap_drop_upto(struct wb_extmap *m, uint64_t lba, uint32_t n, uint64_t max_seq);
/* Fill out[0..max) with the mapped pieces inside [lba, lba+n), clipped to the range,
 * sorted by lba. Returns the total number of pieces in the range (may be > max: then
 * call again from the end of out[max-1]). */
int wb_extmap_lookup(const struct wb_extmap *m, uint64_t lba, uint32_t n, struct wb_extmap_ent *out,
		     int max);
/* Visit every extent in lba order; stop when fn returns non-zero (that value is
 * returned, else 0). fn must not modify the map. */
int wb_extmap_iterate(const struct wb_extmap *m,
		      int (*fn)(const struct wb_extmap_ent *e, void *arg), void *arg);
uint64_t wb_extmap_count(const struct wb_extmap *m);	 /* extents (entries) */
uint64_t wb_extmap_mem_bytes(const struct wb_extmap *m); /* all memory the map holds,
							  * incl. malloc chunk overhead */
void wb_extmap_clear(struct wb_extmap *m);

/* Tests only: shrink the node capacities of an empty map so that small maps build
 * deep trees (leaf_cap >= 4, inode_cap >= 4). 0 or -EINVAL. */
int wb_extmap_test_set_caps(struct wb_extmap *m, int leaf_cap, int inode_cap);

#endif /* WB_EXTMAP_H */
