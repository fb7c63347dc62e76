/*
 * HTTP/2 on a connection (h2.c: the session and its I/O; h2_stream.c:
 * requests, responses and DATA frames), with libnghttp2.
 *
 * A connection starts as HTTP/1.1 in conn.c.  On a listener with h2c the
 * first bytes are checked for the HTTP/2 connection preface (prior
 * knowledge), and a request may ask for "Upgrade: h2c"; on a TLS listener
 * ALPN "h2" says so.  Then h2_conn_start() (or h2_conn_upgrade()) takes the
 * connection over: conn.c still owns the fd, the recv, the vms_socket, the
 * timer and the close, and calls the hooks below from its events.  Every request goes through the same handler as HTTP/1.1
 * (http_handle() into the stream's own http_resp).
 *
 * Lock key: (t) the connection's thread, like everything in http_impl.h.
 */
#ifndef VMSEND_HTTP_H2_H
#define VMSEND_HTTP_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_conn;
struct http_request;

#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* The streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
#define H2_MAX_STREAMS 100

/*
 * Does buf[0..len) start the HTTP/2 preface?  1: it holds the whole
 * preface; 0: it is a proper prefix of it (wait for more); -1: it is not.
 */
int h2_preface_check(const char *buf, size_t len);

/*
 * Take c over as HTTP/2: c->in[0..inlen) are the first bytes (the preface
 * for h2c, anything after ALPN).  Sends our SETTINGS and processes the
 * input.  Returns 0, or -ENOMEM after which the caller closes c.
 */
int h2_conn_start(struct http_conn *c);
/*
 * h2c Upgrade (RFC 7540 3.2): c->in[0..len) is a request head parsed into
 * `req`.  If it asks for "Upgrade: h2c" with one valid HTTP2-Settings,
 * answer 101, take c over as HTTP/2 and answer the request as stream 1
 * (returns 0; -ENOMEM: the caller closes c).  Else 1: serve it as HTTP/1.1.
 */
int h2_conn_upgrade(struct http_conn *c, const struct http_request *req, size_t len);
/* Bytes arrived in c->in (res > 0), the peer closed (res == 0) or recv failed (res < 0). */
void h2_conn_recv(struct http_conn *c, int res);
/* The send buffer drained to its low-water mark. */
void h2_conn_on_lowat(struct http_conn *c);
/* The socket was aborted (peer reset, EIO from a pager, ...). */
void h2_conn_on_error(struct http_conn *c, int error);
/* c->timer fired. */
void h2_conn_timer(struct http_conn *c);
/* Server stop: GOAWAY, let streams in flight finish (abort: cut them now). */
void h2_conn_stop(struct http_conn *c, bool abort);
/* c is being freed: drop every stream, hold and the session. */
void h2_conn_free(struct http_conn *c);

#endif
