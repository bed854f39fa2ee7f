// SPDX-License-Identifier: GPL-2.0-only
/*
 * logprobe.c - what a log device holds, for the format policy of wbrepd
 * (up, --create-md) and `wbengine format` (wb_log_probe in wbengine.h).
 *
 * A log is formatted at `up` only when it is certainly new: no superblock
 * magic in any slot, no record header magic in any 4 KiB block of the
 * device, and a zero first MiB (no other data either). Anything else is
 * described (a valid log: records and data bytes not yet on the backing
 * device; traces of a log: the record headers found) so that the caller
 * can refuse with what was found. Reads only; owns its read buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/recovery.h"
#include "engine/record.h"
#include "engine/wbengine.h"
#include "engine/superblock.h"

#define LP_CHUNK (4u << 20)
#define LP_ZERO	 (1u << 20) /* the first MiB must be zero for BLANK */

struct lp_scan {
	uint64_t nmagic;    /* blocks starting with the record magic */
	uint64_t nvalid;    /* of them: a header with a correct crc */
	uint64_t first_off; /* the first record magic */
	uint64_t seq_lo, seq_hi;
	int nonzero; /* something in the first MiB */
};

/* Every 4 KiB block of the device: record magic, valid headers, zeroes. */
static int lp_scan_dev(struct wb_io *io, struct lp_scan *s)
{
	uint64_t size = io->size & ~(uint64_t)(WB_DISK_BLOCK - 1), off;
	struct wb_rec_info *ri = malloc(sizeof(*ri));
	uint8_t *buf = wb_io_alloc(LP_CHUNK);
	int ret = 0;

	memset(s, 0, sizeof(*s));
	if (!ri || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (off = 0; off < size; off += LP_CHUNK) {
		uint64_t n = size - off < LP_CHUNK ? size - off : LP_CHUNK, b;

		ret = wb_io_pread(io, buf, n, off);
		if (ret < 0)
			goto out;
		ret = 0;
		for (b = 0; b < n; b += WB_DISK_BLOCK) {
			const struct wb_rec_disk *d = (const void *)(buf + b);

			if (off + b < LP_ZERO && !s->nonzero) {
				const uint64_t *w = (const void *)(buf + b);
				uint32_t i;

				for (i = 0; i < WB_DISK_BLOCK / 8; i++)
					if (w[i]) {
						s->nonzero = 1;
						break;
					}
			}
			if (wb_le64_get(d->magic) != WB_REC_MAGIC)
				continue;
			if (!s->nmagic++)
				s->first_off = off + b;
			if (wb_record_decode(d, WB_DISK_BLOCK, NULL, ri))
				continue;
			if (!s->nvalid++ || ri->seq < s->seq_lo)
				s->seq_lo = ri->seq;
			if (ri->seq > s->seq_hi)
				s->seq_hi = ri->seq;
		}
	}
out:
	free(ri);
	wb_io_free(buf);
	return ret;
}

static void lp_traces(char *p, size_t len, const struct lp_scan *s)
{
	if (!s->nmagic)
		snprintf(p, len, "no record headers");
	else if (!s->nvalid)
		snprintf(p, len,
			 "%" PRIu64 " blocks with the record magic (first at 0x%" PRIx64
			 "), none a valid header",
			 s->nmagic, s->first_off);
	else
		snprintf(p, len,
			 "%" PRIu64 " record headers (%" PRIu64 " valid, seq %" PRIu64 "..%" PRIu64
			 ", first at 0x%" PRIx64 ")",
			 s->nmagic, s->nvalid, s->seq_lo, s->seq_hi, s->first_off);
}

int wb_log_probe(struct wb_io *log, struct wb_log_probe *out)
{
	struct wb_recovery rc;
	struct lp_scan s;
	struct wb_sb sb;
	char err[320], tr[200];
	int ret, nosb;

	memset(out, 0, sizeof(*out));
	ret = wb_sb_load(log, &sb, err, sizeof(err));
	if (ret == 0) {
		ret = wb_recovery_scan(log, &sb, sb.dev_size / WB_DISK_BLOCK, NULL, NULL, &rc);
		if (ret < 0)
			goto out_err;
		out->state = WB_LOG_VALID;
		out->records = rc.nrecs;
		out->dirty_bytes = rc.data_bytes;
		out->seq_lo = sb.tail_seq;
		out->seq_hi = rc.next_seq - 1;
		if (rc.nrecs)
			snprintf(out->what, sizeof(out->what),
				 "a wblog log holding %" PRIu64 " records (seq %" PRIu64
				 "..%" PRIu64 ") with %" PRIu64
				 " bytes of data not yet destaged to the backing device",
				 rc.nrecs, out->seq_lo, out->seq_hi, rc.data_bytes);
		else
			snprintf(out->what, sizeof(out->what),
				 "a wblog log with nothing left to destage (next seq %" PRIu64 ")",
				 rc.next_seq);
		return 0;
	}
	if (ret != -EPROTO && ret != -EUCLEAN && ret != -EINVAL)
		goto out_err;
	nosb = ret == -EPROTO; /* no superblock magic in any slot (or too small) */
	/* no valid superblock: look at every block of the device */
	ret = lp_scan_dev(log, &s);
	if (ret < 0)
		goto out_err;
	out->records = s.nmagic;
	out->seq_lo = s.seq_lo;
	out->seq_hi = s.seq_hi;
	if (nosb && !s.nmagic && !s.nonzero) {
		out->state = WB_LOG_BLANK;
		snprintf(out->what, sizeof(out->what),
			 "blank (no superblock, no record header, first MiB zero)");
	} else if (nosb && !s.nmagic) {
		out->state = WB_LOG_OTHER;
		snprintf(out->what, sizeof(out->what),
			 "no wblog superblock or record header, but the first MiB holds data");
	} else {
		out->state = WB_LOG_DAMAGED;
		lp_traces(tr, sizeof(tr), &s);
		snprintf(out->what, sizeof(out->what), "%s; %s",
			 nosb ? "no superblock in any slot" : err, tr);
	}
	return 0;
out_err:
	snprintf(out->what, sizeof(out->what), "log %s: reading it: %s", log->name, strerror(-ret));
	return ret;
}
