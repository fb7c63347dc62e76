/*
 * The tests' blocking client and its HTTP/2 session (h2client.h).
 */
#include "h2client.h"

#include "core/util.h"

#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static char test_conn_why[256];

bool
test_conn_send(struct test_conn *x, const void *buf, size_t len)
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
test_conn_recv(struct test_conn *x, void *buf, size_t cap, const char *what)
{
	test_conn_why[0] = '\0';
	if (x->ssl == NULL || SSL_pending(x->ssl) == 0) {
		struct pollfd p = {.fd = x->fd, .events = POLLIN};
		cr_assert_gt(poll(&p, 1, 60000), 0, "%s: the server neither answered nor closed",
			     what);
	}
	if (x->ssl != NULL) {
		size_t got = 0;
		int ok = SSL_read_ex(x->ssl, buf, cap, &got);
		if (ok != 1) {
			unsigned long e = ERR_peek_last_error();
			if (e != 0)
				ERR_error_string_n(e, test_conn_why, sizeof(test_conn_why));
			else
				snprintf(test_conn_why, sizeof(test_conn_why), "SSL error %d",
					 SSL_get_error(x->ssl, ok));
		}
		ERR_clear_error();
		return ok == 1 ? got : 0; /* close_notify, a reset or a failed record: the end */
	}
	ssize_t k = recv(x->fd, buf, cap, 0);
	return k > 0 ? (size_t)k : 0; /* EOF, or a reset from an aborted connection */
}

const char *
test_conn_error(void)
{
	return test_conn_why;
}

/* ---- HTTP/2 ---- */

struct test_h2 {
	struct test_conn *x;
	nghttp2_session *s;
	struct test_h2_stream *st; /* the batch being read */
	int nst;
	bool dead; /* a send or a read failed: the server is gone */
	/* Frames gathered and sent as one write: the server reads them at once, in every run. */
	uint8_t out[16384];
	size_t outlen;
	const char *scheme;
	const char *what;
};

static struct test_h2_stream *
test_h2_find(struct test_h2 *c, int32_t id)
{
	for (int i = 0; i < c->nst; i++)
		if (c->st[i].id == id)
			return &c->st[i];
	return NULL;
}

static ssize_t
test_h2_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct test_h2 *c = arg;
	if (c->outlen + len > sizeof(c->out))
		return NGHTTP2_ERR_WOULDBLOCK; /* sent after the flush below */
	memcpy(c->out + c->outlen, data, len);
	c->outlen += len;
	return (ssize_t)len;
}

/* Run nghttp2's sender and write what it produced; false once the server is gone. */
static bool
test_h2_send(struct test_h2 *c)
{
	while (!c->dead && nghttp2_session_want_write(c->s)) {
		if (nghttp2_session_send(c->s) != 0 || c->outlen == 0)
			break;
		c->dead = !test_conn_send(c->x, c->out, c->outlen);
		c->outlen = 0;
	}
	return !c->dead;
}

static int
test_h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		  const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct test_h2_stream *st = test_h2_find(arg, f->hd.stream_id);
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
test_h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		void *arg)
{
	struct test_h2 *c = arg;
	struct test_h2_stream *st = test_h2_find(c, id);
	cr_assert_not_null(st, "%s: DATA on stream %d we did not open", c->what, id);
	cr_assert_leq(st->len + len, st->wantlen + 4096,
		      "%s: stream %d: more bytes than the response", c->what, id);
	memcpy(st->body + st->len, data, len);
	st->len += len;
	return 0;
}

static int
test_h2_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct test_h2_stream *st = test_h2_find(arg, f->hd.stream_id);
	if (st != NULL && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		st->ended = true;
	return 0;
}

static int
test_h2_on_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct test_h2_stream *st = test_h2_find(arg, id);
	if (st != NULL && !st->ended)
		st->reset = true;
	return 0;
}

static bool
test_h2_open_streams(const struct test_h2 *c)
{
	for (int i = 0; i < c->nst; i++)
		if (!c->st[i].ended && !c->st[i].reset)
			return true;
	return false;
}

struct test_h2 *
test_h2_open(struct test_conn *x, const char *scheme, const char *what)
{
	struct test_h2 *c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->x = x;
	c->scheme = scheme;
	c->what = what;
	nghttp2_session_callbacks *cbs;
	cr_assert_eq(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_send_callback(cbs, test_h2_send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, test_h2_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, test_h2_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, test_h2_on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, test_h2_on_close);
	cr_assert_eq(nghttp2_session_client_new(&c->s, cbs, c), 0);
	nghttp2_session_callbacks_del(cbs);
	cr_assert_eq(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
	return c;
}

bool
test_h2_get(struct test_h2 *c, struct test_h2_stream *st, int nst, test_h2_step_t *step, void *arg)
{
	c->st = st;
	c->nst = nst;
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
		nghttp2_nv hd[] = {NV(":method", "GET"), NV(":scheme", c->scheme),
				   NV(":authority", "localhost"), NV(":path", p)};
#undef NV
		st[i].id = nghttp2_submit_request(c->s, NULL, hd, nitems(hd), NULL, NULL);
		cr_assert_gt(st[i].id, 0);
	}
	static uint8_t buf[64 * 1024];
	for (;;) {
		if (!test_h2_send(c))
			break; /* the server closed while we wrote */
		if (!test_h2_open_streams(c) || !nghttp2_session_want_read(c->s))
			break;
		size_t k = test_conn_recv(c->x, buf, sizeof(buf), c->what);
		if (k == 0) {
			c->dead = true;
			break;
		}
		ssize_t rv = nghttp2_session_mem_recv(c->s, buf, k);
		cr_assert_geq(rv, 0, "%s: the server broke the protocol: %s", c->what,
			      nghttp2_strerror((int)rv));
		if (step != NULL)
			step(arg);
	}
	for (int i = 0; i < nst; i++)
		if (!st[i].ended)
			st[i].reset = true;
	c->st = NULL;
	c->nst = 0;
	return !c->dead;
}

void
test_h2_close(struct test_h2 *c)
{
	nghttp2_session_del(c->s);
	free(c);
}

void
test_h2_check(const struct test_h2_stream *st, bool whole, const char *what)
{
	if (whole)
		cr_assert(st->status == 200 && st->ended && st->len == st->wantlen,
			  "%s: %s: status %d, %zu of %zu bytes, %s", what, st->path, st->status,
			  st->len, st->wantlen, st->ended ? "ended" : "cut short");
	if (st->status == 0) {
		cr_assert_eq(st->len, 0, "%s: %s: body bytes without a head", what, st->path);
		return;
	}
	if (st->status >= 500) {
		cr_assert(st->ended || st->reset, "%s: %s: a %d never ended", what, st->path,
			  st->status);
		return;
	}
	cr_assert_eq(st->status, 200, "%s: %s: status %d", what, st->path, st->status);
	cr_assert_eq(st->clen, (long)st->wantlen, "%s: %s: content-length %ld", what, st->path,
		     st->clen);
	cr_assert_leq(st->len, st->wantlen);
	cr_assert_eq(memcmp(st->body, st->want, st->len), 0, "%s: %s: the body is not the file",
		     what, st->path);
	if (st->ended)
		cr_assert_eq(st->len, st->wantlen, "%s: %s: ended after %zu of %zu bytes", what,
			     st->path, st->len, st->wantlen);
}

bool
test_h2_all_whole(const struct test_h2_stream *st, int nst)
{
	for (int i = 0; i < nst; i++)
		if (st[i].status != 200 || !st[i].ended)
			return false;
	return true;
}

void
test_h2_streams_free(struct test_h2_stream *st, int nst)
{
	for (int i = 0; i < nst; i++) {
		free(st[i].body);
		st[i].body = NULL;
	}
}
