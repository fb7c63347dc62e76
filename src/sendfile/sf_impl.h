/*
 * Private to src/sendfile: the socket, its segments and the swapin request.
 *
 * Lock key: (l) only the socket's loop thread touches it; (a) atomic;
 * (s) owned by the swapin request while the segment is swapping (iodone may
 * run on any thread), by the loop thread otherwise; (c) constant.
 */
#ifndef VMSEND_SENDFILE_SF_IMPL_H
#define VMSEND_SENDFILE_SF_IMPL_H

#include "io/io.h"
#include "sendfile/sendfile.h"

#include <stdatomic.h>
#include <sys/queue.h>
#include <sys/socket.h>

struct vm_page;
struct vm_object;
struct sf_io;

/*
 * SEG_KEY: no bytes, a TLS key change (vms_socket_tls_rekey): the bytes
 * before it in the queue are sealed with the keys in force before, those
 * after it with the keys it carries (buf: a struct vms_tls_tx, owned).
 */
enum sf_seg_kind { SEG_COPY = 1, SEG_PAGES = 2, SEG_KEY = 3 };

/*
 * One entry of the send buffer.  A SEG_PAGES segment covers file bytes
 * [offset, offset + len) of `obj`; its pages are grabbed by swapin (until
 * then `pages` is NULL and the segment is "pending"), wired until the
 * segment is freed.  Segments leave the queue from the head only, when the
 * kernel completed all their bytes, or all at once when the socket aborts.
 */
/* Pages a segment holds without allocating its page array (a 4 KiB file's response). */
#define SF_SEG_INLINE 2

struct sf_seg {
	TAILQ_ENTRY(sf_seg) link; /* (l) */
	uint8_t kind;             /* (c) enum sf_seg_kind */
	bool ready;               /* (l) may be sent */
	bool swapping;            /* (l) an sf_io owns the pages */
	bool sending;             /* (l) part of the send in flight */
	bool nocache;             /* (c) SF_NOCACHE: free the pages on unwire */
	bool sealed;              /* (l) bytes as they go on the wire (no TLS, or sealed) */
	bool pooled;              /* (c) SEG_COPY: buf is the sealer's (sf_tls_buf_free) */
	uint8_t rtype;            /* (c) TLS record content type (23 unless a control record) */
	uint32_t len;             /* (l) bytes (shrinks only when a pending segment splits) */
	char *buf;                /* (c) SEG_COPY: the copy (after seg, or pooled); SEG_KEY: keys */
	struct vm_object *obj;    /* (c) SEG_PAGES: referenced */
	uint64_t offset;          /* (l) SEG_PAGES: file offset of the first byte */
	int npages;               /* (l) pages covering [offset, offset + len) */
	int ra;                   /* (l) read-ahead pages past the last one (last chunk only) */
	struct vm_page **pages;   /* (s) wired pages once grabbed: `inl` or allocated */
	struct vm_page *inl[SF_SEG_INLINE]; /* (s) a small segment's pages: no allocation */
	uint64_t zc_tag; /* (l) held until zero-copy sends up to this one are notified */
};

/*
 * A zero-copy send (IORING_OP_SENDMSG_ZC).  Its first completion says how
 * many bytes the kernel took; the kernel may still read the pages until
 * the notification (IORING_CQE_F_NOTIF), so segments it completed wait on
 * the socket's zc_held list until every zero-copy send that may reference
 * them was notified.
 */
struct sf_zc {
	struct io_req req;       /* (l) */
	TAILQ_ENTRY(sf_zc) link; /* (l) on zc_pending, in issue order */
	struct vms_socket *so;   /* (c) referenced until the notification */
	uint64_t seq;            /* (c) */
	bool notified;           /* (l) */
};

/*
 * A stream's read-ahead state (readahead.c has the theory).  Lock key (l):
 * the socket's loop thread.
 */
struct sf_ra {
	uint64_t obj_id;  /* (l) the file the stream reads (vm_object id), or 0 */
	uint64_t next;    /* (l) byte offset where the queued bytes end */
	uint64_t req_end; /* (l) byte offset where the current request ends */
	uint64_t end;     /* (l) page index: pages below it were read or are being read */
	uint32_t win;     /* (l) window in pages; 0: no adaptive read-ahead */
	bool past_req;    /* (l) sequential across requests: may read past the request */
};

static inline uint32_t
sf_seg_pgoff(const struct sf_seg *seg)
{
	return (uint32_t)(seg->offset & 4095u);
}

struct vms_socket {
	struct io_loop *loop;         /* (c) */
	int fd;                       /* (c) */
	bool blocking;                /* (c) */
	bool is_socket;               /* (c) false: a pipe or file, written with writev */
	bool sink;                    /* (c) no fd: holds pages, never sends (hold.c) */
	bool sink_ready;              /* (l) a sink's on_ready ran */
	vms_socket_lowat_t *on_ready; /* (c) sink: everything queued is valid and wired */
	bool close_fd;                /* (c) */
	uint32_t hiwat;               /* (c) */
	uint32_t lowat;               /* (c) */
	vms_socket_lowat_t *on_lowat;
	vms_socket_error_t *on_error;
	void *arg;
	_Atomic uint32_t *live; /* (c) the owner's count of its sockets not yet freed */

	TAILQ_HEAD(, sf_seg) sb; /* (l) the send buffer, in call order */
	struct sf_seg *pending;  /* (l) first segment swapin has not started, or NULL */
	uint32_t sb_cc;          /* (l) bytes queued and not completed by the kernel */
	uint32_t notready;       /* (l) bytes in segments not ready */
	uint32_t head_done;      /* (l) bytes of the head segment the kernel completed */
	int error;               /* (l) 0 or the errno that aborted the socket */
	bool closed;             /* (l) vms_socket_close() was called */
	bool want_lowat;         /* (l) the lowat callback is armed */
	bool in_callback;        /* (l) a callback is running (no nested loop runs) */
	int refs;                /* (l) owner + swapins + send in flight + timers */

	/* zero-copy sends (tunable sf_send_zc) */
	bool use_zc;                             /* (c) */
	uint64_t zc_seq;                         /* (l) last zero-copy send issued */
	TAILQ_HEAD(, sf_zc) zc_pending;          /* (l) not yet notified, issue order */
	TAILQ_HEAD(sf_seg_list, sf_seg) zc_held; /* (l) sent, still read by the kernel */
	uint64_t zc_sends;                       /* (l) */

	/* the one send in flight */
	struct io_req send_req;     /* (l) */
	bool send_inflight;         /* (l) */
	uint32_t send_bytes;        /* (l) bytes in the send in flight */
	struct sf_send *snd;        /* (l) its gather list (socket.c); NULL when none */
	struct io_timer retry;      /* (l) swapin retry after a busy page or no memory */
	bool retry_armed;           /* (l) */
	struct io_task notify_task; /* (l) runs the callbacks on the loop */
	bool notify_posted;         /* (l) */
	bool error_reported;        /* (l) on_error ran */
	bool owner_dropped;         /* (l) the close released the owner's reference */
	uint64_t bytes_queued;      /* (l) */
	uint64_t bytes_sent;        /* (l) */
	uint64_t sends;             /* (l) */
	uint64_t partial;           /* (l) */
	struct sf_ra ra;            /* (l) read-ahead state of the stream */
	struct sf_tls *tls;         /* (l) TLS transmit state (sf_tls.c), NULL when off */
};

/*
 * One swapin request (FreeBSD's sf_io) for one SEG_PAGES segment.  `nios`
 * holds one reference for the swapin call and one per pager I/O; whoever
 * drops the last finishes the request on the socket's loop.
 */
struct sf_io {
	struct io_task task;   /* (c) posted to the loop by the last iodone */
	struct vms_socket *so; /* (c) referenced */
	struct sf_seg *seg;    /* (c) */
	_Atomic int nios;      /* (a) */
	_Atomic int error;     /* (a) first error, negative errno */
	int ra_done;           /* (a by the pager) read-ahead pages the pager read */
};

extern int64_t sf_retry_us; /* tunable: swapin retry delay */
/* Swapin pager I/Os started and not yet done (the gauge sf_ios_inflight). */
extern _Atomic int64_t sf_ios_inflight;

/* socket.c */
/* A zeroed socket with one (the owner's) reference and no fd; counted by vms_socket_count(). */
struct vms_socket *sf_socket_alloc(struct io_loop *loop);
void sf_socket_ref(struct vms_socket *so);
void sf_socket_rele(struct vms_socket *so);
/* Append a segment (its bytes join sb_cc); not ready ones join notready. */
void sf_sb_append(struct vms_socket *so, struct sf_seg *seg);
/* Start a send if ready data waits at the head and none is in flight. */
void sf_sb_kick(struct vms_socket *so);
/* A not-ready segment became ready. */
void sf_sb_ready(struct vms_socket *so, struct sf_seg *seg);
/* Abort the socket with `error` (first error wins); frees what it can. */
void sf_socket_abort(struct vms_socket *so, int error);
/* Free a segment: unwire its pages (NOCACHE ones may be freed), drop the object. */
void sf_seg_free(struct sf_seg *seg);
/*
 * Drop the first n bytes (0 < n < len) of a ready page segment that is not
 * being sent (the TLS sealer took them): pages wholly before the new start
 * are unwired.
 */
void sf_seg_drop_head(struct sf_seg *seg, uint32_t n);
/*
 * Queue a copy of iov[0..cnt) (len bytes in all) as one segment of record
 * type `rtype`; no hiwat check here.  Returns 0 or -ENOMEM.
 */
int sf_queue_copy(struct vms_socket *so, const struct iovec *iov, int cnt, size_t len,
		  uint8_t rtype);
/* Run the loop once (blocking callers). */
int sf_socket_wait(struct vms_socket *so);
/* Wait (blocking socket) or fail with -EAGAIN until there is room under hiwat; or the socket error. */
int sf_wait_space(struct vms_socket *so);

/* sf_tls.c */
#define SF_RT_APPDATA 23
/*
 * Userspace TLS: seal every ready, unsealed segment from the head of the
 * queue up to the first not-ready one, in order, switching keys at each
 * SEG_KEY reached on the way.  Kernel TLS: hand the kernel the keys of the
 * SEG_KEY segments at the head (everything before them was sent).  Call
 * with no send in flight.  Returns 0 or -ENOMEM / -EIO / -EOVERFLOW (the
 * sequence numbers of a key are spent) / the kernel's refusal of new keys
 * (the caller aborts the socket).
 */
int sf_tls_seal(struct vms_socket *so);
/* Kernel TLS sends plaintext; records of another type go alone with a cmsg. */
bool sf_tls_kernel(const struct vms_socket *so);
void sf_tls_free(struct sf_tls *tls);
/* Free a buffer of sealed records (a segment's buf with seg->pooled). */
void sf_tls_buf_free(void *buf);

/* swapin.c */
/* Start swapin of pending segments in order until one cannot proceed now. */
void sf_swapin_pump(struct vms_socket *so);
/* Try the stalled swapin, then the send, again after sf_retry_us (the socket's retry timer). */
void sf_retry_arm(struct vms_socket *so);
/*
 * SF_NODISKIO: grab what is resident and valid of `seg` without waiting.
 * Returns the number of bytes of seg that are ready (pages wired, segment
 * shrunk to them), 0 if none.
 */
uint32_t sf_swapin_nodiskio(struct sf_seg *seg);

/* readahead.c */
/*
 * A vms_sendfile call is about to queue [offset, req_end) of obj: classify
 * it as sequential or a seek (flags SF_NODISKIO and SF_USER_READAHEAD turn
 * adaptive read-ahead off for the call).
 */
void sf_ra_call(struct vms_socket *so, struct vm_object *obj, uint64_t offset, uint64_t req_end,
		int flags);
/*
 * The call has queued up to byte `pos` of obj, the object of its
 * sf_ra_call: read ahead if the window says so.  The stream keeps only
 * obj's id between calls, no reference: an idle keep-alive connection pins
 * no file (nor its descriptor).
 */
void sf_ra_kick(struct vms_socket *so, struct vm_object *obj, uint64_t pos);
/* Forget the stream. */
void sf_ra_reset(struct sf_ra *ra);

#endif
