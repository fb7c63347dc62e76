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

/* The client's buffers are not the server's allocations: never failed. */
void *__real_calloc(size_t n, size_t sz);

TestSuite(fault_alloc_http, .init = fat_setup, .fini = fat_teardown, .timeout = 600);

#define REQUEST "GET /h/sub/file.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"

/* What one request got: the stream's bytes up to the end of the response, or EOF. */
struct http_got {
	char *buf;
	size_t len;
	int status;     /* 0: no complete head */
	size_t headlen; /* with its blank line */
	size_t clen;    /* Content-Length */
	bool whole;     /* head and body complete */
};

/* Parse what arrived so far; true once the response is complete. */
static bool
got_parse(struct http_got *g)
{
	char *end = memmem(g->buf, g->len, "\r\n\r\n", 4);
	if (end == NULL)
		return false;
	g->headlen = (size_t)(end - g->buf) + 4;
	cr_assert_eq(sscanf(g->buf, "HTTP/1.1 %d ", &g->status), 1, "bad status line: %.40s",
		     g->buf);
	const char *cl = strcasestr(g->buf, "\r\nContent-Length: ");
	cr_assert(cl != NULL && cl < end, "no Content-Length: %.*s", (int)g->headlen, g->buf);
	g->clen = strtoull(cl + 18, NULL, 10);
	g->whole = g->len >= g->headlen + g->clen;
	return g->whole;
}

/*
 * One request on a new connection; reads until the response is complete or
 * the server closed.  A poll bounded at 60 s turns a connection the server
 * forgot (no timer, no answer) into a failure instead of a hang.
 */
static void
client_get(int port, struct http_got *g, const char *what, unsigned long n)
{
	memset(g, 0, sizeof(*g));
	size_t cap = FILE_SIZE + 4096;
	g->buf = __real_calloc(1, cap + 1);
	cr_assert_not_null(g->buf);
	int fd = test_tcp_connect(port);
	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	(void)send(fd, REQUEST, strlen(REQUEST), MSG_NOSIGNAL); /* may meet a closed connection */
	while (!got_parse(g)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		cr_assert_gt(poll(&p, 1, 60000), 0,
			     "%s N=%lu: the server neither answered nor closed", what, n);
		ssize_t k = recv(fd, g->buf + g->len, cap - g->len, 0);
		if (k <= 0)
			break; /* EOF, or a reset from an aborted connection */
		g->len += (size_t)k;
		cr_assert_lt(g->len, cap, "%s N=%lu: more bytes than the response", what, n);
	}
	close(fd);
}

static const struct http_got *
check_answer(const struct http_got *g, const char *what, unsigned long n)
{
	if (g->status == 0) {
		/* Closed before a whole head: what came is the start of one, not file bytes. */
		cr_assert_eq(memcmp(g->buf, "HTTP/1.1 ", MIN(g->len, 9)), 0,
			     "%s N=%lu: %zu bytes that are not a response", what, n, g->len);
		return g;
	}
	if (g->status >= 500) {
		cr_assert(g->whole, "%s N=%lu: a %d cut short", what, n, g->status);
		return g;
	}
	cr_assert_eq(g->status, 200, "%s N=%lu: status %d", what, n, g->status);
	cr_assert_eq(g->clen, FILE_SIZE);
	size_t body = MIN(g->len - g->headlen, FILE_SIZE);
	cr_assert_eq(memcmp(g->buf + g->headlen, fat_fdata, body), 0,
		     "%s N=%lu: the body is not the file", what, n);
	return g;
}

static bool
op_http_get(unsigned long n, const void *arg)
{
	struct http_server_config cfg;
	http_server_config_defaults(&cfg);
	cfg.listen[0] = "127.0.0.1:0";
	cfg.nlisten = 1;
	cfg.threads = 1;
	cfg.quiet = true;
	cfg.grace_ms = 1000;
	cfg.idle_timeout_ms = 600000; /* a forgotten connection fails the poll below */
	struct http_server *srv;
	cr_assert_eq(http_server_start(&cfg, &srv), 0);
	int port = http_server_port(srv, 0);

	struct http_got g, again;
	fault_alloc_arm(n);
	client_get(port, &g, "armed", n);
	bool fired = fault_alloc_disarm();
	check_answer(&g, "armed", n);
	cr_assert(fired || (g.whole && g.status == 200),
		  "N=%lu: status %d, %zu bytes with nothing injected", n, g.status, g.len);

	/* The server keeps serving. */
	client_get(port, &again, "after", n);
	check_answer(&again, "after", n);
	cr_assert(again.whole && again.status == 200, "N=%lu: the next request got %d, %zu bytes",
		  n, again.status, again.len);
	http_server_stop(srv);
	free(g.buf);
	free(again.buf);
	return fired;
}

Test(fault_alloc_http, get_file)
{
	uint64_t timer_errors = counter_get(&http_stats.conn_timer_errors);
	cr_assert_gt(fat_loop_run("alloc_http(get)", op_http_get, NULL), 10);
	/* The loop went through a timer heap that could not grow, and survived it. */
	cr_assert_gt(counter_get(&http_stats.conn_timer_errors), timer_errors);
}
