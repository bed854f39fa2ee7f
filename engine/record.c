// SPDX-License-Identifier: GPL-2.0-only
/*
 * record.c - wblog record header encoding and validation (see record.h).
 *
 * Owns nothing but the rules: what a valid record header is. The decoder
 * never trusts a length before it was bounded and never reads past `len`.
 */
#include <errno.h>
#include <string.h>

#include "engine/record.h"

#define WB_REC_KNOWN_FLAGS (WB_REC_F_GEN_END | WB_REC_F_ZERO)

static uint32_t rec_crc(const struct wb_rec_disk *d)
{
	struct wb_rec_disk tmp;

	memcpy(&tmp, d, sizeof(tmp));
	tmp.hdr_crc = 0;
	return wb_crc32c(0, &tmp, sizeof(tmp));
}

int wb_record_encode(void *hdr, const uint8_t uuid[WB_UUID_LEN], struct wb_rec_info *ri)
{
	struct wb_rec_disk *d = hdr;
	uint32_t i, blocks = 0;

	if (ri->nextents > WB_REC_MAX_EXT)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->magic = wb_le64_put(WB_REC_MAGIC);
	d->version = wb_le32_put(WB_REC_VERSION);
	memcpy(d->uuid, uuid, WB_UUID_LEN);
	d->seq = wb_le64_put(ri->seq);
	d->gen = wb_le64_put(ri->gen);
	d->epoch = wb_le64_put(ri->epoch);
	d->self_off = wb_le64_put(ri->self_off);
	d->flags = wb_le32_put(ri->flags);
	d->nextents = wb_le32_put(ri->nextents);
	d->time_ns = wb_le64_put(ri->time_ns);
	d->durable_seq = wb_le64_put(ri->durable_seq);
	for (i = 0; i < ri->nextents; i++) {
		d->ext[i].lba = wb_le64_put(ri->ext[i].lba);
		d->ext[i].nblocks = wb_le32_put(ri->ext[i].nblocks);
		d->ext[i].crc = wb_le32_put(ri->ext[i].crc);
		blocks += ri->ext[i].nblocks;
	}
	if (ri->flags & WB_REC_F_ZERO)
		blocks = 0;
	ri->data_blocks = blocks;
	d->data_blocks = wb_le32_put(blocks);
	d->hdr_crc = wb_le32_put(rec_crc(d));
	return 0;
}

int wb_record_decode(const void *buf, size_t len, const struct wb_rec_expect *x,
		     struct wb_rec_info *out)
{
	const struct wb_rec_disk *d = buf;
	uint64_t sum = 0;
	uint32_t i, n;

	if (!buf || len < sizeof(*d))
		return -WB_REC_ETRUNC;
	if (wb_le64_get(d->magic) != WB_REC_MAGIC)
		return -WB_REC_EMAGIC;
	if (wb_le32_get(d->version) != WB_REC_VERSION)
		return -WB_REC_EVERSION;
	if (x && x->uuid && memcmp(d->uuid, x->uuid, WB_UUID_LEN))
		return -WB_REC_EUUID;
	if (wb_le32_get(d->hdr_crc) != rec_crc(d))
		return -WB_REC_ECRC;
	if (x && x->self_off != UINT64_MAX && wb_le64_get(d->self_off) != x->self_off)
		return -WB_REC_EOFFSET;
	if (wb_le32_get(d->flags) & ~WB_REC_KNOWN_FLAGS)
		return -WB_REC_EFLAGS;
	n = wb_le32_get(d->nextents);
	if (n > WB_REC_MAX_EXT)
		return -WB_REC_EEXTENTS;
	out->seq = wb_le64_get(d->seq);
	out->gen = wb_le64_get(d->gen);
	out->epoch = wb_le64_get(d->epoch);
	out->self_off = wb_le64_get(d->self_off);
	out->time_ns = wb_le64_get(d->time_ns);
	out->durable_seq = wb_le64_get(d->durable_seq);
	out->flags = wb_le32_get(d->flags);
	out->nextents = n;
	out->data_blocks = wb_le32_get(d->data_blocks);
	for (i = 0; i < n; i++) {
		struct wb_extent *e = &out->ext[i];

		e->lba = wb_le64_get(d->ext[i].lba);
		e->nblocks = wb_le32_get(d->ext[i].nblocks);
		e->crc = wb_le32_get(d->ext[i].crc);
		if (e->nblocks == 0 || e->lba + e->nblocks < e->lba)
			return -WB_REC_ELENGTH;
		if (x && x->dev_blocks && e->lba + e->nblocks > x->dev_blocks)
			return -WB_REC_ELENGTH;
		sum += e->nblocks;
	}
	if (out->flags & WB_REC_F_ZERO) {
		if (out->data_blocks != 0)
			return -WB_REC_ELENGTH;
	} else if (sum != out->data_blocks) {
		return -WB_REC_ELENGTH;
	}
	if (x && x->max_data_blocks && out->data_blocks > x->max_data_blocks)
		return -WB_REC_ELENGTH;
	return 0;
}

int wb_record_check_data(const struct wb_rec_info *ri, const void *data, uint32_t *bad_ext)
{
	const uint8_t *p = data;
	uint32_t i;

	if (ri->flags & WB_REC_F_ZERO)
		return 0;
	for (i = 0; i < ri->nextents; i++) {
		size_t len = (size_t)ri->ext[i].nblocks * WB_DISK_BLOCK;

		if (wb_crc32c(0, p, len) != ri->ext[i].crc) {
			if (bad_ext)
				*bad_ext = i;
			return -WB_REC_EDATA;
		}
		p += len;
	}
	return 0;
}

const char *wb_record_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "ok";
	case WB_REC_ETRUNC:
		return "truncated record header";
	case WB_REC_EMAGIC:
		return "bad record magic";
	case WB_REC_EVERSION:
		return "unsupported record format version";
	case WB_REC_EUUID:
		return "record belongs to another log (foreign UUID)";
	case WB_REC_ECRC:
		return "record header checksum mismatch";
	case WB_REC_EOFFSET:
		return "record self-offset mismatch (stale or misplaced)";
	case WB_REC_EEXTENTS:
		return "record extent count out of bounds";
	case WB_REC_ELENGTH:
		return "record extent length out of bounds";
	case WB_REC_EDATA:
		return "record data checksum mismatch";
	case WB_REC_EFLAGS:
		return "record has unknown flags";
	default:
		return "unknown record error";
	}
}

/* Little-endian image of the node-independent fields, fed to crc32c. */
uint32_t wb_record_crc(const struct wb_record *rec)
{
	struct {
		wb_le64 seq, gen;
		wb_le32 flags, nextents;
	} h = {wb_le64_put(rec->seq), wb_le64_put(rec->gen), wb_le32_put(rec->flags),
	       wb_le32_put(rec->nextents)};
	uint32_t crc = wb_crc32c(0, &h, sizeof(h)), i;

	for (i = 0; i < rec->nextents; i++) {
		struct wb_ext_disk x = {wb_le64_put(rec->ext[i].lba),
					wb_le32_put(rec->ext[i].nblocks),
					wb_le32_put(rec->ext[i].crc)};

		crc = wb_crc32c(crc, &x, sizeof(x));
	}
	return crc;
}
