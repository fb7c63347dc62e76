/*
 * The client side of the server fault loops (test_alloc_h2, test_alloc_https):
 * a blocking connection to the in-process server, plain or over TLS, and an
 * HTTP/2 client (libnghttp2's client session) that asks for several streams
 * at once and checks what came back.
 *
 * The client runs on the test's thread, which calls fault_alloc_exempt_thread():
 * its allocations (and OpenSSL's, when routed through the counted allocator)
 * are never failed.  libnghttp2 is a shared library using libc's malloc for
 * the client session: never counted either.
 */
#ifndef VMSEND_TEST_ALLOC_CLIENT_H
#define VMSEND_TEST_ALLOC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ssl_st SSL;
struct http_server_config;

struct fac_xport {
	int fd;
	SSL *ssl; /* NULL: plain TCP */
};

/* Send all of buf; false if the server closed (or reset) the connection. */
bool fac_send(struct fac_xport *x, const void *buf, size_t len);
/*
 * Receive what arrives (poll bounded at 60 s: a server that neither answers
 * nor closes fails the test instead of hanging it).  > 0 bytes, or 0 at EOF
 * or a reset.
 */
size_t fac_recv(struct fac_xport *x, void *buf, size_t cap, const char *what, unsigned long n);

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
void fac_h1_get(struct fac_xport *x, const char *request, size_t bodymax, struct fac_h1_got *g,
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
bool fac_h1_get_file(struct fac_xport *x, bool whole, const char *what, unsigned long n);

/* One HTTP/2 stream: the request's path, the expected body, and what came back. */
struct fac_h2_stream {
	const char *path;
	const uint8_t *want;
	size_t wantlen;
	int32_t id;
	int status; /* 0: no response head */
	long clen;  /* content-length, -1: none */
	uint8_t *body;
	size_t len;
	bool ended; /* END_STREAM received */
	bool reset; /* closed by RST_STREAM, GOAWAY or the connection's end */
};

/*
 * Speak HTTP/2 on x (prior knowledge, or "h2" agreed by ALPN): send the
 * preface and one GET per stream (all concurrent), then read until every
 * stream ended or the server closed.  Each stream's answer is then checked:
 * the whole 200 with the expected body, or a 5xx, or cut short (RST_STREAM,
 * GOAWAY, connection closed) after a clean prefix of the 200; never wrong
 * bytes.  With `whole`, every stream must be the whole 200.
 */
void fac_h2_get(struct fac_xport *x, const char *scheme, struct fac_h2_stream *st, int nst,
		bool whole, const char *what, unsigned long n);
/* True if every stream got the whole 200. */
bool fac_h2_all_whole(const struct fac_h2_stream *st, int nst);
void fac_h2_streams_free(struct fac_h2_stream *st, int nst);
/*
 * fac_h2_get of /h/sub/file.bin and /img/obj.bin at once (fat_fdata,
 * fat_odata); true if both came whole.
 */
bool fac_h2_get_both(struct fac_xport *x, const char *scheme, bool whole, const char *what,
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
