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

struct io_timer {
	struct io_req req;		      /* internal */
	void (*fn)(struct io_timer *timer); /* runs on the loop's thread */
	struct __kernel_timespec ts;	      /* internal */
	bool armed;			      /* internal */
};

struct io_features {
	bool msg_ring;
	bool send_zc;
	bool fixed_buffers; /* the arena is registered */
	bool read_fixed;
};

#define IO_LOOP_ARENA 0x1 /* register the page arena (vm_init() must have run) */

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
/* Ask the loop to return from io_loop_run(); any thread. */
void io_loop_stop(struct io_loop *loop);
/* Run task->fn on `target`'s thread; any thread; never fails. */
void io_loop_post(struct io_loop *target, struct io_task *task);

/* One-shot timer after `ns`; re-arming an armed timer moves it. */
void io_timer_arm(struct io_loop *loop, struct io_timer *t, uint64_t ns);
void io_timer_cancel(struct io_loop *loop, struct io_timer *t);

/*
 * Fixed-buffer index and whether [addr, addr + len) lies in the registered
 * arena; -1 if not registered or outside.
 */
int io_fixed_index(const struct io_loop *loop, const void *addr, size_t len);

/*
 * A private ring for blocking callers (synchronous getpages, tools): the
 * calling thread's own, created on first use, never the thread's event loop.
 */
struct io_loop *io_loop_private(void);
/* Wait on `loop` until `*flag` (helper for blocking callers of async APIs). */
#define io_wait_flag(loop, flag) io_loop_run_until((loop), (flag))

#endif
