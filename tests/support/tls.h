/*
 * TLS for tests that run the server in-process: a self-signed ECDSA P-256
 * certificate for "localhost" written to a new temp dir (test-only key),
 * the server's tls_server over it, and a client SSL_CTX (no verification,
 * no session cache).
 */
#ifndef VMSEND_TEST_TLS_H
#define VMSEND_TEST_TLS_H

typedef struct ssl_ctx_st SSL_CTX;
struct tls_server;

struct test_tls {
	char dir[64];
	char cert[128], key[128];
	struct tls_server *srv;
	SSL_CTX *cctx;
};

/* Make all of it (asserts on failure). */
void test_tls_setup(struct test_tls *t);
/* Free the contexts and remove the files. */
void test_tls_teardown(struct test_tls *t);

#endif
