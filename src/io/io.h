/*
 * The io layer: one io_uring per thread (liburing), completion callbacks,
 * the page arena as fixed buffers, timers, and cross-thread hand-off.
 *
 * A request is any struct that embeds a `struct io_req`; the SQE's
 * user_data points at it, and its `done` callback runs on the loop's thread
 * with the CQE's result (>= 0 or -errno) and flags.  A multishot or
 * zero-copy op may call `done` more than once (IORING_CQE_F_MORE /
 * IORING_CQE_F_NOTIF in `flags`).
 *
 * Every thread that runs a loop owns it: io_sqe(), io_loop_run*() and timers
 * are called only on that thread.  io_loop_post() and io_loop_stop() are the
 * only calls another thread may make.
 *
 * Features are probed at creation (io_uring_get_probe); a missing op is
 * logged once and the layer falls back (no msg_ring -> eventfd; no send_zc ->
 * plain send; no fixed buffers -> plain buffers).
 */
#ifndef VMSEND_IO_H
#define VMSEND_IO_H

#include "core/stats.h"

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct io_loop;
struct io_req;

typedef void io_done_t(struct io_req *req, int res, uint32_t cqe_flags);

struct io_req {
	io_done_t *done;
};

/* A task handed to another loop with io_loop_post(). */
struct io_task {
	void (*fn)(struct io_task *task);
	struct io_task *next; /* owned by the io layer while queued */
};

/*
 * Timers live in a per-loop min-heap in user space; the loop's wait is bounded
 * by the earliest deadline, so a timer costs no SQE and arming, moving and
 * cancelling never race a kernel completion.
 */
struct io_timer {
	struct io_req req;                  /* internal (unused; kept for layout) */
	void (*fn)(struct io_timer *timer); /* runs on the loop's thread */
	struct __kernel_timespec ts;        /* internal (unused; kept for layout) */
	bool armed;                         /* internal: in the heap */
	uint64_t deadline_ns;               /* internal: CLOCK_MONOTONIC */
	uint32_t heap_index;                /* internal */
};

struct io_features {
	bool msg_ring;
	bool send_zc;
	bool fixed_buffers; /* the arena is registered */
	bool read_fixed;
	bool readv; /* IORING_OP_READV; without it pagers read synchronously */
};

/*
 * Tunable "io_disable" (bit mask, default 0) pretends ops are missing so the
 * fallbacks can be tested: IO_DISABLE_MSG_RING, ... .  Read at io_loop_create().
 */
#define IO_DISABLE_MSG_RING      0x1
#define IO_DISABLE_SEND_ZC       0x2
#define IO_DISABLE_FIXED_BUFFERS 0x4
#define IO_DISABLE_READ_FIXED    0x8
#define IO_DISABLE_READV         0x10
#define IO_DISABLE_BUF_RING      0x20
extern int64_t io_disable;

/* Counters (core/stats.h), for /metrics and tests. */
struct io_stats {
	struct vms_counter submits;     /* SQEs handed to the kernel */
	struct vms_counter completions; /* CQEs dispatched */
	struct vms_counter posts;       /* io_loop_post() calls */
	struct vms_counter wakes_msg;   /* cross-thread wakes sent with msg_ring */
	struct vms_counter wakes_efd;   /* cross-thread wakes sent with the eventfd */
	struct vms_counter timers_fired;
};
extern struct io_stats io_stats;

/*
 * The buffer region that loops created with IO_LOOP_ARENA register as fixed
 * buffers.  Set by whoever owns that memory (vm_init() hands io the page
 * arena) before such loops are created; cleared with (NULL, 0) before the
 * memory goes away.  Loops made while it was set must be destroyed before
 * it is cleared: the registration pins its pages, and a new region mapped at
 * the same address would not be the one read into.  io_fixed_index() stops
 * answering for a loop whose region is no longer the current one.
 */
void io_region_set(void *base, size_t size);
/* Register the region (if one is set) as fixed buffers. */
#define IO_LOOP_ARENA 0x1

/* Create a loop with `entries` SQEs; binds it to the calling thread as its current loop. */
int io_loop_create(struct io_loop **out, unsigned entries, unsigned flags);
/* Destroy; no request may be in flight.  Unbinds it. */
void io_loop_destroy(struct io_loop *loop);
/* The calling thread's loop, or NULL. */
struct io_loop *io_loop_current(void);
const struct io_features *io_loop_features(const struct io_loop *loop);

/* An SQE whose user_data is `req`; submits to make room if the SQ is full.  Never NULL. */
struct io_uring_sqe *io_sqe(struct io_loop *loop, struct io_req *req);
/* Submit what is queued; returns count or -errno. */
int io_submit(struct io_loop *loop);
/*
 * Submit, then dispatch completions (and posted tasks): wait for at least one
 * event if `wait`, up to `timeout_ns` (0: no limit).  Returns the number of
 * events handled or -errno.
 */
int io_loop_run_once(struct io_loop *loop, bool wait, uint64_t timeout_ns);
/* Run until io_loop_stop(). */
void io_loop_run(struct io_loop *loop);
/* Run until *flag becomes true (checked after each batch of events). */
void io_loop_run_until(struct io_loop *loop, const volatile bool *flag);
/* Ask the loop to return from io_loop_run(); any thread, and async-signal-safe. */
void io_loop_stop(struct io_loop *loop);
/* Run task->fn on `target`'s thread; any thread; never fails. */
void io_loop_post(struct io_loop *target, struct io_task *task);

/*
 * One-shot timer after `ns`; re-arming an armed timer moves it.  Returns 0,
 * or -ENOMEM when the heap had to grow and could not: `t` is then not armed.
 * Moving an armed timer reuses its slot and never fails.  A caller that gets
 * the error must not count on the timer: an HTTP connection closes, a retry
 * gives up with the error.
 */
int io_timer_arm(struct io_loop *loop, struct io_timer *t, uint64_t ns);
void io_timer_cancel(struct io_loop *loop, struct io_timer *t);

/*
 * Fixed-buffer index and whether [addr, addr + len) lies in the registered
 * arena; -1 if not registered or outside.
 */
int io_fixed_index(const struct io_loop *loop, const void *addr, size_t len);

/*
 * A private ring for blocking callers (synchronous getpages, tools): the
 * calling thread's own, created on first use, never the thread's event loop,
 * destroyed at thread exit.  It does not register the arena (it may outlive
 * one), so reads through it use READV, never READ_FIXED.  NULL when it
 * cannot be created (no memory, io_uring refused): the caller fails its I/O
 * (a pager says PAGER_AGAIN) and a later call tries again.
 */
struct io_loop *io_loop_private(void);
/* Destroy the calling thread's private ring now (before vm_fini(), in tests). */
void io_loop_private_destroy(void);
/*
 * A ring of provided receive buffers (IORING_REGISTER_PBUF_RING), for
 * receives that should hold no memory while they wait: a receive prepared
 * with io_prep_recv_bufs() takes a buffer only when bytes arrive, and its
 * completion names the buffer in its flags.  The caller copies the bytes out
 * at once and hands the buffer back (io_bufs_put); -ENOBUFS means the ring
 * was empty, and the caller receives into memory of its own instead.
 *
 * One ring per loop, used on the loop's thread only.  io_bufs_create()
 * returns -EOPNOTSUPP where the kernel has no buffer rings (or io_disable has
 * IO_DISABLE_BUF_RING), -ENOMEM, or the error of the registration.  Destroy
 * it before its loop, after the last receive that names it has completed.
 */
struct io_bufs;
int io_bufs_create(struct io_loop *loop, unsigned count, unsigned size, struct io_bufs **out);
void io_bufs_destroy(struct io_bufs *b);
/* A recv on fd into whichever buffer of b is free when bytes arrive. */
void io_prep_recv_bufs(struct io_uring_sqe *sqe, struct io_bufs *b, int fd);
/* The buffer a completion took (its flags say IORING_CQE_F_BUFFER), or NULL. */
const char *io_bufs_get(const struct io_bufs *b, uint32_t cqe_flags);
/* Give the buffer a completion took back to the ring (no-op without one). */
void io_bufs_put(struct io_bufs *b, uint32_t cqe_flags);

/* Wait on `loop` until `*flag` (helper for blocking callers of async APIs). */
#define io_wait_flag(loop, flag) io_loop_run_until((loop), (flag))

#endif
