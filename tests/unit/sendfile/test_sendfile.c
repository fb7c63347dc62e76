/*
 * vms_sendfile over TCP loopback with the memory pager (src/sendfile/sendfile.c,
 * swapin.c): bytes, sbytes, flags, not-ready ordering, policies and counters.
 */
#include "sf_testlib.h"

#include "pager/pager.h"
#include "support/mempager.h"
#include "core/util.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static void
setup(void)
{
	sft_setup(256);
}

TestSuite(sendfile, .init = setup, .fini = sft_teardown, .timeout = 60);

struct conn {
	int fds[2];
	struct vms_socket *so;
	struct sft_sink *sink;
};

static void
conn_open(struct conn *c, uint32_t hiwat, bool paused)
{
	sft_tcp_pair(c->fds);
	c->sink = sft_sink_start(c->fds[1], paused);
	c->so = sft_socket(c->fds[0], hiwat, NULL, NULL, NULL);
}

/* Close lingering, wait for EOF at the peer; the sink keeps the bytes. */
static void
conn_finish(struct conn *c)
{
	sft_close_all(c->so);
	sft_sink_join(c->sink);
}

static void
assert_bytes(struct sft_sink *s, const uint8_t *want, size_t n)
{
	cr_assert_eq(s->len, n, "received %zu bytes, want %zu", s->len, n);
	for (size_t i = 0; i < n; i++)
		if (s->buf[i] != want[i])
			cr_assert_fail("first difference at byte %zu", i);
}

Test(sendfile, whole_file_is_byte_exact)
{
	size_t size = 300 * 1000 + 123;
	uint8_t *data = sft_pattern(size, 1);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	struct conn c;
	conn_open(&c, 1 << 20, false);
	off_t sb = -1;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, &sb, 0), 0);
	cr_assert_eq(sb, (off_t)size);
	cr_assert_eq(vms_socket_flush(c.so), 0);
	conn_finish(&c);
	assert_bytes(c.sink, data, size);
	cr_assert_eq(counter_get(&sf_stats.calls), 1);
	cr_assert_eq(counter_get(&sf_stats.pages_read), howmany(size, PAGE_SIZE));
	cr_assert_eq(counter_get(&sf_stats.bytes_sent), size);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, headers_and_trailers_count_in_sbytes)
{
	size_t size = 10000;
	uint8_t *data = sft_pattern(size, 2);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	struct iovec h[2] = {{"HTTP/1.1 200 OK\r\n", 17}, {"X: y\r\n\r\n", 8}};
	struct iovec t[1] = {{"--end--", 7}};
	struct vms_hdtr hd = {h, 2, t, 1};
	struct conn c;
	conn_open(&c, 0, false);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 1000, 5000, &hd, &sb, 0), 0);
	cr_assert_eq(sb, 17 + 8 + 5000 + 7);
	conn_finish(&c);
	cr_assert_eq(c.sink->len, (size_t)sb);
	cr_assert_eq(memcmp(c.sink->buf, "HTTP/1.1 200 OK\r\nX: y\r\n\r\n", 25), 0);
	cr_assert_eq(memcmp(c.sink->buf + 25, data + 1000, 5000), 0);
	cr_assert_eq(memcmp(c.sink->buf + 25 + 5000, "--end--", 7), 0);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, offset_past_eof_sends_only_headers_and_trailers)
{
	uint8_t *data = sft_pattern(5000, 3);
	struct vm_object *obj = mempager_create(data, 5000, 0, "f");
	struct iovec h = {"HEAD", 4}, t = {"TAIL", 4};
	struct vms_hdtr hd = {&h, 1, &t, 1};
	struct conn c;
	conn_open(&c, 0, false);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 9000, 0, &hd, &sb, 0), 0);
	cr_assert_eq(sb, 8);
	cr_assert_eq(vms_sendfile_object(c.so, obj, 5000, 10, &hd, &sb, 0), 0);
	cr_assert_eq(sb, 8);
	conn_finish(&c);
	assert_bytes(c.sink, (const uint8_t *)"HEADTAILHEADTAIL", 16);
	cr_assert_eq(counter_get(&sf_stats.ios), 0);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, length_is_clamped_at_eof_and_zero_means_eof)
{
	size_t size = 3 * PAGE_SIZE + 77;
	uint8_t *data = sft_pattern(size, 4);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	struct conn c;
	conn_open(&c, 0, false);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 4095, 100000, NULL, &sb, 0), 0);
	cr_assert_eq(sb, (off_t)(size - 4095));
	cr_assert_eq(vms_sendfile_object(c.so, obj, 5, 0, NULL, &sb, 0), 0);
	cr_assert_eq(sb, (off_t)(size - 5));
	conn_finish(&c);
	cr_assert_eq(c.sink->len, 2 * size - 4100);
	cr_assert_eq(memcmp(c.sink->buf, data + 4095, size - 4095), 0);
	cr_assert_eq(memcmp(c.sink->buf + size - 4095, data + 5, size - 5), 0);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, bad_arguments_are_einval)
{
	uint8_t *data = sft_pattern(100, 5);
	struct vm_object *obj = mempager_create(data, 100, 0, "f");
	struct conn c;
	conn_open(&c, 0, false);
	off_t sb = 7;
	cr_assert_eq(vms_sendfile_object(c.so, obj, -1, 0, NULL, &sb, 0), -EINVAL);
	cr_assert_eq(sb, 0);
	struct vms_hdtr bad = {NULL, 2, NULL, 0};
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, &bad, &sb, 0), -EINVAL);
	cr_assert_eq(vms_socket_sbcc(c.so), 0);
	conn_finish(&c);
	cr_assert_eq(c.sink->len, 0);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

/*
 * A not-ready segment holds later data back: the file's I/O completes only
 * when the test says so; the bytes queued after it must wait.
 */
Test(sendfile, not_ready_segment_holds_back_later_bytes)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 6);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	struct conn c;
	conn_open(&c, 0, false);
	cr_assert_eq(vms_socket_write(c.so, "first", 5, NULL), 0);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, &sb, 0), 0);
	cr_assert_eq(sb, (off_t)size);
	cr_assert_eq(vms_socket_write(c.so, "after", 5, NULL), 0);
	cr_assert_gt(mempager_pending(obj), 0);
	/* Let the loop send what it can; "first" goes, the rest must not. */
	for (int i = 0; i < 1000 && sft_sink_len(c.sink) < 5; i++)
		sft_run_once();
	for (int i = 0; i < 5; i++)
		sft_run_once();
	struct vms_socket_stats st;
	vms_socket_get_stats(c.so, &st);
	cr_assert_eq(st.bytes_sent, 5);
	cr_assert_eq(st.notready, size);
	cr_assert_eq(st.sb_cc, size + 5);
	cr_assert_eq(sft_sink_len(c.sink), 5);
	cr_assert_gt(mempager_complete_pending(obj), 0);
	cr_assert_eq(vms_socket_flush(c.so), 0);
	conn_finish(&c);
	cr_assert_eq(c.sink->len, size + 10);
	cr_assert_eq(memcmp(c.sink->buf, "first", 5), 0);
	cr_assert_eq(memcmp(c.sink->buf + 5, data, size), 0);
	cr_assert_eq(memcmp(c.sink->buf + 5 + size, "after", 5), 0);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

/* Completions from the pager's own thread reach the loop and keep order. */
Test(sendfile, completions_from_another_thread)
{
	size_t size = 100 * PAGE_SIZE + 5;
	uint8_t *data = sft_pattern(size, 7);
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "f");
	mempager_set_mode(obj, MEMPAGER_THREAD, 50);
	struct conn c;
	conn_open(&c, 4 << 20, false); /* 4 copies wire more pages than the cache has: reclaim */
	for (int k = 0; k < 4; k++) {
		cr_assert_eq(vms_sendfile_object(c.so, obj, k * 1000, 0, NULL, NULL, 0), 0);
		cr_assert_eq(vms_socket_write(c.so, "|", 1, NULL), 0);
	}
	cr_assert_eq(vms_socket_flush(c.so), 0);
	conn_finish(&c);
	size_t off = 0;
	for (int k = 0; k < 4; k++) {
		cr_assert_eq(memcmp(c.sink->buf + off, data + k * 1000, size - k * 1000), 0);
		off += size - k * 1000;
		cr_assert_eq(c.sink->buf[off], '|');
		off++;
	}
	cr_assert_eq(c.sink->len, off);
	sft_sink_free(c.sink);
	mempager_drain(obj); /* the worker is out of io_loop_post before the loop goes */
	vm_object_deallocate(obj);
	free(data);
}

struct lowat_state {
	int calls;
};

static void
on_lowat(struct vms_socket *so, void *arg)
{
	((struct lowat_state *)arg)->calls++;
}

/* EAGAIN with partial sbytes on a full buffer; the rest after the peer drains. */
Test(sendfile, eagain_with_partial_sbytes_then_the_rest)
{
	size_t size = 400 * 1000;
	uint8_t *data = sft_pattern(size, 8);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	struct lowat_state ls = {0};
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], true);
	struct vms_socket *so = sft_socket(fds[0], 64 * 1024, on_lowat, NULL, &ls);
	struct iovec h = {"hdr:", 4}, t = {":trl", 4};
	struct vms_hdtr hd = {&h, 1, &t, 1};
	off_t sb;
	cr_assert_eq(vms_sendfile_object(so, obj, 0, 0, &hd, &sb, 0), -EAGAIN);
	cr_assert_eq(sb, 64 * 1024, "headers + file bytes up to hiwat, got %lld", (long long)sb);
	cr_assert_eq(vms_socket_sbspace(so), 0);
	cr_assert_eq(counter_get(&sf_stats.eagain), 1);
	/* Still full: another call queues nothing. */
	off_t sb2;
	cr_assert_eq(vms_sendfile_object(so, obj, sb - 4, 0, NULL, &sb2, 0), -EAGAIN);
	cr_assert_eq(sb2, 0);
	sft_sink_resume(sink);
	size_t fileoff = (size_t)sb - 4;
	int rounds = 0;
	while (fileoff < size || ls.calls == 0) {
		int before = ls.calls;
		while (ls.calls == before)
			sft_run_once();
		int r = vms_sendfile_object(so, obj, (off_t)fileoff, 0,
					    fileoff + 0 < size ? NULL : NULL, &sb, 0);
		cr_assert(r == 0 || r == -EAGAIN);
		cr_assert_gt(sb, 0);
		fileoff += (size_t)sb;
		rounds++;
		if (r == 0)
			break;
	}
	cr_assert_eq(fileoff, size);
	cr_assert_eq(vms_socket_write(so, ":trl", 4, NULL), 0);
	cr_assert_gt(rounds, 3);
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert_eq(sink->len, size + 8);
	cr_assert_eq(memcmp(sink->buf, "hdr:", 4), 0);
	cr_assert_eq(memcmp(sink->buf + 4, data, size), 0);
	cr_assert_eq(memcmp(sink->buf + 4 + size, ":trl", 4), 0);
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

/* SF_NODISKIO: the cached prefix is queued, then EBUSY; nothing is read. */
Test(sendfile, nodiskio_sends_the_cached_prefix_and_returns_ebusy)
{
	size_t size = 10 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 9);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	sft_cache_pages(obj, 0, 3);
	struct mempager_stats mst0, mst1;
	mempager_get_stats(obj, &mst0);
	struct iovec h = {"H", 1}, t = {"T", 1};
	struct vms_hdtr hd = {&h, 1, &t, 1};
	struct conn c;
	conn_open(&c, 0, false);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 100, 0, &hd, &sb, SF_NODISKIO), -EBUSY);
	cr_assert_eq(sb, 1 + 3 * PAGE_SIZE - 100);
	cr_assert_eq(counter_get(&sf_stats.ebusy), 1);
	/* Nothing cached at the offset: EBUSY at once, headers only. */
	cr_assert_eq(vms_sendfile_object(c.so, obj, 5 * PAGE_SIZE, 0, &hd, &sb, SF_NODISKIO),
		     -EBUSY);
	cr_assert_eq(sb, 1);
	/* All cached: success, trailers too. */
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 2 * PAGE_SIZE, &hd, &sb, SF_NODISKIO), 0);
	cr_assert_eq(sb, 2 + 2 * PAGE_SIZE);
	mempager_get_stats(obj, &mst1);
	cr_assert_eq(mst1.ios, mst0.ios, "SF_NODISKIO started I/O");
	cr_assert_eq(counter_get(&sf_stats.ios), 0);
	conn_finish(&c);
	size_t n1 = 3 * PAGE_SIZE - 100;
	cr_assert_eq(c.sink->len, 1 + n1 + 1 + 2 + 2 * PAGE_SIZE);
	cr_assert_eq(c.sink->buf[0], 'H');
	cr_assert_eq(memcmp(c.sink->buf + 1, data + 100, n1), 0);
	cr_assert_eq(c.sink->buf[1 + n1], 'H');
	cr_assert_eq(c.sink->buf[2 + n1], 'H');
	cr_assert_eq(memcmp(c.sink->buf + 3 + n1, data, 2 * PAGE_SIZE), 0);
	cr_assert_eq(c.sink->buf[3 + n1 + 2 * PAGE_SIZE], 'T');
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, nodiskio_stops_at_a_busy_page)
{
	size_t size = 6 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 10);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	sft_cache_pages(obj, 0, 6);
	struct vm_page *m = vm_page_grab(obj, 2, 0); /* xbusy page 2, as an I/O would */
	cr_assert_not_null(m);
	struct conn c;
	conn_open(&c, 0, false);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, &sb, SF_NODISKIO), -EBUSY);
	cr_assert_eq(sb, 2 * PAGE_SIZE);
	vm_page_xunbusy(m);
	cr_assert_eq(vms_sendfile_object(c.so, obj, sb, 0, NULL, &sb, SF_NODISKIO), 0);
	cr_assert_eq(sb, 4 * PAGE_SIZE);
	conn_finish(&c);
	assert_bytes(c.sink, data, size);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

/* Without SF_NODISKIO a busy page is waited for (asynchronously), then sent. */
Test(sendfile, busy_page_is_waited_for_without_blocking_the_call)
{
	size_t size = 6 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 11);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	struct vm_page *m = vm_page_grab(obj, 3, 0);
	cr_assert_not_null(m);
	struct conn c;
	conn_open(&c, 0, false);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, &sb, 0), 0);
	cr_assert_eq(sb, (off_t)size);
	struct vms_socket_stats st;
	vms_socket_get_stats(c.so, &st);
	for (int i = 0; i < 1000 && st.bytes_sent < 3 * PAGE_SIZE; i++) {
		sft_run_once();
		vms_socket_get_stats(c.so, &st);
	}
	for (int i = 0; i < 5; i++)
		sft_run_once();
	vms_socket_get_stats(c.so, &st);
	cr_assert_eq(st.bytes_sent, 3 * PAGE_SIZE, "pages before the busy one go out, no more");
	cr_assert_gt(counter_get(&sf_stats.busy_waits), 0);
	vm_page_xunbusy(m);
	cr_assert_eq(vms_socket_flush(c.so), 0);
	conn_finish(&c);
	assert_bytes(c.sink, data, size);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, nocache_pages_go_back_to_the_free_list)
{
	size_t size = 20 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 12);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	struct vm_counts before, after;
	vm_counts(&before);
	struct conn c;
	conn_open(&c, 0, false);
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, NULL, SF_NOCACHE), 0);
	cr_assert_eq(vms_socket_flush(c.so), 0);
	vm_counts(&after);
	cr_assert_eq(counter_get(&sf_stats.nocache_frees), 20);
	cr_assert_eq(after.free, before.free, "pages sent with SF_NOCACHE stayed cached");
	cr_assert_eq(obj->resident_count, 0);
	/* Without the flag they stay cached. */
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, NULL, 0), 0);
	cr_assert_eq(vms_socket_flush(c.so), 0);
	cr_assert(sft_page_cached(obj, 0) && sft_page_cached(obj, 19));
	conn_finish(&c);
	cr_assert_eq(c.sink->len, 2 * size);
	cr_assert_eq(memcmp(c.sink->buf, data, size), 0);
	cr_assert_eq(memcmp(c.sink->buf + size, data, size), 0);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, sync_returns_after_the_bytes_left)
{
	size_t size = 50 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 13);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	mempager_set_mode(obj, MEMPAGER_THREAD, 100);
	struct conn c;
	conn_open(&c, 1 << 20, false);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, &sb, SF_SYNC), 0);
	struct vms_socket_stats st;
	vms_socket_get_stats(c.so, &st);
	cr_assert_eq(st.sb_cc, 0);
	cr_assert_eq(st.bytes_sent, size);
	for (int i = 0; i < 50; i++)
		cr_assert_eq(vm_page_wired(vm_page_grab(obj, i, VM_ALLOC_NOBUSY)), 0);
	conn_finish(&c);
	assert_bytes(c.sink, data, size);
	sft_sink_free(c.sink);
	mempager_drain(obj); /* the worker is out of io_loop_post before the loop goes */
	vm_object_deallocate(obj);
	free(data);
}

/*
 * The same partly cached file with both policies: the same bytes; coalesce
 * uses one I/O per haspage run with bogus_page for the valid pages inside,
 * split one I/O per invalid sub-run.
 */
static void
policy_case(int policy, unsigned caps, uint64_t *ios, uint64_t *bogus, uint64_t *mp_bogus)
{
	size_t size = 32 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 14);
	struct vm_object *obj = mempager_create(data, size, caps, "f");
	mempager_set_block(obj, 16);
	sft_cache_pages(obj, 3, 2);  /* 3,4 */
	sft_cache_pages(obj, 8, 1);  /* 8 */
	sft_cache_pages(obj, 15, 1); /* 15: ends the first block's run, trimmed */
	sft_cache_pages(obj, 20, 1);
	sf_stats_reset();
	sf_swapin_policy = policy;
	struct conn c;
	conn_open(&c, 1 << 20, false);
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, NULL, SF_USER_READAHEAD), 0);
	conn_finish(&c);
	assert_bytes(c.sink, data, size);
	*ios = counter_get(&sf_stats.ios);
	*bogus = counter_get(&sf_stats.pages_bogus);
	struct mempager_stats mst;
	mempager_get_stats(obj, &mst);
	*mp_bogus = mst.bogus_seen;
	cr_assert_eq(counter_get(&sf_stats.pages_valid), 5);
	cr_assert_eq(counter_get(&sf_stats.pages_read), 27);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, coalesce_uses_bogus_page_and_fewer_ios)
{
	uint64_t ios, bogus, mpb;
	policy_case(SF_POLICY_COALESCE, PAGER_CAP_BOGUS, &ios, &bogus, &mpb);
	/* [0,15) with 3,4,8 bogus (15 trimmed), [16,32) with 20 bogus */
	cr_assert_eq(ios, 2);
	cr_assert_eq(bogus, 4);
	cr_assert_eq(mpb, 4);
}

Test(sendfile, split_reads_each_invalid_subrun)
{
	uint64_t ios, bogus, mpb;
	policy_case(SF_POLICY_SPLIT, PAGER_CAP_BOGUS, &ios, &bogus, &mpb);
	/* [0,3) [5,8) [9,15) [16,20) [21,32) */
	cr_assert_eq(ios, 5);
	cr_assert_eq(bogus, 0);
	cr_assert_eq(mpb, 0);
}

Test(sendfile, coalesce_needs_the_pager_capability)
{
	uint64_t ios, bogus, mpb;
	policy_case(SF_POLICY_COALESCE, 0, &ios, &bogus, &mpb);
	cr_assert_eq(ios, 5);
	cr_assert_eq(bogus, 0);
}

Test(sendfile, holes_are_zero_filled_without_io)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 15);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	mempager_set_hole(obj, 2, 3);
	mempager_set_block(obj, 2); /* haspage bounds runs by blocks, not by holes */
	memset(data + 2 * PAGE_SIZE, 0, 3 * PAGE_SIZE);
	struct conn c;
	conn_open(&c, 0, false);
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 0, NULL, NULL, 0), 0);
	conn_finish(&c);
	assert_bytes(c.sink, data, size);
	cr_assert_eq(counter_get(&sf_stats.pages_zeroed), 3);
	cr_assert_eq(counter_get(&sf_stats.pages_read), 5);
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}

Test(sendfile, readahead_only_past_the_last_page)
{
	size_t size = 64 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 16);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	mempager_set_readahead(obj, true);
	mempager_set_block(obj, 64);
	struct conn c;
	conn_open(&c, 0, false);
	cr_assert_eq(vms_sendfile_object(c.so, obj, 0, 4 * PAGE_SIZE, NULL, NULL,
					 SF_FLAGS(6, SF_USER_READAHEAD)),
		     0);
	conn_finish(&c);
	assert_bytes(c.sink, data, 4 * PAGE_SIZE);
	cr_assert_eq(counter_get(&sf_stats.readahead), 6);
	for (int i = 4; i < 10; i++)
		cr_assert(sft_page_cached(obj, i), "read-ahead page %d not cached", i);
	cr_assert(!sft_page_cached(obj, 10));
	sft_sink_free(c.sink);
	vm_object_deallocate(obj);
	free(data);
}
