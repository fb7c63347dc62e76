/*
 * The fault loops' client (alloc_client.h): blocking, on the test's thread.
 */
#include "alloc_client.h"
#include "alloc_testlib.h"
#include "fault_alloc.h"

#include "core/util.h"
#include "http/http_server.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- HTTP/1.1 ---- */

/* Parse what arrived so far; true once the response is complete. */
static bool
fac_h1_parse(struct fac_h1_got *g)
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

void
fac_h1_get(struct test_conn *x, const char *request, size_t bodymax, struct fac_h1_got *g,
	   const char *what, unsigned long n)
{
	memset(g, 0, sizeof(*g));
	g->cap = bodymax + 4096;
	g->buf = calloc(1, g->cap + 1);
	cr_assert_not_null(g->buf);
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "%s N=%lu", what, n);
	(void)test_conn_send(x, request, strlen(request)); /* may meet a closed connection */
	while (!fac_h1_parse(g)) {
		size_t k = test_conn_recv(x, g->buf + g->len, g->cap - g->len, ctx);
		if (k == 0)
			break;
		g->len += k;
		cr_assert_lt(g->len, g->cap, "%s N=%lu: more bytes than the response", what, n);
	}
}

void
fac_h1_check(const struct fac_h1_got *g, const uint8_t *want, size_t wantlen, const char *what,
	     unsigned long n)
{
	if (g->status == 0) {
		/* Closed before a whole head: what came is the start of one, not file bytes. */
		cr_assert_eq(memcmp(g->buf, "HTTP/1.1 ", MIN(g->len, 9)), 0,
			     "%s N=%lu: %zu bytes that are not a response", what, n, g->len);
		return;
	}
	if (g->status >= 500) {
		cr_assert(g->whole, "%s N=%lu: a %d cut short", what, n, g->status);
		return;
	}
	cr_assert_eq(g->status, 200, "%s N=%lu: status %d", what, n, g->status);
	cr_assert_eq(g->clen, wantlen);
	size_t body = MIN(g->len - g->headlen, wantlen);
	cr_assert_eq(memcmp(g->buf + g->headlen, want, body), 0,
		     "%s N=%lu: the body is not the file", what, n);
}

bool
fac_h1_get_file(struct test_conn *x, bool whole, const char *what, unsigned long n)
{
	struct fac_h1_got g;
	fac_h1_get(x, "GET /h/sub/file.bin HTTP/1.1\r\nHost: localhost\r\n\r\n", FILE_SIZE, &g,
		   what, n);
	fac_h1_check(&g, fat_fdata, FILE_SIZE, what, n);
	bool all = g.whole && g.status == 200;
	cr_assert(all || !whole, "%s N=%lu: status %d, %zu bytes", what, n, g.status, g.len);
	free(g.buf);
	return all;
}

bool
fac_h2_get_both(struct test_conn *x, const char *scheme, bool whole, const char *what,
		unsigned long n)
{
	struct test_h2_stream st[] = {
	    {.path = "/h/sub/file.bin", .want = fat_fdata, .wantlen = FILE_SIZE},
	    {.path = "/img/obj.bin", .want = fat_odata, .wantlen = OBJ_SIZE}};
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "%s N=%lu", what, n);
	struct test_h2 *c = test_h2_open(x, scheme, ctx);
	(void)test_h2_get(c, st, nitems(st), NULL, NULL);
	test_h2_close(c);
	for (size_t i = 0; i < nitems(st); i++)
		test_h2_check(&st[i], whole, ctx);
	bool all = test_h2_all_whole(st, nitems(st));
	test_h2_streams_free(st, nitems(st));
	return all;
}

void
fac_server_config(struct http_server_config *cfg)
{
	http_server_config_defaults(cfg);
	cfg->threads = 1;
	cfg->quiet = true;
	cfg->grace_ms = 1000;
}

bool
fac_server_round(const struct http_server_config *cfg, unsigned long n, fac_get_t *get,
		 const void *arg)
{
	struct http_server *srv;
	cr_assert_eq(http_server_start(cfg, &srv), 0);
	int port = http_server_port(srv, 0);

	fault_alloc_arm(n);
	bool all = get(port, false, "armed", n, arg);
	bool fired = fault_alloc_disarm();
	cr_assert(fired || all, "N=%lu: the answer was cut short with nothing injected", n);

	/* The server keeps serving. */
	get(port, true, "after", n, arg);
	http_server_stop(srv);
	return fired;
}
