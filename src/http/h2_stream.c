/*
 * HTTP/2 streams: from HEADERS to a request, through the HTTP/1.1 handler,
 * and from its response plan to HEADERS and DATA frames.
 *
 * Requests.  The header fields of a stream arrive one by one from HPACK as
 * reference-counted buffers; we keep references and point the
 * http_request's strings into them, so the handler reads an HTTP/2 request
 * exactly as it reads a parsed HTTP/1.1 head (version 2.0).  The decoded
 * size is counted as RFC 9113 6.5.2 does: past H2_MAX_HEADER_LIST the
 * stream is answered 431 (like HTTP/1.1), past H2_BOMB_HEADER_LIST the
 * peer is refused (an HPACK bomb decodes to far more than it sent).
 *
 * Responses.  http_handle() writes the head as HTTP/1.1 bytes into the
 * stream's resp (first piece) followed by body pieces: copied bytes and
 * file ranges.  The head's fields become the HEADERS frame (names lowered,
 * connection-specific fields dropped, RFC 9113 8.2.2); the body becomes
 * DATA frames, one piece at a time.
 *
 * Order.  nghttp2 schedules by RFC 9218 urgency; a stream that sent no
 * priority signal is made incremental (see h2_on_frame_recv), so a large
 * response interleaves with small ones instead of going first whole.
 *
 * DATA and the cache.  A file piece is framed only from valid pages:
 *
 *   read callback:  cached = vms_sendfile_cached(obj, off, len)
 *                   cached > 0  ─▶ frame `cached` bytes now (NO_COPY)
 *                   cached == 0 ─▶ hold [off, off + H2_HOLD_BYTES), DEFERRED
 *   hold done:      resume the stream; its frames come from the held pages
 *
 * so the frame handed to the socket is ready at once and a cold stream
 * never stands in front of a hot one.  A connection holds at most
 * H2_MAX_HOLDS ranges at once (bounding its wired pages); further cold
 * streams wait in line for a slot.
 */
#include "http/h2_impl.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/util.h"
#include "sendfile/sendfile.h"
#include "vfs/vfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define H2_MAX_RESP_FIELDS 48
#define H2_FRAME_HD        9
/* Do not cut a DATA frame smaller than this to fit the send buffer: wait for room. */
#define H2_MIN_FRAME 4096

static struct h2_stream *
h2_stream_get(struct h2_conn *h, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h->ngh, id);
}

static bool
h2_str_eq(const struct http_str *s, const char *lit)
{
	size_t n = strlen(lit);
	return s->len == n && memcmp(s->p, lit, n) == 0;
}

/* ---- holds ---- */

static void
h2_stream_unhold(struct h2_stream *st)
{
	if (st->hold == NULL)
		return;
	vms_sfhold_release(st->hold);
	st->hold = NULL;
	st->h->nholds--;
}

static void
h2_hold_done(struct vms_sfhold *hold, int error, void *arg)
{
	struct h2_stream *st = arg;
	struct h2_conn *h = st->h;
	st->hold_ready = true;
	st->hold_error = error;
	if (error != 0)
		LOG_WARN("http", "%s: HTTP/2 stream %d: reading %s at %llu failed: %s", h->c->peer,
			 st->id, st->resp.vp->path, (unsigned long long)st->hold_off,
			 strerror(-error));
	nghttp2_session_resume_data(h->ngh, st->id);
	h2_conn_kick(h);
}

/* Start holding [off, off + len) of the stream's file; the stream is deferred until it is valid. */
static ssize_t
h2_stream_hold(struct h2_stream *st, uint64_t off, uint64_t len)
{
	struct h2_conn *h = st->h;
	if (h->nholds >= H2_MAX_HOLDS) {
		st->waiting = true;
		TAILQ_INSERT_TAIL(&h->hold_waiters, st, wait_link);
		return NGHTTP2_ERR_DEFERRED;
	}
	int rc = vms_sfhold_start(h->c->th->loop, st->resp.vp->object, off, (size_t)len,
				  h2_hold_done, st, &st->hold);
	if (rc != 0) {
		nghttp2_submit_rst_stream(h->ngh, NGHTTP2_FLAG_NONE, st->id,
					  NGHTTP2_INTERNAL_ERROR);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	h->nholds++;
	st->hold_off = off;
	st->hold_end = off + len;
	st->hold_ready = false;
	st->hold_error = 0;
	counter_inc(&http_stats.h2_holds);
	return NGHTTP2_ERR_DEFERRED;
}

int
h2_streams_wake(struct h2_conn *h)
{
	int n = 0;
	struct h2_stream *st;
	while (h->nholds + n < H2_MAX_HOLDS && (st = TAILQ_FIRST(&h->hold_waiters)) != NULL) {
		TAILQ_REMOVE(&h->hold_waiters, st, wait_link);
		st->waiting = false;
		nghttp2_session_resume_data(h->ngh, st->id);
		n++;
	}
	return n;
}

/* ---- DATA ---- */

static ssize_t
h2_read_cb(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
	   nghttp2_data_source *src, void *arg)
{
	struct h2_stream *st = src->ptr;
	struct h2_conn *h = st->h;
	struct http_resp *r = &st->resp;
	const struct http_piece *p = &r->pieces[st->piece];
	ASSERT3S(st->piece, <, r->npieces);
	uint64_t n = MIN((uint64_t)length, p->len - st->poff);
	if (p->file) {
		uint64_t fo = p->off + st->poff;
		if (st->hold != NULL && !(fo >= st->hold_off && fo < st->hold_end))
			h2_stream_unhold(st);
		if (st->hold != NULL) {
			if (!st->hold_ready)
				return NGHTTP2_ERR_DEFERRED;
			if (st->hold_error != 0) {
				nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, id,
							  NGHTTP2_INTERNAL_ERROR);
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			}
			n = MIN(n, st->hold_end - fo);
		} else {
			size_t cached = vms_sendfile_cached(r->vp->object, fo, (size_t)n);
			if (cached == 0)
				return h2_stream_hold(
				    st, fo, MIN(p->len - st->poff, (uint64_t)H2_HOLD_BYTES));
			n = cached;
		}
	}
	/* The frame header, what h->out gathered and the payload must all fit under hiwat now. */
	uint32_t space = vms_socket_sbspace(h->c->so);
	if (space < H2_FRAME_HD + h->outlen + MIN(n, (uint64_t)H2_MIN_FRAME) && h->outlen > 0 &&
	    h2_out_flush(h) == 0)
		space = vms_socket_sbspace(h->c->so);
	if (space < H2_FRAME_HD + h->outlen + MIN(n, (uint64_t)H2_MIN_FRAME)) {
		h->data_blocked = true;
		return NGHTTP2_ERR_PAUSE;
	}
	n = MIN(n, (uint64_t)(space - H2_FRAME_HD - h->outlen));
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (st->piece == r->npieces - 1 && st->poff + n == p->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int
h2_send_data_cb(nghttp2_session *ngh, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
		nghttp2_data_source *src, void *arg)
{
	struct h2_stream *st = src->ptr;
	struct h2_conn *h = st->h;
	struct http_resp *r = &st->resp;
	const struct http_piece *p = &r->pieces[st->piece];
	VERIFY3U(frame->data.padlen, ==, 0); /* we never pad */
	ASSERT3U(st->poff + length, <=, p->len);
	/* All or nothing: make room for the header (and a copied payload) first. */
	size_t need = H2_FRAME_HD + (p->file ? 0 : length);
	if (h->outlen + need > h->outcap && h2_out_flush(h) != 0)
		return NGHTTP2_ERR_WOULDBLOCK;
	memcpy(h->out + h->outlen, framehd, H2_FRAME_HD);
	h->outlen += H2_FRAME_HD;
	if (!p->file) {
		memcpy(h->out + h->outlen, r->mem + p->moff + st->poff, length);
		h->outlen += length;
	} else {
		/* Gathered frames and this header go first, then the payload as wired pages. */
		struct iovec iov = {h->out, h->outlen};
		struct vms_hdtr hdtr = {.headers = &iov, .hdr_cnt = 1};
		off_t sb = 0;
		int rc = vms_sendfile_vnode(h->c->so, r->vp, (off_t)(p->off + st->poff), length,
					    &hdtr, &sb, 0);
		if (rc != 0 || (uint64_t)sb != h->outlen + length) {
			LOG_DEBUG("http", "%s: HTTP/2 DATA not queued whole: %s", h->c->peer,
				  strerror(rc != 0 ? -rc : EIO));
			return NGHTTP2_ERR_CALLBACK_FAILURE; /* a frame is cut: the session is lost */
		}
		h->outlen = 0;
		counter_inc(&http_stats.h2_data_frames);
	}
	st->poff += length;
	st->sent += length;
	if (p->file && st->hold != NULL && p->off + st->poff >= st->hold_end)
		h2_stream_unhold(st); /* framed: the socket's own wiring keeps the pages */
	if (st->poff == p->len) {
		st->piece++;
		st->poff = 0;
		h2_stream_unhold(st);
	}
	return 0;
}

/* ---- requests and responses ---- */

static enum http_method
h2_method(const struct http_str *s)
{
	for (int m = HTTP_M_GET; m <= HTTP_M_PATCH; m++)
		if (h2_str_eq(s, http_method_name((enum http_method)m)))
			return (enum http_method)m;
	return HTTP_M_UNKNOWN;
}

/* Fields of HTTP/1.1 that mean nothing (and are malformed) in HTTP/2 (RFC 9113 8.2.2). */
static bool
h2_hop_by_hop(const char *name, size_t n)
{
	static const char *const hop[] = {"connection", "keep-alive", "proxy-connection",
					  "transfer-encoding", "upgrade"};
	for (size_t i = 0; i < nitems(hop); i++)
		if (strlen(hop[i]) == n && memcmp(hop[i], name, n) == 0)
			return true;
	return false;
}

static void
h2_nv_add(nghttp2_nv *nv, int *n, const char *name, size_t nlen, const char *value, size_t vlen)
{
	if (*n == H2_MAX_RESP_FIELDS)
		return;
	nv[(*n)++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, nlen, vlen,
				  NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

/*
 * Turn the handler's head (HTTP/1.1 bytes at the start of piece 0) into
 * header fields and submit them with the body as a data provider.  The
 * fields point into r->mem, which lives as long as the stream.
 */
static int
h2_stream_submit(struct h2_stream *st)
{
	struct h2_conn *h = st->h;
	struct http_resp *r = &st->resp;
	if (r->nomem || r->npieces == 0 || r->pieces[0].file)
		return -ENOMEM; /* the handler ran out of memory: a head or body piece is missing */
	char *head = r->mem + r->pieces[0].moff;
	size_t plen = r->pieces[0].len;
	const char *end = memmem(head, plen, "\r\n\r\n", 4);
	const char *line = memchr(head, '\n', plen);
	if (end == NULL || line == NULL)
		return -ENOMEM;
	nghttp2_nv nv[H2_MAX_RESP_FIELDS];
	int n = 0;
	char status[4] = {(char)('0' + r->status / 100 % 10), (char)('0' + r->status / 10 % 10),
			  (char)('0' + r->status % 10), 0};
	nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3,
			       NGHTTP2_NV_FLAG_NO_COPY_NAME};
	for (line++; line < end + 2;) {
		char *eol = memchr(line, '\r', (size_t)(end + 2 - line));
		char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon != NULL) {
			char *name = (char *)line;
			size_t nlen = (size_t)(colon - line);
			for (size_t i = 0; i < nlen; i++)
				if (name[i] >= 'A' && name[i] <= 'Z')
					name[i] = (char)(name[i] - 'A' + 'a');
			const char *v = colon + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			if (!h2_hop_by_hop(name, nlen))
				h2_nv_add(nv, &n, name, nlen, v, (size_t)(eol - v));
		}
		line = eol + 2;
	}
	size_t hlen = (size_t)(end + 4 - head);
	st->piece = hlen < plen ? 0 : 1;
	st->poff = hlen < plen ? hlen : 0;
	nghttp2_data_provider prd = {.source.ptr = st, .read_callback = h2_read_cb};
	int rv = nghttp2_submit_response(h->ngh, st->id, nv, (size_t)n,
					 st->piece < r->npieces ? &prd : NULL);
	return rv == 0 ? 0 : -ENOMEM;
}

static void
h2_stream_answer(struct h2_stream *st)
{
	struct h2_conn *h = st->h;
	struct http_conn *c = h->c;
	struct http_request *req = &st->req;
	struct http_resp *r = &st->resp;

	req->version_major = 2;
	req->version_minor = 0;
	req->keep_alive = true;
	req->method = h2_method(&req->method_str);
	req->header_bytes = st->hdr_bytes;
	const char *q = memchr(req->target.p, '?', req->target.len);
	req->path.p = req->target.p;
	req->path.len = q != NULL ? (size_t)(q - req->target.p) : req->target.len;
	if (q != NULL) {
		req->query.p = q + 1;
		req->query.len = req->target.len - req->path.len - 1;
	}
	http_resp_reset(r);
	r->t0_ns = vms_now_ns();
	counter_inc(&http_stats.requests);
	counter_inc(&http_stats.h2_requests);
	http_log_prepare(c, r, req);
	if (st->too_big)
		http_resp_simple(c, r, 431, false, NULL);
	else
		http_handle(c, r, req);
	st->answered = true;
	if (h2_stream_submit(st) != 0)
		nghttp2_submit_rst_stream(h->ngh, NGHTTP2_FLAG_NONE, st->id,
					  NGHTTP2_INTERNAL_ERROR);
}

/* ---- nghttp2 callbacks ---- */

static int
h2_on_begin_headers(nghttp2_session *ngh, const nghttp2_frame *frame, void *arg)
{
	struct h2_conn *h = arg;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_stream *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM(INTERNAL_ERROR) */
	st->h = h;
	st->id = frame->hd.stream_id;
	TAILQ_INSERT_TAIL(&h->streams, st, link);
	nghttp2_session_set_stream_user_data(ngh, st->id, st);
	return 0;
}

static int
h2_on_header(nghttp2_session *ngh, const nghttp2_frame *frame, nghttp2_rcbuf *name,
	     nghttp2_rcbuf *value, uint8_t flags, void *arg)
{
	struct h2_conn *h = arg;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_stream *st = h2_stream_get(h, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	nghttp2_vec nb = nghttp2_rcbuf_get_buf(name), vb = nghttp2_rcbuf_get_buf(value);
	st->hdr_bytes += (uint32_t)MIN(nb.len + vb.len + 32, (size_t)UINT32_MAX / 2);
	if (st->hdr_bytes > H2_BOMB_HEADER_LIST) {
		h2_conn_refuse(h, NGHTTP2_ENHANCE_YOUR_CALM, "header list of an HPACK bomb");
		return 0;
	}
	struct http_request *req = &st->req;
	if (st->too_big || st->hdr_bytes > H2_MAX_HEADER_LIST || st->nrc + 2 > H2_MAX_RCBUF ||
	    (nb.len > 0 && nb.base[0] != ':' && req->nheaders == HTTP_MAX_HEADERS)) {
		st->too_big = true;
		return 0;
	}
	nghttp2_rcbuf_incref(name);
	nghttp2_rcbuf_incref(value);
	st->rc[st->nrc++] = name;
	st->rc[st->nrc++] = value;
	struct http_str n = {(const char *)nb.base, nb.len}, v = {(const char *)vb.base, vb.len};
	if (n.len > 0 && n.p[0] == ':') {
		if (h2_str_eq(&n, ":method"))
			req->method_str = v;
		else if (h2_str_eq(&n, ":path"))
			req->target = v;
		else if (h2_str_eq(&n, ":authority"))
			req->host = v;
		return 0;
	}
	req->headers[req->nheaders++] = (struct http_header){n, v};
	if (h2_str_eq(&n, "host") && req->host.len == 0)
		req->host = v;
	else if (h2_str_eq(&n, "range"))
		req->range = v;
	else if (h2_str_eq(&n, "if-match"))
		req->if_match = v;
	else if (h2_str_eq(&n, "if-unmodified-since"))
		req->if_unmodified_since = v;
	else if (h2_str_eq(&n, "if-none-match"))
		req->if_none_match = v;
	else if (h2_str_eq(&n, "if-modified-since"))
		req->if_modified_since = v;
	else if (h2_str_eq(&n, "if-range"))
		req->if_range = v;
	else if (h2_str_eq(&n, "user-agent"))
		req->user_agent = v;
	else if (h2_str_eq(&n, "referer"))
		req->referer = v;
	else if (h2_str_eq(&n, "priority"))
		st->priority = true;
	return 0;
}

static int
h2_on_frame_recv(nghttp2_session *ngh, const nghttp2_frame *frame, void *arg)
{
	struct h2_conn *h = arg;
	struct h2_stream *st;
	if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		/*
		 * h2c Upgrade: stream 1 is answered once the client's preface came.
		 * Sooner, its DATA would follow our 101 in the client's first read,
		 * and curl keeps only 32 KiB of what follows a 101.
		 */
		st = h2_stream_get(h, 1);
		if (st == NULL || st->head == NULL || st->answered || h->refused)
			return 0;
	} else {
		if (frame->hd.type != NGHTTP2_HEADERS ||
		    frame->headers.cat != NGHTTP2_HCAT_REQUEST || h->refused)
			return 0;
		st = h2_stream_get(h, frame->hd.stream_id);
		if (st == NULL || st->answered)
			return 0;
	}
	if (!st->priority) {
		/*
		 * No priority signal: RFC 9218's default (u=3, not incremental)
		 * would send same-urgency responses one after another in stream
		 * order, so one large file, cold or not, would hold back every
		 * small response asked for after it.  We interleave them instead.
		 * A later PRIORITY_UPDATE still applies.
		 */
		nghttp2_extpri pri = {.urgency = NGHTTP2_EXTPRI_DEFAULT_URGENCY, .inc = 1};
		nghttp2_session_change_extpri_stream_priority(ngh, st->id, &pri, 0);
	}
	h2_stream_answer(st);
	return 0;
}

static void
h2_stream_free(struct h2_stream *st)
{
	struct h2_conn *h = st->h;
	h2_stream_unhold(st);
	if (st->waiting)
		TAILQ_REMOVE(&h->hold_waiters, st, wait_link);
	TAILQ_REMOVE(&h->streams, st, link);
	for (int i = 0; i < st->nrc; i++)
		nghttp2_rcbuf_decref(st->rc[i]);
	if (st->resp.vp != NULL)
		vnode_rele(st->resp.vp);
	http_resp_free_mem(&st->resp);
	free(st->head);
	free(st);
}

int
h2_stream_upgraded(struct h2_conn *h, char *head, size_t len)
{
	struct h2_stream *st = calloc(1, sizeof(*st));
	if (st == NULL) {
		free(head);
		return -ENOMEM;
	}
	st->h = h;
	st->id = 1;
	st->head = head;
	st->hdr_bytes = (uint32_t)len;
	TAILQ_INSERT_TAIL(&h->streams, st, link);
	nghttp2_session_set_stream_user_data(h->ngh, st->id, st);
	/* The same bytes parsed before (conn.c): again, so req points into our copy. */
	VERIFY3S(http_request_parse(&st->req, head, len), ==, (int)len);
	return 0; /* answered when the client's SETTINGS arrive (h2_on_frame_recv) */
}

static int
h2_on_stream_close(nghttp2_session *ngh, int32_t id, uint32_t code, void *arg)
{
	struct h2_conn *h = arg;
	struct h2_stream *st = h2_stream_get(h, id);
	if (st == NULL)
		return 0;
	if (st->answered) {
		struct http_resp *r = &st->resp;
		r->body = st->sent;
		counter_add(&http_stats.bytes_body, st->sent);
		http_stats_response(r->status, st->sent, r->t0_ns);
		http_log_finish(h->c, r);
	}
	nghttp2_session_set_stream_user_data(ngh, id, NULL);
	h2_stream_free(st);
	return 0;
}

void
h2_stream_callbacks(nghttp2_session_callbacks *cbs)
{
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback2(cbs, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_stream_close);
	nghttp2_session_callbacks_set_send_data_callback(cbs, h2_send_data_cb);
}

void
h2_streams_free(struct h2_conn *h)
{
	struct h2_stream *st;
	while ((st = TAILQ_FIRST(&h->streams)) != NULL) {
		nghttp2_session_set_stream_user_data(h->ngh, st->id, NULL);
		h2_stream_free(st);
	}
}

int
h2_streams_busy(const struct h2_conn *h, bool *reading)
{
	int n = 0;
	const struct h2_stream *st;
	TAILQ_FOREACH(st, &h->streams, link)
	{
		if (!st->answered)
			continue;
		n++;
		if (st->hold != NULL && !st->hold_ready)
			*reading = true;
	}
	return n;
}
