// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl_tls.c - `wbctl config check`: the [global] tls-cert, tls-key and
 * tls-ca of the node the file is for, checked as its peers will check
 * them (docs/configuration.md, "Replication links"): every file loads, the
 * key is the certificate's, the certificate chains to tls-ca, names the
 * node (subjectAltName DNS or CN) and is valid now; one that expires
 * within 30 days is a warning. What a start or a reload would refuse, or
 * a peer would, is an error before either runs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli/wbctl.h"

/* TLS is used: replication between nodes over TLS, or NBD STARTTLS. */
static bool tls_used(const struct wbconf *c)
{
	if (c->nnodes > 1 && c->global.transport == WBCONF_TRANSPORT_TLS)
		return true;
	for (size_t i = 0; i < c->nres; i++)
		if (c->res[i].tls != WBCONF_TLS_OFF)
			return true;
	return false;
}

static void why_ssl(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
}

/* One problem: "FILE: [global] KEY: ..."; 1, to count it. */
static unsigned tls_err(const char *file, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static unsigned tls_err(const char *file, const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%s: [global] %s: ", file, key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 1;
}

unsigned wbctl_check_tls(const struct wbconf *c, const char *file)
{
	const struct wbconf_global *g = &c->global;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	X509_STORE *st = NULL;
	X509_STORE_CTX *sc = NULL;
	STACK_OF(X509) *chain = NULL;
	FILE *f;
	char why[256];
	unsigned errs = 0;

	if (!tls_used(c) || !g->tls_cert || !g->tls_key || !g->tls_ca)
		return 0; /* the parser said what is missing */
	if (!(f = fopen(g->tls_cert, "r")))
		return tls_err(file, "tls-cert", "'%s': %s", g->tls_cert, strerror(errno));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	chain = sk_X509_new_null();
	for (X509 *y; chain && (y = PEM_read_X509(f, NULL, NULL, NULL));)
		sk_X509_push(chain, y); /* intermediates after the leaf */
	ERR_clear_error();
	fclose(f);
	if (!x) {
		errs += tls_err(file, "tls-cert", "'%s': no PEM certificate in it", g->tls_cert);
		goto out;
	}
	if (!(f = fopen(g->tls_key, "r"))) {
		errs += tls_err(file, "tls-key", "'%s': %s", g->tls_key, strerror(errno));
	} else {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		if (!k) {
			why_ssl(why, sizeof(why));
			errs += tls_err(file, "tls-key", "'%s': not a PEM private key (%s)",
					g->tls_key, why);
		} else if (X509_check_private_key(x, k) != 1) {
			ERR_clear_error();
			errs += tls_err(file, "tls-key", "'%s' is not the key of tls-cert '%s'",
					g->tls_key, g->tls_cert);
		}
	}
	st = X509_STORE_new();
	if (!st || X509_STORE_load_file(st, g->tls_ca) != 1) {
		why_ssl(why, sizeof(why));
		errs += tls_err(file, "tls-ca", "'%s': cannot load it as a PEM CA bundle (%s)",
				g->tls_ca, why);
	} else if (!(sc = X509_STORE_CTX_new()) || X509_STORE_CTX_init(sc, st, x, chain) != 1 ||
		   X509_verify_cert(sc) != 1) {
		int e = sc ? X509_STORE_CTX_get_error(sc) : X509_V_ERR_UNSPECIFIED;

		ERR_clear_error();
		/* the dates are said below, once */
		if (e != X509_V_ERR_CERT_HAS_EXPIRED && e != X509_V_ERR_CERT_NOT_YET_VALID)
			errs += tls_err(file, "tls-cert", "'%s': peers will refuse it: %s",
					g->tls_cert, X509_verify_cert_error_string(e));
	}
	if (g->node_name &&
	    X509_check_host(x, g->node_name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1)
		errs +=
		    tls_err(file, "tls-cert",
			    "'%s' does not name node '%s' (subjectAltName DNS or CN): peers will "
			    "refuse it",
			    g->tls_cert, g->node_name);
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		errs += tls_err(file, "tls-cert", "'%s' has expired", g->tls_cert);
	} else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		errs += tls_err(file, "tls-cert", "'%s' is not valid yet", g->tls_cert);
	} else {
		int days = 0, secs = 0;

		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) &&
		    days < WBCONF_TLS_WARN_DAYS)
			printf("%s: warning: [global] tls-cert: '%s' expires in %d day%s: renew it "
			       "(same paths) and wbctl reload\n",
			       file, g->tls_cert, days, days == 1 ? "" : "s");
	}
out:
	X509_STORE_CTX_free(sc);
	X509_STORE_free(st);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(k);
	X509_free(x);
	return errs;
}
