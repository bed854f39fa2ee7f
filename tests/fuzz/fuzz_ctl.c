// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_ctl.c - libFuzzer target for the control-socket decoder: the frame
 * decoder of proto/wbproto.c (header checks, incremental stream decoder,
 * protobuf-c unpacking) and the request validation wbrepd applies to every
 * control request (wbproto_ctl_check, called by daemon/ctl.c).
 *
 * Input: byte 0 = chunk size (1..256) used to feed the rest to the stream
 * decoder, like a socket delivering partial reads. Checked invariants
 * (__builtin_trap on violation):
 *   - the stream decoder and the one-shot decoder (wbproto_next on the
 *     whole buffer) see the same frames and stop at the same error;
 *   - a decoded frame's length is within WBPROTO_CTL_MAX, its type known;
 *   - a request that passes wbproto_ctl_check has a valid resource name
 *     when it names one and a valid mode for CTL_MODE; snapshot and
 *     resize arguments only on their ops, a resize size whole blocks; a
 *     node name only on CTL_FORGET_PEER, valid there;
 *   - a valid request re-packs and decodes to the same fields.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wbproto.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define MAX_FRAMES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const Wbrep__CtlRequest *rq)
{
	Wbrep__CtlRequest *back;
	struct wbproto_frame f2;
	const char *why = NULL;
	uint8_t *buf;
	size_t len;
	ssize_t n;
	int rc = wbproto_ctl_check(rq, &why);

	if (rc) {
		CHECK(why && why[0]);
		CHECK(rc == -EPROTONOSUPPORT || rc == -EOPNOTSUPP || rc == -EINVAL);
		return;
	}
	CHECK(rq->version == WBPROTO_CTL_VERSION);
	CHECK((rq->op >= WBREP__CTL_OP__CTL_STATUS && rq->op <= WBREP__CTL_OP__CTL_SNAPSHOT_DROP) ||
	      rq->op == WBREP__CTL_OP__CTL_DRAIN ||
	      (rq->op >= WBREP__CTL_OP__CTL_PRIMARY && rq->op <= WBREP__CTL_OP__CTL_RESUME_SYNC) ||
	      rq->op == WBREP__CTL_OP__CTL_EVENTS);
	if (rq->op != WBREP__CTL_OP__CTL_STATUS && rq->op != WBREP__CTL_OP__CTL_RELOAD &&
	    rq->op != WBREP__CTL_OP__CTL_EVENTS)
		CHECK(rq->resource != NULL);
	if (rq->resource)
		CHECK(wbproto_res_name_ok(rq->resource) && strlen(rq->resource) <= 63);
	/* snapshots: a generation (> 0) or a time (> 0) to open, a generation
	 * to drop; those arguments on no other op */
	if (rq->op == WBREP__CTL_OP__CTL_SNAPSHOT)
		CHECK((rq->has_generation && rq->generation) != (rq->has_at_ms && rq->at_ms));
	else if (rq->op == WBREP__CTL_OP__CTL_SNAPSHOT_DROP)
		CHECK(rq->has_generation && rq->generation && !rq->has_at_ms);
	else
		CHECK(!rq->has_generation && !rq->has_at_ms);
	/* resize: its arguments on it only, a whole number of blocks */
	if (rq->op != WBREP__CTL_OP__CTL_RESIZE)
		CHECK(!rq->has_size && !rq->has_assume_clean && !rq->has_assume_peer_space &&
		      !rq->has_log);
	CHECK(!(rq->has_log && rq->log) || !((rq->has_assume_clean && rq->assume_clean) ||
					     (rq->has_assume_peer_space && rq->assume_peer_space)));
	CHECK(!rq->has_size || rq->size % 4096 == 0);
	/* forget_peer: a valid node name; no node on any other op */
	if (rq->op == WBREP__CTL_OP__CTL_FORGET_PEER)
		CHECK(rq->node && wbproto_res_name_ok(rq->node));
	else
		CHECK(!rq->node);
	if (rq->op == WBREP__CTL_OP__CTL_MODE)
		CHECK(rq->mode &&
		      (!strcmp(rq->mode, "writeback") || !strcmp(rq->mode, "writethrough") ||
		       !strcmp(rq->mode, "config")));
	/* round trip */
	CHECK(wbproto_pack(WBPROTO_T_CTL_REQUEST, 0, &rq->base, &buf, &len) == 0);
	n = wbproto_next(buf, len, WBPROTO_CTL_MAX, &f2);
	CHECK(n == (ssize_t)len);
	back = (Wbrep__CtlRequest *)f2.msg;
	CHECK(back->version == rq->version && back->op == rq->op);
	CHECK(!rq->resource == !back->resource);
	CHECK(!rq->resource || !strcmp(rq->resource, back->resource));
	CHECK(back->has_generation == rq->has_generation && back->generation == rq->generation);
	CHECK(back->has_at_ms == rq->has_at_ms && back->at_ms == rq->at_ms);
	CHECK(!rq->node == !back->node && (!rq->node || !strcmp(rq->node, back->node)));
	CHECK(wbproto_ctl_check(back, &why) == 0);
	wbproto_frame_free(&f2);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wbproto_dec dec;
	struct wbproto_frame f;
	size_t chunk, off = 0;
	ssize_t one_shot[MAX_FRAMES + 1];
	int nframes = 0, nstream = 0, rc = 0;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] + 1;
	data++;
	size--;

	/* one-shot decoding of the whole buffer: frame sizes, then error/0 */
	while (nframes < MAX_FRAMES) {
		ssize_t n = wbproto_next(data + off, size - off, WBPROTO_CTL_MAX, &f);

		one_shot[nframes] = n;
		if (n <= 0)
			break;
		CHECK((size_t)n <= size - off && n >= WBPROTO_HDR_SIZE);
		CHECK(f.hdr.len <= WBPROTO_CTL_MAX && (size_t)n == WBPROTO_HDR_SIZE + f.hdr.len);
		CHECK(strcmp(wbproto_type_name(f.hdr.type), "unknown"));
		CHECK(!!f.msg == !!wbproto_type_desc(f.hdr.type));
		if (f.hdr.type == WBPROTO_T_CTL_REQUEST)
			check_request((Wbrep__CtlRequest *)f.msg);
		wbproto_frame_free(&f);
		off += (size_t)n;
		nframes++;
	}
	if (nframes == MAX_FRAMES)
		one_shot[nframes] = 0;

	/* the same bytes through the stream decoder in chunks */
	wbproto_dec_init(&dec, WBPROTO_CTL_MAX);
	off = 0;
	for (;;) { /* bounded: each round returns a frame, feeds bytes or stops */
		rc = wbproto_dec_next(&dec, &f);
		if (rc == 1) {
			CHECK(nstream < nframes);
			CHECK((ssize_t)(WBPROTO_HDR_SIZE + f.hdr.len) == one_shot[nstream]);
			wbproto_frame_free(&f);
			nstream++;
			if (nstream == MAX_FRAMES)
				break;
			continue;
		}
		if (rc < 0)
			break;
		if (off >= size)
			break;
		{
			size_t n = size - off < chunk ? size - off : chunk;

			CHECK(wbproto_dec_feed(&dec, data + off, n) == 0);
			off += n;
		}
	}
	if (nstream < MAX_FRAMES) {
		CHECK(nstream == nframes);
		/* same stop reason: an error code, or both want more bytes */
		CHECK(rc == (one_shot[nframes] < 0 ? (int)one_shot[nframes] : 0));
	}
	wbproto_dec_free(&dec);
	return 0;
}
