// SPDX-License-Identifier: GPL-2.0-only
/*
 * nbd_proto.c - NBD wire encoding and parsing (see nbd_proto.h). Pure
 * functions over caller-provided buffers: every length is checked before a
 * byte is read, so arbitrary input (fuzz_nbd) cannot read out of bounds.
 */
#include "daemon/nbd_proto.h"

#include <errno.h>
#include <string.h>

#include "engine/byteorder.h"

size_t wbd_nbd_encode_greeting(uint8_t *out)
{
	wb_store_be64(out, NBDP_MAGIC);
	wb_store_be64(out + 8, NBDP_IHAVEOPT);
	wb_store_be16(out + 16, NBDP_FLAG_FIXED_NEWSTYLE | NBDP_FLAG_NO_ZEROES);
	return NBDP_GREETING_LEN;
}

int wbd_nbd_parse_client_flags(const uint8_t *in, uint32_t *flags)
{
	uint32_t f = wb_load_be32(in);

	*flags = f;
	if (f & ~(uint32_t)(NBDP_FLAG_C_FIXED_NEWSTYLE | NBDP_FLAG_C_NO_ZEROES))
		return -EPROTO;
	if (!(f & NBDP_FLAG_C_FIXED_NEWSTYLE))
		return -EPROTO;
	return 0;
}

int wbd_nbd_parse_opt_hdr(const uint8_t *in, uint32_t *opt, uint32_t *len)
{
	if (wb_load_be64(in) != NBDP_IHAVEOPT)
		return -EBADMSG;
	*opt = wb_load_be32(in + 8);
	*len = wb_load_be32(in + 12);
	if (*len > NBDP_OPT_MAX_LEN)
		return -EMSGSIZE;
	return 0;
}

size_t wbd_nbd_encode_opt_reply(uint8_t *out, uint32_t opt, uint32_t type, uint32_t len)
{
	wb_store_be64(out, NBDP_REP_MAGIC);
	wb_store_be32(out + 8, opt);
	wb_store_be32(out + 12, type);
	wb_store_be32(out + 16, len);
	return NBDP_OPT_REPLY_HDR_LEN;
}

static int copy_name(const uint8_t *in, uint32_t len, char *name, size_t namecap)
{
	if (len > NBDP_NAME_MAX || (size_t)len + 1 > namecap)
		return -ENAMETOOLONG;
	if (len && memchr(in, 0, len))
		return -EINVAL;
	memcpy(name, in, len);
	name[len] = 0;
	return 0;
}

int wbd_nbd_parse_info_req(const uint8_t *in, uint32_t len, char *name, size_t namecap,
			   uint16_t *infos, unsigned max, unsigned *ninfo)
{
	uint32_t nlen;
	uint16_t n;
	int ret;

	*ninfo = 0;
	if (len < 6)
		return -EINVAL;
	nlen = wb_load_be32(in);
	if (nlen > len - 6)
		return -EINVAL;
	n = wb_load_be16(in + 4 + nlen);
	if ((uint64_t)len != 6ull + nlen + 2ull * n)
		return -EINVAL;
	ret = copy_name(in + 4, nlen, name, namecap);
	if (ret)
		return ret;
	for (unsigned i = 0; i < n; i++) {
		if (i < max)
			infos[i] = wb_load_be16(in + 6 + nlen + 2 * i);
	}
	*ninfo = n;
	return 0;
}

int wbd_nbd_parse_export_name(const uint8_t *in, uint32_t len, char *name, size_t namecap)
{
	return copy_name(in, len, name, namecap);
}

int wbd_nbd_snap_name(const char *name, char *res, size_t rescap, uint64_t *gen)
{
	const char *at = strchr(name, '@'), *p;
	uint64_t v = 0;
	size_t n;

	if (!at || at == name)
		return 0;
	n = (size_t)(at - name);
	if (n >= rescap || !at[1])
		return -EINVAL;
	for (p = at + 1; *p; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (*p < '0' || *p > '9' || v > UINT64_MAX / 10 ||
		    (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return -EINVAL;
		v = v * 10 + d;
	}
	if (!v)
		return -EINVAL;
	memcpy(res, name, n);
	res[n] = 0;
	*gen = v;
	return 1;
}

size_t wbd_nbd_encode_info_export(uint8_t *out, uint64_t size, uint16_t tflags)
{
	wb_store_be16(out, NBDP_INFO_EXPORT);
	wb_store_be64(out + 2, size);
	wb_store_be16(out + 10, tflags);
	return 12;
}

size_t wbd_nbd_encode_info_block_size(uint8_t *out, uint32_t min, uint32_t pref, uint32_t max)
{
	wb_store_be16(out, NBDP_INFO_BLOCK_SIZE);
	wb_store_be32(out + 2, min);
	wb_store_be32(out + 6, pref);
	wb_store_be32(out + 10, max);
	return 14;
}

size_t wbd_nbd_encode_server_entry(uint8_t *out, size_t cap, const char *name)
{
	size_t n = strlen(name);

	if (cap < 4 + n)
		return 0;
	wb_store_be32(out, (uint32_t)n);
	memcpy(out + 4, name, n);
	return 4 + n;
}

size_t wbd_nbd_encode_export_name_reply(uint8_t *out, uint64_t size, uint16_t tflags,
					bool no_zeroes)
{
	wb_store_be64(out, size);
	wb_store_be16(out + 8, tflags);
	if (no_zeroes)
		return 10;
	memset(out + 10, 0, 124);
	return NBDP_EXPORT_NAME_REPLY_LEN;
}

int wbd_nbd_parse_request(const uint8_t *in, struct wbd_nbd_request *r)
{
	if (wb_load_be32(in) != NBDP_REQUEST_MAGIC)
		return -EBADMSG;
	r->flags = wb_load_be16(in + 4);
	r->type = wb_load_be16(in + 6);
	r->handle = wb_load_be64(in + 8);
	r->off = wb_load_be64(in + 16);
	r->len = wb_load_be32(in + 24);
	return 0;
}

size_t wbd_nbd_encode_simple_reply(uint8_t *out, uint32_t err, uint64_t handle)
{
	wb_store_be32(out, NBDP_SIMPLE_REPLY_MAGIC);
	wb_store_be32(out + 4, err);
	wb_store_be64(out + 8, handle);
	return NBDP_SIMPLE_REPLY_LEN;
}

static bool beyond_end(const struct wbd_nbd_request *r, uint64_t size)
{
	return r->off > size || r->len > size - r->off;
}

static bool unaligned(const struct wbd_nbd_request *r, uint32_t align)
{
	return align > 1 && ((r->off % align) || (r->len % align));
}

void wbd_nbd_classify_request(const struct wbd_nbd_request *r, const struct wbd_nbd_export_geom *g,
			      struct wbd_nbd_verdict *v)
{
	uint16_t allowed = 0;

	v->err = 0;
	v->payload = 0;
	v->disconnect = false;

	switch (r->type) {
	case NBDP_CMD_WRITE:
		if (r->len > g->max_len) {
			/* The payload follows and may be huge: reply, then
			 * close rather than trying to skip it. */
			v->err = NBDP_EINVAL;
			v->disconnect = true;
			return;
		}
		v->payload = r->len;
		allowed = NBDP_CMD_FLAG_FUA;
		break;
	case NBDP_CMD_READ:
		allowed = 0;
		break;
	case NBDP_CMD_DISC:
		v->disconnect = true;
		return;
	case NBDP_CMD_FLUSH:
		if (r->off || r->len || r->flags)
			v->err = NBDP_EINVAL;
		return;
	case NBDP_CMD_TRIM:
		allowed = NBDP_CMD_FLAG_FUA;
		break;
	case NBDP_CMD_WRITE_ZEROES:
		allowed = NBDP_CMD_FLAG_FUA | NBDP_CMD_FLAG_NO_HOLE;
		break;
	default:
		v->err = NBDP_EINVAL;
		return;
	}
	/* a read-only export (a snapshot): the payload is read and dropped */
	if ((g->tflags & NBDP_FLAG_READ_ONLY) && r->type != NBDP_CMD_READ) {
		v->err = NBDP_EPERM;
		return;
	}
	if (!(g->tflags & NBDP_FLAG_SEND_FUA))
		allowed &= (uint16_t)~NBDP_CMD_FLAG_FUA;
	if (r->flags & ~allowed) {
		v->err = NBDP_EINVAL;
		return;
	}
	if (r->type == NBDP_CMD_READ && r->len > g->max_len) {
		v->err = NBDP_EINVAL;
		return;
	}
	if (beyond_end(r, g->size)) {
		v->err = (r->type == NBDP_CMD_WRITE || r->type == NBDP_CMD_WRITE_ZEROES)
			     ? NBDP_ENOSPC
			     : NBDP_EINVAL;
		return;
	}
	if (unaligned(r, g->align)) {
		v->err = NBDP_EINVAL;
		return;
	}
	/* zero-length requests are allowed by the spec but are no-ops */
}

const char *wbd_nbd_cmd_name(uint16_t type)
{
	switch (type) {
	case NBDP_CMD_READ:
		return "read";
	case NBDP_CMD_WRITE:
		return "write";
	case NBDP_CMD_DISC:
		return "disc";
	case NBDP_CMD_FLUSH:
		return "flush";
	case NBDP_CMD_TRIM:
		return "trim";
	case NBDP_CMD_CACHE:
		return "cache";
	case NBDP_CMD_WRITE_ZEROES:
		return "write-zeroes";
	default:
		return "unknown";
	}
}

enum wbd_nbd_tls_action wbd_nbd_tls_gate(uint32_t opt, uint32_t len, int mode, bool can_tls,
					 bool tls_on, size_t pending, uint32_t *err)
{
	*err = 0;
	if (opt == NBDP_OPT_STARTTLS) {
		if (tls_on)
			*err = NBDP_REP_ERR_INVALID;
		else if (!can_tls)
			*err = NBDP_REP_ERR_UNSUP;
		else if (mode == WBD_NBD_TLS_OFF)
			*err = NBDP_REP_ERR_POLICY;
		else if (len)
			*err = NBDP_REP_ERR_INVALID;
		else if (pending)
			return NBDP_TLSA_CLOSE;
		else
			return NBDP_TLSA_START;
		return NBDP_TLSA_REPLY;
	}
	if (tls_on || mode != WBD_NBD_TLS_REQUIRE || opt == NBDP_OPT_ABORT)
		return NBDP_TLSA_PASS;
	if (opt == NBDP_OPT_EXPORT_NAME)
		return NBDP_TLSA_CLOSE;
	*err = NBDP_REP_ERR_TLS_REQD;
	return NBDP_TLSA_REPLY;
}

const char *wbd_nbd_opt_name(uint32_t opt)
{
	switch (opt) {
	case NBDP_OPT_EXPORT_NAME:
		return "EXPORT_NAME";
	case NBDP_OPT_ABORT:
		return "ABORT";
	case NBDP_OPT_LIST:
		return "LIST";
	case NBDP_OPT_STARTTLS:
		return "STARTTLS";
	case NBDP_OPT_INFO:
		return "INFO";
	case NBDP_OPT_GO:
		return "GO";
	case NBDP_OPT_STRUCTURED_REPLY:
		return "STRUCTURED_REPLY";
	default:
		return "unknown";
	}
}
