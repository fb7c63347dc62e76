/* Tests for src/io/io.c: completions, timers, cross-thread posts, fixed buffers. */
#include "io/io.h"

#include "core/tunable.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct nop_req {
	struct io_req req;
	int res;
	uint32_t flags;
	int calls;
};

static void
nop_done(struct io_req *req, int res, uint32_t flags)
{
	struct nop_req *r = (struct nop_req *)req;

	r->res = res;
	r->flags = flags;
	r->calls++;
}

Test(io, nop_completions_reach_their_requests)
{
	struct io_loop *loop;
	struct nop_req r[8];

	cr_assert_eq(io_loop_create(&loop, 4, 0), 0);
	cr_assert_eq(io_loop_current(), loop);
	/* More SQEs than the SQ holds: io_sqe must submit to make room. */
	for (int i = 0; i < 8; i++) {
		r[i] = (struct nop_req){.req.done = nop_done, .res = 12345};
		io_uring_prep_nop(io_sqe(loop, &r[i].req));
	}
	int seen = 0;
	while (seen < 8) {
		int n = io_loop_run_once(loop, true, 0);
		cr_assert_geq(n, 0);
		seen += n;
	}
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(r[i].calls, 1, "req %d done %d times", i, r[i].calls);
		cr_assert_eq(r[i].res, 0);
	}
	io_loop_destroy(loop);
	cr_assert_null(io_loop_current());
}

Test(io, read_reports_bytes_and_errors)
{
	struct io_loop *loop;
	char path[] = "/tmp/vmsend-io-XXXXXX", buf[64] = {0};
	int fd = mkstemp(path);
	struct nop_req r = {.req.done = nop_done}, bad = {.req.done = nop_done};

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "hello, ring", 11), 11);
	cr_assert_eq(io_loop_create(&loop, 8, 0), 0);
	io_uring_prep_read(io_sqe(loop, &r.req), fd, buf, sizeof(buf), 0);
	io_uring_prep_read(io_sqe(loop, &bad.req), 999999, buf, sizeof(buf), 0);
	while (r.calls == 0 || bad.calls == 0)
		cr_assert_geq(io_loop_run_once(loop, true, 0), 0);
	cr_assert_eq(r.res, 11);
	cr_assert_str_eq(buf, "hello, ring");
	cr_assert_eq(bad.res, -EBADF);
	io_loop_destroy(loop);
	close(fd);
	unlink(path);
}

/* ---- timers ---- */

struct tmark {
	struct io_timer t;
	int id;
	int *log;
	int *nlog;
};

static void
tmark_fire(struct io_timer *t)
{
	struct tmark *m = (struct tmark *)t;

	m->log[(*m->nlog)++] = m->id;
}

Test(io, timers_fire_in_deadline_order_and_cancel_and_move)
{
	struct io_loop *loop;
	int log[8], nlog = 0;
	struct tmark m[5];

	cr_assert_eq(io_loop_create(&loop, 8, 0), 0);
	for (int i = 0; i < 5; i++)
		m[i] = (struct tmark){.t.fn = tmark_fire, .id = i, .log = log, .nlog = &nlog};
	io_timer_arm(loop, &m[0].t, 30 * 1000000ull);
	io_timer_arm(loop, &m[1].t, 10 * 1000000ull);
	io_timer_arm(loop, &m[2].t, 20 * 1000000ull);
	io_timer_arm(loop, &m[3].t, 1 * 1000000ull);
	io_timer_arm(loop, &m[4].t, 2 * 1000000ull);
	io_timer_cancel(loop, &m[3].t);               /* never fires */
	io_timer_arm(loop, &m[1].t, 40 * 1000000ull); /* moved after 0 */
	cr_assert(m[1].t.armed);
	cr_assert_not(m[3].t.armed);
	while (nlog < 4)
		cr_assert_geq(io_loop_run_once(loop, true, 0), 0);
	cr_assert_eq(nlog, 4);
	cr_assert_eq(log[0], 4);
	cr_assert_eq(log[1], 2);
	cr_assert_eq(log[2], 0);
	cr_assert_eq(log[3], 1);
	for (int i = 0; i < 5; i++)
		cr_assert_not(m[i].t.armed);
	/* Nothing else pending: a bounded wait returns without events. */
	cr_assert_eq(io_loop_run_once(loop, true, 1000000), 0);
	cr_assert_eq(nlog, 4);
	io_loop_destroy(loop);
}

Test(io, many_timers_keep_heap_order)
{
	struct io_loop *loop;
	enum { N = 200 };
	static struct tmark m[N];
	static int log[N];
	int nlog = 0;

	cr_assert_eq(io_loop_create(&loop, 8, 0), 0);
	srand(7);
	for (int i = 0; i < N; i++) {
		m[i] = (struct tmark){.t.fn = tmark_fire, .id = i, .log = log, .nlog = &nlog};
		io_timer_arm(loop, &m[i].t, (uint64_t)(rand() % 5000) * 1000ull);
	}
	for (int i = 0; i < N; i += 3)
		io_timer_cancel(loop, &m[i].t);
	int want = N - (N + 2) / 3;
	while (nlog < want)
		cr_assert_geq(io_loop_run_once(loop, true, 0), 0);
	for (int i = 1; i < nlog; i++)
		cr_assert_leq(m[log[i - 1]].t.deadline_ns, m[log[i]].t.deadline_ns);
	for (int i = 0; i < nlog; i++)
		cr_assert_neq(log[i] % 3, 0, "cancelled timer %d fired", log[i]);
	io_loop_destroy(loop);
}

/* ---- cross-thread posts ---- */

enum { POSTERS = 3, PER_POSTER = 500 };

struct ptask {
	struct io_task task;
	int poster, seq;
};

struct post_ctx {
	struct io_loop *target;
	int last_seq[POSTERS];
	int got;
	bool out_of_order;
	bool done;
	bool poster_has_loop;
	struct ptask tasks[POSTERS][PER_POSTER];
};

static struct post_ctx pctx;

static void
ptask_run(struct io_task *task)
{
	struct ptask *p = (struct ptask *)task;

	if (p->seq != pctx.last_seq[p->poster] + 1)
		pctx.out_of_order = true;
	pctx.last_seq[p->poster] = p->seq;
	if (++pctx.got == POSTERS * PER_POSTER)
		pctx.done = true;
}

static void *
poster_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct io_loop *own = NULL;

	if (pctx.poster_has_loop)
		cr_assert_eq(io_loop_create(&own, 8, 0), 0);
	for (int i = 0; i < PER_POSTER; i++) {
		pctx.tasks[id][i] = (struct ptask){.task.fn = ptask_run, .poster = id, .seq = i};
		io_loop_post(pctx.target, &pctx.tasks[id][i].task);
		if (i % 50 == 0)
			usleep(100); /* let the target fall asleep so wakes are needed */
		if (own != NULL)
			(void)io_loop_run_once(own, false, 0);
	}
	if (own != NULL) {
		(void)io_loop_run_once(own, false, 0);
		io_loop_destroy(own);
	}
	return NULL;
}

static void
run_posters(bool poster_has_loop)
{
	pthread_t th[POSTERS];

	memset(&pctx, 0, sizeof(pctx));
	for (int i = 0; i < POSTERS; i++)
		pctx.last_seq[i] = -1;
	pctx.poster_has_loop = poster_has_loop;
	cr_assert_eq(io_loop_create(&pctx.target, 16, 0), 0);
	for (int i = 0; i < POSTERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, poster_main, (void *)(intptr_t)i), 0);
	io_loop_run_until(pctx.target, &pctx.done);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(pctx.got, POSTERS * PER_POSTER);
	cr_assert_not(pctx.out_of_order, "tasks from one poster ran out of order");
	io_loop_destroy(pctx.target);
}

Test(io, post_from_threads_with_loops_uses_msg_ring)
{
	uint64_t before = counter_get(&io_stats.wakes_msg);
	struct io_loop *probe;

	cr_assert_eq(io_loop_create(&probe, 4, 0), 0);
	bool have = io_loop_features(probe)->msg_ring;
	io_loop_destroy(probe);
	if (!have)
		cr_skip_test(
		    "this kernel has no IORING_OP_MSG_RING (Linux 5.18+): nothing to test");
	run_posters(true);
	cr_assert_gt(counter_get(&io_stats.wakes_msg), before);
}

Test(io, post_from_plain_threads_uses_eventfd)
{
	uint64_t before = counter_get(&io_stats.wakes_efd);

	run_posters(false);
	cr_assert_gt(counter_get(&io_stats.wakes_efd), before);
}

Test(io, post_without_msg_ring_falls_back_to_eventfd)
{
	uint64_t msg = counter_get(&io_stats.wakes_msg), efd = counter_get(&io_stats.wakes_efd);

	cr_assert_eq(vms_tunable_set("io_disable", "1"), 0);
	run_posters(true);
	cr_assert_eq(counter_get(&io_stats.wakes_msg), msg);
	cr_assert_gt(counter_get(&io_stats.wakes_efd), efd);
}

static void *
stopper_main(void *arg)
{
	usleep(2000);
	io_loop_stop(arg);
	return NULL;
}

Test(io, stop_from_another_thread_ends_run)
{
	struct io_loop *loop;
	pthread_t th;

	cr_assert_eq(io_loop_create(&loop, 4, 0), 0);
	cr_assert_eq(pthread_create(&th, NULL, stopper_main, loop), 0);
	io_loop_run(loop); /* returns only because of the stop */
	pthread_join(th, NULL);
	io_loop_destroy(loop);
}

/* ---- private rings and fixed buffers ---- */

static void *
private_main(void *arg)
{
	struct io_loop **out = arg;

	cr_assert_null(io_loop_current());
	out[0] = io_loop_private();
	out[1] = io_loop_private();
	cr_assert_null(io_loop_current(), "a private ring is never the thread's event loop");
	return NULL; /* the ring is destroyed at thread exit */
}

Test(io, private_ring_is_per_thread)
{
	struct io_loop *a[2], *b[2];
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, private_main, a), 0);
	pthread_join(th, NULL);
	b[0] = io_loop_private();
	b[1] = io_loop_private();
	cr_assert_eq(a[0], a[1]);
	cr_assert_eq(b[0], b[1]);
	io_loop_private_destroy();
}

Test(io, arena_registered_as_fixed_buffers)
{
	struct io_loop *loop;
	char path[] = "/tmp/vmsend-io-XXXXXX";
	char src[PAGE_SIZE];
	int fd = mkstemp(path);

	cr_assert_eq(vm_init(1 << 20), 0);
	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (char)(i * 7 + 3);
	cr_assert_eq(write(fd, src, sizeof(src)), (ssize_t)sizeof(src));
	cr_assert_eq(io_loop_create(&loop, 8, IO_LOOP_ARENA), 0);
	cr_assert(io_loop_features(loop)->fixed_buffers);
	char *base = vm_arena_base();
	size_t size = vm_arena_size();
	cr_assert_eq(io_fixed_index(loop, base, size), 0);
	cr_assert_eq(io_fixed_index(loop, base + PAGE_SIZE, PAGE_SIZE), 0);
	cr_assert_eq(io_fixed_index(loop, base + size - 1, 2), -1);
	cr_assert_eq(io_fixed_index(loop, base - 1, 1), -1);
	cr_assert_eq(io_fixed_index(loop, src, 1), -1);

	struct nop_req r = {.req.done = nop_done};
	char *dst = base + 3 * PAGE_SIZE;
	memset(dst, 0, PAGE_SIZE);
	io_uring_prep_read_fixed(io_sqe(loop, &r.req), fd, dst, PAGE_SIZE, 0,
				 io_fixed_index(loop, dst, PAGE_SIZE));
	while (r.calls == 0)
		cr_assert_geq(io_loop_run_once(loop, true, 0), 0);
	cr_assert_eq(r.res, PAGE_SIZE);
	cr_assert_eq(memcmp(dst, src, PAGE_SIZE), 0);
	io_loop_destroy(loop);
	vm_fini();
	close(fd);
	unlink(path);
}

Test(io, fixed_buffers_can_be_disabled)
{
	struct io_loop *loop;

	cr_assert_eq(vm_init(1 << 20), 0);
	cr_assert_eq(vms_tunable_set("io_disable", "4"), 0);
	cr_assert_eq(io_loop_create(&loop, 8, IO_LOOP_ARENA), 0);
	cr_assert_not(io_loop_features(loop)->fixed_buffers);
	cr_assert_eq(io_fixed_index(loop, vm_arena_base(), PAGE_SIZE), -1);
	io_loop_destroy(loop);
	vm_fini();
}

/* ---- provided-buffer rings ---- */

Test(io, ring_receives_take_a_buffer_only_when_bytes_arrive)
{
	struct io_loop *loop;
	struct io_bufs *b;
	int sv[3][2];
	struct nop_req r[3];

	cr_assert_eq(io_loop_create(&loop, 8, 0), 0);
	cr_assert_eq(io_bufs_create(loop, 2, 64, &b), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
		r[i] = (struct nop_req){.req.done = nop_done};
		io_prep_recv_bufs(io_sqe(loop, &r[i].req), b, sv[i][0]);
	}
	/* Three receives wait on a ring of two: waiting takes none. */
	for (int k = 0; k < 5; k++)
		cr_assert_geq(io_loop_run_once(loop, false, 0), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(r[i].calls, 0, "receive %d completed (%d) with nothing sent", i,
			     r[i].res);

	const char *msg[3] = {"zero", "one!", "two?"};
	for (int i = 0; i < 3; i++)
		cr_assert_eq(write(sv[i][1], msg[i], 4), 4);
	while (r[0].calls + r[1].calls + r[2].calls < 3)
		cr_assert_geq(io_loop_run_once(loop, true, 0), 0);
	/* Two got a buffer each; the ring was empty for the third. */
	int empty = -1, got = 0;
	const char *first = NULL;
	for (int i = 0; i < 3; i++) {
		if (r[i].res == -ENOBUFS) {
			cr_assert_null(io_bufs_get(b, r[i].flags));
			empty = i;
			continue;
		}
		cr_assert_eq(r[i].res, 4, "receive %d: %d", i, r[i].res);
		const char *p = io_bufs_get(b, r[i].flags);
		cr_assert_not_null(p);
		cr_assert_neq(p, first, "two receives got the same buffer");
		first = p;
		cr_assert_eq(memcmp(p, msg[i], 4), 0);
		got++;
	}
	cr_assert_eq(got, 2);
	cr_assert_geq(empty, 0);
	/* Given back, a buffer takes the bytes the third receive left in its socket. */
	for (int i = 0; i < 3; i++)
		io_bufs_put(b, r[i].flags);
	r[empty] = (struct nop_req){.req.done = nop_done};
	io_prep_recv_bufs(io_sqe(loop, &r[empty].req), b, sv[empty][0]);
	while (r[empty].calls == 0)
		cr_assert_geq(io_loop_run_once(loop, true, 0), 0);
	cr_assert_eq(r[empty].res, 4);
	cr_assert_eq(memcmp(io_bufs_get(b, r[empty].flags), msg[empty], 4), 0);
	io_bufs_put(b, r[empty].flags);

	io_bufs_destroy(b);
	io_loop_destroy(loop);
	for (int i = 0; i < 3; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

Test(io, ring_buffers_can_be_disabled)
{
	struct io_loop *loop;
	struct io_bufs *b = NULL;

	cr_assert_eq(vms_tunable_set("io_disable", "32"), 0);
	cr_assert_eq(io_loop_create(&loop, 8, 0), 0);
	cr_assert_eq(io_bufs_create(loop, 4, 64, &b), -EOPNOTSUPP);
	cr_assert_null(b);
	io_loop_destroy(loop);
}

static struct io_loop *sig_loop;

static void
sig_stop(int sig)
{
	io_loop_stop(sig_loop);
}

static void *
signaller_main(void *arg)
{
	usleep(2000);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

Test(io, stop_from_a_signal_handler)
{
	struct sigaction sa = {.sa_handler = sig_stop};
	pthread_t self = pthread_self(), th;

	cr_assert_eq(io_loop_create(&sig_loop, 4, 0), 0);
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	cr_assert_eq(pthread_create(&th, NULL, signaller_main, &self), 0);
	io_loop_run(sig_loop); /* interrupted wait, stop seen, returns */
	pthread_join(th, NULL);
	io_loop_destroy(sig_loop);
}
