/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bind.h - the binding of a wblog log to its backing device.
 *
 * A log records the exported size (dev_size) and its UUID; the backing
 * records, in an identity block at backing byte dev_size (right after the
 * exported range, never exported: engine/ondisk.h struct wb_bind_disk), the
 * UUID of the log it belongs to. A pair is accepted only when the two
 * agree, so a log is never replayed onto another backing of the same size.
 * Format writes the block; `wbengine bind` rewrites it (rebind, e.g. after
 * restoring a backing from a copy). docs/ondisk-format.md, section 7.
 *
 * Owns nothing: synchronous helpers on a wb_io the caller owns.
 */
#ifndef WB_BIND_H
#define WB_BIND_H

#include <stddef.h>
#include <stdint.h>

#include "engine/io.h"
#include "engine/ondisk.h"

struct wb_bind {
	uint8_t log_uuid[WB_UUID_LEN];
	uint64_t dev_size, bind_time;
};

/* Exported size for a backing of bak_bytes when none is configured: the
 * backing rounded down to 4096, minus the identity block (0: too small). */
uint64_t wb_bind_dev_size(uint64_t bak_bytes);
/* Encode b into a 4096-byte block image (crc included). */
void wb_bind_encode(const struct wb_bind *b, void *blk);
/* Decode and validate a 4096-byte block read at backing byte `off`.
 * 0, or -ENODATA with the reason in why (no identity block, bad crc,
 * unknown version, reserved bytes not zero, dev_size not its own offset). */
int wb_bind_decode(const void *blk, uint64_t off, struct wb_bind *out, char *why, size_t whylen);
/* Write the identity block of (uuid, dev_size) to bak with FUA. */
int wb_bind_write(struct wb_io *bak, uint64_t dev_size, const uint8_t *uuid);
/* Read the identity block at dev_size: 0 (out filled), -ENODATA (why says
 * what was found), -ENOSPC (backing too small to hold it), or an I/O error. */
int wb_bind_read(struct wb_io *bak, uint64_t dev_size, struct wb_bind *out, char *why,
		 size_t whylen);
/* May format put an identity block at dev_size? 0 when that block is all
 * zeroes or already an identity block (of any log); -EEXIST when it holds
 * other data (never overwritten: the message in err says how to proceed);
 * -ENOSPC or an I/O error otherwise. Reads only. */
int wb_bind_probe(struct wb_io *bak, uint64_t dev_size, char *err, size_t errlen);
/* Does bak belong to the log (uuid, dev_size) on log_name? 0, or -EXDEV
 * (wrong or missing binding: open returns it too) / -ENOSPC / an I/O error, with a message in
 * err that names both devices and how to rebind. */
int wb_bind_check(struct wb_io *bak, const char *log_name, uint64_t dev_size, const uint8_t *uuid,
		  char *err, size_t errlen);
/* The UUID as text, 8-4-4-4-12 (out: at least 37 bytes). */
void wb_bind_uuid_str(const uint8_t *uuid, char *out);

#endif /* WB_BIND_H */
