// SPDX-License-Identifier: GPL-2.0-only
/*
 * nbd_opt.c - NBD newstyle fixed handshake of a connection: the greeting,
 * the client flags and the option haggling (NBDP_OPT_EXPORT_NAME, ABORT,
 * LIST, INFO, GO, STARTTLS; everything else is NBDP_REP_ERR_UNSUP), with the export
 * info replies, up to the switch into the transmission phase (nbd.c).
 * Wire encoding and parsing are daemon/nbd_proto.c; decisions in docs/nbd.md.
 *
 * Owns no memory: options are parsed in place from the connection's input
 * buffer, replies are queued with wbd_nbd_conn_send(), and GO / EXPORT_NAME
 * attach the connection to the export found through its lookup callbacks.
 */
#include "daemon/nbd_int.h"

#include <errno.h>
#include <string.h>

#include "daemon/wbd_log.h"

static void opt_reply(struct wbd_nbd_conn *c, uint32_t opt, uint32_t type, const void *data,
		      uint32_t len)
{
	uint8_t h[NBDP_OPT_REPLY_HDR_LEN];

	wbd_nbd_encode_opt_reply(h, opt, type, len);
	wbd_nbd_conn_send(c, h, sizeof(h));
	if (len)
		wbd_nbd_conn_send(c, data, len);
}

static void opt_error(struct wbd_nbd_conn *c, uint32_t opt, uint32_t type, const char *msg)
{
	wbd_debug("nbd: %s option %s(%u): error 0x%x: %s", c->peer, wbd_nbd_opt_name(opt), opt,
		  type, msg);
	opt_reply(c, opt, type, msg, (uint32_t)strlen(msg));
}

static struct wbd_nbd_export *conn_find(struct wbd_nbd_conn *c, const char *name)
{
	struct wbd_nbd_export *ex = c->lk.find(c->lk.ctx, name, c->def);

	if (ex && (ex->closing || !ex->engine))
		return NULL;
	return ex;
}

/* An export with tls = require, asked for on a plain session. */
static bool conn_tls_missing(struct wbd_nbd_conn *c, const struct wbd_nbd_export *ex, uint32_t opt)
{
	if (c->tls_on || ex->tls != WBD_NBD_TLS_REQUIRE)
		return false;
	wbd_warn("nbd: %s refused: export %s requires TLS (client sent %s without STARTTLS)",
		 c->peer, ex->name, wbd_nbd_opt_name(opt));
	return true;
}

static void opt_info_go(struct wbd_nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	char name[NBDP_NAME_MAX + 1];
	uint16_t infos[NBDP_INFO_REQ_MAX];
	unsigned ninfo;
	struct wbd_nbd_export *ex;
	uint8_t b[32];
	int ret;

	ret =
	    wbd_nbd_parse_info_req(data, len, name, sizeof(name), infos, NBDP_INFO_REQ_MAX, &ninfo);
	if (ret) {
		opt_error(c, opt, NBDP_REP_ERR_INVALID, "malformed INFO/GO request");
		return;
	}
	ex = conn_find(c, name);
	if (!ex) {
		opt_error(c, opt, NBDP_REP_ERR_UNKNOWN, "no such export (or it is down)");
		return;
	}
	if (conn_tls_missing(c, ex, opt)) {
		opt_error(c, opt, NBDP_REP_ERR_TLS_REQD, "this export requires TLS (STARTTLS)");
		return;
	}
	if (opt == NBDP_OPT_GO && ex->max_clients && ex->nconns >= ex->max_clients) {
		wbd_warn("nbd: %s refused: export %s has %u clients (max-clients)", c->peer,
			 ex->name, ex->nconns);
		opt_error(c, opt, NBDP_REP_ERR_POLICY, "too many clients on this export");
		return;
	}
	opt_reply(c, opt, NBDP_REP_INFO, b,
		  (uint32_t)wbd_nbd_encode_info_export(b, ex->size, wbd_nbd_tflags(ex)));
	opt_reply(c, opt, NBDP_REP_INFO, b,
		  (uint32_t)wbd_nbd_encode_info_block_size(b, WB_BLOCK_SIZE, WB_BLOCK_SIZE,
							   WBD_NBD_SRV_MAX_LEN));
	for (unsigned i = 0; i < ninfo && i < NBDP_INFO_REQ_MAX; i++) {
		if (infos[i] == NBDP_INFO_NAME) {
			uint8_t nb[2 + sizeof(ex->name)];
			size_t n = strlen(ex->name);

			nb[0] = 0;
			nb[1] = NBDP_INFO_NAME;
			memcpy(nb + 2, ex->name, n);
			opt_reply(c, opt, NBDP_REP_INFO, nb, (uint32_t)(2 + n));
		}
	}
	opt_reply(c, opt, NBDP_REP_ACK, NULL, 0);
	if (opt == NBDP_OPT_GO) {
		wbd_nbd_conn_attach(c, ex);
		c->state = WBD_NBD_CS_XMIT;
	}
}

static void opt_export_name(struct wbd_nbd_conn *c, const uint8_t *data, uint32_t len)
{
	char name[NBDP_NAME_MAX + 1];
	uint8_t b[NBDP_EXPORT_NAME_REPLY_LEN];
	struct wbd_nbd_export *ex = NULL;

	if (!wbd_nbd_parse_export_name(data, len, name, sizeof(name)))
		ex = conn_find(c, name);
	if (!ex) {
		/* the protocol has no error reply for EXPORT_NAME: close */
		wbd_info("nbd: %s asked for an unknown export, closing", c->peer);
		wbd_nbd_conn_close(c);
		return;
	}
	if (conn_tls_missing(c, ex, NBDP_OPT_EXPORT_NAME)) {
		wbd_nbd_conn_close(c);
		return;
	}
	if (ex->max_clients && ex->nconns >= ex->max_clients) {
		wbd_warn("nbd: %s refused: export %s has %u clients (max-clients), closing",
			 c->peer, ex->name, ex->nconns);
		wbd_nbd_conn_close(c);
		return;
	}
	wbd_nbd_conn_send(
	    c, b, wbd_nbd_encode_export_name_reply(b, ex->size, wbd_nbd_tflags(ex), c->no_zeroes));
	wbd_nbd_conn_attach(c, ex);
	c->state = WBD_NBD_CS_XMIT;
}

static void opt_list(struct wbd_nbd_conn *c, uint32_t len)
{
	const char *names[64];
	uint8_t b[4 + 64];
	size_t n;

	if (len) {
		opt_error(c, NBDP_OPT_LIST, NBDP_REP_ERR_INVALID, "LIST takes no data");
		return;
	}
	n = c->lk.list(c->lk.ctx, names, 64);
	for (size_t i = 0; i < n; i++) {
		size_t l = wbd_nbd_encode_server_entry(b, sizeof(b), names[i]);

		if (l)
			opt_reply(c, NBDP_OPT_LIST, NBDP_REP_SERVER, b, (uint32_t)l);
	}
	opt_reply(c, NBDP_OPT_LIST, NBDP_REP_ACK, NULL, 0);
}

/* What TLS says about the option (wbd_nbd_tls_gate); true = handle it. */
static bool opt_tls(struct wbd_nbd_conn *c, uint32_t opt, uint32_t len)
{
	uint32_t err;

	switch (wbd_nbd_tls_gate(opt, len, c->tls_mode, wbd_nbd_tls_available(), c->tls_on,
				 wbd_nbd_conn_avail(c), &err)) {
	case NBDP_TLSA_PASS:
		return true;
	case NBDP_TLSA_START:
		wbd_debug("nbd: %s: STARTTLS", c->peer);
		opt_reply(c, opt, NBDP_REP_ACK, NULL, 0);
		wbd_nbd_conn_starttls(c);
		return false;
	case NBDP_TLSA_CLOSE:
		if (opt == NBDP_OPT_STARTTLS)
			wbd_warn("nbd: %s: data pipelined after STARTTLS, closing", c->peer);
		else
			wbd_warn("nbd: %s refused: %s without TLS on a tls = require export, "
				 "closing",
				 c->peer, wbd_nbd_opt_name(opt));
		wbd_nbd_conn_close(c);
		return false;
	case NBDP_TLSA_REPLY:
		break;
	}
	if (err == NBDP_REP_ERR_TLS_REQD) {
		if (!c->tls_reqd_logged)
			wbd_warn("nbd: %s refused: %s before STARTTLS on a tls = require export",
				 c->peer, wbd_nbd_opt_name(opt));
		c->tls_reqd_logged = true;
		opt_error(c, opt, err, "TLS is required: send NBD_OPT_STARTTLS first");
	} else if (opt == NBDP_OPT_STARTTLS && err == NBDP_REP_ERR_INVALID) {
		opt_error(c, opt, err, c->tls_on ? "TLS is already on" : "STARTTLS takes no data");
	} else {
		opt_error(c, opt, err, "TLS is not offered on this export");
	}
	return false;
}

/* One option with its data already removed from the input. */
static void handle_option(struct wbd_nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	wbd_debug("nbd: %s option %s(%u) len %u", c->peer, wbd_nbd_opt_name(opt), opt, len);
	if (!opt_tls(c, opt, len))
		return;
	switch (opt) {
	case NBDP_OPT_EXPORT_NAME:
		opt_export_name(c, data, len);
		break;
	case NBDP_OPT_ABORT:
		opt_reply(c, opt, NBDP_REP_ACK, NULL, 0);
		wbd_nbd_conn_close_soon(c);
		break;
	case NBDP_OPT_LIST:
		opt_list(c, len);
		break;
	case NBDP_OPT_INFO:
	case NBDP_OPT_GO:
		opt_info_go(c, opt, data, len);
		break;
	default:
		/* STARTTLS, STRUCTURED_REPLY, meta contexts, unknown */
		opt_error(c, opt, NBDP_REP_ERR_UNSUP, "option not supported");
		break;
	}
}

void wbd_nbd_opt_greet(struct wbd_nbd_conn *c)
{
	uint8_t g[NBDP_GREETING_LEN];

	wbd_nbd_conn_send(c, g, wbd_nbd_encode_greeting(g));
}

bool wbd_nbd_opt_step(struct wbd_nbd_conn *c)
{
	uint8_t *h = c->ibuf + c->ioff;
	uint32_t flags, opt, len;

	if (c->state == WBD_NBD_CS_FLAGS) {
		if (wbd_nbd_conn_avail(c) < 4)
			return false;
		c->ioff += 4;
		if (wbd_nbd_parse_client_flags(h, &flags)) {
			wbd_info("nbd: %s: unsupported client flags 0x%x, closing", c->peer, flags);
			wbd_nbd_conn_close(c);
			return false;
		}
		c->no_zeroes = flags & NBDP_FLAG_C_NO_ZEROES;
		c->state = WBD_NBD_CS_OPTS;
		return true;
	}
	if (wbd_nbd_conn_avail(c) < NBDP_OPT_HDR_LEN)
		return false;
	switch (wbd_nbd_parse_opt_hdr(h, &opt, &len)) {
	case 0:
		break;
	case -EBADMSG:
		wbd_info("nbd: %s: bad option magic, closing", c->peer);
		wbd_nbd_conn_close(c);
		return false;
	default:
		wbd_info("nbd: %s: option %u with %u bytes of data is too long, closing", c->peer,
			 opt, len);
		wbd_nbd_conn_close(c);
		return false;
	}
	/* len <= NBDP_OPT_MAX_LEN: the whole option fits in ibuf */
	if (wbd_nbd_conn_avail(c) < NBDP_OPT_HDR_LEN + (size_t)len)
		return false;
	c->ioff += NBDP_OPT_HDR_LEN + (size_t)len;
	handle_option(c, opt, h + NBDP_OPT_HDR_LEN, len);
	return c->fd >= 0 && !c->tls_start;
}
