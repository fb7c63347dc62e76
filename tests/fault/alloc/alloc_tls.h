/*
 * TLS for the fault loops (test_alloc_tls, test_alloc_https): OpenSSL's
 * allocations go through the counted allocator (CRYPTO_set_mem_functions,
 * installed by a constructor before OpenSSL allocates anything), and the
 * certificate, the server's contexts and the client's context are made at
 * start (tests/support/tls.h), through that allocator but never armed.
 */
#ifndef VMSEND_TEST_ALLOC_TLS_H
#define VMSEND_TEST_ALLOC_TLS_H

#include "support/tls.h"

#include <stdbool.h>

/* True while OpenSSL works for the client on a thread the server shares: never failed. */
extern bool fat_tls_client_mode;

/*
 * Check that the hooks are in, then make a self-signed ECDSA P-256
 * certificate for "localhost" in a new temp dir, the tls_server over it
 * and a client SSL_CTX (no session cache): fat_tls.srv, fat_tls.cctx.
 */
extern struct test_tls fat_tls;
void fat_tls_setup(void);
/* Free them and remove the files. */
void fat_tls_teardown(void);

#endif
