// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_nbd.c - libFuzzer target for the NBD wire parser (daemon/nbd_proto.c).
 * The input is consumed like the server consumes a connection: 4 bytes of
 * client flags, then options (header + data) until GO/EXPORT_NAME/ABORT,
 * then request headers (+ write payload) classified against a small export.
 * Every option first goes through the STARTTLS / tls = require gate
 * (wbd_nbd_tls_gate), with the listener's mode taken from the input.
 * Every export name also goes through the snapshot name parser
 * (wbd_nbd_snap_name, "RES@GEN"), and the requests are classified for a
 * read-only (snapshot) export too when the last input byte says so.
 * Any out-of-bounds read or undefined behaviour is a bug; invariants of the
 * classifier are asserted with __builtin_trap().
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/nbd_proto.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RES@GEN: a taken name's RES is its prefix before the first '@', GEN > 0 */
static void check_snap_name(const char *name)
{
	char res[64];
	uint64_t gen = 0;
	int r = wbd_nbd_snap_name(name, res, sizeof(res), &gen);

	CHECK(r == 1 || r == 0 || r == -EINVAL);
	if (r == 1) {
		size_t n = strlen(res);

		CHECK(n > 0 && n < sizeof(res) && !memcmp(res, name, n) && name[n] == '@');
		CHECK(gen > 0 && !strchr(name + n + 1, '@'));
	}
	if (r == 0) /* no '@', or the first one leads the name */
		CHECK(!strchr(name, '@') || name[0] == '@');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct wbd_nbd_export_geom rw = {
	    .size = 16 << 20,
	    .align = 4096,
	    .max_len = 1 << 20,
	    .tflags = NBDP_FLAG_HAS_FLAGS | NBDP_FLAG_SEND_FLUSH | NBDP_FLAG_SEND_FUA |
		      NBDP_FLAG_SEND_TRIM | NBDP_FLAG_SEND_WRITE_ZEROES,
	};
	struct wbd_nbd_export_geom g;
	char name[NBDP_NAME_MAX + 1];
	uint16_t infos[NBDP_INFO_REQ_MAX];
	size_t pos = 0;
	uint32_t flags, opt, len;
	unsigned ninfo;
	uint32_t err;
	size_t pipelined;
	int xmit = 0, tls_on = 0, mode;

	if (size < 4 || wbd_nbd_parse_client_flags(data, &flags))
		return 0;
	g = rw;
	if (data[size - 1] & 8) /* a snapshot's export */
		g.tflags = NBDP_FLAG_HAS_FLAGS | NBDP_FLAG_READ_ONLY | NBDP_FLAG_SEND_FLUSH;
	pos = 4;
	while (!xmit && size - pos >= NBDP_OPT_HDR_LEN) {
		if (wbd_nbd_parse_opt_hdr(data + pos, &opt, &len))
			return 0;
		CHECK(len <= NBDP_OPT_MAX_LEN);
		pos += NBDP_OPT_HDR_LEN;
		if (size - pos < len)
			return 0;
		/* the TLS gate as the server runs it. The last input byte
		 * picks the listener's mode and whether what follows STARTTLS
		 * was pipelined (plain text: close) or sent after the ACK
		 * (then it is the decrypted stream: parsing goes on with TLS) */
		mode = data[size - 1] % 3;
		pipelined = (data[size - 1] & 4) ? size - pos - len : 0;
		switch (wbd_nbd_tls_gate(opt, len, mode, true, tls_on, pipelined, &err)) {
		case NBDP_TLSA_START:
			CHECK(opt == NBDP_OPT_STARTTLS && !len && !tls_on &&
			      mode != WBD_NBD_TLS_OFF && !pipelined);
			tls_on = 1;
			continue;
		case NBDP_TLSA_CLOSE:
			CHECK(!tls_on && (opt == NBDP_OPT_EXPORT_NAME || pipelined));
			return 0;
		case NBDP_TLSA_REPLY:
			CHECK(err & NBDP_REP_FLAG_ERROR);
			CHECK(err != NBDP_REP_ERR_TLS_REQD ||
			      (mode == WBD_NBD_TLS_REQUIRE && !tls_on));
			pos += len;
			continue;
		case NBDP_TLSA_PASS:
			CHECK(tls_on || mode != WBD_NBD_TLS_REQUIRE || opt == NBDP_OPT_ABORT);
			break;
		}
		switch (opt) {
		case NBDP_OPT_INFO:
		case NBDP_OPT_GO:
			if (!wbd_nbd_parse_info_req(data + pos, len, name, sizeof(name), infos,
						    NBDP_INFO_REQ_MAX, &ninfo)) {
				CHECK(strlen(name) <= len);
				check_snap_name(name);
				xmit = opt == NBDP_OPT_GO;
			}
			break;
		case NBDP_OPT_EXPORT_NAME:
			if (!wbd_nbd_parse_export_name(data + pos, len, name, sizeof(name))) {
				CHECK(strlen(name) == len);
				check_snap_name(name);
			}
			xmit = 1;
			break;
		case NBDP_OPT_ABORT:
			return 0;
		}
		pos += len;
	}
	while (xmit && size - pos >= NBDP_REQUEST_LEN) {
		struct wbd_nbd_request r;
		struct wbd_nbd_verdict v;

		if (wbd_nbd_parse_request(data + pos, &r))
			return 0;
		pos += NBDP_REQUEST_LEN;
		wbd_nbd_classify_request(&r, &g, &v);
		/* a read-only export accepts reads and flushes only */
		if (!v.err && (g.tflags & NBDP_FLAG_READ_ONLY))
			CHECK(r.type == NBDP_CMD_READ || r.type == NBDP_CMD_FLUSH || v.disconnect);
		if (!v.err && !v.disconnect && r.type != NBDP_CMD_FLUSH) {
			/* an accepted request is inside the device and aligned */
			CHECK(r.off <= g.size && r.len <= g.size - r.off);
			CHECK(r.off % g.align == 0 && r.len % g.align == 0);
			if (r.type == NBDP_CMD_READ || r.type == NBDP_CMD_WRITE)
				CHECK(r.len <= g.max_len);
		}
		if (v.payload) {
			CHECK(r.type == NBDP_CMD_WRITE && v.payload == r.len && r.len <= g.max_len);
			if (size - pos < v.payload)
				return 0;
			pos += v.payload;
		}
		if (v.disconnect)
			return 0;
	}
	return 0;
}
