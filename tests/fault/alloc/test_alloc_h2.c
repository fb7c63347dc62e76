/*
 * malloc failing at the Nth call inside the HTTP/2 server (in-process, one
 * thread, --h2c): accepting the connection, the nghttp2 session (its
 * allocations go through ours: nghttp2_session_server_new3 with an
 * nghttp2_mem), the HPACK tables, two concurrent streams, the responses'
 * HEADERS and the DATA frames sent from the file's pages, and arming the
 * connection's timer.  The idle timeout is 0 so that the h2 send timer is
 * the first timer of a fresh server: its heap must grow for it, and an
 * iteration fails that growth (io_timer_arm's -ENOMEM, the connection closed).
 *
 * Each iteration starts a server (not armed), arms the Nth failure, opens
 * one connection (prior knowledge) asking for /h/sub/file.bin (hostfs, 13
 * DATA frames) and /img/obj.bin (objfs) at once, disarms, then a second
 * connection must get both whole: the server kept serving.  Each stream of
 * the first answer is the whole 200, or a 5xx, or cut short (RST_STREAM,
 * GOAWAY, the connection closed) after a clean prefix of the 200; never
 * wrong bytes, never a hang (the client's poll is bounded).  After the
 * server stopped, nothing leaked (fat_check_clean; LeakSanitizer at the end).
 */
#include "alloc_client.h"
#include "alloc_testlib.h"
#include "fault_alloc.h"

#include "core/util.h"
#include "http/http_server.h"
#include "support/net.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(fault_alloc_h2, .init = fat_setup, .fini = fat_teardown, .timeout = 600);

/* Both streams on a new connection; true if both came whole. */
static bool
h2_get_both(int port, bool whole, const char *what, unsigned long n, const void *arg)
{
	struct test_conn x = {.fd = test_tcp_connect(port)};
	cr_assert_geq(x.fd, 0, "connect: %s", strerror(-x.fd));
	bool all = fac_h2_get_both(&x, "http", whole, what, n);
	close(x.fd);
	return all;
}

static bool
op_h2_get(unsigned long n, const void *arg)
{
	struct http_server_config cfg;
	fac_server_config(&cfg);
	cfg.listen[0] = "127.0.0.1:0";
	cfg.nlisten = 1;
	cfg.h2c = true;
	cfg.idle_timeout_ms = 0; /* no idle timer: the h2 send timer grows the heap */
	return fac_server_round(&cfg, n, h2_get_both, NULL);
}

Test(fault_alloc_h2, two_streams)
{
	fault_alloc_exempt_thread(); /* the client */
	uint64_t timer_errors = counter_get(&http_stats.conn_timer_errors);
	cr_assert_gt(fat_loop_run("alloc_h2(two streams)", op_h2_get, NULL), 50);
	/* The loop went through a timer heap that could not grow, and survived it. */
	cr_assert_gt(counter_get(&http_stats.conn_timer_errors), timer_errors);
}
