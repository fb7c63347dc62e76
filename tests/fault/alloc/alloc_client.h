/*
 * The client side of the server fault loops (test_alloc_h2, test_alloc_https):
 * HTTP/1.1 and HTTP/2 requests for the loops' files over a blocking
 * connection to the in-process server, plain or over TLS (the connection
 * and the HTTP/2 client are tests/support/h2client.h).
 *
 * The client runs on the test's thread, which calls fault_alloc_exempt_thread():
 * its allocations (and OpenSSL's, when routed through the counted allocator)
 * are never failed.  libnghttp2 is a shared library using libc's malloc for
 * the client session: never counted either.
 */
#ifndef VMSEND_TEST_ALLOC_CLIENT_H
#define VMSEND_TEST_ALLOC_CLIENT_H

#include "support/h2client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server_config;

/* What one HTTP/1.1 request got: the stream's bytes up to the end of the response, or EOF. */
struct fac_h1_got {
	char *buf; /* free() it */
	size_t len, cap;
	int status;     /* 0: no complete head */
	size_t headlen; /* with its blank line */
	size_t clen;    /* Content-Length */
	bool whole;     /* head and body complete */
};

/* Send `request` on x and read until the response (of a body up to bodymax) is whole or x closed. */
void fac_h1_get(struct test_conn *x, const char *request, size_t bodymax, struct fac_h1_got *g,
		const char *what, unsigned long n);
/*
 * The answer is the whole 200 with body want[0, wantlen), or a whole 5xx,
 * or the connection closed after a clean prefix of the 200.
 */
void fac_h1_check(const struct fac_h1_got *g, const uint8_t *want, size_t wantlen, const char *what,
		  unsigned long n);
/*
 * GET /h/sub/file.bin on x, checked with fac_h1_check against fat_fdata;
 * true if it was the whole 200 (with `whole`, it must be).
 */
bool fac_h1_get_file(struct test_conn *x, bool whole, const char *what, unsigned long n);

/*
 * HTTP/2 on x (prior knowledge, or "h2" agreed by ALPN): /h/sub/file.bin
 * and /img/obj.bin at once, each checked with test_h2_check against
 * fat_fdata, fat_odata (never wrong bytes; with `whole`, both the whole
 * 200); true if both came whole.
 */
bool fac_h2_get_both(struct test_conn *x, const char *scheme, bool whole, const char *what,
		     unsigned long n);

/* ---- one iteration of a server loop ---- */

/*
 * http_server_config_defaults() for the loops: one thread (the test's
 * server is in-process), quiet, 1 s grace.  The caller adds its listener.
 */
void fac_server_config(struct http_server_config *cfg);
/*
 * One client exchange with the server on `port`: true if the answer came
 * whole; with `whole` it must (asserted), else it may be cut short after a
 * clean prefix.
 */
typedef bool fac_get_t(int port, bool whole, const char *what, unsigned long n, const void *arg);
/*
 * Start a server with cfg (not armed), run get(.., "armed") with the Nth
 * allocation failing, then get(.., whole, "after"): the server kept
 * serving; stop it.  An armed answer cut short must have had a fault
 * injected.  Returns whether one was.
 */
bool fac_server_round(const struct http_server_config *cfg, unsigned long n, fac_get_t *get,
		      const void *arg);

#endif
