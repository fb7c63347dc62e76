/*
 * TLS server configuration: one SSL_CTX per certificate, chosen by SNI.
 *
 * Every context gets the same policy: TLS 1.2 and 1.3 only, AEAD ciphers
 * only (AES-GCM, ChaCha20-Poly1305) with ECDHE, stateless session tickets
 * (resumption) under keys that rotate and survive reloads (tls_ticket.c),
 * no renegotiation, no compression, no chain building (the chain sent is
 * the certificate file's), and SSL_OP_ENABLE_KTLS so that OpenSSL offers
 * the transmit keys to our BIO (tls_conn.c); a keylog callback that keeps
 * the traffic secret for KeyUpdate (and writes no log).  The
 * first context is the default (a client without SNI, or with a name no
 * certificate has); the servername callback moves a connection to the
 * context whose certificate matches the name.
 *
 * A pair whose certificate has the same names as an earlier one but another
 * key type (an RSA certificate beside an ECDSA one) joins the earlier
 * pair's context: OpenSSL keeps one certificate per key type in a context
 * and gives each client one it can verify (the ECDSA one first, by our
 * cipher order and its signature-algorithm order), so an old client that
 * cannot use ECDSA still gets in.  Two pairs of one key type for the same
 * names are refused: the second would never be sent.
 */
#include "tls/tls_impl.h"

#include "core/log.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char tls_alpn_default[] = "\x08http/1.1";

static const char tls_ciphers12[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char tls_ciphers13[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/* The last OpenSSL error as text (and the queue cleared). */
static const char *
tls_ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (e == 0)
		snprintf(buf, len, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		unsigned int inlen, void *arg)
{
	struct tls_server *srv = arg;
	unsigned char *o;
	/* Server preference: the first of ours the client also offers. */
	if (SSL_select_next_proto(&o, outlen, srv->alpn, (unsigned)srv->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* no common protocol: carry on without ALPN */
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

static int
tls_servername(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *srv = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (int i = 1; i < srv->n; i++) {
		if (X509_check_host(srv->certs[i], name, 0, 0, NULL) == 1) {
			SSL_set_SSL_CTX(ssl, srv->ctx[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK; /* a name no certificate has: the default one */
}

/* Can `path` be opened for reading?  Names the reason OpenSSL would bury. */
static int
tls_check_readable(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		int e = errno;
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(e));
		return -e;
	}
	fclose(f);
	return 0;
}

/* Load one certificate/key pair into ctx (beside pairs of other key types); *x: its certificate. */
static int
tls_ctx_add_pair(SSL_CTX *ctx, const struct tls_cert_spec *cs, X509 **x, char *err, size_t errlen)
{
	char why[256];
	int rc;
	if ((rc = tls_check_readable("--tls-cert", cs->cert, err, errlen)) != 0 ||
	    (rc = tls_check_readable("--tls-key", cs->key, err, errlen)) != 0)
		return rc;
	if (SSL_CTX_use_certificate_chain_file(ctx, cs->cert) != 1) {
		snprintf(err, errlen, "--tls-cert %s: not a PEM certificate chain (%s)", cs->cert,
			 tls_ossl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cs->key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();
		if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(err, errlen, "--tls-key %s does not match --tls-cert %s", cs->key,
				 cs->cert);
		else
			snprintf(err, errlen, "--tls-key %s: not a usable PEM private key (%s)",
				 cs->key, tls_ossl_reason(why, sizeof(why)));
		ERR_clear_error();
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "--tls-key %s does not match --tls-cert %s", cs->key,
			 cs->cert);
		ERR_clear_error();
		return -EINVAL;
	}
	*x = SSL_CTX_get0_certificate(ctx); /* the one just loaded: OpenSSL made it current */
	return 0;
}

/* A new context with our policy for srv->ctx[i]. */
static int
tls_ctx_new(struct tls_server *srv, int i, char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
			 tls_ossl_reason(why, sizeof(why)));
		return -ENOMEM;
	}
	srv->ctx[i] = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_ENABLE_KTLS);
	/* The chain sent is the --tls-cert file's, as given: OpenSSL does not build one per handshake. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
	if (SSL_CTX_set_cipher_list(ctx, tls_ciphers12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, tls_ciphers13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
		snprintf(err, errlen, "cannot set the TLS ciphers: %s",
			 tls_ossl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, srv);
	SSL_CTX_set_keylog_callback(ctx, tls_conn_keylog);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
	SSL_CTX_set_app_data(ctx, srv); /* for tls_ticket_cb */
	if (i == 0) {
		SSL_CTX_set_tlsext_servername_callback(ctx, tls_servername);
		SSL_CTX_set_tlsext_servername_arg(ctx, srv);
	}
	return 0;
}

/* Is every subjectAltName of a also one of b's?  Without names, the subjects. */
static bool
tls_names_within(X509 *a, X509 *b)
{
	GENERAL_NAMES *an = X509_get_ext_d2i(a, NID_subject_alt_name, NULL, NULL);
	GENERAL_NAMES *bn = X509_get_ext_d2i(b, NID_subject_alt_name, NULL, NULL);
	bool within = an != NULL && bn != NULL;
	for (int i = 0; within && i < sk_GENERAL_NAME_num(an); i++) {
		bool found = false;
		for (int j = 0; !found && j < sk_GENERAL_NAME_num(bn); j++)
			found = GENERAL_NAME_cmp(sk_GENERAL_NAME_value(an, i),
						 sk_GENERAL_NAME_value(bn, j)) == 0;
		within = found;
	}
	if (an == NULL && bn == NULL)
		within = X509_NAME_cmp(X509_get_subject_name(a), X509_get_subject_name(b)) == 0;
	GENERAL_NAMES_free(an);
	GENERAL_NAMES_free(bn);
	return within;
}

/* The context, before `n`, whose first certificate has exactly x's names; -1 if none. */
static int
tls_same_names(const struct tls_server *srv, int n, X509 *x)
{
	for (int j = 0; j < n; j++)
		if (tls_names_within(x, srv->certs[j]) && tls_names_within(srv->certs[j], x))
			return j;
	return -1;
}

/*
 * Pair i: a context of its own, or another key type in the context of an
 * earlier pair with the same names (see the top).  ctx_of[] and type_of[]
 * record, for pairs 0..i, the context each went to and its key type.
 */
static int
tls_pair_load(struct tls_server *srv, const struct tls_cert_spec *certs, int i, int *ctx_of,
	      int *type_of, char *err, size_t errlen)
{
	int n = srv->n, rc;
	X509 *x;
	if ((rc = tls_ctx_new(srv, n, err, errlen)) != 0 ||
	    (rc = tls_ctx_add_pair(srv->ctx[n], &certs[i], &x, err, errlen)) != 0)
		return rc;
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		LOG_WARN("tls", "warning: certificate %s has expired: clients will refuse it",
			 certs[i].cert);
	else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		LOG_WARN("tls", "warning: certificate %s is not valid yet", certs[i].cert);
	type_of[i] = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
	int j = tls_same_names(srv, n, x);
	if (j < 0) {
		srv->certs[n] = x;
		srv->n++;
		ctx_of[i] = n;
		return 0;
	}
	SSL_CTX_free(srv->ctx[n]);
	srv->ctx[n] = NULL;
	for (int k = 0; k < i; k++) {
		if (ctx_of[k] == j && type_of[k] == type_of[i]) {
			snprintf(err, errlen,
				 "--tls-cert %s has the names and the key type of --tls-cert %s: "
				 "it would never be sent",
				 certs[i].cert, certs[k].cert);
			return -EINVAL;
		}
	}
	ctx_of[i] = j;
	return tls_ctx_add_pair(srv->ctx[j], &certs[i], &x, err, errlen);
}

int
tls_server_new(const struct tls_cert_spec *certs, int n, char *err, size_t errlen,
	       struct tls_server **out)
{
	if (n < 1 || n > TLS_MAX_CERTS) {
		snprintf(err, errlen, "want 1 to %d certificate/key pairs", TLS_MAX_CERTS);
		return -EINVAL;
	}
	struct tls_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	atomic_init(&srv->refs, 1);
	srv->alpn = tls_alpn_default;
	srv->alpn_len = sizeof(tls_alpn_default) - 1;
	int ctx_of[TLS_MAX_CERTS], type_of[TLS_MAX_CERTS];
	for (int i = 0; i < n; i++) {
		int rc = tls_pair_load(srv, certs, i, ctx_of, type_of, err, errlen);
		if (rc != 0) {
			tls_server_free(srv);
			return rc;
		}
	}
	*out = srv;
	return 0;
}

void
tls_server_set_alpn(struct tls_server *srv, const unsigned char *protos, size_t len)
{
	srv->alpn = protos;
	srv->alpn_len = len;
}

void
tls_server_ref(struct tls_server *srv)
{
	if (srv != NULL)
		atomic_fetch_add_explicit(&srv->refs, 1, memory_order_relaxed);
}

void
tls_server_free(struct tls_server *srv)
{
	if (srv == NULL || atomic_fetch_sub_explicit(&srv->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (int i = 0; i < TLS_MAX_CERTS; i++) /* with one a failed load left beyond n */
		SSL_CTX_free(srv->ctx[i]);
	OPENSSL_cleanse(srv->tickets, sizeof(srv->tickets));
	free(srv);
}
