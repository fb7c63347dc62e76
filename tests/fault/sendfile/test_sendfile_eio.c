/*
 * I/O errors in swapin (src/sendfile/swapin.c): fail the Nth pager I/O of a
 * request for N = 1, 2, ... until a request succeeds.  Each time: the socket
 * is aborted with EIO (the error callback says so, later calls return it),
 * no page stays busy or wired, and a bystander socket on the same loop still
 * delivers its bytes exactly.
 */
#include "sf_testlib.h"

#include "pager/pager.h"
#include "support/mempager.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/util.h"

static void
setup(void)
{
	sft_setup(512);
}

TestSuite(sendfile_eio, .init = setup, .fini = sft_teardown, .timeout = 120);

struct victim {
	int error;
	int calls;
};

static void
on_error(struct vms_socket *so, int error, void *arg)
{
	struct victim *v = arg;
	v->error = error;
	v->calls++;
}

/* Returns true if the request failed (an Nth I/O existed). */
static bool
eio_round(unsigned n, enum mempager_mode mode, int policy, const uint8_t *data, size_t size,
	  struct vm_object *other)
{
	struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "victim");
	mempager_set_block(obj, 4);
	mempager_set_mode(obj, mode, 20);
	/* Some cached pages make runs with bogus slots (coalesce) or more I/Os (split). */
	sft_cache_pages(obj, 1, 1);
	sft_cache_pages(obj, 9, 2);
	sft_cache_pages(obj, 30, 1);
	sf_swapin_policy = policy;
	mempager_fail_nth(obj, n, -EIO);

	int vf[2], bf[2];
	sft_tcp_pair(vf);
	sft_tcp_pair(bf);
	struct sft_sink *vs = sft_sink_start(vf[1], false);
	struct sft_sink *bs = sft_sink_start(bf[1], false);
	struct victim v = {0};
	struct vms_socket *vso = sft_socket(vf[0], 1 << 20, NULL, on_error, &v);
	struct vms_socket *bso = sft_socket(bf[0], 1 << 20, NULL, NULL, NULL);

	struct iovec h = {"head", 4};
	struct vms_hdtr hd = {&h, 1, NULL, 0};
	int r1 = vms_sendfile_object(bso, other, 0, 0, &hd, NULL, 0);
	cr_assert_eq(r1, 0);
	int r = vms_sendfile_object(vso, obj, 0, 0, &hd, NULL, 0);
	cr_assert(r == 0 || r == -EIO, "vms_sendfile returned %d", r);
	cr_assert_eq(vms_sendfile_object(bso, other, 100, 0, NULL, NULL, 0), 0);
	while (v.calls == 0 && vms_socket_sbcc(vso) > 0)
		sft_run_once();
	int vr = vms_socket_flush(vso);
	bool failed = vr != 0;
	if (failed) {
		cr_assert_eq(vr, -EIO);
		cr_assert_eq(vms_socket_error(vso), -EIO);
		for (int i = 0; i < 100 && v.calls == 0; i++)
			sft_run_once();
		cr_assert_eq(v.calls, 1, "error callback ran %d times", v.calls);
		cr_assert_eq(v.error, -EIO);
		cr_assert_eq(vms_sendfile_object(vso, obj, 0, 0, NULL, NULL, 0), -EIO);
		cr_assert_eq(vms_socket_write(vso, "x", 1, NULL), -EIO);
	}
	cr_assert_eq(vms_socket_flush(bso), 0);
	sft_close_all(vso);
	sft_close_all(bso);
	sft_sink_join(vs);
	sft_sink_join(bs);
	if (mode == MEMPAGER_THREAD)
		mempager_drain(obj);
	cr_assert(vm_quiescent(), "round %u: a page is busy or wired", n);
	if (failed) {
		cr_assert_lt(vs->len, 4 + size, "an aborted stream was delivered whole");
		if (vs->len > 0)
			cr_assert_eq(memcmp(vs->buf, "head", MIN(vs->len, 4)), 0);
		if (vs->len > 4)
			cr_assert_eq(memcmp(vs->buf + 4, data, vs->len - 4), 0,
				     "a prefix was wrong");
	} else {
		cr_assert_eq(vs->len, 4 + size);
		cr_assert_eq(memcmp(vs->buf + 4, data, size), 0);
	}
	cr_assert_eq(bs->len, 4 + 2 * other->size - 100);
	sft_sink_free(vs);
	sft_sink_free(bs);
	vm_object_deallocate(obj);
	return failed;
}

static void
eio_loop(enum mempager_mode mode, int policy)
{
	size_t size = 40 * PAGE_SIZE + 100;
	uint8_t *data = sft_pattern(size, 21);
	uint8_t *odata = sft_pattern(30 * PAGE_SIZE, 22);
	struct vm_object *other = mempager_create(odata, 30 * PAGE_SIZE, 0, "bystander");
	unsigned n = 1;
	while (eio_round(n, mode, policy, data, size, other))
		n++;
	cr_assert_gt(n, 5, "only %u I/Os per request: the loop proved little", n - 1);
	cr_assert_eq(counter_get(&sf_stats.io_errors), n - 1);
	vm_object_deallocate(other);
	free(data);
	free(odata);
}

Test(sendfile_eio, nth_io_fails_sync_split)
{
	eio_loop(MEMPAGER_SYNC, SF_POLICY_SPLIT);
}

Test(sendfile_eio, nth_io_fails_sync_coalesce)
{
	eio_loop(MEMPAGER_SYNC, SF_POLICY_COALESCE);
}

Test(sendfile_eio, nth_io_fails_thread_split)
{
	eio_loop(MEMPAGER_THREAD, SF_POLICY_SPLIT);
}

Test(sendfile_eio, nth_io_fails_thread_coalesce)
{
	eio_loop(MEMPAGER_THREAD, SF_POLICY_COALESCE);
}

/*
 * A synchronous I/O error on the head of a segment whose tail was split off
 * at a busy page: the abort frees the segment inside swapin, and the pump
 * must not touch it afterwards (it did: a use-after-free under ASan).
 */
Test(sendfile_eio, sync_error_after_a_split_at_a_busy_page)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 23);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	struct vm_page *busy = vm_page_grab(obj, 5, 0);
	cr_assert_not_null(busy);
	mempager_fail_nth(obj, 1, -EIO);
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct victim v = {0};
	struct vms_socket *so = sft_socket(fds[0], 1 << 20, NULL, on_error, &v);
	cr_assert_eq(vms_sendfile_object(so, obj, 0, 0, NULL, NULL, 0), -EIO);
	cr_assert_eq(counter_get(&sf_stats.busy_waits), 1);
	cr_assert_eq(counter_get(&sf_stats.io_errors), 1);
	vm_page_xunbusy(busy);
	for (int i = 0; i < 1000 && v.calls == 0; i++)
		sft_run_once();
	cr_assert_eq(v.error, -EIO);
	sft_close_all(so);
	sft_sink_join(sink);
	cr_assert_eq(sink->len, 0);
	cr_assert(vm_quiescent());
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

/*
 * EIO inside a read-ahead window (src/sendfile/readahead.c): a sequential
 * stream reads far ahead of its demand; fail its Nth pager I/O for N = 1,
 * 2, ... until no I/O fails.  A failed read-ahead frees its pages and the
 * demand reads them again, so the bytes arrive exact; a failed demand read
 * aborts with EIO after an exact prefix.  Either way nothing is left busy,
 * wired or counted in flight.
 */
Test(sendfile_eio, nth_io_fails_inside_a_readahead_window)
{
	size_t size = (1u << 20) + 100;
	uint8_t *data = sft_pattern(size, 24);
	unsigned n, ra_failed_exact = 0, demand_failed = 0;
	for (n = 1;; n++) {
		uint64_t ra_err0 = counter_get(&sf_stats.ra_errors);
		struct vm_object *obj = mempager_create(data, size, PAGER_CAP_BOGUS, "ra");
		mempager_set_mode(obj, MEMPAGER_THREAD, 20);
		mempager_set_block(obj, 16);
		mempager_fail_nth(obj, n, -EIO);
		int fds[2];
		sft_tcp_pair(fds);
		struct sft_sink *sink = sft_sink_start(fds[1], false);
		struct victim v = {0};
		struct vms_socket *so = sft_socket(fds[0], 16 << 10, NULL, on_error, &v);
		off_t sb = 0;
		int r = vms_sendfile_blocking(so, obj, 0, 0, NULL, &sb, 0);
		cr_assert(r == 0 || r == -EIO, "round %u: vms_sendfile returned %d", n, r);
		sft_close_all(so);
		sft_sink_join(sink);
		mempager_drain(obj);
		struct mempager_stats st;
		mempager_get_stats(obj, &st);
		cr_assert(vm_quiescent(), "round %u: a page is busy or wired", n);
		cr_assert_eq(sf_ra_inflight_pages(), 0, "round %u: read-ahead still in flight", n);
		if (r == 0) {
			cr_assert_eq(sink->len, size, "round %u: %zu bytes", n, sink->len);
			cr_assert_eq(memcmp(sink->buf, data, size), 0, "round %u: wrong bytes", n);
			if (counter_get(&sf_stats.ra_errors) > ra_err0)
				ra_failed_exact++;
		} else {
			demand_failed++;
			cr_assert_lt(sink->len, size);
			if (sink->len > 0)
				cr_assert_eq(memcmp(sink->buf, data, sink->len), 0,
					     "round %u: bad prefix", n);
		}
		sft_sink_free(sink);
		vm_object_deallocate(obj);
		if (st.errors == 0)
			break; /* past the stream's last I/O */
	}
	cr_assert_gt(n, 8, "only %u I/Os per stream: the loop proved little", n - 1);
	cr_assert_gt(ra_failed_exact, 0, "no round failed a read-ahead I/O and still delivered");
	cr_assert_gt(demand_failed, 0, "no round failed a demand read");
	free(data);
}
