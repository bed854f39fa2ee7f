/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * record.h - encode, decode and validate wblog record headers.
 *
 * A record header (struct wb_rec_disk, engine/ondisk.h) is untrusted input
 * on open, in `wbengine check` and in the fuzz target: wb_record_decode()
 * checks everything that can be checked without the data and says precisely
 * what is wrong. wb_record_check_data() then verifies the extent crcs.
 * Pure functions, no allocation, no I/O.
 */
#ifndef WB_RECORD_H
#define WB_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ondisk.h"
#include "engine/wbengine.h"

/* Decode errors: wb_record_decode() returns 0 or -WB_REC_E* (not errno). */
enum wb_rec_err {
	WB_REC_ETRUNC = 1,   /* buffer shorter than a header */
	WB_REC_EMAGIC = 2,   /* not a record header */
	WB_REC_EVERSION = 3, /* unknown format version */
	WB_REC_EUUID = 4,    /* record of another log */
	WB_REC_ECRC = 5,     /* header checksum mismatch */
	WB_REC_EOFFSET = 6,  /* header found at another offset than it was written to */
	WB_REC_EEXTENTS = 7, /* extent count out of bounds */
	WB_REC_ELENGTH = 8,  /* extent length / lba / data size out of bounds */
	WB_REC_EDATA = 9,    /* data crc of an extent mismatches (wb_record_check_data) */
	WB_REC_EFLAGS = 10,  /* unknown flags */
};

/* A decoded header, host byte order. */
struct wb_rec_info {
	uint64_t seq, gen, epoch, self_off, time_ns;
	uint64_t durable_seq; /* records <= this were durable when it was written */
	uint32_t flags, nextents, data_blocks;
	struct wb_extent ext[WB_REC_MAX_EXT];
};

/* What the decoder checks against. uuid NULL: any; self_off UINT64_MAX: any;
 * max_data_blocks: limit on data blocks; dev_blocks 0: no lba bound. */
struct wb_rec_expect {
	const uint8_t *uuid;
	uint64_t self_off;
	uint32_t max_data_blocks;
	uint64_t dev_blocks;
};

/* Fill the 4096-byte hdr from ri (ri->data_blocks is recomputed) and seal it
 * with the header crc. Returns 0 or -EINVAL (too many extents). */
int wb_record_encode(void *hdr, const uint8_t uuid[WB_UUID_LEN], struct wb_rec_info *ri);
int wb_record_decode(const void *buf, size_t len, const struct wb_rec_expect *x,
		     struct wb_rec_info *out);
/* Verify every extent crc over data (ri->data_blocks * 4096 bytes). Returns 0 or
 * -WB_REC_EDATA; *bad_ext (may be NULL) gets the failing extent index. */
int wb_record_check_data(const struct wb_rec_info *ri, const void *data, uint32_t *bad_ext);
/* Human readable text for a -WB_REC_E* code. */
const char *wb_record_strerror(int err);
/* Total bytes of the record on the log device (header + data). */
static inline uint64_t wb_record_bytes(const struct wb_rec_info *ri)
{
	return (uint64_t)(1 + ri->data_blocks) * WB_DISK_BLOCK;
}

#endif /* WB_RECORD_H */
