/*
 * TLS for the fault loops (test_alloc_tls, test_alloc_https): OpenSSL's
 * allocations go through the counted allocator (CRYPTO_set_mem_functions,
 * installed by a constructor before OpenSSL allocates anything), and a
 * self-signed certificate is made at start in a temp dir.
 */
#ifndef VMSEND_TEST_ALLOC_TLS_H
#define VMSEND_TEST_ALLOC_TLS_H

#include <stdbool.h>

/* True while OpenSSL works for the client on a thread the server shares: never failed. */
extern bool fat_tls_client_mode;

/*
 * Check that the hooks are in, then write a self-signed ECDSA P-256
 * certificate and key for "localhost" into a new temp dir:
 * fat_tls_cert / fat_tls_key.
 */
extern char fat_tls_cert[128], fat_tls_key[128];
void fat_tls_setup(void);
/* Remove them. */
void fat_tls_teardown(void);

#endif
