// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringfe_sqe.c - the ring frontend's parser of untrusted producer input:
 * one SQE (wbd_ringfe_parse_sqe) and the geometry a transport announces
 * (wbd_ringfe_check_geo). Pure: no I/O, no state (fuzzed through the
 * frontend by tests/fuzz/fuzz_ring.c, unit tested in
 * tests/unit/test_ringfe.c). ABI: kmod/uapi/wbrep_ring.h.
 */
#include <errno.h>
#include <string.h>

#include "daemon/ringfe.h"

int wbd_ringfe_parse_sqe(const struct wbrep_sqe *sqe, const struct wbrep_attach *geo, void *data,
			 struct wb_req *r, int *slot_ok)
{
	uint32_t slot = wbrep_tag_slot(sqe->tag);
	uint64_t dev_bytes = geo->dev_sectors << 9, off;
	uint32_t len = sqe->len;

	*slot_ok = slot < geo->nslots;
	if (!*slot_ok)
		return -EINVAL;
	if (sqe->data_off != (uint64_t)slot * geo->slot_size)
		return -EINVAL;
	if (sqe->flags & ~(WBREP_F_FUA | WBREP_F_PREFLUSH | WBREP_F_REISSUE))
		return -EINVAL;
	if (sqe->sector > (UINT64_MAX >> 9) || (sqe->sector & 7))
		return -EINVAL;
	off = sqe->sector << 9;
	switch (sqe->op) {
	case WBREP_OP_FLUSH:
		if (len)
			return -EINVAL;
		break;
	case WBREP_OP_READ:
	case WBREP_OP_WRITE:
		if (len > geo->slot_size)
			return -EINVAL;
		/* fallthrough */
	case WBREP_OP_DISCARD:
	case WBREP_OP_WRITE_ZEROES:
		if (!len || (len & (WB_BLOCK_SIZE - 1)) || off > dev_bytes || len > dev_bytes - off)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	r->op = sqe->op; /* WBREP_OP_* == WB_REQ_* (see docs/ring-abi.md) */
	r->flags = (sqe->flags & WBREP_F_FUA ? WB_REQ_F_FUA : 0) |
		   (sqe->flags & WBREP_F_PREFLUSH ? WB_REQ_F_PREFLUSH : 0);
	r->len = len;
	r->off = sqe->op == WBREP_OP_FLUSH ? 0 : off;
	r->buf = (char *)data + (size_t)slot * geo->slot_size;
	return (int)slot;
}

int wbd_ringfe_check_geo(const struct wbd_ringfe_transport *t)
{
	const struct wbrep_attach *g = &t->geo;
	const struct wbrep_ring_hdr *h = t->sq;

	if (!g->nslots || g->nslots > WBREP_MAX_SLOTS || (g->nslots & (g->nslots - 1)) ||
	    g->sq_entries != g->nslots || g->cq_entries != g->nslots ||
	    g->slot_size < WBREP_MIN_SLOT_SIZE || g->slot_size > WBREP_MAX_SLOT_SIZE ||
	    g->slot_size % WB_BLOCK_SIZE || g->sq_map_size < WBREP_SQ_MAP_SIZE(g->nslots) ||
	    g->cq_map_size < WBREP_CQ_MAP_SIZE(g->nslots) ||
	    g->data_map_size < WBREP_DATA_MAP_SIZE(g->nslots, g->slot_size))
		return -EPROTO;
	if (h->magic != WBREP_RING_MAGIC || h->version != WBREP_RING_VERSION ||
	    h->nslots != g->nslots || h->slot_size != g->slot_size)
		return -EPROTO;
	return 0;
}
