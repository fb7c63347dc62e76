/*
 * The sendfile engine: FreeBSD's asynchronous sendfile(2) in userspace.
 *
 * A `struct vms_socket` is a connected, non-blocking kernel socket (TCP or
 * a stream socketpair) plus our own send buffer: an ordered queue of
 * segments, each either copied bytes (HTTP headers, trailers) or a run of
 * wired page-cache pages.  A file segment whose pages still need disk I/O is
 * queued *not ready*; nothing behind it goes out until it becomes ready, so
 * the bytes on the wire are always in the order of the calls that queued
 * them.  When the last pager I/O of a request completes, its segments turn
 * ready and the sender pushes everything ready from the head of the queue.
 *
 * Threading.  A socket belongs to one io loop (src/io/io.h) and every call
 * below is made on that loop's thread; pager completions that arrive on
 * other threads are handed to the loop with io_loop_post().  Callbacks run
 * on the loop's thread, never from inside the call that queued the data
 * (except where a blocking call says it runs the loop).
 *
 * Page lifetime.  Every page handed to the socket is wired from swapin until
 * the kernel no longer needs its bytes (the send completion; the zero-copy
 * notification for send_zc), then unwired onto the reclaim queue (or freed,
 * with SF_NOCACHE).  An aborted socket drops its queue and unwires as its
 * in-flight sends complete; afterwards no page it touched is busy or wired.
 *
 * Accounting follows FreeBSD's sockbuf: sb_cc counts every byte queued and
 * not yet completed by the kernel, not-ready bytes included; a call may
 * queue while sb_cc < hiwat; the lowat callback fires (when armed) as sb_cc
 * drops to lowat or below.
 *
 * Errors are 0 or a negative errno, like the rest of vmsend.
 */
#ifndef VMSEND_SENDFILE_H
#define VMSEND_SENDFILE_H

#include "core/stats.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

struct io_loop;
struct vm_object;
struct vnode;
struct vms_socket;

/* ---- flags of vms_sendfile (FreeBSD's values and shape) ---- */

#define SF_NODISKIO       0x00000001 /* never wait on a busy page or start disk I/O: EBUSY */
#define SF_MNOWAIT        0x00000002 /* accepted and ignored (FreeBSD compatibility) */
#define SF_SYNC           0x00000004 /* return only when the kernel is done with the bytes */
#define SF_USER_READAHEAD 0x00000008 /* read-ahead is exactly SF_READAHEAD(flags) pages */
#define SF_NOCACHE        0x00000010 /* free the pages as soon as they were sent */
/* Combine a read-ahead page count (0..65535) with flags. */
#define SF_FLAGS(rh, flags) ((((int)(rh)) << 16) | (flags))
#define SF_READAHEAD(flags) (((unsigned)(flags) >> 16) & 0xffffu)

/* Headers sent before the file bytes, trailers after (copied at the call). */
struct vms_hdtr {
	const struct iovec *headers;
	int hdr_cnt;
	const struct iovec *trailers;
	int trl_cnt;
};

/* ---- the socket ---- */

/* The send buffer fell to lowat or below after the lowat callback was armed. */
typedef void vms_socket_lowat_t(struct vms_socket *so, void *arg);
/*
 * The socket was aborted: error is -EIO (a pager I/O failed), -EPIPE /
 * -ECONNRESET (the peer went away) or another negative errno from a send.
 * Called once; later calls on the socket return that error.  The owner
 * still calls vms_socket_close().
 */
typedef void vms_socket_error_t(struct vms_socket *so, int error, void *arg);

struct vms_socket_params {
	uint32_t hiwat;               /* send-buffer high-water mark; 0: tunable "sf_sb_hiwat" */
	uint32_t lowat;               /* low-water mark; 0: hiwat / 4 */
	bool blocking;                /* calls wait (running the loop) instead of EAGAIN */
	bool close_fd;                /* the socket closes fd when it is finally freed */
	bool nonblocking_socket;      /* fd is known to be a non-blocking stream socket
				       * (accept4 SOCK_NONBLOCK): no syscalls to check */
	vms_socket_lowat_t *on_lowat; /* optional */
	vms_socket_error_t *on_error; /* optional */
	void *arg;                    /* passed to the callbacks */
	_Atomic uint32_t *live;       /* optional: +1 now, -1 when the socket is finally freed */
};

struct vms_socket_stats {
	uint64_t bytes_queued; /* accepted by vms_socket_write / vms_sendfile */
	uint64_t bytes_sent;   /* completed by the kernel */
	uint64_t sends;        /* send operations issued */
	uint64_t partial;      /* sends the kernel completed short */
	uint64_t sends_zc;     /* zero-copy sends */
	uint32_t sb_cc;        /* bytes in the send buffer now */
	uint32_t notready;     /* not-ready bytes now */
	uint32_t inflight;     /* bytes in sends the kernel has not completed */
	uint32_t ra_window;    /* the stream's read-ahead window, pages (0: none) */
};

/*
 * Wrap the connected socket `fd` (it is made non-blocking; MSG_NOSIGNAL is
 * used, so a dead peer is -EPIPE, never SIGPIPE).  `fd` may also be a pipe
 * or a file (`vmsend cat` writes to stdout): it is written with writev at
 * its current position, and its flags are left alone (ignore SIGPIPE).  `params` may be NULL
 * (defaults, non-blocking, fd not owned).  Call on `loop`'s thread.
 * Returns 0 and *out, or -ENOMEM / -EINVAL.
 */
int vms_socket_create(struct io_loop *loop, int fd, const struct vms_socket_params *params,
		      struct vms_socket **out);

/*
 * Release the socket.  VMS_CLOSE_ABORT drops everything not yet sent
 * (in-flight sends are cancelled with shutdown(2)); VMS_CLOSE_LINGER keeps
 * sending what is queued, not-ready data included, and then frees.  Either
 * way no callback runs after this call, and the struct (and fd, if owned) is
 * freed once the kernel is done with every byte it was given, which may be
 * after this returns.  The caller's loop must keep running until then
 * (vms_socket_count() tells tests when).
 */
#define VMS_CLOSE_ABORT  0
#define VMS_CLOSE_LINGER 1
void vms_socket_close(struct vms_socket *so, int how);

/*
 * Queue a copy of `len` bytes.  Returns 0 when all were queued, -EAGAIN
 * with *queued < len when the buffer is full on a non-blocking socket (the
 * lowat callback is then armed), or the socket's error if it was aborted.
 * `queued` may be NULL.  A copy is queued even if it takes sb_cc past hiwat
 * as long as sb_cc < hiwat on entry: headers are never split needlessly.
 */
int vms_socket_write(struct vms_socket *so, const void *buf, size_t len, size_t *queued);

/* Arm the lowat callback: it fires once when sb_cc <= lowat (at once, from the loop, if so now). */
void vms_socket_want_lowat(struct vms_socket *so);
/* Bytes in the send buffer (queued and not completed by the kernel). */
uint32_t vms_socket_sbcc(const struct vms_socket *so);
/* Free space under hiwat (0 when full). */
uint32_t vms_socket_sbspace(const struct vms_socket *so);
/* 0, or the negative errno that aborted the socket. */
int vms_socket_error(const struct vms_socket *so);
int vms_socket_fd(const struct vms_socket *so);
struct io_loop *vms_socket_loop(const struct vms_socket *so);
void vms_socket_get_stats(const struct vms_socket *so, struct vms_socket_stats *st);
/*
 * Run the socket's loop until everything queued was completed by the kernel
 * (sb_cc == 0 and every zero-copy send notified, so no page is held for
 * the socket) or the socket is aborted.  Returns 0 or the socket's error.
 * Runs other callbacks of the loop meanwhile: not for use inside one.
 */
int vms_socket_flush(struct vms_socket *so);
/* Sockets not yet freed (all threads): for leak checks in tests. */
uint64_t vms_socket_count(void);

/* ---- sendfile ---- */

/*
 * Queue `nbytes` bytes of `obj` (the whole rest if 0) from `offset`, with
 * hdtr's headers before and trailers after, on `so`.  The object is
 * referenced for as long as its pages are in use; its size is obj->size.
 *
 * Returns once the data is *queued* (pages needing I/O go in as not-ready
 * segments):
 *   0        everything was queued;
 *   -EAGAIN  non-blocking socket, the buffer filled: *sbytes says how much
 *            was queued (headers, file bytes, trailers all count); call
 *            again with offset + file bytes queued after the lowat callback;
 *   -EBUSY   SF_NODISKIO and a page was busy or not cached: the cached
 *            prefix was queued and counted in *sbytes (trailers not sent);
 *   -EINVAL  offset < 0, bad hdtr;
 *   -EIO, -EPIPE, ...  the socket was aborted (earlier or now).
 * An offset at or past EOF queues zero file bytes, headers and trailers
 * still.  `hdtr` and `sbytes` may be NULL.  With SF_SYNC the call runs the
 * loop and returns only when the kernel is done with the bytes it queued.
 * On a blocking socket the call runs the loop instead of returning -EAGAIN.
 * Headers and trailers are each queued whole or not at all (as long as
 * sb_cc < hiwat on entry), so after -EAGAIN *sbytes is 0 or covers the
 * headers, and what follows them is file bytes.  Swapin retries a busy page
 * or an empty free list from a timer on the loop rather than sleeping in
 * the call (the busy page may be waiting for this very loop).
 */
int vms_sendfile_object(struct vms_socket *so, struct vm_object *obj, off_t offset, size_t nbytes,
			const struct vms_hdtr *hdtr, off_t *sbytes, int flags);

/* The same for a regular-file vnode (vp->object); -EINVAL for a directory. */
int vms_sendfile_vnode(struct vms_socket *so, struct vnode *vp, off_t offset, size_t nbytes,
		       const struct vms_hdtr *hdtr, off_t *sbytes, int flags);

/*
 * Convenience for simple programs (`vmsend cat`): send the whole range
 * (retrying after EAGAIN) and return when the kernel is done with every
 * byte.  Runs the socket's loop.  Returns 0 or a negative errno; *sbytes as
 * above, totalled over the retries.
 */
int vms_sendfile_blocking(struct vms_socket *so, struct vm_object *obj, off_t offset, size_t nbytes,
			  const struct vms_hdtr *hdtr, off_t *sbytes, int flags);

/* ---- holds: a file range wired in the cache before it is sent (hold.c) ---- */

/*
 * For a sender that frames data itself and must not commit a frame to the
 * in-order send buffer before its bytes are in memory (HTTP/2: a cold
 * stream's not-ready DATA frame would hold back every hot frame behind it).
 *
 * vms_sendfile_cached: how many bytes from `offset` (at most nbytes, clamped
 * to EOF) are resident and valid now, as a prefix; takes the object lock,
 * waits for nothing.  The answer may be stale by the time it is used (another
 * thread may reclaim a page): sending then still works, it just queues
 * not-ready.
 *
 * vms_sfhold_start: wire [offset, offset + nbytes) of obj's pages, reading those not valid (with read-ahead past them), and call
 * done(h, 0, arg) on `loop`'s thread once all are valid, or done(h, -EIO,
 * arg) if a read failed; never from inside this call, at most once, and
 * never after vms_sfhold_release().  Call on loop's thread.  Returns 0 and
 * *out, -EINVAL (nbytes 0 or over VMS_SFHOLD_MAX) or
 * -ENOMEM; a read error, even one a synchronous pager reports at once, comes
 * through done.  While held, vms_sendfile of the range on any socket of the same
 * loop queues it ready at once.
 *
 * vms_sfhold_release: drop the hold (on loop's thread, at any time, also
 * before done ran); its pages are unwired as soon as no read is under way.
 */
#define VMS_SFHOLD_MAX (16u << 20)
struct vms_sfhold;
typedef void vms_sfhold_done_t(struct vms_sfhold *h, int error, void *arg);
size_t vms_sendfile_cached(struct vm_object *obj, uint64_t offset, size_t nbytes);
int vms_sfhold_start(struct io_loop *loop, struct vm_object *obj, uint64_t offset, size_t nbytes,
		     vms_sfhold_done_t *done, void *arg, struct vms_sfhold **out);
void vms_sfhold_release(struct vms_sfhold *h);

/* ---- TLS records (issue 14; sf_tls.c) ---- */

/*
 * Transmit keys for one TLS connection, as a handshake library hands them to
 * kernel TLS (OpenSSL's BIO_set_ktls): after vms_socket_tls_tx() every byte
 * queued on the socket goes out inside TLS records of this session, the
 * file pages included.  Without kernel TLS the engine seals records itself:
 * when a run of ready segments reaches the head of the send buffer it is
 * encrypted straight from the wired pages (and copied header bytes) into one
 * ciphertext buffer, records of at most 16 KiB of plaintext, and the pages
 * are unwired right then: the ciphertext no longer needs them.  A segment
 * whose pages are still being read stays not ready, and nothing behind it
 * is sealed, so records keep their sequence numbers in queue order.  A key
 * change (TLS 1.3 KeyUpdate) is a mark in that order, applied when sealing
 * reaches it.  A key never wraps its 64-bit sequence number: the socket is
 * aborted with -EOVERFLOW before it would.
 */
#define VMS_TLS_AES_128_GCM       1
#define VMS_TLS_AES_256_GCM       2
#define VMS_TLS_CHACHA20_POLY1305 3
#define VMS_TLS_MAX_PLAIN         16384 /* plaintext bytes per record */

struct vms_tls_tx {
	uint16_t version; /* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
	int cipher;       /* VMS_TLS_* */
	uint8_t key[32];  /* 16 or 32 bytes used */
	/*
	 * AES-GCM: salt (4 bytes) then 8 bytes; TLS 1.3 XORs the sequence
	 * number into all 12, TLS 1.2 sends the 8 as the first explicit nonce
	 * (counting up).  ChaCha20-Poly1305: the 12-byte IV (XOR the sequence).
	 */
	uint8_t iv[12];
	uint64_t seq; /* sequence number of the next record */
};

/*
 * Turn on TLS transmit for `so`.  Bytes queued before the call go out as
 * they are (the handshake); bytes queued after it go out in records.  Tries
 * kernel TLS first (tunable sf_ktls, probed once per process), else seals
 * in userspace.  Returns 1 (kernel TLS), 0 (userspace records), -EINVAL
 * (unknown cipher or version, or TX already on), -ENOMEM.
 */
int vms_socket_tls_tx(struct vms_socket *so, const struct vms_tls_tx *tx);
/*
 * TLS 1.3 KeyUpdate: the transmit keys change after every byte queued so
 * far.  Call right after queueing the KeyUpdate record
 * (vms_socket_write_record, type 22) with the next keys: same version
 * (0x0304) and cipher as vms_socket_tls_tx's, `seq` the first sequence
 * number (0 after a KeyUpdate).  The change is queued, not applied: bytes
 * queued before it, the KeyUpdate record and file pages still being read
 * included, are sealed with the keys in force before, whenever they become
 * ready; every byte queued after it with `tx`.  Several changes queue in
 * order.  Kernel TLS: the keys go to the kernel (TLS_TX again) once every
 * byte before the change was sent; a kernel that refuses them aborts the
 * socket.  Returns 0, or -EINVAL (TLS off, TLS 1.2, another cipher or
 * version), -ENOMEM, or the socket's error; on any error the socket is
 * aborted with it, since the peer would read the bytes after the KeyUpdate
 * with keys we would not use.
 */
int vms_socket_tls_rekey(struct vms_socket *so, const struct vms_tls_tx *tx);
/* true once vms_socket_tls_tx() succeeded. */
bool vms_socket_tls_on(const struct vms_socket *so);
/*
 * Records sealed so far under the newest transmit key (its sequence number):
 * what the key has worn.  0 while a key change is queued (the newest key
 * sealed nothing yet), and under kernel TLS, whose records the engine does
 * not see.
 */
uint64_t vms_socket_tls_records(const struct vms_socket *so);
/*
 * Queue a copy of `len` bytes: with TLS on, as records of content type
 * `type` (20..23: alert, handshake, ...); before it, as raw bytes (the
 * handshake library's own records).  Queued even past hiwat: handshake and
 * control records are small and must not be split.  Returns 0, -ENOMEM or
 * the socket's error.
 */
int vms_socket_write_record(struct vms_socket *so, uint8_t type, const void *buf, size_t len);
/*
 * Probe once whether this kernel has TLS transmit (setsockopt TCP_ULP "tls"
 * on a loopback connection) and log which path serves TLS.  Returns true if
 * kernel TLS will be used (false also when sf_ktls is 0).  Also makes the
 * userspace sealer's buffer region (tls_buffer_mem), which the first
 * vms_socket_tls_tx() would otherwise make: a server calls this at start.
 */
bool vms_ktls_probe(void);
extern int64_t sf_ktls; /* tunable: 1 use kernel TLS when the kernel has it, 0 never */

struct sf_tls_stats {
	struct vms_counter records;      /* records sealed in userspace */
	struct vms_counter bytes_sealed; /* plaintext bytes sealed */
	struct vms_counter page_bytes;   /* of which straight from wired pages */
	struct vms_counter kernel;       /* sockets handed to kernel TLS */
	struct vms_counter user;         /* sockets sealing in userspace */
	struct vms_counter seal_errors;  /* out of memory or cipher failure: socket aborted */
	struct vms_counter key_updates;  /* TLS 1.3 key changes queued (vms_socket_tls_rekey) */
};
extern struct sf_tls_stats sf_tls_stats;

/* ---- policy ---- */

/* Tunable "sf_swapin_policy": how a run with valid pages inside is read. */
#define SF_POLICY_COALESCE 0 /* one I/O, valid pages as bogus_page (PAGER_CAP_BOGUS only) */
#define SF_POLICY_SPLIT    1 /* one I/O per invalid sub-run, no bogus_page */
extern int64_t sf_swapin_policy;
#ifdef VMSEND_INVARIANTS
/*
 * FreeBSD's 2018 behaviour: coalesce even for a pager without
 * PAGER_CAP_BOGUS.  Debug builds only, and not a tunable: only `vmsend
 * incident` and the contract tests set it, to reproduce the panic.
 */
extern bool sf_coalesce_ignore_caps;
#endif
extern int64_t sf_sb_hiwat;        /* default send-buffer high-water mark */
extern int64_t sf_readahead;       /* default read-ahead pages past the request */
extern int64_t sf_max_chunk_pages; /* pages per swapin request (one sf_io) */
/* Adaptive stream read-ahead (readahead.c): window bounds, I/O size, global bound. */
extern int64_t sf_ra_min_pages;
extern int64_t sf_ra_max_pages;
extern int64_t sf_ra_io_pages;
extern int64_t sf_ra_inflight_max;
/* Read-ahead pages in I/O now, all streams (tests: 0 once everything completed). */
int64_t sf_ra_inflight_pages(void);
/* Zero-copy sends (IORING_OP_SENDMSG_ZC) for sends of at least sf_zc_min bytes; off by default:
 * on loopback the kernel copies them anyway and they measured no faster. */
extern int64_t sf_send_zc;
extern int64_t sf_zc_min;

/* ---- counters (FreeBSD's sfstat, and a few more) ---- */

struct sf_stats {
	struct vms_counter calls;         /* vms_sendfile calls */
	struct vms_counter ios;           /* pager getpages_async calls */
	struct vms_counter pages_read;    /* requested pages that I/O filled */
	struct vms_counter pages_valid;   /* pages found valid (no I/O) */
	struct vms_counter pages_zeroed;  /* hole pages zero-filled */
	struct vms_counter pages_bogus;   /* bogus_page slots used in coalesced I/O */
	struct vms_counter readahead;     /* read-ahead pages the pager read */
	struct vms_counter busy_waits;    /* swapin found a page busy and waited */
	struct vms_counter ebusy;         /* SF_NODISKIO calls that returned EBUSY */
	struct vms_counter eagain;        /* calls that returned EAGAIN */
	struct vms_counter nocache_frees; /* SF_NOCACHE pages freed on unwire */
	struct vms_counter io_errors;     /* pager I/Os that failed (socket aborted) */
	struct vms_counter bytes_queued;  /* headers + file + trailers queued */
	struct vms_counter bytes_sent;    /* bytes the kernel completed */
	struct vms_counter sends;         /* send operations issued */
	struct vms_counter sends_zc;      /* of which zero-copy */
	struct vms_counter ra_ios;        /* stream read-ahead I/Os started */
	struct vms_counter ra_pages;      /* pages stream read-ahead read */
	struct vms_counter ra_errors;     /* read-ahead I/Os that failed (pages freed) */
	struct vms_counter ra_grows;      /* read-ahead windows doubled (sequential streams) */
	struct vms_counter ra_seeks;      /* calls that restarted a stream's window (seeks) */
	struct vms_counter ra_throttled;  /* read-ahead held back by sf_ra_inflight_max */
};
extern struct sf_stats sf_stats;

/* Every counter is registered as "sf_<field>" (core/stats.h: vms_stats_foreach). */
/* "name value" lines. */
void sf_stats_print(FILE *f);
/* Zero every counter (tests). */
void sf_stats_reset(void);

#endif
