/*
 * Private to h2.c and h2_stream.c: the HTTP/2 connection and its streams.
 *
 * Lock key: (t) the connection's thread; (c) constant after creation.
 */
#ifndef VMSEND_HTTP_H2_IMPL_H
#define VMSEND_HTTP_H2_IMPL_H

#include "http/h2.h"
#include "http/http_impl.h"

#include <nghttp2/nghttp2.h>
#include <sys/queue.h>

struct vms_sfhold;

/* Request fields one stream may carry, and the pseudo-headers beside them. */
#define H2_MAX_RCBUF (2 * (HTTP_MAX_HEADERS + 8))
/* Decoded header list over this many bytes (RFC 9113 6.5.2 counting): 431. */
#define H2_MAX_HEADER_LIST HTTP_MAX_HEADER_BYTES
/* ... and over this many, an HPACK bomb: GOAWAY(ENHANCE_YOUR_CALM). */
#define H2_BOMB_HEADER_LIST (4 * H2_MAX_HEADER_LIST)
/* Most bytes one hold covers, and holds one connection may have at once. */
#define H2_HOLD_BYTES (256u * 1024)
#define H2_MAX_HOLDS  8

struct h2_stream {
	struct h2_conn *h;                /* (c) */
	int32_t id;                       /* (c) */
	TAILQ_ENTRY(h2_stream) link;      /* (t) on h->streams */
	TAILQ_ENTRY(h2_stream) wait_link; /* (t) on h->hold_waiters while `waiting` */
	bool waiting;                     /* (t) deferred until a hold slot frees */
	bool answered;                    /* (t) the response was submitted */
	bool too_big;                     /* (t) header list over H2_MAX_HEADER_LIST: 431 */
	bool priority;                    /* (t) the request carried a priority field */
	char *head;                       /* (t) h2c Upgrade: the HTTP/1.1 head req points into */

	/* The request, as the handler reads it; strings point into rc[]. */
	struct http_request req;
	nghttp2_rcbuf *rc[H2_MAX_RCBUF]; /* (t) referenced header names and values */
	int nrc;
	uint32_t hdr_bytes; /* (t) decoded header list size so far */

	/* The response (handler.c fills it) and the body cursor. */
	struct http_resp resp;
	int piece;     /* (t) piece the next DATA frame comes from */
	uint64_t poff; /* (t) bytes of it already framed */
	uint64_t sent; /* (t) body bytes framed */

	/* Pages of the next file bytes, while they are read or waiting to be framed. */
	struct vms_sfhold *hold; /* (t) */
	uint64_t hold_off;       /* (t) file offset of the hold's first byte */
	uint64_t hold_end;       /* (t) ... and one past its last */
	bool hold_ready;         /* (t) its pages are valid */
	int hold_error;          /* (t) a read failed (-EIO) */
};

struct h2_conn {
	struct http_conn *c;  /* (c) */
	nghttp2_session *ngh; /* (c) */
	TAILQ_HEAD(, h2_stream) streams;
	TAILQ_HEAD(, h2_stream) hold_waiters;
	int nholds; /* (t) streams holding pages */

	/* Frames nghttp2 produced, gathered before they go to the socket as one copy. */
	char *out;
	size_t outlen, outcap;

	bool in_send;      /* (t) inside nghttp2_session_send */
	bool recv_paused;  /* (t) not reading while the send buffer is full */
	bool data_blocked; /* (t) a DATA frame waited for room in the send buffer */
	bool done;         /* (t) the session ended: the connection is closing */
	bool refused;      /* (t) we sent GOAWAY for abuse */

	/* Abuse accounting: a token bucket for frames that carry no request or data. */
	double tokens;      /* (t) */
	uint64_t tokens_ns; /* (t) last refill */
	uint64_t last_sent; /* (t) socket bytes_sent when the send timer was armed */
	bool timer_send;    /* (t) the timer is the send timer (else idle or none) */

	/* nghttp2 allocates through mem; every block it holds is on `blocks` (h2.c). */
	nghttp2_mem mem;
	TAILQ_HEAD(, h2_block) blocks;
	bool mem_failed; /* (t) an allocation for nghttp2 failed: see h2_conn_free */
};

/* h2.c */
/* Hand frames to the socket; nghttp2 calls this through the send callback too. */
int h2_out_append(struct h2_conn *h, const void *p, size_t n);
/* Queue the gathered frames on the socket (as one copy). -EAGAIN if it is full. */
int h2_out_flush(struct h2_conn *h);
/* Run nghttp2's sender and react to what is left (lowat, timer, end). */
void h2_conn_kick(struct h2_conn *h);
/* Refuse the peer: GOAWAY with `code`, then close once it is out. */
void h2_conn_refuse(struct h2_conn *h, uint32_t code, const char *why);

/* h2_stream.c */
void h2_stream_callbacks(nghttp2_session_callbacks *cbs);
/*
 * h2c Upgrade: stream 1 is the HTTP/1.1 request in head[0..len) (taken
 * over, freed with the stream), answered after the client's preface.
 * 0 or -ENOMEM.
 */
int h2_stream_upgraded(struct h2_conn *h, char *head, size_t len);
/* Free every stream (the connection goes). */
void h2_streams_free(struct h2_conn *h);
/* Resume streams that wait for a hold slot, as slots are free; returns how many. */
int h2_streams_wake(struct h2_conn *h);
/* Streams with a response not yet fully framed, and whether a hold is being read. */
int h2_streams_busy(const struct h2_conn *h, bool *reading);

#endif
