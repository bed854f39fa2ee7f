// SPDX-License-Identifier: GPL-2.0-only
/*
 * tls.c - the SSL_CTX of replication links (see tls.h): TLS 1.3 only,
 * mutual certificate authentication against tls-ca, peer names checked
 * with X509_check_host, readable reasons for failed handshakes. Owns no
 * state besides the contexts it hands out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conf/wbconf.h"
#include "daemon/tls.h"
#include "daemon/wbd_log.h"

/* The reason of the first error on OpenSSL's queue into err (emptied). */
static void tls_queue_why(char *err, size_t len, const char *what, const char *path)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, len, "%s%s%s: %s", what, path ? " " : "", path ? path : "",
		 e ? buf : "unknown error");
	ERR_clear_error();
}

static void tls_log_queue(const char *what, const char *path)
{
	char err[512];

	tls_queue_why(err, sizeof(err), what, path);
	wbd_err("tls: %s", err);
}

/* Seconds since the epoch of an ASN1_TIME (0: cannot be read). */
static int64_t tls_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* Our own certificate outside its validity period: the peers would refuse
 * it. At start a warning (the log says why before they do); strict (a
 * reload): the reason, so the reload is refused and the running one
 * stays. One expiring within WBCONF_TLS_WARN_DAYS: a warning either way. */
static int tls_check_own_dates(SSL_CTX *ctx, const char *path, bool strict, char *err, size_t len)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	int64_t left;

	if (!x)
		return 0;
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		snprintf(err, len, "certificate %s has expired: peers will refuse this node", path);
		if (strict)
			return -EKEYEXPIRED;
		wbd_warn("tls: %s", err);
	} else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		snprintf(err, len, "certificate %s is not valid yet: peers will refuse this node",
			 path);
		if (strict)
			return -EKEYREJECTED;
		wbd_warn("tls: %s", err);
	} else if ((left = tls_time(X509_get0_notAfter(x)) - (int64_t)time(NULL)) <
		   WBCONF_TLS_WARN_DAYS * 86400) {
		wbd_warn("tls: certificate %s expires in %lld days: renew it (same paths) and "
			 "wbctl reload",
			 path, (long long)(left / 86400));
	}
	return 0;
}

/*
 * Certificates are replaced at a reload (wbd.c) while links connect on the
 * io loops: the SSL_CTX a link, the peer listener or the NBD code was
 * given is a handle whose ex_data slot holds the context new SSLs are made
 * from, swapped under a lock. An SSL holds its own reference to the
 * context it was made from, so a connection made before the swap goes on
 * with its certificate; the next one presents the new certificate and
 * checks peers against the new CA.
 */
struct tls_cur {
	pthread_mutex_t mu;
	SSL_CTX *ctx; /* NULL: the handle itself */
};

static int tls_idx = -1;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_cur_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	struct tls_cur *c = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void tls_idx_init(void)
{
	tls_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_cur_free);
}

static struct tls_cur *tls_cur_of(SSL_CTX *h)
{
	pthread_once(&tls_once, tls_idx_init);
	return tls_idx < 0 ? NULL : SSL_CTX_get_ex_data(h, tls_idx);
}

int wbd_tls_ctx_load(const char *cert, const char *key, const char *ca, bool strict, SSL_CTX **out,
		     char *err, size_t len)
{
	SSL_CTX *ctx;
	int ret = -EINVAL;

	*out = NULL;
	err[0] = 0;
	if (!ca || !!cert != !!key) {
		snprintf(err, len, "tls-ca, and tls-cert with tls-key, are needed");
		return -EINVAL;
	}
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx) {
		tls_queue_why(err, len, "cannot create a context", NULL);
		return -ENOMEM;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		tls_queue_why(err, len, "cannot restrict to TLS 1.3", NULL);
		goto out_free;
	}
	if (cert) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
			tls_queue_why(err, len, "cannot load tls-cert", cert);
			goto out_free;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			/* OpenSSL checks the pair here already */
			tls_queue_why(err, len,
				      ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH
					  ? "tls-key does not match tls-cert:"
					  : "cannot load tls-key",
				      key);
			goto out_free;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			tls_queue_why(err, len, "tls-key does not match tls-cert", key);
			goto out_free;
		}
		ret = tls_check_own_dates(ctx, cert, strict, err, len);
		if (ret)
			goto out_free;
		ret = -EINVAL;
	} else {
		wbd_warn("tls: no certificate: peers will refuse this node");
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		tls_queue_why(err, len, "cannot load tls-ca", ca);
		goto out_free;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	*out = ctx;
	return 0;
out_free:
	SSL_CTX_free(ctx);
	return ret;
}

int wbd_tls_ctx_open(const char *cert, const char *key, const char *ca, SSL_CTX **out, char *err,
		     size_t len)
{
	struct tls_cur *c;
	int ret = wbd_tls_ctx_load(cert, key, ca, false, out, err, len);

	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (c && !pthread_mutex_init(&c->mu, NULL)) {
		if (!tls_cur_of(*out) && tls_idx >= 0 && SSL_CTX_set_ex_data(*out, tls_idx, c))
			return 0;
		pthread_mutex_destroy(&c->mu);
	}
	free(c);
	SSL_CTX_free(*out);
	*out = NULL;
	snprintf(err, len, "out of memory for the context");
	return -ENOMEM;
}

int wbd_tls_ctx_new(const char *cert, const char *key, const char *ca, SSL_CTX **out)
{
	char err[512];
	int ret = wbd_tls_ctx_open(cert, key, ca, out, err, sizeof(err));

	if (ret)
		wbd_err("tls: %s", err);
	return ret;
}

int wbd_tls_ctx_replace(SSL_CTX *handle, SSL_CTX *nw)
{
	struct tls_cur *c = tls_cur_of(handle);
	SSL_CTX *old;

	if (!c)
		return -EINVAL;
	SSL_CTX_up_ref(nw);
	pthread_mutex_lock(&c->mu);
	old = c->ctx;
	c->ctx = nw;
	pthread_mutex_unlock(&c->mu);
	SSL_CTX_free(old);
	return 0;
}

/* The context new connections are made from, with a reference. */
static SSL_CTX *tls_current(SSL_CTX *handle)
{
	struct tls_cur *c = tls_cur_of(handle);
	SSL_CTX *ctx = handle;

	if (c) {
		pthread_mutex_lock(&c->mu);
		if (c->ctx)
			ctx = c->ctx;
		SSL_CTX_up_ref(ctx);
		pthread_mutex_unlock(&c->mu);
	} else {
		SSL_CTX_up_ref(ctx);
	}
	return ctx;
}

int wbd_tls_cert_info(SSL_CTX *handle, struct wbd_tls_info *out)
{
	SSL_CTX *ctx = tls_current(handle);
	X509 *x = SSL_CTX_get0_certificate(ctx);
	const ASN1_INTEGER *sn;
	BIGNUM *bn = NULL;
	char *hex = NULL;

	memset(out, 0, sizeof(*out));
	if (!x) {
		SSL_CTX_free(ctx);
		return -ENOENT;
	}
	X509_NAME_oneline(X509_get_subject_name(x), out->subject, sizeof(out->subject));
	sn = X509_get0_serialNumber(x);
	if (sn && (bn = ASN1_INTEGER_to_BN(sn, NULL)) && (hex = BN_bn2hex(bn)))
		snprintf(out->serial, sizeof(out->serial), "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	out->not_before = tls_time(X509_get0_notBefore(x));
	out->not_after = tls_time(X509_get0_notAfter(x));
	SSL_CTX_free(ctx);
	return 0;
}

int64_t wbd_tls_peer_not_after(SSL *ssl)
{
	X509 *x = ssl ? SSL_get0_peer_certificate(ssl) : NULL;

	return x ? tls_time(X509_get0_notAfter(x)) : 0;
}

SSL *wbd_tls_ssl_new(SSL_CTX *handle, bool server, const char *peer_name)
{
	SSL_CTX *ctx = tls_current(handle);
	SSL *ssl = SSL_new(ctx);

	SSL_CTX_free(ctx); /* the SSL holds its own */

	if (!ssl) {
		tls_log_queue("SSL_new failed", NULL);
		return NULL;
	}
	if (!server && peer_name &&
	    (SSL_set1_host(ssl, peer_name) != 1 || SSL_set_tlsext_host_name(ssl, peer_name) != 1)) {
		tls_log_queue("cannot set the expected peer name", peer_name);
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/*
 * OpenSSL's own read-ahead (SSL_set_read_ahead with a big read buffer)
 * was tried first: 3.0 moves the rest of its buffer to the front for every
 * record it takes (ssl3_read_n, clearold), a few times the payload in
 * memmove. BIO_f_buffer copies each record out once and reads the socket
 * again only when it is empty. Receiver CPU per MiB, same process,
 * interleaved: read-ahead 256 KiB 0.71x, this with 256 KiB 0.53x, with
 * 1 MiB 0.45x (docs/benchmarks.md, "TLS receive").
 */
/* BIO_f_buffer over the socket fd, its read or write buffer `size` bytes */
static BIO *tls_buffered(int fd, bool wr, long size)
{
	BIO *buf = BIO_new(BIO_f_buffer());
	BIO *sock = BIO_new_socket(fd, BIO_NOCLOSE);

	if (!buf || !sock ||
	    (wr ? BIO_set_write_buffer_size(buf, size) : BIO_set_read_buffer_size(buf, size)) !=
		1) {
		BIO_free(buf);
		BIO_free(sock);
		ERR_clear_error();
		return NULL;
	}
	return BIO_push(buf, sock);
}

int wbd_tls_read_buffered(SSL *ssl, int fd)
{
	BIO *b = tls_buffered(fd, false, WBD_TLS_RBUF);

	if (!b)
		return -ENOMEM;
	SSL_set0_rbio(ssl, b); /* the SSL owns the chain; wbio stays */
	return 0;
}

/*
 * The write side: every SSL_write made one write(2) per 16 KiB record
 * (bufferevent_openssl gives SSL_write at most 16 KiB at a time, and the
 * socket BIO writes each record as it is sealed), 64 syscalls per MiB and
 * as many wake-ups of the reader on loopback. BIO_f_buffer collects the
 * records until WBD_TLS_WBUF are held (then it writes them in one go) or
 * the link flushes at the end of its writer's pass (peerlink.c). A full
 * socket makes the buffer's write return a retry, SSL_write then returns
 * WANT_WRITE and bufferevent_openssl waits for the socket as before.
 */
int wbd_tls_write_buffered(SSL *ssl, int fd)
{
	BIO *b = tls_buffered(fd, true, WBD_TLS_WBUF);

	if (!b)
		return -ENOMEM;
	SSL_set0_wbio(ssl, b); /* the SSL owns the chain */
	return 0;
}

int wbd_tls_flush(SSL *ssl)
{
	BIO *wb = SSL_get_wbio(ssl);

	if (!wb || BIO_wpending(wb) <= 0)
		return 1;
	if (BIO_flush(wb) > 0)
		return 1;
	if (BIO_should_retry(wb))
		return 0;
	ERR_clear_error();
	return -1;
}

bool wbd_tls_read_pending(SSL *ssl)
{
	BIO *rb = SSL_get_rbio(ssl);

	return SSL_has_pending(ssl) || (rb && BIO_pending(rb) > 0);
}

long wbd_tls_read_into(SSL *ssl, void *buf, size_t len, char *why, size_t whylen)
{
	unsigned long errs[8], e;
	size_t got = 0, n = 0;
	int err;

	if (ERR_peek_error()) /* SSL_get_error() needs an empty queue */
		ERR_clear_error();
	if (SSL_read_ex(ssl, buf, len, &got) == 1)
		return (long)got;
	err = SSL_get_error(ssl, 0);
	switch (err) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(why, whylen, "closed by the peer");
		break;
	case SSL_ERROR_SYSCALL:
		if (!ERR_peek_error()) {
			snprintf(why, whylen, "%s", errno ? strerror(errno) : "closed by the peer");
			break;
		}
		/* fall through */
	default:
		while ((e = ERR_get_error()))
			if (n < 8)
				errs[n++] = e;
		if (n)
			wbd_tls_describe_error(NULL, errs, n, why, whylen);
		else
			snprintf(why, whylen, "TLS error %d", err);
	}
	ERR_clear_error();
	return -ECONNRESET;
}

int wbd_tls_peer_check(SSL *ssl, const char *name, char *why, size_t whylen)
{
	X509 *x = SSL_get1_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	int rc = 0;

	if (!x) {
		snprintf(why, whylen, "peer presented no certificate");
		return -EACCES;
	}
	if (vr != X509_V_OK) {
		snprintf(why, whylen, "peer certificate not verified: %s",
			 X509_verify_cert_error_string(vr));
		rc = -EACCES;
	} else if (X509_check_host(x, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) {
		char subj[256];

		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
		snprintf(why, whylen, "peer certificate (%s) does not name '%s'", subj, name);
		rc = -EACCES;
	}
	X509_free(x);
	return rc;
}

void wbd_tls_describe_error(SSL *ssl, const unsigned long *errs, size_t n, char *buf, size_t len)
{
	size_t off = 0;
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	buf[0] = 0;
	if (vr != X509_V_OK)
		off += (size_t)snprintf(buf, len, "certificate verification: %s; ",
					X509_verify_cert_error_string(vr));
	for (size_t i = 0; i < n && off + 1 < len; i++) {
		char e[200];

		ERR_error_string_n(errs[i], e, sizeof(e));
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "; " : "", e);
	}
	if (!n && off + 1 < len)
		snprintf(buf + off, len - off, "connection closed during the handshake");
}
