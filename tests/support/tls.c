/*
 * A test certificate, the server's TLS contexts and a client context (tls.h).
 */
#include "tls.h"

#include "tls/tls.h"

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_tls_write_cert(const struct test_tls *t)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	cr_assert(pk != NULL && x != NULL);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, nm);
	cr_assert(X509_sign(x, pk, EVP_sha256()) > 0);
	FILE *f = fopen(t->cert, "w");
	cr_assert(f != NULL && PEM_write_X509(f, x) == 1);
	fclose(f);
	f = fopen(t->key, "w");
	cr_assert(f != NULL && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

void
test_tls_setup(struct test_tls *t)
{
	memset(t, 0, sizeof(*t));
	strcpy(t->dir, "/tmp/vmsend-test-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(t->dir));
	snprintf(t->cert, sizeof(t->cert), "%s/cert.pem", t->dir);
	snprintf(t->key, sizeof(t->key), "%s/key.pem", t->dir);
	test_tls_write_cert(t);
	char err[256];
	struct tls_cert_spec cs = {t->cert, t->key};
	cr_assert_eq(tls_server_new(&cs, 1, err, sizeof(err), &t->srv), 0, "%s", err);
	t->cctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(t->cctx);
	SSL_CTX_set_session_cache_mode(t->cctx, SSL_SESS_CACHE_OFF);
}

void
test_tls_teardown(struct test_tls *t)
{
	SSL_CTX_free(t->cctx);
	tls_server_free(t->srv);
	unlink(t->cert);
	unlink(t->key);
	rmdir(t->dir);
	memset(t, 0, sizeof(*t));
}
