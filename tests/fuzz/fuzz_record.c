// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_record.c - libFuzzer target for the on-disk parsers of the wblog log
 * (untrusted input on open and in `wbengine`): wb_record_decode() and
 * wb_record_check_data() on a raw header + data, wb_sb_decode() on a
 * superblock slot (as given, and with its crc fixed so the geometry and the
 * format version 2 metadata checks see the input), and wb_recovery_scan()
 * over a small log image made of the input. Invariants: nothing crashes or
 * reads out of bounds (ASan); a decoded header re-encodes to a header that
 * decodes to the same record; a decoded superblock re-encodes to the same
 * slot image (version 2: every byte a decoder accepted is one it knows, pad
 * aside) and decodes to the same struct; a scanned run never claims more
 * bytes than the data area.
 *
 * Built by `make fuzz`, run briefly by `make test` (tests/fuzz/test_fuzz.sh)
 * with the seeds in tests/fuzz/corpus/record/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/recovery.h"
#include "engine/record.h"
#include "engine/wbengine.h"
#include "engine/superblock.h"

#define FZ_SEG	 8192u
#define FZ_SLOTS (4u * 4096)

static void fz_record(const uint8_t *data, size_t size)
{
	static uint8_t hdr[4096], again[4096];
	struct wb_rec_expect x = {.uuid = NULL, .self_off = UINT64_MAX, .dev_blocks = 1u << 20};
	struct wb_rec_info *ri = malloc(sizeof(*ri)), *r2 = malloc(sizeof(*r2));
	uint8_t uuid[WB_UUID_LEN];

	if (!ri || !r2)
		goto out;
	if (wb_record_decode(data, size, &x, ri) == 0) {
		/* the data that follows, if the input has it */
		if (size >= 4096 + (uint64_t)ri->data_blocks * 4096 && ri->data_blocks <= 64)
			(void)wb_record_check_data(ri, data + 4096, NULL);
		memcpy(uuid, ((const struct wb_rec_disk *)data)->uuid, WB_UUID_LEN);
		if (wb_record_encode(hdr, uuid, ri) == 0) {
			x.uuid = uuid;
			if (wb_record_decode(hdr, sizeof(hdr), &x, r2) != 0)
				abort();
			if (r2->seq != ri->seq || r2->gen != ri->gen ||
			    r2->nextents != ri->nextents || r2->data_blocks != ri->data_blocks ||
			    memcmp(r2->ext, ri->ext, ri->nextents * sizeof(ri->ext[0])))
				abort();
			memcpy(again, hdr, sizeof(again));
			if (wb_record_encode(hdr, uuid, r2) || memcmp(hdr, again, sizeof(hdr)))
				abort();
		}
	}
out:
	free(ri);
	free(r2);
}

static void fz_sb(const uint8_t *data, size_t size)
{
	static uint8_t slot[4096], again[4096];
	struct wb_sb_disk *d = (struct wb_sb_disk *)slot;
	struct wb_sb sb, sb2;
	char why[160];
	size_t end;

	memset(slot, 0, sizeof(slot));
	memset(&sb, 0, sizeof(sb)); /* padding: compared whole below */
	memset(&sb2, 0, sizeof(sb2));
	memcpy(slot, data, size < sizeof(slot) ? size : sizeof(slot));
	(void)wb_sb_decode(slot, 1u << 20, &sb, why, sizeof(why));
	(void)wb_sb_decode(slot, 0, &sb, why, sizeof(why));
	/* the same slot with a valid crc: everything past it is checked */
	d->crc = 0;
	d->crc = wb_le32_put(wb_crc32c(0, slot, sizeof(slot)));
	if (wb_sb_decode(slot, 0, &sb, why, sizeof(why)))
		return;
	for (unsigned i = 0; i < WB_BM_MAX_PEERS; i++) /* a name, or "" past the slots */
		if (!wb_sb_owner_ok(sb.bm_owner[i]) || (i >= sb.bm_npeers && sb.bm_owner[i][0]))
			abort();
	wb_sb_encode(&sb, again);
	if (wb_sb_decode(again, 0, &sb2, why, sizeof(why)) || memcmp(&sb, &sb2, sizeof(sb)))
		abort();
	/* the encoder writes every field the decoder read: equal up to the
	 * end of the fields of the version (the crc also covers the pad,
	 * which the encoder zeroes) */
	end = sb.version >= 2 ? offsetof(struct wb_sb_disk, pad)
			      : offsetof(struct wb_sb_disk, node_id);
	if (memcmp(slot, again, offsetof(struct wb_sb_disk, crc)) ||
	    memcmp(slot + offsetof(struct wb_sb_disk, uuid),
		   again + offsetof(struct wb_sb_disk, uuid),
		   end - offsetof(struct wb_sb_disk, uuid)))
		abort();
}

/* The input (after 16 bytes of parameters) becomes the data area of a log. */
static void fz_scan(const uint8_t *data, size_t size)
{
	struct wb_fault_cfg cfg = {0};
	struct wb_io *io = NULL;
	struct wb_recovery rc;
	struct wb_sb sb;
	uint64_t area;
	uint8_t *img;

	if (size < 16)
		return;
	area = (((size - 16) + FZ_SEG - 1) / FZ_SEG) * FZ_SEG;
	if (area < 2 * FZ_SEG)
		area = 2 * FZ_SEG;
	if (area > 32 * FZ_SEG)
		return;
	if (wb_io_fault_open("fuzz", FZ_SLOTS + area, &cfg, &io))
		return;
	img = wb_io_alloc(area);
	if (!img)
		goto out;
	memset(img, 0, area);
	memcpy(img, data + 16, size - 16);
	if (wb_io_pwrite(io, img, area, FZ_SLOTS, 0))
		goto out_img;
	memset(&sb, 0, sizeof(sb));
	sb.nslots = 4;
	sb.seg_size = FZ_SEG;
	sb.data_off = FZ_SLOTS;
	sb.data_size = area;
	sb.log_size = FZ_SLOTS + area;
	sb.dev_size = 1u << 20;
	sb.max_rec_blocks = FZ_SEG / 4096 - 1;
	/* uuid: the one in the first header, so chains can be found */
	if (size >= 16 + 32)
		memcpy(sb.uuid, data + 16 + 16, WB_UUID_LEN);
	sb.tail_off = FZ_SLOTS + (data[0] % (area / 4096)) * 4096;
	sb.tail_seq = 1 + data[1];
	sb.epoch = data[2];
	sb.tail_min_epoch = data[3] % 4;
	if (wb_recovery_scan(io, &sb, 256, NULL, NULL, &rc) == 0 && rc.used > area)
		abort();
out_img:
	wb_io_free(img);
out:
	wb_io_close(io);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;

	if (!quiet) {
		wb_msg_set_sink(NULL, NULL, -1); /* no messages */
		quiet = 1;
	}
	fz_record(data, size);
	fz_sb(data, size);
	fz_scan(data, size);
	return 0;
}
