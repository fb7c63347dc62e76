/*
 * OpenSSL through the counted allocator, and a test certificate (alloc_tls.h).
 */
#include "alloc_tls.h"

#include <criterion/criterion.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);

bool fat_tls_client_mode;
char fat_tls_cert[128], fat_tls_key[128];
static char certdir[64];

static void *
tls_hook_malloc(size_t n, const char *file, int line)
{
	return fat_tls_client_mode ? __real_malloc(n) : malloc(n);
}

static void *
tls_hook_realloc(void *p, size_t n, const char *file, int line)
{
	return fat_tls_client_mode ? __real_realloc(p, n) : realloc(p, n);
}

static void
tls_hook_free(void *p, const char *file, int line)
{
	free(p);
}

static bool tls_hooks_ok;

__attribute__((constructor)) static void
tls_hooks_install(void)
{
	tls_hooks_ok = CRYPTO_set_mem_functions(tls_hook_malloc, tls_hook_realloc, tls_hook_free);
}

void
fat_tls_setup(void)
{
	cr_assert(tls_hooks_ok, "OpenSSL allocated before the hooks were installed");
	strcpy(certdir, "/tmp/vmsend-alloc-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(certdir));
	snprintf(fat_tls_cert, sizeof(fat_tls_cert), "%s/cert.pem", certdir);
	snprintf(fat_tls_key, sizeof(fat_tls_key), "%s/key.pem", certdir);

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
	FILE *f = fopen(fat_tls_cert, "w");
	cr_assert(f != NULL && PEM_write_X509(f, x) == 1);
	fclose(f);
	f = fopen(fat_tls_key, "w");
	cr_assert(f != NULL && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

void
fat_tls_teardown(void)
{
	unlink(fat_tls_cert);
	unlink(fat_tls_key);
	rmdir(certdir);
}
