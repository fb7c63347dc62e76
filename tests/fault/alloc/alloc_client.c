/*
 * The fault loops' client (alloc_client.h): blocking, on the test's thread.
 */
#include "alloc_client.h"
#include "alloc_testlib.h"
#include "fault_alloc.h"

#include "core/util.h"
#include "http/http_server.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

bool
fac_send(struct fac_xport *x, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t k;
		if (x->ssl != NULL) {
			size_t w = 0;
			k = SSL_write_ex(x->ssl, p, len, &w) == 1 ? (ssize_t)w : -1;
			ERR_clear_error();
		} else {
			k = send(x->fd, p, len, MSG_NOSIGNAL);
		}
		if (k <= 0)
			return false; /* the server closed or reset the connection */
		p += k;
		len -= (size_t)k;
	}
	return true;
}

size_t
fac_recv(struct fac_xport *x, void *buf, size_t cap, const char *what, unsigned long n)
{
	if (x->ssl == NULL || SSL_pending(x->ssl) == 0) {
		struct pollfd p = {.fd = x->fd, .events = POLLIN};
		cr_assert_gt(poll(&p, 1, 60000), 0,
			     "%s N=%lu: the server neither answered nor closed", what, n);
	}
	if (x->ssl != NULL) {
		size_t got = 0;
		int ok = SSL_read_ex(x->ssl, buf, cap, &got);
		ERR_clear_error();
		return ok == 1 ? got : 0; /* close_notify, a reset or a failed record: the end */
	}
	ssize_t k = recv(x->fd, buf, cap, 0);
	return k > 0 ? (size_t)k : 0; /* EOF, or a reset from an aborted connection */
}

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
fac_h1_get(struct fac_xport *x, const char *request, size_t bodymax, struct fac_h1_got *g,
	   const char *what, unsigned long n)
{
	memset(g, 0, sizeof(*g));
	g->cap = bodymax + 4096;
	g->buf = calloc(1, g->cap + 1);
	cr_assert_not_null(g->buf);
	(void)fac_send(x, request, strlen(request)); /* may meet a closed connection */
	while (!fac_h1_parse(g)) {
		size_t k = fac_recv(x, g->buf + g->len, g->cap - g->len, what, n);
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

/* ---- HTTP/2 ---- */

struct fac_h2 {
	struct fac_xport *x;
	struct fac_h2_stream *st;
	int nst;
	bool dead; /* a send failed: the server is gone */
	/* Frames gathered and sent as one write: the server reads them at once, in every run. */
	uint8_t out[16384];
	size_t outlen;
	const char *what;
	unsigned long n;
};

static struct fac_h2_stream *
fac_h2_find(struct fac_h2 *c, int32_t id)
{
	for (int i = 0; i < c->nst; i++)
		if (c->st[i].id == id)
			return &c->st[i];
	return NULL;
}

static ssize_t
fac_h2_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct fac_h2 *c = arg;
	if (c->outlen + len > sizeof(c->out))
		return NGHTTP2_ERR_WOULDBLOCK; /* sent after the flush below */
	memcpy(c->out + c->outlen, data, len);
	c->outlen += len;
	return (ssize_t)len;
}

/* Run nghttp2's sender and write what it produced; false once the server is gone. */
static bool
fac_h2_send(struct fac_h2 *c, nghttp2_session *s)
{
	while (!c->dead && nghttp2_session_want_write(s)) {
		if (nghttp2_session_send(s) != 0 || c->outlen == 0)
			break;
		c->dead = !fac_send(c->x, c->out, c->outlen);
		c->outlen = 0;
	}
	return !c->dead;
}

static int
fac_h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		 const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct fac_h2_stream *st = fac_h2_find(arg, f->hd.stream_id);
	char v[32];
	if (st == NULL || vlen >= sizeof(v))
		return 0;
	memcpy(v, value, vlen);
	v[vlen] = '\0';
	if (nlen == 7 && memcmp(name, ":status", 7) == 0)
		st->status = atoi(v);
	else if (nlen == 14 && memcmp(name, "content-length", 14) == 0)
		st->clen = atol(v);
	return 0;
}

static int
fac_h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
	       void *arg)
{
	struct fac_h2 *c = arg;
	struct fac_h2_stream *st = fac_h2_find(c, id);
	cr_assert_not_null(st, "%s N=%lu: DATA on stream %d we did not open", c->what, c->n, id);
	cr_assert_leq(st->len + len, st->wantlen + 4096,
		      "%s N=%lu: stream %d: more bytes than "
		      "the response",
		      c->what, c->n, id);
	memcpy(st->body + st->len, data, len);
	st->len += len;
	return 0;
}

static int
fac_h2_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct fac_h2_stream *st = fac_h2_find(arg, f->hd.stream_id);
	if (st != NULL && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		st->ended = true;
	return 0;
}

static int
fac_h2_on_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct fac_h2_stream *st = fac_h2_find(arg, id);
	if (st != NULL && !st->ended)
		st->reset = true;
	return 0;
}

static bool
fac_h2_open(const struct fac_h2 *c)
{
	for (int i = 0; i < c->nst; i++)
		if (!c->st[i].ended && !c->st[i].reset)
			return true;
	return false;
}

static void
fac_h2_check(const struct fac_h2_stream *st, bool whole, const char *what, unsigned long n)
{
	if (whole)
		cr_assert(st->status == 200 && st->ended && st->len == st->wantlen,
			  "%s N=%lu: %s: status %d, %zu of %zu bytes, %s", what, n, st->path,
			  st->status, st->len, st->wantlen, st->ended ? "ended" : "cut short");
	if (st->status == 0) {
		cr_assert_eq(st->len, 0, "%s N=%lu: %s: body bytes without a head", what, n,
			     st->path);
		return;
	}
	if (st->status >= 500) {
		cr_assert(st->ended || st->reset, "%s N=%lu: %s: a %d never ended", what, n,
			  st->path, st->status);
		return;
	}
	cr_assert_eq(st->status, 200, "%s N=%lu: %s: status %d", what, n, st->path, st->status);
	cr_assert_eq(st->clen, (long)st->wantlen, "%s N=%lu: %s: content-length %ld", what, n,
		     st->path, st->clen);
	cr_assert_leq(st->len, st->wantlen);
	cr_assert_eq(memcmp(st->body, st->want, st->len), 0,
		     "%s N=%lu: %s: the body is not the file", what, n, st->path);
	if (st->ended)
		cr_assert_eq(st->len, st->wantlen, "%s N=%lu: %s: ended after %zu of %zu bytes",
			     what, n, st->path, st->len, st->wantlen);
}

void
fac_h2_get(struct fac_xport *x, const char *scheme, struct fac_h2_stream *st, int nst, bool whole,
	   const char *what, unsigned long n)
{
	struct fac_h2 c = {.x = x, .st = st, .nst = nst, .what = what, .n = n};
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	cr_assert_eq(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_send_callback(cbs, fac_h2_send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, fac_h2_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, fac_h2_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, fac_h2_on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, fac_h2_on_close);
	cr_assert_eq(nghttp2_session_client_new(&s, cbs, &c), 0);
	nghttp2_session_callbacks_del(cbs);
	cr_assert_eq(nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
	for (int i = 0; i < nst; i++) {
		st[i].id = -1;
		st[i].status = 0;
		st[i].clen = -1;
		st[i].len = 0;
		st[i].ended = st[i].reset = false;
		st[i].body = malloc(st[i].wantlen + 4096);
		cr_assert_not_null(st[i].body);
		const char *p = st[i].path;
#define NV(a, b) {(uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), NGHTTP2_NV_FLAG_NONE}
		nghttp2_nv hd[] = {NV(":method", "GET"), NV(":scheme", scheme),
				   NV(":authority", "localhost"), NV(":path", p)};
#undef NV
		st[i].id = nghttp2_submit_request(s, NULL, hd, nitems(hd), NULL, NULL);
		cr_assert_gt(st[i].id, 0);
	}
	static uint8_t buf[64 * 1024];
	for (;;) {
		if (!fac_h2_send(&c, s))
			break; /* the server closed while we wrote */
		if (!fac_h2_open(&c) || !nghttp2_session_want_read(s))
			break;
		size_t k = fac_recv(x, buf, sizeof(buf), what, n);
		if (k == 0)
			break;
		ssize_t rv = nghttp2_session_mem_recv(s, buf, k);
		cr_assert_geq(rv, 0, "%s N=%lu: the server broke the protocol: %s", what, n,
			      nghttp2_strerror((int)rv));
	}
	nghttp2_session_del(s); /* streams still open were cut short */
	for (int i = 0; i < nst; i++) {
		if (!st[i].ended)
			st[i].reset = true;
		fac_h2_check(&st[i], whole, what, n);
	}
}

bool
fac_h2_all_whole(const struct fac_h2_stream *st, int nst)
{
	for (int i = 0; i < nst; i++)
		if (st[i].status != 200 || !st[i].ended)
			return false;
	return true;
}

void
fac_h2_streams_free(struct fac_h2_stream *st, int nst)
{
	for (int i = 0; i < nst; i++) {
		free(st[i].body);
		st[i].body = NULL;
	}
}

bool
fac_h1_get_file(struct fac_xport *x, bool whole, const char *what, unsigned long n)
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
fac_h2_get_both(struct fac_xport *x, const char *scheme, bool whole, const char *what,
		unsigned long n)
{
	struct fac_h2_stream st[] = {
	    {.path = "/h/sub/file.bin", .want = fat_fdata, .wantlen = FILE_SIZE},
	    {.path = "/img/obj.bin", .want = fat_odata, .wantlen = OBJ_SIZE}};
	fac_h2_get(x, scheme, st, nitems(st), whole, what, n);
	bool all = fac_h2_all_whole(st, nitems(st));
	fac_h2_streams_free(st, nitems(st));
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
