// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_ring.c - libFuzzer target for the ring frontend (daemon/ringfe.c):
 * malformed submission queue entries from a buggy or hostile kernel side.
 *
 * The "kernel" here is a minimal in-process producer whose regions are
 * malloc'd at their exact sizes (so ASan sees any access outside them) and
 * whose kick validates every completion. Input:
 *   byte 0: geometry (nslots 1/2/4/8, slot size 4 or 8 KiB)
 *   byte 1: device size in 4 KiB blocks (1..256)
 *   byte 2: bit 0 = finally publish a runaway SQ tail
 *   then 65-byte records: a fix-up byte + a raw 64-byte SQE. Fix-up bit 0
 *   forces the tag's slot into range and data_off to match, bit 1 clears
 *   unknown flags, bit 2 makes op in 1..5, bit 3 aligns sector and length;
 *   so entries range from pure garbage to nearly valid ones.
 * SQEs are posted in batches of at most nslots, then ringfe processes them,
 * the "ram" engine runs and the CQ is reaped. Invariants (__builtin_trap):
 *   - every CQE names a tag that was posted and not completed more often
 *     than posted; result in [-4095, 0]; rsvd 0;
 *   - a CQE never appears for an SQE whose slot was out of range;
 *   - the engine never sees an invalid request (its "invalid request"
 *     message would say so);
 *   - ringfe's counters add up (submitted + bad SQEs == SQEs consumed).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/ringfe.h"
#include "engine/wbengine.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define MAXPOST 4096

struct fk {
	struct wbrep_ring_hdr *hdr;
	struct wbrep_sqe *sqes;
	struct wbrep_cq_ctl *cqc;
	struct wbrep_cqe *cqes;
	uint32_t nslots, cq_head;
	uint64_t tags[MAXPOST]; /* posted tags with a valid slot */
	uint8_t left[MAXPOST];	/* completions still allowed for tags[i] */
	uint32_t ntags;
	uint64_t cqes_seen;
};

static void sink(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	CHECK(!strstr(msg, "invalid request"));
}

static int fk_kick(void *ctx)
{
	struct fk *k = ctx;
	uint32_t tail = __atomic_load_n(&k->cqc->cq_tail, __ATOMIC_ACQUIRE);

	CHECK(tail - k->cq_head <= k->nslots);
	while (k->cq_head != tail) {
		const struct wbrep_cqe *c = &k->cqes[k->cq_head & (k->nslots - 1)];
		uint32_t i;

		CHECK(c->rsvd == 0);
		CHECK(c->result <= 0 && c->result >= -4095);
		for (i = 0; i < k->ntags; i++)
			if (k->tags[i] == c->tag && k->left[i])
				break;
		CHECK(i < k->ntags);
		k->left[i]--;
		k->cq_head++;
		k->cqes_seen++;
	}
	__atomic_store_n(&k->hdr->cq_head, k->cq_head, __ATOMIC_RELEASE);
	return 0;
}

static void fixup(struct wbrep_sqe *s, uint8_t fx, uint32_t nslots, uint32_t slot_size,
		  uint64_t dev_sectors)
{
	if (fx & 1) {
		uint32_t slot = wbrep_tag_slot(s->tag) & (nslots - 1);

		s->tag = wbrep_tag(slot, wbrep_tag_gen(s->tag));
		s->data_off = (uint64_t)slot * slot_size;
	}
	if (fx & 2)
		s->flags &= WBREP_F_FUA | WBREP_F_PREFLUSH | WBREP_F_REISSUE;
	if (fx & 4)
		s->op = (uint8_t)(s->op % 5 + 1);
	if (fx & 8) {
		s->sector = (s->sector % dev_sectors) & ~7ull;
		s->len = (s->len % slot_size) & ~4095u;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wb_engine_params ep = {.name = "fuzz"};
	struct wbd_ringfe_transport t = {0};
	struct wbd_ringfe_stats st;
	struct wbd_ringfe *fe = NULL;
	struct wb_engine *e = NULL;
	uint32_t nslots, slot_size, sq_tail = 0;
	uint64_t dev_sectors, posted = 0;
	struct fk *k;
	void *sq, *cq, *dmem;
	size_t pos;

	if (size < 3)
		return 0;
	nslots = 1u << (data[0] & 3);
	slot_size = data[0] & 4 ? 8192 : 4096;
	dev_sectors = (uint64_t)(data[1] % 256 + 1) * 8;
	wb_msg_set_sink(sink, NULL, WB_LOG_DEBUG);
	k = calloc(1, sizeof(*k));
	sq = calloc(1, WBREP_SQ_MAP_SIZE(nslots));
	cq = calloc(1, WBREP_CQ_MAP_SIZE(nslots));
	dmem = calloc(1, WBREP_DATA_MAP_SIZE(nslots, slot_size));
	CHECK(k && sq && cq && dmem);
	k->hdr = sq;
	k->sqes = (struct wbrep_sqe *)((char *)sq + WBREP_SQE_OFF);
	k->cqc = cq;
	k->cqes = (struct wbrep_cqe *)((char *)cq + WBREP_CQE_OFF);
	k->nslots = nslots;
	k->hdr->magic = WBREP_RING_MAGIC;
	k->hdr->version = WBREP_RING_VERSION;
	k->hdr->nslots = k->hdr->sq_entries = k->hdr->cq_entries = nslots;
	k->hdr->slot_size = slot_size;
	k->hdr->dev_sectors = dev_sectors;
	t.geo.version = WBREP_RING_VERSION;
	strcpy(t.geo.name, "fuzz");
	t.geo.nslots = t.geo.sq_entries = t.geo.cq_entries = nslots;
	t.geo.slot_size = slot_size;
	t.geo.sq_map_size = WBREP_SQ_MAP_SIZE(nslots);
	t.geo.cq_map_size = WBREP_CQ_MAP_SIZE(nslots);
	t.geo.data_map_size = WBREP_DATA_MAP_SIZE(nslots, slot_size);
	t.geo.dev_sectors = dev_sectors;
	t.sq = sq;
	t.cq = cq;
	t.data = dmem;
	t.fd = -1;
	t.kick = fk_kick;
	t.ctx = k;
	ep.size = dev_sectors * 512;
	CHECK(wb_engine_open("ram", &ep, &e) == 0);
	CHECK(wbd_ringfe_open(NULL, &t, e, &fe) == 0);

	pos = 3;
	while (pos + 65 <= size && k->ntags < MAXPOST - nslots) {
		uint32_t n = 0;

		while (n < nslots && pos + 65 <= size) {
			struct wbrep_sqe *s = &k->sqes[sq_tail & (nslots - 1)];

			memcpy(s, data + pos + 1, sizeof(*s));
			fixup(s, data[pos], nslots, slot_size, dev_sectors);
			if (wbrep_tag_slot(s->tag) < nslots) {
				k->tags[k->ntags] = s->tag;
				k->left[k->ntags++] = 1;
			}
			sq_tail++;
			n++;
			pos += 65;
		}
		posted += n;
		__atomic_store_n(&k->hdr->sq_tail, sq_tail, __ATOMIC_RELEASE);
		CHECK(wbd_ringfe_process(fe) >= 0);
		for (int i = 0; i < 4; i++)
			wb_engine_run(e, 0);
		CHECK(wbd_ringfe_flush(fe) == 0);
	}
	wbd_ringfe_get_stats(fe, &st);
	CHECK(st.submitted + st.bad_sqes == posted);
	CHECK(st.inflight == 0);
	CHECK(k->cqes_seen == st.completed);
	if (data[2] & 1) {
		__atomic_store_n(&k->hdr->sq_tail, sq_tail + nslots + 1 + data[2],
				 __ATOMIC_RELEASE);
		CHECK(wbd_ringfe_process(fe) == -EPROTO);
	}
	wbd_ringfe_close(fe);
	wb_engine_close(e);
	wb_msg_set_sink(NULL, NULL, WB_LOG_INFO);
	free(k);
	free(sq);
	free(cq);
	free(dmem);
	return 0;
}
