// SPDX-License-Identifier: GPL-2.0-only
/*
 * bind.c - the identity block that binds a backing device to its wblog log
 * (see bind.h; layout in engine/ondisk.h, docs/ondisk-format.md section 7).
 *
 * The block lives at backing byte dev_size, so it stays where it is when a
 * backing file or volume grows, and is outside every LBA the engine reads,
 * writes, destages or discards. Encode/decode are pure; read/write/check
 * are synchronous (format, open and the tool). Owns nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/bind.h"
#include "engine/wbengine.h"

uint64_t wb_bind_dev_size(uint64_t bak_bytes)
{
	bak_bytes &= ~(uint64_t)(WB_DISK_BLOCK - 1);
	return bak_bytes > WB_DISK_BLOCK ? bak_bytes - WB_DISK_BLOCK : 0;
}

void wb_bind_uuid_str(const uint8_t *u, char *out)
{
	int n = 0;

	for (int i = 0; i < WB_UUID_LEN; i++)
		n += sprintf(out + n, "%s%02x", (i == 4 || i == 6 || i == 8 || i == 10) ? "-" : "",
			     u[i]);
}

void wb_bind_encode(const struct wb_bind *b, void *blk)
{
	struct wb_bind_disk *d = blk;

	memset(d, 0, sizeof(*d));
	d->magic = wb_le64_put(WB_BIND_MAGIC);
	d->version = wb_le32_put(WB_BIND_VERSION);
	memcpy(d->log_uuid, b->log_uuid, WB_UUID_LEN);
	d->dev_size = wb_le64_put(b->dev_size);
	d->bind_time = wb_le64_put(b->bind_time);
	d->crc = wb_le32_put(wb_crc32c(0, d, sizeof(*d)));
}

int wb_bind_decode(const void *blk, uint64_t off, struct wb_bind *out, char *why, size_t whylen)
{
	struct wb_bind_disk d;
	uint32_t crc;

	memcpy(&d, blk, sizeof(d));
	if (wb_le64_get(d.magic) != WB_BIND_MAGIC) {
		snprintf(why, whylen, "no identity block (no magic)");
		return -ENODATA;
	}
	crc = wb_le32_get(d.crc);
	d.crc = 0;
	if (wb_crc32c(0, &d, sizeof(d)) != crc) {
		snprintf(why, whylen, "identity block with a bad checksum");
		return -ENODATA;
	}
	if (wb_le32_get(d.version) != WB_BIND_VERSION) {
		snprintf(why, whylen, "identity block of unknown version %u",
			 wb_le32_get(d.version));
		return -ENODATA;
	}
	for (size_t i = 0; i < sizeof(d.pad); i++) {
		if (d.pad[i]) {
			snprintf(why, whylen, "identity block with unknown content at byte %zu",
				 offsetof(struct wb_bind_disk, pad) + i);
			return -ENODATA;
		}
	}
	if (wb_le64_get(d.dev_size) != off) {
		snprintf(why, whylen,
			 "identity block for a %" PRIu64 "-byte device found at byte %" PRIu64,
			 (uint64_t)wb_le64_get(d.dev_size), off);
		return -ENODATA;
	}
	memcpy(out->log_uuid, d.log_uuid, WB_UUID_LEN);
	out->dev_size = wb_le64_get(d.dev_size);
	out->bind_time = wb_le64_get(d.bind_time);
	return 0;
}

static int bind_fits(struct wb_io *bak, uint64_t dev_size)
{
	return !(dev_size % WB_DISK_BLOCK) && dev_size <= bak->size &&
	       bak->size - dev_size >= WB_DISK_BLOCK;
}

int wb_bind_write(struct wb_io *bak, uint64_t dev_size, const uint8_t *uuid)
{
	struct wb_bind b = {.dev_size = dev_size, .bind_time = (uint64_t)time(NULL)};
	void *blk;
	int ret;

	if (!bind_fits(bak, dev_size)) {
		wb_msg(WB_LOG_ERR,
		       "%s: no room for the identity block: %" PRIu64
		       " bytes, the exported size is %" PRIu64 " (4096 more needed)",
		       bak->name, bak->size, dev_size);
		return -ENOSPC;
	}
	blk = wb_io_alloc(WB_DISK_BLOCK);
	if (!blk)
		return -ENOMEM;
	memcpy(b.log_uuid, uuid, WB_UUID_LEN);
	wb_bind_encode(&b, blk);
	ret = wb_io_pwrite(bak, blk, WB_DISK_BLOCK, dev_size, WB_IO_FUA);
	if (ret)
		wb_msg(WB_LOG_ERR, "%s: writing the identity block at byte %" PRIu64 ": %s",
		       bak->name, dev_size, strerror(-ret));
	wb_io_free(blk);
	return ret;
}

int wb_bind_read(struct wb_io *bak, uint64_t dev_size, struct wb_bind *out, char *why,
		 size_t whylen)
{
	void *blk;
	int ret;

	if (!bind_fits(bak, dev_size)) {
		snprintf(why, whylen,
			 "backing has %" PRIu64
			 " bytes, no room for an identity block after %" PRIu64 " exported bytes",
			 bak->size, dev_size);
		return -ENOSPC;
	}
	blk = wb_io_alloc(WB_DISK_BLOCK);
	if (!blk)
		return -ENOMEM;
	ret = wb_io_pread(bak, blk, WB_DISK_BLOCK, dev_size);
	if (ret)
		snprintf(why, whylen, "reading the identity block at byte %" PRIu64 ": %s",
			 dev_size, strerror(-ret));
	else
		ret = wb_bind_decode(blk, dev_size, out, why, whylen);
	wb_io_free(blk);
	return ret;
}

int wb_bind_probe(struct wb_io *bak, uint64_t dev_size, char *err, size_t errlen)
{
	struct wb_bind b;
	char why[160];
	const uint64_t *w;
	void *blk;
	int ret;

	if (!bind_fits(bak, dev_size)) {
		snprintf(err, errlen,
			 "backing %s: no room for the identity block after %" PRIu64
			 " exported bytes (%" PRIu64 " bytes)",
			 bak->name, dev_size, bak->size);
		return -ENOSPC;
	}
	blk = wb_io_alloc(WB_DISK_BLOCK);
	if (!blk)
		return -ENOMEM;
	ret = wb_io_pread(bak, blk, WB_DISK_BLOCK, dev_size);
	if (ret) {
		snprintf(err, errlen, "backing %s: reading byte %" PRIu64 ": %s", bak->name,
			 dev_size, strerror(-ret));
		goto out;
	}
	if (!wb_bind_decode(blk, dev_size, &b, why, sizeof(why)))
		goto out; /* an identity block: format rebinds it */
	w = blk;
	for (size_t i = 0; i < WB_DISK_BLOCK / sizeof(*w); i++) {
		if (w[i]) {
			snprintf(
			    err, errlen,
			    "backing %s holds data at byte %" PRIu64 ", where the identity "
			    "block that binds it to its log goes (the 4 KiB after the %" PRIu64
			    " exported bytes); not overwriting it. Give the backing 4 KiB more "
			    "or a smaller size, or zero those 4 KiB if they are not needed",
			    bak->name, dev_size, dev_size);
			ret = -EEXIST;
			break;
		}
	}
out:
	wb_io_free(blk);
	return ret;
}

int wb_bind_check(struct wb_io *bak, const char *log_name, uint64_t dev_size, const uint8_t *uuid,
		  char *err, size_t errlen)
{
	struct wb_bind b;
	char why[160], want[40], have[40];
	int ret = wb_bind_read(bak, dev_size, &b, why, sizeof(why));

	wb_bind_uuid_str(uuid, want);
	if (ret == -ENODATA) {
		snprintf(err, errlen,
			 "backing %s is not bound to log %s (UUID %s): %s at byte %" PRIu64
			 ". It is another device, or the log was formatted before logs "
			 "were bound to their backing. If this is the right pair, bind it: "
			 "wbengine bind --log %s --backing %s",
			 bak->name, log_name, want, why, dev_size, log_name, bak->name);
		return -EXDEV;
	}
	if (ret) {
		snprintf(err, errlen, "backing %s: %s", bak->name, why);
		return ret;
	}
	if (memcmp(b.log_uuid, uuid, WB_UUID_LEN)) {
		wb_bind_uuid_str(b.log_uuid, have);
		snprintf(err, errlen,
			 "backing %s belongs to another log (UUID %s), not to log %s (UUID %s). "
			 "If this backing really holds this log's data (e.g. restored from a "
			 "copy), rebind it: wbengine bind --log %s --backing %s",
			 bak->name, have, log_name, want, log_name, bak->name);
		return -EXDEV;
	}
	return 0;
}
