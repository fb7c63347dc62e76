/*
 * One HTTP connection: receive, parse, answer in order, time out.
 *
 * Theory.  A connection is a small state machine driven by three events on
 * its thread's loop: a recv completion, the send buffer's low-water callback,
 * and its one timer.  At any moment it is in one of these states:
 *
 *      +-------+  bytes   +--------+  head complete  +---------+
 *      | IDLE  |--------->| HEADER |---------------->| SENDING |
 *      +-------+          +--------+                 +---------+
 *          ^   (idle timer)   | (header timer: 408)     |  all pieces queued
 *          |                  v                         v
 *          +----------------------------------------- next request?
 *
 * SENDING means a response plan (handler.c) is being queued piece by piece;
 * vms_sendfile_vnode() returns as soon as the bytes are *queued* (a cache miss
 * becomes a not-ready segment), so the loop never waits on the disk.  Only
 * a full send buffer (-EAGAIN) leaves the connection waiting, for the
 * low-water callback; the send timer then checks that the peer keeps
 * reading, and aborts the connection when it stops.
 *
 * Pipelining falls out of the order: requests are parsed from the input
 * buffer one at a time and the next one is looked at only when the previous
 * response is fully queued, so responses leave in request order.  A recv is
 * kept posted (while there is room) even during SENDING, so pipelined
 * requests and a peer's close are seen early.
 *
 * Closing.  The vms_socket owns the fd.  We never close it while our own
 * recv is in flight: shutdown(SHUT_RD) makes that recv finish, and the
 * socket is released (lingering or aborted) only then.  The kernel's
 * TCP_USER_TIMEOUT (the send timeout, set on the listener) bounds how long a lingering
 * close can wait for a peer that stopped reading.
 */
#include "http/h2.h"
#include "http/http_impl.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"
#include "sendfile/sendfile.h"
#include "tls/tls.h"
#include "vfs/vfs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void http_conn_process(struct http_conn *c);
static void http_conn_resp_done(struct http_conn *c);
static void http_conn_drain_shut(struct http_conn *c);
static void http_conn_inbuf_drop(struct http_conn *c);
static void http_conn_abort(struct http_conn *c);
static void http_conn_resp_put(struct http_conn *c);

/* Closed connections are kept per thread, so a client that connects per request costs no allocation. */
#define HTTP_SPARE_CONNS 64

/*
 * Input buffers (HTTP_INBUF, 25 KiB) are held only while bytes wait in them.
 * A connection with none waiting posts its receive on the thread's ring of
 * provided buffers (io_bufs), so that the kernel picks a buffer only when
 * bytes arrive; they are copied into an input buffer at once, and the ring's
 * buffer goes back.  An idle keep-alive connection then holds no input
 * buffer, nor (over TLS) a ciphertext buffer: over TLS that was 25 + 4 KiB
 * of every idle connection, nearly all of it resident, because the heap
 * hands those buffers pages the handshake had touched.  Freed input buffers
 * wait on a per-thread stash (up to HTTP_STASH_MAX) for the next request.
 *
 * The same goes for the response (2 KiB: its pieces and access-log line)
 * and its buffer (4 KiB: heads, generated bodies): they go back to a
 * per-thread list once the response is queued (the socket copied those
 * bytes), so an idle connection holds none of them.
 */
#define HTTP_STASH_MAX  64
#define HTTP_RING_BUFSZ 4096 /* a TLS connection's empty ciphertext buffer takes it whole */
VMS_TUNABLE(http_recv_ring, "http_recv_ring", 128,
	    "receive buffers (4 KiB) in each HTTP thread's ring, rounded down to a power of two "
	    "(at most 32768); 0: none, every connection keeps its input buffers while idle");
_Static_assert(HTTP_RING_BUFSZ <= HTTP_INBUF, "a ring buffer fits an empty input buffer");

/*
 * After a burst.  glibc keeps most of the heap a thousand connections freed
 * (their buffers, OpenSSL's state, sealed records beyond tls_buffer_mem),
 * because the free space is not at the top of its heaps: the TLS soak
 * (tests/soak/run.sh --tls) ended 60 MiB above where it began.  So when a
 * thread's connections fall to a quarter of the most it had since it last
 * trimmed, and that was at least HTTP_TRIM_PEAK, malloc_trim() gives the free
 * pages back: once per burst, never in a steady state.
 */
#define HTTP_TRIM_PEAK 64

#define HTTP_DRAIN_MS      2000 /* lingering close: how long we read and discard */
#define HTTP_DRAIN_TICK_MS 5    /* ... and how often we look for an empty send buffer */

static _Atomic uint64_t http_timer_log_ns; /* (a) last "cannot arm" warning */

void
http_conn_timer_lost(struct http_conn *c, int error)
{
	counter_inc(&http_stats.conn_timer_errors);
	/* Under memory pressure every connection may fail: one line a second, with the count. */
	if (vms_log_every(&http_timer_log_ns, 1000000000ull))
		LOG_WARN("http",
			 "%s: cannot arm the connection's timer (%s): connection closed "
			 "(%llu so far)",
			 c->peer, strerror(-error),
			 (unsigned long long)counter_get(&http_stats.conn_timer_errors));
	c->tkind = HTTP_T_NONE;
	if (c->resp == NULL && c->h2 == NULL)
		http_conn_close(c, VMS_CLOSE_LINGER);
	else
		http_conn_abort(c);
}

/* 0, or the error of io_timer_arm(): the connection is then closed (do not touch it). */
static int
http_conn_timer_arm(struct http_conn *c, uint64_t ns)
{
	int rc = io_timer_arm(c->th->loop, &c->timer, ns);
	if (rc != 0)
		http_conn_timer_lost(c, rc);
	return rc;
}

/* 0, or the error of io_timer_arm(): the connection is then closed (do not touch it). */
static int
http_conn_timer_set(struct http_conn *c, enum http_timer_kind kind)
{
	const struct http_server_config *cfg = http_conn_cfg(c);
	if (c->tkind == kind)
		return 0;
	c->tkind = kind;
	uint32_t ms = 0;
	switch (kind) {
	case HTTP_T_IDLE:
		ms = cfg->idle_timeout_ms;
		c->idle_from = vms_now_ns();
		break;
	case HTTP_T_HEADER:
		ms = cfg->header_timeout_ms;
		break;
	case HTTP_T_SEND: {
		struct vms_socket_stats st;
		vms_socket_get_stats(c->so, &st);
		c->last_sent = st.bytes_sent;
		ms = cfg->send_timeout_ms;
		break;
	}
	case HTTP_T_DRAIN:
		ms = HTTP_DRAIN_TICK_MS;
		break;
	case HTTP_T_NONE:
		break;
	}
	if (ms == 0) {
		io_timer_cancel(c->th->loop, &c->timer);
		return 0;
	}
	return http_conn_timer_arm(c, (uint64_t)ms * 1000000ull);
}

static void
http_conn_free(struct http_conn *c)
{
	struct http_thread *th = c->th;
	io_timer_cancel(th->loop, &c->timer);
	if (c->h2)
		h2_conn_free(c);
	if (c->resp != NULL)
		http_conn_resp_put(c);
	if (c->tls != NULL) {
		if (c->close_how == VMS_CLOSE_LINGER)
			tls_conn_shutdown(c->tls);
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	vms_socket_close(c->so, c->close_how);
	c->inlen = 0; /* unread input dies with the connection */
	http_conn_inbuf_drop(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		th->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	th->nconns--;
	atomic_fetch_sub(&http_stats.conns_open, 1);
	if (atomic_load(&th->aside))
		http_thread_balance(th);
	if (th->nconns_peak >= HTTP_TRIM_PEAK && th->nconns <= th->nconns_peak / 4) {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
		/*
		 * Skipped under ASan and TSan: their allocator replaces glibc's,
		 * so there is nothing to trim, and malloc_trim() would set up
		 * glibc's unused arenas from this thread, which makes glibc abort
		 * when two such threads exit (seen in CI).  The decision is still
		 * counted, so tests see it.
		 */
		malloc_trim(0);
#endif
		counter_inc(&http_stats.heap_trims);
		th->nconns_peak = th->nconns;
	}
	http_gen_rele(c->gen);
	c->gen = NULL;
	if (th->stopping || !vms_stash_put(&th->spare, c, HTTP_SPARE_CONNS))
		free(c);
}

/* A zeroed connection: a spare one if the thread has any. */
static struct http_conn *
http_conn_alloc(struct http_thread *th)
{
	struct http_conn *c = vms_stash_get(&th->spare);
	if (c == NULL)
		return calloc(1, sizeof(*c));
	memset(c, 0, sizeof(*c));
	return c;
}

/* Give c's input buffer up (it must hold nothing): to the thread's stash, or free it. */
static void
http_conn_inbuf_drop(struct http_conn *c)
{
	ASSERT3U(c->inlen, ==, 0);
	if (c->in == NULL)
		return;
	if (c->th->stopping || !vms_stash_put(&c->th->spare_in, c->in, HTTP_STASH_MAX))
		free(c->in);
	c->in = NULL;
	c->parsed_len = 0;
	atomic_fetch_sub_explicit(&http_stats.inbufs, 1, memory_order_relaxed);
}

/* Make sure c has an input buffer.  0 or -ENOMEM. */
static int
http_conn_inbuf(struct http_conn *c)
{
	if (c->in != NULL)
		return 0;
	if ((c->in = vms_stash_get(&c->th->spare_in)) == NULL &&
	    (c->in = malloc(HTTP_INBUF)) == NULL)
		return -ENOMEM;
	atomic_fetch_add_explicit(&http_stats.inbufs, 1, memory_order_relaxed);
	return 0;
}

void
http_conn_free_spares(struct http_thread *th)
{
	vms_stash_free(&th->spare);
	vms_stash_free(&th->spare_in);
	struct http_resp *r;
	while ((r = vms_stash_get(&th->spare_resp)) != NULL) {
		free(r->mem); /* not counted while spare */
		free(r);
	}
}

/*
 * Take c's response away (queued, or abandoned with the connection): to the
 * thread's spares with its first buffer, or freed.
 */
static void
http_conn_resp_put(struct http_conn *c)
{
	struct http_thread *th = c->th;
	struct http_resp *r = c->resp;
	c->resp = NULL;
	if (r->vp != NULL) {
		vnode_rele(r->vp);
		r->vp = NULL;
	}
	if (r->memcap != HTTP_RESP_MEM)
		http_resp_free_mem(r); /* none yet, or a listing or metrics page grew it */
	if (th->stopping || !vms_stash_put(&th->spare_resp, r, HTTP_STASH_MAX)) {
		http_resp_free_mem(r);
		free(r);
		return;
	}
	if (r->mem != NULL) /* a spare's buffer is not held by a response */
		atomic_fetch_sub_explicit(&http_stats.respbufs, 1, memory_order_relaxed);
}

/* Start c's next response, timed from now: a spare one if the thread has any.  0 or -ENOMEM. */
static int
http_conn_resp_start(struct http_conn *c)
{
	struct http_thread *th = c->th;
	struct http_resp *r = vms_stash_get(&th->spare_resp);
	if (r != NULL) {
		if (r->mem != NULL)
			atomic_fetch_add_explicit(&http_stats.respbufs, 1, memory_order_relaxed);
	} else if ((r = malloc(sizeof(*r))) != NULL) {
		r->mem = NULL;
		r->memcap = 0;
	} else {
		return -ENOMEM;
	}
	http_resp_reset(r); /* also every field the stash's link overwrote */
	r->t0_ns = vms_now_ns();
	c->resp = r;
	return 0;
}

void
http_conn_close(struct http_conn *c, int how)
{
	if (c->closing) {
		if (how == VMS_CLOSE_ABORT)
			c->close_how = VMS_CLOSE_ABORT;
		return;
	}
	c->closing = true;
	c->close_how = how;
	c->tkind = HTTP_T_NONE;
	io_timer_cancel(c->th->loop, &c->timer);
	if (c->recv_busy) {
		/* Our recv must come back before the socket (and its fd) may go. */
		shutdown(c->fd, SHUT_RD);
		return;
	}
	if (c->depth == 0)
		http_conn_free(c);
}

/* Close now; a response in progress is finished first (counted and logged as it stands). */
static void
http_conn_abort(struct http_conn *c)
{
	if (c->resp != NULL)
		http_conn_resp_done(c);
	http_conn_close(c, VMS_CLOSE_ABORT);
}

/*
 * Every callback that runs a connection does so between enter and leave.
 * A close from however deep inside (HTTP/2's send path, a lost timer, TLS)
 * only marks c, and the last leave frees it: code on the way back up may
 * still test c->closing.  Without this, a connection closed inside
 * h2_conn_input was read after free whenever the thread's spare list was
 * full (or the server stopping), so that free() really released it.
 */
static void
http_conn_enter(struct http_conn *c)
{
	c->depth++;
}

static void
http_conn_leave(struct http_conn *c)
{
	ASSERT(c->depth > 0);
	if (--c->depth == 0 && c->closing && !c->recv_busy)
		http_conn_free(c);
}

static void
http_conn_recv_input(struct http_conn *c, int res)
{
	if (c->draining) {
		if (res > 0 || res == -EAGAIN || res == -EINTR) {
			c->inlen = 0; /* discarded */
			http_conn_drain_shut(c);
			http_conn_want_recv(c);
		} else {
			c->eof = true;
			http_conn_close(c, VMS_CLOSE_LINGER);
		}
		return;
	}
	if (c->h2) {
		h2_conn_recv(c, res);
		return;
	}
	if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS) {
		http_conn_process(c);
		return;
	}
	if (res == -ETIMEDOUT) /* TCP_USER_TIMEOUT, seen by the recv before any send */
		counter_inc(&http_stats.conn_timeouts);
	if (c->tls != NULL) /* ciphertext: plaintext (and its EOF) comes from http_conn_tls_fill */
		tls_conn_received(c->tls, res > 0 ? (size_t)res : 0);
	else if (res <= 0)
		c->eof = true;
	else
		c->inlen += (size_t)res;
	http_conn_process(c);
}

/*
 * Where a receive of c's own goes: the TLS ciphertext buffer, or c's input
 * buffer (draining discards into it).  0, or -ENOMEM.
 */
static int
http_conn_recv_space(struct http_conn *c, char **p, size_t *cap)
{
	if (c->tls != NULL && !c->draining)
		return tls_conn_inbuf(c->tls, p, cap);
	if (http_conn_inbuf(c) != 0)
		return -ENOMEM;
	*p = c->in + c->inlen;
	*cap = HTTP_INBUF - c->inlen;
	return 0;
}

/*
 * A receive into the thread's ring took a buffer: copy its bytes to where a
 * receive of c's own would have put them.  Returns res, or -ENOMEM (then the
 * connection ends as if the receive had failed).
 */
static int
http_conn_take(struct http_conn *c, const char *buf, int res)
{
	if (res <= 0 || c->draining)
		return res; /* discarded when draining */
	char *p;
	size_t cap;
	if (http_conn_recv_space(c, &p, &cap) != 0)
		return -ENOMEM;
	/* The ring's receive was posted only with those buffers empty, and they hold a ring buffer. */
	VERIFY3U((size_t)res, <=, cap);
	memcpy(p, buf, (size_t)res);
	return res;
}

static void
http_conn_recv_done(struct io_req *req, int res, uint32_t flags)
{
	struct http_conn *c = container_of(req, struct http_conn, recv_req);
	c->recv_busy = c->recv_ring = false;
	const char *buf = c->th->rbufs != NULL ? io_bufs_get(c->th->rbufs, flags) : NULL;
	if (buf != NULL) {
		if (!c->closing && (res = http_conn_take(c, buf, res)) == -ENOMEM)
			LOG_DEBUG("http", "%s: no memory for input: connection closed", c->peer);
		io_bufs_put(c->th->rbufs, flags);
	} else if (res == -ENOBUFS) {
		counter_inc(&http_stats.ring_empty);
		c->ring_empty = true;
	}
	if (c->closing) {
		if (c->depth == 0)
			http_conn_free(c);
		return;
	}
	http_conn_enter(c);
	http_conn_recv_input(c, res);
	http_conn_leave(c);
}

void
http_conn_want_recv(struct http_conn *c)
{
	/*
	 * Bytes the ring's receive did not bring (OpenSSL's buffered plaintext,
	 * over TLS) were all consumed: the receive will bring the next ones.
	 */
	if (c->recv_ring && c->inlen == 0)
		http_conn_inbuf_drop(c);
	if (c->closing || c->recv_busy || c->eof)
		return;
	struct http_thread *th = c->th;
	bool own = c->ring_empty;
	c->ring_empty = false;
	if (th->rbufs != NULL && !own && c->inlen == 0 &&
	    (c->tls == NULL || c->draining || tls_conn_inbuf_release(c->tls))) {
		http_conn_inbuf_drop(c);
		io_prep_recv_bufs(io_sqe(th->loop, &c->recv_req), th->rbufs, c->fd);
		c->recv_busy = c->recv_ring = true;
		return;
	}
	char *p;
	size_t cap;
	if (http_conn_recv_space(c, &p, &cap) != 0) {
		LOG_DEBUG("http", "%s: no memory for input: connection closed", c->peer);
		http_conn_close(c, VMS_CLOSE_ABORT);
		return;
	}
	if (cap == 0)
		return;
	struct io_uring_sqe *sqe = io_sqe(th->loop, &c->recv_req);
	io_uring_prep_recv(sqe, c->fd, p, cap, 0);
	c->recv_busy = true;
}

void
http_conn_thread_start(struct http_thread *th)
{
	static atomic_bool logged;
	int64_t n = MIN(http_recv_ring, 32768);
	th->rbufs = NULL;
	if (n <= 0)
		return;
	while (n & (n - 1))
		n &= n - 1; /* the highest power of two in it */
	int rc = io_bufs_create(th->loop, (unsigned)n, HTTP_RING_BUFSZ, &th->rbufs);
	if (rc != 0) {
		if (!atomic_exchange(&logged, true))
			LOG_INFO("http",
				 "no io_uring buffer ring (%s): every connection keeps its "
				 "input buffers while idle",
				 strerror(-rc));
	}
}

void
http_conn_thread_stop(struct http_thread *th)
{
	io_bufs_destroy(th->rbufs);
	th->rbufs = NULL;
}

/*
 * Lingering close (after a response that ends the connection).  Closing a
 * TCP socket that still has unread input makes the kernel send a reset,
 * which can destroy the response we just sent (a 400 for a request whose
 * rest is still arriving, or pipelined requests after "Connection: close").
 * So we keep reading and discarding, send our FIN once the send buffer is
 * empty, and release the socket when the peer closes or HTTP_DRAIN_MS pass.
 */
static void
http_conn_drain_shut(struct http_conn *c)
{
	if (!c->shut_wr && vms_socket_sbcc(c->so) == 0) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr = true;
	}
}

void
http_conn_drain(struct http_conn *c)
{
	if (c->eof || c->closing) {
		http_conn_close(c, VMS_CLOSE_LINGER);
		return;
	}
	c->draining = true;
	c->drain_deadline = vms_now_ns() + HTTP_DRAIN_MS * 1000000ull;
	c->inlen = 0;
	c->parsed_len = 0;
	if (c->tls != NULL)
		tls_conn_shutdown(c->tls); /* close_notify before our FIN */
	if (http_conn_timer_set(c, HTTP_T_DRAIN) != 0)
		return;
	http_conn_drain_shut(c);
	http_conn_want_recv(c);
}

/*
 * Queue what is left of the response.  0: all queued; -EAGAIN: the send
 * buffer is full (wait for lowat); other negative: the socket is dead.
 */
static int
http_conn_push(struct http_conn *c)
{
	struct http_resp *r = c->resp;
	while (r->cur < r->npieces) {
		struct http_piece *p = &r->pieces[r->cur];
		int rc;
		if (!p->file) {
			bool before_file = r->cur + 1 < r->npieces && r->pieces[r->cur + 1].file;
			if (!before_file) {
				size_t q = 0;
				rc = vms_socket_write(c->so, r->mem + p->moff + r->done,
						      p->len - r->done, &q);
				r->done += q;
				if (rc != 0)
					return rc;
				r->cur++;
				r->done = 0;
				continue;
			}
			/* A head followed by a file range: one call, the head as hdtr headers. */
			struct http_piece *f = p + 1;
			uint64_t hrem = p->len - r->done;
			struct iovec iov = {r->mem + p->moff + r->done, hrem};
			struct vms_hdtr hdtr = {.headers = &iov, .hdr_cnt = 1};
			off_t sb = 0;
			int start = r->cur;
			rc = vms_sendfile_vnode(c->so, r->vp, (off_t)f->off, f->len, &hdtr, &sb, 0);
			if ((uint64_t)sb < hrem) {
				r->done += (uint64_t)sb;
			} else {
				r->cur++;
				r->done = (uint64_t)sb - hrem;
				if (r->done >= f->len) {
					r->cur++;
					r->done = 0;
				}
			}
			if (rc == 0 && r->cur != start + 2)
				return -EIO; /* the file ended before its Content-Length */
		} else {
			off_t sb = 0;
			rc = vms_sendfile_vnode(c->so, r->vp, (off_t)(p->off + r->done),
						p->len - r->done, NULL, &sb, 0);
			r->done += (uint64_t)sb;
			if (rc == 0 && r->done < p->len)
				return -EIO; /* the file ended before its Content-Length */
			if (r->done >= p->len) {
				r->cur++;
				r->done = 0;
			}
		}
		if (rc != 0)
			return rc;
	}
	if (r->vp) {
		vnode_rele(r->vp);
		r->vp = NULL;
	}
	return 0;
}

static void
http_conn_resp_done(struct http_conn *c)
{
	struct http_resp *r = c->resp;
	counter_add(&http_stats.bytes_body, r->body);
	http_stats_response(r->status, r->body, r->t0_ns);
	http_log_finish(c, r);
	http_conn_resp_put(c);
}

/*
 * A failed handshake or record ends the input like an EOF: the connection then
 * closes lingering, so an alert OpenSSL queued still goes out.
 */
void
http_conn_tls_fill(struct http_conn *c)
{
	while (!c->eof && tls_conn_has_input(c->tls)) {
		if (http_conn_inbuf(c) != 0) {
			LOG_DEBUG("http", "%s: no memory for input: connection closed", c->peer);
			c->eof = true;
			return;
		}
		if (c->inlen == HTTP_INBUF)
			return;
		int n = tls_conn_read(c->tls, c->in + c->inlen, HTTP_INBUF - c->inlen);
		if (n > 0) {
			c->inlen += (size_t)n;
			continue;
		}
		if (n == 0)
			return;
		if (n != TLS_CONN_EOF && n != -ECONNRESET) {
			counter_inc(&http_stats.tls_errors);
			LOG_DEBUG("http", "%s: TLS: %s", c->peer, tls_conn_error(c->tls));
		}
		c->eof = true;
	}
}

void
http_conn_consume(struct http_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->inlen - n);
	c->inlen -= n;
	c->parsed_len = 0;
}

static void
http_conn_process(struct http_conn *c)
{
	struct http_request req;

	while (!c->closing && !c->draining) {
		if (c->resp != NULL && c->resp->nomem && c->resp->cur == 0 && c->resp->done == 0) {
			/*
			 * Building the response ran out of memory: its head or part of
			 * its body is missing, and sending the rest would be wrong
			 * bytes.  Nothing went out yet: close instead.
			 */
			LOG_DEBUG("http", "%s: no memory for the response: connection closed",
				  c->peer);
			c->resp->status = 500;
			http_conn_abort(c);
			return;
		}
		if (c->resp != NULL) {
			int rc = http_conn_push(c);
			if (rc == -EAGAIN) {
				counter_inc(&http_stats.sendfile_again);
				vms_socket_want_lowat(c->so);
				if (http_conn_timer_set(c, HTTP_T_SEND) != 0)
					return;
				break;
			}
			if (rc != 0) {
				LOG_DEBUG("http", "%s: response aborted: %s", c->peer,
					  strerror(-rc));
				if (rc ==
				    -ETIMEDOUT) /* TCP_USER_TIMEOUT: the peer stopped reading */
					counter_inc(&http_stats.conn_timeouts);
				http_conn_abort(c);
				return;
			}
			bool close = c->resp->close;
			http_conn_resp_done(c);
			if (close || c->th->stopping) {
				http_conn_drain(c);
				return;
			}
			continue;
		}
		if (c->tls != NULL) {
			http_conn_tls_fill(c);
			/* ALPN chose h2: HTTP/2 from the first byte after the handshake. */
			const char *alpn = tls_conn_ready(c->tls) ? tls_conn_alpn(c->tls) : NULL;
			if (alpn != NULL && strcmp(alpn, "h2") == 0) {
				if (c->th->stopping)
					http_conn_close(c, VMS_CLOSE_LINGER);
				else if (h2_conn_start(c) != 0)
					http_conn_close(c, VMS_CLOSE_ABORT);
				return;
			}
		}
		if (c->body_left > 0 && c->inlen > 0) {
			/* The answered request's body: dropped (see http_request_parse). */
			size_t k = c->body_left < c->inlen ? (size_t)c->body_left : c->inlen;
			http_conn_consume(c, k);
			c->body_left -= k;
		}
		if (c->th->stopping && c->inlen == 0) {
			http_conn_close(c, VMS_CLOSE_LINGER);
			return;
		}
		if (c->inlen == 0) {
			if (c->eof) {
				http_conn_close(c, VMS_CLOSE_LINGER);
				return;
			}
			c->head_started = false;
			/* A TLS handshake, or the rest of a body, must come within the header timeout. */
			if (http_conn_timer_set(c, (c->tls != NULL && !tls_conn_ready(c->tls)) ||
							   c->body_left > 0
						       ? HTTP_T_HEADER
						       : HTTP_T_IDLE) != 0)
				return;
			break;
		}
		if (c->h2c && c->nreq == 0) {
			/* Prior-knowledge HTTP/2 (h2c) starts with the preface instead of a request. */
			int pf = h2_preface_check(c->in, c->inlen);
			if (pf > 0) {
				if (h2_conn_start(c) != 0)
					http_conn_close(c, VMS_CLOSE_ABORT);
				return;
			}
			if (pf == 0 && !c->eof) {
				if (!c->head_started) {
					c->head_started = true;
					if (http_conn_timer_set(c, HTTP_T_HEADER) != 0)
						return;
				}
				break;
			}
		}
		/*
		 * The parser rescans the head from its start, so a head dribbled in
		 * tiny pieces would cost quadratic time: rescan only when a line
		 * may have ended (a new '\n') or another KiB came in.  Garbage is
		 * still refused at its first recv (parsed_len is 0 then).
		 */
		int n = 0;
		if (c->parsed_len == 0 || c->inlen - c->parsed_len >= 1024 ||
		    memchr(c->in + c->parsed_len, '\n', c->inlen - c->parsed_len) != NULL) {
			n = http_request_parse(&req, c->in, c->inlen);
			c->parsed_len = n == 0 ? c->inlen : 0;
		}
		if (n == 0) {
			if (c->eof) {
				http_conn_close(c, VMS_CLOSE_LINGER);
				return;
			}
			if (!c->head_started) {
				c->head_started = true;
				if (http_conn_timer_set(c, HTTP_T_HEADER) != 0)
					return;
			}
			break;
		}
		c->head_started = false;
		if (n > 0 && c->h2c) {
			/* "Upgrade: h2c": the answer comes as HTTP/2 stream 1. */
			int up = h2_conn_upgrade(c, &req, (size_t)n);
			if (up < 0)
				http_conn_close(c, VMS_CLOSE_ABORT);
			if (up <= 0)
				return;
		}
		if (http_conn_resp_start(c) != 0) {
			http_conn_close(c, VMS_CLOSE_ABORT); /* no memory even to say so */
			return;
		}
		c->nreq++;
		counter_inc(&http_stats.requests);
		/*
		 * An armed idle timer stays armed: it checks idle_from when it
		 * fires.  Cancelling and re-arming it for every request of a
		 * keep-alive connection cost a heap removal, an insertion and a
		 * clock read each time.
		 */
		if (c->tkind == HTTP_T_IDLE)
			c->idle_from = c->resp->t0_ns;
		else
			(void)http_conn_timer_set(c, HTTP_T_NONE); /* cancels: never fails */
		if (n < 0) {
			/* After a malformed head we cannot find the next one: answer and close. */
			counter_inc(&http_stats.parse_errors);
			http_log_prepare(c, c->resp, NULL);
			http_resp_simple(c, c->resp, -n, true, NULL);
			c->inlen = 0;
			continue;
		}
		http_log_prepare(c, c->resp, &req);
		http_handle(c, c->resp, &req);
		http_conn_consume(c, (size_t)n);
		c->body_left = req.body_length;
	}
	http_conn_want_recv(c);
}

static void
http_conn_on_lowat(struct vms_socket *so, void *arg)
{
	struct http_conn *c = arg;
	if (c->closing)
		return;
	http_conn_enter(c);
	int rc = c->tls != NULL && !c->draining ? tls_conn_check_key(c->tls) : 0;
	if (rc != 0) {
		counter_inc(&http_stats.tls_errors);
		LOG_DEBUG("http", "%s: TLS: %s", c->peer, tls_conn_error(c->tls));
		http_conn_abort(c);
	} else if (c->draining)
		http_conn_drain_shut(c);
	else if (c->h2)
		h2_conn_on_lowat(c);
	else
		http_conn_process(c);
	http_conn_leave(c);
}

static void
http_conn_error_run(struct http_conn *c, int error)
{
	if (c->h2 && !c->draining) {
		h2_conn_on_error(c, error);
		return;
	}
	LOG_DEBUG("http", "%s: socket error: %s", c->peer, strerror(-error));
	if (error == -ETIMEDOUT) /* TCP_USER_TIMEOUT: the peer stopped reading */
		counter_inc(&http_stats.conn_timeouts);
	http_conn_abort(c);
}

static void
http_conn_on_error(struct vms_socket *so, int error, void *arg)
{
	struct http_conn *c = arg;
	http_conn_enter(c);
	http_conn_error_run(c, error);
	http_conn_leave(c);
}

static void
http_conn_timer_run(struct http_conn *c)
{
	if (c->h2 && !c->draining) {
		h2_conn_timer(c);
		return;
	}
	enum http_timer_kind kind = c->tkind;
	c->tkind = HTTP_T_NONE;
	switch (kind) {
	case HTTP_T_IDLE: {
		/* Requests since it was armed moved the idle period on: wait for the rest. */
		uint64_t end =
		    c->idle_from + (uint64_t)http_conn_cfg(c)->idle_timeout_ms * 1000000ull;
		uint64_t now = vms_now_ns();
		if (now < end) {
			c->tkind = HTTP_T_IDLE;
			(void)http_conn_timer_arm(c, end - now);
			break;
		}
		counter_inc(&http_stats.conn_timeouts);
		http_conn_close(c, VMS_CLOSE_LINGER);
		break;
	}
	case HTTP_T_HEADER:
		counter_inc(&http_stats.conn_timeouts);
		if (c->tls != NULL && !tls_conn_ready(c->tls)) {
			LOG_DEBUG("http", "%s: TLS handshake timeout", c->peer);
			http_conn_close(c, VMS_CLOSE_ABORT);
			break;
		}
		if (c->body_left > 0) {
			/* Its request is answered: nothing to say about the missing body. */
			LOG_DEBUG("http", "%s: request body timeout", c->peer);
			http_conn_close(c, VMS_CLOSE_LINGER);
			break;
		}
		/* Too slow to send a head: 408 and close (RFC 9110 15.5.9). */
		if (http_conn_resp_start(c) != 0) {
			http_conn_close(c, VMS_CLOSE_ABORT);
			break;
		}
		http_log_prepare(c, c->resp, NULL);
		http_resp_simple(c, c->resp, 408, true, NULL);
		c->inlen = 0;
		c->parsed_len = 0;
		http_conn_process(c);
		break;
	case HTTP_T_SEND: {
		struct vms_socket_stats st;
		vms_socket_get_stats(c->so, &st);
		if (st.bytes_sent != c->last_sent || st.sb_cc == 0) {
			(void)http_conn_timer_set(c, HTTP_T_SEND); /* progress: another period */
			break;
		}
		counter_inc(&http_stats.conn_timeouts);
		LOG_DEBUG("http", "%s: send timeout, aborting", c->peer);
		http_conn_abort(c);
		break;
	}
	case HTTP_T_DRAIN: {
		/*
		 * Ticks until the send buffer is empty (then our FIN goes out),
		 * then one wait for the rest of the drain period.
		 */
		uint64_t now = vms_now_ns();
		if (now >= c->drain_deadline) {
			http_conn_close(c, VMS_CLOSE_LINGER);
			break;
		}
		http_conn_drain_shut(c);
		c->tkind = HTTP_T_DRAIN;
		(void)http_conn_timer_arm(c, c->shut_wr ? c->drain_deadline - now
							: HTTP_DRAIN_TICK_MS * 1000000ull);
		break;
	}
	case HTTP_T_NONE:
		break;
	}
}

static void
http_conn_timer_fn(struct io_timer *t)
{
	struct http_conn *c = container_of(t, struct http_conn, timer);
	http_conn_enter(c);
	http_conn_timer_run(c);
	http_conn_leave(c);
}

void
http_conn_accepted(struct http_thread *th, int fd, const struct sockaddr *sa, bool metrics_ok,
		   bool tls)
{
	const struct http_server_config *cfg = &th->gen->cfg;
	counter_inc(&http_stats.connections);
	/* The slot is taken before the check: two threads cannot both take the last one. */
	if (th->stopping || atomic_fetch_add(&http_stats.conns_open, 1) >= cfg->max_connections) {
		if (!th->stopping)
			atomic_fetch_sub(&http_stats.conns_open, 1);
		counter_inc(&http_stats.conn_refused);
		close(fd);
		return;
	}
	/* TCP_NODELAY and TCP_USER_TIMEOUT came from the listener (http_listen_tune). */
	struct http_conn *c = http_conn_alloc(th);
	if (c == NULL) {
		atomic_fetch_sub(&http_stats.conns_open, 1);
		close(fd);
		return;
	}
	c->th = th;
	c->gen = th->gen;
	c->fd = fd;
	/* On every listener (no --metrics-listen), the metrics are this machine's clients' only. */
	c->metrics_ok = metrics_ok && (cfg->metrics_listen != NULL || http_peer_local(sa));
	c->h2c = cfg->h2c && !tls; /* over TLS, h2 comes by ALPN (http_conn_process) */
	c->recv_req.done = http_conn_recv_done;
	c->timer.fn = http_conn_timer_fn;
	struct vms_socket_params p = {
	    .hiwat = cfg->sb_hiwat,
	    .close_fd = true,
	    .nonblocking_socket = true, /* accepted with SOCK_NONBLOCK */
	    .on_lowat = http_conn_on_lowat,
	    .on_error = http_conn_on_error,
	    .arg = c,
	};
	int rc = vms_socket_create(th->loop, fd, &p, &c->so);
	if (rc == 0 && tls && (rc = tls_conn_new(cfg->tls, c->so, &c->tls)) != 0)
		vms_socket_close(c->so, VMS_CLOSE_ABORT); /* it owns fd now: closes it */
	if (rc != 0) {
		LOG_WARN("http", "cannot create a socket for a new connection: %s", strerror(-rc));
		if (c->so == NULL)
			close(fd);
		free(c);
		atomic_fetch_sub(&http_stats.conns_open, 1);
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, c->peer, sizeof(c->peer));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, c->peer, sizeof(c->peer));
	} else {
		strcpy(c->peer, sa->sa_family == AF_UNIX ? "unix:" : "-");
	}
	http_gen_ref(c->gen);
	c->next = th->conns;
	if (th->conns)
		th->conns->prev = c;
	th->conns = c;
	th->nconns++;
	th->nconns_peak = MAX(th->nconns_peak, th->nconns);
	if (http_conn_timer_set(c, tls ? HTTP_T_HEADER : HTTP_T_IDLE) != 0)
		return;
	http_conn_want_recv(c);
}

void
http_conn_stop_all(struct http_thread *th, bool abort)
{
	struct http_conn *c = th->conns, *next;
	for (; c != NULL; c = next) {
		next = c->next;
		if (c->closing) {
			if (abort)
				c->close_how = VMS_CLOSE_ABORT;
			continue;
		}
		if (c->h2 && !c->draining) {
			http_conn_enter(c);
			h2_conn_stop(c, abort);
			http_conn_leave(c);
			continue;
		}
		if (abort) {
			http_conn_abort(c);
		} else if (c->resp == NULL && !c->head_started && !c->draining) {
			http_conn_close(c, VMS_CLOSE_LINGER);
		}
		/* Busy ones close after their response (http_conn_process checks stopping). */
	}
}
