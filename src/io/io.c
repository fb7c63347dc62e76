/*
 * The io layer: one io_uring per thread.
 *
 * Theory.  Every thread that does I/O owns exactly one event loop (struct
 * io_loop): a liburing ring, a min-heap of timers and an inbox of tasks
 * posted by other threads.  A request is any struct embedding struct io_req;
 * its address is the SQE's user_data and its `done` callback runs on the
 * owning thread when the CQE is reaped.  One turn of the loop is
 *
 *     submit queued SQEs, wait (bounded by the earliest timer)
 *       -> copy a batch of CQEs out and advance the CQ
 *       -> run each request's done()
 *       -> fire expired timers
 *       -> run posted tasks
 *
 * CQEs are copied out before any callback runs so a callback may submit,
 * wait on another ring, or even run this loop again without seeing a CQE
 * twice.
 *
 * Cross-thread hand-off.  io_loop_post() pushes onto a lock-free stack
 * (atomic exchange drains it, reversed to keep FIFO order).  Only the push
 * that finds the stack empty wakes the target: with IORING_OP_MSG_RING sent
 * from the poster's own ring when the poster has one (a CQE appears on the
 * target's ring with no syscall on the target's side), otherwise by writing
 * the target's eventfd, on which every loop keeps one read armed.  A failed
 * msg_ring (its only CQE on the poster's ring, IOSQE_CQE_SKIP_SUCCESS hides
 * successes) falls back to the eventfd.
 *
 * Timers are in user space: the wait's timeout is the earliest deadline.  No
 * timeout SQE means no race between a re-arm and a CQE already in flight.
 *
 * io knows no pages: its owner hands it one buffer region (io_region_set();
 * vm_init() hands it the page arena), which loops made with IO_LOOP_ARENA
 * register as fixed buffers in chunks of at most 1 GiB
 * (the kernel's per-buffer limit); io_fixed_index() maps an address range to
 * its chunk.  Registration can fail (RLIMIT_MEMLOCK for unprivileged users):
 * then fixed_buffers is false and callers use plain reads.
 *
 * Features are probed once per loop; each missing op is logged once per
 * process, and the tunable io_disable pretends ops are missing so tests reach
 * every fallback.
 */
#include "io/io.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/tunable.h"
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

VMS_TUNABLE(io_disable, "io_disable", 0,
	    "io_uring ops to treat as missing (1 msg_ring, 2 send_zc, 4 fixed buffers, "
	    "8 read_fixed, 16 readv, 32 provided-buffer rings); for testing fallbacks");

#define IO_FIXED_SPAN  (1ull << 30) /* the kernel refuses a fixed buffer over 1 GiB */
#define IO_CQE_BATCH   64
#define IO_CQ_MULTIPLE 4 /* CQ entries per SQ entry: room for multishot and bursts */

struct io_loop {
	struct io_uring ring;
	struct io_features feat;
	pid_t owner;  /* (c) tid of the owning thread */
	bool private; /* (c) an io_loop_private() ring */

	/* Cross-thread hand-off. */
	_Atomic(struct io_task *) inbox; /* (a) LIFO stack of posted tasks */
	_Atomic uint32_t posters;        /* (a) io_loop_post calls still touching this loop */
	atomic_bool stop;                /* (a) */
	int efd;                         /* (c) eventfd woken by posters without msg_ring */
	uint64_t efd_buf;                /* target of the armed eventfd read */
	bool efd_armed;
	bool efd_stopping;          /* io_loop_fini(): a completed read is not re-armed */
	struct io_req efd_req;      /* the armed eventfd read */
	struct io_req msg_req;      /* CQE a poster's msg_ring places on this ring */
	struct io_req msg_fail_req; /* on a poster's ring: its msg_ring to us failed */

	/* Timers: a binary min-heap on deadline_ns. */
	struct io_timer **heap;
	uint32_t nheap, heap_cap;

	/* Fixed buffers: the arena as registered. */
	char *fixed_base;
	size_t fixed_size;
	unsigned fixed_count;
};

/*
 * Live loops, for the one path that reaches a loop after io_loop_post()
 * returned: a failed msg_ring, reported on the poster's ring later.  It
 * wakes the target only if the target still exists.
 */
static pthread_mutex_t io_live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct io_loop **io_live;
static size_t io_nlive, io_live_cap;

static bool
io_live_add(struct io_loop *loop)
{
	pthread_mutex_lock(&io_live_lock);
	if (io_nlive == io_live_cap) {
		size_t cap = io_live_cap ? 2 * io_live_cap : 16;
		struct io_loop **n = realloc(io_live, cap * sizeof(*n));
		if (n == NULL) {
			pthread_mutex_unlock(&io_live_lock);
			return false;
		}
		io_live = n;
		io_live_cap = cap;
	}
	io_live[io_nlive++] = loop;
	pthread_mutex_unlock(&io_live_lock);
	return true;
}

static void
io_live_remove(struct io_loop *loop)
{
	pthread_mutex_lock(&io_live_lock);
	for (size_t i = 0; i < io_nlive; i++)
		if (io_live[i] == loop) {
			io_live[i] = io_live[--io_nlive];
			break;
		}
	pthread_mutex_unlock(&io_live_lock);
}

static _Thread_local struct io_loop *io_cur_loop;
static _Thread_local struct io_loop *io_priv_loop;
static pthread_key_t io_priv_key;
static pthread_once_t io_priv_once = PTHREAD_ONCE_INIT;

/* Log each missing feature once per process. */
static atomic_uint io_logged_missing;

static void
io_log_missing_once(unsigned bit, const char *what)
{
	if ((atomic_fetch_or(&io_logged_missing, bit) & bit) == 0)
		LOG_INFO("io", "%s", what);
}

/* ---- feature probing ---- */

static void
io_probe(struct io_loop *loop)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&loop->ring);
	bool msg = false, zc = false, rf = false, rv = false;

	if (p != NULL) {
		msg = io_uring_opcode_supported(p, IORING_OP_MSG_RING);
		zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
		rf = io_uring_opcode_supported(p, IORING_OP_READ_FIXED);
		rv = io_uring_opcode_supported(p, IORING_OP_READV);
		io_uring_free_probe(p);
	}
	if (io_disable & IO_DISABLE_MSG_RING)
		msg = false;
	if (io_disable & IO_DISABLE_SEND_ZC)
		zc = false;
	if (io_disable & IO_DISABLE_READ_FIXED)
		rf = false;
	if (io_disable & IO_DISABLE_READV)
		rv = false;
	loop->feat.msg_ring = msg;
	loop->feat.send_zc = zc;
	loop->feat.read_fixed = rf;
	loop->feat.readv = rv;
	if (!msg)
		io_log_missing_once(
		    IO_DISABLE_MSG_RING,
		    "io_uring msg_ring unavailable: cross-thread wakes use an eventfd");
	if (!zc)
		io_log_missing_once(IO_DISABLE_SEND_ZC,
				    "io_uring send_zc unavailable: sends copy (plain send)");
	if (!rf)
		io_log_missing_once(IO_DISABLE_READ_FIXED,
				    "io_uring read_fixed unavailable: reads use readv");
	if (!rv)
		io_log_missing_once(IO_DISABLE_READV,
				    "io_uring readv unavailable: page-ins use synchronous preadv");
}

/* The region loops register (io_region_set); a pair, stored base last, read base first. */
static char *_Atomic io_region_base;
static _Atomic size_t io_region_size;

void
io_region_set(void *base, size_t size)
{
	atomic_store(&io_region_base, NULL);
	atomic_store(&io_region_size, size);
	atomic_store(&io_region_base, base);
}

static void
io_register_arena(struct io_loop *loop)
{
	struct iovec *iov;
	char *base;
	size_t size;
	unsigned n;
	int rv;

	base = atomic_load(&io_region_base);
	size = atomic_load(&io_region_size);
	if (base == NULL)
		return;
	if (io_disable & IO_DISABLE_FIXED_BUFFERS) {
		io_log_missing_once(
		    IO_DISABLE_FIXED_BUFFERS,
		    "io_uring fixed buffers disabled (io_disable): using plain reads");
		return;
	}
	n = (unsigned)howmany(size, IO_FIXED_SPAN);
	iov = calloc(n, sizeof(*iov));
	if (iov == NULL) {
		LOG_WARN("io", "out of memory registering the page arena; using plain reads");
		return; /* fixed buffers are an optimisation: plain reads still work */
	}
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = base + (size_t)i * IO_FIXED_SPAN;
		iov[i].iov_len = MIN(IO_FIXED_SPAN, size - (size_t)i * IO_FIXED_SPAN);
	}
	rv = io_uring_register_buffers(&loop->ring, iov, n);
	free(iov);
	if (rv < 0) {
		if ((atomic_fetch_or(&io_logged_missing, IO_DISABLE_FIXED_BUFFERS) &
		     IO_DISABLE_FIXED_BUFFERS) == 0)
			LOG_WARN("io",
				 "cannot register the %zu-byte page arena as io_uring fixed "
				 "buffers (%s); using plain reads (raise RLIMIT_MEMLOCK to fix)",
				 size, strerror(-rv));
		return;
	}
	loop->fixed_base = base;
	loop->fixed_size = size;
	loop->fixed_count = n;
	loop->feat.fixed_buffers = true;
}

static void
io_unregister_arena(struct io_loop *loop)
{
	if (!loop->feat.fixed_buffers)
		return;
	(void)io_uring_unregister_buffers(&loop->ring);
	loop->feat.fixed_buffers = false;
	loop->fixed_base = NULL;
	loop->fixed_size = 0;
	loop->fixed_count = 0;
}

/* ---- the eventfd and msg_ring wake paths ---- */

static void
io_efd_arm(struct io_loop *loop)
{
	struct io_uring_sqe *sqe = io_sqe(loop, &loop->efd_req);

	io_uring_prep_read(sqe, loop->efd, &loop->efd_buf, sizeof(loop->efd_buf), 0);
	loop->efd_armed = true;
}

static void
io_efd_done(struct io_req *req, int res, uint32_t flags)
{
	struct io_loop *loop = container_of(req, struct io_loop, efd_req);

	loop->efd_armed = false;
	/*
	 * io_loop_destroy(): cancelled, or the read completed (a late poster's
	 * write) before the cancel got to it.  Re-arming then would leave a read
	 * that the cancel, already done with -ENOENT, never reaches.
	 */
	if (res == -ECANCELED || loop->efd_stopping)
		return;
	if (res < 0 && res != -EAGAIN && res != -EINTR)
		LOG_WARN("io", "eventfd read failed: %s", strerror(-res));
	/* The inbox is drained at the end of this turn; re-arm for the next wake. */
	io_efd_arm(loop);
}

static void
io_msg_done(struct io_req *req, int res, uint32_t flags)
{
	/* A poster's msg_ring arrived; the inbox is drained at the end of this turn. */
}

static void
io_efd_wake(struct io_loop *target)
{
	uint64_t one = 1;

	counter_inc(&io_stats.wakes_efd);
	/* EAGAIN means the counter is saturated: a wake is pending anyway. */
	while (write(target->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Runs on the poster's thread: its msg_ring to the loop containing this req failed. */
static void
io_msg_fail_done(struct io_req *req, int res, uint32_t flags)
{
	struct io_loop *target = container_of(req, struct io_loop, msg_fail_req);

	if (res >= 0)
		return;
	pthread_mutex_lock(&io_live_lock);
	for (size_t i = 0; i < io_nlive; i++)
		if (io_live[i] == target) {
			io_efd_wake(target);
			break;
		}
	pthread_mutex_unlock(&io_live_lock);
}

static void
io_wake(struct io_loop *target)
{
	struct io_loop *self = io_cur_loop;

	if (self == target)
		return; /* we are its thread: it drains the inbox before it waits */
	if (self != NULL && self->feat.msg_ring) {
		struct io_uring_sqe *sqe = io_sqe(self, &target->msg_fail_req);

		io_uring_prep_msg_ring(sqe, target->ring.ring_fd, 0,
				       (uint64_t)(uintptr_t)&target->msg_req, 0);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		if (io_submit(self) >= 0) {
			counter_inc(&io_stats.wakes_msg);
			return;
		}
	}
	io_efd_wake(target);
}

/* ---- creation ---- */

static int
io_loop_init(struct io_loop **out, unsigned entries, unsigned flags, bool private)
{
	struct io_uring_params p;
	struct io_loop *loop;
	int rv;

	if (entries == 0)
		entries = 256;
	loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return -ENOMEM;
	loop->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->efd < 0) {
		rv = -errno;
		free(loop);
		return rv;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
	p.cq_entries = entries * IO_CQ_MULTIPLE;
	rv = io_uring_queue_init_params(entries, &loop->ring, &p);
	if (rv == -EINVAL) {
		/* An older kernel without COOP_TASKRUN: the plain ring works the same. */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries * IO_CQ_MULTIPLE;
		rv = io_uring_queue_init_params(entries, &loop->ring, &p);
	}
	if (rv < 0) {
		LOG_ERR("io", "io_uring_queue_init(%u) failed: %s", entries, strerror(-rv));
		close(loop->efd);
		free(loop);
		return rv;
	}
	loop->owner = (int)vms_tid();
	loop->private = private;
	loop->efd_req.done = io_efd_done;
	loop->msg_req.done = io_msg_done;
	loop->msg_fail_req.done = io_msg_fail_done;
	atomic_init(&loop->inbox, NULL);
	atomic_init(&loop->stop, false);
	io_probe(loop);
	if (flags & IO_LOOP_ARENA)
		io_register_arena(loop);
	if (!io_live_add(loop)) {
		io_uring_queue_exit(&loop->ring);
		close(loop->efd);
		free(loop);
		return -ENOMEM;
	}
	io_efd_arm(loop);
	(void)io_submit(loop);
	*out = loop;
	return 0;
}

int
io_loop_create(struct io_loop **out, unsigned entries, unsigned flags)
{
	int rv;

	VERIFY3P(io_cur_loop, ==, NULL);
	rv = io_loop_init(out, entries, flags, false);
	if (rv == 0)
		io_cur_loop = *out;
	return rv;
}

static void
io_loop_fini(struct io_loop *loop)
{
	ASSERT3S(loop->owner, ==, (int)vms_tid());
	/* Cancel the eventfd read and wait for it, so the kernel never writes efd_buf after free. */
	loop->efd_stopping = true;
	if (loop->efd_armed) {
		struct io_uring_sqe *sqe = io_sqe(loop, NULL);

		io_uring_prep_cancel(sqe, &loop->efd_req, 0);
		/* efd_done sees -ECANCELED and does not re-arm. */
		for (int i = 0; i < 1000 && loop->efd_armed; i++)
			(void)io_loop_run_once(loop, true, 10 * 1000 * 1000);
		VERIFY(!loop->efd_armed);
	}
	/*
	 * A poster publishes its task before it wakes us: we may have run the
	 * task already while the poster is still writing our eventfd or
	 * submitting a msg_ring to our ring.  Wait for it to leave.
	 */
	io_live_remove(loop);
	while (atomic_load_explicit(&loop->posters, memory_order_acquire) != 0)
		sched_yield();
	VERIFY3P(atomic_load(&loop->inbox), ==, NULL);
	io_unregister_arena(loop);
	io_uring_queue_exit(&loop->ring);
	close(loop->efd);
	free(loop->heap);
	free(loop);
}

void
io_loop_destroy(struct io_loop *loop)
{
	VERIFY(!loop->private);
	if (io_cur_loop == loop)
		io_cur_loop = NULL;
	io_loop_fini(loop);
}

struct io_loop *
io_loop_current(void)
{
	return io_cur_loop;
}

const struct io_features *
io_loop_features(const struct io_loop *loop)
{
	return &loop->feat;
}

/* ---- private rings ---- */

static void
io_priv_key_dtor(void *p)
{
	struct io_loop *loop = p;

	if (loop != NULL && io_priv_loop == loop) {
		io_priv_loop = NULL;
		io_loop_fini(loop);
	}
}

static void
io_priv_key_init(void)
{
	VERIFY0(pthread_key_create(&io_priv_key, io_priv_key_dtor));
}

struct io_loop *
io_loop_private(void)
{
	struct io_loop *loop = io_priv_loop;

	if (loop != NULL)
		return loop;
	VERIFY0(pthread_once(&io_priv_once, io_priv_key_init));
	/*
	 * No fixed buffers here: this ring lives as long as its thread, and a
	 * vm_fini() + vm_init() in between could map a new region at the same
	 * address while the registration still pins the old pages; a READ_FIXED
	 * would then land in memory nobody sees.  Event loops, which the caller
	 * destroys before vm_fini(), register the arena.
	 */
	if (io_loop_init(&loop, 64, 0, true) != 0)
		return NULL; /* io_loop_init said why; the caller's I/O fails, the thread lives */
	if (pthread_setspecific(io_priv_key, loop) != 0) {
		io_loop_fini(loop);
		return NULL;
	}
	io_priv_loop = loop;
	return loop;
}

void
io_loop_private_destroy(void)
{
	struct io_loop *loop = io_priv_loop;

	if (loop == NULL)
		return;
	io_priv_loop = NULL;
	VERIFY0(pthread_setspecific(io_priv_key, NULL));
	io_loop_fini(loop);
}

/* ---- submission ---- */

struct io_uring_sqe *
io_sqe(struct io_loop *loop, struct io_req *req)
{
	struct io_uring_sqe *sqe;

	ASSERT3S(loop->owner, ==, (int)vms_tid());
	while ((sqe = io_uring_get_sqe(&loop->ring)) == NULL) {
		int rv = io_submit(loop);

		/* -EBUSY: the CQ is full; reap completions to make room. */
		if (rv == -EBUSY || rv == -EAGAIN)
			(void)io_loop_run_once(loop, false, 0);
		else
			VERIFY3S(rv, >=, 0);
	}
	io_uring_sqe_set_data(sqe, req);
	return sqe;
}

int
io_submit(struct io_loop *loop)
{
	int rv;

	ASSERT3S(loop->owner, ==, (int)vms_tid());
	do
		rv = io_uring_submit(&loop->ring);
	while (rv == -EINTR);
	if (rv > 0)
		counter_add(&io_stats.submits, (uint64_t)rv);
	return rv;
}

/* ---- timers (min-heap) ---- */

static void
io_heap_set(struct io_loop *loop, uint32_t i, struct io_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = i;
}

static void
io_heap_up(struct io_loop *loop, uint32_t i)
{
	struct io_timer *t = loop->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (loop->heap[parent]->deadline_ns <= t->deadline_ns)
			break;
		io_heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	io_heap_set(loop, i, t);
}

static void
io_heap_down(struct io_loop *loop, uint32_t i)
{
	struct io_timer *t = loop->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= loop->nheap)
			break;
		if (c + 1 < loop->nheap &&
		    loop->heap[c + 1]->deadline_ns < loop->heap[c]->deadline_ns)
			c++;
		if (t->deadline_ns <= loop->heap[c]->deadline_ns)
			break;
		io_heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	io_heap_set(loop, i, t);
}

static void
io_heap_remove(struct io_loop *loop, struct io_timer *t)
{
	uint32_t i = t->heap_index;
	struct io_timer *last;

	ASSERT3U(i, <, loop->nheap);
	ASSERT3P(loop->heap[i], ==, t);
	last = loop->heap[--loop->nheap];
	t->armed = false;
	if (last == t)
		return;
	io_heap_set(loop, i, last);
	io_heap_up(loop, i);
	io_heap_down(loop, last->heap_index);
}

int
io_timer_arm(struct io_loop *loop, struct io_timer *t, uint64_t ns)
{
	ASSERT3S(loop->owner, ==, (int)vms_tid());
	/* An armed timer's slot is reused: only a new one may need the heap to grow. */
	if (t->armed)
		io_heap_remove(loop, t);
	else if (loop->nheap == loop->heap_cap) {
		uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		struct io_timer **h = realloc(loop->heap, cap * sizeof(*h));

		if (h == NULL)
			return -ENOMEM;
		loop->heap = h;
		loop->heap_cap = cap;
	}
	ASSERT3U(loop->nheap, <, loop->heap_cap);
	t->deadline_ns = vms_now_ns() + ns;
	t->armed = true;
	io_heap_set(loop, loop->nheap++, t);
	io_heap_up(loop, t->heap_index);
	return 0;
}

void
io_timer_cancel(struct io_loop *loop, struct io_timer *t)
{
	ASSERT3S(loop->owner, ==, (int)vms_tid());
	if (t->armed)
		io_heap_remove(loop, t);
}

static int
io_timers_fire(struct io_loop *loop)
{
	uint64_t now = vms_now_ns();
	int n = 0;

	while (loop->nheap > 0 && loop->heap[0]->deadline_ns <= now) {
		struct io_timer *t = loop->heap[0];

		io_heap_remove(loop, t);
		counter_inc(&io_stats.timers_fired);
		t->fn(t); /* may re-arm t or arm others */
		n++;
	}
	return n;
}

/* ---- posted tasks ---- */

void
io_loop_post(struct io_loop *target, struct io_task *task)
{
	struct io_task *head = atomic_load_explicit(&target->inbox, memory_order_relaxed);

	counter_inc(&io_stats.posts);
	atomic_fetch_add_explicit(&target->posters, 1, memory_order_acquire);
	do
		task->next = head;
	while (!atomic_compare_exchange_weak_explicit(&target->inbox, &head, task,
						      memory_order_release, memory_order_relaxed));
	if (head == NULL)
		io_wake(target);
	atomic_fetch_sub_explicit(&target->posters, 1, memory_order_release);
}

static int
io_tasks_run(struct io_loop *loop)
{
	struct io_task *t, *rev = NULL;
	int n = 0;

	t = atomic_exchange_explicit(&loop->inbox, NULL, memory_order_acquire);
	while (t != NULL) {
		struct io_task *next = t->next;

		t->next = rev;
		rev = t;
		t = next;
	}
	while (rev != NULL) {
		struct io_task *next = rev->next;

		rev->next = NULL;
		rev->fn(rev);
		rev = next;
		n++;
	}
	return n;
}

/* ---- the loop ---- */

static int
io_cqes_dispatch(struct io_loop *loop)
{
	struct io_uring_cqe *cqes[IO_CQE_BATCH];
	struct {
		uint64_t user_data;
		int32_t res;
		uint32_t flags;
	} got[IO_CQE_BATCH];
	int total = 0;

	for (int pass = 0; pass < 4; pass++) {
		unsigned k = io_uring_peek_batch_cqe(&loop->ring, cqes, IO_CQE_BATCH);

		if (k == 0)
			break;
		for (unsigned i = 0; i < k; i++) {
			got[i].user_data = cqes[i]->user_data;
			got[i].res = cqes[i]->res;
			got[i].flags = cqes[i]->flags;
		}
		io_uring_cq_advance(&loop->ring, k);
		for (unsigned i = 0; i < k; i++) {
			struct io_req *req = (struct io_req *)(uintptr_t)got[i].user_data;

			/* 0: an SQE submitted without a request (cancels); -1: liburing's own timeout. */
			if (req == NULL || got[i].user_data == LIBURING_UDATA_TIMEOUT)
				continue;
			counter_inc(&io_stats.completions);
			req->done(req, got[i].res, got[i].flags);
			total++;
		}
		if (k < IO_CQE_BATCH)
			break;
	}
	return total;
}

int
io_loop_run_once(struct io_loop *loop, bool wait, uint64_t timeout_ns)
{
	struct io_uring_cqe *cqe;
	int rv, n = 0;

	ASSERT3S(loop->owner, ==, (int)vms_tid());
	if (wait && (atomic_load_explicit(&loop->inbox, memory_order_acquire) != NULL ||
		     atomic_load_explicit(&loop->stop, memory_order_relaxed)))
		wait = false;
	if (wait && loop->nheap > 0) {
		uint64_t now = vms_now_ns(), d = loop->heap[0]->deadline_ns;
		uint64_t left = d > now ? d - now : 0;

		if (left == 0)
			wait = false;
		else if (timeout_ns == 0 || left < timeout_ns)
			timeout_ns = left;
	}
	if (wait) {
		if (timeout_ns != 0) {
			struct __kernel_timespec ts = {
			    .tv_sec = (long long)(timeout_ns / 1000000000ull),
			    .tv_nsec = (long long)(timeout_ns % 1000000000ull),
			};
			unsigned queued = io_uring_sq_ready(&loop->ring);

			rv = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
			if (rv >= 0 || rv == -ETIME)
				counter_add(&io_stats.submits, queued);
		} else {
			unsigned queued = io_uring_sq_ready(&loop->ring);

			rv = io_uring_submit_and_wait(&loop->ring, 1);
			if (rv > 0)
				counter_add(&io_stats.submits, queued);
		}
		if (rv < 0 && rv != -ETIME && rv != -EINTR && rv != -EAGAIN && rv != -EBUSY)
			return rv;
	} else {
		rv = io_submit(loop);
		if (rv < 0 && rv != -EINTR && rv != -EAGAIN && rv != -EBUSY)
			return rv;
	}
	n += io_cqes_dispatch(loop);
	n += io_timers_fire(loop);
	n += io_tasks_run(loop);
	return n;
}

void
io_loop_run(struct io_loop *loop)
{
	while (!atomic_load_explicit(&loop->stop, memory_order_relaxed)) {
		int rv = io_loop_run_once(loop, true, 0);

		VERIFY3S(rv, >=, 0);
	}
	atomic_store_explicit(&loop->stop, false, memory_order_relaxed);
}

void
io_loop_run_until(struct io_loop *loop, const volatile bool *flag)
{
	while (!*flag) {
		int rv = io_loop_run_once(loop, true, 0);

		VERIFY3S(rv, >=, 0);
	}
}

void
io_loop_stop(struct io_loop *loop)
{
	atomic_store_explicit(&loop->stop, true, memory_order_relaxed);
	/*
	 * Always the eventfd: a signal handler may call this while its thread
	 * is inside io_sqe() on its own ring, so no SQE may be touched here.
	 * (atomic store + write(2) are async-signal-safe.)
	 */
	io_efd_wake(loop);
}

int
io_fixed_index(const struct io_loop *loop, const void *addr, size_t len)
{
	const char *p = addr;
	size_t off;

	if (!loop->feat.fixed_buffers || len == 0 || p < loop->fixed_base)
		return -1;
	/* A loop that outlived its arena (see IO_LOOP_ARENA) must not read into stale pins. */
	if (atomic_load_explicit(&io_region_base, memory_order_relaxed) != loop->fixed_base)
		return -1;
	off = (size_t)(p - loop->fixed_base);
	if (off >= loop->fixed_size || len > loop->fixed_size - off)
		return -1;
	if (off / IO_FIXED_SPAN != (off + len - 1) / IO_FIXED_SPAN)
		return -1;
	return (int)(off / IO_FIXED_SPAN);
}

/* ---- provided-buffer rings ---- */

struct io_bufs {
	struct io_loop *loop;
	struct io_uring_buf_ring *br; /* (l) `count` entries, then the buffers */
	char *mem;                    /* (c) count * size bytes, page-aligned */
	size_t maplen;                /* (c) */
	unsigned count, size;         /* (c) count is a power of two */
};

#define IO_BUFS_GROUP 0 /* one ring per loop */

int
io_bufs_create(struct io_loop *loop, unsigned count, unsigned size, struct io_bufs **out)
{
	ASSERT(count > 0 && count <= 32768 && (count & (count - 1)) == 0);
	if (io_disable & IO_DISABLE_BUF_RING)
		return -EOPNOTSUPP;
	struct io_bufs *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	size_t ringlen = roundup2((size_t)count * sizeof(struct io_uring_buf), (size_t)4096);
	b->maplen = ringlen + (size_t)count * size;
	/* Untouched until used: a buffer costs memory once a receive has filled it. */
	void *map =
	    mmap(NULL, b->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		free(b);
		return -ENOMEM;
	}
	b->loop = loop;
	b->br = map;
	b->mem = (char *)map + ringlen;
	b->count = count;
	b->size = size;
	struct io_uring_buf_reg reg = {
	    .ring_addr = (uint64_t)(uintptr_t)map, .ring_entries = count, .bgid = IO_BUFS_GROUP};
	int rv = io_uring_register_buf_ring(&loop->ring, &reg, 0);
	if (rv < 0) {
		munmap(map, b->maplen);
		free(b);
		return rv == -EINVAL ? -EOPNOTSUPP : rv;
	}
	io_uring_buf_ring_init(b->br);
	for (unsigned i = 0; i < count; i++)
		io_uring_buf_ring_add(b->br, b->mem + (size_t)i * size, size, (unsigned short)i,
				      io_uring_buf_ring_mask(count), (int)i);
	io_uring_buf_ring_advance(b->br, (int)count);
	*out = b;
	return 0;
}

void
io_bufs_destroy(struct io_bufs *b)
{
	if (b == NULL)
		return;
	(void)io_uring_unregister_buf_ring(&b->loop->ring, IO_BUFS_GROUP);
	munmap(b->br, b->maplen);
	free(b);
}

void
io_prep_recv_bufs(struct io_uring_sqe *sqe, struct io_bufs *b, int fd)
{
	io_uring_prep_recv(sqe, fd, NULL, b->size, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = IO_BUFS_GROUP;
}

const char *
io_bufs_get(const struct io_bufs *b, uint32_t cqe_flags)
{
	if (!(cqe_flags & IORING_CQE_F_BUFFER))
		return NULL;
	unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
	ASSERT3U(bid, <, b->count);
	return b->mem + (size_t)bid * b->size;
}

void
io_bufs_put(struct io_bufs *b, uint32_t cqe_flags)
{
	if (!(cqe_flags & IORING_CQE_F_BUFFER))
		return;
	ASSERT3S(b->loop->owner, ==, (int)vms_tid());
	unsigned short bid = (unsigned short)(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
	io_uring_buf_ring_add(b->br, b->mem + (size_t)bid * b->size, b->size, bid,
			      io_uring_buf_ring_mask(b->count), 0);
	io_uring_buf_ring_advance(b->br, 1);
}
