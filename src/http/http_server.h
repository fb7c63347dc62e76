/*
 * The vmsend HTTP/1.1 static-file server.
 *
 * One event loop (src/io) per thread; each thread accepts on its own dup of
 * every listening socket (the kernel hands connections to the threads in
 * turn), and has its own connections and its own io_uring.  File bytes never pass through this
 * layer: a response is a list of pieces, copied header bytes and (vnode,
 * offset, length) ranges, handed to vms_sendfile_vnode() on the connection's
 * vms_socket.  A cache hit is queued ready and goes out at once; a miss is
 * queued not-ready and the loop moves on to other connections while the
 * pager reads.
 *
 * The caller owns the process-wide state: vm_init(), file-system
 * registration and vfs mounts happen before http_server_start(); the server
 * only calls vfs_lookup().
 */
#ifndef VMSEND_HTTP_SERVER_H
#define VMSEND_HTTP_SERVER_H

#include "core/stats.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HTTP_MAX_LISTEN       8
#define HTTP_UNIX_PREFIX      "unix:" /* a listen address that is a unix socket's path */
#define HTTP_LISTEN_ALL       (2 * HTTP_MAX_LISTEN + 1) /* plain, TLS, metrics */
#define HTTP_MAX_HEADER_RULES 32

/* The socket path of a "unix:PATH" listen address; NULL for any other. */
static inline const char *
http_unix_path(const char *spec)
{
	return strncmp(spec, HTTP_UNIX_PREFIX, sizeof(HTTP_UNIX_PREFIX) - 1) == 0
		   ? spec + sizeof(HTTP_UNIX_PREFIX) - 1
		   : NULL;
}

/*
 * Extra response headers for files and listings whose URL path matches a
 * pattern (fnmatch(3), '*' also crossing '/'): a pattern with a leading '/'
 * matches the whole path ("/assets/" then a star: everything under a prefix,
 * a mount's for example), one without matches the last path segment
 * ("*.html").  Every matching rule applies, in order; a later
 * rule for the same name replaces an earlier one.  The name "Expires" takes
 * seconds from the response time and also sets Cache-Control: max-age unless
 * a Cache-Control rule matched too.  "Content-Type" replaces a file's type
 * (from its extension).  Names each response computes (framing, validators,
 * Date, Server) would be sent twice: `vmsend serve` refuses them.
 */
struct http_header_rule {
	const char *pattern;
	const char *name;
	const char *value;
};

struct tls_server;

/*
 * ALPN protocols for tls_server_set_alpn() when TLS listeners speak HTTP/2
 * too (server preference: h2); a connection that agrees on "h2" runs HTTP/2.
 */
#define HTTP_ALPN_H2 "\x02h2\x08http/1.1"

struct http_server_config {
	const char
	    *listen[HTTP_MAX_LISTEN]; /* "127.0.0.1:8080", "[::1]:8080", ":8080"; port 0 = any;
					 "unix:/run/vmsend.sock" (a stale one is replaced, the
					 path removed when it closes); "fd:3": a listening
					 socket we were handed (systemd) */
	int nlisten;
	const char *metrics_listen; /* serve /.vmsend/metrics only here, to anyone (NULL: on every
				       listener, to http_peer_local clients) */
	int threads;                /* event loops; 0: one per CPU it may use */
	int max_connections; /* over this, new connections are closed at once; 0: the default */
	uint32_t idle_timeout_ms;   /* keep-alive wait for the next request's first byte */
	uint32_t header_timeout_ms; /* first byte to complete head; then 408 */
	uint32_t send_timeout_ms;   /* no send progress for this long: connection aborted */
	uint32_t grace_ms;          /* on stop: in-flight responses get this long */
	const char *access_log;     /* NULL: off; "-": stdout; else a file appended to */
	bool metrics;               /* serve /.vmsend/metrics */
	bool dotfiles;              /* serve names starting with '.' */
	bool listing;               /* list directories without index.html */
	uint32_t sb_hiwat;          /* per-connection send buffer; 0: sendfile's default */
	bool quiet;                 /* no startup banner */
	bool h2c;                   /* plain listeners also take HTTP/2 with prior knowledge */
	const char *listen_tls[HTTP_MAX_LISTEN]; /* HTTPS listeners (ports after the plain ones) */
	int nlisten_tls;
	struct tls_server *tls; /* certificates for listen_tls; each generation takes a reference */
	uint32_t hsts_max_age;  /* > 0: Strict-Transport-Security on HTTPS responses */
	bool https_redirect;    /* plain listeners answer 301 to https:// (first TLS port) */
	bool precompressed;     /* serve FILE.br/.zst/.gz for FILE when Accept-Encoding allows */
	struct http_header_rule header_rules[HTTP_MAX_HEADER_RULES];
	int nheader_rules;
	/*
	 * Called by http_server_start() once every address is bound and before
	 * any thread accepts (dropping root goes here); non-zero fails the start.
	 */
	int (*after_bind)(void *arg);
	void *after_bind_arg;
};

void http_server_config_defaults(struct http_server_config *cfg);
/* What a start would refuse, without binding: bad addresses, an access log that cannot be opened. */
int http_server_config_check(const struct http_server_config *cfg);

struct http_server;

#define HTTP_DEFAULT_MAX_CONNECTIONS 10000

/*
 * The connections a server will take when asked for `max_connections`
 * (0: the default): at most three quarters of the descriptors RLIMIT_NOFILE
 * (soft raised to hard) leaves over 64, so that cached files get the rest.
 */
int http_connections_fit(int max_connections);

/*
 * Bind every listener on every thread and start the threads.  Returns 0,
 * -EADDRINUSE (with a log line naming the address), or -errno.
 */
int http_server_start(const struct http_server_config *cfg, struct http_server **out);
/* The port listener i is bound to (after port 0). */
int http_server_port(const struct http_server *srv, int i);
/*
 * Stop: listeners close at once; idle connections close; responses in
 * flight get cfg->grace_ms to finish, then are cut.  Joins the threads and
 * frees the server.  Call once, from the thread that started it.
 */
void http_server_stop(struct http_server *srv);
/* The address spec of listener i (as configured), NULL past the last. */
const char *http_server_addr(const struct http_server *srv, int i);
/* Its event loops: cfg.threads, or one per CPU it may use (vms_cpus_usable). */
int http_server_threads(const struct http_server *srv);

/*
 * Reload, in two steps so the caller can switch its own state (the mount
 * table) in between and still back out: prepare checks cfg, opens its access
 * log and binds the addresses the server does not listen on yet; 0 or
 * -errno after printing why, with nothing changed.  Commit makes cfg the
 * settings of every connection accepted from then on (connections already
 * open keep theirs), starts the new listeners and closes the dropped ones;
 * it returns once every thread switched.  Abort undoes prepare.  Thread
 * count is fixed at start.  From the thread that started the server.
 */
struct http_reload;
int http_server_reload_prepare(struct http_server *srv, const struct http_server_config *cfg,
			       struct http_reload **out);
void http_server_reload_commit(struct http_server *srv, struct http_reload *rl);
void http_server_reload_abort(struct http_server *srv, struct http_reload *rl);
/* Reopen the access log at its path (after logrotate moved it).  0 or -errno. */
int http_server_reopen_logs(struct http_server *srv);

/* Counters, for /.vmsend/metrics and tests. */
#define HTTP_LATENCY_BUCKETS 12
struct http_stats {
	struct vms_counter connections;  /* accepted */
	struct vms_counter conn_refused; /* over max_connections */
	struct vms_counter conn_timeouts;
	struct vms_counter conn_timer_errors; /* closed: no memory to arm their timer */
	struct vms_counter requests;
	struct vms_counter status[6];      /* by class: [2] = 2xx ... [5] = 5xx */
	struct vms_counter bytes_body;     /* body bytes queued */
	struct vms_counter ranges;         /* 206 responses */
	struct vms_counter not_modified;   /* 304 responses */
	struct vms_counter parse_errors;   /* 4xx/5xx from the parser */
	struct vms_counter sendfile_again; /* EAGAIN waits for the send buffer */
	struct vms_counter accept_asides; /* a thread stopped accepting: it held more connections */
	struct vms_counter accept_pauses; /* accepts paused: out of descriptors or memory */
	struct vms_counter tls_errors;    /* TLS handshakes or records that failed */
	struct vms_counter heap_trims;    /* malloc_trim() after a burst of connections ended */
	struct vms_counter ring_empty;    /* receives that found the thread's buffer ring empty */
	struct vms_counter access_log_lost; /* access log lines that could not be written */
	/* HTTP/2 (requests and parse_errors above count both protocols) */
	struct vms_counter h2_connections; /* connections that became HTTP/2 */
	struct vms_counter h2_requests;    /* streams answered */
	struct vms_counter h2_resets;      /* RST_STREAM frames received */
	struct vms_counter h2_refused;     /* peers refused with GOAWAY for abuse */
	struct vms_counter h2_holds;       /* DATA deferred until its pages were read */
	struct vms_counter h2_data_frames; /* DATA frames sent from file pages */
	_Atomic int64_t conns_open;        /* (a) */
	_Atomic int64_t inbufs;            /* (a) connections' input buffers allocated now */
	_Atomic int64_t respbufs;          /* (a) response buffers held by responses now */
	/* request head parsed -> response fully queued, cumulative buckets in ms */
	struct vms_counter latency[HTTP_LATENCY_BUCKETS + 1];
	struct vms_counter latency_sum_us;
};
extern struct http_stats http_stats;
extern const double http_latency_bounds_ms[HTTP_LATENCY_BUCKETS];

/*
 * Write the Prometheus text page into buf; returns its length (truncated at
 * cap).  With a server, the page also has the connections each of its
 * threads holds.
 */
#define HTTP_METRICS_CAP (64 * 1024) /* the buffer /.vmsend/metrics renders into */
size_t http_metrics_render(char *buf, size_t cap, const struct http_server *srv);

#endif
