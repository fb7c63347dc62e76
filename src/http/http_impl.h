/*
 * Private structures of the HTTP server (server.c, conn.c, handler.c,
 * metrics.c, access_log.c).
 *
 * Lock key: (t) owned by the connection's thread; nothing here is shared
 * between threads except through the atomics in http_stats and the server's
 * stop flag (a).
 */
#ifndef VMSEND_HTTP_IMPL_H
#define VMSEND_HTTP_IMPL_H

#include "http/http_proto.h"
#include "http/http_server.h"
#include "io/io.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

struct vnode;
struct vms_socket;
struct http_thread;
struct h2_conn;

/* One piece of a response: copied bytes (from resp->mem) or a file range. */
struct http_piece {
	bool file;
	size_t moff;  /* copied: offset in resp->mem */
	uint64_t off; /* file: offset */
	uint64_t len;
};

#define HTTP_MAX_PIECES (2 * HTTP_MAX_RANGES + 2)

struct http_resp {
	int status;
	bool close;       /* close the connection after this response */
	bool head_only;   /* HEAD: the head without the body */
	bool http10;      /* the request was HTTP/1.0 */
	struct vnode *vp; /* (t) referenced while pieces remain */
	struct http_piece pieces[HTTP_MAX_PIECES];
	int npieces;
	int cur;            /* piece being queued */
	uint64_t done;      /* bytes of pieces[cur] queued */
	char *mem;          /* copied bytes: heads, generated bodies */
	size_t memlen;      /* used */
	size_t memcap;      /* allocated */
	uint64_t body;      /* body bytes, for the access log */
	uint64_t t0_ns;     /* head parsed */
	char logline[1024]; /* access-log prefix filled at request time */
	size_t loglen;
};

enum http_timer_kind { HTTP_T_NONE, HTTP_T_IDLE, HTTP_T_HEADER, HTTP_T_SEND, HTTP_T_DRAIN };

#define HTTP_INBUF (HTTP_MAX_REQUEST_LINE + HTTP_MAX_HEADER_BYTES + 1024)

struct http_conn {
	struct io_req recv_req; /* (t) */
	struct http_thread *th; /* (c) */
	int fd;                 /* (c) owned by `so` */
	struct vms_socket *so;  /* (t) */
	bool metrics_ok;        /* (c) accepted on a listener that serves metrics */
	bool h2c;               /* (c) the first bytes may be the HTTP/2 preface */
	struct h2_conn *h2;     /* (t) the connection speaks HTTP/2 (h2.c) */
	char peer[64];          /* (c) address for the log */

	char *in;                /* (t) HTTP_INBUF bytes */
	size_t inlen;            /* (t) */
	size_t parsed_len;       /* (t) inlen when the parser last said "incomplete" (0: none) */
	bool recv_busy;          /* (t) a recv is in flight */
	bool eof;                /* (t) the peer closed its side (or recv failed) */
	bool closing;            /* (t) close requested; freed once the recv is back */
	bool draining;           /* (t) lingering close: reading and discarding until EOF */
	bool shut_wr;            /* (t) our FIN is sent */
	uint64_t drain_deadline; /* (t) end of the lingering close */
	int close_how;           /* (t) VMS_CLOSE_* for the final close */
	bool resp_busy;          /* (t) resp holds a response not yet fully queued */
	bool head_started;       /* (t) bytes of the next request have arrived */
	struct http_resp resp;

	struct io_timer timer; /* (t) */
	enum http_timer_kind tkind;
	uint64_t idle_from; /* (t) start of the idle period (HTTP_T_IDLE is re-armed lazily) */
	uint64_t last_sent; /* (t) bytes_sent at the last send-timer check */
	uint64_t nreq;      /* (t) requests on this connection */

	struct http_conn *prev, *next; /* (t) the thread's list */
};

struct http_listener {
	struct io_req req;
	struct http_thread *th;
	int fd;
	bool metrics_ok;
	bool busy; /* an accept is in flight */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct http_server;

struct http_thread {
	struct http_server *srv;
	int idx;
	pthread_t tid;
	struct io_loop *loop;
	struct http_listener lis[HTTP_MAX_LISTEN + 1];
	int nlis;
	struct http_conn *conns; /* (t) */
	int nconns;              /* (t) */
	struct http_conn *spare; /* (t) freed connections kept with their buffers for reuse */
	int nspare;              /* (t) */
	bool stopping;           /* (t) */
	bool done;               /* (t) leave the loop */
	uint64_t stop_deadline;  /* (t) grace end */
	struct io_task stop_task;
	struct io_timer stop_timer;
	int start_rc; /* (c) after the start handshake */
};

struct http_server {
	struct http_server_config cfg;
	int nthreads;
	struct http_thread *threads;
	int ports[HTTP_MAX_LISTEN + 1];
	int log_fd; /* access log, -1 when off */
	pthread_mutex_t start_mu;
	pthread_cond_t start_cv;
	int started;
	atomic_bool posts_done; /* (a) every stop task was posted: loops may be destroyed */
};

/* conn.c */
void http_conn_accepted(struct http_thread *th, int fd, const struct sockaddr *sa, bool metrics_ok);
/* Graceful stop: idle connections close, busy ones close after their response. */
void http_conn_stop_all(struct http_thread *th, bool abort);
/* Free the connections kept for reuse (the thread is leaving). */
void http_conn_free_spares(struct http_thread *th);
/* Close now (VMS_CLOSE_ABORT) or after the queue is sent (VMS_CLOSE_LINGER); idempotent. */
void http_conn_close(struct http_conn *c, int how);
/* Lingering close: send what is queued, FIN, read and discard until EOF or 2 s. */
void http_conn_drain(struct http_conn *c);
/* Post a recv into c->in if none is in flight and there is room. */
void http_conn_want_recv(struct http_conn *c);

/*
 * handler.c: turn one parsed request into a response plan `r` (status,
 * pieces, vnode).  `c` is the connection it came on (its thread's config,
 * its listener's permissions); `r` is the connection's resp for HTTP/1.1,
 * a stream's for HTTP/2.  The head is written as HTTP/1.1 bytes (the first
 * piece); HTTP/2 turns it into header fields (h2_stream.c).
 */
void http_handle(struct http_conn *c, struct http_resp *r, const struct http_request *req);
/* An error or redirect response with a small HTML body; `extra` is more header lines or NULL. */
void http_resp_simple(struct http_conn *c, struct http_resp *r, int status, bool close,
		      const char *extra);
void http_resp_reset(struct http_resp *r);
/* Reserve n bytes of copied data in r->mem; returns the offset or -1. */
long http_resp_alloc(struct http_resp *r, size_t n);
void http_resp_add_copy(struct http_resp *r, const char *p, size_t n);

/* access_log.c */
void http_log_prepare(struct http_conn *c, struct http_resp *r, const struct http_request *req);
void http_log_finish(struct http_conn *c, struct http_resp *r);

/* metrics.c */
void http_stats_response(int status, uint64_t body, uint64_t t0_ns);

#endif
