/*
 * A blocking client for tests that talk to an in-process server, plain or
 * over TLS, and an HTTP/2 client on it (libnghttp2's client session) that
 * asks for several streams at once and checks what came back.
 *
 * A session lives as long as its connection: batches of requests go one
 * after the other on it, and between reads the test may act (a hook called
 * after each read: send a TLS KeyUpdate in the middle of the bodies, let a
 * deferred page-in complete).  Every read is bounded (60 s), so a server
 * that neither answers nor closes fails the test instead of hanging it.
 *
 * `what` names the exchange in failure messages ("armed N=3", a cipher).
 */
#ifndef VMSEND_TEST_H2CLIENT_H
#define VMSEND_TEST_H2CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ssl_st SSL;

struct test_conn {
	int fd;
	SSL *ssl; /* NULL: plain TCP */
};

/* Send all of buf; false if the server closed (or reset) the connection. */
bool test_conn_send(struct test_conn *x, const void *buf, size_t len);
/*
 * Receive what arrives (poll bounded at 60 s).  > 0 bytes, or 0 at EOF, a
 * reset or a record that failed (its OpenSSL reason is in test_conn_error).
 */
size_t test_conn_recv(struct test_conn *x, void *buf, size_t cap, const char *what);
/* Why the last test_conn_recv over TLS ended the connection ("" if it did not). */
const char *test_conn_error(void);

/* One HTTP/2 stream: the request's path, the expected body, and what came back. */
struct test_h2_stream {
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

struct test_h2;
/* Called after each read that fed the session (the streams' fields are current). */
typedef void test_h2_step_t(void *arg);

/*
 * Speak HTTP/2 on x (prior knowledge, or "h2" agreed by ALPN): the preface
 * and SETTINGS go out with the first requests.  x must outlive the session.
 */
struct test_h2 *test_h2_open(struct test_conn *x, const char *scheme, const char *what);
/*
 * One GET per stream (all concurrent), then read until every stream ended
 * or the server closed, calling step(arg) after each read (step may be
 * NULL).  A stream not ended then is marked reset.  Returns false once the
 * connection is gone.  Check each stream with test_h2_check().
 */
bool test_h2_get(struct test_h2 *c, struct test_h2_stream *st, int nst, test_h2_step_t *step,
		 void *arg);
/* Free the session (streams still open were cut short); not x. */
void test_h2_close(struct test_h2 *c);

/*
 * The stream's answer is the whole 200 with the expected body, or a 5xx,
 * or cut short (RST_STREAM, GOAWAY, connection closed) after a clean
 * prefix of the 200; never wrong bytes.  With `whole`, the whole 200.
 */
void test_h2_check(const struct test_h2_stream *st, bool whole, const char *what);
/* True if every stream got the whole 200. */
bool test_h2_all_whole(const struct test_h2_stream *st, int nst);
void test_h2_streams_free(struct test_h2_stream *st, int nst);

#endif
