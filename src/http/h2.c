/*
 * HTTP/2 connections: the nghttp2 session, its input and output, timeouts
 * and the refusal of abusive peers.  Streams (requests, responses, DATA
 * frames) are in h2_stream.c.
 *
 * Output.  nghttp2 serialises frames; HEADERS, SETTINGS, WINDOW_UPDATE and
 * the other small frames arrive in the send callback and are gathered in
 * h->out.  A DATA frame is sent by us (NGHTTP2_DATA_FLAG_NO_COPY): its
 * 9-byte header joins h->out, and h->out then goes to the vms_socket as the
 * header of a vms_sendfile_vnode() of the payload, so the payload is the file's
 * wired cache pages and never a copy.  The socket sends in call order, so
 * the bytes on the wire are exactly nghttp2's frame order.
 *
 *   nghttp2_session_send ─┬─ send_callback(HEADERS…) ──▶ h->out
 *                         └─ send_data_callback(DATA) ─▶ vms_sendfile_vnode(so, vp, off, len,
 *                                                              hdtr = h->out + frame header)
 *
 * A DATA payload is framed only when its pages are valid (h2_stream.c asks
 * vms_sendfile_cached, else holds the range and defers the stream), so a
 * not-ready segment never stands in the socket's queue in front of other
 * streams' frames.  The socket's high-water mark is the only back-pressure:
 * when it is full we stop producing frames and stop reading requests until
 * the low-water callback.
 *
 * Over TLS (ALPN h2) nothing above changes: input is the plaintext
 * OpenSSL decrypts (h2_conn_feed), and the engine seals h->out and the
 * wired pages into records in the same queue order.
 *
 * Abuse.  nghttp2 enforces the protocol (and refuses streams over our
 * SETTINGS_MAX_CONCURRENT_STREAMS, CONTINUATION runs over 8 frames, too
 * many outstanding ACKs).  On top of that every frame that carries neither
 * a request nor data (PING, SETTINGS, PRIORITY, RST_STREAM, empty DATA and
 * header fragments, unknown types) costs a token from a per-connection
 * bucket; an empty bucket means a flood (ping, settings, reset, empty-frame
 * floods, CVE-2019-9512/9514/9515/9518, CVE-2023-44487) and the peer gets
 * GOAWAY(ENHANCE_YOUR_CALM).  A stream that waits on a zero flow-control
 * window makes no send progress, so the send timeout ends it and frees
 * its pages.
 */
#include "http/h2_impl.h"

#include "core/log.h"
#include "core/util.h"
#include "sendfile/sendfile.h"
#include "tls/tls.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define H2_OUT_CAP     (32 * 1024) /* a whole 16 KiB DATA frame of copied bytes fits */
#define H2_FLOOD_BURST 400.0       /* tokens a connection starts with (and at most has) */
#define H2_FLOOD_RATE  100.0       /* tokens regained per second */
#define H2_RESET_BURST 1000        /* nghttp2's own RST_STREAM limiter, a backstop behind ours */
#define H2_RESET_RATE  33

int
h2_preface_check(const char *buf, size_t len)
{
	size_t n = MIN(len, (size_t)H2_PREFACE_LEN);
	if (memcmp(buf, H2_PREFACE, n) != 0)
		return -1;
	return n == H2_PREFACE_LEN ? 1 : 0;
}

/* ---- output ---- */

int
h2_out_flush(struct h2_conn *h)
{
	if (h->outlen == 0)
		return 0;
	size_t q = 0;
	int rc = vms_socket_write(h->c->so, h->out, h->outlen, &q);
	if (rc == 0)
		h->outlen = 0;
	return rc;
}

int
h2_out_append(struct h2_conn *h, const void *p, size_t n)
{
	if (h->outlen + n > h->outcap) {
		int rc = h2_out_flush(h);
		if (rc != 0)
			return rc;
		if (n > h->outcap) /* a frame bigger than the buffer goes out alone */
			return vms_socket_write(h->c->so, p, n, NULL);
	}
	memcpy(h->out + h->outlen, p, n);
	h->outlen += n;
	return 0;
}

static ssize_t
h2_send_cb(nghttp2_session *ngh, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct h2_conn *h = arg;
	int rc = h2_out_append(h, data, len);
	if (rc == -EAGAIN)
		return NGHTTP2_ERR_WOULDBLOCK;
	return rc == 0 ? (ssize_t)len : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* ---- abuse ---- */

/* Take a token for a frame that does no work for the peer; false when the bucket is empty. */
static bool
h2_flood_take(struct h2_conn *h)
{
	uint64_t now = vms_now_ns();
	h->tokens += (double)(now - h->tokens_ns) / 1e9 * H2_FLOOD_RATE;
	h->tokens_ns = now;
	if (h->tokens > H2_FLOOD_BURST)
		h->tokens = H2_FLOOD_BURST;
	if (h->tokens < 1.0)
		return false;
	h->tokens -= 1.0;
	return true;
}

void
h2_conn_refuse(struct h2_conn *h, uint32_t code, const char *why)
{
	if (h->done || h->refused)
		return;
	h->refused = true;
	counter_inc(&http_stats.h2_refused);
	LOG_DEBUG("http", "%s: HTTP/2 peer refused (%s): GOAWAY %s", h->c->peer, why,
		  nghttp2_http2_strerror(code));
	nghttp2_session_terminate_session(h->ngh, code);
}

static int
h2_on_begin_frame(nghttp2_session *ngh, const nghttp2_frame_hd *hd, void *arg)
{
	struct h2_conn *h = arg;
	bool idle;
	switch (hd->type) {
	case NGHTTP2_DATA:
		idle = hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM);
		break;
	case NGHTTP2_HEADERS:
	case NGHTTP2_CONTINUATION:
		idle = hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_HEADERS);
		break;
	case NGHTTP2_WINDOW_UPDATE:
		idle = false; /* a long download legitimately sends thousands */
		break;
	default: /* PING, SETTINGS, PRIORITY, RST_STREAM, PRIORITY_UPDATE, GOAWAY, unknown */
		idle = true;
		break;
	}
	if (hd->type == NGHTTP2_RST_STREAM)
		counter_inc(&http_stats.h2_resets);
	if (idle && !h2_flood_take(h))
		h2_conn_refuse(h, NGHTTP2_ENHANCE_YOUR_CALM, "flood of frames that do no work");
	return 0;
}

/* ---- the session ---- */

static void
h2_timer_update(struct h2_conn *h)
{
	struct http_conn *c = h->c;
	const struct http_server_config *cfg = http_conn_cfg(c);
	bool reading = false;
	bool busy = h2_streams_busy(h, &reading) > 0 || vms_socket_sbcc(c->so) > 0;
	uint64_t ms;
	if (busy) {
		if (h->timer_send)
			return; /* progress is checked when it fires */
		struct vms_socket_stats st;
		vms_socket_get_stats(c->so, &st);
		h->last_sent = st.bytes_sent;
		h->timer_send = true;
		ms = cfg->send_timeout_ms;
	} else if (h->timer_send || !c->timer.armed) {
		h->timer_send = false;
		ms = cfg->idle_timeout_ms;
	} else {
		return;
	}
	if (ms == 0) {
		io_timer_cancel(c->th->loop, &c->timer);
		return;
	}
	int rc = io_timer_arm(c->th->loop, &c->timer, ms * 1000000ull);
	if (rc != 0)
		http_conn_timer_lost(c, rc); /* closes c */
}

void
h2_conn_kick(struct h2_conn *h)
{
	struct http_conn *c = h->c;
	if (h->in_send || c->closing || c->draining)
		return;
	h->in_send = true;
	h->data_blocked = false;
	int rv;
	/* Streams freed a hold slot while sending: let the ones waiting for it try again. */
	do
		rv = nghttp2_session_send(h->ngh);
	while (rv == 0 && !h->data_blocked && h2_streams_wake(h) > 0);
	h->in_send = false;
	int frc = h2_out_flush(h);
	if (rv != 0 || (frc != 0 && frc != -EAGAIN)) {
		LOG_DEBUG("http", "%s: HTTP/2 send failed: %s", c->peer,
			  rv != 0 ? nghttp2_strerror(rv) : strerror(-frc));
		http_conn_close(c, VMS_CLOSE_ABORT);
		return;
	}
	bool full = frc == -EAGAIN || h->data_blocked || vms_socket_sbspace(c->so) == 0;
	if (full)
		vms_socket_want_lowat(c->so);
	if (!nghttp2_session_want_read(h->ngh) && !nghttp2_session_want_write(h->ngh) &&
	    h->outlen == 0) {
		/* GOAWAY is out (or the peer's was answered): close once the socket drained. */
		h->done = true;
		http_conn_drain(c);
		return;
	}
	if (h->recv_paused && !full) {
		h->recv_paused = false;
		http_conn_want_recv(c);
	}
	h2_timer_update(h);
}

/* Feed what arrived to nghttp2 (requests are answered from its callbacks), then send. */
static void
h2_conn_input(struct h2_conn *h)
{
	struct http_conn *c = h->c;
	if (c->inlen > 0 && !h->done) {
		ssize_t rv = nghttp2_session_mem_recv(h->ngh, (const uint8_t *)c->in, c->inlen);
		if (rv < 0) {
			/*
			 * Fatal (flooded ACKs, a callback failure): nghttp2 has queued
			 * a GOAWAY where the protocol wants one.  Send it, then close.
			 */
			LOG_DEBUG("http", "%s: HTTP/2 session error: %s", c->peer,
				  nghttp2_strerror((int)rv));
			counter_inc(&http_stats.h2_refused);
			nghttp2_session_terminate_session(h->ngh, NGHTTP2_ENHANCE_YOUR_CALM);
		}
	}
	c->inlen = 0;
	h2_conn_kick(h);
	if (c->closing || c->draining)
		return;
	/* A peer that does not read our answers gets no more of its requests read. */
	if (vms_socket_sbspace(c->so) == 0)
		h->recv_paused = true;
	else
		http_conn_want_recv(c);
}

/*
 * Feed c->in, and over TLS all the plaintext OpenSSL can give (it may hold
 * more than c->in takes at once), unless the send buffer filled: then the
 * rest waits for the low-water callback.  c may be gone on return.
 */
static void
h2_conn_feed(struct h2_conn *h)
{
	struct http_conn *c = h->c;
	bool more;
	do {
		if (c->tls != NULL)
			http_conn_tls_fill(c);
		more = c->tls != NULL && c->inlen == HTTP_INBUF;
		h2_conn_input(h);
	} while (more && !c->closing && !c->draining && !h->recv_paused);
	if (c->eof && !c->closing && !c->draining)
		http_conn_close(c, VMS_CLOSE_LINGER); /* TLS: close_notify, a bad record, EOF */
}

/*
 * nghttp2 allocates through these (nghttp2_session_server_new3), so its
 * memory comes from the same allocator as the rest of the server and the
 * fault-injection loops can fail it.  Each block carries a header that
 * links it on its session's list: libnghttp2 1.52 (Debian 12) frees the
 * DATA item of a stream when queueing it fails for lack of memory but
 * leaves the stream pointing at it, so nghttp2_session_del() would free it
 * a second time.  A session that saw an allocation fail is therefore freed
 * block by block from the list instead (h2_conn_free).
 */
struct h2_block {
	union {
		TAILQ_ENTRY(h2_block) link;
		max_align_t align; /* the payload after the header stays aligned */
	};
};

static void *
h2_mem_realloc(void *p, size_t n, void *arg)
{
	struct h2_conn *h = arg;
	struct h2_block *b = p != NULL ? (struct h2_block *)p - 1 : NULL;
	if (b != NULL)
		TAILQ_REMOVE(&h->blocks, b, link);
	struct h2_block *nb = n <= SIZE_MAX - sizeof(*b) ? realloc(b, sizeof(*b) + n) : NULL;
	if (nb == NULL) {
		h->mem_failed = true;
		if (b != NULL)
			TAILQ_INSERT_HEAD(&h->blocks, b, link); /* still nghttp2's */
		return NULL;
	}
	TAILQ_INSERT_HEAD(&h->blocks, nb, link);
	return nb + 1;
}

static void *
h2_mem_malloc(size_t n, void *arg)
{
	return h2_mem_realloc(NULL, n, arg);
}

static void *
h2_mem_calloc(size_t n, size_t sz, void *arg)
{
	if (sz != 0 && n > SIZE_MAX / sz) {
		((struct h2_conn *)arg)->mem_failed = true;
		return NULL;
	}
	void *p = h2_mem_realloc(NULL, n * sz, arg);
	if (p != NULL)
		memset(p, 0, n * sz);
	return p;
}

static void
h2_mem_free(void *p, void *arg)
{
	struct h2_conn *h = arg;
	if (p == NULL)
		return;
	struct h2_block *b = (struct h2_block *)p - 1;
	TAILQ_REMOVE(&h->blocks, b, link);
	free(b);
}

/* Free what nghttp2 still holds for h, without asking nghttp2. */
static void
h2_mem_free_all(struct h2_conn *h)
{
	struct h2_block *b;
	while ((b = TAILQ_FIRST(&h->blocks)) != NULL) {
		TAILQ_REMOVE(&h->blocks, b, link);
		free(b);
	}
}

/* A new session on c: our SETTINGS queued, nothing read yet.  NULL: out of memory. */
static struct h2_conn *
h2_conn_new(struct http_conn *c)
{
	struct h2_conn *h = calloc(1, sizeof(*h));
	char *out = malloc(H2_OUT_CAP);
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	if (h == NULL || out == NULL || nghttp2_session_callbacks_new(&cbs) != 0 ||
	    nghttp2_option_new(&opt) != 0)
		goto nomem;
	h->c = c;
	h->out = out;
	h->outcap = H2_OUT_CAP;
	h->tokens = H2_FLOOD_BURST;
	h->tokens_ns = vms_now_ns();
	TAILQ_INIT(&h->streams);
	TAILQ_INIT(&h->hold_waiters);
	TAILQ_INIT(&h->blocks);
	h->mem = (nghttp2_mem){h, h2_mem_malloc, h2_mem_free, h2_mem_calloc, h2_mem_realloc};

	nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, h2_on_begin_frame);
	h2_stream_callbacks(cbs);
	nghttp2_option_set_no_closed_streams(opt, 1);
	nghttp2_option_set_builtin_recv_extension_type(opt, NGHTTP2_PRIORITY_UPDATE);
	nghttp2_option_set_stream_reset_rate_limit(opt, H2_RESET_BURST, H2_RESET_RATE);
	int rv = nghttp2_session_server_new3(&h->ngh, cbs, h, opt, &h->mem);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	cbs = NULL;
	opt = NULL;
	if (rv != 0)
		goto nomem;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST},
	    {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
	};
	if (nghttp2_submit_settings(h->ngh, NGHTTP2_FLAG_NONE, iv, nitems(iv)) != 0) {
		h2_mem_free_all(h); /* an allocation failed: not nghttp2_session_del */
		goto nomem;
	}
	c->h2 = h;
	counter_inc(&http_stats.h2_connections);
	io_timer_cancel(c->th->loop, &c->timer);
	c->tkind = HTTP_T_NONE;
	return h;
nomem:
	if (cbs != NULL)
		nghttp2_session_callbacks_del(cbs);
	if (opt != NULL)
		nghttp2_option_del(opt);
	if (h != NULL)
		h2_mem_free_all(h); /* what a failed nghttp2_session_server_new3 left */
	free(out);
	free(h);
	return NULL;
}

int
h2_conn_start(struct http_conn *c)
{
	struct h2_conn *h = h2_conn_new(c);
	if (h == NULL)
		return -ENOMEM;
	h2_conn_feed(h);
	return 0;
}

/* HTTP2-Settings: the SETTINGS payload in base64url without padding.  Its length, or -1. */
static int
h2_settings_decode(const struct http_str *v, uint8_t *out, size_t cap)
{
	char b64[512];
	size_t n = v->len;
	if (n % 4 == 1 || n + 3 >= sizeof(b64) || (n + 3) / 4 * 3 > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char ch = v->p[i];
		b64[i] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
		if (ch == '+' || ch == '/' || ch == '=')
			return -1; /* base64, not base64url */
	}
	size_t pad = (4 - n % 4) % 4;
	memset(b64 + n, '=', pad);
	int len = n == 0 ? 0 : EVP_DecodeBlock(out, (const unsigned char *)b64, (int)(n + pad));
	if (len < 0 || (len - (int)pad) % 6 != 0)
		return -1; /* bad characters, or not whole 6-byte settings */
	return len - (int)pad;
}

int
h2_conn_upgrade(struct http_conn *c, const struct http_request *req, size_t len)
{
	const struct http_str *up = http_request_header(req, "upgrade");
	const struct http_str *conn = http_request_header(req, "connection");
	const struct http_str *hs = http_request_header(req, "http2-settings");
	uint8_t settings[360];
	int slen;
	/* A request with a body stays HTTP/1.1 (RFC 9113 3.2 lets a server ignore Upgrade). */
	if (req->body_length > 0 || !req->keep_alive || up == NULL || conn == NULL || hs == NULL ||
	    !http_list_has(*up, "h2c") || !http_list_has(*conn, "upgrade") ||
	    !http_list_has(*conn, "http2-settings") ||
	    (slen = h2_settings_decode(hs, settings, sizeof(settings))) < 0)
		return 1;
	char *head = malloc(len);
	if (head == NULL)
		return -ENOMEM;
	memcpy(head, c->in, len);
	static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\n"
				 "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
	struct h2_conn *h;
	if (vms_socket_write(c->so, sw, sizeof(sw) - 1, NULL) != 0 ||
	    (h = h2_conn_new(c)) == NULL) {
		free(head);
		return -ENOMEM;
	}
	/* Stream 1, half-closed (remote), with the peer's settings applied. */
	int rv = nghttp2_session_upgrade2(h->ngh, settings, (size_t)slen,
					  req->method == HTTP_M_HEAD, NULL);
	if (rv != 0)
		free(head);
	if (rv != 0 || h2_stream_upgraded(h, head, len) != 0) {
		LOG_DEBUG("http", "%s: h2c upgrade failed", c->peer);
		return -ENOMEM; /* the caller closes c, which frees h */
	}
	/* What followed the head (the client preface) is HTTP/2. */
	http_conn_consume(c, len);
	h2_conn_feed(h);
	return 0;
}

void
h2_conn_recv(struct http_conn *c, int res)
{
	struct h2_conn *h = c->h2;
	if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS) {
		http_conn_want_recv(c);
		return;
	}
	if (res == -ETIMEDOUT)
		counter_inc(&http_stats.conn_timeouts);
	if (c->tls != NULL) {
		/* Ciphertext (or its end): the plaintext and its EOF come from h2_conn_feed. */
		tls_conn_received(c->tls, res > 0 ? (size_t)res : 0);
		h2_conn_feed(h);
		return;
	}
	if (res <= 0) {
		/* The peer is gone (or half-closed: it can read nothing it did not ask for). */
		c->eof = true;
		http_conn_close(c, VMS_CLOSE_LINGER);
		return;
	}
	c->inlen += (size_t)res;
	h2_conn_feed(h);
}

void
h2_conn_on_lowat(struct http_conn *c)
{
	h2_conn_kick(c->h2);
	if (c->closing || c->draining || c->h2->recv_paused)
		return;
	if (c->tls != NULL)
		h2_conn_feed(c->h2); /* plaintext left in OpenSSL while reading was paused */
	else
		http_conn_want_recv(c);
}

void
h2_conn_on_error(struct http_conn *c, int error)
{
	LOG_DEBUG("http", "%s: HTTP/2 socket error: %s", c->peer, strerror(-error));
	if (error == -ETIMEDOUT)
		counter_inc(&http_stats.conn_timeouts);
	http_conn_close(c, VMS_CLOSE_ABORT);
}

void
h2_conn_timer(struct http_conn *c)
{
	struct h2_conn *h = c->h2;
	if (!h->timer_send) {
		/* Idle: no stream open for idle_timeout. */
		counter_inc(&http_stats.conn_timeouts);
		nghttp2_session_terminate_session(h->ngh, NGHTTP2_NO_ERROR);
		h2_conn_kick(h);
		return;
	}
	struct vms_socket_stats st;
	vms_socket_get_stats(c->so, &st);
	bool reading = false;
	h2_streams_busy(h, &reading);
	if (st.bytes_sent != h->last_sent || reading) {
		/* Progress (or our own disk read under way): another period. */
		h->timer_send = false;
		h2_timer_update(h);
		return;
	}
	/*
	 * Nothing went out for a whole send timeout: the peer does not read,
	 * or keeps our windows at zero.  Either way it holds our memory and
	 * maybe wired pages; end the connection, which releases them.
	 */
	counter_inc(&http_stats.conn_timeouts);
	h2_conn_refuse(h, NGHTTP2_ENHANCE_YOUR_CALM, "no send progress");
	if (st.sb_cc > 0) {
		http_conn_close(c, VMS_CLOSE_ABORT); /* the GOAWAY could not get out anyway */
		return;
	}
	h2_conn_kick(h);
}

void
h2_conn_stop(struct http_conn *c, bool abort)
{
	struct h2_conn *h = c->h2;
	if (abort) {
		http_conn_close(c, VMS_CLOSE_ABORT);
		return;
	}
	/* Graceful: streams we have seen finish, no new ones; close when they are done. */
	nghttp2_submit_goaway(h->ngh, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(h->ngh), NGHTTP2_NO_ERROR,
			      NULL, 0);
	h2_conn_kick(h);
}

void
h2_conn_free(struct http_conn *c)
{
	struct h2_conn *h = c->h2;
	h2_streams_free(h);
	if (h->mem_failed)
		h2_mem_free_all(h); /* nghttp2's state may hold a freed block (see h2_block) */
	else
		nghttp2_session_del(h->ngh);
	free(h->out);
	free(h);
	c->h2 = NULL;
}
