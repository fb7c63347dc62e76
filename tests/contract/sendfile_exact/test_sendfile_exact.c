/*
 * Byte-exact delivery over TCP loopback for thousands of random sendfile
 * calls (src/sendfile): offsets and lengths (0, unaligned, across and past
 * EOF), headers and trailers, flags, both swapin policies, synchronous and
 * other-thread completions, files partly cached (bogus slots occur) and a
 * cache smaller than the files (pages are reclaimed mid-stream), and
 * several threads sending the same files at once.
 *
 * Each thread streams all its cases down one connection and keeps the bytes
 * it expects; the reader thread's bytes must equal them exactly.
 */
#include "sf_testlib.h"

#include "core/util.h"
#include "pager/pager.h"
#include "support/mempager.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_PAGES 160

static void
setup(void)
{
	sft_setup(CACHE_PAGES);
}

TestSuite(sendfile_exact, .init = setup, .fini = sft_teardown, .timeout = 240);

struct file {
	struct vm_object *obj;
	uint8_t *data;
	size_t size;
};

struct expect {
	uint8_t *buf;
	size_t len, cap;
};

static void
expect_add(struct expect *e, const void *p, size_t n)
{
	if (e->len + n > e->cap) {
		e->cap = (e->len + n) * 2 + 4096;
		e->buf = realloc(e->buf, e->cap);
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

struct driver {
	struct file *files;
	int nfiles;
	unsigned ncases;
	uint32_t seed;
	bool warm;  /* may pre-cache pages between cases (single-threaded only) */
	bool modes; /* may switch the pager's completion mode */
	char err[256];
	uint64_t cases_done;
};

static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
on_lowat(struct vms_socket *so, void *arg)
{
	(*(int *)arg)++;
}

#define FAIL(d, ...)                                                                               \
	do {                                                                                       \
		snprintf((d)->err, sizeof((d)->err), __VA_ARGS__);                                 \
		goto out;                                                                          \
	} while (0)

/* One case: queue it, retrying after EAGAIN; add what was queued to `e`. */
static int
one_case(struct driver *d, struct vms_socket *so, struct io_loop *loop, int *lowats,
	 struct expect *e, uint32_t *s)
{
	struct file *f = &d->files[rnd(s) % d->nfiles];
	off_t off;
	switch (rnd(s) % 6) {
	case 0:
		off = 0;
		break;
	case 1:
		off = (off_t)(rnd(s) % f->size);
		break;
	case 2:
		off = (off_t)(rnd(s) % howmany(f->size, PAGE_SIZE)) * PAGE_SIZE;
		break;
	case 3:
		off = (off_t)(f->size - rnd(s) % 5000 % f->size);
		break;
	case 4:
		off = (off_t)(f->size + rnd(s) % 3);
		break;
	default:
		off = (off_t)(rnd(s) % 20000);
		break;
	}
	size_t nbytes;
	switch (rnd(s) % 4) {
	case 0:
		nbytes = 0;
		break;
	case 1:
		nbytes = 1 + rnd(s) % 3000;
		break;
	case 2:
		nbytes = 1 + rnd(s) % (f->size + 10000);
		break;
	default:
		nbytes = 1 + rnd(s) % (300 * 1024);
		break;
	}
	char hb[2][64], tb[64];
	struct iovec h[2], t[1];
	int nh = rnd(s) % 3, nt = rnd(s) % 2;
	for (int i = 0; i < nh; i++) {
		int n = snprintf(hb[i], sizeof(hb[i]), "<h%d off=%lld n=%zu>", i, (long long)off,
				 nbytes);
		h[i] = (struct iovec){hb[i], (size_t)n};
	}
	if (nt) {
		int n = snprintf(tb, sizeof(tb), "<trailer %u>", rnd(s) % 1000);
		t[0] = (struct iovec){tb, (size_t)n};
	}
	int flags = 0;
	uint32_t fr = rnd(s);
	if (fr % 5 == 0)
		flags |= SF_NOCACHE;
	if (fr / 5 % 20 == 0)
		flags |= SF_SYNC;
	if (fr / 100 % 4 == 0)
		flags |= SF_FLAGS(rnd(s) % 12, SF_USER_READAHEAD);
	if (fr / 400 % 10 == 0)
		flags |= SF_NODISKIO;
	sf_swapin_policy = rnd(s) % 2;
	if (d->modes)
		mempager_set_mode(f->obj, rnd(s) % 3 == 0 ? MEMPAGER_THREAD : MEMPAGER_SYNC,
				  rnd(s) % 50);

	size_t filerem = 0;
	if ((uint64_t)off < f->size) {
		filerem = f->size - (size_t)off;
		if (nbytes != 0 && nbytes < filerem)
			filerem = nbytes;
	}
	size_t hlen = 0, tlen = 0;
	for (int i = 0; i < nh; i++)
		hlen += h[i].iov_len;
	if (nt)
		tlen = t[0].iov_len;
	bool hdone = nh == 0;
	for (int round = 0;; round++) {
		struct vms_hdtr hd = {hdone ? NULL : h, hdone ? 0 : nh, nt ? t : NULL, nt};
		off_t sb = -1;
		/* With the file done, only trailers remain: an offset at EOF queues no file bytes. */
		off_t coff = filerem == 0 ? (off_t)f->size : off;
		int r = vms_sendfile_object(so, f->obj, coff, filerem == 0 ? 0 : filerem, &hd, &sb,
					    flags);
		if (r != 0 && r != -EAGAIN && r != -EBUSY) {
			snprintf(d->err, sizeof(d->err), "vms_sendfile returned %d", r);
			return -1;
		}
		size_t q = (size_t)sb;
		if (!hdone && q >= hlen) {
			for (int i = 0; i < nh; i++)
				expect_add(e, h[i].iov_base, h[i].iov_len);
			q -= hlen;
			hdone = true;
		} else if (!hdone && q != 0) {
			snprintf(d->err, sizeof(d->err), "headers split: sbytes %zu < %zu", q,
				 hlen);
			return -1;
		}
		size_t fb = MIN(q, filerem);
		expect_add(e, f->data + off, fb);
		off += (off_t)fb;
		filerem -= fb;
		q -= fb;
		if (q != 0 && (q != tlen || filerem != 0)) {
			snprintf(d->err, sizeof(d->err), "sbytes has %zu unexplained bytes", q);
			return -1;
		}
		if (q == tlen && tlen != 0 && filerem == 0 && hdone) {
			expect_add(e, t[0].iov_base, tlen);
			return 0;
		}
		if (r == -EBUSY)
			return 0; /* the rest (and the trailers) are not sent */
		if (r == 0) {
			if (filerem != 0 || (nt && tlen != 0)) {
				snprintf(d->err, sizeof(d->err),
					 "returned 0 with %zu file bytes left", filerem);
				return -1;
			}
			return 0;
		}
		/* EAGAIN: the lowat callback says when to go on. */
		int before = *lowats;
		while (*lowats == before && vms_socket_error(so) == 0)
			io_loop_run_once(loop, true, 10 * 1000 * 1000);
		if (vms_socket_error(so) != 0) {
			snprintf(d->err, sizeof(d->err), "socket error %d", vms_socket_error(so));
			return -1;
		}
	}
}

/* Run d->ncases on a new connection; the calling thread needs a loop. */
static void
drive(struct driver *d, struct io_loop *loop)
{
	int fds[2];
	struct sft_sink *sink = NULL;
	struct vms_socket *so = NULL;
	struct expect e = {0};
	int lowats = 0;
	uint32_t s = d->seed;
	sft_tcp_pair(fds);
	sink = sft_sink_start(fds[1], false);
	struct vms_socket_params p = {.hiwat = 32 * 1024 + rnd(&s) % (256 * 1024),
				      .close_fd = true,
				      .on_lowat = on_lowat,
				      .arg = &lowats};
	if (vms_socket_create(loop, fds[0], &p, &so) != 0)
		FAIL(d, "vms_socket_create failed");
	for (unsigned i = 0; i < d->ncases; i++) {
		if (d->warm && rnd(&s) % 10 == 0) {
			/* Partly cache a file: only with nothing wired, so the warm-up never waits. */
			if (vms_socket_flush(so) != 0)
				FAIL(d, "flush failed before warming");
			struct file *f = &d->files[rnd(&s) % d->nfiles];
			uint64_t np = howmany(f->size, PAGE_SIZE);
			for (int k = 0; k < 6; k++) {
				uint64_t p0 = rnd(&s) % np;
				sft_cache_pages(f->obj, p0, (int)MIN(np - p0, 1 + rnd(&s) % 3));
			}
		}
		if (one_case(d, so, loop, &lowats, &e, &s) != 0)
			goto out;
		d->cases_done++;
	}
	if (vms_socket_flush(so) != 0)
		FAIL(d, "final flush: %d", vms_socket_error(so));
out:
	if (so != NULL) {
		vms_socket_close(so, d->err[0] ? VMS_CLOSE_ABORT : VMS_CLOSE_LINGER);
		/* The socket closes its fd when it is freed: the reader's EOF says so. */
		for (int i = 0; i < 100000 && !sft_sink_done(sink); i++)
			io_loop_run_once(loop, true, 10 * 1000 * 1000);
	}
	sft_sink_join(sink);
	if (!d->err[0]) {
		if (sink->len != e.len)
			snprintf(d->err, sizeof(d->err), "received %zu bytes, expected %zu",
				 sink->len, e.len);
		else
			for (size_t i = 0; i < e.len; i++)
				if (sink->buf[i] != e.buf[i]) {
					snprintf(d->err, sizeof(d->err), "first wrong byte at %zu",
						 i);
					break;
				}
	}
	sft_sink_free(sink);
	free(e.buf);
}

static void
files_make(struct file *f, int n, uint32_t seed)
{
	for (int i = 0; i < n; i++) {
		/* Bigger than the cache, not page-aligned. */
		f[i].size = (CACHE_PAGES + 40 + 30 * i) * PAGE_SIZE + 1 + seed % 4000 + 7 * i;
		f[i].data = sft_pattern(f[i].size, seed + i);
		f[i].obj =
		    mempager_create(f[i].data, f[i].size, i % 2 ? 0 : PAGER_CAP_BOGUS, "rnd");
		mempager_set_block(f[i].obj, i % 2 ? 8 : 32);
		mempager_set_readahead(f[i].obj, true);
		if (i == 1)
			mempager_set_hole(f[i].obj, 20, 5);
	}
	if (n > 1)
		memset(f[1].data + 20 * PAGE_SIZE, 0, 5 * PAGE_SIZE);
}

static void
files_free(struct file *f, int n)
{
	for (int i = 0; i < n; i++) {
		mempager_drain(f[i].obj);
		vm_object_deallocate(f[i].obj);
		free(f[i].data);
	}
}

Test(sendfile_exact, random_cases_one_connection)
{
	struct file f[2];
	files_make(f, 2, 77);
	uint64_t reclaims0 = counter_get(&vm_stats.reclaims);
	struct driver d = {
	    .files = f, .nfiles = 2, .ncases = 2000, .seed = 12345, .warm = true, .modes = true};
	drive(&d, sft_loop);
	cr_assert_eq(d.err[0], '\0', "after %llu cases: %s", (unsigned long long)d.cases_done,
		     d.err);
	cr_assert_eq(d.cases_done, 2000);
	/* The interesting paths really ran. */
	cr_assert_gt(counter_get(&sf_stats.pages_bogus), 0, "no bogus slot was ever used");
	cr_assert_gt(counter_get(&sf_stats.pages_valid), 0);
	cr_assert_gt(counter_get(&sf_stats.pages_zeroed), 0);
	cr_assert_gt(counter_get(&sf_stats.ebusy), 0);
	cr_assert_gt(counter_get(&sf_stats.eagain), 0);
	cr_assert_gt(counter_get(&sf_stats.nocache_frees), 0);
	cr_assert_gt(counter_get(&vm_stats.reclaims), reclaims0, "the cache never reclaimed");
	files_free(f, 2);
}

/* The same with zero-copy sends (when the kernel has them): pages wait for notifications. */
Test(sendfile_exact, random_cases_zero_copy)
{
	sf_send_zc = 1;
	sf_zc_min = 1;
	struct file f[2];
	files_make(f, 2, 55);
	struct driver d = {
	    .files = f, .nfiles = 2, .ncases = 500, .seed = 777, .warm = true, .modes = true};
	drive(&d, sft_loop);
	cr_assert_eq(d.err[0], '\0', "after %llu cases: %s", (unsigned long long)d.cases_done,
		     d.err);
	if (io_loop_features(sft_loop)->send_zc)
		cr_assert_gt(counter_get(&sf_stats.sends_zc), 0);
	files_free(f, 2);
}

struct tharg {
	struct driver d;
	pthread_barrier_t *done, *drained;
};

static void *
thread_main(void *arg)
{
	struct tharg *a = arg;
	struct io_loop *loop = NULL;
	if (io_loop_create(&loop, 256, 0) != 0)
		snprintf(a->d.err, sizeof(a->d.err), "io_loop_create failed");
	else
		drive(&a->d, loop);
	/*
	 * A pager thread may still be inside io_loop_post() to this loop just
	 * after the task it posted ran: keep the loop until the pagers drained.
	 */
	pthread_barrier_wait(a->done);
	pthread_barrier_wait(a->drained);
	if (loop != NULL)
		io_loop_destroy(loop);
	return NULL;
}

Test(sendfile_exact, threads_send_the_same_files)
{
	struct file f[2];
	files_make(f, 2, 99);
	mempager_set_mode(f[0].obj, MEMPAGER_THREAD, 10);
	enum { NT = 3 };
	struct tharg a[NT];
	pthread_t th[NT];
	pthread_barrier_t done, drained;
	pthread_barrier_init(&done, NULL, NT + 1);
	pthread_barrier_init(&drained, NULL, NT + 1);
	for (int i = 0; i < NT; i++) {
		a[i] =
		    (struct tharg){.d = {.files = f, .nfiles = 2, .ncases = 300, .seed = 1000 + i},
				   .done = &done,
				   .drained = &drained};
		cr_assert_eq(pthread_create(&th[i], NULL, thread_main, &a[i]), 0);
	}
	pthread_barrier_wait(&done);
	for (int i = 0; i < 2; i++)
		mempager_drain(f[i].obj);
	pthread_barrier_wait(&drained);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&done);
	pthread_barrier_destroy(&drained);
	for (int i = 0; i < NT; i++) {
		cr_assert_eq(a[i].d.err[0], '\0', "thread %d after %llu cases: %s", i,
			     (unsigned long long)a[i].d.cases_done, a[i].d.err);
		cr_assert_eq(a[i].d.cases_done, 300);
	}
	files_free(f, 2);
}
