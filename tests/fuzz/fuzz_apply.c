// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_apply.c - libFuzzer target for apply_record, the entry point of
 * records a peer sends (untrusted once the wire frame is parsed): seq,
 * generation, flags, extent list and data come from the input and go to a
 * wblog replica on in-memory fault devices (opened once, kept across
 * inputs, so the log fills, destages and wraps).
 *
 * Invariants: nothing crashes or reads out of bounds (ASan); every return
 * is one of the documented codes; an accepted new record moves seq_head by
 * exactly one, completes exactly once from run() with 0, and its first
 * block reads back; re-applying an accepted record succeeds (idempotent)
 * unless it already left the log (-EALREADY below seq_tail);
 * a refused record changes nothing.
 *
 * Built by `make fuzz`, run briefly by `make test` (tests/fuzz/test_fuzz.sh).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "engine/wbengine.h"

#define FZ_BLOCKS 256u /* 1 MiB device */
#define FZ_MAXEXT 8u

extern const struct wb_engine_ops wb_wblog_ops;

static struct wb_engine *fz_e;
static struct wb_io *fz_log, *fz_bak;

static void fz_quiet(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

static void fz_open(void)
{
	struct wb_fault_cfg cfg = {0};
	struct wb_engine_params p = {0};

	wb_msg_set_sink(fz_quiet, NULL, WB_LOG_ERR);
	if (wb_io_fault_open("log", 4u << 20, &cfg, &fz_log) ||
	    /* + the identity block after the exported range (engine/bind.h) */
	    wb_io_fault_open("bak", FZ_BLOCKS * 4096u + 4096u, &cfg, &fz_bak))
		abort();
	p.name = "fz";
	p.log_io = fz_log;
	p.backing_io = fz_bak;
	p.log_segment_size = 256u << 10;
	p.ram_pages = 256;
	p.role = WB_ROLE_REPLICA;
	if (wb_wblog_ops.format(&p) || wb_wblog_ops.open(&p, &fz_e))
		abort();
}

static void fz_done(void *arg, int err)
{
	int *d = arg;

	if (err)
		abort();
	(*d)++;
}

static struct wb_engine_stats fz_stats(void)
{
	struct wb_engine_stats st;

	if (wb_engine_stats(fz_e, &st))
		abort();
	return st;
}

/* Apply; on -EAGAIN (RAM buffer full) run and retry a few times. */
static int fz_apply(const struct wb_record *rec, int *done)
{
	int ret, i;

	for (i = 0; i < 100; i++) {
		ret = wb_engine_apply_record(fz_e, rec, fz_done, done);
		if (ret != -EAGAIN)
			return ret;
		wb_engine_run(fz_e, 1);
	}
	return ret;
}

static void fz_wait(int *done, int want)
{
	int i;

	for (i = 0; i < 100000 && *done < want; i++)
		wb_engine_run(fz_e, 1);
	if (*done != want)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[FZ_MAXEXT * 8 * 4096];
	struct wb_extent ext[FZ_MAXEXT];
	size_t pos = 0;

	if (!fz_e)
		fz_open();
	/* one record per 5 + 4 * nextents input bytes */
	while (pos + 5 <= size) {
		struct wb_engine_stats st = fz_stats();
		const uint8_t *h = data + pos;
		struct wb_record rec = {0};
		uint32_t i, blocks = 0, n = h[3] % (FZ_MAXEXT + 1);
		int done = 0, ret;

		pos += 5;
		if (pos + 4 * n > size)
			break;
		rec.seq = st.seq_head + h[0] % 4 - 1; /* around the head: -1 .. +2 */
		rec.gen = st.gen_head + h[1] % 3 - 1;
		rec.flags = h[2] & 0x83; /* known flags and an unknown one */
		rec.nextents = n;
		rec.ext = ext;
		for (i = 0; i < n; i++, pos += 4) {
			const uint8_t *x = data + pos;

			ext[i].lba = x[0] | ((uint64_t)(x[3] & 1) << 8); /* may pass the end */
			ext[i].nblocks = x[1] % 9;			 /* 0 is invalid */
			if (!(rec.flags & WB_REC_F_ZERO)) {
				uint32_t k;

				for (k = 0; k < ext[i].nblocks; k++)
					memset(buf + (size_t)(blocks + k) * 4096, x[2] + k, 4096);
				ext[i].crc = wb_crc32c(0, buf + (size_t)blocks * 4096,
						       (size_t)ext[i].nblocks * 4096);
				blocks += ext[i].nblocks;
			} else {
				ext[i].crc = 0;
			}
			if (x[3] & 2)
				ext[i].crc ^= 1; /* corrupt */
		}
		rec.data = buf;
		ret = fz_apply(&rec, &done);
		switch (ret) {
		case 0:
			fz_wait(&done, 1);
			if (rec.seq == st.seq_head) {
				uint8_t back[4096];

				if (fz_stats().seq_head != st.seq_head + 1)
					abort();
				/* the last extent is the newest copy of its blocks */
				if (n && !(rec.flags & WB_REC_F_ZERO)) {
					const struct wb_extent *l = &ext[n - 1];
					size_t off = (size_t)(blocks - l->nblocks) * 4096;

					if (wb_engine_read(fz_e, back, 4096, l->lba * 4096) ||
					    memcmp(back, buf + off, 4096))
						abort();
				}
			} else if (fz_stats().seq_head != st.seq_head) {
				abort();
			}
			/* again: idempotent (or already released from the log) */
			done = 0;
			ret = fz_apply(&rec, &done);
			if (ret == -EALREADY && fz_stats().seq_tail > rec.seq)
				break;
			if (ret != 0)
				abort();
			fz_wait(&done, 1);
			break;
		case -ERANGE:
		case -EEXIST:
		case -EALREADY:
		case -EINVAL:
		case -EBADMSG:
		case -E2BIG:
		case -EAGAIN:
			if (fz_stats().seq_head != st.seq_head)
				abort();
			wb_engine_run(fz_e, 0);
			if (done)
				abort(); /* a refused record never completes */
			break;
		default:
			abort();
		}
	}
	return 0;
}
