/*
 * malloc failing at the Nth call inside the HTTP server (in-process, one
 * thread): accepting a connection, arming its timer (a fresh server's timer
 * heap must grow for the first one), parsing, looking the file up, planning
 * the response and sending it with vms_sendfile.
 *
 * Each iteration starts a server (not armed), arms the Nth failure, makes
 * one request, disarms, then makes a second request that must be answered
 * whole: the server kept serving.  The first answer is the whole 200, or a
 * 5xx, or the connection closed (EOF or reset) after a clean prefix of the
 * 200; never wrong bytes, never a hang.  After the server stopped, nothing
 * leaked (fat_check_clean; LeakSanitizer at the end).  Before io_timer_arm
 * could fail, the iteration whose failure hit the timer heap panicked the
 * server.
 */
#include "alloc_client.h"
#include "alloc_testlib.h"
#include "fault_alloc.h"

#include "core/util.h"
#include "http/http_server.h"
#include "support/net.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(fault_alloc_http, .init = fat_setup, .fini = fat_teardown, .timeout = 600);

/*
 * One request on a new connection, read until the response is complete or
 * the server closed; true if it was the whole 200.
 */
static bool
client_get(int port, bool whole, const char *what, unsigned long n, const void *arg)
{
	struct test_conn x = {.fd = test_tcp_connect(port)};
	cr_assert_geq(x.fd, 0, "connect: %s", strerror(-x.fd));
	bool all = fac_h1_get_file(&x, whole, what, n);
	close(x.fd);
	return all;
}

static bool
op_http_get(unsigned long n, const void *arg)
{
	struct http_server_config cfg;
	fac_server_config(&cfg);
	cfg.listen[0] = "127.0.0.1:0";
	cfg.nlisten = 1;
	cfg.idle_timeout_ms = 600000; /* a forgotten connection fails the poll below */
	return fac_server_round(&cfg, n, client_get, NULL);
}

Test(fault_alloc_http, get_file)
{
	fault_alloc_exempt_thread(); /* the client */
	uint64_t timer_errors = counter_get(&http_stats.conn_timer_errors);
	cr_assert_gt(fat_loop_run("alloc_http(get)", op_http_get, NULL), 10);
	/* The loop went through a timer heap that could not grow, and survived it. */
	cr_assert_gt(counter_get(&http_stats.conn_timer_errors), timer_errors);
}
