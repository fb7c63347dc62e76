/*
 * Holds (src/sendfile/hold.c): a file range wired in the cache without a
 * socket, then sent ready at once; vms_sendfile_cached.
 */
#include "sf_testlib.h"

#include "support/mempager.h"
#include "vm/vm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static void
setup(void)
{
	sft_setup(128);
}

TestSuite(hold, .init = setup, .fini = sft_teardown, .timeout = 60);

struct done_state {
	int calls;
	int error;
};

static void
on_done(struct vms_sfhold *h, int error, void *arg)
{
	struct done_state *d = arg;
	d->calls++;
	d->error = error;
}

static void
run_until_done(struct done_state *d)
{
	for (int i = 0; i < 10000 && d->calls == 0; i++)
		sft_run_once();
}

Test(hold, cached_counts_the_valid_prefix)
{
	size_t size = 10 * PAGE_SIZE + 100;
	uint8_t *data = sft_pattern(size, 1);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	cr_assert_eq(vms_sendfile_cached(obj, 0, size), 0);
	sft_cache_pages(obj, 0, 3);
	sft_cache_pages(obj, 5, 6);
	cr_assert_eq(vms_sendfile_cached(obj, 0, size), 3 * PAGE_SIZE);
	cr_assert_eq(vms_sendfile_cached(obj, 100, size), 3 * PAGE_SIZE - 100);
	cr_assert_eq(vms_sendfile_cached(obj, 100, 50), 50);
	cr_assert_eq(vms_sendfile_cached(obj, 3 * PAGE_SIZE, size), 0);
	/* The last page is partial: the prefix stops at EOF, not at the page end. */
	cr_assert_eq(vms_sendfile_cached(obj, 5 * PAGE_SIZE, size), size - 5 * PAGE_SIZE);
	cr_assert_eq(vms_sendfile_cached(obj, size, 10), 0);
	cr_assert_eq(vms_sendfile_cached(obj, size + PAGE_SIZE, 10), 0);
	vm_object_deallocate(obj);
	free(data);
}

/* A cold range is read while held, reported once, and then sent ready without new I/O. */
Test(hold, cold_range_is_read_then_sent_ready)
{
	size_t size = 20 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 2);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	struct done_state d = {0};
	struct vms_sfhold *h;
	cr_assert_eq(
	    vms_sfhold_start(sft_loop, obj, PAGE_SIZE + 10, 8 * PAGE_SIZE, on_done, &d, &h), 0);
	for (int i = 0; i < 5; i++)
		sft_run_once();
	cr_assert_eq(d.calls, 0, "done before the read completed");
	cr_assert_gt(mempager_pending(obj), 0);
	cr_assert_gt(mempager_complete_pending(obj), 0);
	run_until_done(&d);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.error, 0);
	cr_assert_geq(vms_sendfile_cached(obj, PAGE_SIZE + 10, 8 * PAGE_SIZE), 8 * PAGE_SIZE);

	/* Sending the held range needs no I/O: the segment is ready at once. */
	struct mempager_stats st0, st1;
	mempager_get_stats(obj, &st0);
	int fds[2];
	sft_tcp_pair(fds);
	struct sft_sink *sink = sft_sink_start(fds[1], false);
	struct vms_socket *so = sft_socket(fds[0], 0, NULL, NULL, NULL);
	off_t sb;
	cr_assert_eq(vms_sendfile_object(so, obj, PAGE_SIZE + 10, 8 * PAGE_SIZE, NULL, &sb, 0), 0);
	struct vms_socket_stats ss;
	vms_socket_get_stats(so, &ss);
	cr_assert_eq(ss.notready, 0);
	vms_sfhold_release(h);
	sft_close_all(so);
	sft_sink_join(sink);
	mempager_get_stats(obj, &st1);
	cr_assert_eq(st1.ios, st0.ios);
	cr_assert_eq(sink->len, 8 * PAGE_SIZE);
	cr_assert_eq(memcmp(sink->buf, data + PAGE_SIZE + 10, 8 * PAGE_SIZE), 0);
	cr_assert_eq(d.calls, 1);
	sft_sink_free(sink);
	vm_object_deallocate(obj);
	free(data);
}

/* A cached range is reported from the loop, never inside the start call. */
Test(hold, cached_range_reports_from_the_loop)
{
	size_t size = 4 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 3);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	sft_cache_pages(obj, 0, 4);
	struct done_state d = {0};
	struct vms_sfhold *h;
	cr_assert_eq(vms_sfhold_start(sft_loop, obj, 0, size, on_done, &d, &h), 0);
	cr_assert_eq(d.calls, 0);
	run_until_done(&d);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.error, 0);
	vms_sfhold_release(h);
	vm_object_deallocate(obj);
	free(data);
}

/* A read error is reported as -EIO; releasing afterwards leaves nothing busy or wired. */
Test(hold, read_error_is_eio)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 4);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	mempager_fail_nth(obj, 1, -EIO);
	struct done_state d = {0};
	struct vms_sfhold *h;
	cr_assert_eq(vms_sfhold_start(sft_loop, obj, 0, size, on_done, &d, &h), 0);
	mempager_complete_pending(obj);
	run_until_done(&d);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.error, -EIO);
	vms_sfhold_release(h);
	vm_object_deallocate(obj);
	free(data);
	/* sft_teardown checks that no page stays busy or wired and no socket leaked. */
}

/* Released while the read is under way: done never runs, the pages go when the read ends. */
Test(hold, release_during_read)
{
	size_t size = 8 * PAGE_SIZE;
	uint8_t *data = sft_pattern(size, 5);
	struct vm_object *obj = mempager_create(data, size, 0, "f");
	mempager_set_mode(obj, MEMPAGER_DEFERRED, 0);
	struct done_state d = {0};
	struct vms_sfhold *h;
	cr_assert_eq(vms_sfhold_start(sft_loop, obj, 0, size, on_done, &d, &h), 0);
	vms_sfhold_release(h);
	cr_assert_gt(vms_socket_count(), 0, "the sink must live until its read is back");
	mempager_complete_pending(obj);
	for (int i = 0; i < 100 && vms_socket_count() > 0; i++)
		sft_run_once();
	cr_assert_eq(d.calls, 0);
	vm_object_deallocate(obj);
	free(data);
}

Test(hold, bad_arguments)
{
	uint8_t data[100] = {0};
	struct vm_object *obj = mempager_create(data, sizeof(data), 0, "f");
	struct done_state d = {0};
	struct vms_sfhold *h;
	cr_assert_eq(vms_sfhold_start(sft_loop, obj, 0, 0, on_done, &d, &h), -EINVAL);
	cr_assert_eq(vms_sfhold_start(sft_loop, obj, 0, VMS_SFHOLD_MAX + 1, on_done, &d, &h),
		     -EINVAL);
	cr_assert_eq(vms_sfhold_start(sft_loop, obj, 0, 10, NULL, &d, &h), -EINVAL);
	vms_sfhold_release(NULL);
	vm_object_deallocate(obj);
}
