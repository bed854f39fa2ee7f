// SPDX-License-Identifier: GPL-2.0-only
/*
 * superblock.c - the wblog log device's superblock ring: slot encode and
 * decode, format, load and the version 1 -> 2 upgrade (see superblock.h).
 *
 * Owns the superblock validation rules. The placement rule of records is
 * engine/logspace.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "engine/wbengine.h"
#include "engine/superblock.h"

static uint32_t sb_crc(const struct wb_sb_disk *d)
{
	struct wb_sb_disk tmp;

	memcpy(&tmp, d, sizeof(tmp));
	tmp.crc = 0;
	return wb_crc32c(0, &tmp, sizeof(tmp));
}

static int uuid_is_zero(const uint8_t *u)
{
	static const uint8_t zero[WB_UUID_LEN];

	return !memcmp(u, zero, WB_UUID_LEN);
}

/* The version 2 metadata area; a version 1 copy has none (its pad bytes
 * are not looked at: version 1 never defined them). */
static int sb_meta_decode(const struct wb_sb_disk *d, struct wb_sb *sb, char *why, size_t whylen)
{
	uint32_t i;

	sb->node_id = sb->nhistory = 0;
	sb->uuid_time = 0;
	memset(sb->data_uuid, 0, sizeof(sb->data_uuid));
	memset(sb->uuid_history, 0, sizeof(sb->uuid_history));
	sb->bm_region_shift = sb->bm_npeers = 0;
	sb->bm_off = sb->bm_bytes = 0;
	memset(sb->bm_peer, 0, sizeof(sb->bm_peer));
	if (sb->version < 2)
		return 0;
	sb->node_id = wb_le32_get(d->node_id);
	sb->nhistory = wb_le32_get(d->nhistory);
	sb->uuid_time = wb_le64_get(d->uuid_time);
	if (sb->nhistory > WB_META_HISTORY) {
		snprintf(why, whylen, "metadata: %u history UUIDs (at most %u)", sb->nhistory,
			 WB_META_HISTORY);
		return -1;
	}
	if (uuid_is_zero(d->data_uuid)) {
		snprintf(why, whylen, "metadata: no data UUID");
		return -1;
	}
	for (i = 0; i < WB_META_HISTORY; i++)
		if (uuid_is_zero(d->uuid_history[i]) != (i >= sb->nhistory)) {
			snprintf(why, whylen, "metadata: history UUID %u is %s", i,
				 i >= sb->nhistory ? "set past the history" : "zero");
			return -1;
		}
	memcpy(sb->data_uuid, d->data_uuid, WB_UUID_LEN);
	memcpy(sb->uuid_history, d->uuid_history, sizeof(sb->uuid_history));
	sb->bm_region_shift = wb_le32_get(d->bm_region_shift);
	sb->bm_npeers = wb_le32_get(d->bm_npeers);
	sb->bm_off = wb_le64_get(d->bm_off);
	sb->bm_bytes = wb_le64_get(d->bm_bytes);
	for (i = 0; i < WB_BM_MAX_PEERS; i++) {
		sb->bm_peer[i].stamp = wb_le64_get(d->bm_peer[i].stamp);
		sb->bm_peer[i].crc = wb_le32_get(d->bm_peer[i].crc);
		sb->bm_peer[i].flags = wb_le32_get(d->bm_peer[i].flags);
		sb->bm_peer[i].since = wb_le64_get(d->bm_since[i]);
		if ((sb->bm_peer[i].flags & ~WB_BM_F_ALL) ||
		    (i >= sb->bm_npeers &&
		     (sb->bm_peer[i].flags || sb->bm_peer[i].stamp || sb->bm_peer[i].crc))) {
			snprintf(why, whylen, "bitmap of peer %u: bad flags 0x%x", i,
				 sb->bm_peer[i].flags);
			return -1;
		}
		if (!wb_sb_owner_ok(d->bm_owner[i]) || (i >= sb->bm_npeers && d->bm_owner[i][0])) {
			snprintf(why, whylen, "bitmap of peer %u: its owner is not a node name", i);
			return -1;
		}
		memcpy(sb->bm_owner[i], d->bm_owner[i], WB_BM_OWNER_LEN);
		if (sb->bm_peer[i].since && (!(sb->bm_peer[i].flags & WB_BM_F_TRACK) ||
					     sb->bm_peer[i].since > sb->bm_peer[i].stamp)) {
			snprintf(why, whylen, "bitmap of peer %u: tracked since seq %llu, %s", i,
				 (unsigned long long)sb->bm_peer[i].since,
				 sb->bm_peer[i].flags & WB_BM_F_TRACK ? "after its stamp"
								      : "but not tracking");
			return -1;
		}
	}
	return 0;
}

/* The bitmap area (after the geometry checks: needs data_off, nslots). */
static int sb_bm_check(const struct wb_sb *sb, char *why, size_t whylen)
{
	if (!sb->bm_region_shift) {
		if (sb->bm_npeers || sb->bm_off || sb->bm_bytes)
			goto bad;
		return 0;
	}
	if (sb->bm_region_shift < 12 || sb->bm_region_shift > 30 || !sb->bm_npeers ||
	    sb->bm_npeers > WB_BM_MAX_PEERS ||
	    /* more than the size needs after a grow that kept the area
	     * (wblog_grow.c), never less */
	    sb->bm_bytes < wb_sb_bm_bytes(sb->dev_size, sb->bm_region_shift) ||
	    sb->bm_off % WB_DISK_BLOCK || sb->bm_off < sb->nslots * (uint64_t)WB_DISK_BLOCK ||
	    sb->bm_off > sb->data_off ||
	    (sb->data_off - sb->bm_off) / 2 / sb->bm_npeers < sb->bm_bytes)
		goto bad;
	return 0;
bad:
	snprintf(why, whylen, "inconsistent bitmap area (shift %u, %u peers, 0x%llx + %llu)",
		 sb->bm_region_shift, sb->bm_npeers, (unsigned long long)sb->bm_off,
		 (unsigned long long)sb->bm_bytes);
	return -1;
}

int wb_sb_new_uuid(uint8_t uuid[WB_UUID_LEN])
{
	if (getrandom(uuid, WB_UUID_LEN, 0) != (ssize_t)WB_UUID_LEN)
		return -EIO;
	if (uuid_is_zero(uuid))
		uuid[0] = 1; /* 2^-128: zero means "none" on disk */
	return 0;
}

void wb_sb_encode(const struct wb_sb *sb, void *slot)
{
	struct wb_sb_disk *d = slot;
	uint32_t i;

	memset(d, 0, sizeof(*d));
	d->magic = wb_le64_put(WB_SB_MAGIC);
	d->version = wb_le32_put(sb->version);
	memcpy(d->uuid, sb->uuid, WB_UUID_LEN);
	d->sb_seq = wb_le64_put(sb->sb_seq);
	d->log_size = wb_le64_put(sb->log_size);
	d->dev_size = wb_le64_put(sb->dev_size);
	d->data_off = wb_le64_put(sb->data_off);
	d->data_size = wb_le64_put(sb->data_size);
	d->seg_size = wb_le32_put(sb->seg_size);
	d->nslots = wb_le32_put(sb->nslots);
	d->max_rec_blocks = wb_le32_put(sb->max_rec_blocks);
	d->flags = wb_le32_put(sb->flags);
	d->epoch = wb_le64_put(sb->epoch);
	d->tail_off = wb_le64_put(sb->tail_off);
	d->tail_seq = wb_le64_put(sb->tail_seq);
	d->tail_min_epoch = wb_le64_put(sb->tail_min_epoch);
	d->tail_gen = wb_le64_put(sb->tail_gen);
	d->destaged_seq = wb_le64_put(sb->destaged_seq);
	d->destaged_gen = wb_le64_put(sb->destaged_gen);
	d->create_time = wb_le64_put(sb->create_time);
	d->update_time = wb_le64_put(sb->update_time);
	d->head_hint_off = wb_le64_put(sb->head_hint_off);
	d->head_hint_seq = wb_le64_put(sb->head_hint_seq);
	if (sb->version >= 2) {
		d->node_id = wb_le32_put(sb->node_id);
		d->nhistory = wb_le32_put(sb->nhistory);
		d->uuid_time = wb_le64_put(sb->uuid_time);
		memcpy(d->data_uuid, sb->data_uuid, WB_UUID_LEN);
		memcpy(d->uuid_history, sb->uuid_history, sizeof(d->uuid_history));
		d->bm_region_shift = wb_le32_put(sb->bm_region_shift);
		d->bm_npeers = wb_le32_put(sb->bm_npeers);
		d->bm_off = wb_le64_put(sb->bm_off);
		d->bm_bytes = wb_le64_put(sb->bm_bytes);
		for (i = 0; i < WB_BM_MAX_PEERS; i++) {
			d->bm_peer[i].stamp = wb_le64_put(sb->bm_peer[i].stamp);
			d->bm_peer[i].crc = wb_le32_put(sb->bm_peer[i].crc);
			d->bm_peer[i].flags = wb_le32_put(sb->bm_peer[i].flags);
			d->bm_since[i] = wb_le64_put(sb->bm_peer[i].since);
			memcpy(d->bm_owner[i], sb->bm_owner[i], WB_BM_OWNER_LEN);
		}
	}
	d->crc = wb_le32_put(sb_crc(d));
}

int wb_sb_decode(const void *slot, uint64_t dev_bytes, struct wb_sb *sb, char *why, size_t whylen)
{
	const struct wb_sb_disk *d = slot;

	/* the whole host copy, padding included, so two decodes of one slot
	 * compare equal byte for byte */
	memset(sb, 0, sizeof(*sb));
	if (wb_le64_get(d->magic) != WB_SB_MAGIC) {
		snprintf(why, whylen, "bad magic");
		return -EPROTO;
	}
	if (wb_le32_get(d->crc) != sb_crc(d)) {
		snprintf(why, whylen, "checksum mismatch");
		return -EINVAL;
	}
	sb->version = wb_le32_get(d->version);
	if (sb->version < WB_FORMAT_VERSION_MIN || sb->version > WB_FORMAT_VERSION) {
		snprintf(why, whylen, "unsupported format version %u (this build: %u..%u)",
			 sb->version, WB_FORMAT_VERSION_MIN, WB_FORMAT_VERSION);
		return -EINVAL;
	}
	memcpy(sb->uuid, d->uuid, WB_UUID_LEN);
	sb->sb_seq = wb_le64_get(d->sb_seq);
	sb->log_size = wb_le64_get(d->log_size);
	sb->dev_size = wb_le64_get(d->dev_size);
	sb->data_off = wb_le64_get(d->data_off);
	sb->data_size = wb_le64_get(d->data_size);
	sb->seg_size = wb_le32_get(d->seg_size);
	sb->nslots = wb_le32_get(d->nslots);
	sb->max_rec_blocks = wb_le32_get(d->max_rec_blocks);
	sb->flags = wb_le32_get(d->flags);
	sb->epoch = wb_le64_get(d->epoch);
	sb->tail_off = wb_le64_get(d->tail_off);
	sb->tail_seq = wb_le64_get(d->tail_seq);
	sb->tail_min_epoch = wb_le64_get(d->tail_min_epoch);
	sb->tail_gen = wb_le64_get(d->tail_gen);
	sb->destaged_seq = wb_le64_get(d->destaged_seq);
	sb->destaged_gen = wb_le64_get(d->destaged_gen);
	sb->create_time = wb_le64_get(d->create_time);
	sb->update_time = wb_le64_get(d->update_time);
	sb->head_hint_off = wb_le64_get(d->head_hint_off);
	sb->head_hint_seq = wb_le64_get(d->head_hint_seq);
	if (sb_meta_decode(d, sb, why, whylen))
		return -EINVAL;

	if (sb->nslots < WB_SB_SLOTS || sb->nslots > WB_SB_MAX_SLOTS ||
	    sb->seg_size < 2 * WB_DISK_BLOCK || sb->seg_size % WB_DISK_BLOCK ||
	    sb->data_off < sb->nslots * (uint64_t)WB_DISK_BLOCK || sb->data_off % WB_DISK_BLOCK ||
	    sb->data_size % sb->seg_size || sb->data_size < 2ull * sb->seg_size ||
	    sb->data_off + sb->data_size < sb->data_off ||
	    sb->data_off + sb->data_size > sb->log_size || sb->max_rec_blocks == 0 ||
	    sb->max_rec_blocks > WB_REC_MAX_DATA_BLOCKS ||
	    (sb->max_rec_blocks + 1ull) * WB_DISK_BLOCK > sb->seg_size ||
	    sb->dev_size % WB_DISK_BLOCK || sb->dev_size == 0) {
		snprintf(why, whylen, "inconsistent geometry");
		return -EINVAL;
	}
	if (sb_bm_check(sb, why, whylen))
		return -EINVAL;
	if (sb->tail_off < sb->data_off || sb->tail_off >= sb->data_off + sb->data_size ||
	    sb->tail_off % WB_DISK_BLOCK || sb->tail_seq == 0) {
		snprintf(why, whylen, "tail 0x%llx outside the data area",
			 (unsigned long long)sb->tail_off);
		return -EINVAL;
	}
	if (dev_bytes && sb->log_size > dev_bytes) {
		snprintf(why, whylen, "superblock says the log is %llu bytes, device has %llu",
			 (unsigned long long)sb->log_size, (unsigned long long)dev_bytes);
		return -EINVAL;
	}
	return 0;
}

int wb_sb_format(struct wb_io *io, uint64_t dev_size, uint32_t seg_size, struct wb_sb *out)
{
	return wb_sb_format_bm(io, dev_size, seg_size, 0, 0, out);
}

/* The geometry of a new log in *sb: bitmap areas (bm_npeers, 0 = none),
 * the data area in whole segments after them, record size, UUIDs and the
 * empty ring's tail. 0 or -errno (logged). */
static int sb_plan(const struct wb_io *io, uint64_t dev_size, uint32_t seg_size, uint32_t bm_npeers,
		   uint32_t bm_region, struct wb_sb *sb)
{
	uint64_t bm_end = WB_SB_SLOTS * (uint64_t)WB_DISK_BLOCK;
	uint64_t size = io->size & ~(uint64_t)(WB_DISK_BLOCK - 1);

	if (seg_size % WB_DISK_BLOCK || seg_size < 2 * WB_DISK_BLOCK) {
		wb_msg(WB_LOG_ERR, "log %s: segment size %u is not a multiple of 4096 >= 8192",
		       io->name, seg_size);
		return -EINVAL;
	}
	if (!dev_size || dev_size % WB_DISK_BLOCK) {
		wb_msg(WB_LOG_ERR, "log %s: device size %llu is not a non-zero multiple of 4096",
		       io->name, (unsigned long long)dev_size);
		return -EINVAL;
	}
	memset(sb, 0, sizeof(*sb));
	if (bm_npeers) {
		if (bm_npeers > WB_BM_MAX_PEERS || bm_region < WB_DISK_BLOCK ||
		    bm_region > (1u << 30) || (bm_region & (bm_region - 1))) {
			wb_msg(WB_LOG_ERR,
			       "log %s: bitmaps: %u peers (1..%u) at %u bytes per bit (a power "
			       "of two, 4 KiB..1 GiB)",
			       io->name, bm_npeers, WB_BM_MAX_PEERS, bm_region);
			return -EINVAL;
		}
		sb->bm_region_shift = (uint32_t)__builtin_ctz(bm_region);
		sb->bm_npeers = bm_npeers;
		sb->bm_off = bm_end;
		sb->bm_bytes = wb_sb_bm_bytes(dev_size, sb->bm_region_shift);
		bm_end += 2ull * bm_npeers * sb->bm_bytes;
	}
	sb->nslots = WB_SB_SLOTS;
	sb->seg_size = seg_size;
	sb->log_size = size;
	sb->dev_size = dev_size;
	sb->data_off = (bm_end + seg_size - 1) / seg_size * seg_size;
	if (size < sb->data_off + 2ull * seg_size) {
		wb_msg(WB_LOG_ERR, "log %s: %llu bytes is too small (need >= %llu for 2 segments)",
		       io->name, (unsigned long long)size,
		       (unsigned long long)(sb->data_off + 2ull * seg_size));
		return -ENOSPC;
	}
	sb->data_size = wb_sb_data_size(sb, size);
	sb->max_rec_blocks = seg_size / WB_DISK_BLOCK - 1;
	if (sb->max_rec_blocks > WB_REC_MAX_DATA_BLOCKS)
		sb->max_rec_blocks = WB_REC_MAX_DATA_BLOCKS;
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != (ssize_t)sizeof(sb->uuid) ||
	    wb_sb_new_uuid(sb->data_uuid)) {
		wb_msg(WB_LOG_ERR, "log %s: getrandom for the log UUID failed", io->name);
		return -EIO;
	}
	sb->version = WB_FORMAT_VERSION;
	sb->epoch = 0;
	sb->tail_off = sb->data_off;
	sb->tail_seq = 1;
	sb->tail_gen = 1;
	sb->create_time = sb->update_time = sb->uuid_time = (uint64_t)time(NULL);
	return 0;
}

/* Write the planned log: the first record position cleared (nothing of a
 * previous log there) and flushed, then every slot (FUA) and a flush. */
static int sb_write_new(struct wb_io *io, struct wb_sb *sb)
{
	uint8_t *buf;
	uint32_t i;
	int ret;

	buf = wb_io_alloc(WB_DISK_BLOCK);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, WB_DISK_BLOCK);
	ret = wb_io_pwrite(io, buf, WB_DISK_BLOCK, sb->data_off, 0);
	if (ret < 0)
		goto out_io;
	ret = wb_io_flush(io);
	if (ret < 0)
		goto out_io;
	for (i = 0; i < WB_SB_SLOTS; i++) {
		sb->sb_seq = WB_SB_SLOTS + i; /* slot i, all valid, newest = last */
		wb_sb_encode(sb, buf);
		ret =
		    wb_io_pwrite(io, buf, WB_DISK_BLOCK, wb_sb_slot_off(sb, sb->sb_seq), WB_IO_FUA);
		if (ret < 0)
			goto out_io;
	}
	ret = wb_io_flush(io);
	if (ret < 0)
		goto out_io;
	wb_io_free(buf);
	return 0;
out_io:
	wb_msg(WB_LOG_ERR, "log %s: format failed: %s", io->name, strerror(-ret));
	wb_io_free(buf);
	return ret;
}

int wb_sb_format_bm(struct wb_io *io, uint64_t dev_size, uint32_t seg_size, uint32_t bm_npeers,
		    uint32_t bm_region, struct wb_sb *out)
{
	struct wb_sb sb;
	int ret;

	if (!seg_size)
		seg_size = 2u << 20; /* a 1 MiB write fits one record (256 blocks + header) */
	ret = sb_plan(io, dev_size, seg_size, bm_npeers, bm_region, &sb);
	if (ret)
		return ret;
	ret = sb_write_new(io, &sb);
	if (ret)
		return ret;
	if (out)
		*out = sb;
	return 0;
}

/*
 * Slots 0..WB_SB_SLOTS-1 exist in every ring. A ring of more slots (nslots,
 * up to WB_SB_MAX_SLOTS) is declared by its superblocks: the newest valid
 * copy among the first WB_SB_SLOTS says how many slots the ring has, and
 * every one of them is read, so the copy that the writer will overwrite
 * next (sb_seq + 1) is always one the loader has seen. Slots past the first
 * WB_SB_SLOTS count only if they belong to that ring (same UUID and nslots):
 * they never widen the ring themselves.
 */
int wb_sb_load(struct wb_io *io, struct wb_sb *out, char *err, size_t errlen)
{
	struct wb_sb sb, best;
	char why[160], first_why[200] = "";
	uint8_t *buf;
	int ret, have = 0, nmagic = 0;
	uint32_t i, nslots = WB_SB_SLOTS;

	if (io->size < WB_SB_SLOTS * (uint64_t)WB_DISK_BLOCK) {
		snprintf(err, errlen, "log %s: device too small (%llu bytes) to hold a wblog log",
			 io->name, (unsigned long long)io->size);
		return -EPROTO;
	}
	buf = wb_io_alloc(WB_DISK_BLOCK);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < WB_SB_MAX_SLOTS; i++) {
		if (i == WB_SB_SLOTS && have && best.nslots > WB_SB_SLOTS)
			nslots = best.nslots; /* decode bounded it by WB_SB_MAX_SLOTS */
		if (i >= nslots)
			break;
		ret = wb_io_pread(io, buf, WB_DISK_BLOCK, (uint64_t)i * WB_DISK_BLOCK);
		if (ret < 0) {
			snprintf(err, errlen, "log %s: reading superblock slot %u: %s", io->name, i,
				 strerror(-ret));
			wb_io_free(buf);
			return ret;
		}
		ret = wb_sb_decode(buf, io->size, &sb, why, sizeof(why));
		if (ret != -EPROTO)
			nmagic++;
		if (ret) {
			if (!first_why[0] && ret != -EPROTO)
				snprintf(first_why, sizeof(first_why), "slot %u: %s", i, why);
			continue;
		}
		if (sb.sb_seq % sb.nslots != i) {
			if (!first_why[0])
				snprintf(first_why, sizeof(first_why),
					 "slot %u: holds sb_seq %llu of another slot", i,
					 (unsigned long long)sb.sb_seq);
			continue;
		}
		if (i >= WB_SB_SLOTS &&
		    (sb.nslots != nslots || memcmp(sb.uuid, best.uuid, WB_UUID_LEN))) {
			if (!first_why[0])
				snprintf(first_why, sizeof(first_why),
					 "slot %u: not part of the %u-slot ring", i, nslots);
			continue;
		}
		if (!have || sb.sb_seq > best.sb_seq) {
			if (have && memcmp(sb.uuid, best.uuid, WB_UUID_LEN))
				wb_msg(WB_LOG_WARN, "log %s: superblock slots of two logs",
				       io->name);
			best = sb;
			have = 1;
		}
	}
	wb_io_free(buf);
	if (!nmagic) {
		snprintf(err, errlen, "log %s: not a wblog log (no superblock magic in %u slots)",
			 io->name, WB_SB_SLOTS);
		return -EPROTO;
	}
	if (!have) {
		snprintf(err, errlen, "log %s: no valid superblock (%s)", io->name, first_why);
		return -EUCLEAN;
	}
	*out = best;
	return 0;
}

int wb_sb_upgrade(struct wb_io *io, uint32_t node_id, struct wb_sb *out, char *err, size_t errlen)
{
	struct wb_sb sb;
	uint8_t *buf;
	uint32_t i, shift;
	int ret;

	ret = wb_sb_load(io, &sb, err, errlen);
	if (ret)
		return ret;
	if (sb.version >= 2) {
		if (out)
			*out = sb;
		return 1;
	}
	sb.version = 2;
	sb.node_id = node_id;
	sb.nhistory = 0;
	memset(sb.uuid_history, 0, sizeof(sb.uuid_history));
	if (wb_sb_new_uuid(sb.data_uuid)) {
		snprintf(err, errlen, "log %s: getrandom for the data UUID failed", io->name);
		return -EIO;
	}
	sb.uuid_time = (uint64_t)time(NULL);
	/* bitmaps in the unused bytes between the slots and the data area */
	for (shift = 16; shift <= 30; shift++) {
		uint64_t start = sb.nslots * (uint64_t)WB_DISK_BLOCK,
			 bytes = wb_sb_bm_bytes(sb.dev_size, shift);

		if (start + 2ull * WB_BM_DEFAULT_PEERS * bytes <= sb.data_off) {
			sb.bm_region_shift = shift;
			sb.bm_npeers = WB_BM_DEFAULT_PEERS;
			sb.bm_off = start;
			sb.bm_bytes = bytes;
			break;
		}
	}
	buf = wb_io_alloc(WB_DISK_BLOCK);
	if (!buf)
		return -ENOMEM;
	/* Every slot, oldest position first: each write is a complete copy of
	 * the same state, so whichever copy is newest after a crash opens; no
	 * version 1 copy is left behind to be taken by an older build. */
	for (i = 0, ret = 0; i < sb.nslots && !ret; i++) {
		sb.sb_seq++;
		sb.update_time = (uint64_t)time(NULL);
		wb_sb_encode(&sb, buf);
		ret =
		    wb_io_pwrite(io, buf, WB_DISK_BLOCK, wb_sb_slot_off(&sb, sb.sb_seq), WB_IO_FUA);
	}
	if (!ret)
		ret = wb_io_flush(io);
	wb_io_free(buf);
	if (ret < 0) {
		snprintf(err, errlen, "log %s: upgrade: writing the superblock: %s", io->name,
			 strerror(-ret));
		return ret;
	}
	if (out)
		*out = sb;
	return 0;
}
