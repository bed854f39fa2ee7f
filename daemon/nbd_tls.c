// SPDX-License-Identifier: GPL-2.0-only
/*
 * nbd_tls.c - NBD over TLS (NBDP_OPT_STARTTLS, docs/nbd.md "TLS"): the
 * server SSL_CTX the NBD frontend uses (built by daemon/tls.c from the
 * [global] tls-cert/key/ca: TLS 1.3, client certificate required and
 * verified against tls-ca), and a connection's TLS I/O once STARTTLS was
 * acknowledged: the non-blocking server handshake on the connection's own
 * socket, then reads and writes through SSL_read/SSL_write instead of
 * readv/sendmsg. The policy (which options need TLS first) is
 * wbd_nbd_tls_gate() in nbd_proto.c.
 *
 * Owns one reference to the context (wbd_nbd_set_tls) and each connection's
 * SSL (c->ssl, freed by wbd_nbd_tls_free() when the connection's I/O is freed).
 */
#include "daemon/nbd_int.h"

#include <errno.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "daemon/tls.h"
#include "daemon/wbd_log.h"

#define WBD_NBD_TLS_WRITE_MAX (1u << 20)  /* bytes per SSL_write */
#define WBD_NBD_TLS_RBUF      (64u << 10) /* socket bytes per read() (read ahead) */

static SSL_CTX *wbd_nbd_ctx;

void wbd_nbd_set_tls(SSL_CTX *ctx)
{
	if (ctx)
		SSL_CTX_up_ref(ctx);
	SSL_CTX_free(wbd_nbd_ctx);
	wbd_nbd_ctx = ctx;
}

SSL_CTX *wbd_nbd_get_tls(void)
{
	return wbd_nbd_ctx;
}

bool wbd_nbd_tls_available(void)
{
	return wbd_nbd_ctx != NULL;
}

/* Log why TLS failed on c (handshake or record layer) and close it. */
static void tls_fail(struct wbd_nbd_conn *c, const char *what)
{
	unsigned long errs[8], e;
	size_t n = 0;
	char why[512];

	while ((e = ERR_get_error()) && n < 8)
		errs[n++] = e;
	ERR_clear_error();
	wbd_tls_describe_error(c->ssl, errs, n, why, sizeof(why));
	wbd_warn("nbd: %s: %s failed: %s; closing", c->peer, what, why);
	wbd_nbd_conn_close(c);
}

static void tls_want_write(struct wbd_nbd_conn *c)
{
	if (!c->wev_added) {
		c->wev_added = true;
		event_add(c->wev, NULL);
	}
}

void wbd_nbd_tls_begin(struct wbd_nbd_conn *c)
{
	c->tls_start = false;
	c->ssl = wbd_nbd_ctx ? wbd_tls_ssl_new(wbd_nbd_ctx, true, NULL) : NULL;
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		wbd_err("nbd: %s: cannot set up TLS, closing", c->peer);
		wbd_nbd_conn_close(c);
		return;
	}
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* read the socket WBD_NBD_TLS_RBUF at a time, not a record header and
	 * then its body: several records per read(); what is read ahead shows
	 * in wbd_nbd_tls_pending() (the connection is read again at once) */
	SSL_set_default_read_buffer_len(c->ssl, WBD_NBD_TLS_RBUF);
	SSL_set_read_ahead(c->ssl, 1);
	SSL_set_accept_state(c->ssl);
	c->tls_hs = true;
	if (!c->throttled)
		event_add(c->rev, NULL); /* stopped at STARTTLS */
	wbd_nbd_tls_handshake(c);
}

void wbd_nbd_tls_handshake(struct wbd_nbd_conn *c)
{
	char subj[256] = "?";
	X509 *x;
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r != 1) {
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			return; /* rev is persistent */
		case SSL_ERROR_WANT_WRITE:
			tls_want_write(c);
			return;
		default:
			tls_fail(c, "TLS handshake");
			return;
		}
	}
	c->tls_hs = false;
	c->tls_on = true;
	/* the context requires a verified client certificate: x is set */
	x = SSL_get1_peer_certificate(c->ssl);
	if (x) {
		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
		X509_free(x);
	}
	wbd_info("nbd: %s: %s established, client certificate %s", c->peer, SSL_get_version(c->ssl),
		 subj);
	wbd_nbd_tls_kick(c);
}

bool wbd_nbd_tls_pending(const struct wbd_nbd_conn *c)
{
	return c->ssl && SSL_has_pending(c->ssl);
}

void wbd_nbd_tls_kick(struct wbd_nbd_conn *c)
{
	/* decrypted (or received, not yet decrypted) input inside the SSL
	 * does not make the socket readable again: go and read it */
	if (c->fd >= 0 && c->rev && !c->throttled && c->state != WBD_NBD_CS_CLOSING &&
	    wbd_nbd_tls_pending(c))
		event_active(c->rev, EV_READ, 0);
}

ssize_t wbd_nbd_tls_read(struct wbd_nbd_conn *c, void *buf, size_t len)
{
	int r;

	ERR_clear_error();
	r = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		tls_want_write(c);
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		wbd_debug("nbd: %s disconnected (TLS close_notify)", c->peer);
		wbd_nbd_conn_close(c);
		return -1;
	case SSL_ERROR_SYSCALL:
		if (!ERR_peek_error()) {
			wbd_debug("nbd: %s disconnected", c->peer);
			wbd_nbd_conn_close(c);
			return -1;
		}
		/* fall through */
	default:
		tls_fail(c, "TLS read");
		return -1;
	}
}

void wbd_nbd_tls_flush(struct wbd_nbd_conn *c)
{
	for (int round = 0; round < 256 && c->fd >= 0; round++) {
		struct evbuffer_iovec v;
		size_t len;
		int w;

		if (evbuffer_peek(c->out, -1, NULL, &v, 1) <= 0)
			break;
		/* a retry after WANT_WRITE passes at least as many bytes from
		 * the same start (the chunk only grows until drained) */
		len = v.iov_len > WBD_NBD_TLS_WRITE_MAX ? WBD_NBD_TLS_WRITE_MAX : v.iov_len;
		ERR_clear_error();
		w = SSL_write(c->ssl, v.iov_base, (int)len);
		if (w <= 0) {
			int e = SSL_get_error(c->ssl, w);

			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
				tls_want_write(c);
				return;
			}
			if (e == SSL_ERROR_SYSCALL && !ERR_peek_error()) {
				wbd_debug("nbd: %s disconnected (send)", c->peer);
				wbd_nbd_conn_close(c);
				return;
			}
			tls_fail(c, "TLS write");
			return;
		}
		evbuffer_drain(c->out, (size_t)w);
	}
	if (c->fd >= 0 && evbuffer_get_length(c->out))
		tls_want_write(c);
}

void wbd_nbd_tls_free(struct wbd_nbd_conn *c)
{
	if (!c->ssl)
		return;
	if (c->tls_on) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* best effort close_notify, never waits */
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
}
