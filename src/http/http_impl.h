/*
 * Private structures of the HTTP server (server.c, conn.c, handler.c,
 * metrics.c, access_log.c).
 *
 * Lock key: (t) owned by the connection's thread; (c) constant after
 * creation; nothing here is shared between threads except through the
 * atomics in http_stats, the server's stop flag and a generation's
 * reference count (a).
 */
#ifndef VMSEND_HTTP_IMPL_H
#define VMSEND_HTTP_IMPL_H

#include "core/stash.h"
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
struct tls_conn;

/*
 * One configuration generation (reload.c).  Immutable once made: each
 * thread holds the current one, each connection the one it was accepted
 * under, so a reload (SIGHUP) never changes the settings a response in
 * flight was planned with, and the generation is freed when its last
 * connection goes.
 */
struct http_gen {
	_Atomic uint32_t refs;         /* (a) the server, each thread, each connection */
	uint64_t id;                   /* (c) 1 at start, +1 per reload */
	struct http_server_config cfg; /* (c) its strings are owned by the generation */
	char **strs;                   /* (c) those strings, freed with the generation */
	int nstrs;
	struct http_logfile *log; /* (c) access log (NULL: off), shared with the next generation
				     when the path stays the same */
	/* HTTPS: cfg.tls, a reference of the generation's own (a reload may bring new ones). */
	char hsts[64]; /* (c) the Strict-Transport-Security line (cfg.hsts_max_age) */
};

/* An open access log; SIGUSR1 dup3()s a reopened file over fd, for every generation at once. */
struct http_logfile {
	_Atomic uint32_t refs; /* (a) */
	char *path;            /* (c) "-": stdout */
	int fd;                /* (c) */
};

/*
 * A generation with one reference: cfg copied with its strings, its access
 * log opened (or prev's shared, same path).  0, or -errno after printing why on stderr.
 */
int http_gen_new(const struct http_server_config *cfg, uint64_t id, const struct http_gen *prev,
		 struct http_gen **out);
void http_gen_ref(struct http_gen *g);
void http_gen_rele(struct http_gen *g);

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
	bool nomem;       /* building it ran out of memory: a piece is missing, never send it */
	struct vnode *vp; /* (t) referenced while pieces remain */
	struct http_piece pieces[HTTP_MAX_PIECES];
	int npieces;
	int cur;        /* piece being queued */
	uint64_t done;  /* bytes of pieces[cur] queued */
	char *mem;      /* copied bytes: heads, generated bodies */
	size_t memlen;  /* used */
	size_t memcap;  /* allocated */
	uint64_t body;  /* body bytes, for the access log */
	uint64_t t0_ns; /* head parsed */
	const char
	    *always; /* a header line every head of this connection carries (HSTS), or NULL */
	char logline[1024]; /* access-log prefix filled at request time */
	size_t loglen;
};

/* A response's first buffer; buffers of this size are reused, larger ones freed. */
#define HTTP_RESP_MEM 4096

enum http_timer_kind { HTTP_T_NONE, HTTP_T_IDLE, HTTP_T_HEADER, HTTP_T_SEND, HTTP_T_DRAIN };

#define HTTP_INBUF (HTTP_MAX_REQUEST_LINE + HTTP_MAX_HEADER_BYTES + 1024)

struct http_conn {
	struct io_req recv_req; /* (t) */
	struct http_thread *th; /* (c) */
	struct http_gen *gen;   /* (c) settings it was accepted under; referenced */
	int fd;                 /* (c) owned by `so` */
	struct vms_socket *so;  /* (t) */
	bool metrics_ok;        /* (c) accepted on a listener that serves metrics */
	bool h2c;               /* (c) the first bytes may be the HTTP/2 preface */
	struct h2_conn *h2;     /* (t) the connection speaks HTTP/2 (h2.c) */
	struct tls_conn *tls;   /* (t) TLS transport under HTTP (NULL: plain TCP) */
	char peer[64];          /* (c) address for the log */

	char *in;                /* (t) HTTP_INBUF bytes, or NULL while nothing waits in it */
	size_t inlen;            /* (t) */
	size_t parsed_len;       /* (t) inlen when the parser last said "incomplete" (0: none) */
	bool recv_busy;          /* (t) a recv is in flight */
	bool recv_ring;          /* (t) the recv in flight is on the thread's ring */
	bool ring_empty;         /* (t) the ring had no buffer: the next recv uses c's own */
	bool eof;                /* (t) the peer closed its side (or recv failed) */
	bool closing;            /* (t) close requested; freed once the recv is back */
	unsigned depth;          /* (t) callbacks running on c: it is freed at the last leave */
	bool draining;           /* (t) lingering close: reading and discarding until EOF */
	bool shut_wr;            /* (t) our FIN is sent */
	uint64_t drain_deadline; /* (t) end of the lingering close */
	int close_how;           /* (t) VMS_CLOSE_* for the final close */
	bool head_started;       /* (t) bytes of the next request have arrived */
	uint64_t body_left;      /* (t) bytes of the last request's body still to drop */
	struct http_resp *resp;  /* (t) the response being queued; NULL between responses */

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
	int fd;       /* -1: a free slot */
	uint32_t lid; /* the server's address entry it belongs to */
	bool metrics_ok;
	bool tls;      /* connections speak TLS (cfg.tls) */
	bool busy;     /* an accept is in flight */
	bool retiring; /* a reload dropped its address: closed once the accept is back */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct http_server;

struct http_thread {
	struct http_server *srv;
	int idx;
	pthread_t tid;
	struct io_loop *loop;
	/* Twice the addresses: a reload's new listeners arm while dropped ones retire. */
	struct http_listener lis[2 * HTTP_LISTEN_ALL];
	int nlis;                    /* (t) slots in use or retiring are below this */
	struct http_gen *gen;        /* (t) current settings; referenced */
	struct http_conn *conns;     /* (t) */
	atomic_int nconns;           /* (t) written; read by every thread to balance accepts */
	int nconns_peak;             /* (t) most connections since the heap was last trimmed */
	struct vms_stash spare;      /* (t) freed connections kept for reuse */
	struct vms_stash spare_in;   /* (t) input buffers (HTTP_INBUF) kept for reuse */
	struct vms_stash spare_resp; /* (t) responses kept for reuse, each with its first buffer */
	struct io_bufs *rbufs;  /* (t) receive buffers for connections holding no input, or NULL */
	bool stopping;          /* (t) */
	bool done;              /* (t) leave the loop */
	uint64_t stop_deadline; /* (t) grace end */
	struct io_task stop_task;
	struct io_timer stop_timer;
	struct io_task reload_task;
	bool accept_paused; /* (t) out of descriptors: accepts wait for accept_timer */
	struct io_timer accept_timer;
	atomic_bool aside;         /* (a) not accepting: holds more connections than another */
	atomic_bool nudged;        /* (a) nudge_task is posted */
	struct io_task nudge_task; /* another thread asks it to accept again */
	int start_rc;              /* (c) after the start handshake */
};

/* A listening address: one socket, and a dup of it for each thread. */
struct http_addr {
	char spec[128]; /* as configured, the key a reload compares */
	bool metrics_ok;
	bool tls; /* an HTTPS listener */
	uint32_t lid;
	int port; /* bound (after port 0) */
	int *fds; /* one per thread, handed to the threads at start or reload */
};

struct http_server {
	int nthreads;
	struct http_thread *threads;
	struct http_gen *gen; /* current generation (the caller's thread only) */
	struct http_addr addrs[HTTP_LISTEN_ALL];
	int naddrs;
	uint32_t next_lid;
	pthread_mutex_t start_mu;
	pthread_cond_t start_cv;
	int started;
	int reload_acks;             /* (start_mu) threads that applied the posted reload */
	struct http_reload *pending; /* the reload the threads are applying */
	atomic_bool posts_done;      /* (a) every stop task was posted: loops may be destroyed */
	atomic_int nudging;          /* (a) threads posting a nudge now: loops stay until 0 */
};

/* The settings a connection runs with. */
static inline const struct http_server_config *
http_conn_cfg(const struct http_conn *c)
{
	return &c->gen->cfg;
}

/* server.c, for reload.c */
int http_addrs_bind(struct http_server *srv, const struct http_server_config *cfg,
		    struct http_addr *out, int *nout);
void http_addr_close(struct http_addr *a, int nthreads);
/* A unix-socket address's path is removed (a listener gone for good); others: nothing. */
void http_addr_unlink(const struct http_addr *a);
/* Set on a listening socket what its accepted connections inherit (cfg's send timeout, no Nagle). */
void http_listen_tune(int fd, const struct http_server_config *cfg);
void http_listener_arm(struct http_thread *th, const struct http_addr *a);
/* server.c, for conn.c: a connection closed; a thread that stood aside may accept again. */
void http_thread_balance(struct http_thread *th);
/* reload.c: the reload task run on each thread */
void http_thread_reload_task(struct io_task *task);

/* conn.c */
void http_conn_accepted(struct http_thread *th, int fd, const struct sockaddr *sa, bool metrics_ok,
			bool tls);
/* Graceful stop: idle connections close, busy ones close after their response. */
void http_conn_stop_all(struct http_thread *th, bool abort);
/* The thread's ring of receive buffers: after its loop is made, and before it is destroyed. */
void http_conn_thread_start(struct http_thread *th);
void http_conn_thread_stop(struct http_thread *th);
/* Free the connections and input buffers kept for reuse (the thread is leaving). */
void http_conn_free_spares(struct http_thread *th);
/* Close now (VMS_CLOSE_ABORT) or after the queue is sent (VMS_CLOSE_LINGER); idempotent. */
void http_conn_close(struct http_conn *c, int how);
/*
 * The connection's timer could not be armed (`error` from io_timer_arm()):
 * without it the connection could wait forever, so count it, warn (at most
 * once a second), and close it (lingering if idle, aborted with a response
 * or HTTP/2 streams in flight).  The caller must not touch `c` afterwards.
 */
void http_conn_timer_lost(struct http_conn *c, int error);
/* Lingering close: send what is queued, FIN, read and discard until EOF or 2 s. */
void http_conn_drain(struct http_conn *c);
/*
 * Post a recv if none is in flight and there is room: into the thread's
 * ring when c holds no input (c->in is then given up), else into c->in (or,
 * over TLS, the ciphertext buffer).  Out of memory: c is closed.
 */
void http_conn_want_recv(struct http_conn *c);
/* Drop the first n bytes of c's input (a parsed head, a body to skip). */
void http_conn_consume(struct http_conn *c, size_t n);
/*
 * TLS: decrypt what fits into c->in (running the handshake first); a failed
 * handshake or record, or the peer's close, sets c->eof (so does no memory
 * for c->in).
 */
void http_conn_tls_fill(struct http_conn *c);

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
/* Free r's buffer: r holds none afterwards. */
void http_resp_free_mem(struct http_resp *r);
void http_resp_add_copy(struct http_resp *r, const char *p, size_t n);

/*
 * listing.c: the listing of directory dvp (URL path `path`) as HTML or JSON
 * in a new buffer *out (the caller frees it).  0, -ENOTSUP (the file system
 * cannot list), -ENOMEM or the file system's -errno.
 */
int http_listing_render(struct vnode *dvp, const char *path, bool dotfiles, bool json, char **out,
			size_t *outlen);

/* access_log.c */
void http_log_prepare(struct http_conn *c, struct http_resp *r, const struct http_request *req);
void http_log_finish(struct http_conn *c, struct http_resp *r);

/* metrics.c */
void http_stats_response(int status, uint64_t body, uint64_t t0_ns);

#endif
