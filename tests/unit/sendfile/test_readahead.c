/*
 * Stream read-ahead (src/sendfile/readahead.c) with the memory pager: the
 * window grows for a sequential stream, random ranges get no large
 * read-ahead, and read-ahead stays inside EOF and the request.  Counts
 * pages, never time.
 */
#include "sf_testlib.h"

#include "core/util.h"
#include "pager/pager.h"
#include "support/mempager.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void
setup(void)
{
	sft_setup(4096); /* 16 MiB: the read-ahead bound is 512 pages */
}

TestSuite(readahead, .init = setup, .fini = sft_teardown, .timeout = 120);

struct stream {
	int fds[2];
	struct vms_socket *so;
	struct sft_sink *sink;
};

static void
stream_open(struct stream *s, uint32_t hiwat)
{
	sft_tcp_pair(s->fds);
	s->sink = sft_sink_start(s->fds[1], false);
	s->so = sft_socket(s->fds[0], hiwat, NULL, NULL, NULL);
}

static void
stream_close(struct stream *s)
{
	sft_close_all(s->so);
	sft_sink_join(s->sink);
}

/* Send [off, off + len) as a client's request would be: the call waits for room as it goes. */
static void
send_range(struct stream *s, struct vm_object *obj, uint64_t off, uint64_t len)
{
	off_t sb = 0;
	cr_assert_eq(vms_sendfile_blocking(s->so, obj, (off_t)off, len, NULL, &sb, 0), 0);
	cr_assert_eq((uint64_t)sb, len);
}

static uint64_t
pages_read(struct vm_object *obj)
{
	struct mempager_stats st;
	mempager_get_stats(obj, &st);
	return st.pages_read + st.optional_read;
}

/* Most of the file's pages came in ahead of the demand, and no page was read twice. */
static void
assert_read_ahead_once(struct vm_object *obj, size_t size)
{
	uint64_t npages = howmany(size, PAGE_SIZE);
	cr_assert_gt(counter_get(&sf_stats.ra_pages), npages / 2, "read ahead %llu of %llu pages",
		     (unsigned long long)counter_get(&sf_stats.ra_pages),
		     (unsigned long long)npages);
	mempager_drain(obj);
	cr_assert_eq(pages_read(obj), npages, "pager read %llu pages for a %llu-page file",
		     (unsigned long long)pages_read(obj), (unsigned long long)npages);
}

Test(readahead, sequential_window_grows_and_reads_each_page_once)
{
	size_t size = 8u << 20;
	uint8_t *data = sft_pattern(size, 71);
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "seq");
	mempager_set_mode(obj, MEMPAGER_THREAD, 20);
	mempager_set_block(obj, 256);
	struct stream s;
	stream_open(&s, 64 << 10);
	send_range(&s, obj, 0, size);
	struct vms_socket_stats st;
	vms_socket_get_stats(s.so, &st);
	stream_close(&s);
	cr_assert_eq(s.sink->len, size);
	cr_assert_eq(memcmp(s.sink->buf, data, size), 0);
	/* 32 -> 64 -> 128 -> 256 -> 512 at least (the bound of 512 pages may stop it there). */
	cr_assert_geq(counter_get(&sf_stats.ra_grows), 4, "window doubled %llu times",
		      (unsigned long long)counter_get(&sf_stats.ra_grows));
	cr_assert_geq(st.ra_window, 512, "window %u pages", st.ra_window);
	assert_read_ahead_once(obj, size);
	cr_assert_eq(sf_ra_inflight_pages(), 0);
	sft_sink_free(s.sink);
	vm_object_deallocate(obj);
	free(data);
}

/*
 * A window is topped up one slice (one I/O of sf_ra_io_pages) per call, never
 * a whole window at once: grabbing the pages of an 8 MiB window in one call
 * held the loop for milliseconds while hot requests waited.
 */
Test(readahead, one_call_tops_the_window_up_one_slice)
{
	size_t size = 4u << 20;
	uint8_t *data = sft_pattern(size, 74);
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "slice");
	mempager_set_block(obj, 256);
	int64_t io0 = sf_ra_io_pages, min0 = sf_ra_min_pages;
	sf_ra_io_pages = 16;
	sf_ra_min_pages = 256; /* the first window is already 16 slices */
	struct stream s;
	sft_tcp_pair(s.fds);
	s.sink = sft_sink_start(s.fds[1], true); /* the socket fills and the call returns */
	s.so = sft_socket(s.fds[0], 64 << 10, NULL, NULL, NULL);
	off_t sb = 0;
	int rv = vms_sendfile_object(s.so, obj, 0, size, NULL, &sb, 0);
	cr_assert_eq(rv, -EAGAIN, "rv %d", rv);
	uint64_t ios = counter_get(&sf_stats.ra_ios);
	sft_sink_resume(s.sink); /* before any assertion: a paused sink would hang the teardown */
	/* The call kicks read-ahead at most twice: when the buffer fills, and on the way out. */
	cr_assert_leq(ios, 2, "one call started %llu read-ahead I/Os", (unsigned long long)ios);
	send_range(&s, obj, (uint64_t)sb, size - (uint64_t)sb);
	struct vms_socket_stats st;
	vms_socket_get_stats(s.so, &st);
	stream_close(&s);
	sf_ra_io_pages = io0;
	sf_ra_min_pages = min0;
	cr_assert_eq(s.sink->len, size);
	cr_assert_eq(memcmp(s.sink->buf, data, size), 0);
	/* A slice at a time still fills and grows the window, and reads each page once. */
	cr_assert_geq(st.ra_window, 512, "window %u pages", st.ra_window);
	assert_read_ahead_once(obj, size);
	sft_sink_free(s.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(readahead, random_ranges_get_no_large_readahead)
{
	size_t size = 8u << 20;
	uint8_t *data = sft_pattern(size, 72);
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "random");
	mempager_set_block(obj, 256);
	struct stream s;
	stream_open(&s, 64 << 10);
	uint64_t want = 0, calls = 24, seed = 7;
	size_t expect_len = 0;
	for (uint64_t i = 0; i < calls; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t len = (64u << 10) + ((seed >> 33) % (192u << 10));
		uint64_t off = ((seed >> 13) % (size - len)) & ~(uint64_t)PAGE_MASK;
		send_range(&s, obj, off, len);
		want += howmany(len, PAGE_SIZE);
		expect_len += len;
	}
	stream_close(&s);
	cr_assert_eq(s.sink->len, expect_len);
	/* Each seek restarts the window; nothing is read but the ranges and sf_readahead pages. */
	cr_assert_eq(counter_get(&sf_stats.ra_seeks), calls - 1);
	uint64_t got = pages_read(obj);
	cr_assert_leq(got, want + calls * (uint64_t)sf_readahead,
		      "random ranges of %llu pages read %llu pages", (unsigned long long)want,
		      (unsigned long long)got);
	sft_sink_free(s.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(readahead, never_past_the_request_or_eof)
{
	size_t size = 1000 * PAGE_SIZE + 100;
	uint64_t npages = howmany(size, PAGE_SIZE);
	uint8_t *data = sft_pattern(size, 73);
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "bounded");
	mempager_set_block(obj, 64);
	struct stream s;
	stream_open(&s, 16 << 10);
	/* One request: read-ahead fills it, and only sf_readahead pages follow its end. */
	send_range(&s, obj, 0, 40 * PAGE_SIZE);
	cr_assert_gt(counter_get(&sf_stats.ra_pages), 0, "a 40-page request read nothing ahead");
	for (uint64_t p = 40 + (uint64_t)sf_readahead; p < npages; p++)
		cr_assert(!sft_page_cached(obj, p), "page %llu past the request was read",
			  (unsigned long long)p);
	/* Requests that follow each other: the stream may read past a request, not past EOF. */
	for (uint64_t off = 40 * PAGE_SIZE; off < size; off += 80 * PAGE_SIZE)
		send_range(&s, obj, off, MIN(80 * PAGE_SIZE, size - off));
	stream_close(&s);
	cr_assert_eq(s.sink->len, size);
	cr_assert_eq(memcmp(s.sink->buf, data, size), 0);
	cr_assert_eq(pages_read(obj), npages, "pager read %llu pages for a %llu-page file",
		     (unsigned long long)pages_read(obj), (unsigned long long)npages);
	cr_assert_eq(sf_ra_inflight_pages(), 0);
	sft_sink_free(s.sink);
	vm_object_deallocate(obj);
	free(data);
}

/* No read-ahead over a hole: swapin zero-fills it. */
Test(readahead, holes_are_not_read)
{
	size_t size = 512 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 74);
	memset(data + 100 * PAGE_SIZE, 0, 200 * PAGE_SIZE);
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "sparse");
	mempager_set_hole(obj, 100, 200);
	mempager_set_block(obj, 4); /* haspage bounds runs by blocks: these end at the hole */
	struct stream s;
	stream_open(&s, 16 << 10);
	send_range(&s, obj, 0, size);
	stream_close(&s);
	cr_assert_eq(s.sink->len, size);
	cr_assert_eq(memcmp(s.sink->buf, data, size), 0);
	cr_assert_eq(pages_read(obj), 312, "read %llu pages", (unsigned long long)pages_read(obj));
	cr_assert_eq(counter_get(&sf_stats.pages_zeroed), 200);
	sft_sink_free(s.sink);
	vm_object_deallocate(obj);
	free(data);
}

/* ---- many streams, a small cache, and scans (src/vm/vm.c's queues) ---- */

static void
setup_small(void)
{
	sft_setup(512); /* 2 MiB */
}

TestSuite(scan, .init = setup_small, .fini = sft_teardown, .timeout = 120);

/*
 * A small file read a few times, then a one-pass scan of a file 4 times the
 * cache with read-ahead, reading the small file again every cache-size of
 * scan: the small file is never read from the pager again.  (One CLOCK over
 * all pages loses it: its reference bit is cleared on one lap and it is
 * freed on the next, since the scan refills the cache between its reads.)
 */
Test(scan, a_scan_4x_the_cache_leaves_a_reread_file_cached)
{
	size_t small = 16 * PAGE_SIZE, big = 4 * 512 * PAGE_SIZE;
	uint8_t *sd = sft_pattern(small, 81), *bd = sft_pattern(big, 82);
	struct vm_object *so = mempager_create(sd, small, PAGER_CAP_BOGUS, "small");
	struct vm_object *bo = mempager_create(bd, big, PAGER_CAP_BOGUS, "big");
	mempager_set_block(bo, 64);
	struct stream s;
	stream_open(&s, 64 << 10);
	size_t expect = 0;
	for (int i = 0; i < 3; i++, expect += small)
		send_range(&s, so, 0, small);
	uint64_t first = pages_read(so);
	cr_assert_eq(first, 16);
	for (uint64_t off = 0; off < big; off += 1024 * PAGE_SIZE) {
		send_range(&s, bo, off, 1024 * PAGE_SIZE);
		send_range(&s, so, 0, small);
		expect += 1024 * PAGE_SIZE + small;
	}
	stream_close(&s);
	cr_assert_eq(s.sink->len, expect);
	cr_assert_eq(memcmp(s.sink->buf + expect - small, sd, small), 0);
	cr_assert_eq(pages_read(so), first, "the small file missed %llu pages during the scan",
		     (unsigned long long)(pages_read(so) - first));
	cr_assert_geq(pages_read(bo), big / PAGE_SIZE);
	cr_assert_gt(counter_get(&vm_stats.reclaims), 3 * 512, "the scan did not cycle the cache");
	sft_sink_free(s.sink);
	vm_object_deallocate(so);
	vm_object_deallocate(bo);
	free(sd);
	free(bd);
}

/*
 * 64 streams of 8 files, together 3 times a 16 MiB cache, on one loop with
 * a pager completing on another thread: every stream is byte-exact, and
 * afterwards nothing is busy, wired or in flight (sft_teardown checks).
 */
Test(readahead, many_streams_on_a_small_cache)
{
	enum { NSTREAMS = 64, NFILES = 8 };
	size_t size = (6u << 20) + 777;
	uint8_t *data[NFILES];
	struct vm_object *obj[NFILES];
	for (int f = 0; f < NFILES; f++) {
		data[f] = sft_pattern(size, 90 + f);
		obj[f] = mempager_create(data[f], size, PAGER_CAP_BOGUS, "many");
		mempager_set_mode(obj[f], MEMPAGER_THREAD, 10);
		mempager_set_block(obj[f], 128);
	}
	struct stream s[NSTREAMS];
	uint64_t off[NSTREAMS] = {0};
	bool done[NSTREAMS] = {false};
	for (int i = 0; i < NSTREAMS; i++)
		stream_open(&s[i], 64 << 10);
	for (int left = NSTREAMS; left > 0;) {
		for (int i = 0; i < NSTREAMS; i++) {
			if (done[i] || vms_socket_sbcc(s[i].so) > (32u << 10))
				continue;
			off_t sb = 0;
			int r = vms_sendfile_object(s[i].so, obj[i % NFILES], (off_t)off[i], 0,
						    NULL, &sb, 0);
			cr_assert(r == 0 || r == -EAGAIN, "stream %d: %d", i, r);
			off[i] += (uint64_t)sb;
			if (r == 0) {
				cr_assert_eq(off[i], size);
				done[i] = true;
				left--;
			}
		}
		sft_run_once();
	}
	for (int i = 0; i < NSTREAMS; i++)
		stream_close(&s[i]);
	for (int i = 0; i < NSTREAMS; i++) {
		cr_assert_eq(s[i].sink->len, size, "stream %d got %zu bytes", i, s[i].sink->len);
		cr_assert_eq(memcmp(s[i].sink->buf, data[i % NFILES], size), 0, "stream %d", i);
		sft_sink_free(s[i].sink);
	}
	for (int f = 0; f < NFILES; f++) {
		mempager_drain(obj[f]);
		vm_object_deallocate(obj[f]);
		free(data[f]);
	}
	cr_assert_gt(counter_get(&vm_stats.reclaims), 0);
}
