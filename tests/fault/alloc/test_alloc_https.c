/*
 * malloc failing at the Nth call inside the HTTPS server (in-process, one
 * thread, one TLS listener whose certificates offer ALPN h2 and http/1.1):
 * accepting, the TLS handshake (OpenSSL's allocations go through the
 * counted allocator: alloc_tls.h), the request, and the answer sealed into
 * records, over HTTP/1.1 and over HTTP/2 agreed by ALPN (the nghttp2
 * session, two concurrent streams, DATA frames from the file's pages).
 *
 * Each iteration starts a server (not armed), arms the Nth failure, makes
 * one connection (the client's handshake and reads run on the test's
 * thread, which is exempt), disarms, then a second connection must be
 * answered whole: the server kept serving.  The first answer is whole, or a
 * 5xx, or cut short (RST_STREAM, GOAWAY, a close or a failed handshake)
 * after a clean prefix; never wrong bytes, never a hang (the client's reads
 * are bounded at 60 s).  After the server stopped, nothing leaked
 * (fat_check_clean; LeakSanitizer at the end).
 *
 * Every injection point up to FULL_POINTS (accept, the handshake, the
 * request, the nghttp2 session and the streams' start), then every
 * STEP-th: past that the points are the same record sealing and DATA
 * framing over and over (862 points over HTTP/1.1, 1293 over h2 when
 * written; all of them took 59 s in the debug build, this takes about half).
 */
#include "alloc_client.h"
#include "alloc_testlib.h"
#include "alloc_tls.h"
#include "fault_alloc.h"

#include "core/util.h"
#include "http/http_server.h"
#include "support/net.h"
#include "tls/tls.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN); /* SSL_write on a connection the server closed: EPIPE */
	fat_setup();
	fat_tls_setup();
	tls_server_set_alpn(fat_tls.srv, (const unsigned char *)HTTP_ALPN_H2,
			    sizeof(HTTP_ALPN_H2) - 1);
}

static void
teardown(void)
{
	fat_tls_teardown();
	fat_teardown();
}

TestSuite(fault_alloc_https, .init = setup, .fini = teardown, .timeout = 600);

/*
 * A TLS connection offering only `alpn` (wire format).  False if the
 * handshake failed: the server closed or reset it (a hang fails the test).
 */
static bool
tls_connect(int port, const char *alpn, struct test_conn *x, const char *what, unsigned long n)
{
	x->fd = test_tcp_connect(port);
	cr_assert_geq(x->fd, 0, "connect: %s", strerror(-x->fd));
	struct timeval tv = {.tv_sec = 60};
	cr_assert_eq(setsockopt(x->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	x->ssl = SSL_new(fat_tls.cctx);
	cr_assert_not_null(x->ssl);
	SSL_set_fd(x->ssl, x->fd);
	SSL_set_alpn_protos(x->ssl, (const unsigned char *)alpn, (unsigned)strlen(alpn));
	errno = 0;
	bool ok = SSL_connect(x->ssl) == 1;
	cr_assert(ok || (errno != EAGAIN && errno != EWOULDBLOCK),
		  "%s N=%lu: the server neither finished the handshake nor closed", what, n);
	ERR_clear_error();
	return ok;
}

static void
tls_close(struct test_conn *x)
{
	SSL_free(x->ssl);
	close(x->fd);
}

struct https_case {
	bool h2;
};

/* One connection; true if everything came whole. */
static bool
https_get(int port, bool whole, const char *what, unsigned long n, const void *arg)
{
	const struct https_case *hc = arg;
	struct test_conn x;
	bool ok = tls_connect(port, hc->h2 ? "\x02h2" : "\x08http/1.1", &x, what, n);
	cr_assert(ok || !whole, "%s N=%lu: the handshake failed", what, n);
	bool all = false;
	if (ok && hc->h2) {
		const unsigned char *p;
		unsigned plen = 0;
		SSL_get0_alpn_selected(x.ssl, &p, &plen);
		ok = plen == 2 && memcmp(p, "h2", 2) == 0;
		cr_assert(ok || !whole, "%s N=%lu: ALPN did not agree on h2", what, n);
	}
	if (ok && hc->h2)
		all = fac_h2_get_both(&x, "https", whole, what, n);
	else if (ok)
		all = fac_h1_get_file(&x, whole, what, n);
	tls_close(&x);
	return all;
}

#define FULL_POINTS 300
#define STEP        4

static bool
op_https(unsigned long i, const void *arg)
{
	unsigned long n =
	    i <= FULL_POINTS || i == ULONG_MAX ? i : FULL_POINTS + (i - FULL_POINTS) * STEP;
	struct http_server_config cfg;
	fac_server_config(&cfg);
	cfg.listen_tls[0] = "127.0.0.1:0";
	cfg.nlisten_tls = 1;
	cfg.tls = fat_tls.srv;
	return fac_server_round(&cfg, n, https_get, arg);
}

Test(fault_alloc_https, http11)
{
	fault_alloc_exempt_thread(); /* the client */
	struct https_case hc = {.h2 = false};
	op_https(ULONG_MAX, &hc); /* warm OpenSSL's lazy state outside the loop */
	cr_assert_gt(fat_loop_run("alloc_https(http/1.1)", op_https, &hc), 20);
}

Test(fault_alloc_https, h2_alpn)
{
	fault_alloc_exempt_thread();
	struct https_case hc = {.h2 = true};
	op_https(ULONG_MAX, &hc);
	cr_assert_gt(fat_loop_run("alloc_https(h2)", op_https, &hc), 50);
}
