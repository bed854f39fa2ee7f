// SPDX-License-Identifier: GPL-2.0-only
/*
 * nbd_opt.c - NBD newstyle fixed handshake of a connection: the greeting,
 * the client flags and the option haggling (NBD_OPT_EXPORT_NAME, ABORT,
 * LIST, INFO, GO, STARTTLS; everything else is NBD_REP_ERR_UNSUP), with the export
 * info replies, up to the switch into the transmission phase (nbd.c).
 * Wire encoding and parsing are daemon/nbd_proto.c; decisions in docs/nbd.md.
 *
 * Owns no memory: options are parsed in place from the connection's input
 * buffer, replies are queued with nbd_conn_send(), and GO / EXPORT_NAME
 * attach the connection to the export found through its lookup callbacks.
 */
#include "daemon/nbd_int.h"

#include <errno.h>
#include <string.h>

#include "daemon/wbd_log.h"

static void opt_reply(struct nbd_conn *c, uint32_t opt, uint32_t type, const void *data,
		      uint32_t len)
{
	uint8_t h[NBD_OPT_REPLY_HDR_LEN];

	nbd_encode_opt_reply(h, opt, type, len);
	nbd_conn_send(c, h, sizeof(h));
	if (len)
		nbd_conn_send(c, data, len);
}

static void opt_error(struct nbd_conn *c, uint32_t opt, uint32_t type, const char *msg)
{
	wbd_debug("nbd: %s option %s(%u): error 0x%x: %s", c->peer, nbd_opt_name(opt), opt, type,
		  msg);
	opt_reply(c, opt, type, msg, (uint32_t)strlen(msg));
}

static struct nbd_export *conn_find(struct nbd_conn *c, const char *name)
{
	struct nbd_export *ex = c->lk.find(c->lk.ctx, name, c->def);

	if (ex && (ex->closing || !ex->engine))
		return NULL;
	return ex;
}

/* An export with tls = require, asked for on a plain session. */
static bool conn_tls_missing(struct nbd_conn *c, const struct nbd_export *ex, uint32_t opt)
{
	if (c->tls_on || ex->tls != NBD_TLS_REQUIRE)
		return false;
	wbd_warn("nbd: %s refused: export %s requires TLS (client sent %s without STARTTLS)",
		 c->peer, ex->name, nbd_opt_name(opt));
	return true;
}

static void opt_info_go(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	char name[NBD_NAME_MAX + 1];
	uint16_t infos[NBD_INFO_REQ_MAX];
	unsigned ninfo;
	struct nbd_export *ex;
	uint8_t b[32];
	int ret;

	ret = nbd_parse_info_req(data, len, name, sizeof(name), infos, NBD_INFO_REQ_MAX, &ninfo);
	if (ret) {
		opt_error(c, opt, NBD_REP_ERR_INVALID, "malformed INFO/GO request");
		return;
	}
	ex = conn_find(c, name);
	if (!ex) {
		opt_error(c, opt, NBD_REP_ERR_UNKNOWN, "no such export (or it is down)");
		return;
	}
	if (conn_tls_missing(c, ex, opt)) {
		opt_error(c, opt, NBD_REP_ERR_TLS_REQD, "this export requires TLS (STARTTLS)");
		return;
	}
	if (opt == NBD_OPT_GO && ex->max_clients && ex->nconns >= ex->max_clients) {
		wbd_warn("nbd: %s refused: export %s has %u clients (max-clients)", c->peer,
			 ex->name, ex->nconns);
		opt_error(c, opt, NBD_REP_ERR_POLICY, "too many clients on this export");
		return;
	}
	opt_reply(c, opt, NBD_REP_INFO, b,
		  (uint32_t)nbd_encode_info_export(b, ex->size, NBD_TFLAGS));
	opt_reply(
	    c, opt, NBD_REP_INFO, b,
	    (uint32_t)nbd_encode_info_block_size(b, WB_BLOCK_SIZE, WB_BLOCK_SIZE, NBD_SRV_MAX_LEN));
	for (unsigned i = 0; i < ninfo && i < NBD_INFO_REQ_MAX; i++) {
		if (infos[i] == NBD_INFO_NAME) {
			uint8_t nb[2 + sizeof(ex->name)];
			size_t n = strlen(ex->name);

			nb[0] = 0;
			nb[1] = NBD_INFO_NAME;
			memcpy(nb + 2, ex->name, n);
			opt_reply(c, opt, NBD_REP_INFO, nb, (uint32_t)(2 + n));
		}
	}
	opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
	if (opt == NBD_OPT_GO) {
		nbd_conn_attach(c, ex);
		c->state = NBD_CS_XMIT;
	}
}

static void opt_export_name(struct nbd_conn *c, const uint8_t *data, uint32_t len)
{
	char name[NBD_NAME_MAX + 1];
	uint8_t b[NBD_EXPORT_NAME_REPLY_LEN];
	struct nbd_export *ex = NULL;

	if (!nbd_parse_export_name(data, len, name, sizeof(name)))
		ex = conn_find(c, name);
	if (!ex) {
		/* the protocol has no error reply for EXPORT_NAME: close */
		wbd_info("nbd: %s asked for an unknown export, closing", c->peer);
		nbd_conn_close(c);
		return;
	}
	if (conn_tls_missing(c, ex, NBD_OPT_EXPORT_NAME)) {
		nbd_conn_close(c);
		return;
	}
	if (ex->max_clients && ex->nconns >= ex->max_clients) {
		wbd_warn("nbd: %s refused: export %s has %u clients (max-clients), closing",
			 c->peer, ex->name, ex->nconns);
		nbd_conn_close(c);
		return;
	}
	nbd_conn_send(c, b, nbd_encode_export_name_reply(b, ex->size, NBD_TFLAGS, c->no_zeroes));
	nbd_conn_attach(c, ex);
	c->state = NBD_CS_XMIT;
}

static void opt_list(struct nbd_conn *c, uint32_t len)
{
	const char *names[64];
	uint8_t b[4 + 64];
	size_t n;

	if (len) {
		opt_error(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "LIST takes no data");
		return;
	}
	n = c->lk.list(c->lk.ctx, names, 64);
	for (size_t i = 0; i < n; i++) {
		size_t l = nbd_encode_server_entry(b, sizeof(b), names[i]);

		if (l)
			opt_reply(c, NBD_OPT_LIST, NBD_REP_SERVER, b, (uint32_t)l);
	}
	opt_reply(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* What TLS says about the option (nbd_tls_gate); true = handle it. */
static bool opt_tls(struct nbd_conn *c, uint32_t opt, uint32_t len)
{
	uint32_t err;

	switch (nbd_tls_gate(opt, len, c->tls_mode, nbd_tls_available(), c->tls_on,
			     nbd_conn_avail(c), &err)) {
	case NBD_TLSA_PASS:
		return true;
	case NBD_TLSA_START:
		wbd_debug("nbd: %s: STARTTLS", c->peer);
		opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
		nbd_conn_starttls(c);
		return false;
	case NBD_TLSA_CLOSE:
		if (opt == NBD_OPT_STARTTLS)
			wbd_warn("nbd: %s: data pipelined after STARTTLS, closing", c->peer);
		else
			wbd_warn("nbd: %s refused: %s without TLS on a tls = require export, "
				 "closing",
				 c->peer, nbd_opt_name(opt));
		nbd_conn_close(c);
		return false;
	case NBD_TLSA_REPLY:
		break;
	}
	if (err == NBD_REP_ERR_TLS_REQD) {
		if (!c->tls_reqd_logged)
			wbd_warn("nbd: %s refused: %s before STARTTLS on a tls = require export",
				 c->peer, nbd_opt_name(opt));
		c->tls_reqd_logged = true;
		opt_error(c, opt, err, "TLS is required: send NBD_OPT_STARTTLS first");
	} else if (opt == NBD_OPT_STARTTLS && err == NBD_REP_ERR_INVALID) {
		opt_error(c, opt, err, c->tls_on ? "TLS is already on" : "STARTTLS takes no data");
	} else {
		opt_error(c, opt, err, "TLS is not offered on this export");
	}
	return false;
}

/* One option with its data already removed from the input. */
static void handle_option(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	wbd_debug("nbd: %s option %s(%u) len %u", c->peer, nbd_opt_name(opt), opt, len);
	if (!opt_tls(c, opt, len))
		return;
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		opt_export_name(c, data, len);
		break;
	case NBD_OPT_ABORT:
		opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
		nbd_conn_close_soon(c);
		break;
	case NBD_OPT_LIST:
		opt_list(c, len);
		break;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		opt_info_go(c, opt, data, len);
		break;
	default:
		/* STARTTLS, STRUCTURED_REPLY, meta contexts, unknown */
		opt_error(c, opt, NBD_REP_ERR_UNSUP, "option not supported");
		break;
	}
}

void nbd_opt_greet(struct nbd_conn *c)
{
	uint8_t g[NBD_GREETING_LEN];

	nbd_conn_send(c, g, nbd_encode_greeting(g));
}

bool nbd_opt_step(struct nbd_conn *c)
{
	uint8_t *h = c->ibuf + c->ioff;
	uint32_t flags, opt, len;

	if (c->state == NBD_CS_FLAGS) {
		if (nbd_conn_avail(c) < 4)
			return false;
		c->ioff += 4;
		if (nbd_parse_client_flags(h, &flags)) {
			wbd_info("nbd: %s: unsupported client flags 0x%x, closing", c->peer, flags);
			nbd_conn_close(c);
			return false;
		}
		c->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
		c->state = NBD_CS_OPTS;
		return true;
	}
	if (nbd_conn_avail(c) < NBD_OPT_HDR_LEN)
		return false;
	switch (nbd_parse_opt_hdr(h, &opt, &len)) {
	case 0:
		break;
	case -EBADMSG:
		wbd_info("nbd: %s: bad option magic, closing", c->peer);
		nbd_conn_close(c);
		return false;
	default:
		wbd_info("nbd: %s: option %u with %u bytes of data is too long, closing", c->peer,
			 opt, len);
		nbd_conn_close(c);
		return false;
	}
	/* len <= NBD_OPT_MAX_LEN: the whole option fits in ibuf */
	if (nbd_conn_avail(c) < NBD_OPT_HDR_LEN + (size_t)len)
		return false;
	c->ioff += NBD_OPT_HDR_LEN + (size_t)len;
	handle_option(c, opt, h + NBD_OPT_HDR_LEN, len);
	return c->fd >= 0 && !c->tls_start;
}
