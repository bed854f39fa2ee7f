// SPDX-License-Identifier: GPL-2.0-only
/*
 * ttmodel.c - durability model and sector stamps for the crash tests; the
 * rules are in ttmodel.h. Owns the per-block write lists of one iteration.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wbengine.h"
#include "tests/crash/ttmodel.h"

#define TT_MAGIC      0x53544257u /* "WBTS" */
#define TT_MAX_REPORT 20

struct tt_wrec {
	uint64_t wid, ts, tc;
	uint8_t fua, zero;
};

struct tt_blk {
	struct tt_wrec *w;
	uint32_t n, cap;
};

struct tt_model {
	uint64_t nblocks;
	uint32_t iter;
	uint64_t now, next_wid, fmax, nwrites;
	struct tt_blk *blk;
	unsigned reported;
};

struct tt_model *tt_model_new(uint64_t nblocks, uint32_t iter, uint64_t seed)
{
	struct tt_model *m = calloc(1, sizeof(*m));

	(void)seed;
	if (!m)
		return NULL;
	m->blk = calloc(nblocks, sizeof(*m->blk));
	if (!m->blk) {
		free(m);
		return NULL;
	}
	m->nblocks = nblocks;
	m->iter = iter;
	m->now = 1;
	m->next_wid = 1;
	return m;
}

void tt_model_free(struct tt_model *m)
{
	if (!m)
		return;
	for (uint64_t i = 0; i < m->nblocks; i++)
		free(m->blk[i].w);
	free(m->blk);
	free(m);
}

uint64_t tt_tick(struct tt_model *m)
{
	return ++m->now;
}

static struct tt_wrec *tt_find(struct tt_blk *b, uint64_t wid)
{
	for (uint32_t i = b->n; i-- > 0;)
		if (b->w[i].wid == wid)
			return &b->w[i];
	return NULL;
}

uint64_t tt_write_submit(struct tt_model *m, uint64_t lba, uint32_t n, int fua, int zero)
{
	uint64_t wid = m->next_wid++, ts = tt_tick(m);

	for (uint64_t b = lba; b < lba + n && b < m->nblocks; b++) {
		struct tt_blk *k = &m->blk[b];

		if (k->n == k->cap) {
			uint32_t cap = k->cap ? 2 * k->cap : 4;
			struct tt_wrec *w = realloc(k->w, cap * sizeof(*w));

			if (!w) {
				fprintf(stderr, "ttmodel: out of memory\n");
				exit(2);
			}
			k->w = w;
			k->cap = cap;
		}
		k->w[k->n++] = (struct tt_wrec){
		    .wid = wid, .ts = ts, .tc = TT_NEVER, .fua = !!fua, .zero = !!zero};
	}
	m->nwrites++;
	return wid;
}

void tt_write_cancel(struct tt_model *m, uint64_t wid, uint64_t lba, uint32_t n)
{
	for (uint64_t b = lba; b < lba + n && b < m->nblocks; b++) {
		struct tt_blk *k = &m->blk[b];
		struct tt_wrec *w = tt_find(k, wid);

		if (w) {
			*w = k->w[k->n - 1];
			k->n--;
		}
	}
}

void tt_write_done(struct tt_model *m, uint64_t wid, uint64_t lba, uint32_t n, int ok)
{
	uint64_t tc = tt_tick(m);

	for (uint64_t b = lba; b < lba + n && b < m->nblocks; b++) {
		struct tt_wrec *w = tt_find(&m->blk[b], wid);

		if (w)
			w->tc = ok ? tc : TT_NEVER;
	}
}

void tt_flush_done(struct tt_model *m, uint64_t ts)
{
	tt_tick(m);
	if (ts > m->fmax)
		m->fmax = ts;
}

static uint64_t tt_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static void tt_stamp_sector(uint8_t *s, uint32_t iter, uint64_t lba, uint32_t sec, uint64_t wid)
{
	uint64_t x = tt_mix(wid * 0x9E3779B97F4A7C15ull ^ lba * 31 ^ sec ^ (uint64_t)iter << 40);
	uint32_t magic = TT_MAGIC, crc = 0;

	memcpy(s, &magic, 4);
	memcpy(s + 4, &iter, 4);
	memcpy(s + 8, &lba, 8);
	memcpy(s + 16, &wid, 8);
	memcpy(s + 24, &sec, 4);
	memcpy(s + 28, &crc, 4);
	for (unsigned i = 32; i < TT_SECT; i += 8) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		memcpy(s + i, &x, 8);
	}
	crc = wb_crc32c(0, s, TT_SECT);
	memcpy(s + 28, &crc, 4);
}

void tt_stamp(void *block, uint32_t iter, uint64_t lba, uint64_t wid)
{
	for (uint32_t s = 0; s < TT_BLOCK / TT_SECT; s++)
		tt_stamp_sector((uint8_t *)block + s * TT_SECT, iter, lba, s, wid);
}

/* 0: all zero; 1: valid stamp of this iter/lba/sector (*wid set); -1: garbage. */
static int tt_parse(const uint8_t *s, uint32_t iter, uint64_t lba, uint32_t sec, uint64_t *wid,
		    const char **why)
{
	uint32_t magic, it, sc, crc, zero = 0;
	uint64_t l;
	uint8_t tmp[TT_SECT];
	int allzero = 1;

	for (unsigned i = 0; i < TT_SECT; i++)
		if (s[i]) {
			allzero = 0;
			break;
		}
	if (allzero)
		return 0;
	memcpy(&magic, s, 4);
	memcpy(&it, s + 4, 4);
	memcpy(&l, s + 8, 8);
	memcpy(wid, s + 16, 8);
	memcpy(&sc, s + 24, 4);
	memcpy(&crc, s + 28, 4);
	memcpy(tmp, s, TT_SECT);
	memcpy(tmp + 28, &zero, 4);
	if (magic != TT_MAGIC)
		*why = "no stamp (bad magic)";
	else if (wb_crc32c(0, tmp, TT_SECT) != crc)
		*why = "stamp checksum mismatch";
	else if (it != iter)
		*why = "stamp of another iteration";
	else if (l != lba)
		*why = "stamp of another LBA";
	else if (sc != sec)
		*why = "stamp of another sector";
	else
		return 1;
	return -1;
}

static void tt_describe(struct tt_model *m, FILE *out, const char *what, uint64_t lba, uint32_t sec,
			const char *found, const int *legal)
{
	struct tt_blk *k = &m->blk[lba];

	if (!out || m->reported++ >= TT_MAX_REPORT)
		return;
	fprintf(out, "  %s: iteration %u LBA %" PRIu64 " sector %u: found %s; legal:%s", what,
		m->iter, lba, sec, found, legal[0] ? " initial-zero" : "");
	for (uint32_t i = 0; i < k->n; i++)
		if (legal[i + 1])
			fprintf(out, " w%" PRIu64 "%s", k->w[i].wid, k->w[i].zero ? "(zero)" : "");
	fprintf(out, "; history:");
	for (uint32_t i = 0; i < k->n; i++) {
		struct tt_wrec *w = &k->w[i];

		if (w->tc == TT_NEVER)
			fprintf(out, " w%" PRIu64 "[ts %" PRIu64 " unacked%s%s]", w->wid, w->ts,
				w->fua ? " fua" : "", w->zero ? " zero" : "");
		else
			fprintf(out, " w%" PRIu64 "[ts %" PRIu64 " tc %" PRIu64 "%s%s]", w->wid,
				w->ts, w->tc, w->fua ? " fua" : "", w->zero ? " zero" : "");
	}
	fprintf(out, " (last completed flush submitted at %" PRIu64 ")\n", m->fmax);
}

/* legal[0] = initial zero, legal[1 + i] = k->w[i]. Returns 0 if sector ok. */
static int tt_check_sector(struct tt_model *m, uint64_t lba, uint32_t sec, const uint8_t *s,
			   const int *legal, const char *what, FILE *out)
{
	struct tt_blk *k = &m->blk[lba];
	const char *why = NULL;
	uint64_t wid = 0;
	char found[96];
	int r = tt_parse(s, m->iter, lba, sec, &wid, &why);

	if (r == 0) {
		if (legal[0])
			return 0;
		for (uint32_t i = 0; i < k->n; i++)
			if (legal[i + 1] && k->w[i].zero)
				return 0;
		snprintf(found, sizeof(found), "zeroes");
	} else if (r == 1) {
		for (uint32_t i = 0; i < k->n; i++)
			if (legal[i + 1] && !k->w[i].zero && k->w[i].wid == wid)
				return 0;
		snprintf(found, sizeof(found), "w%" PRIu64 "%s", wid,
			 tt_find(k, wid) ? "" : " (never written here)");
	} else {
		snprintf(found, sizeof(found), "garbage (%s)", why);
	}
	tt_describe(m, out, what, lba, sec, found, legal);
	return 1;
}

static int *tt_legal_buf(struct tt_blk *k)
{
	static int *buf;
	static uint32_t cap;

	if (k->n + 1 > cap) {
		cap = (k->n + 1) * 2;
		free(buf);
		buf = malloc(cap * sizeof(*buf));
		if (!buf) {
			fprintf(stderr, "ttmodel: out of memory\n");
			exit(2);
		}
	}
	return buf;
}

static int tt_check_block(struct tt_model *m, uint64_t lba, const uint8_t *blk, const int *legal,
			  const char *what, FILE *out)
{
	int bad = 0;

	for (uint32_t s = 0; s < TT_BLOCK / TT_SECT; s++)
		bad |= tt_check_sector(m, lba, s, blk + s * TT_SECT, legal, what, out);
	return bad;
}

int tt_check_read(struct tt_model *m, uint64_t lba, uint32_t n, const void *buf, uint64_t s,
		  uint64_t c, FILE *out)
{
	int bad = 0;

	for (uint32_t j = 0; j < n && lba + j < m->nblocks; j++) {
		struct tt_blk *k = &m->blk[lba + j];
		int *legal = tt_legal_buf(k);
		uint64_t floor = 0; /* max ts of writes completed before s */

		for (uint32_t i = 0; i < k->n; i++)
			if (k->w[i].tc < s && k->w[i].ts > floor)
				floor = k->w[i].ts;
		legal[0] = floor == 0;
		for (uint32_t i = 0; i < k->n; i++) {
			struct tt_wrec *w = &k->w[i];

			legal[i + 1] = w->ts < c && (w->tc == TT_NEVER || w->tc >= floor);
		}
		bad += tt_check_block(m, lba + j, (const uint8_t *)buf + (size_t)j * TT_BLOCK,
				      legal, "read", out);
	}
	return bad;
}

static int tt_durable(const struct tt_model *m, const struct tt_wrec *w)
{
	return w->tc != TT_NEVER && (w->fua || w->tc < m->fmax);
}

int tt_check_durable(struct tt_model *m, uint64_t lba, uint32_t n, const void *buf, FILE *out)
{
	int bad = 0;

	for (uint32_t j = 0; j < n && lba + j < m->nblocks; j++) {
		struct tt_blk *k = &m->blk[lba + j];
		int *legal = tt_legal_buf(k);
		uint64_t dts = 0; /* max ts of durable writes */

		for (uint32_t i = 0; i < k->n; i++)
			if (tt_durable(m, &k->w[i]) && k->w[i].ts > dts)
				dts = k->w[i].ts;
		legal[0] = dts == 0;
		for (uint32_t i = 0; i < k->n; i++) {
			struct tt_wrec *w = &k->w[i];

			legal[i + 1] = w->tc == TT_NEVER || w->tc >= dts;
		}
		bad += tt_check_block(m, lba + j, (const uint8_t *)buf + (size_t)j * TT_BLOCK,
				      legal, "after crash", out);
	}
	return bad;
}

void tt_model_counts(struct tt_model *m, uint64_t *writes, uint64_t *durable_blocks)
{
	uint64_t d = 0;

	for (uint64_t b = 0; b < m->nblocks; b++)
		for (uint32_t i = 0; i < m->blk[b].n; i++)
			if (tt_durable(m, &m->blk[b].w[i])) {
				d++;
				break;
			}
	*writes = m->nwrites;
	*durable_blocks = d;
}
